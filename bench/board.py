"""Benchmark: checking a large system against a large board (not a unit test).

Takes QEMU's virt device tree (tests/boards/virt.dtb), adds N device nodes to it with
libfdt (4 KiB of registers and one interrupt each, 64 KiB apart above 0x1_0000_0000),
and builds an arm64 system whose root cell maps RAM in N 64 KiB chunks plus every device,
with N/100 non-root cells (one CPU each; the board gets as many CPUs) that each take 50
of those devices (and their interrupt lines) and 50 RAM chunks, kept from Linux by a
reserved-memory node. Up to 12,200 devices: QEMU's redistributor region holds 123 CPUs. Then times, best of
--repeat,

  validate   validate.diagnostics_of_system (the reference, measured in the same run)
  board      board.checks.diagnostics_of_board

and prints the board checks as a ratio to validation and how both grow with N. The
system must check clean against its board; a planted fault (one device interrupt left
out of its cell) must give exactly one finding.

    python bench/board.py                      # 1,000 and 10,000 devices
    python bench/board.py --sizes 2000,20000
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import libfdt  # noqa: E402

from partcfg.model import assembly as model_assembly
from partcfg.model import document as model_document
from partcfg.check import validate
from partcfg.board.checks import diagnostics_of_board  # noqa: E402
from partcfg.board.dtb import board_of_dtb  # noqa: E402
from partcfg.diagnostics import Severity  # noqa: E402
from partcfg.load.yaml_source import load_yaml_text  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DEVICE_BASE, DEVICE_STEP = 0x1_0000_0000, 0x10000
RAM_BASE, RAM_CHUNK = 0x40000000, 0x10000
PER_CELL = 50
IRQ_DEVICES = 9   # 100 cells x 9 lines fit the GIC's 988 SPIs


def spi_of(device: int, cells: int) -> int | None:
    """The SPI a device raises: the first IRQ_DEVICES of each cell's devices have their own
    (0..899), the root cell's devices share 900..979, the others raise none."""
    if device < cells * PER_CELL:
        k = device % PER_CELL
        return (device // PER_CELL) * IRQ_DEVICES + k if k < IRQ_DEVICES else None
    return 900 + device % 80


def board_bytes(devices: int) -> bytes:
    fdt = libfdt.Fdt(bytearray((ROOT / "tests" / "boards" / "virt.dtb").read_bytes()))
    fdt.resize(fdt.totalsize() + devices * 200 + (1 << 16))
    reserved = fdt.add_subnode(0, "reserved-memory")
    for name, value in (("#address-cells", 2), ("#size-cells", 2)):
        fdt.setprop_u32(reserved, name, value)
    fdt.setprop(reserved, "ranges", b"")
    cells = devices // 100
    low = RAM_BASE + (devices - cells * PER_CELL) * RAM_CHUNK
    node = fdt.add_subnode(fdt.path_offset("/reserved-memory"), f"inmates@{low:x}")
    fdt.setprop(node, "reg", low.to_bytes(8, "big") + (cells * PER_CELL * RAM_CHUNK).to_bytes(8, "big"))
    fdt.setprop(node, "no-map", b"")
    node = fdt.add_subnode(fdt.path_offset("/reserved-memory"), "jailhouse@7fc00000")
    fdt.setprop(node, "reg", (0x7fc00000).to_bytes(8, "big") + (0x400000).to_bytes(8, "big"))
    fdt.setprop(node, "no-map", b"")
    cpus = fdt.path_offset("/cpus")
    for n in range(4, cells + 1):  # one CPU per non-root cell, and the root's CPU 0
        node = fdt.add_subnode(cpus, f"cpu@{n:x}")
        fdt.setprop_str(node, "device_type", "cpu")
        fdt.setprop_u32(node, "reg", n)
    for i in range(devices):
        address = DEVICE_BASE + i * DEVICE_STEP
        node = fdt.add_subnode(0, f"dev@{address:x}")
        fdt.setprop(node, "reg", address.to_bytes(8, "big") + (0x1000).to_bytes(8, "big"))
        spi = spi_of(i, cells)
        if spi is not None:
            fdt.setprop(node, "interrupts", b"".join(v.to_bytes(4, "big") for v in (0, spi, 4)))
        fdt.setprop_str(node, "compatible", "bench,device")
    fdt.pack()
    return bytes(fdt.as_bytearray())


def system_of(devices: int, plant_fault: bool) -> model_assembly.System:
    cells = devices // 100
    root_ram = devices - cells * PER_CELL
    lines = ["system: bench", "platform:", "  arch: arm64",
             "  hypervisor_memory: {phys: 0x7fc00000, size: 4M}",
             "  debug_console: {type: pl011, address: 0x09000000, size: 4K, flags: [mmio, regdist-4]}",
             "  arm: {gic_version: 3, maintenance_irq: 25, gicd_base: 0x08000000, gicr_base: 0x080a0000}",
             "cell:", "  name: root", f"  cpus: 0-{max(cells, 3)}", "  memory:"]
    for i in range(devices):
        lines.append(f"    - {{phys: {RAM_BASE + i * RAM_CHUNK:#x}, size: 64K, flags: [read, write, execute, dma]}}")
    for i in range(devices):
        lines.append(f"    - {{phys: {DEVICE_BASE + i * DEVICE_STEP:#x}, size: 4K, flags: [read, write, io]}}")
    lines += ["    - {name: uart, phys: 0x09000000, size: 4K, flags: [read, write, io]}", "  irqchips:"]
    for window in range(8):
        base = 32 + 128 * window
        lines.append(f"    - {{address: 0x08000000, pin_base: {base}, interrupts: {base}-{base + 127}}}")
    texts = ["\n".join(lines) + "\n"]
    for c in range(cells):
        cell = [f"system: bench", "cell:", f"  name: cell{c}", f"  cpus: {c + 1}", "  memory:"]
        owned = []
        for k in range(PER_CELL):
            i = c * PER_CELL + k
            ram = RAM_BASE + (root_ram + i) * RAM_CHUNK
            cell.append(f"    - {{phys: {ram:#x}, size: 64K, flags: [read, write, execute]}}")
            cell.append(f"    - {{phys: {DEVICE_BASE + i * DEVICE_STEP:#x}, size: 4K, flags: [read, write, io]}}")
            spi = spi_of(i, cells)
            if spi is not None:
                owned.append(32 + spi)
        if plant_fault and c == cells - 1:
            owned.pop()
        chips: dict[int, list[int]] = {}
        for line in owned:
            chips.setdefault((line - 32) // 128, []).append(line)
        cell.append("  irqchips:")
        for window, members in sorted(chips.items()):
            cell.append(f"    - {{address: 0x08000000, pin_base: {32 + 128 * window}, "
                        f"interrupts: [{', '.join(map(str, sorted(set(members))))}]}}")
        texts.append("\n".join(cell) + "\n")
    docs = [model_document.document_of(load_yaml_text(t, f"bench-{i}.yaml")) for i, t in enumerate(texts)]
    (system,) = model_assembly.assembly_of(docs).systems
    return system


def best(repeat: int, work) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = work()
        times.append(time.perf_counter() - start)
    return min(times), result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1000,10000")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    rows = []
    print(f"{'devices':>8} {'regions':>8} {'validate':>9} {'board':>8} {'board/validate':>15}  findings")
    for size in (int(s) for s in args.sizes.split(",")):
        board = board_of_dtb(board_bytes(size), f"bench-{size}.dtb")
        for faulty in (False, True):
            system = system_of(size, faulty)
            t_validate, found = best(args.repeat, lambda: validate.diagnostics_of_system(system))
            assert not [d for d in found if d.severity is Severity.ERROR], found[:3]
            t_board, findings = best(args.repeat, lambda: diagnostics_of_board(system, board))
            problems = [d.rule for d in findings if d.severity is not Severity.INFO]
            assert problems == (["BOARD-IRQ"] if faulty else []), problems[:5]
            regions = sum(len(c.memory) for c in system.all_cells)
            print(f"{size:>8} {regions:>8} {t_validate:>8.2f}s {t_board:>7.2f}s {t_board / t_validate:>14.2f}x  "
                  f"{problems or 'none'}")
            if not faulty:
                rows.append((size, t_validate, t_board))
    if len(rows) >= 2:
        (n0, v0, b0), (n1, v1, b1) = rows[0], rows[-1]
        print(f"{n1 / n0:.0f}x the devices and regions: validate took {v1 / v0:.1f}x the time, "
              f"the board checks {b1 / b0:.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
