"""Model layer: documents -> systems.

Part of step 2 of the flow. Files are grouped into systems by their ``system:`` name:
the file with ``platform`` is the system's own and its cell is the root cell; the other
files add cells and links. Cells of files that name no system stay standalone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable

from ..diagnostics import Diagnostic, did_you_mean, error
from ..formats import jailhouse as jh
from ..wording import arch_name
from .document import unreadable_of
from .system import Cell, Document, Link, Platform


@dataclass
class System:
    """One machine: its platform, root cell, other cells and links (all from YAML)."""
    name: str
    platform: Platform
    root: Cell
    cells: list[Cell] = field(default_factory=list)  # non-root, in file order
    links: dict[str, Link] = field(default_factory=dict)
    documents: list[Document] = field(default_factory=list)
    # names of links and cells an input meant to declare but could not (already reported):
    # validation does not report placements of or peers by these names again
    unreadable_links: set[str] = field(default_factory=set)
    unreadable_cells: set[str] = field(default_factory=set)

    @property
    def arch(self) -> int:
        return self.platform.arch

    @property
    def all_cells(self) -> list[Cell]:
        return [self.root, *self.cells]

    def cell_named(self, name: str) -> Cell | None:
        for c in self.all_cells:
            if c.name == name:
                return c
        return None


@dataclass
class Assembly:
    """What a set of input files amounts to: systems, standalone cells, and problems."""
    systems: list[System] = field(default_factory=list)
    standalone: list[Cell] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)


def assembly_of(documents: Iterable[Document], unreadable_systems: Iterable[str] = (),
                unreadable_cells: Iterable[tuple[str, str]] = ()) -> Assembly:
    """Group documents into systems by their ``system:`` name (files in the given order).
    ``unreadable_systems`` names systems whose own file failed to load: files that belong
    to them are skipped quietly (the load error already says what is wrong), as are those
    of a system whose file has no root cell. ``unreadable_cells`` holds (system, cell)
    for cell files that failed to load, so that links naming them as peers stay quiet."""
    docs = list(documents)
    unreadable = set(unreadable_systems)
    for d in docs:
        lost = unreadable_of(d)
        if lost is not None and lost.platform and d.system is not None:
            unreadable.add(d.system)
    result = Assembly()
    by_name: dict[str, System] = {}
    for d in docs:
        if d.platform is None:
            continue
        if d.system is None:
            result.diagnostics.append(error("SYS-NAME", "a file with 'platform' must name its system",
                                            d.location("platform", key=True),
                                            hint="add 'system: <name>' at the top of the file"))
            continue
        if d.cell is None:
            unreadable.add(d.system)
            lost = unreadable_of(d)
            if lost is None or lost.cell_name is None:  # else its load error says why
                result.diagnostics.append(error("SYS-ROOT-MISSING", f"system {d.system!r} has no root cell",
                                                d.location("platform", key=True),
                                                hint="add the root cell as 'cell:' in the same file"))
            continue
        if d.system in by_name:
            result.diagnostics.append(error(
                "SYS-DUPLICATE", f"system {d.system!r} is defined twice",
                d.location("system"), related=[by_name[d.system].documents[0].location("system")]))
            continue
        by_name[d.system] = System(d.system, d.platform, d.cell, documents=[d])
    cells_by_name: dict[str, dict[str, Cell]] = {}
    for d in docs:
        if d.platform is not None:
            target = by_name.get(d.system or "")
            if target and target.documents[0] is d:
                _add_links(target, d, result)
            continue
        if d.scenarios is not None:
            result.diagnostics.append(error(
                "SCENARIO-PLACE", "'scenarios' belongs in the system's own file (the one with 'platform')",
                d.location("scenarios", key=True), hint="move it next to 'platform:'"))
        if d.system is None:
            if d.cell is not None:
                result.standalone.append(d.cell)
            if d.links:
                result.diagnostics.append(error(
                    "LINK-NO-SYSTEM", "links need a system: this file names none",
                    d.location("links", key=True), hint="add 'system: <name>' at the top of the file"))
            continue
        target = by_name.get(d.system)
        if target is None and d.system in unreadable:
            continue
        if target is None:
            result.diagnostics.append(error(
                "SYS-UNKNOWN", f"system {d.system!r} is not defined by any input file",
                d.location("system"), hint=did_you_mean(d.system, by_name)
                or "pass the system's file (the one with 'platform:') in the same call"))
            continue
        target.documents.append(d)
        if d.cell is not None:
            # by name through a dict: cell_named per file made 10,000 cells quadratic
            named = cells_by_name.get(target.name)
            if named is None:
                named = cells_by_name[target.name] = {c.name: c for c in target.all_cells}
            clash = named.get(d.cell.name)
            # alternatives may share a name when the system says which cells run together
            # (judged per scenario: a scenario holding both is an impossible one)
            if clash is not None and target.documents[0].scenarios is None:
                result.diagnostics.append(error(
                    "CELL-DUPLICATE", f"cell name {d.cell.name!r} is used twice in system {target.name!r}",
                    d.cell.location("name"), related=[clash.location("name")]))
            else:
                target.cells.append(d.cell)
                named[d.cell.name] = d.cell
        _add_links(target, d, result)
    result.systems = list(by_name.values())
    for system_name, cell_name in unreadable_cells:
        if system_name in by_name:
            by_name[system_name].unreadable_cells.add(cell_name)
    for system in result.systems:
        for d in system.documents:
            lost = unreadable_of(d)
            if lost is not None:
                system.unreadable_links |= lost.links
                if lost.cell_name is not None:
                    system.unreadable_cells.add(lost.cell_name)
    for cell in result.standalone:
        if cell.arch is None:
            result.diagnostics.append(error(
                "CELL-ARCH", f"standalone cell {cell.name!r} must state its architecture",
                cell.location("name"), hint="add 'arch: x86' (or arm, arm64), or 'system: <name>'"))
    for system in result.systems:
        for cell in system.all_cells:
            if cell.arch is not None and cell.arch != system.arch:
                result.diagnostics.append(error(
                    "CELL-ARCH", f"cell {cell.name!r} says arch {arch_name(cell.arch)} but system "
                    f"{system.name!r} is {arch_name(system.arch)}", cell.location("arch"),
                    related=[system.platform.location("arch")]))
    return result



def _add_links(system: System, doc: Document, result: Assembly) -> None:
    for name, link in doc.links.items():
        if name in system.links:
            result.diagnostics.append(error(
                "LINK-DUPLICATE", f"link {name!r} is declared twice in system {system.name!r}",
                link.location(key=True), related=[system.links[name].location(key=True)]))
            continue
        system.links[name] = link
