"""Validate layer: assembled systems -> every problem, as diagnostics.

Third step of the flow (imports only the foundations, ``load`` and ``model``), and its
entry points: :func:`diagnostics_of_assembly`, :func:`diagnostics_of_system` and
:func:`diagnostics_of_cell`. The rules live by family: per-cell rules look at one cell
alone (``cell_rules``); whole-system rules look at all cells of a system together
(``system_rules``, ``link_rules``), the memory ones on the effective-access map
(``access_map``); what several of them need is computed once (``facts``). A system that
declares scenarios is judged whole-system once per scenario, here.

Every rule reports every violation it finds, with the location of every party involved.
"""

from __future__ import annotations

from dataclasses import replace

from ..diagnostics import Diagnostic, Location, did_you_mean, error, info, warning
from ..gc_pause import collector_paused
from ..model.scenarios import Scenario, cell_key, conflicts_between, declared_scenarios, sub_system
from ..model.assembly import Assembly, System
from ..model.document import unreadable_of
from ..model.regions import regions_of_cell
from ..model.system import Cell
from .cell_rules import cell_diagnostics
from .facts import SystemFacts
from .system_rules import system_diagnostics


def diagnostics_of_assembly(assembly: Assembly, scenario: str | None = None) -> list[Diagnostic]:
    """Every validation diagnostic of every system and standalone cell of ``assembly``
    (``assembly.diagnostics`` themselves are not repeated). Standalone cells get the
    per-cell rules and one SYS-SKIPPED note each."""
    result: list[Diagnostic] = []
    for system in assembly.systems:
        result.extend(diagnostics_of_system(system, scenario))
    for cell in assembly.standalone:
        result.extend(diagnostics_of_cell(None, cell))
        result.append(info(
            "SYS-SKIPPED", f"cell {cell.name!r} is not tied to a system: only its own rules were "
            "checked; system-wide rules (root-cell resources, other cells, links) were skipped",
            cell.location("name"),
            hint="add 'system: <name>' and pass the system's files in the same call"))
    return result


def diagnostics_of_system(system: System, scenario: str | None = None) -> list[Diagnostic]:
    """The per-cell diagnostics of every cell of ``system`` and the whole-system ones; with
    scenarios, the whole-system ones of each scenario (only ``scenario`` when given: the
    caller has checked that the system declares it)."""
    with collector_paused():
        facts = SystemFacts(system)
        result: list[Diagnostic] = []
        for cell, regions in zip(facts.cells, facts.regions):
            result.extend(cell_diagnostics(system, cell, regions,
                                           len(facts.peer_links.get(cell.name, ()))))
        scenarios = declared_scenarios(system)
        if scenarios is None:
            result.extend(system_diagnostics(facts))
        else:
            result.extend(_scenario_diagnostics(system, scenarios, scenario))
        return result


def _scenario_diagnostics(system: System, scenarios: list[Scenario],
                          only: str | None) -> list[Diagnostic]:
    """The declared scenarios themselves, then the whole-system rules judged on each possible
    scenario. A finding is reported once, naming the scenarios it occurs in; one that occurs
    in every judged scenario of the system keeps its plain message."""
    out: list[Diagnostic] = []
    in_some: set[int] = set()
    for s in scenarios:
        in_some.update(id(c) for c in s.cells)
        for entry, where in s.unknown:
            out.append(warning(
                "SCENARIO-CELL-UNKNOWN", f"scenario {s.name!r} names {entry!r}, which is no cell of "
                f"system {system.name!r} in this call: taken as not running", where,
                hint=did_you_mean(entry, [cell_key(system, c) for c in system.cells])
                or "pass the cell's file in the same call"))
    # a system file read only in part may have lost a scenario (already reported): a cell
    # missing from the scenarios may follow from that, so it is not reported then
    partly_read = unreadable_of(system.documents[0]) is not None
    for cell in system.cells:
        if id(cell) not in in_some and not partly_read:
            out.append(warning(
                "SCENARIO-CELL-UNUSED", f"cell {cell_key(system, cell)!r} is in no scenario of system "
                f"{system.name!r}: it is never judged with the others", cell.location("name"),
                related=[loc for loc in [system.documents[0].location("scenarios", key=True)] if loc],
                hint="add it to the scenarios it runs in"))
    found: dict[Diagnostic, list[str]] = {}
    judged = 0
    for s in scenarios:
        if only is not None and s.name != only:
            continue
        impossible = _impossible(system, s)
        if impossible is not None:
            out.append(impossible)
            continue
        judged += 1
        for d in system_diagnostics(SystemFacts(sub_system(system, s.cells))):
            found.setdefault(d, []).append(s.name)
    everywhere = only is None and judged == len(scenarios)
    for d, names in found.items():
        if everywhere and len(names) == judged:
            out.append(d)
        else:
            quoted = ", ".join(repr(n) for n in names)
            out.append(replace(d, message=f"{d.message} (scenario{'s' if len(names) > 1 else ''} {quoted})"))
    return out


def _impossible(system: System, s: Scenario) -> Diagnostic | None:
    """One error for a scenario the hypervisor would refuse to run (or None)."""
    reasons = []
    related: list[Location] = []
    cells = sorted(s.cells, key=lambda c: cell_key(system, c))
    for i, a in enumerate(cells):
        for b in cells[i + 1:]:
            why = conflicts_between(system, a, b)
            if why:
                reasons.append(f"{cell_key(system, a)!r} and {cell_key(system, b)!r} share "
                               + ", ".join(why))
                related.extend(loc for loc in (a.location("name"), b.location("name"))
                               if loc is not None and loc not in related)
    if not reasons:
        return None
    return error("SCENARIO-IMPOSSIBLE", f"scenario {s.name!r} cannot run: " + "; ".join(reasons)
                 + " (the hypervisor refuses the second cell)", s.location, related=related,
                 hint="put cells that share a CPU, a peer slot or a name in different scenarios")


def diagnostics_of_cell(system: System | None, cell: Cell) -> list[Diagnostic]:
    """The rules that judge ``cell`` alone (``system`` resolves its links and architecture;
    None for a standalone cell)."""
    return cell_diagnostics(system, cell, regions_of_cell(system, cell))
