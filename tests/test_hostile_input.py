"""Every input is bounded and every bound is a located diagnostic, never an internal
error, a hang or a memory blow-up: YAML aliases, integers, file names that are not UTF-8,
values the format cannot hold with ``build --force``, CPU bitmaps, peer and vector
counts, huge blobs and huge sections in ``partcfg run``, and peers that stop answering."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time

import pytest

from conftest import ROOT
from support.workflow import CLEAN, edited, workflow_copy
from partcfg.load.blob import blob_bytes_of, parsed_blob_file


def _tree(tmp_path, edit=None):
    src = workflow_copy(tmp_path)
    for name, (old, new) in (edit or {}).items():
        edited(src / name, old, new)
    return src


def _no_bug(out: str, err: str) -> None:
    assert "internal error" not in out + err and "Traceback" not in out + err


# --- YAML -----------------------------------------------------------------------------------

def test_nested_aliases_are_refused_before_they_expand(run_cli, tmp_path):
    lines = ["system: board", "a: &a [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 10):   # 10^10 nodes once expanded, 300 bytes of text
        lines.append(f"b{i}: &b{i} [" + ", ".join([f"*{'a' if i == 1 else f'b{i - 1}'}"] * 10) + "]")
    f = tmp_path / "bomb.yaml"
    f.write_text("\n".join(lines) + "\n")
    start = time.monotonic()
    code, out, err = run_cli("check", f)
    assert time.monotonic() - start < 5
    assert code == 1
    # hand count: a = 11 nodes, b1 = 1 + 10 * 11, b(i) = 1 + 10 * b(i-1); the document is
    # root + 11 keys + 'board' + a + b1..b9 = 12,345,679,023 nodes, 33 of its own; the
    # biggest repeated node is b8 (line 10), which b9 repeats ten times
    assert f"{f}:10:5: error[YAML-ALIAS]: aliases expand this document to 12345679023 nodes, " \
           "more than 200000 beyond its own 33" in out
    _no_bug(out, err)


def test_an_integer_of_5000_digits_is_a_located_error(run_cli, tmp_path):
    src = _tree(tmp_path, {"sender.yaml": ("cpus: 2", "cpus: " + "9" * 5000)})
    code, out, err = run_cli("check", src)
    assert code == 1
    assert f"{src / 'sender.yaml'}:5:9: error[YAML-INT-LENGTH]: an integer of 5000 characters; " \
           "partcfg reads integers of at most 100" in out
    _no_bug(out, err)


@pytest.mark.parametrize("text", ["0x_", "0b_", "0o_"])
def test_a_prefix_without_digits_is_no_number(run_cli, tmp_path, text):
    src = _tree(tmp_path, {"sender.yaml": ("cpus: 2", f"cpus: {text}")})
    code, out, err = run_cli("check", src)
    assert code == 1
    assert f"{src / 'sender.yaml'}:5:9: error[" in out
    _no_bug(out, err)


def test_deep_nesting_is_a_located_error(run_cli, tmp_path):
    f = tmp_path / "deep.yaml"
    f.write_text("system: board\ncell: " + "[" * 5000 + "]" * 5000 + "\n")
    code, out, err = run_cli("check", f)
    assert code == 1 and f"{f}:2:" in out and "error[YAML-" in out
    _no_bug(out, err)


@pytest.mark.slow  # runs partcfg in a process (names that are not UTF-8 in argv)
def test_file_names_that_are_not_utf8_are_no_internal_error(tmp_path):
    src = _tree(tmp_path)
    os.rename(src / "sender.yaml", os.fsencode(src) + b"/\xfe.yaml")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for args in (["build", str(src), "-o", str(tmp_path / "out"), "--emit", "c"],
                 ["check", "--format", "sarif", str(src)], ["check", str(src)],
                 ["map", str(src), "-o", str(tmp_path / "m.svg")]):
        run = subprocess.run([sys.executable, "-m", "partcfg.cli", *args], capture_output=True,
                             env=env, timeout=60)
        assert run.returncode == 0, run.stderr
        _no_bug(run.stdout.decode(errors="replace"), run.stderr.decode(errors="replace"))


# --- values the format cannot hold, with --force ------------------------------------------------

def test_force_with_a_name_the_descriptor_cannot_hold_writes_nothing(run_cli, tmp_path):
    long = "s" * 100
    src = _tree(tmp_path, {"sender.yaml": ("name: sender", f"name: {long}"),
                           "cells.yaml": ("[sender,", f"[{long},")})
    out = tmp_path / "build"
    code, _, err = run_cli("build", src, "-o", out, "--force")
    assert code == 1
    assert f"{src / 'sender.yaml'}:4:9: error[CELL-NAME]: cell name '{long}' is 100 bytes " \
           "long; at most 31 fit in the descriptor" in err
    assert "error[BUILD-UNREPRESENTABLE]: the outputs cannot be written: a value does not fit " \
           "the configuration format (name: expected at most 32 bytes" in err
    assert err.rstrip().endswith("nothing written") and not out.exists()
    _no_bug("", err)


def test_force_with_20000_peers_is_an_error_at_the_peers(run_cli, tmp_path):
    peers = ", ".join(f"p{i}" for i in range(20000))
    src = _tree(tmp_path, {"cells.yaml": ("peers: [sender, receiver]",
                                          f"peers: [sender, receiver, {peers}]")})
    start = time.monotonic()
    code, _, err = run_cli("build", src, "-o", tmp_path / "build", "--force")
    assert time.monotonic() - start < 10
    assert code == 1
    assert f"{src / 'cells.yaml'}:9:12: error[SCHEMA-VALUE]: links.pipe.peers: " in err
    assert "at most 255 items" in err
    assert len(err) < 20000          # one diagnostic, not one 80 KB source line per peer
    _no_bug("", err)
    start = time.monotonic()
    code, out, err = run_cli("show", src)
    assert time.monotonic() - start < 10 and code == 1
    _no_bug(out, err)


def test_a_source_line_is_excerpted_around_the_column():
    from partcfg.render.findings_text import _excerpt_of
    line = "x" * 1000 + "HERE" + "y" * 1000
    text, column = _excerpt_of(line, 1000)
    assert len(text) == 126 and text[column:column + 4] == "HERE"


# --- blobs ------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def clean_build(tmp_path_factory):
    from typer.testing import CliRunner

    from partcfg.cli import app
    out = tmp_path_factory.mktemp("clean")
    result = CliRunner().invoke(app, ["build", str(CLEAN), "-o", str(out)])
    assert result.exit_code == 0, result.output
    return out


def _build_copy(clean_build, tmp_path):
    return shutil.copytree(clean_build, tmp_path / "build")


def _patch_blob(path, edit) -> None:
    blob = parsed_blob_file(path)
    edit(blob.cell)
    path.write_bytes(blob_bytes_of(blob))


def _huge_cpu_set(cell) -> None:
    cell.descriptor["cpu_set_size"] = 4 << 20
    cell.cpu_set = b"\x55" * (4 << 20)


def test_a_4mb_cpu_bitmap_is_refused_by_import_and_run(run_cli, clean_build, tmp_path):
    build = _build_copy(clean_build, tmp_path)
    _patch_blob(build / "sender.cell", _huge_cpu_set)
    start = time.monotonic()
    code, _, err = run_cli("import", build / "sender.cell", "-o", tmp_path / "imported")
    assert code == 2
    assert f"{build / 'sender.cell'}: error[BLOB-CPU-SET]: cpu_set_size is 4194304 bytes " \
           "(33554432 CPUs); partcfg reads CPU sets of at most 8192 bytes (65536 CPUs)" in err
    code, _, err = run_cli("run", build)
    assert code == 2 and "error[BLOB-CPU-SET]" in err
    assert time.monotonic() - start < 10


def test_cpu_numbers_beyond_the_bound_are_refused_in_yaml(run_cli, tmp_path):
    src = _tree(tmp_path, {"receiver.yaml": ("cpus: 3", "cpus: 0x7fffffff")})
    code, out, _ = run_cli("check", src)
    assert code == 1
    assert f"{src / 'receiver.yaml'}:5:9: error[" in out
    assert "2147483647 is implausibly large for a CPU number (at most 65535)" in out


def test_run_refuses_65535_msix_vectors(run_cli, clean_build, tmp_path):
    build = _build_copy(clean_build, tmp_path)

    def vectors(cell):
        cell.pci_devices[0]["num_msix_vectors"] = 65535
    _patch_blob(build / "sender.cell", vectors)
    code, _, err = run_cli("run", build)
    assert code == 2
    assert f"{build / 'sender.cell'}: error[RUN-MSIX-VECTORS]: PCI device 0 of cell 'sender' " \
           "has 65535 MSI-X vectors; an ivshmem device has at most 16" in err


def test_run_refuses_a_sparse_multi_gb_cell_without_reading_it(run_cli, clean_build, tmp_path):
    build = _build_copy(clean_build, tmp_path)
    with open(build / "sender.cell", "r+b") as f:
        f.truncate(8 << 30)
    start = time.monotonic()
    code, _, err = run_cli("run", build)
    assert time.monotonic() - start < 10
    assert code == 2
    assert f"{build / 'sender.cell'}: error[IO-TOO-BIG]: {build / 'sender.cell'} (8589934592 " \
           "bytes) is larger than a configuration blob partcfg reads (64 MiB at most)" in err


@pytest.mark.slow  # spawns the runtime's processes
def test_a_512mb_output_section_is_exercised_in_bounded_time(run_cli, tmp_path):
    src = _tree(tmp_path, {"cells.yaml": ("output_section: 8K", "output_section: 512M")})
    assert run_cli("build", src, "-o", tmp_path / "build")[0] == 0
    start = time.monotonic()
    code, out, err = run_cli("run", tmp_path / "build", "--seconds", "0.2")
    assert code == 0, out + err
    assert time.monotonic() - start < 30
    assert "held  message exchange" in out


# --- a peer that stops answering ----------------------------------------------------------------

class _StuckFlow:
    """A receive flow whose peer never sends."""
    peer = 1
    error = None
    done = False

    def step(self):
        return False

    def arm(self):
        return False

    def disarm(self):
        pass


def test_a_stuck_peer_ends_the_exchange_within_seconds_naming_it():
    from partcfg.runtime.exercises import pump
    flow = _StuckFlow()
    start = time.monotonic()
    pump([flow], [], time.monotonic() + 55.0)
    assert time.monotonic() - start < 3.0
    assert flow.error == "no progress for 2 s: peer 1 sends nothing"


@pytest.mark.slow  # spawns the runtime's processes
def test_run_says_which_protections_are_in_force(run_cli, clean_build, tmp_path):
    """The isolation line is computed from what the run set up (confine.py); as root
    nothing is missing, without root the user ids are (test_hostile_cells.py runs that)."""
    code, out, _ = run_cli("run", _build_copy(clean_build, tmp_path), "--seconds", "0.1")
    assert code == 0
    line = next(x for x in out.splitlines() if x.startswith("isolation: "))
    assert "sealed against writes before any read-only descriptor existed" in line
    assert "a session per cell and a subreaper supervisor" in line
    assert "supervisor and partcfg's cells not dumpable" in line
    if os.geteuid() == 0:
        assert "a user and group id per cell" in line and "MISSING" not in line
    else:
        assert "MISSING: a user id per cell (not root" in line
    assert "not provided: resource limits (cgroups), system-call filtering (seccomp)" in line
    assert "enforced by the kernel" not in out


def test_run_refuses_more_link_devices_than_it_backs(run_cli, clean_build, tmp_path, monkeypatch):
    # the bound itself is 64 per cell; lowered so the one-link example crosses it
    from partcfg.runtime import plan
    monkeypatch.setattr(plan, "MAX_LINK_DEVICES", 0)
    build = _build_copy(clean_build, tmp_path)
    code, _, err = run_cli("run", build)
    assert code == 2
    assert "error[RUN-TOO-MANY]: cell 'sender' has 1 ivshmem devices; a cell process runs " \
           "at most 0" in err
