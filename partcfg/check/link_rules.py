"""Validate layer: the rules about shared-memory links.

Part of step 3 of the flow. Declared links and raw ivshmem devices are each seen through
one :class:`LinkView`: peers, sections, PCI address and domains, protocol, the
permissions each peer's device entries give, and, on the effective-access map, that only
an output section's owner writes it and no cell outside the link reaches its memory.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Callable

from ..diagnostics import Diagnostic, Location, did_you_mean, error, info, warning
from ..formats import jailhouse as jh
from ..formats.ivshmem import links_by_bdf
from ..model.assembly import System
from ..model.regions import Region, sections_of
from ..model.system import Link, PciDevice
from .access_map import AccessInterval, intervals_within
from .cell_rules import (bdf_text, check_protocol_value, link_derived_from, links_overlap,
                         shmem_start_of)
from .facts import (PAGE, READ, SystemFacts, WRITE, field_location, is_physical, region_label,
                    span_text)


@dataclass
class LinkView:
    label: str                              # "link 'demo'" or "ivshmem device 00:0e.0"
    domains: set[int]                       # every PCI domain its endpoints carry
    bdf: int
    node: object                            # the Link or the reference PciDevice
    key: tuple                              # location(*key) of that node names the link
    peers: dict[str, int]                   # cell name -> peer ID
    owners: dict[int, str]                  # peer ID -> cell name
    sections: list[tuple[str, int | None, int, int]]  # (label, owner ID, start, end)
    start: int
    end: int

    @property
    def location(self) -> Location | None:
        # computed on demand: locating a key in a long mapping is not free
        if self.key == ("<name>",):
            return self.node.location(key=True)  # type: ignore[attr-defined]
        return self.node.location(*self.key)  # type: ignore[attr-defined]


def declared_link_views(facts: SystemFacts, out: list[Diagnostic]) -> list[LinkView]:
    system = facts.system
    names = facts.names
    views = []
    for name, link in system.links.items():
        label = f"link {name!r}"
        n = len(link.peers)
        if not 2 <= n <= jh.MAX_SHMEM_PEERS:
            out.append(error("LINK-PEERS", f"{label} has {n} peer{'s' if n != 1 else ''}; a link has "
                             f"2 to {jh.MAX_SHMEM_PEERS}", link.location("peers")))
        peers: dict[str, int] = {}
        absent: list[str] = []
        for i, peer in enumerate(link.peers):
            if peer in peers:
                out.append(error("LINK-PEER-DUPLICATE", f"{label} lists peer {peer!r} twice",
                                 link.location("peers", i), related=[link.location("peers", peers[peer])],
                                 hint="remove the repetition"))
                continue
            peers[peer] = i
            if peer not in facts.names and peer not in system.unreadable_cells:
                # a cell already among the peers is no suggestion
                suggestion = did_you_mean(peer, [c for c in names if c not in link.peers])
                if suggestion:  # a misspelt peer, not a cell left out of the call
                    out.append(error("LINK-PEER-UNKNOWN", f"{label}: peer {peer!r} is no cell of system "
                                     f"{system.name!r}", link.location("peers", i), hint=suggestion))
                else:
                    absent.append(peer)
        if absent:
            listed = ", ".join(repr(p) for p in absent)
            out.append(info("LINK-PEER-ABSENT", f"{label}: peer{'s' if len(absent) > 1 else ''} {listed} "
                            f"{'are' if len(absent) > 1 else 'is'} not in this call, taken as not running",
                            link.location("peers"),
                            hint="pass the cell's file in the same call to judge it too"))
        if link.interrupts > jh.MAX_IVSHMEM_MSIX_VECTORS:
            out.append(error("LINK-MSIX", f"{label} asks for {link.interrupts} MSI-X vectors; at most "
                             f"{jh.MAX_IVSHMEM_MSIX_VECTORS}", link.location("interrupts")))
        for key in ("base", "state_table", "rw_section", "output_section"):
            value = getattr(link, key)
            if value % PAGE:
                out.append(error("LINK-ALIGN", f"{label}: {key.replace('_', ' ')} {value:#x} is not a "
                                 "multiple of 4 KiB", link.location(key), hint="round it to 4 KiB"))
        if link.state_table == 0 or link.state_table < 4 * n:
            out.append(error("LINK-STATE-TABLE", f"{label}: the state table has {link.state_table} bytes; "
                             f"{n} peers need at least {max(4 * n, 4)}", link.location("state_table"),
                             hint="4K is usual"))
        _check_link_protocol(label, link, out)
        sections = [(sec.label, sec.owner, link.base + sec.offset, link.base + sec.offset + sec.size)
                    for sec in sections_of(link) if sec.size]
        for peer in link.peer_domains:
            if peer not in link.peers:
                out.append(error("LINK-PEER-UNKNOWN", f"{label}: peer_domains names {peer!r}, which "
                                 "is no peer of the link", link.location("peer_domains", peer, key=True),
                                 hint=did_you_mean(peer, link.peers) or "name one of the peers"))
        _check_domains(label, [(peer, link.domain_of_peer(i),
                                partial(link.location, "peer_domains", peer) if peer in link.peer_domains
                                else partial(link.location, "domain") if "domain" in link.model_fields_set
                                else partial(link.location, key=True))
                               for i, peer in enumerate(link.peers)], out)
        domains = {link.domain_of_peer(i) for i in range(len(link.peers))} or {link.domain}
        views.append(LinkView(label, domains, link.bdf, link, ("<name>",), peers,
                              {i: p for p, i in peers.items()}, sections, link.base,
                              link.base + link.size))
    return views


def check_link_overlaps(system: System, out: list[Diagnostic]) -> None:
    """Two declared links over common memory: one finding at the later one, naming both."""
    spans = sorted(((link.base, link.base + link.size, i, name, link)
                    for i, (name, link) in enumerate(system.links.items()) if link.size),
                   key=lambda t: (t[0], t[2]))
    reach: tuple[int, int, str, Link] | None = None  # the link reaching furthest so far
    for start, end, index, name, link in spans:
        if reach is not None and start < reach[0]:
            first, second = sorted([(reach[1], reach[2], reach[3]), (index, name, link)],
                                   key=lambda t: t[0])
            lo, hi = start, min(end, reach[0])
            out.append(error("LINK-OVERLAP", f"link {second[1]!r} overlaps link {first[1]!r} at "
                             f"{span_text(lo, hi)}", second[2].location(key=True),
                             related=[first[2].location(key=True)],
                             hint="move one link's base past the other's end (base + state table "
                                  "+ rw section + peers x output section)"))
        if reach is None or end > reach[0]:
            reach = (end, index, name, link)


def _check_link_protocol(label: str, link: Link, out: list[Diagnostic]) -> None:
    p = link.protocol
    check_protocol_value(label, p, link, "protocol", out)
    if 0x8000 <= p < 0xC000:
        out.append(error("LINK-PROTOCOL", f"{label}: protocol {p:#06x} is a virtio front-end value; "
                         "a link names its back-end (virtio:DEVICE) and 'backend'", link.location("protocol"),
                         hint="write virtio:DEVICE and name the back-end peer with backend"))
    if p >= 0xC000:
        if link.backend is None:
            out.append(error("LINK-BACKEND", f"{label} is a virtio link but names no back-end",
                             link.location("protocol"), hint="add 'backend: <peer>'"))
        elif link.backend not in link.peers:
            out.append(error("LINK-BACKEND", f"{label}: backend {link.backend!r} is not a peer of "
                             "the link", link.location("backend"),
                             hint=did_you_mean(link.backend, link.peers) or "name one of the peers"))
    elif link.backend is not None and p < 0x8000:
        out.append(error("LINK-BACKEND", f"{label} names backend {link.backend!r}, but its protocol "
                         f"{p:#06x} is not virtio", link.location("backend"),
                         hint="drop backend, or use protocol virtio:DEVICE"))


def raw_link_views(facts: SystemFacts, out: list[Diagnostic]) -> list[LinkView]:
    """Raw ivshmem devices (declared as PCI devices, e.g. imported), paired across cells
    by BDF alone, as the hypervisor pairs them (:func:`ivshmem.links_by_bdf`)."""
    endpoints: list[tuple[int, PciDevice, int | None]] = []
    for ci, cell in enumerate(facts.cells):
        for dev in cell.pci_devices:
            if isinstance(dev, PciDevice) and dev.type == jh.PCI_TYPE_IVSHMEM:
                start = shmem_start_of(dev, facts.regions[ci])
                if start is not None and start + 2 + dev.shmem_peers > len(facts.regions[ci]):
                    start = None  # reported by PCI-SHMEM-RANGE
                endpoints.append((ci, dev, start))
    views = []
    for bdf, members in links_by_bdf(endpoints, lambda m: m[1].bdf).items():
        members.sort(key=lambda m: (m[1].shmem_dev_id, m[0]))
        ref_ci, ref, ref_start = members[0]
        label = f"ivshmem device {bdf_text(ref.domain, bdf)}"
        ref_cell = facts.cells[ref_ci].name
        _check_domains(label, [(facts.cells[ci].name, dev.domain,
                                partial(dev.location, "domain" if "domain" in dev.model_fields_set
                                        else "bdf"))
                               for ci, dev, _ in members], out)

        def layout_of(ci: int, dev: PciDevice, start: int | None):
            if start is None:
                return None
            regs = facts.regions[ci]
            state, rw = regs[start], regs[start + 1]
            out_size = regs[start + 2].size if dev.shmem_peers else 0
            return (state.phys, state.size, rw.size, out_size)

        ref_layout = layout_of(ref_ci, ref, ref_start)
        seen_ids: dict[int, tuple[int, PciDevice]] = {}
        for ci, dev, start in members:
            cell = facts.cells[ci].name
            if dev.shmem_dev_id in seen_ids:
                oci, odev = seen_ids[dev.shmem_dev_id]
                out.append(error("LINK-DEV-ID", f"{label}: cells {facts.cells[oci].name!r} and {cell!r} "
                                 f"both claim peer ID {dev.shmem_dev_id}", dev.location("shmem_dev_id"),
                                 related=[odev.location("shmem_dev_id")],
                                 hint="give each peer its own shmem_dev_id"))
            else:
                seen_ids[dev.shmem_dev_id] = (ci, dev)
                # (a second claimant's regions judged as that peer's would repeat the finding)
                if start is not None and dev.shmem_dev_id < dev.shmem_peers:
                    _check_peer_permissions(label, cell, dev, facts.regions[ci], start, out)
            if dev is ref:
                continue
            for key, mine, theirs, what in (
                    ("shmem_peers", dev.shmem_peers, ref.shmem_peers, "peers"),
                    ("msix_vectors", dev.msix_vectors, ref.msix_vectors, "MSI-X vectors")):
                if mine != theirs:
                    out.append(error("LINK-MISMATCH", f"{label}: cell {cell!r} says {mine} {what}, "
                                     f"cell {ref_cell!r} says {theirs}", dev.location(key),
                                     related=[ref.location(key)],
                                     hint="all peers of a link must agree"))
            lay = layout_of(ci, dev, start)
            if lay is not None and ref_layout is not None and lay != ref_layout:
                parts = [f"{what} {a:#x} vs {b:#x}" for what, a, b in zip(
                    ("state table address", "state table size", "read/write section size",
                     "output section size"), lay, ref_layout) if a != b]
                out.append(error("LINK-MISMATCH", f"{label}: the shared memory of cell {cell!r} differs "
                                 f"from that of cell {ref_cell!r}: {', '.join(parts)}",
                                 facts.regions[ci][start].location(),
                                 related=[facts.regions[ref_ci][ref_start].location()],
                                 hint="all peers must map the same sections"))
        _check_raw_protocols(label, [(facts.cells[ci].name, dev) for ci, dev, _ in members], out)
        # every cell with a device of this BDF is a peer; an ID claimed twice goes to the
        # first claimant (the second is reported by LINK-DEV-ID above)
        owners = {dev.shmem_dev_id: facts.cells[ci].name for ci, dev, _ in reversed(members)}
        peers = {facts.cells[ci].name: dev.shmem_dev_id for ci, dev, _ in members}
        sections: list[tuple[str, int | None, int, int]] = []
        lo = hi = 0
        if ref_start is not None:
            regs = facts.regions[ref_ci]
            entries = [("state table", None, regs[ref_start]),
                       ("read/write section", None, regs[ref_start + 1])]
            entries += [(f"output section of peer {k}", k, regs[ref_start + 2 + k])
                        for k in range(ref.shmem_peers)]
            sections = [(what, k, r.phys, r.end) for what, k, r in entries if is_physical(r)]
            if sections:
                lo, hi = min(s[2] for s in sections), max(s[3] for s in sections)
        domains = {dev.domain for _, dev, _ in members}
        views.append(LinkView(label, domains, bdf, ref, ("bdf",), peers, owners, sections, lo, hi))
    return views


def _check_domains(label: str, peers: list[tuple[str, int, Callable[[], Location | None]]],
                   out: list[Diagnostic]) -> None:
    """One warning per link whose peers' device entries disagree on the PCI domain: the
    hypervisor pairs by BDF alone, so they are still one link. Each peer's position is a
    function, called only for a finding: finding a position composes the file's YAML node
    tree and walks it (see ``load.yaml_source``), for every link of a big links file."""
    by_domain: dict[int, list[tuple[str, Callable[[], Location | None]]]] = {}
    for name, domain, where in peers:
        by_domain.setdefault(domain, []).append((name, where))
    if len(by_domain) < 2:
        return
    groups = list(by_domain.items())
    said = "; ".join(f"{'cells' if len(names) > 1 else 'cell'} "
                     f"{', '.join(repr(n) for n, _ in names)} {'say' if len(names) > 1 else 'says'} "
                     f"domain {domain}" for domain, names in groups)
    first, second = groups[0][1][0], groups[1][1][0]
    out.append(warning("LINK-DOMAIN", f"{label}: the peers disagree on the PCI domain ({said}); the "
                       "hypervisor pairs ivshmem devices by BDF alone, so they are one link",
                       second[1](), related=[first[1]()],
                       hint="give every peer the same domain, unless this is deliberate "
                            "(upstream root cells use their virtual PCI domain)"))


def _check_peer_permissions(label: str, cell: str, dev: PciDevice, regions: list[Region],
                            start: int, out: list[Diagnostic]) -> None:
    """A raw device's entries must give its cell what docs/format/ivshmem-v2.md gives a peer:
    the state table read-only, the read/write section read/write, its own output section
    read/write, the others read-only (writing another peer's output section is reported,
    on the effective-access map, by LINK-TX-WRITE)."""
    me = dev.shmem_dev_id
    entries = [("the state table", regions[start], READ, WRITE),
               ("the read/write section", regions[start + 1], READ | WRITE, 0)]
    entries += [("its own output section" if k == me else f"the output section of peer {k}",
                 regions[start + 2 + k], READ | (WRITE if k == me else 0), 0)
                for k in range(dev.shmem_peers)]
    who = f"cell {cell!r} (peer {me})"
    for index, (what, r, needed, forbidden) in enumerate(entries, start):
        if r.is_placeholder:
            continue
        where = f"{region_label(r, index)}"
        if r.flags & forbidden:
            out.append(error("LINK-PERMISSION", f"{label}: {who} maps {what} writable "
                             f"through {where}; the state table is read-only for every peer "
                             "(the hypervisor writes it)", field_location(r, "flags"),
                             related=[dev.location("bdf")], hint="remove write from the region"))
        missing = needed & ~r.flags
        if missing:
            lacks = "read and write" if missing == READ | WRITE else \
                ("write" if missing == WRITE else "read")
            why = {"the read/write section": "it is writable by every peer",
                   "the state table": "every peer reads the others' states there"}.get(
                what, "a peer sends through its own output section" if what.startswith("its own")
                else "every peer reads the others' output sections")
            out.append(error("LINK-PERMISSION", f"{label}: {who} cannot {lacks} {what} "
                             f"through {where}; {why}", field_location(r, "flags"),
                             related=[dev.location("bdf")],
                             hint=f"add {' and '.join(w for w, b in (('read', READ), ('write', WRITE)) if missing & b)} "
                                  "to the region's flags"))


def _check_raw_protocols(label: str, members: list[tuple[str, PciDevice]],
                         out: list[Diagnostic]) -> None:
    ref_name, ref = members[0]
    virtio = [(n, d) for n, d in members if d.shmem_protocol >= 0x8000]
    if not virtio:
        for name, dev in members[1:]:
            if dev.shmem_protocol != ref.shmem_protocol:
                out.append(error("LINK-MISMATCH", f"{label}: cell {name!r} uses protocol "
                                 f"{dev.shmem_protocol:#06x}, cell {ref_name!r} {ref.shmem_protocol:#06x}",
                                 dev.location("shmem_protocol"), related=[ref.location("shmem_protocol")],
                                 hint="all peers of a link use one protocol"))
        return
    device = virtio[0][1].shmem_protocol & 0x3FFF
    backends = [(n, d) for n, d in members if d.shmem_protocol >= 0xC000]
    for name, dev in members:
        p = dev.shmem_protocol
        if p < 0x8000 or p & 0x3FFF != device:
            first_name, first = virtio[0]
            out.append(error("LINK-MISMATCH", f"{label}: cell {name!r} uses protocol {p:#06x}, "
                             f"cell {first_name!r} virtio device {device} ({first.shmem_protocol:#06x})",
                             dev.location("shmem_protocol"), related=[first.location("shmem_protocol")],
                             hint="a virtio link has one back-end (0xc000 + device) and front-ends "
                                  "(0x8000 + device)"))
    for name, dev in backends[1:]:
        out.append(error("LINK-MISMATCH", f"{label}: cells {backends[0][0]!r} and {name!r} are both "
                         "virtio back-ends", dev.location("shmem_protocol"),
                         related=[backends[0][1].location("shmem_protocol")],
                         hint="a virtio link has exactly one back-end"))
    if not backends and len(members) >= ref.shmem_peers:
        out.append(error("LINK-MISMATCH", f"{label}: every peer is a virtio front-end; none is the "
                         "back-end", ref.location("shmem_protocol"),
                         hint="give exactly one peer protocol 0xc000 + device"))


def check_link_access(facts: SystemFacts, views: list[LinkView], intervals: list[AccessInterval],
                      starts: list[int], out: list[Diagnostic]) -> None:
    for view in views:
        if not view.sections:
            continue
        view_link = view.node if isinstance(view.node, Link) else None
        # the TX promise: an output section is writable by its owner only. One finding per
        # region, naming every output section it can write.
        tx: dict[int, tuple[Region, list[tuple[str, int, int]]]] = {}
        for what, owner, lo, hi in view.sections:
            if owner is None:
                continue
            owner_name = view.owners.get(owner)
            owner_text = f" ({owner_name})" if owner_name else ""
            for iv in intervals_within(intervals, starts, lo, hi):
                for g in iv.cells:
                    if g.cell.name == owner_name or not g.access & WRITE:
                        continue
                    for r in g.regions:
                        if links_overlap(facts.system, link_derived_from(facts.system, r), view_link):
                            continue  # LINK-OVERLAP
                        if r.flags & WRITE:
                            hit = tx.setdefault(id(r), (r, []))[1]
                            if not hit or hit[-1][0] != what + owner_text:
                                hit.append((what + owner_text, lo, hi))
        for r, hits in tx.values():
            if len(hits) == 1:
                what, lo, hi = hits[0]
                text = f"the {what} of {view.label} ({span_text(lo, hi)}) is"
            else:
                names = [h[0].removeprefix("output section of ") for h in hits]
                text = (f"the output sections of {', '.join(names[:-1])} and {names[-1]} of "
                        f"{view.label} ({span_text(hits[0][1], hits[-1][2])}) are")
            out.append(error("LINK-TX-WRITE", f"{text} writable by {facts.describe(r)}; only "
                             f"{'its' if len(hits) == 1 else 'each one' + chr(39) + 's'} owner may write it",
                             r.location(), related=[view.location],
                             hint="make the region read-only or keep it off the section"))
        # nobody outside the link may read or write it (a region already reported for
        # writing an output section is not reported again)
        reported = set(tx)
        for iv in intervals_within(intervals, starts, view.start, view.end):
            for g in iv.cells:
                if g.cell.name in view.peers or not g.access & (READ | WRITE):
                    continue
                for r in g.regions:
                    if id(r) in reported or not r.flags & (READ | WRITE):
                        continue
                    if links_overlap(facts.system, link_derived_from(facts.system, r), view_link):
                        continue  # LINK-OVERLAP
                    reported.add(id(r))
                    access = "read and write" if r.flags & WRITE and r.flags & READ else \
                        ("write" if r.flags & WRITE else "read")
                    span = span_text(max(r.phys, view.start), min(r.end, view.end))
                    # the root cell keeps access it had before the link (a warning); any
                    # other cell reaching a link it is not a peer of is an error
                    report, rule, who, hint = (
                        (warning, "LINK-ROOT-ACCESS", "root cell",
                         "keep the root cell's regions off the link, or make it a peer")
                        if g.is_root else
                        (error, "LINK-ACCESS", "cell",
                         "keep the region off the link, or make the cell a peer"))
                    out.append(report(
                        rule, f"{who} {g.cell.name!r} is not a peer of {view.label} but can "
                        f"{access} its memory {span} through "
                        f"{region_label(r, facts.where[id(r)][1])}",
                        r.location(), related=[view.location], hint=hint))
