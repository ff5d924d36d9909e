"""Baselines: --write-baseline records today's findings, --baseline fails only on new ones,
and a finding keeps its fingerprint across edits that move lines. SARIF carries
baselineState (new / unchanged / absent), validated against the official schema.
"""

from __future__ import annotations

import hashlib
import json

import pytest
from hypothesis import given, settings, strategies as st

from support.workflow import CONFLICT, edited, workflow_copy
from test_sarif import _official_validator

CPU_MESSAGE = "CPU 2 of cell 'sender' is also in cell 'receiver'"
ISO_MESSAGE = ("region 'ram' of cell 'receiver' is private (not rootshared), but region 'ram' of "
               "cell 'sender' also covers 0x10080000-0x100fffff")


@pytest.fixture
def board(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return workflow_copy(tmp_path, CONFLICT, "conflict")


def _edit(path, old, new):
    edited(path, old, new, 1)


def _hand_fingerprint(rule, file, node, normalized_message):
    # the documented recipe, written out: sha256 of the NUL-joined fields, 32 hex digits
    key = "\0".join(("v1", rule, file, node, normalized_message))
    return hashlib.sha256(key.encode()).hexdigest()[:32]


def test_write_baseline_records_findings_deterministically(run_cli, board):
    code, _, err = run_cli("check", "conflict", "--write-baseline", "base.json")
    assert code == 0   # recording accepts today's errors
    assert "wrote 2 findings to the baseline base.json" in err
    first = (board.parent / "base.json").read_bytes()
    data = json.loads(first)
    assert list(data) == ["partcfg-baseline", "findings"] and data["partcfg-baseline"] == 1
    assert data["findings"] == [
        {"rule": "ISO-PRIVATE", "file": "conflict/receiver.yaml", "node": "cell.memory[ram]",
         "line": 7, "column": 7, "severity": "error", "message": ISO_MESSAGE,
         "fingerprint": _hand_fingerprint(
             "ISO-PRIVATE", "conflict/receiver.yaml", "cell.memory[ram]",
             "region 'ram' of cell 'receiver' is private (not rootshared), but region 'ram' of "
             "cell 'sender' also covers #-#")},
        {"rule": "CPU-CONFLICT", "file": "conflict/sender.yaml", "node": "cell.cpus",
         "line": 5, "column": 9, "severity": "error", "message": CPU_MESSAGE,
         "fingerprint": _hand_fingerprint("CPU-CONFLICT", "conflict/sender.yaml", "cell.cpus",
                                          "CPU # of cell 'sender' is also in cell 'receiver'")}]
    run_cli("check", "conflict", "--write-baseline", "base.json")
    assert (board.parent / "base.json").read_bytes() == first


def test_round_trip_across_an_edit_that_moves_lines(run_cli, board):
    # a third finding on an unnamed region, whose message names it by index
    _edit(board / "sender.yaml", "    - link: pipe\n",
          "    - link: pipe\n    - {phys: 0x10300000, virt: 0x500000, size: 0x800, flags: [read]}\n")
    code, out, _ = run_cli("check", "conflict", "--write-baseline", "base.json")
    assert "conflict/sender.yaml:10:62: error[MEM-SUBPAGE-WIDTH]: region #6 of cell 'sender' is a " \
           "sub-page region (size 0x800 not a multiple of 4 KiB) without an access width" in out
    code, _, _ = run_cli("check", "conflict")
    assert code == 1
    # unrelated edits: comments on top, new regions before 'ram' and before the unnamed
    # region (whose index, in the message, becomes #7)
    for name in ("sender.yaml", "receiver.yaml"):
        _edit(board / name, "system: board\n", "# moved down by\n# three lines\n\nsystem: board\n")
    _edit(board / "receiver.yaml", "    - {name: ram,",
          "    - {name: rom, phys: 0x10200000, virt: 0x400000, size: 4K, flags: [read]}\n    - {name: ram,")
    _edit(board / "sender.yaml", "    - link: pipe\n",
          "    - {name: scratch, phys: 0x10400000, virt: 0x600000, size: 4K, flags: [read]}\n    - link: pipe\n")
    code, out, _ = run_cli("check", "conflict", "--baseline", "base.json", "--show-waived")
    assert code == 0, out
    assert "in baseline: conflict/sender.yaml:8:9: error[CPU-CONFLICT]" in out
    assert "in baseline: conflict/receiver.yaml:11:7: error[ISO-PRIVATE]" in out
    assert "in baseline: conflict/sender.yaml:14:62: error[MEM-SUBPAGE-WIDTH]: region #7 of cell 'sender'" in out
    code, out, _ = run_cli("check", "conflict", "--baseline", "base.json")
    assert out.strip() == "0 errors; baseline: 0 new, 3 unchanged, 0 absent"


def test_new_unchanged_and_absent_in_sarif(run_cli, board):
    validator = _official_validator()
    run_cli("check", "conflict", "--write-baseline", "base.json")
    # fix the overlap (ISO-PRIVATE absent), keep the CPU conflict (unchanged), and add a
    # region that is not page-aligned (new)
    _edit(board / "receiver.yaml", "phys: 0x10080000", "phys: 0x10100000")
    _edit(board / "sender.yaml", "    - link: pipe\n",
          "    - link: pipe\n    - {name: odd, phys: 0x10300000, virt: 0x500000, size: 0x800, flags: [read]}\n")
    code, out, err = run_cli("check", "--format", "sarif", "conflict", "--baseline", "base.json")
    assert code == 1   # the new finding fails the run
    log = json.loads(out)
    errors = sorted(validator.iter_errors(log), key=lambda e: list(e.path))
    assert not errors, [f"{list(e.path)}: {e.message}" for e in errors[:5]]
    (run,) = log["runs"]
    states = sorted((r["ruleId"], r["baselineState"], r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
                     r["locations"][0]["physicalLocation"]["region"]["startLine"]) for r in run["results"])
    assert states == [("CPU-CONFLICT", "unchanged", "conflict/sender.yaml", 5),
                      ("ISO-PRIVATE", "absent", "conflict/receiver.yaml", 7),
                      ("MEM-SUBPAGE-WIDTH", "new", "conflict/sender.yaml", 10)]
    assert run["properties"] == {"partcfg": {"waived": 0, "baseline": {"new": 1, "unchanged": 1, "absent": 1}}}
    for r in run["results"]:
        assert set(r["partialFingerprints"]) == {"partcfgFinding/v1"}
    code, out, _ = run_cli("check", "conflict", "--baseline", "base.json")
    assert code == 1
    assert "error[MEM-SUBPAGE-WIDTH]" in out and "CPU-CONFLICT" not in out
    assert out.strip().endswith("1 error; baseline: 1 new, 1 unchanged, 1 absent")


def test_waived_results_are_suppressed_in_sarif(run_cli, board):
    validator = _official_validator()
    _edit(board / "sender.yaml", "  cpus: 2\n", "  cpus: 2  # partcfg: ignore[CPU-CONFLICT] alternatives\n")
    code, out, _ = run_cli("check", "--format", "sarif", "conflict", "--ignore", "ISO-PRIVATE")
    assert code == 0
    log = json.loads(out)
    assert not list(validator.iter_errors(log))
    (run,) = log["runs"]
    assert sorted((r["ruleId"], json.dumps(r["suppressions"])) for r in run["results"]) == [
        ("CPU-CONFLICT", '[{"kind": "inSource", "status": "accepted", "justification": "alternatives"}]'),
        ("ISO-PRIVATE", '[{"kind": "external", "status": "accepted"}]')]
    assert run["properties"] == {"partcfg": {"waived": 2}}


@pytest.mark.parametrize("content, message", [
    (b"\xff\xfe", "not UTF-8 text"),
    (b"{", "not JSON"),
    (b"[" * 100_000, "not JSON"),
    (b"[]", "not a partcfg baseline"),
    (b'{"partcfg-baseline": 2, "findings": []}', "baseline version '2' is not supported"),
    (b'{"partcfg-baseline": true, "findings": []}', "baseline version 'True' is not supported"),
    (b'{"partcfg-baseline": 1, "findings": {}}', "'findings' must be a list"),
    (b'{"partcfg-baseline": 1, "findings": [7]}', "finding #0 is not an object"),
    (b'{"partcfg-baseline": 1, "findings": [{"rule": "X-Y", "fingerprint": "zz"}]}',
     "finding #0 has no valid fingerprint"),
    (b'{"partcfg-baseline": 1, "findings": [{"rule": "X-Y", "fingerprint": "' + b"0" * 32 +
     b'", "line": -1}]}', "finding #0: 'line' must be a non-negative integer"),
])
def test_hostile_baselines_are_diagnosed(run_cli, board, content, message):
    (board.parent / "base.json").write_bytes(content)
    code, out, err = run_cli("check", "conflict", "--baseline", "base.json")
    assert code == 2
    assert f"base.json: error[BASELINE-FILE]: base.json: {message}" in err
    assert "Traceback" not in err + out
    code, out, _ = run_cli("check", "--format", "sarif", "conflict", "--baseline", "base.json")
    assert code == 2 and json.loads(out)["runs"][0]["results"][0]["ruleId"] == "BASELINE-FILE"


def test_missing_baseline_file(run_cli, board):
    code, _, err = run_cli("check", "conflict", "--baseline", "nope.json")
    assert code == 2 and "error[BASELINE-FILE]: nope.json: cannot read the baseline" in err


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
        st.sampled_from(["partcfg-baseline", "findings", "rule", "fingerprint", "line", "file", "x"]),
        inner, max_size=5),
    max_leaves=20)


@settings(max_examples=300, deadline=None)
@given(st.one_of(_json_values, st.fixed_dictionaries(
    {"partcfg-baseline": st.just(1), "findings": st.lists(st.dictionaries(
        st.sampled_from(["rule", "fingerprint", "line", "column", "file", "node", "message", "severity"]),
        _json_values | st.just("0" * 32), max_size=8), max_size=3)})))
def test_any_json_is_a_baseline_or_a_baseline_error(value):
    from partcfg.check.baseline import entries_of_data
    from partcfg.diagnostics import InputError

    try:
        entries = entries_of_data(value, "b.json")
    except InputError as exc:
        assert [d.rule for d in exc.diagnostics] == ["BASELINE-FILE"]
    else:
        assert all(len(e.fingerprint) == 32 for e in entries)


def test_same_fingerprint_twice_is_matched_by_count():
    from partcfg.check.baseline import Entry, compared_with

    a, b = Entry("a" * 32, "CPU-CONFLICT"), Entry("b" * 32, "ISO-PRIVATE")
    compared = compared_with([a, a, b], [a, b, b])
    assert compared.states == ["unchanged", "new", "unchanged"]
    assert compared.absent == [b]


def test_node_paths_name_list_items():
    from partcfg.check.baseline import node_path_of
    from partcfg.load.yaml_source import load_yaml_text

    root = load_yaml_text(
        "cell:\n"                                       # 1
        "  cpus: 2\n"                                   # 2
        "  memory:\n"                                   # 3
        "    - {phys: 0x0, size: 4K}\n"                 # 4
        "    - name: ram\n"                             # 5
        "      flags: [read, write]\n"                  # 6
        "    - link: pipe\n", "f.yaml").tree()           # 7
    assert node_path_of(root, 2, 9) == "cell.cpus"
    assert node_path_of(root, 4, 7) == "cell.memory[*]"
    assert node_path_of(root, 4, 19) == "cell.memory[*].size"
    assert node_path_of(root, 4, 25) == "cell.memory[*].size"
    assert node_path_of(root, 5, 7) == "cell.memory[ram]"
    assert node_path_of(root, 6, 7) == "cell.memory[ram].flags"
    assert node_path_of(root, 6, 21) == "cell.memory[ram].flags[write]"
    assert node_path_of(root, 7, 7) == "cell.memory[link=pipe]"
    assert node_path_of(None, 7, 7) == ""


def test_normalized_message_keeps_quoted_names():
    from partcfg.check.baseline import normalized_message_of

    assert normalized_message_of("region #3 of cell 'board-0001' covers 0x1000-0x1fff (2 pages)") == \
        "region ## of cell 'board-0001' covers #-# (# pages)"
    assert normalized_message_of("cell \"x86 2\" is aarch32") == "cell \"x86 2\" is aarch32"


def test_readme_baseline_example_is_true(run_cli, tmp_path, monkeypatch):
    from conftest import ROOT

    monkeypatch.chdir(ROOT)
    base = tmp_path / "b.json"
    code, _, _ = run_cli("check", "tests/fixtures/workflow/conflict", "--write-baseline", base)
    assert code == 0
    readme = (ROOT / "README.md").read_text()
    head = base.read_text().split("    {\n      \"rule\": \"CPU-CONFLICT\"")[0]
    assert head.rstrip().rstrip(",") + ",\n    ...\n" in readme
    code, out, _ = run_cli("check", "tests/fixtures/workflow/conflict", "--baseline", base)
    assert (code, out) == (0, "0 errors; baseline: 0 new, 2 unchanged, 0 absent\n")
