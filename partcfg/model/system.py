"""Model layer: the input format, as pydantic models.

Second step of the flow (imports ``load`` and the foundations). One class per mapping a
partcfg YAML file may hold, down to the :class:`Document` (a file: ``system``, and a
``platform``, ``cell``, ``links`` or ``scenarios``), built from the scalar types of
``scalars``; every model object remembers the YAML node it came from (``source``), so
later layers can point at it. ``render.json_schema`` generates docs/partcfg.schema.json
from these classes. Reading YAML data into them is ``document``, grouping the documents
into systems ``assembly``, and what each cell's region array holds ``regions``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Union

from pydantic import BaseModel, ConfigDict, Discriminator, Field, PrivateAttr, Tag

from ..diagnostics import Location
from ..formats import jailhouse as jh
from ..load.yaml_source import SourceDoc
from .scalars import (Bdf, CpuNumbers, Int, Interrupts, NumberSet, Protocol, Size, Size16, Size32,
                      U16, U32, U8, choice_type, flags_type)


@dataclass(frozen=True)
class SourceRef:
    """Where a model object came from: a loaded document and the path inside it."""

    doc: SourceDoc
    path: tuple

    def location(self, *more: Any, key: bool = False) -> Location:
        return self.doc.location(self.path + tuple(more), key=key)


class Node(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, validate_default=False)
    _source: SourceRef | None = PrivateAttr(default=None)

    @property
    def source(self) -> SourceRef | None:
        # straight from the private dict: pydantic's __getattr__ path is ~10x slower, and
        # validation reads this once per region of 100,000-region systems
        return self.__pydantic_private__.get("_source")  # type: ignore[union-attr]

    def location(self, *more: Any, key: bool = False) -> Location | None:
        return self._source.location(*more, key=key) if self._source else None

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        # pydantic fills the private dict through one generic hook per class level (two
        # calls per region: a fifth of document_of on 100,000-region systems); every
        # private default here is immutable, so a copy of one dict does the same
        super().__pydantic_init_subclass__(**kwargs)
        if any(attr.default_factory is not None for attr in cls.__private_attributes__.values()):
            return  # a fresh value per object: pydantic's own hook
        defaults = {name: attr.get_default() for name, attr in cls.__private_attributes__.items()}

        def model_post_init(self: Any, context: Any, /) -> None:
            if getattr(self, "__pydantic_private__", None) is None:
                object.__setattr__(self, "__pydantic_private__", defaults.copy())

        cls.model_post_init = model_post_init  # type: ignore[method-assign]


class Console(Node):
    """A console: the cell's own (cell descriptor) or the hypervisor's debug console."""
    type: choice_type(jh.CONSOLE_TYPES, "console type", 16) = Field(0, description="console kind",
                                                                    examples=["8250", "pl011"])
    address: Int = Field(0, description="register base (MMIO address or I/O port)",
                         examples=["0x3f8", "0x09000000"])
    size: Size32 = Field(0, description="register window size", examples=["4K", "0x1000"])
    flags: flags_type(jh.CONSOLE_FLAGS, "console flag", 16) = Field(0, description="mmio, regdist-4, ...",
                                                                    examples=[["mmio", "regdist-4"]])
    divider: U32 = Field(0, description="UART clock divider (0: leave as the firmware set it)",
                         examples=[0, 13])
    gate_nr: U32 = Field(0, description="clock gate number of the UART (platform specific)", examples=[0])
    clock_reg: Int = Field(0, description="address of the clock gate register (platform specific)",
                           examples=["0x0"])


class MemoryRegion(Node):
    """A memory region of a cell: physical range, where the cell sees it, and access."""
    name: str | None = Field(None, description="optional name, used by references and in messages",
                             examples=["ram", "uart"])
    phys: Int = Field(0, description="physical start address (0 for the communication region)",
                      examples=["0x3ef00000"])
    virt: Int | None = Field(None, description="address the cell sees; defaults to phys",
                             examples=["0x0", "0x100000"])
    size: Size = Field(0, description="size in bytes", examples=["1M"])
    flags: flags_type(jh.MEM_FLAGS, "memory flag", 64) = Field(0, description="access words", examples=[["read", "write", "execute", "dma"]])

    @property
    def virt_start(self) -> int:
        return self.phys if self.virt is None else self.virt


class LinkPlacement(Node):
    """``- link: NAME`` in a cell's memory list: where that link's derived regions go."""
    link: str = Field(description="name of a link this cell is a peer of", examples=["demo"])
    virt: Int | None = Field(None, description="where this cell maps the link (defaults to the link base)",
                             examples=["0x80000000"])


class PciLinkPlacement(Node):
    """``- link: NAME`` in a cell's pci_devices list: where the link's device entry goes."""
    link: str = Field(description="name of a link this cell is a peer of; its PCI device entry goes here",
                      examples=["demo"])


class CacheRegion(Node):
    start: U32 = Field(description="first cache way/line index of the region (CAT/MPAM)", examples=[0])
    size: U32 = Field(description="number of ways/lines in the region", examples=[4])
    type: choice_type(jh.CACHE_TYPES, "cache type", 8) = Field(3, description="which cache: l3 (unified), l3-code or l3-data",
                                                               examples=["l3"])
    flags: flags_type(jh.CACHE_FLAGS, "cache flag", 16) = Field(
        0, description="flag words: rootshared lets the root cell keep using the region",
        examples=[["rootshared"]])
    padding: U8 = Field(0, description="reserved byte, kept so imported blobs rebuild exactly", examples=[0])


class Irqchip(Node):
    """An interrupt controller and the interrupt lines the cell owns on it."""
    address: Int = Field(description="register base of the controller (IOAPIC / GIC distributor)",
                         examples=["0xfec00000", "0x08000000"])
    id: U32 = Field(0, description="controller ID (x86: IOAPIC source ID such as 0xff00; ARM: 0)",
                    examples=["0xff00"])
    pin_base: U32 = Field(0, description="first line of the 128-line window", examples=[0, 32])
    interrupts: NumberSet = Field((), description="absolute line numbers, e.g. 32-63,70",
                                  examples=["32-63,70", "3-4"])


class PioRegion(Node):
    name: str | None = Field(None, description="optional name, used in messages", examples=["com2"])
    base: U16 = Field(description="first I/O port", examples=["0x2f8"])
    length: U16 = Field(description="number of ports", examples=[8])


class PciCapability(Node):
    id: U16 = Field(description="capability ID (0x05 MSI, 0x10 PCIe, 0x11 MSI-X, ...)",
                    examples=["0x05", "0x11"])
    extended: bool = Field(False, description="a PCIe extended capability (sets bit 15 of the ID)",
                           examples=[False])
    start: U16 = Field(description="offset in configuration space", examples=["0x80"])
    length: U16 = Field(description="bytes of configuration space the capability spans", examples=[14])
    flags: flags_type(jh.PCI_CAP_FLAGS, "capability flag", 16) = Field(
        0, description="flag words: writable lets the cell write the capability",
        examples=[["writable"]])


class PciCapGroup(Node):
    """A named run of capabilities that PCI devices refer to."""
    name: str = Field(description="group name that PCI devices list in caps", examples=["ahci"])
    caps: list[PciCapability] = Field([], description="the capabilities of the group, in configuration-space order",
                                      examples=[[{"id": "0x05", "start": "0x80", "length": 14, "flags": ["writable"]}]])


class PciDevice(Node):
    name: str | None = Field(None, description="optional name, used in messages", examples=["ahci"])
    type: choice_type(jh.PCI_TYPES, "PCI device type", 8) = Field(1, description="device, bridge or ivshmem",
                                                                  examples=["device"])
    iommu: U8 = Field(0, description="index of the IOMMU unit (platform iommus) that translates this device",
                      examples=[0])
    domain: U16 = Field(0, description="PCI segment (domain) number", examples=[0])
    bdf: Bdf = Field(description="PCI address bus:dev.fn", examples=["00:1f.2"])
    bar_mask: list[U32] = Field([], max_length=6, description="up to 6 BAR size masks (32 bits each)",
                                examples=[["0xffffe000", 0, 0, 0, 0, 0]])
    caps: list[str] = Field([], description="names of consecutive capability groups", examples=[["ahci"]])
    caps_start: U16 | None = Field(None, description="raw capability index (only without caps)", examples=[0])
    msi_vectors: U8 = Field(0, description="number of MSI vectors the device supports", examples=[1])
    msi_flags: flags_type(jh.PCI_MSI_FLAGS, "MSI flag", 8) = Field(0, description="MSI capability words: 64bit, maskable",
                                                                   examples=[["64bit", "maskable"]])
    msix_vectors: U16 = Field(0, description="number of MSI-X vectors the device supports", examples=[5])
    msix_region_size: Size16 = Field(0, description="size of the MSI-X table region", examples=["4K"])
    msix_address: Int = Field(0, description="physical address of the MSI-X table", examples=["0xfebd0000"])
    shmem_regions: str | U32 | None = Field(None, description="ivshmem: first memory region (name or index)",
                                            examples=["shmem-state", 0])
    shmem_dev_id: U8 = Field(0, description="ivshmem: this cell's peer ID", examples=[0])
    shmem_peers: U8 = Field(0, description="ivshmem: number of peers", examples=[2])
    shmem_protocol: Protocol = Field(
        0, description="ivshmem protocol: undefined, veth, custom:N or virtio-front/back:DEVICE",
        examples=["veth"])


# pydantic puts these tags into error locations; the mapper skips them
ITEM_TAGS = ("declared-item", "link-placement")


def _tag_by_link_key(value: Any) -> str:
    return ITEM_TAGS[1] if isinstance(value, dict) and "link" in value else ITEM_TAGS[0]


MemoryItem = Annotated[Union[Annotated[MemoryRegion, Tag(ITEM_TAGS[0])],
                             Annotated[LinkPlacement, Tag(ITEM_TAGS[1])]], Discriminator(_tag_by_link_key)]
PciItem = Annotated[Union[Annotated[PciDevice, Tag(ITEM_TAGS[0])],
                          Annotated[PciLinkPlacement, Tag(ITEM_TAGS[1])]], Discriminator(_tag_by_link_key)]


class Cell(Node):
    """A cell: the root cell in a system file, any other cell in a file of its own."""
    name: str = Field(description=f"cell name, at most {jh.CELL_NAME_MAXLEN} characters", examples=["rt-app"])
    arch: choice_type(jh.ARCHITECTURES, "architecture", 8) | None = Field(
        None, description="only for a standalone cell (no system); otherwise the system's", examples=["arm64"])
    flags: flags_type(jh.CELL_FLAGS, "cell flag", 32) = Field(0, description="cell flag words",
                                                              examples=[["passive-comm-region", "virtual-console-permitted"]])
    cpus: CpuNumbers = Field((), description="CPU numbers, e.g. 0-3,6", examples=["0-3,6", 3])
    cpu_set_size: U32 | None = Field(None, description="bytes of CPU bitmap (default: 8 per 64 CPUs)",
                                     examples=[8])
    memory: list[MemoryItem] = Field([], description="memory regions and link placements (- link: NAME), in array order",
                                     examples=[[{"name": "ram", "phys": "0x3ef00000", "virt": "0x0", "size": "1M",
                                                "flags": ["read", "write", "execute", "loadable"]},
                                               {"link": "demo"}]])
    cache_regions: list[CacheRegion] = Field([], description="cache partitions (Intel CAT / ARM MPAM) the cell owns",
                                             examples=[[{"start": 0, "size": 4, "type": "l3"}]])
    irqchips: list[Irqchip] = Field([], description="interrupt controllers and the lines the cell owns on each",
                                    examples=[[{"address": "0xfec00000", "id": "0xff00", "pin_base": 0,
                                                "interrupts": "3-4"}]])
    pio: list[PioRegion] = Field([], description="x86 port I/O ranges the cell may access",
                                 examples=[[{"name": "com2", "base": "0x2f8", "length": 8}]])
    pci_caps: list[PciCapGroup] = Field([], description="named groups of PCI capabilities, referred to by pci_devices",
                                        examples=[[{"name": "ahci",
                                                 "caps": [{"id": "0x05", "start": "0x80", "length": 14}]}]])
    pci_devices: list[PciItem] = Field(
        [], description="PCI functions the cell owns and link device placements (- link: NAME)",
        examples=[[{"name": "ahci", "bdf": "00:1f.2", "caps": ["ahci"]}, {"link": "demo"}]])
    stream_ids: list[U32] = Field([], description="SMMU stream IDs of the cell's DMA masters",
                                  examples=[["0x10", "0x11"]])
    vpci_irq_base: U32 = Field(0, description="first interrupt line of the cell's virtual PCI devices",
                               examples=[100])
    cpu_reset_address: Int = Field(0, description="address where the cell's CPUs start", examples=["0x0"])
    msg_reply_timeout: Int = Field(0, description="how long the hypervisor waits for the cell to answer a message",
                                   examples=[0])
    console: Console = Field(Console(), description="the cell's own console",
                             examples=[{"type": "8250", "address": "0x2f8", "flags": []}])
    id: U32 = Field(0, description="always 0 in files (the driver assigns it)", examples=[0])
    # keys of this cell whose values could not be read (set by document_of; already reported)
    _unreadable_keys: frozenset = PrivateAttr(default=frozenset())


MAX_LINK_PEERS = 255   # shmem_peers is one byte in the device entry (the hypervisor takes 12)


class Link(Node):
    """A shared-memory link (ivshmem v2) between 2..12 cells, declared once."""
    bdf: Bdf = Field(description="PCI address of the virtual device, identical for all peers",
                     examples=["00:0e.0"])
    domain: U16 = Field(0, description="PCI segment (domain) of the virtual device", examples=[0, 1])
    peer_domains: dict[str, U16] = Field(
        {}, description="peers whose device entry says another PCI domain than 'domain' "
        "(upstream root cells often use 1, their peers 0); the hypervisor pairs by BDF alone",
        examples=[{"root": 1}])
    iommu: U8 = Field(0, description="IOMMU unit index of the virtual device", examples=[0])
    base: Int = Field(description="physical base address of the state table", examples=["0x3f0f0000"])
    state_table: Size = Field(jh.PAGE_SIZE, description="state table size (>= 4 bytes per peer, page multiple)",
                              examples=["4K"])
    rw_section: Size = Field(0, description="common read/write section size (may be 0)", examples=["36K", 0])
    output_section: Size = Field(0, description="size of each peer's output section (may be 0)",
                                 examples=["8K"])
    peers: list[str] = Field(max_length=MAX_LINK_PEERS, description="cell names; the position is the peer ID",
                             examples=[["root", "rt-app", "linux-guest"]])
    interrupts: Interrupts = Field(0, description="intx, or {msix: N} with N <= 16",
                                   examples=["intx", {"msix": 16}])
    protocol: Protocol = Field(0, description="undefined, veth, custom:0x4000-0x7fff, or virtio:DEVICE with backend",
                               examples=["undefined", "veth", "custom:0x4001", "virtio:block"])
    backend: str | None = Field(None, description="virtio links: the back-end peer; every other peer is a front-end",
                                examples=["root"])
    rootshared_in_root: bool = Field(
        False, description="also flag the root cell's link regions rootshared (no effect in the "
        "root cell; upstream's JAILHOUSE_SHMEM_NET_REGIONS writes it there too)", examples=[True])
    bar_mask: list[U32] | None = Field(None, max_length=6, description="defaults from the interrupt model",
                                       examples=[["0xfffff000", "0xfffffe00", 0, 0, 0, 0]])

    @property
    def size(self) -> int:
        return self.state_table + self.rw_section + len(self.peers) * self.output_section

    def protocol_of_peer(self, peer_id: int) -> int:
        """A virtio link's back-end peer sees 0xc000 + device, front-ends 0x8000 + device;
        every peer of any other link sees the declared protocol."""
        if self.backend is not None and self.protocol >= 0xC000:
            is_backend = peer_id < len(self.peers) and self.peers[peer_id] == self.backend
            return self.protocol if is_backend else self.protocol - 0x4000
        return self.protocol

    def domain_of_peer(self, peer_id: int) -> int:
        """The PCI domain peer ``peer_id``'s device entry carries."""
        if self.peer_domains and peer_id < len(self.peers):
            return self.peer_domains.get(self.peers[peer_id], self.domain)
        return self.domain

    @property
    def effective_bar_mask(self) -> tuple[int, ...]:
        if self.bar_mask is not None:
            return tuple(self.bar_mask) + (0,) * (6 - len(self.bar_mask))
        return jh.IVSHMEM_BAR_MASK_MSIX if self.interrupts else jh.IVSHMEM_BAR_MASK_INTX


class HypervisorMemory(Node):
    phys: Int = Field(description="physical start of the hypervisor's memory", examples=["0x3a000000"])
    size: Size = Field(description="size of the hypervisor's memory", examples=["6M"])
    virt: Int = Field(0, description="virtual address (filled in by the driver; 0 in files)", examples=[0])
    flags: flags_type(jh.MEM_FLAGS, "memory flag", 64) = Field(0, description="memory flag words (normally none)",
                                                               examples=[[]])


class PciPlatform(Node):
    mmconfig_base: Int = Field(0, description="physical base of the PCI MMCONFIG (ECAM) window",
                               examples=["0xb0000000"])
    end_bus: U8 = Field(0, description="last bus number covered by the MMCONFIG window", examples=["0xff"])
    virtual: bool = Field(False, description="the hypervisor emulates a virtual PCI host controller",
                          examples=[True])
    domain: U16 = Field(0, description="PCI segment of the (virtual) host controller", examples=[0, 1])


class AmdIommu(Node):
    bdf: Bdf = Field(0, description="PCI address of the AMD IOMMU", examples=["00:00.2"])
    base_cap: U8 = Field(0, description="offset of the IOMMU capability block", examples=["0x40"])
    msi_cap: U8 = Field(0, description="offset of the MSI capability", examples=["0x64"])
    features: U32 = Field(0, description="extended feature register value", examples=["0x80048824"])


class PvuIommu(Node):
    tlb_base: Int = Field(0, description="TI PVU: physical base of the TLB", examples=["0x36400000"])
    tlb_size: U32 = Field(0, description="TI PVU: size of the TLB window", examples=["0x400000"])


class Iommu(Node):
    type: choice_type(jh.IOMMU_TYPES, "IOMMU type", 32) = Field(description="IOMMU kind: intel, amd, smmuv3, pvu, mmu500",
                                                                examples=["intel"])
    base: Int = Field(0, description="register base", examples=["0xfed90000"])
    size: Size32 = Field(0, description="register window size", examples=["4K"])
    amd: AmdIommu | None = Field(None, description="AMD IOMMU details (type amd only)",
                                 examples=[{"bdf": "00:00.2", "base_cap": "0x40", "msi_cap": "0x64"}])
    pvu: PvuIommu | None = Field(None, description="TI PVU details (type pvu only)",
                                 examples=[{"tlb_base": "0x36400000", "tlb_size": "0x400000"}])


class X86Platform(Node):
    pm_timer_address: U16 = Field(0, description="I/O port of the ACPI PM timer", examples=["0x608"])
    apic_mode: choice_type(jh.APIC_MODES, "APIC mode", 8) = Field(0, description="APIC mode: xapic or x2apic (0: detect)",
                                                                  examples=["x2apic"])
    vtd_interrupt_limit: U32 = Field(0, description="number of VT-d interrupt remapping entries",
                                     examples=[256])
    tsc_khz: U32 = Field(0, description="TSC frequency in kHz (0: calibrate)", examples=[0])
    apic_khz: U32 = Field(0, description="APIC timer frequency in kHz (0: calibrate)", examples=[0])


class ArmPlatform(Node):
    maintenance_irq: U8 = Field(0, description="GIC maintenance interrupt line", examples=[25])
    gic_version: U8 = Field(0, description="GIC version: 2 or 3", examples=[3])
    gicd_base: Int = Field(0, description="GIC distributor base", examples=["0x08000000"])
    gicc_base: Int = Field(0, description="GICv2 CPU interface base", examples=["0x08010000"])
    gich_base: Int = Field(0, description="GICv2 hypervisor interface base", examples=["0x08030000"])
    gicv_base: Int = Field(0, description="GICv2 virtual CPU interface base", examples=["0x08040000"])
    gicr_base: Int = Field(0, description="GICv3 redistributor base", examples=["0x080a0000"])


class Platform(Node):
    """The machine: only in a system's own file, next to its root cell."""
    arch: choice_type(jh.ARCHITECTURES, "architecture", 8) = Field(description="architecture: x86, arm or arm64",
                                                                   examples=["x86", "arm64"])
    flags: flags_type(jh.SYSTEM_FLAGS, "system flag", 32) = Field(0, description="system flag words",
                                                                  examples=[["root-reads-debug-console"]])
    hypervisor_memory: HypervisorMemory = Field(description="memory reserved for the hypervisor",
                                                examples=[{"phys": "0x3a000000", "size": "6M"}])
    debug_console: Console = Field(Console(), description="the hypervisor's debug console",
                                   examples=[{"type": "pl011", "address": "0x09000000", "size": "4K",
                                              "flags": ["mmio", "regdist-4"]}])
    pci: PciPlatform = Field(PciPlatform(), description="PCI host facts",
                             examples=[{"mmconfig_base": "0xb0000000", "end_bus": "0xff"}])
    iommus: list[Iommu] = Field([], max_length=jh.MAX_IOMMU_UNITS, description="IOMMU units (at most 8)",
                                examples=[[{"type": "intel", "base": "0xfed90000", "size": "4K"}]])
    x86: X86Platform | None = Field(None, description="x86 platform facts",
                                    examples=[{"pm_timer_address": "0x608", "vtd_interrupt_limit": 256}])
    arm: ArmPlatform | None = Field(None, description="ARM interrupt controller facts",
                                    examples=[{"gic_version": 3, "maintenance_irq": 25, "gicd_base": "0x08000000",
                                              "gicr_base": "0x080a0000"}])


class Document(Node):
    """One YAML file. ``system`` names the system it belongs to; the file that also has
    ``platform`` is that system's own file and its ``cell`` is the root cell."""
    system: str | None = Field(None, description="name of the system this file belongs to",
                               examples=["qemu-x86"])
    platform: Platform | None = Field(None, description="the machine; only in a system's own file, next to its root cell",
                                      examples=[{"arch": "x86", "hypervisor_memory": {"phys": "0x3a000000", "size": "6M"}}])
    cell: Cell | None = Field(None, description="the cell this file describes (the root cell in the file with platform)",
                              examples=[{"name": "rt-app", "cpus": 3, "memory": [
                                  {"name": "ram", "phys": "0x3ef00000", "virt": "0x0", "size": "1M",
                                   "flags": ["read", "write", "execute", "loadable"]}]}])
    links: dict[str, Link] = Field({}, description="shared-memory links by name, each declared once for all its peers",
                                   examples=[{"demo": {"bdf": "00:0e.0", "base": "0x3f0f0000", "state_table": "4K",
                                                "rw_section": "36K", "output_section": "8K",
                                                "peers": ["root", "rt-app"], "interrupts": {"msix": 16}}}])
    scenarios: dict[str, Annotated[list[str], Field(max_length=256)]] | None = Field(
        None, max_length=256,
        description="only in a system's own file: which non-root cells run at the same time, by "
                    "scenario name (the root cell is in every scenario); without it every cell runs "
                    "together. A cell whose name another cell shares is named 'name@file-stem'",
        examples=[{"bare-metal": ["inmate-demo"], "linux": ["linux-demo", "ivshmem-demo"]}])
    _unreadable: Any = PrivateAttr(default=None)  # set by document_of when it dropped bad nodes
