"""The ``diff`` command: what changed in meaning between two versions (YAML files, blobs,
or directories of either).

Orchestration only: ``semantic_diff`` reads both sides and compares them, ``render``
says the changes. Returns a :class:`DiffResult`; never prints.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..diagnostics import Diagnostic, Severity, sorted_diagnostics
from .choices import TextOrJson
from .outcome import EXIT_INVALID, EXIT_OK


@dataclass(frozen=True)
class DiffOptions:
    format: TextOrJson = TextOrJson.text


@dataclass
class DiffResult:
    exit_code: int           # 0: nothing changed, 1: something did
    text: str                # the changes, for standard output as is
    notes: list[Diagnostic]  # what reading the sides noticed (e.g. an inexact import)


def diff_command(old: Path, new: Path, options: DiffOptions) -> DiffResult:
    from ..render.diff_text import diff_json_of, diff_text_of
    from ..semantic_diff import changes_of, side_of

    before, after = side_of(old), side_of(new)
    # e.g. a blob that imports only inexactly: the diff may miss what was lost
    notes = [d for side in (before, after) for d in side.diagnostics if d.severity is not Severity.INFO]
    changes = changes_of(before.assembly, after.assembly)
    if options.format is TextOrJson.json:
        text = diff_json_of(changes, str(old), str(new))
    else:
        text = diff_text_of(changes)
    return DiffResult(EXIT_INVALID if changes else EXIT_OK, text, sorted_diagnostics(notes))
