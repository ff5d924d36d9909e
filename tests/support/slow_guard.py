"""pytest plugin (loaded by tests/conftest.py): a test that starts a process is marked slow.

``pytest -m "not slow"`` is the quick loop; what makes a test slow here is mostly the
processes it starts (the runtime's cells, a shell running a README example, gcc, a
browser, a pseudo-terminal, worker pools), each costing tens to hundreds of
milliseconds. So a test without the ``slow`` mark that starts one fails, naming what it
started, and the quick loop stays quick as tests are added.
"""

from __future__ import annotations

import os
import subprocess

import _posixsubprocess
import pytest

_started: list[str] = []
_watching = False


def _watched(original, what):
    def start(*args, **kwargs):
        if _watching:
            _started.append(what(args))
        return original(*args, **kwargs)
    return start


def _program(args) -> str:
    # fork_exec(args, executable_list, ...): the argument vector comes first
    argv = args[0] if args else None
    return " ".join(os.fsdecode(a) for a in argv[:3]) if argv else "a process"


@pytest.fixture(autouse=True)
def _processes_need_the_slow_mark(request, monkeypatch):
    global _watching
    if request.node.get_closest_marker("slow") is not None:
        yield
        return
    # subprocess keeps its own reference to fork_exec; multiprocessing's spawn and
    # forkserver call the module's
    monkeypatch.setattr(subprocess, "_fork_exec", _watched(subprocess._fork_exec, _program))
    monkeypatch.setattr(_posixsubprocess, "fork_exec", _watched(_posixsubprocess.fork_exec, _program))
    monkeypatch.setattr(os, "posix_spawn", _watched(os.posix_spawn, lambda args: os.fsdecode(args[0])))
    monkeypatch.setattr(os, "fork", _watched(os.fork, lambda args: "a fork"))
    monkeypatch.setattr(os, "forkpty", _watched(os.forkpty, lambda args: "a pseudo-terminal"))
    _started.clear()
    _watching = True
    try:
        yield
    finally:
        _watching = False
    if _started:
        started = ", ".join(dict.fromkeys(_started))
        pytest.fail(f"this test starts processes ({started}) but is not marked slow: mark it "
                    "@pytest.mark.slow so that `pytest -m 'not slow'` stays the quick loop",
                    pytrace=False)
