"""Lift layer: decoded blobs (``load.blob``) -> the plain data of partcfg YAML documents.

The reverse direction of the flow, for ``partcfg import``: each parsed ``.cell`` file
becomes one document's data (dicts, lists, ints, strings: exactly what the YAML file
will hold), written the idiomatic way (sizes as ``4K``, flags as words, CPU sets and
interrupt lines as ranges, BDFs as ``bb:dd.f``, names instead of indices) and such that
building the document again yields the very same bytes. Whatever partcfg has no
idiomatic form for is kept raw (numbers in flag lists, ``caps_start``, ``cpu_set_size``,
``id``, padding); whatever cannot be kept at all is named in an IMPORT-INEXACT warning.

Blobs of one system imported together are related: cell blobs join the system blob's
system, and ivshmem devices whose peers agree exactly (docs/format/ivshmem-v2.md) are lifted
into ``links:`` of the system file, with ``- link: NAME`` placements at the original
array positions so that the rebuilt arrays are identical. Link semantics are taken from
``model`` (``Link``, ``link_regions_of``), the same code the build uses.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ..formats import jailhouse as jh
from ..load.blob import SYSTEM_KIND, ParsedBlob, ParsedCell
from ..diagnostics import Diagnostic, Location, info, warning
from ..formats.ivshmem import links_by_bdf
from ..model.regions import link_regions_of
from ..model.scalars import VIRTIO_DEVICES, format_protocol
from ..model.system import Link
from ..units import format_bdf, format_flags, format_ranges, size_in_units

INEXACT = "IMPORT-INEXACT"


class Hex(int):
    """An int the YAML renderer writes in hex (addresses, masks); equal to the plain int."""

    def __repr__(self) -> str:
        return f"0x{int(self):x}"


@dataclass
class ImportedDocument:
    """One YAML document to write: its input, its file name, its data and what was noted."""
    source: str                      # the blob's path
    name: str                        # output file name: input stem + ".yaml"
    data: dict
    diagnostics: list[Diagnostic] = field(default_factory=list)   # found by the import
    # the reader's own warnings (ParsedBlob.diagnostics, e.g. trailing bytes), kept apart
    # so that a caller reporting both the blobs' and the documents' lists sees each once
    blob_diagnostics: list[Diagnostic] = field(default_factory=list)


# --- number forms ----------------------------------------------------------------------------

def _size(value: int) -> str | int:
    """``4K``, ``1M`` where exact, else hex (never decimal: one style for every length)."""
    return size_in_units(value) or Hex(value)


def _small(value: int) -> int:
    """Lengths, offsets and raw values: always hex, one style for every such number (counts
    such as vectors, peers and interrupt lines stay decimal)."""
    return Hex(value)


def _flags(mask: int, names: dict[str, int]) -> list:
    return [Hex(w) if isinstance(w, int) else w for w in format_flags(mask, names)]


def _choice(value: int, names: dict[str, int]) -> str | int:
    for word, number in names.items():
        if number == value:
            return word
    return Hex(value)  # never decimal: digits-only words (console "8250") read back as words


def _ranges(numbers: list[int]) -> str | int:
    """``0-3,6`` for a set of numbers; long runs are split because the CPU-set parser
    refuses a single range of more than 4097 numbers."""
    parts = []
    for part in format_ranges(numbers).split(","):
        lo, _, hi = part.partition("-")
        lo_n, hi_n = int(lo), int(hi or lo)
        while hi_n - lo_n > 4096:
            parts.append(f"{lo_n}-{lo_n + 4096}")
            lo_n += 4097
        parts.append(str(lo_n) if lo_n == hi_n else f"{lo_n}-{hi_n}")
    text = ",".join(parts)
    return int(text) if text.isdigit() else text


def _bits_of(data: bytes) -> list[int]:
    return [i * 8 + b for i, byte in enumerate(data) if byte for b in range(8) if byte >> b & 1]


def _dashed_bdf(domain: int, bdf: int) -> str:
    text = format_bdf(bdf).replace(":", "-").replace(".", "-")
    return f"{domain:04x}-{text}" if domain else text


def _is_zero(value: Any) -> bool:
    if isinstance(value, dict):
        return all(_is_zero(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return all(_is_zero(v) for v in value)
    if isinstance(value, (bytes, bytearray)):
        return not any(value)
    return not value


# --- one import: who belongs to which system ---------------------------------------------------

@dataclass
class _Entry:
    """One input blob on its way to a document."""
    blob: ParsedBlob
    stem: str
    diagnostics: list[Diagnostic]
    cell_name: str = ""
    system: str | None = None        # system name the document joins (None: standalone)
    is_root: bool = False
    # lifted links: first region index -> (link name, virt or None); covered region indices;
    # PCI device index -> link name
    link_regions: dict[int, tuple[str, int | None]] = field(default_factory=dict)
    covered: set[int] = field(default_factory=set)
    link_devices: dict[int, str] = field(default_factory=dict)
    links: dict[str, dict] = field(default_factory=dict)   # system file only

    def note(self, message: str, rule: str = INEXACT, hint: str | None = None) -> None:
        self.diagnostics.append(warning(rule, message, Location(self.blob.file), hint=hint))


def imported_documents_of(blobs: list[ParsedBlob]) -> list[ImportedDocument]:
    """One document per blob, in input order. Cell blobs join the system blob imported with
    them (the one in the same directory when there are several); links are lifted where
    all their peers are present and agree."""
    entries: list[_Entry] = []
    used_stems: set[str] = set()
    for blob in blobs:
        stem = Path(blob.file).stem or "blob"
        unique, n = stem, 2
        while unique.lower() in used_stems:
            unique, n = f"{stem}-{n}", n + 1
        used_stems.add(unique.lower())
        entry = _Entry(blob, unique, [])
        entry.cell_name = _cell_name_of(entry)
        entries.append(entry)

    systems = [e for e in entries if e.blob.kind == SYSTEM_KIND]
    for e in systems:
        e.system, e.is_root = e.stem, True
    members: dict[str, list[_Entry]] = {e.stem: [e] for e in systems}
    for e in entries:
        if e.blob.kind == SYSTEM_KIND or not systems:
            continue
        candidates = systems
        if len(systems) > 1:
            parent = Path(e.blob.file).parent
            candidates = [s for s in systems if Path(s.blob.file).parent == parent]
        if len(candidates) != 1:
            e.diagnostics.append(info(
                "IMPORT-STANDALONE", f"imported as a standalone cell: {len(candidates)} system "
                "blobs could be its system", Location(e.blob.file),
                hint="import a system blob with its cell blobs (one system per directory)"))
            continue
        system = candidates[0]
        if e.blob.arch != system.blob.arch:
            e.note(f"imported as a standalone cell: its architecture {_arch_word(e.blob.arch)} "
                   f"differs from system {system.stem!r} ({_arch_word(system.blob.arch)})",
                   rule="IMPORT-ARCH")
            continue
        clash = next((m for m in members[system.stem] if m.cell_name == e.cell_name), None)
        if clash is not None:
            e.note(f"imported as a standalone cell: cell name {e.cell_name!r} is already used "
                   f"by {clash.blob.file} in system {system.stem!r}", rule="IMPORT-NAME-CLASH")
            continue
        e.system = system.stem
        members[system.stem].append(e)

    for group in members.values():
        _lift_links(group)
    return [ImportedDocument(e.blob.file, e.stem + ".yaml", _document_data_of(e), e.diagnostics,
                             list(e.blob.diagnostics)) for e in entries]


def _arch_word(arch: int) -> str:
    return str(_choice(arch, jh.ARCHITECTURES))


def _cell_name_of(entry: _Entry) -> str:
    raw = entry.blob.cell.name
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        entry.note(f"cell name {raw!r} is not UTF-8; the undecodable bytes are replaced")
        return raw.decode("utf-8", "replace")


# --- links ------------------------------------------------------------------------------------

_LINK_DEVICE_ZERO_FIELDS = ("caps_start", "num_caps", "num_msi_vectors", "msi_bits",
                            "msix_region_size", "msix_address")


def _lift_links(group: list[_Entry]) -> None:
    """Lift every ivshmem BDF whose devices across ``group`` (root first) form one exact
    link into the root's ``links``, marking the lifted array entries of every peer. Where
    they do not, an IMPORT-LINK-RAW note in each file involved says why."""
    root = group[0]
    endpoints = [(e, i) for e in group for i, dev in enumerate(e.blob.cell.pci_devices)
                 if dev["type"] == jh.PCI_TYPE_IVSHMEM]
    by_bdf = links_by_bdf(endpoints, lambda ep: ep[0].blob.cell.pci_devices[ep[1]]["bdf"])
    for bdf, devices in by_bdf.items():
        domain = devices[0][0].blob.cell.pci_devices[devices[0][1]]["domain"]
        lifted = _link_of(bdf, devices)
        if isinstance(lifted, tuple):
            name, data, placements = lifted
            overlapping = [e for e, _, start, count, _ in placements
                           if e.covered & set(range(start, start + count))]
            if overlapping:
                lifted = (f"its regions in {overlapping[0].cell_name!r} overlap those of a link "
                          "lifted before")
            elif name in root.links:  # cannot happen (names carry the BDF); a safeguard
                lifted = f"the name {name!r} is taken"
        if isinstance(lifted, str):
            where = "" if not domain else f" in PCI domain {domain}"
            involved = list({id(e): e for e, _ in devices}.values())
            for e in involved:
                e.diagnostics.append(info(
                    "IMPORT-LINK-RAW", f"ivshmem devices at {format_bdf(bdf)}{where} kept as raw "
                    f"PCI devices and regions: {lifted}", Location(e.blob.file)))
            continue
        root.links[name] = data
        for e, dev_index, start, count, virt in placements:
            e.link_regions[start] = (name, virt)
            e.covered.update(range(start, start + count))
            e.link_devices[dev_index] = name


def _link_of(bdf: int, devices: list[tuple[_Entry, int]]):
    """(name, YAML data, placements) of the link these devices form, or the reason why
    they do not form one exactly. A placement is (entry, device index, first region,
    region count, virt or None)."""
    devs = [(e, i, e.blob.cell.pci_devices[i]) for e, i in devices]
    first = devs[0][2]
    peers_count = first["shmem_peers"]
    cells = [e.cell_name for e, _, _ in devs]
    twice = sorted({n for n in cells if cells.count(n) > 1})
    if twice:
        return f"cell {twice[0]!r} has more than one device at this address"
    for e, _, d in devs:
        if d["shmem_peers"] != peers_count:
            return (f"shmem_peers: {e.cell_name!r} says {d['shmem_peers']}, {devs[0][0].cell_name!r} "
                    f"says {peers_count}")
    if peers_count < 2:
        return f"shmem_peers is {peers_count}; a link has 2 or more peers"
    if len(devs) != peers_count:
        return f"{len(devs)} of its {peers_count} peers were imported"
    ids = sorted(d["shmem_dev_id"] for _, _, d in devs)
    if ids != list(range(peers_count)):
        return f"the peer IDs are {ids}, not 0..{peers_count - 1}"
    by_id = sorted(devs, key=lambda item: item[2]["shmem_dev_id"])
    e0, _, d0 = by_id[0]
    first = d0
    for e, _, d in by_id:
        extra = [k for k in _LINK_DEVICE_ZERO_FIELDS if d[k]]
        if extra:
            return f"the device of {e.cell_name!r} sets {', '.join(extra)}, which a link leaves 0"
        for key in ("iommu", "bar_mask", "num_msix_vectors"):
            if d[key] != first[key]:
                mine, theirs = (_shown(v) if isinstance(v, (list, tuple)) else str(v)
                                for v in (d[key], first[key]))
                return (f"{key}: {e.cell_name!r} (peer {d['shmem_dev_id']}) says {mine}, "
                        f"{e0.cell_name!r} (peer 0) says {theirs}")
    peer_names = [e.cell_name for e, _, _ in by_id]
    domain = first["domain"]

    protocols = [d["shmem_protocol"] for _, _, d in by_id]
    backend = None
    if len(set(protocols)) == 1:
        protocol_value: str | int = format_protocol(protocols[0])
        prefix = {0x0001: "veth"}.get(protocols[0], "ivshmem")
        if protocols[0] >= 0x8000:
            prefix = f"virtio-{_virtio_device(protocols[0] & 0x3FFF)}"
    else:
        backs = [k for k, p in enumerate(protocols) if p >= 0xC000]
        device = protocols[backs[0]] - 0xC000 if len(backs) == 1 else -1
        if len(backs) != 1 or any(p != 0x8000 + device for k, p in enumerate(protocols)
                                  if k != backs[0]):
            return ("shmem_protocol: " + ", ".join(
                f"{n!r} (peer {k}) says {p:#06x}" for k, (n, p) in enumerate(zip(peer_names, protocols)))
                + "; not one protocol, nor one virtio back-end with front-ends")
        protocol_value = f"virtio:{_virtio_device(device)}"
        backend = peer_names[backs[0]]
        prefix = f"virtio-{_virtio_device(device)}"
    name = f"{prefix}-{_dashed_bdf(domain, bdf)}"

    # The layout is read off peer 0's entries; every peer is then compared with what the
    # model derives from it, so a wrong guess simply leaves the devices raw.
    count = 2 + peers_count
    for e, _, d in by_id:
        start = d["shmem_regions_start"]
        if start + count > len(e.blob.cell.memory):
            return (f"{e.cell_name!r} has {len(e.blob.cell.memory)} memory regions, fewer than "
                    f"shmem_regions_start {start} + 2 + {peers_count} peers")
    start0 = d0["shmem_regions_start"]
    state, rw, output = e0.blob.cell.memory[start0:start0 + 3]
    data: dict[str, Any] = {"bdf": format_bdf(bdf)}
    if domain:
        data["domain"] = domain
    # the hypervisor pairs by BDF alone; peers whose entry says another domain keep it
    others = {e.cell_name: d["domain"] for e, _, d in by_id if d["domain"] != domain}
    if others:
        data["peer_domains"] = others
    if first["iommu"]:
        data["iommu"] = first["iommu"]
    data["base"] = Hex(state["phys_start"])
    data["state_table"] = _size(state["size"])
    if rw["size"]:
        data["rw_section"] = _size(rw["size"])
    if output["size"]:
        data["output_section"] = _size(output["size"])
    data["peers"] = peer_names
    msix = first["num_msix_vectors"]
    data["interrupts"] = {"msix": msix} if msix else "intx"
    data["protocol"] = protocol_value
    if backend is not None:
        data["backend"] = backend
    if tuple(first["bar_mask"]) != (jh.IVSHMEM_BAR_MASK_MSIX if msix else jh.IVSHMEM_BAR_MASK_INTX):
        data["bar_mask"] = [Hex(m) if m else 0 for m in first["bar_mask"]]
    root_entries = [e for e, _, _ in by_id if e.is_root]
    if root_entries:
        # upstream's JAILHOUSE_SHMEM_NET_REGIONS flags the root's entries rootshared too
        e, _, d = next(item for item in by_id if item[0].is_root)
        state_flags = e.blob.cell.memory[d["shmem_regions_start"]]["flags"] \
            if d["shmem_regions_start"] < len(e.blob.cell.memory) else 0
        if state_flags & jh.MEM_ROOTSHARED:
            data["rootshared_in_root"] = True
    try:
        link = Link.model_validate(data)
    except ValidationError as exc:
        return f"the link would not be valid YAML ({exc.errors()[0]['msg']})"

    placements = []
    for peer_id, (e, dev_index, d) in enumerate(by_id):
        start = d["shmem_regions_start"]
        actual = [(r["phys_start"], r["virt_start"], r["size"], r["flags"])
                  for r in e.blob.cell.memory[start:start + count]]
        virt = actual[0][1]
        expected = [(r.phys, r.virt, r.size, r.flags)
                    for r in link_regions_of(name, link, peer_id, e.is_root, virt, None)]
        if expected != actual:
            at = next(k for k in range(count) if expected[k] != actual[k])
            section = ("state table", "read/write section")[at] if at < 2 else \
                f"output section of peer {at - 2}"
            fields = [f"{what} {_shown(a, what == 'flags')} where the link gives "
                      f"{_shown(b, what == 'flags')}" for what, a, b in zip(
                          ("phys_start", "virt_start", "size", "flags"), actual[at], expected[at])
                      if a != b]
            return (f"memory region {start + at} of {e.cell_name!r} (peer {peer_id}, its "
                    f"{section}) has {', '.join(fields)}")
        if d["shmem_protocol"] != link.protocol_of_peer(peer_id):  # as a safeguard
            return f"the protocol of {e.cell_name!r} is not the link's"
        placements.append((e, dev_index, start, count, None if virt == link.base else virt))
    return name, data, placements


def _shown(value: Any, flags: bool = False) -> str:
    """A field value for an IMPORT-LINK-RAW message: flags as words, numbers in hex."""
    if flags:
        return "[" + ", ".join(str(w) if isinstance(w, str) else f"{w:#x}"
                               for w in format_flags(value, jh.MEM_FLAGS)) + "]"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(f"{v:#x}" for v in value) + "]"
    return f"{value:#x}" if isinstance(value, int) else str(value)


def _virtio_device(number: int) -> str | int:
    return _choice(number, VIRTIO_DEVICES)


# --- documents --------------------------------------------------------------------------------

def _document_data_of(e: _Entry) -> dict:
    data: dict[str, Any] = {}
    if e.system is not None:
        data["system"] = e.system
    if e.blob.kind == SYSTEM_KIND:
        data["platform"] = _platform_of(e)
    data["cell"] = _cell_of(e)
    if e.links:
        data["links"] = e.links
    return data


def _device_window_of(values: dict, types: dict[str, int], address_key: str) -> dict[str, Any]:
    """The type word, address and size of a console or an IOMMU unit (the zero ones left out)."""
    result: dict[str, Any] = {"type": _choice(values["type"], types)}
    if values[address_key]:
        result[address_key] = Hex(values[address_key])
    if values["size"]:
        result["size"] = _size(values["size"])
    return result


def _console_of(console: dict) -> dict | None:
    if _is_zero(console):
        return None
    result = _device_window_of(console, jh.CONSOLE_TYPES, "address")
    if console["flags"]:
        result["flags"] = _flags(console["flags"], jh.CONSOLE_FLAGS)
    for key in ("divider", "gate_nr"):
        if console[key]:
            result[key] = console[key]
    if console["clock_reg"]:
        result["clock_reg"] = Hex(console["clock_reg"])
    return result


def _platform_of(e: _Entry) -> dict:
    header = e.blob.header or {}
    result: dict[str, Any] = {"arch": _arch_word(e.blob.arch)}
    if header["flags"]:
        result["flags"] = _flags(header["flags"], jh.SYSTEM_FLAGS)
    hv = header["hypervisor_memory"]
    hv_data: dict[str, Any] = {"phys": Hex(hv["phys_start"]), "size": _size(hv["size"])}
    if hv["virt_start"]:
        hv_data["virt"] = Hex(hv["virt_start"])
    if hv["flags"]:
        hv_data["flags"] = _flags(hv["flags"], jh.MEM_FLAGS)
    result["hypervisor_memory"] = hv_data
    console = _console_of(header["debug_console"])
    if console is not None:
        result["debug_console"] = console
    info_ = header["platform_info"]
    pci: dict[str, Any] = {}
    if info_["pci_mmconfig_base"]:
        pci["mmconfig_base"] = Hex(info_["pci_mmconfig_base"])
    if info_["pci_mmconfig_end_bus"]:
        pci["end_bus"] = Hex(info_["pci_mmconfig_end_bus"])
    if info_["pci_is_virtual"]:
        pci["virtual"] = True
        if info_["pci_is_virtual"] != 1:
            e.note(f"pci_is_virtual is {info_['pci_is_virtual']}; partcfg writes it as 1 (true)")
    if info_["pci_domain"]:
        pci["domain"] = info_["pci_domain"]
    if pci:
        result["pci"] = pci
    units = [_iommu_of(u) for u in info_["iommu_units"]]
    while units and units[-1] is None:
        units.pop()
    if units:
        result["iommus"] = [u or {"type": "none"} for u in units]

    arch = info_["arch"]
    raw = jh.ARCH_ARM.pack(arch["arm"])   # the ARM variant spans the whole 44 bytes
    if e.blob.arch == jh.ARCHITECTURES["x86"]:
        x86 = arch["x86"]
        data: dict[str, Any] = {}
        if x86["pm_timer_address"]:
            data["pm_timer_address"] = Hex(x86["pm_timer_address"])
        if x86["apic_mode"]:
            data["apic_mode"] = _choice(x86["apic_mode"], jh.APIC_MODES)
        for key in ("vtd_interrupt_limit", "tsc_khz", "apic_khz"):
            if x86[key]:
                data[key] = x86[key]
        if data:
            result["x86"] = data
        if x86["padding"]:
            e.note(f"x86 platform padding byte is {x86['padding']:#x}; partcfg writes 0")
        if any(raw[jh.ARCH_X86.size:]):
            e.note(f"bytes {jh.ARCH_X86.size}..{len(raw) - 1} of the x86 platform part are not "
                   "zero; partcfg writes zeros")
    else:
        arm = arch["arm"]
        data = {}
        if arm["maintenance_irq"]:
            data["maintenance_irq"] = arm["maintenance_irq"]
        if arm["gic_version"]:
            data["gic_version"] = arm["gic_version"]
        for key in ("gicd_base", "gicc_base", "gich_base", "gicv_base", "gicr_base"):
            if arm[key]:
                data[key] = Hex(arm[key])
        if data:
            result["arm"] = data
        if any(arm["padding"]):
            e.note(f"ARM platform padding bytes are {bytes(arm['padding']).hex()}; partcfg "
                   "writes zeros")
    return result


def _iommu_of(unit: dict) -> dict | None:
    if _is_zero({k: v for k, v in unit.items() if k != "variant"}) \
            and not any(jh.IOMMU_PVU_PART.pack(unit["variant"]["tipvu"])):
        return None
    result = _device_window_of(unit, jh.IOMMU_TYPES, "base")
    amd, pvu = unit["variant"]["amd"], unit["variant"]["tipvu"]
    if unit["type"] == jh.IOMMU_AMD and not _is_zero(amd):
        data: dict[str, Any] = {}
        if amd["bdf"]:
            data["bdf"] = format_bdf(amd["bdf"])
        for key in ("base_cap", "msi_cap", "features"):
            if amd[key]:
                data[key] = Hex(amd[key])
        result["amd"] = data
    # The TI PVU view spans all 12 bytes, so it also carries any bytes another type leaves.
    rest = jh.IOMMU_PVU_PART.pack(pvu)[jh.IOMMU_AMD_PART.size if unit["type"] == jh.IOMMU_AMD else 0:]
    if any(rest):
        data = {}
        if pvu["tlb_base"]:
            data["tlb_base"] = Hex(pvu["tlb_base"])
        if pvu["tlb_size"]:
            data["tlb_size"] = Hex(pvu["tlb_size"])
        result["pvu"] = data
    return result


def _cell_of(e: _Entry) -> dict:
    cell: ParsedCell = e.blob.cell
    desc = cell.descriptor
    result: dict[str, Any] = {"name": e.cell_name}
    if e.system is None:
        result["arch"] = _arch_word(e.blob.arch)
    if e.blob.kind == SYSTEM_KIND and (any(desc["signature"]) or desc["architecture"]
                                       or desc["revision"]):
        e.note("the root cell descriptor's signature/architecture/revision are not zero; "
               "partcfg writes zeros there")
    if desc["flags"]:
        result["flags"] = _flags(desc["flags"], jh.CELL_FLAGS)
    cpus = _bits_of(cell.cpu_set)
    if cpus:
        result["cpus"] = _ranges(cpus)
    if len(cell.cpu_set) != 8 * (max(cpus, default=0) // 64 + 1):
        result["cpu_set_size"] = len(cell.cpu_set)

    region_names = _region_names_of(e)
    memory: list[Any] = []
    for i, region in enumerate(cell.memory):
        if i in e.link_regions:
            link, virt = e.link_regions[i]
            memory.append({"link": link} if virt is None else {"link": link, "virt": Hex(virt)})
        elif i not in e.covered:
            memory.append(_memory_region_of(region, region_names.get(i)))
    if memory:
        result["memory"] = memory
    if cell.cache:
        result["cache_regions"] = [_cache_region_of(c) for c in cell.cache]
    if cell.irqchips:
        result["irqchips"] = [_irqchip_of(c) for c in cell.irqchips]
    if cell.pio:
        result["pio"] = [{"base": Hex(p["base"]), "length": _small(p["length"])} for p in cell.pio]
    groups, group_names_of_device = _cap_groups_of(e)
    if groups:
        result["pci_caps"] = groups
    if cell.pci_devices:
        result["pci_devices"] = [
            {"link": e.link_devices[i]} if i in e.link_devices
            else _pci_device_of(e, dev, group_names_of_device.get(i), region_names)
            for i, dev in enumerate(cell.pci_devices)]
    if cell.stream_ids:
        result["stream_ids"] = [Hex(s["id"]) for s in cell.stream_ids]
    if desc["vpci_irq_base"]:
        result["vpci_irq_base"] = desc["vpci_irq_base"]
    for key in ("cpu_reset_address", "msg_reply_timeout"):
        if desc[key]:
            result[key] = Hex(desc[key])
    console = _console_of(desc["console"])
    if console is not None:
        result["console"] = console
    if desc["id"]:
        result["id"] = desc["id"]
    return result


def _region_names_of(e: _Entry) -> dict[int, str]:
    """A name for every region the document writes, from what it is, so that messages
    and references say more than "region #15": the sections of a raw ivshmem device
    (``ivshmem-00-0e-0-state``, ``-rw``, ``-out0``, ...; its device points at the first),
    ``comm-region``, ``io-0xfeb40000``, ``loadable``, ``ram`` and ``read-only``. A name
    that several regions would get carries each one's address (``ram-0x100000``)."""
    names: dict[int, str] = {}
    memory = e.blob.cell.memory
    for i, dev in enumerate(e.blob.cell.pci_devices):
        start = dev["shmem_regions_start"]
        if i in e.link_devices or dev["type"] != jh.PCI_TYPE_IVSHMEM or start >= len(memory) \
                or start in e.covered or start in names:
            continue
        base = f"ivshmem-{_dashed_bdf(dev['domain'], dev['bdf'])}"
        sections = ["state", "rw"] + [f"out{k}" for k in range(dev["shmem_peers"])]
        for k, section in enumerate(sections):
            if start + k < len(memory) and start + k not in e.covered and start + k not in names \
                    and start + k not in e.link_regions:
                names[start + k] = f"{base}-{section}"
    kinds: dict[int, str] = {}
    for i, region in enumerate(memory):
        if i in names or i in e.covered or i in e.link_regions or _is_zero(region):
            continue
        flags = region["flags"]
        if flags & jh.MEM_COMM_REGION:
            kinds[i] = "comm-region"
        elif flags & jh.MEM_IO:
            kinds[i] = f"io-{region['phys_start']:#x}"
        elif flags & jh.MEM_LOADABLE:
            kinds[i] = "loadable"
        elif flags & jh.MEM_WRITE:
            kinds[i] = "ram"
        else:
            kinds[i] = "read-only"
    counts: dict[str, int] = {}
    for kind in kinds.values():
        counts[kind] = counts.get(kind, 0) + 1
    taken = set(names.values())
    for i, kind in kinds.items():
        base = kind if counts[kind] == 1 else f"{kind}-{memory[i]['phys_start']:#x}"
        name, n = base, 2
        while name in taken:
            name, n = f"{base}-{n}", n + 1
        taken.add(name)
        names[i] = name
    return names


def _memory_region_of(region: dict, name: str | None) -> dict:
    result: dict[str, Any] = {}
    if name is not None:
        result["name"] = name
    if _is_zero(region):  # an empty slot (an absent link section): the defaults say it
        return result or {"size": 0}
    phys, virt, flags = region["phys_start"], region["virt_start"], region["flags"]
    if phys or not flags & jh.MEM_COMM_REGION:
        result["phys"] = Hex(phys)
    if virt != phys:
        result["virt"] = Hex(virt)
    result["size"] = _size(region["size"])
    if flags:
        result["flags"] = _flags(flags, jh.MEM_FLAGS)
    return result


def _cache_region_of(cache: dict) -> dict:
    result: dict[str, Any] = {"start": Hex(cache["start"]), "size": Hex(cache["size"])}
    if cache["type"] != 3:   # the model's default: L3 unified
        result["type"] = _choice(cache["type"], jh.CACHE_TYPES)
    if cache["flags"]:
        result["flags"] = _flags(cache["flags"], jh.CACHE_FLAGS)
    if cache["padding"]:
        result["padding"] = cache["padding"]
    return result


def _irqchip_of(chip: dict) -> dict:
    result: dict[str, Any] = {"address": Hex(chip["address"])}
    if chip["id"]:
        result["id"] = Hex(chip["id"])
    result["pin_base"] = chip["pin_base"]
    words = b"".join(w.to_bytes(4, "little") for w in chip["pin_bitmap"])
    lines = [chip["pin_base"] + bit for bit in _bits_of(words)]
    if lines:
        result["interrupts"] = _ranges(lines)
    return result


def _cap_groups_of(e: _Entry) -> tuple[list[dict], dict[int, list[str]]]:
    """Capability groups: the cap array cut at every device's first and past-the-end index,
    each group named after the first device whose capabilities it holds."""
    cell = e.blob.cell
    caps = cell.pci_caps
    ranges: dict[int, tuple[int, int]] = {}
    for i, dev in enumerate(cell.pci_devices):
        if i in e.link_devices or not dev["num_caps"]:
            continue
        start, end = dev["caps_start"], dev["caps_start"] + dev["num_caps"]
        if end <= len(caps):
            ranges[i] = (start, end)
    cuts = sorted({0, len(caps), *(s for s, _ in ranges.values()), *(t for _, t in ranges.values())})
    spans = [(a, b) for a, b in zip(cuts, cuts[1:]) if a < b]
    names: list[str] = []
    taken: set[str] = set()
    for a, b in spans:
        owner = next((i for i, (s, t) in ranges.items() if s <= a and b <= t), None)
        if owner is None:
            base = f"caps-{a}"
        else:
            dev = cell.pci_devices[owner]
            base = f"caps-{_dashed_bdf(dev['domain'], dev['bdf'])}"
        name, n = base, 2
        while name in taken:
            name, n = f"{base}-{n}", n + 1
        taken.add(name)
        names.append(name)
    groups = [{"name": name, "caps": [_capability_of(c) for c in caps[a:b]]}
              for name, (a, b) in zip(names, spans)]
    of_device = {i: [name for name, (a, b) in zip(names, spans) if s <= a and b <= t]
                 for i, (s, t) in ranges.items()}
    return groups, of_device


def _capability_of(cap: dict) -> dict:
    result: dict[str, Any] = {"id": Hex(cap["id"] & ~jh.PCI_EXT_CAP)}
    if cap["id"] & jh.PCI_EXT_CAP:
        result["extended"] = True
    result["start"] = Hex(cap["start"])
    result["length"] = _small(cap["len"])
    if cap["flags"]:
        result["flags"] = _flags(cap["flags"], jh.PCI_CAP_FLAGS)
    return result


def _pci_device_of(e: _Entry, dev: dict, cap_groups: list[str] | None,
                   region_names: dict[int, str]) -> dict:
    result: dict[str, Any] = {"type": _choice(dev["type"], jh.PCI_TYPES),
                              "bdf": format_bdf(dev["bdf"])}
    if dev["domain"]:
        result["domain"] = dev["domain"]
    if dev["iommu"]:
        result["iommu"] = dev["iommu"]
    if any(dev["bar_mask"]):
        result["bar_mask"] = [Hex(m) if m else 0 for m in dev["bar_mask"]]
    if cap_groups:
        result["caps"] = cap_groups
    else:
        if dev["caps_start"]:
            result["caps_start"] = dev["caps_start"]
        if dev["num_caps"]:
            e.note(f"PCI device {format_bdf(dev['bdf'])}: capabilities {dev['caps_start']}.."
                   f"{dev['caps_start'] + dev['num_caps'] - 1} lie beyond the {len(e.blob.cell.pci_caps)} "
                   f"capabilities of the cell; num_caps {dev['num_caps']} is written as 0")
    if dev["num_msi_vectors"]:
        result["msi_vectors"] = dev["num_msi_vectors"]
    if dev["msi_bits"]:
        result["msi_flags"] = _flags(dev["msi_bits"], jh.PCI_MSI_FLAGS)
    if dev["num_msix_vectors"]:
        result["msix_vectors"] = dev["num_msix_vectors"]
    if dev["msix_region_size"]:
        result["msix_region_size"] = _size(dev["msix_region_size"])
    if dev["msix_address"]:
        result["msix_address"] = Hex(dev["msix_address"])
    start = dev["shmem_regions_start"]
    if dev["type"] == jh.PCI_TYPE_IVSHMEM and start in region_names:
        result["shmem_regions"] = region_names[start]
    elif start:
        result["shmem_regions"] = start
    if dev["shmem_dev_id"]:
        result["shmem_dev_id"] = dev["shmem_dev_id"]
    if dev["shmem_peers"]:
        result["shmem_peers"] = dev["shmem_peers"]
    if dev["shmem_protocol"]:
        protocol = format_protocol(dev["shmem_protocol"])
        result["shmem_protocol"] = _small(protocol) if isinstance(protocol, int) else protocol
    return result
