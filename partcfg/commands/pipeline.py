"""Orchestration of the flow for the CLI: files -> load -> model -> validate -> layout ->
render. Pure: it returns data (diagnostics, output bytes by relative path) and never
prints; writing files is left to ``output.py`` and choosing exit codes to ``cli.py``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Callable, Iterator, Sequence

from ..gc_pause import collector_paused
from ..diagnostics import (ConfigError, Diagnostic, InputError, Location, error,
                          sorted_diagnostics)
from ..load.files import YAML_SUFFIXES, file_bytes_of
from ..layout import layout_of_cell, layout_of_system
from ..load.yaml_source import load_yaml_file
from ..model.system import Assembly, Cell, Document, PartialDocumentError, assembly_of, document_of
from ..names import file_stem_of
from ..render import EMIT_KINDS
from ..render.blob import blobs_of_system, cell_payload_of
from ..check.validate import diagnostics_of_assembly



def input_files_of(paths: Sequence[str | Path]) -> list[Path]:
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


@dataclass
class Checked:
    """The outcome of loading, assembling and validating a set of files."""
    files: list[Path]
    assembly: Assembly
    diagnostics: list[Diagnostic] = field(default_factory=list)


# below this many files a pool of loading processes costs more than it saves
PARALLEL_LOAD_MIN_FILES = 200
LOAD_SHARES_PER_JOB = 4


def _loaded(paths: Sequence[Path]) -> list[tuple[str, object]]:
    """Each file loaded: ("ok", SourceDoc), or ("input" | "config", its diagnostics)."""
    results: list[tuple[str, object]] = []
    with collector_paused():
        for path in paths:
            try:
                results.append(("ok", load_yaml_file(path)))
            except InputError as exc:
                results.append(("input", exc.diagnostics))
            except ConfigError as exc:
                results.append(("config", exc.diagnostics))
    return results


def _loaded_files(files: list[Path], parallel: bool) -> Iterator[tuple[str, object]]:
    """:func:`_loaded` of every file, in order; a big tree is read by worker processes
    (parsing is most of a check, and a loaded file travels back as plain data and text,
    pickled in a tenth of the time it took to parse), when cores are idle."""
    jobs = 1
    if parallel and len(files) >= PARALLEL_LOAD_MIN_FILES:
        from .parallel import jobs_of
        jobs = jobs_of()
    if jobs < 2:
        yield from _loaded(files)
        return
    count = jobs * LOAD_SHARES_PER_JOB
    size = -(-len(files) // count)
    shares = [files[i:i + size] for i in range(0, len(files), size)]
    try:
        from concurrent.futures import ProcessPoolExecutor
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            results = list(pool.map(_loaded, shares))
    except OSError:  # no processes to be had: read them here
        results = [_loaded(files)]
    for share in results:
        yield from share


def checked_files_of(paths: Sequence[str | Path], parallel_load: bool = True) -> Checked:
    """Load every file (collecting all their problems), assemble systems and validate them.
    Raises InputError (exit 2) when a file cannot be read at all. ``parallel_load``: big
    trees may be read by worker processes (off inside a worker)."""
    files = input_files_of(paths)
    documents: list[Document] = []
    diagnostics: list[Diagnostic] = []
    unreadable_systems: list[str] = []
    unreadable_cells: list[tuple[str, str]] = []
    io_problems: list[Diagnostic] = []
    with collector_paused():  # the whole load: files accumulate long-lived objects
        # in file order, whichever way they were read
        for path, (kind, loaded) in zip(files, _loaded_files(files, parallel_load)):
            if kind == "input":
                io_problems.extend(loaded)  # type: ignore[arg-type]
                continue
            if kind == "config":  # not even YAML: what it meant to declare, by its text
                diagnostics.extend(loaded)  # type: ignore[arg-type]
                _note_unreadable(_declarations_in_text_of(path), unreadable_systems, unreadable_cells)
                continue
            source = loaded
            try:
                documents.append(document_of(source))  # type: ignore[arg-type]
            except PartialDocumentError as exc:  # the readable rest is still judged
                diagnostics.extend(exc.diagnostics)
                if exc.document is not None:
                    documents.append(exc.document)
                else:
                    _note_unreadable(source.data, unreadable_systems, unreadable_cells)  # type: ignore[attr-defined]
            except ConfigError as exc:
                diagnostics.extend(exc.diagnostics)
                _note_unreadable(source.data, unreadable_systems, unreadable_cells)  # type: ignore[attr-defined]
    if io_problems:
        raise InputError(io_problems)
    assembly = assembly_of(documents, unreadable_systems, unreadable_cells)
    diagnostics.extend(assembly.diagnostics)
    diagnostics.extend(diagnostics_of_assembly(assembly))
    return Checked(files, assembly, sorted_diagnostics(diagnostics))


_TEXT_SYSTEM = re.compile(r"^system:[ \t]*['\"]?([^\s'\"#{}\[\],]+)", re.M)
_TEXT_PLATFORM = re.compile(r"^platform:", re.M)
_TEXT_CELL_NAME = re.compile(r"^cell:[ \t]*(?:\{[ \t]*|\n(?:[ \t]*(?:#.*)?\n)*[ \t]+)name:[ \t]*['\"]?([^\s'\"#{}\[\],]+)",
                             re.M)


def _declarations_in_text_of(path: Path) -> dict:
    """For a file that is not valid YAML: the system, platform and cell name its text
    declares in the usual layout (``system: NAME`` and ``cell:`` with ``name:`` first),
    as raw data for :func:`_note_unreadable`; empty when the text says nothing clear."""
    try:
        text = file_bytes_of(path).decode("utf-8", errors="replace")
    except InputError:
        return {}
    system = _TEXT_SYSTEM.search(text)
    if system is None:
        return {}
    data: dict = {"system": system.group(1)}
    if _TEXT_PLATFORM.search(text):
        data["platform"] = None
    cell = _TEXT_CELL_NAME.search(text)
    if cell is not None:
        data["cell"] = {"name": cell.group(1)}
    return data


def _note_unreadable(data: object, systems: list[str], cells: list[tuple[str, str]]) -> None:
    """A file that could not be read at all still says, in its raw data, which system or
    cell it meant: what follows from its absence is then not reported again."""
    if not isinstance(data, dict) or not isinstance(data.get("system"), str):
        return
    if "platform" in data:
        systems.append(data["system"])
    cell = data.get("cell")
    if isinstance(cell, dict) and isinstance(cell.get("name"), str):
        cells.append((data["system"], cell["name"]))




class _OutputSet:
    """Relative output path -> bytes, refusing a second, different file at the same path."""

    def __init__(self) -> None:
        self.outputs: dict[str, bytes] = {}
        self.clashes: list[Diagnostic] = []

    def put(self, rel: str, data: bytes, where: Location | Callable[[], Location | None] | None,
            same_ok: bool = False) -> None:
        """``same_ok``: identical bytes at one path are one file (shared headers).
        ``where`` may be a function giving the location: it is needed only for a clash,
        and finding a position composes the file's YAML node tree (see ``load``)."""
        if rel in self.outputs:
            if not (same_ok and self.outputs[rel] == data):
                self.clashes.append(error("BUILD-NAME-CLASH", f"two outputs would be written to {rel}",
                                          where() if callable(where) else where,
                                          hint="rename one of the cells or links"))
            return
        self.outputs[rel] = data

    def checked_outputs(self) -> dict[str, bytes]:
        if self.clashes:
            raise ConfigError(self.clashes)
        return self.outputs


# --- every output of a build (the firmware-facing outputs too) -----------------------------



def source_names_of(files: Sequence[str | Path]) -> dict[str, str]:
    """Input file -> the name generated files cite it by: its path relative to the
    directory all inputs share, so the same inputs give the same bytes wherever the
    build runs and however the paths were spelt (``cells/x.yaml`` or ``/repo/cells/x.yaml``)."""
    import os
    names = [str(f) for f in files]
    if not names:
        return {}
    absolute = [os.path.abspath(n) for n in names]
    common = os.path.commonpath([os.path.dirname(a) for a in absolute])
    return {n: Path(os.path.relpath(a, common)).as_posix() for n, a in zip(names, absolute)}


def _sources_of_documents(documents, names: dict[str, str]) -> list[str]:
    files = []
    for doc in documents:
        file = doc.source.doc.file if doc.source else None
        if file is not None and names.get(file, file) not in files:
            files.append(names.get(file, file))
    return sorted(files)


def elf_target_of(arch: int, target: str | None, where: Location | None) -> str:
    """The ``--target`` for an ELF object: the one given, else the architecture's own."""
    from ..render.elf import DEFAULT_TARGETS, MACHINES
    if target is not None:
        if target not in MACHINES:
            raise InputError([error("BUILD-ELF-TARGET", f"unknown ELF target {target!r}",
                                    where, hint=f"use one of: {', '.join(MACHINES)}")])
        return target
    if arch not in DEFAULT_TARGETS:
        raise InputError([error(
            "BUILD-ELF-TARGET", "ELF objects are ELF64 (x86-64 or AArch64); a 32-bit arm "
            "system has no default target", where,
            hint="pass --target x86-64 or --target aarch64 for the machine that links the object")])
    return DEFAULT_TARGETS[arch]


def build_outputs_of(checked: Checked, emit: set[str] | frozenset[str] = frozenset(),
                     target: str | None = None, several: bool | None = None,
                     source_names: dict[str, str] | None = None) -> dict[str, bytes]:
    """Relative output path -> bytes for everything a build writes: ``<cell>.cell`` for
    every cell (one system builds into the directory itself; several systems each get a
    subdirectory named after the system), every peer's ``<cell>/<link>.cspace`` image and
    ``<cell>/partcfg_<cell>.h`` firmware header, and with ``emit`` also ``<cell>.c`` plus
    ``include/jailhouse/*.h`` ("c") and ``<cell>.o`` ("elf", for ``target``). Paths
    follow the blobs: below ``<system>/`` when the build has several systems.
    ``several`` and ``source_names`` describe the whole build when ``checked`` is only a
    part of it (see ``parallel``); by default they are taken from ``checked``."""
    from ..names import c_identifier_of
    from ..render.cheader import firmware_header_outputs_of
    from ..render.csource import c_source_of, c_source_outputs_of, jailhouse_headers_of
    from ..render.cspace import cspace_outputs_of
    from ..render.elf import elf_object_of

    unknown = set(emit) - set(EMIT_KINDS)
    if unknown:
        raise InputError([error("BUILD-EMIT", f"unknown output kind {sorted(unknown)[0]!r}",
                                hint=f"use --emit {' or --emit '.join(EMIT_KINDS)}")])
    if several is None:
        several = len(checked.assembly.systems) > 1
    names = source_names_of(checked.files) if source_names is None else source_names
    out = _OutputSet()

    for system in checked.assembly.systems:
        prefix = f"{file_stem_of(system.name)}/" if several else ""
        layout = layout_of_system(system)
        blobs = blobs_of_system(layout)
        for cell in layout.cells:
            out.put(f"{prefix}{file_stem_of(cell.cell.name)}.cell", blobs[cell.cell.name],
                    partial(cell.cell.location, "name"))
        sources = _sources_of_documents(system.documents, names)
        where = partial(system.root.location, "name")
        produced = {**cspace_outputs_of(layout), **firmware_header_outputs_of(layout, sources)}
        if "c" in emit:
            produced.update(c_source_outputs_of(layout, sources))
        if "elf" in emit:
            machine = elf_target_of(system.arch, target, system.platform.location("arch"))
            for cell in layout.cells:
                produced[f"{file_stem_of(cell.cell.name)}.o"] = elf_object_of(
                    blobs[cell.cell.name], c_identifier_of(cell.cell.name), machine)
        for rel, data in produced.items():
            out.put(prefix + rel, data, where, same_ok=rel.startswith("include/"))
    for cell in checked.assembly.standalone:
        layout = layout_of_cell(None, cell)
        stem = file_stem_of(cell.name)
        blob = cell_payload_of(layout)
        out.put(f"{stem}.cell", blob, cell.location("name"))
        if "c" in emit:
            sources = [names.get(cell.source.doc.file, cell.source.doc.file)] if cell.source else []
            out.put(f"{stem}.c", c_source_of(layout, None, sources).encode("utf-8"),
                    cell.location("name"))
            for rel, text in jailhouse_headers_of().items():
                out.put(rel, text.encode("utf-8"), None, same_ok=True)
        if "elf" in emit:
            machine = elf_target_of(layout.arch, target, cell.location("arch"))
            out.put(f"{stem}.o", elf_object_of(blob, c_identifier_of(cell.name), machine),
                    cell.location("name"))
    return out.checked_outputs()


def inmate_diagnostics_of_specs(checked: Checked, specs: Sequence[str]) -> list[Diagnostic]:
    """``check --inmate CELL=FILE``: the problems of running each image in its cell
    (``CELL`` may be ``SYSTEM/CELL`` when several systems have a cell of that name)."""
    from ..diagnostics import did_you_mean
    from ..check.inmate import inmate_diagnostics_of

    candidates = [(s, c) for s in checked.assembly.systems for c in s.all_cells]
    candidates += [(None, c) for c in checked.assembly.standalone]
    found: list[Diagnostic] = []
    for spec in specs:
        cell_name, sep, file = spec.partition("=")
        if not sep or not cell_name or not file:
            raise InputError([error("INMATE-SPEC", f"--inmate expects CELL=FILE, got {spec!r}",
                                    hint="e.g. --inmate rt-app=build/rt-app.elf")])
        matches = [(s, c) for s, c in candidates if c.name == cell_name
                   or (s is not None and f"{s.name}/{c.name}" == cell_name)]
        if len(matches) != 1:
            names = [c.name for _, c in candidates]
            if matches:
                message = (f"cell {cell_name!r} exists in several systems; "
                           "name it as SYSTEM/CELL")
                hint = ", ".join(f"{s.name}/{c.name}" for s, c in matches if s is not None)
            else:
                message = f"no cell named {cell_name!r} in the given files"
                hint = did_you_mean(cell_name, names) or f"cells: {', '.join(names) or 'none'}"
            raise InputError([error("INMATE-CELL", message, Location(file), hint=hint)])
        data = file_bytes_of(file)
        system, cell = matches[0]
        found.extend(inmate_diagnostics_of(system, cell, data, file))
    return found


# --- import: existing blobs (or ELF objects carrying them) -> YAML ---------------------------

ELF_MAGIC = b"\x7fELF"


@dataclass
class Imported:
    """YAML files to write (output name -> text) and what was noticed on the way."""
    outputs: dict[str, bytes]
    diagnostics: list[Diagnostic]


def parsed_input_of(path: Path):
    """A blob file, or an ELF object compiled from a C config, decoded."""
    from ..load.blob import parsed_blob_of
    from ..load.elf import blob_bytes_of_elf

    data = file_bytes_of(path)
    if data.startswith(ELF_MAGIC):
        data = blob_bytes_of_elf(data, str(path))
    return parsed_blob_of(data, str(path))


def imported_files_of(paths: Sequence[str | Path], output_dir: str | Path | None = None) -> Imported:
    """Import blobs together (so links between them are lifted) and prove each import by
    rebuilding it: a YAML that would not reproduce its blob byte for byte is reported.
    Inputs that cannot be decoded are reported and skipped; the others still import.
    Each file's header comment names its input relative to ``output_dir`` (where the
    file will be written), so the text does not depend on where the import ran."""
    import os
    from ..load.blob import blob_bytes_of
    from ..diagnostics import BlobError, warning
    from ..lift.blob_to_yaml import imported_documents_of
    from ..render.yaml_doc import yaml_text_of

    diagnostics: list[Diagnostic] = []
    blobs = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            raise InputError([error("IO-EMPTY", "a directory, not a blob: import takes .cell files "
                                    "or ELF objects", Location(str(raw)),
                                    hint=f"e.g. partcfg import {raw.rstrip('/') if isinstance(raw, str) else path}/*.cell")])
        if not path.is_file():
            raise InputError([error("IO-MISSING", f"no such file: {raw}", Location(str(raw)))])
        try:
            blob = parsed_input_of(path)
        except BlobError as exc:
            diagnostics.extend(exc.diagnostics)
            continue
        diagnostics.extend(blob.diagnostics)
        blobs.append(blob)
    documents = imported_documents_of(blobs)
    outputs: dict[str, bytes] = {}
    texts: dict[str, str] = {}
    for doc in documents:
        diagnostics.extend(doc.diagnostics)
        if doc.name in outputs:
            raise InputError([error("IMPORT-NAME-CLASH", f"two inputs would both be written to {doc.name}",
                                    Location(doc.source), hint="import them into different directories")])
        shown = None if output_dir is None else \
            Path(os.path.relpath(os.path.abspath(doc.source), os.path.abspath(output_dir))).as_posix()
        texts[doc.name] = yaml_text_of(doc, shown)
        outputs[doc.name] = texts[doc.name].encode("utf-8")
    rebuilt = _rebuilt_blobs_of(texts)
    for blob, doc in zip(blobs, documents):
        expected = blob_bytes_of(blob)
        again = rebuilt.get(doc.name)
        if again != expected:
            at = next((i for i, (a, b) in enumerate(zip(again or b"", expected)) if a != b),
                      min(len(again or b""), len(expected)))
            diagnostics.append(warning(
                "IMPORT-INEXACT", f"{doc.name} does not rebuild {blob.file} byte for byte "
                f"(first difference at offset {at:#x})", Location(blob.file),
                hint="please report this with the blob"))
    return Imported(outputs, sorted_diagnostics(diagnostics))


def _rebuilt_blobs_of(texts: dict[str, str]) -> dict[str, bytes]:
    """YAML name -> the blob ``partcfg build --force`` makes of it (in memory)."""
    from ..load.yaml_source import load_yaml_text

    documents = {}
    for name, text in texts.items():
        try:
            documents[name] = document_of(load_yaml_text(text, name))
        except ConfigError:
            continue
    by_cell = {id(cell): blob for cell, blob in cell_blobs_of(assembly_of(list(documents.values())))}
    return {name: by_cell[id(doc.cell)] for name, doc in documents.items()
            if doc.cell is not None and id(doc.cell) in by_cell}


def cell_blobs_of(assembly: Assembly) -> list[tuple[Cell, bytes]]:
    """Every cell of an assembly with its blob, systems first (root cell first), then the
    standalone cells; no validation (what ``build --force`` would write)."""
    result: list[tuple[Cell, bytes]] = []
    for system in assembly.systems:
        layout = layout_of_system(system)
        blobs = blobs_of_system(layout)
        result += [(c.cell, blobs[c.cell.name]) for c in layout.cells]
    result += [(cell, cell_payload_of(layout_of_cell(None, cell))) for cell in assembly.standalone]
    return result
