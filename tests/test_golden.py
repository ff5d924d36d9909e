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


def test_examples_build_to_the_golden_bytes(run_cli, tmp_path):
    code, _, err = run_cli("build", *example_files(), "-o", tmp_path)
    assert code == 0, err
    built, golden = _tree(tmp_path), _tree(GOLDEN)
    assert sorted(built) == sorted(golden)
    for name in built:
        assert built[name] == golden[name], f"{name} differs from the golden file"


def test_build_is_reproducible(run_cli, tmp_path):
    run_cli("build", *example_files(), "-o", tmp_path / "a")
    run_cli("build", *reversed(example_files()), "-o", tmp_path / "b")
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
