"""The ``run`` command: run the built system(s), one process per cell and a supervisor
as the hypervisor, and exercise every link (``runtime``, which reads the build directory
only). Returns a :class:`RunResult`; never prints."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .outcome import EXIT_INVALID, EXIT_OK


@dataclass(frozen=True)
class RunOptions:
    seconds: float = 1.0         # duration of the timed traffic (of each figure with bench)
    bench: bool = False          # measure rates, throughput and round-trip time per link
    scenario: str | None = None  # only this scenario (default: each one the build recorded)
    programs: dict[str, str] = field(default_factory=dict)  # CELL -> COMMAND run as that cell


@dataclass
class RunResult:
    exit_code: int               # 0 only when everything held
    report: object               # runtime.run_report.RunReport


def run_command(build_dir: Path, options: RunOptions) -> RunResult:
    from ..runtime.launcher import run_build_dir

    report = run_build_dir(build_dir, seconds=options.seconds, bench=options.bench,
                           scenario=options.scenario, programs=options.programs)
    return RunResult(EXIT_OK if report.held else EXIT_INVALID, report)
