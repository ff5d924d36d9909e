"""Load and model layers: every schema problem is reported with rule, place and hint."""

from __future__ import annotations

import pytest

from conftest import FIXTURES
from partcfg.diagnostics import ConfigError, InputError
from partcfg.load.yaml_source import load_yaml_file, load_yaml_text
from partcfg.model.assembly import assembly_of
from partcfg.model.document import document_of

SCHEMA = FIXTURES / "schema"


def problems_of(name: str) -> list[tuple[str, str, str, str | None]]:
    """(rule, file:line:col, message, hint) of every problem loading one fixture."""
    path = SCHEMA / name
    try:
        document_of(load_yaml_file(path))
    except ConfigError as exc:
        return [(d.rule, str(d.location).replace(str(SCHEMA) + "/", ""), d.message, d.hint)
                for d in exc.diagnostics]
    return []


def test_unknown_key_points_at_the_key_and_suggests_the_right_one():
    assert problems_of("unknown-key.yaml") == [
        ("SCHEMA-UNKNOWN-KEY", "unknown-key.yaml:5:3", "unknown key 'memroy' in Cell",
         "did you mean 'memory'?")]


def test_every_bad_value_in_a_file_is_reported_in_one_run():
    found = problems_of("bad-values.yaml")
    assert [(r, loc) for r, loc, _, _ in found] == [
        ("SCHEMA-VALUE", "bad-values.yaml:4:9"),
        ("SCHEMA-VALUE", "bad-values.yaml:6:31"),
        ("SCHEMA-VALUE", "bad-values.yaml:6:49"),   # the bad word itself, not the [
        ("SCHEMA-VALUE", "bad-values.yaml:8:13"),
    ]
    messages = [m for _, _, m, _ in found]
    assert messages[1] == "cell.memory.0.size: expected a size such as 4K, 1M, 2G or 0x1000, got '1Q'"
    assert messages[2].startswith("cell.memory.0.flags: unknown memory flag 'wirte'; did you mean 'write'?")
    assert messages[3] == "cell.pci_devices.0.bdf: PCI device number 0x20 in '00:20.0' exceeds 0x1f"


def test_duplicate_key_names_both_places():
    with pytest.raises(ConfigError) as exc:
        load_yaml_file(SCHEMA / "duplicate-key.yaml")
    (d,) = exc.value.diagnostics
    assert d.rule == "YAML-DUPLICATE-KEY" and d.location.line == 5 and d.related[0].line == 4


def test_yaml_syntax_error_has_a_position():
    with pytest.raises(ConfigError) as exc:
        load_yaml_file(SCHEMA / "syntax.yaml")
    (d,) = exc.value.diagnostics
    assert d.rule == "YAML-SYNTAX" and (d.location.line, d.location.column) == (4, 8)


@pytest.mark.parametrize("name,rule", [("empty.yaml", "SCHEMA-EMPTY"),
                                       ("not-a-mapping.yaml", "SCHEMA-TYPE")])
def test_files_that_are_not_partcfg_documents(name, rule):
    assert problems_of(name)[0][0] == rule


def _assembly(*names: str):
    return assembly_of([document_of(load_yaml_file(SCHEMA / n)) for n in names])


def test_unknown_system_suggests_the_defined_one():
    (d,) = _assembly("base-system.yaml", "unknown-system.yaml").diagnostics
    assert (d.rule, d.location.line, d.hint) == ("SYS-UNKNOWN", 1, "did you mean 'tiny'?")


def test_duplicate_cell_name_names_both_cells():
    (d,) = _assembly("base-system.yaml", "duplicate-cell.yaml").diagnostics
    assert d.rule == "CELL-DUPLICATE"
    assert d.location.file.endswith("duplicate-cell.yaml") and d.related[0].file.endswith("base-system.yaml")


def test_standalone_cell_must_state_its_architecture():
    (d,) = _assembly("standalone-no-arch.yaml").diagnostics
    assert d.rule == "CELL-ARCH" and "arch" in d.hint


def test_yaml_1_1_traps_are_not_sprung():
    """00:10.0 is not a sexagesimal float, 'on' is not a boolean, hex is a number."""
    doc = load_yaml_text("a: 00:10.0\nb: on\nc: 0x10\nd: '0x10'\ne: 1_000\n", "t.yaml")
    assert doc.data == {"a": "00:10.0", "b": "on", "c": 16, "d": "0x10", "e": 1000}


def test_binary_input_is_an_io_error_not_a_crash(tmp_path):
    path = tmp_path / "blob.yaml"
    path.write_bytes(b"JHSYS\x00\x0e\x00\xff\xfe")
    with pytest.raises(InputError) as exc:
        load_yaml_file(path)
    assert exc.value.diagnostics[0].rule == "IO-ENCODING"


def test_recursive_alias_is_reported():
    with pytest.raises(ConfigError) as exc:
        load_yaml_text("a: &x [*x]\n", "t.yaml")
    assert exc.value.diagnostics[0].rule in ("YAML-DEPTH", "YAML-SYNTAX")


def test_digit_words_are_words_but_hex_stays_raw():
    """``type: 8250`` is the 8250 UART (2), not console type 8250; 0x203a stays raw."""
    def console_type(text: str) -> int:
        doc = document_of(load_yaml_text(f"cell: {{name: a, arch: x86, console: {{type: {text}}}}}\n", "t.yaml"))
        return doc.cell.console.type
    assert console_type("8250") == 2
    assert console_type("'8250'") == 2
    assert console_type("pl011") == 3
    assert console_type("0x203a") == 0x203A
