"""Foundation: diagnostics and the typed errors every layer raises.

Every problem partcfg reports is a :class:`Diagnostic` with a rule id, a severity, the
source location of every party involved, a plain message and, where possible, a hint.
The core never prints; it returns diagnostics or raises :class:`PartcfgError` carrying them.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from enum import Enum
from typing import ClassVar, Iterable, Sequence


class Severity(str, Enum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


@dataclass(frozen=True, order=True)
class Location:
    """A position in an input file; line and column are 1-based (0 = whole file)."""

    file: str
    line: int = 0
    column: int = 0

    def __str__(self) -> str:
        if self.line:
            return f"{self.file}:{self.line}:{self.column}"
        return self.file


@dataclass(frozen=True)
class Diagnostic:
    rule: str
    severity: Severity
    message: str
    location: Location | None = None
    related: tuple[Location, ...] = ()
    hint: str | None = None

    def as_dict(self) -> dict:
        """The stable JSON form (``partcfg check --format json``)."""
        loc = self.location
        return {
            "rule": self.rule,
            "severity": self.severity.value,
            "file": loc.file if loc else None,
            "line": loc.line if loc else None,
            "column": loc.column if loc else None,
            "message": self.message,
            "hint": self.hint,
            "related": [
                {"file": r.file, "line": r.line, "column": r.column} for r in self.related
            ],
        }


def error(rule: str, message: str, location: Location | None = None,
          related: Iterable[Location | None] = (), hint: str | None = None) -> Diagnostic:
    return Diagnostic(rule, Severity.ERROR, message, location,
                      tuple(r for r in related if r is not None), hint)


def warning(rule: str, message: str, location: Location | None = None,
            related: Iterable[Location | None] = (), hint: str | None = None) -> Diagnostic:
    return Diagnostic(rule, Severity.WARNING, message, location,
                      tuple(r for r in related if r is not None), hint)


def info(rule: str, message: str, location: Location | None = None,
         hint: str | None = None) -> Diagnostic:
    return Diagnostic(rule, Severity.INFO, message, location, (), hint)


def has_errors(diagnostics: Iterable[Diagnostic]) -> bool:
    return any(d.severity is Severity.ERROR for d in diagnostics)


def sorted_diagnostics(diagnostics: Iterable[Diagnostic]) -> list[Diagnostic]:
    """Diagnostics in a stable order: by file, line, column, then rule and message."""
    def key(d: Diagnostic):
        loc = d.location or Location("")
        return (loc.file, loc.line, loc.column, d.rule, d.message)
    return sorted(diagnostics, key=key)


def did_you_mean(word: str, candidates: Iterable[str]) -> str | None:
    """A "did you mean ...?" hint for a misspelt name, or None when nothing is close."""
    close = difflib.get_close_matches(str(word), sorted(set(candidates)), n=1, cutoff=0.6)
    return f"did you mean {close[0]!r}?" if close else None


@dataclass
class PartcfgError(Exception):
    """Base of every error the core raises; carries the diagnostics that explain it.

    ``exit_code`` is the CLI's exit code for the error: each class says its own, the CLI
    only reads it (0 ok, 1 invalid configuration, 2 usage or I/O error, 3 internal error).
    """

    exit_code: ClassVar[int] = 2
    diagnostics: Sequence[Diagnostic] = field(default_factory=list)

    def __str__(self) -> str:
        return "; ".join(d.message for d in self.diagnostics)


class ConfigError(PartcfgError):
    """The input configuration is invalid."""

    exit_code: ClassVar[int] = 1


class InputError(PartcfgError):
    """An input could not be read or is not of a kind partcfg understands."""

    exit_code: ClassVar[int] = 2


#: exit code of a bug in partcfg (an exception that is not a PartcfgError)
INTERNAL_ERROR_EXIT_CODE = 3


class BlobError(InputError):
    """A binary configuration blob (or ELF object) cannot be decoded."""
