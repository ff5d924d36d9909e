"""Runtime: where the message rings of a link live, and waiting for them with deadlines.

Each peer owns one *area*: its output section (or, for links without output sections,
an equal slice of the common read/write section, where nothing but convention stops a
peer from writing another's slice). An area starts with a control block, four cache
lines per peer ID j:

    line 0  producer index of my ring to j                 (written by me, read by j)
    line 1  consumer index of j's ring to me               (written by me, read by j)
    line 2  my sleep generation while waiting for j's data (odd = asleep)
    line 3  my sleep generation while waiting for room in my ring to j

followed by one ring data area per other peer, equal sizes, 64-byte aligned. So a ring's
data and producer index are in the sender's own output section and its consumer index
in the receiver's: each side writes only its own section and reads the other's through a
read-only mapping. The ring protocol itself is in ``_ring.c``.

:func:`wait_for_any` is the one place a cell process sleeps: it announces the sleep on
every ring it waits for, re-checks them (the announcement and the re-check are ordered
by a fence, so a wake-up cannot be lost), then sleeps on the doorbell eventfds with a
timeout no later than the caller's deadline.
"""

from __future__ import annotations

import os
import select
import time
from dataclasses import dataclass
from typing import Callable, Iterable


LINE = 64
LINES_PER_PEER = 4
TX_HEAD, RX_TAIL, RX_SLEEP, TX_SLEEP = range(LINES_PER_PEER)
MIN_RING = 256

AREA_OUTPUT = "output sections"
AREA_COMMON = "common read/write section"


@dataclass(frozen=True)
class AreaLayout:
    peers: int
    area_size: int
    control_size: int
    ring_size: int

    def index_offset(self, peer: int, line: int) -> int:
        return (peer * LINES_PER_PEER + line) * LINE

    def ring_offset(self, owner: int, dest: int) -> int:
        rank = dest if dest < owner else dest - 1
        return self.control_size + rank * self.ring_size


def area_layout_of(area_size: int, peers: int) -> AreaLayout | None:
    """The control block and ring sizes in an area of ``area_size`` bytes; None when the
    area cannot hold a useful ring for each other peer."""
    control = peers * LINES_PER_PEER * LINE
    if peers < 2 or area_size <= control:
        return None
    ring = ((area_size - control) // (peers - 1)) // LINE * LINE
    if ring < MIN_RING:
        return None
    return AreaLayout(peers, area_size, control, ring)


@dataclass(frozen=True)
class LinkGeometry:
    """Where each peer's area is, in the cell's own (guest) address space."""
    where: str
    area_size: int
    areas: tuple[int, ...]          # peer ID -> cell address of its area

    @property
    def layout(self) -> AreaLayout | None:
        return area_layout_of(self.area_size, len(self.areas))


def link_geometry_of(base: int, state_table_size: int, rw_size: int, output_size: int,
                     peers: int) -> LinkGeometry | None:
    """Areas as a guest derives them from the capability: output sections when there are
    any, else equal slices of the common read/write section."""
    rw = base + state_table_size
    if output_size:
        out0 = rw + rw_size
        return LinkGeometry(AREA_OUTPUT, output_size,
                            tuple(out0 + k * output_size for k in range(peers)))
    slot = rw_size // peers // LINE * LINE
    if not slot:
        return None
    return LinkGeometry(AREA_COMMON, slot, tuple(rw + k * slot for k in range(peers)))


def _ring_args(layout: AreaLayout, areas: dict[int, int], src: int, dst: int,
               at_sender: bool) -> dict:
    """Keyword arguments of either end of the ring from ``src`` to ``dst`` (host addresses):
    data and head in the sender's area, tail in the receiver's; each end's own sleep
    generation is ``sleep_gen``, the other's ``peer_sleep``."""
    tx_sleep = areas[src] + layout.index_offset(dst, TX_SLEEP)
    rx_sleep = areas[dst] + layout.index_offset(src, RX_SLEEP)
    return {
        "data": areas[src] + layout.ring_offset(src, dst), "size": layout.ring_size,
        "head": areas[src] + layout.index_offset(dst, TX_HEAD),
        "tail": areas[dst] + layout.index_offset(src, RX_TAIL),
        "sleep_gen": tx_sleep if at_sender else rx_sleep,
        "peer_sleep": rx_sleep if at_sender else tx_sleep,
    }


def sender_args_of(layout: AreaLayout, areas: dict[int, int], me: int, dest: int) -> dict:
    """Keyword arguments of ``_ring.Sender`` for my ring to ``dest`` (host addresses)."""
    return _ring_args(layout, areas, me, dest, at_sender=True)


def receiver_args_of(layout: AreaLayout, areas: dict[int, int], me: int, src: int) -> dict:
    """Keyword arguments of ``_ring.Receiver`` for ``src``'s ring to me (host addresses)."""
    return _ring_args(layout, areas, src, me, at_sender=False)


class DeadlineExceeded(Exception):
    """A wait ran into its deadline."""


def readable(fds, timeout: float, writable: bool = False) -> list[int]:
    """The descriptors among ``fds`` that are ready within ``timeout`` seconds (poll(2):
    no limit on descriptor numbers, unlike select)."""
    poller = select.poll()
    mask = (select.POLLOUT if writable else select.POLLIN) | select.POLLERR | select.POLLHUP
    for fd in fds:
        poller.register(fd, mask)
    return [fd for fd, _ in poller.poll(max(0, int(timeout * 1000 + 0.999)))]


def drain(fds: Iterable[int]) -> int:
    """Read every eventfd that has a count; the sum of the counts."""
    total = 0
    for fd in fds:
        try:
            total += int.from_bytes(os.read(fd, 8), "little")
        except BlockingIOError:
            pass
    return total


def wait_for_any(arms: Iterable[Callable[[], bool]], disarms: Iterable[Callable[[], None]],
                 fds: list[int], deadline: float, max_sleep: float = 0.5) -> bool:
    """Sleep until a doorbell (or the deadline, or ``max_sleep``). ``arms`` announce the
    sleep on each ring and return True when that ring is ready already, in which case
    nothing sleeps. Returns True when woken by a doorbell."""
    try:
        if any([arm() for arm in arms]):
            return True
        timeout = min(deadline - time.monotonic(), max_sleep)
        if timeout <= 0:
            return False
        ready = readable(fds, timeout)
        return bool(drain(ready)) if ready else False
    finally:
        for disarm in disarms:
            disarm()
