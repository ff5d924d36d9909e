"""Render layer: the resolved system as text (``partcfg show``).

Per cell, every region with its absolute addresses, size, access and where it came from
(declared, or derived from which link); per link, the section layout and what each peer
may do with each section. The same facts as JSON for ``show --format json``.
"""

from __future__ import annotations

import json

from ..formats import jailhouse as jh
from ..layout import CellLayout, SystemLayout
from ..model.regions import sections_of
from ..model.system import Link
from ..units import counted, format_bdf, format_ranges, format_size
from ..wording import ARCH_NAMES, PCI_TYPE_NAMES, access_letters, arch_name


def access_of(flags: int) -> str:
    """``rwxd`` style access letters, plus the other memory flags as words."""
    letters = access_letters(flags)
    extra = [w for w, bit in jh.MEM_FLAGS.items()
             if bit > jh.MEM_DMA and flags & bit == bit]
    return letters + (" " + ",".join(extra) if extra else "")


def cell_text_of(layout: CellLayout) -> str:
    cell = layout.cell
    role = "root cell" if layout.is_root else "cell"
    lines = [f"{role} {cell.name}: CPUs {format_ranges(cell.cpus) or '-'}, "
             f"{counted(len(layout.regions), 'memory region')}, "
             f"{counted(len(layout.pci_devices), 'PCI device')}"]
    lines.append(f"  {'#':>3}  {'phys':<25} {'virt':<18} {'size':>9}  {'access':<22} origin")
    for i, r in enumerate(layout.regions):
        if r.is_placeholder:
            lines.append(f"  {i:>3}  {'(placeholder)':<25} {'':<18} {'0':>9}  {'':<22} {r.origin}")
            continue
        phys = "-" if r.flags & jh.MEM_COMM_REGION else f"{r.phys:#x}-{r.end - 1:#x}"
        lines.append(f"  {i:>3}  {phys:<25} {r.virt:<#18x} {format_size(r.size):>9}  "
                     f"{access_of(r.flags):<22} {r.origin}")
    for dev in layout.pci_devices:
        f = dev.fields
        kind = PCI_TYPE_NAMES.get(f["type"], str(f["type"]))
        extra = ""
        if f["type"] == jh.PCI_TYPE_IVSHMEM:
            extra = (f" peer {f['shmem_dev_id']} of {f['shmem_peers']}, regions from "
                     f"#{f['shmem_regions_start']}, protocol {f['shmem_protocol']:#06x}")
        lines.append(f"  pci {format_bdf(f['bdf'])} {kind}{extra} ({dev.origin})")
    return "\n".join(lines)


def link_text_of(name: str, link: Link) -> str:
    lines = [f"link {name}: {format_bdf(link.bdf)}, {len(link.peers)} peers, "
             f"{'MSI-X ' + str(link.interrupts) if link.interrupts else 'INTx'}, "
             f"protocol {link.protocol:#06x}" + (f", back-end {link.backend}" if link.backend else "")]
    peers = link.peers
    lines.append(f"  {'section':<26} {'range':<25} {'size':>8}  " + "  ".join(f"{p[:12]:<12}" for p in peers))
    for sec in sections_of(link):
        start = link.base + sec.offset
        rng = f"{start:#x}-{start + sec.size - 1:#x}" if sec.size else "(absent)"
        perms = []
        for k in range(len(peers)):
            if sec.kind == "state":
                perms.append("RO")
            elif sec.kind == "rw":
                perms.append("RW")
            else:
                perms.append("RW (TX)" if sec.owner == k else "RO (RX)")
        lines.append(f"  {sec.label:<26} {rng:<25} {format_size(sec.size):>8}  "
                     + "  ".join(f"{p:<12}" for p in perms))
    return "\n".join(lines)


def system_text_of(layout: SystemLayout) -> str:
    system = layout.system
    arch = arch_name(system.arch, "?")
    hv = system.platform.hypervisor_memory
    parts = [f"system {system.name} ({arch}), hypervisor memory {hv.phys:#x}-{hv.phys + hv.size - 1:#x}"]
    parts += [cell_text_of(c) for c in layout.cells]
    parts += [link_text_of(n, l) for n, l in system.links.items()]
    return "\n\n".join(parts)


# --- the same facts as JSON ------------------------------------------------------------------

def _permission_of(kind: str, owner: int | None, peer: int) -> str:
    if kind == "state":
        return "RO"
    if kind == "rw":
        return "RW"
    return "RW (TX)" if owner == peer else "RO (RX)"


def cell_facts_of(layout: CellLayout) -> dict:
    cell = layout.cell
    regions = []
    for r in layout.regions:
        regions.append({
            "name": r.name, "phys": None if r.flags & jh.MEM_COMM_REGION else r.phys,
            "virt": r.virt, "size": r.size, "access": access_of(r.flags),
            "flags": [w for w, bit in jh.MEM_FLAGS.items() if r.flags & bit == bit],
            "origin": r.origin, "placeholder": r.is_placeholder})
    devices = []
    for dev in layout.pci_devices:
        f = dev.fields
        entry = {"bdf": format_bdf(f["bdf"]), "domain": f["domain"],
                 "type": PCI_TYPE_NAMES.get(f["type"], f["type"]),
                 "origin": dev.origin}
        if f["type"] == jh.PCI_TYPE_IVSHMEM:
            entry.update(peer_id=f["shmem_dev_id"], peers=f["shmem_peers"],
                         regions_start=f["shmem_regions_start"], protocol=f["shmem_protocol"])
        devices.append(entry)
    return {"name": cell.name, "root": layout.is_root, "cpus": list(cell.cpus),
            "regions": regions, "pci_devices": devices}


def link_facts_of(name: str, link: Link) -> dict:
    sections = []
    for sec in sections_of(link):
        start = link.base + sec.offset
        sections.append({"section": sec.label, "start": start if sec.size else None,
                         "size": sec.size,
                         "access": {p: _permission_of(sec.kind, sec.owner, k)
                                    for k, p in enumerate(link.peers)}})
    return {"name": name, "bdf": format_bdf(link.bdf), "domain": link.domain,
            "peers": list(link.peers), "msix_vectors": link.interrupts, "protocol": link.protocol,
            "backend": link.backend, "base": link.base, "size": link.size, "sections": sections}


def system_facts_of(layout: SystemLayout) -> dict:
    system = layout.system
    hv = system.platform.hypervisor_memory
    return {"name": system.name,
            "arch": ARCH_NAMES.get(system.arch, system.arch),
            "hypervisor_memory": {"phys": hv.phys, "size": hv.size},
            "cells": [cell_facts_of(c) for c in layout.cells],
            "links": [link_facts_of(n, l) for n, l in system.links.items()]}


def show_json_of(systems: list[SystemLayout], standalone: list[CellLayout]) -> str:
    """``partcfg show --format json``: every system and standalone cell as one object
    (addresses and sizes as integers)."""
    return json.dumps({"systems": [system_facts_of(s) for s in systems],
                       "standalone_cells": [cell_facts_of(c) for c in standalone]}, indent=2) + "\n"
