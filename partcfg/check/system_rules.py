"""Validate layer: the rules that look at all cells of a system together.

Part of step 3 of the flow. The memory ones are judged on the effective-access map
(``access_map``), so that a property such as "the root cell keeps no access to what a
non-root cell owns" holds for what each cell can really do through all of its regions,
not for each region alone; then CPUs, interrupt lines, PCI devices and, through
``link_rules``, the links.
"""

from __future__ import annotations

from functools import partial
from typing import Callable

from ..diagnostics import Diagnostic, Location, error, warning
from ..formats import jailhouse as jh
from ..model.regions import Region, peer_links_of
from ..model.system import Cell, PciDevice
from ..units import format_bdf, format_ranges
from .access_map import AccessInterval, access_intervals_of, intervals_within
from .cell_rules import bdf_text, lines_in_window, pci_label
from .facts import (ADDRESS_LIMIT, ARCH_ARM, ARCH_ARM64, ARCH_X86, PAGE, SystemFacts, several,
                    span_text)
from .link_rules import (LinkView, check_link_access, check_link_overlaps, declared_link_views,
                         raw_link_views)

Where = Callable[[], Location | None]  # a position, found when a finding needs it


XAPIC_BASE = 0xFEE00000
PCI_PHYSICAL_TYPES = (jh.PCI_TYPES["device"], jh.PCI_TYPES["bridge"])


def system_diagnostics(facts: SystemFacts) -> list[Diagnostic]:
    """Every whole-system rule (the link rules among them) on the system ``facts`` holds."""
    out: list[Diagnostic] = []
    intervals = access_intervals_of(facts.cells, facts.regions)
    starts = [iv.start for iv in intervals]
    _check_root_coverage_and_isolation(facts, intervals, out)
    _check_reserved(facts, intervals, starts, out)
    _check_system_cpus(facts, out)
    _check_system_irqs(facts, out)
    check_link_overlaps(facts.system, out)
    views = declared_link_views(facts, out) + raw_link_views(facts, out)
    _check_system_pci(facts, views, out)
    check_link_access(facts, views, intervals, starts, out)
    _check_intx_lines(facts, out)
    return out


def _check_intx_lines(facts: SystemFacts, out: list[Diagnostic]) -> None:
    """ARM: a link with INTx raises SPI 32 + vpci_irq_base + pin - 1 in each peer, pin
    ((bdf >> 3) & 3) + 1 (arm-common/ivshmem.c); a cell that does not own that line in
    its GIC irqchip entry never sees the link's interrupts."""
    system = facts.system
    if system.arch not in (ARCH_ARM, ARCH_ARM64):
        return
    gicd = system.platform.arm.gicd_base if system.platform.arm is not None else None
    by_peer = peer_links_of(system)
    for cell in facts.cells:
        # positions as functions: finding one composes the file's YAML node tree, and
        # only a finding needs it
        endpoints = [(f"ivshmem device {bdf_text(d.domain, d.bdf)}", d.bdf, d.msix_vectors,
                      partial(d.location, "bdf")) for d in cell.pci_devices
                     if isinstance(d, PciDevice) and d.type == jh.PCI_TYPE_IVSHMEM]
        endpoints += [(f"link {name!r}", link.bdf, link.interrupts, partial(link.location, key=True))
                      for name, link, _ in by_peer.get(cell.name, [])]
        owned: set[int] = set()
        for chip in cell.irqchips:
            if gicd is None or chip.address == gicd:
                owned |= lines_in_window(chip)
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
                    "link's interrupts", where(),
                    related=[cell.location("vpci_irq_base") if "vpci_irq_base" in cell.model_fields_set
                             else cell.location("name")],
                    hint=f"add line {line} to the cell's irqchip, or change vpci_irq_base"))


def _check_root_coverage_and_isolation(facts: SystemFacts, intervals: list[AccessInterval],
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
        shown = ", ".join(span_text(s, e) for s, e in gaps[:3])
        more = f" and {len(gaps) - 3} more ranges" if len(gaps) > 3 else ""
        out.append(warning("MEM-NOT-IN-ROOT", f"{facts.describe(r)} ({span_text(r.phys, r.end)}) is not "
                           f"inside the root cell's memory: {shown}{more} "
                           f"{'is' if len(gaps) == 1 and not more else 'are'} covered by no region of "
                           f"root cell {facts.cells[0].name!r}; the hypervisor maps it into this "
                           "cell only (legal, e.g. for a device window, but unusual)", r.location(),
                           hint="if the range should come from the root cell, add it there or "
                                "fix the address"))
    for private, r in shared_pairs.values():
        lo, hi = max(private.phys, r.phys), min(private.end, r.end)
        out.append(error("ISO-PRIVATE", f"{facts.describe(private)} is private (not rootshared), but "
                         f"{facts.describe(r)} also covers {span_text(lo, hi)}",
                         private.location(), related=[r.location()],
                         hint="remove the overlap, or share the memory through a link"))


def _reserved_ranges_of(facts: SystemFacts) -> list[tuple[int, int, str, str, Where]]:
    """(start, end, rule, what, location) of every range no cell may map; the location
    as a function (finding a position composes the file's YAML node tree, and only an
    overlap needs it)."""
    system = facts.system
    p = system.platform
    result: list[tuple[int, int, str, str, Where]] = []
    hv = p.hypervisor_memory
    if hv.size:
        result.append((hv.phys, hv.phys + hv.size, "MEM-HYPERVISOR", "the hypervisor memory",
                       hv.location))
    if p.pci.mmconfig_base:
        size = (p.pci.end_bus + 1) << 20
        result.append((p.pci.mmconfig_base, p.pci.mmconfig_base + size, "MEM-MMCONFIG",
                       "the PCI MMCONFIG window", partial(p.pci.location, "mmconfig_base")))
    for i, unit in enumerate(p.iommus):
        if unit.base:
            # a unit without a size still owns its first register page
            result.append((unit.base, unit.base + (unit.size or PAGE), "MEM-IOMMU",
                           f"the registers of IOMMU unit {i}", partial(unit.location, "base")))
    if system.arch == ARCH_X86:
        result.append((XAPIC_BASE, XAPIC_BASE + PAGE, "MEM-IRQCHIP", "the xAPIC page",
                       partial(p.location, "arch")))
        seen: set[int] = set()
        for chip in system.root.irqchips:
            page = chip.address & ~(PAGE - 1)
            if chip.address and page not in seen:
                seen.add(page)
                result.append((page, page + PAGE, "MEM-IRQCHIP", "the IOAPIC page",
                               partial(chip.location, "address")))
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
                result.append((base, base + size, "MEM-IRQCHIP", what, partial(arm.location, key)))
    result.sort(key=lambda t: (t[0], t[1]))
    return result


def _check_reserved(facts: SystemFacts, intervals: list[AccessInterval], starts: list[int],
                    out: list[Diagnostic]) -> None:
    # few reserved ranges: look each one up in the map instead of every region in them
    hits = []
    for start, end, rule, what, where in _reserved_ranges_of(facts):
        seen: set[int] = set()
        for iv in intervals_within(intervals, starts, start, end):
            for grant in iv.cells:
                for r in grant.regions:
                    if id(r) not in seen:
                        seen.add(id(r))
                        hits.append((facts.where[id(r)], r, start, end, rule, what, where))
    hits.sort(key=lambda h: h[0])
    for _, r, start, end, rule, what, where in hits:
        lo, hi = r.phys, r.end
        out.append(error(rule, f"{facts.describe(r)} ({span_text(lo, hi)}) overlaps {what} "
                         f"({span_text(start, end)}) at {span_text(max(lo, start), min(hi, end))}",
                         r.location(), related=[where()],
                         hint="no cell may map it; move or shrink the region"))


def _check_system_cpus(facts: SystemFacts, out: list[Diagnostic]) -> None:
    root = facts.system.root
    root_cpus = set(root.cpus)
    owner: dict[int, Cell] = {}
    cell_by_id = {id(c): c for c in facts.system.cells}
    taken: set[int] = set()
    for cell in facts.system.cells:
        foreign = [c for c in cell.cpus if c not in root_cpus]
        if foreign:
            what, verb = several("CPU", foreign)
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
            what, verb = several("CPU", cpus)
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


def _check_system_irqs(facts: SystemFacts, out: list[Diagnostic]) -> None:
    root = facts.system.root
    root_lines: dict[int, set[int]] = {}
    root_chip: dict[int, object] = {}
    for chip in root.irqchips:
        root_lines.setdefault(chip.address, set()).update(lines_in_window(chip))
        root_chip.setdefault(chip.address, chip)
    owner: dict[tuple[int, int], tuple[Cell, object]] = {}
    arm = facts.system.platform.arm if facts.system.arch in (ARCH_ARM, ARCH_ARM64) else None
    for cell in facts.system.cells:
        for chip in cell.irqchips:
            if arm is not None and chip.address != arm.gicd_base:
                continue  # ignored by the hypervisor (IRQ-CHIP-IGNORED says so)
            lines = sorted(lines_in_window(chip))
            mine = root_lines.get(chip.address, set())
            foreign = [x for x in lines if x not in mine]
            if foreign:
                rc = root_chip.get(chip.address)
                what, verb = several("interrupt line", foreign)
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
                what, verb = several("interrupt line", xs)
                out.append(error("IRQ-CONFLICT", f"{what} of irqchip {chip.address:#x} {verb} in cell "
                                 f"{cell.name!r} and in cell "
                                 f"{other_cell.name!r}", chip.location("interrupts"),
                                 related=[other_chip.location("interrupts")],
                                 hint="an interrupt line belongs to one non-root cell"))


def _check_system_pci(facts: SystemFacts, views: list[LinkView], out: list[Diagnostic]) -> None:
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
            label = pci_label(dev, di)
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
    seen: dict[int, LinkView] = {}   # the hypervisor pairs ivshmem endpoints by BDF alone
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
                out.append(error("LINK-BDF-CLASH", f"{view.label} uses PCI address {bdf_text(*key)}, "
                                 f"which is physical device {dev.name or format_bdf(dev.bdf)!r} of cell "
                                 f"{cell.name!r}", view.location, related=[dev.location("bdf")],
                                 hint="pick a free BDF for the link"))
