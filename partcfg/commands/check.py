"""The ``check`` command: validate only, write nothing (but an asked-for baseline).

Orchestration only: a plain check of a big tree goes through ``parallel``; with inmate
images, a board or a scenario (and whenever the parallel path hands back) through
``pipeline``, then the inmate and board checks, then triage (waivers, baseline).
Returns a :class:`CheckResult`; never prints.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

from ..check.triage import Triage
from ..diagnostics import InputError, sorted_diagnostics
from .outcome import EXIT_INVALID, EXIT_OK, failed, triaged


@dataclass(frozen=True)
class CheckOptions:
    werror: bool = False              # warnings fail the check too
    inmate: Sequence[str] = ()        # CELL=FILE: inmate images to check against their cells
    ignore: Sequence[str] = ()        # rules waived in this run
    baseline: Path | None = None      # fail only on findings not in this baseline
    write_baseline: Path | None = None   # record today's findings there (and pass)
    scenario: str | None = None       # judge only this scenario
    board: Path | None = None         # also check against this board (.dtb, x86 snapshot)
    bootargs: str | None = None       # with board: the root cell's kernel command line
    fingerprints: bool = False        # compute finding fingerprints (SARIF) anyway


@dataclass
class CheckResult:
    exit_code: int
    triage: Triage
    baseline_written: Path | None = None   # where --write-baseline recorded triage.recorded
    # the baseline could not be written: an I/O error of its own, reported as such (as
    # text, whatever report format the findings were asked in)
    write_failure: InputError | None = None


def check_command(files: Sequence[str | Path], options: CheckOptions, *,
                  on_progress: Callable[[int, int], None] | None = None) -> CheckResult:
    """Validate ``files`` (and inmates, a board, a scenario as the options ask) and triage
    the findings. ``on_progress(done, total)`` is called as systems of a big tree finish."""
    from .parallel import run_tree
    from .pipeline import checked_files_of, inmate_diagnostics_of_specs

    tree = None
    board_facts = None
    if options.board is not None:
        from ..board.read import board_of
        board_facts = board_of(options.board, options.bootargs)
    if not options.inmate and board_facts is None and options.scenario is None:
        # many systems: in shares on every core (None: the serial path)
        tree = run_tree(files, build=False, on_progress=on_progress)
    if tree is not None:
        diagnostics = tree.diagnostics
    else:
        checked = checked_files_of(files, scenario=options.scenario)
        diagnostics = checked.diagnostics
    if options.inmate:
        diagnostics = sorted_diagnostics(diagnostics + inmate_diagnostics_of_specs(checked, options.inmate))
    if board_facts is not None:
        from ..board.checks import diagnostics_on_board
        diagnostics = sorted_diagnostics(diagnostics + diagnostics_on_board(checked.assembly.systems,
                                                                            board_facts))
    triage = triaged(diagnostics, tree.files if tree is not None else checked.files, options.ignore,
                     options.baseline,
                     fingerprints=options.fingerprints or options.write_baseline is not None)
    if options.write_baseline is not None:
        from .atomic_write import write_outputs
        try:
            write_outputs(options.write_baseline.parent, {options.write_baseline.name: triage.baseline_bytes()})
        except InputError as exc:
            return CheckResult(exc.exit_code, triage, write_failure=exc)
        return CheckResult(EXIT_OK, triage, options.write_baseline)
    return CheckResult(EXIT_INVALID if failed(triage.counted, options.werror) else EXIT_OK, triage)
