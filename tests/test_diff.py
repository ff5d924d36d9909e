"""`partcfg diff OLD NEW`: changes in meaning between YAML sets and blobs, in any mix."""

from __future__ import annotations

import json
import shutil

import pytest

from conftest import CELLS, example_files
from support.workflow import CLEAN, edited


def _copy(src, dst):
    dst.mkdir(parents=True, exist_ok=True)
    for f in src.glob("*.yaml"):
        shutil.copy(f, dst / f.name)
    return dst


def _edit(path, old, new):
    edited(path, old, new)


def _x86(tmp_path, name):
    d = tmp_path / name
    d.mkdir()
    for f in example_files():
        if f.name.startswith("qemu-x86"):
            shutil.copy(f, d / f.name)
    return d


def test_identical_sets_do_not_differ(run_cli):
    code, out, _ = run_cli("diff", CLEAN, CLEAN)
    assert (code, out) == (0, "no change in meaning\n")


def test_reordering_and_spelling_are_not_changes(run_cli, tmp_path):
    new = _copy(CLEAN, tmp_path / "new")
    # regions reordered, numbers spelt differently, a region renamed, comments, files renamed
    _edit(new / "sender.yaml", """    - {name: ram, phys: 0x10000000, virt: 0x0, size: 1M, flags: [read, write, execute, loadable]}
    - {name: comm, virt: 0x100000, size: 4K, flags: [read, write, comm-region]}
""", """    # comment
    - {name: comm, virt: 1048576, size: 0x1000, flags: [comm-region, write, read]}
    - {name: memory, phys: 268435456, virt: 0, size: 0x100000, flags: [loadable, read, write, execute]}
""")
    (new / "receiver.yaml").rename(new / "zz-receiver.yml")
    code, out, _ = run_cli("diff", CLEAN, new)
    assert (code, out) == (0, "no change in meaning\n")


def test_changes_in_meaning(run_cli, tmp_path):
    new = _copy(CLEAN, tmp_path / "new")
    _edit(new / "sender.yaml", "size: 1M", "size: 512K")
    _edit(new / "sender.yaml", "cpus: 2", "cpus: 1-2")
    _edit(new / "receiver.yaml", "cpus: 3", "cpus: []")
    _edit(new / "cells.yaml", "peers: [sender, receiver]", "peers: [receiver, sender]")
    code, out, _ = run_cli("diff", CLEAN, new)
    assert code == 1
    assert out.splitlines() == [
        "system board:",
        "  ~ cell sender: region 'ram' resized 1M -> 512K (0x10000000-0x100fffff -> 0x10000000-0x1007ffff)",
        "  - receiver loses CPU 3",
        "  + sender gains CPU 1",
        "  + receiver gains WRITE on 0x40001000-0x40002fff (output section of peer 0 of link pipe)",
        "  - receiver loses WRITE on 0x40003000-0x40004fff (output section of peer 1 of link pipe)",
        "  - sender loses READ, WRITE, EXECUTE on 0x10080000-0x100fffff (region 'ram')",
        "  - sender loses WRITE on 0x40001000-0x40002fff (output section of peer 0 of link pipe)",
        "  + sender gains WRITE on 0x40003000-0x40004fff (output section of peer 1 of link pipe)",
        "  ~ link pipe: peers [sender, receiver] -> [receiver, sender]",
        "9 changes in meaning",
    ]


def test_the_issue_example_on_the_bundled_system(run_cli, tmp_path):
    old, new = _x86(tmp_path, "old"), _x86(tmp_path, "new")
    _edit(old / "qemu-x86-links.yaml", "peers: [RootCell, rt-app, linux-guest]",
          "peers: [RootCell, linux-guest, rt-app]")
    code, out, _ = run_cli("diff", old, new)
    assert code == 1
    assert "  + rt-app gains WRITE on 0x3f0fc000-0x3f0fdfff (output section of peer 1 of link demo)" \
        in out.splitlines()


def test_cpus_and_interrupt_lines_moving_between_cells(run_cli, tmp_path):
    new = _copy(CLEAN, tmp_path / "new")
    old = _copy(CLEAN, tmp_path / "old")
    for d in (old, new):
        _edit(d / "board.yaml", "  memory:\n    - {name: ram, phys: 0x0",
              "  irqchips:\n    - {address: 0xfec00000, interrupts: 0-23}\n  memory:\n    - {name: ram, phys: 0x0")
    _edit(old / "sender.yaml", "  memory:", "  irqchips:\n    - {address: 0xfec00000, interrupts: 5-6}\n  memory:")
    _edit(new / "receiver.yaml", "  memory:", "  irqchips:\n    - {address: 0xfec00000, interrupts: 5-6}\n  memory:")
    _edit(new / "sender.yaml", "cpus: 2", "cpus: 3")
    _edit(new / "receiver.yaml", "cpus: 3", "cpus: 2")
    code, out, _ = run_cli("diff", old, new)
    assert code == 1
    lines = out.splitlines()
    assert "  ~ CPU 3 moved from receiver to sender" in lines
    assert "  ~ CPU 2 moved from sender to receiver" in lines
    assert "  ~ interrupt lines 5-6 on irqchip 0xfec00000 moved from sender to receiver" in lines


def test_cells_and_links_added_and_removed(run_cli, tmp_path):
    new = _copy(CLEAN, tmp_path / "new")
    (new / "receiver.yaml").unlink()
    _edit(new / "cells.yaml", "    peers: [sender, receiver]", "    peers: [root, sender]")
    _edit(new / "cells.yaml", "  pipe:", "  pipe2:")
    code, out, _ = run_cli("diff", CLEAN, new)
    assert code == 1
    lines = out.splitlines()
    assert "  - cell receiver removed" in lines
    assert "  ~ link pipe2: peers [sender, receiver] -> [root, sender]" in lines  # same BDF: same link
    assert any(line.startswith("  + root gains READ, WRITE on 0x40000000") for line in lines) is False
    assert "  + root gains READ on 0x40000000-0x40000fff (state table of link pipe2)" in lines


def test_json_format(run_cli, tmp_path):
    new = _copy(CLEAN, tmp_path / "new")
    _edit(new / "sender.yaml", "size: 1M", "size: 2M")
    code, out, _ = run_cli("diff", "--format", "json", CLEAN, new)
    assert code == 1
    doc = json.loads(out)
    assert doc["changed"] is True
    kinds = [c["kind"] for c in doc["changes"]]
    assert kinds == ["region-resized", "access-gained"]
    gained = doc["changes"][1]
    assert (gained["cell"], gained["start"], gained["end"], gained["access"]) == \
        ("sender", 0x10100000, 0x10200000, ["READ", "WRITE", "EXECUTE"])
    code, out, _ = run_cli("diff", "--format", "json", CLEAN, CLEAN)
    assert code == 0 and json.loads(out)["changes"] == []


def test_blobs_and_yaml_in_any_mix(run_cli, tmp_path):
    built = tmp_path / "built"
    code, _, err = run_cli("build", CLEAN, "-o", built)
    assert code == 0, err
    assert run_cli("diff", built, CLEAN)[:2] == (0, "no change in meaning\n")
    assert run_cli("diff", CLEAN, built)[:2] == (0, "no change in meaning\n")
    assert run_cli("diff", built, built)[0] == 0
    new = _copy(CLEAN, tmp_path / "new")
    _edit(new / "receiver.yaml", "flags: [read, write, execute, loadable]",
          "flags: [read, write, execute, loadable, dma]")
    code, out, _ = run_cli("diff", built, new)
    assert code == 1
    assert "  + receiver gains DMA on 0x10100000-0x101fffff (region 'ram')" in out.splitlines()
    # one blob against another
    other = tmp_path / "other"
    run_cli("build", new, "-o", other)
    code, out, _ = run_cli("diff", built / "receiver.cell", other / "receiver.cell")
    assert (code, out) == (1, "standalone cells:\n"
                              "  ~ cell receiver: region 'loadable' flags +dma\n"
                              "1 change in meaning\n")


def test_the_bundled_examples_against_their_own_blobs(run_cli, tmp_path):
    built = tmp_path / "built"
    assert run_cli("build", *example_files(), "-o", built)[0] == 0
    code, out, _ = run_cli("diff", CELLS, built)
    assert (code, out) == (0, "no change in meaning\n")


@pytest.mark.parametrize("make", ["missing", "empty-dir", "garbage-blob", "bad-yaml", "schema"])
def test_bad_inputs_exit_2_without_traceback(run_cli, tmp_path, make):
    target = tmp_path / "x"
    if make == "empty-dir":
        target.mkdir()
    elif make == "garbage-blob":
        target = tmp_path / "x.cell"
        target.write_bytes(b"JHSYS" + b"\xff" * 7)
    elif make == "bad-yaml":
        target = tmp_path / "x.yaml"
        target.write_text("cell: [\n")
    elif make == "schema":
        target = tmp_path / "x.yaml"
        target.write_text("system: s\ncell: {name: a, memroy: []}\n")
    code, out, err = run_cli("diff", CLEAN, target)
    assert code == 2
    assert "Traceback" not in out + err and "internal error" not in out + err
    rule = {"missing": "IO-MISSING", "empty-dir": "DIFF-EMPTY", "schema": "SCHEMA-UNKNOWN-KEY"}.get(make)
    if rule:
        assert f"[{rule}]" in err
