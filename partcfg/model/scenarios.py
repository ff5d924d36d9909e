"""Scenarios: which cells of a system run at the same time.

Sits between ``model`` and ``validate`` in the flow (imports only ``model`` and the
foundations). A system file may declare ``scenarios:`` (name -> non-root cells); the root
cell is in every scenario, and without the key every cell runs together. Validation judges
the cross-cell rules on each scenario's :func:`sub_system`; import infers scenarios with
:func:`inferred_scenarios`; build records them for the runtime.

The hypervisor refuses to start a cell that shares a CPU with a running non-root cell, whose
name a running cell has, or whose ivshmem endpoint takes a peer slot already taken on its
link (docs/format/hypervisor-acceptance.md, "Cells that run together"). Two cells with such a
:func:`conflicts_between` are *alternatives*: never in one scenario.

Cells are named in scenarios by their cell name; when alternatives share a name, each is
named ``name@file-stem`` (the stem of the file that declares it), which is also the stem of
its build outputs (:func:`cell_key`).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from ..formats import jailhouse as jh
from ..diagnostics import Location
from ..formats.ivshmem import links_by_bdf
from .assembly import System
from .system import Cell, PciDevice
from ..names import file_stem_of


def _stem_of(cell: Cell) -> str:
    where = cell.location("name")
    return Path(where.file).stem if where is not None else cell.name


def cell_key(system: System, cell: Cell) -> str:
    """How scenarios and output files name ``cell``: its name, or ``name@file-stem`` when
    another cell of the system has the same name (alternatives)."""
    if sum(1 for c in system.all_cells if c.name == cell.name) > 1:
        return f"{cell.name}@{_stem_of(cell)}"
    return cell.name


def output_stem_of(system: System, cell: Cell) -> str:
    """The stem of ``cell``'s build outputs: its name as a file name, and for a name that
    alternatives share, ``@`` and the stem of the file declaring it (``guest@linux-demo``)."""
    key = cell_key(system, cell)
    if key == cell.name:
        return file_stem_of(cell.name)
    return f"{file_stem_of(cell.name)}@{file_stem_of(_stem_of(cell))}"


@dataclass
class Scenario:
    """One declared scenario: its non-root cells as found in this call."""
    name: str
    cells: list[Cell]
    location: Location | None
    # entries naming no cell of the call: (entry, its location)
    unknown: list[tuple[str, Location | None]] = field(default_factory=list)
    # entries naming a shared cell name without '@file-stem': (entry, location, the cells)
    ambiguous: list[tuple[str, Location | None, list[Cell]]] = field(default_factory=list)


def declared_scenarios(system: System) -> list[Scenario] | None:
    """The system's scenarios in file order, or None when it declares none."""
    declared = system.documents[0].scenarios if system.documents else None
    if declared is None:
        return None
    doc = system.documents[0]
    by_key = {cell_key(system, c): c for c in system.cells}
    by_name: dict[str, list[Cell]] = {}
    for c in system.cells:
        by_name.setdefault(c.name, []).append(c)
    result = []
    for name, entries in declared.items():
        scenario = Scenario(name, [], doc.location("scenarios", name, key=True))
        for i, entry in enumerate(entries):
            where = doc.location("scenarios", name, i)
            if entry == system.root.name:
                continue  # the root is in every scenario anyway
            cell = by_key.get(entry)
            if cell is not None:
                if cell not in scenario.cells:
                    scenario.cells.append(cell)
            elif len(by_name.get(entry, [])) > 1:
                scenario.ambiguous.append((entry, where, by_name[entry]))
                scenario.cells.extend(c for c in by_name[entry] if c not in scenario.cells)
            else:
                scenario.unknown.append((entry, where))
        result.append(scenario)
    return result


def sub_system(system: System, cells: list[Cell]) -> System:
    """The system with the root and ``cells`` running; the other cells are not running, so
    links naming them are judged with the peers that are (their names are quiet)."""
    running = {id(c) for c in cells}
    absent = {c.name for c in system.cells if id(c) not in running} - {c.name for c in cells}
    return replace(system, cells=[c for c in system.cells if id(c) in running],
                   unreadable_cells=system.unreadable_cells | absent)


def scenario_system_of(system: System, name: str) -> System:
    """The system as it runs in scenario ``name`` (the whole system when it declares no
    scenario of that name)."""
    found = next((s for s in declared_scenarios(system) or [] if s.name == name), None)
    return system if found is None else sub_system(system, found.cells)


# --- what makes two cells alternatives --------------------------------------------------------

def _declared_slots(system: System, cell: Cell) -> dict[str, int]:
    """link name -> this cell's peer slot, for the declared links naming it."""
    return {name: link.peers.index(cell.name) for name, link in system.links.items()
            if cell.name in link.peers}


def _raw_slots(cell: Cell) -> dict[int, int]:
    """BDF -> shmem_dev_id for the cell's raw ivshmem devices (paired by BDF alone)."""
    devices = [d for d in cell.pci_devices if isinstance(d, PciDevice) and d.type == jh.PCI_TYPE_IVSHMEM]
    return {bdf: members[0].shmem_dev_id for bdf, members in links_by_bdf(devices, lambda d: d.bdf).items()}


def conflicts_between(system: System, a: Cell, b: Cell) -> list[str]:
    """Why the hypervisor would refuse to run non-root cells ``a`` and ``b`` together
    (empty: they can run together), as phrases for a message."""
    reasons = []
    shared = sorted(set(a.cpus) & set(b.cpus))
    if shared:
        reasons.append(f"CPU{'s' if len(shared) > 1 else ''} {', '.join(map(str, shared))}")
    slots_a, slots_b = _declared_slots(system, a), _declared_slots(system, b)
    for name in sorted(set(slots_a) & set(slots_b)):
        if slots_a[name] == slots_b[name]:
            reasons.append(f"peer slot {slots_a[name]} of link {name!r}")
    raw_a, raw_b = _raw_slots(a), _raw_slots(b)
    for bdf in sorted(set(raw_a) & set(raw_b)):
        if raw_a[bdf] == raw_b[bdf]:
            reasons.append(f"peer slot {raw_a[bdf]} of the ivshmem link at "
                           f"{bdf >> 8:02x}:{(bdf >> 3) & 0x1f:02x}.{bdf & 7}")
    if a.name == b.name:
        reasons.append(f"the name {a.name!r}")
    return reasons


def inferred_scenarios(system: System) -> dict[str, list[str]] | None:
    """Scenarios for a system whose cells are not all compatible (None when every cell can
    run with every other: then no scenarios are needed).

    The rule, deterministic: take the non-root cells in file order; each cell not yet in a
    scenario starts a new one and then pulls in, in file order, every later cell that
    conflicts with none of the scenario's cells (greedy maximal compatible set). Cells
    already placed may be pulled into a later one too (every other cell is tried, in file
    order), so each scenario is a maximal set of cells that can run together. Scenarios are named after their first cell's key."""
    cells = system.cells
    conflict = {(i, j): bool(conflicts_between(system, cells[i], cells[j]))
                for i in range(len(cells)) for j in range(len(cells)) if i < j}
    if not any(conflict.values()):
        return None

    def clash(i: int, j: int) -> bool:
        return conflict[(min(i, j), max(i, j))]

    placed: set[int] = set()
    result: dict[str, list[str]] = {}
    for start in range(len(cells)):
        if start in placed:
            continue
        members = [start]
        for j in range(len(cells)):
            if j != start and all(not clash(j, m) for m in members):
                members.append(j)
        members.sort()
        placed.update(members)
        result[cell_key(system, cells[start])] = [cell_key(system, cells[m]) for m in members]
    return result
