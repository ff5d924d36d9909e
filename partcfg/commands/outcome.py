"""Orchestration helpers every command shares: the exit codes of an outcome, how a run's
findings are triaged (project settings, waivers, a baseline) and whether they fail it.

Exit codes: 0 ok (or warnings only), 1 invalid configuration, 2 usage or I/O error (the
codes of errors live on their classes: ``ConfigError.exit_code``, ``InputError.exit_code``;
an internal error has ``diagnostics.INTERNAL_ERROR_EXIT_CODE``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from ..check.triage import Triage
from ..diagnostics import ConfigError, Diagnostic, InputError, Severity, has_errors

EXIT_OK, EXIT_INVALID, EXIT_USAGE = 0, ConfigError.exit_code, InputError.exit_code


def failed(diagnostics: Sequence[Diagnostic], werror: bool) -> bool:
    """Errors fail a run; with --werror, warnings do too."""
    return has_errors(diagnostics) or (werror and any(d.severity is Severity.WARNING for d in diagnostics))


def exit_code_of(diagnostics: Sequence[Diagnostic]) -> int:
    """1 when any finding is an error, else 0."""
    return EXIT_INVALID if has_errors(diagnostics) else EXIT_OK


def triaged(diagnostics: list[Diagnostic], files: Sequence[str | Path], ignore: Sequence[str],
            baseline: Path | None = None, fingerprints: bool = False) -> Triage:
    """Project settings (of the working directory), waivers and the baseline applied to a
    run's findings (``check.triage``)."""
    from ..check.baseline import baseline_of
    from ..check.triage import triage_of
    from ..check.waivers import project_settings_of

    settings = project_settings_of(Path.cwd())
    entries = baseline_of(baseline) if baseline is not None else None
    return triage_of(diagnostics, files, settings, list(ignore), entries, fingerprints)
