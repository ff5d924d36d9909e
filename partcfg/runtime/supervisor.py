"""Runtime: the supervisor process, standing in for the hypervisor
(``python -m partcfg.runtime.supervisor``; one per system).

It parses the built blobs (``builddir``), computes the memory plan (``plan``), backs
every section with a memory file (``memory``), starts one process per cell (``cell``)
with only the descriptors its blob grants, seals the memory files once they are mapped,
owns the state tables and implements every link's register block (``registers``),
turning doorbells and state changes into eventfd wake-ups. It then runs the exercises,
judges what the cells observed against the blobs, and writes a :class:`SystemRun` as
JSON to the file descriptor it was given.

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
import shlex
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from . import _ring, confine
from .builddir import LinkInfo, SystemBuild, system_build_of
from .channel import (CFG_WRITE, FDS_PER_MESSAGE, NO_DEVICE, REG_ACCESS, REG_READ,
                      REG_REPLY, REG_WRITE, ChannelClosed, ControlChannel)
from .memory import SealRefused, SectionFiles, mapping_request_of, read_only_sections_of
from .spawn import module_command
from .plan import ACCESS_NONE, ACCESS_R, ACCESS_RW, KIND_EMULATED, MemoryPlan, memory_plan_of
from .registers import Interrupt, LinkRegisters
from .run_report import Check, Figure, Subject, SystemRun
from .transport import AREA_OUTPUT, readable
from ..diagnostics import InputError, error

STARTUP_TIMEOUT = 60.0
PROGRAM_START_TIMEOUT = 2.0     # a user program maps its memory within this (cellapi.attach)
PROGRAM_REPORTS = 200           # checks kept from one program's reports
INBOX_LIMIT = 1000              # unanswered messages kept per cell
PER_WAKEUP = 256                # messages or register accesses taken from one cell at a time
PROGRAM_ENV = "PARTCFG_CELL"    # the description a user program gets (cellapi.py)
PHASE_TIMEOUT = 30.0
EXCHANGE_COUNT = 5000
STDERR_TAIL = 4000



def _counted(n: int, noun: str) -> str:
    """``1 section``, ``2 sections``."""
    return f"{n} {noun}{'' if n == 1 else 's'}"

class Interrupted(BaseException):
    """SIGINT, SIGTERM or SIGHUP reached the supervisor (not an Exception: no handler of
    errors may swallow it)."""


@dataclass
class CellProcess:
    index: int
    name: str
    popen: subprocess.Popen
    control: ControlChannel
    registers: socket.socket
    eventfds: dict[int, list[int]]
    stderr: int
    pidfd: int | None
    program: str | None = None              # the user's command, for a --program cell
    ident: int | None = None                # its own user and group id (root only)
    images: dict[str, dict] = field(default_factory=dict)   # stem -> descriptor, path
    alive: bool = True
    expected_death: bool = False
    status: int | None = None
    inbox: list[dict] = field(default_factory=list)
    stderr_tail: bytes = b""
    closed: set[str] = field(default_factory=set)   # streams that reached end of file

    def died_text(self) -> str:
        status = self.status
        how = (f"killed by signal {-status}" if status is not None and status < 0
               else f"exit status {status}")
        tail = self.stderr_tail.decode(errors="replace").strip().splitlines()[-3:]
        return how + (f"; last output: {' | '.join(tail)}" if tail else "")


@dataclass
class LinkRuntime:
    info: LinkInfo
    registers: LinkRegisters
    state_table: int                        # supervisor's writable mapping
    by_cell: dict[int, tuple[int, int]]     # cell index -> (device index, peer ID)
    mirrored: list[int] = field(default_factory=list)

    def peer_cells(self) -> dict[int, int]:
        return {peer: cell for cell, (_, peer) in self.by_cell.items()}


class Supervisor:
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
                                    + f"{_counted(mapped, 'mapped region')} from "
                                    + _counted(sum(len(r.pieces) for r in regions), "section"))

    def _link_subject(self, link: LinkInfo) -> Subject:
        return self.run_report.subject("link", link.label)

    def _cell_subject(self, ci: int) -> Subject:
        return self.run_report.subject("cell", self.system.cells[ci].name)

    # --- processes and memory ---------------------------------------------------------------

    def start(self) -> None:
        # the tag names the supervisor, so a leak would be traceable to its run
        self.files = SectionFiles(self.plan, f"{self.system.name}@{os.getpid()}")
        for info in self.system.links:
            start, size = info.state_table
            regs = LinkRegisters.of(info.max_peers, info.vectors)
            link = LinkRuntime(info, regs, self.files.map_writable(start, size),
                               {p.cell: (p.device, pid) for pid, p in info.peers.items()},
                               [0] * info.max_peers)
            self.links.append(link)
            for p in info.peers.values():
                self.device_links[(p.cell, p.device)] = link
        for ci in range(len(self.system.cells)):
            self.cells.append(self._spawn(ci))
        own = [c for c in self.cells if c.program is None]
        programs = [c for c in self.cells if c.program is not None]
        for cell in self.cells:
            for link in self._links_of(cell.index):
                link.registers.connect(link.by_cell[cell.index][1])
        for cell in own:
            cell.control.send(self._setup_message(cell))
        problems = self._started(programs, "mapped", PROGRAM_START_TIMEOUT)
        problems += self._started(own, "setup", STARTUP_TIMEOUT)
        if problems:
            raise InputError(problems)
        # no new writable mapping of any section from now on; only now do read-only
        # descriptors exist, and the cells get them
        try:
            self.files.seal()
        except SealRefused as exc:
            sec = self.plan.sections[exc.section]
            holders = [c.name for c in self.cells
                       if self.plan.cells[c.index].section_access().get(exc.section) == ACCESS_RW]
            raise InputError([error(
                "RUN-MAP-FAILED", f"cannot seal the memory file of section {sec.label} "
                f"({exc}): a cell that may write it ({', '.join(holders)}) forbade further "
                "seals; no read-only descriptor was handed out")]) from None
        except OSError as exc:
            raise InputError([error("RUN-MAP-FAILED", "cannot seal the memory files: "
                                    f"{exc.strerror or exc}")]) from None
        for cell in self.cells:
            self._send_read_only(cell)
        problems = self._started(programs, "read_only", PROGRAM_START_TIMEOUT)
        problems += self._started(own, "read_only", STARTUP_TIMEOUT)
        if problems:
            raise InputError(problems)

    def _started(self, cells: list[CellProcess], op: str, timeout: float) -> list:
        """Wait for ``op`` from each cell; a diagnostic for each that died, stayed silent
        or could not map its memory."""
        replies = self.await_replies(cells, op, timeout)
        problems = []
        for cell in cells:
            reply = replies.get(cell.index)
            what = f"cell {cell.name!r}" + (f" (program {cell.program!r})" if cell.program else "")
            if reply is None:
                if not cell.alive:
                    how = (f"exited before mapping its memory: {cell.died_text()}"
                           if cell.program else f"did not start: {cell.died_text()}")
                elif cell.program:
                    how = f"has not mapped its memory within {timeout:g} s"
                else:
                    how = "did not start: no answer"
                problems.append(error("RUN-CELL-START", f"{what} {how}", hint=(
                    "a cell program maps its memory with partcfg.runtime.cellapi.attach() "
                    "as it starts (docs/cell-programs.md)" if cell.program else None)))
            elif "map_error" in reply or "error" in reply:
                problems.append(error(
                    "RUN-MAP-FAILED", f"{what} cannot map its memory as its blob "
                    f"says: {reply.get('map_error') or reply.get('error')}",
                    self.system.cells[cell.index].location()))
            elif op == "setup":
                self.fast_wakeups.add(bool(reply["fast_wakeups"]))
                self.confined[cell.index] = reply.get("confined") or {}
        return problems

    def _send_read_only(self, cell: CellProcess) -> None:
        """The read-only descriptors of the (sealed) sections the cell maps read-only,
        :data:`FDS_PER_MESSAGE` at a time."""
        sections = read_only_sections_of(self.plan, cell.index)
        batches = [sections[i:i + FDS_PER_MESSAGE]
                   for i in range(0, len(sections), FDS_PER_MESSAGE)] or [[]]
        try:
            for i, batch in enumerate(batches):
                cell.control.send({"op": "read_only", "sections": batch,
                                   "last": i == len(batches) - 1},
                                  fds=[self.files.ro[s] for s in batch])
        except (ChannelClosed, OSError):
            pass        # the cell died: _started() says so

    def _links_of(self, ci: int) -> list[LinkRuntime]:
        return [link for link in self.links if ci in link.by_cell]

    def _spawn(self, ci: int) -> CellProcess:
        cell = self.system.cells[ci]
        program = self.programs.get(cell.name)
        ident = confine.cell_ids_of(os.getpid(), ci)
        control_parent, control_child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        reg_parent, reg_child = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        eventfds: dict[int, list[int]] = {}
        for di, dev in enumerate(cell.devices):
            if (ci, di) in self.device_links:
                eventfds[di] = [os.eventfd(0, os.EFD_CLOEXEC | os.EFD_NONBLOCK)
                                for _ in range(max(1, dev["num_msix_vectors"]))]
        images = self._image_descriptors(ci)
        regions, section_fds = mapping_request_of(self.plan, ci, self.files)
        passed = [control_child.fileno(), reg_child.fileno(), *section_fds,
                  *(fd for fds in eventfds.values() for fd in fds),
                  *(i["fd"] for i in images.values() if i["fd"] is not None)]
        supervisor = os.getpid()

        def before_exec() -> None:  # runs in the child: die with the supervisor
            _ring.set_parent_death_signal(signal.SIGKILL)
            if os.getppid() != supervisor:
                os._exit(3)
            signal.signal(signal.SIGINT, signal.SIG_IGN)

        try:
            if program is None:
                # the cell drops to its own ids itself, once its modules are loaded
                popen = subprocess.Popen(
                    module_command("partcfg.runtime.cell", str(control_child.fileno()),
                                   str(reg_child.fileno()), str(supervisor),
                                   "-" if ident is None else str(ident)),
                    pass_fds=passed, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                    stderr=subprocess.PIPE, preexec_fn=before_exec, start_new_session=True)
            else:
                description = {
                    "version": 1, "cell": cell.name, "control": control_child.fileno(),
                    "registers": reg_child.fileno(), "supervisor": supervisor,
                    "regions": regions, "devices": self._devices_of(ci), "images": images,
                    "eventfds": {str(k): v for k, v in eventfds.items()}}
                popen = subprocess.Popen(
                    shlex.split(program), pass_fds=passed, stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                    env={**os.environ, PROGRAM_ENV: json.dumps(description)},
                    preexec_fn=lambda: confine.in_child_before_exec(supervisor, ident),
                    start_new_session=True)
        except (OSError, ValueError) as exc:
            for fd in [*(f for fds in eventfds.values() for f in fds),
                       *(i["fd"] for i in images.values() if i["fd"] is not None)]:
                os.close(fd)
            for sock in (control_parent, control_child, reg_parent, reg_child):
                sock.close()
            raise InputError([error(
                "RUN-CELL-START", f"cell {cell.name!r}: cannot start program {program!r}: "
                f"{getattr(exc, 'strerror', None) or exc}",
                hint="the command runs without a shell"
                + (f", as user id {ident}: it must be readable and executable by that user"
                   if ident is not None else ""))]) from None
        control_child.close()
        reg_child.close()
        reg_parent.setblocking(False)
        os.set_blocking(popen.stderr.fileno(), False)
        try:
            pidfd = os.pidfd_open(popen.pid)
        except (AttributeError, OSError):
            pidfd = None
        return CellProcess(ci, cell.name, popen, ControlChannel(control_parent), reg_parent,
                           eventfds, popen.stderr.fileno(), pidfd, program, ident, images,
                           expected_death=program is not None)

    def _image_descriptors(self, ci: int) -> dict[str, dict]:
        """Stem -> {"fd", "path", "error"}: a cell reads its configuration-space images
        through descriptors, as its own user id may not reach the build directory."""
        images = {}
        for stem, path in sorted(self.system.cells[ci].images.items()):
            try:
                fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)   # no FIFO hang
                images[stem] = {"fd": fd, "path": str(path), "error": None}
            except OSError as exc:
                images[stem] = {"fd": None, "path": str(path), "error": exc.strerror}
        return images

    def _devices_of(self, ci: int) -> list[dict]:
        blob = self.system.cells[ci]
        devices = []
        for di, dev in enumerate(blob.devices):
            if (ci, di) not in self.device_links:
                continue
            start = dev["shmem_regions_start"]
            devices.append({
                "index": di, "domain": dev["domain"], "bdf": dev["bdf"],
                "dev_id": dev["shmem_dev_id"], "peers": dev["shmem_peers"],
                "msix": dev["num_msix_vectors"], "protocol": dev["shmem_protocol"],
                "regions": [{"virt": r["virt_start"], "size": r["size"], "flags": r["flags"]}
                            for r in blob.regions[start:start + 2 + dev["shmem_peers"]]],
            })
        return devices

    def _setup_message(self, cell: CellProcess) -> dict:
        regions, _ = mapping_request_of(self.plan, cell.index, self.files)
        return {"op": "setup", "cell": cell.name, "regions": regions,
                "devices": self._devices_of(cell.index), "images": cell.images,
                "eventfds": {str(k): v for k, v in cell.eventfds.items()}}

    def stop(self) -> None:
        """Every way out: ask the cells to exit, kill what is left, reap, close. Signals
        wait until this is done (the process exits right after)."""
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM, signal.SIGHUP})
        live = [c for c in self.cells if c.alive and c.program is None]
        for cell in live:
            try:
                cell.control.send({"op": "exit"})
            except (ChannelClosed, OSError, Exception):
                pass
        deadline = time.monotonic() + 2.0
        for cell in live:
            try:
                cell.popen.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
        for cell in self.cells:
            if cell.popen.poll() is None:
                cell.popen.kill()
        for cell in self.cells:
            try:
                cell.popen.wait(timeout=5.0)
            except subprocess.TimeoutExpired:  # pragma: no cover - SIGKILL cannot be refused
                pass
            for fd in [cell.pidfd, *(f for fds in cell.eventfds.values() for f in fds),
                       *(i["fd"] for i in cell.images.values())]:
                if fd is not None:
                    try:
                        os.close(fd)
                    except OSError:
                        pass
            cell.control.sock.close()
            cell.registers.close()
            if cell.popen.stderr:
                cell.popen.stderr.close()
        # whatever the cells left behind: their user ids, their sessions, and every
        # orphan re-parented to this subreaper
        strays = confine.end_descendants([c.ident for c in self.cells if c.ident is not None],
                                         [c.popen.pid for c in self.cells], set())
        if strays:
            self.run_report.notes.append(
                f"ended {strays} process{'es' if strays != 1 else ''} the cells left behind")
        if self.files:
            self.files.close()

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

    # --- the event loop ---------------------------------------------------------------------

    def pump_events(self, timeout: float) -> None:
        readers: dict[int, tuple[str, CellProcess]] = {}
        for cell in self.cells:
            if not cell.alive:
                continue
            for kind, fd in (("control", cell.control.fileno()),
                             ("registers", cell.registers.fileno()), ("stderr", cell.stderr)):
                if kind not in cell.closed:
                    readers[fd] = (kind, cell)
            if cell.pidfd is not None:
                readers[cell.pidfd] = ("exit", cell)
        if not readers:
            time.sleep(max(0.0, min(timeout, 0.05)))
            return
        # messages already read but not yet taken (PER_WAKEUP) count as ready
        buffered = [c.control.fileno() for c in self.cells
                    if c.alive and "control" not in c.closed and c.control.has_pending()]
        ready = readable(list(readers), 0.0 if buffered else max(0.0, timeout))
        for fd in dict.fromkeys([*ready, *buffered]):
            kind, cell = readers[fd]
            if not cell.alive:
                continue
            if kind == "registers":
                self._serve_registers(cell)
            elif kind == "control":
                try:
                    for _ in range(PER_WAKEUP):     # a flooding cell must not starve the rest
                        if (msg := cell.control.pending()) is None:
                            break
                        if len(cell.inbox) < INBOX_LIMIT:
                            cell.inbox.append(msg)
                except ChannelClosed:
                    cell.closed.add("control")
                    # a program may close its end and run on; partcfg's cells do not
                    self._reap(cell, wait=cell.program is None)
                self._close_received(cell)
            elif kind == "stderr":
                try:
                    chunk = os.read(fd, 1 << 16)
                except BlockingIOError:
                    chunk = None
                if chunk:
                    cell.stderr_tail = (cell.stderr_tail + chunk)[-STDERR_TAIL:]
                elif chunk is not None:
                    cell.closed.add("stderr")
            elif kind == "exit":
                self._reap(cell, wait=True)
        for cell in self.cells:   # without pidfds, notice deaths by polling
            if cell.alive and cell.pidfd is None and cell.popen.poll() is not None:
                self._reap(cell, wait=False)

    @staticmethod
    def _close_received(cell: CellProcess) -> None:
        """A cell has no descriptors to hand the supervisor: close any it sent."""
        for fd in cell.control.received_fds:
            try:
                os.close(fd)
            except OSError:
                pass
        cell.control.received_fds.clear()

    def _serve_registers(self, cell: CellProcess) -> None:
        for _ in range(PER_WAKEUP):     # a flooding cell must not starve the rest
            try:
                data = cell.registers.recv(64)
            except BlockingIOError:
                return
            except ConnectionResetError:
                data = b""
            if not data:
                cell.closed.add("registers")
                return
            if len(data) != REG_ACCESS.size:
                continue
            op, device, offset, value = REG_ACCESS.unpack(data)
            link = self.device_links.get((cell.index, device))
            if link is None:
                if op == REG_READ:
                    self._reply(cell, NO_DEVICE)
                continue
            peer = link.by_cell[cell.index][1]
            if op == REG_READ:
                self._reply(cell, link.registers.read(peer, offset))
            elif op == REG_WRITE:
                self._apply(link, link.registers.write(peer, offset, value))
            elif op == CFG_WRITE:
                link.registers.config_write(peer, offset, value)

    def _reply(self, cell: CellProcess, value: int) -> None:
        try:
            cell.registers.send(REG_REPLY.pack(value & 0xFFFFFFFF))
        except OSError:
            pass

    def _apply(self, link: LinkRuntime, interrupts: list[Interrupt]) -> None:
        """Mirror the state table into memory, then wake the targets: whatever a cell
        reads after its wake-up was written before it."""
        for peer, value in enumerate(link.registers.state_table):
            if link.mirrored[peer] != value:
                _ring.store_u32(link.state_table + 4 * peer, value)
                link.mirrored[peer] = value
        cells = link.peer_cells()
        for interrupt in interrupts:
            target = self.cells[cells[interrupt.target]]
            device = link.by_cell[target.index][0]
            fds = target.eventfds.get(device, [])
            if target.alive and interrupt.vector < len(fds):
                os.eventfd_write(fds[interrupt.vector], 1)

    def _reap(self, cell: CellProcess, wait: bool) -> None:
        if not cell.alive:
            return
        try:
            cell.status = cell.popen.wait(timeout=5.0 if wait else 0)
        except subprocess.TimeoutExpired:
            return
        cell.alive = False
        for link in self._links_of(cell.index):
            self._apply(link, link.registers.disconnect(link.by_cell[cell.index][1]))
        if not cell.expected_death:
            self._cell_subject(cell.index).checks.append(
                Check("process", False, f"exited unexpectedly: {cell.died_text()}"))

    def await_replies(self, cells: list[CellProcess], op: str, timeout: float) -> dict[int, dict]:
        """The reply with ``op`` from each cell; missing for cells that died or missed the
        deadline."""
        deadline = time.monotonic() + timeout
        replies: dict[int, dict] = {}
        while True:
            for cell in cells:
                if cell.index in replies:
                    continue
                for i, msg in enumerate(cell.inbox):
                    if msg.get("op") == op:
                        replies[cell.index] = cell.inbox.pop(i)
                        break
            waiting = [c for c in cells if c.index not in replies and c.alive]
            left = deadline - time.monotonic()
            if not waiting or left <= 0:
                return replies
            self.pump_events(min(left, 0.25))

    def command(self, cells: list[CellProcess], messages: dict[int, dict], op: str,
                timeout: float) -> dict[int, dict]:
        for cell in cells:
            cell.control.send({"op": op, "timeout": timeout, **messages.get(cell.index, {})})
        return self.await_replies(cells, op, timeout + 5.0)

    def _missing(self, subject: Subject, what: str, cell: CellProcess, reply: dict | None) -> bool:
        """Record a failed check when a cell gave no usable reply; True if so."""
        if reply is None:
            why = cell.died_text() if not cell.alive else "no answer before the deadline"
            subject.checks.append(Check(what, False, f"cell {cell.name}: {why}"))
            return True
        if "error" in reply:
            subject.checks.append(Check(what, False, f"cell {cell.name}: {reply['error']}"))
            return True
        return False

    def live_cells(self) -> list[CellProcess]:
        """partcfg's own cells still running (the exercises run on them, not on programs)."""
        return [c for c in self.cells if c.alive and c.program is None]

    # --- exercise 1: permissions ------------------------------------------------------------

    def phase_probe(self) -> None:
        cells = self.live_cells()
        replies = self.command(cells, {}, "probe", PHASE_TIMEOUT)
        link_rows: dict[int, list[str]] = {i: [] for i in range(len(self.links))}
        link_counts: dict[int, int] = {i: 0 for i in range(len(self.links))}
        for cell in cells:
            subject = self._cell_subject(cell.index)
            reply = replies.get(cell.index)
            if self._missing(subject, "permissions", cell, reply):
                continue
            plan = self.plan.cells[cell.index]
            wrong, refused, carved = [], 0, 0
            observed = {(p["region"], p["piece"]): p for p in reply["pieces"]}
            for region in plan.regions:
                for pi, piece in enumerate(region.pieces):
                    seen = observed.get((region.index, pi))
                    sec = self.plan.sections[piece.section]
                    where = f"region {region.index} section {sec.label}"
                    if seen is None:
                        wrong.append(f"{where}: not probed")
                        continue
                    want_read = piece.access in (ACCESS_R, ACCESS_RW)
                    want_write = piece.access == ACCESS_RW
                    got_read, got_write = seen["read"] == "ok", seen["write"] == "ok"
                    problem = None
                    if (got_read, got_write) != (want_read, want_write):
                        problem = (f"{where}: blob grants {piece.access!r}, read {seen['read']}, "
                                   f"write {seen['write']}")
                    elif not want_write and not seen["write"].startswith("SIGSEGV"):
                        problem = f"{where}: write did not fault with SIGSEGV ({seen['write']})"
                    if piece.access == ACCESS_R:
                        up = seen.get("upgrade", {})
                        granted = [k for k, v in up.items() if v == "ok"]
                        if granted or not up:
                            problem = f"{where}: read-only, but {', '.join(granted) or 'no'} upgrade refused"
                        else:
                            refused += 1
                    if piece.access == ACCESS_NONE:
                        carved += 1
                    if problem:
                        wrong.append(problem)
                    for li, link in enumerate(self.links):
                        lo, hi = link.info.state_table[0], link.info.phys_end
                        if cell.index in link.by_cell and lo <= sec.phys < hi:
                            link_counts[li] += 1
                            if problem:
                                link_rows[li].append(f"{cell.name}: {problem}")
            total = sum(len(r.pieces) for r in plan.regions)
            emulated = [r.index for r in plan.regions if r.kind == KIND_EMULATED]
            detail = (f"{_counted(total, 'section')} x read/write probed in a child process, matrix equals "
                      "the blob's flags")
            if refused:
                detail += (f"; writes to the {'read-only section' if refused == 1 else f'{refused} read-only sections'} faulted (SIGSEGV), "
                           "and mprotect, a writable mmap and a read-write reopen were refused")
            if carved:
                detail += f"; {_counted(carved, 'section')} carved out of the root cell (no access)"
            if emulated:
                detail += f"; sub-page I/O regions {emulated} are emulated, not mapped"
            subject.checks.append(Check("permissions", not wrong, "; ".join(wrong[:6]) if wrong else detail))
        for li, link in enumerate(self.links):
            rows = link_rows[li]
            said = ["state table read-only for every peer"]
            if link.info.rw_size:
                said.append("read/write section writable by all")
            if link.info.output_size:
                said.append("each output section writable by its owner only (TX) and "
                            "read-only for the others (RX)")
            if not any(self.cells[ci].program is None for ci in link.by_cell):
                self._link_subject(link.info).notes.append(
                    "permissions not probed: every peer runs a program")
                continue
            self._link_subject(link.info).checks.append(Check(
                "permissions", not rows and link_counts[li] > 0,
                "; ".join(rows[:6]) if rows else
                f"{_counted(link_counts[li], 'peer section')} probed: " + ", ".join(said)))

    # --- discovery ------------------------------------------------------------------------------

    def phase_discover(self) -> None:
        cells = [c for c in self.live_cells() if self._links_of(c.index)]
        replies = self.command(cells, {}, "discover", PHASE_TIMEOUT)
        per_link: dict[int, list[str]] = {id(l): [] for l in self.links}
        for cell in cells:
            reply = replies.get(cell.index)
            subject = self._cell_subject(cell.index)
            if self._missing(subject, "link discovery", cell, reply):
                for link in self._links_of(cell.index):
                    per_link[id(link)].append(f"{cell.name}: no discovery")
                continue
            if reply["image_problems"]:
                subject.checks.append(Check("images", False, "; ".join(reply["image_problems"])))
            for dev in reply["devices"]:
                link = self.device_links[(cell.index, dev["device"])]
                if dev["problems"]:
                    per_link[id(link)].append(f"{cell.name}: " + "; ".join(dev["problems"]))
                else:
                    self.working[(cell.index, dev["device"])] = dev.get("transport")
        for link in self.links:
            problems = per_link[id(link)]
            found = [self.cells[c].name for c, (d, _) in link.by_cell.items()
                     if (c, d) in self.working]
            transports = [t for (c, d), t in self.working.items()
                          if self.device_links.get((c, d)) is link and t]
            detail = (f"{', '.join(found)} read the capability, resolved base and sections "
                      "through their own memory maps, ID and peer-count registers agree")
            if transports:
                t = transports[0]
                detail += (f"; rings in the {t['where']}, {t['ring_size']} bytes per direction, "
                           f"messages up to {t['max_message']} bytes")
            self._link_subject(link.info).checks.append(
                Check("discovery", not problems, "; ".join(problems) if problems else detail))

    def _working_peers(self, link: LinkRuntime, need_transport: bool = False) -> dict[int, int]:
        """Peer ID -> cell for the peers whose discovery worked (and that still run)."""
        result = {}
        for ci, (device, peer) in sorted(link.by_cell.items(), key=lambda x: x[1][1]):
            if (ci, device) in self.working and self.cells[ci].alive:
                if not need_transport or self.working[(ci, device)]:
                    result[peer] = ci
        return result

    # --- exercise 3: state changes --------------------------------------------------------------

    def phase_state(self) -> None:
        involved = sorted({ci for link in self.links
                           for ci in self._working_peers(link).values()
                           if len(self._working_peers(link)) >= 2})
        cells = [self.cells[ci] for ci in involved]
        if not cells:
            return
        results = {}
        for round_name, base, one_shot in (("state", 0x100, False), ("one-shot", 0x200, True)):
            self.command(cells, {c.index: {"one_shot": one_shot} for c in cells},
                         "state_prepare", PHASE_TIMEOUT)
            messages = {}
            for cell in cells:
                links = {}
                for link in self.links:
                    peers = self._working_peers(link)
                    if cell.index not in peers.values() or len(peers) < 2:
                        continue
                    device, me = link.by_cell[cell.index]
                    links[str(device)] = {"value": base + me,
                                          "expect": {str(p): base + p for p in peers if p != me}}
                messages[cell.index] = {"links": links, "one_shot": one_shot}
            results[round_name] = self.command(cells, messages, "state_change", 10.0)
        for link in self.links:
            peers = self._working_peers(link)
            subject = self._link_subject(link.info)
            if len(peers) < 2:
                subject.notes.append("state changes not run: fewer than two peers could use "
                                     "the link")
                continue
            problems, latencies = [], []
            for round_name, base, one_shot in (("state", 0x100, False), ("one-shot", 0x200, True)):
                for peer, ci in peers.items():
                    reply = results[round_name].get(ci)
                    device = link.by_cell[ci][0]
                    if reply is None or "error" in reply:
                        problems.append(f"{round_name}: {self.cells[ci].name} did not answer"
                                        + (f" ({reply['error']})" if reply else ""))
                        continue
                    got = reply["links"][str(device)]
                    wrong = {p: v for p, v in got["seen"].items() if v != base + int(p)}
                    if wrong:
                        problems.append(f"{round_name}: {self.cells[ci].name} saw states {wrong}")
                    if not got["wakeups"]:
                        problems.append(f"{round_name}: {self.cells[ci].name} got no wake-up")
                    if one_shot and (got["wakeups"] != 1 or got["int_control"] != 0):
                        problems.append(f"one-shot: {self.cells[ci].name} got {got['wakeups']} "
                                        f"wake-ups, interrupt control {got['int_control']}")
                    if got["latency"] is not None and not one_shot:
                        latencies.append(got["latency"])
            detail = (f"every peer's state change reached the {len(peers) - 1} other"
                      f"{'s' if len(peers) > 2 else ''} through the read-only state table and a "
                      "vector-0 wake-up"
                      + (f" (slowest {max(latencies) * 1e3:.1f} ms)" if latencies else "")
                      + "; in one-shot mode exactly one wake-up, then interrupts disabled")
            subject.checks.append(Check("state changes", not problems,
                                        "; ".join(problems[:6]) if problems else detail))

    # --- exercise 2: messages -------------------------------------------------------------------

    def phase_exchange(self) -> None:
        cells = sorted({ci for link in self.links
                        for ci in self._working_peers(link, True).values()})
        if not cells:
            return
        count = self.exchange_count
        replies = self.command([self.cells[ci] for ci in cells],
                               {ci: {"count": count} for ci in cells}, "exchange",
                               PHASE_TIMEOUT + count / 200)
        flows = {}
        for ci, reply in replies.items():
            if "error" in reply:
                continue
            for f in reply["flows"]:
                flows[(ci, f["device"], f["peer"], f["kind"])] = f
            sent = [f for f in reply["flows"] if f["kind"] == "tx"]
            got = [f for f in reply["flows"] if f["kind"] == "rx"]
            elapsed = max((f["elapsed"] for f in reply["flows"]), default=0)
            moved = sum(f["bytes"] for f in reply["flows"])
            if elapsed:
                self._cell_subject(ci).figures.append(Figure(
                    "exchange", moved / elapsed / 1e6, "MB/s",
                    f"sent {sum(f['messages'] for f in sent)} and received "
                    f"{sum(f['messages'] for f in got)} messages on "
                    f"{len({f['device'] for f in reply['flows']})} link(s) in "
                    f"{elapsed * 1e3:.0f} ms, {reply['sleeps']} sleeps on doorbells"))
        for link in self.links:
            peers = self._working_peers(link, True)
            subject = self._link_subject(link.info)
            if len(peers) < 2:
                subject.notes.append(
                    "message exchange not run: "
                    + ("the output sections are too small for one ring per peer"
                       if len(self._working_peers(link)) >= 2 else
                       "fewer than two peers could use the link"))
                continue
            problems, total_msgs, total_bytes, rates = [], 0, 0, []
            for src, sci in peers.items():
                for dst, dci in peers.items():
                    if src == dst:
                        continue
                    tx = flows.get((sci, link.by_cell[sci][0], dst, "tx"))
                    rx = flows.get((dci, link.by_cell[dci][0], src, "rx"))
                    name = f"{self.cells[sci].name}->{self.cells[dci].name}"
                    if tx is None or rx is None:
                        missing = self.cells[sci if tx is None else dci]
                        reply = replies.get(missing.index)
                        problems.append(f"{name}: {missing.name} "
                                        + (reply["error"] if reply and "error" in reply
                                           else "did not report"))
                        continue
                    for f in (tx, rx):
                        if f["error"]:
                            problems.append(f"{name}: {f['error']}")
                    if rx["bad"]:
                        problems.append(f"{name}: {rx['bad']} messages arrived altered")
                    if tx["messages"] != count or rx["messages"] != count:
                        problems.append(f"{name}: sent {tx['messages']}, received "
                                        f"{rx['messages']} of {count}")
                    total_msgs += rx["messages"]
                    total_bytes += rx["bytes"]
                    if rx["elapsed"] > 0:
                        rates.append(rx["messages"] / rx["elapsed"])
            directions = len(peers) * (len(peers) - 1)
            subject.checks.append(Check(
                "message exchange", not problems, "; ".join(problems[:6]) if problems else
                f"{count} messages in each of {directions} directions, sizes 16 bytes to the "
                "ring's maximum, every byte checked, in order, none lost"))
            if rates:
                elapsed = max(flows[k]["elapsed"] for k in flows
                              if self.device_links.get((k[0], k[1])) is link)
                subject.figures.append(Figure(
                    "exchange", total_bytes / elapsed / 1e6 if elapsed else 0, "MB/s",
                    f"{total_msgs} messages, {total_bytes / 1e6:.1f} MB over all directions at "
                    f"once, {min(rates):,.0f}..{max(rates):,.0f} msg/s per direction"))

    # --- exercise 4: sign in place --------------------------------------------------------------

    def phase_sign(self) -> None:
        for link in self.links:
            peers = self._working_peers(link, True)
            subject = self._link_subject(link.info)
            if len(peers) < 2:
                continue
            (sp, sci), (rp, rci) = list(peers.items())[:2]
            sender, receiver = self.cells[sci], self.cells[rci]
            transport = self.working[(sci, link.by_cell[sci][0])]
            if transport["where"] != AREA_OUTPUT:
                subject.notes.append(
                    "sign in place does not apply: without output sections every peer may "
                    "write the common section, so a receiver can alter what it verifies")
                continue
            size = max(64, min(transport["max_message"] - 32, 16384))
            key = os.urandom(32).hex()
            sent = self.command([sender], {sci: {"device": link.by_cell[sci][0], "peer": rp,
                                                 "key": key, "size": size}}, "sign_send", 10.0)
            if self._missing(subject, "sign in place", sender, sent.get(sci)):
                continue
            got = self.command([receiver], {rci: {"device": link.by_cell[rci][0], "peer": sp,
                                                  "key": key}}, "sign_verify", 10.0)
            reply = got.get(rci)
            if self._missing(subject, "sign in place", receiver, reply):
                continue
            problems = []
            if not reply["verified"] or not reply["verified_after"]:
                problems.append("the signature did not verify")
            if reply["child"] != "SIGSEGV":
                problems.append(f"the hostile receiver's write ended with {reply['child']}, "
                                "not SIGSEGV")
            if reply["mprotect"] == "ok":
                problems.append("the receiver could make the message writable")
            if not reply["in_place"]:
                problems.append("the message was not read in the sender's output section")
            out_start = (link.info.state_table[0] + link.info.state_table[1]
                         + link.info.rw_size + sp * link.info.output_size)
            where = _phys_of_address(receiver.popen.pid, reply["address"], reply.get("maps", []))
            if where is None or not out_start <= where < out_start + link.info.output_size:
                problems.append(
                    f"the receiver hashed bytes at {reply['address']:#x}, which its memory map "
                    f"puts at {'no memory file' if where is None else f'{where:#x}'}, not in "
                    f"{sender.name}'s output section {out_start:#x}+{link.info.output_size:#x}")
            problems += self._sign_tamper(link, sender, sci, receiver, rci, size)
            subject.checks.append(Check(
                "sign in place", not problems, "; ".join(problems) if problems else
                f"{sender.name} wrote and signed (HMAC-SHA256) {size} bytes in its output section; "
                f"{receiver.name} verified them in place, without a copy (a byte {sender.name} "
                f"changed afterwards failed the check, changed back it passed), while its "
                f"hostile child's write faulted (SIGSEGV) and mprotect was refused "
                f"({reply['mprotect']})"))

    def _sign_tamper(self, link: LinkRuntime, sender: CellProcess, sci: int,
                     receiver: CellProcess, rci: int, size: int) -> list[str]:
        """While the receiver holds the verified message, the sender flips one byte of it
        in its own output section: verifying again must fail. Flipped back, it must pass.
        Only a receiver that reads the sender's bytes where they are can do both."""
        problems = []
        for step, expect in (("changed", False), ("restored", True)):
            altered = self.command([sender], {sci: {"device": link.by_cell[sci][0],
                                                    "offset": size // 3}}, "sign_alter", 10.0)
            if altered.get(sci) is None or "error" in altered[sci]:
                if expect is False:         # let the receiver go of the message it holds
                    self.command([receiver], {rci: {"release": True}}, "sign_recheck", 10.0)
                return problems + [f"{sender.name} could not change its message"]
            again = self.command([receiver], {rci: {"release": expect}}, "sign_recheck", 10.0)
            got = again.get(rci)
            if got is None or "error" in got:
                return problems + [f"{receiver.name} did not verify again"]
            if got["verified"] != expect:
                problems.append(
                    f"after {sender.name} {step} byte {size // 3} of the message in its output "
                    f"section, {receiver.name}'s verification "
                    f"{'still passed: it verified a copy' if expect is False else 'failed'}")
        return problems

    # --- exercise 5: a peer killed mid-traffic --------------------------------------------------

    def _victim(self) -> CellProcess | None:
        candidates = [c for c in self.live_cells() if not self.system.cells[c.index].is_root]
        if not candidates:
            return None
        return max(candidates, key=lambda c: (sum(1 for l in self.links
                                                  if c.index in self._working_peers(l).values()),
                                              -c.index))

    def phase_kill(self) -> None:
        victim = self._victim()
        if victim is None:
            self.run_report.notes.append("no non-root cell to kill: the kill exercise did not run")
            return
        cells = self.live_cells()
        shared = [l for l in self.links if victim.index in self._working_peers(l).values()]
        before = {id(l): self._working_peers(l, True) for l in self.links}
        seconds = max(self.seconds, 0.2)
        for cell in cells:
            cell.control.send({"op": "traffic", "seconds": seconds, "timeout": seconds + 10})
        kill_at = time.monotonic() + seconds / 3
        while time.monotonic() < kill_at:
            self.pump_events(kill_at - time.monotonic())
        victim.expected_death = True
        victim.popen.kill()
        killed = time.monotonic()
        survivors = [c for c in cells if c is not victim]
        replies = self.await_replies(survivors, "traffic", seconds + 15.0)
        deadline = time.monotonic() + 5.0
        while victim.alive and time.monotonic() < deadline:
            self.pump_events(0.05)
        self._cell_subject(victim.index).checks.append(Check(
            "killed mid-traffic", not victim.alive,
            f"SIGKILL {(seconds / 3) * 1e3:.0f} ms into the traffic; the supervisor set its "
            f"state to 0 on {len(shared)} link{'s' if len(shared) != 1 else ''} and notified "
            "the peers"))
        for cell in survivors:
            if cell.index not in replies:
                self._cell_subject(cell.index).checks.append(Check(
                    "carried on", False, "hung: no report after the peer was killed"
                    if cell.alive else cell.died_text()))
        for link in self.links:
            peers = before[id(link)]
            subject = self._link_subject(link.info)
            victim_peer = next((p for p, ci in self._all_peers(link).items()
                                if ci == victim.index), None)
            if victim_peer is None:
                continue
            problems, latencies, after = [], [], []
            for peer, ci in self._working_peers(link).items():
                if ci == victim.index:
                    continue
                reply = replies.get(ci)
                if reply is None or "error" in reply:
                    problems.append(f"{self.cells[ci].name} did not report"
                                    + (f": {reply['error']}" if reply else ""))
                    continue
                device = link.by_cell[ci][0]
                left = [x for x in reply["left"] if x["device"] == device and x["peer"] == victim_peer]
                if peer in peers and victim_peer in peers:
                    if not left:
                        problems.append(f"{self.cells[ci].name} never saw {victim.name}'s state drop to 0")
                    else:
                        latencies.append(left[0]["seen"] - killed)
                for f in reply["flows"]:
                    if f["device"] != device:
                        continue
                    if f["error"] or f["bad"]:
                        problems.append(f"{self.cells[ci].name}: {f['error'] or str(f['bad']) + ' bad messages'}")
                    if f["peer"] != victim_peer and f["kind"] == "rx":
                        after.append((self.cells[ci].name, f["after_drop"]))
            stalled = [name for name, n in after if n is not None and n <= 0]
            if stalled:
                problems.append("no messages after the kill at " + ", ".join(stalled))
            carried = [n for _, n in after if n]
            subject.checks.append(Check(
                "peer killed mid-traffic", not problems, "; ".join(problems[:6]) if problems else
                f"{victim.name} (peer {victim_peer}) killed; every other peer saw its state drop "
                "to 0" + (f" within {max(latencies) * 1e3:.1f} ms" if latencies else "")
                + (f" and kept exchanging ({sum(carried)} messages received after the kill)"
                   if carried else " and kept running; no peer left to talk to")))

    def _all_peers(self, link: LinkRuntime) -> dict[int, int]:
        return {peer: ci for ci, (_, peer) in link.by_cell.items()}

    # --- bench --------------------------------------------------------------------------------

    def phase_bench(self) -> None:
        kinds = [("msg64", "64-byte messages, one per call"),
                 ("batch64", "64-byte messages, batch call"),
                 ("block64k", "64 KiB messages"),
                 ("rtt", "64-byte round trip, polling")]
        for link in self.links:
            peers = self._working_peers(link, True)
            if len(peers) < 2:
                continue
            subject = self._link_subject(link.info)
            (ap, aci), (bp, bci) = list(peers.items())[:2]
            a, b = self.cells[aci], self.cells[bci]
            transport = self.working[(aci, link.by_cell[aci][0])]
            for kind, what in kinds:
                if kind == "block64k" and transport["max_message"] < 65536:
                    subject.figures.append(Figure(
                        what, 0, "GB/s", f"not measured: this ring holds messages up to "
                        f"{transport['max_message']} bytes"))
                    continue
                b.control.send({"op": "bench", "device": link.by_cell[bci][0], "peer": ap,
                                "kind": kind, "role": "rx", "seconds": self.seconds})
                a.control.send({"op": "bench", "device": link.by_cell[aci][0], "peer": bp,
                                "kind": kind, "role": "tx", "seconds": self.seconds})
                replies = self.await_replies([a, b], "bench", self.seconds + 20.0)
                ra, rb = replies.get(aci), replies.get(bci)
                if not ra or not rb or "error" in ra or "error" in rb:
                    why = (ra or {}).get("error") or (rb or {}).get("error") or "no answer"
                    subject.checks.append(Check(f"bench {what}", False, why))
                    continue
                pair = f"{a.name} -> {b.name}"
                if kind == "rtt":
                    value = ra["elapsed"] / ra["round_trips"] * 1e6
                    subject.figures.append(Figure(what, value, "us",
                                                  f"{a.name} <-> {b.name}, {ra['round_trips']} round trips"))
                elif kind == "block64k":
                    value = rb["messages"] * rb["size"] / rb["elapsed"] / 1e9
                    subject.figures.append(Figure(what, value, "GB/s",
                                                  f"{pair}, {rb['messages']} messages, send() + recv_into()"))
                else:
                    value = rb["messages"] / rb["elapsed"]
                    subject.figures.append(Figure(what, value, "msg/s",
                                                  f"{pair}, {rb['messages']} messages"))


    # --- user programs ----------------------------------------------------------------------

    def phase_programs(self) -> None:
        """Give the programs ``seconds`` more to finish, then take what they reported (each
        report a check of its cell) and how they ended."""
        programs = [c for c in self.cells if c.program is not None]
        deadline = time.monotonic() + self.seconds
        while any(c.alive for c in programs) and time.monotonic() < deadline:
            self.pump_events(min(0.05, max(0.0, deadline - time.monotonic())))
        self.pump_events(0)
        for cell in programs:
            subject = self._cell_subject(cell.index)
            reports = [m for m in cell.inbox if m.get("op") == "report"]
            for msg in reports[:PROGRAM_REPORTS]:
                subject.checks.append(Check(f"program: {str(msg.get('name'))[:200]}",
                                            msg.get("held") is True,
                                            str(msg.get("detail", ""))[:2000]))
            if len(reports) > PROGRAM_REPORTS:
                subject.notes.append(f"{len(reports) - PROGRAM_REPORTS} more reports not kept")
            if cell.alive:
                subject.checks.append(Check("program", True, "still running at the end of "
                                            "the run: stopped"))
            else:
                subject.checks.append(Check("program", cell.status == 0,
                                            "exited with status 0" if cell.status == 0
                                            else cell.died_text()))


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


def _phys_of_address(pid: int, address: int, reported: list[str] = ()) -> int | None:
    """The physical address (in the system the blobs describe) behind ``address`` in
    process ``pid``, from the kernel's list of its mappings: the memory file of each
    section is named after the section's physical start (memory.py). A non-dumpable cell
    of the same user id hides its list from a supervisor without privileges: then the
    lines the cell read from its own list (``reported``) stand in."""
    try:
        with open(f"/proc/{pid}/maps") as handle:
            lines = handle.read().splitlines()
    except OSError:
        lines = [line for line in reported if isinstance(line, str)]
    for line in lines:
        fields = line.split(maxsplit=5)
        start, end = (int(x, 16) for x in fields[0].split("-"))
        if start <= address < end and len(fields) == 6 and "memfd:partcfg:" in fields[5]:
            section = int(fields[5].split()[0].rsplit(":", 1)[1], 16)
            return section + int(fields[2], 16) + address - start
    return None


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
