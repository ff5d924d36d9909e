"""Model layer: what each cell's memory-region array holds, links included.

Part of step 2 of the flow. A cell's array is its declared regions and, for every link
it is a peer of, the link's sections with the permissions that peer gets
(docs/format/ivshmem-v2.md). This meaning of a link is part of the model because
validation judges the effective access that results from it, and layout writes the same
arrays into the blobs.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..diagnostics import Location
from ..formats import jailhouse as jh
from .assembly import System
from .system import Cell, Link, LinkPlacement, MemoryRegion, SourceRef


@dataclass(frozen=True)
class Region:
    """A memory region as it stands in a cell's region array, declared or derived."""
    phys: int
    virt: int
    size: int
    flags: int
    origin: str                     # "declared", or e.g. "link demo: output section of peer 1"
    source: SourceRef | None
    name: str | None = None
    link: str | None = None         # the link this region was derived from
    section: str | None = None      # "state", "rw", or "output"
    owner: int | None = None        # for output sections: the owning peer's ID

    @property
    def end(self) -> int:
        return self.phys + self.size

    @property
    def is_placeholder(self) -> bool:
        return not (self.phys or self.virt or self.size or self.flags)

    def location(self) -> Location | None:
        return self.source.location() if self.source else None


@dataclass(frozen=True)
class Section:
    kind: str          # "state", "rw", "output"
    offset: int        # from the link base
    size: int
    owner: int | None  # peer ID owning an output section

    @property
    def label(self) -> str:
        return {"state": "state table", "rw": "read/write section"}.get(
            self.kind, f"output section of peer {self.owner}")


def sections_of(link: Link) -> list[Section]:
    """The link's sections in physical order: state table, rw section, outputs 0..N-1."""
    result = [Section("state", 0, link.state_table, None),
              Section("rw", link.state_table, link.rw_section, None)]
    at = link.state_table + link.rw_section
    for peer in range(len(link.peers)):
        result.append(Section("output", at, link.output_section, peer))
        at += link.output_section
    return result


def link_regions_of(link_name: str, link: Link, peer_id: int, is_root: bool,
                    virt_base: int | None, source: SourceRef | None) -> list[Region]:
    """The 2 + N region entries peer ``peer_id`` gets for a link, in array order."""
    virt0 = link.base if virt_base is None else virt_base
    shared = 0 if is_root and not link.rootshared_in_root else jh.MEM_ROOTSHARED
    regions = []
    for sec in sections_of(link):
        if sec.kind == "state":
            flags = jh.MEM_READ | shared
        elif sec.kind == "rw":
            flags = jh.MEM_READ | jh.MEM_WRITE | shared
        else:
            flags = jh.MEM_READ | (jh.MEM_WRITE if sec.owner == peer_id else 0) | shared
        if sec.size == 0 and sec.kind != "state":
            regions.append(Region(0, 0, 0, 0, f"link {link_name}: {sec.label} (absent)", source,
                                  link=link_name, section=sec.kind, owner=sec.owner))
        else:
            regions.append(Region(link.base + sec.offset, virt0 + sec.offset, sec.size, flags,
                                  f"link {link_name}: {sec.label}", source,
                                  link=link_name, section=sec.kind, owner=sec.owner))
    return regions


def links_of_cell(system: System | None, cell: Cell) -> list[tuple[str, Link, int]]:
    """(name, link, peer ID) for every link ``cell`` is a peer of, in declaration order."""
    if system is None:
        return []
    return [(name, link, link.peers.index(cell.name))
            for name, link in system.links.items() if cell.name in link.peers]


def peer_links_of(system: System) -> dict[str, list[tuple[str, Link, int]]]:
    """Cell name -> what :func:`links_of_cell` returns for it, for all cells at once
    (one pass over the links instead of one per cell)."""
    result: dict[str, list[tuple[str, Link, int]]] = {}
    for name, link in system.links.items():
        seen: set[str] = set()
        for peer_id, peer in enumerate(link.peers):
            if peer not in seen:
                seen.add(peer)
                result.setdefault(peer, []).append((name, link, peer_id))
    return result


def _declared_region(item: MemoryRegion) -> Region:
    """``Region(phys, virt, size, flags, "declared", source, name=name)``, built in one step:
    a frozen dataclass sets each of its ten fields through ``object.__setattr__``, a
    fifth of validation on 100,000-region systems (validation and layout build the
    region arrays of every cell)."""
    region = _new_object(Region)
    region.__dict__.update({"phys": item.phys, "virt": item.phys if item.virt is None else item.virt,
                            "size": item.size, "flags": item.flags, "origin": "declared",
                            "source": item.source, "name": item.name, "link": None,
                            "section": None, "owner": None})
    return region


_new_object = object.__new__


def regions_of_cell(system: System | None, cell: Cell,
                    links: list[tuple[str, Link, int]] | None = None) -> list[Region]:
    """The cell's memory-region array: declared regions and link placements in list order,
    then the regions of links the cell is a peer of but did not place, in link order.
    ``links``: the cell's :func:`links_of_cell`, when the caller has it already."""
    is_root = system is not None and cell is system.root
    if links is None:
        links = links_of_cell(system, cell)
    mine = {name: (link, peer) for name, link, peer in links}
    placed: set[str] = set()
    result: list[Region] = []
    for item in cell.memory:
        if isinstance(item, LinkPlacement):
            if item.link in mine and item.link not in placed:
                link, peer = mine[item.link]
                result.extend(link_regions_of(item.link, link, peer, is_root, item.virt, item.source))
                placed.add(item.link)
            continue  # unknown or repeated placements are reported by validation
        result.append(_declared_region(item))
    for name, (link, peer) in mine.items():
        if name not in placed:
            result.extend(link_regions_of(name, link, peer, is_root, None, link.source))
    return result


def cell_arch(system: System | None, cell: Cell) -> int:
    if system is not None:
        return system.arch
    return cell.arch if cell.arch is not None else 0
