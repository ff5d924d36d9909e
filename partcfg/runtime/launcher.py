"""Runtime, CLI side: run every system of a build directory, one supervisor process each.

:func:`run_build_dir` first reads and plans every system (so a build directory that
cannot run is refused with :class:`InputError` before any process starts), then starts
one supervisor per system in turn and collects its :class:`SystemRun`. On any way out,
Ctrl-C included, the supervisor is stopped and reaped; it takes its cells with it (they
die with it), so nothing is left behind. ``programs`` (``--program CELL=COMMAND``) name
cells that run a user's program instead of partcfg's cell code; every name must be a
cell of the build directory (``RUN-PROGRAM-CELL``).
"""

from __future__ import annotations

import importlib
import json
import os
import shlex
import signal
import subprocess
import time
from pathlib import Path

from ..diagnostics import InputError, did_you_mean, error
from .builddir import scenarios_in, system_build_of, system_dirs_of, system_name_in_headers_of
from . import confine
from .plan import memory_plan_of
from .run_report import Check, RunReport, SystemRun, diagnostic_of_dict
from .supervisor import EXCHANGE_COUNT
from .spawn import module_command
from .transport import readable

SUPERVISOR_BUDGET = 600.0       # far beyond every phase deadline together: a hang backstop
STDERR_TAIL = 4000


def _names_of(path: Path, dirs: list[Path]) -> list[str | None]:
    """A system built into its own subdirectory is named after it; a flat build by the
    system its firmware headers name, else after its root cell (None: the supervisor
    takes the root cell's name)."""
    return [system_name_in_headers_of(d) if d == path else d.name for d in dirs]


def _runs_of(dirs: list[Path], names: list[str | None],
             scenario: str | None) -> list[tuple[Path, str | None, str | None]]:
    """(directory, system name, scenario) for each run: a system whose build recorded
    scenarios runs each in turn (only ``scenario`` when given), one without runs whole."""
    runs: list[tuple[Path, str | None, str | None]] = []
    known: list[str] = []
    for directory, name in zip(dirs, names):
        recorded = scenarios_in(directory)
        if recorded is None:
            if scenario is None:
                runs.append((directory, name, None))
            continue
        known += recorded
        runs += [(directory, name, s) for s in recorded if scenario is None or s == scenario]
    if scenario is not None and not runs:
        raise InputError([error(
            "CHECK-SCENARIO", f"no system of this build directory recorded scenario {scenario!r}",
            hint=did_you_mean(scenario, known) or (f"scenarios: {', '.join(known)}" if known
                                                  else "the system file declares none"))])
    return runs


def _programs_checked(programs: dict[str, str], cells: list[str]) -> list:
    """A diagnostic for each --program that names no cell or has no usable command."""
    problems = []
    for cell, command in programs.items():
        if cell not in cells:
            problems.append(error(
                "RUN-PROGRAM-CELL", f"--program {cell}=...: the build directory has no cell "
                f"{cell!r}", hint=did_you_mean(cell, cells)
                or f"cells: {', '.join(sorted(set(cells)))}"))
            continue
        try:
            words = shlex.split(command)
        except ValueError as exc:
            words, why = [], f"the command cannot be split into words ({exc})"
        else:
            why = "no command after '='"
        if not words:
            problems.append(error("RUN-PROGRAM-CELL", f"--program {cell}=: {why}",
                                  hint="write --program CELL=COMMAND, e.g. "
                                  f"--program {cell}='python3 my_cell.py'"))
    return problems


def run_build_dir(path: str | Path, seconds: float = 1.0, bench: bool = False,
                  exchange_count: int = EXCHANGE_COUNT, scenario: str | None = None, *,
                  programs: dict[str, str] | None = None) -> RunReport:
    try:
        importlib.import_module(f"{__package__}._ring")   # the compiled core
    except ImportError as exc:
        raise InputError([error("RUN-NO-CORE", f"the runtime's compiled core is missing ({exc})",
                                hint="reinstall partcfg with a C compiler and the Python "
                                "headers present: pip install .")]) from None
    path = Path(path)
    dirs = system_dirs_of(path)
    runs = _runs_of(dirs, _names_of(path, dirs), scenario)
    problems, cells = [], []
    programs = dict(programs or {})
    for directory, name, one in runs:
        try:
            system = system_build_of(directory, name, one)
            cells += [cell.name for cell in system.cells]
            memory_plan_of(system)
        except InputError as exc:
            problems.extend(exc.diagnostics)
    if not problems:
        problems = _programs_checked(programs, cells)
    if problems:
        raise InputError(problems)
    report = RunReport()
    # no cell may reach this process either (ptrace, /proc/<pid>/mem) while cells run
    was_dumpable = confine.is_dumpable()
    confine.set_not_dumpable()
    try:
        for directory, name, one in runs:
            run = _supervised(directory, name, seconds, bench, exchange_count, one, programs)
            if one is not None:
                run.name = f"{run.name} scenario {one}"
            report.systems.append(run)
    finally:
        if was_dumpable:
            confine.set_dumpable(True)
    unusable = [d for s in report.systems for d in s.unusable]
    if unusable:
        raise InputError([diagnostic_of_dict(d) for d in unusable])
    return report


def _stop(popen: subprocess.Popen) -> None:
    if popen.poll() is None:
        popen.send_signal(signal.SIGTERM)
        try:
            popen.wait(timeout=10.0)
        except subprocess.TimeoutExpired:
            popen.kill()
            popen.wait(timeout=10.0)


def _supervised(directory: Path, name: str | None, seconds: float, bench: bool,
                exchange_count: int, scenario: str | None = None,
                programs: dict[str, str] | None = None) -> SystemRun:
    label = name or directory.name
    read_end, write_end = os.pipe()
    try:
        popen = subprocess.Popen(
            module_command("partcfg.runtime.supervisor", str(directory), name or "",
                           repr(float(seconds)), "1" if bench else "0", str(int(exchange_count)),
                           str(write_end), str(os.getpid()), scenario or "",
                           json.dumps(programs or {}), "1" if confine.is_dumpable() else "0"),
            pass_fds=[write_end], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE)
    finally:
        os.close(write_end)
    result, tail = b"", b""
    try:
        deadline = time.monotonic() + SUPERVISOR_BUDGET + (20 * seconds if bench else seconds)
        open_fds = {read_end, popen.stderr.fileno()}
        while open_fds:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            ready = readable(list(open_fds), min(left, 1.0))
            for fd in ready:
                chunk = os.read(fd, 1 << 16)
                if not chunk:
                    open_fds.discard(fd)
                elif fd == read_end:
                    result += chunk
                else:
                    tail = (tail + chunk)[-STDERR_TAIL:]
        _stop(popen)
    except BaseException:
        _stop(popen)
        raise
    finally:
        os.close(read_end)
        popen.stderr.close()
    if result:
        try:
            return SystemRun.of_dict(json.loads(result))
        except (ValueError, KeyError, TypeError):
            pass
    run = SystemRun(label or "?", str(directory))
    lines = tail.decode(errors="replace").strip().splitlines()[-3:]
    run.subject("system", "supervisor").checks.append(Check(
        "supervisor", False, f"ended without a report (status {popen.returncode})"
        + (f": {' | '.join(lines)}" if lines else "")))
    return run
