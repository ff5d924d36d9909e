"""Semantic diff: what changed in meaning between two versions of a set of systems.

A side branch at the end of the flow (it imports ``model``, ``check`` and ``layout``;
permissions are judged on the effective-access map,
:func:`check.access_map.effective_access_of`). Either side is a YAML set (files or a
directory) or a set of ``.cell`` blobs (found by ``load.inputs``, read by ``load.blob``,
lifted into models by ``lift.blob_to_yaml``), in any mix. Both become assembled
:class:`model.assembly.System` objects and are compared as facts, never as text or bytes:
cells by name; declared regions as ranges with access; the
effective-access map per cell, byte range by byte range (what each cell gains or loses);
CPUs, interrupt lines, port I/O and PCI functions per cell (and which of them moved from
one cell to another); links by name or, failing that, by PCI address; platform facts.
Whatever does not change the meaning of any byte (reordered regions or files, renamed
regions, comments, the spelling of numbers) is not a change.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

from .formats import jailhouse as jh
from .diagnostics import ConfigError, Diagnostic, InputError, Severity, sorted_diagnostics
from .layout import system_header_of
from .load.inputs import YAML, side_files_of
from .model.assembly import Assembly, System, assembly_of
from .model.document import document_of
from .model.regions import Region, regions_of_cell
from .model.system import Cell, Link, PciDevice
from .units import counted, format_bdf, format_flags, format_ranges, format_size, format_span
from .check.access_map import effective_access_of
from .wording import access_words, region_meaning

MAX_LABELS = 3


@dataclass
class Change:
    """One change in meaning. ``kind`` is a stable word (``cell-added``, ``access-gained``,
    ...); ``text`` says it in one line; ``details`` holds the facts for machines."""
    system: str
    kind: str
    text: str
    cell: str | None = None
    details: dict = field(default_factory=dict)

    @property
    def sign(self) -> str:
        if self.kind.endswith(("-added", "-gained")):
            return "+"
        if self.kind.endswith(("-removed", "-lost")):
            return "-"
        return "~"

    def as_dict(self) -> dict:
        return {"system": self.system, "cell": self.cell, "kind": self.kind, "text": self.text,
                **self.details}


@dataclass
class Side:
    """One side of a diff: what its paths amount to and how they were read."""
    label: str
    kind: str                      # "yaml" or "blob"
    files: list[Path]
    assembly: Assembly
    diagnostics: list[Diagnostic] = field(default_factory=list)


# --- reading a side ----------------------------------------------------------------------------

def side_of(path: str | Path) -> Side:
    """Read one side: a YAML file, a blob, or a directory of either. Problems that leave no
    model to compare (unreadable files, schema errors, bad blobs) raise InputError."""
    from .load.yaml_source import SourceDoc, load_yaml_file

    path = Path(path)
    kind, files = side_files_of(path)
    problems: list[Diagnostic] = []
    notes: list[Diagnostic] = []
    documents = []
    if kind == YAML:
        for f in files:
            try:
                source = load_yaml_file(f)
                documents.append(document_of(source))
            except ConfigError as exc:
                problems.extend(exc.diagnostics)
    else:
        from .load.blob import parsed_blob_file
        from .lift.blob_to_yaml import imported_documents_of

        blobs = []
        for f in files:
            try:
                blobs.append(parsed_blob_file(f))
            except InputError as exc:
                problems.extend(exc.diagnostics)
        if not problems:
            for imported in imported_documents_of(blobs):
                notes.extend(imported.diagnostics)
                try:
                    documents.append(document_of(SourceDoc(imported.source, imported.data, None)))
                except ConfigError as exc:
                    problems.extend(exc.diagnostics)
    if problems:
        raise InputError(sorted_diagnostics(problems))
    assembly = assembly_of(documents)
    fatal = [d for d in assembly.diagnostics if d.severity is Severity.ERROR]
    if fatal:
        raise InputError(sorted_diagnostics(fatal))
    return Side(str(path), kind, files, assembly, sorted_diagnostics(notes))


# --- small formatting helpers --------------------------------------------------------------------

def _flag_text(mask: int, names: dict) -> str:
    return ", ".join(str(w) if isinstance(w, str) else f"{w:#x}" for w in format_flags(mask, names)) or "none"


def _is_physical(r: Region) -> bool:
    return r.size > 0 and not r.is_placeholder and not r.flags & jh.MEM_COMM_REGION


# --- pairing systems -------------------------------------------------------------------------------

def _paired_systems(old: Sequence[System], new: Sequence[System]):
    """(old or None, new or None) pairs: by system name, then by root cell name, then the
    last one left on each side (a blob set names its system after the root blob's file)."""
    pairs = []
    left_old, left_new = list(old), list(new)
    for key in (lambda s: s.name, lambda s: s.root.name):
        for s in list(left_old):
            match = next((n for n in left_new if key(n) == key(s)), None)
            if match is not None:
                pairs.append((s, match))
                left_old.remove(s)
                left_new.remove(match)
    if len(left_old) == 1 and len(left_new) == 1:
        pairs.append((left_old.pop(), left_new.pop()))
    pairs += [(s, None) for s in left_old] + [(None, s) for s in left_new]
    return pairs


# --- the comparison ----------------------------------------------------------------------------------

def changes_of(old: Assembly, new: Assembly) -> list[Change]:
    """Every change in meaning from ``old`` to ``new`` (empty: they mean the same)."""
    changes: list[Change] = []
    for a, b in _paired_systems(old.systems, new.systems):
        if a is None:
            changes.append(Change(b.name, "system-added", f"system {b.name} added "
                                  f"({counted(len(b.all_cells), 'cell')}, {counted(len(b.links), 'link')})"))
        elif b is None:
            changes.append(Change(a.name, "system-removed", f"system {a.name} removed"))
        else:
            changes.extend(system_changes_of(a, b))
    old_alone = {c.name: c for c in old.standalone}
    new_alone = {c.name: c for c in new.standalone}
    for name in sorted(old_alone.keys() | new_alone.keys()):
        a, b = old_alone.get(name), new_alone.get(name)
        if a is None:
            changes.append(Change("", "cell-added", f"standalone cell {name} added", name))
        elif b is None:
            changes.append(Change("", "cell-removed", f"standalone cell {name} removed", name))
        else:
            changes.extend(_cell_changes("", a, b, regions_of_cell(None, a), regions_of_cell(None, b)))
    return changes


def system_changes_of(old: System, new: System) -> list[Change]:
    name = new.name
    changes: list[Change] = []
    changes.extend(_platform_changes(name, old, new))
    old_cells = {c.name: c for c in old.all_cells}
    new_cells = {c.name: c for c in new.all_cells}
    if old.root.name != new.root.name:
        changes.append(Change(name, "root-changed", f"root cell {old.root.name} -> {new.root.name}"))
    for cell in new.all_cells:
        if cell.name not in old_cells:
            regions = [r for r in regions_of_cell(new, cell) if _is_physical(r)]
            changes.append(Change(name, "cell-added", f"cell {cell.name} added (CPUs "
                                  f"{format_ranges(cell.cpus) or '-'}, {counted(len(regions), 'memory region')})",
                                  cell.name))
    for cell in old.all_cells:
        if cell.name not in new_cells:
            changes.append(Change(name, "cell-removed", f"cell {cell.name} removed", cell.name))
    for cell in new.all_cells:
        if cell.name in old_cells:
            a = old_cells[cell.name]
            changes.extend(_cell_changes(name, a, cell, _regions_outside_links(old, a),
                                         _regions_outside_links(new, cell)))
    common = [c.name for c in new.all_cells if c.name in old_cells]
    changes.extend(_moved_resources(name, old, new, common))
    changes.extend(_access_changes(name, old, new, set(common)))
    changes.extend(_link_changes(name, old, new))
    changes.extend(_scenario_changes(name, old, new))
    return changes


def _scenarios_by_name(system: System) -> dict[str, list[str]]:
    """Scenario name -> the keys of its non-root cells (empty: no scenarios declared)."""
    from .model.scenarios import cell_key, declared_scenarios
    return {s.name: sorted({cell_key(system, c) for c in s.cells} | {e for e, _ in s.unknown})
            for s in declared_scenarios(system) or []}


def _scenario_changes(name: str, old: System, new: System) -> list[Change]:
    """Which cells run together: scenarios added, removed, or with cells joining or leaving."""
    a, b = _scenarios_by_name(old), _scenarios_by_name(new)
    result = []
    for scenario, cells in b.items():
        if scenario not in a:
            result.append(Change(name, "scenario-added", f"scenario {scenario} added "
                                 f"({', '.join(cells) or 'the root cell alone'})",
                                 details={"scenario": scenario, "cells": cells}))
    for scenario, cells in a.items():
        if scenario not in b:
            result.append(Change(name, "scenario-removed", f"scenario {scenario} removed",
                                 details={"scenario": scenario, "cells": cells}))
    for scenario, cells in b.items():
        if scenario in a and a[scenario] != cells:
            joined = [c for c in cells if c not in a[scenario]]
            left = [c for c in a[scenario] if c not in cells]
            said = "; ".join(part for part in (joined and f"{', '.join(joined)} joined",
                                               left and f"{', '.join(left)} left") if part)
            result.append(Change(name, "scenario-changed", f"scenario {scenario}: {said}",
                                 details={"scenario": scenario, "joined": joined, "left": left}))
    return result


def _flatten(prefix: str, value, out: dict) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            _flatten(f"{prefix}.{k}" if prefix else str(k), v, out)
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            _flatten(f"{prefix}[{i}]", v, out)
    else:
        out[prefix] = value


def _platform_changes(name: str, old: System, new: System) -> list[Change]:
    a: dict = {}
    b: dict = {}
    _flatten("", system_header_of(old), a)
    _flatten("", system_header_of(new), b)
    result = []
    for key in sorted(a.keys() | b.keys()):
        if a.get(key) != b.get(key):
            before, after = a.get(key), b.get(key)
            show = (lambda v: f"{v:#x}" if isinstance(v, int) else repr(v))
            result.append(Change(name, "platform-changed",
                                 f"platform {key}: {show(before) if before is not None else 'absent'} -> "
                                 f"{show(after) if after is not None else 'absent'}",
                                 details={"field": key, "old": before if not isinstance(before, bytes) else before.hex(),
                                          "new": after if not isinstance(after, bytes) else after.hex()}))
    return result


def _raw_ivshmem_of(cell: Cell, regions: list[Region]) -> list[tuple[PciDevice, int | None]]:
    """The cell's raw ivshmem devices with the index of each one's first region (None when
    its regions cannot be found)."""
    result = []
    for dev in cell.pci_devices:
        if isinstance(dev, PciDevice) and dev.type == jh.PCI_TYPE_IVSHMEM:
            ref = dev.shmem_regions
            start: int | None = 0 if ref is None else ref if isinstance(ref, int) else \
                next((i for i, r in enumerate(regions) if r.name == ref), None)
            if start is not None and start + 2 + dev.shmem_peers > len(regions):
                start = None
            result.append((dev, start))
    return result


def _regions_outside_links(system: System | None, cell: Cell) -> list[Region]:
    """The cell's regions minus those of its links, declared or raw: a link is compared
    as a link (:func:`_link_changes`) whichever way it is written, so that a raw ivshmem
    device and the same device declared as a link are no change."""
    regions = regions_of_cell(system, cell)
    claimed: set[int] = set()
    for dev, start in _raw_ivshmem_of(cell, regions):
        if start is not None:
            claimed.update(range(start, start + 2 + dev.shmem_peers))
    return [r for i, r in enumerate(regions) if i not in claimed]


def _region_key(r: Region) -> tuple[int, int, int, int]:
    return (r.phys, r.virt, r.size, r.flags)


def _declared_regions(regions: Iterable[Region]) -> list[Region]:
    """Regions a cell declares itself (link-derived ones are compared as links)."""
    return [r for r in regions if r.link is None and not r.is_placeholder]


def _region_pairs(old: list[Region], new: list[Region]):
    """Pair regions that are the same region before and after: exact matches first (order
    and names do not matter), then same name, same start, same end, same size and flags."""
    left_old, left_new = list(old), list(new)
    for r in list(left_old):
        match = next((n for n in left_new if _region_key(n) == _region_key(r)), None)
        if match is not None:
            left_old.remove(r)
            left_new.remove(match)
    pairs = []
    rules = (lambda a, b: a.name is not None and a.name == b.name,
             lambda a, b: a.phys == b.phys and bool(a.flags & jh.MEM_COMM_REGION) == bool(b.flags & jh.MEM_COMM_REGION),
             lambda a, b: a.end == b.end,
             lambda a, b: a.size == b.size and a.flags == b.flags)
    for same in rules:
        for r in list(left_old):
            match = next((n for n in left_new if same(r, n)), None)
            if match is not None:
                pairs.append((r, match))
                left_old.remove(r)
                left_new.remove(match)
    return pairs, left_old, left_new


def _region_text(r: Region) -> str:
    where = "communication region" if r.flags & jh.MEM_COMM_REGION else format_span(r.phys, r.end)
    name = f"region {r.name!r}" if r.name else "region"
    return f"{name} {where} ({format_size(r.size)}, {_flag_text(r.flags, jh.MEM_FLAGS)})"


def _cell_changes(system: str, old: Cell, new: Cell, old_regions: list[Region],
                  new_regions: list[Region]) -> list[Change]:
    cell = new.name
    out: list[Change] = []
    pairs, removed, added = _region_pairs(_declared_regions(old_regions), _declared_regions(new_regions))
    for a, b in pairs:
        what = []
        if a.phys != b.phys and not b.flags & jh.MEM_COMM_REGION:
            what.append(f"moved {format_span(a.phys, a.end)} -> {format_span(b.phys, b.end)}")
        if a.size != b.size:
            what.append(f"resized {format_size(a.size)} -> {format_size(b.size)}"
                        + ("" if a.phys != b.phys else f" ({format_span(a.phys, a.end)} -> {format_span(b.phys, b.end)})"))
        if a.virt != b.virt:
            what.append(f"seen at {b.virt:#x} instead of {a.virt:#x}")
        if a.flags != b.flags:
            gained, lost = b.flags & ~a.flags, a.flags & ~b.flags
            parts = ([f"+{_flag_text(gained, jh.MEM_FLAGS)}"] if gained else []) + \
                    ([f"-{_flag_text(lost, jh.MEM_FLAGS)}"] if lost else [])
            what.append("flags " + " ".join(parts))
        label = f"region {b.name!r}" if b.name else (f"region {a.name!r}" if a.name else
                                                      f"region at {format_span(a.phys, a.end)}")
        kind = "region-moved" if a.phys != b.phys else ("region-resized" if a.size != b.size else "region-changed")
        out.append(Change(system, kind, f"cell {cell}: {label} " + ", ".join(what), cell,
                          {"old": _region_facts(a), "new": _region_facts(b)}))
    for r in removed:
        out.append(Change(system, "region-removed", f"cell {cell}: {_region_text(r)} removed", cell,
                          {"old": _region_facts(r)}))
    for r in added:
        out.append(Change(system, "region-added", f"cell {cell}: {_region_text(r)} added", cell,
                          {"new": _region_facts(r)}))
    if old.flags != new.flags:
        gained, lost = new.flags & ~old.flags, old.flags & ~new.flags
        parts = ([f"+{_flag_text(gained, jh.CELL_FLAGS)}"] if gained else []) + \
                ([f"-{_flag_text(lost, jh.CELL_FLAGS)}"] if lost else [])
        out.append(Change(system, "cell-flags-changed", f"cell {cell}: flags {' '.join(parts)}", cell))
    if old.console.model_dump() != new.console.model_dump():
        out.append(Change(system, "console-changed", f"cell {cell}: console changed", cell,
                          {"old": old.console.model_dump(), "new": new.console.model_dump()}))
    return out


def _region_facts(r: Region) -> dict:
    return {"name": r.name, "phys": r.phys, "virt": r.virt, "size": r.size,
            "flags": [w for w in format_flags(r.flags, jh.MEM_FLAGS)]}


# --- resources that can move from cell to cell -------------------------------------------------------

def _cpus_of(cell: Cell) -> set:
    return set(cell.cpus)


def _irqs_of(cell: Cell) -> set:
    return {(chip.address, line) for chip in cell.irqchips for line in chip.interrupts}


def _ports_of(cell: Cell) -> set:
    return {port for p in cell.pio for port in range(p.base, p.base + p.length)}


def _pci_of(cell: Cell) -> set:
    # raw ivshmem devices are links (compared by _link_changes)
    return {(d.domain, d.bdf) for d in cell.pci_devices
            if isinstance(d, PciDevice) and d.type != jh.PCI_TYPE_IVSHMEM}


def _grouped(items: Iterable, what: str) -> str:
    """Human text of a set of resources of one kind."""
    items = sorted(items)
    if what == "CPU":
        return f"CPU{'s' if len(items) != 1 else ''} {format_ranges(items)}"
    if what == "port":
        return f"port I/O {_port_ranges(items)}"
    if what == "PCI":
        return "PCI device" + ("s " if len(items) != 1 else " ") + ", ".join(
            format_bdf(bdf) if not dom else f"{dom:04x}:{format_bdf(bdf)}" for dom, bdf in items)
    chips: dict[int, list[int]] = {}
    for chip, line in items:
        chips.setdefault(chip, []).append(line)
    return "; ".join(f"interrupt line{'s' if len(lines) != 1 else ''} {format_ranges(lines)} "
                     f"on irqchip {chip:#x}" for chip, lines in chips.items())


def _port_ranges(ports: list[int]) -> str:
    parts = []
    i = 0
    while i < len(ports):
        j = i
        while j + 1 < len(ports) and ports[j + 1] == ports[j] + 1:
            j += 1
        parts.append(f"{ports[i]:#x}" if i == j else f"{ports[i]:#x}-{ports[j]:#x}")
        i = j + 1
    return ",".join(parts)


def _moved_resources(system: str, old: System, new: System, common: list[str]) -> list[Change]:
    """CPUs, interrupt lines, ports and PCI functions each cell gains or loses; a resource
    one cell loses and another gains is reported once, as a move."""
    out: list[Change] = []
    for what, facts in (("CPU", _cpus_of), ("interrupt", _irqs_of), ("port", _ports_of), ("PCI", _pci_of)):
        gains: dict[str, set] = {}
        losses: dict[str, set] = {}
        for name in common:
            a, b = facts(old.cell_named(name)), facts(new.cell_named(name))
            if b - a:
                gains[name] = b - a
            if a - b:
                losses[name] = a - b
        for loser in common:
            for winner in common:
                if loser == winner or loser not in losses or winner not in gains:
                    continue
                moved = losses[loser] & gains[winner]
                if moved:
                    out.append(Change(system, f"{what.lower()}-moved",
                                      f"{_grouped(moved, what)} moved from {loser} to {winner}", winner,
                                      {"from": loser, "to": winner, "items": _jsonable(moved)}))
                    losses[loser] -= moved
                    gains[winner] -= moved
        for name in common:
            if gains.get(name):
                out.append(Change(system, f"{what.lower()}-gained",
                                  f"{name} gains {_grouped(gains[name], what)}", name,
                                  {"items": _jsonable(gains[name])}))
            if losses.get(name):
                out.append(Change(system, f"{what.lower()}-lost",
                                  f"{name} loses {_grouped(losses[name], what)}", name,
                                  {"items": _jsonable(losses[name])}))
    return out


def _jsonable(items: set) -> list:
    return [list(i) if isinstance(i, tuple) else i for i in sorted(items)]


# --- the effective-access map ------------------------------------------------------------------------

def _access_by_cell(system: System) -> dict[str, list[tuple[int, int, int, tuple[Region, ...]]]]:
    """Per cell: (start, end, access bits, regions granting it) along the physical axis."""
    result: dict[str, list] = {c.name: [] for c in system.all_cells}
    for iv in effective_access_of(system):
        for grant in iv.cells:
            result[grant.name].append((iv.start, iv.end, grant.access, grant.regions))
    return result


def _sample(pieces: list, points: list[int]):
    """Walk ``pieces`` (sorted, disjoint) along ``points``: yields (access, regions) for
    each elementary interval [points[i], points[i+1])."""
    j = 0
    for a, b in zip(points, points[1:]):
        while j < len(pieces) and pieces[j][1] <= a:
            j += 1
        if j < len(pieces) and pieces[j][0] <= a and b <= pieces[j][1]:
            yield a, b, pieces[j][2], pieces[j][3]
        else:
            yield a, b, 0, ()


def _access_changes(system: str, old: System, new: System, common: set[str]) -> list[Change]:
    before, after = _access_by_cell(old), _access_by_cell(new)
    out: list[Change] = []
    for cell in new.all_cells:
        name = cell.name
        if name not in common:
            continue
        a_pieces, b_pieces = before.get(name, []), after.get(name, [])
        points = sorted({p for s, e, _, _ in a_pieces for p in (s, e)} |
                        {p for s, e, _, _ in b_pieces for p in (s, e)})
        runs: list[list] = []  # [start, end, gained, lost, labels]
        for (s, e, acc_a, regs_a), (_, _, acc_b, regs_b) in zip(_sample(a_pieces, points),
                                                                _sample(b_pieces, points)):
            gained, lost = acc_b & ~acc_a, acc_a & ~acc_b
            if not (gained or lost):
                continue
            labels = [region_meaning(r) for r in (regs_b if gained else regs_a)]
            if runs and runs[-1][1] == s and runs[-1][2] == gained and runs[-1][3] == lost:
                runs[-1][1] = e
                runs[-1][4].extend(x for x in labels if x not in runs[-1][4])
            else:
                runs.append([s, e, gained, lost, list(dict.fromkeys(labels))])
        for s, e, gained, lost, labels in runs:
            shown = labels[:MAX_LABELS] + ([f"{len(labels) - MAX_LABELS} more"] if len(labels) > MAX_LABELS else [])
            where = f" ({', '.join(shown)})" if shown else ""
            if gained:
                out.append(Change(system, "access-gained",
                                  f"{name} gains {access_words(gained)} on {format_span(s, e)}{where}", name,
                                  {"start": s, "end": e, "access": access_words(gained).split(", "),
                                   "regions": labels}))
            if lost:
                out.append(Change(system, "access-lost",
                                  f"{name} loses {access_words(lost)} on {format_span(s, e)}{where}", name,
                                  {"start": s, "end": e, "access": access_words(lost).split(", "),
                                   "regions": labels}))
    return out


# --- links --------------------------------------------------------------------------------------------

_LINK_FIELDS = ("bdf", "domain", "base", "state_table", "rw_section", "output_section", "peers",
                "interrupts", "protocol", "backend", "iommu")


def _link_value(link: Link, key: str):
    if key == "bar_mask":
        return list(link.effective_bar_mask)
    value = getattr(link, key)
    return list(value) if isinstance(value, (list, tuple)) else value


def _link_facts_of(system: System) -> dict[str, dict]:
    """Every link of a system as facts (the fields of ``_LINK_FIELDS`` and ``bar_mask``),
    declared links by name and raw ivshmem devices, paired across cells by domain and BDF
    as the hypervisor pairs them, by their PCI address."""
    facts = {name: {key: _link_value(link, key) for key in _LINK_FIELDS + ("bar_mask",)}
             for name, link in system.links.items()}
    groups: dict[tuple[int, int], list[tuple[Cell, PciDevice, list[Region], int | None]]] = {}
    for cell in system.all_cells:
        regions = regions_of_cell(system, cell)
        for dev, start in _raw_ivshmem_of(cell, regions):
            groups.setdefault((dev.domain, dev.bdf), []).append((cell, dev, regions, start))
    for (domain, bdf), members in groups.items():
        members.sort(key=lambda m: m[1].shmem_dev_id)
        cell, ref, regions, start = next((m for m in members if m[3] is not None), members[0])
        sizes = [0, 0, 0]
        base = 0
        if start is not None:
            state, rw = regions[start], regions[start + 1]
            base = state.phys
            sizes = [state.size, 0 if rw.is_placeholder else rw.size,
                     regions[start + 2].size if ref.shmem_peers else 0]
        backends = [m for m in members if m[1].shmem_protocol >= 0xC000]
        name = f"{format_bdf(bdf) if not domain else f'{domain:04x}:{format_bdf(bdf)}'} (raw ivshmem device)"
        facts[name] = {"bdf": bdf, "domain": domain, "base": base, "state_table": sizes[0],
                       "rw_section": sizes[1], "output_section": sizes[2],
                       "peers": [m[0].name for m in members], "interrupts": ref.msix_vectors,
                       "protocol": backends[0][1].shmem_protocol if backends else ref.shmem_protocol,
                       "backend": backends[0][0].name if backends else None, "iommu": ref.iommu,
                       "bar_mask": list(ref.bar_mask) + [0] * (6 - len(ref.bar_mask))}
    return facts


def _link_value_text(key: str, value) -> str:
    if key == "bdf":
        return format_bdf(value)
    if key in ("state_table", "rw_section", "output_section"):
        return format_size(value)
    if key == "peers":
        return "[" + ", ".join(value) + "]"
    if key == "interrupts":
        return f"msix {value}" if value else "intx"
    if isinstance(value, int):
        return f"{value:#x}"
    return str(value)


def _link_changes(system: str, old: System, new: System) -> list[Change]:
    out: list[Change] = []
    left = _link_facts_of(old)
    pairs = []
    for name, link in _link_facts_of(new).items():
        match = left.pop(name, None)
        if match is None:
            key = next((k for k, l in left.items()
                        if (l["domain"], l["bdf"]) == (link["domain"], link["bdf"])), None)
            match = left.pop(key) if key is not None else None
        pairs.append((name, match, link))
    for name, a, b in pairs:
        if a is None:
            out.append(Change(system, "link-added", f"link {name} added ({format_bdf(b['bdf'])}, "
                              f"{format_span(b['base'], b['base'] + _link_size(b))}, peers {', '.join(b['peers'])})",
                              details={"link": name}))
            continue
        what = []
        for key in _LINK_FIELDS + ("bar_mask",):
            va, vb = a[key], b[key]
            if va != vb:
                what.append(f"{key} {_link_value_text(key, va)} -> {_link_value_text(key, vb)}")
        if what:
            out.append(Change(system, "link-changed", f"link {name}: " + ", ".join(what),
                              details={"link": name}))
    for name, link in left.items():
        out.append(Change(system, "link-removed", f"link {name} removed ({format_bdf(link['bdf'])}, "
                          f"peers {', '.join(link['peers'])})", details={"link": name}))
    return out


def _link_size(facts: dict) -> int:
    return facts["state_table"] + facts["rw_section"] + len(facts["peers"]) * facts["output_section"]
