"""Board reader helper: what a Linux kernel command line takes away from Linux's memory.

``mem=SIZE`` limits the RAM Linux uses: on ARM (``arch_limit="amount"``) the first SIZE
bytes of RAM in address order are kept, on x86 (``arch_limit="address"``) everything at
or above the physical address SIZE is dropped. ``memmap=SIZE$START`` (reserved),
``memmap=SIZE!START`` (protected) and ``memmap=SIZE#START`` (ACPI data) keep Linux off a
range (x86). Arguments after ``--`` belong to init, not to the kernel.
"""

from __future__ import annotations

import re

_SIZE = re.compile(r"^(0[xX][0-9a-fA-F]+|\d+)([KMGTPE]?)$")
_SHIFT = {"": 0, "K": 10, "M": 20, "G": 30, "T": 40, "P": 50, "E": 60}
MAX_ARGS = 4096


def memparse(text: str) -> int | None:
    """The kernel's memparse: a number (decimal or 0x hex) with an optional K/M/G/... suffix."""
    m = _SIZE.match(text.strip().upper().replace("0X", "0x"))
    if not m:
        return None
    return int(m.group(1), 0) << _SHIFT[m.group(2)]


def kernel_args_of(cmdline: str) -> list[str]:
    """The kernel's own arguments (those before a lone ``--``), bounded in number."""
    args = []
    for word in cmdline.split()[:MAX_ARGS]:
        if word == "--":
            break
        args.append(word)
    return args


def mem_limit_of(cmdline: str) -> tuple[int, str] | None:
    """The last ``mem=`` value and its argument text (the kernel honours the last one)."""
    found = None
    for word in kernel_args_of(cmdline):
        if word.startswith("mem="):
            value = memparse(word[4:])
            if value is not None:
                found = (value, word)
    return found


def memmap_reserved_of(cmdline: str) -> list[tuple[int, int, str]]:
    """(start, end, argument) of every range ``memmap=`` keeps Linux away from."""
    result = []
    for word in kernel_args_of(cmdline):
        if not word.startswith("memmap="):
            continue
        for item in word[7:].split(","):
            for sep in ("$", "!", "#"):
                if sep in item:
                    size_text, _, start_text = item.partition(sep)
                    size, start = memparse(size_text), memparse(start_text)
                    if size and start is not None and start + size <= 1 << 64:
                        result.append((start, start + size, word))
                    break
    return result
