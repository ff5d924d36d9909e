"""Waivers: inline '# partcfg: ignore[...]' comments, [tool.partcfg] in pyproject.toml and
--ignore; the warnings about waivers without a reason or waiving nothing; exit codes and
reports that count only what was not waived.

Each test runs in a copy of the workflow 'conflict' fixture (two cells sharing CPU 2 and
overlapping RAM: CPU-CONFLICT in sender.yaml:5:9, ISO-PRIVATE in receiver.yaml:7:7).
"""

from __future__ import annotations

import json

import pytest

from support.workflow import CONFLICT, WARN, edited, workflow_copy


@pytest.fixture
def board(tmp_path, monkeypatch):
    """A copy of the conflict fixture in ``tmp_path/conflict``, run from ``tmp_path``."""
    monkeypatch.chdir(tmp_path)
    return workflow_copy(tmp_path, CONFLICT, "conflict")


def _edit(path, old, new):
    edited(path, old, new, 1)


def _json(run_cli, *args):
    code, out, err = run_cli("check", "--format", "json", *args)
    return code, json.loads(out), err


def _found(items):
    return sorted((d["rule"], d["file"], d["line"], d["column"], d["message"]) for d in items)


# --- inline comments ----------------------------------------------------------------------------

def test_inline_waiver_on_the_nodes_line(run_cli, board):
    _edit(board / "sender.yaml", "  cpus: 2\n", "  cpus: 2  # partcfg: ignore[CPU-CONFLICT] demo cells are alternatives\n")
    code, items, err = _json(run_cli, "conflict", "--show-waived")
    assert code == 1   # ISO-PRIVATE still counts
    assert [(d["rule"], d.get("waived")) for d in items] == [
        ("ISO-PRIVATE", None),
        ("CPU-CONFLICT", {"kind": "inline", "by": "inline comment at conflict/sender.yaml:5:12",
                          "reason": "demo cells are alternatives"})]
    assert err.strip() == "1 error; 1 waived"
    code, items, err = _json(run_cli, "conflict")   # without --show-waived: only what counts
    assert [d["rule"] for d in items] == ["ISO-PRIVATE"] and err.strip() == "1 error; 1 waived"


def test_inline_waiver_on_the_line_above_and_several_ids(run_cli, board):
    # a comment-only line above the node counts; stacked waiver lines and a blank line too
    _edit(board / "receiver.yaml", "    - {name: ram,",
          "    # partcfg: ignore[ISO-PRIVATE] the RAM is handed over at boot\n"
          "    # partcfg: ignore[CPU-CONFLICT,MEM-ALIGN] alternatives\n\n"
          "    - {name: ram,")
    code, items, err = _json(run_cli, "conflict")
    assert code == 1
    # ISO-PRIVATE (at the ram region, line 10 now) is waived; CPU-CONFLICT is not at that
    # node (it is at cpus: 2 of both cells), and there is no MEM-ALIGN finding
    assert _found(items) == [
        ("CPU-CONFLICT", "conflict/sender.yaml", 5, 9, "CPU 2 of cell 'sender' is also in cell 'receiver'"),
        ("WAIVER-UNUSED", "conflict/receiver.yaml", 8, 5,
         "ignore[CPU-CONFLICT] waives nothing: no CPU-CONFLICT finding at the node of line 10"),
        ("WAIVER-UNUSED", "conflict/receiver.yaml", 8, 5,
         "ignore[MEM-ALIGN] waives nothing: no MEM-ALIGN finding at the node of line 10")]
    assert err.strip() == "1 error, 2 warnings; 1 waived"


def test_waiver_at_the_other_party_of_a_conflict(run_cli, board):
    # CPU-CONFLICT is reported at sender.yaml:5:9 with receiver.yaml:5:9 as "see also":
    # a waiver at either place accepts it
    _edit(board / "receiver.yaml", "  cpus: 2\n", "  cpus: 2 # partcfg: ignore[CPU-CONFLICT] alternatives\n")
    code, items, _ = _json(run_cli, "conflict")
    assert [d["rule"] for d in items] == ["ISO-PRIVATE"]


def test_trailing_comment_on_the_line_above_waives_nothing_below(run_cli, board):
    # a waiver at the end of another node's line belongs to that node only
    _edit(board / "sender.yaml", "  name: sender\n", "  name: sender  # partcfg: ignore[CPU-CONFLICT] alternatives\n")
    code, items, _ = _json(run_cli, "conflict")
    assert code == 1
    assert _found(items) == [
        ("CPU-CONFLICT", "conflict/sender.yaml", 5, 9, "CPU 2 of cell 'sender' is also in cell 'receiver'"),
        ("ISO-PRIVATE", "conflict/receiver.yaml", 7, 7,
         "region 'ram' of cell 'receiver' is private (not rootshared), but region 'ram' of cell "
         "'sender' also covers 0x10080000-0x100fffff"),
        ("WAIVER-UNUSED", "conflict/sender.yaml", 4, 17,
         "ignore[CPU-CONFLICT] waives nothing: no CPU-CONFLICT finding at the node of line 4")]


def test_inline_waiver_without_reason_and_malformed_comment(run_cli, board):
    _edit(board / "sender.yaml", "  cpus: 2\n", "  cpus: 2  # partcfg: ignore[CPU-CONFLICT]\n")
    _edit(board / "receiver.yaml", "  cpus: 2\n", "  cpus: 2  # partcfg: ignore ISO-PRIVATE\n")
    code, items, err = _json(run_cli, "conflict")
    assert code == 1
    by_rule = {d["rule"]: d for d in items}
    assert set(by_rule) == {"ISO-PRIVATE", "WAIVER-NO-REASON", "WAIVER-SYNTAX"}
    assert _found([by_rule["WAIVER-NO-REASON"], by_rule["WAIVER-SYNTAX"]]) == [
        ("WAIVER-NO-REASON", "conflict/sender.yaml", 5, 12, "the waiver of CPU-CONFLICT gives no reason"),
        ("WAIVER-SYNTAX", "conflict/receiver.yaml", 5, 12,
         "malformed waiver comment '# partcfg: ignore ISO-PRIVATE'; it waives nothing")]
    assert by_rule["WAIVER-NO-REASON"]["severity"] == "warning"
    assert by_rule["WAIVER-NO-REASON"]["hint"] == \
        "write why after the bracket: # partcfg: ignore[CPU-CONFLICT] <reason>"
    assert err.strip() == "1 error, 2 warnings; 1 waived"


def test_marker_inside_a_quoted_value_is_no_waiver():
    from partcfg.check.waivers import inline_waivers_of

    text = ("a: 'x # partcfg: ignore[CPU-CONFLICT] no'\n"
            "b: \"y # partcfg: ignore[CPU-CONFLICT] no\"\n"
            "c: 1 # partcfg: ignore[CPU-CONFLICT] yes\n")
    waivers, problems = inline_waivers_of(text, "f.yaml")
    assert problems == []
    assert [(w.target_line, w.rules, w.reason, str(w.where)) for w in waivers] == \
        [(3, ("CPU-CONFLICT",), "yes", "f.yaml:3:6")]


def test_waiver_comment_at_the_end_of_the_file_waives_nothing():
    from partcfg.check.waivers import inline_waivers_of

    waivers, problems = inline_waivers_of("a: 1\n# partcfg: ignore[CPU-CONFLICT] late\n", "f.yaml")
    assert waivers == []
    assert [(d.rule, str(d.location), d.message) for d in problems] == [
        ("WAIVER-UNUSED", "f.yaml:2:1", "this waiver comment is followed by no YAML node, so it waives nothing")]


# --- pyproject.toml ------------------------------------------------------------------------------

def test_pyproject_ignore_per_file_and_severity(run_cli, board):
    (board.parent / "pyproject.toml").write_text(
        "[project]\nname = 'boards'\n\n"
        "[tool.partcfg]\n"
        "ignore = {\"LINK-ROOT-ACCESS\" = \"the root keeps its console window\"}\n"
        "severity = {\"ISO-PRIVATE\" = \"warning\"}\n\n"
        "[tool.partcfg.per-file-ignores]\n"
        "\"conflict/send*.yaml\" = [\"CPU-CONFLICT\"]\n"
        "\"legacy/**\" = {\"MEM-ALIGN\" = \"old boards\"}\n")
    code, items, err = _json(run_cli, "conflict", "--show-waived")
    assert code == 0   # ISO-PRIVATE lowered to a warning, CPU-CONFLICT waived
    counted = [d for d in items if "waived" not in d]
    assert _found(counted) == [
        ("ISO-PRIVATE", "conflict/receiver.yaml", 7, 7,
         "region 'ram' of cell 'receiver' is private (not rootshared), but region 'ram' of cell "
         "'sender' also covers 0x10080000-0x100fffff"),
        ("WAIVER-NO-REASON", "pyproject.toml", 9, 1, "the waiver of CPU-CONFLICT gives no reason"),
        ("WAIVER-UNUSED", "pyproject.toml", 5, 1,
         "[tool.partcfg] ignore of LINK-ROOT-ACCESS waives nothing: no LINK-ROOT-ACCESS finding "
         "in the files checked"),
        ("WAIVER-UNUSED", "pyproject.toml", 10, 1,
         "[tool.partcfg] per-file-ignores 'legacy/**' of MEM-ALIGN waives nothing: the pattern "
         "matches none of the files checked")]
    assert [d["severity"] for d in counted if d["rule"] == "ISO-PRIVATE"] == ["warning"]
    (waived,) = [d for d in items if "waived" in d]
    assert (waived["rule"], waived["waived"]["kind"], waived["waived"]["reason"]) == \
        ("CPU-CONFLICT", "per-file", None)
    assert err.strip() == "0 errors, 4 warnings; 1 waived"


def test_pyproject_is_found_from_a_subdirectory(run_cli, board, monkeypatch):
    (board.parent / "pyproject.toml").write_text(
        "[tool.partcfg.ignore]\nCPU-CONFLICT = \"alternatives\"\nISO-PRIVATE = \"handed over at boot\"\n")
    monkeypatch.chdir(board)
    code, items, err = _json(run_cli, ".")
    assert (code, items, err.strip()) == (0, [], "0 errors; 2 waived")


def test_invalid_pyproject_settings_exit_2(run_cli, board):
    (board.parent / "pyproject.toml").write_text("[tool.partcfg]\nignores = [\"CPU-CONFLICT\"]\n")
    code, out, err = run_cli("check", "conflict")
    assert code == 2
    assert "pyproject.toml:2:1: error[PROJECT-CONFIG]: unknown key 'ignores' in [tool.partcfg]" in err
    assert "hint: did you mean 'ignore'?" in err and "Traceback" not in err
    (board.parent / "pyproject.toml").write_text("[tool.partcfg]\nseverity = {CPU-CONFLICT = \"fatal\"}\n")
    code, _, err = run_cli("check", "conflict")
    assert code == 2 and "severity of CPU-CONFLICT is 'fatal'" in err
    (board.parent / "pyproject.toml").write_text("[tool.partcfg\n")
    code, _, err = run_cli("check", "conflict")
    assert code == 2 and "is not valid TOML" in err


# --- the command line ------------------------------------------------------------------------------

def test_cli_ignore_and_unused_ignore(run_cli, board):
    code, items, err = _json(run_cli, "conflict", "--ignore", "CPU-CONFLICT", "--ignore", "ISO-PRIVAT")
    assert code == 1
    assert [(d["rule"], d["file"], d["message"], d["hint"]) for d in items] == [
        ("WAIVER-UNUSED", None, "--ignore ISO-PRIVAT waives nothing: no ISO-PRIVAT finding in the files checked",
         "did you mean 'ISO-PRIVATE'?"),
        ("ISO-PRIVATE", "conflict/receiver.yaml",
         "region 'ram' of cell 'receiver' is private (not rootshared), but region 'ram' of cell "
         "'sender' also covers 0x10080000-0x100fffff", "remove the overlap, or share the memory through a link")]
    assert err.strip() == "1 error, 1 warning; 1 waived"


def test_werror_respects_waivers(run_cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, _, _ = run_cli("check", WARN, "--werror")
    assert code == 1
    code, out, _ = run_cli("check", WARN, "--werror", "--ignore", "MEM-ROOT-FLAGS")
    assert code == 0
    assert out.strip().endswith("0 errors; 1 waived")


def test_build_writes_when_every_error_is_waived(run_cli, board, tmp_path):
    out = tmp_path / "out"
    code, _, err = run_cli("build", "conflict", "-o", out, "--ignore", "CPU-CONFLICT")
    assert code == 1 and not out.exists()
    code, _, err = run_cli("build", "conflict", "-o", out, "--ignore", "CPU-CONFLICT",
                           "--ignore", "ISO-PRIVATE")
    assert code == 0, err
    assert "0 errors; 2 waived" in err
    assert sorted(p.name for p in out.glob("*.cell")) == ["receiver.cell", "root.cell", "sender.cell"]


def test_text_and_github_reports_count_the_waived(run_cli, board):
    code, out, _ = run_cli("check", "conflict", "--ignore", "CPU-CONFLICT", "--show-waived")
    assert "waived: conflict/sender.yaml:5:9: error[CPU-CONFLICT]" in out
    assert "  = waived by --ignore on the command line (no reason given)" in out
    assert out.strip().endswith("1 error; 1 waived")
    code, out, err = run_cli("check", "--format", "github", "conflict", "--ignore", "CPU-CONFLICT")
    assert out.count("::error") == 1 and "CPU-CONFLICT" not in out
    assert err.strip() == "1 error; 1 waived"


def test_waiver_warnings_cannot_be_waived(run_cli, board):
    code, items, _ = _json(run_cli, "conflict", "--ignore", "WAIVER-UNUSED")
    (unused,) = [d for d in items if d["rule"] == "WAIVER-UNUSED"]
    assert unused["hint"] == ("waiver warnings cannot be waived; lower their severity under "
                              "[tool.partcfg] severity")


def test_readme_waived_example_is_true(run_cli, monkeypatch):
    from conftest import ROOT

    monkeypatch.chdir(ROOT)
    code, out, _ = run_cli("check", "tests/fixtures/workflow/waived")
    assert code == 0
    readme = (ROOT / "README.md").read_text()
    assert f"$ partcfg check tests/fixtures/workflow/waived\n{out}$ echo $?\n0\n" in readme
    code, out, _ = run_cli("check", "tests/fixtures/workflow/waived", "--show-waived")
    assert out.count("\nwaived: ") == 2
    assert ("  = waived by inline comment at tests/fixtures/workflow/waived/sender.yaml:5:12: "
            "the demo cells are alternatives, one runs at a time") in out


# --- hostile input ---------------------------------------------------------------------------------

from hypothesis import given, settings as hsettings, strategies as st  # noqa: E402


@hsettings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(["a: 1", "  - x", "#", " # partcfg:", "partcfg:", " ignore[", "]",
                                 "CPU-CONFLICT", ",", "'", '"', "\\", " reason", "\t", ""]), max_size=30)
       .map("".join).map(lambda t: t.replace("x", "\n")))
def test_any_text_gives_waivers_or_warnings(text):
    from partcfg.check.waivers import inline_waivers_of

    waivers, problems = inline_waivers_of(text, "f.yaml")
    lines = text.splitlines()
    for w in waivers:
        assert 1 <= w.target_line <= len(lines) and w.rules
    assert {d.rule for d in problems} <= {"WAIVER-SYNTAX", "WAIVER-UNUSED"}


_toml_values = st.recursive(
    st.booleans() | st.integers() | st.text(max_size=12) | st.sampled_from(["CPU-CONFLICT", "error", "*.yaml"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
        st.sampled_from(["ignore", "severity", "per-file-ignores", "CPU-CONFLICT", "*.yaml", "x"]),
        inner, max_size=3),
    max_leaves=12)


@hsettings(max_examples=300, deadline=None)
@given(_toml_values)
def test_any_tool_table_gives_settings_or_a_config_error(table):
    from pathlib import Path

    from partcfg.diagnostics import InputError
    from partcfg.check.waivers import _settings_of

    try:
        found = _settings_of(Path("/p/pyproject.toml"), "[tool.partcfg]\n", table)
    except InputError as exc:
        assert [d.rule for d in exc.diagnostics] == ["PROJECT-CONFIG"]
    else:
        assert all(isinstance(w.rules[0], str) for w in found.ignore + found.per_file)
