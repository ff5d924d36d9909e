"""Render layer: the C header a cell's firmware includes (``<cell>/partcfg_<cell>.h``).

From the same ``ivshmem`` declarations as the ``.cspace`` images: packed struct types
for the vendor capability, the MSI-X capability, the 128-byte config-space image and the
register page, each pinned by ``_Static_assert``; then, for every link the cell is a
peer of, constants (base, section sizes, this peer's ID, peer count, offset of each
peer's output section, protocol, vector count) and a ``static const`` initializer of
the image this peer's guest sees. Plain C11 (``-std=c11 -Wall -Wextra -pedantic``
clean); text comes from ``templates/firmware_header.h.j2``.
"""

from __future__ import annotations

import functools
from typing import Sequence

from ..formats import ivshmem as iv
from ..diagnostics import ConfigError, error
from ..layout import CellLayout, SystemLayout
from ..model.scalars import format_protocol
from ..names import c_identifier_of, file_stem_of
from ..units import format_bdf
from ..wording import cell_heading
from .cdecl import STDINT_NAMES, c_declarations_of, c_members_of
from .cspace import cspace_of, link_entry_of, link_names_of
from .jinja import generated_notice, rendered

# (macro suffix, value, comment) for the ivshmem constants every header defines
IVSHMEM_CONSTANTS = (
    ("VENDOR_ID", iv.VENDOR_ID, "PCI vendor ID of ivshmem devices"),
    ("DEVICE_ID", iv.DEVICE_ID, "PCI device ID of ivshmem v2"),
    ("CAP_POINTER", iv.CAP_POINTER_OFFSET, "config space: offset of the capability pointer"),
    ("CAP_ID_VENDOR", iv.CAP_ID_VENDOR, "capability ID of the vendor capability"),
    ("CAP_ID_MSIX", iv.CAP_ID_MSIX, "capability ID of MSI-X"),
    ("STATUS_CAP_LIST", iv.STATUS_CAP_LIST, "status register: capability list present"),
    ("VENDOR_CAP_LENGTH", iv.VENDOR_CAP_LENGTH, "length of the vendor capability"),
    ("PRIV_CONTROL_ONESHOT", iv.PRIV_CONTROL_ONESHOT, "privileged control: one-shot interrupts"),
    ("REG_ID", iv.REGISTERS.offsets["id"], "BAR 0: this peer's ID"),
    ("REG_MAX_PEERS", iv.REGISTERS.offsets["max_peers"], "BAR 0: maximum peers"),
    ("REG_INT_CONTROL", iv.REGISTERS.offsets["int_control"], "BAR 0: interrupt control"),
    ("REG_DOORBELL", iv.REGISTERS.offsets["doorbell"], "BAR 0: doorbell"),
    ("REG_STATE", iv.REGISTERS.offsets["state"], "BAR 0: this peer's state"),
    ("INT_CONTROL_ENABLE", iv.INT_CONTROL_ENABLE, "interrupt control: enable"),
    ("DOORBELL_PEER_SHIFT", iv.DOORBELL_PEER_SHIFT, "doorbell: target peer ID in bits 16..31"),
)


def _u64(value: int) -> str:
    return f"UINT64_C({value:#x})"


@functools.lru_cache(maxsize=1024)
def _image_facts_of(image: bytes) -> tuple[iv.LinkView, str]:
    """What a header says of one config-space image alone: what the reader sees in it and
    its C initializer. Keyed by the image's bytes, so cells whose links look alike to
    their guests (boards of one family) share the work and no two images can."""
    return (iv.link_view_of(image),
            "\n".join(c_members_of(iv.CSPACE, iv.CSPACE.unpack(image), 1)))


def _link_context(layout: CellLayout, link_name: str, cell_ident: str) -> dict:
    image = cspace_of(layout, link_name)
    view, initializer = _image_facts_of(image)
    device = link_entry_of(layout, link_name).fields
    link = layout.system.links[link_name] if layout.system else None
    peers = list(link.peers) if link else []
    link_ident = c_identifier_of(link_name)
    prefix = f"PARTCFG_{cell_ident.upper()}_{link_ident.upper()}"
    n = device["shmem_peers"]
    first_output = view.state_table_size + view.rw_size
    constants = [
        ("BDF", f"{device['bdf']:#06x}", f"PCI address {format_bdf(device['bdf'])}"),
        ("BASE", _u64(view.base), "region base in this cell's address space"),
        ("STATE_TABLE_SIZE", f"UINT32_C({view.state_table_size:#x})", "read-only, 4 bytes per peer"),
        ("RW_SIZE", _u64(view.rw_size), "common read/write section"),
        ("OUTPUT_SIZE", _u64(view.output_size), "each peer's output section"),
        ("PEER_ID", f"{device['shmem_dev_id']}u", "this cell's peer ID"),
        ("PEERS", f"{n}u", "number of peers"),
        ("PROTOCOL", f"{view.protocol:#06x}u", f"{format_protocol(view.protocol)}"),
        ("MSIX_VECTORS", f"{view.msix_vectors}u", "0: INTx"),
        ("INTERRUPT_PIN", f"{view.interrupt_pin}u", "INTx pin (1 = INTA), 0 with MSI-X"),
    ]
    for k in range(n):
        owner = peers[k] if k < len(peers) else f"peer {k}"
        mine = " (this cell's TX)" if k == device["shmem_dev_id"] else " (RX)"
        constants.append((f"OUTPUT_OFFSET_PEER_{k}", _u64(first_output + k * view.output_size),
                          f"output section of {owner}{mine}, from BASE"))
    width = max(len(prefix) + 1 + len(name) for name, _, _ in constants)
    return {
        "name": link_name,
        "prefix": prefix,
        "peers": ", ".join(peers),
        "peer_id": device["shmem_dev_id"],
        "bdf": format_bdf(device["bdf"]),
        "constants": [(f"{prefix}_{name}".ljust(width), value, comment.replace("*/", "* /"))
                      for name, value, comment in constants],
        "output_offset_macro": f"{prefix}_OUTPUT_OFFSET",
        "variable": f"partcfg_{cell_ident}_{link_ident}_cspace",
        "initializer": initializer,
    }


@functools.lru_cache(maxsize=1)
def ivshmem_types_context() -> tuple[tuple[tuple[str, str, str], ...], str]:
    """The template values that depend on no cell or link: the ivshmem constants and the
    struct declarations with their static assertions. Computed once per process: a tree
    build writes one header per cell, and the declarations were most of its time."""
    constants = tuple((f"PARTCFG_IVSHMEM_{name}", f"{value:#x}", comment)
                      for name, value, comment in IVSHMEM_CONSTANTS)
    return constants, c_declarations_of([iv.CSPACE, iv.REGISTERS], STDINT_NAMES)


def firmware_header_of(layout: CellLayout, sources: Sequence[str] = ()) -> str:
    """The firmware header of one cell (every link it is a peer of)."""
    cell_ident = c_identifier_of(layout.cell.name)
    links = [_link_context(layout, name, cell_ident) for name in link_names_of(layout)]
    seen: dict[str, str] = {}
    clashes = []
    for link in links:
        other = seen.setdefault(link["prefix"], link["name"])
        if other != link["name"]:
            clashes.append(error(
                "BUILD-NAME-CLASH", f"links {other!r} and {link['name']!r} of cell "
                f"{layout.cell.name!r} both become the C prefix {link['prefix']}",
                layout.system.links[link["name"]].location(key=True) if layout.system else None,
                hint="give one of the links a name that differs in letters or digits"))
    if clashes:
        raise ConfigError(clashes)
    heading = cell_heading(layout.cell.name, layout.system.name if layout.system else None)
    what = f"Firmware view of cell {heading}: its shared-memory links."
    constants, declarations = ivshmem_types_context()
    return rendered(
        "firmware_header.h.j2",
        notice=generated_notice(what, list(sources)),
        guard=f"PARTCFG_{cell_ident.upper()}_H",
        constants=constants,
        declarations=declarations,
        cspace_size=iv.CSPACE_SIZE,
        links=links,
    )


def firmware_header_outputs_of(layout: SystemLayout,
                               sources: Sequence[str] = ()) -> dict[str, bytes]:
    """``<cell>/partcfg_<cell>.h`` -> header text, for every cell of the system."""
    return {f"{file_stem_of(c.cell.name)}/partcfg_{file_stem_of(c.cell.name)}.h":
            firmware_header_of(c, sources).encode("utf-8") for c in layout.cells}
