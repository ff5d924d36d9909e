"""The command line: exit codes, outputs, reports, and no traceback for any input."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from conftest import FIXTURES, example_files

SCHEMA = FIXTURES / "schema"


def test_build_writes_one_blob_per_cell_per_system(run_cli, tmp_path):
    code, _, err = run_cli("build", *example_files(), "-o", tmp_path)
    assert code == 0, err
    cells = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*.cell"))
    assert cells == ["qemu-arm64/linux-guest.cell", "qemu-arm64/qemu-arm64.cell",
                     "qemu-arm64/rt-cell.cell", "qemu-x86/RootCell.cell",
                     "qemu-x86/linux-guest.cell", "qemu-x86/rt-app.cell"]


def test_one_system_builds_flat_into_the_directory(run_cli, tmp_path):
    files = [f for f in example_files() if f.name.startswith("qemu-x86")]
    code, _, err = run_cli("build", *files, "-o", tmp_path)
    assert code == 0, err
    assert sorted(p.name for p in tmp_path.glob("*.cell")) == ["RootCell.cell", "linux-guest.cell", "rt-app.cell"]


def test_directories_are_searched_for_yaml(run_cli, tmp_path):
    code, _, err = run_cli("check", example_files()[0].parent)
    assert code == 0, err


def test_cell_names_are_sanitised_into_file_names(run_cli, tmp_path):
    code, _, err = run_cli("build", SCHEMA / "base-system.yaml", SCHEMA / "bad-cell-name.yaml",
                           "-o", tmp_path, "--force")
    assert sorted(p.name for p in tmp_path.glob("*.cell")) == ["my-cell-v2.cell", "root.cell"]


def test_invalid_config_writes_nothing_and_exits_1(run_cli, tmp_path):
    out = tmp_path / "out"
    code, _, err = run_cli("build", SCHEMA / "base-system.yaml", SCHEMA / "unknown-key.yaml", "-o", out)
    assert code == 1
    assert "unknown-key.yaml:5:3: error[SCHEMA-UNKNOWN-KEY]: unknown key 'memroy' in Cell" in err
    assert "hint: did you mean 'memory'?" in err
    assert not out.exists()


def test_force_writes_anyway_and_still_reports(run_cli, tmp_path):
    code, _, err = run_cli("build", SCHEMA / "base-system.yaml", SCHEMA / "unknown-system.yaml",
                           "-o", tmp_path, "--force")
    assert code == 1
    assert "SYS-UNKNOWN" in err
    assert (tmp_path / "root.cell").exists()


def test_check_text_report_has_excerpt_and_caret(run_cli):
    code, out, _ = run_cli("check", SCHEMA / "base-system.yaml", SCHEMA / "bad-values.yaml")
    assert code == 1
    lines = out.splitlines()
    i = next(n for n, line in enumerate(lines) if "bad-values.yaml:6:31: error[SCHEMA-VALUE]" in line)
    assert lines[i + 1] == " 6 |     - {phys: 0x1000000, size: 1Q, flags: [read, wirte]}"
    assert lines[i + 2] == "   |                               ^"
    assert lines[-1] == "4 errors"


def test_check_json_report_is_stable(run_cli):
    code, out, _ = run_cli("check", "--format", "json", SCHEMA / "base-system.yaml", SCHEMA / "unknown-key.yaml")
    assert code == 1
    (d,) = json.loads(out)
    assert d == {"rule": "SCHEMA-UNKNOWN-KEY", "severity": "error",
                 "file": str(SCHEMA / "unknown-key.yaml"), "line": 5, "column": 3,
                 "message": "unknown key 'memroy' in Cell", "hint": "did you mean 'memory'?",
                 "related": []}


def test_check_clean_examples_exit_0(run_cli):
    code, out, _ = run_cli("check", *example_files())
    assert code == 0, out
    assert "0 errors" in out


@pytest.mark.parametrize("args", [[], ["build"], ["check", "--format", "xml", "x.yaml"], ["frobnicate"]])
def test_usage_errors_exit_2(run_cli, args):
    code, _, _ = run_cli(*args)
    assert code == 2


def test_missing_file_exits_2(run_cli, tmp_path):
    code, _, err = run_cli("check", tmp_path / "nope.yaml")
    assert code == 2 and "IO-MISSING" in err


@pytest.mark.parametrize("content, rules", [
    (b"\x00\x01\x02binary", ["YAML-SYNTAX"]),            # control characters are not YAML
    (b"[1, 2", ["YAML-SYNTAX"]),
    (b"- a\n- b\n", ["SCHEMA-TYPE"]),                    # a list, not a mapping
    (b"", ["SCHEMA-EMPTY"]),
    (b"a: &x [*x]\n", ["YAML-DEPTH"]),                    # a recursive alias
    (b"system: 5\ncell: 7\n", ["SCHEMA-VALUE"]),
    (b"cell: {name: [1], cpus: {a: 1}}\n", ["SCHEMA-VALUE"]),
    (b"links: {l: {peers: 3}}\n", ["SCHEMA-MISSING", "SCHEMA-VALUE"]),
    (b"\xef\xbb\xbfsystem: x\n", ["SYS-UNKNOWN"]),        # BOM read as UTF-8; no system x
])
def test_no_input_produces_a_traceback(run_cli, tmp_path, content, rules):
    """Garbage is an invalid configuration (exit 1) with the rule that says why."""
    import re
    path = tmp_path / "in.yaml"
    path.write_bytes(content)
    for command in ("check", "build", "show"):
        code, out, err = run_cli(command, path, *(["-o", tmp_path / "o"] if command == "build" else []))
        assert code == 1, (command, out + err)
        assert sorted(set(re.findall(r"error\[([A-Z0-9-]+)\]", out + err))) == rules, (command, out + err)
        assert "Traceback" not in out + err and "internal error" not in out + err
    assert not (tmp_path / "o").exists()


def test_an_interrupted_write_leaves_the_old_file(tmp_path, monkeypatch):
    from partcfg.commands import atomic_write as output
    target = tmp_path / "a.cell"
    target.write_bytes(b"old")

    def failing_rename(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(output.os, "rename", failing_rename)
    with pytest.raises(KeyboardInterrupt):
        output.write_atomically(target, b"new contents")
    assert target.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["a.cell"]


def test_show_prints_regions_with_their_origin(run_cli):
    code, out, _ = run_cli("show", *example_files())
    assert code == 0
    assert "0x3f0fa000-0x3f0fbfff" in out and "link demo: output section of peer 0" in out
    assert "output section of peer 1   0x7f012000-0x7f021fff          64K  RO (RX)       RW (TX)" in out


def test_version(run_cli):
    code, out, _ = run_cli("--version")
    assert code == 0 and out.startswith("partcfg ")


def _broken_schema_text():
    raise RuntimeError("planted bug")


def test_an_internal_error_has_its_own_exit_code_and_no_traceback(run_cli, monkeypatch):
    import partcfg.render.json_schema
    monkeypatch.delenv("PARTCFG_DEBUG", raising=False)
    monkeypatch.setattr(partcfg.render.json_schema, "schema_text", _broken_schema_text)
    code, out, err = run_cli("schema")
    assert code == 3
    assert "partcfg: internal error: RuntimeError: planted bug" in err
    assert "Traceback" not in out + err


def test_partcfg_debug_prints_the_traceback_of_an_internal_error(run_cli, monkeypatch):
    import partcfg.render.json_schema
    monkeypatch.setenv("PARTCFG_DEBUG", "1")
    monkeypatch.setattr(partcfg.render.json_schema, "schema_text", _broken_schema_text)
    code, _, err = run_cli("schema")
    assert code == 3
    assert "Traceback" in err and "_broken_schema_text" in err


def test_exit_codes_live_on_the_error_classes():
    from partcfg.diagnostics import BlobError, ConfigError, InputError
    assert (ConfigError.exit_code, InputError.exit_code, BlobError.exit_code) == (1, 2, 2)
