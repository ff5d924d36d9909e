"""The ``build`` command: validate the system(s) and write every output (blobs, config
spaces, firmware headers; with ``emit`` also C sources or ELF objects), or with
``check`` compare them with what an output directory holds.

Orchestration only: big trees go through ``parallel`` (every core), everything else, and
every tree the parallel path hands back, through ``pipeline``; ``force``, ``check`` and
``werror`` are sequenced here. Returns a :class:`BuildResult`; never prints.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

from ..check.triage import Triage
from ..diagnostics import ConfigError, Diagnostic, sorted_diagnostics
from .outcome import EXIT_INVALID, EXIT_OK, failed, triaged

#: what a build came to (BuildResult.outcome)
REFUSED = "refused"                  # findings fail the build: nothing written
UNREPRESENTABLE = "unrepresentable"  # --force past errors, but the format cannot hold a value
CHECKED = "checked"                  # --check: compared with the output directory
WRITTEN = "written"


@dataclass(frozen=True)
class BuildOptions:
    output: Path = Path("build")
    force: bool = False          # write outputs even when validation fails
    check: bool = False          # write nothing; list the outputs that differ
    werror: bool = False         # warnings fail the build too
    emit: frozenset[str] = frozenset()   # extra output kinds (render.EMIT_KINDS)
    target: str | None = None    # machine of ELF objects (render.elf.MACHINES)
    ignore: Sequence[str] = ()   # rules waived in this run


@dataclass
class BuildResult:
    exit_code: int
    outcome: str
    triage: Triage
    outputs: dict[str, bytes] = field(default_factory=dict)
    written: list[Path] = field(default_factory=list)
    stale: list[tuple[str, str]] = field(default_factory=list)   # (relative path, why), --check
    # UNREPRESENTABLE: the findings together with what the format could not hold
    unrepresentable: list[Diagnostic] = field(default_factory=list)


def build_command(files: Sequence[str | Path], options: BuildOptions, *,
                  on_progress: Callable[[int, int], None] | None = None) -> BuildResult:
    """Validate ``files`` and write (or with ``options.check`` compare) their outputs.
    ``on_progress(done, total)`` is called as systems of a big tree finish."""
    from .atomic_write import stale_outputs_of, write_outputs
    from .parallel import run_tree
    from .pipeline import build_outputs_of, checked_files_of

    # many systems: in shares on every core (None: the serial path, e.g. on any error)
    tree = None if options.force else run_tree(files, build=True, emit=options.emit,
                                               target=options.target, on_progress=on_progress)
    if tree is not None:
        diagnostics, outputs = tree.diagnostics, tree.outputs or {}
    else:
        checked = checked_files_of(files)
        diagnostics = checked.diagnostics
    triage = triaged(diagnostics, tree.files if tree is not None else checked.files, options.ignore)
    diagnostics = triage.counted   # waived findings neither fail nor stop a build
    failing = failed(diagnostics, options.werror)
    if failing and (options.check or not options.force):
        return BuildResult(EXIT_INVALID, REFUSED, triage)
    if tree is None:
        try:
            outputs = build_outputs_of(checked, emit=options.emit, target=options.target)
        except ConfigError as exc:
            return BuildResult(EXIT_INVALID, UNREPRESENTABLE, triage,
                               unrepresentable=sorted_diagnostics(diagnostics + exc.diagnostics))
    if options.check:
        stale = stale_outputs_of(options.output, outputs)
        return BuildResult(EXIT_INVALID if stale else EXIT_OK, CHECKED, triage, outputs, stale=stale)
    written = write_outputs(options.output, outputs)
    return BuildResult(EXIT_INVALID if failing else EXIT_OK, WRITTEN, triage, outputs, written)
