"""The README is true by construction: every ```console block in it is run and its output
compared, and every file it (or .pre-commit-hooks.yaml) cites exists.

A ```console block is a shell session: ``$ COMMAND`` lines (a trailing backslash joins
the next line), each followed by the output it prints (stdout and stderr as a terminal
shows them). Each block runs in a fresh directory holding copies of ``cells/`` and
``docs/``, the repository's ``tests/`` and the files of ``tests/fixtures/readme/workdir``
(the ``old``/``new`` versions the diff example compares, the inmate image ...), with
this checkout's ``partcfg`` first on PATH. In the expected output a line ``...`` stands
for any number of lines and ``...`` inside a line for any text; durations and rates
(``0.5 ms``, ``64.89 MB/s``) compare as numbers of that unit, whatever their value.
Recorded output that cannot be reproduced here (benchmarks, ``pip``, ``pre-commit``,
Chromium) is fenced as ```sh or ```text and not run.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT

README = ROOT / "README.md"
WORKDIR = ROOT / "tests" / "fixtures" / "readme" / "workdir"
COMMAND_TIMEOUT = 300


def console_blocks_of(text: str) -> list[tuple[int, list[tuple[str, list[str]]]]]:
    """(line number, [(command, expected output lines)]) of every ```console block."""
    blocks = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        if lines[i].strip() == "```console":
            start = i + 1
            i += 1
            session: list[tuple[str, list[str]]] = []
            while i < len(lines) and lines[i].strip() != "```":
                line = lines[i]
                if line.startswith("$ "):
                    command = line[2:]
                    while command.endswith("\\") and i + 1 < len(lines):
                        i += 1
                        command = command[:-1] + " " + lines[i].strip()
                    session.append((command, []))
                elif session:
                    session[-1][1].append(line)
                else:
                    raise AssertionError(f"README.md:{i + 1}: a console block must start with '$ '")
                i += 1
            blocks.append((start, session))
        i += 1
    return blocks


_UNIT_NUMBER = re.compile(r"\b\d+(?:\.\d+)?(?= ?(?:ms|us|µs|s|MB/s|GB/s|M/s|M msg/s)(?![\w/]))")


def _normal(line: str) -> str:
    return _UNIT_NUMBER.sub("#", line.rstrip())


def _matches(expected: list[str], actual: list[str]) -> bool:
    """``...`` lines match any number of lines; ``...`` in a line matches any text."""
    pattern = []
    for line in expected:
        if line.strip() == "...":
            pattern.append(r"(?:[^\n]*\n)*?")
        else:
            parts = [re.escape(p) for p in _normal(line).split("...")]
            pattern.append(".*".join(parts) + r"\n")
    text = "".join(_normal(a) + "\n" for a in actual)
    return re.fullmatch("".join(pattern), text, re.S) is not None


def _workdir(tmp_path: Path) -> Path:
    work = tmp_path / "work"
    work.mkdir()
    shutil.copytree(ROOT / "cells", work / "cells")
    shutil.copytree(ROOT / "docs", work / "docs")
    (work / "tests").symlink_to(ROOT / "tests")
    for item in WORKDIR.iterdir():
        if item.is_dir():
            shutil.copytree(item, work / item.name)
        else:
            shutil.copy(item, work / item.name)
    return work


def _environment() -> dict:
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONPATH"] = str(ROOT)
    env.update(PYTHONUNBUFFERED="1", CI="1", COLUMNS="100", LC_ALL="C.UTF-8")
    return env


BLOCKS = console_blocks_of(README.read_text())


def test_the_readme_has_console_examples():
    assert len(BLOCKS) >= 10


@pytest.mark.slow  # runs each example in a shell
@pytest.mark.parametrize("start, session", [pytest.param(s, b, id=f"README.md:{s}") for s, b in BLOCKS])
def test_console_example(tmp_path, start, session):
    if any(re.match(r"(gcc|objcopy|cc) ", c) for c, _ in session) and not shutil.which("gcc"):
        pytest.skip("needs gcc")
    work = _workdir(tmp_path)
    cwd, status, env = work, 0, _environment()
    for command, expected in session:
        if command.startswith("#"):
            assert not expected
            continue
        if command.startswith("cd "):
            cwd = (cwd / command[3:].strip()).resolve()
            continue
        done = subprocess.run(["bash", "-c", f"(exit {status}); {command}"], cwd=cwd, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              timeout=COMMAND_TIMEOUT)
        status = done.returncode
        actual = done.stdout.decode("utf-8", errors="replace").replace(f"{work}/", "").splitlines()
        while actual and not actual[-1].strip():
            actual.pop()
        assert _matches(expected, actual), (
            f"README.md:{start}: `{command}` printed\n" + "\n".join(actual)
            + "\n--- but the README shows ---\n" + "\n".join(expected))


# --- every file the docs cite exists -----------------------------------------------------------

_CITED = re.compile(r"(?<![\w/.-])((?:bench|docs|tests|partcfg|cells|templates|\.ci)/[\w./*-]*[\w/*])")


def _cited_paths(text: str) -> set[str]:
    return {m.group(1) for m in _CITED.finditer(text)}


@pytest.mark.parametrize("document", ["README.md", ".pre-commit-hooks.yaml", "tests/golden/README.md"])
def test_every_file_the_docs_cite_exists(document):
    text = (ROOT / document).read_text()
    missing = sorted(p for p in _cited_paths(text) if not (ROOT / p).exists()
                     and not list(ROOT.glob(p)))
    assert missing == []
    for image in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text):  # pictures, relative to the document
        assert ((ROOT / document).parent / image).exists(), image


def test_the_citation_check_can_fail():
    assert _cited_paths("see `docs/workflow.md`, tests/fixtures/workflow/warn/board.yaml, cells/qemu-x86*.yaml.") == \
        {"docs/workflow.md", "tests/fixtures/workflow/warn/board.yaml", "cells/qemu-x86*.yaml"}


def test_expected_output_matching():
    assert _matches(["a", "...", "z"], ["a", "b", "c", "z"])
    assert _matches(["took 0.5 ms (...)"], ["took 12.25 ms (whatever)"])
    assert not _matches(["wrote 13 files to build"], ["wrote 21 files to build"])
    assert not _matches(["a", "...", "z"], ["a", "b"])


@pytest.mark.slow  # starts each bench script in a Python process
@pytest.mark.parametrize("script", sorted(p.name for p in (ROOT / "bench").glob("*.py")))
def test_bench_scripts_start_outside_the_checkout(tmp_path, script):
    """`python bench/X.py` from anywhere: the installed package, or else the checkout."""
    env = {k: v for k, v in _environment().items() if k != "PYTHONPATH"}
    done = subprocess.run([sys.executable, str(ROOT / "bench" / script), "--help"], cwd=tmp_path,
                          env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120)
    assert done.returncode == 0, done.stdout.decode()
