"""The pre-commit hook: a valid manifest whose entry command really checks the tree."""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import FIXTURES, ROOT

MANIFEST = ROOT / ".pre-commit-hooks.yaml"


def _hook():
    clientlib = pytest.importorskip("pre_commit.clientlib")
    hooks = clientlib.load_manifest(str(MANIFEST))  # pre-commit's own schema check
    (hook,) = [h for h in hooks if h["id"] == "partcfg-check"]
    return hook


def _entry_command(hook) -> list[str]:
    argv = shlex.split(hook["entry"])
    # language: python installs the package and runs its console script of that name
    import tomllib
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert argv[0] in scripts, f"entry runs {argv[0]!r}, not a console script of this package"
    script = Path(sys.executable).with_name(argv[0])
    if not script.exists():
        script = shutil.which(argv[0])
    assert script, f"{argv[0]} is not installed next to {sys.executable}"
    return [str(script), *argv[1:]]


def test_manifest_is_valid_and_runs_on_yaml_changes():
    hook = _hook()
    assert hook["language"] == "python"
    assert hook["pass_filenames"] is False       # a system spans files: check the whole tree
    assert hook["args"] == ["cells/"]
    import re
    assert re.search(hook["files"], "cells/qemu-x86.yaml") and re.search(hook["files"], "a/b.yml")
    assert not re.search(hook["files"], "README.md")


def test_entry_command_passes_on_the_examples():
    hook = _hook()
    proc = subprocess.run(_entry_command(hook) + hook["args"], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.strip().endswith("0 errors")


def test_entry_command_fails_on_a_broken_tree():
    hook = _hook()
    proc = subprocess.run(_entry_command(hook) + [str(FIXTURES / "workflow" / "conflict")], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    assert "error[CPU-CONFLICT]" in proc.stdout and "Traceback" not in proc.stderr


# every test here starts processes: out of the quick loop (pytest -m "not slow")
pytestmark = pytest.mark.slow
