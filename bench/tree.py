"""Benchmark: build and check a synthetic board collection (not a unit test).

Writes a tree of SYSTEMS systems (default 200) as YAML, one directory per board, the way a
BSP collection would keep them: ``<board>/<board>.yaml`` (platform and root cell),
``<board>/links.yaml`` and one file per non-root cell. Boards alternate between x86 and
arm64; each has a root cell with RAM, a carve-out and device windows, CELLS non-root
cells (RAM, MMIO pages, a communication region, interrupt lines, ports on x86) and two
links: a 3-peer message link and a 2-peer link between neighbours. Every board is valid.

Then it times the real command line (a fresh process per run that starts partcfg the way
its installed ``partcfg`` program does, best of REPEAT) for

  check          partcfg check TREE
  build          partcfg build TREE -o OUT          (into an empty directory)
  build --check  partcfg build --check TREE -o OUT  (against the outputs just built)

once with PARTCFG_JOBS=1 (serial) and once with one worker per core, and prints the
figures with how many cores were really free (other work on the machine shows there).
Usage:

    python bench/tree.py                    # 200 systems, 3 non-root cells each
    python bench/tree.py --systems 50 --cells 5 --repeat 3
    python bench/tree.py --keep /tmp/tree   # leave the tree there for other tools
    python bench/tree.py --disk             # outputs on the disk instead of /dev/shm
    python bench/tree.py --in-process       # the work alone: pipeline vs shares, warm
    python bench/tree.py --versus-gcc       # partcfg build vs gcc + objcopy on the same configs

--versus-gcc is the product's quality bar ("one partcfg build call on a tree of many
systems beats compiling the same configs with gcc and objcopy"): the C sources come from
`partcfg build --emit c`, and the gcc side is what a Jailhouse tree does per config
(`gcc -c` then `objcopy -O binary`), run with one job per core; the blobs must match.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
try:  # the installed package (pip install .), which has the runtime's compiled core
    import partcfg  # noqa: F401
except ImportError:  # a checkout used in place: see "Performance" in the README
    sys.path.insert(0, str(ROOT))


def _board_files(index: int, cells: int) -> dict[str, str]:
    """File name -> YAML text of one board."""
    board = f"board-{index:04d}"
    x86 = index % 2 == 0
    files: dict[str, str] = {}
    ram_top = 0x4000_0000 if x86 else 0x8000_0000
    ram_base = 0x0010_0000 if x86 else 0x4000_0000
    hv = ram_top - 0x0100_0000 if x86 else ram_top - 0x0040_0000
    carve = hv - (cells + 1) * 0x0200_0000
    link_base = carve + cells * 0x0200_0000
    ncpu = cells + 1
    if x86:
        platform = f"""platform:
  arch: x86
  hypervisor_memory: {{phys: {hv:#x}, size: 6M}}
  debug_console: {{type: 8250, address: 0x3f8, flags: []}}
  pci: {{mmconfig_base: 0xb0000000, end_bus: 0xff}}
  iommus:
    - {{type: intel, base: 0xfed90000, size: 4K}}
  x86: {{pm_timer_address: 0x608, vtd_interrupt_limit: 256}}
"""
        chip = "{address: 0xfec00000, id: 0xff00, pin_base: 0, interrupts: 0-23}"
        devices = """    - {name: vga, phys: 0xfd000000, size: 16M, flags: [read, write, io]}
    - {name: hpet, phys: 0xfed00000, size: 1K, flags: [read, write, io, io-32]}
"""
        pio = """  pio:
    - {name: pic, base: 0x20, length: 2}
    - {name: com1, base: 0x3f8, length: 8}
    - {name: com2, base: 0x2f8, length: 8}
    - {name: pci-config, base: 0xcf8, length: 8}
"""
    else:
        platform = f"""platform:
  arch: arm64
  hypervisor_memory: {{phys: {hv:#x}, size: 4M}}
  debug_console: {{type: pl011, address: 0x09000000, size: 4K, flags: [mmio, regdist-4]}}
  pci: {{mmconfig_base: 0x08e00000, end_bus: 0, virtual: true, domain: 1}}
  arm:
    gic_version: 3
    maintenance_irq: 25
    gicd_base: 0x08000000
    gicr_base: 0x080a0000
"""
        chip = "{address: 0x08000000, pin_base: 32, interrupts: 32-159}"
        devices = """    - {name: uart, phys: 0x09000000, size: 4K, flags: [read, write, io]}
    - {name: virtio-mmio, phys: 0x0a000000, size: 16K, flags: [read, write, io]}
"""
        pio = ""
    files[f"{board}.yaml"] = f"""system: {board}

{platform}
cell:
  name: root
  cpus: 0-{ncpu - 1}
  memory:
    - {{name: ram, phys: {ram_base:#x}, size: {carve - ram_base:#x}, flags: [read, write, execute, dma]}}
    - {{name: inmate-ram, phys: {carve:#x}, size: {cells * 0x0200_0000:#x}, flags: [read, write, execute, dma]}}
{devices}  irqchips:
    - {chip}
{pio}"""
    peers = [f"cell-{j}" for j in range(cells)]
    links = f"""system: {board}

links:
  messages:
    bdf: 00:0e.0
    base: {link_base:#x}
    state_table: 4K
    rw_section: 16K
    output_section: 8K
    peers: [root, {', '.join(peers[:2])}]
    interrupts: {{msix: 4}}
  pair:
    bdf: 00:0f.0
    base: {link_base + 0x10_0000:#x}
    state_table: 4K
    output_section: 64K
    peers: [{', '.join(peers[-2:])}]
    interrupts: intx
"""
    if x86:
        links = links.replace("00:0e.0", "00:0e.0").replace("interrupts: intx", "interrupts: {msix: 2}")
    else:
        links = links.replace("bdf: 00:0e.0", "bdf: 00:00.0\n    domain: 1").replace(
            "bdf: 00:0f.0", "bdf: 00:01.0\n    domain: 1")
    files["links.yaml"] = links
    for j, name in enumerate(peers):
        base = carve + j * 0x0200_0000
        irq = f"{{address: 0xfec00000, id: 0xff00, pin_base: 0, interrupts: {5 + j}}}" if x86 \
            else (f"{{address: 0x08000000, pin_base: 32, interrupts: '{40 + 4 * j}-{43 + 4 * j},"
                  f"{132 + 4 * j}-{135 + 4 * j}'}}")  # and the INTx lines 32 + vpci_irq_base + pin - 1
        extra_pio = f"""  pio:
    - {{name: port-{j}, base: {0x500 + 8 * j:#x}, length: 8}}
""" if x86 else ""
        files[f"{name}.yaml"] = f"""system: {board}

cell:
  name: {name}
  flags: [passive-comm-region, virtual-console-permitted]
  cpus: {j + 1}
  memory:
    - {{name: loader, phys: {base:#x}, virt: 0x0, size: 64K, flags: [read, write, execute, loadable]}}
    - {{name: ram, phys: {base + 0x10000:#x}, virt: 0x100000, size: {0x0200_0000 - 0x10000:#x}, flags: [read, write, execute, dma, loadable]}}
    - {{name: comm, virt: 0x80000000, size: 4K, flags: [read, write, comm-region]}}
  irqchips:
    - {irq}
{extra_pio}  vpci_irq_base: {100 + 4 * j}
"""
    return files


def write_tree(where: Path, systems: int, cells: int) -> int:
    """Write the tree below ``where``; returns the number of files written."""
    count = 0
    for i in range(systems):
        board = where / f"board-{i:04d}"
        board.mkdir(parents=True, exist_ok=True)
        for name, text in _board_files(i, cells).items():
            (board / name).write_text(text, encoding="utf-8")
            count += 1
    return count


_COMPILED: set[Path] = set()


def _compile_once(package: Path) -> None:
    """Byte-compile the partcfg the runs import, once, as an install would have."""
    if package not in _COMPILED:
        import compileall
        compileall.compile_dir(str(package), quiet=1)
        _COMPILED.add(package)


# what the ``partcfg`` program pip installs runs (its console-script wrapper), with the
# partcfg this script imported: ``python -m partcfg.cli`` would add runpy's own imports
PROGRAM = "import sys; from partcfg.cli import main; sys.exit(main())"


def _timed(args: list[str], jobs: str | None, repeat: int, before=None) -> tuple[float, int]:
    env = dict(os.environ)
    env.pop("PARTCFG_JOBS", None)
    if jobs is not None:
        env["PARTCFG_JOBS"] = jobs
    env["CI"] = "true"  # no progress bar in the figures
    # byte code cached as an installed package has it (pip compiles on install):
    # PYTHONDONTWRITEBYTECODE, set in some sandboxes, would have every run compile all
    # of partcfg again, a fifth of a 40-system build
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    # the partcfg this script imported (installed, or the checkout used in place)
    import partcfg
    _compile_once(Path(partcfg.__file__).parent)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(Path(partcfg.__file__).parent.parent),
                                                     env.get("PYTHONPATH")]))
    best = float("inf")
    code = -1
    for _ in range(repeat):
        if before is not None:
            before()
        start = time.perf_counter()
        proc = subprocess.run([sys.executable, "-c", PROGRAM, *args], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        best = min(best, time.perf_counter() - start)
        code = proc.returncode
        if code not in (0,):
            sys.exit(f"partcfg {' '.join(args)} failed ({code}):\n{proc.stderr[-2000:]}")
    return best, code


def _burn(n: int = 2_000_000) -> int:
    total = 0
    for i in range(n):
        total += i * i
    return total


def free_cores() -> float:
    """How many cores this process can really use now: the speed-up of two CPU-bound
    processes over one (2.0 on an idle 2-core machine; about 1.0 when something else
    keeps a core busy, and then no pool can help)."""
    import multiprocessing
    start = time.perf_counter()
    _burn()
    one = time.perf_counter() - start
    with multiprocessing.Pool(2) as pool:
        pool.map(_burn, [2_000_000])  # start the workers
        start = time.perf_counter()
        pool.map(_burn, [2_000_000] * 2)
        two = time.perf_counter() - start
    return 2 * one / two


def _in_process(tree: Path, repeat: int) -> None:
    """Time the work itself (check, and check + render) in this warm process: no
    interpreter start, no writing, best of ``repeat``."""
    from partcfg.commands.parallel import run_tree
    from partcfg.commands.pipeline import build_outputs_of, checked_files_of

    def best(work) -> float:
        times = []
        for _ in range(repeat):
            start = time.perf_counter()
            work()
            times.append(time.perf_counter() - start)
        return min(times)

    cores = os.cpu_count() or 1
    print(f"{'in process (warm)':<26} {'check':>8} {'build':>8}")
    print(f"{'plain pipeline':<26} {best(lambda: checked_files_of([tree])):>7.2f}s "
          f"{best(lambda: build_outputs_of(checked_files_of([tree]))):>7.2f}s")
    for jobs in sorted({1, cores}):
        print(f"{f'shares, {jobs} job(s)':<26} {best(lambda: run_tree([tree], build=False, jobs=jobs)):>7.2f}s "
              f"{best(lambda: run_tree([tree], build=True, jobs=jobs)):>7.2f}s")
    print(f"cores free after: {free_cores():.1f}")


def _versus_gcc(tree: Path, work: Path, repeat: int) -> None:
    """Time partcfg build against gcc + objcopy of the Jailhouse-style C of the same tree."""
    from concurrent.futures import ThreadPoolExecutor

    if not (shutil.which("gcc") and shutil.which("objcopy")):
        sys.exit("--versus-gcc needs gcc and objcopy")
    csrc = work / "csrc"
    _timed(["build", str(tree), "-o", str(csrc), "--emit", "c"], None, 1)
    sources = sorted(csrc.rglob("*.c"))
    cores = os.cpu_count() or 1

    def compile_one(source: Path) -> bytes:
        obj, blob = source.with_suffix(".o"), source.with_suffix(".bin")
        subprocess.run(["gcc", "-O0", "-I", str(source.parent / "include"), "-c", str(source),
                        "-o", str(obj)], check=True)
        subprocess.run(["objcopy", "-O", "binary", "--only-section=.data", str(obj), str(blob)],
                       check=True)
        return blob.read_bytes()

    best_gcc = float("inf")
    blobs: list[bytes] = []
    for _ in range(repeat):
        start = time.perf_counter()
        with ThreadPoolExecutor(cores) as pool:  # threads only wait for the processes
            blobs = list(pool.map(compile_one, sources))
        best_gcc = min(best_gcc, time.perf_counter() - start)
    out = work / "out"
    t_build, _ = _timed(["build", str(tree), "-o", str(out)], None, repeat,
                        before=lambda: shutil.rmtree(out, ignore_errors=True))
    mismatched = [s for s, b in zip(sources, blobs)
                  if (out / s.relative_to(csrc)).with_suffix(".cell").read_bytes() != b]
    if mismatched:
        sys.exit(f"gcc + objcopy and partcfg disagree on {len(mismatched)} configs, e.g. {mismatched[0]}")
    print(f"{len(sources)} configs, {cores} jobs; the blobs agree byte for byte")
    print(f"  gcc -c + objcopy -O binary   {best_gcc:7.2f}s")
    print(f"  partcfg build (all outputs)  {t_build:7.2f}s   ({best_gcc / t_build:.1f}x faster)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--systems", type=int, default=200)
    parser.add_argument("--cells", type=int, default=3, help="non-root cells per system (>= 2)")
    parser.add_argument("--repeat", type=int, default=2, help="runs per figure (best is kept)")
    parser.add_argument("--keep", type=Path, help="write the tree here and keep it")
    parser.add_argument("--disk", action="store_true", help="work on the disk, not on /dev/shm")
    parser.add_argument("--versus-gcc", action="store_true",
                        help="compare partcfg build with gcc + objcopy on the same configs")
    parser.add_argument("--in-process", action="store_true",
                        help="time the work in this process (no start-up, no writing) instead")
    args = parser.parse_args()
    if args.cells < 2:
        parser.error("--cells must be at least 2 (the links need two non-root peers)")

    # tmpfs when there is one: the figures are partcfg's, not the disk's (every output is
    # fsync'ed, and on a shared disk that alone varies by seconds from run to run)
    shm = Path("/dev/shm")
    work = Path(tempfile.mkdtemp(prefix="partcfg-tree-", dir=shm if shm.is_dir() and not args.disk else None))
    tree = args.keep or work / "tree"
    try:
        files = write_tree(tree, args.systems, args.cells)
        out = work / "out"
        print(f"tree: {args.systems} systems, {args.systems * (args.cells + 1)} cells, "
              f"{files} YAML files ({tree}); {os.cpu_count()} cores; best of {args.repeat}")

        def clean() -> None:
            shutil.rmtree(out, ignore_errors=True)

        if args.versus_gcc:
            _versus_gcc(tree, work, args.repeat)
            return
        free_before = free_cores()
        if args.in_process:
            print(f"cores free before: {free_before:.1f}")
            _in_process(tree, args.repeat)
            return
        rows = []
        cores = os.cpu_count() or 1
        for label, jobs in (("serial (PARTCFG_JOBS=1)", "1"), (f"parallel (PARTCFG_JOBS={cores})", str(cores))):
            t_check, _ = _timed(["check", str(tree)], jobs, args.repeat)
            t_build, _ = _timed(["build", str(tree), "-o", str(out)], jobs, args.repeat, before=clean)
            outputs = sum(1 for p in out.rglob("*") if p.is_file())
            t_stale, _ = _timed(["build", "--check", str(tree), "-o", str(out)], jobs, args.repeat)
            rows.append((label, t_check, t_build, t_stale, outputs))
        print(f"cores free for this benchmark (measured before and after): {free_before:.1f}, "
              f"{free_cores():.1f}")
        print(f"{'':<26} {'check':>8} {'build':>8} {'build --check':>14}  outputs")
        for label, c, b, s, n in rows:
            print(f"{label:<26} {c:>7.2f}s {b:>7.2f}s {s:>13.2f}s  {n}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
