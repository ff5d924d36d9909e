"""A deterministic, bounded fuzz run over YAML, blobs, ELF objects and names (seeded mutation, so every
CI run tries the same cases): each case must end in data or partcfg's own errors, never
another exception, within a time bound, and a build of it writes nothing outside ``-o``.
The figures (cases per class, outcomes, time) are printed with ``pytest -s``."""

from __future__ import annotations

import random
import time
from collections import Counter
from typing import Callable

import pytest

from conftest import CELLS, FIXTURES
from partcfg.diagnostics import Diagnostic as PartcfgDiagnostic, PartcfgError

SEED = 20261128
YAML_CASES = 300
BLOB_CASES = 300
ELF_CASES = 200
NAME_CASES = 120
CASE_SECONDS = 5.0
NASTY_NAMES = ["..", ".", "", "a/b", "a\\b", "/etc", "x\x00y", "\x01", "A", "a", ".hidden",
               "x" * 300, "ü", "\udcfe", "CON", "a b", "-", "s/1", "s-1"]
NASTY_SCALARS = ["0x_", "0b_", "0o_", "9" * 5000, "*a", "&a [*a]", "[[[[[[[[", "{", "0x" + "f" * 40,
                 "-1", "4294967296", "18446744073709551616", "~", "!!binary AAAA", "<<: {}"]


def _outcome(work) -> str:
    start = time.monotonic()
    try:
        kind = work() or "ok"
    except PartcfgError:
        kind = "partcfg error"
    assert time.monotonic() - start < CASE_SECONDS, "too slow"
    return kind


def _mutated_text(rng: random.Random, text: str) -> str:
    lines = text.splitlines()
    for _ in range(rng.randint(1, 4)):
        i = rng.randrange(len(lines))
        choice = rng.random()
        if choice < 0.4 and ":" in lines[i]:
            key, _, _ = lines[i].partition(":")
            lines[i] = f"{key}: {rng.choice(NASTY_SCALARS + NASTY_NAMES)!r}" if rng.random() < 0.5 \
                else f"{key}: {rng.choice(NASTY_SCALARS)}"
        elif choice < 0.6:
            lines[i] = lines[i].replace("name: ", f"name: {rng.choice(NASTY_NAMES)!r}  # ", 1)
        elif choice < 0.8:
            j = rng.randrange(len(lines))
            lines[i], lines[j] = lines[j], lines[i]
        else:
            cut = rng.randrange(len(lines[i]) + 1)
            lines[i] = lines[i][:cut] + rng.choice("{}[]&*!|>:-,'\"\t#%@`") + lines[i][cut:]
    return "\n".join(lines) + "\n"


def _damaged(rng: random.Random, original: bytes, most_writes: int,
             position: Callable[[bytearray], int]) -> bytearray:
    """``original`` with 1 to ``most_writes`` 4-byte words overwritten at ``position()``
    (all ones, zero, random, a plausible size; ``position`` sees the data as damaged so far),
    cut short one time in five."""
    data = bytearray(original)
    for _ in range(rng.randint(1, most_writes)):
        at = position(data)
        data[at:at + 4] = rng.choice([b"\xff\xff\xff\xff", b"\x00\x00\x00\x00",
                                     rng.randbytes(4), b"\x00\x00\x40\x00"])
    if rng.random() < 0.2:
        data = data[:rng.randrange(len(data))]
    return data


@pytest.mark.slow  # hundreds of mutated inputs through the whole flow (8-25 s)
def test_mutated_yaml_names_and_blobs_end_in_partcfg_errors_only(tmp_path):
    from partcfg.load.blob import parsed_blob_of
    from partcfg.lift.blob_to_yaml import imported_documents_of
    from partcfg.load.yaml_source import load_yaml_text
    from partcfg.model.assembly import assembly_of
    from partcfg.model.document import document_of
    from partcfg.commands.atomic_write import write_outputs
    from partcfg.commands.pipeline import Checked, build_outputs_of
    from partcfg.check.validate import diagnostics_of_assembly

    rng = random.Random(SEED)
    sources = {p.name: p.read_text() for p in sorted(CELLS.glob("qemu-x86*.yaml"))}
    sources.update({f"clean-{p.name}": p.read_text()
                    for p in sorted((FIXTURES / "workflow" / "clean").glob("*.yaml"))})
    outcomes: dict[str, Counter] = {"yaml": Counter(), "names": Counter(), "blob": Counter(),
                                    "elf": Counter()}
    started = time.monotonic()
    sandbox = tmp_path / "sandbox"
    out = sandbox / "out"
    sandbox.mkdir()
    (sandbox / "marker").write_text("outside -o")

    def whole_flow(texts: dict[str, str]) -> str:
        documents, refused = [], False
        for name, text in texts.items():
            try:
                documents.append(document_of(load_yaml_text(text, name)))
            except PartcfgError:
                refused = True
        assembly = assembly_of(documents)
        diagnostics_of_assembly(assembly)
        outputs = build_outputs_of(Checked([], assembly, []))   # what --force would write
        write_outputs(out, outputs)
        return "file refused, rest built" if refused else "built"

    system = [n for n in sources if n.startswith("qemu")]
    for case in range(YAML_CASES):
        texts = {n: sources[n] for n in system}
        victim = rng.choice(system)
        texts[victim] = _mutated_text(rng, texts[victim])
        outcomes["yaml"][_outcome(lambda: whole_flow(texts))] += 1

    clean = [n for n in sources if n.startswith("clean-")]
    for case in range(NAME_CASES):
        texts = {n: sources[n] for n in clean}
        a, b = rng.choice(NASTY_NAMES), rng.choice(NASTY_NAMES)
        for n in texts:
            texts[n] = texts[n].replace("system: board", f"system: {a!r}").replace(
                "name: sender", f"name: {b!r}").replace("[sender,", f"[{b!r},")
        outcomes["names"][_outcome(lambda: whole_flow(texts))] += 1

    from partcfg.layout import layout_of_system
    from partcfg.render.blob import blobs_of_system
    docs = [document_of(load_yaml_text(sources[n], n)) for n in system]
    blobs = list(blobs_of_system(layout_of_system(assembly_of(docs).systems[0])).values())
    for case in range(BLOB_CASES):
        original = rng.choice(blobs)
        data = _damaged(rng, original, 8, lambda data: rng.randrange(len(data)))

        def decode():
            blob = parsed_blob_of(bytes(data), f"case{case}.cell")
            imported_documents_of([blob])
        outcomes["blob"][_outcome(decode)] += 1

    # ELF objects (import foo.o) and inmate images (check --inmate): the header, the section
    # and program header tables are where damage makes a reader loop, allocate or overflow
    from partcfg.check.inmate import inmate_image_of
    from partcfg.load.elf import blob_bytes_of_elf
    from partcfg.render.elf import elf_object_of
    objects = [elf_object_of(blobs[0], "cell", target) for target in ("x86-64", "aarch64")]
    for case in range(ELF_CASES):
        elf = rng.choice(objects)
        shoff = int.from_bytes(elf[0x28:0x30], "little")
        data = _damaged(rng, elf, 6, lambda data: rng.choice([
            rng.randrange(0x40), rng.randrange(shoff, len(data) - 4), rng.randrange(len(data) - 4)]))

        def read_elf():
            inmate = inmate_image_of(bytes(data), f"case{case}.o")
            blob = parsed_blob_of(blob_bytes_of_elf(bytes(data), f"case{case}.o"), f"case{case}.o")
            imported_documents_of([blob])
            return "ok" if not isinstance(inmate, PartcfgDiagnostic) else "ok, not an inmate"
        outcomes["elf"][_outcome(read_elf)] += 1

    elapsed = time.monotonic() - started
    outside = sorted(p.name for p in sandbox.iterdir() if p.name not in ("out", "marker"))
    escaped = sorted(p.relative_to(sandbox).as_posix() for p in sandbox.rglob("*")
                     if not p.relative_to(sandbox).as_posix().startswith(("out", "marker")))
    print(f"\nfuzz: seed {SEED}, {sum(sum(c.values()) for c in outcomes.values())} cases in "
          f"{elapsed:.1f} s; " + "; ".join(f"{k}: {dict(v)}" for k, v in outcomes.items())
          + f"; escapes: {len(escaped)}")
    assert outside == [] and escaped == []
    assert (sandbox / "marker").read_text() == "outside -o"
    assert elapsed < 60
