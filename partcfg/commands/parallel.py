"""Orchestration for big trees: check and build many systems in shares, on every core.

A companion of ``pipeline`` for the ``build`` and ``check`` commands (pure: returns data, never prints; progress is
reported through a callback). The input files are grouped by the system they name (a
cheap scan of each file's top-level ``system:`` line, no YAML parsing), the groups are cut
into shares, and each share goes through the ordinary pipeline (load, model, validate,
layout, render) in a worker process; the results are merged. Systems are independent, so
a share's diagnostics and outputs are the whole build's, provided the build-wide facts
are passed in: whether there are several systems (output subdirectories) and the names
generated files cite their sources by.

The result must be exactly the serial one, so anything whose meaning crosses shares sends
the caller back to the serial path (``None``): a ``SYS-*`` error (a file whose
system is in no share of its own, a duplicate system, a scan that guessed wrong), two
shares writing one output path, and, for builds, any error (``--force`` and the exact
error report stay with the serial path).
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import re
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

from ..diagnostics import Diagnostic, PartcfgError, Severity, sorted_diagnostics

JOBS_VARIABLE = "PARTCFG_JOBS"
# below this many systems a pool costs more than it saves (measured with bench/tree.py)
MIN_SYSTEMS_FOR_POOL = 16
SHARES_PER_JOB = 6

_SYSTEM_LINE = re.compile(rb"^system:[ \t]*['\"]?([^'\"#\s]+)['\"]?[ \t]*(?:#.*)?$", re.M)


def jobs_of(environ: dict | None = None, loadavg: str | None = None) -> int:
    """Worker processes to use: ``PARTCFG_JOBS`` when set to a positive number, else the
    cores this process may run on that other work does not keep busy now: on a machine
    whose cores are busy, a pool only adds its own overhead. "Now" is the number of
    threads running at this moment (``/proc/loadavg``, this one not counted), not the
    1-minute load average, which still counts work that ended up to a minute ago (the
    previous command of a script, for one). ``loadavg``: that file's text (for tests)."""
    env = os.environ if environ is None else environ
    text = env.get(JOBS_VARIABLE, "").strip()
    if text.isdigit() and int(text) > 0:
        return int(text)
    try:
        cores = max(len(os.sched_getaffinity(0)), 1)
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        cores = os.cpu_count() or 1
    return max(1, min(cores, cores - _busy_elsewhere(loadavg)))


def worker_pool_of(jobs: int) -> ProcessPoolExecutor:
    """A pool of ``jobs`` processes forked from this one, which inherit its imports,
    compiled templates and caches (``prepare_renderers``). The heap is frozen first
    (``gc.freeze``): a collection in a worker would otherwise write to every object it
    inherited, copying the parent's pages one by one (about 0.05 s of a 40-system build
    on 2 cores). The workers are forked at the first
    submit, so the freeze covers them; the parent's frozen objects stay freed by
    reference counting, as after every paused phase (``gc_pause``)."""
    gc.freeze()
    return ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("fork"))


def _busy_elsewhere(loadavg: str | None = None) -> float:
    """Threads running now besides this one: from ``/proc/loadavg`` ("0.52 0.40 0.31
    2/143 9876": 2 running, this one among them), else the 1-minute load average,
    rounded to whole cores."""
    try:
        if loadavg is None:
            with open("/proc/loadavg", encoding="ascii") as handle:
                loadavg = handle.read()
        return max(0, int(loadavg.split()[3].split("/")[0]) - 1)
    except (OSError, IndexError, ValueError):  # not Linux, or a form not known
        try:
            return int(os.getloadavg()[0] + 0.5)
        except OSError:  # pragma: no cover - no load average
            return 0


def system_named_by(path: Path) -> str | None:
    """The system a YAML file names on a top-level ``system:`` line, or None (no such
    line, unreadable, or a form the scan does not recognise: the pipeline will tell)."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(1 << 16)
    except OSError:
        return None
    m = _SYSTEM_LINE.search(head)
    return m.group(1).decode("utf-8", "replace") if m else None


def system_groups_of(files: Sequence[Path]) -> list[list[Path]]:
    """The files grouped by the system they name, in first-seen order; files naming no
    system form one group of their own."""
    groups: dict[str | None, list[Path]] = {}
    for f in files:
        groups.setdefault(system_named_by(f), []).append(f)
    return list(groups.values())


def shares_of(groups: list[list[Path]], count: int) -> list[list[Path]]:
    """``groups`` dealt into at most ``count`` shares of whole groups, balanced by number
    of files, each share's files in input order."""
    count = max(1, min(count, len(groups)))
    shares: list[list[Path]] = [[] for _ in range(count)]
    sizes = [0] * count
    for group in sorted(groups, key=len, reverse=True):
        i = sizes.index(min(sizes))
        shares[i].extend(group)
        sizes[i] += len(group)
    order = {f: n for n, f in enumerate(f for g in groups for f in g)}
    return [sorted(s, key=order.__getitem__) for s in shares if s]


@dataclass
class ShareResult:
    systems: int
    diagnostics: list[Diagnostic]
    outputs: dict[str, bytes] | None
    failure: list[Diagnostic] = field(default_factory=list)   # a raised PartcfgError
    failure_kind: str | None = None                           # its class name


def _run_share(files: list[Path], build: bool, several: bool, source_names: dict[str, str],
               emit: frozenset[str], target: str | None) -> ShareResult:
    from .pipeline import build_outputs_of, checked_files_of

    try:
        checked = checked_files_of(files, parallel_load=False)  # this is a worker already
        outputs = None
        failed = any(d.severity is Severity.ERROR for d in checked.diagnostics)
        if build and not failed:
            outputs = build_outputs_of(checked, set(emit), target, several=several,
                                       source_names=source_names)
        return ShareResult(len(checked.assembly.systems), checked.diagnostics, outputs)
    except PartcfgError as exc:
        return ShareResult(0, [], None, list(exc.diagnostics), type(exc).__name__)


# the templates a build renders, by the --emit kind that asks for them (None: always)
BUILD_TEMPLATES = {None: ("firmware_header.h.j2",),
                   "c": ("jailhouse_config.c.j2", "jailhouse_types.h.j2", "jailhouse_cell_config.h.j2")}


def prepare_renderers(emit: frozenset[str] | set[str] = frozenset()) -> None:
    """Import the renderers a build uses, compile its templates and compute the firmware
    headers' cell-independent declarations here, once, before the pool forks: the workers
    inherit them instead of each importing and compiling the same things again (about
    0.1 s per worker, most of a small tree's work)."""
    from ..render import csource, cspace, elf  # noqa: F401  (imported for the workers)
    from ..render.cheader import ivshmem_types_context
    from ..render.jinja import environment

    ivshmem_types_context()
    for kind, names in BUILD_TEMPLATES.items():
        if kind is None or kind in emit:
            for name in names:
                environment().get_template(name)


@dataclass
class TreeResult:
    """What a chunked run produced: all diagnostics and (for builds) all outputs."""
    files: list[Path]
    systems: int
    diagnostics: list[Diagnostic]
    outputs: dict[str, bytes] | None


def _crosses_shares(diagnostics: Sequence[Diagnostic]) -> bool:
    """Errors about how files make up systems (SYS-UNKNOWN, SYS-DUPLICATE, ...) depend on
    every file; each share sees only its own."""
    return any(d.rule.startswith("SYS-") and d.severity is Severity.ERROR for d in diagnostics)


def run_tree(paths: Sequence[str | Path], *, build: bool, emit: frozenset[str] = frozenset(),
             target: str | None = None, jobs: int | None = None,
             on_progress: Callable[[int, int], None] | None = None) -> TreeResult | None:
    """Check (and with ``build`` render) every system of ``paths`` in shares, on ``jobs``
    worker processes (one job: in this process, share after share). ``on_progress(done,
    total)`` is called as systems finish. Returns None when the caller should take the
    plain serial path instead (see the module docstring), including for trees of fewer
    than ``MIN_SYSTEMS_FOR_POOL`` systems, where shares would not pay off."""
    from ..load.inputs import yaml_files_of
    from .pipeline import source_names_of

    jobs = jobs_of() if jobs is None else jobs
    files = yaml_files_of(paths)
    groups = system_groups_of(files)
    if len(groups) < MIN_SYSTEMS_FOR_POOL:
        return None
    several = sum(1 for g in groups if system_named_by(g[0]) is not None) > 1
    names = source_names_of(files)
    group_of = {f: i for i, g in enumerate(groups) for f in g}
    shares = shares_of(groups, max(jobs, 1) * SHARES_PER_JOB)
    total = len(groups)
    done = 0
    diagnostics: list[Diagnostic] = []
    outputs: dict[str, bytes] = {}
    systems = 0

    def arguments(share: list[Path]) -> tuple:
        return (share, build, several, {str(f): names[str(f)] for f in share}, frozenset(emit), target)

    def merge(share: list[Path], result: ShareResult) -> bool:
        """Take a share's result; False when the serial path must decide instead."""
        nonlocal done, systems
        if result.failure_kind is not None:
            return False  # the serial path raises the same error with the whole picture
        if _crosses_shares(result.diagnostics):
            return False
        if build and any(d.severity is Severity.ERROR for d in result.diagnostics):
            return False
        if result.outputs is not None:
            if outputs.keys() & result.outputs.keys():
                return False  # two shares write one path: the serial build names the clash
            ours = {rel.split("/", 1)[0].casefold(): rel.split("/", 1)[0] for rel in outputs}
            if any(ours.get(rel.split("/", 1)[0].casefold(), rel.split("/", 1)[0])
                   != rel.split("/", 1)[0] for rel in result.outputs):
                return False  # one name where case is ignored: the serial build names it
            outputs.update(result.outputs)
        diagnostics.extend(result.diagnostics)
        systems += result.systems
        done += len({group_of[f] for f in share})
        if on_progress is not None:
            on_progress(done, total)
        return True

    if jobs < 2:  # one core: the same shares, one after the other, for the progress bar
        for share in shares:
            if not merge(share, _run_share(*arguments(share))):
                return None
    else:
        if build:
            prepare_renderers(emit)
        with worker_pool_of(jobs) as pool:
            futures = {pool.submit(_run_share, *arguments(share)): share for share in shares}
            for future in as_completed(futures):
                if not merge(futures[future], future.result()):
                    for other in futures:
                        other.cancel()
                    return None
    return TreeResult(files, systems, sorted_diagnostics(diagnostics), outputs if build else None)
