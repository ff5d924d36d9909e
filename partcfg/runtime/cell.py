"""Runtime: one cell process (``python -m partcfg.runtime.cell CTL REG SUPERVISOR_PID ID``).

The process stands in for a cell's guest. The supervisor hands it, as the hypervisor
would, nothing but memory and devices: file descriptors of the sections its blob grants,
the mapping request computed from the blob, its ivshmem devices' PCI entries and the
paths of its rendered configuration-space images. Everything else the cell finds out
like a guest driver: it maps its memory, reads each image, walks the capability list,
derives the region's base and section addresses, resolves them through its own memory
map, and reads its peer ID and the peer count from the device registers (through the
supervisor). Then it runs what the supervisor asks (``exercises.py``) and reports.

The process dies with its supervisor (parent-death signal, set before exec) and ignores
Ctrl-C, which is the supervisor's to handle. It starts with the supervisor's privileges
(the interpreter may live where only they reach), loads every module it will need, and
only then confines itself (confine.py): its own user id ``ID`` when the supervisor gives
one (``-``: none), not dumpable. Everything it reads afterwards comes as a descriptor:
memory sections (read-only ones after the seal, over the control socket) and the
configuration-space images.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
import time
from dataclasses import dataclass, field

from . import _ring
from .channel import ChannelClosed, ControlChannel, RegisterClient
from .confine import confine_self
from .memory import AddressSpace, address_space_of, map_read_only
from .plan import ACCESS_R, ACCESS_RW
from .registers import (CFG_PRIV_CONTROL, REG_DOORBELL, REG_ID, REG_INT_CONTROL,
                        REG_MAX_PEERS, REG_STATE)
from .transport import (AreaLayout, LinkGeometry, link_geometry_of, receiver_args_of,
                        sender_args_of)

COMMAND_TIMEOUT = 300.0     # the supervisor always says something well within this
STATE_UP = 1                # the state a cell announces once its link works


@dataclass
class Endpoint:
    """This cell's end of one link, once discovery succeeded."""
    device: int                       # index of the ivshmem device in the cell's blob
    name: str
    me: int                           # peer ID (from the ID register)
    max_peers: int
    vectors: int
    state_table: int                  # host address of the state table
    geometry: LinkGeometry | None
    layout: AreaLayout | None
    areas: dict[int, int]             # peer ID -> host address of its area
    eventfds: list[int]               # one per vector
    registers: RegisterClient
    senders: dict[int, _ring.Sender] = field(default_factory=dict)
    receivers: dict[int, _ring.Receiver] = field(default_factory=dict)

    @property
    def data_vector(self) -> int:
        """Vector 0 announces state changes; data doorbells use vector 1 when there is one."""
        return 1 if self.vectors > 1 else 0

    def state_of(self, peer: int) -> int:
        return _ring.load_u32(self.state_table + 4 * peer)

    def others(self) -> list[int]:
        return [p for p in range(self.max_peers) if p != self.me]

    def doorbell_to(self, peer: int):
        value = (peer << 16) | self.data_vector

        def ring() -> None:
            self.registers.write(self.device, REG_DOORBELL, value)
        return ring

    def sender(self, peer: int) -> _ring.Sender:
        if peer not in self.senders:
            args = sender_args_of(self.layout, self.areas, self.me, peer)
            self.senders[peer] = _ring.Sender(**args, doorbell=self.doorbell_to(peer))
        return self.senders[peer]

    def receiver(self, peer: int) -> _ring.Receiver:
        if peer not in self.receivers:
            args = receiver_args_of(self.layout, self.areas, self.me, peer)
            self.receivers[peer] = _ring.Receiver(**args, doorbell=self.doorbell_to(peer))
        return self.receivers[peer]

    def set_state(self, value: int) -> None:
        self.registers.write(self.device, REG_STATE, value)


class CellRuntime:
    def __init__(self, control: ControlChannel, registers: RegisterClient):
        self.control = control
        self.registers = registers
        self.name = "?"
        self.space: AddressSpace | None = None
        self.devices: list[dict] = []
        self.images: dict[str, dict] = {}          # stem -> {"fd": descriptor, "path": name}
        self.eventfds: dict[int, list[int]] = {}
        self.endpoints: dict[int, Endpoint] = {}
        self.fast_wakeups = False
        self.signed_message = 0                    # sign in place: address of what I signed
        self.held_message = None                   # ... and the peer's message I hold
        self.confined: dict = {}                   # what confine_self() reported

    # --- commands -----------------------------------------------------------------------

    def setup(self, msg: dict) -> dict:
        self.name = msg["cell"]
        self.devices = msg["devices"]
        self.images = msg["images"]
        self.eventfds = {int(k): v for k, v in msg["eventfds"].items()}
        self.fast_wakeups = _ring.register_fast_wakeups()
        try:
            self.space = address_space_of(msg["regions"])
        except OSError as exc:
            return {"map_error": f"{exc.strerror or exc} (errno {exc.errno})"}
        # the descriptors stay open: the probe shows what they can and cannot do
        return {"regions": len(self.space.regions), "fast_wakeups": self.fast_wakeups,
                "confined": self.confined}

    def read_only(self, msg: dict) -> dict:
        """Map the read-only sections whose descriptors came with this message (sealed
        files, handed out only after every cell mapped its writable ones)."""
        sections = [int(s) for s in msg["sections"]]
        fds = self.control.received_fds[:len(sections)]
        del self.control.received_fds[:len(sections)]
        if len(fds) != len(sections):
            return {"map_error": f"{len(sections)} read-only descriptors announced, "
                                 f"{len(fds)} received"}
        try:
            mapped = map_read_only(self.space, dict(zip(sections, fds)), partial=not msg["last"])
        except (OSError, ValueError) as exc:
            return {"map_error": f"{getattr(exc, 'strerror', None) or exc}"}
        return {"mapped": mapped}

    def discover(self, msg: dict) -> dict:
        """Find every link like a guest driver: image -> capability -> addresses ->
        this cell's memory map; compare with the device entry of the blob."""
        from ..diagnostics import BlobError
        from ..formats.ivshmem import link_view_of

        views, image_problems = {}, []
        for stem, image in sorted(self.images.items()):
            path = image["path"]
            if image["fd"] is None:
                image_problems.append(f"{path}: cannot read: {image['error']}")
                continue
            try:
                views[stem] = link_view_of(os.pread(image["fd"], 4097, 0), path)
            except OSError as exc:
                image_problems.append(f"{path}: cannot read: {exc.strerror}")
            except BlobError as exc:
                image_problems.append(f"{path}: {exc}")
        pairs = _paired(self.devices, views)
        results = []
        for dev in self.devices:
            stem = pairs.get(dev["index"])
            results.append(self._discover_device(dev, stem, views.get(stem)))
        for stem in sorted(set(views) - set(pairs.values())):
            image_problems.append(f"image {self.images[stem]['path']} (base {views[stem].base:#x}) "
                                  "matches no ivshmem device of the blob")
        return {"devices": results, "image_problems": image_problems}

    def _discover_device(self, dev: dict, stem: str | None, view) -> dict:
        problems: list[str] = []
        result = {"device": dev["index"], "link": stem, "problems": problems}
        if view is None:
            problems.append("no configuration-space image for this device")
            return result
        blob = dev["regions"]
        # what the image says against what the blob says
        checks = [("base address", view.base, blob[0]["virt"]),
                  ("state table size", view.state_table_size, blob[0]["size"]),
                  ("read/write section size", view.rw_size, blob[1]["size"]),
                  ("output section size", view.output_size, blob[2]["size"] if len(blob) > 2 else 0),
                  ("MSI-X vectors", view.msix_vectors, dev["msix"]),
                  ("protocol", view.protocol, dev["protocol"])]
        for what, image_value, blob_value in checks:
            if image_value != blob_value:
                problems.append(f"{what}: image says {image_value:#x}, blob says {blob_value:#x}")
        # what the device registers say (the guest learns its ID there)
        me = self.registers.read(dev["index"], REG_ID)
        max_peers = self.registers.read(dev["index"], REG_MAX_PEERS)
        result.update(id=me, max_peers=max_peers)
        if me != dev["dev_id"]:
            problems.append(f"ID register says {me}, blob says peer {dev['dev_id']}")
        if max_peers != dev["peers"]:
            problems.append(f"maximum-peers register says {max_peers}, blob says {dev['peers']}")
        if me >= max_peers:
            return result
        # resolve every section the capability describes through this cell's memory map
        expected = [("state table", view.base, view.state_table_size, ACCESS_R)]
        if view.rw_size:
            expected.append(("read/write section", view.base + view.state_table_size,
                             view.rw_size, ACCESS_RW))
        if view.output_size:
            for k in range(max_peers):
                expected.append((f"output section {k}", view.output_section_of(k),
                                 view.output_size, ACCESS_RW if k == me else ACCESS_R))
        for what, addr, size, access in expected:
            found = self.space.access_at(addr, size)
            if found is None:
                problems.append(f"{what} at {addr:#x}+{size:#x} is not one mapped range of "
                                "this cell")
            elif found != access:
                problems.append(f"{what} at {addr:#x} is mapped {found!r}, expected {access!r}")
        if problems:
            return result
        state_table = self.space.resolve(view.base, view.state_table_size)[0]
        geometry = link_geometry_of(view.base, view.state_table_size, view.rw_size,
                                    view.output_size, max_peers)
        layout = geometry.layout if geometry else None
        areas = {}
        if layout:
            areas = {k: self.space.resolve(a, geometry.area_size)[0]
                     for k, a in enumerate(geometry.areas)}
        endpoint = Endpoint(dev["index"], stem, me, max_peers, view.msix_vectors, state_table,
                            geometry, layout, areas, self.eventfds.get(dev["index"], []),
                            self.registers)
        self.endpoints[dev["index"]] = endpoint
        result["transport"] = ({"where": geometry.where, "ring_size": layout.ring_size,
                                "max_message": layout.ring_size // 2 - _ring.RECORD_HEADER}
                               if layout else None)
        # the driver is up: interrupts on (not one-shot), state "up" for the peers to see
        self.registers.config_write(dev["index"], CFG_PRIV_CONTROL, 0)
        self.registers.write(dev["index"], REG_INT_CONTROL, 1)
        endpoint.set_state(STATE_UP)
        return result


def _paired(devices: list[dict], views: dict) -> dict[int, str]:
    """Device index -> image stem. An image belongs to the device whose state table is at
    the image's base address; what is left pairs up only when exactly one of each remains
    (so a corrupted base still gets compared field by field)."""
    pairs: dict[int, str] = {}
    free = dict(views)
    for dev in devices:
        base = dev["regions"][0]["virt"]
        for stem, view in sorted(free.items()):
            if view.base == base:
                pairs[dev["index"]] = stem
                del free[stem]
                break
    unpaired = [d for d in devices if d["index"] not in pairs]
    if len(unpaired) == 1 and len(free) == 1:
        pairs[unpaired[0]["index"]] = next(iter(free))
    return pairs


def serve(runtime: CellRuntime) -> None:
    from . import exercises
    handlers = {
        "setup": runtime.setup,
        "read_only": runtime.read_only,
        "discover": runtime.discover,
        "probe": lambda m: exercises.probe(runtime, m),
        "state_prepare": lambda m: exercises.state_prepare(runtime, m),
        "state_change": lambda m: exercises.state_change(runtime, m),
        "exchange": lambda m: exercises.exchange(runtime, m),
        "sign_send": lambda m: exercises.sign_send(runtime, m),
        "sign_verify": lambda m: exercises.sign_verify(runtime, m),
        "sign_alter": lambda m: exercises.sign_alter(runtime, m),
        "sign_recheck": lambda m: exercises.sign_recheck(runtime, m),
        "traffic": lambda m: exercises.traffic(runtime, m),
        "bench": lambda m: exercises.bench(runtime, m),
    }
    while True:
        msg = runtime.control.receive(time.monotonic() + COMMAND_TIMEOUT)
        op = msg.get("op")
        if op == "exit":
            runtime.control.send({"op": "exit"})
            return
        handler = handlers.get(op)
        try:
            result = handler(msg) if handler else {"error": f"unknown command {op!r}"}
        except ChannelClosed:
            raise
        except Exception as exc:  # report, keep serving: the supervisor decides
            result = {"error": f"{type(exc).__name__}: {exc}"}
        runtime.control.send({"op": op, **result})


def _load_everything() -> None:
    """Import now what the cell needs later: after confine_self() the interpreter's
    library may be out of reach (another user id)."""
    import encodings.idna  # noqa: F401  (socket error texts)
    import hashlib  # noqa: F401
    import hmac  # noqa: F401
    import json  # noqa: F401
    from . import exercises  # noqa: F401
    from ..diagnostics import BlobError  # noqa: F401
    from ..formats.ivshmem import link_view_of  # noqa: F401


def main(argv: list[str]) -> int:
    control_fd, register_fd, supervisor = (int(a) for a in argv[:3])
    ident = int(argv[3]) if len(argv) > 3 and argv[3] != "-" else None
    # normally set before exec by the supervisor; repeated here for a hand-started cell
    _ring.set_parent_death_signal(signal.SIGKILL)
    if os.getppid() != supervisor:
        return 3
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _load_everything()
    runtime = CellRuntime(ControlChannel(socket.socket(fileno=control_fd)),
                          RegisterClient(socket.socket(fileno=register_fd)))
    runtime.confined = confine_self(ident)
    try:
        serve(runtime)
    except (ChannelClosed, TimeoutError):
        return 4
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
