"""Runtime: the supervisor's event loop (part of the supervisor, ``supervisor.py``; it
serves the cells from start to end, every exercise waits through it).

:class:`EventLoop` waits on every cell's control channel, register socket, standard error
and process descriptor, and on each wake-up takes at most :data:`PER_WAKEUP` messages or
register accesses from a cell (a flooding cell must not starve the rest). It implements
each link's register block for the cells (``registers``): reads are answered, writes and
doorbells become state-table stores and eventfd wake-ups of the peers. Control messages
wait in a cell's inbox until a phase takes them (:meth:`EventLoop.await_replies`).
"""

from __future__ import annotations

import os
import time

from . import _ring
from .cell_processes import CellProcess, LinkRuntime
from .channel import CFG_WRITE, NO_DEVICE, REG_ACCESS, REG_READ, REG_REPLY, REG_WRITE, ChannelClosed
from .registers import Interrupt
from .run_report import Check, Subject
from .transport import readable

INBOX_LIMIT = 1000              # unanswered messages kept per cell
PER_WAKEUP = 256                # messages or register accesses taken from one cell at a time
STDERR_TAIL = 4000


class EventLoop:
    """Wake-ups, the register block and the control messages; a part of
    :class:`Supervisor`, which holds the state (``cells``, ``device_links``). A cell whose
    process ended is reaped by :meth:`CellProcesses._reap`."""

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
