"""ELF objects (``build --emit elf``) and reading configurations out of ELF objects.

The written objects are read back with pyelftools (both machine types), linked with gcc
into a program that prints each blob (one gcc run per system), and compared with the
golden files; ``elfread`` must recover the blob from them, from gcc-compiled C configs
(``.data`` and ``.rodata``) and reject bad inputs with one exact diagnostic each.
"""

from __future__ import annotations

import io

import pytest
from elftools.elf.elffile import ELFFile

from support.firmware import (FIXTURES, GOLDEN_EMIT, SYSTEMS, example_outputs, needs_gcc,
                              needs_x86_64_host, run, write_tree)
from partcfg.diagnostics import BlobError, InputError
from partcfg.load.elf import blob_bytes_of_elf
from partcfg.names import c_identifier_of
from partcfg.commands.pipeline import build_outputs_of, checked_files_of
from partcfg.render.elf import elf_object_of

BAD = FIXTURES / "elf"


def _objects(outputs, system):
    """cell file stem -> (object bytes, blob bytes) of one system."""
    prefix = f"{system}/"
    return {rel[len(prefix):-2]: (data, outputs[rel[:-2] + ".cell"])
            for rel, data in outputs.items() if rel.startswith(prefix) and rel.endswith(".o")}


@pytest.mark.parametrize("target, machine", [("x86-64", "EM_X86_64"), ("aarch64", "EM_AARCH64")])
def test_objects_read_back_with_pyelftools(target, machine):
    outputs = example_outputs(frozenset({"elf"}), target)
    seen = 0
    for system in SYSTEMS:
        for stem, (obj, blob) in _objects(outputs, system).items():
            elf = ELFFile(io.BytesIO(obj))
            assert (elf.elfclass, elf.little_endian) == (64, True)
            assert (elf["e_type"], elf["e_machine"]) == ("ET_REL", machine)
            assert not elf.has_dwarf_info() and elf.num_segments() == 0
            assert [s.name for s in elf.iter_sections()] == [
                "", ".rodata", ".note.GNU-stack", ".symtab", ".strtab", ".shstrtab"]
            rodata = elf.get_section_by_name(".rodata")
            assert rodata["sh_flags"] == 0x2 and rodata["sh_addralign"] == 8  # alloc only
            symbols = {s.name: s for s in elf.get_section_by_name(".symtab").iter_symbols()}
            name = c_identifier_of(stem.replace("-", "_"))
            config, size = symbols[f"{name}_config"], symbols[f"{name}_config_size"]
            for sym in (config, size):
                assert (sym["st_info"]["bind"], sym["st_info"]["type"]) == ("STB_GLOBAL", "STT_OBJECT")
                assert sym["st_shndx"] == 1
            data = rodata.data()
            assert data[config["st_value"]:config["st_value"] + config["st_size"]] == blob
            assert size["st_size"] == 8 and size["st_value"] % 8 == 0
            assert int.from_bytes(data[size["st_value"]:size["st_value"] + 8], "little") == len(blob)
            assert blob_bytes_of_elf(obj, f"{stem}.o") == blob
            seen += 1
    assert seen == 6


def test_default_target_follows_the_system_architecture():
    outputs = example_outputs(frozenset({"elf"}))
    machines = {rel: ELFFile(io.BytesIO(data))["e_machine"]
                for rel, data in outputs.items() if rel.endswith(".o")}
    assert machines == {
        "qemu-arm64/linux-guest.o": "EM_AARCH64", "qemu-arm64/qemu-arm64.o": "EM_AARCH64",
        "qemu-arm64/rt-cell.o": "EM_AARCH64", "qemu-x86/RootCell.o": "EM_X86_64",
        "qemu-x86/linux-guest.o": "EM_X86_64", "qemu-x86/rt-app.o": "EM_X86_64"}


def test_objects_match_the_golden_files():
    outputs = example_outputs()
    objects = sorted(rel for rel in outputs if rel.endswith(".o"))
    assert len(objects) == 6
    for rel in objects:
        assert outputs[rel] == (GOLDEN_EMIT / rel).read_bytes(), f"{rel} differs from tests/golden-emit"


def test_symbol_names_are_c_identifiers():
    obj = elf_object_of(b"\x01\x02\x03", c_identifier_of("9-lives.cell"), "x86-64")
    names = [s.name for s in ELFFile(io.BytesIO(obj)).get_section_by_name(".symtab").iter_symbols()]
    assert names == ["", "", "_9_lives_cell_config", "_9_lives_cell_config_size"]


@needs_gcc
@needs_x86_64_host
@pytest.mark.parametrize("system", SYSTEMS)
def test_objects_link_into_a_program_that_prints_the_blobs(system, tmp_path):
    outputs = example_outputs(frozenset({"elf"}), "x86-64")
    objects = _objects(outputs, system)
    lines = ["#include <stdint.h>", "#include <stdio.h>"]
    calls = []
    for stem in objects:
        name = c_identifier_of(stem)
        lines += [f"extern const unsigned char {name}_config[];",
                  f"extern const uint64_t {name}_config_size;"]
        calls.append(f'\tdump("{stem}", {name}_config, {name}_config_size);')
    lines += ["static void dump(const char *name, const unsigned char *blob, uint64_t size)",
              "{", '\tprintf("%s ", name);', "\tfor (uint64_t i = 0; i < size; i++)",
              '\t\tprintf("%02x", blob[i]);', '\tprintf("\\n");', "}",
              "int main(void)", "{", *calls, "\treturn 0;", "}", ""]
    write_tree(tmp_path, {k: v for k, v in outputs.items() if k.endswith(".o")}, f"{system}/")
    (tmp_path / "main.c").write_text("\n".join(lines))
    run(["gcc", "-Wall", "-Wextra", "-Werror", "-o", "main", "main.c",
         *sorted(f"{stem}.o" for stem in objects)], cwd=tmp_path)
    printed = run([tmp_path / "main"], cwd=tmp_path).splitlines()
    assert printed == [f"{stem} {blob.hex()}" for stem, (_, blob) in objects.items()]


# --- reading configurations from compiled C sources ------------------------------------------

@needs_gcc
def test_blob_is_read_from_gcc_objects_in_data_and_rodata(tmp_path):
    outputs = example_outputs()
    write_tree(tmp_path, outputs, "qemu-x86/")
    source = (tmp_path / "rt-app.c").read_text()
    # a `const` configuration lands in .rodata; Jailhouse's own configs are in .data
    (tmp_path / "rt-app-const.c").write_text(
        source.replace("\n} __attribute__((packed)) config = {", "\n} __attribute__((packed)) const config = {"))
    run(["gcc", "-I", "include", "-c", "rt-app.c", "rt-app-const.c"], cwd=tmp_path)
    blob = outputs["qemu-x86/rt-app.cell"]
    for name, section in (("rt-app.o", ".data"), ("rt-app-const.o", ".rodata")):
        data = (tmp_path / name).read_bytes()
        sections = {s.name for s in ELFFile(io.BytesIO(data)).iter_sections()}
        assert section in sections
        assert blob_bytes_of_elf(data, name) == blob


def test_committed_const_fixture_is_read_from_rodata():
    assert blob_bytes_of_elf((BAD / "const-config.o").read_bytes(), "const-config.o") == b"JHCLL\x0e\x00"


@pytest.mark.parametrize("fixture, rule, message", [
    ("garbage.o", "ELF-NOT-ELF", "not an ELF object (no \\x7fELF magic)"),
    ("big-endian.o", "ELF-BIG-ENDIAN", "big-endian ELF object: Jailhouse configurations are "
     "little-endian, so this object cannot hold one"),
    ("truncated.o", "ELF-TRUNCATED",
     "truncated ELF object: its section headers end at byte 880, the file has 200"),
    ("stripped.o", "ELF-NO-SYMBOLS",
     "the object has no symbol table, so the configuration cannot be found"),
    ("code-only.o", "ELF-NO-CONFIG",
     "the object defines no data symbol, so it holds no configuration"),
    ("two-data.o", "ELF-AMBIGUOUS", "no symbol named 'config' and several data symbols "
     "(alpha, beta): cannot tell which one is the configuration"),
    ("bss-config.o", "ELF-NO-DATA",
     "symbol 'config' is in .bss, which holds no bytes (an uninitialised variable)"),
    ("relocated.o", "ELF-RELOCATIONS", "the configuration in 'config' has 1 relocation: it "
     "refers to other symbols' addresses, which a configuration blob cannot hold"),
])
def test_bad_objects_get_one_clear_diagnostic(fixture, rule, message):
    path = str(BAD / fixture)
    with pytest.raises(BlobError) as caught:
        blob_bytes_of_elf((BAD / fixture).read_bytes(), path)
    [diag] = caught.value.diagnostics
    assert (diag.rule, diag.message, str(diag.location)) == (rule, message, path)


@pytest.mark.parametrize("cut", [0, 3, 10, 63, 64, 300])
def test_short_inputs_never_escape_as_tracebacks(cut):
    obj = example_outputs()["qemu-x86/rt-app.o"]
    with pytest.raises(BlobError):
        blob_bytes_of_elf(obj[:cut], "cut.o")


def test_32_bit_arm_needs_an_explicit_target():
    checked = checked_files_of([FIXTURES / "standalone-arm.yaml"])
    with pytest.raises(InputError) as caught:
        build_outputs_of(checked, {"elf"})
    [diag] = caught.value.diagnostics
    assert diag.rule == "BUILD-ELF-TARGET"
    assert diag.message == ("ELF objects are ELF64 (x86-64 or AArch64); a 32-bit arm system "
                            "has no default target")
    assert str(diag.location).endswith("standalone-arm.yaml:4:9")
    obj = build_outputs_of(checked, {"elf"}, "aarch64")["lone.o"]
    assert blob_bytes_of_elf(obj, "lone.o") == build_outputs_of(checked)["lone.cell"]


# --- partcfg import foo.o ------------------------------------------------------------------

def _yaml_without_first_line(directory) -> dict[str, str]:
    return {p.name: p.read_text().split("\n", 1)[1] for p in directory.glob("*.yaml")}


@needs_gcc
def test_import_of_an_object_equals_import_of_the_blob(run_cli, tmp_path):
    outputs = example_outputs()
    write_tree(tmp_path, outputs, "qemu-x86/")
    run(["gcc", "-I", "include", "-c", "-o", "rt-app-from-c.o", "rt-app.c"], cwd=tmp_path)
    results = {}
    for name in ("rt-app.cell", "rt-app.o", "rt-app-from-c.o"):
        code, _, err = run_cli("import", tmp_path / name, "-o", tmp_path / f"out-{name}")
        assert code == 0, err
        results[name] = _yaml_without_first_line(tmp_path / f"out-{name}")
    assert list(results["rt-app.o"]) == ["rt-app.yaml"]
    texts = [list(r.values()) for r in results.values()]
    assert texts[0] == texts[1] == texts[2] and len(texts[0]) == 1


def test_import_of_a_bad_object_is_a_clear_error(run_cli, tmp_path):
    code, _, err = run_cli("import", BAD / "stripped.o", "-o", tmp_path)
    assert code == 2
    assert "error[ELF-NO-SYMBOLS]: the object has no symbol table" in err
    assert "Traceback" not in err
