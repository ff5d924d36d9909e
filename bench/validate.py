"""Benchmark: whole-system validation of large generated systems (not a unit test).

Generates x86 systems of N regions spread over N/100 cells. Each non-root cell has RAM
chunks carved out of the root cell, two MMIO pages, a sub-page MMIO register block, a
communication region, an interrupt line, a PCI function and a 2-peer link with its
neighbour; the root cell has RAM, the carve-out and MMIO windows, and a link with cell 1.
Then times separately

  load+model      YAML text -> SourceDoc -> Document -> Assembly (text generated in memory)
  validate        validate.diagnostics_of_assembly
  layout+render   layout.layout_of_system + render.blob.blobs_of_system

for a valid system (which must give no diagnostic at all) and for one with planted faults
(an overlap, a CPU conflict and a write into another cell's TX section), which must be
found, and nothing else. validate and layout+render report the best of --repeat runs.

End to end, as a user runs it: the files are written to a directory (tmpfs when there is
one) and timed as

  check           `python -m partcfg.cli check DIR` in a fresh process (its peak memory too)
  yaml.load       a fresh process that reads the same files and `yaml.load`s each with
                  libyaml (CSafeLoader) into plain Python data: the usual way to read them

interleaved (yaml.load, check, yaml.load, check, ...; best of --repeat each), and printed
as the ratio check / yaml.load: at most 1 means checking costs no more than reading.

Systems above --yaml-limit regions are built as models directly (pydantic model_construct
from the same data, no source locations): parsing a million regions of YAML alone takes
minutes, and the point of those sizes is how validation scales.

    python bench/validate.py                            # 10k and 100k regions
    python bench/validate.py --sizes 10000,100000,1000000
    python bench/validate.py --end-to-end-only --sizes 100000,1000000 --yaml-limit 1000000
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
try:  # the installed package (pip install .), which has the runtime's compiled core
    import partcfg  # noqa: F401
except ImportError:  # a checkout used in place: see "Performance" in the README
    sys.path.insert(0, str(ROOT))

from partcfg.formats import jailhouse as jh
from partcfg.model import assembly as model_assembly
from partcfg.model import document as model_document
from partcfg.model import regions as model_regions
from partcfg.model import system as model
from partcfg.check import validate
from partcfg.gc_pause import collector_paused  # noqa: E402
from partcfg.layout import layout_of_system  # noqa: E402
from partcfg.load.yaml_source import load_yaml_text  # noqa: E402
from partcfg.render.blob import blobs_of_system  # noqa: E402

REGIONS_PER_CELL = 100
RAM_CHUNK = 0x10000                 # 64 KiB RAM regions
CELL_WINDOW = 0x800000              # 8 MiB of carve-out per non-root cell
CARVE_BASE = 0x1_0000_0000          # non-root RAM: 4 GiB upwards
MMIO_BASE = 0x200_0000_0000         # non-root MMIO: 64 KiB per cell
LINK_BASE = 0x100_0000_0000         # links: 64 KiB apart, outside the root cell's memory
LINK_SPAN = 0x10000
ROOT_RAM_CHUNK = 0x800000
HV_BASE, HV_SIZE = 0x4000_0000, 0x100_0000
IOAPIC = 0xFEC00000
# the planted TX write is by a cell that is no peer of the link: one finding (LINK-TX-WRITE),
# not again as LINK-ACCESS
EXPECTED_FAULTS = Counter({"MEM-OVERLAP-PHYS": 1, "CPU-CONFLICT": 1, "LINK-TX-WRITE": 1})
RAM = ["read", "write", "execute", "dma"]


# --- the generated system, as plain data ------------------------------------------------------

def system_data(cells: int, faulty: bool) -> dict:
    """platform, root cell, non-root cells and links of a generated system (YAML-shaped
    data: the cells' memory lists hold region mappings and ``{link: NAME}`` placements)."""
    nonroot = cells - 1
    links = {"root-link": ["root", "cell1"]}
    for j in range(1, nonroot, 2):
        links[f"l{j}"] = [f"cell{j}", f"cell{j + 1}"]
    link_data = {name: {"bdf": n, "domain": 1, "base": LINK_BASE + n * LINK_SPAN,
                        "state_table": 0x1000, "rw_section": 0x1000, "output_section": 0x1000,
                        "peers": peers, "interrupts": {"msix": 2}}
                 for n, (name, peers) in enumerate(links.items())}
    placement = {p: name for name, peers in links.items() for p in peers}

    root_memory = [{"name": f"ram{k}", "phys": k * ROOT_RAM_CHUNK, "size": ROOT_RAM_CHUNK, "flags": RAM}
                   for k in range(REGIONS_PER_CELL - 3)]
    root_memory += [
        {"name": "inmate-ram", "phys": CARVE_BASE, "size": nonroot * CELL_WINDOW, "flags": RAM},
        {"name": "inmate-mmio", "phys": MMIO_BASE, "size": nonroot * 0x10000,
         "flags": ["read", "write", "io"]},
        {"link": "root-link"}]
    top_line = 32 + nonroot
    root = {"name": "root", "cpus": list(range(cells)), "memory": root_memory,
            # one IOAPIC per 128 lines: every IOAPIC entry has pin_base 0 (x86/ioapic.c)
            "irqchips": [{"address": IOAPIC + (base // 128) * 0x1000, "id": 0xFF00, "pin_base": 0,
                          "interrupts": list(range(0, min(base + 127, top_line) - base + 1))}
                         for base in range(0, top_line + 1, 128)],
            "pci_devices": [{"type": "device", "bdf": i} for i in range(1, cells)]}

    cell_list = []
    ram_chunks = REGIONS_PER_CELL - 4 - 1 - 3   # link regions, comm region, MMIO
    for i in range(1, cells):
        carve = CARVE_BASE + (i - 1) * CELL_WINDOW
        mmio = MMIO_BASE + (i - 1) * 0x10000
        memory = [{"name": f"ram{k}", "phys": carve + k * RAM_CHUNK, "virt": k * RAM_CHUNK,
                   "size": RAM_CHUNK, "flags": RAM + ["loadable"]} for k in range(ram_chunks)]
        memory += [
            {"name": "comm", "virt": 0x80000000, "size": 0x1000, "flags": ["read", "write", "comm-region"]},
            {"name": "mmio0", "phys": mmio, "size": 0x1000, "flags": ["read", "write", "io"]},
            {"name": "mmio1", "phys": mmio + 0x1000, "size": 0x1000, "flags": ["read", "write", "io"]},
            {"name": "regs", "phys": mmio + 0x2000, "size": 0x400, "flags": ["read", "write", "io", "io-32"]},
            {"link": placement[f"cell{i}"]} if f"cell{i}" in placement else None]
        if faulty and i == 5:   # planted: overlaps ram10 of the same cell
            memory.append({"name": "planted-overlap", "phys": carve + 10 * RAM_CHUNK + 0x1000,
                           "virt": 0x90000000, "size": 0x1000, "flags": ["read", "write"]})
        if faulty and i == 9:   # planted: write access to cell2's TX section of link l1
            memory.append({"name": "planted-tx", "phys": LINK_BASE + LINK_SPAN + 0x3000,
                           "virt": 0xA0000000, "size": 0x1000, "flags": ["read", "write", "rootshared"]})
        line = 32 + i
        cell_list.append({
            "name": f"cell{i}", "flags": ["passive-comm-region"],
            "cpus": [i, i + 1] if faulty and i == 7 else [i],   # planted: CPU conflict
            "memory": [m for m in memory if m is not None],
            "irqchips": [{"address": IOAPIC + line // 128 * 0x1000, "id": 0xFF00, "pin_base": 0,
                          "interrupts": [line % 128]}],
            "pci_devices": [{"type": "device", "bdf": i}]})
    platform = {"arch": "x86", "hypervisor_memory": {"phys": HV_BASE, "size": HV_SIZE},
                "pci": {"mmconfig_base": 0xB0000000, "end_bus": 0xFF},
                "iommus": [{"type": "intel", "base": 0xFED90000, "size": 0x1000}]}
    return {"platform": platform, "root": root, "cells": cell_list, "links": link_data}


# --- ... as YAML text --------------------------------------------------------------------------

def _flow(value) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_flow(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_flow(v) for v in value) + "]"
    if isinstance(value, int) and value > 9:
        return hex(value)
    return str(value)


def _cell_text(cell: dict) -> list[str]:
    lines = ["cell:"]
    for key, value in cell.items():
        if isinstance(value, list) and value and isinstance(value[0], dict):
            lines.append(f"  {key}:")
            lines += [f"    - {_flow(item)}" for item in value]
        else:
            lines.append(f"  {key}: {_flow(value)}")
    return lines


def system_texts(data: dict) -> dict[str, str]:
    """File name -> YAML text: the system file, one file per cell, the links file."""
    head = ["system: bench"]
    files = {"system.yaml": "\n".join(head + ["platform:"] + [f"  {k}: {_flow(v)}" for k, v in
                                                             data["platform"].items()]
                                      + _cell_text(data["root"])) + "\n"}
    for cell in data["cells"]:
        files[f"{cell['name']}.yaml"] = "\n".join(head + _cell_text(cell)) + "\n"
    files["links.yaml"] = "\n".join(head + ["links:"] + [f"  {name}: {_flow(link)}" for name, link in
                                                         data["links"].items()]) + "\n"
    return files


def assembly_of_texts(texts: dict[str, str]) -> model_assembly.Assembly:
    """As pipeline.checked_files_of loads files: with the cycle collector paused."""
    with collector_paused():
        return model_assembly.assembly_of([model_document.document_of(load_yaml_text(t, name))
                                           for name, t in texts.items()])


# --- ... or as models directly ----------------------------------------------------------------

def _mask(words: list[str], table: dict[str, int]) -> int:
    return sum(table[w] for w in words)


def _cell_model(cell: dict) -> model.Cell:
    memory = []
    for m in cell["memory"]:
        if "link" in m:
            memory.append(model.LinkPlacement.model_construct(link=m["link"]))
        else:
            memory.append(model.MemoryRegion.model_construct(
                name=m["name"], phys=m.get("phys", 0), virt=m.get("virt"), size=m["size"],
                flags=_mask(m["flags"], jh.MEM_FLAGS)))
    return model.Cell.model_construct(
        name=cell["name"], cpus=tuple(cell["cpus"]), flags=_mask(cell.get("flags", []), jh.CELL_FLAGS),
        memory=memory,
        irqchips=[model.Irqchip.model_construct(address=c["address"], id=c["id"], pin_base=c["pin_base"],
                                                interrupts=tuple(c["interrupts"])) for c in cell["irqchips"]],
        pci_devices=[model.PciDevice.model_construct(type=jh.PCI_TYPES[d["type"]], bdf=d["bdf"])
                     for d in cell["pci_devices"]])


def assembly_of_data(data: dict) -> model_assembly.Assembly:
    p = data["platform"]
    platform = model.Platform.model_construct(
        arch=jh.ARCHITECTURES[p["arch"]],
        hypervisor_memory=model.HypervisorMemory.model_construct(**p["hypervisor_memory"]),
        pci=model.PciPlatform.model_construct(**p["pci"]),
        iommus=[model.Iommu.model_construct(type=jh.IOMMU_TYPES[u["type"]], base=u["base"], size=u["size"])
                for u in p["iommus"]])
    links = {name: model.Link.model_construct(
        bdf=link["bdf"], domain=link["domain"], base=link["base"], state_table=link["state_table"],
        rw_section=link["rw_section"], output_section=link["output_section"], peers=link["peers"],
        interrupts=link["interrupts"]["msix"]) for name, link in data["links"].items()}
    system = model_assembly.System("bench", platform, _cell_model(data["root"]),
                                   [_cell_model(c) for c in data["cells"]], links)
    return model_assembly.Assembly(systems=[system])


# --- timing --------------------------------------------------------------------------------------

def timed(fn, repeat: int = 1):
    """(result, best wall time of ``repeat`` runs), each run after a full collection."""
    best = float("inf")
    for _ in range(repeat):
        gc.collect()
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return result, best


_READ_WITH_LIBYAML = """
import sys, yaml
from pathlib import Path
for path in sorted(Path(sys.argv[1]).glob("*.yaml")):
    with open(path, "rb") as handle:
        yaml.load(handle.read(), Loader=yaml.CSafeLoader)
"""


def _child_environment() -> dict[str, str]:
    """A user's environment: byte code cached as an installed package has it (pip compiles
    on install; ``PYTHONDONTWRITEBYTECODE``, set in some sandboxes, would have every run
    compile all of partcfg again, a tenth of a 100,000-region check)."""
    env = dict(os.environ, CI="true", PYTHONPATH=str(ROOT))
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def compile_package() -> None:
    """Byte-compile the partcfg the children import (``PYTHONPATH``: this checkout), once,
    as an install would have."""
    import compileall
    compileall.compile_dir(str(ROOT / "partcfg"), quiet=1)


def _child(args: list[str]) -> tuple[float, float, int, bytes]:
    """(wall seconds, peak resident MiB, exit code, stdout) of a fresh process."""
    env = _child_environment()
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, *args], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, env=env)  # the summary line: the JSON says it all
    out = proc.stdout.read()  # type: ignore[union-attr]
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    return wall, usage.ru_maxrss / 1024, proc.returncode, out


def end_to_end(texts: dict[str, str], faulty: bool, repeat: int) -> dict:
    """The CLI on the files against reading them with libyaml, interleaved."""
    shm = Path("/dev/shm")
    where = Path(tempfile.mkdtemp(prefix="partcfg-validate-", dir=shm if shm.is_dir() else None))
    try:
        for name, text in texts.items():
            (where / name).write_text(text, encoding="utf-8")
        best_check = best_read = float("inf")
        peak = 0.0
        for _ in range(repeat):
            wall, _, code, _ = _child(["-c", _READ_WITH_LIBYAML, str(where)])
            assert code == 0, "reading with yaml.load failed"
            best_read = min(best_read, wall)
            wall, rss, code, out = _child(["-m", "partcfg.cli", "check", "--format", "json", str(where)])
            best_check, peak = min(best_check, wall), max(peak, rss)
            found = Counter(d["rule"] for d in json.loads(out))
            assert code == (1 if faulty else 0), f"partcfg check exited {code}"
            assert found == (EXPECTED_FAULTS if faulty else Counter()), f"end to end: {dict(found)}"
        return {"check": best_check, "read": best_read, "peak": peak}
    finally:
        shutil.rmtree(where, ignore_errors=True)


def run(regions: int, faulty: bool, repeat: int, yaml_limit: int, e2e_only: bool = False) -> dict:
    cells = max(3, regions // REGIONS_PER_CELL)
    data = system_data(cells, faulty)
    e2e = None
    if regions <= yaml_limit:
        texts = system_texts(data)
        del data
        e2e = end_to_end(texts, faulty, repeat)
        if e2e_only:
            return {"regions": regions, "cells": cells, "faulty": faulty, "e2e": e2e}
        assembly, t_load = timed(lambda: assembly_of_texts(texts))
        del texts
        assert not assembly.diagnostics, assembly.diagnostics[:3]
    else:
        assembly, t_load = assembly_of_data(data), None
    system = assembly.systems[0]
    n_regions = sum(len(model_regions.regions_of_cell(system, c)) for c in system.all_cells)
    diagnostics, t_validate = timed(lambda: validate.diagnostics_of_assembly(assembly), repeat)
    found = Counter(d.rule for d in diagnostics)
    if faulty:
        assert found == EXPECTED_FAULTS, f"planted faults: expected {dict(EXPECTED_FAULTS)}, got {dict(found)}"
    else:
        assert not diagnostics, [f"{d.rule} {d.location} {d.message}" for d in diagnostics[:5]]
    blobs, t_render = timed(lambda: blobs_of_system(layout_of_system(system)), repeat)
    assert len(blobs) == cells
    return {"regions": n_regions, "cells": cells, "faulty": faulty, "load": t_load,
            "validate": t_validate, "render": t_render, "found": sum(found.values()), "e2e": e2e}


def _e2e_columns(e2e: dict | None) -> str:
    if e2e is None:
        return f"{'':>9} {'':>10} {'':>6} {'':>8}"
    return (f"{e2e['check']:>8.2f}s {e2e['read']:>9.2f}s {e2e['check'] / e2e['read']:>6.2f} "
            f"{e2e['peak']:>6.0f}MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000",
                        help="comma-separated region counts (default: 10000,100000)")
    parser.add_argument("--repeat", type=int, default=3,
                        help="runs of validate and layout+render; the best is shown (default 3)")
    parser.add_argument("--yaml-limit", type=int, default=200_000,
                        help="largest size generated as YAML; larger ones are built as models "
                             "directly and show no load+model time (default 200000)")
    parser.add_argument("--end-to-end-only", action="store_true",
                        help="only the end-to-end columns (check vs yaml.load on the files)")
    args = parser.parse_args()
    sizes = [int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()]
    compile_package()
    print("check = `partcfg check DIR` end to end; yaml.load = reading the same files with libyaml; "
          "ratio = check / yaml.load (same run, interleaved)")
    print(f"{'regions':>9} {'cells':>6} {'system':>7} {'check':>9} {'yaml.load':>10} {'ratio':>6} "
          f"{'peak':>8}" + ("" if args.end_to_end_only else
                            f" {'load+model':>11} {'validate':>9} {'layout+render':>14} {'found':>6}"))
    rows = []
    for size in sizes:
        for faulty in (False, True):
            row = run(size, faulty, args.repeat, args.yaml_limit, args.end_to_end_only)
            rows.append(row)
            head = f"{row['regions']:>9} {row['cells']:>6} {'faults' if faulty else 'valid':>7} " \
                   f"{_e2e_columns(row['e2e'])}"
            if args.end_to_end_only:
                print(head, flush=True)
                continue
            load = f"{row['load']:>10.2f}s" if row["load"] is not None else f"{'(direct)':>11}"
            print(f"{head} {load} {row['validate']:>8.2f}s {row['render']:>13.2f}s {row['found']:>6}",
                  flush=True)
    if args.end_to_end_only:
        return
    # per size, the faster of the valid and the faulty run (same work; less noise)
    best = [min(rows[i:i + 2], key=lambda r: r["validate"]) for i in range(0, len(rows), 2)]
    for small, big in zip(best, best[1:]):
        print(f"validate: {big['regions'] / small['regions']:.1f}x the regions took "
              f"{big['validate'] / small['validate']:.1f}x the time")


if __name__ == "__main__":
    main()
