"""Orchestration of the flow for the commands: files -> load -> model -> check -> layout
-> render. Pure: it returns data (diagnostics, output bytes by relative path) and never
prints; writing files is left to ``atomic_write`` and sequencing a command's steps (and
its exit code) to the command's own module (``build``, ``check``, ...).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Callable, Iterator, Sequence

from ..gc_pause import collector_paused
from ..diagnostics import (ConfigError, Diagnostic, InputError, Location, did_you_mean, error,
                          sorted_diagnostics)
from ..load.files import MAX_IMAGE_BYTES, file_bytes_of
from ..load.inputs import yaml_files_of
from ..layout import layout_of_cell, layout_of_system
from ..load.yaml_source import load_yaml_file
from ..model.assembly import Assembly, System, assembly_of
from ..model.document import PartialDocumentError, document_of
from ..model.system import Cell, Document
from ..names import file_stem_of
from ..render import EMIT_KINDS
from ..render.blob import blobs_of_system, cell_payload_of
from ..model.scenarios import Scenario, declared_scenarios, output_stem_of
from ..check.validate import diagnostics_of_assembly



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
    pickled in a tenth of the time it took to parse), when cores are idle. Each share is
    handed on as soon as it and those before it are back, so the caller models the first
    files while the workers still read the rest."""
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
    from .parallel import worker_pool_of
    try:
        pool = worker_pool_of(jobs)
        results = pool.map(_loaded, shares)  # in order, each as it is ready
    except OSError:  # no processes to be had: read them here
        yield from _loaded(files)
        return
    with pool:
        for share in results:
            yield from share


def checked_files_of(paths: Sequence[str | Path], scenario: str | None = None,
                     parallel_load: bool = True) -> Checked:
    """Load every file (collecting all their problems), assemble systems and validate them
    (with ``scenario``, the whole-system rules of that scenario only). Raises InputError
    (exit 2) when a file cannot be read at all, or no system declares ``scenario``.
    ``parallel_load``: big trees may be read by worker processes (off inside a worker)."""
    files = yaml_files_of(paths)
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
    if scenario is not None:
        known = [name for system in assembly.systems for name in (system.documents[0].scenarios or {})]
        if scenario not in known:
            raise InputError([error(
                "CHECK-SCENARIO", f"no system of this call declares scenario {scenario!r}",
                hint=did_you_mean(scenario, known) or (f"scenarios: {', '.join(known)}" if known
                                                      else "the system file declares none"))])
    diagnostics.extend(assembly.diagnostics)
    diagnostics.extend(diagnostics_of_assembly(assembly, scenario))
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




def _location_of(where: Location | Callable[[], Location | None] | None) -> Location | None:
    return where() if callable(where) else where


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

    def name(self, what: str, name: str,
             where: Location | Callable[[], Location | None] | None) -> bool:
        """Check that the ``what`` (cell, link, system) ``name`` can be a file name; False
        (and a diagnostic) when it cannot. ``where`` may be a function, as for ``put``."""
        from ..names import file_stem_problem_of
        problem = file_stem_problem_of(name)
        if problem is None:
            return True
        if (what, name) not in self._named:
            self._named.add((what, name))
            self.clashes.append(error("BUILD-NAME-FILE", f"the {what} name {problem}",
                                      _location_of(where),
                                      hint=f"rename the {what}: letters, digits, '.', '_' and "
                                      "'-', not starting with '.'"))
        return False

    def directory(self, what: str, name: str,
                  where: Location | Callable[[], Location | None] | None) -> bool:
        """Claim the directory named after ``name``; False (and a diagnostic naming both)
        when another name already maps to it, exactly or ignoring case. ``where`` may be a
        function, as for ``put``."""
        folded = "dir:" + file_stem_of(name).casefold()
        if folded in self._by_folded:
            _, first_where, first_name = self._by_folded[folded]
            same = file_stem_of(first_name) == file_stem_of(name)
            here, first = _location_of(where), _location_of(first_where)
            self.clashes.append(error(
                "BUILD-NAME-CLASH", f"{what} {first_name!r} and {what} {name!r} would both be "
                f"written to " + (f"the directory {file_stem_of(name)}" if same else
                                  f"{file_stem_of(first_name)}/ and {file_stem_of(name)}/, one "
                                  "directory where case is ignored"),
                here, related=[first] if first != here else (),
                hint="rename one of them (file names keep only letters, digits, '.', '_' and "
                "'-', and some file systems ignore case)"))
            return False
        self._by_folded[folded] = (name, where, name)
        return True

    def put(self, rel: str, data: bytes, where: Location | Callable[[], Location | None] | None,
            same_ok: bool = False, origin: str | None = None) -> None:
        """``same_ok``: identical bytes at one path are one file (shared headers).
        ``origin`` says which name produced the path (for the clash message). ``where``
        may be a function giving the location: it is needed only for a clash, and finding
        a position composes the file's YAML node tree (see ``load``)."""
        from ..names import is_plain_relative_path
        if not is_plain_relative_path(rel):  # a backstop: names are checked before
            self.clashes.append(error("BUILD-NAME-FILE", f"output path {rel!r} would leave "
                                      "the output directory", _location_of(where)))
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
                here, first = _location_of(where), _location_of(first_where)
                self.clashes.append(error(
                    "BUILD-NAME-CLASH", who, here,
                    related=[first] if first is not None and first != here else (),
                    hint="rename one of them (file names keep only letters, digits, '.', '_' "
                    "and '-', and some file systems ignore case)"))
            return
        self._by_folded[folded] = (rel, where, origin)
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
    from ..names import printable_path_of
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

    from ..formats.binfmt import StructError
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

    for whole in checked.assembly.systems:
        named_at = partial(_system_location, whole)  # positions only for a clash
        if several and not (out.name("system", whole.name, named_at)
                            and out.directory("system", whole.name, named_at)):
            continue
        if not all([out.name("cell", c.name, partial(c.location, "name")) for c in whole.all_cells]
                   + [out.name("link", n, partial(lk.location, key=True))
                      for n, lk in whole.links.items()]):
            continue
        prefix = f"{file_stem_of(whole.name)}/" if several else ""
        sources = _sources_of_documents(whole.documents, names)
        where = partial(whole.root.location, "name")
        for part_index, (system, renamed) in enumerate(name_unique_parts_of(whole)):
            layout = layout_of_system(system)
            blobs = blobs_of_system(layout)
            produced = {f"{file_stem_of(cell.cell.name)}.cell": blobs[cell.cell.name] for cell in layout.cells}
            produced.update({**cspace_outputs_of(layout), **firmware_header_outputs_of(layout, sources)})
            if "c" in emit:
                produced.update(c_source_outputs_of(layout, sources))
            if "elf" in emit:
                machine = elf_target_of(system.arch, target, system.platform.location("arch"))
                for cell in layout.cells:
                    produced[f"{file_stem_of(cell.cell.name)}.o"] = elf_object_of(
                        blobs[cell.cell.name], c_identifier_of(cell.cell.name), machine)
            blob_of = {f"{output_stem_of(whole, c)}.cell": c for c in system.all_cells}
            for rel, data in produced.items():
                rel, own = _renamed_output(rel, renamed)
                if part_index and not own and not rel.startswith("include/"):
                    continue  # the root's and the unique cells' outputs come from the first part
                cell = blob_of.get(rel)
                out.put(prefix + rel, data, partial(cell.location, "name") if cell is not None else where,
                        same_ok=rel.startswith("include/"),
                        origin=f"cell {cell.name!r}" if cell is not None else None)
        scenarios = declared_scenarios(whole)
        if scenarios is not None:
            out.put(prefix + SCENARIOS_FILE, scenarios_file_text(whole, scenarios).encode("utf-8"), where)
    for cell in checked.assembly.standalone:
        if not out.name("cell", cell.name, partial(cell.location, "name")):
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


SCENARIOS_FILE = "scenarios.txt"


def scenarios_file_text(system: System, scenarios: list[Scenario]) -> str:
    """What build records for the runtime (which reads build artifacts only): one line per
    scenario, ``NAME: CELL-STEM CELL-STEM ...`` (the root first; stems of the ``.cell``
    files), in declaration order."""
    lines = ["# scenarios of system " + system.name + ": which cells run together (written by partcfg build)"]
    for s in scenarios:
        stems = [output_stem_of(system, c) for c in [system.root, *s.cells]]
        lines.append(f"{s.name}: {' '.join(stems)}")
    return "\n".join(lines) + "\n"


def name_unique_parts_of(system: System) -> list[tuple[System, dict[str, str]]]:
    """The system split so that no part has two cells of one name (alternatives may share
    one): part k holds the root, the cells whose name is unique (first part only) and the
    k-th cell of each shared name. With each part, shared name -> the stem that cell's
    outputs are written under (:func:`scenarios.output_stem_of`)."""
    by_name: dict[str, list[Cell]] = {}
    for c in system.cells:
        by_name.setdefault(c.name, []).append(c)
    shared = {n: cs for n, cs in by_name.items() if len(cs) > 1}
    if not shared:
        return [(system, {})]
    parts = []
    for k in range(max(len(cs) for cs in shared.values())):
        cells = [c for c in system.cells if (len(by_name[c.name]) == 1 and k == 0)
                 or (c.name in shared and by_name[c.name].index(c) == k)]
        renamed = {c.name: output_stem_of(system, c) for c in cells if c.name in shared}
        parts.append((replace(system, cells=cells), renamed))
    return parts


def _renamed_output(rel: str, renamed: dict[str, str]) -> tuple[str, bool]:
    """``rel`` with a shared cell name's stem replaced by its key's; True if it was."""
    for name, key in renamed.items():
        stem = file_stem_of(name)
        for tail in (".cell", ".c", ".o", "/"):
            if rel.startswith(stem + tail):
                return key + rel[len(stem):], True
    return rel, False


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
        data = file_bytes_of(file, MAX_IMAGE_BYTES, "inmate image")
        system, cell = matches[0]
        found.extend(inmate_diagnostics_of(system, cell, data, file))
    return found


# --- import: existing blobs (or ELF objects carrying them) -> YAML ---------------------------

@dataclass
class Imported:
    """YAML files to write (output name -> text) and what was noticed on the way."""
    outputs: dict[str, bytes]
    diagnostics: list[Diagnostic]


def imported_files_of(paths: Sequence[str | Path], output_dir: str | Path | None = None) -> Imported:
    """Import blobs together (so links between them are lifted) and prove each import by
    rebuilding it: a YAML that would not reproduce its blob byte for byte is reported.
    Inputs that cannot be decoded are reported and skipped; the others still import.
    Each file's header comment names its input relative to ``output_dir`` (where the
    file will be written), so the text does not depend on where the import ran."""
    import os
    from ..load.blob import blob_bytes_of
    from ..load.inputs import blob_files_of, blob_of_file
    from ..diagnostics import BlobError, warning
    from ..lift.blob_to_yaml import imported_documents_of
    from ..render.yaml_doc import yaml_text_of

    diagnostics: list[Diagnostic] = []
    blobs = []
    for path in blob_files_of(paths):
        try:
            blob = blob_of_file(path)
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
    for name, text in _with_inferred_scenarios(texts).items():
        texts[name] = text
        outputs[name] = text.encode("utf-8")
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


_PLAIN_YAML_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.@-]*\Z")
INFERRED_SCENARIOS_COMMENT = """\
# Scenarios inferred by partcfg import: cells that share a CPU, a peer slot on an ivshmem
# link, or a name cannot run at the same time (the hypervisor refuses the second), so they
# are alternatives. Each scenario starts from the first cell (file order) not yet in one
# and takes every other cell that conflicts with none already taken; it is named after
# its first cell. The root cell is in every scenario.
"""


def _yaml_name(name: str) -> str:
    import json
    return name if _PLAIN_YAML_NAME.match(name) and name not in ("null", "true", "false") \
        else json.dumps(name)


def _with_inferred_scenarios(texts: dict[str, str]) -> dict[str, str]:
    """System file name -> its text with ``scenarios:`` appended, for each imported system
    whose cells are not all compatible (:func:`scenarios.inferred_scenarios`)."""
    from ..model.scenarios import inferred_scenarios

    documents = _documents_of_texts(texts)
    result = {}
    for system in assembly_of(list(documents.values())).systems:
        inferred = inferred_scenarios(system)
        file = next((n for n, d in documents.items() if d is system.documents[0]), None)
        if inferred is None or file is None:
            continue
        lines = [f"  {_yaml_name(s)}: [{', '.join(_yaml_name(c) for c in cells)}]"
                 for s, cells in inferred.items()]
        result[file] = texts[file].rstrip("\n") + "\n\n" + INFERRED_SCENARIOS_COMMENT \
            + "scenarios:\n" + "\n".join(lines) + "\n"
    return result


def _documents_of_texts(texts: dict[str, str]) -> dict[str, Document]:
    """YAML name -> its document, for the imported texts that read as one."""
    from ..load.yaml_source import load_yaml_text

    documents = {}
    for name, text in texts.items():
        try:
            documents[name] = document_of(load_yaml_text(text, name))
        except ConfigError:
            continue
    return documents


def _rebuilt_blobs_of(texts: dict[str, str]) -> dict[str, bytes]:
    """YAML name -> the blob ``partcfg build --force`` makes of it (in memory)."""
    documents = _documents_of_texts(texts)
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
