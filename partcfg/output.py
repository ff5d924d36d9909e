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


PARALLEL_WRITES_FROM = 64
WRITER_THREADS = 8


def write_outputs(outdir: Path, outputs: Mapping[str, bytes]) -> list[Path]:
    """Write every output below ``outdir``; InputError (exit 2) when the disk says no."""
    rels = sorted(outputs)
    written = [outdir / rel for rel in rels]
    try:
        if len(rels) < PARALLEL_WRITES_FROM:
            for rel, target in zip(rels, written):
                write_atomically(target, outputs[rel])
        else:
            # each file is fsync'ed: threads overlap the waits (measured 1.5x on 2,600 files)
            from concurrent.futures import ThreadPoolExecutor
            with ThreadPoolExecutor(max_workers=WRITER_THREADS) as pool:
                for _ in pool.map(write_atomically, written, [outputs[rel] for rel in rels]):
                    pass
    except OSError as exc:
        raise InputError([error("IO-WRITE", f"cannot write {exc.filename or outdir}: "
                                f"{exc.strerror or exc}", Location(str(exc.filename or outdir)))]) from None
    return written


def stale_outputs_of(outdir: Path, outputs: Mapping[str, bytes]) -> list[tuple[str, str]]:
    """What ``build --check`` reports: (relative path, why) for every output whose file in
    ``outdir`` is missing or differs from the bytes the inputs now produce, and for every
    file of a kind the build writes (same suffix) that it no longer produces. Reads only."""
    stale: list[tuple[str, str]] = []
    for rel in sorted(outputs):
        target = outdir / rel
        try:
            if target.read_bytes() != outputs[rel]:
                stale.append((rel, "differs"))
        except FileNotFoundError:
            stale.append((rel, "missing"))
        except OSError as exc:
            raise InputError([error("IO-READ", f"cannot read {target}: {exc.strerror or exc}",
                                    Location(str(target)))]) from None
    suffixes = {Path(rel).suffix for rel in outputs if Path(rel).suffix}
    if outdir.is_dir():
        produced = set(outputs)
        for path in sorted(outdir.rglob("*")):
            rel = path.relative_to(outdir).as_posix()
            if path.is_file() and path.suffix in suffixes and rel not in produced \
                    and not path.name.startswith("."):
                stale.append((rel, "no longer produced"))
    return stale
