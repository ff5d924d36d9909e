"""Render layer: diagnostics as a SARIF 2.1.0 log (``partcfg check --format sarif``).

SARIF is the format code-scanning services read. The log has one run whose tool
(``partcfg``) lists every registered rule (:data:`rules.RULES`: id, short and full
description, help text, default level). Each diagnostic becomes a result that names its
rule, the YAML file, line and column where it applies, and a related location for every
other party (the other side of a conflict), which the message links to, and the
finding's fingerprint (``baseline.py``) under ``partialFingerprints``. Given a triage
(``triage.py``), waived findings are results with a ``suppressions`` entry, and with a
baseline every result has a ``baselineState`` (``absent`` ones for baseline findings no
longer found). File paths are
relative to the working directory (the repository root in CI) and based on
``%SRCROOT%``, whose absolute URI the log records.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Mapping, Sequence

from .. import __version__
from ..diagnostics import Diagnostic, Location, Severity
from ..check.baseline import fingerprint_of
from ..check.rules import RULES, Rule
from .annotations import display_path_of

SARIF_VERSION = "2.1.0"
SARIF_SCHEMA_URI = ("https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/"
                    "sarif-schema-2.1.0.json")
SRCROOT = "%SRCROOT%"
LEVEL_OF = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "note"}
INFORMATION_URI = "https://pypi.org/project/partcfg/"
# the finding's fingerprint of baseline.py: rule, file, YAML node path, message without numbers
FINGERPRINT_KEY = "partcfgFinding/v1"


def _descriptor_of(rule: Rule) -> dict:
    return {
        "id": rule.id,
        "name": "".join(part.capitalize() for part in rule.id.split("-")),
        "shortDescription": {"text": rule.title},
        "fullDescription": {"text": rule.description},
        "help": {"text": rule.help, "markdown": f"**{rule.title}**\n\n{rule.description}\n\n"
                                                f"How to fix: {rule.help}"},
        "defaultConfiguration": {"level": LEVEL_OF[rule.severity]},
        "properties": {"tags": ["partcfg", rule.id.split("-")[0].lower()]},
    }


def _unregistered(rule_id: str, severity: Severity) -> Rule:
    return Rule(rule_id, severity, rule_id, f"partcfg rule {rule_id}.", "See the message.")


def _artifact_location(file: str, base: Path) -> dict:
    shown = display_path_of(file, base)
    if Path(shown).is_absolute():
        return {"uri": Path(shown).as_uri()}
    return {"uri": shown, "uriBaseId": SRCROOT}


def _physical(location: Location, base: Path) -> dict:
    result: dict = {"artifactLocation": _artifact_location(location.file, base)}
    if location.line > 0:
        region = {"startLine": location.line}
        if location.column > 0:
            region["startColumn"] = location.column
        result["region"] = region
    return result


def _where(location: Location, base: Path) -> str:
    shown = display_path_of(location.file, base)
    return f"{shown}:{location.line}:{location.column}" if location.line else shown


def _escaped(text: str) -> str:
    """Message text is plain, but '[' and ']' would start SARIF embedded links."""
    return text.replace("\\", "\\\\").replace("[", "\\[").replace("]", "\\]")


def result_of(d: Diagnostic, rule_index: int, base: Path, fingerprint: str | None = None) -> dict:
    text = _escaped(d.message)
    related = []
    for n, other in enumerate(d.related, start=1):
        related.append({"id": n, "physicalLocation": _physical(other, base),
                        "message": {"text": f"other party: {_where(other, base)}"}})
    if related:
        text += " (see also " + ", ".join(
            f"[{_escaped(_where(other, base))}]({n})" for n, other in enumerate(d.related, start=1)) + ")"
    if d.hint:
        text += f". Hint: {_escaped(d.hint)}"
    result: dict = {"ruleId": d.rule, "ruleIndex": rule_index, "level": LEVEL_OF[d.severity],
                    "message": {"text": text}}
    if d.location is not None:
        result["locations"] = [{"physicalLocation": _physical(d.location, base)}]
        if fingerprint is None:   # no source at hand: the rule, the file and the message
            fingerprint = fingerprint_of(d.rule, display_path_of(d.location.file, base), "", d.message)
        result["partialFingerprints"] = {FINGERPRINT_KEY: fingerprint}
    if related:
        result["relatedLocations"] = related
    return result


def _triaged_result_of(finding, rule_index: int, base: Path) -> dict:
    """A result with what triage.py found: its baseline state, and a suppression when a
    waiver accepted it (inline comments are in-source, the others external)."""
    result = result_of(finding.diagnostic, rule_index, base, finding.fingerprint)
    if finding.state is not None:
        result["baselineState"] = finding.state
    if finding.waiver is not None:
        suppression = {"kind": "inSource" if finding.waiver.kind == "inline" else "external",
                       "status": "accepted"}
        if finding.waiver.reason:
            suppression["justification"] = finding.waiver.reason
        result["suppressions"] = [suppression]
    return result


def sarif_log_of(diagnostics: Sequence[Diagnostic], rules: Mapping[str, Rule] | None = None,
                 base: Path | None = None, triage=None) -> dict:
    """The SARIF log (as JSON-ready data) of one partcfg run. With a ``triage``
    (triage.py) the results are its findings instead: waived ones as suppressed results,
    baseline states, and the baseline's findings that are gone as ``absent`` results."""
    findings = None
    if triage is not None:
        findings = list(triage.findings) + list(triage.absent)
        diagnostics = [f.diagnostic for f in findings]
    registry = dict(RULES if rules is None else rules)
    for d in diagnostics:
        if d.rule not in registry:
            registry[d.rule] = _unregistered(d.rule, d.severity)
    ordered = sorted(registry.values(), key=lambda r: r.id)
    index = {r.id: i for i, r in enumerate(ordered)}
    base = (base or Path.cwd()).resolve()
    if findings is None:
        results = [result_of(d, index[d.rule], base) for d in diagnostics]
    else:
        results = [_triaged_result_of(f, index[f.diagnostic.rule], base) for f in findings]
    run = {
        "tool": {"driver": {"name": "partcfg", "version": __version__,
                            "semanticVersion": __version__, "informationUri": INFORMATION_URI,
                            "rules": [_descriptor_of(r) for r in ordered]}},
        "originalUriBaseIds": {SRCROOT: {"uri": base.as_uri().rstrip("/") + "/"}},
        "columnKind": "unicodeCodePoints",
        "results": results,
    }
    if triage is not None:
        counts: dict = {"waived": len(triage.waived)}
        if triage.baseline_used:
            counts["baseline"] = {"new": len(triage.counted), "unchanged": len(triage.unchanged),
                                  "absent": len(triage.absent)}
        run["properties"] = {"partcfg": counts}
    return {"$schema": SARIF_SCHEMA_URI, "version": SARIF_VERSION, "runs": [run]}


def sarif_report_of(diagnostics: Sequence[Diagnostic], base: Path | None = None, triage=None) -> str:
    return json.dumps(sarif_log_of(diagnostics, base=base, triage=triage), indent=2,
                      ensure_ascii=False) + "\n"
