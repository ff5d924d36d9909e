"""Validation stage, after validate: findings a team has accepted where they stand (waivers).

Runs on the diagnostics of a check or build, before anything is printed. A finding is
waived by

* an inline YAML comment ``# partcfg: ignore[RULE-ID,...] reason`` at the end of the line
  of any node the finding names (its location or a "see also"), or on a comment-only line
  above that node (stacked waiver lines and blank lines may sit between them);
* ``[tool.partcfg]`` in pyproject.toml: ``ignore`` (rules waived everywhere),
  ``per-file-ignores`` (glob -> rules) and ``severity`` (rule -> error/warning/info);
* ``--ignore RULE`` on the command line.

A waiver written into a file without a reason, and any waiver that waives nothing, is
reported as a warning of its own (WAIVER-NO-REASON, WAIVER-UNUSED); those warnings cannot
be waived (their severity can be overridden). Pure: takes the diagnostics, the input
files' text (scanned only for the ``partcfg:`` marker, so PyYAML's dropping of comments
does not matter) and the settings; returns data. Only the CLI prints.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

from ..diagnostics import (Diagnostic, InputError, Location, Severity, did_you_mean, error,
                          warning)
from .rules import RULES

MARKER = "partcfg:"
WAIVER_RULES = ("WAIVER-UNUSED", "WAIVER-NO-REASON", "WAIVER-SYNTAX")
MAX_PYPROJECT_BYTES = 1 << 20
MAX_INPUT_BYTES = 64 << 20   # larger inputs are not scanned for waivers (load refuses them anyway)
PYPROJECT = "pyproject.toml"

_IGNORE = re.compile(r"^\s*ignore\s*\[([^\]]*)\]\s*(.*)$")
_RULE_ID = re.compile(r"^[A-Za-z][A-Za-z0-9]*(?:-[A-Za-z0-9]+)+$")
_REASON_LEAD = " \t-:;,—–"   # separators people put between the bracket and the reason


@dataclass(frozen=True)
class Waiver:
    """One written or given waiver. ``kind``: inline, pyproject, per-file or cli."""

    kind: str
    rules: tuple[str, ...]
    reason: str | None
    where: Location | None = None      # the comment, or the line of pyproject.toml
    target_line: int = 0               # inline: the line of the node it waives
    glob: str | None = None            # per-file: the pattern

    def describe(self) -> str:
        if self.kind == "inline":
            return f"inline comment at {self.where}"
        if self.kind == "pyproject":
            return f"{self.where.file if self.where else PYPROJECT} [tool.partcfg] ignore"
        if self.kind == "per-file":
            return f"{self.where.file if self.where else PYPROJECT} [tool.partcfg] per-file-ignores {self.glob!r}"
        return "--ignore on the command line"


@dataclass(frozen=True)
class Waived:
    diagnostic: Diagnostic
    waiver: Waiver


@dataclass
class ProjectSettings:
    """``[tool.partcfg]`` of the nearest pyproject.toml that has one."""

    path: Path
    ignore: list[Waiver] = field(default_factory=list)
    per_file: list[Waiver] = field(default_factory=list)
    severity: dict[str, Severity] = field(default_factory=dict)

    @property
    def root(self) -> Path:
        return self.path.parent


@dataclass
class WaiverOutcome:
    """What the waivers did: the findings that still count (plus the warnings about the
    waivers themselves) and the waived ones."""

    counted: list[Diagnostic]
    waived: list[Waived]


# --- inline comments -------------------------------------------------------------------------

def _comment_start(line: str) -> int:
    """Index of the '#' that starts a YAML comment on ``line``, or -1. A '#' starts a
    comment at the line start or after white space, outside quoted scalars."""
    quote = None
    i = 0
    while i < len(line):
        ch = line[i]
        if quote == '"':
            if ch == "\\":
                i += 1
            elif ch == '"':
                quote = None
        elif quote == "'":
            if ch == "'":
                quote = None   # '' inside single quotes reopens at the next quote
        elif ch in "'\"" and (i == 0 or line[i - 1] in " \t[{,:"):
            quote = ch
        elif ch == "#" and (i == 0 or line[i - 1] in " \t"):
            return i
        i += 1
    return -1


def inline_waivers_of(text: str, file: str) -> tuple[list[Waiver], list[Diagnostic]]:
    """The ``# partcfg: ignore[...]`` comments of one YAML text, each with the line of the
    node it waives, and a WAIVER-SYNTAX warning for each malformed ``partcfg:`` comment."""
    if MARKER not in text:   # the common case: one substring search per file
        return [], []
    lines = text.splitlines()
    waivers: list[Waiver] = []
    problems: list[Diagnostic] = []
    pending: list[tuple[int, int, str]] = []   # comment-only waiver lines waiting for their node
    for number, line in enumerate(lines, start=1):
        stripped = line.strip()
        hash_at = _comment_start(line) if MARKER in line else -1
        body = None
        if hash_at >= 0:
            comment = line[hash_at + 1:].lstrip()
            if comment.startswith(MARKER):
                body = comment[len(MARKER):]
        if not stripped or (stripped.startswith("#") and body is None):
            continue   # blank or an ordinary comment line: a pending waiver waits on
        if body is not None and stripped.startswith("#"):
            pending.append((number, hash_at + 1, body))
            continue
        targets = pending + ([(number, hash_at + 1, body)] if body is not None else [])
        pending = []
        for at_line, column, text_body in targets:
            waiver = _parsed_waiver(text_body, file, at_line, column, number, problems)
            if waiver is not None:
                waivers.append(waiver)
    for at_line, column, _ in pending:   # nothing follows: the waiver stands on no node
        problems.append(warning(
            "WAIVER-UNUSED", "this waiver comment is followed by no YAML node, so it waives nothing",
            Location(file, at_line, column),
            hint="put it at the end of the node's line or on the line above the node"))
    return waivers, problems


def _parsed_waiver(body: str, file: str, line: int, column: int, target: int,
                   problems: list[Diagnostic]) -> Waiver | None:
    where = Location(file, line, column)
    m = _IGNORE.match(body)
    ids = [part.strip() for part in m.group(1).split(",")] if m else []
    if not m or not ids or not all(_RULE_ID.match(i) for i in ids):
        problems.append(warning(
            "WAIVER-SYNTAX", f"malformed waiver comment '# {MARKER}{body.rstrip()}'; "
            "it waives nothing", where,
            hint="write '# partcfg: ignore[RULE-ID] reason' (several ids: ignore[A-B,C-D])"))
        return None
    reason = m.group(2).strip().lstrip(_REASON_LEAD).strip() or None
    return Waiver("inline", tuple(dict.fromkeys(ids)), reason, where, target)


# --- pyproject.toml -------------------------------------------------------------------------

def _shown(path: Path) -> str:
    """pyproject.toml as reports name it: relative to the working directory."""
    try:
        return os.path.relpath(path)
    except ValueError:   # pragma: no cover - another drive (Windows)
        return str(path)


def _config_error(path: Path, message: str, line: int = 0, hint: str | None = None) -> InputError:
    return InputError([error("PROJECT-CONFIG", message, Location(_shown(path), line, 1 if line else 0),
                             hint=hint or "see the README section 'Waivers and baselines'")])


def project_settings_of(start: Path) -> ProjectSettings | None:
    """The ``[tool.partcfg]`` settings of the nearest pyproject.toml with such a table,
    looking in ``start`` and its parents (as ruff and pytest do); None when there is none.
    Raises InputError (PROJECT-CONFIG, exit 2) when the table is unusable."""
    here = start.resolve()
    for directory in (here, *here.parents):
        path = directory / PYPROJECT
        try:
            with open(path, "rb") as handle:
                raw = handle.read(MAX_PYPROJECT_BYTES + 1)
        except OSError:
            continue
        if b"tool.partcfg" not in raw and b"tool . partcfg" not in raw:
            continue   # cheap: a project file without our table is not parsed
        if len(raw) > MAX_PYPROJECT_BYTES:
            raise _config_error(path, f"{path} is larger than {MAX_PYPROJECT_BYTES >> 20} MiB")
        import tomllib  # here: most runs find no project file with our table

        try:
            text = raw.decode("utf-8")
            data = tomllib.loads(text)
        except UnicodeDecodeError:
            raise _config_error(path, f"{path} is not UTF-8 text") from None
        except ValueError as exc:   # tomllib.TOMLDecodeError is a ValueError
            raise _config_error(path, f"{path} is not valid TOML: {exc}") from None
        table = data.get("tool", {}).get("partcfg") if isinstance(data.get("tool"), dict) else None
        if table is None:
            continue
        return _settings_of(path, text, table)
    return None


_KEYS = ("ignore", "per-file-ignores", "severity")


def _line_of(lines: list[str], needle: str, after: int = 0) -> int:
    """Best effort: the first line at or after ``after`` holding ``needle`` (1-based, 0:
    not found); TOML parsers give no positions."""
    for number in range(after, len(lines)):
        if needle in lines[number]:
            return number + 1
    return 0


def _rule_reasons(path: Path, lines: list[str], what: str, value: Any, after: int) -> list[tuple[str, str | None, int]]:
    """``value`` as (rule, reason, line): a list of rule ids (no reasons) or a table
    rule -> reason."""
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        pairs: list[tuple[str, str | None]] = [(v, None) for v in value]
    elif isinstance(value, dict) and all(isinstance(v, str) for v in value.values()):
        pairs = [(k, v.strip() or None) for k, v in value.items()]
    else:
        raise _config_error(path, f"[tool.partcfg] {what} must be a list of rule ids or a table "
                            "of rule id = \"reason\"", _line_of(lines, what.split(" ")[0], after),
                            hint='e.g. ignore = {"LINK-ROOT-ACCESS" = "the root keeps its console window"}')
    return [(rule, reason, _line_of(lines, rule, after)) for rule, reason in pairs]


def _settings_of(path: Path, text: str, table: Any) -> ProjectSettings:
    lines = text.splitlines()
    start = max(_line_of(lines, "tool.partcfg") - 1, 0)
    if not isinstance(table, dict):
        raise _config_error(path, "[tool.partcfg] must be a table", start + 1)
    for key in table:
        if key not in _KEYS:
            raise _config_error(path, f"unknown key {key!r} in [tool.partcfg]", _line_of(lines, key, start),
                                hint=did_you_mean(key, _KEYS) or f"known keys: {', '.join(_KEYS)}")
    settings = ProjectSettings(path)
    name = _shown(path)
    for rule, reason, line in _rule_reasons(path, lines, "ignore", table.get("ignore", []), start):
        settings.ignore.append(Waiver("pyproject", (rule,), reason, Location(name, line, 1 if line else 0)))
    per_file = table.get("per-file-ignores", {})
    if not isinstance(per_file, dict):
        raise _config_error(path, "[tool.partcfg] per-file-ignores must be a table of "
                            "\"glob\" = rules", _line_of(lines, "per-file-ignores", start))
    for glob, rules in per_file.items():
        glob_line = max(_line_of(lines, glob, start) - 1, start)
        for rule, reason, line in _rule_reasons(path, lines, f"per-file-ignores {glob!r}", rules, glob_line):
            settings.per_file.append(Waiver("per-file", (rule,), reason,
                                            Location(name, line, 1 if line else 0), glob=glob))
    severity = table.get("severity", {})
    if not isinstance(severity, dict):
        raise _config_error(path, "[tool.partcfg] severity must be a table of rule id = "
                            "\"error\" | \"warning\" | \"info\"", _line_of(lines, "severity", start))
    levels = {s.value: s for s in Severity}
    for rule, level in severity.items():
        line = _line_of(lines, rule, start)
        if rule not in RULES:
            raise _config_error(path, f"[tool.partcfg] severity names unknown rule {rule!r}", line,
                                hint=did_you_mean(rule, RULES) or "'partcfg check --format sarif' lists the rules")
        if not isinstance(level, str) or level not in levels:
            raise _config_error(path, f"[tool.partcfg] severity of {rule} is {str(level)[:40]!r}; use "
                                "\"error\", \"warning\" or \"info\"", line)
        settings.severity[rule] = levels[level]
    return settings


# --- applying the waivers ---------------------------------------------------------------------

def _glob_regex(pattern: str) -> re.Pattern:
    """A glob as ruff and .gitignore read it: '*' and '?' stay within one path component,
    '**' crosses components; a pattern without '/' matches the file name anywhere."""
    out = []
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    body = "".join(out)
    return re.compile(("(?:.*/)?" if "/" not in pattern else "") + body + r"\Z")


def relative_name_of(file: str, root: Path) -> str:
    """``file`` relative to ``root`` with forward slashes (``..`` when outside)."""
    try:
        return Path(os.path.relpath(os.path.abspath(file), root)).as_posix()
    except ValueError:   # pragma: no cover - another drive (Windows)
        return Path(file).as_posix()


def _read_text(file: str) -> str | None:
    try:
        with open(file, "rb") as handle:
            raw = handle.read(MAX_INPUT_BYTES)
    except OSError:
        return None
    if MARKER.encode() not in raw:
        return ""
    return raw.decode("utf-8", errors="replace")


def _places_of(d: Diagnostic) -> Iterable[Location]:
    if d.location is not None:
        yield d.location
    yield from d.related


def _unused(waiver: Waiver, rule: str, files_matched: int | None = None) -> Diagnostic:
    if waiver.kind == "inline":
        message = f"ignore[{rule}] waives nothing: no {rule} finding at the node of line {waiver.target_line}"
    elif waiver.kind == "pyproject":
        message = f"[tool.partcfg] ignore of {rule} waives nothing: no {rule} finding in the files checked"
    elif waiver.kind == "per-file":
        message = (f"[tool.partcfg] per-file-ignores {waiver.glob!r} of {rule} waives nothing: "
                   + (f"no {rule} finding in the {files_matched} file{'s' if files_matched != 1 else ''} "
                      "it matches" if files_matched else "the pattern matches none of the files checked"))
    else:
        message = f"--ignore {rule} waives nothing: no {rule} finding in the files checked"
    if rule in WAIVER_RULES:
        hint = "waiver warnings cannot be waived; lower their severity under [tool.partcfg] severity"
    elif rule not in RULES:
        hint = did_you_mean(rule, RULES) or f"{rule} is no partcfg rule"
    else:
        hint = "remove the waiver: the finding it accepted is gone"
    return warning("WAIVER-UNUSED", message, waiver.where, hint=hint)


def waived_of(diagnostics: Sequence[Diagnostic], files: Sequence[str],
              settings: ProjectSettings | None = None, ignore: Sequence[str] = (),
              text_of: Callable[[str], str | None] = _read_text) -> WaiverOutcome:
    """Apply severity overrides and every waiver to ``diagnostics`` of a run over ``files``.
    ``text_of(file)`` gives a file's text (None: unreadable, skipped)."""
    overrides = settings.severity if settings else {}

    def adjusted(d: Diagnostic) -> Diagnostic:
        level = overrides.get(d.rule)
        return replace(d, severity=level) if level is not None and level is not d.severity else d

    inline: dict[str, list[Waiver]] = {}
    problems: list[Diagnostic] = []
    for file in files:
        text = text_of(file)
        if text:
            found, bad = inline_waivers_of(text, file)
            inline[file] = found
            problems.extend(bad)

    root = settings.root if settings else Path.cwd()
    matches_of_glob: dict[str, re.Pattern] = {}
    files_of_glob: dict[str, int] = {}
    # relative names only for per-file globs: relpath costs as much as the marker scan
    relative = {f: relative_name_of(f, root) for f in files} if settings and settings.per_file else {}
    for w in (settings.per_file if settings else []):
        if w.glob not in matches_of_glob:
            matches_of_glob[w.glob] = _glob_regex(w.glob)
            files_of_glob[w.glob] = sum(1 for r in relative.values() if matches_of_glob[w.glob].match(r))
    global_waivers = list(settings.ignore if settings else [])
    global_waivers += [Waiver("cli", (rule,), None) for rule in dict.fromkeys(ignore)]

    used: set[tuple[int, str]] = set()   # (id of waiver, rule)
    counted: list[Diagnostic] = []
    waived: list[Waived] = []
    for d in diagnostics:
        d = adjusted(d)
        hits: list[Waiver] = []
        for place in _places_of(d):
            for w in inline.get(place.file, ()):
                if d.rule in w.rules and w.target_line == place.line:
                    hits.append(w)
        if settings and settings.per_file and d.location is not None:
            rel = relative.get(d.location.file) or relative_name_of(d.location.file, root)
            hits += [w for w in settings.per_file if d.rule in w.rules and matches_of_glob[w.glob].match(rel)]
        hits += [w for w in global_waivers if d.rule in w.rules]
        for w in hits:
            used.add((id(w), d.rule))
        if hits:
            waived.append(Waived(d, hits[0]))
        else:
            counted.append(d)

    for w in [w for ws in inline.values() for w in ws] + list(settings.per_file if settings else []) \
            + global_waivers:
        for rule in w.rules:
            if (id(w), rule) not in used:
                problems.append(_unused(w, rule, files_of_glob.get(w.glob) if w.glob else None))
        if w.kind != "cli" and w.reason is None:
            ids = ",".join(w.rules)
            problems.append(warning(
                "WAIVER-NO-REASON", f"the waiver of {ids} gives no reason", w.where,
                hint=("write why after the bracket: # partcfg: ignore[" + ids + "] <reason>"
                      if w.kind == "inline" else
                      f'give a reason: {ids} = "<why this is accepted>" (a table instead of a list)')))
    counted.extend(adjusted(p) for p in problems)
    return WaiverOutcome(counted, waived)
