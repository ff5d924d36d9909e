"""Validate layer: the rules that judge one cell alone.

Part of step 3 of the flow. The cell's name and flags, each region (flags, alignment,
overlaps within the cell), CPUs, interrupt lines, port I/O, PCI capabilities, raw ivshmem
devices, link placements, and the configuration size cell create accepts. Regions are
judged as :func:`model.regions.regions_of_cell` lays them out (declared regions and the regions
derived from links, in array order).
"""

from __future__ import annotations

import heapq

from ..diagnostics import Diagnostic, did_you_mean, error, warning
from ..formats import jailhouse as jh
from ..model.assembly import System
from ..model.document import unreadable_keys_of
from ..model.regions import Region, cell_arch
from ..model.system import Cell, Link, LinkPlacement, PciDevice, PciLinkPlacement
from ..units import format_bdf
from ..wording import arch_name
from .facts import (ARCH_ARM, ARCH_ARM64, ARCH_X86, PAGE, field_location, region_label, several,
                    span_text)


AARCH32_FLAG = jh.CELL_FLAGS["aarch32"]
IO_WIDTHS = (0x10000, 0x20000, 0x40000, 0x80000)
PIO_SPACE = 0x10000
PINS_PER_IRQCHIP = 128
GIC_MAX_LINES = 1024
CONFIG_PAGES_LIMIT = 16        # cell create maps the configuration into 16 temporary pages
MAX_PCI_CAPS = 0xFFFF


def cell_diagnostics(system: System | None, cell: Cell, regions: list[Region],
                     peer_links: int | None = None) -> list[Diagnostic]:
    """``peer_links``: how many links of ``system`` the cell is a peer of, when the caller
    knows (counted here otherwise)."""
    out: list[Diagnostic] = []
    is_root = system is not None and cell is system.root
    arch = cell_arch(system, cell) if (system is not None or cell.arch is not None) else None
    _check_cell_name(cell, out)
    _check_cell_flags(system, cell, arch, out)
    _check_region_flags(cell, regions, is_root, out)
    _check_cell_overlaps(system, cell, regions, out)
    _check_cpus(cell, out)
    _check_irqchips(system, cell, arch, out)
    _check_config_size(system, cell, regions, is_root, peer_links, out)
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
                         f"{arch_name(arch)}; only arm64 systems host AArch32 cells",
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
    label = f"{region_label(r, index)} of cell {cell.name!r}"
    flags = r.flags
    if r.size == 0:
        out.append(error("MEM-SIZE-ZERO", f"{label} has size 0", field_location(r, "size"),
                         hint="give it a size, or remove it"))
    if r.phys + r.size > 1 << 64 or r.virt + r.size > 1 << 64:
        out.append(error("MEM-WRAP", f"{label} ends beyond the 64-bit address space",
                         field_location(r, "size")))
    # the widths are a mask of allowed access sizes (hypervisor/mmio.c): several are fine
    widths = [f"io-{8 << n}" for n, w in enumerate(IO_WIDTHS) if flags & w]
    if widths and not flags & jh.MEM_IO:
        out.append(error("MEM-IO-WIDTH", f"{label} has access width{'s' if len(widths) > 1 else ''} "
                         f"{', '.join(widths)} but not the io flag",
                         field_location(r, "flags"), hint="add io, or remove the access widths"))
    unknown = flags & ~jh.MEM_KNOWN_MASK
    if unknown:
        out.append(warning("MEM-FLAGS-UNKNOWN", f"{label} has flag bits {unknown:#x} that "
                           "revision 14 does not define", field_location(r, "flags"), hint="remove the raw bits"))
    if is_root:
        # rootshared has no effect in the root cell either, but upstream's link helper
        # macro sets it there on every board: not worth a warning
        for word in ("loadable",):
            if flags & jh.MEM_FLAGS[word]:
                out.append(warning("MEM-ROOT-FLAGS", f"{label}: {word} has no effect in the root cell",
                                   field_location(r, "flags"), hint=f"remove {word}"))
    if flags & jh.MEM_COMM_REGION:
        if is_root:
            out.append(error("MEM-COMM-REGION", f"{label} is a communication region, but the "
                             "root cell has none", field_location(r, "flags"), hint="remove the region"))
        if r.phys != 0:
            out.append(error("MEM-COMM-REGION", f"{label} is a communication region with phys "
                             f"{r.phys:#x}; it has no physical address (phys must be 0)",
                             field_location(r, "phys"), hint="remove phys; set virt to where the cell sees it"))
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
                             "it and will refuse every access to it", field_location(r, "flags"),
                             hint="add the access sizes the device is used with (io-8, io-16, io-32, "
                                  "io-64; several together are fine) and io-unaligned if it is "
                                  "accessed at unaligned addresses; or align it to 4 KiB"))
        return
    bad = [(key, value) for key, value in (("phys", r.phys), ("virt", r.virt), ("size", r.size))
           if value % PAGE and not (comm and key == "phys")]
    if not bad:
        return
    at = field_location(r, bad[0][0])
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


def links_overlap(system: System | None, a: Link | None, b: Link | None) -> bool:
    """Whether two different declared links cover common memory (LINK-OVERLAP says so once,
    at the links; what their derived regions then do to each other is not repeated)."""
    if system is None or a is None or b is None or a is b:
        return False
    return a.base < b.base + b.size and b.base < a.base + a.size


def link_derived_from(system: System | None, r: Region) -> Link | None:
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
        return span_text(max(sa, sb), min(sa + ra.size, sb + rb.size))

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
            if links_overlap(system, link_derived_from(system, ra), link_derived_from(system, rb)):
                continue  # LINK-OVERLAP
            out.append(error(rule, f"{region_label(rb, b)} and {region_label(ra, a)} of cell "
                             f"{cell.name!r} overlap {where}",
                             rb.location(), related=[ra.location()],
                             hint="shrink or move one of them"))


def _check_config_size(system: System | None, cell: Cell, regions: list[Region], is_root: bool,
                       peer_links: int | None, out: list[Diagnostic]) -> None:
    """cell create refuses a configuration (descriptor plus arrays, as
    jailhouse_cell_config_size counts it) larger than 16 pages (-E2BIG). Each link the
    cell is a peer of adds a PCI device: ``peer_links`` of them, counted by the caller
    for all cells at once (one walk over every link per cell is quadratic in big
    systems), or here when None."""
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
    if peer_links is None:
        all_links = system.links.values() if system is not None else ()
        peer_links = sum(1 for link in all_links if cell.name in link.peers)
    devices += peer_links
    size += peer_links * jh.PCI_DEVICE.size
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
            what, _ = several("CPU", beyond)
            out.append(error("CPU-SET-SIZE", f"cell {cell.name!r}: {what} "
                             f"{'does' if len(beyond) == 1 else 'do'} not fit in a CPU set of {cell.cpu_set_size} bytes (CPUs 0-{limit - 1})",
                             cell.location("cpus"), related=[cell.location("cpu_set_size")],
                             hint="raise cpu_set_size or drop it"))


def lines_in_window(chip) -> set[int]:
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
            what, verb = several("interrupt line", outside)
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
                           f"x86 has; on {arch_name(arch)} they are ignored", cell.location("pio", key=True),
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
        label = pci_label(dev, di)
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


def pci_label(dev: PciDevice, index: int) -> str:
    what = "ivshmem device" if dev.type == jh.PCI_TYPE_IVSHMEM else "PCI device"
    name = f" {dev.name!r}" if dev.name else ""
    return f"{what}{name} {bdf_text(dev.domain, dev.bdf)}" if name else \
        f"{what} #{index} ({bdf_text(dev.domain, dev.bdf)})"


def bdf_text(domain: int, bdf: int) -> str:
    return f"{domain:04x}:{format_bdf(bdf)}" if domain else format_bdf(bdf)


def shmem_start_of(dev: PciDevice, regions: list[Region]) -> int | None:
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
        label = f"cell {cell.name!r}: {pci_label(dev, di)}"
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
        check_protocol_value(label, dev.shmem_protocol, dev, "shmem_protocol", out)
        start = shmem_start_of(dev, regions)
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
            out.append(error("LINK-STATE-TABLE", f"{label}: its state table ({region_label(state, start)}) "
                             f"has {state.size} bytes; {peers} peers need at least {4 * peers}",
                             state.location(), related=[dev.location()]))


def check_protocol_value(label: str, protocol: int, node: Link | PciDevice, key: str,
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
