"""Benchmark: whole-system validation of large generated systems (not a unit test).

Generates, in memory, x86 systems of N regions spread over N/100 cells (each non-root
cell: RAM chunks carved out of the root cell, MMIO pages, a sub-page MMIO region, a
communication region and a 2-peer link with a neighbour; the root: RAM, the carve-out and
MMIO windows, and one link with cell 1), as YAML text. Then times separately

  load+model      YAML text -> SourceDoc -> Document -> Assembly
  validate        validate.diagnostics_of_assembly
  layout+render   layout.layout_of_system + render.blob.blobs_of_system

for a valid system (which must give no diagnostic at all) and for one with planted faults
(an overlap, a CPU conflict and a TX violation), which must be found, and nothing else.

    python bench/validate.py                      # 10k and 100k regions
    python bench/validate.py --sizes 10000,100000,1000000
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from partcfg import model, validate  # noqa: E402
from partcfg.layout import layout_of_system  # noqa: E402
from partcfg.load import load_yaml_text  # noqa: E402
from partcfg.render.blob import blobs_of_system  # noqa: E402

REGIONS_PER_CELL = 100
RAM_CHUNK = 0x10000                 # 64 KiB RAM regions
CELL_WINDOW = 0x800000              # 8 MiB of carve-out per non-root cell
CARVE_BASE = 0x1_0000_0000          # non-root RAM: 4 GiB upwards
MMIO_BASE = 0x200_0000_0000         # non-root MMIO: 64 KiB per cell
LINK_BASE = 0x100_0000_0000         # links: 64 KiB each, outside the root cell's memory
LINK_SPAN = 0x10000
ROOT_RAM_CHUNK = 0x800000
HV_BASE, HV_SIZE = 0x4000_0000, 0x100_0000
EXPECTED_FAULTS = Counter({"MEM-OVERLAP-PHYS": 1, "CPU-CONFLICT": 1, "LINK-TX-WRITE": 1,
                           "LINK-ACCESS": 1})


def _cpu_text(lo: int, hi: int) -> str:
    """lo-hi as ranges the CPU-set parser accepts (it refuses single ranges > 4096)."""
    parts = []
    while lo <= hi:
        top = min(hi, lo + 4000)
        parts.append(f"{lo}-{top}")
        lo = top + 1
    return ",".join(parts)


def _bdf(i: int) -> str:
    return f"{i >> 8 & 0xff:02x}:{i >> 3 & 0x1f:02x}.{i & 7}"


def system_texts(cells: int, faulty: bool) -> dict[str, str]:
    """File name -> YAML text of one generated system with ``cells`` cells."""
    nonroot = cells - 1
    files: dict[str, str] = {}
    # links: (name, peers); cell k (1-based) pairs with its neighbour; the root with cell 1
    links = [("root-link", ["root", "cell1"])]
    for j in range(1, nonroot, 2):
        links.append((f"l{j}", [f"cell{j}", f"cell{j + 1}"]))
    link_lines = ["system: bench", "links:"]
    link_of: dict[str, str] = {}
    for n, (name, peers) in enumerate(links):
        base = LINK_BASE + n * LINK_SPAN
        link_lines.append(f"  {name}: {{bdf: {_bdf(n)}, domain: 1, base: {base:#x}, state_table: 4K, "
                          f"rw_section: 4K, output_section: 4K, peers: [{', '.join(peers)}], "
                          f"interrupts: {{msix: 2}}}}")
        for p in peers:
            link_of.setdefault(p, name)
    files["links.yaml"] = "\n".join(link_lines) + "\n"

    root_chunks = REGIONS_PER_CELL - 3
    lines = ["system: bench", "platform:", "  arch: x86",
             f"  hypervisor_memory: {{phys: {HV_BASE:#x}, size: {HV_SIZE:#x}}}",
             "  pci: {mmconfig_base: 0xb0000000, end_bus: 0xff}",
             "  iommus:", "    - {type: intel, base: 0xfed90000, size: 4K}",
             "cell:", "  name: root", f"  cpus: {_cpu_text(0, nonroot)}", "  memory:"]
    for k in range(root_chunks):
        lines.append(f"    - {{name: ram{k}, phys: {k * ROOT_RAM_CHUNK:#x}, size: {ROOT_RAM_CHUNK:#x}, "
                     "flags: [read, write, execute, dma]}")
    lines.append(f"    - {{name: inmate-ram, phys: {CARVE_BASE:#x}, size: {nonroot * CELL_WINDOW:#x}, "
                 "flags: [read, write, execute, dma]}")
    lines.append(f"    - {{name: inmate-mmio, phys: {MMIO_BASE:#x}, size: {nonroot * 0x10000:#x}, "
                 "flags: [read, write, io]}")
    lines.append("  irqchips:")
    top_line = 32 + nonroot
    for base in range(0, top_line + 1, 128):
        lines.append(f"    - {{address: 0xfec00000, id: 0xff00, pin_base: {base}, "
                     f"interrupts: {base}-{min(base + 127, top_line)}}}")
    lines.append("  pci_devices:")
    for i in range(1, cells):
        lines.append(f"    - {{type: device, bdf: '{_bdf(i)}'}}")
    files["system.yaml"] = "\n".join(lines) + "\n"

    ram_chunks = REGIONS_PER_CELL - 4 - 1 - 3   # link regions, comm region, MMIO
    for i in range(1, cells):
        carve = CARVE_BASE + (i - 1) * CELL_WINDOW
        mmio = MMIO_BASE + (i - 1) * 0x10000
        cpus = f"{i},{i + 1}" if faulty and i == 7 else str(i)
        line = 32 + i
        lines = ["system: bench", "cell:", f"  name: cell{i}", f"  cpus: '{cpus}'",
                 "  flags: [passive-comm-region]", "  memory:"]
        for k in range(ram_chunks):
            lines.append(f"    - {{name: ram{k}, phys: {carve + k * RAM_CHUNK:#x}, virt: {k * RAM_CHUNK:#x}, "
                         f"size: {RAM_CHUNK:#x}, flags: [read, write, execute, dma, loadable]}}")
        lines.append("    - {name: comm, virt: 0x80000000, size: 4K, flags: [read, write, comm-region]}")
        lines.append(f"    - {{name: mmio0, phys: {mmio:#x}, size: 4K, flags: [read, write, io]}}")
        lines.append(f"    - {{name: mmio1, phys: {mmio + 0x1000:#x}, size: 4K, flags: [read, write, io]}}")
        lines.append(f"    - {{name: regs, phys: {mmio + 0x2000:#x}, size: 1K, flags: [read, write, io, io-32]}}")
        if faulty and i == 5:   # planted: overlaps ram10 of the same cell
            lines.append(f"    - {{name: planted-overlap, phys: {carve + 10 * RAM_CHUNK + 0x1000:#x}, "
                         f"virt: 0x90000000, size: 4K, flags: [read, write]}}")
        if faulty and i == 9:   # planted: write access to cell2's TX section of link l1
            out1 = LINK_BASE + 1 * LINK_SPAN + 0x2000 + 0x1000
            lines.append(f"    - {{name: planted-tx, phys: {out1:#x}, virt: 0xa0000000, size: 4K, "
                         "flags: [read, write, rootshared]}")
        lines += ["  irqchips:", f"    - {{address: 0xfec00000, id: 0xff00, pin_base: {line // 128 * 128}, "
                  f"interrupts: {line}}}", "  pci_devices:", f"    - {{type: device, bdf: '{_bdf(i)}'}}"]
        files[f"cell{i}.yaml"] = "\n".join(lines) + "\n"
    return files


def assembly_of_texts(texts: dict[str, str]) -> model.Assembly:
    return model.assembly_of(model.document_of(load_yaml_text(t, name)) for name, t in texts.items())


def timed(fn, *args):
    gc.collect()
    start = time.perf_counter()
    result = fn(*args)
    return result, time.perf_counter() - start


def run(regions: int, faulty: bool) -> dict:
    cells = max(3, regions // REGIONS_PER_CELL)
    texts = system_texts(cells, faulty)
    assembly, t_load = timed(assembly_of_texts, texts)
    assert not assembly.diagnostics, assembly.diagnostics[:3]
    system = assembly.systems[0]
    n_regions = sum(len(model.regions_of_cell(system, c)) for c in system.all_cells)
    diagnostics, t_validate = timed(validate.diagnostics_of_assembly, assembly)
    found = Counter(d.rule for d in diagnostics)
    if faulty:
        assert found == EXPECTED_FAULTS, f"planted faults: expected {dict(EXPECTED_FAULTS)}, got {dict(found)}"
    else:
        assert not diagnostics, [f"{d.rule} {d.location} {d.message}" for d in diagnostics[:5]]
    blobs, t_render = timed(lambda: blobs_of_system(layout_of_system(system)))
    assert len(blobs) == cells
    return {"regions": n_regions, "cells": cells, "faulty": faulty, "load": t_load,
            "validate": t_validate, "render": t_render, "found": sum(found.values())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000",
                        help="comma-separated region counts (default: 10000,100000)")
    args = parser.parse_args()
    sizes = [int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()]
    print(f"{'regions':>9} {'cells':>6} {'system':>7} {'load+model':>11} {'validate':>9} "
          f"{'layout+render':>14} {'found':>6}")
    rows = []
    for size in sizes:
        for faulty in (False, True):
            row = run(size, faulty)
            rows.append(row)
            print(f"{row['regions']:>9} {row['cells']:>6} {'faults' if faulty else 'valid':>7} "
                  f"{row['load']:>10.2f}s {row['validate']:>8.2f}s {row['render']:>13.2f}s "
                  f"{row['found']:>6}", flush=True)
    valid = [r for r in rows if not r["faulty"]]
    for small, big in zip(valid, valid[1:]):
        print(f"validate: {big['regions'] / small['regions']:.1f}x the regions took "
              f"{big['validate'] / small['validate']:.1f}x the time")


if __name__ == "__main__":
    main()
