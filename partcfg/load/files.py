"""Foundation: reading input files. An unreadable file becomes an InputError (exit 2)
with one diagnostic naming the file and the reason, never an OSError traceback. Every
read is bounded: a file larger than its kind may be (a sparse multi-GB ``.cell``, a
link to ``/dev/zero``) is refused after reading at most ``limit`` + 1 bytes."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from ..diagnostics import InputError, Location, error

MAX_YAML_BYTES = 64 << 20       # far beyond the largest system measured (100,000 regions: ~10 MB)
MAX_BLOB_BYTES = 64 << 20       # a blob of 2 million memory regions
MAX_IMAGE_BYTES = 256 << 20     # ELF objects and inmate images


def file_bytes_of(path: str | Path, limit: int = MAX_YAML_BYTES, what: str = "file") -> bytes:
    name = str(path)
    try:
        with open(path, "rb") as handle:
            info = os.fstat(handle.fileno())
            if stat.S_ISDIR(info.st_mode):
                raise IsADirectoryError(21, "Is a directory", name)
            if stat.S_ISREG(info.st_mode) and info.st_size > limit:
                raise _too_big(name, what, limit, info.st_size)
            data = handle.read(limit + 1)
    except OSError as exc:
        raise InputError([error("IO-READ", f"cannot read {name}: {exc.strerror or exc}",
                                Location(name))]) from None
    if len(data) > limit:
        raise _too_big(name, what, limit, None)
    return data


def _too_big(name: str, what: str, limit: int, size: int | None) -> InputError:
    found = f" ({size} bytes)" if size is not None else ""
    return InputError([error("IO-TOO-BIG", f"{name}{found} is larger than a {what} partcfg reads "
                             f"({limit >> 20} MiB at most)", Location(name),
                             hint="is this the right file?")])
