"""An independent reader of Jailhouse revision-14 ``.cell`` blobs, for the tests.

Written from docs/format/jailhouse-config-format.md with nothing but ``struct``:
it shares no code with partcfg's own reader (``partcfg.load.blob`` / ``partcfg.formats.jailhouse``)
or with the runtime's memory plan, so expectations derived here can catch a mistake
there. Offsets and sizes below are the spec's tables, typed in by hand.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path

SYSTEM_HEADER_SIZE = 356
DESCRIPTOR_SIZE = 132
MEMORY_SIZE, CACHE_SIZE, IRQCHIP_SIZE, PIO_SIZE, PCI_SIZE, CAP_SIZE, STREAM_SIZE = (
    32, 12, 32, 4, 56, 8, 4)

READ, WRITE, EXECUTE, DMA, IO, COMM_REGION, LOADABLE, ROOTSHARED = (
    0x1, 0x2, 0x4, 0x8, 0x10, 0x20, 0x40, 0x80)
PAGE = 0x1000
PCI_TYPE_IVSHMEM = 3


@dataclass(frozen=True)
class Region:
    phys: int
    virt: int
    size: int
    flags: int

    @property
    def placeholder(self) -> bool:
        return not (self.phys or self.virt or self.size or self.flags)

    @property
    def mapped(self) -> bool:
        """Backed by the machine's memory: not a placeholder, not the communication
        region (a private page), not sub-page I/O (trapped and emulated)."""
        if self.placeholder or self.flags & COMM_REGION:
            return False
        subpage = any(v % PAGE for v in (self.phys, self.virt, self.size))
        return not (self.flags & IO and subpage)

    @property
    def access(self) -> str:
        """What a page table can grant for these flags: 'rw', 'r' or '-'."""
        if not self.flags & READ:
            return "-"
        return "rw" if self.flags & WRITE else "r"


@dataclass(frozen=True)
class PciDevice:
    type: int
    domain: int
    bdf: int
    shmem_regions_start: int
    shmem_dev_id: int
    shmem_peers: int
    shmem_protocol: int


@dataclass
class Cell:
    path: Path
    is_system: bool
    arch: int
    name: str
    flags: int
    cpus: set[int]
    regions: list[Region]
    pci_devices: list[PciDevice] = field(default_factory=list)
    hypervisor_memory: Region | None = None


def read_cell(path: Path) -> Cell:
    data = Path(path).read_bytes()
    signature, arch, revision = struct.unpack_from("<5sBH", data, 0)
    assert signature in (b"JHSYS", b"JHCLL"), signature
    assert revision == 14, revision
    is_system = signature == b"JHSYS"
    hypervisor_memory = Region(*struct.unpack_from("<QQQQ", data, 12)) if is_system else None
    at = SYSTEM_HEADER_SIZE if is_system else 0
    name = data[at + 8:at + 40].split(b"\0", 1)[0].decode()
    flags, cpu_set_size, n_mem, n_cache, n_irq, n_pio, n_pci, n_caps, n_stream = (
        struct.unpack_from("<9I", data, at + 44))
    at += DESCRIPTOR_SIZE
    bitmap = int.from_bytes(data[at:at + cpu_set_size], "little")
    cpus = {bit for bit in range(cpu_set_size * 8) if bitmap >> bit & 1}
    at += cpu_set_size
    regions = [Region(*struct.unpack_from("<QQQQ", data, at + i * MEMORY_SIZE))
               for i in range(n_mem)]
    at += n_mem * MEMORY_SIZE + n_cache * CACHE_SIZE + n_irq * IRQCHIP_SIZE + n_pio * PIO_SIZE
    devices = []
    for i in range(n_pci):
        d = at + i * PCI_SIZE
        kind, _iommu, domain, bdf = struct.unpack_from("<BBHH", data, d)
        start, dev_id, peers, protocol = struct.unpack_from("<IBBH", data, d + 48)
        devices.append(PciDevice(kind, domain, bdf, start, dev_id, peers, protocol))
    at += n_pci * PCI_SIZE + n_caps * CAP_SIZE + n_stream * STREAM_SIZE
    assert at <= len(data), f"{path}: truncated, expected {at} bytes, found {len(data)}"
    return Cell(Path(path), is_system, arch, name, flags, cpus, regions, devices, hypervisor_memory)


def read_system(directory: Path) -> list[Cell]:
    """Every blob of one system directory, the system configuration (root cell) first."""
    cells = [read_cell(p) for p in sorted(Path(directory).glob("*.cell"))]
    return sorted(cells, key=lambda c: not c.is_system)


def expected_access(cells: list[Cell], cell: Cell, region: Region, start: int, end: int) -> str:
    """What ``cell`` may do on [start, end) of ``region`` while every cell runs, by the
    spec's rules: the region's own flags; but the root cell loses (``-``) any byte that a
    non-root cell maps without ROOTSHARED (cells are carved out of the root cell)."""
    assert region.phys <= start < end <= region.phys + region.size
    if cell.is_system:
        for other in cells:
            if other.is_system:
                continue
            for r in other.regions:
                if (r.mapped and not r.flags & ROOTSHARED
                        and r.phys < end and start < r.phys + r.size):
                    return "-"
    return region.access


def boundaries(cells: list[Cell]) -> list[int]:
    """Every start and end of a mapped region of any cell, sorted."""
    return sorted({p for c in cells for r in c.regions if r.mapped
                   for p in (r.phys, r.phys + r.size)})


def expected_pieces(cells: list[Cell], cell: Cell) -> list[str]:
    """The access of every piece of ``cell``'s mapped regions, in blob order, when the
    union of the system's mapped regions is cut at every region boundary."""
    points = boundaries(cells)
    found = []
    for r in cell.regions:
        if r.mapped:
            cuts = [p for p in points if r.phys <= p <= r.phys + r.size]
            found += [expected_access(cells, cell, r, a, b) for a, b in zip(cuts, cuts[1:])]
    return found
