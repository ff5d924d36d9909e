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
