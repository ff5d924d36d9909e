"""The `partcfg` program ends without Python's interpreter teardown (cli.main): exit
codes, everything printed, exit handlers and running threads come through as with an
ordinary exit; only the freeing of every module's objects is skipped."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from conftest import FIXTURES, ROOT, example_files

# a probe that runs the program as the console script does, after planting an object
# whose finalizer speaks at teardown and an exit handler that speaks at exit
PROBE = """\
import atexit, sys, threading, time
class Teardown:
    def __del__(self):
        sys.__stdout__.write("torn down\\n"); sys.__stdout__.flush()
planted = Teardown()
atexit.register(lambda: print("exit handler ran"))  # buffered: a pipe is
if {thread!r}:
    def late():
        time.sleep(0.3)
        print("thread finished", flush=True)
    threading.Thread(target=late).start()
from partcfg.cli import main
sys.argv = ["partcfg", *{args!r}]
main()
"""


def _program(*args: str, thread: bool = False) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PARTCFG_JOBS": "1"}
    env.pop("PYTHONUNBUFFERED", None)  # buffered output, as on most machines
    return subprocess.run([sys.executable, "-c", PROBE.format(args=list(args), thread=thread)],
                          capture_output=True, text=True, env=env, timeout=120)


@pytest.mark.slow  # starts an interpreter
@pytest.mark.parametrize("args, code", [
    (["--version"], 0),
    (["check", *map(str, example_files())], 0),
    (["check", str(FIXTURES / "validate" / "cpu-conflict.yaml")], 1),
    (["no-such-command"], 2),
])
def test_exit_codes_and_exit_handlers_without_teardown(args, code):
    done = _program(*args)
    assert done.returncode == code, done.stderr
    assert "exit handler ran" in done.stdout
    assert "torn down" not in done.stdout  # the interpreter was not torn down
    assert "Traceback" not in done.stderr


@pytest.mark.slow  # starts an interpreter
def test_everything_printed_reaches_a_pipe():
    """A report larger than a pipe's buffer arrives whole: the streams are flushed before
    the process ends."""
    files = [str(p) for p in sorted((FIXTURES / "validate").glob("*.yaml"))]
    done = _program("check", "--format", "json", *files)
    assert done.returncode == 1, done.stderr
    report = done.stdout.split("exit handler ran")[0]
    assert len(report) > 8192
    assert len(json.loads(report)) >= len(files)  # a finding or more per fixture


@pytest.mark.slow  # starts an interpreter and a thread
def test_a_running_thread_gets_the_ordinary_exit():
    """With another thread still running, the ordinary exit waits for it (and then tears
    down as usual)."""
    done = _program("--version", thread=True)
    assert done.returncode == 0, done.stderr
    assert "thread finished" in done.stdout
    assert "torn down" in done.stdout
