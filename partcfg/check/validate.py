"""Validate layer: assembled systems -> every problem, as diagnostics.

Third step of the flow (imports only the foundations, ``load`` and ``model``). Regions are
judged as :func:`model.regions_of_cell` lays them out (declared regions and the regions
derived from links, in array order). Per-cell rules look at one cell alone; whole-system
rules look at all cells of a system together, and the memory ones are judged on the
*effective-access map* (:func:`effective_access_of`): one sweep over the sorted region
boundaries of every cell, so that the cost grows n log n with the number of regions and a
property such as "only its owner may write an output section" holds for what each cell can
really do through all of its regions, not for each region alone.

Every rule reports every violation it finds, with the location of every party involved.
"""

from __future__ import annotations

import bisect
import heapq
from dataclasses import dataclass, replace
from typing import Iterable, NamedTuple

from ..formats import jailhouse as jh
from ..gc_pause import collector_paused
from ..diagnostics import Diagnostic, Location, did_you_mean, error, info, warning
from ..model.system import (Assembly, Cell, Link, LinkPlacement, PciDevice, PciLinkPlacement, Region,
                    System, cell_arch, peer_links_of, regions_of_cell, sections_of,
                    unreadable_keys_of, unreadable_of)
from ..formats.ivshmem import links_by_bdf
from ..model.scenarios import Scenario, cell_key, conflicts_between, declared_scenarios, sub_system
from ..units import format_bdf, format_ranges
from ..wording import ADDRESS_LIMIT, arch_name as _arch_name, region_label as _region_label
from ..wording import span_text as _span

PAGE = jh.PAGE_SIZE
READ, WRITE, EXECUTE, DMA = jh.MEM_READ, jh.MEM_WRITE, jh.MEM_EXECUTE, jh.MEM_DMA
ACCESS_MASK = READ | WRITE | EXECUTE | DMA
ARCH_X86, ARCH_ARM, ARCH_ARM64 = (jh.ARCHITECTURES[a] for a in ("x86", "arm", "arm64"))
AARCH32_FLAG = jh.CELL_FLAGS["aarch32"]
IO_WIDTHS = (0x10000, 0x20000, 0x40000, 0x80000)
PIO_SPACE = 0x10000
PINS_PER_IRQCHIP = 128
GIC_MAX_LINES = 1024
CONFIG_PAGES_LIMIT = 16        # cell create maps the configuration into 16 temporary pages
XAPIC_BASE = 0xFEE00000
PCI_PHYSICAL_TYPES = (jh.PCI_TYPES["device"], jh.PCI_TYPES["bridge"])
MAX_PCI_CAPS = 0xFFFF


# --- the public API -------------------------------------------------------------------------

def diagnostics_of_assembly(assembly: Assembly, scenario: str | None = None) -> list[Diagnostic]:
    """Every validation diagnostic of every system and standalone cell of ``assembly``
    (``assembly.diagnostics`` themselves are not repeated). Standalone cells get the
    per-cell rules and one SYS-SKIPPED note each."""
    result: list[Diagnostic] = []
    for system in assembly.systems:
        result.extend(diagnostics_of_system(system, scenario))
    for cell in assembly.standalone:
        result.extend(diagnostics_of_cell(None, cell))
        result.append(info(
            "SYS-SKIPPED", f"cell {cell.name!r} is not tied to a system: only its own rules were "
            "checked; system-wide rules (root-cell resources, other cells, links) were skipped",
            cell.location("name"),
            hint="add 'system: <name>' and pass the system's files in the same call"))
    return result


def diagnostics_of_system(system: System, scenario: str | None = None) -> list[Diagnostic]:
    """The per-cell diagnostics of every cell of ``system`` and the whole-system ones; with
    scenarios, the whole-system ones of each scenario (only ``scenario`` when given: the
    caller has checked that the system declares it)."""
    with collector_paused():
        facts = _Facts(system)
        result: list[Diagnostic] = []
        for cell, regions in zip(facts.cells, facts.regions):
            result.extend(_cell_diagnostics(system, cell, regions))
        scenarios = declared_scenarios(system)
        if scenarios is None:
            result.extend(_system_diagnostics(facts))
        else:
            result.extend(_scenario_diagnostics(system, scenarios, scenario))
        return result


def _scenario_diagnostics(system: System, scenarios: list[Scenario],
                          only: str | None) -> list[Diagnostic]:
    """The declared scenarios themselves, then the whole-system rules judged on each possible
    scenario. A finding is reported once, naming the scenarios it occurs in; one that occurs
    in every judged scenario of the system keeps its plain message."""
    out: list[Diagnostic] = []
    in_some: set[int] = set()
    for s in scenarios:
        in_some.update(id(c) for c in s.cells)
        for entry, where in s.unknown:
            out.append(warning(
                "SCENARIO-CELL-UNKNOWN", f"scenario {s.name!r} names {entry!r}, which is no cell of "
                f"system {system.name!r} in this call: taken as not running", where,
                hint=did_you_mean(entry, [cell_key(system, c) for c in system.cells])
                or "pass the cell's file in the same call"))
    # a system file read only in part may have lost a scenario (already reported): a cell
    # missing from the scenarios may follow from that, so it is not reported then
    partly_read = unreadable_of(system.documents[0]) is not None
    for cell in system.cells:
        if id(cell) not in in_some and not partly_read:
            out.append(warning(
                "SCENARIO-CELL-UNUSED", f"cell {cell_key(system, cell)!r} is in no scenario of system "
                f"{system.name!r}: it is never judged with the others", cell.location("name"),
                related=[loc for loc in [system.documents[0].location("scenarios", key=True)] if loc],
                hint="add it to the scenarios it runs in"))
    found: dict[Diagnostic, list[str]] = {}
    judged = 0
    for s in scenarios:
        if only is not None and s.name != only:
            continue
        impossible = _impossible(system, s)
        if impossible is not None:
            out.append(impossible)
            continue
        judged += 1
        for d in _system_diagnostics(_Facts(sub_system(system, s.cells))):
            found.setdefault(d, []).append(s.name)
    everywhere = only is None and judged == len(scenarios)
    for d, names in found.items():
        if everywhere and len(names) == judged:
            out.append(d)
        else:
            quoted = ", ".join(repr(n) for n in names)
            out.append(replace(d, message=f"{d.message} (scenario{'s' if len(names) > 1 else ''} {quoted})"))
    return out


def _impossible(system: System, s: Scenario) -> Diagnostic | None:
    """One error for a scenario the hypervisor would refuse to run (or None)."""
    reasons = []
    related: list[Location] = []
    cells = sorted(s.cells, key=lambda c: cell_key(system, c))
    for i, a in enumerate(cells):
        for b in cells[i + 1:]:
            why = conflicts_between(system, a, b)
            if why:
                reasons.append(f"{cell_key(system, a)!r} and {cell_key(system, b)!r} share "
                               + ", ".join(why))
                related.extend(loc for loc in (a.location("name"), b.location("name"))
                               if loc is not None and loc not in related)
    if not reasons:
        return None
    return error("SCENARIO-IMPOSSIBLE", f"scenario {s.name!r} cannot run: " + "; ".join(reasons)
                 + " (the hypervisor refuses the second cell)", s.location, related=related,
                 hint="put cells that share a CPU, a peer slot or a name in different scenarios")


def diagnostics_of_cell(system: System | None, cell: Cell) -> list[Diagnostic]:
    """The rules that judge ``cell`` alone (``system`` resolves its links and architecture;
    None for a standalone cell)."""
    return _cell_diagnostics(system, cell, regions_of_cell(system, cell))


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
        return _access_map(cells, [regions_of_cell(system, c, by_peer.get(c.name, []))
                                   for c in cells])


# --- shared facts of one system -------------------------------------------------------------

class _Facts:
    """What several rules need about one system, computed once."""

    def __init__(self, system: System):
        self.system = system
        self.cells = system.all_cells
        self.names = {c.name for c in self.cells}
        by_peer = peer_links_of(system)
        self.regions = [regions_of_cell(system, c, by_peer.get(c.name, [])) for c in self.cells]
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
        return f"{_region_label(region, ri)} of cell {self.cells[ci].name!r}"


def _several(noun: str, numbers: list[int] | set[int]) -> tuple[str, str]:
    """("CPU 3", "is") or ("CPUs 5-6", "are"): numbered things for a message."""
    if len(numbers) == 1:
        return f"{noun} {format_ranges(numbers)}", "is"
    return f"{noun}s {format_ranges(numbers)}", "are"


def _at(r: Region, key: str) -> Location | None:
    """Where a field of a declared region is written (the region itself when the key is
    absent, e.g. a defaulted virt)."""
    return r.source.location(key) if r.source else None


def _is_physical(r: Region) -> bool:
    return r.size > 0 and not r.flags & jh.MEM_COMM_REGION


# --- the effective-access sweep -------------------------------------------------------------

def _access_map(cells: list[Cell], regions_per_cell: list[list[Region]]) -> list[AccessInterval]:
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


def _intervals_within(intervals: list[AccessInterval], starts: list[int],
                      lo: int, hi: int) -> Iterable[AccessInterval]:
    """The intervals of the map that overlap [lo, hi)."""
    i = max(bisect.bisect_right(starts, lo) - 1, 0)
    while i < len(intervals) and intervals[i].start < hi:
        if intervals[i].end > lo:
            yield intervals[i]
        i += 1


# --- per-cell rules -----------------------------------------------------------------------

def _cell_diagnostics(system: System | None, cell: Cell, regions: list[Region]) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    is_root = system is not None and cell is system.root
    arch = cell_arch(system, cell) if (system is not None or cell.arch is not None) else None
    _check_cell_name(cell, out)
    _check_cell_flags(system, cell, arch, out)
    _check_region_flags(cell, regions, is_root, out)
    _check_cell_overlaps(system, cell, regions, out)
    _check_cpus(cell, out)
    _check_irqchips(system, cell, arch, out)
    _check_config_size(system, cell, regions, is_root, out)
    _check_pio(cell, arch, out)
    _check_pci_caps(cell, out)
    _check_raw_ivshmem(cell, regions, out)
    _check_placements(system, cell, out)
    return out


def _check_cell_name(cell: Cell, out: list[Diagnostic]) -> None:
    size = len(cell.name.encode("utf-8"))
    if size == 0:
        out.append(error("CELL-NAME", "the cell name is empty", cell.location("name")))
    elif size > jh.CELL_NAME_MAXLEN:
        out.append(error("CELL-NAME", f"cell name {cell.name!r} is {size} bytes long; "
                         f"at most {jh.CELL_NAME_MAXLEN} fit in the descriptor",
                         cell.location("name"), hint="shorten the name"))


def _check_cell_flags(system: System | None, cell: Cell, arch: int | None,
                      out: list[Diagnostic]) -> None:
    if cell.flags & AARCH32_FLAG and arch is not None and arch != ARCH_ARM64:
        what = f"system {system.name!r}" if system is not None else "the cell"
        hint = ("an AArch32 cell on an arm64 system keeps architecture arm64 and the aarch32 "
                "flag (the driver refuses any other architecture byte); on a 32-bit arm system "
                "every cell is AArch32 already: remove the flag") if arch == ARCH_ARM else \
            "x86 has no AArch32 cells: remove the aarch32 flag"
        out.append(error("CELL-AARCH32", f"cell {cell.name!r} has the aarch32 flag, but {what} is "
                         f"{_arch_name(arch)}; only arm64 systems host AArch32 cells",
                         cell.location("flags"), hint=hint))


def _check_region_flags(cell: Cell, regions: list[Region], is_root: bool,
                        out: list[Diagnostic]) -> None:
    # bits that need a closer look; most regions have none and skip the detailed checks
    suspect = jh.MEM_COMM_REGION | jh.MEM_IO_WIDTH_MASK | ~jh.MEM_KNOWN_MASK
    if is_root:
        suspect |= jh.MEM_LOADABLE
    comm_first: list[Region] = []
    page_bits = PAGE - 1
    limit = 1 << 64
    for i, r in enumerate(regions):
        if r.link is not None:
            continue  # link-derived regions are judged by the link rules
        size = r.size
        where = r.phys | r.virt
        # (phys | virt) + size bounds both ends: within the limit, neither wraps
        if size and not r.flags & suspect and not (where | size) & page_bits and where + size <= limit:
            continue
        if not r.is_placeholder:
            _check_region(cell, r, i, is_root, comm_first, out)


def _check_region(cell: Cell, r: Region, index: int, is_root: bool, comm_first: list[Region],
                  out: list[Diagnostic]) -> None:
    label = f"{_region_label(r, index)} of cell {cell.name!r}"
    flags = r.flags
    if r.size == 0:
        out.append(error("MEM-SIZE-ZERO", f"{label} has size 0", _at(r, "size"),
                         hint="give it a size, or remove it"))
    if r.phys + r.size > 1 << 64 or r.virt + r.size > 1 << 64:
        out.append(error("MEM-WRAP", f"{label} ends beyond the 64-bit address space",
                         _at(r, "size")))
    # the widths are a mask of allowed access sizes (hypervisor/mmio.c): several are fine
    widths = [f"io-{8 << n}" for n, w in enumerate(IO_WIDTHS) if flags & w]
    if widths and not flags & jh.MEM_IO:
        out.append(error("MEM-IO-WIDTH", f"{label} has access width{'s' if len(widths) > 1 else ''} "
                         f"{', '.join(widths)} but not the io flag",
                         _at(r, "flags"), hint="add io, or remove the access widths"))
    unknown = flags & ~jh.MEM_KNOWN_MASK
    if unknown:
        out.append(warning("MEM-FLAGS-UNKNOWN", f"{label} has flag bits {unknown:#x} that "
                           "revision 14 does not define", _at(r, "flags"), hint="remove the raw bits"))
    if is_root:
        # rootshared has no effect in the root cell either, but upstream's link helper
        # macro sets it there on every board: not worth a warning
        for word in ("loadable",):
            if flags & jh.MEM_FLAGS[word]:
                out.append(warning("MEM-ROOT-FLAGS", f"{label}: {word} has no effect in the root cell",
                                   _at(r, "flags"), hint=f"remove {word}"))
    if flags & jh.MEM_COMM_REGION:
        if is_root:
            out.append(error("MEM-COMM-REGION", f"{label} is a communication region, but the "
                             "root cell has none", _at(r, "flags"), hint="remove the region"))
        if r.phys != 0:
            out.append(error("MEM-COMM-REGION", f"{label} is a communication region with phys "
                             f"{r.phys:#x}; it has no physical address (phys must be 0)",
                             _at(r, "phys"), hint="remove phys; set virt to where the cell sees it"))
        if comm_first:
            out.append(error("MEM-COMM-REGION", f"{label} is a second communication region",
                             r.location(), related=[comm_first[0].location()],
                             hint="a cell has one communication region"))
        else:
            comm_first.append(r)
    _check_alignment(label, r, out)


def _check_alignment(label: str, r: Region, out: list[Diagnostic]) -> None:
    comm = r.flags & jh.MEM_COMM_REGION
    # The hypervisor emulates a region whose virt or size is not page-aligned (sub-page):
    # every access traps and passes only when its size bit is among the region's widths
    # (and, naturally unaligned, with io-unaligned) - hypervisor/mmio.c.
    if not comm and (r.virt % PAGE or r.size % PAGE):
        if not r.flags & jh.MEM_IO_WIDTH_MASK:
            what = " and ".join(f"{key} {value:#x}" for key, value in (("virt", r.virt), ("size", r.size))
                                if value % PAGE)
            out.append(error("MEM-SUBPAGE-WIDTH", f"{label} is a sub-page region ({what} not a "
                             "multiple of 4 KiB) without an access width: the hypervisor emulates "
                             "it and will refuse every access to it", _at(r, "flags"),
                             hint="add the access sizes the device is used with (io-8, io-16, io-32, "
                                  "io-64; several together are fine) and io-unaligned if it is "
                                  "accessed at unaligned addresses; or align it to 4 KiB"))
        return
    bad = [(key, value) for key, value in (("phys", r.phys), ("virt", r.virt), ("size", r.size))
           if value % PAGE and not (comm and key == "phys")]
    if not bad:
        return
    at = _at(r, bad[0][0])
    what = " and ".join(f"{key} {value:#x}" for key, value in bad)
    out.append(error("MEM-ALIGN", f"{label}: {what} "
                     f"{'is not a multiple' if len(bad) == 1 else 'are not multiples'} of 4 KiB", at,
                     hint="align it to 4 KiB"))


def _overlapping_pairs(items: list[tuple[int, int, int]]) -> list[tuple[int, int]]:
    """For ranges (start, end, key) with end > start: every pair (a, b) of keys whose ranges
    overlap, a starting no later than b. Sorted sweep with a heap of open ranges: every
    range still open when another starts overlaps it, so the cost is n log n + pairs."""
    items = sorted(items)
    reach = -1
    for start, end, _ in items:   # the common case, no overlap at all, without the heap
        if start < reach:
            break
        if end > reach:
            reach = end
    else:
        return []
    pairs: list[tuple[int, int]] = []
    open_ends: list[tuple[int, int]] = []
    for start, end, key in items:
        while open_ends and open_ends[0][0] <= start:
            heapq.heappop(open_ends)
        for _, other in open_ends:
            pairs.append((other, key))
        heapq.heappush(open_ends, (end, key))
    pairs.sort()
    return pairs


def _links_overlap(system: System | None, a: Link | None, b: Link | None) -> bool:
    """Whether two different declared links cover common memory (LINK-OVERLAP says so once,
    at the links; what their derived regions then do to each other is not repeated)."""
    if system is None or a is None or b is None or a is b:
        return False
    return a.base < b.base + b.size and b.base < a.base + a.size


def _derived_from(system: System | None, r: Region) -> Link | None:
    return system.links.get(r.link) if system is not None and r.link is not None else None


def _check_cell_overlaps(system: System | None, cell: Cell, regions: list[Region],
                         out: list[Diagnostic]) -> None:
    comm = jh.MEM_COMM_REGION
    phys = [(r.phys, r.phys + r.size, i) for i, r in enumerate(regions)
            if r.size and not r.flags & comm]
    virt = [(r.virt, r.virt + r.size, i) for i, r in enumerate(regions) if r.size]
    phys_pairs = _overlapping_pairs(phys)
    virt_pairs = _overlapping_pairs(virt)
    both = set(phys_pairs) & set(virt_pairs) if phys_pairs and virt_pairs else set()

    def span_of(a: int, b: int, attr: str) -> str:
        ra, rb = regions[a], regions[b]
        sa, sb = getattr(ra, attr), getattr(rb, attr)
        return _span(max(sa, sb), min(sa + ra.size, sb + rb.size))

    for rule, pairs, space, attr in (("MEM-OVERLAP-PHYS", phys_pairs, "physically", "phys"),
                                     ("MEM-OVERLAP-VIRT", virt_pairs, "in the cell's address space", "virt")):
        for a, b in pairs:
            where = f"{space} at {span_of(a, b, attr)}"
            if (a, b) in both:
                if rule == "MEM-OVERLAP-VIRT":
                    continue  # one overlap, reported once (with the physical one)
                virt_span = span_of(a, b, "virt")
                where = (f"physically and in the cell's address space at {virt_span}"
                         if virt_span == span_of(a, b, "phys") else
                         f"{where} and in the cell's address space at {virt_span}")
            ra, rb = regions[a], regions[b]
            if _links_overlap(system, _derived_from(system, ra), _derived_from(system, rb)):
                continue  # LINK-OVERLAP
            out.append(error(rule, f"{_region_label(rb, b)} and {_region_label(ra, a)} of cell "
                             f"{cell.name!r} overlap {where}",
                             rb.location(), related=[ra.location()],
                             hint="shrink or move one of them"))


def _check_config_size(system: System | None, cell: Cell, regions: list[Region], is_root: bool,
                       out: list[Diagnostic]) -> None:
    """cell create refuses a configuration (descriptor plus arrays, as
    jailhouse_cell_config_size counts it) larger than 16 pages (-E2BIG)."""
    if is_root:
        return  # the system configuration is copied at enable, not mapped this way
    devices = sum(1 for d in cell.pci_devices if isinstance(d, PciDevice))
    cpu_set = cell.cpu_set_size if cell.cpu_set_size is not None else \
        8 * (max(cell.cpus, default=0) // 64 + 1)
    size = (jh.CELL_DESC.size + cpu_set + len(regions) * jh.MEMORY.size
            + len(cell.cache_regions) * jh.CACHE.size + len(cell.irqchips) * jh.IRQCHIP.size
            + len(cell.pio) * jh.PIO.size + devices * jh.PCI_DEVICE.size
            + sum(len(g.caps) for g in cell.pci_caps) * jh.PCI_CAPABILITY.size
            + len(cell.stream_ids) * jh.STREAM_ID.size)
    limit = CONFIG_PAGES_LIMIT * PAGE
    all_links = system.links.values() if system is not None else ()
    # each link the cell is a peer of adds a device; counting them walks every link of the
    # system (per cell: quadratic at 1,000 cells), needed only when all of them could tip it
    if all_links and size + len(all_links) * jh.PCI_DEVICE.size > limit:
        links = sum(1 for link in all_links if cell.name in link.peers)
        devices += links
        size += links * jh.PCI_DEVICE.size
    if size > limit:
        out.append(error("CELL-CONFIG-SIZE", f"the configuration of cell {cell.name!r} is {size} bytes "
                         f"({len(regions)} memory regions, {devices} PCI devices, ...); cell create "
                         f"refuses more than {CONFIG_PAGES_LIMIT} pages ({limit} bytes)",
                         cell.location("name"), hint="merge regions or drop unused array entries"))


def _check_cpus(cell: Cell, out: list[Diagnostic]) -> None:
    if not cell.cpus and "cpus" not in unreadable_keys_of(cell):  # else reported as unreadable
        out.append(error("CPU-EMPTY", f"cell {cell.name!r} has no CPUs",
                         cell.location("cpus") if "cpus" in cell.model_fields_set else cell.location("name"),
                         hint="add 'cpus:'"))
    if cell.cpu_set_size is not None:
        limit = cell.cpu_set_size * 8
        beyond = [c for c in cell.cpus if c >= limit]
        if beyond:
            what, _ = _several("CPU", beyond)
            out.append(error("CPU-SET-SIZE", f"cell {cell.name!r}: {what} "
                             f"{'does' if len(beyond) == 1 else 'do'} not fit in a CPU set of {cell.cpu_set_size} bytes (CPUs 0-{limit - 1})",
                             cell.location("cpus"), related=[cell.location("cpu_set_size")],
                             hint="raise cpu_set_size or drop it"))


def _lines_in_window(chip) -> set[int]:
    return {x for x in chip.interrupts if chip.pin_base <= x < chip.pin_base + PINS_PER_IRQCHIP}


def _check_irqchips(system: System | None, cell: Cell, arch: int | None,
                    out: list[Diagnostic]) -> None:
    gicd = system.platform.arm.gicd_base if system is not None and system.platform.arm else None
    for chip in cell.irqchips:
        if arch in (ARCH_ARM, ARCH_ARM64):
            if gicd is not None and chip.address != gicd:
                out.append(warning("IRQ-CHIP-IGNORED", f"cell {cell.name!r}: irqchip {chip.address:#x} "
                                   f"is not the GIC distributor ({gicd:#x}); the hypervisor ignores "
                                   "the entry, so the cell gets none of its lines",
                                   chip.location("address"),
                                   related=[system.platform.arm.location("gicd_base")],  # type: ignore[union-attr]
                                   hint="use the platform's gicd_base as the address"))
                continue
            if chip.pin_base % 32 or chip.pin_base + PINS_PER_IRQCHIP > GIC_MAX_LINES:
                why = "is not a multiple of 32" if chip.pin_base % 32 else \
                    f"puts the 128-line window above line {GIC_MAX_LINES}"
                out.append(error("IRQ-PIN-BASE", f"cell {cell.name!r}: irqchip pin_base {chip.pin_base} "
                                 f"{why}; the hypervisor refuses the configuration", chip.location("pin_base"),
                                 hint="use pin_base 32, 160, ... up to 896"))
        elif arch == ARCH_X86 and chip.pin_base != 0:
            out.append(error("IRQ-PIN-BASE", f"cell {cell.name!r}: IOAPIC irqchip {chip.address:#x} has "
                             f"pin_base {chip.pin_base}; the hypervisor refuses any IOAPIC entry whose "
                             "pin_base is not 0", chip.location("pin_base"), hint="set pin_base to 0"))
        outside = [x for x in chip.interrupts
                   if not chip.pin_base <= x < chip.pin_base + PINS_PER_IRQCHIP]
        if outside:
            what, verb = _several("interrupt line", outside)
            out.append(error("IRQ-PIN-RANGE", f"cell {cell.name!r}: {what} {verb} outside this "
                             "irqchip's lines "
                             f"{chip.pin_base}-{chip.pin_base + PINS_PER_IRQCHIP - 1} (pin_base "
                             f"{chip.pin_base} + 128)", chip.location("interrupts"),
                             hint="add another irqchip entry with a matching pin_base"))


def _check_pio(cell: Cell, arch: int | None, out: list[Diagnostic]) -> None:
    for i, pio in enumerate(cell.pio):
        if pio.base + pio.length > PIO_SPACE:
            label = f"port I/O region {pio.name!r}" if pio.name else f"port I/O region #{i}"
            out.append(error("CELL-PIO-RANGE", f"cell {cell.name!r}: {label} "
                             f"({pio.base:#x} + {pio.length:#x}) ends beyond port 0xffff",
                             pio.location("length")))
    if cell.pio and arch is not None and arch != ARCH_X86:
        out.append(warning("CELL-PIO-ARCH", f"cell {cell.name!r} has port I/O regions, which only "
                           f"x86 has; on {_arch_name(arch)} they are ignored", cell.location("pio", key=True),
                           hint="remove the pio list"))


def _check_pci_caps(cell: Cell, out: list[Diagnostic]) -> None:
    total = sum(len(g.caps) for g in cell.pci_caps)
    if total > MAX_PCI_CAPS:
        out.append(error("PCI-CAPS-COUNT", f"cell {cell.name!r} has {total} PCI capabilities; "
                         f"at most {MAX_PCI_CAPS} can be indexed", cell.location("pci_caps", key=True)))
    index: dict[str, int] = {}
    for gi, group in enumerate(cell.pci_caps):
        if group.name in index:
            first = cell.pci_caps[index[group.name]]
            out.append(error("PCI-CAPS-DUPLICATE", f"cell {cell.name!r}: capability group "
                             f"{group.name!r} is defined twice", group.location("name"),
                             related=[first.location("name")], hint="rename one of them"))
        else:
            index[group.name] = gi
    for di, dev in enumerate(cell.pci_devices):
        if not isinstance(dev, PciDevice) or not dev.caps:
            continue
        label = _pci_label(dev, di)
        if dev.caps_start is not None:
            out.append(error("PCI-CAPS-BOTH", f"cell {cell.name!r}: {label} has both caps and "
                             "caps_start", dev.location("caps_start"), related=[dev.location("caps")],
                             hint="keep caps (group names) or caps_start, not both"))
        known = []
        for ni, name in enumerate(dev.caps):
            if name in index:
                known.append((index[name], ni))
            else:
                out.append(error("PCI-CAPS-UNKNOWN", f"cell {cell.name!r}: {label} names capability "
                                 f"group {name!r}, which the cell does not define",
                                 dev.location("caps", ni),
                                 hint=did_you_mean(name, index) or "define it under pci_caps"))
        for (ga, _), (gb, nb) in zip(known, known[1:]):
            if gb != ga + 1:
                out.append(error("PCI-CAPS-ORDER", f"cell {cell.name!r}: {label} names capability "
                                 f"groups {cell.pci_caps[ga].name!r} and {cell.pci_caps[gb].name!r}, "
                                 "which are not consecutive in pci_caps", dev.location("caps", nb),
                                 related=[cell.pci_caps[gb].location("name")],
                                 hint="a device's capabilities are one run: order pci_caps as the "
                                      "device lists them"))


def _pci_label(dev: PciDevice, index: int) -> str:
    what = "ivshmem device" if dev.type == jh.PCI_TYPE_IVSHMEM else "PCI device"
    name = f" {dev.name!r}" if dev.name else ""
    return f"{what}{name} {_bdf_text(dev.domain, dev.bdf)}" if name else \
        f"{what} #{index} ({_bdf_text(dev.domain, dev.bdf)})"


def _bdf_text(domain: int, bdf: int) -> str:
    return f"{domain:04x}:{format_bdf(bdf)}" if domain else format_bdf(bdf)


def _shmem_start_of(dev: PciDevice, regions: list[Region]) -> int | None:
    """The index of a raw ivshmem device's first region, None for an unknown name."""
    ref = dev.shmem_regions
    if ref is None:
        return 0
    if isinstance(ref, int):
        return ref
    for i, r in enumerate(regions):
        if r.name == ref:
            return i
    return None


def _check_raw_ivshmem(cell: Cell, regions: list[Region], out: list[Diagnostic]) -> None:
    for di, dev in enumerate(cell.pci_devices):
        if not isinstance(dev, PciDevice) or dev.type != jh.PCI_TYPE_IVSHMEM:
            continue
        label = f"cell {cell.name!r}: {_pci_label(dev, di)}"
        peers = dev.shmem_peers
        if not 2 <= peers <= jh.MAX_SHMEM_PEERS:
            out.append(error("LINK-PEERS", f"{label} has shmem_peers {peers}; a link has 2 to "
                             f"{jh.MAX_SHMEM_PEERS} peers", dev.location("shmem_peers")))
        elif dev.shmem_dev_id >= peers:
            out.append(error("LINK-DEV-ID", f"{label} has shmem_dev_id {dev.shmem_dev_id}, but "
                             f"peer IDs of a {peers}-peer link are 0-{peers - 1}: the cell sees an "
                             "ID outside its own peer count",
                             dev.location("shmem_dev_id")))
        if dev.msix_vectors > jh.MAX_IVSHMEM_MSIX_VECTORS:
            out.append(error("LINK-MSIX", f"{label} has {dev.msix_vectors} MSI-X vectors; at most "
                             f"{jh.MAX_IVSHMEM_MSIX_VECTORS}", dev.location("msix_vectors")))
        _check_protocol_value(label, dev.shmem_protocol, dev, "shmem_protocol", out)
        start = _shmem_start_of(dev, regions)
        if start is None:
            names = [r.name for r in regions if r.name]
            out.append(error("PCI-SHMEM-REGION", f"{label}: shmem_regions names {dev.shmem_regions!r}, "
                             "which is no memory region of the cell", dev.location("shmem_regions"),
                             hint=did_you_mean(str(dev.shmem_regions), names)
                             or "name the link's state-table region"))
            continue
        if start + 2 + peers > len(regions):
            out.append(error("PCI-SHMEM-RANGE", f"{label}: its regions #{start}-#{start + 1 + peers} "
                             f"(shmem_regions_start {start} + 2 + {peers} peers) run past the cell's "
                             f"{len(regions)} memory regions", dev.location("shmem_regions")
                             if "shmem_regions" in dev.model_fields_set else dev.location(),
                             hint="point shmem_regions at the first of 2 + peers consecutive "
                                  "link regions"))
            continue
        state = regions[start]
        if peers and (state.size == 0 or state.size < 4 * peers):
            out.append(error("LINK-STATE-TABLE", f"{label}: its state table ({_region_label(state, start)}) "
                             f"has {state.size} bytes; {peers} peers need at least {4 * peers}",
                             state.location(), related=[dev.location()]))


def _check_protocol_value(label: str, protocol: int, node: Link | PciDevice, key: str,
                          out: list[Diagnostic]) -> None:
    if 0x0002 <= protocol <= 0x3FFF:
        out.append(error("LINK-PROTOCOL", f"{label}: protocol {protocol:#06x} is reserved",
                         node.location(key), hint="use undefined, veth, custom:0x4000-0x7fff or virtio"))


def _check_placements(system: System | None, cell: Cell, out: list[Diagnostic]) -> None:
    links = system.links if system is not None else {}
    for key, items, kind in (("memory", cell.memory, LinkPlacement),
                             ("pci_devices", cell.pci_devices, PciLinkPlacement)):
        first: dict[str, object] = {}
        for item in items:
            if not isinstance(item, kind):
                continue
            if item.link in first:
                out.append(error("LINK-PLACEMENT-TWICE", f"cell {cell.name!r} places link "
                                 f"{item.link!r} twice in {key}", item.location("link"),
                                 related=[first[item.link].location("link")],  # type: ignore[attr-defined]
                                 hint="remove the second placement"))
                continue
            first[item.link] = item
            virt = getattr(item, "virt", None)
            if virt is not None and virt % PAGE:
                out.append(error("MEM-ALIGN", f"cell {cell.name!r} maps link {item.link!r} at virt "
                                 f"{virt:#x}, which is not a multiple of 4 KiB", item.location("virt"),
                                 hint="align it to 4 KiB"))
            if system is None:
                out.append(error("LINK-PLACEMENT-UNKNOWN", f"cell {cell.name!r} places link "
                                 f"{item.link!r} in {key}, but a cell without a system has no links",
                                 item.location("link"), hint="add 'system: <name>' to the cell's file"))
            elif item.link not in links:
                if item.link in system.unreadable_links:
                    continue  # the link's own problem is reported where it is declared
                out.append(error("LINK-PLACEMENT-UNKNOWN", f"cell {cell.name!r} places link "
                                 f"{item.link!r} in {key}, which system {system.name!r} does not declare",
                                 item.location("link"),
                                 hint=did_you_mean(item.link, links) or "declare it under 'links:'"))
            elif cell.name not in links[item.link].peers:
                out.append(error("LINK-PLACEMENT-PEER", f"cell {cell.name!r} places link "
                                 f"{item.link!r} in {key} but is not one of its peers", item.location("link"),
                                 related=[links[item.link].location("peers")],
                                 hint=f"add {cell.name!r} to the link's peers or remove the placement"))


# --- whole-system rules ---------------------------------------------------------------------

def _system_diagnostics(facts: _Facts) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    intervals = _access_map(facts.cells, facts.regions)
    starts = [iv.start for iv in intervals]
    _check_root_coverage_and_isolation(facts, intervals, out)
    _check_reserved(facts, intervals, starts, out)
    _check_system_cpus(facts, out)
    _check_system_irqs(facts, out)
    _check_link_overlaps(facts.system, out)
    views = _declared_link_views(facts, out) + _raw_link_views(facts, out)
    _check_system_pci(facts, views, out)
    _check_link_access(facts, views, intervals, starts, out)
    _check_intx_lines(facts, out)
    return out


def _check_intx_lines(facts: _Facts, out: list[Diagnostic]) -> None:
    """ARM: a link with INTx raises SPI 32 + vpci_irq_base + pin - 1 in each peer, pin
    ((bdf >> 3) & 3) + 1 (arm-common/ivshmem.c); a cell that does not own that line in
    its GIC irqchip entry never sees the link's interrupts."""
    system = facts.system
    if system.arch not in (ARCH_ARM, ARCH_ARM64):
        return
    gicd = system.platform.arm.gicd_base if system.platform.arm is not None else None
    by_peer = peer_links_of(system)
    for cell in facts.cells:
        endpoints = [(f"ivshmem device {_bdf_text(d.domain, d.bdf)}", d.bdf, d.msix_vectors,
                      d.location("bdf")) for d in cell.pci_devices
                     if isinstance(d, PciDevice) and d.type == jh.PCI_TYPE_IVSHMEM]
        endpoints += [(f"link {name!r}", link.bdf, link.interrupts, link.location(key=True))
                      for name, link, _ in by_peer.get(cell.name, [])]
        owned: set[int] = set()
        for chip in cell.irqchips:
            if gicd is None or chip.address == gicd:
                owned |= _lines_in_window(chip)
        for label, bdf, msix, where in endpoints:
            if msix:
                continue
            pin = ((bdf >> 3) & 3) + 1
            line = 32 + cell.vpci_irq_base + pin - 1
            if line not in owned:
                out.append(error(
                    "LINK-INTX-IRQ", f"cell {cell.name!r}: {label} uses INTx (INT{'ABCD'[pin - 1]}), "
                    f"which raises SPI {line} (32 + vpci_irq_base {cell.vpci_irq_base} + pin {pin} - 1); "
                    "the cell does not own that line in its GIC irqchip, so it never sees the "
                    "link's interrupts", where,
                    related=[cell.location("vpci_irq_base") if "vpci_irq_base" in cell.model_fields_set
                             else cell.location("name")],
                    hint=f"add line {line} to the cell's irqchip, or change vpci_irq_base"))


def _check_root_coverage_and_isolation(facts: _Facts, intervals: list[AccessInterval],
                                       out: list[Diagnostic]) -> None:
    uncovered: dict[int, list[list[int]]] = {}        # id(region) -> merged [start, end) gaps
    region_of: dict[int, Region] = {}
    shared_pairs: dict[tuple[int, int], tuple[Region, Region]] = {}
    for iv in intervals:
        grants = iv.cells
        has_root = grants[0].is_root
        if has_root and len(grants) == 1:
            continue
        nonroot = grants[1:] if has_root else grants
        if not has_root:
            for g in nonroot:
                for r in g.regions:
                    if not r.flags & jh.MEM_ROOTSHARED:
                        gaps = uncovered.setdefault(id(r), [])
                        region_of[id(r)] = r
                        if gaps and gaps[-1][1] == iv.start:
                            gaps[-1][1] = iv.end
                        else:
                            gaps.append([iv.start, iv.end])
        if len(nonroot) < 2:
            continue
        for g in nonroot:
            if g.rootshared:
                continue
            for other in nonroot:
                if other is g:
                    continue
                for private in g.regions:
                    if private.flags & jh.MEM_ROOTSHARED:
                        continue
                    for r in other.regions:
                        a, b = id(private), id(r)
                        key = (a, b) if r.flags & jh.MEM_ROOTSHARED else (min(a, b), max(a, b))
                        if key not in shared_pairs:
                            shared_pairs[key] = (private, r)
    for rid, gaps in uncovered.items():
        r = region_of[rid]
        if r.end > ADDRESS_LIMIT:
            continue  # MEM-WRAP says what is wrong with it
        shown = ", ".join(_span(s, e) for s, e in gaps[:3])
        more = f" and {len(gaps) - 3} more ranges" if len(gaps) > 3 else ""
        out.append(warning("MEM-NOT-IN-ROOT", f"{facts.describe(r)} ({_span(r.phys, r.end)}) is not "
                           f"inside the root cell's memory: {shown}{more} "
                           f"{'is' if len(gaps) == 1 and not more else 'are'} covered by no region of "
                           f"root cell {facts.cells[0].name!r}; the hypervisor maps it into this "
                           "cell only (legal, e.g. for a device window, but unusual)", r.location(),
                           hint="if the range should come from the root cell, add it there or "
                                "fix the address"))
    for private, r in shared_pairs.values():
        lo, hi = max(private.phys, r.phys), min(private.end, r.end)
        out.append(error("ISO-PRIVATE", f"{facts.describe(private)} is private (not rootshared), but "
                         f"{facts.describe(r)} also covers {_span(lo, hi)}",
                         private.location(), related=[r.location()],
                         hint="remove the overlap, or share the memory through a link"))


def _reserved_ranges_of(facts: _Facts) -> list[tuple[int, int, str, str, Location | None]]:
    """(start, end, rule, what, location) of every range no cell may map."""
    system = facts.system
    p = system.platform
    result: list[tuple[int, int, str, str, Location | None]] = []
    hv = p.hypervisor_memory
    if hv.size:
        result.append((hv.phys, hv.phys + hv.size, "MEM-HYPERVISOR", "the hypervisor memory",
                       hv.location()))
    if p.pci.mmconfig_base:
        size = (p.pci.end_bus + 1) << 20
        result.append((p.pci.mmconfig_base, p.pci.mmconfig_base + size, "MEM-MMCONFIG",
                       "the PCI MMCONFIG window", p.pci.location("mmconfig_base")))
    for i, unit in enumerate(p.iommus):
        if unit.base:
            # a unit without a size still owns its first register page
            result.append((unit.base, unit.base + (unit.size or PAGE), "MEM-IOMMU",
                           f"the registers of IOMMU unit {i}", unit.location("base")))
    if system.arch == ARCH_X86:
        result.append((XAPIC_BASE, XAPIC_BASE + PAGE, "MEM-IRQCHIP", "the xAPIC page",
                       p.location("arch")))
        seen: set[int] = set()
        for chip in system.root.irqchips:
            page = chip.address & ~(PAGE - 1)
            if chip.address and page not in seen:
                seen.add(page)
                result.append((page, page + PAGE, "MEM-IRQCHIP", "the IOAPIC page",
                               chip.location("address")))
    elif p.arm is not None:
        arm = p.arm
        v3 = arm.gic_version >= 3
        # one redistributor per CPU of the system (all CPUs are the root's at enable), in
        # sequence from gicr_base: 128 KiB each on GICv3, 256 KiB on GICv4
        cpus = (max(system.root.cpus) + 1) if system.root.cpus else 1
        redistributor = 0x40000 if arm.gic_version >= 4 else 0x20000
        for key, size, what in (("gicd_base", 0x10000 if v3 else PAGE, "the GIC distributor"),
                                ("gicc_base", 0x2000, "the GIC CPU interface"),
                                ("gich_base", 0x2000, "the GIC hypervisor interface"),
                                ("gicv_base", 0x2000, "the GIC virtual CPU interface"),
                                ("gicr_base", redistributor * cpus if v3 else 0,
                                 f"the GIC redistributors ({cpus} CPUs)")):
            base = getattr(arm, key)
            if base and size:
                result.append((base, base + size, "MEM-IRQCHIP", what, arm.location(key)))
    result.sort(key=lambda t: (t[0], t[1]))
    return result


def _check_reserved(facts: _Facts, intervals: list[AccessInterval], starts: list[int],
                    out: list[Diagnostic]) -> None:
    # few reserved ranges: look each one up in the map instead of every region in them
    hits = []
    for start, end, rule, what, where in _reserved_ranges_of(facts):
        seen: set[int] = set()
        for iv in _intervals_within(intervals, starts, start, end):
            for grant in iv.cells:
                for r in grant.regions:
                    if id(r) not in seen:
                        seen.add(id(r))
                        hits.append((facts.where[id(r)], r, start, end, rule, what, where))
    hits.sort(key=lambda h: h[0])
    for _, r, start, end, rule, what, where in hits:
        lo, hi = r.phys, r.end
        out.append(error(rule, f"{facts.describe(r)} ({_span(lo, hi)}) overlaps {what} "
                         f"({_span(start, end)}) at {_span(max(lo, start), min(hi, end))}",
                         r.location(), related=[where],
                         hint="no cell may map it; move or shrink the region"))


def _check_system_cpus(facts: _Facts, out: list[Diagnostic]) -> None:
    root = facts.system.root
    root_cpus = set(root.cpus)
    owner: dict[int, Cell] = {}
    cell_by_id = {id(c): c for c in facts.system.cells}
    taken: set[int] = set()
    for cell in facts.system.cells:
        foreign = [c for c in cell.cpus if c not in root_cpus]
        if foreign:
            what, verb = _several("CPU", foreign)
            out.append(error("CPU-NOT-IN-ROOT", f"cell {cell.name!r}: {what} {verb} not owned by "
                             f"root cell {root.name!r}", cell.location("cpus"), related=[root.location("cpus")],
                             hint="non-root cells take their CPUs from the root cell"))
        clashes: dict[int, list[int]] = {}
        for c in cell.cpus:
            other = owner.get(c)
            if other is None:
                owner[c] = cell
            else:
                clashes.setdefault(id(other), []).append(c)
        for other_id, cpus in clashes.items():
            other = cell_by_id[other_id]
            what, verb = _several("CPU", cpus)
            out.append(error("CPU-CONFLICT", f"{what} of cell {cell.name!r} {verb} also in cell "
                             f"{other.name!r}",
                             cell.location("cpus"), related=[other.location("cpus")],
                             hint="a CPU belongs to one non-root cell"))
        taken.update(cell.cpus)
        if facts.system.arch == ARCH_X86 and 0 in cell.cpus:
            out.append(warning("CPU-ZERO", f"cell {cell.name!r} takes CPU 0; x86 Linux in the root cell "
                               "usually cannot take CPU 0 offline, so cell create fails there",
                               cell.location("cpus"), hint="give the cell another CPU"))
    if root_cpus and root_cpus <= taken:
        takers = [c.location("cpus") for c in facts.system.cells if root_cpus & set(c.cpus)]
        out.append(error("CPU-ROOT-NONE", f"the non-root cells take every CPU of root cell "
                         f"{root.name!r} ({format_ranges(root_cpus)}); it must keep at least one",
                         root.location("cpus"), related=takers,
                         hint="leave one root CPU out of the non-root cells"))


def _check_system_irqs(facts: _Facts, out: list[Diagnostic]) -> None:
    root = facts.system.root
    root_lines: dict[int, set[int]] = {}
    root_chip: dict[int, object] = {}
    for chip in root.irqchips:
        root_lines.setdefault(chip.address, set()).update(_lines_in_window(chip))
        root_chip.setdefault(chip.address, chip)
    owner: dict[tuple[int, int], tuple[Cell, object]] = {}
    arm = facts.system.platform.arm if facts.system.arch in (ARCH_ARM, ARCH_ARM64) else None
    for cell in facts.system.cells:
        for chip in cell.irqchips:
            if arm is not None and chip.address != arm.gicd_base:
                continue  # ignored by the hypervisor (IRQ-CHIP-IGNORED says so)
            lines = sorted(_lines_in_window(chip))
            mine = root_lines.get(chip.address, set())
            foreign = [x for x in lines if x not in mine]
            if foreign:
                rc = root_chip.get(chip.address)
                what, verb = _several("interrupt line", foreign)
                out.append(error("IRQ-NOT-IN-ROOT", f"cell {cell.name!r}: {what} of irqchip "
                                 f"{chip.address:#x} {verb} not owned by root cell {root.name!r}", chip.location("interrupts"),
                                 related=[rc.location("interrupts") if rc is not None  # type: ignore[attr-defined]
                                          else root.location("name")],
                                 hint="non-root cells take their interrupt lines from the root cell"))
            clashes: dict[int, tuple[object, list[int]]] = {}
            for x in lines:
                prior = owner.get((chip.address, x))
                if prior is None:
                    owner[(chip.address, x)] = (cell, chip)
                elif prior[0] is not cell:
                    clashes.setdefault(id(prior[1]), (prior, []))[1].append(x)
            for prior, xs in clashes.values():
                other_cell, other_chip = prior  # type: ignore[misc]
                what, verb = _several("interrupt line", xs)
                out.append(error("IRQ-CONFLICT", f"{what} of irqchip {chip.address:#x} {verb} in cell "
                                 f"{cell.name!r} and in cell "
                                 f"{other_cell.name!r}", chip.location("interrupts"),
                                 related=[other_chip.location("interrupts")],
                                 hint="an interrupt line belongs to one non-root cell"))


# --- links: one view for declared links and raw ivshmem devices ------------------------------

@dataclass
class _LinkView:
    label: str                              # "link 'demo'" or "ivshmem device 00:0e.0"
    domains: set[int]                       # every PCI domain its endpoints carry
    bdf: int
    node: object                            # the Link or the reference PciDevice
    key: tuple                              # location(*key) of that node names the link
    peers: dict[str, int]                   # cell name -> peer ID
    owners: dict[int, str]                  # peer ID -> cell name
    sections: list[tuple[str, int | None, int, int]]  # (label, owner ID, start, end)
    start: int
    end: int

    @property
    def location(self) -> Location | None:
        # computed on demand: locating a key in a long mapping is not free
        if self.key == ("<name>",):
            return self.node.location(key=True)  # type: ignore[attr-defined]
        return self.node.location(*self.key)  # type: ignore[attr-defined]


def _declared_link_views(facts: _Facts, out: list[Diagnostic]) -> list[_LinkView]:
    system = facts.system
    names = facts.names
    views = []
    for name, link in system.links.items():
        label = f"link {name!r}"
        n = len(link.peers)
        if not 2 <= n <= jh.MAX_SHMEM_PEERS:
            out.append(error("LINK-PEERS", f"{label} has {n} peer{'s' if n != 1 else ''}; a link has "
                             f"2 to {jh.MAX_SHMEM_PEERS}", link.location("peers")))
        peers: dict[str, int] = {}
        absent: list[str] = []
        for i, peer in enumerate(link.peers):
            if peer in peers:
                out.append(error("LINK-PEER-DUPLICATE", f"{label} lists peer {peer!r} twice",
                                 link.location("peers", i), related=[link.location("peers", peers[peer])],
                                 hint="remove the repetition"))
                continue
            peers[peer] = i
            if peer not in facts.names and peer not in system.unreadable_cells:
                # a cell already among the peers is no suggestion
                suggestion = did_you_mean(peer, [c for c in names if c not in link.peers])
                if suggestion:  # a misspelt peer, not a cell left out of the call
                    out.append(error("LINK-PEER-UNKNOWN", f"{label}: peer {peer!r} is no cell of system "
                                     f"{system.name!r}", link.location("peers", i), hint=suggestion))
                else:
                    absent.append(peer)
        if absent:
            listed = ", ".join(repr(p) for p in absent)
            out.append(info("LINK-PEER-ABSENT", f"{label}: peer{'s' if len(absent) > 1 else ''} {listed} "
                            f"{'are' if len(absent) > 1 else 'is'} not in this call, taken as not running",
                            link.location("peers"),
                            hint="pass the cell's file in the same call to judge it too"))
        if link.interrupts > jh.MAX_IVSHMEM_MSIX_VECTORS:
            out.append(error("LINK-MSIX", f"{label} asks for {link.interrupts} MSI-X vectors; at most "
                             f"{jh.MAX_IVSHMEM_MSIX_VECTORS}", link.location("interrupts")))
        for key in ("base", "state_table", "rw_section", "output_section"):
            value = getattr(link, key)
            if value % PAGE:
                out.append(error("LINK-ALIGN", f"{label}: {key.replace('_', ' ')} {value:#x} is not a "
                                 "multiple of 4 KiB", link.location(key), hint="round it to 4 KiB"))
        if link.state_table == 0 or link.state_table < 4 * n:
            out.append(error("LINK-STATE-TABLE", f"{label}: the state table has {link.state_table} bytes; "
                             f"{n} peers need at least {max(4 * n, 4)}", link.location("state_table"),
                             hint="4K is usual"))
        _check_link_protocol(label, link, out)
        sections = [(sec.label, sec.owner, link.base + sec.offset, link.base + sec.offset + sec.size)
                    for sec in sections_of(link) if sec.size]
        for peer in link.peer_domains:
            if peer not in link.peers:
                out.append(error("LINK-PEER-UNKNOWN", f"{label}: peer_domains names {peer!r}, which "
                                 "is no peer of the link", link.location("peer_domains", peer, key=True),
                                 hint=did_you_mean(peer, link.peers) or "name one of the peers"))
        _check_domains(label, [(peer, link.domain_of_peer(i),
                                link.location("peer_domains", peer) if peer in link.peer_domains
                                else link.location("domain") if "domain" in link.model_fields_set
                                else link.location(key=True))
                               for i, peer in enumerate(link.peers)], out)
        domains = {link.domain_of_peer(i) for i in range(len(link.peers))} or {link.domain}
        views.append(_LinkView(label, domains, link.bdf, link, ("<name>",), peers,
                               {i: p for p, i in peers.items()}, sections, link.base,
                               link.base + link.size))
    return views


def _check_link_overlaps(system: System, out: list[Diagnostic]) -> None:
    """Two declared links over common memory: one finding at the later one, naming both."""
    spans = sorted(((link.base, link.base + link.size, i, name, link)
                    for i, (name, link) in enumerate(system.links.items()) if link.size),
                   key=lambda t: (t[0], t[2]))
    reach: tuple[int, int, str, Link] | None = None  # the link reaching furthest so far
    for start, end, index, name, link in spans:
        if reach is not None and start < reach[0]:
            first, second = sorted([(reach[1], reach[2], reach[3]), (index, name, link)],
                                   key=lambda t: t[0])
            lo, hi = start, min(end, reach[0])
            out.append(error("LINK-OVERLAP", f"link {second[1]!r} overlaps link {first[1]!r} at "
                             f"{_span(lo, hi)}", second[2].location(key=True),
                             related=[first[2].location(key=True)],
                             hint="move one link's base past the other's end (base + state table "
                                  "+ rw section + peers x output section)"))
        if reach is None or end > reach[0]:
            reach = (end, index, name, link)


def _check_link_protocol(label: str, link: Link, out: list[Diagnostic]) -> None:
    p = link.protocol
    _check_protocol_value(label, p, link, "protocol", out)
    if 0x8000 <= p < 0xC000:
        out.append(error("LINK-PROTOCOL", f"{label}: protocol {p:#06x} is a virtio front-end value; "
                         "a link names its back-end (virtio:DEVICE) and 'backend'", link.location("protocol"),
                         hint="write virtio:DEVICE and name the back-end peer with backend"))
    if p >= 0xC000:
        if link.backend is None:
            out.append(error("LINK-BACKEND", f"{label} is a virtio link but names no back-end",
                             link.location("protocol"), hint="add 'backend: <peer>'"))
        elif link.backend not in link.peers:
            out.append(error("LINK-BACKEND", f"{label}: backend {link.backend!r} is not a peer of "
                             "the link", link.location("backend"),
                             hint=did_you_mean(link.backend, link.peers) or "name one of the peers"))
    elif link.backend is not None and p < 0x8000:
        out.append(error("LINK-BACKEND", f"{label} names backend {link.backend!r}, but its protocol "
                         f"{p:#06x} is not virtio", link.location("backend"),
                         hint="drop backend, or use protocol virtio:DEVICE"))


def _raw_link_views(facts: _Facts, out: list[Diagnostic]) -> list[_LinkView]:
    """Raw ivshmem devices (declared as PCI devices, e.g. imported), paired across cells
    by BDF alone, as the hypervisor pairs them (:func:`ivshmem.links_by_bdf`)."""
    endpoints: list[tuple[int, PciDevice, int | None]] = []
    for ci, cell in enumerate(facts.cells):
        for dev in cell.pci_devices:
            if isinstance(dev, PciDevice) and dev.type == jh.PCI_TYPE_IVSHMEM:
                start = _shmem_start_of(dev, facts.regions[ci])
                if start is not None and start + 2 + dev.shmem_peers > len(facts.regions[ci]):
                    start = None  # reported by PCI-SHMEM-RANGE
                endpoints.append((ci, dev, start))
    views = []
    for bdf, members in links_by_bdf(endpoints, lambda m: m[1].bdf).items():
        members.sort(key=lambda m: (m[1].shmem_dev_id, m[0]))
        ref_ci, ref, ref_start = members[0]
        label = f"ivshmem device {_bdf_text(ref.domain, bdf)}"
        ref_cell = facts.cells[ref_ci].name
        _check_domains(label, [(facts.cells[ci].name, dev.domain, dev.location("domain")
                                if "domain" in dev.model_fields_set else dev.location("bdf"))
                               for ci, dev, _ in members], out)

        def layout_of(ci: int, dev: PciDevice, start: int | None):
            if start is None:
                return None
            regs = facts.regions[ci]
            state, rw = regs[start], regs[start + 1]
            out_size = regs[start + 2].size if dev.shmem_peers else 0
            return (state.phys, state.size, rw.size, out_size)

        ref_layout = layout_of(ref_ci, ref, ref_start)
        seen_ids: dict[int, tuple[int, PciDevice]] = {}
        for ci, dev, start in members:
            cell = facts.cells[ci].name
            if dev.shmem_dev_id in seen_ids:
                oci, odev = seen_ids[dev.shmem_dev_id]
                out.append(error("LINK-DEV-ID", f"{label}: cells {facts.cells[oci].name!r} and {cell!r} "
                                 f"both claim peer ID {dev.shmem_dev_id}", dev.location("shmem_dev_id"),
                                 related=[odev.location("shmem_dev_id")],
                                 hint="give each peer its own shmem_dev_id"))
            else:
                seen_ids[dev.shmem_dev_id] = (ci, dev)
                # (a second claimant's regions judged as that peer's would repeat the finding)
                if start is not None and dev.shmem_dev_id < dev.shmem_peers:
                    _check_peer_permissions(label, cell, dev, facts.regions[ci], start, out)
            if dev is ref:
                continue
            for key, mine, theirs, what in (
                    ("shmem_peers", dev.shmem_peers, ref.shmem_peers, "peers"),
                    ("msix_vectors", dev.msix_vectors, ref.msix_vectors, "MSI-X vectors")):
                if mine != theirs:
                    out.append(error("LINK-MISMATCH", f"{label}: cell {cell!r} says {mine} {what}, "
                                     f"cell {ref_cell!r} says {theirs}", dev.location(key),
                                     related=[ref.location(key)],
                                     hint="all peers of a link must agree"))
            lay = layout_of(ci, dev, start)
            if lay is not None and ref_layout is not None and lay != ref_layout:
                parts = [f"{what} {a:#x} vs {b:#x}" for what, a, b in zip(
                    ("state table address", "state table size", "read/write section size",
                     "output section size"), lay, ref_layout) if a != b]
                out.append(error("LINK-MISMATCH", f"{label}: the shared memory of cell {cell!r} differs "
                                 f"from that of cell {ref_cell!r}: {', '.join(parts)}",
                                 facts.regions[ci][start].location(),
                                 related=[facts.regions[ref_ci][ref_start].location()],
                                 hint="all peers must map the same sections"))
        _check_raw_protocols(label, [(facts.cells[ci].name, dev) for ci, dev, _ in members], out)
        # every cell with a device of this BDF is a peer; an ID claimed twice goes to the
        # first claimant (the second is reported by LINK-DEV-ID above)
        owners = {dev.shmem_dev_id: facts.cells[ci].name for ci, dev, _ in reversed(members)}
        peers = {facts.cells[ci].name: dev.shmem_dev_id for ci, dev, _ in members}
        sections: list[tuple[str, int | None, int, int]] = []
        lo = hi = 0
        if ref_start is not None:
            regs = facts.regions[ref_ci]
            entries = [("state table", None, regs[ref_start]),
                       ("read/write section", None, regs[ref_start + 1])]
            entries += [(f"output section of peer {k}", k, regs[ref_start + 2 + k])
                        for k in range(ref.shmem_peers)]
            sections = [(what, k, r.phys, r.end) for what, k, r in entries if _is_physical(r)]
            if sections:
                lo, hi = min(s[2] for s in sections), max(s[3] for s in sections)
        domains = {dev.domain for _, dev, _ in members}
        views.append(_LinkView(label, domains, bdf, ref, ("bdf",), peers, owners, sections, lo, hi))
    return views


def _check_domains(label: str, peers: list[tuple[str, int, Location | None]],
                   out: list[Diagnostic]) -> None:
    """One warning per link whose peers' device entries disagree on the PCI domain: the
    hypervisor pairs by BDF alone, so they are still one link."""
    by_domain: dict[int, list[tuple[str, Location | None]]] = {}
    for name, domain, where in peers:
        by_domain.setdefault(domain, []).append((name, where))
    if len(by_domain) < 2:
        return
    groups = list(by_domain.items())
    said = "; ".join(f"{'cells' if len(names) > 1 else 'cell'} "
                     f"{', '.join(repr(n) for n, _ in names)} {'say' if len(names) > 1 else 'says'} "
                     f"domain {domain}" for domain, names in groups)
    first, second = groups[0][1][0], groups[1][1][0]
    out.append(warning("LINK-DOMAIN", f"{label}: the peers disagree on the PCI domain ({said}); the "
                       "hypervisor pairs ivshmem devices by BDF alone, so they are one link",
                       second[1], related=[first[1]],
                       hint="give every peer the same domain, unless this is deliberate "
                            "(upstream root cells use their virtual PCI domain)"))


def _check_peer_permissions(label: str, cell: str, dev: PciDevice, regions: list[Region],
                            start: int, out: list[Diagnostic]) -> None:
    """A raw device's entries must give its cell what docs/format/ivshmem-v2.md gives a peer:
    the state table read-only, the read/write section read/write, its own output section
    read/write, the others read-only (writing another peer's output section is reported,
    on the effective-access map, by LINK-TX-WRITE)."""
    me = dev.shmem_dev_id
    entries = [("the state table", regions[start], READ, WRITE),
               ("the read/write section", regions[start + 1], READ | WRITE, 0)]
    entries += [("its own output section" if k == me else f"the output section of peer {k}",
                 regions[start + 2 + k], READ | (WRITE if k == me else 0), 0)
                for k in range(dev.shmem_peers)]
    who = f"cell {cell!r} (peer {me})"
    for index, (what, r, needed, forbidden) in enumerate(entries, start):
        if r.is_placeholder:
            continue
        where = f"{_region_label(r, index)}"
        if r.flags & forbidden:
            out.append(error("LINK-PERMISSION", f"{label}: {who} maps {what} writable "
                             f"through {where}; the state table is read-only for every peer "
                             "(the hypervisor writes it)", _at(r, "flags"),
                             related=[dev.location("bdf")], hint="remove write from the region"))
        missing = needed & ~r.flags
        if missing:
            lacks = "read and write" if missing == READ | WRITE else \
                ("write" if missing == WRITE else "read")
            why = {"the read/write section": "it is writable by every peer",
                   "the state table": "every peer reads the others' states there"}.get(
                what, "a peer sends through its own output section" if what.startswith("its own")
                else "every peer reads the others' output sections")
            out.append(error("LINK-PERMISSION", f"{label}: {who} cannot {lacks} {what} "
                             f"through {where}; {why}", _at(r, "flags"),
                             related=[dev.location("bdf")],
                             hint=f"add {' and '.join(w for w, b in (('read', READ), ('write', WRITE)) if missing & b)} "
                                  "to the region's flags"))


def _check_raw_protocols(label: str, members: list[tuple[str, PciDevice]],
                         out: list[Diagnostic]) -> None:
    ref_name, ref = members[0]
    virtio = [(n, d) for n, d in members if d.shmem_protocol >= 0x8000]
    if not virtio:
        for name, dev in members[1:]:
            if dev.shmem_protocol != ref.shmem_protocol:
                out.append(error("LINK-MISMATCH", f"{label}: cell {name!r} uses protocol "
                                 f"{dev.shmem_protocol:#06x}, cell {ref_name!r} {ref.shmem_protocol:#06x}",
                                 dev.location("shmem_protocol"), related=[ref.location("shmem_protocol")],
                                 hint="all peers of a link use one protocol"))
        return
    device = virtio[0][1].shmem_protocol & 0x3FFF
    backends = [(n, d) for n, d in members if d.shmem_protocol >= 0xC000]
    for name, dev in members:
        p = dev.shmem_protocol
        if p < 0x8000 or p & 0x3FFF != device:
            first_name, first = virtio[0]
            out.append(error("LINK-MISMATCH", f"{label}: cell {name!r} uses protocol {p:#06x}, "
                             f"cell {first_name!r} virtio device {device} ({first.shmem_protocol:#06x})",
                             dev.location("shmem_protocol"), related=[first.location("shmem_protocol")],
                             hint="a virtio link has one back-end (0xc000 + device) and front-ends "
                                  "(0x8000 + device)"))
    for name, dev in backends[1:]:
        out.append(error("LINK-MISMATCH", f"{label}: cells {backends[0][0]!r} and {name!r} are both "
                         "virtio back-ends", dev.location("shmem_protocol"),
                         related=[backends[0][1].location("shmem_protocol")],
                         hint="a virtio link has exactly one back-end"))
    if not backends and len(members) >= ref.shmem_peers:
        out.append(error("LINK-MISMATCH", f"{label}: every peer is a virtio front-end; none is the "
                         "back-end", ref.location("shmem_protocol"),
                         hint="give exactly one peer protocol 0xc000 + device"))


def _check_system_pci(facts: _Facts, views: list[_LinkView], out: list[Diagnostic]) -> None:
    physical: dict[tuple[int, int], tuple[Cell, PciDevice]] = {}   # latest owner
    first_owner: dict[tuple[int, int], tuple[Cell, PciDevice]] = {}
    root = facts.system.root
    root_devices: dict[tuple[int, int], PciDevice] = {}
    for cell in facts.cells:
        is_root = cell is root
        in_cell: dict[tuple[int, int], PciDevice] = {}
        for di, dev in enumerate(cell.pci_devices):
            if not isinstance(dev, PciDevice) or dev.type not in PCI_PHYSICAL_TYPES:
                continue
            key = (dev.domain, dev.bdf)
            label = _pci_label(dev, di)
            if key in in_cell:
                out.append(error("PCI-DUPLICATE", f"cell {cell.name!r} lists {label} twice",
                                 dev.location("bdf"), related=[in_cell[key].location("bdf")],
                                 hint="remove one of the entries"))
                continue
            in_cell[key] = dev
            first_owner.setdefault(key, (cell, dev))
            if is_root:
                root_devices[key] = dev
                physical.setdefault(key, (cell, dev))
                continue
            if key not in root_devices:
                out.append(error("PCI-NOT-IN-ROOT", f"cell {cell.name!r}: {label} is not a device of "
                                 f"root cell {root.name!r}", dev.location("bdf"),
                                 related=[root.location("pci_devices", key=True)],
                                 hint="add the device to the root cell's pci_devices"))
            prior = physical.get(key)
            if prior is not None and prior[0] is not root:
                out.append(error("PCI-CONFLICT", f"{label} is in cell {cell.name!r} and in cell "
                                 f"{prior[0].name!r}", dev.location("bdf"),
                                 related=[prior[1].location("bdf")],
                                 hint="a PCI function belongs to one non-root cell"))
            else:
                physical[(dev.domain, dev.bdf)] = (cell, dev)
    seen: dict[int, _LinkView] = {}   # the hypervisor pairs ivshmem endpoints by BDF alone
    for view in views:
        if view.bdf in seen:
            out.append(error("LINK-BDF-DUPLICATE", f"{view.label} and {seen[view.bdf].label} have the "
                             f"same PCI address {format_bdf(view.bdf)}", view.location,
                             related=[seen[view.bdf].location], hint="give each link its own BDF"))
        else:
            seen[view.bdf] = view
        for domain in sorted(view.domains):
            key = (domain, view.bdf)
            if key in first_owner:
                cell, dev = first_owner[key]
                out.append(error("LINK-BDF-CLASH", f"{view.label} uses PCI address {_bdf_text(*key)}, "
                                 f"which is physical device {dev.name or format_bdf(dev.bdf)!r} of cell "
                                 f"{cell.name!r}", view.location, related=[dev.location("bdf")],
                                 hint="pick a free BDF for the link"))


def _check_link_access(facts: _Facts, views: list[_LinkView], intervals: list[AccessInterval],
                       starts: list[int], out: list[Diagnostic]) -> None:
    for view in views:
        if not view.sections:
            continue
        view_link = view.node if isinstance(view.node, Link) else None
        # the TX promise: an output section is writable by its owner only. One finding per
        # region, naming every output section it can write.
        tx: dict[int, tuple[Region, list[tuple[str, int, int]]]] = {}
        for what, owner, lo, hi in view.sections:
            if owner is None:
                continue
            owner_name = view.owners.get(owner)
            owner_text = f" ({owner_name})" if owner_name else ""
            for iv in _intervals_within(intervals, starts, lo, hi):
                for g in iv.cells:
                    if g.cell.name == owner_name or not g.access & WRITE:
                        continue
                    for r in g.regions:
                        if _links_overlap(facts.system, _derived_from(facts.system, r), view_link):
                            continue  # LINK-OVERLAP
                        if r.flags & WRITE:
                            hit = tx.setdefault(id(r), (r, []))[1]
                            if not hit or hit[-1][0] != what + owner_text:
                                hit.append((what + owner_text, lo, hi))
        for r, hits in tx.values():
            if len(hits) == 1:
                what, lo, hi = hits[0]
                text = f"the {what} of {view.label} ({_span(lo, hi)}) is"
            else:
                names = [h[0].removeprefix("output section of ") for h in hits]
                text = (f"the output sections of {', '.join(names[:-1])} and {names[-1]} of "
                        f"{view.label} ({_span(hits[0][1], hits[-1][2])}) are")
            out.append(error("LINK-TX-WRITE", f"{text} writable by {facts.describe(r)}; only "
                             f"{'its' if len(hits) == 1 else 'each one' + chr(39) + 's'} owner may write it",
                             r.location(), related=[view.location],
                             hint="make the region read-only or keep it off the section"))
        # nobody outside the link may read or write it (a region already reported for
        # writing an output section is not reported again)
        reported = set(tx)
        for iv in _intervals_within(intervals, starts, view.start, view.end):
            for g in iv.cells:
                if g.cell.name in view.peers or not g.access & (READ | WRITE):
                    continue
                for r in g.regions:
                    if id(r) in reported or not r.flags & (READ | WRITE):
                        continue
                    if _links_overlap(facts.system, _derived_from(facts.system, r), view_link):
                        continue  # LINK-OVERLAP
                    reported.add(id(r))
                    access = "read and write" if r.flags & WRITE and r.flags & READ else \
                        ("write" if r.flags & WRITE else "read")
                    span = _span(max(r.phys, view.start), min(r.end, view.end))
                    if g.is_root:
                        out.append(warning(
                            "LINK-ROOT-ACCESS", f"root cell {g.cell.name!r} is not a peer of "
                            f"{view.label} but can {access} its memory {span} through "
                            f"{_region_label(r, facts.where[id(r)][1])}",
                            r.location(), related=[view.location],
                            hint="keep the root cell's regions off the link, or make it a peer"))
                    else:
                        out.append(error(
                            "LINK-ACCESS", f"cell {g.cell.name!r} is not a peer of {view.label} but "
                            f"can {access} its memory {span} through "
                            f"{_region_label(r, facts.where[id(r)][1])}",
                            r.location(), related=[view.location],
                            hint="keep the region off the link, or make the cell a peer"))
