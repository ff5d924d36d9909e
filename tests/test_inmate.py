"""``partcfg check --inmate CELL=image.elf``: an inmate's loadable segments against the
cell's LOADABLE memory and communication region (by the cell's own addresses), and its
entry point against its segments.

Images are small ELF executables written here (program headers only), plus one linked
by gcc when it is installed.
"""

from __future__ import annotations

import struct

import pytest

from support.firmware import ROOT, example_paths, example_systems, needs_gcc, run
from partcfg.check.inmate import inmate_diagnostics_of

PT_LOAD = 1
RT_APP = ROOT / "cells" / "qemu-x86-rt-app.yaml"


def _where(file, text: str) -> str:
    """file:line:col of the flow mapping on the line containing ``text``."""
    for number, line in enumerate(file.read_text().splitlines(), 1):
        if text in line:
            return f"{file}:{number}:{line.index('{') + 1}"
    raise AssertionError(f"{text!r} not in {file}")


def inmate_elf(segments: list[tuple[int, int, int]], entry: int, vaddr_shift: int = 0) -> bytes:
    """An ELF64 LE executable with PT_LOAD segments (paddr, memsz, filesz) and an entry."""
    phoff, phentsize = 64, 56
    header = struct.pack("<4sBBBB8xHHIQQQIHHHHHH", b"\x7fELF", 2, 1, 1, 0, 2, 62, 1, entry,
                         phoff, 0, 0, 64, phentsize, len(segments), 64, 0, 0)
    data_at = phoff + phentsize * len(segments)
    phdrs = b"".join(struct.pack("<IIQQQQQQ", PT_LOAD, 5, data_at, paddr + vaddr_shift, paddr,
                                 filesz, memsz, 0x1000)
                     for paddr, memsz, filesz in segments)
    payload = bytes(max((f for _, _, f in segments), default=0))
    return header + phdrs + payload


def _check(cell: str, image: bytes, system: str = "qemu-x86"):
    sys_ = example_systems()[system]
    return inmate_diagnostics_of(sys_, sys_.cell_named(cell), image, "inmate.elf")


def _summary(diags):
    return [(d.rule, d.message, str(d.location), [str(r) for r in d.related]) for d in diags]


def test_image_inside_loadable_memory_is_fine():
    # rt-app: RAM at 0x0-0xfffff (loadable), communication region at 0x100000
    assert _check("rt-app", inmate_elf([(0x0, 0x3000, 0x2000), (0x80000, 0x1000, 0)], 0x10)) == []


def test_adjacent_loadable_regions_count_as_one_range():
    # linux-guest (qemu-x86): low-ram 0x0-0xfffff, comm 0x100000, ram from 0x200000: a
    # segment may span two regions only if they touch; these do not, so span the gap
    diags = _check("linux-guest", inmate_elf([(0x1000, 0x1000, 0x10), (0x200000, 0x4800000, 0)],
                                             0x1000))
    assert diags == []


def test_segment_outside_loadable_memory():
    diags = _check("rt-app", inmate_elf([(0x0, 0x1000, 0x10), (0x200000, 0x2000, 0)], 0x0))
    assert _summary(diags) == [(
        "INMATE-OUTSIDE",
        "segment 1 at 0x200000-0x201fff (8K) is outside the loadable memory of cell 'rt-app'",
        "inmate.elf", [_where(RT_APP, "{name: ram,")])]
    assert diags[0].hint == ("the cell's loadable memory is 0x0-0xfffff (1M) ram; link the "
                             "image there or flag the intended region 'loadable'")


def test_segment_running_into_the_communication_region():
    diags = _check("rt-app", inmate_elf([(0xFF000, 0x2000, 0x10)], 0xFF000))
    assert [d.rule for d in diags] == ["INMATE-OUTSIDE", "INMATE-COMM-OVERLAP"]
    assert diags[1].message == ("segment 0 at 0xff000-0x100fff (8K) overlaps the communication "
                                "region of cell 'rt-app' at 0x100000-0x100fff (4K)")
    assert [str(r) for r in diags[1].related] == [_where(RT_APP, "{name: comm,")]


def test_entry_point_outside_the_image():
    diags = _check("rt-app", inmate_elf([(0x0, 0x1000, 0x10)], 0x5000))
    assert _summary(diags) == [("INMATE-ENTRY", "entry point 0x5000 is outside the image's "
                                "loadable segments (0x0-0xfff (4K))", "inmate.elf", [])]


def test_entry_is_judged_by_virtual_addresses():
    # linked at 0xffff000000000000 (vaddr), loaded at 0x0 (paddr): fine
    image = inmate_elf([(0x0, 0x1000, 0x10)], 0xFFFF000000000010, vaddr_shift=0xFFFF000000000000)
    assert _check("rt-app", image) == []


def test_a_cell_without_loadable_memory_says_so():
    diags = _check("RootCell", inmate_elf([(0x0, 0x1000, 0x10)], 0x0))
    assert [d.rule for d in diags] == ["INMATE-OUTSIDE"]
    assert diags[0].hint.startswith("the cell has no region flagged 'loadable'")


@pytest.mark.parametrize("image, message", [
    (b"MZ\x90\x00", "the inmate image is not an ELF file (no \\x7fELF magic)"),
    (inmate_elf([], 0), "the inmate image has no loadable segment (PT_LOAD)"),
    (inmate_elf([(0, 0x1000, 0x10)], 0)[:70], None),
])
def test_unreadable_images(image, message):
    [diag] = _check("rt-app", image)
    assert diag.rule == "INMATE-ELF" and str(diag.location) == "inmate.elf"
    if message:
        assert diag.message == message
    else:
        assert diag.message.startswith("the inmate image is a malformed ELF file: ")


# --- the command line --------------------------------------------------------------------

def test_check_inmate_reports_and_fails(run_cli, tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    good, bad = tmp_path / "good.elf", tmp_path / "bad.elf"
    good.write_bytes(inmate_elf([(0x0, 0x1000, 0x10)], 0x0))
    bad.write_bytes(inmate_elf([(0x0, 0x1000, 0x10)], 0x9000))
    code, out, err = run_cli("check", *example_paths(), "--inmate", f"rt-app={good}")
    assert code == 0, out + err
    code, out, _ = run_cli("check", *example_paths(), "--inmate", f"rt-cell={good}",
                           "--inmate", f"qemu-x86/linux-guest={bad}")
    assert code == 1
    assert "INMATE-ENTRY" in out and "entry point 0x9000 is outside" in out
    assert out.count("INMATE-") == 1


@pytest.mark.parametrize("spec, rule, message", [
    ("rt-app", "INMATE-SPEC", "--inmate expects CELL=FILE, got 'rt-app'"),
    ("rt-ap=x.elf", "INMATE-CELL", "no cell named 'rt-ap' in the given files"),
    ("linux-guest=x.elf", "INMATE-CELL",
     "cell 'linux-guest' exists in several systems; name it as SYSTEM/CELL"),
    ("rt-app=missing.elf", "IO-READ", "cannot read missing.elf: No such file or directory"),
])
def test_check_inmate_usage_errors(run_cli, monkeypatch, spec, rule, message):
    monkeypatch.chdir(ROOT)
    code, out, err = run_cli("check", *example_paths(), "--inmate", spec)
    assert code == 2
    assert rule in err and message in err


@needs_gcc
def test_gcc_linked_inmate_fits_rt_app(tmp_path):
    (tmp_path / "inmate.c").write_text(
        "volatile int counter;\nvoid _start(void) { for (;;) counter++; }\n")
    run(["gcc", "-nostdlib", "-static", "-no-pie", "-O1", "-Wl,--build-id=none",
         "-Wl,-Ttext-segment=0x10000", "-o", "inmate.elf", "inmate.c"], cwd=tmp_path)
    image = (tmp_path / "inmate.elf").read_bytes()
    assert _check("rt-app", image) == []
    # the same image is outside linux-guest on arm64 (its loadable memory: 0x0-0xffff and
    # 0x40000000-...), and its entry is still inside the image
    diags = _check("linux-guest", image, "qemu-arm64")
    assert {d.rule for d in diags} == {"INMATE-OUTSIDE"}
