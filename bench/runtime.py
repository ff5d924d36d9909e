"""Benchmark: the bundled runtime's message figures (not a unit test).

Builds the bundled example systems, then runs ``partcfg run --bench`` on the qemu-x86
system: real cell processes, memory mapped from the blobs with the kernel enforcing the
permissions (read-only sections come from read-only descriptors, the memory files are
sealed), rings in the output sections of the ``net`` link (RootCell -> linux-guest,
0x7f000-byte output sections).

In the same run it measures a reference: the simplest single-producer/single-consumer
ring between two processes over shared memory, in C alone (partcfg/runtime/_ringref.c,
built by setup.py with the runtime's core): the same record format, message sizes, ring
size and CPU pinning, no Python, no permissions, no wake-ups. Reference and partcfg runs
alternate (reference, partcfg, reference, ..., reference), and each partcfg figure is
divided by the mean of the reference figures measured just before and just after it, so
both saw the same machine (on this virtual machine one absolute figure swings five times
from one minute to the next). Ratios first, with their goals:

  64-byte messages, one per call      >= 0.4 of the reference's one per call (a Python call each)
  64-byte messages, batch call        >= 0.8 of the reference's batch call (256 per call)
  64 KiB messages (send + recv_into)  >= 0.9 of the reference
  64-byte round trip while polling    <= 1.5x the reference's

then the absolute figures (median of ``--repeat`` runs) against the original absolute
targets (4 and 20 million msg/s, 10 GB/s, 5 us) and the vhost-pci prototype (1.8 million
64-byte packets/s between two VMs). On a virtual machine the figures also depend on where
the host places the two virtual CPUs: the 64 KiB rate and the round trip change by a
factor of three to four between a shared and a separate core complex.

    python bench/runtime.py                    # 3 runs of 1 s per figure
    python bench/runtime.py --repeat 5 --seconds 2

It measures the installed partcfg (``pip install .``); run from a checkout that is not
installed, it uses the checkout, whose C core must then be built in place first
(``python setup.py build_ext --inplace``).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
try:  # the installed package (pip install .), which has the runtime's compiled core
    import partcfg  # noqa: F401
except ImportError:  # a checkout used in place: see "Performance" in the README
    sys.path.insert(0, str(ROOT))

from partcfg.diagnostics import PartcfgError  # noqa: E402
from partcfg.runtime.launcher import run_build_dir  # noqa: E402
from partcfg.runtime.transport import area_layout_of  # noqa: E402

try:
    from partcfg.runtime import _ringref  # noqa: E402
except ImportError:  # pragma: no cover - built by setup.py with the runtime's core
    _ringref = None

VHOST_PCI_PPS = 1.8e6
TARGETS = {   # figure name -> (unit, target, "higher" or "lower" is better)
    "64-byte messages, one per call": ("msg/s", 4e6, "higher"),
    "64-byte messages, batch call": ("msg/s", 20e6, "higher"),
    "64 KiB messages": ("GB/s", 10.0, "higher"),
    "64-byte round trip, polling": ("us", 5.0, "lower"),
}
# figure name -> (reference kind, goal of partcfg / reference)
REFERENCE = {
    "64-byte messages, one per call": ("msg64", 0.4),
    "64-byte messages, batch call": ("batch64", 0.8),
    "64 KiB messages": ("block64k", 0.9),
    "64-byte round trip, polling": ("rtt", 1.5),
}
NET_SECTION = 0x7F000   # output section of the qemu-x86 net link (2 peers)


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def build(out: Path) -> Path:
    files = sorted(str(p) for p in (ROOT / "cells").glob("qemu-x86*.yaml"))
    subprocess.run([sys.executable, "-m", "partcfg.cli", "build", *files, "-o", str(out)],
                   check=True, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return out


def figures_of_run(build_dir: Path, seconds: float, link: str) -> dict[str, float]:
    try:
        report = run_build_dir(build_dir, seconds=seconds, bench=True)
    except PartcfgError as exc:  # e.g. RUN-NO-CORE: say how to get the core, no traceback
        sys.exit("\n".join(f"{d.message}" + (f" ({d.hint})" if d.hint else "") for d in exc.diagnostics))
    if not report.held:
        raise SystemExit("the bench run did not hold (setup, permission probe or discovery)")
    found = {}
    for system in report.systems:
        for subject in system.subjects:
            if subject.kind == "link" and subject.name.split()[0] == link:
                found = {f.name: f.value for f in subject.figures if f.value}
    return found


def reference_figures(seconds: float) -> dict[str, float]:
    """One run of the reference ring for every figure (same ring size as the net link's)."""
    ring = area_layout_of(NET_SECTION, 2).ring_size  # type: ignore[union-attr]
    return {name: _ringref.run(kind, seconds, ring) for name, (kind, _) in REFERENCE.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=1.0, help="duration of each figure")
    parser.add_argument("--repeat", type=int, default=3, help="runs per figure")
    parser.add_argument("--link", default="net", help="link of the qemu-x86 system to use")
    args = parser.parse_args()

    cores = os.cpu_count()
    print(f"machine: {cores} cores ({cpu_model()}), Linux {platform.release()}, "
          f"Python {platform.python_version()}; load average {os.getloadavg()[0]:.2f}")
    print("permission enforcement: on (read-only sections from read-only descriptors, "
          "memory files sealed)")
    if _ringref is None:
        raise SystemExit("the reference ring is not built: run `python setup.py build_ext --inplace`")
    runs: dict[str, list[float]] = {}
    refs: list[dict[str, float]] = []
    ratios: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="partcfg-bench-") as tmp:
        build_dir = build(Path(tmp))
        refs.append(reference_figures(args.seconds))
        for _ in range(args.repeat):   # reference, partcfg, reference, ...
            found = figures_of_run(build_dir, args.seconds, args.link)
            refs.append(reference_figures(args.seconds))
            for name, value in found.items():
                runs.setdefault(name, []).append(value)
                around = (refs[-2][name] + refs[-1][name]) / 2
                ratios.setdefault(name, []).append(value / around)
    print(f"link {args.link}: RootCell -> linux-guest, {args.repeat} runs of "
          f"{args.seconds:g} s per figure, each between two runs of the reference ring "
          "(C, same sizes, no Python)")
    held = True
    print("ratio to the reference in the same run (median; every run):")
    for name, (kind, goal) in REFERENCE.items():
        values = ratios.get(name)
        if not values:
            print(f"  {name:<34} not measured")
            held = False
            continue
        median = statistics.median(values)
        lower = name == "64-byte round trip, polling"
        ok = median <= goal if lower else median >= goal
        held &= ok
        cmp = "<=" if lower else ">="
        print(f"  {name:<34} {median:6.2f}x  (goal {cmp} {goal:g}x) {'ok' if ok else 'MISSED'}   runs: "
              + ", ".join(f"{v:.2f}" for v in values))
    print("absolute figures (median, best; the reference's median beside them):")
    for name, (unit, target, better) in TARGETS.items():
        values = runs.get(name)
        if not values:
            print(f"  {name:<34} not measured")
            continue
        median = statistics.median(values)
        best = max(values) if better == "higher" else min(values)
        ok = median >= target if better == "higher" else median < target
        scale = 1e6 if unit == "msg/s" else 1.0
        shown = "M msg/s" if unit == "msg/s" else unit
        cmp = ">=" if better == "higher" else "<"
        ref = statistics.median(r[name] for r in refs)
        print(f"  {name:<34} {median / scale:8.2f} {shown:<8} (best {best / scale:.2f}; "
              f"reference {ref / scale:.2f}; fixed target {cmp} {target / scale:g}: "
              f"{'ok' if ok else 'missed'})")
        print(f"  {'':<34} runs: " + ", ".join(f"{v / scale:.2f}" for v in values)
              + "; reference runs: " + ", ".join(f"{r[name] / scale:.2f}" for r in refs))
    one = runs.get("64-byte messages, one per call")
    batch = runs.get("64-byte messages, batch call")
    if one and batch:
        print(f"vhost-pci prototype: {VHOST_PCI_PPS / 1e6:.1f} M packets/s between two VMs; "
              f"here {statistics.median(one) / VHOST_PCI_PPS:.1f}x that one message per call, "
              f"{statistics.median(batch) / VHOST_PCI_PPS:.1f}x with the batch call "
              "(processes on one host, not VMs: no virtio rings, no VM exits)")
    return 0 if held else 1


if __name__ == "__main__":
    sys.exit(main())
