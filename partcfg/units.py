"""Foundation: the human forms of numbers in partcfg's YAML, parsed and formatted.

Sizes (``4K``, ``1M``, ``0x1000``), CPU sets (``0-3,6``), PCI addresses (``00:0e.0``)
and flag word lists. Parsers raise ``ValueError`` with a plain message; formatters are
their inverses, so ``parse_x(format_x(v)) == v`` for every valid value.
"""

from __future__ import annotations

import re
from typing import Iterable, Mapping

_INT_RE = re.compile(r"^[+]?(0x[0-9a-f_]+|0o[0-7_]+|0b[01_]+|[0-9][0-9_]*)$", re.I)
_SIZE_RE = re.compile(r"^\s*(0x[0-9a-f_]+|[0-9][0-9_]*)\s*([KMGT])?(?:i?B)?\s*$", re.I)
_SIZE_UNITS = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
_BDF_RE = re.compile(r"^\s*(?:([0-9a-f]{1,4}):)?([0-9a-f]{1,2}):([0-9a-f]{1,2})\.([0-7])\s*$", re.I)


def parse_int(value: object) -> int:
    """An unsigned integer given as int or as decimal/hex/octal/binary text."""
    if isinstance(value, bool):
        raise ValueError(f"expected a number, got {value!r}")
    if isinstance(value, int):
        if value < 0:
            raise ValueError(f"expected a non-negative number, got {value}")
        return value
    if isinstance(value, str) and _INT_RE.match(value.strip()):
        return int(value.strip().replace("_", ""), 0)
    raise ValueError(f"expected a number (e.g. 42 or 0x2a), got {value!r}")


def parse_size(value: object) -> int:
    """A byte count: an integer, or text such as ``4K``, ``36K``, ``1M``, ``2G``, ``0x1000``."""
    if isinstance(value, (int, bool)):
        return parse_int(value)
    if isinstance(value, str):
        m = _SIZE_RE.match(value)
        if m:
            number = int(m.group(1).replace("_", ""), 0)
            unit = m.group(2)
            return number * (_SIZE_UNITS[unit.upper()] if unit else 1)
    raise ValueError(f"expected a size such as 4K, 1M, 2G or 0x1000, got {value!r}")


def size_in_units(value: int) -> str | None:
    """``36K``, ``1M``: a size in the largest unit that divides it exactly; None when none does."""
    for unit in ("T", "G", "M", "K"):
        scale = _SIZE_UNITS[unit]
        if value and value % scale == 0:
            return f"{value // scale}{unit}"
    return None


def format_span(start: int, end: int) -> str:
    """A byte range [start, end) as its first and last address: ``0x1000-0x1fff``."""
    return f"{start:#x}-{end - 1:#x}"


def format_size(value: int) -> str:
    """The shortest exact human form of a size: ``36K``, ``1M``; below 10 the digit, plain
    hex otherwise."""
    return size_in_units(value) or (str(value) if value < 10 else f"0x{value:x}")


MAX_CPU_NUMBER = 65535   # a CPU bitmap of 8 KiB; the blob reader takes no larger one


def parse_cpu_set(value: object) -> tuple[int, ...]:
    """CPU numbers from ``3``, ``"0-3,6"`` or a list of numbers/ranges; sorted, unique."""
    items: Iterable[object]
    if isinstance(value, bool):
        raise ValueError(f"expected CPU numbers such as 0-3,6, got {value!r}")
    if isinstance(value, int):
        items = [value]
    elif isinstance(value, str):
        items = [p for p in value.split(",")] if value.strip() else []
    elif isinstance(value, (list, tuple)):
        items = value
    else:
        raise ValueError(f"expected CPU numbers such as 0-3,6, got {value!r}")
    cpus: set[int] = set()
    for item in items:
        if isinstance(item, str) and "-" in item:
            lo_text, _, hi_text = item.partition("-")
            lo, hi = parse_int(lo_text.strip()), parse_int(hi_text.strip())
            if hi < lo:
                raise ValueError(f"CPU range {item.strip()!r} runs backwards")
            if hi - lo > 4096:
                raise ValueError(f"CPU range {item.strip()!r} is implausibly large")
            cpus.update(range(lo, hi + 1))
        else:
            cpus.add(parse_int(item.strip() if isinstance(item, str) else item))
    return tuple(sorted(cpus))


def parse_cpu_numbers(value: object) -> tuple[int, ...]:
    """:func:`parse_cpu_set` for CPUs: each becomes a bit of the blob's CPU bitmap, so the
    highest is bounded (CPU 2**31 would make a 256 MiB bitmap)."""
    cpus = parse_cpu_set(value)
    if cpus and cpus[-1] > MAX_CPU_NUMBER:
        raise ValueError(f"{cpus[-1]} is implausibly large for a CPU number (at most {MAX_CPU_NUMBER})")
    return cpus


def format_ranges(numbers: Iterable[int]) -> str:
    """``[0,1,2,3,6]`` -> ``"0-3,6"`` (used for CPU sets and interrupt lines)."""
    ordered = sorted(set(numbers))
    parts: list[str] = []
    i = 0
    while i < len(ordered):
        j = i
        while j + 1 < len(ordered) and ordered[j + 1] == ordered[j] + 1:
            j += 1
        parts.append(str(ordered[i]) if i == j else f"{ordered[i]}-{ordered[j]}")
        i = j + 1
    return ",".join(parts)


def parse_bdf(value: object) -> int:
    """A PCI address ``bus:dev.fn`` (hex, optional ``domain:`` ignored here) as the u16 BDF."""
    if isinstance(value, int) and not isinstance(value, bool):
        if value > 0xFFFF:
            raise ValueError(f"BDF {value:#x} does not fit in 16 bits")
        return value
    if isinstance(value, str):
        m = _BDF_RE.match(value)
        if m:
            bus, dev, fn = int(m.group(2), 16), int(m.group(3), 16), int(m.group(4))
            if dev > 31:
                raise ValueError(f"PCI device number {dev:#x} in {value!r} exceeds 0x1f")
            return bus << 8 | dev << 3 | fn
    raise ValueError(f"expected a PCI address bus:dev.fn such as 00:0e.0, got {value!r}")


def format_bdf(bdf: int) -> str:
    return f"{bdf >> 8:02x}:{(bdf >> 3) & 0x1F:02x}.{bdf & 7}"


class WordError(ValueError):
    """A rejected word: ``index`` is its position in a list (so a report can point at the
    word itself), ``hint`` a suggestion."""

    def __init__(self, message: str, index: int | None = None, hint: str | None = None):
        super().__init__(message)
        self.index = index
        self.hint = hint


def parse_flags(value: object, names: Mapping[str, int], what: str) -> int:
    """A flag word list (``[read, write]``) as a bit mask; integers are taken as raw bits.

    Raw integers keep every blob importable even when it carries bits partcfg has no word
    for. Unknown words raise ``ValueError`` with a "did you mean" suggestion.
    """
    from .diagnostics import did_you_mean

    if value is None:
        return 0
    if isinstance(value, str) and "," in value:
        words = [w.strip() for w in value.split(",") if w.strip()]
        raise WordError(f"{what}s are a list of words, not one text {value!r}",
                        hint=f"write [{', '.join(words)}]")
    listed = isinstance(value, (list, tuple))
    items = value if listed else [value]
    mask = 0
    for index, item in enumerate(items):
        if isinstance(item, str) and item.strip().lower() in names:
            mask |= names[item.strip().lower()]
            continue
        try:
            mask |= parse_int(item)
            continue
        except ValueError:
            pass
        hint = did_you_mean(str(item), names)
        raise WordError(f"unknown {what} {item!r}" + (f"; {hint}" if hint else "")
                        + f" (known: {', '.join(names)})", index if listed else None)
    return mask


def format_flags(mask: int, names: Mapping[str, int]) -> list[str | int]:
    """The inverse of :func:`parse_flags`: known bits as words (declaration order), rest raw."""
    words: list[str | int] = []
    rest = mask
    for word, bit in names.items():
        if bit and (mask & bit) == bit and rest & bit:
            words.append(word)
            rest &= ~bit
    if rest:
        words.append(rest)
    return words


def counted(n: int, noun: str) -> str:
    """``1 region``, ``2 regions``: a count with its noun in the right number."""
    return f"{n} {noun}{'' if n == 1 else 's'}"
