"""A newcomer's first hour: a small system written from scratch (tests/fixtures/newcomer/
base, clean) and ten common mistakes, each a copy of one of its files with one thing
wrong (tests/fixtures/newcomer/mistakes/NN-*/). Each mistake must give exactly one
finding, at the mistake, saying what is wrong: a bad node costs only that node, and what
follows from it (placements of a link that could not be read, peers whose file failed,
the cells of a system without a root cell, the sections of two overlapping links) is not
reported again.
"""

from __future__ import annotations

import shutil

import pytest

from conftest import FIXTURES

NEWCOMER = FIXTURES / "newcomer"

# mistake -> (rule, file:line:col, message, hint), the one finding it must give
WALK = {
    "01-bdf-colon": (
        "SCHEMA-VALUE", "links.yaml:5:10",
        "links.ab.bdf: expected a PCI address bus:dev.fn such as 00:0e.0, got '00:10:0'", None),
    "02-misspelt-key": (
        "SCHEMA-UNKNOWN-KEY", "links.yaml:9:5", "unknown key 'ouput_section' in Link",
        "did you mean 'output_section'?"),
    "03-cell-typo": (
        "SCHEMA-UNKNOWN-KEY", "cell-a.yaml:11:3", "unknown key 'consle' in Cell",
        "did you mean 'console'?"),
    "04-no-root-cell": (
        "SYS-ROOT-MISSING", "mybox.yaml:5:1", "system 'mybox' has no root cell",
        "add the root cell as 'cell:' in the same file"),
    "05-virtio-network": (
        "SCHEMA-VALUE", "links.yaml:19:15",
        "links.vnet.protocol: unknown virtio device 'network' (known: net, block, console, "
        "or a device number)", "did you mean 'virtio:net'?"),
    "06-veht": (
        "SCHEMA-VALUE", "links.yaml:19:15",
        "links.vnet.protocol: unknown protocol 'veht' (known: undefined, veth, "
        "custom:0x4000-0x7fff, virtio:net|block|console with backend, or a number)",
        "did you mean 'veth'?"),
    "07-overlapping-links": (
        "LINK-OVERLAP", "links.yaml:13:3", "link 'vnet' overlaps link 'ab' at 0x31008000-0x3100afff",
        "move one link's base past the other's end (base + state table + rw section + peers x "
        "output section)"),
    "08-bad-flag-word": (  # column 72: the word 'wirte', not the '['
        "SCHEMA-VALUE", "cell-b.yaml:8:72",
        "cell.memory.0.flags: unknown memory flag 'wirte'; did you mean 'write'? (known: read, "
        "write, execute, dma, io, comm-region, loadable, rootshared, no-hugepages, io-unaligned, "
        "io-8, io-16, io-32, io-64)", None),
    "09-flags-string": (
        "SCHEMA-VALUE", "cell-b.yaml:9:53",
        "cell.memory.1.flags: memory flags are a list of words, not one text "
        "'read, write, comm-region'", "write [read, write, comm-region]"),
    "10-interrupt-model": (
        "SCHEMA-VALUE", "links.yaml:11:17",
        "links.ab.interrupts: unknown interrupt model 'msi' (known: intx, or {msix: N} with N "
        "from 1 to 16)", "write {msix: N} with N from 1 to 16"),
}


def _system_with(tmp_path, mistake: str | None):
    """The base system with the mistake's files in place of the base's."""
    target = tmp_path / "mybox"
    shutil.copytree(NEWCOMER / "base", target)
    if mistake is not None:
        for f in (NEWCOMER / "mistakes" / mistake).iterdir():
            shutil.copy(f, target / f.name)
    return target


def test_the_walk_covers_every_mistake_directory():
    assert sorted(WALK) == sorted(p.name for p in (NEWCOMER / "mistakes").iterdir())


def test_the_base_system_is_clean(tmp_path):
    from partcfg.commands.pipeline import checked_files_of
    assert checked_files_of([_system_with(tmp_path, None)]).diagnostics == []


@pytest.mark.parametrize("mistake", sorted(WALK))
def test_one_finding_per_mistake(tmp_path, mistake):
    from partcfg.commands.pipeline import checked_files_of
    target = _system_with(tmp_path, mistake)
    found = [(d.rule, str(d.location).replace(f"{target}/", ""), d.message, d.hint)
             for d in checked_files_of([target]).diagnostics]
    assert found == [WALK[mistake]]


def test_all_ten_mistakes_at_once_are_sorted_by_file_and_line(tmp_path):
    """The mistakes that do not hide each other (all but the missing root cell, which
    takes its system with it), made together: still one finding each, in file order."""
    from partcfg.commands.pipeline import checked_files_of
    target = _system_with(tmp_path, None)
    # apply the line edits of several mistakes to one links.yaml and one cell-b.yaml
    base_links = (NEWCOMER / "base" / "links.yaml").read_text().splitlines()
    links = list(base_links)
    for mistake in ("01-bdf-colon", "06-veht", "10-interrupt-model"):
        edited = (NEWCOMER / "mistakes" / mistake / "links.yaml").read_text().splitlines()
        links = [e if e != b else cur for b, e, cur in zip(base_links, edited, links)]
    (target / "links.yaml").write_text("\n".join(links) + "\n")
    base_b = (NEWCOMER / "base" / "cell-b.yaml").read_text().splitlines()
    cell_b = list(base_b)
    for mistake in ("08-bad-flag-word", "09-flags-string"):
        edited = (NEWCOMER / "mistakes" / mistake / "cell-b.yaml").read_text().splitlines()
        cell_b = [e if e != b else cur for b, e, cur in zip(base_b, edited, cell_b)]
    (target / "cell-b.yaml").write_text("\n".join(cell_b) + "\n")
    shutil.copy(NEWCOMER / "mistakes" / "03-cell-typo" / "cell-a.yaml", target / "cell-a.yaml")
    found = [str(d.location).replace(f"{target}/", "") for d in checked_files_of([target]).diagnostics]
    assert found == ["cell-a.yaml:11:3", "cell-b.yaml:8:72", "cell-b.yaml:9:53",
                     "links.yaml:5:10", "links.yaml:11:17", "links.yaml:19:15"]


# --- inputs with nothing to check; imports that would clobber an edit ------------------------

@pytest.mark.parametrize("command", [["check"], ["build", "-o", "OUT"], ["show"], ["map", "-o", "OUT/m.svg"],
                                     ["check", "--format", "json"]])
def test_a_directory_without_yaml_is_a_usage_error_naming_it(run_cli, tmp_path, command):
    empty = tmp_path / "emptydir"
    empty.mkdir()
    (empty / "notes.txt").write_text("not a system\n")
    args = [a.replace("OUT", str(tmp_path / "out")) for a in command]
    code, out, err = run_cli(*args, empty)
    assert code == 2
    assert f"{empty}: error[IO-EMPTY]: no YAML files (*.yaml, *.yml) in this directory: nothing to check" \
        in err or '"rule": "IO-EMPTY"' in out
    assert not (tmp_path / "out").exists()


def test_import_of_a_directory_is_a_usage_error(run_cli, tmp_path):
    code, _, err = run_cli("import", tmp_path, "-o", tmp_path / "yaml")
    assert code == 2 and f"{tmp_path}: error[IO-EMPTY]: a directory, not a blob" in err


def test_import_does_not_overwrite_an_edited_file_unless_forced(run_cli, tmp_path):
    from conftest import CELLS
    code, _, _ = run_cli("build", *sorted(CELLS.glob("qemu-arm64*.yaml")), "-o", tmp_path / "b")
    assert code == 0
    blobs = sorted((tmp_path / "b").glob("*.cell"))
    code, _, _ = run_cli("import", *blobs, "-o", tmp_path / "yaml")
    assert code == 0
    edited = tmp_path / "yaml" / "rt-cell.yaml"
    edited.write_text(edited.read_text() + "# my edit\n")
    code, _, err = run_cli("import", *blobs, "-o", tmp_path / "yaml")
    assert code == 2
    assert f"{edited}: error[IO-EXISTS]: would overwrite an existing file" in err
    assert edited.read_text().endswith("# my edit\n")
    code, _, _ = run_cli("import", *blobs, "-o", tmp_path / "yaml", "--force")
    assert code == 0 and not edited.read_text().endswith("# my edit\n")


# --- inconsistencies a newcomer met --------------------------------------------------------

def test_build_check_without_emit_judges_c_sources_headers_and_objects_alike(run_cli, tmp_path):
    """After an --emit c --emit elf build, a plain --check leaves every --emit output alone
    (.c, .o and include/jailhouse/*.h); a check with the same --emit judges them all."""
    from conftest import CELLS
    out = tmp_path / "out"
    assert run_cli("build", CELLS, "-o", out, "--emit", "c", "--emit", "elf")[0] == 0
    code, stdout, err = run_cli("build", CELLS, "-o", out, "--check")
    assert (code, stdout) == (0, "") and err == f"21 files up to date in {out}\n"
    for leftover in ("qemu-x86/gone.c", "qemu-x86/gone.o", "qemu-x86/include/jailhouse/gone.h"):
        (out / leftover).write_text("old\n")
    code, stdout, _ = run_cli("build", CELLS, "-o", out, "--check")
    assert (code, stdout) == (0, "")
    code, stdout, _ = run_cli("build", CELLS, "-o", out, "--check", "--emit", "c", "--emit", "elf")
    assert code == 1 and stdout.splitlines() == [
        f"stale: {out / 'qemu-x86/gone.c'} (no longer produced)",
        f"stale: {out / 'qemu-x86/gone.o'} (no longer produced)",
        f"stale: {out / 'qemu-x86/include/jailhouse/gone.h'} (no longer produced)"]


def test_diff_of_a_raw_ivshmem_device_and_the_same_device_as_a_link_is_no_change(run_cli, tmp_path):
    """raw-a/raw-b declare their link as raw ivshmem devices; importing their blobs lifts
    it into links: the blobs are byte for byte the same, so there is nothing to report."""
    raw = tmp_path / "raw"
    raw.mkdir()
    for name in ("base.yaml", "raw-a.yaml", "raw-b.yaml"):
        shutil.copy(FIXTURES / "validate" / name, raw / name)
    assert run_cli("build", raw, "-o", tmp_path / "b")[0] == 0
    assert run_cli("import", *sorted((tmp_path / "b").glob("*.cell")), "-o", tmp_path / "lifted")[0] == 0
    assert "links:" in (tmp_path / "lifted" / "root.yaml").read_text()
    assert run_cli("diff", raw, tmp_path / "lifted") == (0, "no change in meaning\n", "")
    # a real change of the link is still one (the raw side paired with the link by BDF)
    lifted = tmp_path / "lifted" / "root.yaml"
    lifted.write_text(lifted.read_text().replace("protocol: undefined", "protocol: veth"))
    code, out, _ = run_cli("diff", raw, tmp_path / "lifted")
    assert code == 1 and "link ivshmem-00-0e-0: protocol 0x0 -> 0x1" in out


def test_mem_not_in_root_never_prints_an_address_past_64_bits(tmp_path):
    """A region running past the 64-bit space is MEM-WRAP's; it is not also 'not in root'
    (with an end address no machine has)."""
    from partcfg.commands.pipeline import checked_files_of
    shutil.copy(FIXTURES / "validate" / "base.yaml", tmp_path / "base.yaml")
    (tmp_path / "g.yaml").write_text(
        "system: base\ncell:\n  name: g\n  cpus: 3\n  memory:\n"
        "    - {name: top, phys: 0xffffffffffff0000, virt: 0, size: 1M, flags: [read]}\n")
    found = [(d.rule, d.message) for d in checked_files_of([tmp_path]).diagnostics]
    assert found == [("MEM-WRAP", "region 'top' of cell 'g' ends beyond the 64-bit address space")]


def test_span_of_a_range_past_64_bits_stops_at_the_last_address():
    from partcfg.check.facts import span_text
    assert span_text(0xffffffffffff0000, 0xffffffffffff0000 + (1 << 20)) == "0xffffffffffff0000-0xffffffffffffffff"


def test_run_names_a_flat_build_after_its_system(tmp_path, run_cli):
    from partcfg.runtime.builddir import system_name_in_headers_of
    from partcfg.runtime.launcher import _names_of
    assert run_cli("build", NEWCOMER / "base", "-o", tmp_path / "b")[0] == 0
    assert system_name_in_headers_of(tmp_path / "b") == "mybox"
    assert _names_of(tmp_path / "b", [tmp_path / "b"]) == ["mybox"]   # not 'root', the root cell


def test_help_has_no_bool_metavars_and_one_line_summaries(run_cli):
    code, out, _ = run_cli("build", "--help")
    assert code == 0 and "<bool>" not in out and "--force " in out
    assert "  -o, --output DIR " in out and "--emit c|elf " in out
    code, out, _ = run_cli("--help")
    commands = out.split("Commands:")[1].splitlines()[1:]
    assert commands and all(not line.rstrip().endswith("...") for line in commands if line.strip())


def test_show_counts_in_words_and_as_json(run_cli):
    import json
    code, out, _ = run_cli("show", NEWCOMER / "base")
    assert code == 0
    assert "cell cell-a: CPUs 2, 6 memory regions, 1 PCI device\n" in out   # not "1 PCI devices"
    code, out, _ = run_cli("show", "--format", "json", NEWCOMER / "base")
    assert code == 0
    facts = json.loads(out)
    (system,) = facts["systems"]
    assert system["name"] == "mybox" and [c["name"] for c in system["cells"]] == ["root", "cell-a", "cell-b"]
    ab = next(link for link in system["links"] if link["name"] == "ab")
    assert ab["base"] == 0x31000000 and ab["peers"] == ["cell-a", "cell-b"]
    assert [s["access"]["cell-a"] for s in ab["sections"]] == ["RO", "RW", "RW (TX)", "RO (RX)"]
    ram = system["cells"][1]["regions"][0]
    assert (ram["name"], ram["phys"], ram["size"], ram["access"]) == ("ram", 0x30000000, 1 << 20, "rwx- loadable")


# --- imported YAML that reads well ------------------------------------------------------------

def test_imported_yaml_names_regions_uses_hex_and_cites_inputs_relative_to_itself(run_cli, tmp_path):
    import re

    from conftest import CELLS
    from partcfg.load.yaml_source import load_yaml_file
    build = tmp_path / "b"
    assert run_cli("build", *sorted(CELLS.glob("qemu-x86*.yaml")), "-o", build)[0] == 0
    blobs = sorted(build.glob("*.cell"))
    # each blob alone: raw ivshmem devices, so link sections are regions too
    for blob in blobs:
        assert run_cli("import", blob, "-o", tmp_path / "alone", "--force")[0] == 0
    for out in sorted((tmp_path / "alone").glob("*.yaml")):
        text = out.read_text()
        assert text.splitlines()[0] == \
            f"# Generated by partcfg import from ../b/{out.stem}.cell (partcfg {__import__('partcfg').__version__})."
        assert str(tmp_path) not in text
        assert not re.search(r"\b(length|size): [1-9]\d*\b", text), "decimal length"
        assert "{phys: 0x0, size: 0}" not in text
        memory = load_yaml_file(out).data["cell"]["memory"]
        assert all("name" in r or "link" in r for r in memory)
    guest = load_yaml_file(tmp_path / "alone" / "linux-guest.yaml").data["cell"]
    assert [r["name"] for r in guest["memory"]] == [
        "ivshmem-00-0c-0-state", "ivshmem-00-0c-0-rw", "ivshmem-00-0c-0-out0", "ivshmem-00-0c-0-out1",
        "ivshmem-00-0e-0-state", "ivshmem-00-0e-0-rw", "ivshmem-00-0e-0-out0", "ivshmem-00-0e-0-out1",
        "ivshmem-00-0e-0-out2", "ivshmem-00-0f-0-state", "ivshmem-00-0f-0-rw", "ivshmem-00-0f-0-out0",
        "ivshmem-00-0f-0-out1", "loadable-0x3a600000", "comm-region", "loadable-0x3a700000"]
    assert guest["memory"][2] == {"name": "ivshmem-00-0c-0-out0"}   # an empty slot, no values
    root = load_yaml_file(tmp_path / "alone" / "RootCell.yaml").data["cell"]
    assert [r.get("name") for r in root["memory"][:5]] == [
        "ram-0x0", "ram-0x100000", "ram-0x3a600000", "ram-0x3ffe0000", "io-0xfd000000"]


# --- more knock-ons that stay quiet -------------------------------------------------------------

@pytest.mark.parametrize("file, old, new, expected", [
    # the platform cannot be read: the system is not reported as missing by its other files
    ("mybox.yaml", "arch: x86", "arch: x68",
     ("SCHEMA-VALUE", "mybox.yaml:6:9",
      "platform.arch: unknown architecture 'x68'; did you mean 'x86'? (known: x86, arm, arm64)")),
    # the system's own file is not even YAML: its other files are not "of no system"
    ("mybox.yaml", "  cpus: 0-3", "  cpus: [0-3",
     ("YAML-SYNTAX", "mybox.yaml:15:9",
      "YAML syntax error: while parsing a flow sequence did not find expected ',' or ']'")),
    # a cell file that is not even YAML: its cell is not "no cell of system" to the links
    ("cell-a.yaml", "  cpus: 2", "  cpus: [2",
     ("YAML-SYNTAX", "cell-a.yaml:7:9",
      "YAML syntax error: while parsing a flow sequence did not find expected ',' or ']'")),
    # a cell whose CPU set cannot be read is not also "a cell without CPUs"
    ("cell-b.yaml", "  cpus: 3", "  cpus: 3-",
     ("SCHEMA-VALUE", "cell-b.yaml:6:9", "cell.cpus: expected a number (e.g. 42 or 0x2a), got ''")),
    # a link that cannot be read is not also "not declared" where a cell places it
    ("links.yaml", "    base: 0x31000000", "    base: 0x3100000g",
     ("SCHEMA-VALUE", "links.yaml:6:11",
      "links.ab.base: expected a number (e.g. 42 or 0x2a), got '0x3100000g'")),
])
def test_what_follows_from_an_unreadable_node_is_not_reported_again(tmp_path, file, old, new, expected):
    from partcfg.commands.pipeline import checked_files_of
    target = _system_with(tmp_path, None)
    text = (target / file).read_text()
    assert old in text
    (target / file).write_text(text.replace(old, new, 1))
    found = [(d.rule, str(d.location).replace(f"{target}/", ""), d.message)
             for d in checked_files_of([target]).diagnostics]
    assert found == [expected]


def test_an_unknown_peer_is_not_told_to_be_the_other_peer(tmp_path):
    """cell-a's file was not passed: no hint suggests cell-b (already a peer), so cell-a is
    taken as left out of the call (not running), not as a misspelling."""
    from partcfg.commands.pipeline import checked_files_of
    target = _system_with(tmp_path, None)
    (target / "cell-a.yaml").unlink()
    (d,) = checked_files_of([target]).diagnostics
    assert (d.rule, d.severity.value, d.message, d.hint) == (
        "LINK-PEER-ABSENT", "info", "link 'ab': peer 'cell-a' is not in this call, taken as not running",
        "pass the cell's file in the same call to judge it too")
