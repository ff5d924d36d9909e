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
    from partcfg.pipeline import checked_files_of
    assert checked_files_of([_system_with(tmp_path, None)]).diagnostics == []


@pytest.mark.parametrize("mistake", sorted(WALK))
def test_one_finding_per_mistake(tmp_path, mistake):
    from partcfg.pipeline import checked_files_of
    target = _system_with(tmp_path, mistake)
    found = [(d.rule, str(d.location).replace(f"{target}/", ""), d.message, d.hint)
             for d in checked_files_of([target]).diagnostics]
    assert found == [WALK[mistake]]


def test_all_ten_mistakes_at_once_are_sorted_by_file_and_line(tmp_path):
    """The mistakes that do not hide each other (all but the missing root cell, which
    takes its system with it), made together: still one finding each, in file order."""
    from partcfg.pipeline import checked_files_of
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
