"""Test helpers for the blob -> YAML -> blob round trip, and hypothesis strategies that
generate valid revision-14 blobs (random arrays, unknown flag bits, ivshmem links)."""

from __future__ import annotations

from pathlib import Path

from hypothesis import strategies as st

from partcfg.formats import jailhouse as jh
from partcfg.formats.binfmt import Array, Chars, FieldType, Scalar, Struct, Union
from partcfg.load.blob import (ARRAY_ATTRIBUTES, ParsedBlob, ParsedCell, blob_bytes_of,
                              parsed_blob_of)
from partcfg.lift.blob_to_yaml import imported_documents_of
from partcfg.layout import layout_of_system
from partcfg.load.yaml_source import load_yaml_file, load_yaml_text
from partcfg.model.assembly import assembly_of
from partcfg.model.document import document_of
from partcfg.commands.pipeline import cell_blobs_of
from partcfg.render.blob import blobs_of_system
from partcfg.render.yaml_doc import yaml_text_of

CELLS = Path(__file__).resolve().parents[2] / "cells"


# --- the round trip --------------------------------------------------------------------------

def rebuilt_blobs_of(yaml_texts: dict[str, str]) -> dict[str, bytes]:
    """Cell name -> blob, built in-process from YAML texts (file name -> text) the way
    ``partcfg build`` does (load, model, assemble, layout, render; no validation)."""
    documents = [document_of(load_yaml_text(text, name)) for name, text in yaml_texts.items()]
    assembly = assembly_of(documents)
    assert not assembly.diagnostics, [d.message for d in assembly.diagnostics]
    return {cell.name: blob for cell, blob in cell_blobs_of(assembly)}


def imported_texts_of(blobs: dict[str, bytes]) -> dict[str, str]:
    """Output file name -> YAML text for blobs (input file name -> bytes) imported together."""
    parsed = [parsed_blob_of(data, file) for file, data in blobs.items()]
    return {d.name: yaml_text_of(d) for d in imported_documents_of(parsed)}


def example_systems() -> dict[str, dict[str, bytes]]:
    """System name -> {cell name: blob} for every example system in cells/."""
    documents = [document_of(load_yaml_file(p)) for p in sorted(CELLS.glob("*.yaml"))]
    assembly = assembly_of(documents)
    assert not assembly.diagnostics
    return {s.name: blobs_of_system(layout_of_system(s)) for s in assembly.systems}


# --- hypothesis: raw struct values -------------------------------------------------------------

def struct_values(ft: FieldType) -> st.SearchStrategy:
    """Any value of a binfmt type, in the form ``unpack`` returns."""
    if isinstance(ft, Scalar):
        return st.integers(0, (1 << 8 * ft.size) - 1)
    if isinstance(ft, Chars):
        return st.binary(min_size=ft.length, max_size=ft.length)
    if isinstance(ft, Array):
        return st.lists(struct_values(ft.element), min_size=ft.count, max_size=ft.count)
    if isinstance(ft, Union):
        return st.binary(min_size=ft.size, max_size=ft.size).map(lambda b: ft.unflatten(iter([b])))
    if isinstance(ft, Struct):
        return st.fixed_dictionaries({f.name: struct_values(f.type) for f in ft.fields})
    raise TypeError(ft)


u8, u16, u32, u64 = (st.integers(0, (1 << n) - 1) for n in (8, 16, 32, 64))
# a raw console type 8250 would read back as the word "8250" (type 2) if the model ever
# maps that number to the word; blobs never carry it
consoles = struct_values(jh.CONSOLE).filter(lambda c: c["type"] != 8250)
LINK_BDF_MIN = 0xFF00   # links use BDFs from here; random devices stay below


def parsed_cell_of(descriptor: dict, cpu_set: bytes, **arrays: list[dict]) -> ParsedCell:
    """A ParsedCell with the descriptor's counts set from the arrays, every value in the
    form ``parsed_blob_of`` returns (missing fields zero, names NUL-padded)."""
    cell = ParsedCell(dict(descriptor), bytes(cpu_set), **arrays)
    cell.descriptor["cpu_set_size"] = len(cell.cpu_set)
    for attribute, (count, struct_) in zip(ARRAY_ATTRIBUTES, jh.PAYLOAD_ARRAYS):
        canonical = [struct_.unpack(struct_.pack(v)) for v in getattr(cell, attribute)]
        setattr(cell, attribute, canonical)
        cell.descriptor[count] = len(canonical)
    cell.descriptor = jh.CELL_DESC.unpack(jh.CELL_DESC.pack(cell.descriptor))
    return cell


@st.composite
def system_headers(draw, arch: int) -> dict:
    units = draw(st.lists(struct_values(jh.IOMMU), max_size=jh.MAX_IOMMU_UNITS))
    if arch == jh.ARCHITECTURES["x86"]:
        x86 = draw(struct_values(jh.ARCH_X86))
        x86["padding"] = 0
        arch_part = {"x86": x86}
    else:
        arm = draw(struct_values(jh.ARCH_ARM))
        arm["padding"] = [0, 0]
        arch_part = {"arm": arm}
    return {
        "signature": jh.SYSTEM_SIGNATURE, "architecture": arch, "revision": jh.REVISION,
        "flags": draw(u32), "hypervisor_memory": draw(struct_values(jh.MEMORY)),
        "debug_console": draw(consoles),
        "platform_info": {"pci_mmconfig_base": draw(u64), "pci_mmconfig_end_bus": draw(u8),
                          "pci_is_virtual": draw(st.integers(0, 1)), "pci_domain": draw(u16),
                          "iommu_units": units, "arch": arch_part},
    }


cell_names = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\0"),
                     min_size=1, max_size=10).filter(lambda s: len(s.encode()) <= 32)


@st.composite
def cell_contents(draw, name: str, region_count_hint: int = 0) -> dict:
    """Random descriptor fields and arrays of one cell (no links yet). PCI devices refer
    to capabilities in range (or have none) and use BDFs below LINK_BDF_MIN."""
    small = lambda s: st.lists(s, max_size=4)  # noqa: E731
    caps = draw(small(struct_values(jh.PCI_CAPABILITY)))
    devices = []
    for dev in draw(small(struct_values(jh.PCI_DEVICE))):
        dev["bdf"] %= LINK_BDF_MIN
        if caps and draw(st.booleans()):
            start = draw(st.integers(0, len(caps) - 1))
            dev["caps_start"], dev["num_caps"] = start, draw(st.integers(1, len(caps) - start))
        else:
            dev["num_caps"] = 0
        if dev["type"] == jh.PCI_TYPE_IVSHMEM and draw(st.booleans()):
            dev["shmem_regions_start"] = draw(st.integers(0, 6))
        devices.append(dev)
    return {
        "descriptor": {"name": name.encode(), "id": draw(u32), "flags": draw(u32),
                       "vpci_irq_base": draw(u32), "cpu_reset_address": draw(u64),
                       "msg_reply_timeout": draw(u64), "console": draw(consoles)},
        "cpu_set": draw(st.binary(max_size=20)),
        "memory": draw(small(struct_values(jh.MEMORY))),
        "cache": draw(small(struct_values(jh.CACHE))),
        "irqchips": draw(small(struct_values(jh.IRQCHIP))),
        "pio": draw(small(struct_values(jh.PIO))),
        "pci_devices": devices,
        "pci_caps": caps,
        "stream_ids": draw(small(struct_values(jh.STREAM_ID))),
    }


def link_regions(base: int, virt: int, state: int, rw: int, output: int, peers: int,
                 peer_id: int, is_root: bool) -> list[dict]:
    """A peer's 2 + N region entries, straight from docs/format/ivshmem-v2.md."""
    shared = 0 if is_root else jh.MEM_ROOTSHARED
    zero = {"phys_start": 0, "virt_start": 0, "size": 0, "flags": 0}
    regions = [{"phys_start": base, "virt_start": virt, "size": state,
                "flags": jh.MEM_READ | shared}]
    regions.append({"phys_start": base + state, "virt_start": virt + state, "size": rw,
                    "flags": jh.MEM_READ | jh.MEM_WRITE | shared} if rw else zero)
    at = state + rw
    for k in range(peers):
        regions.append({"phys_start": base + at, "virt_start": virt + at, "size": output,
                        "flags": jh.MEM_READ | (jh.MEM_WRITE if k == peer_id else 0) | shared}
                       if output else dict(zero))
        at += output
    return regions


@st.composite
def links_between(draw, names: list[str], count: int) -> list[dict]:
    """``count`` links among the cells ``names`` (index 0 is the root), each with the
    per-peer region and device entries to insert."""
    bdfs = draw(st.lists(st.integers(LINK_BDF_MIN, 0xFFFF), min_size=count, max_size=count,
                         unique=True))
    links = []
    for bdf in bdfs:
        peers = draw(st.permutations(range(len(names))).map(list))
        peers = peers[:draw(st.integers(2, len(names)))]
        n = len(peers)
        page = st.integers(0, 16).map(lambda k: k * jh.PAGE_SIZE)
        base = draw(st.integers(0, 1 << 40)) & ~0xFFF
        state, rw, output = draw(page.filter(bool)), draw(page), draw(page)
        msix = draw(st.sampled_from([0, 1, 2, 16, 300]))
        if draw(st.booleans()):
            bar_mask = list(jh.IVSHMEM_BAR_MASK_MSIX if msix else jh.IVSHMEM_BAR_MASK_INTX)
        else:
            bar_mask = draw(st.lists(u32, min_size=6, max_size=6))
        if draw(st.booleans()):
            device = draw(st.integers(0, 0x3FFF))
            backend = draw(st.integers(0, n - 1))
            protocols = [0xC000 + device if k == backend else 0x8000 + device for k in range(n)]
        else:
            protocols = [draw(u16)] * n
        domain, iommu = draw(st.sampled_from([0, 0, 1, 0xFFFF])), draw(st.sampled_from([0, 0, 3]))
        per_cell = {}
        for peer_id, cell_index in enumerate(peers):
            virt = base if draw(st.booleans()) else draw(st.integers(0, 1 << 40)) & ~0xFFF
            per_cell[cell_index] = {
                "regions": link_regions(base, virt, state, rw, output, n, peer_id, cell_index == 0),
                "device": {"type": jh.PCI_TYPE_IVSHMEM, "iommu": iommu, "domain": domain,
                           "bdf": bdf, "bar_mask": bar_mask, "num_msix_vectors": msix,
                           "shmem_dev_id": peer_id, "shmem_peers": n,
                           "shmem_protocol": protocols[peer_id]}}
        links.append({"bdf": bdf, "domain": domain, "per_cell": per_cell})
    return links


def _with_links(draw, contents: dict, links: list[dict], cell_index: int) -> dict:
    """Insert each link's entries at random positions of the cell's memory and PCI lists,
    pointing the device at the first of its regions."""
    memory: list = [("region", r) for r in contents["memory"]]
    devices: list = [("device", d) for d in contents["pci_devices"]]
    for number, link in enumerate(links):
        if cell_index in link["per_cell"]:
            memory.insert(draw(st.integers(0, len(memory))), ("link", number))
            devices.insert(draw(st.integers(0, len(devices))), ("link", number))
    flat_memory, first_region = [], {}
    for kind, item in memory:
        if kind == "region":
            flat_memory.append(item)
        else:
            first_region[item] = len(flat_memory)
            flat_memory.extend(links[item]["per_cell"][cell_index]["regions"])
    flat_devices = []
    for kind, item in devices:
        if kind == "device":
            flat_devices.append(item)
        else:
            flat_devices.append(dict(links[item]["per_cell"][cell_index]["device"],
                                     shmem_regions_start=first_region[item]))
    return dict(contents, memory=flat_memory, pci_devices=flat_devices)


@st.composite
def systems(draw) -> tuple[list[ParsedBlob], list[dict]]:
    """A system blob and 0..3 cell blobs with 0..3 links among them: (blobs, links)."""
    arch = draw(st.sampled_from(sorted(jh.ARCHITECTURES.values())))
    names = draw(st.lists(cell_names, min_size=1, max_size=4, unique=True))
    links = draw(links_between(names, draw(st.integers(0, 3)))) if len(names) >= 2 else []
    blobs = []
    for index, name in enumerate(names):
        contents = _with_links(draw, draw(cell_contents(name)), links, index)
        descriptor = contents.pop("descriptor")
        if index == 0:
            cell = parsed_cell_of(descriptor, contents.pop("cpu_set"), **contents)
            blobs.append(ParsedBlob(f"sys/system-{index}.cell", "system", arch,
                                    draw(system_headers(arch)), cell))
        else:
            descriptor.update(signature=jh.CELL_SIGNATURE, architecture=arch,
                              revision=jh.REVISION)
            cell = parsed_cell_of(descriptor, contents.pop("cpu_set"), **contents)
            blobs.append(ParsedBlob(f"sys/cell-{index}.cell", "cell", arch, None, cell))
    return blobs, links


@st.composite
def standalone_cells(draw) -> ParsedBlob:
    arch = draw(st.sampled_from(sorted(jh.ARCHITECTURES.values())))
    contents = draw(cell_contents(draw(cell_names)))
    descriptor = dict(contents.pop("descriptor"), signature=jh.CELL_SIGNATURE,
                      architecture=arch, revision=jh.REVISION)
    cell = parsed_cell_of(descriptor, contents.pop("cpu_set"), **contents)
    return ParsedBlob("alone.cell", "cell", arch, None, cell)


def blob_files_of(blobs: list[ParsedBlob]) -> dict[str, bytes]:
    return {b.file: blob_bytes_of(b) for b in blobs}
