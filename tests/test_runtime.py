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

from partcfg import jailhouse as jh
from partcfg.cli import app
from partcfg.runtime import _ring
from partcfg.runtime.builddir import system_build_of
from partcfg.runtime.launcher import run_build_dir
from partcfg.runtime.plan import ACCESS_NONE, ACCESS_R, ACCESS_RW, KIND_EMULATED, memory_plan_of

from conftest import ROOT, example_files

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
        assert subject.figures and subject.figures[0].value > 0
    assert any("sign in place does not apply" in n for n in links["virtio-blk"].notes)
    assert "kept exchanging" in links["demo"].checks[-1].detail   # 3 peers: two carry on
    cells = [s for sys_ in report.systems for s in sys_.subjects if s.kind == "cell"]
    assert all(c.checks[0].name == "permissions" for c in cells)
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
    assert figures["64-byte messages, one per call"].value > 0
    assert figures["64-byte messages, batch call"].value > 0
    assert figures["64-byte round trip, polling"].unit == "us"
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


def test_link_peers_that_disagree_on_the_region_are_refused(arm64):
    blob = arm64 / "linux-guest.cell"
    _patch_region(blob, 0, "size", 0x2000)         # its view of the state table
    [line] = _refused(arm64)
    assert "error[RUN-LINK-REGIONS]" in line or "error[RUN-LINK-LAYOUT]" in line


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
