"""The simple path of the load layer (line-shaped YAML read without a node tree) gives
exactly what libyaml's full path gives, or declines; positions stay libyaml's."""

from __future__ import annotations

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from partcfg.load import yaml_source as load
from partcfg.diagnostics import ConfigError


def full_data_of(text: str):
    """The full path alone: libyaml's composer, then the node walk ('error' when it refuses)."""
    try:
        nodes = list(yaml.compose_all(text, Loader=load._Loader))
    except Exception:  # noqa: BLE001 - any refusal counts the same here
        return "error"
    if len(nodes) != 1:
        return "error"
    problems: list = []
    try:
        data = load._data_of("x.yaml", nodes[0], problems)
    except Exception:  # noqa: BLE001
        return "error"
    return "error" if problems else data


def same(a, b) -> bool:
    """Equal, with the same types all the way down (DecimalInt vs int, True vs 1)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(x, y) and type(k) is type(l)
                                          for (k, x), (l, y) in zip(a.items(), b.items()))
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return a == b


# pieces chosen to sit on both sides of every rule of the simple path
SCALARS = ["a", "ram0", "0x1000", "4K", "00:0e.0", "0-3,6", "-1", "+1", "- x", "a b", "a  b",
           "1_000", "0o17", "0b101", "true", "False", "null", "~", "", "yes", "on", "a:b", "a: b",
           "a,b", ".5", "...", "---", "#x", "a #c", "a#c", "'q'", '"q"', "&x", "*x", "!t", "|",
           ">", "%", "@", "`", "?", "<<", "{", "}", "[", "]", ",", "a\tb", "é", "0x_1", "00",
           "1e3", "x/y", "~x", "a-"]
KEYS = ["name", "phys", "0", "1", "true", "null", "a b", "a:b", "<<", "-k", "k-", "~", "x" * 1030]


def flow_text(draw, depth: int) -> str:
    kind = draw(st.sampled_from(["map", "list", "scalar"] if depth < 3 else ["scalar"]))
    if kind == "scalar":
        return draw(st.sampled_from(SCALARS))
    sep = draw(st.sampled_from([", ", ",", " , ", ",  "]))
    if kind == "list":
        items = draw(st.lists(st.deferred(lambda: st.just(None)), max_size=4))
        body = sep.join(flow_text(draw, depth + 1) for _ in items)
        return "[" + draw(st.sampled_from(["", " "])) + body + draw(st.sampled_from(["", " ", ","])) + "]"
    pairs = draw(st.lists(st.sampled_from(KEYS), max_size=4))
    colon = draw(st.sampled_from([": ", ":", " : ", ":  "]))
    body = sep.join(f"{k}{colon}{flow_text(draw, depth + 1)}" for k in pairs)
    return "{" + draw(st.sampled_from(["", " "])) + body + draw(st.sampled_from(["", " "])) + "}"


@st.composite
def documents(draw) -> str:
    lines = []
    for _ in range(draw(st.integers(1, 8))):
        indent = " " * draw(st.sampled_from([0, 0, 1, 2, 2, 4, 6]))
        shape = draw(st.sampled_from(["key", "key-scalar", "key-flow", "dash-scalar", "dash-flow",
                                      "dash-key", "dash", "comment", "blank", "scalar"]))
        key = draw(st.sampled_from(KEYS))
        tail = draw(st.sampled_from(["", "", " ", "  # note", "# note", " #"]))
        if shape == "key":
            lines.append(f"{indent}{key}:{tail}")
        elif shape == "key-scalar":
            lines.append(f"{indent}{key}: {draw(st.sampled_from(SCALARS))}{tail}")
        elif shape == "key-flow":
            lines.append(f"{indent}{key}: {flow_text(draw, 0)}{tail}")
        elif shape == "dash-scalar":
            lines.append(f"{indent}- {draw(st.sampled_from(SCALARS))}{tail}")
        elif shape == "dash-flow":
            lines.append(f"{indent}- {flow_text(draw, 0)}{tail}")
        elif shape == "dash-key":
            lines.append(f"{indent}-{draw(st.sampled_from([' ', '  ']))}{key}: "
                         f"{draw(st.sampled_from(SCALARS))}")
        elif shape == "dash":
            lines.append(f"{indent}-{tail}")
        elif shape == "comment":
            lines.append(f"{indent}# a comment: with {{ [ ' \" é")
        elif shape == "blank":
            lines.append(indent)
        else:
            lines.append(f"{indent}{draw(st.sampled_from(SCALARS))}")
    return "\n".join(lines) + draw(st.sampled_from(["\n", "", "\r\n", "\n\n"]))


@pytest.mark.slow  # 3000 generated documents, each loaded twice (about 25 s)
@settings(max_examples=3000, deadline=None)
@given(documents())
def test_simple_path_gives_what_libyaml_gives_or_declines(text):
    simple = load._simple_data_of(text)
    if simple is load._NOT_SIMPLE:
        return
    full = full_data_of(text)
    assert full != "error", f"the simple path read what libyaml refuses: {text!r}"
    assert same(simple, full), f"{text!r}: simple {simple!r} != full {full!r}"


def test_imported_shape_takes_the_simple_path():
    """What `partcfg import` writes (block keys, one flow mapping per region, a compact
    mapping per PCI device, a heading comment) is read without composing nodes."""
    text = ("# Generated by partcfg import from x.cell (partcfg 0.1.0).\n\ncell:\n  name: g\n"
            "  cpus: 2\n  memory:\n    - {name: ram, phys: 0x3a600000, virt: 0x0, size: 1M, "
            "flags: [read, write, loadable]}\n    - {virt: 0x100000, size: 4K, flags: []}\n"
            "  pci_devices:\n    - type: ivshmem\n      bdf: 00:0c.0\n"
            "      bar_mask: [0xfffff000, 0, 0]\n")
    doc = load.load_yaml_text(text, "g.yaml")
    assert doc.root is None  # no node tree yet
    assert doc.data == {"cell": {"name": "g", "cpus": 2, "memory": [
        {"name": "ram", "phys": 0x3A600000, "virt": 0, "size": "1M", "flags": ["read", "write", "loadable"]},
        {"virt": 0x100000, "size": "4K", "flags": []}],
        "pci_devices": [{"type": "ivshmem", "bdf": "00:0c.0", "bar_mask": [0xFFFFF000, 0, 0]}]}}
    # a position is libyaml's: `bdf` is on line 11, column 7 (counted by hand above)
    assert str(doc.location(("cell", "pci_devices", 0, "bdf"), key=True)) == "g.yaml:11:7"
    assert str(doc.location(("cell", "memory", 1, "size"))) == "g.yaml:8:30"
    assert doc.root is not None


def test_problems_the_simple_path_declines_are_reported_by_the_full_path():
    try:
        load.load_yaml_text("cell:\n  name: a\n  name: b\n", "d.yaml")
    except ConfigError as exc:
        assert [(d.rule, str(d.location)) for d in exc.diagnostics] == [("YAML-DUPLICATE-KEY", "d.yaml:3:3")]
    else:
        raise AssertionError("a duplicate key was accepted")


GOOD_SCALARS = ["a", "ram0", "0x1000", "4K", "00:0e.0", "0-3,6", "-1", "+1", "a b", "1_000", "0o17",
                "0b101", "true", "False", "null", "~", "yes", "on", "a:b", "x/y", ".5", "00", "1e3",
                "0x_1", "007", "-0x10", "a-"]
GOOD_KEYS = ["name", "phys", "0", "1", "true", "null", "~", "k-", "x86", "0x10"]


def block_text(draw, value, indent: int, depth: int) -> list[str]:
    """Lines of ``value`` (a generated tree) as block YAML at ``indent``."""
    pad = " " * indent
    lines: list[str] = []
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(item, (dict, list)) and item and draw(st.booleans()):
                lines.append(f"{pad}{key}:")
                lines += block_text(draw, item, indent + draw(st.sampled_from([1, 2, 4])), depth + 1)
            else:
                lines.append(f"{pad}{key}: {flow_of(item)}")
    else:
        for item in value:
            if isinstance(item, dict) and item and draw(st.booleans()):
                inner = block_text(draw, item, indent + 2, depth + 1)
                lines.append(f"{pad}- {inner[0].lstrip(' ')}")
                lines += inner[1:]
            else:
                lines.append(f"{pad}- {flow_of(item)}")
    return lines


def flow_of(value) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {flow_of(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(flow_of(v) for v in value) + "]"
    return value


trees = st.recursive(st.sampled_from(GOOD_SCALARS),
                     lambda inner: st.lists(inner, max_size=4)
                     | st.dictionaries(st.sampled_from(GOOD_KEYS), inner, max_size=4), max_leaves=12)


@st.composite
def block_documents(draw) -> str:
    root = draw(st.dictionaries(st.sampled_from(GOOD_KEYS), trees, min_size=1, max_size=4))
    return "\n".join(block_text(draw, root, 0, 0)) + "\n"


@pytest.mark.slow  # 1500 generated documents, each loaded twice (about 15 s)
@settings(max_examples=1500, deadline=None)
@given(block_documents())
def test_simple_path_reads_nested_block_documents_as_libyaml_does(text):
    simple = load._simple_data_of(text)
    full = full_data_of(text)
    if simple is load._NOT_SIMPLE:
        return
    assert full != "error", f"the simple path read what libyaml refuses: {text!r}"
    assert same(simple, full), f"{text!r}: simple {simple!r} != full {full!r}"


@pytest.mark.slow  # starts worker processes
def test_loading_in_worker_processes_gives_the_serial_result(tmp_path, monkeypatch):
    """Files read by a pool (big trees) and by this process: the same diagnostics, in the
    same order at the same positions, including files the simple path declines, syntax
    errors and an unreadable file's error."""
    import shutil
    from pathlib import Path

    from partcfg.commands import pipeline
    from partcfg.diagnostics import InputError

    fixtures = Path(__file__).parent / "fixtures" / "validate"
    for f in sorted(fixtures.glob("*.yaml")):
        shutil.copy(f, tmp_path / f.name)
    (tmp_path / "zz-syntax.yaml").write_text("system: base\ncell: {name: [\n")
    (tmp_path / "zz-dup.yaml").write_text("system: base\ncell:\n  name: a\n  name: b\n")

    def report(parallel: bool):
        checked = pipeline.checked_files_of([tmp_path], parallel_load=parallel)
        return [(d.rule, str(d.location), d.message, [str(r) for r in d.related])
                for d in checked.diagnostics]

    monkeypatch.setenv("PARTCFG_JOBS", "2")
    monkeypatch.setattr(pipeline, "PARALLEL_LOAD_MIN_FILES", 2)
    serial, parallel = report(False), report(True)
    assert len(serial) > 100 and any(r == "YAML-SYNTAX" for r, *_ in serial)
    assert parallel == serial

    (tmp_path / "zz-binary.yaml").write_bytes(b"\xff\xfe\x00")
    for flag in (False, True):
        try:
            pipeline.checked_files_of([tmp_path], parallel_load=flag)
        except InputError as exc:
            assert [d.rule for d in exc.diagnostics] == ["IO-ENCODING"]
        else:
            raise AssertionError("an unreadable file was accepted")
