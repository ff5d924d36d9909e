"""Load layer: the one input reader. Paths named on the command line -> the files they
stand for (YAML documents, ``.cell`` blobs, ELF objects), told apart by suffix and, for
blobs and ELF objects, by the ELF magic; and each such file read.

Every command finds its inputs here: ``check``, ``build``, ``show`` and ``map`` take YAML
files (:func:`yaml_files_of`), ``import`` takes blobs or ELF objects
(:func:`blob_files_of`, :func:`blob_of_file`), ``diff`` takes YAML files or ``.cell``
blobs on each side (:func:`side_files_of`; its blobs are read by
``blob.parsed_blob_file``, bounded like a blob, not like an ELF object). A path that
names nothing raises InputError (exit 2) with one diagnostic per path, never an OSError.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from ..diagnostics import InputError, Location, error
from .elf import ELF_MAGIC
from .files import MAX_IMAGE_BYTES, file_bytes_of

#: the file names read as YAML documents (directories are searched for them)
YAML_SUFFIXES = (".yaml", ".yml")
#: the file names a directory of blobs is searched for
BLOB_SUFFIX = ".cell"

YAML, BLOB = "yaml", "blob"


def yaml_files_of(paths: Sequence[str | Path]) -> list[Path]:
    """The YAML files named, with directories expanded recursively; sorted, so that the
    order of arguments never changes the output bytes."""
    files: set[Path] = set()
    problems = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found = [p for p in path.rglob("*") if p.suffix in YAML_SUFFIXES and p.is_file()]
            if not found:  # a wrong path must not pass as a clean system
                problems.append(error("IO-EMPTY", "no YAML files (*.yaml, *.yml) in this directory: "
                                      "nothing to check", Location(str(raw)),
                                      hint="pass the directory that holds the system's files"))
            files.update(found)
        elif path.exists():
            files.add(path)
        else:
            problems.append(error("IO-MISSING", f"no such file or directory: {raw}", Location(str(raw))))
    if not files and not problems:
        problems.append(error("IO-EMPTY", "no input files, nothing to check", None,
                              hint="pass YAML files or directories holding them"))
    if problems:
        raise InputError(problems)
    return sorted(files)


def blob_files_of(paths: Sequence[str | Path]) -> list[Path]:
    """The blob (or ELF object) files named, in the order given; a directory or a missing
    file is an InputError (``import`` names its files one by one)."""
    files = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            raise InputError([error("IO-EMPTY", "a directory, not a blob: import takes .cell files "
                                    "or ELF objects", Location(str(raw)),
                                    hint=f"e.g. partcfg import {raw.rstrip('/') if isinstance(raw, str) else path}/*.cell")])
        if not path.is_file():
            raise InputError([error("IO-MISSING", f"no such file: {raw}", Location(str(raw)))])
        files.append(path)
    return files


def side_files_of(path: Path) -> tuple[str, list[Path]]:
    """One side of a diff: ``("yaml", files)`` or ``("blob", files)``. A directory is
    its YAML files if it has any, else its ``.cell`` blobs; a file is YAML by suffix."""
    if path.is_dir():
        everything = [p for p in path.rglob("*") if p.is_file()]
        yaml_files = sorted(p for p in everything if p.suffix in YAML_SUFFIXES)
        if yaml_files:
            return YAML, yaml_files
        blobs = sorted(p for p in everything if p.suffix == BLOB_SUFFIX)
        if blobs:
            return BLOB, blobs
        raise InputError([error("DIFF-EMPTY", f"{path} holds no YAML files and no .cell blobs",
                                Location(str(path)))])
    if not path.exists():
        raise InputError([error("IO-MISSING", f"no such file or directory: {path}", Location(str(path)))])
    return (YAML if path.suffix in YAML_SUFFIXES else BLOB), [path]


def blob_of_file(path: str | Path):
    """A ``.cell`` blob, or an ELF object compiled from a C config (told by its magic),
    decoded into a :class:`blob.ParsedBlob`; BlobError when it is neither."""
    from .blob import parsed_blob_of
    from .elf import blob_bytes_of_elf

    data = file_bytes_of(path, MAX_IMAGE_BYTES, "blob or ELF object")
    if data.startswith(ELF_MAGIC):
        data = blob_bytes_of_elf(data, str(path))
    return parsed_blob_of(data, str(path))
