"""Validation stage, after the waivers: baselines, the findings a project had yesterday.

``partcfg check --write-baseline FILE`` records the findings of today; ``--baseline FILE``
then fails only on findings that are not in it. A finding is recognised by a
fingerprint that survives unrelated edits and line moves: a hash of

* the rule id,
* the file, relative to the project root (the directory of the pyproject.toml holding
  ``[tool.partcfg]``, else the working directory),
* the YAML node path of the finding's location, with list items named by their ``name``
  (or ``link``) instead of their index: ``cell.memory[ram].flags``,
* the message with its numbers left out (region indices ``#3``, addresses and counts
  move when other regions are added); quoted names are kept.

Two findings with the same fingerprint are told apart by count: a baseline holding one
and a run finding two makes one of them new. Pure: returns data; reading the input files
(for node paths) and the baseline goes through the callables and functions here, writing
is left to the CLI.

The baseline file is JSON, deterministic (sorted, no time stamps) and versioned::

    {"partcfg-baseline": 1,
     "findings": [{"rule": "...", "file": "<relative path>", "node": "<node path>",
                   "line": 5, "column": 9, "severity": "...", "message": "...",
                   "fingerprint": "<32 hex digits>"}, ...]}

sorted by file, rule, node path and fingerprint.

Only ``fingerprint`` decides; the other fields say what was accepted, and give the
location SARIF reports for an ``absent`` finding.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import yaml

from ..diagnostics import ConfigError, Diagnostic, InputError, Location, Severity, error
from ..load.bounded import TooLarge, bounded_bytes_of

BASELINE_VERSION = 1
VERSION_KEY = "partcfg-baseline"
MAX_BASELINE_BYTES = 32 << 20
MAX_FINDINGS = 200_000
MAX_TEXT = 8192
_FINGERPRINT = re.compile(r"^[0-9a-f]{32}$")
_QUOTED = re.compile(r"('(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\")")
_NUMBER = re.compile(r"\b(?:0x[0-9a-fA-F_]+|\d[\d_]*)\b")
_ITEM_KEYS = ("name", "link")


@dataclass(frozen=True)
class Entry:
    """One finding as a baseline records it."""

    fingerprint: str
    rule: str
    severity: str = ""
    file: str = ""
    node: str = ""
    line: int = 0
    column: int = 0
    message: str = ""

    def as_dict(self) -> dict:
        return {"rule": self.rule, "file": self.file, "node": self.node, "line": self.line,
                "column": self.column, "severity": self.severity, "message": self.message,
                "fingerprint": self.fingerprint}


# --- fingerprints ----------------------------------------------------------------------------

def normalized_message_of(message: str) -> str:
    """The message without its numbers (outside quoted names)."""
    parts = _QUOTED.split(message)
    return "".join(p if i % 2 else _NUMBER.sub("#", p) for i, p in enumerate(parts))


def fingerprint_of(rule: str, file: str, node: str, message: str) -> str:
    key = "\0".join(("v1", rule, file, node, normalized_message_of(message)))
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]


def _item_label(node: yaml.Node) -> str:
    if isinstance(node, yaml.MappingNode):
        for key in _ITEM_KEYS:
            for k, v in node.value:
                if isinstance(k, yaml.ScalarNode) and k.value == key and isinstance(v, yaml.ScalarNode):
                    return v.value if key == "name" else f"{key}={v.value}"
    elif isinstance(node, yaml.ScalarNode) and len(node.value) <= 64:
        return node.value
    return "*"


def _start(node: yaml.Node) -> tuple[int, int]:
    return node.start_mark.line, node.start_mark.column


def _contains(node: yaml.Node, at: tuple[int, int]) -> bool:
    return _start(node) <= at < (node.end_mark.line, node.end_mark.column)


def node_path_of(root: yaml.Node | None, line: int, column: int) -> str:
    """The path of the node at (or the deepest node around) 1-based ``line``:``column``:
    mapping keys joined by '.', list items as ``[name]`` (or ``[*]`` when unnamed)."""
    at = (line - 1, column - 1)
    parts: list[str] = []
    node = root
    for _ in range(256):   # bounded: the loader refuses deeper nesting anyway
        step = None
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                label = "." + (k.value if isinstance(k, yaml.ScalarNode) else "?")
                if _start(k) == at:
                    return "".join(parts + [label]).lstrip(".")
                if _start(v) == at or _contains(v, at):
                    parts.append(label)
                    step = v
                    break
        elif isinstance(node, yaml.SequenceNode):
            for item in node.value:
                if _start(item) == at or _contains(item, at):
                    parts.append(f"[{_item_label(item)}]")
                    step = item
                    break
        if step is None or _start(step) == at:
            break
        node = step
    return "".join(parts).lstrip(".")


def _root_node_of(text: str, file: str) -> yaml.Node | None:
    from ..load.yaml_source import load_yaml_text
    try:
        return load_yaml_text(text, file).tree()
    except ConfigError:
        return None


def _read_text(file: str) -> str | None:
    try:
        return Path(file).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def entries_of(diagnostics: Sequence[Diagnostic], root: Path,
               text_of: Callable[[str], str | None] = _read_text) -> list[Entry]:
    """The baseline entry (with its fingerprint) of every diagnostic, in order. Each file
    holding a finding is read and composed once."""
    from .waivers import relative_name_of

    roots: dict[str, yaml.Node | None] = {}
    out: list[Entry] = []
    for d in diagnostics:
        loc = d.location
        file = node = ""
        if loc is not None:
            file = relative_name_of(loc.file, root) if loc.file else ""
            if loc.line > 0:
                if loc.file not in roots:
                    text = text_of(loc.file)
                    roots[loc.file] = _root_node_of(text, loc.file) if text is not None else None
                node = node_path_of(roots[loc.file], loc.line, max(loc.column, 1))
        out.append(Entry(fingerprint_of(d.rule, file, node, d.message), d.rule, d.severity.value,
                         file, node, loc.line if loc else 0, loc.column if loc else 0, d.message))
    return out


# --- the baseline file -----------------------------------------------------------------------

def baseline_bytes_of(entries: Sequence[Entry]) -> bytes:
    """The baseline file for ``entries``: the same findings give the same bytes."""
    ordered = sorted(entries, key=lambda e: (e.file, e.rule, e.node, e.fingerprint, e.line,
                                             e.column, e.message, e.severity))
    data = {VERSION_KEY: BASELINE_VERSION, "findings": [e.as_dict() for e in ordered]}
    return (json.dumps(data, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def _bad(name: str, message: str) -> InputError:
    return InputError([error("BASELINE-FILE", f"{name}: {message}", Location(name),
                             hint="write a new baseline with 'partcfg check --write-baseline FILE'")])


def baseline_of(path: str | Path) -> list[Entry]:
    """Read a baseline file. Raises InputError (BASELINE-FILE, exit 2) for anything that
    is not a baseline of this version: too large, not UTF-8 JSON, wrong shape or types."""
    name = str(path)
    try:
        raw = bounded_bytes_of(path, MAX_BASELINE_BYTES)
    except TooLarge:
        raise _bad(name, f"larger than {MAX_BASELINE_BYTES >> 20} MiB") from None
    except OSError as exc:
        raise _bad(name, f"cannot read the baseline: {exc.strerror or exc}") from None
    try:
        data = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise _bad(name, "not UTF-8 text") from None
    except (ValueError, RecursionError) as exc:
        raise _bad(name, f"not JSON ({str(exc)[:200]})") from None
    return entries_of_data(data, name)


def entries_of_data(data: Any, name: str) -> list[Entry]:
    if not isinstance(data, dict) or VERSION_KEY not in data:
        raise _bad(name, f"not a partcfg baseline (no {VERSION_KEY!r} key)")
    version = data[VERSION_KEY]
    if type(version) is not int or version != BASELINE_VERSION:
        raise _bad(name, f"baseline version {str(version)[:40]!r} is not supported (this partcfg "
                         f"reads version {BASELINE_VERSION})")
    findings = data.get("findings")
    if not isinstance(findings, list):
        raise _bad(name, "'findings' must be a list")
    if len(findings) > MAX_FINDINGS:
        raise _bad(name, f"more than {MAX_FINDINGS} findings")
    entries = []
    for n, item in enumerate(findings):
        if not isinstance(item, dict):
            raise _bad(name, f"finding #{n} is not an object")
        fingerprint, rule = item.get("fingerprint"), item.get("rule")
        if not isinstance(fingerprint, str) or not _FINGERPRINT.match(fingerprint):
            raise _bad(name, f"finding #{n} has no valid fingerprint (32 hex digits)")
        if not isinstance(rule, str) or not rule or len(rule) > 64:
            raise _bad(name, f"finding #{n} has no valid rule id")
        texts = {}
        for key in ("severity", "file", "node", "message"):
            value = item.get(key, "")
            if not isinstance(value, str) or len(value) > MAX_TEXT:
                raise _bad(name, f"finding #{n}: {key!r} must be a string of at most {MAX_TEXT} characters")
            texts[key] = value
        numbers = {}
        for key in ("line", "column"):
            value = item.get(key, 0)
            if type(value) is not int or not 0 <= value < 1 << 31:
                raise _bad(name, f"finding #{n}: {key!r} must be a non-negative integer")
            numbers[key] = value
        entries.append(Entry(fingerprint, rule, texts["severity"], texts["file"], texts["node"],
                             numbers["line"], numbers["column"], texts["message"]))
    return entries


# --- comparing a run with a baseline ---------------------------------------------------------

NEW, UNCHANGED, ABSENT = "new", "unchanged", "absent"


@dataclass
class Compared:
    states: list[str]          # per current entry: new or unchanged
    absent: list[Entry]        # baseline entries no finding of this run matched


def compared_with(current: Sequence[Entry], baseline: Sequence[Entry]) -> Compared:
    """Match findings to baseline entries by fingerprint, each entry at most once."""
    left = Counter(e.fingerprint for e in baseline)
    states = []
    for entry in current:
        if left[entry.fingerprint] > 0:
            left[entry.fingerprint] -= 1
            states.append(UNCHANGED)
        else:
            states.append(NEW)
    absent = []
    for entry in reversed(baseline):   # the last entries of a fingerprint are the ones missing
        if left[entry.fingerprint] > 0:
            left[entry.fingerprint] -= 1
            absent.append(entry)
    absent.reverse()
    return Compared(states, absent)


def diagnostic_of_entry(entry: Entry, root: Path) -> Diagnostic:
    """An absent baseline finding as a diagnostic (for reports): its recorded rule,
    severity, message and location (relative to ``root``)."""
    levels = {s.value: s for s in Severity}
    location = None
    if entry.file:
        location = Location(os.path.normpath(os.path.join(root, entry.file)), entry.line, entry.column)
    return Diagnostic(entry.rule, levels.get(entry.severity, Severity.WARNING), entry.message or entry.rule,
                      location)
