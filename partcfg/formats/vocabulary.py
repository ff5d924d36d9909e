"""Foundation: every closed vocabulary of the YAML format, with what each word means.

The words themselves and their bits are declared once in ``jailhouse`` (flags, types)
and ``model`` (protocols, interrupt models); this module adds a plain description for
each word. The model puts them into the JSON Schema (an enum of described constants) and
into the error that rejects a wrong word; the README lists them, and a test keeps the
three in step.
"""

from __future__ import annotations

from typing import Mapping

from . import jailhouse as jh

# vocabulary name (as used in messages: "unknown memory flag ...") -> word -> meaning
DESCRIPTIONS: dict[str, dict[str, str]] = {
    "architecture": {
        "x86": "x86-64 (Intel VT-x / AMD-V)",
        "arm": "32-bit ARM (ARMv7 with virtualization extensions)",
        "arm64": "64-bit ARM (AArch64)",
    },
    "cell flag": {
        "passive-comm-region": "the cell does not answer the hypervisor's messages; it may be "
                               "shut down or destroyed at any time",
        "test-device": "give the cell the hypervisor's test device",
        "aarch32": "the cell runs in AArch32 state on an arm64 system",
        "virtual-console-active": "the cell writes to the hypervisor's virtual console",
        "virtual-console-permitted": "the cell may use the hypervisor's virtual console",
    },
    "system flag": {
        "root-reads-debug-console": "the root cell may read the hypervisor's debug console",
    },
    "memory flag": {
        "read": "the cell may read the region",
        "write": "the cell may write the region",
        "execute": "the cell may execute code from the region",
        "dma": "devices of the cell may reach the region by DMA",
        "io": "device registers (mapped uncached; sub-page with an io-N width)",
        "comm-region": "the communication region the hypervisor shares with the cell",
        "loadable": "the root cell may load an image into the region before the cell starts",
        "rootshared": "the root cell keeps its access while the cell runs",
        "no-hugepages": "map the region with small pages only",
        "io-unaligned": "sub-page I/O region: allow unaligned accesses",
        "io-8": "sub-page I/O region: 8-bit accesses",
        "io-16": "sub-page I/O region: 16-bit accesses",
        "io-32": "sub-page I/O region: 32-bit accesses",
        "io-64": "sub-page I/O region: 64-bit accesses",
    },
    "cache type": {
        "l3-code": "the code half of a CDP-partitioned L3 cache",
        "l3-data": "the data half of a CDP-partitioned L3 cache",
        "l3": "the unified L3 cache",
    },
    "cache flag": {
        "rootshared": "the root cell keeps using the cache region",
    },
    "console type": {
        "none": "no console",
        "efifb": "EFI framebuffer",
        "8250": "8250/16550 UART (port I/O, or MMIO with the mmio flag)",
        "pl011": "ARM PrimeCell PL011 UART",
        "xuartps": "Xilinx Zynq UART",
        "mvebu": "Marvell EBU UART",
        "hscif": "Renesas HSCIF UART",
        "scifa": "Renesas SCIFA UART",
        "imx": "NXP i.MX UART",
        "imx-lpuart": "NXP i.MX low-power UART",
        "scif": "Renesas SCIF UART",
    },
    "console flag": {
        "mmio": "the registers are memory-mapped (else port I/O)",
        "regdist-4": "registers are 4 bytes apart (else 1)",
        "fb-1920x1080": "framebuffer of 1920x1080 pixels (else 1024x768)",
        "inverted-clock-gate": "the UART's clock gate is active-low",
        "mdr-quirk": "the UART needs its mode definition register set",
    },
    "PCI device type": {
        "device": "a PCI function",
        "bridge": "a PCI bridge",
        "ivshmem": "a virtual ivshmem device (a link written out by hand)",
    },
    "MSI flag": {
        "64bit": "the MSI capability has 64-bit addresses",
        "maskable": "the MSI capability supports per-vector masking",
    },
    "capability flag": {
        "writable": "the cell may write the capability",
    },
    "IOMMU type": {
        "none": "no IOMMU unit",
        "amd": "AMD-Vi",
        "intel": "Intel VT-d",
        "smmuv3": "ARM SMMUv3",
        "pvu": "TI Peripheral Virtualization Unit",
        "mmu500": "ARM MMU-500 (SMMUv2)",
    },
    "APIC mode": {
        "auto": "detect (0)",
        "xapic": "xAPIC (memory-mapped)",
        "x2apic": "x2APIC (MSR based)",
    },
    "protocol": {
        "undefined": "no protocol (0x0000): the peers agree on their own",
        "veth": "virtual peer-to-peer Ethernet (0x0001)",
        "custom:N": "an application protocol, N from 0x4000 to 0x7fff",
        "virtio:DEVICE": "a virtio device (net, block or console) whose back-end is the "
                         "link's 'backend' peer; the other peers are front-ends",
    },
    "virtio device": {
        "net": "virtio network device (1)",
        "block": "virtio block device (2)",
        "console": "virtio console (3)",
    },
    "interrupt model": {
        "intx": "one legacy INTx line, no MSI-X",
        "{msix: N}": "N MSI-X vectors, 1 to 16",
    },
}

# vocabulary name -> word -> value, for the vocabularies jailhouse.py declares
WORDS: dict[str, Mapping[str, int]] = {
    "architecture": jh.ARCHITECTURES,
    "cell flag": jh.CELL_FLAGS,
    "system flag": jh.SYSTEM_FLAGS,
    "memory flag": jh.MEM_FLAGS,
    "cache type": jh.CACHE_TYPES,
    "cache flag": jh.CACHE_FLAGS,
    "console type": jh.CONSOLE_TYPES,
    "console flag": jh.CONSOLE_FLAGS,
    "PCI device type": jh.PCI_TYPES,
    "MSI flag": jh.PCI_MSI_FLAGS,
    "capability flag": jh.PCI_CAP_FLAGS,
    "IOMMU type": jh.IOMMU_TYPES,
    "APIC mode": jh.APIC_MODES,
}


def known_words_text(what: str, words: Mapping[str, object] | None = None) -> str:
    """``read, write, execute, ...``: the words of a vocabulary in declaration order."""
    return ", ".join(words if words is not None else DESCRIPTIONS[what])


def enum_schema_of(what: str, words: Mapping[str, object] | None = None) -> dict:
    """The JSON Schema of one word of a vocabulary: each word a constant with its meaning."""
    meanings = DESCRIPTIONS.get(what, {})
    return {"anyOf": [{"const": word, "description": meanings.get(word, word)}
                      for word in (words if words is not None else meanings)]}
