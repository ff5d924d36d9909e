"""Foundation: reading input files. An unreadable file becomes an InputError (exit 2)
with one diagnostic naming the file and the reason, never an OSError traceback."""

from __future__ import annotations

from pathlib import Path

from ..diagnostics import InputError, Location, error

#: the file names read as YAML documents (directories are searched for them)
YAML_SUFFIXES = (".yaml", ".yml")


def file_bytes_of(path: str | Path) -> bytes:
    name = str(path)
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise InputError([error("IO-READ", f"cannot read {name}: {exc.strerror or exc}",
                                Location(name))]) from None
