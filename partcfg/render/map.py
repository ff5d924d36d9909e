"""Render layer: the memory-map picture of each system (``partcfg map``), as HTML or SVG.

Per system, the physical address axis runs top to bottom with one lane per cell (plus
one for the platform's own ranges and one for the links). Every region a cell's blob
holds is drawn in its lane, coloured by what it grants (read-only, read-write, execute,
IO; DMA as a stripe), with its exact range, size, flags and origin as hover text. Each
link is drawn across its peers' lanes and in the links lane, section by section, every
output section marked with the peer that owns it. Bytes no one maps (holes) are shown as
broken-axis bands, bytes several cells reach (overlaps, from
:func:`check.access_map.effective_access_of`) as marks next to the axis.

The axis is piecewise: it is cut at every region boundary and each piece gets a height
that grows with the logarithm of its size, so a 4 KiB region stays readable next to a
1 GiB one. Geometry is computed here; the markup lives in ``templates/map.html.j2`` and
``templates/map.svg.j2``.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass, field
from typing import Iterable, Sequence

from .. import __version__
from ..formats import jailhouse as jh
from ..model.assembly import System
from ..model.regions import Region, regions_of_cell, sections_of
from ..model.system import Cell, Link
from ..units import format_bdf, format_ranges
from ..check.access_map import effective_access_of
from ..wording import ACCESS_CLASSES, access_class_of, access_letters, arch_name
from .jinja import rendered

# --- geometry (pixels) -------------------------------------------------------------------

AXIS_W = 150          # address labels
MARK_W = 12           # overlap marks between the axis and the lanes
LANE_W = 190
LINKS_W = 210
GAP = 8
HEADER_H = 74
MARGIN = 12
PIECE_MIN_H = 20      # a piece of 4 KiB or less
PIECE_LOG_H = 6.5     # extra height per doubling above 4 KiB
HOLE_H = 24           # a hole, whatever its size (the axis is broken there)
FONT_PX = 11
CHAR_W = 6.3          # average glyph width at FONT_PX, for truncating labels

PLATFORM_COLOURS = {"hypervisor": "#9e9e9e", "mmconfig": "#d7c49e", "iommu": "#d7c49e",
                    "console": "#d7c49e"}
LINK_COLOURS = ["#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02", "#a6761d"]

def size_text_of(size: int) -> str:
    """``8 KiB``, ``927 MiB``; sizes that are not whole units also show the exact hex."""
    for unit, shift in (("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if size >= 1 << shift:
            if size % (1 << shift) == 0:
                return f"{size >> shift} {unit}"
            return f"{size / (1 << shift):.1f} {unit} ({size:#x})"
    return f"{size} B"


def range_text_of(start: int, end: int) -> str:
    return f"{start:#010x}-{end - 1:#010x}"


def _flag_words(flags: int) -> str:
    words = [w for w, bit in jh.MEM_FLAGS.items() if bit and flags & bit == bit]
    return ", ".join(words) or "no access"


def _fit(text: str, width: float) -> str:
    """``text`` cut to what fits in ``width`` pixels, with an ellipsis when cut."""
    room = max(int(width / CHAR_W), 1)
    return text if len(text) <= room else text[:max(room - 1, 0)] + "\u2026"


# --- the picture's content ------------------------------------------------------------------

@dataclass
class Piece:
    """A piece of the broken axis: [start, end) drawn from y to y + h."""
    start: int
    end: int
    y: float
    h: float
    hole: bool


@dataclass
class Box:
    """One drawn rectangle with its data attributes, label lines and hover text."""
    kind: str               # "region", "platform", "link-section", "link-band", "hole", "overlap"
    x: float
    y: float
    w: float
    h: float
    css: str                # CSS classes
    attrs: dict             # data-* attributes (the DOM test reads them)
    title: str
    lines: list[str] = field(default_factory=list)
    fill: str | None = None
    dma: bool = False


@dataclass
class Lane:
    title: str
    subtitle: str
    x: float
    w: float
    cell: str | None = None


@dataclass
class Tick:
    y: float
    text: str


@dataclass
class SystemMap:
    """Everything the templates need to draw one system."""
    title: str
    subtitle: str
    width: float
    height: float
    lanes: list[Lane]
    ticks: list[Tick]
    pieces: list[Piece]
    boxes: list[Box]               # in drawing order: bands, holes, regions, sections, marks
    link_lines: list[dict]
    region_count: int
    link_names: list[str]


class _Axis:
    """Maps addresses that are piece boundaries to y coordinates."""

    def __init__(self, points: Iterable[int], covered: list[tuple[int, int]], top: float):
        self.points = sorted(set(points))
        self.pieces: list[Piece] = []
        y = top
        starts = [c[0] for c in covered]
        for a, b in zip(self.points, self.points[1:]):
            i = bisect.bisect_right(starts, a) - 1
            hole = not (i >= 0 and covered[i][0] <= a and b <= covered[i][1])
            if hole:
                h = HOLE_H
            else:
                h = PIECE_MIN_H + PIECE_LOG_H * max(0.0, math.log2(max(b - a, 1) / jh.PAGE_SIZE))
            self.pieces.append(Piece(a, b, y, h, hole))
            y += h
        self.bottom = y
        self._y = {p.start: p.y for p in self.pieces}
        if self.pieces:
            self._y[self.pieces[-1].end] = self.bottom

    def y(self, address: int) -> float:
        return self._y[address]


def _merged(intervals: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    result: list[tuple[int, int]] = []
    for a, b in sorted(intervals):
        if result and a <= result[-1][1]:
            result[-1] = (result[-1][0], max(result[-1][1], b))
        else:
            result.append((a, b))
    return result


def _columns_of(intervals: list[tuple[int, int]]) -> tuple[list[int], int]:
    """A column for each interval so that overlapping ones sit side by side (greedy
    interval colouring in start order), and the number of columns used."""
    order = sorted(range(len(intervals)), key=lambda i: (intervals[i][0], -intervals[i][1]))
    ends: list[int] = []
    column = [0] * len(intervals)
    for i in order:
        a, b = intervals[i]
        for c, end in enumerate(ends):
            if end <= a:
                column[i], ends[c] = c, b
                break
        else:
            column[i] = len(ends)
            ends.append(b)
    return column, max(len(ends), 1)


def _is_drawn(r: Region) -> bool:
    return r.size > 0 and not r.is_placeholder and not r.flags & jh.MEM_COMM_REGION


def _platform_ranges_of(system: System) -> list[tuple[str, str, int, int]]:
    """(kind, label, start, end) of the physical ranges the platform itself owns."""
    p = system.platform
    result = []
    hv = p.hypervisor_memory
    if hv.size:
        result.append(("hypervisor", "hypervisor memory", hv.phys, hv.phys + hv.size))
    if p.pci.mmconfig_base:
        size = (p.pci.end_bus + 1) << 20
        result.append(("mmconfig", "PCI MMCONFIG", p.pci.mmconfig_base, p.pci.mmconfig_base + size))
    for i, unit in enumerate(p.iommus):
        if unit.base and unit.size:
            result.append(("iommu", f"IOMMU {i}", unit.base, unit.base + unit.size))
    console = p.debug_console
    if console.flags & jh.CONSOLE_FLAGS["mmio"] and console.address and console.size:
        result.append(("console", "debug console", console.address, console.address + console.size))
    return result


def _region_label(r: Region, index: int, cell_names: Sequence[str] | None) -> tuple[str, str, str]:
    """(short label, long description, TX/RX mark) of a region in its cell's array."""
    if r.link is not None:
        if r.section == "output":
            owner = cell_names[r.owner] if cell_names and r.owner is not None \
                and r.owner < len(cell_names) else f"peer {r.owner}"
            mine = "TX" if r.flags & jh.MEM_WRITE else "RX"
            return f"{r.link}: out {owner}", f"{r.origin} ({owner}), {mine} for this cell", mine
        kind = "state" if r.section == "state" else "rw"
        return f"{r.link}: {kind}", r.origin, ""
    name = r.name or f"#{index}"
    return name, f"region {name!r} (#{index})" if r.name else f"region #{index}", ""


@dataclass
class _Frame:
    """Where things go: the broken axis, the lanes and their x positions, the link colours."""
    axis: _Axis
    lanes: list[Lane]
    cell_x: dict[str, tuple[float, float]]
    links_x: float
    width: float
    link_colour: dict[str, str]


def _map_of(title: str, subtitle: str, cells: list[tuple[Cell, list[Region], bool]],
            system: System | None) -> SystemMap:
    platform = _platform_ranges_of(system) if system is not None else []
    links = list(system.links.items()) if system is not None else []
    drawn = [[(i, r) for i, r in enumerate(regions) if _is_drawn(r)] for _, regions, _ in cells]
    frame = _frame_of(cells, drawn, platform, links)
    bands, link_lines = _link_bands_of(frame, links)
    regions = [box for (cell, _, _), lane in zip(cells, drawn)
               for box in _region_boxes_of(frame, cell, lane, system)]
    boxes = (bands + _hole_boxes_of(frame) + _platform_boxes_of(frame, platform) + regions
             + _link_section_boxes_of(frame, links)
             + (_overlap_boxes_of(frame.axis, system) if system is not None else []))
    return SystemMap(title, subtitle, frame.width, frame.axis.bottom + MARGIN + 8, frame.lanes,
                     _ticks_of(frame.axis), frame.axis.pieces, boxes, link_lines, len(regions),
                     [n for n, _ in links])


def _axis_of(drawn: list[list[tuple[int, Region]]], platform: list[tuple[str, str, int, int]],
             links: list[tuple[str, Link]]) -> _Axis:
    """The axis cut at every boundary of a region, a platform range and a link section."""
    features = [(r.phys, r.end) for lane in drawn for _, r in lane]
    features += [(a, b) for _, _, a, b in platform]
    features += [(link.base + sec.offset, link.base + sec.offset + sec.size)
                 for _, link in links for sec in sections_of(link) if sec.size]
    points = {p for feature in features for p in feature}
    return _Axis(points, _merged(features), HEADER_H)


def _frame_of(cells, drawn, platform, links) -> _Frame:
    """The axis and the lanes left to right: platform, one per cell, links."""
    lanes: list[Lane] = []
    x = MARGIN + AXIS_W + MARK_W + GAP
    if platform:
        lanes.append(Lane("platform", "hypervisor and devices", x, LANE_W * 0.7))
        x += LANE_W * 0.7 + GAP
    cell_x: dict[str, tuple[float, float]] = {}
    for cell, _, is_root in cells:
        sub = f"{'root cell, ' if is_root else ''}CPUs {format_ranges(cell.cpus) or '-'}"
        lanes.append(Lane(cell.name, sub, x, LANE_W, cell.name))
        cell_x[cell.name] = (x, LANE_W)
        x += LANE_W + GAP
    links_x = x
    if links:
        lanes.append(Lane("links", "sections and owners", x, LINKS_W))
        x += LINKS_W + GAP
    colours = {name: LINK_COLOURS[i % len(LINK_COLOURS)] for i, (name, _) in enumerate(links)}
    return _Frame(_axis_of(drawn, platform, links), lanes, cell_x, links_x, x + MARGIN - GAP, colours)


def _link_bands_of(frame: _Frame, links: list[tuple[str, Link]]) -> tuple[list[Box], list[dict]]:
    """The bands behind each link's peers' regions, and the lines joining them to the links lane."""
    boxes, lines = [], []
    for name, link in links:
        if not link.size:
            continue
        y0, y1 = frame.axis.y(link.base), frame.axis.y(link.base + link.size)
        peer_lanes = [frame.cell_x[p] for p in link.peers if p in frame.cell_x]
        for lx, lw in peer_lanes:
            boxes.append(Box("link-band", lx - 3, y0, lw + 6, y1 - y0, "link-band",
                             {"data-link": name}, f"link {name}", fill=frame.link_colour[name]))
        if peer_lanes:
            left = min(lx for lx, _ in peer_lanes) - 3
            for y in (y0, y1):
                lines.append({"x1": left, "x2": frame.links_x + LINKS_W, "y": y,
                              "colour": frame.link_colour[name], "link": name})
    return boxes, lines


def _hole_boxes_of(frame: _Frame) -> list[Box]:
    """The holes (bytes no one maps), across every lane."""
    left = MARGIN + AXIS_W + MARK_W
    return [Box("hole", left, p.y, frame.width - MARGIN - left, p.h, "hole",
                {"data-start": f"{p.start:#x}", "data-end": f"{p.end:#x}"},
                f"hole (no one maps it): {range_text_of(p.start, p.end)}, {size_text_of(p.end - p.start)}",
                [f"\u2248 hole, {size_text_of(p.end - p.start)}"])
            for p in frame.axis.pieces if p.hole]


def _platform_boxes_of(frame: _Frame, platform: list[tuple[str, str, int, int]]) -> list[Box]:
    """The platform's own ranges, side by side where they overlap."""
    if not platform:
        return []
    lane = frame.lanes[0]
    boxes = []
    cols, n = _columns_of([(a, b) for _, _, a, b in platform])
    for (kind, label, a, b), c in zip(platform, cols):
        w = lane.w / n
        y0, y1 = frame.axis.y(a), frame.axis.y(b)
        boxes.append(Box("platform", lane.x + c * w, y0, w, y1 - y0, f"platform {kind}",
                         {"data-kind": kind, "data-start": f"{a:#x}", "data-end": f"{b:#x}"},
                         f"{label}\n{range_text_of(a, b)} ({size_text_of(b - a)})",
                         _label_lines(label, b - a, w, y1 - y0), PLATFORM_COLOURS[kind]))
    return boxes


def _region_boxes_of(frame: _Frame, cell: Cell, lane: list[tuple[int, Region]],
                     system: System | None) -> list[Box]:
    """The drawn regions of one cell in its lane, side by side where they overlap."""
    lx, lw = frame.cell_x[cell.name]
    peer_names = None
    boxes = []
    cols, n = _columns_of([(r.phys, r.end) for _, r in lane])
    for (index, r), c in zip(lane, cols):
        if r.link is not None and system is not None and r.link in system.links:
            peer_names = system.links[r.link].peers
        w = lw / n
        boxes.append(_region_box(frame.axis, cell, index, r, lx + c * w, w, peer_names))
    return boxes


def _region_box(axis: _Axis, cell: Cell, index: int, r: Region, x: float, w: float,
                peer_names: Sequence[str] | None) -> Box:
    short, long, mark = _region_label(r, index, peer_names)
    y0, y1 = axis.y(r.phys), axis.y(r.end)
    cls = access_class_of(r.flags)
    attrs = {"data-cell": cell.name, "data-index": str(index), "data-start": f"{r.phys:#x}",
             "data-end": f"{r.end:#x}", "data-access": cls,
             "data-flags": _flag_words(r.flags).replace(", ", " ")}
    if r.link is not None:
        attrs["data-link"] = r.link
        attrs["data-section"] = r.section or ""
        if r.owner is not None:
            attrs["data-owner"] = (peer_names[r.owner] if peer_names and r.owner < len(peer_names)
                                   else str(r.owner))
    virt = "" if r.virt == r.phys else f"\ncell sees it at {r.virt:#x}"
    hover = (f"{cell.name}: {long}\n{range_text_of(r.phys, r.end)} ({size_text_of(r.size)})"
             f"{virt}\n{_flag_words(r.flags)}")
    return Box("region", x, y0, w, y1 - y0, f"region {cls}" + (" link" if r.link else ""), attrs,
               hover, _label_lines(short, r.size, w, y1 - y0, mark), dma=bool(r.flags & jh.MEM_DMA))


def _link_section_boxes_of(frame: _Frame, links: list[tuple[str, Link]]) -> list[Box]:
    """The links lane: every section, output sections marked with their owner."""
    return [_link_section_box(frame, name, link, sec)
            for name, link in links for sec in sections_of(link) if sec.size]


def _link_section_box(frame: _Frame, name: str, link: Link, sec) -> Box:
    a = link.base + sec.offset
    y0, y1 = frame.axis.y(a), frame.axis.y(a + sec.size)
    if sec.kind == "output":
        owner = link.peers[sec.owner] if sec.owner is not None and sec.owner < len(link.peers) \
            else str(sec.owner)
        label = f"{name}: out of {owner}"
        detail = (f"output section of peer {sec.owner} ({owner}): written by {owner} only, "
                  f"read by {', '.join(p for p in link.peers if p != owner) or 'no one'}")
    else:
        owner = None
        label = f"{name}: {'state table' if sec.kind == 'state' else 'rw section'}"
        detail = ("state table: read-only for every peer" if sec.kind == "state"
                  else "common read/write section: read-write for every peer")
    attrs = {"data-link": name, "data-section": sec.kind,
             "data-start": f"{a:#x}", "data-end": f"{a + sec.size:#x}"}
    if owner is not None:
        attrs["data-owner"] = owner
    hover = (f"link {name} ({format_bdf(link.bdf)}, peers {', '.join(link.peers)})\n"
             f"{detail}\n{range_text_of(a, a + sec.size)} ({size_text_of(sec.size)})")
    return Box("link-section", frame.links_x, y0, LINKS_W, y1 - y0, f"link-section {sec.kind}", attrs,
               hover, _label_lines(label, sec.size, LINKS_W, y1 - y0), frame.link_colour[name])


def _overlap_boxes_of(axis: _Axis, system: System) -> list[Box]:
    """Marks beside the axis where several cells reach the same bytes."""
    boxes = []
    for iv in effective_access_of(system):
        if len(iv.cells) < 2:
            continue
        who = ", ".join(f"{g.name} {access_letters(g.access)}" for g in iv.cells)
        y0, y1 = _y_within(axis, iv.start), _y_within(axis, iv.end)
        boxes.append(Box("overlap", MARGIN + AXIS_W, y0, MARK_W - 2, max(y1 - y0, 1),
                         f"overlap {_overlap_kind(iv.cells)}",
                         {"data-start": f"{iv.start:#x}", "data-end": f"{iv.end:#x}",
                          "data-cells": " ".join(g.name for g in iv.cells)},
                         f"{len(iv.cells)} cells reach {range_text_of(iv.start, iv.end)}: {who}"))
    return boxes



def _overlap_kind(grants) -> str:
    """How several cells come to reach the same bytes: "link" (all through link regions),
    "lent" (the root cell and one other cell: memory the hypervisor takes from the root
    while the cell runs), "shared" (rootshared regions) or "conflict" (two non-root cells,
    at least one through a private region)."""
    if all(any(r.link for r in g.regions) for g in grants):
        return "link"
    others = [g for g in grants if not g.is_root]
    if len(others) < 2:
        return "lent"
    if all(g.rootshared or all(r.link for r in g.regions) for g in others):
        return "shared"
    return "conflict"


def _y_within(axis: _Axis, address: int) -> float:
    """y of any address: exact at piece boundaries, interpolated inside a piece."""
    if address in axis._y:
        return axis.y(address)
    i = bisect.bisect_right(axis.points, address) - 1
    if i < 0:
        return axis.pieces[0].y if axis.pieces else HEADER_H
    if i >= len(axis.pieces):
        return axis.bottom
    p = axis.pieces[i]
    return p.y + p.h * (address - p.start) / max(p.end - p.start, 1)


def _label_lines(label: str, size: int, w: float, h: float, mark: str = "") -> list[str]:
    room = w - 12
    if h < FONT_PX + 4:
        return []
    if h < 2 * FONT_PX + 8:
        return [_fit(f"{label} {mark}" if mark else label, room)]
    size_text = size_text_of(size).split(" (")[0]
    return [_fit(label, room), _fit(f"{mark}, {size_text}" if mark else size_text, room)]


def _ticks_of(axis: _Axis) -> list[Tick]:
    ticks = []
    last = -1e9
    for p in axis.pieces:
        if p.y - last >= FONT_PX + 2:
            ticks.append(Tick(p.y, f"{p.start:#010x}"))
            last = p.y
    if axis.pieces and axis.bottom - last >= FONT_PX + 2:
        ticks.append(Tick(axis.bottom, f"{axis.pieces[-1].end:#010x}"))
    return ticks


def system_map_of(system: System) -> SystemMap:
    """The picture of one assembled system."""
    arch = arch_name(system.arch, "?")
    cells = [(c, regions_of_cell(system, c), c is system.root) for c in system.all_cells]
    subtitle = (f"{arch}, {len(cells)} cells, {len(system.links)} link"
                f"{'' if len(system.links) == 1 else 's'}")
    return _map_of(f"system {system.name}", subtitle, cells, system)


def standalone_map_of(cells: Sequence[Cell]) -> SystemMap:
    """The picture of cells given without their system (no links, no overlaps)."""
    lanes = [(c, regions_of_cell(None, c), False) for c in cells]
    return _map_of("standalone cells", f"{len(lanes)} cells without a system", lanes, None)


# --- markup ----------------------------------------------------------------------------------

def _notice(sources: Sequence[str]) -> list[str]:
    """The generated-file comment: generator, version and inputs (no timestamp)."""
    lines = [f"Memory map generated by partcfg {__version__} (partcfg map)"
             + (" from:" if sources else "."), *(f"  {s}" for s in sources),
             "Do not edit: change the YAML and run partcfg map again."]
    return [line.replace("--", "- -") for line in lines]  # nothing may end the comment


def _context(maps: Sequence[SystemMap], sources: Sequence[str]) -> dict:
    return {"maps": maps, "notice": _notice(sources),
            "classes": ACCESS_CLASSES, "platform_colours": PLATFORM_COLOURS}


def map_html_of(maps: Sequence[SystemMap], sources: Sequence[str]) -> str:
    """A self-contained HTML page with one picture per system (hover shows details)."""
    return rendered("map.html.j2", **_context(maps, sources))


def map_svg_of(maps: Sequence[SystemMap], sources: Sequence[str]) -> str:
    """One standalone SVG with the systems' pictures stacked vertically."""
    offsets, y = [], 0.0
    for m in maps:
        offsets.append(y)
        y += m.height + 24
    width = max((m.width for m in maps), default=200)
    return rendered("map.svg.j2", **_context(maps, sources), offsets=offsets, width=width,
                    height=max(y, 40))
