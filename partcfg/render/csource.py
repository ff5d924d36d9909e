"""Render layer: Jailhouse-style C configuration sources (``partcfg build --emit c``).

Jailhouse builds a ``.cell`` file by compiling a C file that initializes one packed
struct (descriptor, CPU set and the payload arrays) and copying the object's data out
with ``objcopy -O binary``. This module writes such a file for every cell, in the style
of Jailhouse's own ``configs/*.c``: designated initializers, symbolic flag names
(``JAILHOUSE_MEM_READ | JAILHOUSE_MEM_WRITE``), ``ARRAY_SIZE(config.mem_regions)`` for
counts, and a comment per region. Struct, field and macro names are Jailhouse's, so the
file also compiles against Jailhouse's own headers; partcfg ships its own headers too
(``include/jailhouse/cell-config.h`` and ``types.h``), generated from the ``jailhouse``
struct tables, so compiling needs nothing but a C compiler. Compiled, the data bytes
equal the directly built blob (tests check this with gcc and objcopy).
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from ..formats import jailhouse as jh
from ..formats.binfmt import Field, Struct
from ..layout import CellLayout, SystemLayout
from ..model.scalars import VIRTIO_DEVICES
from ..names import file_stem_of
from ..units import format_bdf
from ..wording import cell_heading
from .cdecl import c_declarations_of, c_members_of, c_number, scalar_types_of
from .jinja import generated_notice, rendered

# The system header as C declares it: the root cell descriptor is its last member.
SYSTEM_WITH_ROOT_CELL = Struct(
    jh.SYSTEM_HEADER.c_name,
    [*jh.SYSTEM_HEADER.fields, Field("root_cell", jh.CELL_DESC)],
    doc="general descriptor of the system, followed by the root cell's descriptor")

# --- Jailhouse's macro names for partcfg's flag words and choices --------------------------

ARCH_MACROS = {"x86": "JAILHOUSE_X86", "arm": "JAILHOUSE_ARM", "arm64": "JAILHOUSE_ARM64"}
CELL_FLAG_MACROS = {
    "passive-comm-region": "JAILHOUSE_CELL_PASSIVE_COMMREG",
    "test-device": "JAILHOUSE_CELL_TEST_DEVICE",
    "aarch32": "JAILHOUSE_CELL_AARCH32",
    "virtual-console-permitted": "JAILHOUSE_CELL_VIRTUAL_CONSOLE_PERMITTED",
    "virtual-console-active": "JAILHOUSE_CELL_VIRTUAL_CONSOLE_ACTIVE",
}
SYSTEM_FLAG_MACROS = {"root-reads-debug-console": "JAILHOUSE_SYS_VIRTUAL_DEBUG_CONSOLE"}
MEM_FLAG_MACROS = {
    "read": "JAILHOUSE_MEM_READ", "write": "JAILHOUSE_MEM_WRITE",
    "execute": "JAILHOUSE_MEM_EXECUTE", "dma": "JAILHOUSE_MEM_DMA", "io": "JAILHOUSE_MEM_IO",
    "comm-region": "JAILHOUSE_MEM_COMM_REGION", "loadable": "JAILHOUSE_MEM_LOADABLE",
    "rootshared": "JAILHOUSE_MEM_ROOTSHARED", "no-hugepages": "JAILHOUSE_MEM_NO_HUGEPAGES",
    "io-unaligned": "JAILHOUSE_MEM_IO_UNALIGNED", "io-8": "JAILHOUSE_MEM_IO_8",
    "io-16": "JAILHOUSE_MEM_IO_16", "io-32": "JAILHOUSE_MEM_IO_32", "io-64": "JAILHOUSE_MEM_IO_64",
}
CACHE_TYPE_MACROS = {"l3-code": "JAILHOUSE_CACHE_L3_CODE", "l3-data": "JAILHOUSE_CACHE_L3_DATA",
                     "l3": "JAILHOUSE_CACHE_L3"}
CACHE_FLAG_MACROS = {"rootshared": "JAILHOUSE_CACHE_ROOTSHARED"}
CONSOLE_TYPE_MACROS = {
    "none": "JAILHOUSE_CON_TYPE_NONE", "efifb": "JAILHOUSE_CON_TYPE_EFIFB",
    "8250": "JAILHOUSE_CON_TYPE_8250", "pl011": "JAILHOUSE_CON_TYPE_PL011",
    "xuartps": "JAILHOUSE_CON_TYPE_XUARTPS", "mvebu": "JAILHOUSE_CON_TYPE_MVEBU",
    "hscif": "JAILHOUSE_CON_TYPE_HSCIF", "scifa": "JAILHOUSE_CON_TYPE_SCIFA",
    "imx": "JAILHOUSE_CON_TYPE_IMX", "imx-lpuart": "JAILHOUSE_CON_TYPE_IMX_LPUART",
    "scif": "JAILHOUSE_CON_TYPE_SCIF",
}
CONSOLE_FLAG_MACROS = {
    "mmio": "JAILHOUSE_CON_ACCESS_MMIO", "regdist-4": "JAILHOUSE_CON_REGDIST_4",
    "fb-1920x1080": "JAILHOUSE_CON_FB_1920x1080",
    "inverted-clock-gate": "JAILHOUSE_CON_INVERTED_GATE", "mdr-quirk": "JAILHOUSE_CON_MDR_QUIRK",
}
PCI_TYPE_MACROS = {"device": "JAILHOUSE_PCI_TYPE_DEVICE", "bridge": "JAILHOUSE_PCI_TYPE_BRIDGE",
                   "ivshmem": "JAILHOUSE_PCI_TYPE_IVSHMEM"}
PCI_CAP_FLAG_MACROS = {"writable": "JAILHOUSE_PCICAPS_WRITE"}
IOMMU_TYPE_MACROS = {"amd": "JAILHOUSE_IOMMU_AMD", "intel": "JAILHOUSE_IOMMU_INTEL",
                     "smmuv3": "JAILHOUSE_IOMMU_SMMUV3", "pvu": "JAILHOUSE_IOMMU_PVU",
                     "mmu500": "JAILHOUSE_IOMMU_ARM_MMU500"}
APIC_MODE_MACROS = {"auto": "JAILHOUSE_APIC_MODE_AUTO", "xapic": "JAILHOUSE_APIC_MODE_XAPIC",
                    "x2apic": "JAILHOUSE_APIC_MODE_X2APIC"}
SHMEM_PROTO_MACROS = {"undefined": ("JAILHOUSE_SHMEM_PROTO_UNDEFINED", 0x0000),
                      "veth": ("JAILHOUSE_SHMEM_PROTO_VETH", 0x0001),
                      "custom": ("JAILHOUSE_SHMEM_PROTO_CUSTOM", 0x4000),
                      "virtio-front": ("JAILHOUSE_SHMEM_PROTO_VIRTIO_FRONT", 0x8000),
                      "virtio-back": ("JAILHOUSE_SHMEM_PROTO_VIRTIO_BACK", 0xC000)}
VIRTIO_DEV_MACROS = {"net": "VIRTIO_DEV_NET", "block": "VIRTIO_DEV_BLOCK",
                     "console": "VIRTIO_DEV_CONSOLE"}

# (partcfg's table of values, its macro names): every pair must name the same words
_VALUE_TABLES = (
    (jh.ARCHITECTURES, ARCH_MACROS), (jh.CELL_FLAGS, CELL_FLAG_MACROS),
    (jh.SYSTEM_FLAGS, SYSTEM_FLAG_MACROS), (jh.MEM_FLAGS, MEM_FLAG_MACROS),
    (jh.CACHE_TYPES, CACHE_TYPE_MACROS), (jh.CACHE_FLAGS, CACHE_FLAG_MACROS),
    (jh.CONSOLE_TYPES, CONSOLE_TYPE_MACROS), (jh.CONSOLE_FLAGS, CONSOLE_FLAG_MACROS),
    (jh.PCI_TYPES, PCI_TYPE_MACROS), (jh.PCI_CAP_FLAGS, PCI_CAP_FLAG_MACROS),
    ({k: v for k, v in jh.IOMMU_TYPES.items() if k != "none"}, IOMMU_TYPE_MACROS),
    (jh.APIC_MODES, APIC_MODE_MACROS), (VIRTIO_DEVICES, VIRTIO_DEV_MACROS),
)
for _values, _macros in _VALUE_TABLES:  # pragma: no cover - a table edit that forgot a name
    if set(_values) != set(_macros):
        raise AssertionError(f"macro table {sorted(_macros)} does not match {sorted(_values)}")


def macro_values() -> dict[str, int | str]:
    """Every macro partcfg's Jailhouse header defines (other than struct layouts), with
    its value; taken from partcfg's own tables so header and renderer cannot disagree."""
    values: dict[str, int | str] = {
        "JAILHOUSE_CONFIG_REVISION": jh.REVISION,
        "JAILHOUSE_CELL_NAME_MAXLEN": jh.CELL_NAME_MAXLEN,
        "JAILHOUSE_SYSTEM_SIGNATURE": jh.SYSTEM_SIGNATURE.decode(),
        "JAILHOUSE_CELL_DESC_SIGNATURE": jh.CELL_SIGNATURE.decode(),
        "JAILHOUSE_MAX_IOMMU_UNITS": jh.MAX_IOMMU_UNITS,
        "JAILHOUSE_PCI_EXT_CAP": jh.PCI_EXT_CAP,
    }
    for table, macros in _VALUE_TABLES:
        for word, macro in macros.items():
            values[macro] = table[word]
    for macro, value in SHMEM_PROTO_MACROS.values():
        values[macro] = value
    return values


# --- spelling values the Jailhouse way -------------------------------------------------------

def _flags_expr(value: int, table: Mapping[str, int], macros: Mapping[str, str]) -> str:
    """``A | B | 0x...`` for a bit mask: named bits in ascending order, unknown bits last."""
    parts, rest = [], value
    for word, bit in sorted(table.items(), key=lambda item: item[1]):
        if bit and value & bit == bit and rest & bit:
            parts.append(macros[word])
            rest &= ~bit
    if rest:
        parts.append(f"{rest:#x}")
    return " |\n".join(parts) if len(parts) > 3 else " | ".join(parts)


def _choice_expr(value: int, table: Mapping[str, int], macros: Mapping[str, str]) -> str:
    for word, number in table.items():
        if number == value and word in macros:
            return macros[word]
    return c_number(value)


def _protocol_expr(value: int) -> str:
    names = {v: k for k, v in VIRTIO_DEVICES.items()}
    if value in (0x0000, 0x0001):
        return SHMEM_PROTO_MACROS["undefined" if value == 0 else "veth"][0]
    for kind in ("virtio-back", "virtio-front", "custom"):
        macro, base = SHMEM_PROTO_MACROS[kind]
        if value >= base:
            offset = value - base
            if kind != "custom" and offset in names:
                return f"{macro} + {VIRTIO_DEV_MACROS[names[offset]]}"
            return f"{macro} + {c_number(offset)}"
    return f"{value:#06x}"


# counts, indices and IDs read better in decimal, as Jailhouse's own configs write them
_DECIMAL_FIELDS = frozenset({
    "num_msi_vectors", "num_msix_vectors", "caps_start", "num_caps", "shmem_regions_start",
    "shmem_dev_id", "shmem_peers", "vpci_irq_base", "pin_base", "vtd_interrupt_limit",
    "tsc_khz", "apic_khz", "maintenance_irq", "gic_version",
})


class _Speller:
    """The ``cdecl`` spelling hook: symbolic names for flags, kinds and counts."""

    def __init__(self, counts: Mapping[str, str]):
        self.counts = counts  # descriptor count field -> C expression

    def spell_zero(self, struct: Struct, name: str, value: Mapping[str, Any]) -> str | None:
        """Jailhouse's configs name the architecture even when it is x86 (0)."""
        if name == "architecture" and bytes(value.get("signature") or b"").rstrip(b"\0"):
            return _choice_expr(0, jh.ARCHITECTURES, ARCH_MACROS)
        return None

    def __call__(self, struct: Struct, name: str, value: Any) -> str | None:
        key = (struct.c_name, name)
        if name == "signature":
            for macro, sig in (("JAILHOUSE_SYSTEM_SIGNATURE", jh.SYSTEM_SIGNATURE),
                               ("JAILHOUSE_CELL_DESC_SIGNATURE", jh.CELL_SIGNATURE)):
                if bytes(value).rstrip(b"\0") == sig:
                    return macro
            return None
        if name == "architecture":
            return _choice_expr(value, jh.ARCHITECTURES, ARCH_MACROS)
        if name == "revision" and value == jh.REVISION:
            return "JAILHOUSE_CONFIG_REVISION"
        if key[0] == jh.CELL_DESC.c_name and name in self.counts:
            return self.counts[name]
        if name == "bdf":
            return f"{value:#06x}"
        if name in _DECIMAL_FIELDS:
            return str(value)
        spellers = {
            (jh.CELL_DESC.c_name, "flags"): lambda v: _flags_expr(v, jh.CELL_FLAGS, CELL_FLAG_MACROS),
            (jh.SYSTEM_HEADER.c_name, "flags"): lambda v: _flags_expr(v, jh.SYSTEM_FLAGS, SYSTEM_FLAG_MACROS),
            (jh.MEMORY.c_name, "flags"): lambda v: _flags_expr(v, jh.MEM_FLAGS, MEM_FLAG_MACROS),
            (jh.CACHE.c_name, "type"): lambda v: _choice_expr(v, jh.CACHE_TYPES, CACHE_TYPE_MACROS),
            (jh.CACHE.c_name, "flags"): lambda v: _flags_expr(v, jh.CACHE_FLAGS, CACHE_FLAG_MACROS),
            (jh.CONSOLE.c_name, "type"): lambda v: _choice_expr(v, jh.CONSOLE_TYPES, CONSOLE_TYPE_MACROS),
            (jh.CONSOLE.c_name, "flags"): lambda v: _flags_expr(v, jh.CONSOLE_FLAGS, CONSOLE_FLAG_MACROS),
            (jh.PCI_DEVICE.c_name, "type"): lambda v: _choice_expr(v, jh.PCI_TYPES, PCI_TYPE_MACROS),
            (jh.PCI_DEVICE.c_name, "shmem_protocol"): _protocol_expr,
            (jh.PCI_CAPABILITY.c_name, "flags"): lambda v: _flags_expr(v, jh.PCI_CAP_FLAGS, PCI_CAP_FLAG_MACROS),
            (jh.PCI_CAPABILITY.c_name, "id"): lambda v: (
                f"JAILHOUSE_PCI_EXT_CAP | {c_number(v & ~jh.PCI_EXT_CAP)}"
                if v & jh.PCI_EXT_CAP else None),
            (jh.IOMMU.c_name, "type"): lambda v: _choice_expr(v, jh.IOMMU_TYPES, IOMMU_TYPE_MACROS),
            (jh.ARCH_X86.c_name, "apic_mode"): lambda v: _choice_expr(v, jh.APIC_MODES, APIC_MODE_MACROS),
        }
        spell = spellers.get(key)
        return spell(value) if spell else None


# --- the C file -----------------------------------------------------------------------------

# (descriptor count field, member name in Jailhouse's config struct, struct, layout attribute)
_ARRAYS = (
    ("num_memory_regions", "mem_regions", jh.MEMORY, "memory_regions"),
    ("num_cache_regions", "cache_regions", jh.CACHE, "cache_regions"),
    ("num_irqchips", "irqchips", jh.IRQCHIP, "irqchips"),
    ("num_pio_regions", "pio_regions", jh.PIO, "pio_regions"),
    ("num_pci_devices", "pci_devices", jh.PCI_DEVICE, "pci_devices"),
    ("num_pci_caps", "pci_caps", jh.PCI_CAPABILITY, "pci_caps"),
    ("num_stream_ids", "stream_ids", jh.STREAM_ID, "stream_ids"),
)


def _comment(text: str) -> str:
    return "/* " + text.replace("*/", "* /") + " */"


def _element_comments(layout: CellLayout, member: str) -> list[str | None]:
    if member == "mem_regions":
        return [r.name or (r.origin if r.origin != "declared" else None) for r in layout.regions]
    if member == "pci_devices":
        names = [item.name for item in layout.cell.pci_devices if hasattr(item, "bdf")]
        declared = iter(names)
        comments = []
        for dev in layout.pci_devices:
            name = next(declared, None) if dev.link is None else f"link {dev.link}"
            comments.append(f"{format_bdf(dev.fields['bdf'])}" + (f", {name}" if name else ""))
        return comments
    return []


def _cpu_words(cpu_set: bytes) -> tuple[str, list[int]]:
    """The CPU set as Jailhouse writes it (u64 words) when its size allows, else bytes."""
    if len(cpu_set) % 8 == 0:
        return "__u64", [int.from_bytes(cpu_set[i:i + 8], "little") for i in range(0, len(cpu_set), 8)]
    return "__u8", list(cpu_set)


def _array_lines(layout: CellLayout, member: str, struct: Struct, values: list[dict],
                 spell: _Speller) -> list[str]:
    if member == "stream_ids":
        return ["\t.stream_ids = {"] + [f"\t\t{c_number(v['id'])}," for v in values] + ["\t},"]
    comments = _element_comments(layout, member)
    lines = [f"\t.{member} = {{"]
    for i, value in enumerate(values):
        note = comments[i] if i < len(comments) else None
        members = c_members_of(struct, value, 3, spell)
        opening = f"\t\t{_comment(note)} {{" if note else "\t\t{"
        lines.extend([opening, *members, "\t\t},"] if members else [opening[:-1] + "{ 0 },"])
    return lines + ["\t},"]


def c_source_of(layout: CellLayout, header: dict | None = None,
                sources: Sequence[str] = ()) -> str:
    """The Jailhouse-style C source of one cell; ``header`` (the system header value)
    makes it a system configuration with ``layout`` as its root cell."""
    arrays = []
    counts: dict[str, str] = {}
    members = []
    cpu_type, cpu_words = _cpu_words(layout.cpu_set)
    if cpu_words:
        members.append(f"\t{cpu_type} cpus[{len(cpu_words)}];")
        counts["cpu_set_size"] = "sizeof(config.cpus)"
    for count_field, member, struct, attribute in _ARRAYS:
        raw = getattr(layout, attribute)
        values = [d.fields for d in raw] if attribute == "pci_devices" else list(raw)
        if layout.descriptor[count_field] != len(values):  # pragma: no cover - layout invariant
            raise AssertionError(f"{count_field} disagrees with the array length")
        if not values:
            continue
        element = "__u32" if member == "stream_ids" else f"struct {struct.c_name}"
        members.append(f"\t{element} {member}[{len(values)}];")
        counts[count_field] = f"ARRAY_SIZE(config.{member})"
        arrays.append((member, struct, values))
    spell = _Speller(counts)
    if header is not None:
        top_member, top_struct = "header", SYSTEM_WITH_ROOT_CELL
        top_value = {**header, "root_cell": layout.descriptor}
    else:
        top_member, top_struct, top_value = "cell", jh.CELL_DESC, layout.descriptor
    body = [f"\t.{top_member} = {{", *c_members_of(top_struct, top_value, 2, spell), "\t},"]
    if cpu_words:
        body += ["", "\t.cpus = {", *(f"\t\t{c_number(w)}," for w in cpu_words), "\t},"]
    for member, struct, values in arrays:
        body += ["", *_array_lines(layout, member, struct, values, spell)]
    kind = "system (root cell)" if header is not None else "cell"
    heading = cell_heading(layout.cell.name, layout.system.name if layout.system else None)
    what = f"Jailhouse {kind} configuration {heading}."
    return rendered(
        "jailhouse_config.c.j2",
        notice=generated_notice(what, list(sources)),
        top=f"\tstruct {top_struct.c_name} {top_member};",
        members=members,
        body=body,
    )


def c_sources_of(layout: SystemLayout, sources: Sequence[str] = ()) -> dict[str, str]:
    """Cell name -> C source; the root cell's source is the system configuration."""
    result = {layout.root.cell.name: c_source_of(layout.root, layout.header, sources)}
    for cell in layout.cells[1:]:
        result[cell.cell.name] = c_source_of(cell, None, sources)
    return result


# --- partcfg's own Jailhouse headers --------------------------------------------------------

_C_TYPES_BY_SIZE = {1: "unsigned char", 2: "unsigned short", 4: "unsigned int",
                    8: "unsigned long long"}
# Stream IDs are written as plain __u32 (Jailhouse declares them as a union whose
# variants the sources never need), so no stream ID type is declared.
HEADER_STRUCTS = (SYSTEM_WITH_ROOT_CELL, jh.CELL_DESC, jh.MEMORY, jh.CACHE, jh.IRQCHIP,
                  jh.PIO, jh.PCI_DEVICE, jh.PCI_CAPABILITY)


def _macro_text(value: int | str) -> str:
    return f'"{value}"' if isinstance(value, str) else f"{value:#x}"


def jailhouse_headers_of(sources: Sequence[str] = ()) -> dict[str, str]:
    """``include/jailhouse/types.h`` and ``include/jailhouse/cell-config.h``: the struct
    declarations and macros the C sources use, generated from partcfg's tables."""
    types = [(_C_TYPES_BY_SIZE[t.size], t.c_type, t.size) for t in scalar_types_of(HEADER_STRUCTS)]
    macros = [(name, _macro_text(value)) for name, value in macro_values().items()]
    notice = generated_notice("Jailhouse configuration structures (revision "
                              f"{jh.REVISION}), partcfg's own declarations.", list(sources))
    return {
        "include/jailhouse/types.h": rendered("jailhouse_types.h.j2", notice=notice, types=types),
        "include/jailhouse/cell-config.h": rendered(
            "jailhouse_cell_config.h.j2", notice=notice, macros=macros,
            declarations=c_declarations_of(HEADER_STRUCTS)),
    }


def c_source_outputs_of(layout: SystemLayout, sources: Sequence[str] = ()) -> dict[str, bytes]:
    """``<cell>.c`` for every cell plus the ``include/jailhouse/`` headers they need."""
    outputs = {f"{file_stem_of(name)}.c": text.encode("utf-8")
               for name, text in c_sources_of(layout, sources).items()}
    outputs.update({rel: text.encode("utf-8") for rel, text in jailhouse_headers_of().items()})
    return outputs
