"""Runtime: the supervisor process, standing in for the hypervisor
(``python -m partcfg.runtime.supervisor``; one per system; started by ``launcher``).

It parses the built blobs (``builddir``), computes the memory plan (``plan``), then runs
the phases of one system and writes a :class:`SystemRun` as JSON to the file descriptor it
was given. :class:`Supervisor` holds the run's state and the report; its jobs live in
three parts it is composed of:

- ``cell_processes``: memory files, starting each cell with only the descriptors its blob
  grants, sealing, and ending every process on every way out;
- ``event_loop``: each wake-up's messages, the links' register blocks (``registers``),
  doorbells and state changes turned into eventfd wake-ups;
- ``exercise_phases``: the exercises and the checks per link and per cell.

Nothing outlives it: every cell gets the parent-death signal before it execs and leads
a session of its own, the supervisor is a child subreaper and kills its cells, their
process groups, every process of their user ids and every orphan re-parented to it on
every way out (normal end, error, SIGINT, SIGTERM), and the memory files have no name,
so they vanish with the last process that maps them. Every wait has a deadline.

A cell can run a user's program instead of partcfg's cell code (``--program``,
``programs.py`` and ``cellapi.py``): it gets the same descriptors, the exercises leave it
out, and what it reports becomes checks of its cell. Isolation (confine.py) is the same
for both; the report says which protections were in force.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path

from . import _ring, confine
from .builddir import LinkInfo, SystemBuild, system_build_of
from .cell_processes import CellProcess, CellProcesses, LinkRuntime
from .event_loop import EventLoop
from .exercise_phases import EXCHANGE_COUNT, ExercisePhases
from .memory import SectionFiles
from .plan import MemoryPlan, memory_plan_of
from .run_report import Check, Subject, SystemRun, counted
from ..diagnostics import InputError


class Interrupted(BaseException):
    """SIGINT, SIGTERM or SIGHUP reached the supervisor (not an Exception: no handler of
    errors may swallow it)."""


class Supervisor(CellProcesses, EventLoop, ExercisePhases):
    """One system's run: the state its parts share, the order of the phases, and the
    report (subjects, notes, isolation)."""

    def __init__(self, system: SystemBuild, plan: MemoryPlan, seconds: float, bench: bool,
                 exchange_count: int = EXCHANGE_COUNT, *, programs: dict[str, str] | None = None):
        self.system = system
        self.plan = plan
        self.seconds = seconds
        self.bench = bench
        self.exchange_count = exchange_count
        self.run_report = SystemRun(system.name, str(system.directory),
                                    mode="bench" if bench else "exercises")
        self.files: SectionFiles | None = None
        self.cells: list[CellProcess] = []
        self.links: list[LinkRuntime] = []
        self.device_links: dict[tuple[int, int], LinkRuntime] = {}
        self.working: dict[tuple[int, int], dict] = {}     # (cell, device) -> transport
        self.fast_wakeups: set[bool] = set()
        self.programs = dict(programs or {})              # cell name -> command
        self.confined: dict[int, dict] = {}               # own cell -> what it reported
        self.subreaper = False
        self.launcher_dumpable = True         # partcfg run says otherwise (main())

    # --- the run ----------------------------------------------------------------------------

    def run(self) -> SystemRun:
        self.subreaper = confine.become_subreaper()
        for note in self.system.notes:
            self.run_report.notes.append(f"{note.location}: {note.message}")
        self._declare_subjects()
        phases = [("start", self.start), ("probe", self.phase_probe),
                  ("discovery", self.phase_discover)]
        if self.bench:
            phases.append(("bench", self.phase_bench))
        else:
            phases += [("state", self.phase_state), ("exchange", self.phase_exchange),
                       ("sign", self.phase_sign), ("kill", self.phase_kill)]
        if self.programs:
            phases.append(("programs", self.phase_programs))
        timings = []
        try:
            for name, phase in phases:
                began = time.monotonic()
                phase()
                timings.append(f"{name} {time.monotonic() - began:.2f} s")
            self.run_report.notes.append("phases: " + ", ".join(timings))
        except InputError as exc:
            self.run_report.unusable = [d.as_dict() for d in exc.diagnostics]
        except Exception as exc:  # a bug: report it as what did not hold, never a traceback
            self.run_report.subject("system", "supervisor").checks.append(Check(
                name, False, f"internal error: {type(exc).__name__}: {exc}"))
        finally:
            self.stop()
            self._report_isolation()
        if len(self.fast_wakeups) > 1:
            self.run_report.notes.append("cells disagree on membarrier support")
        elif self.fast_wakeups:
            self.run_report.notes.append(
                "wake-ups: " + ("membarrier-based asymmetric fences" if True in self.fast_wakeups
                                else "sequentially consistent fences (no membarrier)"))
        return self.run_report

    def _declare_subjects(self) -> None:
        for link in self.system.links:
            names = ", ".join(f"{k}: {self.system.cells[p.cell].name}"
                              for k, p in link.peers.items())
            absent = [str(k) for k in range(link.max_peers) if k not in link.peers]
            self.run_report.subject("link", link.label, f"{link.max_peers} peers ({names})"
                                    + (f", {len(absent)} absent (peer {', '.join(absent)}: "
                                       "no cell of this build)" if absent else ""))
        for ci, cell in enumerate(self.system.cells):
            regions = self.plan.cells[ci].regions
            mapped = sum(1 for r in regions if r.pieces)
            self.run_report.subject("cell", cell.name,
                                    ("root cell, " if cell.is_root else "")
                                    + (f"program {self.programs[cell.name]!r}, "
                                       if cell.name in self.programs else "")
                                    + f"{counted(mapped, 'mapped region')} from "
                                    + counted(sum(len(r.pieces) for r in regions), "section"))

    def _link_subject(self, link: LinkInfo) -> Subject:
        return self.run_report.subject("link", link.label)

    def _cell_subject(self, ci: int) -> Subject:
        return self.run_report.subject("cell", self.system.cells[ci].name)

    def _report_isolation(self) -> None:
        """What was in force for this run, from what was set up and what the cells said."""
        own = [c for c in self.cells if c.program is None]
        separate = bool(self.cells) and all(c.ident is not None for c in self.cells) and all(
            self.confined.get(c.index, {}).get("uid") == c.ident for c in own)
        confined = bool(own) and all(self.confined.get(c.index, {}).get("dumpable") is False
                                     for c in own)
        in_force, missing = confine.isolation_of(
            separate, confined or not own, bool(self.files and self.files.sealed),
            self.subreaper, confine.is_dumpable(), self.launcher_dumpable)
        self.run_report.isolation, self.run_report.missing = in_force, missing


def supervise(directory: str, name: str | None, seconds: float, bench: bool,
              exchange_count: int = EXCHANGE_COUNT, scenario: str | None = None,
              *, programs: dict[str, str] | None = None,
              launcher_dumpable: bool = True) -> SystemRun:
    """Load, plan and run one system (one scenario of it); an unusable build comes back
    in ``unusable``."""
    try:
        system = system_build_of(Path(directory), name, scenario)
        plan = memory_plan_of(system)
    except InputError as exc:
        return SystemRun(name or Path(directory).name, directory,
                         unusable=[d.as_dict() for d in exc.diagnostics])
    supervisor = Supervisor(system, plan, seconds, bench, exchange_count, programs=programs)
    supervisor.launcher_dumpable = launcher_dumpable
    return supervisor.run()


def _interrupted(signum, frame):
    raise Interrupted()


def main(argv: list[str]) -> int:
    directory, name, seconds, bench, count, result_fd, parent = argv[:7]
    scenario = argv[7] if len(argv) > 7 and argv[7] else None
    programs = json.loads(argv[8]) if len(argv) > 8 else {}
    launcher_dumpable = argv[9] != "0" if len(argv) > 9 else True
    _ring.set_parent_death_signal(signal.SIGKILL)
    if os.getppid() != int(parent):
        return 3
    confine.set_not_dumpable()      # no cell reaches the state tables through /proc/<pid>/mem
    signal.signal(signal.SIGINT, _interrupted)
    signal.signal(signal.SIGTERM, _interrupted)
    signal.signal(signal.SIGHUP, _interrupted)
    try:
        run = supervise(directory, name or None, float(seconds), bench == "1", int(count), scenario,
                        programs=programs, launcher_dumpable=launcher_dumpable)
    except Interrupted:
        return 130
    except Exception as exc:  # a bug before the run started: still a report, no traceback
        run = SystemRun(name or directory, directory)
        run.subject("system", "supervisor").checks.append(Check(
            "start", False, f"internal error: {type(exc).__name__}: {exc}"))
    with os.fdopen(int(result_fd), "w") as out:
        json.dump(run.as_dict(), out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
