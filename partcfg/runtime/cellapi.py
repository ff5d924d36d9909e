"""Runtime: the interface a user program run as a cell uses (``partcfg run --program``).

The supervisor (``supervisor.py``) starts ``COMMAND`` instead of partcfg's own cell code
(``cell.py``) and hands it, as the hypervisor hands a guest, nothing but descriptors:

- ``PARTCFG_CELL`` in the environment: a JSON description (:data:`ENVIRONMENT`) naming
  every inherited descriptor: the control socket, the register socket, the writable
  memory sections, one eventfd per MSI-X vector of each link device and the cell's
  configuration-space images, with the mapping request computed from the blob.
- Over the control socket, after the program said it mapped its writable sections, the
  read-only sections' descriptors (``SCM_RIGHTS``): they exist only once every memory
  file is sealed (memory.py), so none can be reopened read-write.

:func:`attach` does all of that in Python and then finds the cell's links the way a
guest driver does, through the configuration space (``cell.py``'s discovery: capability
walk, base and section addresses resolved through this process's memory map, ID and
peer-count registers). A program must call it within 2 s of starting (else
``RUN-CELL-START``). What it reports with :meth:`Cell.report` becomes checks of its cell
in the run report. docs/cell-programs.md documents the protocol for other languages.
"""

from __future__ import annotations

import json
import os
import socket
import time
from dataclasses import dataclass, field

from .cell import CellRuntime, Endpoint
from .channel import ChannelClosed, ControlChannel, RegisterClient
from .confine import set_not_dumpable
from .memory import AddressSpace, address_space_of, map_read_only

ENVIRONMENT = "PARTCFG_CELL"
ATTACH_TIMEOUT = 10.0       # the supervisor answers well within this


class AttachError(Exception):
    """The program is not running as a cell, or its memory cannot be mapped."""


@dataclass
class Cell:
    """This process as a cell: its memory map and its links, by link file stem."""
    name: str
    space: AddressSpace
    links: dict[str, Endpoint]
    problems: list[str] = field(default_factory=list)   # what discovery found wrong
    description: dict = field(default_factory=dict)     # the raw PARTCFG_CELL
    control: ControlChannel | None = None

    def address_of(self, virt: int, size: int = 1) -> int | None:
        """Where the cell address ``virt`` is in this process (None: not mapped)."""
        found = self.space.resolve(virt, size)
        return found[0] if found else None

    def report(self, name: str, held: bool, detail: str = "") -> None:
        """One check for the run report: ``held`` True when what was tried came out as it
        should (for an attack: it failed)."""
        self.control.send({"op": "report", "name": str(name), "held": bool(held),
                           "detail": str(detail)})


def description() -> dict:
    """The JSON description in the environment; AttachError without one."""
    text = os.environ.get(ENVIRONMENT)
    if not text:
        raise AttachError(f"{ENVIRONMENT} is not set: not started by partcfg run --program")
    try:
        return json.loads(text)
    except ValueError as exc:
        raise AttachError(f"{ENVIRONMENT} is not JSON: {exc}") from None


def attach(timeout: float = ATTACH_TIMEOUT) -> Cell:
    """Become the cell: stop being dumpable, map the writable sections, say so, map the
    read-only ones the supervisor then sends, discover every link. AttachError when any
    step fails (the supervisor is told, when it can be)."""
    desc = description()
    set_not_dumpable()
    control = ControlChannel(socket.socket(fileno=int(desc["control"])))
    registers = RegisterClient(socket.socket(fileno=int(desc["registers"])))
    try:
        space = address_space_of(desc["regions"])
    except OSError as exc:
        control.send({"op": "mapped", "map_error": f"{exc.strerror or exc} (errno {exc.errno})"})
        raise AttachError(f"cannot map the writable sections: {exc}") from None
    control.send({"op": "mapped"})
    deadline = time.monotonic() + timeout
    mapped, last = 0, False
    try:
        while not last:
            msg = control.receive(deadline)
            if msg.get("op") != "read_only":
                continue
            sections = [int(s) for s in msg["sections"]]
            fds = control.received_fds[:len(sections)]
            del control.received_fds[:len(sections)]
            last = bool(msg["last"])
            mapped += map_read_only(space, dict(zip(sections, fds)), partial=not last)
    except (OSError, ValueError, ChannelClosed) as exc:
        try:
            control.send({"op": "read_only", "map_error": str(exc)})
        except (ChannelClosed, OSError):
            pass
        raise AttachError(f"cannot map the read-only sections: {exc}") from None
    control.send({"op": "read_only", "mapped": mapped})
    runtime = CellRuntime(control, registers)
    runtime.name = desc["cell"]
    runtime.devices = desc["devices"]
    runtime.images = desc["images"]
    runtime.eventfds = {int(k): v for k, v in desc["eventfds"].items()}
    runtime.space = space
    found = runtime.discover({})
    problems = list(found["image_problems"]) + [
        f"device {d['device']}: {p}" for d in found["devices"] for p in d["problems"]]
    links = {ep.name: ep for ep in runtime.endpoints.values()}
    return Cell(desc["cell"], space, links, problems, desc, control)
