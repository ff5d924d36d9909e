"""Foundation: reading input files. An unreadable file becomes an InputError (exit 2)
with one diagnostic naming the file and the reason, never an OSError traceback. Every
read is bounded: a file larger than its kind may be (a sparse multi-GB ``.cell``, a
link to ``/dev/zero``) is refused after reading at most ``limit`` + 1 bytes."""

from __future__ import annotations

from pathlib import Path

from ..diagnostics import InputError, Location, error
from .bounded import TooLarge, bounded_bytes_of

MAX_YAML_BYTES = 64 << 20       # far beyond the largest system measured (100,000 regions: ~10 MB)
MAX_BLOB_BYTES = 64 << 20       # a blob of 2 million memory regions
MAX_IMAGE_BYTES = 256 << 20     # ELF objects and inmate images


def file_bytes_of(path: str | Path, limit: int = MAX_YAML_BYTES, what: str = "file") -> bytes:
    name = str(path)
    try:
        return bounded_bytes_of(path, limit)
    except TooLarge as big:
        found = f" ({big.size} bytes)" if big.size is not None else ""
        raise InputError([error("IO-TOO-BIG", f"{name}{found} is larger than a {what} partcfg reads "
                                f"({limit >> 20} MiB at most)", Location(name),
                                hint="is this the right file?")]) from None
    except OSError as exc:
        raise InputError([error("IO-READ", f"cannot read {name}: {exc.strerror or exc}",
                                Location(name))]) from None
