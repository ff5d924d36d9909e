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

from ..diagnostics import InputError, Location, error


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


def output_kind_of(rel: str) -> str | None:
    """Which kind of build output a relative path is (None: not one partcfg writes):
    ``cell``, ``cspace``, ``header`` (firmware header), ``c`` (``--emit c``: sources and
    the ``include/jailhouse/`` declarations) or ``elf`` (``--emit elf``)."""
    path = Path(rel)
    if path.suffix == ".cell":
        return "cell"
    if path.suffix == ".cspace":
        return "cspace"
    if path.suffix == ".o":
        return "elf"
    if path.suffix == ".c" or (path.suffix == ".h" and "include/jailhouse/" in f"/{path.as_posix()}"):
        return "c"
    if path.suffix == ".h" and path.name.startswith("partcfg_"):
        return "header"
    return None


def stale_outputs_of(outdir: Path, outputs: Mapping[str, bytes]) -> list[tuple[str, str]]:
    """What ``build --check`` reports: (relative path, why) for every output whose file in
    ``outdir`` is missing or differs from the bytes the inputs now produce, and for every
    file of a kind this build writes that it no longer produces. Kinds the build was not
    asked for (``--emit c`` sources and declarations, ``--emit elf`` objects) are not
    judged at all, so a check without ``--emit`` treats ``.c``, ``.o`` and
    ``include/jailhouse/*.h`` alike. Reads only."""
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
    kinds = {output_kind_of(rel) for rel in outputs} - {None}
    if outdir.is_dir():
        produced = set(outputs)
        for path in sorted(outdir.rglob("*")):
            rel = path.relative_to(outdir).as_posix()
            if path.is_file() and output_kind_of(rel) in kinds and rel not in produced \
                    and not path.name.startswith("."):
                stale.append((rel, "no longer produced"))
    return stale
