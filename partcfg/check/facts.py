"""Validate layer: what several rules need about one system, computed once.

Part of step 3 of the flow (``check``; imports only the foundations, ``load`` and
``model``): the hypervisor constants the rule families share, :class:`SystemFacts`
(each cell's region array as :func:`model.regions.regions_of_cell` lays it out, and the
links each cell is a peer of), and how findings name regions and byte ranges.
"""

from __future__ import annotations

from ..diagnostics import Location
from ..formats import jailhouse as jh
from ..model.assembly import System
from ..model.regions import Region, peer_links_of, regions_of_cell
from ..units import format_ranges
from ..wording import ADDRESS_LIMIT, region_label, span_text  # noqa: F401 (the rules take them from here)


PAGE = jh.PAGE_SIZE
READ, WRITE, EXECUTE, DMA = jh.MEM_READ, jh.MEM_WRITE, jh.MEM_EXECUTE, jh.MEM_DMA
ACCESS_MASK = READ | WRITE | EXECUTE | DMA
ARCH_X86, ARCH_ARM, ARCH_ARM64 = (jh.ARCHITECTURES[a] for a in ("x86", "arm", "arm64"))


class SystemFacts:
    """What several rules need about one system, computed once."""

    def __init__(self, system: System):
        self.system = system
        self.cells = system.all_cells
        self.names = {c.name for c in self.cells}
        self.peer_links = peer_links_of(system)  # cell name -> its links
        self.regions = [regions_of_cell(system, c, self.peer_links.get(c.name, []))
                        for c in self.cells]
        self._where: dict[int, tuple[int, int]] | None = None

    @property
    def where(self) -> dict[int, tuple[int, int]]:
        """id(region) -> (cell index, index in the cell's array); built when a message
        first needs it, as valid systems never do."""
        if self._where is None:
            self._where = {id(r): (ci, ri) for ci, regions in enumerate(self.regions)
                           for ri, r in enumerate(regions)}
        return self._where

    def describe(self, region: Region) -> str:
        ci, ri = self.where[id(region)]
        return f"{region_label(region, ri)} of cell {self.cells[ci].name!r}"


def several(noun: str, numbers: list[int] | set[int]) -> tuple[str, str]:
    """("CPU 3", "is") or ("CPUs 5-6", "are"): numbered things for a message."""
    if len(numbers) == 1:
        return f"{noun} {format_ranges(numbers)}", "is"
    return f"{noun}s {format_ranges(numbers)}", "are"


def field_location(r: Region, key: str) -> Location | None:
    """Where a field of a declared region is written (the region itself when the key is
    absent, e.g. a defaulted virt)."""
    return r.source.location(key) if r.source else None


def is_physical(r: Region) -> bool:
    return r.size > 0 and not r.flags & jh.MEM_COMM_REGION
