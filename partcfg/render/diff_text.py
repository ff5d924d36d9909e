"""Render layer: a semantic diff (``partcfg diff``) as text for people and JSON for tools.

Text: the changes grouped by system, one line each, marked ``+`` (added or gained), ``-``
(removed or lost) or ``~`` (changed), then a one-line count. JSON: an object with the two
sides and the list of changes, each with its system, cell, kind, text and the facts.
"""

from __future__ import annotations

import json
from typing import Sequence

from ..semantic_diff import Change


def diff_text_of(changes: Sequence[Change]) -> str:
    if not changes:
        return "no change in meaning\n"
    lines: list[str] = []
    current = None
    for c in changes:
        if c.system != current:
            current = c.system
            lines.append(f"system {c.system}:" if c.system else "standalone cells:")
        lines.append(f"  {c.sign} {c.text}")
    n = len(changes)
    lines.append(f"{n} change{'s' if n != 1 else ''} in meaning")
    return "\n".join(lines) + "\n"


def diff_json_of(changes: Sequence[Change], old: str, new: str) -> str:
    return json.dumps({"old": old, "new": new, "changed": bool(changes),
                       "changes": [c.as_dict() for c in changes]}, indent=2) + "\n"
