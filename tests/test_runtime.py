"""The bundled runtime (``partcfg run``) on the example systems: the exercises (short
versions), the memory plan, build directories it must refuse (exit 2, one clear
diagnostic), an image that disagrees with its blob (exit 1), and that nothing is left
behind, on Ctrl-C and when ``partcfg run`` itself is killed."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from partcfg.formats import jailhouse as jh
from partcfg.cli import app
from partcfg.runtime import _ring
from partcfg.runtime.builddir import system_build_of
from partcfg.runtime.launcher import run_build_dir
from partcfg.runtime.plan import ACCESS_NONE, ACCESS_R, ACCESS_RW, KIND_EMULATED, memory_plan_of

from conftest import ROOT, example_files
from support.cellblob import boundaries, expected_access, expected_pieces, read_system

SHORT = {"seconds": 0.3, "exchange_count": 300}


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("build")
    result = CliRunner().invoke(app, ["build", *map(str, example_files()), "-o", str(out)])
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture
def arm64(built, tmp_path) -> Path:
    """A private copy of the arm64 system (3 cells, one 2-peer INTx link)."""
    return Path(shutil.copytree(built / "qemu-arm64", tmp_path / "arm64"))


def run_cli(*args) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def children_of(pid: int) -> list[int]:
    kids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                kids.append(int(entry))
    return kids


def descendants_of(pid: int) -> set[int]:
    found, todo = set(), [pid]
    while todo:
        for kid in children_of(todo.pop()):
            if kid not in found:
                found.add(kid)
                todo.append(kid)
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def memfds_tagged(tag: str) -> list[str]:
    """Every open descriptor or mapping, in any process we can see, of a memory file
    whose name carries ``tag``."""
    hits = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            maps = Path(f"/proc/{entry}/maps").read_text()
            links = [os.readlink(f"/proc/{entry}/fd/{fd}") for fd in os.listdir(f"/proc/{entry}/fd")]
        except OSError:
            continue
        hits += [f"{entry}: {line}" for line in maps.splitlines() + links if tag in line]
    return hits


# --- the memory plan ------------------------------------------------------------------------

def test_sections_cut_the_union_and_the_root_cell_loses_what_others_take(built):
    system = system_build_of(built / "qemu-x86")
    plan = memory_plan_of(system)
    starts = [s.phys for s in plan.sections]
    assert starts == sorted(starts)
    assert all(a.end <= b.phys for a, b in zip(plan.sections, plan.sections[1:]))
    root = plan.cells[0]
    inmate = root.regions[2]                       # inmate-ram, carved by both non-root cells
    assert [p.access for p in inmate.pieces] == [ACCESS_NONE] * 3
    assert sum(p.size for p in inmate.pieces) == inmate.size
    assert root.regions[7].kind == KIND_EMULATED   # hpet: 1 KiB of I/O, trapped, not mapped
    demo = next(l for l in system.links if l.name == "demo")
    sec = plan.section_at(demo.state_table[0])
    assert sec.size == demo.state_table[1]
    # every peer maps the demo state table read-only and only its own output section writable
    for cell in plan.cells:
        pieces = [p for r in cell.regions for p in r.pieces
                  if demo.state_table[0] <= plan.sections[p.section].phys < demo.phys_end]
        if not pieces:
            continue
        me = next(pid for pid, peer in demo.peers.items() if peer.cell == cell.cell)
        out0 = demo.state_table[0] + demo.state_table[1] + demo.rw_size
        for p in pieces:
            phys = plan.sections[p.section].phys
            if phys == demo.state_table[0]:
                assert p.access == ACCESS_R
            elif phys >= out0:
                mine = (phys - out0) // demo.output_size == me
                assert p.access == (ACCESS_RW if mine else ACCESS_R)


def _assert_plan_matches_the_spec(directory: Path) -> None:
    """Every piece of every mapped region of every cell has the access an independent
    reading of the blobs (tests/support/cellblob.py, from the format spec) gives it."""
    cells = read_system(directory)
    plan = memory_plan_of(system_build_of(directory))
    points = boundaries(cells)
    assert [(s.phys, s.end) for s in plan.sections] == [
        (a, b) for a, b in zip(points, points[1:])
        if any(r.mapped and r.phys <= a < r.phys + r.size for c in cells for r in c.regions)]
    by_name = {c.name: c for c in cells}
    assert sorted(by_name) == sorted(c.name for c in plan.cells)
    assert plan.cells[0].name == cells[0].name and plan.cells[0].is_root
    for cell_plan in plan.cells:
        cell = by_name[cell_plan.name]
        assert len(cell_plan.regions) == len(cell.regions)
        for region, region_plan in zip(cell.regions, cell_plan.regions):
            if not region.mapped:
                assert region_plan.pieces == []
                continue
            spans = [(plan.sections[p.section].phys, plan.sections[p.section].end)
                     for p in region_plan.pieces]
            assert spans[0][0] == region.phys and spans[-1][1] == region.phys + region.size
            assert all(a[1] == b[0] for a, b in zip(spans, spans[1:]))
            got = [p.access for p in region_plan.pieces]
            want = [expected_access(cells, cell, region, a, b) for a, b in spans]
            assert got == want, f"{cell.name} region {region_plan.index} ({region.phys:#x})"


@pytest.mark.parametrize("system", ["qemu-x86", "qemu-arm64"])
def test_the_memory_plan_grants_what_the_blobs_say(built, system):
    _assert_plan_matches_the_spec(built / system)


@pytest.mark.parametrize("system", ["qemu-x86", "qemu-arm64"])
def test_every_peer_maps_its_link_as_the_ivshmem_spec_says(built, system):
    """docs/format/ivshmem-v2.md: state table read-only for every peer, read/write section
    read/write, output section k writable by peer k only; and the plan (hence what each
    cell process maps) follows. Both judged from the blobs by the test's own reader."""
    cells = read_system(built / system)
    plan = memory_plan_of(system_build_of(built / system))
    links = 0
    for cell in cells:
        cell_plan = next(c for c in plan.cells if c.name == cell.name)
        for dev in (d for d in cell.pci_devices if d.type == 3):      # ivshmem
            start = dev.shmem_regions_start
            table = cell.regions[start:start + 2 + dev.shmem_peers]
            want = ["r", "rw"] + ["rw" if k == dev.shmem_dev_id else "r"
                                  for k in range(dev.shmem_peers)]
            got = [r.access if r.size else None for r in table]
            assert [g for g in got if g] == [w for w, g in zip(want, got) if g], cell.name
            for k, r in enumerate(table):
                if r.size:
                    pieces = cell_plan.regions[start + k].pieces
                    assert pieces and {p.access for p in pieces} == {want[k]}, (cell.name, k)
            links += 1
    assert links == {"qemu-x86": 7, "qemu-arm64": 2}[system]     # peers of all links


def test_a_private_region_of_a_cell_is_taken_from_the_root_cell(arm64):
    """A non-root region that is not ROOTSHARED must leave the root cell with no access;
    the same region made ROOTSHARED must leave the root cell its own access."""
    blob = arm64 / "rt-cell.cell"
    cells = read_system(arm64)
    rt = next(c for c in cells if c.name == "rt-cell")
    ram = next(i for i, r in enumerate(rt.regions) if r.mapped and r.flags & 0x40)  # loadable
    root = cells[0]
    owner = next(r for r in root.regions
                 if r.mapped and r.phys <= rt.regions[ram].phys < r.phys + r.size)
    assert expected_access(cells, root, owner, rt.regions[ram].phys,
                           rt.regions[ram].phys + 0x1000) == "-"
    _assert_plan_matches_the_spec(arm64)
    _patch_region(blob, ram, "flags", rt.regions[ram].flags | 0x80)     # ROOTSHARED
    cells = read_system(arm64)
    assert expected_access(cells, cells[0], owner, rt.regions[ram].phys,
                           rt.regions[ram].phys + 0x1000) == owner.access
    _assert_plan_matches_the_spec(arm64)


# --- the exercises --------------------------------------------------------------------------

LINK_CHECKS = ["permissions", "discovery", "state changes", "message exchange",
               "sign in place", "peer killed mid-traffic"]


def test_every_exercise_holds_on_the_example_systems(built):
    before = set(children_of(os.getpid()))
    report = run_build_dir(built, **SHORT)
    failed = [(s.name, c.name, c.detail) for sys_ in report.systems for s in sys_.subjects
              for c in s.checks if not c.held]
    assert failed == []
    assert report.held
    assert [s.name for s in report.systems] == ["qemu-arm64", "qemu-x86"]
    links = {s.name.split()[0]: s for sys_ in report.systems for s in sys_.subjects
             if s.kind == "link"}
    assert sorted(links) == ["demo", "net", "telemetry", "virtio-blk"]
    for name, subject in links.items():
        expected = [c for c in LINK_CHECKS if not (name == "virtio-blk" and c == "sign in place")]
        assert [c.name for c in subject.checks] == expected, name
        assert [(f.name, f.unit) for f in subject.figures] == [("exchange", "MB/s")]
        assert subject.figures[0].value > 0
    assert any("sign in place does not apply" in n for n in links["virtio-blk"].notes)
    assert "kept exchanging" in links["demo"].checks[-1].detail   # 3 peers: two carry on
    cells = [s for sys_ in report.systems for s in sys_.subjects if s.kind == "cell"]
    assert all(c.checks[0].name == "permissions" for c in cells)
    for sys_ in report.systems:            # the counts the probe reports, from the blobs
        blobs = read_system(built / sys_.name)
        for subject in (s for s in sys_.subjects if s.kind == "cell"):
            pieces = expected_pieces(blobs, next(c for c in blobs if c.name == subject.name))
            detail = subject.checks[0].detail
            assert detail.startswith(f"{len(pieces)} sections x read/write probed"), detail
            if pieces.count("r"):
                assert f"writes to the {pieces.count('r')} read-only sections faulted" in detail
            if pieces.count("-"):
                assert f"; {pieces.count('-')} sections carved out of the root cell" in detail
            assert ("read-only sections faulted" in detail) == ("r" in pieces)
            assert ("carved out" in detail) == ("-" in pieces)
    killed = [c.name for c in cells if any(k.name == "killed mid-traffic" for k in c.checks)]
    assert killed == ["linux-guest", "linux-guest"]             # one per system
    assert set(children_of(os.getpid())) == before                 # every process reaped


def test_partcfg_run_reports_per_link_and_per_cell_and_exits_0(arm64):
    code, out, _ = run_cli("run", arm64, "--seconds", "0.2")
    assert code == 0, out
    assert "ok   link telemetry (0001:00:00.0): 2 peers (0: rt-cell, 1: linux-guest)" in out
    assert "ok   cell rt-cell" in out and "held  sign in place" in out
    assert "speed exchange:" in out
    assert out.rstrip().endswith("checks held")


def test_bench_mode_measures_the_figures(arm64):
    report = run_build_dir(arm64, seconds=0.1, bench=True)
    figures = {f.name: f for _, _, f in report.figures()}
    for name in ("64-byte messages, one per call", "64-byte messages, batch call"):
        figure = figures[name]
        count = int(figure.detail.rsplit(", ", 1)[1].split()[0])
        assert figure.unit == "msg/s" and figure.detail.startswith("rt-cell -> linux-guest")
        # the rate is the messages counted over about the 0.1 s asked for (the receiver's
        # clock starts a little later, the machine is shared), and far above what any working
        # ring reaches even on a loaded 2-core machine (README target: 4 M/s)
        assert 0.05 <= count / figure.value <= 1.0, (count, figure.value)
        assert figure.value >= 1e4
    rtt = figures["64-byte round trip, polling"]
    trips = int(rtt.detail.rsplit(", ", 1)[1].split()[0])
    # polling round trips take well under a microsecond to a few on an idle machine; on a
    # shared one a process waits for its core, so only the bound a working ring keeps
    assert rtt.unit == "us" and 0 < rtt.value < 100_000
    assert 0.05 <= trips * rtt.value * 1e-6 <= 1.0, (trips, rtt.value)
    assert "not measured" in figures["64 KiB messages"].detail   # a 64 KiB output section


def test_an_image_that_disagrees_with_the_blob_is_a_reported_failure(arm64):
    image = arm64 / "rt-cell" / "telemetry.cspace"
    data = bytearray(image.read_bytes())
    data[0x50:0x58] = (0x20000).to_bytes(8, "little")         # output section size
    image.write_bytes(bytes(data))
    code, out, _ = run_cli("run", arm64, "--seconds", "0.2")
    assert code == 1
    assert ("FAILED  discovery: rt-cell: output section size: image says 0x20000, "
            "blob says 0x10000") in out
    assert "output section 1 at 0x7f022000+0x20000 is not one mapped range" in out


# --- build directories that cannot run: exit 2 ------------------------------------------------

def _patch_region(blob: Path, index: int, field: str, value: int) -> None:
    data = bytearray(blob.read_bytes())
    cpu_set = int.from_bytes(data[48:52], "little")
    at = jh.CELL_DESC.size + cpu_set + index * jh.MEMORY.size + jh.MEMORY.offsets[field]
    data[at:at + 8] = value.to_bytes(8, "little")
    blob.write_bytes(bytes(data))


def _refused(path) -> list[str]:
    code, out, err = run_cli("run", path)
    assert code == 2, out + err
    return [line for line in err.splitlines() if "error[" in line]


def test_a_missing_or_empty_build_directory_is_refused(tmp_path):
    assert _refused(tmp_path / "nope") == [
        f"{tmp_path / 'nope'}: error[RUN-BUILD-DIR]: build directory {tmp_path / 'nope'} "
        "does not exist"]
    assert _refused(tmp_path) == [
        f"{tmp_path}: error[RUN-BUILD-DIR]: no .cell files in {tmp_path} or its subdirectories"]


def test_cells_without_their_system_configuration_are_refused(arm64):
    (arm64 / "qemu-arm64.cell").unlink()
    assert _refused(arm64) == [
        f"{arm64}: error[RUN-NO-SYSTEM]: {arm64} holds cell configurations but no system "
        "configuration (JHSYS): these blobs do not form one system"]


def test_a_pruned_build_names_the_missing_cell_and_its_links(arm64):
    """A blob deleted from a build (its link images left behind), or named by a recorded
    scenario, stops the run before anything starts: its peers would wait for it."""
    (arm64 / "linux-guest.cell").unlink()
    assert _refused(arm64) == [
        f"{arm64 / 'linux-guest.cell'}: error[RUN-CELL-MISSING]: cell 'linux-guest' of this "
        "build has no blob (linux-guest.cell is missing); it is a peer of link telemetry"]
    shutil.rmtree(arm64 / "linux-guest")          # no outputs left: an ordinary smaller build
    (arm64 / "scenarios.txt").write_text("# scenarios\nwith-guest: qemu-arm64 rt-cell gone\n")
    assert _refused(arm64) == [
        f"{arm64 / 'gone.cell'}: error[RUN-CELL-MISSING]: cell 'gone' of this build has no "
        "blob (gone.cell is missing)"]


def test_two_system_configurations_in_one_directory_are_refused(arm64):
    shutil.copy(arm64 / "qemu-arm64.cell", arm64 / "another.cell")
    [line] = _refused(arm64)
    assert "error[RUN-TWO-SYSTEMS]" in line and "holds 2 system configurations" in line


def test_a_cell_of_another_architecture_is_refused(arm64):
    blob = arm64 / "rt-cell.cell"
    data = bytearray(blob.read_bytes())
    data[5] = jh.ARCHITECTURES["x86"]
    blob.write_bytes(bytes(data))
    assert _refused(arm64) == [
        f"{blob}: error[RUN-ARCH-MISMATCH]: cell 'rt-cell' is built for x86, the system for arm64"]


def test_memory_the_root_cell_never_had_is_mapped_into_the_cell_alone(arm64):
    """The hypervisor maps a non-root range the root cell never had into that cell only
    (legal, e.g. a device window); so does the runtime, instead of refusing the build."""
    blob = arm64 / "rt-cell.cell"
    _patch_region(blob, 0, "phys_start", 0x10000000)
    system = system_build_of(arm64)
    plan = memory_plan_of(system)
    rt = next(c for c in plan.cells if c.name == "rt-cell")
    sections = [p.section for p in rt.regions[0].pieces]
    assert plan.sections[sections[0]].phys == 0x10000000
    assert all(p.access == ACCESS_RW for p in rt.regions[0].pieces)
    others = {p.section for c in plan.cells if c is not rt for r in c.regions for p in r.pieces}
    assert not others & set(sections)


def test_a_missing_configuration_space_image_is_refused(arm64):
    (arm64 / "rt-cell" / "telemetry.cspace").unlink()
    assert _refused(arm64) == [
        f"{arm64 / 'rt-cell.cell'}: error[RUN-NO-IMAGE]: cell 'rt-cell' has 1 ivshmem device "
        f"but 0 configuration-space images in {arm64 / 'rt-cell'}/"]


def test_an_impossible_mapping_is_refused(arm64):
    blob = arm64 / "rt-cell.cell"
    _patch_region(blob, 0, "flags", jh.MEM_WRITE | jh.MEM_EXECUTE)
    assert _refused(arm64) == [
        f"{blob}: error[RUN-MAP-WRITE-ONLY]: memory region 0 of cell 'rt-cell' is writable "
        "but not readable; no page table can grant write without read"]


# --- nothing left behind ----------------------------------------------------------------------

def _start_run(path: Path, seconds: str = "30") -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "partcfg.cli", "run", str(path),
                             "--seconds", seconds],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)


def _wait_for_cells(run: subprocess.Popen, cells: int) -> set[int]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        family = descendants_of(run.pid)
        started = [p for p in family if b"partcfg.runtime.cell" in _cmdline(p)]
        if len(started) >= cells:
            time.sleep(0.5)                 # into the exercises
            return descendants_of(run.pid)
        time.sleep(0.05)
    run.kill()
    pytest.fail("the cell processes did not start")


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def _supervisor_of(family: set[int]) -> int:
    return next(p for p in family if b"partcfg.runtime.supervisor" in _cmdline(p))


@pytest.fixture
def subreaper():
    """Orphans of the run re-parent to this test process instead of init, so a process
    left behind cannot escape the check."""
    _ring.set_child_subreaper(True)
    yield
    _ring.set_child_subreaper(False)
    while True:
        try:
            if os.waitpid(-1, os.WNOHANG) == (0, 0):
                break
        except ChildProcessError:
            break


def _nothing_left(family: set[int], supervisor: int) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(alive(p) for p in family):
        time.sleep(0.05)
    assert [p for p in family if alive(p)] == []
    assert memfds_tagged(f"@{supervisor}:") == []


def test_ctrl_c_stops_everything_and_leaves_nothing_behind(arm64, subreaper):
    run = _start_run(arm64)
    family = _wait_for_cells(run, 3)
    supervisor = _supervisor_of(family)
    assert memfds_tagged(f"@{supervisor}:")          # the memory files exist while it runs
    os.killpg(run.pid, signal.SIGINT)                # what the terminal does on Ctrl-C
    _, err = run.communicate(timeout=30)
    assert run.returncode == 130
    assert "Traceback" not in err.decode()
    _nothing_left(family, supervisor)


def test_killing_partcfg_run_takes_supervisor_and_cells_with_it(arm64, subreaper):
    run = _start_run(arm64)
    family = _wait_for_cells(run, 3)
    supervisor = _supervisor_of(family)
    run.kill()                                       # SIGKILL: no chance to clean up
    run.communicate(timeout=30)
    _nothing_left(family, supervisor)


def test_cells_import_the_running_partcfg_not_the_working_directorys(tmp_path):
    """Run from a directory that holds another 'partcfg' (a source checkout without the
    compiled ring core, as after `pip install .`): the supervisor and cell processes must
    still import the partcfg that is running."""
    import subprocess
    import sys
    from conftest import ROOT, example_files

    shadow = tmp_path / "partcfg"
    shadow.mkdir()
    (shadow / "__init__.py").write_text("raise ImportError('the shadow partcfg was imported')\n")
    build = tmp_path / "build"
    files = [str(f) for f in example_files() if f.name.startswith("qemu-arm64")]
    launch = (f"import sys; sys.path.insert(0, {str(ROOT)!r}); from partcfg.cli import main; "
              "sys.argv = ['partcfg'] + sys.argv[1:]; main()")
    built = subprocess.run([sys.executable, "-c", launch, "build", *files, "-o", str(build)],
                           cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert built.returncode == 0, built.stderr
    ran = subprocess.run([sys.executable, "-c", launch, "run", str(build), "--seconds", "0.3"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert "shadow" not in ran.stdout + ran.stderr
    assert ran.returncode == 0, ran.stdout[-2000:]


def test_the_physical_address_behind_a_mapping_comes_from_the_memory_file_name():
    """sign in place judges where the receiver's bytes are by its memory map."""
    import mmap as _mmap
    from partcfg.runtime.exercise_phases import _phys_of_address
    fd = os.memfd_create("partcfg:@test:0x3f0f0000", os.MFD_CLOEXEC)
    try:
        os.ftruncate(fd, 3 * _mmap.PAGESIZE)
        mapped = _mmap.mmap(fd, _mmap.PAGESIZE, offset=_mmap.PAGESIZE)
        address = _ring.address_of(memoryview(mapped))
        assert _phys_of_address(os.getpid(), address + 5) == 0x3f0f0000 + _mmap.PAGESIZE + 5
        assert _phys_of_address(os.getpid(), _ring.address_of(bytearray(64))) is None
        mapped.close()
    finally:
        os.close(fd)


# --- every refusal of `partcfg run`, one case each (arm64 example: root 'qemu-arm64' with
# CPUs 0-3; 'linux-guest' CPU 2, link regions 0..3, device 0; 'rt-cell' CPU 3, RAM region 0
# at 0x7e000000 (16M, virt 0), link regions 2..5, device 0; link 0001:00:00.0, 2 peers) ---

def _descriptor_at(data: bytes) -> int:
    return 356 if data[:5] == b"JHSYS" else 0          # the spec's system header size


def _patch_cpus(blob: Path, cpus: int) -> None:
    data = bytearray(blob.read_bytes())
    at = _descriptor_at(data)
    size = int.from_bytes(data[at + 48:at + 52], "little")
    data[at + 132:at + 132 + size] = cpus.to_bytes(size, "little")
    blob.write_bytes(bytes(data))


def _patch_device(blob: Path, offset: int, value: int, width: int) -> None:
    """Field at ``offset`` (spec: PCI device table) of the blob's first PCI device."""
    data = bytearray(blob.read_bytes())
    at = _descriptor_at(data)
    cpu_set, n_mem, n_cache, n_irq, n_pio = (int.from_bytes(data[at + o:at + o + 4], "little")
                                             for o in (48, 52, 56, 60, 64))
    dev = at + 132 + cpu_set + 32 * n_mem + 12 * n_cache + 32 * n_irq + 4 * n_pio
    data[dev + offset:dev + offset + width] = value.to_bytes(width, "little")
    blob.write_bytes(bytes(data))


def _errors(path) -> list[str]:
    return [line.replace(str(path) + "/", "") for line in _refused(path)]


def test_a_blob_that_does_not_decode_is_refused(arm64):
    (arm64 / "rt-cell.cell").write_bytes(b"JHCLL\x02\x0e\x00" + bytes(20))
    [line] = _errors(arm64)
    assert line.startswith("rt-cell.cell: error[BLOB-TRUNCATED]: "), line


def test_two_blobs_of_one_cell_are_refused(arm64):
    data = bytearray((arm64 / "linux-guest.cell").read_bytes())
    data[8:40] = b"rt-cell".ljust(32, b"\0")
    (arm64 / "linux-guest.cell").write_bytes(bytes(data))
    assert "rt-cell.cell: error[RUN-DUPLICATE-CELL]: two blobs describe cell 'rt-cell'" in _errors(arm64)


@pytest.mark.parametrize("blob, cpus, expected", [
    ("rt-cell", 1 << 5, ["rt-cell.cell: error[RUN-CPU-NOT-IN-ROOT]: cell 'rt-cell' uses CPU 5, "
                         "which the root cell 'qemu-arm64' does not have"]),
    ("rt-cell", 1 << 2, ["rt-cell.cell: error[RUN-CPU-CONFLICT]: CPU 2 belongs to two non-root "
                         "cells, 'linux-guest' and 'rt-cell'"]),
    ("rt-cell", 0b1011, ["rt-cell.cell: error[RUN-ROOT-NO-CPU]: cell 'rt-cell' takes every CPU "
                         "of the root cell"]),    # 0, 1, 3 and linux-guest's 2 make all 4
], ids=["not-in-root", "conflict", "root-keeps-none"])
def test_cpus_not_carved_from_the_root_cell_are_refused(arm64, blob, cpus, expected):
    if cpus == 0b1011:
        _patch_cpus(arm64 / "linux-guest.cell", 0)     # leave linux-guest none
        cpus = 0b1111
    _patch_cpus(arm64 / f"{blob}.cell", cpus)
    assert _errors(arm64) == expected


def test_link_peers_that_disagree_on_the_region_are_refused(arm64):
    _patch_region(arm64 / "linux-guest.cell", 0, "size", 0x2000)  # its view of the state table
    assert _errors(arm64) == [
        "linux-guest.cell: error[RUN-LINK-REGIONS]: memory regions 0..3 of cell 'linux-guest' "
        "are not one ivshmem region (state table, read/write section, 2 equal output sections, "
        "contiguous) for the link at 0001:00:00.0"]


def test_link_peers_that_disagree_on_the_layout_are_refused(arm64):
    blob = arm64 / "linux-guest.cell"      # output sections 64K -> 32K, still contiguous
    _patch_region(blob, 2, "size", 0x8000)
    _patch_region(blob, 3, "phys_start", 0x7f00a000)
    _patch_region(blob, 3, "virt_start", 0x7f00a000)
    _patch_region(blob, 3, "size", 0x8000)
    assert _errors(arm64) == [
        "rt-cell.cell: error[RUN-LINK-LAYOUT]: peers of the link at 0001:00:00.0 disagree on "
        "its region: 'linux-guest' has state table 0x7f000000+0x1000, rw 0x1000, output 0x8000; "
        "'rt-cell' has 0x7f000000+0x1000, rw 0x1000, output 0x10000"]


@pytest.mark.parametrize("offset, width, value, expected", [
    (53, 1, 3, "rt-cell.cell: error[RUN-LINK-PEERS]: the ivshmem devices at 0001:00:00.0 "
               "disagree on the number of peers: 'linux-guest' says 2, 'rt-cell' 3"),
    (52, 1, 1, "rt-cell.cell: error[RUN-LINK-PEER-ID]: cells 'linux-guest' and 'rt-cell' both "
               "claim peer ID 1 of the link at 0001:00:00.0; the hypervisor refuses the second"),
    (52, 1, 2, "rt-cell.cell: error[RUN-LINK-PEER-ID]: cell 'rt-cell' is peer 2 of the 2-peer "
               "link at 0001:00:00.0"),
    (54, 2, 0x4002, "rt-cell.cell: error[RUN-LINK-PROTOCOL]: peers of the link at 0001:00:00.0 "
                    "disagree on the protocol: 'linux-guest' 0x4001, 'rt-cell' 0x4002"),
], ids=["peers", "peer-id-twice", "peer-id-range", "protocol"])
def test_link_devices_that_disagree_are_refused(arm64, offset, width, value, expected):
    _patch_device(arm64 / "rt-cell.cell", offset, value, width)   # spec: PCI device offsets
    assert _errors(arm64) == [expected]


@pytest.mark.parametrize("patches, expected", [
    ([("size", 0)], "RUN-MAP-EMPTY]: memory region 0 of cell 'rt-cell' has flags 0x47 but "
                    "size 0; nothing can be mapped"),
    ([("virt_start", 0xFFFFFFFFFFFFF000)],
     "RUN-MAP-RANGE]: memory region 0 of cell 'rt-cell' (0x7e000000+0x1000000 at "
     "0xfffffffffffff000) runs past the end of the address space"),
    ([("size", 0xFFF800)],
     "RUN-MAP-ALIGN]: memory region 0 of cell 'rt-cell' (0x7e000000+0xfff800 at 0x0) is not "
     "page-aligned and not sub-page I/O: pages are the unit of mapping"),
    ([("virt_start", 0x7f000000), ("size", 0x1000)],     # onto the state table's page
     "RUN-MAP-VIRT-OVERLAP]: memory regions 0 and 2 of cell 'rt-cell' overlap at 0x7f000000 "
     "in the cell's address space; one address cannot map two places"),
    ([("virt_start", 1 << 48), ("size", 1 << 47), ("flags", 0x47 | 0x80)],
     "RUN-MAP-TOO-LARGE]: cell 'rt-cell' maps 0x800000023000 bytes, more than the "
     "0x400000000000 a cell process can reserve"),
], ids=["empty", "range", "align", "virt-overlap", "too-large"])
# too-large: 2^47 plus the cell's other mapped regions (comm 4K, state table 4K, rw 4K,
# two 64K output sections = 0x23000)
def test_mappings_no_mmu_can_make_are_refused(arm64, patches, expected):
    for field, value in patches:
        _patch_region(arm64 / "rt-cell.cell", 0, field, value)
    assert _errors(arm64) == ["rt-cell.cell: error[" + expected]


def test_a_missing_compiled_core_is_refused(arm64, monkeypatch):
    import importlib
    from partcfg.runtime import launcher
    real = importlib.import_module

    def without_core(name, *args):
        if name.endswith("._ring"):
            raise ImportError("No module named 'partcfg.runtime._ring'")
        return real(name, *args)
    monkeypatch.setattr(launcher.importlib, "import_module", without_core)
    code, out, err = run_cli("run", arm64)
    assert code == 2
    assert err.splitlines()[0] == ("error[RUN-NO-CORE]: the runtime's compiled core is missing "
                                   "(No module named 'partcfg.runtime._ring')")


FAULT_IN_CELLS = '''
import sys
if b"partcfg.runtime.cell" in open("/proc/self/cmdline", "rb").read():
    FAULT = {fault!r}
    if FAULT == "exit":
        import os
        os._exit(3)
    import importlib.util

    class _Hook:
        def find_spec(self, name, path=None, target=None):
            if name != "partcfg.runtime._ring":
                return None
            sys.meta_path.remove(self)
            spec = importlib.util.find_spec(name)
            real_exec = spec.loader.exec_module

            def exec_module(module):
                real_exec(module)

                def reserve(size):
                    raise OSError(12, "Cannot allocate memory")
                module.reserve = reserve
            spec.loader.exec_module = exec_module
            return spec
    sys.meta_path.insert(0, _Hook())
'''


@pytest.mark.parametrize("fault, expected", [
    ("exit", "error[RUN-CELL-START]: cell 'linux-guest' did not start: exit status 3"),
    ("reserve", "error[RUN-MAP-FAILED]: cell 'linux-guest' cannot map its memory as its blob "
                "says: Cannot allocate memory (errno 12)"),
], ids=["cell-dies", "map-fails"])
def test_a_cell_that_cannot_start_or_map_is_refused(arm64, tmp_path, fault, expected):
    """Faults injected into the cell processes only (a sitecustomize module that checks
    the command line): the supervisor must refuse with one diagnostic per cell, exit 2."""
    inject = tmp_path / "inject"
    inject.mkdir()
    (inject / "sitecustomize.py").write_text(FAULT_IN_CELLS.replace("{fault!r}", repr(fault)))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(inject), str(ROOT)])}
    ran = subprocess.run([sys.executable, "-m", "partcfg.cli", "run", str(arm64)], cwd=ROOT,
                         env=env, capture_output=True, text=True, timeout=120)
    assert ran.returncode == 2, ran.stdout + ran.stderr
    errors = [line for line in ran.stderr.splitlines() if "error[" in line]
    assert len(errors) == 3 and "Traceback" not in ran.stderr, ran.stderr
    assert any(line.endswith(expected) for line in errors), errors


# every test here starts processes: out of the quick loop (pytest -m "not slow")
pytestmark = pytest.mark.slow
