"""Helpers for the tests that run commands on copies of the workflow fixtures
(``tests/fixtures/workflow``: ``clean``, a two-cell system with no findings; ``conflict``,
two cells sharing CPU 2 and overlapping RAM; ``warn``): a copy to edit, and a checked
text edit that fails when the text to replace is not there (so a fixture change cannot
silently turn an edit into a no-op)."""

from __future__ import annotations

import shutil
from pathlib import Path

WORKFLOW = Path(__file__).resolve().parents[1] / "fixtures" / "workflow"
CLEAN = WORKFLOW / "clean"
CONFLICT = WORKFLOW / "conflict"
WARN = WORKFLOW / "warn"


def workflow_copy(tmp_path: Path, fixture: Path = CLEAN, name: str = "cells") -> Path:
    """A copy of a workflow fixture in ``tmp_path / name``."""
    return Path(shutil.copytree(fixture, tmp_path / name))


def edited(path: Path, old: str, new: str, count: int = -1) -> None:
    """Replace ``old`` by ``new`` in the file (the first ``count`` times; all by default);
    ``old`` must be there."""
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} is not in {path}"
    path.write_text(text.replace(old, new, count), encoding="utf-8")
