"""Validate layer: the effective-access map of a system.

Part of step 3 of the flow. A system's physical address space cut into elementary
intervals, each with every cell's combined access through all of its regions, computed by
one sweep over the sorted region boundaries of every cell, so that the cost grows
n log n with the number of regions. The memory rules of ``system_rules`` and
``link_rules`` are judged on it; ``render.map`` draws it and ``semantic_diff`` compares it.
"""

from __future__ import annotations

import bisect
from typing import Iterable, NamedTuple

from ..formats import jailhouse as jh
from ..gc_pause import collector_paused
from ..model.assembly import System
from ..model.regions import Region, peer_links_of, regions_of_cell
from ..model.system import Cell
from .facts import ACCESS_MASK


class CellAccess(NamedTuple):
    """What one cell can do to the bytes of one :class:`AccessInterval`."""
    cell: Cell
    is_root: bool
    access: int                    # READ | WRITE | EXECUTE | DMA bits (jailhouse.MEM_*)
    rootshared: bool               # every region granting it is ROOTSHARED
    regions: tuple[Region, ...]    # the regions that grant it, in the cell's array order

    @property
    def name(self) -> str:
        return self.cell.name

    def can(self, bits: int) -> bool:
        """True when the cell has every access bit of ``bits`` here."""
        return self.access & bits == bits


class AccessInterval(NamedTuple):
    """An elementary physical interval [start, end): no region of any cell begins or ends
    inside it, so every cell's access is the same for all of its bytes."""
    start: int
    end: int
    cells: tuple[CellAccess, ...]  # one per cell with a region here, in system cell order

    def of(self, cell_name: str) -> CellAccess | None:
        """The access of the cell named ``cell_name`` here, None when it has none."""
        for grant in self.cells:
            if grant.cell.name == cell_name:
                return grant
        return None


def effective_access_of(system: System) -> list[AccessInterval]:
    """The effective-access map of ``system``: its physical address space cut into
    elementary intervals, each with every cell's combined access (read, write, execute,
    DMA) through all of its regions, whether it holds that access only through rootshared
    regions, and the regions that grant it.

    Intervals are sorted by start and do not overlap; bytes no cell maps do not appear.
    Regions without a physical range (the all-zero placeholders, zero sizes and the
    communication region) are left out. Computed by one sweep over the sorted region
    boundaries: O(n log n) for n regions, plus the size of the output."""
    cells = system.all_cells
    by_peer = peer_links_of(system)
    with collector_paused():
        return access_intervals_of(cells, [regions_of_cell(system, c, by_peer.get(c.name, []))
                                   for c in cells])


def access_intervals_of(cells: list[Cell], regions_per_cell: list[list[Region]]) -> list[AccessInterval]:
    """The sweep behind :func:`effective_access_of`; ``cells[0]`` is the root cell."""
    new_tuple = tuple.__new__   # NamedTuple's own constructor is a Python call: 5x slower
    owner: list[int] = []       # region number -> cell index
    alone: list[CellAccess] = []  # region number -> the cell's access when it is its only region
    events: list[int] = []
    for ci, regions in enumerate(regions_per_cell):
        cell, is_root = cells[ci], ci == 0
        for r in regions:
            if r.size and not r.flags & jh.MEM_COMM_REGION:
                owner.append(ci)
                alone.append(new_tuple(CellAccess, (cell, is_root, r.flags & ACCESS_MASK,
                                                    r.flags & jh.MEM_ROOTSHARED != 0, (r,))))
                events.append(r.phys)
                events.append(r.phys + r.size)
    # An event is one int, position << (1 + KEY_BITS) | starts << KEY_BITS | region number:
    # ints sort several times faster than tuples, and at equal positions ends sort before
    # starts, so touching regions do not overlap.
    key_bits = max(len(owner), 1).bit_length()
    start_bit = 1 << key_bits
    shift = key_bits + 1
    for k in range(len(owner)):
        events[2 * k] = (events[2 * k] << 1 | 1) << key_bits | k
        events[2 * k + 1] = events[2 * k + 1] << shift | k
    events.sort()
    key_mask = start_bit - 1
    active: dict[int, list[int]] = {}       # cell index -> its open region numbers
    current: dict[int, CellAccess] = {}     # cell index -> its access, for the active cells
    dirty: set[int] = set()                 # cells whose open regions changed
    result: list[AccessInterval] = []
    prev = 0
    for event in events:
        pos = event >> shift
        if pos != prev:
            if active:
                for ci in dirty:
                    held = active.get(ci)
                    if held is None:
                        current.pop(ci, None)
                    elif len(held) == 1:
                        current[ci] = alone[held[0]]
                    else:
                        current[ci] = _cell_access_of(cells[ci], ci == 0, held, alone)
                dirty.clear()
                if len(current) == 1:
                    grants = tuple(current.values())
                else:
                    grants = tuple(map(current.__getitem__, sorted(current)))
                result.append(new_tuple(AccessInterval, (prev, pos, grants)))
            prev = pos
        k = event & key_mask
        ci = owner[k]
        if event & start_bit:
            held = active.get(ci)
            if held is None:
                active[ci] = [k]
                if ci not in current:
                    current[ci] = alone[k]   # placeholder until the dirty pass
            else:
                held.append(k)
        else:
            held = active[ci]
            held.remove(k)
            if not held:
                del active[ci]
        dirty.add(ci)
    return result


def _cell_access_of(cell: Cell, is_root: bool, held: list[int],
                    alone: list[CellAccess]) -> CellAccess:
    """The access of a cell holding several regions at once: the union of their accesses."""
    regions = tuple(alone[k].regions[0] for k in sorted(held))
    access = 0
    shared = True
    for r in regions:
        access |= r.flags
        shared = shared and bool(r.flags & jh.MEM_ROOTSHARED)
    return tuple.__new__(CellAccess, (cell, is_root, access & ACCESS_MASK, shared, regions))


def intervals_within(intervals: list[AccessInterval], starts: list[int],
                     lo: int, hi: int) -> Iterable[AccessInterval]:
    """The intervals of the map that overlap [lo, hi)."""
    i = max(bisect.bisect_right(starts, lo) - 1, 0)
    while i < len(intervals) and intervals[i].start < hi:
        if intervals[i].end > lo:
            yield intervals[i]
        i += 1
