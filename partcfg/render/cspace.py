"""Render layer: the PCI configuration space each peer's guest sees for a link.

For every ivshmem device of every cell (each peer of a declared link, and every raw
device, e.g. of an imported system), the first 128 bytes of the ivshmem v2 configuration
space after reset (docs/format/ivshmem-v2.md), packed from the ``ivshmem`` declarations, and an
annotated text dump of such an image (``partcfg show --cspace``). The values come from
the cell's own layout (its PCI device entry and the region array it points at), the way
the hypervisor derives them, so the image shows what this cell's config really says;
tests check it against the link declaration with the reader, ``ivshmem.link_view_of``.
"""

from __future__ import annotations

from ..formats import ivshmem as iv
from ..formats import jailhouse as jh
from ..diagnostics import ConfigError, error
from ..layout import CellLayout, PciEntry, SystemLayout
from ..model.scalars import format_protocol
from ..names import file_stem_of
from ..units import counted, format_bdf, format_size


def link_entry_of(layout: CellLayout, link_name: str) -> PciEntry:
    """The cell's PCI device entry for a link; ValueError when the cell is no peer of it."""
    for entry in layout.pci_devices:
        if entry.link == link_name:
            return entry
    raise ValueError(f"cell {layout.cell.name!r} is not a peer of link {link_name!r}")


def cspace_value_of(layout: CellLayout, link_name: str) -> dict:
    """The config-space image of a link for this cell, as a ``ivshmem.CSPACE`` value."""
    return cspace_value_of_entry(layout, link_entry_of(layout, link_name))


def cspace_value_of_entry(layout: CellLayout, entry: PciEntry) -> dict:
    """The config-space image of one ivshmem device entry of this cell (a declared link's
    or a raw device's), as a ``ivshmem.CSPACE`` value."""
    device = entry.fields
    start = device["shmem_regions_start"]

    def region(index: int):
        return layout.regions[index] if 0 <= index < len(layout.regions) else None

    state, rw, output = region(start), region(start + 1), region(start + 2)
    msix = device["num_msix_vectors"]
    protocol = device["shmem_protocol"]
    return {
        "vendor_id": iv.VENDOR_ID, "device_id": iv.DEVICE_ID,
        "status": iv.STATUS_CAP_LIST,
        "class_interface": protocol & 0xFF, "class_subclass": protocol >> 8,
        "class_base": iv.CLASS_BASE,
        "subsystem_vendor_id": iv.VENDOR_ID, "subsystem_id": iv.DEVICE_ID,
        "cap_pointer": iv.VENDOR_CAP_OFFSET,
        "interrupt_pin": iv.interrupt_pin_of(device["bdf"], msix),
        "vendor_cap": {
            "id": iv.CAP_ID_VENDOR,
            "next": iv.MSIX_CAP_OFFSET if msix else 0,
            "length": iv.VENDOR_CAP_LENGTH,
            "state_table_size": state.size if state else 0,
            "rw_size": rw.size if rw else 0,
            "output_size": output.size if output else 0,
            "base": state.virt if state else 0,
        },
        # initialised by the hypervisor even when unlinked (INTx links)
        "msix_cap": {
            "id": iv.CAP_ID_MSIX,
            "message_control": (msix - 1) & iv.MSIX_TABLE_SIZE_MASK if msix else 0,
            "table": iv.MSIX_TABLE_BIR, "pba": iv.MSIX_PBA_BIR,
        },
    }


def cspace_of(layout: CellLayout, link_name: str) -> bytes:
    """The 128-byte configuration space this cell's guest sees for ``link_name``."""
    return iv.CSPACE.pack(cspace_value_of(layout, link_name))


def link_names_of(layout: CellLayout) -> list[str]:
    """The links this cell has a device entry for, in PCI device array order."""
    return [entry.link for entry in layout.pci_devices if entry.link is not None]


def _raw_device_name(fields: dict) -> str:
    """The image name of a raw ivshmem device: ``ivshmem-BB-DD-F``, from the BDF alone
    (the hypervisor pairs by BDF, so every peer's image of one link gets the same name
    even where the peers disagree on the PCI domain)."""
    return "ivshmem-" + format_bdf(fields["bdf"]).replace(":", "-").replace(".", "-")


def ivshmem_entries_of(layout: CellLayout) -> list[tuple[str, PciEntry]]:
    """(image name, entry) for every ivshmem device of the cell, declared link or raw, in
    PCI device array order: a link's image is named after the link, a raw device's after
    its PCI address (with -2, -3... when a raw name repeats)."""
    result: list[tuple[str, PciEntry]] = []
    taken: set[str] = {e.link for e in layout.pci_devices if e.link is not None}
    for entry in layout.pci_devices:
        if entry.link is not None:
            result.append((entry.link, entry))
        elif entry.fields["type"] == jh.PCI_TYPE_IVSHMEM:
            base = _raw_device_name(entry.fields)
            name, n = base, 2
            while name in taken:
                name, n = f"{base}-{n}", n + 1
            taken.add(name)
            result.append((name, entry))
    return result


def cspace_outputs_of(layout: SystemLayout) -> dict[str, bytes]:
    """``<cell>/<name>.cspace`` -> image, for every ivshmem device of every cell of the
    system: every peer of every declared link and every raw ivshmem device (imported
    systems), the way the hypervisor presents each of them."""
    outputs: dict[str, bytes] = {}
    clashes = []
    for cell in layout.cells:
        for name, entry in ivshmem_entries_of(cell):
            rel = f"{file_stem_of(cell.cell.name)}/{file_stem_of(name)}.cspace"
            if rel in outputs:
                where = layout.system.links[name].location(key=True) if entry.link is not None \
                    else cell.cell.location("pci_devices", key=True)
                clashes.append(error(
                    "BUILD-NAME-CLASH", f"two links of cell {cell.cell.name!r} would be "
                    f"written to {rel}", where, hint="give one of the links another name"))
                continue
            outputs[rel] = iv.CSPACE.pack(cspace_value_of_entry(cell, entry))
    if clashes:
        raise ConfigError(clashes)
    return outputs


# --- the annotated dump (partcfg show --cspace) ------------------------------------------

def _pin_name(pin: int) -> str:
    return "none (MSI-X)" if pin == 0 else (f"INT{'ABCD'[pin - 1]}" if pin <= 4 else "invalid")


def _size_words(size: int) -> str:
    return format_size(size) if size else "0 (absent)"


def _meaning(name: str, value: int, image: dict) -> str:
    cap = image["vendor_cap"]
    protocol = image["class_subclass"] << 8 | image["class_interface"]
    linked = cap["next"] == iv.MSIX_CAP_OFFSET
    meanings = {
        "vendor_id": "ivshmem" if value == iv.VENDOR_ID else "not ivshmem",
        "device_id": "ivshmem v2" if value == iv.DEVICE_ID else "not ivshmem v2",
        "command": "memory and bus-master off (reset)" if value == 0 else "",
        "status": "capability list present" if value & iv.STATUS_CAP_LIST else "no capability list",
        "class_interface": f"protocol bits 0..7 (protocol {protocol:#06x}: {format_protocol(protocol)})",
        "class_subclass": "protocol bits 8..15",
        "class_base": "other device" if value == iv.CLASS_BASE else "",
        "header_type": "type 0 (endpoint)" if value == 0 else "",
        "subsystem_vendor_id": "ivshmem" if value == iv.VENDOR_ID else "",
        "subsystem_id": "ivshmem v2" if value == iv.DEVICE_ID else "",
        "cap_pointer": f"first capability at {value:#04x}",
        "interrupt_pin": _pin_name(value),
        "vendor_cap.id": "vendor-specific capability" if value == iv.CAP_ID_VENDOR else "",
        "vendor_cap.next": "MSI-X capability" if value == iv.MSIX_CAP_OFFSET else "end of list",
        "vendor_cap.length": "base address present" if value >= iv.VENDOR_CAP_LENGTH else "too short",
        "vendor_cap.priv_control": "one-shot interrupt mode "
        + ("on" if value & iv.PRIV_CONTROL_ONESHOT else "off"),
        "vendor_cap.state_table_size": f"{_size_words(value)}; peer k's state at base + 4*k",
        "vendor_cap.rw_size": _size_words(value),
        "vendor_cap.output_size": f"{_size_words(value)} per peer",
        "vendor_cap.base": "state table address in this cell's address space",
        "msix_cap.id": "MSI-X capability" + (" (linked)" if linked else " (unlinked: INTx)"),
        "msix_cap.next": "end of list",
        "msix_cap.message_control": (counted((value & iv.MSIX_TABLE_SIZE_MASK) + 1, "vector")
                                     if linked else "unused"),
        "msix_cap.table": f"BAR{value & 7}, offset {value & ~7:#x}",
        "msix_cap.pba": f"BAR{value & 7}, offset {value & ~7:#x}",
    }
    return meanings.get(name, "")


def _rows_of(image: dict) -> list[tuple[int, int, str, int]]:
    """(offset, size, dotted field name, value) for every scalar of the image."""
    rows = []

    def walk(struct, value: dict, base: int, prefix: str) -> None:
        for f in struct.fields:
            at = base + struct.offsets[f.name]
            name = prefix + f.name
            v = value[f.name]
            if isinstance(v, dict):
                walk(f.type, v, at, name + ".")
            elif isinstance(v, list):
                size = f.type.element.size
                for i, item in enumerate(v):
                    rows.append((at + i * size, size, f"{name}[{i}]", item))
            else:
                rows.append((at, f.type.size, name, v))
    walk(iv.CSPACE, image, 0, "")
    return rows


def cspace_text_of(data: bytes, title: str) -> str:
    """An annotated dump: offset, register, value and meaning of every register the spec
    names (and of any other non-zero byte), then what a driver reads from the capability."""
    image = iv.CSPACE.unpack(data)
    try:
        view = iv.link_view_of(data)
    except Exception as exc:  # a malformed image is still dumped; say why the reader failed
        view, problem = None, str(exc)
    named = {"reserved_35", "reserved_6c", "cache_line_size", "latency_timer", "bist",
             "cardbus_cis", "rom_base", "interrupt_line", "min_grant", "max_latency", "revision",
             "bar"}
    lines = [title, f"  {'off':<5} {'register':<28} {'value':<20} meaning"]
    for at, size, name, value in _rows_of(image):
        base_name = name.split("[")[0]
        if base_name == "bar":
            if value == 0:
                if name == "bar[0]":
                    lines.append(f"  {at:#04x}  {'bar[0..5]':<28} {'0':<20} unassigned at reset "
                                 "(BAR0 registers, BAR1 MSI-X table)")
                continue
        elif base_name in named and value == 0:
            continue
        text = f"{value:#0{2 + 2 * size}x}"
        lines.append(f"  {at:#04x}  {name:<28} {text:<20} {_meaning(name, value, image)}".rstrip())
    if view is None:
        lines.append(f"  reader: {problem}")
    else:
        out0 = view.output_sections_start
        lines.append(f"  reader: region at {view.base:#x}, rw section at "
                     f"{view.base + view.state_table_size:#x}, output section of peer k at "
                     f"{out0:#x} + k * {view.output_size:#x}; "
                     + (f"MSI-X, {view.msix_vectors} vectors" if view.msix_vectors
                        else f"INTx pin {_pin_name(view.interrupt_pin)}"))
    return "\n".join(lines)


def cspace_texts_of(layout: SystemLayout) -> list[str]:
    """One annotated dump per link and peer, cells in system order."""
    texts = []
    for cell in layout.cells:
        for name, entry in ivshmem_entries_of(cell):
            device = entry.fields
            what = f"link {name}" if entry.link is not None else f"raw device {name}"
            title = (f"{layout.system.name}: cell {cell.cell.name}, {what} "
                     f"(peer {device['shmem_dev_id']} of {device['shmem_peers']}, "
                     f"{format_bdf(device['bdf'])})")
            texts.append(cspace_text_of(iv.CSPACE.pack(cspace_value_of_entry(cell, entry)), title))
    return texts
