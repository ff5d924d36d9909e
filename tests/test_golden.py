"""Golden files: the bundled examples must build to exactly the committed bytes.

The golden tree is the output of ``partcfg build cells/*.yaml -o tests/golden`` (see
tests/golden/README.md). A change to it must be deliberate: regenerate with that command
and review the diff.
"""

from __future__ import annotations

from pathlib import Path

from conftest import GOLDEN, example_files


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes()
            for p in sorted(root.rglob("*")) if p.is_file() and p.name != "README.md"}


def _outputs_of(system: str, cells: list[str], links: dict[str, list[str]]) -> list[str]:
    """What a build writes for a system, by the README's table: a blob and a firmware
    header per cell, a configuration-space image per link and peer."""
    files = [f"{system}/{c}.cell" for c in cells] + [f"{system}/{c}/partcfg_{c}.h" for c in cells]
    files += [f"{system}/{peer}/{link}.cspace" for link, peers in links.items() for peer in peers]
    return sorted(files)


# by hand from cells/*.yaml: the cells of each system and the peers of each link
EXPECTED_FILES = sorted(
    _outputs_of("qemu-arm64", ["qemu-arm64", "rt-cell", "linux-guest"],
                {"telemetry": ["rt-cell", "linux-guest"]})
    + _outputs_of("qemu-x86", ["RootCell", "rt-app", "linux-guest"],
                  {"net": ["RootCell", "linux-guest"],
                   "demo": ["RootCell", "rt-app", "linux-guest"],
                   "virtio-blk": ["RootCell", "linux-guest"]}))


def test_the_golden_tree_holds_exactly_the_expected_files():
    assert sorted(_tree(GOLDEN)) == EXPECTED_FILES
    assert all(_tree(GOLDEN).values())                  # no empty file


def test_examples_build_to_the_golden_bytes(run_cli, tmp_path):
    code, _, err = run_cli("build", *example_files(), "-o", tmp_path)
    assert code == 0, err
    built, golden = _tree(tmp_path), _tree(GOLDEN)
    assert sorted(built) == EXPECTED_FILES
    assert sorted(golden) == EXPECTED_FILES
    for name in built:
        assert built[name] == golden[name], f"{name} differs from the golden file"


def test_build_is_reproducible(run_cli, tmp_path):
    for out, files in (("a", example_files()), ("b", list(reversed(example_files())))):
        code, _, err = run_cli("build", *files, "-o", tmp_path / out)
        assert code == 0, err
    assert sorted(_tree(tmp_path / "a")) == EXPECTED_FILES
    assert _tree(tmp_path / "a") == _tree(tmp_path / "b")


def test_system_blob_layout_matches_the_spec():
    """Spot-check the golden system blob against the spec's fixed offsets."""
    import struct
    blob = (GOLDEN / "qemu-x86" / "RootCell.cell").read_bytes()
    assert blob[:5] == b"JHSYS" and blob[5] == 0 and struct.unpack_from("<H", blob, 6)[0] == 14
    assert struct.unpack_from("<QQQQ", blob, 12)[::2] == (0x3A000000, 6 << 20)
    root = 356  # the embedded root cell descriptor: signature, arch and revision all zero
    assert blob[root:root + 8] == bytes(8)
    assert blob[root + 8:root + 16] == b"RootCell"
    cpu_set_size, n_mem = struct.unpack_from("<II", blob, root + 48)
    assert cpu_set_size == 8 and blob[root + 132] == 0x0F
    arm = (GOLDEN / "qemu-arm64" / "linux-guest.cell").read_bytes()
    assert arm[:5] == b"JHCLL" and arm[5] == 2 and struct.unpack_from("<H", arm, 6)[0] == 14
