"""Foundation: the words partcfg uses for things, in one place.

Architecture names, access words and classes, address spans, region labels and the
heading of a generated cell file. Every message, picture and listing that names one of
these takes it from here, so a region is called the same in a diagnostic, a diff line
and a map's hover text. Pure functions over the binary format's numbers (``formats``)
and the number forms of ``units``; nothing here reads files or knows about layers.
"""

from __future__ import annotations

from typing import Protocol

from .formats import jailhouse as jh
from .units import format_size, format_span

# --- architectures ----------------------------------------------------------------------------

ARCH_NAMES = {number: name for name, number in jh.ARCHITECTURES.items()}


def arch_name(arch: int, unknown: str | None = None) -> str:
    """``x86``, ``arm``, ``arm64``; a number with no name as ``unknown`` (its digits by default)."""
    return ARCH_NAMES.get(arch, str(arch) if unknown is None else unknown)


# --- devices -----------------------------------------------------------------------------------

PCI_TYPE_NAMES = {number: name for name, number in jh.PCI_TYPES.items()}


# --- access ------------------------------------------------------------------------------------

# the four access bits a region grants, as letters (``rwxd``) and as words
_ACCESS_BITS = (("r", "READ", jh.MEM_READ), ("w", "WRITE", jh.MEM_WRITE),
                ("x", "EXECUTE", jh.MEM_EXECUTE), ("d", "DMA", jh.MEM_DMA))

# the colour class of a region in the map, and what its legend says
ACCESS_CLASSES = {
    "read-only": "read-only",
    "read-write": "read-write",
    "execute": "execute (and read/write)",
    "io": "IO (device registers)",
    "none": "no access",
}


def access_letters(bits: int) -> str:
    """``rw--``: one letter per access bit (read, write, execute, DMA), ``-`` when absent."""
    return "".join(letter if bits & bit else "-" for letter, _, bit in _ACCESS_BITS)


def access_words(bits: int) -> str:
    """``READ, WRITE``: the access bits set, as the format's words, in bit order."""
    return ", ".join(word for _, word, bit in _ACCESS_BITS if bits & bit)


def access_class_of(flags: int) -> str:
    """The colour class of a region: io, execute, read-write, read-only or none (the
    strongest grant wins)."""
    if flags & jh.MEM_IO:
        return "io"
    if flags & jh.MEM_EXECUTE:
        return "execute"
    if flags & jh.MEM_WRITE:
        return "read-write"
    if flags & jh.MEM_READ:
        return "read-only"
    return "none"


# --- spans -------------------------------------------------------------------------------------

ADDRESS_LIMIT = 1 << 64


def span_text(start: int, end: int) -> str:
    """A byte range as first-last address; a range running past the 64-bit space (which
    MEM-WRAP reports) is shown up to its last possible address."""
    return format_span(min(start, ADDRESS_LIMIT - 1), min(end, ADDRESS_LIMIT))


def span_with_size(start: int, end: int) -> str:
    """``0x1000-0x1fff (4K)``: a byte range and its size."""
    return f"{format_span(start, end)} ({format_size(end - start)})"


# --- regions -----------------------------------------------------------------------------------

class _NamedRegion(Protocol):
    name: str | None
    link: str | None
    origin: str
    section: str | None
    owner: int | None


def region_name(r: _NamedRegion, index: int) -> str:
    """``region 'ram'``, or ``region #3`` for an unnamed one (its place in the cell's array)."""
    return f"region {r.name!r}" if r.name else f"region #{index}"


def region_label(r: _NamedRegion, index: int) -> str:
    """A region as a diagnostic names it: by name, or by index (and, when a link derived
    it, by where it came from)."""
    if r.link is not None:
        return f"region #{index} ({r.origin})"
    return region_name(r, index)


def region_in_cell(r: _NamedRegion, index: int, cell: str) -> str:
    """A region and the cell that holds it: ``region 'ram' of cell 'linux'``; a derived
    region by its origin (``link demo: output section of peer 1 in cell 'linux'``)."""
    if r.link is not None:
        return f"{r.origin} in cell {cell!r}"
    return f"{region_name(r, index)} of cell {cell!r}"


SECTION_WORDS = {"state": "state table", "rw": "read/write section"}


def section_words(section: str | None, owner: int | None) -> str:
    """``state table``, ``read/write section``, ``output section of peer 1``."""
    return SECTION_WORDS.get(section or "", f"output section of peer {owner}")


def region_meaning(r: _NamedRegion) -> str:
    """What a region is, without its index: ``region 'ram'``, ``output section of peer 1
    of link demo``, ``an unnamed region``."""
    if r.link is not None:
        return f"{section_words(r.section, r.owner)} of link {r.link}"
    return f"region {r.name!r}" if r.name else "an unnamed region"


# --- generated files ---------------------------------------------------------------------------

def cell_heading(cell: str, system: str | None) -> str:
    """``"demo" of system "board"``: the cell a generated file describes (C strings)."""
    return f"\"{cell}\"" + (f" of system \"{system}\"" if system else "")
