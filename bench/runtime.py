"""Benchmark: the bundled runtime's message figures (not a unit test).

Builds the bundled example systems, then runs ``partcfg run --bench`` on the qemu-x86
system: real cell processes, memory mapped from the blobs with the kernel enforcing the
permissions (read-only sections come from read-only descriptors, the memory files are
sealed), rings in the output sections of the ``net`` link (RootCell -> linux-guest,
0x7f000-byte output sections). Prints, with the machine's core count:

  64-byte messages, one per call        target >= 4 million/s
  64-byte messages, batch call          target >= 20 million/s
  64 KiB messages (send + recv_into)    target >= 10 GB/s
  64-byte round trip while polling      target <  5 us

and compares with the vhost-pci prototype (1.8 million 64-byte packets/s between two
VMs). Each figure is the median of ``--repeat`` runs (the best and every run are shown
too); the machine should be otherwise idle. On a virtual machine the figures also depend
on where the host places the two virtual CPUs: the 64 KiB rate and the round trip change
by a factor of three to four between a shared and a separate core complex.

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

VHOST_PCI_PPS = 1.8e6
TARGETS = {   # figure name -> (unit, target, "higher" or "lower" is better)
    "64-byte messages, one per call": ("msg/s", 4e6, "higher"),
    "64-byte messages, batch call": ("msg/s", 20e6, "higher"),
    "64 KiB messages": ("GB/s", 10.0, "higher"),
    "64-byte round trip, polling": ("us", 5.0, "lower"),
}


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
    runs: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="partcfg-bench-") as tmp:
        build_dir = build(Path(tmp))
        for _ in range(args.repeat):
            for name, value in figures_of_run(build_dir, args.seconds, args.link).items():
                runs.setdefault(name, []).append(value)
    print(f"link {args.link}: RootCell -> linux-guest, {args.repeat} runs of "
          f"{args.seconds:g} s per figure (median, best)")
    held = True
    for name, (unit, target, better) in TARGETS.items():
        values = runs.get(name)
        if not values:
            print(f"  {name:<34} not measured")
            held = False
            continue
        median = statistics.median(values)
        best = max(values) if better == "higher" else min(values)
        ok = median >= target if better == "higher" else median < target
        held &= ok
        scale = 1e6 if unit == "msg/s" else 1.0
        shown = "M msg/s" if unit == "msg/s" else unit
        cmp = ">=" if better == "higher" else "<"
        print(f"  {name:<34} {median / scale:8.2f} {shown:<8} (best {best / scale:.2f}; "
              f"target {cmp} {target / scale:g}) {'ok' if ok else 'MISSED'}")
        print(f"  {'':<34} runs: " + ", ".join(f"{v / scale:.2f}" for v in values))
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
