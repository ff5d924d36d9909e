"""Tests of the validate layer (partcfg/check/validate.py and the rule families it calls:
cell_rules.py, link_rules.py, system_rules.py, on access_map.py and facts.py) and the rule
registry (rules.py).

Each rule has a small fixture under tests/fixtures/validate/ (a tiny base system plus one
file holding the fault) and the exact diagnostics it must produce: rule id, file:line:col,
message and related locations. Valid inputs (the bundled examples, the base fixtures) must
produce none.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from partcfg.formats import jailhouse as jh
from partcfg.model import assembly as model_assembly
from partcfg.model import document as model_document
from partcfg.model import regions as model_regions
from partcfg.model import system as model
from partcfg.check import access_map, cell_rules, facts, validate
from partcfg.diagnostics import Severity
from partcfg.load.yaml_source import load_yaml_file, load_yaml_text
from partcfg.check.rules import RULES, _TABLE

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures" / "validate"


def assembly_of(*names: str) -> model_assembly.Assembly:
    assembly = model_assembly.assembly_of(model_document.document_of(load_yaml_file(FIXTURES / n)) for n in names)
    assert not assembly.diagnostics, assembly.diagnostics
    return assembly


def diagnostics_of(*names: str):
    return validate.diagnostics_of_assembly(assembly_of(*names))


def short(location) -> str | None:
    return f"{Path(location.file).name}:{location.line}:{location.column}" if location else None


def summary(d) -> tuple:
    return (d.rule, short(d.location), d.message, [short(r) for r in d.related])


# (case, files, [(rule, location, message, related locations), ...]) - exactly these, in order
CASES = [
    ('cell-name', ['base.yaml', 'cell-name.yaml'], [
        ('CELL-NAME', 'cell-name.yaml:4:9',
         "cell name 'a-cell-name-longer-than-31-bytes' is 32 bytes long; at most 31 fit in the descriptor",
         []),
    ]),
    ('cell-name-empty', ['cell-name-empty.yaml'], [
        ('CELL-NAME', 'cell-name-empty.yaml:2:9',
         'the cell name is empty',
         []),
        ('SYS-SKIPPED', 'cell-name-empty.yaml:2:9',
         "cell '' is not tied to a system: only its own rules were checked; system-wide rules (root-cell resources, other cells, links) were skipped",
         []),
    ]),
    ('aarch32-x86', ['base.yaml', 'aarch32-x86.yaml'], [
        ('CELL-AARCH32', 'aarch32-x86.yaml:6:10',
         "cell 'guest' has the aarch32 flag, but system 'base' is x86; only arm64 systems host AArch32 cells",
         []),
    ]),
    ('pio-range', ['base.yaml', 'pio-range.yaml'], [
        ('CELL-PIO-RANGE', 'pio-range.yaml:7:41',
         "cell 'guest': port I/O region 'top' (0xfff8 + 0x10) ends beyond port 0xffff",
         []),
    ]),
    ('pio-arch', ['arm64.yaml', 'pio-arch.yaml'], [
        ('CELL-PIO-ARCH', 'pio-arch.yaml:6:3',
         "cell 'legacy' has port I/O regions, which only x86 has; on arm64 they are ignored",
         []),
    ]),
    ('mem-overlap-phys', ['base.yaml', 'mem-overlap-phys.yaml'], [
        ('MEM-OVERLAP-PHYS', 'mem-overlap-phys.yaml:8:7',
         "region 'buffer' and region 'ram' of cell 'guest' overlap physically at 0x3a6ff000-0x3a6fffff",
         ['mem-overlap-phys.yaml:7:7']),
    ]),
    # identity-mapped: the same overlap physically and virtually is one finding
    ('mem-overlap-both', ['base.yaml', 'mem-overlap-both.yaml'], [
        ('MEM-OVERLAP-PHYS', 'mem-overlap-both.yaml:9:7',
         "region 'buffer' and region 'ram' of cell 'guest' overlap physically and in the cell's address space at 0x3a6ff000-0x3a6fffff",
         ['mem-overlap-both.yaml:8:7']),
    ]),
    ('mem-overlap-virt', ['base.yaml', 'mem-overlap-virt.yaml'], [
        ('MEM-OVERLAP-VIRT', 'mem-overlap-virt.yaml:8:7',
         "region 'comm' and region 'ram' of cell 'guest' overlap in the cell's address space at 0xff000-0xfffff",
         ['mem-overlap-virt.yaml:7:7']),
    ]),
    ('mem-align', ['base.yaml', 'mem-align.yaml'], [
        ('MEM-ALIGN', 'mem-align.yaml:8:25',
         "region 'ram' of cell 'guest': phys 0x3a600800 is not a multiple of 4 KiB",
         []),
    ]),
    ('mem-subpage-width', ['base.yaml', 'mem-subpage-width.yaml'], [
        ('MEM-SUBPAGE-WIDTH', 'mem-subpage-width.yaml:9:58',
         "region 'uart' of cell 'guest' is a sub-page region (size 0x100 not a multiple of 4 KiB) without an access width: the hypervisor emulates it and will refuse every access to it",
         []),
    ]),
    ('mem-wrap', ['mem-wrap.yaml'], [
        ('MEM-WRAP', 'mem-wrap.yaml:6:60',
         "region 'top' of cell 'lone' ends beyond the 64-bit address space",
         []),
        ('SYS-SKIPPED', 'mem-wrap.yaml:2:9',
         "cell 'lone' is not tied to a system: only its own rules were checked; system-wide rules (root-cell resources, other cells, links) were skipped",
         []),
    ]),
    ('mem-io-width', ['base.yaml', 'mem-io-width.yaml'], [
        ('MEM-IO-WIDTH', 'mem-io-width.yaml:7:52',
         "region 'a' of cell 'guest' has access width io-16 but not the io flag",
         []),
        # region 'b' with io-8 and io-32 together is fine: the widths are a mask
    ]),
    ('mem-comm-region', ['base.yaml', 'mem-comm-region.yaml'], [
        ('MEM-COMM-REGION', 'mem-comm-region.yaml:7:26',
         "region 'comm' of cell 'guest' is a communication region with phys 0x3a600000; it has no physical address (phys must be 0)",
         []),
        ('MEM-COMM-REGION', 'mem-comm-region.yaml:8:7',
         "region 'comm2' of cell 'guest' is a second communication region",
         ['mem-comm-region.yaml:7:7']),
    ]),
    ('mem-size-zero', ['base.yaml', 'mem-size-zero.yaml'], [
        ('MEM-SIZE-ZERO', 'mem-size-zero.yaml:7:45',
         "region 'empty' of cell 'guest' has size 0",
         []),
    ]),
    ('mem-flags-unknown', ['base.yaml', 'mem-flags-unknown.yaml'], [
        ('MEM-FLAGS-UNKNOWN', 'mem-flags-unknown.yaml:7:54',
         "region 'ram' of cell 'guest' has flag bits 0x200 that revision 14 does not define",
         []),
    ]),
    ('root-flags', ['root-flags.yaml'], [
        # rootshared in the root cell is not reported: upstream's link macro sets it there
        ('MEM-ROOT-FLAGS', 'root-flags.yaml:12:55',
         "region 'ram' of cell 'root': loadable has no effect in the root cell",
         []),
        ('MEM-COMM-REGION', 'root-flags.yaml:13:55',
         "region 'comm' of cell 'root' is a communication region, but the root cell has none",
         []),
    ]),
    ('mem-not-in-root', ['base.yaml', 'mem-not-in-root.yaml'], [
        ('MEM-NOT-IN-ROOT', 'mem-not-in-root.yaml:7:7',
         "region 'ram' of cell 'guest' (0x3efff000-0x3f000fff) is not inside the root cell's memory: 0x3f000000-0x3f000fff is covered by no region of root cell 'root'; the hypervisor maps it into this cell only (legal, e.g. for a device window, but unusual)",
         []),
        ('MEM-NOT-IN-ROOT', 'mem-not-in-root.yaml:8:7',
         "region 'far' of cell 'guest' (0x50000000-0x50000fff) is not inside the root cell's memory: 0x50000000-0x50000fff is covered by no region of root cell 'root'; the hypervisor maps it into this cell only (legal, e.g. for a device window, but unusual)",
         []),
    ]),
    ('reserved', ['reserved.yaml'], [
        ('MEM-HYPERVISOR', 'reserved.yaml:15:7',
         "region 'ram' of cell 'root' (0x0-0x3a1fffff) overlaps the hypervisor memory (0x3a000000-0x3a5fffff) at 0x3a000000-0x3a1fffff",
         ['reserved.yaml:6:22']),
        ('MEM-MMCONFIG', 'reserved.yaml:16:7',
         "region 'pci-config' of cell 'root' (0xb0f00000-0xb10fffff) overlaps the PCI MMCONFIG window (0xb0000000-0xb0ffffff) at 0xb0f00000-0xb0ffffff",
         ['reserved.yaml:7:24']),
        ('MEM-IOMMU', 'reserved.yaml:17:7',
         "region 'iommu' of cell 'root' (0xfed90000-0xfed90fff) overlaps the registers of IOMMU unit 0 (0xfed90000-0xfed90fff) at 0xfed90000-0xfed90fff",
         ['reserved.yaml:9:27']),
        ('MEM-IRQCHIP', 'reserved.yaml:18:7',
         "region 'ioapic' of cell 'root' (0xfec00000-0xfec00fff) overlaps the IOAPIC page (0xfec00000-0xfec00fff) at 0xfec00000-0xfec00fff",
         ['reserved.yaml:21:17']),
        ('MEM-IRQCHIP', 'reserved.yaml:19:7',
         "region 'apic' of cell 'root' (0xfee00000-0xfeefffff) overlaps the xAPIC page (0xfee00000-0xfee00fff) at 0xfee00000-0xfee00fff",
         ['reserved.yaml:5:9']),
    ]),
    ('gic-v3', ['gic-v3.yaml'], [
        ('MEM-IRQCHIP', 'gic-v3.yaml:16:7',
         "region 'gicd' of cell 'root' (0x800f000-0x800ffff) overlaps the GIC distributor (0x8000000-0x800ffff) at 0x800f000-0x800ffff",
         ['gic-v3.yaml:9:16']),
        ('MEM-IRQCHIP', 'gic-v3.yaml:18:7',
         "region 'gicr-cpu3' of cell 'root' (0x8100000-0x8100fff) overlaps the GIC redistributors (4 CPUs) (0x80a0000-0x811ffff) at 0x8100000-0x8100fff",
         ['gic-v3.yaml:10:16']),
    ]),
    ('gic-v2', ['gic-v2.yaml'], [
        ('MEM-IRQCHIP', 'gic-v2.yaml:20:7',
         "region 'gicc-page2' of cell 'root' (0x8011000-0x8011fff) overlaps the GIC CPU interface (0x8010000-0x8011fff) at 0x8011000-0x8011fff",
         ['gic-v2.yaml:10:16']),
        ('MEM-IRQCHIP', 'gic-v2.yaml:21:7',
         "region 'gich' of cell 'root' (0x8030000-0x8030fff) overlaps the GIC hypervisor interface (0x8030000-0x8031fff) at 0x8030000-0x8030fff",
         ['gic-v2.yaml:11:16']),
        ('MEM-IRQCHIP', 'gic-v2.yaml:22:7',
         "region 'gicv' of cell 'root' (0x8040000-0x8041fff) overlaps the GIC virtual CPU interface (0x8040000-0x8041fff) at 0x8040000-0x8041fff",
         ['gic-v2.yaml:12:16']),
    ]),
    # GICv4: 256 KiB per redistributor (hand: 0x080a0000 + 2 * 0x40000 = 0x08120000)
    ('gic-v4', ['gic-v4.yaml'], [
        ('MEM-IRQCHIP', 'gic-v4.yaml:17:7',
         "region 'gicr-cpu1' of cell 'root' (0x8110000-0x8110fff) overlaps the GIC redistributors (2 CPUs) (0x80a0000-0x811ffff) at 0x8110000-0x8110fff",
         ['gic-v4.yaml:10:16']),
    ]),
    ('irq-pin-base-arm', ['arm64.yaml', 'irq-pin-base-arm.yaml'], [
        ('IRQ-PIN-BASE', 'irq-pin-base-arm.yaml:11:39',
         "cell 'guest': irqchip pin_base 40 is not a multiple of 32; the hypervisor refuses the configuration",
         []),
        ('IRQ-PIN-BASE', 'irq-pin-base-arm.yaml:13:39',
         "cell 'guest': irqchip pin_base 928 puts the 128-line window above line 1024; the hypervisor refuses the configuration",
         []),
        # ignored, so its line 33 is not judged (not "not in root") either
        ('IRQ-CHIP-IGNORED', 'irq-pin-base-arm.yaml:15:17',
         "cell 'guest': irqchip 0x8010000 is not the GIC distributor (0x8000000); the hypervisor ignores the entry, so the cell gets none of its lines",
         ['arm64.yaml:9:16']),
    ]),
    ('irq-pin-base-x86', ['base.yaml', 'irq-pin-base-x86.yaml'], [
        ('IRQ-PIN-BASE', 'irq-pin-base-x86.yaml:8:51',
         "cell 'guest': IOAPIC irqchip 0xfec00000 has pin_base 24; the hypervisor refuses any IOAPIC entry whose pin_base is not 0",
         []),
    ]),
    # hand: INTA (00:00.0) -> SPI 32 + 68 + 1 - 1 = 100; the cell owns 101
    ('link-intx-irq', ['arm64.yaml', 'link-intx-irq.yaml'], [
        ('LINK-INTX-IRQ', 'link-intx-irq.yaml:13:3',
         "cell 'guest': link 'demo' uses INTx (INTA), which raises SPI 100 (32 + vpci_irq_base 68 + pin 1 - 1); the cell does not own that line in its GIC irqchip, so it never sees the link's interrupts",
         ['link-intx-irq.yaml:11:18']),
    ]),
    ('link-peer-domains', ['base.yaml', 'link-peer-domains.yaml'], [
        ('LINK-DOMAIN', 'link-peer-domains.yaml:10:3',
         "link 'demo': the peers disagree on the PCI domain (cell 'root' says domain 1; cell 'guest' says domain 0); the hypervisor pairs ivshmem devices by BDF alone, so they are one link",
         ['link-peer-domains.yaml:12:26']),
    ]),
    ('iso-private', ['base.yaml', 'peer.yaml', 'iso-private.yaml'], [
        ('ISO-PRIVATE', 'peer.yaml:8:7',
         "region 'ram' of cell 'peer' is private (not rootshared), but region 'ram' of cell 'guest' also covers 0x3a800000-0x3a8fffff",
         ['iso-private.yaml:7:7']),
    ]),
    ('cpu-empty', ['base.yaml', 'cpu-empty.yaml'], [
        ('CPU-EMPTY', 'cpu-empty.yaml:4:9',
         "cell 'guest' has no CPUs",
         []),
    ]),
    ('cpu-set-size', ['cpu-set-size.yaml'], [
        ('CPU-SET-SIZE', 'cpu-set-size.yaml:5:9',
         "cell 'lone': CPUs 70-71 do not fit in a CPU set of 8 bytes (CPUs 0-63)",
         ['cpu-set-size.yaml:6:17']),
        ('SYS-SKIPPED', 'cpu-set-size.yaml:3:9',
         "cell 'lone' is not tied to a system: only its own rules were checked; system-wide rules (root-cell resources, other cells, links) were skipped",
         []),
    ]),
    ('cpu-not-in-root', ['base.yaml', 'cpu-not-in-root.yaml'], [
        ('CPU-NOT-IN-ROOT', 'cpu-not-in-root.yaml:5:9',
         "cell 'guest': CPUs 5-6 are not owned by root cell 'root'",
         ['base.yaml:13:9']),
    ]),
    ('cpu-conflict', ['base.yaml', 'peer.yaml', 'cpu-conflict.yaml'], [
        ('CPU-CONFLICT', 'cpu-conflict.yaml:5:9',
         "CPU 3 of cell 'guest' is also in cell 'peer'",
         ['peer.yaml:6:9']),
    ]),
    ('cpu-root-none', ['base.yaml', 'cpu-root-none.yaml', 'peer.yaml'], [
        ('CPU-ZERO', 'cpu-root-none.yaml:5:9',
         "cell 'guest' takes CPU 0; x86 Linux in the root cell usually cannot take CPU 0 offline, so cell create fails there",
         []),
        ('CPU-ROOT-NONE', 'base.yaml:13:9',
         "the non-root cells take every CPU of root cell 'root' (0-3); it must keep at least one",
         ['cpu-root-none.yaml:5:9', 'peer.yaml:6:9']),
    ]),
    ('irq-pin-range', ['base.yaml', 'irq-pin-range.yaml'], [
        ('IRQ-PIN-RANGE', 'irq-pin-range.yaml:7:54',
         "cell 'guest': interrupt line 130 is outside this irqchip's lines 0-127 (pin_base 0 + 128)",
         []),
    ]),
    ('irq-not-in-root', ['base.yaml', 'irq-not-in-root.yaml'], [
        ('IRQ-NOT-IN-ROOT', 'irq-not-in-root.yaml:7:54',
         "cell 'guest': interrupt lines 30-31 of irqchip 0xfec00000 are not owned by root cell 'root'",
         ['base.yaml:19:66']),
        ('IRQ-NOT-IN-ROOT', 'irq-not-in-root.yaml:8:54',
         "cell 'guest': interrupt line 1 of irqchip 0xfec01000 is not owned by root cell 'root'",
         ['base.yaml:12:9']),
    ]),
    ('irq-conflict', ['base.yaml', 'peer.yaml', 'irq-conflict.yaml'], [
        ('IRQ-CONFLICT', 'irq-conflict.yaml:7:54',
         "interrupt line 5 of irqchip 0xfec00000 is in cell 'guest' and in cell 'peer'",
         ['peer.yaml:10:66']),
    ]),
    ('pci-caps-unknown', ['base.yaml', 'pci-caps-unknown.yaml'], [
        ('PCI-CAPS-UNKNOWN', 'pci-caps-unknown.yaml:11:54',
         "cell 'guest': PCI device 'nic' 00:02.0 names capability group 'msix', which the cell does not define",
         []),
    ]),
    ('pci-caps-order', ['base.yaml', 'pci-caps-order.yaml'], [
        ('PCI-CAPS-ORDER', 'pci-caps-order.yaml:17:60',
         "cell 'guest': PCI device 'ahci' 00:1f.2 names capability groups 'msi' and 'sata', which are not consecutive in pci_caps",
         ['pci-caps-order.yaml:13:13']),
    ]),
    ('pci-caps-misc', ['base.yaml', 'pci-caps-misc.yaml'], [
        ('PCI-CAPS-DUPLICATE', 'pci-caps-misc.yaml:10:13',
         "cell 'guest': capability group 'msi' is defined twice",
         ['pci-caps-misc.yaml:7:13']),
        ('PCI-CAPS-BOTH', 'pci-caps-misc.yaml:14:72',
         "cell 'guest': PCI device 'nic' 00:02.0 has both caps and caps_start",
         ['pci-caps-misc.yaml:14:53']),
    ]),
    ('pci-not-in-root', ['base.yaml', 'pci-not-in-root.yaml'], [
        ('PCI-NOT-IN-ROOT', 'pci-not-in-root.yaml:8:39',
         "cell 'guest': PCI device 'wifi' 00:05.0 is not a device of root cell 'root'",
         ['base.yaml:20:3']),
        ('PCI-DUPLICATE', 'pci-not-in-root.yaml:9:44',
         "cell 'guest' lists PCI device 'nic-again' 00:02.0 twice",
         ['pci-not-in-root.yaml:7:38']),
    ]),
    ('pci-conflict', ['base.yaml', 'peer.yaml', 'pci-conflict.yaml'], [
        ('PCI-CONFLICT', 'pci-conflict.yaml:7:39',
         "PCI device 'ahci' 00:1f.2 is in cell 'guest' and in cell 'peer'",
         ['peer.yaml:12:39']),
    ]),
    ('pci-shmem-region', ['base.yaml', 'pci-shmem-region.yaml'], [
        ('PCI-SHMEM-REGION', 'pci-shmem-region.yaml:12:52',
         "cell 'guest': ivshmem device #0 (00:0e.0): shmem_regions names 'ivshmem-stat', which is no memory region of the cell",
         []),
    ]),
    ('pci-shmem-range', ['base.yaml', 'pci-shmem-range.yaml'], [
        ('PCI-SHMEM-RANGE', 'pci-shmem-range.yaml:11:52',
         "cell 'guest': ivshmem device #0 (00:0e.0): its regions #0-#3 (shmem_regions_start 0 + 2 + 2 peers) run past the cell's 3 memory regions",
         []),
    ]),
    ('link-placement', ['base.yaml', 'link-placement.yaml', 'peer.yaml'], [
        ('LINK-PLACEMENT-UNKNOWN', 'link-placement.yaml:19:13',
         "cell 'guest' places link 'dmeo' in memory, which system 'base' does not declare",
         []),
        ('LINK-PLACEMENT-PEER', 'link-placement.yaml:21:13',
         "cell 'guest' places link 'side' in memory but is not one of its peers",
         ['link-placement.yaml:13:12']),
        ('LINK-PLACEMENT-TWICE', 'link-placement.yaml:22:13',
         "cell 'guest' places link 'demo' twice in memory",
         ['link-placement.yaml:20:13']),
        ('LINK-PLACEMENT-PEER', 'link-placement.yaml:24:13',
         "cell 'guest' places link 'side' in pci_devices but is not one of its peers",
         ['link-placement.yaml:13:12']),
    ]),
    ('link-placement-virt', ['base.yaml', 'link-placement-virt.yaml'], [
        ('MEM-ALIGN', 'link-placement-virt.yaml:10:26',
         "cell 'guest' maps link 'demo' at virt 0x10000800, which is not a multiple of 4 KiB",
         []),
    ]),
    ('link-peers', ['base.yaml', 'link-peers.yaml'], [
        ('LINK-PEERS', 'link-peers.yaml:4:69',
         "link 'solo' has 1 peer; a link has 2 to 12",
         []),
    ]),
    ('link-peer-unknown', ['base.yaml', 'guest.yaml', 'link-peer-unknown.yaml'], [
        ('LINK-PEER-UNKNOWN', 'link-peer-unknown.yaml:4:76',
         "link 'demo': peer 'gust' is no cell of system 'base'",
         []),
    ]),
    ('link-peer-duplicate', ['base.yaml', 'guest.yaml', 'link-peer-duplicate.yaml'], [
        ('LINK-PEER-DUPLICATE', 'link-peer-duplicate.yaml:4:83',
         "link 'demo' lists peer 'guest' twice",
         ['link-peer-duplicate.yaml:4:76']),
    ]),
    ('link-msix', ['base.yaml', 'guest.yaml', 'link-msix.yaml'], [
        ('LINK-MSIX', 'link-msix.yaml:4:96',
         "link 'demo' asks for 17 MSI-X vectors; at most 16",
         []),
    ]),
    ('link-align', ['base.yaml', 'guest.yaml', 'link-align.yaml'], [
        ('LINK-ALIGN', 'link-align.yaml:4:30',
         "link 'demo': base 0x3f000800 is not a multiple of 4 KiB",
         []),
        ('LINK-ALIGN', 'link-align.yaml:4:58',
         "link 'demo': output section 0x1800 is not a multiple of 4 KiB",
         []),
    ]),
    ('link-state-table', ['base.yaml', 'guest.yaml', 'link-state-table.yaml'], [
        ('LINK-STATE-TABLE', 'link-state-table.yaml:4:55',
         "link 'demo': the state table has 0 bytes; 2 peers need at least 8",
         []),
    ]),
    ('link-bdf', ['base.yaml', 'guest.yaml', 'link-bdf.yaml'], [
        ('LINK-BDF-DUPLICATE', 'link-bdf.yaml:5:3',
         "link 'two' and link 'one' have the same PCI address 00:0e.0",
         ['link-bdf.yaml:4:3']),
        ('LINK-BDF-CLASH', 'link-bdf.yaml:6:3',
         "link 'three' uses PCI address 00:02.0, which is physical device 'nic' of cell 'root'",
         ['base.yaml:21:38']),
    ]),
    ('link-overlap', ['base.yaml', 'guest.yaml', 'link-overlap.yaml'], [
        ('LINK-OVERLAP', 'link-overlap.yaml:8:3',
         "link 'two' overlaps link 'one' at 0x3f002000-0x3f002fff",
         ['link-overlap.yaml:7:3']),
    ]),
    ('link-protocol', ['base.yaml', 'guest.yaml', 'link-protocol.yaml'], [
        ('LINK-PROTOCOL', 'link-protocol.yaml:4:98',
         "link 'reserved': protocol 0x0100 is reserved",
         []),
        ('LINK-PROTOCOL', 'link-protocol.yaml:5:91',
         "link 'front': protocol 0x8001 is a virtio front-end value; a link names its back-end (virtio:DEVICE) and 'backend'",
         []),
    ]),
    ('link-backend', ['base.yaml', 'guest.yaml', 'link-backend.yaml'], [
        ('LINK-BACKEND', 'link-backend.yaml:4:95',
         "link 'nobackend' is a virtio link but names no back-end",
         []),
        ('LINK-BACKEND', 'link-backend.yaml:5:115',
         "link 'stranger': backend 'gust' is not a peer of the link",
         []),
        ('LINK-BACKEND', 'link-backend.yaml:6:109',
         "link 'veth' names backend 'guest', but its protocol 0x0001 is not virtio",
         []),
    ]),
    # one finding per region: root's 'ram' writes both output sections (one TX-WRITE), and
    # is not reported again as LINK-ROOT-ACCESS
    ('link-root-covers', ['base.yaml', 'guest.yaml', 'peer.yaml', 'link-root-covers.yaml'], [
        ('LINK-TX-WRITE', 'base.yaml:15:7',
         "the output sections of peer 0 (guest) and peer 1 (peer) of link 'covered' (0x30001000-0x30002fff) are writable by region 'ram' of cell 'root'; only each one's owner may write it",
         ['link-root-covers.yaml:5:3']),
    ]),
    # one finding: the intruder's window writes an output section (not again as LINK-ACCESS)
    ('link-tx-intruder', ['base.yaml', 'guest.yaml', 'link-tx-intruder.yaml'], [
        ('LINK-TX-WRITE', 'link-tx-intruder.yaml:11:7',
         "the output section of peer 1 (guest) of link 'demo' (0x3f002000-0x3f002fff) is writable by region 'window' of cell 'intruder'; only its owner may write it",
         ['link-tx-intruder.yaml:5:3']),
    ]),
    ('link-reader', ['base.yaml', 'guest.yaml', 'link-reader.yaml'], [
        ('LINK-ACCESS', 'link-reader.yaml:11:7',
         "cell 'reader' is not a peer of link 'demo' but can read its memory 0x3f000000-0x3f000fff through region 'window'",
         ['link-reader.yaml:5:3']),
    ]),
    ('link-root-reads', ['base.yaml', 'guest.yaml', 'peer.yaml', 'link-root-reads.yaml'], [
        ('LINK-ROOT-ACCESS', 'base.yaml:15:7',
         "root cell 'root' is not a peer of link 'shared' but can read and write its memory 0x30000000-0x30001fff through region 'ram'",
         ['link-root-reads.yaml:6:3']),
    ]),
    ('link-tx-peer', ['base.yaml', 'link-tx-peer.yaml'], [
        ('MEM-OVERLAP-PHYS', 'link-tx-peer.yaml:12:7',
         "region 'sneaky' and region #2 (link demo: output section of peer 0) of cell 'guest' overlap physically at 0x3f001000-0x3f001fff",
         ['link-tx-peer.yaml:11:7']),
        ('LINK-TX-WRITE', 'link-tx-peer.yaml:12:7',
         "the output section of peer 0 (root) of link 'demo' (0x3f001000-0x3f001fff) is writable by region 'sneaky' of cell 'guest'; only its owner may write it",
         ['link-tx-peer.yaml:5:3']),
    ]),
    ('raw-mismatch', ['base.yaml', 'raw-a.yaml', 'raw-b-mismatch.yaml'], [
        ('LINK-MISMATCH', 'raw-b-mismatch.yaml:15:22',
         "ivshmem device 00:0e.0: cell 'raw-b' says 4 MSI-X vectors, cell 'raw-a' says 2",
         ['raw-a.yaml:15:22']),
        ('LINK-MISMATCH', 'raw-b-mismatch.yaml:15:41',
         "ivshmem device 00:0e.0: cell 'raw-b' uses protocol 0x0001, cell 'raw-a' 0x0000",
         ['raw-a.yaml:14:7']),
    ]),
    ('raw-layout', ['base.yaml', 'raw-a.yaml', 'raw-b-layout.yaml'], [
        ('LINK-MISMATCH', 'raw-b-layout.yaml:9:7',
         "ivshmem device 00:0e.0: the shared memory of cell 'raw-b' differs from that of cell 'raw-a': state table address 0x3f010000 vs 0x3f000000",
         ['raw-a.yaml:9:7']),
    ]),
    ('raw-dup-id', ['base.yaml', 'raw-a.yaml', 'raw-b-dupid.yaml'], [
        ('LINK-DEV-ID', 'raw-b-dupid.yaml:14:69',
         "ivshmem device 00:0e.0: cells 'raw-a' and 'raw-b' both claim peer ID 0",
         ['raw-a.yaml:14:77']),
        ('LINK-TX-WRITE', 'raw-b-dupid.yaml:12:7',
         "the output section of peer 1 of ivshmem device 00:0e.0 (0x3f003000-0x3f003fff) is writable by region 'shm-out1' of cell 'raw-b'; only its owner may write it",
         ['raw-a.yaml:14:28']),
    ]),
    ('raw-tx', ['base.yaml', 'raw-a.yaml', 'raw-b-tx.yaml'], [
        ('LINK-TX-WRITE', 'raw-b-tx.yaml:11:7',
         "the output section of peer 0 (raw-a) of ivshmem device 00:0e.0 (0x3f002000-0x3f002fff) is writable by region 'shm-out0' of cell 'raw-b'; only its owner may write it",
         ['raw-a.yaml:14:28']),
    ]),
    # every permission fault a raw peer can have, one at a time (docs/format/ivshmem-v2.md table)
    ('raw-state-write', ['base.yaml', 'raw-a.yaml', 'raw-b-state-write.yaml'], [
        ('LINK-PERMISSION', 'raw-b-state-write.yaml:9:60',
         "ivshmem device 00:0e.0: cell 'raw-b' (peer 1) maps the state table writable through region 'shm-state'; the state table is read-only for every peer (the hypervisor writes it)",
         ['raw-b-state-write.yaml:14:28']),
    ]),
    ('raw-rw-readonly', ['base.yaml', 'raw-a.yaml', 'raw-b-rw-readonly.yaml'], [
        ('LINK-PERMISSION', 'raw-b-rw-readonly.yaml:10:57',
         "ivshmem device 00:0e.0: cell 'raw-b' (peer 1) cannot write the read/write section through region 'shm-rw'; it is writable by every peer",
         ['raw-b-rw-readonly.yaml:14:28']),
    ]),
    ('raw-own-readonly', ['base.yaml', 'raw-a.yaml', 'raw-b-own-readonly.yaml'], [
        ('LINK-PERMISSION', 'raw-b-own-readonly.yaml:12:59',
         "ivshmem device 00:0e.0: cell 'raw-b' (peer 1) cannot write its own output section through region 'shm-out1'; a peer sends through its own output section",
         ['raw-b-own-readonly.yaml:14:28']),
    ]),
    ('raw-no-read', ['base.yaml', 'raw-a.yaml', 'raw-b-no-read.yaml'], [
        ('LINK-PERMISSION', 'raw-b-no-read.yaml:11:59',
         "ivshmem device 00:0e.0: cell 'raw-b' (peer 1) cannot read the output section of peer 0 through region 'shm-out0'; every peer reads the others' output sections",
         ['raw-b-no-read.yaml:14:28']),
    ]),
    # peers in different PCI domains are one link (paired by BDF alone): one warning, no
    # half-link errors
    ('raw-domain', ['base.yaml', 'raw-a.yaml', 'raw-b-domain.yaml'], [
        ('LINK-DOMAIN', 'raw-b-domain.yaml:14:31',
         "ivshmem device 00:0e.0: the peers disagree on the PCI domain (cell 'raw-a' says domain 0; cell 'raw-b' says domain 1); the hypervisor pairs ivshmem devices by BDF alone, so they are one link",
         ['raw-a.yaml:14:28']),
    ]),
    ('raw-two-backends', ['base.yaml', 'raw-a-vback.yaml', 'raw-b-vback.yaml'], [
        ('LINK-MISMATCH', 'raw-b-vback.yaml:15:41',
         "ivshmem device 00:0e.0: cells 'raw-a' and 'raw-b' are both virtio back-ends",
         ['raw-a-vback.yaml:15:41']),
    ]),
    ('raw-single', ['base.yaml', 'raw-single.yaml'], [
        ('MEM-SIZE-ZERO', 'raw-single.yaml:8:49',
         "region 'shm-state' of cell 'raw-a' has size 0",
         []),
        ('LINK-DEV-ID', 'raw-single.yaml:13:77',
         "cell 'raw-a': ivshmem device #0 (00:0e.0) has shmem_dev_id 5, but peer IDs of a 2-peer link are 0-1: the cell sees an ID outside its own peer count",
         []),
        ('LINK-MSIX', 'raw-single.yaml:14:22',
         "cell 'raw-a': ivshmem device #0 (00:0e.0) has 17 MSI-X vectors; at most 16",
         []),
        ('LINK-PROTOCOL', 'raw-single.yaml:14:42',
         "cell 'raw-a': ivshmem device #0 (00:0e.0): protocol 0x0200 is reserved",
         []),
        ('LINK-STATE-TABLE', 'raw-single.yaml:8:7',
         "cell 'raw-a': ivshmem device #0 (00:0e.0): its state table (region 'shm-state') has 0 bytes; 2 peers need at least 8",
         ['raw-single.yaml:13:7']),
    ]),
    ('raw-peers', ['base.yaml', 'raw-peers.yaml'], [
        ('LINK-PEERS', 'raw-peers.yaml:13:76',
         "cell 'raw-a': ivshmem device #0 (00:0e.0) has shmem_peers 13; a link has 2 to 12 peers",
         []),
        ('PCI-SHMEM-RANGE', 'raw-peers.yaml:13:52',
         "cell 'raw-a': ivshmem device #0 (00:0e.0): its regions #0-#14 (shmem_regions_start 0 + 2 + 13 peers) run past the cell's 4 memory regions",
         []),
    ]),
    ('standalone', ['standalone.yaml'], [
        ('SYS-SKIPPED', 'standalone.yaml:3:9',
         "cell 'lone' is not tied to a system: only its own rules were checked; system-wide rules (root-cell resources, other cells, links) were skipped",
         []),
    ]),
]


@pytest.mark.parametrize("files, expected", [pytest.param(f, e, id=c) for c, f, e in CASES])
def test_rule_reports_exactly(files, expected):
    diagnostics = diagnostics_of(*files)
    assert [summary(d) for d in diagnostics] == expected
    for d in diagnostics:
        assert d.severity is RULES[d.rule].severity, d.rule


def test_every_validation_rule_has_a_case():
    emitted = {rule for _, _, expected in CASES for rule, *_ in expected}
    validation_rules = {rule for family in ("validate", "cell_rules", "link_rules", "system_rules")
                        for rule in re.findall(r'"([A-Z]+(?:-[A-Z0-9]+)+)"',
                                               (ROOT / "partcfg" / "check" / f"{family}.py").read_text())}
    # PCI-CAPS-COUNT needs 65536 capabilities: test_pci_caps_count_beyond_u16 builds them;
    # CELL-CONFIG-SIZE some 2000 regions: test_config_larger_than_16_pages_is_refused
    # the scenario rules and LINK-PEER-ABSENT need a system file written per case: test_scenarios
    assert validation_rules - emitted - {"PCI-CAPS-COUNT", "CELL-CONFIG-SIZE", "LINK-PEER-ABSENT",
                                         "SCENARIO-CELL-UNUSED", "SCENARIO-CELL-UNKNOWN",
                                         "SCENARIO-IMPOSSIBLE"} == set()


@pytest.mark.parametrize("files, rule, hint", [
    (["base.yaml", "pci-caps-unknown.yaml"], "PCI-CAPS-UNKNOWN", "did you mean 'msi'?"),
    (["base.yaml", "pci-shmem-region.yaml"], "PCI-SHMEM-REGION", "did you mean 'ivshmem-state'?"),
    (["base.yaml", "link-placement.yaml", "peer.yaml"], "LINK-PLACEMENT-UNKNOWN", "did you mean 'demo'?"),
    (["base.yaml", "guest.yaml", "link-peer-unknown.yaml"], "LINK-PEER-UNKNOWN", "did you mean 'guest'?"),
    (["base.yaml", "guest.yaml", "link-backend.yaml"], "LINK-BACKEND", "add 'backend: <peer>'"),
    (["base.yaml", "aarch32-x86.yaml"], "CELL-AARCH32",
     "x86 has no AArch32 cells: remove the aarch32 flag"),
    (["base.yaml", "mem-subpage-width.yaml"], "MEM-SUBPAGE-WIDTH",
     "add the access sizes the device is used with (io-8, io-16, io-32, io-64; several together "
     "are fine) and io-unaligned if it is accessed at unaligned addresses; or align it to 4 KiB"),
])
def test_hints(files, rule, hint):
    assert hint in [d.hint for d in diagnostics_of(*files) if d.rule == rule]


@pytest.mark.parametrize("files", [
    ["base.yaml"],
    ["base.yaml", "guest.yaml", "peer.yaml"],
    ["base.yaml", "raw-a.yaml", "raw-b.yaml"],
    ["base.yaml", "raw-a-vback.yaml", "raw-b-vfront.yaml"],
    ["arm64.yaml", "arm64-aarch32.yaml"],
], ids=lambda files: "+".join(f.removesuffix(".yaml") for f in files))
def test_valid_fixtures_give_no_diagnostic(files):
    assert diagnostics_of(*files) == []


def example_files(name: str) -> list[Path]:
    cells = ROOT / "cells"
    if (cells / name).is_dir():
        return sorted((cells / name).glob("*.yaml"))
    return sorted(p for p in cells.glob(f"{name}*.yaml")
                  if p.stem == name or p.stem.startswith(name + "-"))


@pytest.mark.parametrize("name", ["qemu-x86", "qemu-arm64"])
def test_bundled_examples_are_clean(name):
    files = example_files(name)
    if not files:
        pytest.skip(f"example {name} not present")
    assembly = model_assembly.assembly_of(model_document.document_of(load_yaml_file(f)) for f in files)
    assert assembly.diagnostics == []
    assert len(assembly.systems) == 1
    problems = [d for d in validate.diagnostics_of_assembly(assembly)
                if d.severity in (Severity.ERROR, Severity.WARNING)]
    assert problems == []


def test_several_problems_are_all_reported_in_one_run():
    diagnostics = diagnostics_of("base.yaml", "many-problems.yaml")
    assert sorted(d.rule for d in diagnostics) == sorted([
        "MEM-ALIGN", "MEM-OVERLAP-PHYS", "LINK-PLACEMENT-UNKNOWN", "CPU-NOT-IN-ROOT",
        "IRQ-NOT-IN-ROOT", "PCI-NOT-IN-ROOT"])
    assert {Path(d.location.file).name for d in diagnostics} == {"many-problems.yaml"}


def test_pci_caps_count_beyond_u16():
    assembly = assembly_of("pci-caps-count.yaml")
    group = assembly.standalone[0].pci_caps[0]
    group.caps = group.caps * 0x10000     # one more than a u16 index can reach
    diagnostics = validate.diagnostics_of_assembly(assembly)
    assert [summary(d) for d in diagnostics if d.rule == "PCI-CAPS-COUNT"] == [
        ("PCI-CAPS-COUNT", "pci-caps-count.yaml:6:3",
         "cell 'lone' has 65536 PCI capabilities; at most 65535 can be indexed", [])]


@pytest.mark.slow  # validates a cell of some 2000 regions twice
def test_config_larger_than_16_pages_is_refused():
    """With as many regions as fit in 16 pages of blob (descriptor plus arrays) the cell
    is accepted, with one region (32 bytes) more cell create refuses it; the blob's size
    is measured by rendering it."""
    from partcfg.layout import layout_of_system
    from partcfg.render.blob import blobs_of_system
    assembly = assembly_of("base.yaml", "guest.yaml")
    system = assembly.systems[0]
    guest = system.cells[0]
    ram, rest = guest.memory[0], list(guest.memory[1:])
    guest.memory = [ram] + rest
    size = len(blobs_of_system(layout_of_system(system))[guest.name])
    fill = (16 * 4096 - size) // 32
    for extra, refused in ((fill, False), (fill + 1, True)):
        guest.memory = [ram] * (1 + extra) + rest
        assert (len(blobs_of_system(layout_of_system(system))[guest.name]) > 16 * 4096) is refused
        found = [summary(d) for d in validate.diagnostics_of_assembly(assembly)
                 if d.rule == "CELL-CONFIG-SIZE"]
        assert bool(found) is refused
    assert found[0][1] == "guest.yaml:5:9"   # the cell's name
    assert "cell create refuses more than 16 pages (65536 bytes)" in found[0][2]


def test_aarch32_on_a_32_bit_arm_system_says_the_architecture_rule():
    hints = [d.hint for d in diagnostics_of("base.yaml", "aarch32-x86.yaml")]
    assert hints == ["x86 has no AArch32 cells: remove the aarch32 flag"]
    from partcfg.check.cell_rules import _check_cell_flags
    from partcfg.check.facts import ARCH_ARM
    cell = assembly_of("base.yaml", "aarch32-x86.yaml").systems[0].cells[0]
    out = []
    _check_cell_flags(None, cell, ARCH_ARM, out)
    assert "keeps architecture arm64 and the aarch32 flag" in out[0].hint


def test_standalone_cell_gets_one_skipped_note_and_cell_rules_only():
    diagnostics = diagnostics_of("standalone.yaml", "cell-name-empty.yaml")
    assert [d.rule for d in diagnostics] == ["SYS-SKIPPED", "CELL-NAME", "SYS-SKIPPED"]
    assert all(d.severity is Severity.INFO for d in diagnostics if d.rule == "SYS-SKIPPED")


def test_system_diagnostics_include_each_cells_own():
    assembly = assembly_of("base.yaml", "mem-overlap-phys.yaml", "cpu-set-size.yaml")
    system = assembly.systems[0]
    guest = system.cell_named("guest")
    own = validate.diagnostics_of_cell(system, guest)
    assert [d.rule for d in own] == ["MEM-OVERLAP-PHYS"]
    assert own[0] in validate.diagnostics_of_system(system)
    assert [d.rule for d in validate.diagnostics_of_cell(None, assembly.standalone[0])] == ["CPU-SET-SIZE"]


# --- the effective-access map ------------------------------------------------------------------

CHUNK = 0x10000


def generated_system(cells: int) -> model_assembly.System:
    """A root cell with RAM [0, cells * 64K) and ``cells`` non-root cells; cell i maps the
    first half of chunk i read-only and shares its second half's first page with the root
    (rootshared, read/write)."""
    texts = {"system.yaml": f"""system: gen
platform:
  arch: x86
  hypervisor_memory: {{phys: 0x80000000, size: 1M}}
cell:
  name: root
  cpus: 0-{cells}
  memory:
    - {{name: ram, phys: 0, size: {cells * CHUNK:#x}, flags: [read, write, execute, dma]}}
"""}
    for i in range(cells):
        base = i * CHUNK
        texts[f"c{i}.yaml"] = f"""system: gen
cell:
  name: c{i}
  cpus: {i + 1}
  memory:
    - {{name: half, phys: {base:#x}, virt: 0, size: {CHUNK // 2:#x}, flags: [read]}}
    - {{name: shared, phys: {base + CHUNK // 2:#x}, virt: 0x100000, size: 4K, flags: [read, write, rootshared]}}
"""
    assembly = model_assembly.assembly_of(model_document.document_of(load_yaml_text(t, n)) for n, t in texts.items())
    assert assembly.diagnostics == []
    return assembly.systems[0]


def test_effective_access_of_a_generated_system():
    cells = 300
    system = generated_system(cells)
    intervals = access_map.effective_access_of(system)
    assert len(intervals) == 3 * cells
    rwxd = jh.MEM_READ | jh.MEM_WRITE | jh.MEM_EXECUTE | jh.MEM_DMA
    for i in range(cells):
        half, shared, rest = intervals[3 * i: 3 * i + 3]
        base = i * CHUNK
        assert (half.start, half.end) == (base, base + CHUNK // 2)
        assert [(g.name, g.access, g.rootshared) for g in half.cells] == [
            ("root", rwxd, False), (f"c{i}", jh.MEM_READ, False)]
        assert (shared.start, shared.end) == (base + CHUNK // 2, base + CHUNK // 2 + 0x1000)
        assert shared.of(f"c{i}").rootshared and shared.of(f"c{i}").can(jh.MEM_READ | jh.MEM_WRITE)
        assert shared.of("c0" if i else "c1") is None
        assert (rest.start, rest.end) == (base + CHUNK // 2 + 0x1000, base + CHUNK)
        assert [g.name for g in rest.cells] == ["root"]
    assert validate.diagnostics_of_system(system) == []


def test_effective_access_combines_the_regions_of_one_cell():
    system = assembly_of("base.yaml", "mem-overlap-phys.yaml").systems[0]
    inside = [iv for iv in access_map.effective_access_of(system) if iv.start == 0x3a6ff000]
    assert len(inside) == 1
    grant = inside[0].of("guest")
    assert grant.access == jh.MEM_READ | jh.MEM_WRITE | jh.MEM_EXECUTE
    assert [r.name for r in grant.regions] == ["ram", "buffer"]
    assert (inside[0].start, inside[0].end) == (0x3a6ff000, 0x3a700000)


def test_effective_access_leaves_out_comm_region_and_placeholders():
    system = assembly_of("base.yaml", "guest.yaml").systems[0]
    for iv in access_map.effective_access_of(system):
        for grant in iv.cells:
            assert all(r.size and not r.flags & jh.MEM_COMM_REGION for r in grant.regions)
    starts = [iv.start for iv in access_map.effective_access_of(system)]
    assert starts == sorted(starts)


# --- the rule registry ---------------------------------------------------------------------------

RULE_ID = re.compile(r"^[A-Z][A-Z0-9]*(?:-[A-Z0-9]+)+$")
QUOTED_ID = r"""["']([A-Z][A-Z0-9]*(?:-[A-Z0-9]+)+)["']"""
REPORTED_ID = re.compile(r"\b(?:error|warning|info|Diagnostic|_fail)\(\s*" + QUOTED_ID)


def rule_ids_in(sources: dict[str, str]) -> dict[str, str]:
    """Rule id -> where it appears in ``sources`` (file name -> Python text): the first
    argument of error()/warning()/info() calls, and any other quoted id with a registered
    prefix (ids passed around in variables or tables, e.g. ``rule="IMPORT-ARCH"``)."""
    prefixes = {rule.split("-")[0] for rule in RULES}
    found: dict[str, str] = {}
    for file, text in sources.items():
        hits = [(m.start(1), m.group(1)) for m in REPORTED_ID.finditer(text)]
        hits += [(m.start(1), m.group(1)) for m in re.finditer(QUOTED_ID, text)
                 if m.group(1).split("-")[0] in prefixes]
        for at, rule in sorted(hits):
            found.setdefault(rule, f"{file}:{text.count(chr(10), 0, at) + 1}")
    return found


def test_every_emitted_rule_id_is_registered():
    sources = {str(p.relative_to(ROOT)): p.read_text()
               for p in sorted((ROOT / "partcfg").rglob("*.py")) if p.name != "rules.py"}
    found = rule_ids_in(sources)
    assert {"YAML-SYNTAX", "SCHEMA-MISSING", "CELL-DUPLICATE", "MEM-OVERLAP-PHYS"} <= set(found)
    missing = {rule: where for rule, where in found.items() if rule not in RULES}
    assert missing == {}


def test_registry_is_well_formed():
    assert len(RULES) == len(_TABLE)            # no id registered twice
    for rule in RULES.values():
        assert RULE_ID.match(rule.id)
        assert rule.title and rule.description and rule.help
        assert isinstance(rule.severity, Severity)


def test_rule_id_scan_finds_calls_and_tables():
    sample = ('error("NEW-CALL", "x")\n'
              'diagnostics.warning(\n    "OTHER-CALL", "y")\n'
              '_RULE_OF = {"kind": "SCHEMA-NEW-KIND"}\n'
              'TEXT = "UTF-8"\n')
    assert set(rule_ids_in({"sample.py": sample})) == {"NEW-CALL", "OTHER-CALL", "SCHEMA-NEW-KIND"}


# --- what the speed work (issue 13) must not change, and must keep cheap --------------------

def _bench_system_sources(cells: int) -> dict:
    """bench/validate.py's generated system (valid, ``cells`` cells with a 2-peer link per
    pair), each file loaded as the pipeline loads it."""
    import sys
    sys.path.insert(0, str(ROOT / "bench"))
    import validate as bench_validate  # bench/validate.py
    texts = bench_validate.system_texts(bench_validate.system_data(cells, False))
    return {name: load_yaml_text(text, name) for name, text in texts.items()}


def test_a_valid_system_never_composes_the_links_file():
    """Positions are found on demand (composing the file's node tree and walking it); a
    valid system asks for none of the links file's: the PCI-domain rule used to ask for
    every link's position up front, walking the whole links mapping once per link."""
    sources = _bench_system_sources(8)
    assert all(s.root is None for s in sources.values())  # read by the simple path
    assembly = model_assembly.assembly_of([model_document.document_of(s) for s in sources.values()])
    assert validate.diagnostics_of_assembly(assembly) == []
    assert sources["links.yaml"].root is None


def test_domain_disagreement_still_points_at_both_peers():
    """The positions the PCI-domain rule now finds lazily are the ones it found eagerly:
    cell2's ``peer_domains`` entry, and cell1's, the link's own ``domain``."""
    sources = _bench_system_sources(4)
    lines = sources["links.yaml"].text.splitlines()
    line = next(n for n, x in enumerate(lines, 1) if x.startswith("  l1:"))
    assert "domain: 1," in lines[line - 1] and "peers: [cell1, cell2]" in lines[line - 1]
    lines[line - 1] = lines[line - 1].replace("peers: [cell1, cell2]",
                                              "peers: [cell1, cell2], peer_domains: {cell2: 2}")
    sources["links.yaml"] = load_yaml_text("\n".join(lines) + "\n", "links.yaml")
    assembly = model_assembly.assembly_of([model_document.document_of(s) for s in sources.values()])
    found = [d for d in validate.diagnostics_of_assembly(assembly) if d.rule == "LINK-DOMAIN"]
    assert len(found) == 1
    where, first = found[0].location, found[0].related[0]
    assert (where.file, where.line, first.file, first.line) == ("links.yaml", line, "links.yaml", line)
    assert lines[line - 1][where.column - 1:].startswith("2}")
    assert lines[line - 1][first.column - 1:].startswith("1, base:")


def test_declared_regions_are_the_dataclass_they_claim_to_be():
    """regions_of_cell builds declared regions without the dataclass constructor; they
    must equal what the constructor gives, field for field."""
    import dataclasses
    doc = model_document.document_of(load_yaml_text(
        "system: s\ncell:\n  name: c\n  memory:\n    - {name: a, phys: 0x1000, size: 4K, flags: [read]}\n"
        "    - {phys: 0x2000, virt: 0x0, size: 8K, flags: [read, write]}\n", "c.yaml"))
    regions = model_regions.regions_of_cell(None, doc.cell)
    expected = [model_regions.Region(0x1000, 0x1000, 0x1000, jh.MEM_FLAGS["read"], "declared",
                                     doc.cell.memory[0].source, name="a"),
                model_regions.Region(0x2000, 0, 0x2000, jh.MEM_FLAGS["read"] | jh.MEM_FLAGS["write"],
                                     "declared", doc.cell.memory[1].source)]
    assert regions == expected
    assert [vars(r) for r in regions] == [{f.name: getattr(e, f.name) for f in dataclasses.fields(e)}
                                          for e in expected]
    with pytest.raises(dataclasses.FrozenInstanceError):
        regions[0].phys = 0


def test_every_model_object_knows_its_source():
    """_attach_sources looks only into the fields that can hold model objects; every model
    object of a document that uses every nesting still gets its position."""
    doc = model_document.document_of(load_yaml_file(FIXTURES / "base.yaml"))
    seen = []

    def walk(value, path):
        if isinstance(value, model.Node):
            seen.append(type(value).__name__)
            assert value.source is not None and value.source.path == path, path
            for name, item in value.__dict__.items():
                walk(item, path + (name,))
        elif isinstance(value, list):
            for i, item in enumerate(value):
                walk(item, path + (i,))
        elif isinstance(value, dict):
            for key, item in value.items():
                walk(item, path + (key,))

    walk(doc, ())
    assert {"Document", "Cell", "MemoryRegion", "Irqchip", "PciDevice"} <= set(seen)
    assert model_document._fields_with_nodes(model.MemoryRegion) == ()
    assert set(model_document._fields_with_nodes(model.Cell)) >= {"memory", "irqchips", "pci_devices", "console"}


class _CountingLinks(dict):
    """A system's links that count how often all of them are walked."""
    walks = 0

    def values(self):
        type(self).walks += 1
        return super().values()

    def items(self):
        type(self).walks += 1
        return super().items()


def test_validation_walks_the_links_a_fixed_number_of_times():
    """Per-cell rules must not walk every link of the system for each cell (the
    configuration-size rule did, for a million regions: 17 s of 30): the walks over all
    links do not grow with the number of cells."""
    walks = []
    for cells in (8, 40):
        sources = _bench_system_sources(cells)
        assembly = model_assembly.assembly_of([model_document.document_of(s) for s in sources.values()])
        system = assembly.systems[0]
        # 1,000 more links (between cells not in this call) than fit in a configuration:
        # counting a cell's links then matters for every cell
        model_link = system.links["l1"]
        extra = {f"x{n}": model_link.model_copy(update={
            "peers": [f"ghost{n}", f"ghost{n}b"], "bdf": 0x1000 + n,
            "base": model_link.base + (0x1000 + n) * 0x10000}) for n in range(1000)}
        system.links = _CountingLinks({**system.links, **extra})
        _CountingLinks.walks = 0
        found = validate.diagnostics_of_assembly(assembly)
        assert {d.rule for d in found} == {"LINK-PEER-ABSENT"}
        walks.append(_CountingLinks.walks)
    assert walks[0] == walks[1], walks


def test_links_count_toward_the_configuration_size():
    """Each link a cell is a peer of adds a PCI device to its configuration: counted the
    same way whether the caller knows the count or the rule walks the links."""
    sources = _bench_system_sources(4)
    assembly = model_assembly.assembly_of([model_document.document_of(s) for s in sources.values()])
    system = assembly.systems[0]
    cell = system.cells[0]
    regions = model_regions.regions_of_cell(system, cell)
    fill = (cell_rules.CONFIG_PAGES_LIMIT * facts.PAGE - jh.CELL_DESC.size - 8
            - len(cell.irqchips) * jh.IRQCHIP.size - len(cell.pci_devices) * jh.PCI_DEVICE.size
            - len(regions) * jh.MEMORY.size) // jh.MEMORY.size
    regions = regions + regions[-1:] * fill     # full, but for the link's device
    links = [name for name, link in system.links.items() if cell.name in link.peers]
    assert links == ["root-link", "l1"]
    for count in (None, 2):
        out = []
        cell_rules._check_config_size(system, cell, regions, False, count, out)
        assert [d.rule for d in out] == ["CELL-CONFIG-SIZE"]
        assert f"{len(regions)} memory regions, 3 PCI devices" in out[0].message  # its own + 2
    out = []
    cell_rules._check_config_size(system, cell, regions, False, 0, out)
    assert out == []
