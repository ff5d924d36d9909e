"""Benchmark: what waivers and baselines add to a check (not a unit test).

Writes the synthetic board tree of ``bench/tree.py`` (every board valid), puts an inline
waiver on one line of every FRACTION-th file and a CPU conflict into as many boards (so
there are findings to fingerprint), then times in this process, best of REPEAT:

  check        pipeline.checked_files_of(tree)                       (the reference)
  waivers      triage_of(...) without fingerprints: the marker scan of every file plus
               matching (what every check and build now pays)
  baseline     triage_of(...) with a baseline: also the fingerprints (a YAML compose of
               each file holding a finding)

and prints each as a ratio to the check measured in the same run (the VM is noisy).
Usage: python bench/waivers.py [--systems 200] [--cells 3] [--repeat 3]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))


def _best(repeat: int, work) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        result = work()
        best = min(best, time.perf_counter() - start)
    return best, result


def main() -> None:
    from tree import write_tree

    from partcfg.check.baseline import entries_of
    from partcfg.commands.pipeline import checked_files_of
    from partcfg.check.triage import triage_of

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--systems", type=int, default=200)
    parser.add_argument("--cells", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--every", type=int, default=4, help="conflict and waiver in every N-th board")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="partcfg-waivers-") as tmp:
        tree = Path(tmp) / "tree"
        files = write_tree(tree, args.systems, args.cells)
        boards = sorted(p for p in tree.iterdir() if p.is_dir())
        for board in boards[::args.every]:
            cells = sorted(p for p in board.glob("*.yaml") if p.name not in (f"{board.name}.yaml", "links.yaml"))
            first, second = cells[0], cells[1]
            # the second cell takes the first one's CPUs too: one CPU-CONFLICT per board
            cpus = next(line for line in first.read_text().splitlines() if line.strip().startswith("cpus:"))
            text = second.read_text().splitlines()
            at = next(i for i, line in enumerate(text) if line.strip().startswith("cpus:"))
            text[at] = cpus + "  # partcfg: ignore[MEM-ALIGN] nothing to waive here (unused)"
            second.write_text("\n".join(text) + "\n")

        check_s, checked = _best(args.repeat, lambda: checked_files_of([tree]))
        findings = len(checked.diagnostics)
        waivers_s, triage = _best(args.repeat, lambda: triage_of(checked.diagnostics, checked.files))
        baseline = entries_of(checked.diagnostics, Path(tmp))
        baseline_s, compared = _best(args.repeat, lambda: triage_of(
            checked.diagnostics, checked.files, baseline=baseline, root=Path(tmp)))

    print(f"{args.systems} systems, {files} files, {findings} findings before waivers, "
          f"{len(triage.counted)} after (waiver warnings included)")
    print(f"check            {check_s * 1000:8.1f} ms   1.00")
    print(f"waivers          {waivers_s * 1000:8.1f} ms   {waivers_s / check_s:.3f} of the check")
    print(f"baseline         {baseline_s * 1000:8.1f} ms   {baseline_s / check_s:.3f} of the check "
          f"({len(compared.unchanged)} unchanged)")


if __name__ == "__main__":
    main()
