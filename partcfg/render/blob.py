"""Render layer: Jailhouse revision-14 configuration blobs (``.cell`` files)."""

from __future__ import annotations

from ..formats import jailhouse as jh
from ..layout import CellLayout, SystemLayout


def cell_payload_of(layout: CellLayout) -> bytes:
    """Descriptor, CPU set and the payload arrays in file order."""
    return b"".join([
        jh.CELL_DESC.pack(layout.descriptor),
        layout.cpu_set,
        jh.MEMORY.pack_many(layout.memory_regions),
        jh.CACHE.pack_many(layout.cache_regions),
        jh.IRQCHIP.pack_many(layout.irqchips),
        jh.PIO.pack_many(layout.pio_regions),
        jh.PCI_DEVICE.pack_many([d.fields for d in layout.pci_devices]),
        jh.PCI_CAPABILITY.pack_many(layout.pci_caps),
        jh.STREAM_ID.pack_many(layout.stream_ids),
    ])


def system_blob_of(layout: SystemLayout) -> bytes:
    """The system configuration: header followed by the root cell."""
    return jh.SYSTEM_HEADER.pack(layout.header) + cell_payload_of(layout.root)


def blobs_of_system(layout: SystemLayout) -> dict[str, bytes]:
    """Cell name -> blob bytes; the root cell's blob is the system configuration."""
    result = {layout.root.cell.name: system_blob_of(layout)}
    for cell in layout.cells[1:]:
        result[cell.cell.name] = cell_payload_of(cell)
    return result
