"""Validate layer: does an inmate image fit the cell it is meant to run in?

``partcfg check --inmate CELL=image.elf`` reads the image's loadable segments (ELF
program headers of type PT_LOAD, at their physical load address ``p_paddr``) with
pyelftools and judges them by the cell's own addresses (each region's ``virt_start``,
the address the guest sees):

- INMATE-OUTSIDE: a segment not entirely inside the cell's LOADABLE memory (adjacent
  loadable regions count as one range), because ``jailhouse cell load`` can only write
  there;
- INMATE-COMM-OVERLAP: a segment overlapping the communication region, which the
  hypervisor owns and rewrites;
- INMATE-ENTRY: an entry point outside every loadable segment (``e_entry`` against the
  segments' virtual addresses), so the cell would start executing outside its image.

An image that is not a readable ELF file gives one INMATE-ELF diagnostic.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

from ..formats import jailhouse as jh
from ..diagnostics import Diagnostic, Location, error
from ..model.assembly import System
from ..model.regions import Region, regions_of_cell
from ..model.system import Cell
from ..wording import span_with_size as _span


@dataclass(frozen=True)
class Segment:
    index: int       # position among the image's program headers
    paddr: int       # load address (the cell's address space)
    vaddr: int
    memsz: int
    filesz: int

    @property
    def end(self) -> int:
        return self.paddr + self.memsz


@dataclass(frozen=True)
class InmateImage:
    entry: int
    segments: tuple[Segment, ...]


def inmate_image_of(data: bytes, file: str) -> InmateImage | Diagnostic:
    """The loadable segments and entry point of an ELF image, or an INMATE-ELF
    diagnostic saying why it cannot be read."""
    from elftools.elf.elffile import ELFFile

    if not bytes(data[:4]) == b"\x7fELF":
        return error("INMATE-ELF", "the inmate image is not an ELF file (no \\x7fELF magic)",
                     Location(file), hint="pass the linked ELF image of the inmate, "
                                          "not a raw binary")
    try:
        elf = ELFFile(io.BytesIO(bytes(data)))
        segments = tuple(
            Segment(i, seg["p_paddr"], seg["p_vaddr"], seg["p_memsz"], seg["p_filesz"])
            for i, seg in enumerate(elf.iter_segments())
            if seg["p_type"] == "PT_LOAD" and seg["p_memsz"] > 0)
        entry = elf["e_entry"]
    except Exception as exc:  # noqa: BLE001 - pyelftools reports damage in many ways
        return error("INMATE-ELF", f"the inmate image is a malformed ELF file: "
                     f"{exc or type(exc).__name__}", Location(file))
    if not segments:
        return error("INMATE-ELF", "the inmate image has no loadable segment (PT_LOAD)",
                     Location(file), hint="pass the linked executable, not an object file")
    return InmateImage(entry, segments)


def _merged(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    result: list[list[int]] = []
    for start, end in sorted(ranges):
        if result and start <= result[-1][1]:
            result[-1][1] = max(result[-1][1], end)
        else:
            result.append([start, end])
    return [(s, e) for s, e in result]


def _region_label(region: Region) -> str:
    return region.name or region.origin


def inmate_diagnostics_of(system: System | None, cell: Cell, data: bytes,
                          file: str) -> list[Diagnostic]:
    """Every problem with running the ELF image ``data`` (named ``file``) in ``cell``."""
    image = inmate_image_of(data, file)
    if isinstance(image, Diagnostic):
        return [image]
    regions = regions_of_cell(system, cell)
    loadable = [r for r in regions if r.flags & jh.MEM_LOADABLE and r.size]
    comm = [r for r in regions if r.flags & jh.MEM_COMM_REGION and r.size]
    ranges = _merged([(r.virt, r.virt + r.size) for r in loadable])
    where = Location(file)
    found: list[Diagnostic] = []
    for seg in image.segments:
        inside = any(start <= seg.paddr and seg.end <= end for start, end in ranges)
        if not inside:
            known = ", ".join(f"{_span(r.virt, r.virt + r.size)} {_region_label(r)}"
                              for r in loadable)
            found.append(error(
                "INMATE-OUTSIDE",
                f"segment {seg.index} at {_span(seg.paddr, seg.end)} is outside the loadable "
                f"memory of cell {cell.name!r}", where,
                related=[r.location() for r in loadable] or [cell.location("name")],
                hint=(f"the cell's loadable memory is {known}" if known else
                      "the cell has no region flagged 'loadable'")
                + "; link the image there or flag the intended region 'loadable'"))
        for region in comm:
            if seg.paddr < region.virt + region.size and region.virt < seg.end:
                found.append(error(
                    "INMATE-COMM-OVERLAP",
                    f"segment {seg.index} at {_span(seg.paddr, seg.end)} overlaps the "
                    f"communication region of cell {cell.name!r} at "
                    f"{_span(region.virt, region.virt + region.size)}", where,
                    related=[region.location()],
                    hint="the hypervisor owns the communication region; move the image "
                         "or the region"))
    if not any(s.vaddr <= image.entry < s.vaddr + s.memsz for s in image.segments):
        spans = ", ".join(_span(s.vaddr, s.vaddr + s.memsz) for s in image.segments)
        found.append(error(
            "INMATE-ENTRY", f"entry point {image.entry:#x} is outside the image's loadable "
            f"segments ({spans})", where,
            hint="check the linker script's ENTRY and the load addresses"))
    return found
