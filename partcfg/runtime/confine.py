"""Runtime: confining cell processes against code of their own (Linux only).

Used by the supervisor (``supervisor.py``) and by each cell process right after it
starts (``cell.py``, ``cellapi.py``); it sits beside ``memory`` in the flow
(builddir -> plan -> launcher -> supervisor -> cells) and imports nothing of partcfg
but the compiled core.

What a cell must not do, and what stops it:

- *Reopen a read-only descriptor read-write* (``/proc/self/fd/N`` with ``O_RDWR``): the
  memory files are mode 0600, and no read-only descriptor exists before the file is
  sealed against new writable mappings and writes (``F_SEAL_FUTURE_WRITE``), so a
  reopened descriptor can neither write nor map writable (memory.py orders this).
- *Read or write another process's memory* (``/proc/<pid>/mem``, ptrace,
  ``process_vm_writev``) and *signal* siblings or the supervisor: as root each cell runs
  under a user and group id of its own (:func:`cell_ids_of`), and the supervisor and
  partcfg's cells are not dumpable (``PR_SET_DUMPABLE`` 0), which refuses ptrace access
  even to a process of the same user id.
- *Outlive the run*: each cell leads a session (its own process group), the supervisor
  is a child subreaper, so every orphaned descendant is re-parented to it, and at the
  end :func:`end_descendants` kills by user id, by process group and by parentage.

:func:`isolation_of` turns what is actually in force on this machine into the lines of
the run report; nothing is claimed that was not set up.
"""

from __future__ import annotations

import ctypes
import os
import signal

from . import _ring

PR_SET_DUMPABLE, PR_GET_DUMPABLE = 4, 3
CELL_ID_BASE = 0x7A000000     # far above any user id a distribution allocates
CELL_IDS_PER_RUN = 0x400      # the cells of one supervisor: CELL_ID_BASE + slot * 0x400 + index

_libc = ctypes.CDLL(None, use_errno=True)


def _prctl(option: int, value: int) -> int:
    result = _libc.prctl(option, ctypes.c_ulong(value), ctypes.c_ulong(0),
                         ctypes.c_ulong(0), ctypes.c_ulong(0))
    if result < 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code))
    return result


def set_not_dumpable() -> None:
    """No ptrace access, no ``/proc/<pid>/mem`` for processes of the same user id."""
    _prctl(PR_SET_DUMPABLE, 0)


def set_dumpable(on: bool) -> None:
    _prctl(PR_SET_DUMPABLE, 1 if on else 0)


def is_dumpable() -> bool:
    return _prctl(PR_GET_DUMPABLE, 0) != 0


def can_separate_users() -> bool:
    """Distinct user ids per cell need the right to change ids (root, in practice)."""
    return os.geteuid() == 0


def cell_ids_of(supervisor_pid: int, index: int) -> int | None:
    """The user and group id of cell ``index`` of the supervisor ``supervisor_pid``, or
    None when cells cannot get ids of their own. Two supervisors running at once get
    different ranges unless their process ids are equal modulo 65536."""
    if not can_separate_users() or index >= CELL_IDS_PER_RUN:
        return None
    return CELL_ID_BASE + (supervisor_pid % 0x10000) * CELL_IDS_PER_RUN + index


def become(ident: int) -> None:
    """Drop every privilege for good: no supplementary groups, real, effective and saved
    group and user ids all ``ident``. Changing the ids resets dumpability, so set it
    again afterwards (:func:`confine_self`)."""
    os.setgroups([])
    os.setresgid(ident, ident, ident)
    os.setresuid(ident, ident, ident)


def confine_self(ident: int | None) -> dict:
    """In a cell process: drop to its own ids (when given), make it non-dumpable, and
    say what holds, for the supervisor to report."""
    if ident is not None:
        become(ident)
    set_not_dumpable()
    return {"uid": os.getuid(), "dumpable": is_dumpable(), "session": os.getsid(0) == os.getpid()}


def in_child_before_exec(supervisor: int, ident: int | None) -> None:
    """``preexec_fn`` of a user program (runs in the child, after ``setsid``): die with
    the supervisor, and drop to the cell's ids before any of the program's code runs.
    Dumpability is reset by exec; the program (``cellapi.attach``) turns it off."""
    _ring.set_parent_death_signal(signal.SIGKILL)
    if os.getppid() != supervisor:
        os._exit(3)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if ident is not None:
        become(ident)


def _kill_every_process_of(ident: int) -> None:
    """kill(-1) from a child running as ``ident`` reaches every process of that user id,
    whatever its process group or parent, in one system call."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child only kills and exits
        try:
            os.setgroups([])
            os.setresgid(ident, ident, ident)
            os.setresuid(ident, ident, ident)
            os.kill(-1, signal.SIGKILL)
        except OSError:
            pass
        os._exit(0)
    os.waitpid(pid, 0)


def _children_of(parent: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as handle:
                stat = handle.read()
        except OSError:
            continue
        # the command name is in parentheses and may hold anything: fields follow the last ')'
        fields = stat[stat.rfind(b")") + 2:].split()
        if len(fields) > 1 and int(fields[1]) == parent:
            found.append(int(entry))
    return found


def end_descendants(idents: list[int], groups: list[int], spared: set[int]) -> int:
    """At the end of a run: kill every process of the cells' user ids, every process of
    their process groups, and every process re-parented to this (subreaper) process, then
    reap them. ``spared`` are children that the caller reaps itself. Returns how many
    stray descendants were killed."""
    for ident in idents:
        _kill_every_process_of(ident)
    for group in groups:
        try:
            os.killpg(group, signal.SIGKILL)
        except OSError:
            pass
    killed = 0
    for _ in range(100):    # each round kills the orphans whose parents the last one killed
        strays = [pid for pid in _children_of(os.getpid()) if pid not in spared]
        if not strays:
            break
        for pid in strays:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
            try:
                os.waitpid(pid, 0)
                killed += 1
            except ChildProcessError:
                pass
    return killed


def become_subreaper() -> bool:
    try:
        _ring.set_child_subreaper(True)
        return True
    except OSError:
        return False


def isolation_of(separate_users: bool, cells_confined: bool, sealed: bool, subreaper: bool,
                 supervisor_dumpable: bool, launcher_dumpable: bool) -> tuple[list[str], list[str]]:
    """(protections in force, protections missing) as report lines, from what was set up
    and what the cells reported."""
    in_force, missing = [], []
    if sealed:
        in_force.append("memory files mode 0600, sealed against writes before any "
                        "read-only descriptor existed (no read-write reopen)")
    else:
        missing.append("sealed memory files (a read-only descriptor could be reopened "
                       "read-write)")
    if separate_users:
        in_force.append("a user and group id per cell (no signals to other cells or the "
                        "supervisor, no access to their /proc/<pid>/mem)")
    else:
        missing.append("a user id per cell (not root: cells share the supervisor's user "
                       "id and can signal each other, the supervisor and partcfg run)")
    if cells_confined and not supervisor_dumpable and not launcher_dumpable:
        in_force.append("partcfg run, the supervisor and partcfg's cells not dumpable (no "
                        "ptrace, no /proc/<pid>/mem)")
    else:
        missing.append("non-dumpable processes (ptrace and /proc/<pid>/mem of the same user "
                       "id possible)")
    if subreaper:
        in_force.append("a session per cell and a subreaper supervisor (every descendant "
                        "ends with the run)")
    else:
        missing.append("subreaper (a double-forked descendant could outlive the run)")
    return in_force, missing
