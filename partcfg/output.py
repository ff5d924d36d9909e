"""Writing outputs: atomically (temp file + rename) and reproducibly.

Used by the CLI only. An interrupted run leaves either the old file or the new one,
never a half-written file; temp files live in the target directory so the rename
stays on one file system.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Mapping

from .diagnostics import InputError, Location, error


def write_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def write_outputs(outdir: Path, outputs: Mapping[str, bytes]) -> list[Path]:
    """Write every output below ``outdir``; InputError (exit 2) when the disk says no."""
    written = []
    try:
        for rel in sorted(outputs):
            target = outdir / rel
            write_atomically(target, outputs[rel])
            written.append(target)
    except OSError as exc:
        raise InputError([error("IO-WRITE", f"cannot write {exc.filename or outdir}: "
                                f"{exc.strerror or exc}", Location(str(exc.filename or outdir)))]) from None
    return written
