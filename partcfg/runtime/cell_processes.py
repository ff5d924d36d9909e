"""Runtime: the cell processes of one run, from start to end (part of the supervisor,
``supervisor.py``; after the memory plan, before the exercises).

:class:`CellProcesses` backs every section with a memory file (``memory``), gives each link
its state table, starts one process per cell (``cell``, or a user's ``--program``) with
only the descriptors its blob grants, waits for each to map its memory, seals the memory
files and only then hands out the read-only descriptors. At the end it asks the cells to
exit, kills and reaps what is left, closes every descriptor and ends whatever the cells
left behind: their user ids, their sessions and every orphan re-parented to the
subreaper supervisor (``confine``). A cell that dies during the run is reaped here too:
its links see it leave.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field

from . import _ring, confine
from .builddir import LinkInfo
from .channel import FDS_PER_MESSAGE, ChannelClosed, ControlChannel
from .memory import SealRefused, SectionFiles, mapping_request_of, read_only_sections_of
from .plan import ACCESS_RW
from .registers import LinkRegisters
from .run_report import Check
from .spawn import module_command
from ..diagnostics import InputError, error

STARTUP_TIMEOUT = 60.0
PROGRAM_START_TIMEOUT = 2.0     # a user program maps its memory within this (cellapi.attach)
PROGRAM_ENV = "PARTCFG_CELL"    # the description a user program gets (cellapi.py)


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



class CellProcesses:
    """Starting, confining and ending the cells; a part of :class:`Supervisor`, which
    holds the state (``system``, ``plan``, ``programs``, ``files``, ``cells``, ``links``,
    ``device_links``, ``fast_wakeups``, ``confined``). It waits for the cells through the
    event loop (``await_replies``), tells a dead cell's links through it (``_apply``), and
    records an unexpected death on the cell's subject (``_cell_subject``)."""

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
