"""Runtime: what a run found, per system, per link and per cell, and its text form.

The supervisor fills a :class:`SystemRun` and sends it to the ``partcfg run`` process as
JSON; :func:`text_of_run` renders it (the CLI prints it). A run held when every check
held; figures say how fast things ran.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from ..diagnostics import Diagnostic, Location, Severity


def counted(n: int, noun: str) -> str:
    """``1 section``, ``2 sections``."""
    return f"{n} {noun}{'' if n == 1 else 's'}"


@dataclass
class Check:
    name: str
    held: bool
    detail: str = ""


@dataclass
class Figure:
    name: str
    value: float
    unit: str
    detail: str = ""

    def text(self) -> str:
        return f"{_number(self.value)} {self.unit}"


@dataclass
class Subject:
    """A link or a cell, with its checks and figures in the order they ran."""
    kind: str                  # "link" or "cell"
    name: str
    summary: str = ""
    checks: list[Check] = field(default_factory=list)
    figures: list[Figure] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def held(self) -> bool:
        return all(c.held for c in self.checks)


@dataclass
class SystemRun:
    name: str
    directory: str
    subjects: list[Subject] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    unusable: list[dict] = field(default_factory=list)     # Diagnostic.as_dict() forms
    mode: str = "exercises"
    isolation: list[str] = field(default_factory=list)     # protections in force (confine.py)
    missing: list[str] = field(default_factory=list)       # ... and those that were not

    @property
    def held(self) -> bool:
        return not self.unusable and all(s.held for s in self.subjects)

    def subject(self, kind: str, name: str, summary: str = "") -> Subject:
        for s in self.subjects:
            if s.kind == kind and s.name == name:
                return s
        s = Subject(kind, name, summary)
        self.subjects.append(s)
        return s

    def as_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def of_dict(cls, data: dict) -> "SystemRun":
        subjects = [Subject(s["kind"], s["name"], s.get("summary", ""),
                            [Check(**c) for c in s["checks"]],
                            [Figure(**f) for f in s["figures"]], list(s.get("notes", ())))
                    for s in data["subjects"]]
        return cls(data["name"], data["directory"], subjects, list(data["notes"]),
                   list(data["unusable"]), data.get("mode", "exercises"),
                   list(data.get("isolation", ())), list(data.get("missing", ())))


@dataclass
class RunReport:
    systems: list[SystemRun] = field(default_factory=list)

    @property
    def held(self) -> bool:
        return bool(self.systems) and all(s.held for s in self.systems)

    def figures(self) -> list[tuple[str, str, Figure]]:
        return [(s.name, subj.name, f) for s in self.systems for subj in s.subjects
                for f in subj.figures]


def diagnostic_of_dict(data: dict) -> Diagnostic:
    loc = Location(data["file"], data["line"] or 0, data["column"] or 0) if data.get("file") else None
    related = tuple(Location(r["file"], r["line"], r["column"]) for r in data.get("related", ()))
    return Diagnostic(data["rule"], Severity(data["severity"]), data["message"], loc, related,
                      data.get("hint"))


def _number(value: float) -> str:
    if value >= 1e9:
        return f"{value / 1e9:.2f} G"
    if value >= 1e6:
        return f"{value / 1e6:.2f} M"
    if value >= 1e4:
        return f"{value / 1e3:.1f} k"
    if value >= 100:
        return f"{value:.0f}"
    return f"{value:.2f}"


NOT_PROVIDED = ("not provided: resource limits (cgroups), system-call filtering (seccomp), "
                "network and file-system namespaces (README: Isolation model and its limits)")


def isolation_line_of(report: RunReport) -> str:
    """Every protection in force in every system, then each that was missing in any."""
    systems = [s for s in report.systems if s.isolation or s.missing]
    in_force = [p for p in (systems[0].isolation if systems else [])
                if all(p in s.isolation for s in systems)]
    missing = list(dict.fromkeys(m for s in systems for m in s.missing))
    parts = ["; ".join(in_force) or "nothing in force"]
    if missing:
        parts.append("MISSING: " + "; ".join(missing))
    return "isolation: " + "; ".join(parts) + "; " + NOT_PROVIDED


def text_of_run(report: RunReport) -> str:
    lines: list[str] = []
    for system in report.systems:
        verdict = "held" if system.held else "DID NOT HOLD"
        lines.append(f"system {system.name} ({system.directory}): {verdict}")
        for note in system.notes:
            lines.append(f"  note: {note}")
        for kind in ("system", "link", "cell"):
            for subject in (s for s in system.subjects if s.kind == kind):
                mark = "ok  " if subject.held else "FAIL"
                head = f"  {mark} {kind} {subject.name}"
                lines.append(head + (f": {subject.summary}" if subject.summary else ""))
                for c in subject.checks:
                    lines.append(f"       {'held' if c.held else 'FAILED'}  {c.name}"
                                 + (f": {c.detail}" if c.detail else ""))
                for note in subject.notes:
                    lines.append(f"       note  {note}")
                for f in subject.figures:
                    lines.append(f"       speed {f.name}: {f.text()}"
                                 + (f" ({f.detail})" if f.detail else ""))
        lines.append("")
    lines.append(isolation_line_of(report))
    total = sum(len(s.checks) for sys in report.systems for s in sys.subjects)
    failed = sum(1 for sys in report.systems for s in sys.subjects for c in s.checks if not c.held)
    lines.append(f"{total - failed} of {total} checks held" if failed
                 else f"all {total} checks held")
    return "\n".join(lines)
