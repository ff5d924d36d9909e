"""Orchestration of the flow for the CLI: files -> load -> model -> validate -> layout ->
render. Pure: it returns data (diagnostics, output bytes by relative path) and never
prints; writing files is left to ``output.py`` and choosing exit codes to ``cli.py``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from .collector import collector_paused
from .diagnostics import (ConfigError, Diagnostic, InputError, Location, error,
                          sorted_diagnostics)
from .files import MAX_IMAGE_BYTES, file_bytes_of
from .layout import layout_of_cell, layout_of_system
from .load import load_yaml_file
from .model import Assembly, Cell, Document, assembly_of, document_of
from .names import file_stem_of
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
    with collector_paused():  # the whole load: files accumulate long-lived objects
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




class _OutputSet:
    """Relative output path -> bytes, refusing a second, different file at the same path,
    also where two paths differ only by case (one file on case-insensitive file systems),
    and any name that cannot be a file name below the output directory."""

    def __init__(self) -> None:
        self.outputs: dict[str, bytes] = {}
        self.clashes: list[Diagnostic] = []
        self._by_folded: dict[str, tuple[str, Location | None, str | None]] = {}
        self._told: set[tuple[str, str]] = set()
        self._named: set[tuple[str, str]] = set()

    def name(self, what: str, name: str, where: Location | None) -> bool:
        """Check that the ``what`` (cell, link, system) ``name`` can be a file name; False
        (and a diagnostic) when it cannot."""
        from .names import file_stem_problem_of
        problem = file_stem_problem_of(name)
        if problem is None:
            return True
        if (what, name) not in self._named:
            self._named.add((what, name))
            self.clashes.append(error("BUILD-NAME-FILE", f"the {what} name {problem}", where,
                                      hint=f"rename the {what}: letters, digits, '.', '_' and "
                                      "'-', not starting with '.'"))
        return False

    def directory(self, what: str, name: str, where: Location | None) -> bool:
        """Claim the directory named after ``name``; False (and a diagnostic naming both)
        when another name already maps to it, exactly or ignoring case."""
        folded = "dir:" + file_stem_of(name).casefold()
        if folded in self._by_folded:
            _, first_where, first_name = self._by_folded[folded]
            same = file_stem_of(first_name) == file_stem_of(name)
            self.clashes.append(error(
                "BUILD-NAME-CLASH", f"{what} {first_name!r} and {what} {name!r} would both be "
                f"written to " + (f"the directory {file_stem_of(name)}" if same else
                                  f"{file_stem_of(first_name)}/ and {file_stem_of(name)}/, one "
                                  "directory where case is ignored"),
                where, related=[first_where] if first_where != where else (),
                hint="rename one of them (file names keep only letters, digits, '.', '_' and "
                "'-', and some file systems ignore case)"))
            return False
        self._by_folded[folded] = (name, where, name)
        return True

    def put(self, rel: str, data: bytes, where: Location | None, same_ok: bool = False,
            origin: str | None = None) -> None:
        """``same_ok``: identical bytes at one path are one file (shared headers).
        ``origin`` says which name produced the path (for the clash message)."""
        from .names import is_plain_relative_path
        if not is_plain_relative_path(rel):  # a backstop: names are checked before
            self.clashes.append(error("BUILD-NAME-FILE", f"output path {rel!r} would leave "
                                      "the output directory", where))
            return
        folded = rel.casefold()
        if folded in self._by_folded:
            first_rel, first_where, first_origin = self._by_folded[folded]
            if first_rel == rel and same_ok and self.outputs[rel] == data:
                return
            key = (first_origin or first_rel, origin or rel)
            if key not in self._told:
                self._told.add(key)
                how = "the same file" if first_rel == rel else \
                    f"{first_rel} and {rel}, one file where case is ignored"
                who = (f"{first_origin} and {origin} would both be written to {how}"
                       if first_origin and origin and first_origin != origin
                       else f"two outputs would be written to {how}")
                self.clashes.append(error(
                    "BUILD-NAME-CLASH", who, where,
                    related=[first_where] if first_where != where else (),
                    hint="rename one of them (file names keep only letters, digits, '.', '_' "
                    "and '-', and some file systems ignore case)"))
            return
        self._by_folded[folded] = (rel, where, origin)
        self.outputs[rel] = data

    def checked_outputs(self) -> dict[str, bytes]:
        if self.clashes:
            raise ConfigError(self.clashes)
        return self.outputs


# --- every output of a build (issue 3: firmware-facing outputs) -----------------------------

EMIT_KINDS = ("c", "elf")


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
    from .names import printable_path_of
    return {n: printable_path_of(Path(os.path.relpath(a, common)).as_posix())
            for n, a in zip(names, absolute)}


def _sources_of_documents(documents, names: dict[str, str]) -> list[str]:
    files = []
    for doc in documents:
        file = doc.source.doc.file if doc.source else None
        if file is not None and names.get(file, file) not in files:
            files.append(names.get(file, file))
    return sorted(files)


def elf_target_of(arch: int, target: str | None, where: Location | None) -> str:
    """The ``--target`` for an ELF object: the one given, else the architecture's own."""
    from .render.elf import DEFAULT_TARGETS, MACHINES
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


def _system_location(system) -> Location | None:
    """Where a system is named: its file's ``system:`` (else its root cell's name)."""
    source = system.root.source
    return source.doc.location(("system",)) if source else system.root.location("name")


def build_outputs_of(checked: Checked, emit: set[str] | frozenset[str] = frozenset(),
                     target: str | None = None, several: bool | None = None,
                     source_names: dict[str, str] | None = None) -> dict[str, bytes]:
    """See :func:`_build_outputs_of`. A value the configuration format cannot hold (reached
    only with ``build --force``, past validation's errors) is a ConfigError, not a crash:
    nothing is packed half-way and nothing is written."""
    import struct

    from .binfmt import StructError
    try:
        return _build_outputs_of(checked, emit, target, several, source_names)
    except (StructError, OverflowError, struct.error, MemoryError) as exc:
        raise ConfigError([error(
            "BUILD-UNREPRESENTABLE", f"the outputs cannot be written: a value does not fit the "
            f"configuration format ({str(exc)[:200]})", Location(str(checked.files[0])) if
            checked.files else None,
            hint="fix the errors validation reports; --force writes only what the format can hold")]) from None


def _build_outputs_of(checked: Checked, emit: set[str] | frozenset[str] = frozenset(),
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
    from .names import c_identifier_of
    from .render.cheader import firmware_header_outputs_of
    from .render.csource import c_source_of, c_source_outputs_of, jailhouse_headers_of
    from .render.cspace import cspace_outputs_of
    from .render.elf import elf_object_of

    unknown = set(emit) - set(EMIT_KINDS)
    if unknown:
        raise InputError([error("BUILD-EMIT", f"unknown output kind {sorted(unknown)[0]!r}",
                                hint=f"use --emit {' or --emit '.join(EMIT_KINDS)}")])
    if several is None:
        several = len(checked.assembly.systems) > 1
    names = source_names_of(checked.files) if source_names is None else source_names
    out = _OutputSet()

    for system in checked.assembly.systems:
        where = _system_location(system)
        if several and not (out.name("system", system.name, where)
                            and out.directory("system", system.name, where)):
            continue
        if not all([out.name("cell", c.name, c.location("name")) for c in system.all_cells]
                   + [out.name("link", n, lk.location(key=True)) for n, lk in system.links.items()]):
            continue
        prefix = f"{file_stem_of(system.name)}/" if several else ""
        layout = layout_of_system(system)
        blobs = blobs_of_system(layout)
        for cell in layout.cells:
            out.put(f"{prefix}{file_stem_of(cell.cell.name)}.cell", blobs[cell.cell.name],
                    cell.cell.location("name"), origin=f"cell {cell.cell.name!r}")
        sources = _sources_of_documents(system.documents, names)
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
        if not out.name("cell", cell.name, cell.location("name")):
            continue
        layout = layout_of_cell(None, cell)
        stem = file_stem_of(cell.name)
        blob = cell_payload_of(layout)
        origin = f"cell {cell.name!r}"
        out.put(f"{stem}.cell", blob, cell.location("name"), origin=origin)
        if "c" in emit:
            sources = [names.get(cell.source.doc.file, cell.source.doc.file)] if cell.source else []
            out.put(f"{stem}.c", c_source_of(layout, None, sources).encode("utf-8"),
                    cell.location("name"), origin=origin)
            for rel, text in jailhouse_headers_of().items():
                out.put(rel, text.encode("utf-8"), None, same_ok=True)
        if "elf" in emit:
            machine = elf_target_of(layout.arch, target, cell.location("arch"))
            out.put(f"{stem}.o", elf_object_of(blob, c_identifier_of(cell.name), machine),
                    cell.location("name"), origin=origin)
    return out.checked_outputs()


def inmate_diagnostics_of_specs(checked: Checked, specs: Sequence[str]) -> list[Diagnostic]:
    """``check --inmate CELL=FILE``: the problems of running each image in its cell
    (``CELL`` may be ``SYSTEM/CELL`` when several systems have a cell of that name)."""
    from .diagnostics import did_you_mean
    from .inmate import inmate_diagnostics_of

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
        data = file_bytes_of(file, MAX_IMAGE_BYTES, "inmate image")
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
    from .blobread import parsed_blob_of
    from .elfread import blob_bytes_of_elf

    data = file_bytes_of(path, MAX_IMAGE_BYTES, "blob or ELF object")
    if data.startswith(ELF_MAGIC):
        data = blob_bytes_of_elf(data, str(path))
    return parsed_blob_of(data, str(path))


def imported_files_of(paths: Sequence[str | Path]) -> Imported:
    """Import blobs together (so links between them are lifted) and prove each import by
    rebuilding it: a YAML that would not reproduce its blob byte for byte is reported.
    Inputs that cannot be decoded are reported and skipped; the others still import."""
    from .blobread import blob_bytes_of
    from .diagnostics import BlobError, warning
    from .imports import imported_documents_of
    from .render.yaml_doc import yaml_text_of

    diagnostics: list[Diagnostic] = []
    blobs = []
    for raw in paths:
        path = Path(raw)
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
        texts[doc.name] = yaml_text_of(doc)
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
    from .load import load_yaml_text

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
