"""Orchestration of the flow for the CLI: files -> load -> model -> validate -> layout ->
render. Pure: it returns data (diagnostics, output bytes by relative path) and never
prints; writing files is left to ``output.py`` and choosing exit codes to ``cli.py``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from .diagnostics import (ConfigError, Diagnostic, InputError, Location, error,
                          sorted_diagnostics)
from .layout import layout_of_cell, layout_of_system
from .load import load_yaml_file
from .model import Assembly, Document, assembly_of, document_of
from .render.blob import blobs_of_system, cell_payload_of
from .validate import diagnostics_of_assembly

YAML_SUFFIXES = (".yaml", ".yml")


def input_files_of(paths: Sequence[str | Path]) -> list[Path]:
    """The YAML files named, with directories expanded recursively; sorted, so that the
    order of arguments never changes the output bytes."""
    files: set[Path] = set()
    problems = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            files.update(p for p in path.rglob("*") if p.suffix in YAML_SUFFIXES and p.is_file())
        elif path.exists():
            files.add(path)
        else:
            problems.append(error("IO-MISSING", f"no such file or directory: {raw}", Location(str(raw))))
    if problems:
        raise InputError(problems)
    return sorted(files)


@dataclass
class Checked:
    """The outcome of loading, assembling and validating a set of files."""
    files: list[Path]
    assembly: Assembly
    diagnostics: list[Diagnostic] = field(default_factory=list)


def checked_files_of(paths: Sequence[str | Path]) -> Checked:
    """Load every file (collecting all their problems), assemble systems and validate them.
    Raises InputError (exit 2) when a file cannot be read at all."""
    files = input_files_of(paths)
    documents: list[Document] = []
    diagnostics: list[Diagnostic] = []
    unreadable_systems: list[str] = []
    io_problems: list[Diagnostic] = []
    for path in files:
        try:
            source = load_yaml_file(path)
        except InputError as exc:
            io_problems.extend(exc.diagnostics)
            continue
        except ConfigError as exc:
            diagnostics.extend(exc.diagnostics)
            continue
        try:
            documents.append(document_of(source))
        except ConfigError as exc:
            diagnostics.extend(exc.diagnostics)
            data = source.data
            if isinstance(data, dict) and "platform" in data and isinstance(data.get("system"), str):
                unreadable_systems.append(data["system"])
    if io_problems:
        raise InputError(io_problems)
    assembly = assembly_of(documents, unreadable_systems)
    diagnostics.extend(assembly.diagnostics)
    diagnostics.extend(diagnostics_of_assembly(assembly))
    return Checked(files, assembly, sorted_diagnostics(diagnostics))


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


def file_stem_of(name: str) -> str:
    """A cell or system name as a file name: characters outside [A-Za-z0-9._-] become -."""
    return _UNSAFE.sub("-", name) or "-"


def blob_outputs_of(checked: Checked) -> dict[str, bytes]:
    """Relative output path -> blob bytes for every cell. One system builds into the
    directory itself; several systems each get a subdirectory named after the system."""
    outputs: dict[str, bytes] = {}
    clashes: list[Diagnostic] = []
    several = len(checked.assembly.systems) > 1

    def put(rel: str, data: bytes, where: Location | None) -> None:
        if rel in outputs:
            clashes.append(error("BUILD-NAME-CLASH", f"two cells would be written to {rel}",
                                 where, hint="give one of the cells another name"))
            return
        outputs[rel] = data

    for system in checked.assembly.systems:
        prefix = f"{file_stem_of(system.name)}/" if several else ""
        for name, blob in blobs_of_system(layout_of_system(system)).items():
            cell = system.cell_named(name)
            put(f"{prefix}{file_stem_of(name)}.cell", blob, cell.location("name") if cell else None)
    for cell in checked.assembly.standalone:
        put(f"{file_stem_of(cell.name)}.cell", cell_payload_of(layout_of_cell(None, cell)),
            cell.location("name"))
    if clashes:
        raise ConfigError(clashes)
    return outputs
