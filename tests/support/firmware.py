"""Helpers for the firmware-facing output tests (cspace, C header, C source, ELF, inmate).

Builds run in-process through ``pipeline.build_outputs_of`` with the example files named
relative to the repository root, as ``partcfg build cells/*.yaml`` would; gcc and
objcopy are found on PATH, and the tests that need them skip with the reason when they
are absent (CI has both).
"""

from __future__ import annotations

import functools
import platform
import shutil
import subprocess
from pathlib import Path

import pytest

from partcfg.layout import layout_of_system
from partcfg.load.yaml_source import load_yaml_text
from partcfg.model.assembly import assembly_of
from partcfg.model.document import document_of
from partcfg.commands.pipeline import build_outputs_of, checked_files_of

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "firmware"
GOLDEN = ROOT / "tests" / "golden"
GOLDEN_EMIT = ROOT / "tests" / "golden-emit"
SYSTEMS = ("qemu-arm64", "qemu-x86")

GCC = shutil.which("gcc")
OBJCOPY = shutil.which("objcopy")
_gcc_installed = pytest.mark.skipif(GCC is None, reason="gcc is not installed (CI has it)")


def needs_gcc(test):
    """A test that compiles with gcc: skipped without gcc, and slow (``-m "not slow"``)."""
    return pytest.mark.slow(_gcc_installed(test))

needs_objcopy = pytest.mark.skipif(OBJCOPY is None, reason="objcopy (binutils) is not installed")
HOST_IS_X86_64 = platform.machine() in ("x86_64", "AMD64")
needs_x86_64_host = pytest.mark.skipif(
    not HOST_IS_X86_64, reason=f"linking x86-64 objects needs an x86-64 host, this is {platform.machine()}")


def example_paths() -> list[str]:
    """The example YAML files, relative to the repository root (as in the README)."""
    return sorted(str(p.relative_to(ROOT)) for p in (ROOT / "cells").glob("*.yaml"))


@functools.lru_cache(maxsize=4)
def example_outputs(emit: frozenset[str] = frozenset({"c", "elf"}),
                    target: str | None = None) -> dict[str, bytes]:
    """Everything ``partcfg build cells/*.yaml --emit ...`` writes, by relative path
    (generated files cite inputs relative to their common directory, so the outputs do
    not depend on how the paths are spelt)."""
    checked = checked_files_of([ROOT / p for p in example_paths()])
    assert not [d for d in checked.diagnostics if d.severity.value == "error"]
    return build_outputs_of(checked, set(emit), target)


@functools.lru_cache(maxsize=1)
def example_systems():
    """The assembled example systems, by name."""
    checked = checked_files_of([ROOT / p for p in example_paths()])
    return {s.name: s for s in checked.assembly.systems}


def example_layouts():
    return {name: layout_of_system(s) for name, s in example_systems().items()}


def assembly_of_texts(texts: dict[str, str]):
    """Assemble YAML texts (file name -> text) without validation."""
    assembly = assembly_of([document_of(load_yaml_text(t, n)) for n, t in texts.items()])
    assert not assembly.diagnostics, [d.message for d in assembly.diagnostics]
    return assembly


def write_tree(root: Path, outputs: dict[str, bytes], prefix: str = "") -> None:
    for rel, data in outputs.items():
        if rel.startswith(prefix):
            target = root / rel[len(prefix):]
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)


def run(args: list, cwd: Path | None = None) -> str:
    """Run a tool; on failure, show its output in the assertion."""
    done = subprocess.run([str(a) for a in args], cwd=cwd, capture_output=True, text=True)
    assert done.returncode == 0, f"{' '.join(map(str, args))} failed:\n{done.stdout}{done.stderr}"
    return done.stdout
