"""Gathering a snapshot of the running x86 machine (``partcfg collect -o board.tar``).

Runs on the target, as root (``/proc/iomem`` shows zeros to other users). It reads the
files the x86 board reader (``x86.py``) understands, under their own paths, and packs
them into one tar archive. The archive is reproducible: members sorted, owner root,
modification time 0, so the same machine state always gives the same bytes.
"""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

from ..diagnostics import InputError, Location, error
from ..load.bounded import TooLarge, bounded_bytes_of
from .x86 import (CMDLINE, CPUINFO, IOMEM, MAX_FILE_BYTES, MAX_PCI_DEVICES, PCI_RESOURCE,
                  iomem_lines_of)


def _read(root: Path, rel: str) -> bytes:
    path = root / rel
    try:
        return bounded_bytes_of(path, MAX_FILE_BYTES)
    except TooLarge:
        raise InputError([error("COLLECT-READ", f"{path} is larger than {MAX_FILE_BYTES >> 20} MiB",
                                Location(str(path)))]) from None
    except OSError as exc:
        raise InputError([error("COLLECT-READ", f"cannot read {path}: {exc.strerror or exc}",
                                Location(str(path)), hint="run partcfg collect as root on the target")]) from None


def snapshot_files_from(root: Path = Path("/")) -> dict[str, bytes]:
    """Relative name -> bytes of every file a snapshot holds, read below ``root``."""
    files = {name: _read(root, name) for name in (IOMEM, CMDLINE, CPUINFO)}
    lines = iomem_lines_of(files[IOMEM].decode("utf-8", "replace"))
    if not any(line.start or line.end > 1 for line in lines):
        raise InputError([error("COLLECT-READ", f"{root / IOMEM} shows no addresses",
                                Location(str(root / IOMEM)),
                                hint="run partcfg collect as root: /proc/iomem shows zeros to other users")])
    devices = root / "sys" / "bus" / "pci" / "devices"
    if devices.is_dir():
        for entry in sorted(devices.iterdir())[:MAX_PCI_DEVICES]:
            rel = f"sys/bus/pci/devices/{entry.name}/resource"
            if PCI_RESOURCE.match(rel) and (entry / "resource").is_file():
                files[rel] = _read(root, rel)
    return files


def snapshot_tar_of(files: dict[str, bytes]) -> bytes:
    """The reproducible tar archive of a snapshot's files."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for name in sorted(files):
            data = files[name]
            member = tarfile.TarInfo(name)
            member.size, member.mtime, member.mode = len(data), 0, 0o444
            member.uid = member.gid = 0
            member.uname = member.gname = "root"
            archive.addfile(member, io.BytesIO(data))
    return buffer.getvalue()
