"""Regenerate the golden trees from the example systems (run from the repository root):

    python -m tests.regen_golden

tests/golden/       what `partcfg build cells/*.yaml -o tests/golden` writes (blobs,
                    config-space images, firmware headers)
tests/golden-emit/  what `--emit c --emit elf` adds (C sources, their headers, ELF objects)

Review the diff before committing: a golden change must be deliberate.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _replace_tree(root: Path, outputs: dict[str, bytes]) -> None:
    for entry in root.iterdir() if root.exists() else ():
        if entry.name != "README.md":
            shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
    for rel, data in sorted(outputs.items()):
        target = root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)


def main() -> int:
    sys.path.insert(0, str(ROOT))
    from partcfg.commands.pipeline import build_outputs_of, checked_files_of

    os.chdir(ROOT)
    files = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "cells").glob("*.yaml"))
    checked = checked_files_of(files)
    plain = build_outputs_of(checked)
    emitted = build_outputs_of(checked, {"c", "elf"})
    _replace_tree(ROOT / "tests" / "golden", plain)
    _replace_tree(ROOT / "tests" / "golden-emit",
                  {rel: data for rel, data in emitted.items() if rel not in plain})
    print(f"tests/golden: {len(plain)} files, tests/golden-emit: {len(emitted) - len(plain)} files")
    return 0


if __name__ == "__main__":
    sys.exit(main())
