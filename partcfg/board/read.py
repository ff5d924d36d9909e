"""Board reader entry point: a path -> :class:`~.facts.Board`, whatever kind it is.

A directory or a tar archive is an x86 snapshot (``x86.py``); any other file is read as a
flattened device tree (``dtb.py``). ``bootargs`` stands for the kernel command line the
root cell's Linux boots with, when the board file does not hold it (a boot loader
usually adds it at boot); it replaces ``/chosen/bootargs`` or ``proc/cmdline``.
"""

from __future__ import annotations

import tarfile
from pathlib import Path

from ..diagnostics import InputError, Location, error
from ..load.files import file_bytes_of
from .dtb import MAX_DTB_BYTES, board_of_dtb
from .facts import Board
from .x86 import board_of_snapshot

MAX_BOOTARGS = 4096  # the kernel's own limit (COMMAND_LINE_SIZE) on arm64 is 2048


def board_of(path: str | Path, bootargs: str | None = None) -> Board:
    """The facts of the board at ``path`` (InputError when it cannot be read)."""
    path = Path(path)
    source = str(path)
    if not path.exists():
        raise InputError([error("IO-MISSING", f"no such file or directory: {source}", Location(source))])
    if path.is_dir() or (path.is_file() and _is_tar(path)):
        board = board_of_snapshot(path)
    else:
        try:
            if path.stat().st_size > MAX_DTB_BYTES:
                raise InputError([error("BOARD-READ", f"cannot read the device tree {source}: larger "
                                        f"than {MAX_DTB_BYTES >> 20} MiB", Location(source))])
        except OSError:
            pass  # file_bytes_of says why
        board = board_of_dtb(file_bytes_of(path), source)
    if bootargs is not None:
        if len(bootargs) > MAX_BOOTARGS:
            raise InputError([error("BOARD-READ", f"--bootargs is longer than {MAX_BOOTARGS} characters",
                                    Location(source))])
        board.bootargs = bootargs
        board.bootargs_what = "--bootargs"
    return board


def _is_tar(path: Path) -> bool:
    if path.suffix in (".dtb", ".dtbo"):
        return False
    try:
        return tarfile.is_tarfile(path)
    except OSError:
        return False
