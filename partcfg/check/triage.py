"""Validation stage, the last step before printing: which findings of a run count.

The one call the CLI makes after a check or build (``triage_of``): project severity
overrides and waivers (``waivers.py``), then the comparison with a baseline
(``baseline.py``). Returns every finding with what happened to it: waived (by which
waiver), or new / unchanged against the baseline, plus the baseline findings that are
gone (absent). Only counted findings (not waived, not unchanged) decide the exit code.
Pure: returns data; the CLI prints and writes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from .baseline import (ABSENT, UNCHANGED, Entry, baseline_bytes_of, compared_with,
                       diagnostic_of_entry, entries_of)
from ..diagnostics import Diagnostic, sorted_diagnostics
from .waivers import ProjectSettings, Waiver, waived_of


@dataclass(frozen=True)
class Finding:
    diagnostic: Diagnostic
    waiver: Waiver | None = None
    state: str | None = None           # against a baseline: new or unchanged
    fingerprint: str | None = None


@dataclass
class Triage:
    findings: list[Finding]
    absent: list[Finding] = field(default_factory=list)   # baseline findings no longer found
    baseline_used: bool = False
    root: Path = field(default_factory=Path.cwd)
    recorded: list[Entry] = field(default_factory=list)   # the unwaived findings, for --write-baseline

    @property
    def counted(self) -> list[Diagnostic]:
        """What is listed and decides the exit code: not waived, not in the baseline."""
        return [f.diagnostic for f in self.findings if f.waiver is None and f.state != UNCHANGED]

    @property
    def waived(self) -> list[Finding]:
        return [f for f in self.findings if f.waiver is not None]

    @property
    def unchanged(self) -> list[Finding]:
        return [f for f in self.findings if f.waiver is None and f.state == UNCHANGED]

    def baseline_bytes(self) -> bytes:
        return baseline_bytes_of(self.recorded)


def triage_of(diagnostics: Sequence[Diagnostic], files: Sequence[str | Path],
              settings: ProjectSettings | None = None, ignore: Sequence[str] = (),
              baseline: Sequence[Entry] | None = None, fingerprints: bool = False,
              root: Path | None = None) -> Triage:
    """Triage the ``diagnostics`` of a run over ``files``. ``fingerprints``: compute them
    (SARIF, --write-baseline) even without a ``baseline``. ``root``: what fingerprinted
    paths are relative to (default: the project root, else the working directory)."""
    root = root or (settings.root if settings else Path.cwd())
    outcome = waived_of(diagnostics, [str(f) for f in files], settings, ignore)
    counted = sorted_diagnostics(outcome.counted)
    order = {id(d): n for n, d in enumerate(sorted_diagnostics([w.diagnostic for w in outcome.waived]))}
    waived = sorted(outcome.waived, key=lambda w: order[id(w.diagnostic)])
    need = fingerprints or baseline is not None
    entries = entries_of(counted, root) if need else []
    waived_entries = entries_of([w.diagnostic for w in waived], root) if need else []
    states: list[str | None] = [None] * len(counted)
    waived_states: list[str | None] = [None] * len(waived)
    absent: list[Finding] = []
    if baseline is not None:
        compared = compared_with(entries, baseline)
        # waived findings are matched with what is left, so that every SARIF result of a
        # run compared with a baseline has a state (a baselined finding waived since is
        # unchanged, not absent)
        compared_waived = compared_with(waived_entries, compared.absent)
        states, waived_states = list(compared.states), list(compared_waived.states)
        absent = [Finding(diagnostic_of_entry(e, root), None, ABSENT, e.fingerprint)
                  for e in compared_waived.absent]
    findings = [Finding(d, None, states[i], entries[i].fingerprint if need else None)
                for i, d in enumerate(counted)]
    findings += [Finding(w.diagnostic, w.waiver, waived_states[i],
                         waived_entries[i].fingerprint if need else None)
                 for i, w in enumerate(waived)]
    return Triage(findings, absent, baseline is not None, root, entries)

