"""Foundation: the Jailhouse revision-14 configuration format, declared once.

Every binary struct of docs/format/jailhouse-config-format.md is declared here with
``binfmt`` (field names are Jailhouse's own, so generated C matches its headers), next
to the flag words partcfg's YAML uses for each bit mask. Readers, writers and C
generators all work from these tables.
"""

from __future__ import annotations

from .binfmt import U8, U16, U32, U64, Array, Chars, Field, Struct, Union

REVISION = 14
SYSTEM_SIGNATURE = b"JHSYS"
CELL_SIGNATURE = b"JHCLL"
CELL_NAME_MAXLEN = 31
MAX_IOMMU_UNITS = 8
PAGE_SIZE = 0x1000
MAX_SHMEM_PEERS = 12
MAX_IVSHMEM_MSIX_VECTORS = 16

ARCHITECTURES = {"x86": 0, "arm": 1, "arm64": 2}

# --- flag words (YAML) -> bits; declaration order is the order words are written back ---

CELL_FLAGS = {
    "passive-comm-region": 0x1,
    "test-device": 0x2,
    "aarch32": 0x4,
    "virtual-console-active": 0x80000000,
    "virtual-console-permitted": 0x40000000,
}

SYSTEM_FLAGS = {"root-reads-debug-console": 0x1}

MEM_FLAGS = {
    "read": 0x1,
    "write": 0x2,
    "execute": 0x4,
    "dma": 0x8,
    "io": 0x10,
    "comm-region": 0x20,
    "loadable": 0x40,
    "rootshared": 0x80,
    "no-hugepages": 0x100,
    "io-unaligned": 0x8000,
    "io-8": 0x10000,
    "io-16": 0x20000,
    "io-32": 0x40000,
    "io-64": 0x80000,
}
MEM_READ, MEM_WRITE, MEM_EXECUTE, MEM_DMA = 0x1, 0x2, 0x4, 0x8
MEM_IO, MEM_COMM_REGION, MEM_LOADABLE, MEM_ROOTSHARED = 0x10, 0x20, 0x40, 0x80
MEM_NO_HUGEPAGES, MEM_IO_UNALIGNED = 0x100, 0x8000
MEM_IO_WIDTH_MASK = 0xF0000
MEM_KNOWN_MASK = sum(MEM_FLAGS.values())

CACHE_TYPES = {"l3-code": 1, "l3-data": 2, "l3": 3}
CACHE_FLAGS = {"rootshared": 0x1}

CONSOLE_TYPES = {
    "none": 0, "efifb": 1, "8250": 2, "pl011": 3, "xuartps": 4, "mvebu": 5,
    "hscif": 6, "scifa": 7, "imx": 8, "imx-lpuart": 9, "scif": 10,
}
CONSOLE_FLAGS = {
    "mmio": 0x0001,
    "regdist-4": 0x0002,
    "fb-1920x1080": 0x0004,
    "inverted-clock-gate": 0x1000,
    "mdr-quirk": 0x2000,
}

PCI_TYPES = {"device": 1, "bridge": 2, "ivshmem": 3}
PCI_TYPE_IVSHMEM = 3
PCI_MSI_FLAGS = {"64bit": 0x1, "maskable": 0x2}
PCI_CAP_FLAGS = {"writable": 0x1}
PCI_EXT_CAP = 0x8000

IOMMU_TYPES = {"none": 0, "amd": 1, "intel": 2, "smmuv3": 3, "pvu": 4, "mmu500": 5}
IOMMU_AMD, IOMMU_PVU = 1, 4

APIC_MODES = {"auto": 0, "xapic": 1, "x2apic": 2}

# ivshmem BAR masks (docs/format/jailhouse-config-format.md, "Usual ivshmem BAR masks")
IVSHMEM_BAR_MASK_INTX = (0xFFFFF000, 0, 0, 0, 0, 0)
IVSHMEM_BAR_MASK_MSIX = (0xFFFFF000, 0xFFFFF000, 0, 0, 0, 0)
IVSHMEM_BAR_MASK_INTX_64K = (0xFFFF0000, 0, 0, 0, 0, 0)
IVSHMEM_BAR_MASK_MSIX_64K = (0xFFFF0000, 0xFFFF0000, 0, 0, 0, 0)

# --- the structs -----------------------------------------------------------------------

CONSOLE = Struct("jailhouse_console", [
    Field("address", U64),
    Field("size", U32),
    Field("type", U16),
    Field("flags", U16),
    Field("divider", U32),
    Field("gate_nr", U32),
    Field("clock_reg", U64),
])

MEMORY = Struct("jailhouse_memory", [
    Field("phys_start", U64),
    Field("virt_start", U64, "guest-physical address the cell sees"),
    Field("size", U64),
    Field("flags", U64),
])

CACHE = Struct("jailhouse_cache", [
    Field("start", U32),
    Field("size", U32),
    Field("type", U8),
    Field("padding", U8),
    Field("flags", U16),
])

IRQCHIP = Struct("jailhouse_irqchip", [
    Field("address", U64),
    Field("id", U32),
    Field("pin_base", U32),
    Field("pin_bitmap", Array(U32, 4)),
])

PIO = Struct("jailhouse_pio", [
    Field("base", U16),
    Field("length", U16),
])

PCI_DEVICE = Struct("jailhouse_pci_device", [
    Field("type", U8),
    Field("iommu", U8),
    Field("domain", U16),
    Field("bdf", U16),
    Field("bar_mask", Array(U32, 6)),
    Field("caps_start", U16),
    Field("num_caps", U16),
    Field("num_msi_vectors", U8),
    Field("msi_bits", U8, c_bits=(("msi_64bits", 1), ("msi_maskable", 1))),
    Field("num_msix_vectors", U16),
    Field("msix_region_size", U16),
    Field("msix_address", U64),
    Field("shmem_regions_start", U32),
    Field("shmem_dev_id", U8),
    Field("shmem_peers", U8),
    Field("shmem_protocol", U16),
])

PCI_CAPABILITY = Struct("jailhouse_pci_capability", [
    Field("id", U16),
    Field("start", U16),
    Field("len", U16),
    Field("flags", U16),
])

STREAM_ID = Struct("jailhouse_stream_id", [Field("id", U32)])

CELL_DESC = Struct("jailhouse_cell_desc", [
    Field("signature", Chars(5)),
    Field("architecture", U8),
    Field("revision", U16),
    Field("name", Chars(CELL_NAME_MAXLEN + 1)),
    Field("id", U32, "set by the driver; 0 in files"),
    Field("flags", U32),
    Field("cpu_set_size", U32),
    Field("num_memory_regions", U32),
    Field("num_cache_regions", U32),
    Field("num_irqchips", U32),
    Field("num_pio_regions", U32),
    Field("num_pci_devices", U32),
    Field("num_pci_caps", U32),
    Field("num_stream_ids", U32),
    Field("vpci_irq_base", U32),
    Field("cpu_reset_address", U64),
    Field("msg_reply_timeout", U64),
    Field("console", CONSOLE),
])

IOMMU_AMD_PART = Struct("jailhouse_iommu_amd", [
    Field("bdf", U16), Field("base_cap", U8), Field("msi_cap", U8), Field("features", U32),
])
IOMMU_PVU_PART = Struct("jailhouse_iommu_tipvu", [
    Field("tlb_base", U64), Field("tlb_size", U32),
])
IOMMU = Struct("jailhouse_iommu", [
    Field("type", U32),
    Field("base", U64),
    Field("size", U32),
    Field("variant", Union([("amd", IOMMU_AMD_PART), ("tipvu", IOMMU_PVU_PART)])),
])

ARCH_X86 = Struct("jailhouse_platform_x86", [
    Field("pm_timer_address", U16),
    Field("apic_mode", U8),
    Field("padding", U8),
    Field("vtd_interrupt_limit", U32),
    Field("tsc_khz", U32),
    Field("apic_khz", U32),
])
ARCH_ARM = Struct("jailhouse_platform_arm", [
    Field("maintenance_irq", U8),
    Field("gic_version", U8),
    Field("padding", Array(U8, 2)),
    Field("gicd_base", U64),
    Field("gicc_base", U64),
    Field("gich_base", U64),
    Field("gicv_base", U64),
    Field("gicr_base", U64),
])

PLATFORM_INFO = Struct("jailhouse_platform_info", [
    Field("pci_mmconfig_base", U64),
    Field("pci_mmconfig_end_bus", U8),
    Field("pci_is_virtual", U8),
    Field("pci_domain", U16),
    Field("iommu_units", Array(IOMMU, MAX_IOMMU_UNITS)),
    Field("arch", Union([("x86", ARCH_X86), ("arm", ARCH_ARM)])),
])

SYSTEM_HEADER = Struct("jailhouse_system", [
    Field("signature", Chars(5)),
    Field("architecture", U8),
    Field("revision", U16),
    Field("flags", U32),
    Field("hypervisor_memory", MEMORY),
    Field("debug_console", CONSOLE),
    Field("platform_info", PLATFORM_INFO),
], doc="the system header; the root cell descriptor follows it (field root_cell in C)")

# The payload arrays after a cell descriptor, in file order: (descriptor count field,
# struct). The CPU set comes first and is sized by cpu_set_size, not by a struct.
PAYLOAD_ARRAYS = (
    ("num_memory_regions", MEMORY),
    ("num_cache_regions", CACHE),
    ("num_irqchips", IRQCHIP),
    ("num_pio_regions", PIO),
    ("num_pci_devices", PCI_DEVICE),
    ("num_pci_caps", PCI_CAPABILITY),
    ("num_stream_ids", STREAM_ID),
)
