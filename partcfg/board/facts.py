"""Board facts: what a machine has, as read from its description (an input, like the YAML).

The readers (``dtb.py`` for flattened device trees, ``x86.py`` for a snapshot of a running
x86 machine) turn a board description into one :class:`Board`; the board checks
(``checks.py``) and ``partcfg init`` (``init.py``) only ever see this. Every fact carries
``what`` (a device-tree node path or an iomem line) and a :class:`Location` in the board
file, so a finding can name the other side.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable

from ..diagnostics import Location

DEVICETREE, X86_SNAPSHOT = "device tree", "x86 snapshot"


@dataclass(frozen=True)
class Span:
    """A physical range [start, end) the board describes, and where it is described."""
    start: int
    end: int
    what: str                  # "/memory@40000000", "iomem line 5 'System RAM'", ...
    where: Location

    @property
    def size(self) -> int:
        return self.end - self.start


@dataclass(frozen=True)
class Device:
    """A device with registers in the physical address space."""
    path: str                           # device-tree node path, or the iomem/PCI name
    spans: tuple[Span, ...]
    compatible: tuple[str, ...] = ()
    interrupts: tuple[int, ...] = ()    # absolute interrupt lines (GIC: SPI n is 32 + n)
    where: Location | None = None
    enabled: bool = True                # status "disabled": there, but not for the root's Linux


@dataclass(frozen=True)
class Gic:
    """The interrupt controller (ARM generic interrupt controller) as the board has it."""
    path: str
    version: int                        # 2 or 3
    distributor: Span | None
    redistributor_regions: tuple[Span, ...] = ()
    redistributor_stride: int = 0x20000
    cpu_interface: Span | None = None
    hyp_interface: Span | None = None
    virt_interface: Span | None = None
    maintenance_irq: int | None = None  # absolute line (PPI n is 16 + n)
    its: tuple[Device, ...] = ()
    where: Location | None = None


@dataclass(frozen=True)
class IommuUnit:
    """An IOMMU / SMMU unit; ``kind`` is the platform's word for it (smmuv3, mmu500, intel,
    amd), or None when the hypervisor has no driver for this kind."""
    kind: str | None
    span: Span
    path: str


@dataclass(frozen=True)
class Uart:
    """A serial port usable as a console; ``kind`` is the console type word (pl011, 8250,
    ...) or None for a UART the hypervisor has no driver for."""
    kind: str | None
    span: Span
    path: str
    compatible: tuple[str, ...]
    regdist_4: bool                     # registers 4 bytes apart (reg-shift = 2, or pl011)


@dataclass(frozen=True)
class PciHost:
    """A PCI configuration window (ECAM / MMCONFIG) of the board."""
    span: Span
    start_bus: int
    end_bus: int
    domain: int


@dataclass
class Board:
    """Everything the checks need to know about one machine."""
    source: str                         # the board file as given
    kind: str                           # DEVICETREE or X86_SNAPSHOT
    arch_words: tuple[str, ...]         # architectures it can be: ("arm64",), ("arm", "arm64"), ("x86",)
    memory: list[Span] = field(default_factory=list)          # RAM
    linux_ram: list[Span] = field(default_factory=list)       # RAM Linux itself manages (before the command line)
    devices: list[Device] = field(default_factory=list)
    reserved_no_map: list[Span] = field(default_factory=list)  # never touched by Linux
    reserved_mapped: list[Span] = field(default_factory=list)  # not allocated, but in Linux's map
    bootargs: str = ""
    bootargs_what: str = ""             # "/chosen/bootargs", "proc/cmdline", "--bootargs"
    cpus: list[str] = field(default_factory=list)             # one entry per CPU, by its name on the board
    gic: Gic | None = None
    iommus: list[IommuUnit] = field(default_factory=list)
    uarts: list[Uart] = field(default_factory=list)
    stdout: str | None = None           # the console device the board names (/chosen/stdout-path)
    pci_hosts: list[PciHost] = field(default_factory=list)
    ioapics: list[Span] = field(default_factory=list)
    model: str = ""

    @property
    def location(self) -> Location:
        return Location(self.source)


def uncovered(start: int, end: int, covers: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """The parts of [start, end) that no cover reaches."""
    gaps = []
    at = start
    for lo, hi in sorted(covers):
        if hi <= at or lo >= end:
            continue
        if lo > at:
            gaps.append((at, lo))
        at = max(at, hi)
        if at >= end:
            break
    if at < end:
        gaps.append((at, end))
    return gaps
