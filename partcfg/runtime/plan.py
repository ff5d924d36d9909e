"""Runtime, step 2: the memory plan, computed from the blobs (pure; no OS calls).

The union of every cell's physical ranges is cut at every region boundary into
*sections*; each section is later backed by its own memory file. Each cell maps each of
its regions piece by piece from those sections, with the access its blob grants:
``rw``, ``r`` or ``-`` (nothing). The root cell follows the ROOTSHARED rule while the
non-root cells run: a section that some non-root cell maps without ROOTSHARED is carved
out of the root cell (``-``). That access is also what the permission probe must observe,
so :func:`memory_plan_of` is the single source of the expected permission matrix.

Regions the runtime cannot map as the blob says make the build unusable
(:class:`InputError`, exit code 2): unaligned regions that are not sub-page I/O, write
without read (no MMU grants that), ranges past the end of the address space, two regions
at one address of a cell, more address space than a process has. Sub-page I/O regions
are emulated by the hypervisor, not mapped, and are listed as such.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..formats import jailhouse as jh
from ..diagnostics import Diagnostic, InputError, error

if TYPE_CHECKING:  # the cell processes import this module; keep their start light
    from .builddir import SystemBuild

ACCESS_RW, ACCESS_R, ACCESS_NONE = "rw", "r", "-"
MAX_CELL_ADDRESS_SPACE = 1 << 46     # 64 TiB of mappings per cell process
ADDRESS_LIMIT = 1 << 64
MAX_SECTIONS = 1024                  # memory files (2 descriptors each) per system
MAX_LINK_DEVICES = 64                # ivshmem devices per cell (up to 16 eventfds each)

KIND_SHARED = "shared"          # backed by sections
KIND_COMM = "comm"              # the cell's communication region: a private page
KIND_EMULATED = "emulated"      # sub-page I/O: trapped and emulated, never mapped
KIND_PLACEHOLDER = "placeholder"


@dataclass(frozen=True)
class Section:
    index: int
    phys: int
    size: int

    @property
    def end(self) -> int:
        return self.phys + self.size

    @property
    def label(self) -> str:
        return f"{self.phys:#x}..{self.end - 1:#x}"


@dataclass(frozen=True)
class Piece:
    """The part of a region that one section backs."""
    section: int
    offset: int          # from the start of the region
    size: int
    access: str          # ACCESS_RW / ACCESS_R / ACCESS_NONE


@dataclass
class RegionPlan:
    index: int           # position in the blob's memory-region array
    phys: int
    virt: int
    size: int
    flags: int
    kind: str
    pieces: list[Piece] = field(default_factory=list)

    @property
    def access(self) -> str:
        return access_of_flags(self.flags)


@dataclass
class CellPlan:
    cell: int            # index into SystemBuild.cells
    name: str
    is_root: bool
    regions: list[RegionPlan]

    def section_access(self) -> dict[int, str]:
        """Section -> the strongest access any of this cell's pieces needs (decides
        whether the cell gets the writable or the read-only file descriptor)."""
        rank = {ACCESS_NONE: 0, ACCESS_R: 1, ACCESS_RW: 2}
        result: dict[int, str] = {}
        for region in self.regions:
            for p in region.pieces:
                if p.access != ACCESS_NONE and rank[p.access] > rank[result.get(p.section, ACCESS_NONE)]:
                    result[p.section] = p.access
        return result


@dataclass
class MemoryPlan:
    sections: list[Section]
    cells: list[CellPlan]

    def section_at(self, phys: int) -> Section | None:
        i = bisect.bisect_right([s.phys for s in self.sections], phys) - 1
        if i >= 0 and self.sections[i].phys <= phys < self.sections[i].end:
            return self.sections[i]
        return None


def access_of_flags(flags: int) -> str:
    if flags & jh.MEM_READ:
        return ACCESS_RW if flags & jh.MEM_WRITE else ACCESS_R
    return ACCESS_NONE


def _aligned(*values: int) -> bool:
    return all(v % jh.PAGE_SIZE == 0 for v in values)


def kind_of_region(region: dict) -> str:
    flags, size = region["flags"], region["size"]
    if not size and not flags and not region["phys_start"] and not region["virt_start"]:
        return KIND_PLACEHOLDER
    if flags & jh.MEM_COMM_REGION:
        return KIND_COMM
    if flags & jh.MEM_IO and not _aligned(region["phys_start"], region["virt_start"], size):
        return KIND_EMULATED
    return KIND_SHARED


def _impossible(system: SystemBuild) -> list[Diagnostic]:
    problems = []
    for cell in system.cells:
        where = cell.location()
        mapped: list[tuple[int, int, int]] = []
        total = 0
        for i, r in enumerate(cell.regions):
            kind = kind_of_region(r)
            if kind in (KIND_PLACEHOLDER, KIND_EMULATED):
                continue
            phys, virt, size, flags = r["phys_start"], r["virt_start"], r["size"], r["flags"]
            what = f"memory region {i} of cell {cell.name!r}"
            if not size:
                problems.append(error("RUN-MAP-EMPTY", f"{what} has flags {flags:#x} but size 0; "
                                      "nothing can be mapped", where))
                continue
            if phys + size > ADDRESS_LIMIT or virt + size > ADDRESS_LIMIT:
                problems.append(error("RUN-MAP-RANGE", f"{what} ({phys:#x}+{size:#x} at "
                                      f"{virt:#x}) runs past the end of the address space", where))
                continue
            if kind == KIND_SHARED and not _aligned(phys, virt, size):
                problems.append(error(
                    "RUN-MAP-ALIGN", f"{what} ({phys:#x}+{size:#x} at {virt:#x}) is not "
                    "page-aligned and not sub-page I/O: pages are the unit of mapping", where))
                continue
            if flags & jh.MEM_WRITE and not flags & jh.MEM_READ:
                problems.append(error(
                    "RUN-MAP-WRITE-ONLY", f"{what} is writable but not readable; no page table "
                    "can grant write without read", where))
                continue
            mapped.append((virt, virt + size, i))
            total += size
        mapped.sort()
        for (lo1, hi1, i1), (lo2, hi2, i2) in zip(mapped, mapped[1:]):
            if lo2 < hi1:
                problems.append(error(
                    "RUN-MAP-VIRT-OVERLAP", f"memory regions {i1} and {i2} of cell {cell.name!r} "
                    f"overlap at {lo2:#x} in the cell's address space; one address cannot map "
                    "two places", where))
        for di, dev in enumerate(cell.devices):
            if dev["type"] == jh.PCI_TYPE_IVSHMEM and dev["num_msix_vectors"] > jh.MAX_IVSHMEM_MSIX_VECTORS:
                problems.append(error(
                    "RUN-MSIX-VECTORS", f"PCI device {di} of cell {cell.name!r} has "
                    f"{dev['num_msix_vectors']} MSI-X vectors; an ivshmem device has at most "
                    f"{jh.MAX_IVSHMEM_MSIX_VECTORS}", where))
        links = sum(1 for dev in cell.devices if dev["type"] == jh.PCI_TYPE_IVSHMEM)
        if links > MAX_LINK_DEVICES:
            problems.append(error(
                "RUN-TOO-MANY", f"cell {cell.name!r} has {links} ivshmem devices; a cell process "
                f"runs at most {MAX_LINK_DEVICES}", where))
        if total > MAX_CELL_ADDRESS_SPACE:
            problems.append(error(
                "RUN-MAP-TOO-LARGE", f"cell {cell.name!r} maps {total:#x} bytes, more than the "
                f"{MAX_CELL_ADDRESS_SPACE:#x} a cell process can reserve", where))
    return problems


def memory_plan_of(system: SystemBuild) -> MemoryPlan:
    """Sections and per-cell mapping plans; InputError when a mapping is impossible."""
    problems = _impossible(system)
    if problems:
        raise InputError(problems)
    shared: list[tuple[int, int, dict, int]] = []   # (start, end, region, cell index)
    for ci, cell in enumerate(system.cells):
        for r in cell.regions:
            if kind_of_region(r) == KIND_SHARED:
                shared.append((r["phys_start"], r["phys_start"] + r["size"], r, ci))
    # cut the union at every boundary; keep only covered intervals
    points = sorted({p for s, e, _, _ in shared for p in (s, e)})
    events: dict[int, int] = {}
    for s, e, _, _ in shared:
        events[s] = events.get(s, 0) + 1
        events[e] = events.get(e, 0) - 1
    sections: list[Section] = []
    depth = 0
    for a, b in zip(points, points[1:]):
        depth += events.get(a, 0)
        if depth > 0:
            sections.append(Section(len(sections), a, b - a))
    if len(sections) > MAX_SECTIONS:   # two descriptors each, in every process
        raise InputError([error(
            "RUN-TOO-MANY", f"the shared memory of system {system.root.name!r} cuts into "
            f"{len(sections)} sections; partcfg run backs at most {MAX_SECTIONS} with memory files",
            system.root.location())])
    starts = [s.phys for s in sections]

    # sections each non-root cell takes away from the root cell
    carved: set[int] = set()
    for s, e, r, ci in shared:
        if ci != 0 and not r["flags"] & jh.MEM_ROOTSHARED:
            carved.update(range(bisect.bisect_left(starts, s), bisect.bisect_left(starts, e)))

    cells = []
    for ci, cell in enumerate(system.cells):
        regions = []
        for i, r in enumerate(cell.regions):
            kind = kind_of_region(r)
            plan = RegionPlan(i, r["phys_start"], r["virt_start"], r["size"], r["flags"], kind)
            if kind == KIND_SHARED:
                access = access_of_flags(r["flags"])
                lo = bisect.bisect_left(starts, r["phys_start"])
                hi = bisect.bisect_left(starts, r["phys_start"] + r["size"])
                for si in range(lo, hi):
                    sec = sections[si]
                    piece_access = ACCESS_NONE if (ci == 0 and si in carved) else access
                    plan.pieces.append(Piece(si, sec.phys - r["phys_start"], sec.size, piece_access))
            regions.append(plan)
        cells.append(CellPlan(ci, cell.name, ci == 0, regions))
    return MemoryPlan(sections, cells)
