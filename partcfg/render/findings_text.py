"""Render layer: diagnostics as text for people and as JSON for machines.

Text: ``file:line:col: severity[RULE]: message``, the source line with a caret under the
column, every related location, and the hint. JSON: a stable list of objects with rule,
severity, file, line, column, message, hint and related locations.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Callable, Iterable, Sequence

from ..diagnostics import Diagnostic, Severity

LineOf = Callable[[str, int], "str | None"]


EXCERPT_WIDTH = 120


def _excerpt_of(source: str, column: int) -> tuple[str, int]:
    """At most ``EXCERPT_WIDTH`` characters of a source line around ``column`` (a line of
    80,000 characters, once per diagnostic, would flood the terminal), and the column in it."""
    if len(source) <= EXCERPT_WIDTH:
        return source, column
    start = max(0, min(column - EXCERPT_WIDTH // 2, len(source) - EXCERPT_WIDTH))
    excerpt = source[start:start + EXCERPT_WIDTH]
    prefix = "..." if start else ""
    suffix = "..." if start + EXCERPT_WIDTH < len(source) else ""
    return prefix + excerpt + suffix, column - start + len(prefix)


def text_report_of(diagnostics: Sequence[Diagnostic], line_of: LineOf | None = None) -> str:
    """Human-readable report; ``line_of(file, line)`` supplies source excerpts."""
    blocks = []
    for d in diagnostics:
        where = f"{d.location}: " if d.location else ""
        lines = [f"{where}{d.severity.value}[{d.rule}]: {d.message}"]
        loc = d.location
        if loc and loc.line and line_of is not None:
            source = line_of(loc.file, loc.line)
            if source is not None:
                gutter = str(loc.line)
                source, column = _excerpt_of(source.rstrip(), max(loc.column - 1, 0))
                lines.append(f" {gutter} | {source}")
                lines.append(f" {' ' * len(gutter)} | {' ' * column}^")
        for other in d.related:
            lines.append(f"  = see also: {other}")
        if d.hint:
            lines.append(f"  = hint: {d.hint}")
        blocks.append("\n".join(lines))
    return "\n".join(blocks)


def summary_of(diagnostics: Iterable[Diagnostic]) -> str:
    counts = Counter(d.severity for d in diagnostics)
    parts = []
    for severity in (Severity.ERROR, Severity.WARNING, Severity.INFO):
        n = counts.get(severity, 0)
        if n or severity is Severity.ERROR:
            parts.append(f"{n} {severity.value}{'' if n == 1 else 's'}")
    return ", ".join(parts)


def json_report_of(diagnostics: Sequence[Diagnostic]) -> str:
    return json.dumps([d.as_dict() for d in diagnostics], indent=2, sort_keys=False) + "\n"


# --- waived and baselined findings (triage.py) ------------------------------------------------

def triage_summary_of(triage) -> str:
    """The summary of the findings that count, then how many were waived and, with a
    baseline, how many are unchanged from it and how many of its findings are gone."""
    text = summary_of(triage.counted)
    waived = len(triage.waived)
    if waived:
        text += f"; {waived} waived"
    if triage.baseline_used:
        text += (f"; baseline: {len(triage.counted)} new, {len(triage.unchanged)} unchanged, "
                 f"{len(triage.absent)} absent")
    return text


def accepted_text_of(triage, line_of: LineOf | None = None) -> str:
    """``--show-waived``: every waived finding with its waiver and reason, then every
    finding the baseline holds (unchanged)."""
    blocks = []
    for f in triage.waived:
        w = f.waiver
        why = f": {w.reason}" if w.reason else " (no reason given)"
        blocks.append(f"waived: {text_report_of([f.diagnostic], line_of)}\n  = waived by {w.describe()}{why}")
    for f in triage.unchanged:
        blocks.append(f"in baseline: {text_report_of([f.diagnostic], line_of)}")
    return "\n".join(blocks)


def triage_json_of(triage, show_waived: bool = False) -> str:
    """The JSON report of the findings that count (the same list as without waivers);
    with ``show_waived`` followed by the waived findings, each with a ``waived`` object
    (kind, by, reason), and the baselined ones with ``"baseline": "unchanged"``."""
    items = [d.as_dict() for d in triage.counted]
    if show_waived:
        for f in triage.waived:
            item = f.diagnostic.as_dict()
            item["waived"] = {"kind": f.waiver.kind, "by": f.waiver.describe(), "reason": f.waiver.reason}
            items.append(item)
        for f in triage.unchanged:
            item = f.diagnostic.as_dict()
            item["baseline"] = "unchanged"
            items.append(item)
    return json.dumps(items, indent=2, sort_keys=False) + "\n"
