"""Jailhouse-style C configuration sources (``build --emit c``).

Compiled with gcc and copied out with ``objcopy -O binary``, every cell's C source must
give exactly the bytes of the directly built ``.cell``: for the examples and for a
fixture that exercises every struct, flag table and spelling. The files must also use
only Jailhouse's own names, so they build against Jailhouse's headers: every
identifier they use is checked against the names of Jailhouse's revision-14
include/jailhouse/cell-config.h and console.h (listed below), and with JAILHOUSE_SRC
pointing at a Jailhouse tree they are compiled against those headers too.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from support.firmware import (FIXTURES, GOLDEN_EMIT, SYSTEMS, example_outputs,
                              needs_gcc, needs_objcopy, run, write_tree)
from partcfg.commands.pipeline import build_outputs_of, checked_files_of
from partcfg.render.csource import HEADER_STRUCTS, macro_values

# Jailhouse's names (revision 14: include/jailhouse/cell-config.h and console.h) that a
# configuration source may use, with the macro values. partcfg's header must agree.
JAILHOUSE_MACROS = {
    "JAILHOUSE_X86": 0, "JAILHOUSE_ARM": 1, "JAILHOUSE_ARM64": 2,
    "JAILHOUSE_CONFIG_REVISION": 14, "JAILHOUSE_CELL_NAME_MAXLEN": 31,
    "JAILHOUSE_CELL_PASSIVE_COMMREG": 0x1, "JAILHOUSE_CELL_TEST_DEVICE": 0x2,
    "JAILHOUSE_CELL_AARCH32": 0x4, "JAILHOUSE_CELL_VIRTUAL_CONSOLE_PERMITTED": 0x40000000,
    "JAILHOUSE_CELL_VIRTUAL_CONSOLE_ACTIVE": 0x80000000,
    "JAILHOUSE_CELL_DESC_SIGNATURE": "JHCLL", "JAILHOUSE_SYSTEM_SIGNATURE": "JHSYS",
    "JAILHOUSE_MEM_READ": 0x1, "JAILHOUSE_MEM_WRITE": 0x2, "JAILHOUSE_MEM_EXECUTE": 0x4,
    "JAILHOUSE_MEM_DMA": 0x8, "JAILHOUSE_MEM_IO": 0x10, "JAILHOUSE_MEM_COMM_REGION": 0x20,
    "JAILHOUSE_MEM_LOADABLE": 0x40, "JAILHOUSE_MEM_ROOTSHARED": 0x80,
    "JAILHOUSE_MEM_NO_HUGEPAGES": 0x100, "JAILHOUSE_MEM_IO_UNALIGNED": 0x8000,
    "JAILHOUSE_MEM_IO_8": 0x10000, "JAILHOUSE_MEM_IO_16": 0x20000,
    "JAILHOUSE_MEM_IO_32": 0x40000, "JAILHOUSE_MEM_IO_64": 0x80000,
    "JAILHOUSE_CACHE_L3_CODE": 1, "JAILHOUSE_CACHE_L3_DATA": 2, "JAILHOUSE_CACHE_L3": 3,
    "JAILHOUSE_CACHE_ROOTSHARED": 1,
    "JAILHOUSE_PCI_TYPE_DEVICE": 1, "JAILHOUSE_PCI_TYPE_BRIDGE": 2, "JAILHOUSE_PCI_TYPE_IVSHMEM": 3,
    "JAILHOUSE_SHMEM_PROTO_UNDEFINED": 0, "JAILHOUSE_SHMEM_PROTO_VETH": 1,
    "JAILHOUSE_SHMEM_PROTO_CUSTOM": 0x4000, "JAILHOUSE_SHMEM_PROTO_VIRTIO_FRONT": 0x8000,
    "JAILHOUSE_SHMEM_PROTO_VIRTIO_BACK": 0xC000,
    "VIRTIO_DEV_NET": 1, "VIRTIO_DEV_BLOCK": 2, "VIRTIO_DEV_CONSOLE": 3,
    "JAILHOUSE_PCI_EXT_CAP": 0x8000, "JAILHOUSE_PCICAPS_WRITE": 1,
    "JAILHOUSE_APIC_MODE_AUTO": 0, "JAILHOUSE_APIC_MODE_XAPIC": 1, "JAILHOUSE_APIC_MODE_X2APIC": 2,
    "JAILHOUSE_MAX_IOMMU_UNITS": 8,
    "JAILHOUSE_IOMMU_AMD": 1, "JAILHOUSE_IOMMU_INTEL": 2, "JAILHOUSE_IOMMU_SMMUV3": 3,
    "JAILHOUSE_IOMMU_PVU": 4, "JAILHOUSE_IOMMU_ARM_MMU500": 5,
    "JAILHOUSE_SYS_VIRTUAL_DEBUG_CONSOLE": 1,
    "JAILHOUSE_CON_TYPE_NONE": 0, "JAILHOUSE_CON_TYPE_EFIFB": 1, "JAILHOUSE_CON_TYPE_8250": 2,
    "JAILHOUSE_CON_TYPE_PL011": 3, "JAILHOUSE_CON_TYPE_XUARTPS": 4,
    "JAILHOUSE_CON_TYPE_MVEBU": 5, "JAILHOUSE_CON_TYPE_HSCIF": 6,
    "JAILHOUSE_CON_TYPE_SCIFA": 7, "JAILHOUSE_CON_TYPE_IMX": 8,
    "JAILHOUSE_CON_TYPE_IMX_LPUART": 9, "JAILHOUSE_CON_TYPE_SCIF": 10,
    "JAILHOUSE_CON_ACCESS_MMIO": 1, "JAILHOUSE_CON_REGDIST_4": 2,
    "JAILHOUSE_CON_FB_1920x1080": 4, "JAILHOUSE_CON_INVERTED_GATE": 0x1000,
    "JAILHOUSE_CON_MDR_QUIRK": 0x2000,
}
# struct -> its members as Jailhouse declares them (variants of anonymous unions included)
JAILHOUSE_STRUCTS = {
    "jailhouse_console": ["address", "size", "type", "flags", "divider", "gate_nr", "clock_reg"],
    "jailhouse_cell_desc": [
        "signature", "architecture", "revision", "name", "id", "flags", "cpu_set_size",
        "num_memory_regions", "num_cache_regions", "num_irqchips", "num_pio_regions",
        "num_pci_devices", "num_pci_caps", "num_stream_ids", "vpci_irq_base",
        "cpu_reset_address", "msg_reply_timeout", "console"],
    "jailhouse_memory": ["phys_start", "virt_start", "size", "flags"],
    "jailhouse_cache": ["start", "size", "type", "padding", "flags"],
    "jailhouse_irqchip": ["address", "id", "pin_base", "pin_bitmap"],
    "jailhouse_pio": ["base", "length"],
    "jailhouse_pci_device": [
        "type", "iommu", "domain", "bdf", "bar_mask", "caps_start", "num_caps",
        "num_msi_vectors", "msi_64bits", "msi_maskable", "num_msix_vectors", "msix_region_size",
        "msix_address", "shmem_regions_start", "shmem_dev_id", "shmem_peers", "shmem_protocol"],
    "jailhouse_pci_capability": ["id", "start", "len", "flags"],
    "jailhouse_iommu": ["type", "base", "size", "amd", "tipvu"],
    "jailhouse_system": ["signature", "architecture", "revision", "flags", "hypervisor_memory",
                         "debug_console", "platform_info", "root_cell"],
}
# members of Jailhouse's unnamed structs (platform_info, its x86/arm variants, iommu variants)
JAILHOUSE_INNER_MEMBERS = {
    "pci_mmconfig_base", "pci_mmconfig_end_bus", "pci_is_virtual", "pci_domain", "iommu_units",
    "x86", "arm", "pm_timer_address", "apic_mode", "padding", "vtd_interrupt_limit", "tsc_khz",
    "apic_khz", "maintenance_irq", "gic_version", "gicd_base", "gicc_base", "gich_base",
    "gicv_base", "gicr_base", "bdf", "base_cap", "msi_cap", "features", "tlb_base", "tlb_size",
}
CONFIG_MEMBERS = {"header", "cell", "cpus", "mem_regions", "cache_regions", "irqchips",
                  "pio_regions", "pci_devices", "pci_caps", "stream_ids"}

EVERYTHING = [FIXTURES / "everything-system.yaml", FIXTURES / "everything-guest.yaml",
              FIXTURES / "standalone-arm.yaml"]


def _c_sources(outputs: dict[str, bytes]) -> dict[str, str]:
    return {rel: data.decode() for rel, data in outputs.items() if rel.endswith(".c")}


def _compile_and_extract(tmp: Path, outputs: dict[str, bytes], prefix: str) -> dict[str, bytes]:
    """Compile every C source below ``prefix`` in one gcc run, objcopy each object's
    data out, and return cell file stem -> bytes."""
    write_tree(tmp, outputs, prefix)
    sources = sorted(p.name for p in tmp.glob("*.c"))
    run(["gcc", "-Wall", "-Wextra", "-Werror", "-I", "include", "-c", *sources], cwd=tmp)
    extracted = {}
    for source in sources:
        stem = source[:-2]
        run(["objcopy", "-O", "binary", "--only-section=.data", f"{stem}.o", f"{stem}.bin"], cwd=tmp)
        extracted[stem] = (tmp / f"{stem}.bin").read_bytes()
    return extracted


@needs_gcc
@needs_objcopy
@pytest.mark.parametrize("system", SYSTEMS)
def test_example_sources_compile_to_the_built_blobs(system, tmp_path):
    outputs = example_outputs()
    extracted = _compile_and_extract(tmp_path, outputs, f"{system}/")
    blobs = {rel[len(system) + 1:-5]: data for rel, data in outputs.items()
             if rel.startswith(f"{system}/") and rel.endswith(".cell")}
    assert sorted(extracted) == sorted(blobs)
    for stem, data in extracted.items():
        assert data == blobs[stem], f"{system}/{stem}.c does not compile to {stem}.cell"


def _everything_outputs() -> dict[str, bytes]:
    return build_outputs_of(checked_files_of(EVERYTHING), {"c"})


@needs_gcc
@needs_objcopy
def test_every_struct_and_spelling_compiles_to_the_same_bytes(tmp_path):
    outputs = _everything_outputs()
    extracted = _compile_and_extract(tmp_path, outputs, "")
    assert sorted(extracted) == ["arm-guest", "lone", "r-oot-cell---"]
    for stem, data in extracted.items():
        assert data == outputs[f"{stem}.cell"], f"{stem}.c does not compile to {stem}.cell"
    root = outputs["r-oot-cell---.c"].decode()
    for spelled in ('.name = "r\\"oot\\\\cell\\?\\?!",', ".flags = JAILHOUSE_CELL_TEST_DEVICE | 0x100,",
                    "\t__u8 cpus[4];", ".tipvu = {", ".amd = {", ".msi_maskable = 1,",
                    ".id = JAILHOUSE_PCI_EXT_CAP | 1,", "/* * / not a comment end */ {",
                    ".shmem_protocol = JAILHOUSE_SHMEM_PROTO_VIRTIO_FRONT + VIRTIO_DEV_NET,",
                    "JAILHOUSE_MEM_NO_HUGEPAGES |\n\t\t\t\t0x10000000,"):
        assert spelled in root


def test_sources_use_only_jailhouse_names():
    sources = {**_c_sources(example_outputs()), **_c_sources(_everything_outputs())}
    struct_fields = {f for fields in JAILHOUSE_STRUCTS.values() for f in fields}
    for rel, text in sources.items():
        code = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
        code = re.sub(r'"(\\.|[^"\\])*"', '""', code)
        assert re.findall(r"#include\s*(\S+)", code) == ["<jailhouse/types.h>",
                                                        "<jailhouse/cell-config.h>"]
        macros = set(re.findall(r"\b(?:JAILHOUSE|VIRTIO)_\w+", code))
        assert macros <= set(JAILHOUSE_MACROS), f"{rel}: {macros - set(JAILHOUSE_MACROS)}"
        structs = set(re.findall(r"struct (\w+)", code))
        assert structs <= set(JAILHOUSE_STRUCTS), f"{rel}: {structs - set(JAILHOUSE_STRUCTS)}"
        designators = set(re.findall(r"\.(\w+) =", code))
        unknown = designators - struct_fields - JAILHOUSE_INNER_MEMBERS - CONFIG_MEMBERS
        assert not unknown, f"{rel} designates members Jailhouse does not have: {unknown}"
        assert set(re.findall(r"\b(__u\d+)\b", code)) <= {"__u8", "__u16", "__u32", "__u64"}


def test_partcfg_header_declares_jailhouse_names_and_values():
    assert macro_values() == JAILHOUSE_MACROS
    header = example_outputs()["qemu-x86/include/jailhouse/cell-config.h"].decode()
    for name, value in JAILHOUSE_MACROS.items():
        text = f'"{value}"' if isinstance(value, str) else f"{value:#x}"
        assert re.search(rf"^#define {name}\s+{re.escape(text)}$", header, re.M), name
    declared = {s.c_name for s in HEADER_STRUCTS}
    assert declared <= set(JAILHOUSE_STRUCTS)
    for struct, members in JAILHOUSE_STRUCTS.items():
        body = re.search(rf"^struct {struct} {{\n(.*?)^}} __attribute__\(\(packed\)\);",
                         header, re.S | re.M)
        assert body, f"struct {struct} is not declared"
        members_text = re.sub(r"/\*.*?\*/", "", body.group(1), flags=re.S)
        names = re.findall(r"(\w+)(?:\[\w+\])?(?::\d+)?;", members_text)
        assert names == members, f"struct {struct}: {names}"


@needs_gcc
@pytest.mark.skipif(not os.environ.get("JAILHOUSE_SRC"),
                    reason="set JAILHOUSE_SRC to a Jailhouse (revision 14) source tree to also "
                           "compile the sources against Jailhouse's own headers")
@pytest.mark.parametrize("system, arch", [("qemu-x86", "x86"), ("qemu-arm64", "arm64")])
def test_sources_compile_against_jailhouse_headers(system, arch, tmp_path):
    src = Path(os.environ["JAILHOUSE_SRC"])
    outputs = example_outputs()
    write_tree(tmp_path, {k: v for k, v in outputs.items() if k.endswith(".c")}, f"{system}/")
    includes = ["-I", src / "include", "-I", src / "hypervisor" / "include",
                "-I", src / "hypervisor" / "arch" / arch / "include"]
    run(["gcc", *includes, "-c", *sorted(p.name for p in tmp_path.glob("*.c"))], cwd=tmp_path)


def test_sources_and_headers_match_the_golden_files():
    outputs = example_outputs()
    emitted = sorted(rel for rel in outputs if rel.endswith(".c") or "/include/" in rel)
    assert emitted == [f"{s}/{rel}" for s in SYSTEMS for rel in (
        ["include/jailhouse/cell-config.h", "include/jailhouse/types.h", "linux-guest.c",
         "qemu-arm64.c", "rt-cell.c"] if s == "qemu-arm64" else
        ["RootCell.c", "include/jailhouse/cell-config.h", "include/jailhouse/types.h",
         "linux-guest.c", "rt-app.c"])]
    for rel in emitted:
        golden = GOLDEN_EMIT / rel
        assert golden.is_file(), f"{rel} is not in tests/golden-emit (python -m tests.regen_golden)"
        assert outputs[rel] == golden.read_bytes(), f"{rel} differs from tests/golden-emit"
