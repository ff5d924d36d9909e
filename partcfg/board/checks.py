"""Validate step against a board: an assembled system + the board's facts -> diagnostics.

Runs after the whole-system rules (``validate.py``) when ``partcfg check --board`` names
the machine the system is meant for. It judges what no YAML can tell on its own: that
RAM regions are the board's RAM, that I/O regions have a device behind them, that the
memory the hypervisor, the non-root cells and the links use is kept from the root cell's
Linux, that the platform section describes the interrupt controller, IOMMUs, console and
CPUs the board really has, and that a device handed to a non-root cell comes with its
interrupt lines. Each finding is located in the YAML and names the device-tree node (or
iomem line) on the board's side.
"""

from __future__ import annotations

import bisect
from typing import Callable, Iterable

from ..formats import jailhouse as jh
from ..diagnostics import Diagnostic, Location, error, info, warning
from ..model.assembly import System
from ..model.regions import Region, regions_of_cell
from ..model.system import Cell
from ..units import format_ranges, format_span
from ..wording import arch_name, region_in_cell
from .cmdline import mem_limit_of, memmap_reserved_of
from .facts import DEVICETREE, Board, Span, uncovered

CONSOLE_WORDS = {v: k for k, v in jh.CONSOLE_TYPES.items()}
IOMMU_WORDS = {v: k for k, v in jh.IOMMU_TYPES.items()}
RAM_HINTS = jh.MEM_EXECUTE | jh.MEM_DMA | jh.MEM_LOADABLE
SMALL_DEVICE = 1 << 20


class _Cover:
    """The union of some ranges as sorted disjoint intervals: what lies in it, and what
    does not, in log time per question (a system may have 100,000 regions, a board
    thousands of nodes)."""

    def __init__(self, ranges: Iterable[tuple[int, int]]):
        merged: list[list[int]] = []
        for lo, hi in sorted(r for r in ranges if r[1] > r[0]):
            if merged and lo <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], hi)
            else:
                merged.append([lo, hi])
        self.ranges = [(lo, hi) for lo, hi in merged]
        self.starts = [lo for lo, _ in self.ranges]

    def parts(self, start: int, end: int) -> list[tuple[int, int]]:
        """The pieces of [start, end) inside the union."""
        i = max(bisect.bisect_right(self.starts, start) - 1, 0)
        result = []
        while i < len(self.ranges) and self.ranges[i][0] < end:
            lo, hi = self.ranges[i]
            if hi > start:
                result.append((max(lo, start), min(hi, end)))
            i += 1
        return result

    def touches(self, start: int, end: int) -> bool:
        i = max(bisect.bisect_right(self.starts, start) - 1, 0)
        for lo, hi in self.ranges[i:i + 2]:
            if lo < end and start < hi:
                return True
        return False

    def gaps(self, start: int, end: int) -> list[tuple[int, int]]:
        return uncovered(start, end, self.parts(start, end))


def _overlaps(start: int, end: int, lo: int, hi: int) -> bool:
    return start < hi and lo < end


def _intersections(start: int, end: int, spans: Iterable[Span]) -> list[tuple[int, int, Span]]:
    return [(max(start, s.start), min(end, s.end), s) for s in spans if _overlaps(start, end, s.start, s.end)]


def _label(cell: Cell, r: Region, index: int) -> str:
    return region_in_cell(r, index, cell.name)


def _physical(r: Region) -> bool:
    return r.size > 0 and not r.flags & jh.MEM_COMM_REGION


class _Checker:
    """The facts of one system against one board, and the findings so far."""

    def __init__(self, system: System, board: Board):
        self.system = system
        self.board = board
        self.out: list[Diagnostic] = []
        self.regions = [(cell, regions_of_cell(system, cell)) for cell in system.all_cells]
        self.root = system.root
        gic = board.gic
        frames: list[Span] = []
        if gic is not None and gic.version == 3 and gic.redistributor_regions:
            first = gic.redistributor_regions[0]
            used = max(len(board.cpus), 1) * gic.redistributor_stride
            frames.append(Span(first.start, min(first.end, first.start + used), first.what, first.where))
        # everything the hypervisor itself drives: never a device of a cell
        self.hypervisor_hardware: list[Span] = [
            s for s in ((gic.distributor, gic.cpu_interface, gic.hyp_interface, gic.virt_interface)
                        if gic else ()) if s is not None] + frames
        if gic is not None:
            self.hypervisor_hardware += [s for its in gic.its for s in its.spans]
        self.hypervisor_hardware += [u.span for u in board.iommus]
        if board.kind != DEVICETREE:  # x86: the hypervisor owns the IOAPICs and MMCONFIG
            self.hypervisor_hardware += board.ioapics + [h.span for h in board.pci_hosts]
        self.memory = _Cover((m.start, m.end) for m in board.memory)
        self.hardware = _Cover((s.start, s.end) for s, _ in self.device_spans())
        # devices by start, to find those behind a region: a small device reaches at most
        # SMALL_DEVICE back from its start; the few large ones (flash, PCI windows) are
        # looked at one by one
        spans = [(s.start, s.end, d) for d in board.devices for s in d.spans]
        self.by_start = sorted((t for t in spans if t[1] - t[0] <= SMALL_DEVICE), key=lambda t: (t[0], t[1]))
        self.starts = [t[0] for t in self.by_start]
        self.large = [t for t in spans if t[1] - t[0] > SMALL_DEVICE]

    # --- memory: RAM on the board, I/O on a device ----------------------------------------------

    def is_ram(self, r: Region) -> bool:
        if r.flags & jh.MEM_IO:
            return False
        if r.link is not None or r.flags & RAM_HINTS:
            return True
        return self.memory.touches(r.phys, r.end)

    def devices_at(self, start: int, end: int) -> list:
        """The board's devices with registers in [start, end), each once, in address order."""
        lo = bisect.bisect_left(self.starts, start - SMALL_DEVICE + 1)
        hi = bisect.bisect_left(self.starts, end)
        found = {id(d): (first, d) for first, last, d in self.by_start[lo:hi] if last > start}
        for first, last, d in self.large:
            if first < end and start < last:
                found.setdefault(id(d), (first, d))
        return [d for _, d in sorted(found.values(), key=lambda t: t[0])]

    def device_spans(self) -> list[tuple[Span, str]]:
        spans = [(s, d.path) for d in self.board.devices for s in d.spans]
        spans += [(s, s.what) for s in self.hypervisor_hardware]
        return spans

    def check_regions(self) -> None:
        hv = self.system.platform.hypervisor_memory
        if hv.size:
            gaps = self.memory.gaps(hv.phys, hv.phys + hv.size)
            if gaps:
                self.out.append(error(
                    "BOARD-RAM", f"the hypervisor memory ({format_span(hv.phys, hv.phys + hv.size)}) is not "
                    f"in the board's memory at {self.gap_text(gaps)} ({self.memory_text()})",
                    hv.location("phys"), related=[self.board.location],
                    hint="place the hypervisor memory in RAM the board has"))
        for cell, regions in self.regions:
            for index, r in enumerate(regions):
                if not _physical(r):
                    continue
                if self.is_ram(r):
                    gaps = self.memory.gaps(r.phys, r.end)
                    if gaps:
                        self.out.append(error(
                            "BOARD-RAM", f"{_label(cell, r, index)} ({format_span(r.phys, r.end)}) is RAM, but "
                            f"{self.gap_text(gaps)} is not in the board's memory ({self.memory_text()})",
                            r.location(), related=[self.board.location],
                            hint="keep RAM regions inside the board's memory nodes, or flag a "
                                 "device region io"))
                elif not self.hardware.touches(r.phys, r.end):
                    self.out.append(warning(
                        "BOARD-NO-DEVICE", f"no device at {format_span(r.phys, r.end)}: {_label(cell, r, index)} "
                        f"maps it, but {self.board.source} describes nothing there",
                        r.location(), related=[self.board.location],
                        hint="check the address against the board's device tree (or iomem); "
                             "remove the region if the device does not exist"))

    def gap_text(self, gaps: list[tuple[int, int]]) -> str:
        return ", ".join(format_span(lo, hi) for lo, hi in gaps[:3]) + (", ..." if len(gaps) > 3 else "")

    def memory_text(self) -> str:
        if not self.board.memory:
            return "the board describes no memory"
        parts = [f"{m.what} {format_span(m.start, m.end)}" for m in sorted(self.board.memory, key=lambda m: m.start)]
        return "memory: " + ", ".join(parts[:4]) + (", ..." if len(parts) > 4 else "")

    def check_unused_devices(self) -> None:
        root = _Cover((r.phys, r.end) for c, rs in self.regions if c is self.root for r in rs if _physical(r))
        where = self.root.location("name")
        for device in self.board.devices:
            if not device.enabled or any(root.touches(s.start, s.end) for s in device.spans):
                continue
            spans = ", ".join(format_span(s.start, s.end) for s in device.spans[:2])
            self.out.append(info(
                "BOARD-DEVICE-UNUSED", f"the board's device {device.path} ({spans}) is in no region of "
                f"the root cell {self.root.name!r}", where,
                hint="add a region for it if the root cell's Linux should use the device"))
        gic = self.board.gic
        for its in (gic.its if gic else ()):
            spans = ", ".join(format_span(s.start, s.end) for s in its.spans)
            self.out.append(info(
                "BOARD-DEVICE-UNUSED", f"the board's GIC has an ITS ({its.path}, {spans}) that the "
                f"hypervisor does not emulate; the root cell {self.root.name!r} cannot use it", where,
                hint="delete the ITS node from the root cell's device tree (QEMU: -machine its=off) "
                     "so Linux does not probe it"))

    # --- memory kept from Linux -----------------------------------------------------------------

    def linux_ram(self) -> tuple[list[tuple[int, int]], str]:
        """What the root cell's Linux may allocate, and a note on how that was derived."""
        board = self.board
        ram = sorted((s.start, s.end) for s in board.linux_ram)
        notes = []
        limit = mem_limit_of(board.bootargs)
        if limit is not None:
            value, word = limit
            if board.kind == DEVICETREE:  # ARM: the first `value` bytes of RAM are kept
                kept, left = [], value
                for lo, hi in ram:
                    take = min(hi - lo, left)
                    if take > 0:
                        kept.append((lo, lo + take))
                    left -= take
                ram = kept
            else:  # x86: addresses from `value` up are dropped
                ram = [(lo, min(hi, value)) for lo, hi in ram if lo < value]
            notes.append(f"{word} in {board.bootargs_what}")
        taken = [(lo, hi) for lo, hi, _ in memmap_reserved_of(board.bootargs)]
        taken += [(s.start, s.end) for s in board.reserved_no_map]
        taken_cover = _Cover(taken)
        result = []
        for lo, hi in ram:
            result.extend(taken_cover.gaps(lo, hi))
        return result, "; ".join(notes)

    def check_reserved(self) -> None:
        linux, note = self.linux_ram()
        # (start, end, what it is, where it is written): the last two only asked for on a finding
        needed: list[tuple[int, int, Callable[[], str], Callable[[], Location | None]]] = []
        hv = self.system.platform.hypervisor_memory
        if hv.size:
            needed.append((hv.phys, hv.phys + hv.size, lambda: "the hypervisor memory",
                           lambda: hv.location("phys")))
        for cell, regions in self.regions:
            if cell is self.root:
                continue
            for index, r in enumerate(regions):
                if _physical(r) and r.link is None and self.is_ram(r):
                    needed.append((r.phys, r.end, lambda c=cell, r=r, i=index: _label(c, r, i), r.location))
        for name, link in self.system.links.items():
            if link.size:
                needed.append((link.base, link.base + link.size,
                               lambda name=name: f"the shared memory of link {name!r}",
                               lambda link=link: link.location("base")))
        linux_cover = _Cover(linux)
        for start, end, describe, locate in needed:
            exposed = linux_cover.parts(start, end)
            if not exposed:
                continue
            what, where = describe(), locate()
            mapped = _intersections(start, end, self.board.reserved_mapped)
            extra = ""
            if mapped:
                extra = (f"; {mapped[0][2].what} reserves it without no-map, so Linux still maps it")
            nodes = sorted({m.what for m in self.board.linux_ram
                            for lo, hi in exposed if _overlaps(lo, hi, m.start, m.end)})
            self.out.append(error(
                "BOARD-NOT-RESERVED", f"{what} ({format_span(start, end)}) is not reserved from Linux: "
                f"{self.gap_text(exposed)} is RAM the root cell's Linux may allocate "
                f"({', '.join(nodes)}{'; ' + note if note else ''}){extra}",
                where, related=[self.board.location],
                hint=self.reserve_hint(start, end)))

    def reserve_hint(self, start: int, end: int) -> str:
        if self.board.kind == DEVICETREE:
            return ("reserve it: a /reserved-memory child with no-map covering it, or mem= on the "
                    "kernel command line (/chosen/bootargs, or check --bootargs)")
        return (f"reserve it: memmap={end - start:#x}${start:#x} (or mem=) on the kernel command "
                "line (proc/cmdline, or check --bootargs)")

    # --- platform against the hardware ----------------------------------------------------------

    def check_gic(self) -> None:
        gic, p = self.board.gic, self.system.platform
        arm = p.arm
        if gic is None:
            if arm is not None and (arm.gicd_base or arm.gic_version):
                self.out.append(error("BOARD-GIC", f"{self.board.source} describes no GIC, but the "
                                      "platform has one", arm.location(), related=[self.board.location]))
            return
        related = [gic.where or self.board.location]
        if arm is None:
            self.out.append(error(
                "BOARD-GIC", f"the board has a GICv{gic.version} ({gic.path}), but the platform says "
                "nothing about its interrupt controller", p.location("arch"), related=related,
                hint="add platform.arm with gic_version, gicd_base and the other bases"))
            return
        if arm.gic_version != gic.version:
            self.out.append(error(
                "BOARD-GIC", f"gic_version is {arm.gic_version}, but the board's GIC {gic.path} is "
                f"a GICv{gic.version}", arm.location("gic_version"), related=related,
                hint=f"set gic_version: {gic.version}"))
        expected = (("gicd_base", gic.distributor, "distributor"),
                    ("gicc_base", gic.cpu_interface, "CPU interface"),
                    ("gich_base", gic.hyp_interface, "hypervisor interface"),
                    ("gicv_base", gic.virt_interface, "virtual CPU interface"))
        for key, span, what in expected:
            value = getattr(arm, key)
            if span is None:
                if value:
                    self.out.append(error(
                        "BOARD-GIC", f"{key} is {value:#x}, but the board's GICv{gic.version} {gic.path} "
                        f"has no {what}", arm.location(key), related=related, hint=f"drop {key}"))
                continue
            if value != span.start:
                have = f"is {value:#x}" if value else "is not set"
                self.out.append(error(
                    "BOARD-GIC", f"{key} {have}, but the board's GIC {what} is at {span.start:#x} "
                    f"({span.what}, {format_span(span.start, span.end)})", arm.location(key) if value
                    else arm.location(), related=related, hint=f"set {key}: {span.start:#x}"))
        if gic.maintenance_irq is not None and arm.maintenance_irq != gic.maintenance_irq:
            self.out.append(error(
                "BOARD-GIC", f"maintenance_irq is {arm.maintenance_irq}, but the board's GIC {gic.path} "
                f"signals maintenance on line {gic.maintenance_irq} (its interrupts property)",
                arm.location("maintenance_irq"), related=related,
                hint=f"set maintenance_irq: {gic.maintenance_irq}"))
        if gic.version == 3:
            self.check_redistributors()
        elif arm.gicr_base:
            self.out.append(error(
                "BOARD-GICR", f"gicr_base is {arm.gicr_base:#x}, but the board's GICv{gic.version} "
                f"{gic.path} has no redistributors", arm.location("gicr_base"), related=related,
                hint="drop gicr_base"))

    def check_redistributors(self) -> None:
        gic, arm = self.board.gic, self.system.platform.arm
        assert gic is not None and arm is not None
        related = [gic.where or self.board.location]
        if not gic.redistributor_regions:
            self.out.append(error("BOARD-GICR", f"the board's GICv3 {gic.path} lists no redistributor "
                                  "region", arm.location("gicr_base"), related=related))
            return
        first = gic.redistributor_regions[0]
        if arm.gicr_base != first.start:
            have = f"is {arm.gicr_base:#x}" if arm.gicr_base else "is not set"
            self.out.append(error(
                "BOARD-GICR", f"gicr_base {have}, but the board's redistributors start at "
                f"{first.start:#x} ({first.what})", arm.location("gicr_base") if arm.gicr_base
                else arm.location(), related=related, hint=f"set gicr_base: {first.start:#x}"))
            return
        stride = gic.redistributor_stride
        cpus = max(len(self.board.cpus), (max(self.root.cpus) + 1) if self.root.cpus else 0)
        frames = first.size // stride
        if frames < cpus:
            self.out.append(error(
                "BOARD-GICR", f"the board's redistributor region {first.what} ({format_span(first.start, first.end)}) "
                f"holds {frames} redistributor{'s' if frames != 1 else ''} of {stride:#x} bytes, but "
                f"there are {cpus} CPUs: the redistributor of CPU "
                f"{format_ranges(range(frames, cpus))} is missing",
                arm.location("gicr_base"), related=related,
                hint="every CPU needs its redistributor; check the device tree's GIC reg "
                     "(and redistributor-stride) or the CPU count"))

    def check_its_and_iommus(self) -> None:
        gic = self.board.gic
        for its in (gic.its if gic else ()):
            for cell, regions in self.regions:
                for index, r in enumerate(regions):
                    if _physical(r) and any(_overlaps(r.phys, r.end, s.start, s.end) for s in its.spans):
                        self.out.append(error(
                            "BOARD-ITS", f"{_label(cell, r, index)} maps the GIC ITS {its.path}, which the "
                            "hypervisor does not emulate: the cell could steer any device's MSIs",
                            r.location(), related=[its.where or self.board.location],
                            hint="remove the ITS from the region (and from the root cell's device tree)"))
        p = self.system.platform
        board_units = {u.span.start: u for u in self.board.iommus}
        for i, unit in enumerate(p.iommus):
            if not unit.base:
                continue
            found = board_units.get(unit.base)
            if found is None:
                known = ", ".join(f"{u.path} at {u.span.start:#x}" for u in self.board.iommus) or "none"
                self.out.append(error(
                    "BOARD-IOMMU", f"IOMMU unit {i} is at {unit.base:#x}, but the board has no IOMMU "
                    f"there (the board's: {known})", unit.location("base"), related=[self.board.location],
                    hint="use the base of an IOMMU node of the board, or remove the unit"))
                continue
            word = IOMMU_WORDS.get(unit.type, str(unit.type))
            if found.kind is not None and found.kind != word:
                self.out.append(error(
                    "BOARD-IOMMU", f"IOMMU unit {i} is of type {word}, but the board's {found.path} is "
                    f"{found.kind}", unit.location("type"), related=[self.board.location],
                    hint=f"set type: {found.kind}"))
            if unit.size and unit.size != found.span.size:
                self.out.append(error(
                    "BOARD-IOMMU", f"IOMMU unit {i} has size {unit.size:#x}, but the board's "
                    f"{found.path} spans {found.span.size:#x} bytes", unit.location("size"),
                    related=[self.board.location], hint=f"set size: {found.span.size:#x}"))
        configured = {unit.base for unit in p.iommus}
        for unit in self.board.iommus:
            if unit.span.start not in configured:
                kind = unit.kind or "a kind the hypervisor has no driver for"
                self.out.append(warning(
                    "BOARD-IOMMU-UNUSED", f"the board's IOMMU {unit.path} ({kind}, "
                    f"{format_span(unit.span.start, unit.span.end)}) is not among the platform's iommus: "
                    "DMA of the devices behind it is not confined to their cells",
                    p.location("iommus") if p.iommus else p.location("arch"), related=[self.board.location],
                    hint=f"add {{type: {unit.kind}, base: {unit.span.start:#x}, size: {unit.span.size:#x}}} "
                         "to platform.iommus" if unit.kind else "assign DMA-capable devices behind "
                         "it to the root cell only"))

    def check_console(self) -> None:
        console = self.system.platform.debug_console
        if not console.type or not console.address:
            return
        if self.board.kind != DEVICETREE and not console.flags & jh.CONSOLE_FLAGS["mmio"]:
            return  # an x86 port-I/O UART: not in the snapshot
        word = CONSOLE_WORDS.get(console.type, str(console.type))
        uart = next((u for u in self.board.uarts if u.span.start == console.address), None)
        if uart is None:
            known = ", ".join(f"{u.path} at {u.span.start:#x}" for u in self.board.uarts) or "none"
            self.out.append(error(
                "BOARD-CONSOLE", f"the debug console is at {console.address:#x}, but the board has no "
                f"UART there (the board's UARTs: {known})", console.location("address"),
                related=[self.board.location],
                hint=f"use the board's console UART ({self.board.stdout})" if self.board.stdout else None))
            return
        if uart.kind != word:
            kind = uart.kind or "a kind the hypervisor has no driver for"
            self.out.append(error(
                "BOARD-CONSOLE", f"the debug console is of type {word}, but the UART at "
                f"{console.address:#x} ({uart.path}, compatible {', '.join(uart.compatible[:2])}) is {kind}",
                console.location("type"), related=[self.board.location],
                hint=f"set type: {uart.kind}" if uart.kind else None))

    def check_cpus(self) -> None:
        board_cpus = len(self.board.cpus)
        if not board_cpus:
            return
        root = set(self.root.cpus)
        beyond = sorted(c for c in root if c >= board_cpus)
        missing = sorted(set(range(board_cpus)) - root)
        if not beyond and not missing:
            return
        names = self.board.cpus[0] + (f" .. {self.board.cpus[-1]}" if board_cpus > 1 else "")
        parts = []
        if beyond:
            parts.append(f"CPU{'s' if len(beyond) > 1 else ''} {format_ranges(beyond)} "
                         f"{'are' if len(beyond) > 1 else 'is'} not on the board")
        if missing:
            parts.append(f"CPU{'s' if len(missing) > 1 else ''} {format_ranges(missing)} of the board "
                         f"{'are' if len(missing) > 1 else 'is'} not in the root cell")
        self.out.append(error(
            "BOARD-CPUS", f"the board has {board_cpus} CPU{'s' if board_cpus != 1 else ''} ({names}), "
            f"the root cell {self.root.name!r} has CPUs {format_ranges(root) or 'none'}: "
            + "; ".join(parts), self.root.location("cpus"), related=[self.board.location],
            hint=f"the root cell holds every CPU the board has: cpus: 0-{board_cpus - 1}"
            if board_cpus > 1 else "the root cell holds every CPU the board has: cpus: 0"))

    def check_device_interrupts(self) -> None:
        for cell, regions in self.regions:
            if cell is self.root:
                continue
            lines = {line for chip in cell.irqchips for line in chip.interrupts}
            for index, r in enumerate(regions):
                if not _physical(r) or self.is_ram(r):
                    continue
                for device in self.devices_at(r.phys, r.end):
                    missing = sorted(line for line in device.interrupts if line >= 32 and line not in lines)
                    if missing:
                        many = len(missing) > 1
                        self.out.append(error(
                            "BOARD-IRQ", f"the board's device {device.path} in {_label(cell, r, index)} "
                            f"raises interrupt line{'s' if many else ''} {format_ranges(missing)}, which "
                            f"{'are' if many else 'is'} not in the cell's irqchips",
                            r.location(), related=[cell.location("irqchips") if cell.irqchips
                                                   else cell.location("name"), self.board.location],
                            hint=f"add {format_ranges(missing)} to the interrupts of the cell's irqchip "
                                 "(they come out of the root cell's)"))

    def check_pci(self) -> None:
        pci = self.system.platform.pci
        if not pci.mmconfig_base:
            return
        start, end = pci.mmconfig_base, pci.mmconfig_base + ((pci.end_bus + 1) << 20)
        if pci.virtual:
            clashes = [what for s, what in self.device_spans() if _overlaps(start, end, s.start, s.end)]
            clashes += [m.what for m in self.board.memory if _overlaps(start, end, m.start, m.end)]
            if clashes:
                self.out.append(error(
                    "BOARD-PCI", f"the virtual PCI host's configuration window ({format_span(start, end)}) "
                    f"lies on {', '.join(sorted(set(clashes))[:3])} of the board",
                    pci.location("mmconfig_base"), related=[self.board.location],
                    hint="move mmconfig_base to an address where the board has nothing"))
            return
        host = next((h for h in self.board.pci_hosts if h.span.start == start), None)
        if host is None:
            known = ", ".join(f"{h.span.what} at {h.span.start:#x}" for h in self.board.pci_hosts) or "none"
            self.out.append(error(
                "BOARD-PCI", f"mmconfig_base is {start:#x}, but the board has no PCI configuration "
                f"window there (the board's: {known})", pci.location("mmconfig_base"),
                related=[self.board.location], hint="use the base of the board's ECAM/MMCONFIG window"))
        elif pci.end_bus > host.end_bus:
            self.out.append(error(
                "BOARD-PCI", f"end_bus is {pci.end_bus:#x}, but the board's window {host.span.what} "
                f"covers buses {host.start_bus:#x}-{host.end_bus:#x}", pci.location("end_bus"),
                related=[host.span.where], hint=f"set end_bus: {host.end_bus:#x}"))

    def check_ioapics(self) -> None:
        if self.board.kind == DEVICETREE:
            return
        bases = {s.start: s for s in self.board.ioapics}
        for chip in self.root.irqchips:
            if chip.address and chip.address not in bases:
                known = ", ".join(f"{s.what} at {s.start:#x}" for s in self.board.ioapics) or "none"
                self.out.append(error(
                    "BOARD-IOAPIC", f"irqchip at {chip.address:#x} of the root cell is no IOAPIC of the "
                    f"board (the board's: {known})", chip.location("address"),
                    related=[self.board.location], hint="use the address of an IOAPIC in /proc/iomem"))


def diagnostics_of_board(system: System, board: Board) -> list[Diagnostic]:
    """Every finding of ``system`` measured against ``board``."""
    arch = arch_name(system.arch)
    if arch not in board.arch_words:
        return [error("BOARD-ARCH", f"system {system.name!r} is {arch}, but {board.source} describes "
                      f"a{'n' if board.arch_words[0][0] in 'ax' else ''} {'/'.join(board.arch_words)} "
                      f"machine ({board.kind})", system.platform.location("arch"),
                      related=[board.location], hint="check the system against its own board")]
    checker = _Checker(system, board)
    checker.check_regions()
    checker.check_unused_devices()
    checker.check_reserved()
    if board.kind == DEVICETREE:
        checker.check_gic()
    checker.check_its_and_iommus()
    checker.check_console()
    checker.check_cpus()
    checker.check_device_interrupts()
    checker.check_pci()
    checker.check_ioapics()
    return checker.out


def diagnostics_on_board(systems: Iterable[System], board: Board) -> list[Diagnostic]:
    """The board findings of every system given (each is measured against the one board)."""
    result: list[Diagnostic] = []
    for system in systems:
        result.extend(diagnostics_of_board(system, board))
    return result
