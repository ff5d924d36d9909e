"""Load layer: the one bounded file read every reader of user-named files goes through.

A file is read through one handle: a directory is refused as such, a regular file whose
size is known to be over the limit is refused before a byte is read, and anything else
(a pipe, ``/dev/zero``, a file growing under us) is refused after at most ``limit`` + 1
bytes. Callers turn the two failures into their own diagnostics (their rule ids and
words differ: an input, a baseline, a board snapshot), so this module raises plain
exceptions and knows nothing about diagnostics.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path


class TooLarge(Exception):
    """The file holds more than ``limit`` bytes; ``size`` is its size when the file
    system knows it (a regular file), None when only reading found out."""

    def __init__(self, limit: int, size: int | None):
        super().__init__(f"more than {limit} bytes")
        self.limit = limit
        self.size = size


def bounded_bytes_of(path: str | Path, limit: int) -> bytes:
    """The bytes of ``path``, at most ``limit`` of them. Raises OSError when the file cannot
    be read (IsADirectoryError for a directory) and TooLarge when it holds more."""
    with open(path, "rb") as handle:
        info = os.fstat(handle.fileno())
        if stat.S_ISDIR(info.st_mode):
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(path))
        if stat.S_ISREG(info.st_mode) and info.st_size > limit:
            raise TooLarge(limit, info.st_size)
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise TooLarge(limit, None)
    return data
