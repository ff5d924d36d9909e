"""A deterministic, bounded fuzz of ``partcfg run`` on mutated build directories (seeded
mutation: every CI run tries the same cases). Each case must end in exit 0, 1 or 2 with
partcfg's own output (no traceback, no internal error), within a time bound, and leave
no process behind. The figures (cases, outcomes, time) print with ``pytest -s``.
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from typer.testing import CliRunner

from partcfg.cli import app
from partcfg.runtime.spawn import PACKAGE_PARENT

from conftest import ROOT, example_files

SEED = 20261129
CASES = 14
CASE_SECONDS = 20.0
CELL_ID_BASE = 0x7A000000      # confine.py: the user ids of cells run as root

pytestmark = pytest.mark.slow


def _leftovers() -> list[str]:
    """Processes of a partcfg run that outlived it: a supervisor or cell of this checkout,
    or any process of a cell user id."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as handle:
                cmdline = handle.read().replace(b"\0", b" ").decode(errors="replace")
            uid = os.stat(f"/proc/{entry}").st_uid
        except OSError:
            continue
        ours = PACKAGE_PARENT in cmdline and ("partcfg.runtime.cell" in cmdline
                                             or "partcfg.runtime.supervisor" in cmdline)
        if ours or CELL_ID_BASE <= uid < 0x80000000:
            found.append(f"{entry}: {cmdline[:120]}")
    return found


def _mutate(rng: random.Random, directory: Path) -> str:
    """One mutation of the build directory; returns what it did."""
    cells = sorted(directory.glob("*.cell"))
    images = sorted(directory.glob("*/*.cspace"))
    kind = rng.choice(["flip cell", "flip cell", "truncate cell", "flip image",
                       "truncate image", "fifo image", "zero image", "drop cell", "swap images"])
    if kind in ("flip cell", "flip image"):
        target = rng.choice(cells if kind == "flip cell" else images)
        data = bytearray(target.read_bytes())
        for _ in range(rng.randint(1, 8)):
            i = rng.randrange(min(len(data), 512 if kind == "flip cell" else len(data)))
            data[i] = rng.randrange(256)
        target.write_bytes(bytes(data))
    elif kind in ("truncate cell", "truncate image"):
        target = rng.choice(cells if kind == "truncate cell" else images)
        data = target.read_bytes()
        target.write_bytes(data[:rng.randrange(len(data))])
    elif kind == "fifo image":
        target = rng.choice(images)
        target.unlink()
        os.mkfifo(target)
    elif kind == "zero image":
        target = rng.choice(images)
        target.unlink()
        target.symlink_to("/dev/zero")
    elif kind == "drop cell":
        target = rng.choice(cells[1:] or cells)
        target.unlink()
    else:
        a, b = rng.sample(images, 2)
        data_a, data_b = a.read_bytes(), b.read_bytes()
        a.write_bytes(data_b)
        b.write_bytes(data_a)
        target = a
    return f"{kind} {target.relative_to(directory)}"


def test_run_on_mutated_build_directories_ends_cleanly(tmp_path):
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["build", *map(str, example_files()), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert _leftovers() == [], "processes of an earlier run are still there"
    rng = random.Random(SEED)
    outcomes: Counter[str] = Counter()
    began = time.monotonic()
    for case in range(CASES):
        directory = Path(shutil.copytree(out / rng.choice(["qemu-arm64", "qemu-x86"]),
                                         tmp_path / f"case{case}", symlinks=True))
        what = _mutate(rng, directory)
        start = time.monotonic()
        done = subprocess.run([sys.executable, "-m", "partcfg.cli", "run", str(directory),
                               "--seconds", "0.2"], cwd=ROOT, capture_output=True, text=True,
                              timeout=CASE_SECONDS * 3)
        seconds = time.monotonic() - start
        text = done.stdout + done.stderr
        assert done.returncode in (0, 1, 2), f"{what}: exit {done.returncode}\n{text}"
        assert "Traceback" not in text and "internal error" not in text, f"{what}:\n{text}"
        assert seconds < CASE_SECONDS, f"{what}: {seconds:.1f} s"
        assert _leftovers() == [], f"{what}: processes outlived the run"
        outcomes[f"exit {done.returncode}"] += 1
    print(f"\nrun fuzz: {CASES} mutated build directories, {dict(outcomes)}, "
          f"{time.monotonic() - began:.1f} s")


def test_a_fifo_planted_as_a_firmware_header_does_not_block_run(tmp_path):
    """Found by this fuzz's author: a flat build directory's system name comes from the
    first firmware header; a FIFO there blocked ``run`` for ever."""
    out = tmp_path / "flat"
    files = [str(f) for f in example_files() if f.name.startswith("qemu-arm64")]
    result = CliRunner().invoke(app, ["build", *files, "-o", str(out)])
    assert result.exit_code == 0, result.output
    header = sorted(out.glob("*/partcfg_*.h"))[0]
    header.unlink()
    os.mkfifo(header)
    start = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "partcfg.cli", "run", str(out), "--seconds",
                           "0.1"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert time.monotonic() - start < CASE_SECONDS
