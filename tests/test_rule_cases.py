"""Every registered rule has a case that triggers it.

The registry (partcfg/check/rules.py) is read at run time, and the sources of the whole package
(load, model, validate, import, ELF reading, the runtime's refusals, ...) are scanned for
the ids they can emit. Every registered id must appear in a test that triggers it and
asserts its diagnostic; this file holds the cases the other test files do not have, one
small input each, with the exact diagnostic (rule, place, message) asserted.

Naming an id in a test is not triggering it: tests/support/rule_log.py records every
diagnostic created while the suite runs and fails a whole-suite run when a registered
rule was never created.
"""

from __future__ import annotations

import io
import os
import re
from pathlib import Path

import pytest
from elftools.elf.elffile import ELFFile

from conftest import ROOT, example_files
from partcfg.diagnostics import BlobError, ConfigError
from partcfg.load.elf import blob_bytes_of_elf
from partcfg.load.yaml_source import load_yaml_text
from partcfg.model.assembly import assembly_of
from partcfg.model.document import document_of
from partcfg.check.rules import RULES

TESTS = Path(__file__).resolve().parent

# --- the coverage test -----------------------------------------------------------------------

RULE_IN_TEXT = r"(?<![A-Z0-9-]){}(?![A-Z0-9-])"
# rules no single input can reach; each names the test that triggers it another way
REACHED_OTHERWISE: dict[str, str] = {}


def _test_sources() -> dict[str, str]:
    return {str(p.relative_to(TESTS)): p.read_text() for p in sorted(TESTS.rglob("test_*.py"))
            if p.name != Path(__file__).name}


def test_every_registered_rule_appears_in_a_test_that_triggers_it():
    sources = _test_sources()
    sources["test_rule_cases.py"] = Path(__file__).read_text().split("# --- the cases", 1)[1]
    untested = sorted(rule for rule in RULES if rule not in REACHED_OTHERWISE
                      and not any(re.search(RULE_IN_TEXT.format(re.escape(rule)), text)
                                  for text in sources.values()))
    assert untested == []


def test_every_rule_the_package_can_emit_is_registered_and_tested():
    """The whole package, not one module: ids in error()/warning()/info() calls and in
    tables, from load to the runtime's refusals."""
    from test_validate import rule_ids_in
    package = {str(p.relative_to(ROOT)): p.read_text()
               for p in sorted((ROOT / "partcfg").rglob("*.py")) if p.name != "rules.py"}
    emitted = rule_ids_in(package)
    assert {"RUN-CPU-NOT-IN-ROOT", "RUN-MAP-ALIGN", "BLOB-TRUNCATED", "YAML-MERGE",
            "IMPORT-INEXACT", "MEM-OVERLAP-PHYS"} <= set(emitted)
    assert sorted(set(emitted) - set(RULES)) == []
    # a registered rule nothing emits is dead weight (or emitted in a way the scan misses)
    assert sorted(set(RULES) - set(emitted)) == []


# --- the cases -------------------------------------------------------------------------------

def _problems(*texts: tuple[str, str]) -> list[tuple[str, str, str]]:
    """(rule, file:line:col, message) of everything loading and assembling the texts
    reports (load and model layers)."""
    found = []
    docs = []
    for name, text in texts:
        try:
            docs.append(document_of(load_yaml_text(text, name)))
        except ConfigError as exc:
            found += exc.diagnostics
    if docs:
        found += assembly_of(docs).diagnostics
    return [(d.rule, str(d.location), d.message) for d in found]


PLATFORM = """system: {name}
platform:
  arch: x86
  hypervisor_memory: {{phys: 0x3a000000, size: 6M}}
"""
ROOT_CELL = """cell:
  name: root
  cpus: 0-1
  memory:
    - {name: ram, phys: 0x0, size: 1M, flags: [read, write]}
"""


def test_yaml_multi_doc():
    assert _problems(("a.yaml", "system: s\n---\nsystem: t\n")) == [
        ("YAML-MULTI-DOC", "a.yaml:3:1",          # where the second document's content starts
         "a partcfg file holds one YAML document; this one has more")]


def test_yaml_merge():
    text = "base: &b {name: x}\ncell:\n  <<: *b\n  cpus: 1\n"
    assert _problems(("m.yaml", text)) == [
        ("YAML-MERGE", "m.yaml:3:3", "merge keys (<<) are not supported")]


def test_yaml_key():
    assert _problems(("k.yaml", "system: s\n[a, b]: 1\n")) == [
        ("YAML-KEY", "k.yaml:2:1", "a mapping key must be a plain name or number")]


def test_sys_name():
    text = PLATFORM.format(name="x").split("\n", 1)[1] + ROOT_CELL
    assert _problems(("p.yaml", text)) == [
        ("SYS-NAME", "p.yaml:1:1", "a file with 'platform' must name its system")]


def test_sys_root_missing():
    assert _problems(("p.yaml", PLATFORM.format(name="s"))) == [
        ("SYS-ROOT-MISSING", "p.yaml:2:1", "system 's' has no root cell")]


def test_sys_duplicate():
    text = PLATFORM.format(name="s") + ROOT_CELL
    assert _problems(("a.yaml", text), ("b.yaml", text)) == [
        ("SYS-DUPLICATE", "b.yaml:1:9", "system 's' is defined twice")]


LINK = """links:
  demo:
    bdf: 00:0e.0
    base: 0x3f0f0000
    state_table: 4K
    rw_section: 4K
    output_section: 4K
    peers: [root, root]
"""


def test_link_no_system():
    assert _problems(("l.yaml", LINK)) == [
        ("LINK-NO-SYSTEM", "l.yaml:1:1", "links need a system: this file names none")]


def test_link_duplicate():
    system = PLATFORM.format(name="s") + ROOT_CELL
    assert _problems(("a.yaml", system), ("l1.yaml", "system: s\n" + LINK),
                     ("l2.yaml", "system: s\n" + LINK)) == [
        ("LINK-DUPLICATE", "l2.yaml:3:3", "link 'demo' is declared twice in system 's'")]


def test_io_write(run_cli, tmp_path):
    blocked = tmp_path / "out"
    blocked.write_text("a file where the output directory should be\n")
    files = [f for f in example_files() if f.name.startswith("qemu-arm64")]
    code, out, err = run_cli("build", *files, "-o", blocked)
    assert code == 2
    assert err.splitlines()[0].startswith(f"{blocked}: error[IO-WRITE]: cannot write {blocked}")


def test_build_emit():
    """The command line offers only known kinds; the pipeline refuses any other itself."""
    from partcfg.diagnostics import InputError
    from partcfg.commands.pipeline import build_outputs_of, checked_files_of
    files = [f for f in example_files() if f.name.startswith("qemu-arm64")]
    with pytest.raises(InputError) as caught:
        build_outputs_of(checked_files_of(files), frozenset({"pdf"}))
    [d] = caught.value.diagnostics
    assert (d.rule, d.message, d.hint) == ("BUILD-EMIT", "unknown output kind 'pdf'",
                                           "use --emit c or --emit elf")


def _example_object() -> bytes:
    from partcfg.commands.pipeline import build_outputs_of, checked_files_of
    files = [f for f in example_files() if f.name.startswith("qemu-arm64")]
    outputs = build_outputs_of(checked_files_of(files), frozenset({"elf"}), "aarch64")
    return outputs["rt-cell.o"]


def _symbol_field(obj: bytes, symbol: str) -> int:
    """File offset of ``symbol``'s Elf64_Sym entry in .symtab (24 bytes each)."""
    elf = ELFFile(io.BytesIO(obj))
    symtab = elf.get_section_by_name(".symtab")
    index = next(i for i, s in enumerate(symtab.iter_symbols()) if s.name == symbol)
    return symtab["sh_offset"] + 24 * index


def test_elf_range():
    obj = bytearray(_example_object())
    at = _symbol_field(bytes(obj), "rt_cell_config") + 16          # st_size
    obj[at:at + 8] = (0x100000).to_bytes(8, "little")
    with pytest.raises(BlobError) as caught:
        blob_bytes_of_elf(bytes(obj), "r.o")
    [d] = caught.value.diagnostics
    blob = (ROOT / "tests" / "golden" / "qemu-arm64" / "rt-cell.cell").read_bytes()
    rodata = (len(blob) + 7) // 8 * 8 + 8           # the blob, padded to 8, then its u64 size
    assert (d.rule, d.message) == (
        "ELF-RANGE", "symbol 'rt_cell_config' (1048576 bytes at 0x0) lies outside section "
        f".rodata ({rodata} bytes)")


def test_elf_malformed():
    obj = bytearray(_example_object())
    elf = ELFFile(io.BytesIO(bytes(obj)))
    symtab = elf.get_section_by_name(".symtab")
    header = elf["e_shoff"] + elf["e_shentsize"] * next(
        i for i, s in enumerate(elf.iter_sections()) if s.name == ".symtab")
    obj[header + 56:header + 64] = (7).to_bytes(8, "little")       # sh_entsize 24 -> 7
    assert symtab["sh_entsize"] == 24
    with pytest.raises(BlobError) as caught:
        blob_bytes_of_elf(bytes(obj), "m.o")
    [d] = caught.value.diagnostics
    assert d.rule == "ELF-MALFORMED" and d.message.startswith("malformed ELF object: "), d.message
