"""Layout layer: an assembled (and validated) system -> the exact arrays each blob holds.

Fourth step of the flow (after validate). Resolves every name into an index
(capability groups, ivshmem ``shmem_regions_start``), places derived link entries, turns
CPU sets and interrupt lines into bitmaps, and yields plain dicts shaped like the
``jailhouse`` struct tables, ready for the renderers. Layout is total: with ``--force``
it must lay out even an invalid system, so a dangling reference becomes 0 here and is
reported by validation instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .formats import jailhouse as jh
from .model.assembly import System
from .model.regions import Region, cell_arch, links_of_cell, peer_links_of, regions_of_cell
from .model.system import Cell, Link, PciDevice, PciLinkPlacement


@dataclass
class PciEntry:
    """One PCI device array entry with where it came from."""
    fields: dict
    origin: str          # "declared" or "link NAME"
    link: str | None = None


@dataclass
class CellLayout:
    cell: Cell
    system: System | None
    arch: int
    is_root: bool
    regions: list[Region]
    pci_devices: list[PciEntry]
    pci_caps: list[dict]
    cpu_set: bytes
    cache_regions: list[dict] = field(default_factory=list)
    irqchips: list[dict] = field(default_factory=list)
    pio_regions: list[dict] = field(default_factory=list)
    stream_ids: list[dict] = field(default_factory=list)
    descriptor: dict = field(default_factory=dict)

    @property
    def memory_regions(self) -> list[dict]:
        return [{"phys_start": r.phys, "virt_start": r.virt, "size": r.size, "flags": r.flags}
                for r in self.regions]


@dataclass
class SystemLayout:
    system: System
    header: dict
    cells: list[CellLayout]   # root first

    @property
    def root(self) -> CellLayout:
        return self.cells[0]


def cpu_bitmap_of(cpus: tuple[int, ...], size: int | None) -> bytes:
    """Bit N = CPU N, as little-endian u64 words; ``size`` bytes (default: whole words)."""
    if size is None:
        size = 8 * ((max(cpus, default=0) // 64) + 1)
    bitmap = bytearray(size)
    for cpu in cpus:
        if cpu // 8 < size:
            bitmap[cpu // 8] |= 1 << (cpu % 8)
    return bytes(bitmap)


def pin_bitmap_of(pin_base: int, lines: tuple[int, ...]) -> list[int]:
    words = [0, 0, 0, 0]
    for line in lines:
        bit = line - pin_base
        if 0 <= bit < 128:
            words[bit // 32] |= 1 << (bit % 32)
    return words


def _cap_groups(cell: Cell) -> tuple[list[dict], dict[str, tuple[int, int]]]:
    caps: list[dict] = []
    where: dict[str, tuple[int, int]] = {}
    for group in cell.pci_caps:
        start = len(caps)
        for cap in group.caps:
            caps.append({"id": cap.id | (jh.PCI_EXT_CAP if cap.extended else 0),
                         "start": cap.start, "len": cap.length, "flags": cap.flags})
        where.setdefault(group.name, (start, len(caps) - start))
    return caps, where


def _caps_range(dev: PciDevice, groups: dict[str, tuple[int, int]]) -> tuple[int, int]:
    if not dev.caps:
        return (dev.caps_start or 0), 0
    known = [groups[g] for g in dev.caps if g in groups]
    if not known:
        return 0, 0
    start = known[0][0]
    end = max(s + n for s, n in known)
    return start, end - start


def _region_index(name: str | int | None, regions: list[Region]) -> int:
    if isinstance(name, int):
        return name
    for i, r in enumerate(regions):
        if name is not None and r.name == name:
            return i
    return 0


def link_pci_device_of(link: Link, peer_id: int, regions_start: int) -> dict:
    """The PCI device entry a peer gets for a link (docs/format/ivshmem-v2.md)."""
    return {
        "type": jh.PCI_TYPE_IVSHMEM, "iommu": link.iommu, "domain": link.domain_of_peer(peer_id),
        "bdf": link.bdf,
        "bar_mask": list(link.effective_bar_mask), "num_msix_vectors": link.interrupts,
        "shmem_regions_start": regions_start, "shmem_dev_id": peer_id,
        "shmem_peers": len(link.peers), "shmem_protocol": link.protocol_of_peer(peer_id),
    }


def layout_of_cell(system: System | None, cell: Cell,
                   links: list[tuple[str, Link, int]] | None = None) -> CellLayout:
    """``links``: the cell's ``links_of_cell``, when the caller has it for all cells."""
    if links is None:
        links = links_of_cell(system, cell)
    regions = regions_of_cell(system, cell, links)
    caps, groups = _cap_groups(cell)
    first_region_of_link: dict[str, int] = {}
    for i, r in enumerate(regions):
        if r.link is not None:
            first_region_of_link.setdefault(r.link, i)
    mine = {name: (link, peer) for name, link, peer in links}
    devices: list[PciEntry] = []
    placed: set[str] = set()

    def add_link_device(name: str) -> None:
        link, peer = mine[name]
        devices.append(PciEntry(link_pci_device_of(link, peer, first_region_of_link.get(name, 0)),
                                f"link {name}", name))
        placed.add(name)

    for item in cell.pci_devices:
        if isinstance(item, PciLinkPlacement):
            if item.link in mine and item.link not in placed:
                add_link_device(item.link)
            continue
        caps_start, num_caps = _caps_range(item, groups)
        devices.append(PciEntry({
            "type": item.type, "iommu": item.iommu, "domain": item.domain, "bdf": item.bdf,
            "bar_mask": list(item.bar_mask), "caps_start": caps_start, "num_caps": num_caps,
            "num_msi_vectors": item.msi_vectors, "msi_bits": item.msi_flags,
            "num_msix_vectors": item.msix_vectors, "msix_region_size": item.msix_region_size,
            "msix_address": item.msix_address,
            "shmem_regions_start": _region_index(item.shmem_regions, regions)
            if item.shmem_regions is not None else 0,
            "shmem_dev_id": item.shmem_dev_id, "shmem_peers": item.shmem_peers,
            "shmem_protocol": item.shmem_protocol}, "declared"))
    for name in mine:
        if name not in placed:
            add_link_device(name)

    arch = cell_arch(system, cell)
    is_root = system is not None and cell is system.root
    cpu_set = cpu_bitmap_of(cell.cpus, cell.cpu_set_size)
    layout = CellLayout(
        cell=cell, system=system, arch=arch, is_root=is_root, regions=regions,
        pci_devices=devices, pci_caps=caps, cpu_set=cpu_set,
        cache_regions=[{"start": c.start, "size": c.size, "type": c.type, "padding": c.padding,
                        "flags": c.flags} for c in cell.cache_regions],
        irqchips=[{"address": i.address, "id": i.id, "pin_base": i.pin_base,
                   "pin_bitmap": pin_bitmap_of(i.pin_base, i.interrupts)} for i in cell.irqchips],
        pio_regions=[{"base": p.base, "length": p.length} for p in cell.pio],
        stream_ids=[{"id": s} for s in cell.stream_ids],
    )
    layout.descriptor = {
        "signature": b"" if is_root else jh.CELL_SIGNATURE,
        "architecture": 0 if is_root else arch,
        "revision": 0 if is_root else jh.REVISION,
        "name": cell.name.encode("utf-8"),
        "id": cell.id,
        "flags": cell.flags,
        "cpu_set_size": len(cpu_set),
        "num_memory_regions": len(regions),
        "num_cache_regions": len(layout.cache_regions),
        "num_irqchips": len(layout.irqchips),
        "num_pio_regions": len(layout.pio_regions),
        "num_pci_devices": len(devices),
        "num_pci_caps": len(caps),
        "num_stream_ids": len(layout.stream_ids),
        "vpci_irq_base": cell.vpci_irq_base,
        "cpu_reset_address": cell.cpu_reset_address,
        "msg_reply_timeout": cell.msg_reply_timeout,
        "console": _console_of(cell.console),
    }
    return layout


def _console_of(console) -> dict:
    return {"address": console.address, "size": console.size, "type": console.type,
            "flags": console.flags, "divider": console.divider, "gate_nr": console.gate_nr,
            "clock_reg": console.clock_reg}


def system_header_of(system: System) -> dict:
    p = system.platform
    units = []
    for unit in p.iommus:
        variant = {}
        if unit.amd is not None:
            variant["amd"] = {"bdf": unit.amd.bdf, "base_cap": unit.amd.base_cap,
                              "msi_cap": unit.amd.msi_cap, "features": unit.amd.features}
        if unit.pvu is not None:
            variant["tipvu"] = {"tlb_base": unit.pvu.tlb_base, "tlb_size": unit.pvu.tlb_size}
        units.append({"type": unit.type, "base": unit.base, "size": unit.size, "variant": variant})
    arch: dict = {}
    if p.x86 is not None:
        x = p.x86
        arch["x86"] = {"pm_timer_address": x.pm_timer_address, "apic_mode": x.apic_mode,
                       "vtd_interrupt_limit": x.vtd_interrupt_limit, "tsc_khz": x.tsc_khz,
                       "apic_khz": x.apic_khz}
    if p.arm is not None:
        a = p.arm
        arch["arm"] = {"maintenance_irq": a.maintenance_irq, "gic_version": a.gic_version,
                       "gicd_base": a.gicd_base, "gicc_base": a.gicc_base, "gich_base": a.gich_base,
                       "gicv_base": a.gicv_base, "gicr_base": a.gicr_base}
    hv = p.hypervisor_memory
    return {
        "signature": jh.SYSTEM_SIGNATURE, "architecture": p.arch, "revision": jh.REVISION,
        "flags": p.flags,
        "hypervisor_memory": {"phys_start": hv.phys, "virt_start": hv.virt, "size": hv.size,
                              "flags": hv.flags},
        "debug_console": _console_of(p.debug_console),
        "platform_info": {"pci_mmconfig_base": p.pci.mmconfig_base,
                          "pci_mmconfig_end_bus": p.pci.end_bus,
                          "pci_is_virtual": int(p.pci.virtual), "pci_domain": p.pci.domain,
                          "iommu_units": units, "arch": arch},
    }


def layout_of_system(system: System) -> SystemLayout:
    links = peer_links_of(system)  # one pass over the links, not one per cell
    return SystemLayout(system, system_header_of(system),
                        [layout_of_cell(system, c, links.get(c.name, [])) for c in system.all_cells])
