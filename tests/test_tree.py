"""Big trees: builds and checks in shares on every core give exactly the serial result,
and a progress bar shows on a terminal only."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT

sys.path.insert(0, str(ROOT / "bench"))
import tree as bench_tree  # noqa: E402  (bench/tree.py writes the synthetic board collection)

SYSTEMS = 20


@pytest.fixture(scope="module")
def board_tree(tmp_path_factory):
    where = tmp_path_factory.mktemp("tree")
    bench_tree.write_tree(where, SYSTEMS, 2)
    return where


def _files(d: Path) -> dict[str, bytes]:
    return {p.relative_to(d).as_posix(): p.read_bytes() for p in sorted(d.rglob("*")) if p.is_file()}


@pytest.mark.slow  # starts worker processes
def test_shares_give_the_serial_bytes(board_tree, tmp_path, run_cli, monkeypatch):
    from partcfg.commands import parallel
    from partcfg.commands.pipeline import build_outputs_of, checked_files_of

    serial = build_outputs_of(checked_files_of([board_tree]))
    assert len({rel.split("/")[0] for rel in serial}) == SYSTEMS
    for jobs in (1, 2):
        result = parallel.run_tree([board_tree], build=True, jobs=jobs)
        assert result is not None and result.systems == SYSTEMS
        assert result.diagnostics == []
        assert result.outputs == serial
    monkeypatch.setenv("PARTCFG_JOBS", "2")
    code, _, err = run_cli("build", board_tree, "-o", tmp_path / "out")
    assert code == 0, err
    assert _files(tmp_path / "out") == serial


@pytest.mark.slow  # starts worker processes
def test_errors_and_warnings_match_the_serial_report(board_tree, tmp_path, run_cli, monkeypatch):
    broken = tmp_path / "broken"
    subprocess.run(["cp", "-r", str(board_tree), str(broken)], check=True)
    cell = broken / "board-0003" / "cell-1.yaml"
    cell.write_text(cell.read_text().replace("cpus: 2", "cpus: 1"))          # CPU conflict
    root = broken / "board-0008" / "board-0008.yaml"
    root.write_text(root.read_text().replace("flags: [read, write, io]}", "flags: [read, write, io, loadable]}", 1))
    reports = {}
    for jobs in ("1", "2"):
        monkeypatch.setenv("PARTCFG_JOBS", jobs)
        reports[jobs] = run_cli("check", "--format", "json", broken)
    monkeypatch.setattr("partcfg.commands.parallel.MIN_SYSTEMS_FOR_POOL", 10 ** 6)   # the plain serial path
    reports["plain"] = run_cli("check", "--format", "json", broken)
    assert reports["1"] == reports["2"] == reports["plain"]
    code, out, _ = reports["2"]
    assert code == 1 and '"CPU-CONFLICT"' in out and '"MEM-ROOT-FLAGS"' in out
    # a build with an error takes the serial path: same report, nothing written
    monkeypatch.setenv("PARTCFG_JOBS", "2")
    code, _, err = run_cli("build", broken, "-o", tmp_path / "out")
    assert code == 1 and "CPU-CONFLICT" in err and not (tmp_path / "out").exists()


@pytest.mark.slow  # starts worker processes
def test_a_system_spread_over_shares_falls_back(board_tree, tmp_path):
    from partcfg.commands import parallel

    # a cell file naming its system in a form the scan does not read: it lands in another
    # share, where its system is unknown (SYS-UNKNOWN), so the serial path must decide
    odd = tmp_path / "odd"
    subprocess.run(["cp", "-r", str(board_tree), str(odd)], check=True)
    cell = odd / "board-0005" / "cell-0.yaml"
    cell.write_text("{system: board-0005, cell: {name: extra, cpus: 1}}\n")
    assert parallel.system_named_by(cell) is None
    assert parallel.run_tree([odd], build=False, jobs=2) is None


def test_small_trees_take_the_plain_path(tmp_path):
    from partcfg.commands import parallel
    bench_tree.write_tree(tmp_path, 3, 2)
    assert parallel.run_tree([tmp_path], build=True, jobs=2) is None


def test_jobs_from_the_environment():
    from partcfg.commands.parallel import jobs_of
    assert jobs_of({"PARTCFG_JOBS": "3"}) == 3
    assert jobs_of({"PARTCFG_JOBS": "zero"}) >= 1
    assert jobs_of({}) >= 1


def test_jobs_follow_the_threads_running_now():
    """Idle cores are counted by what runs now (the 4th field of /proc/loadavg, this
    process among it), not by the 1-minute average, which still counts the previous
    command of a script."""
    from partcfg.commands.parallel import jobs_of
    cores = len(os.sched_getaffinity(0))
    assert jobs_of({}, "9.00 9.00 9.00 1/120 4242") == cores       # only this process runs
    assert jobs_of({}, "0.00 0.00 0.00 2/120 4242") == max(1, cores - 1)
    assert jobs_of({}, "0.00 0.00 0.00 99/120 4242") == 1         # every core busy: no pool
    assert jobs_of({"PARTCFG_JOBS": "3"}, "0.00 0.00 0.00 99/120 4242") == 3


_FIRST_TAKEN = "first-share-taken"
_HOLD_SECONDS = 20


def _loaded_holding_back_the_last(paths):
    """A worker's loader that finishes the share holding the last file only once the
    consumer has taken the first file (a marker file), or after _HOLD_SECONDS."""
    import time
    from partcfg.commands import pipeline
    if paths[-1].name == "zz-last.yaml":
        deadline = time.monotonic() + _HOLD_SECONDS
        while not (paths[0].parent / _FIRST_TAKEN).exists() and time.monotonic() < deadline:
            time.sleep(0.01)
    return pipeline.__dict__["_loaded_by_worker"](paths)


@pytest.mark.slow
def test_loaded_shares_are_handed_on_as_they_arrive(tmp_path, monkeypatch):
    """The pipeline models the first files while the workers still read the rest: the
    first file comes back before the last share is done."""
    import time
    from partcfg.commands import pipeline
    for i in range(7):
        (tmp_path / f"c{i}.yaml").write_text(f"system: s\ncell: {{name: c{i}, cpus: [{i}]}}\n")
    (tmp_path / "zz-last.yaml").write_text("system: s\ncell: {name: last}\n")
    files = sorted(tmp_path.glob("*.yaml"))
    monkeypatch.setenv("PARTCFG_JOBS", "2")
    monkeypatch.setattr(pipeline, "PARALLEL_LOAD_MIN_FILES", 2)
    monkeypatch.setattr(pipeline, "_loaded_by_worker", pipeline._loaded, raising=False)
    monkeypatch.setattr(pipeline, "_loaded", _loaded_holding_back_the_last)
    start = time.monotonic()
    results = pipeline._loaded_files(files, True)
    kind, first = next(results)
    (tmp_path / _FIRST_TAKEN).touch()
    rest = list(results)
    assert time.monotonic() - start < _HOLD_SECONDS / 2
    assert kind == "ok" and first.file == str(files[0])
    assert [s.file for _, s in rest] == [str(f) for f in files[1:]]


def _run_on_terminal(args, env):
    """Run partcfg with stderr on a pseudo-terminal; returns (code, what the terminal got)."""
    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "partcfg.cli", *args], stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=slave, env=env)
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    return proc.wait(timeout=120), b"".join(chunks).decode("utf-8", "replace")


@pytest.mark.slow  # runs partcfg on a pseudo-terminal
def test_progress_bar_on_a_terminal_only(board_tree, tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    env.update(PARTCFG_JOBS="2", COLUMNS="100", TERM="xterm")
    code, screen = _run_on_terminal(["build", str(board_tree), "-o", str(tmp_path / "a")], env)
    assert code == 0
    assert "building" in screen and f"/{SYSTEMS}" in screen
    # CI set: no bar, even on a terminal
    code, screen = _run_on_terminal(["build", str(board_tree), "-o", str(tmp_path / "b")],
                                    {**env, "CI": "true"})
    assert code == 0 and "building" not in screen and "wrote" in screen
    # piped: no bar
    proc = subprocess.run([sys.executable, "-m", "partcfg.cli", "check", str(board_tree)],
                          capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0 and "checking" not in proc.stderr


def test_prepare_renderers_compiles_every_template_a_build_renders():
    """The templates warmed before the pool forks are exactly those the build's renderers
    name (firmware headers always, the C sources with --emit c): a renamed template would
    otherwise be warmed in vain, or a wrong name raise here."""
    import re

    from partcfg.commands import parallel
    from partcfg.render import cheader, csource
    from partcfg.render.jinja import environment

    def named_in(module) -> set[str]:
        return set(re.findall(r'"([a-z_]+\.[a-z]+\.j2)"', Path(module.__file__).read_text()))

    assert set(parallel.BUILD_TEMPLATES[None]) == named_in(cheader)
    assert set(parallel.BUILD_TEMPLATES["c"]) == named_in(csource)
    environment.cache_clear()
    parallel.prepare_renderers(frozenset({"c"}))
    cached = {name for (_, name) in environment().cache.keys()} if environment().cache else set()
    assert cached == set(parallel.BUILD_TEMPLATES[None]) | set(parallel.BUILD_TEMPLATES["c"])


# modules of other commands: a plain build must not pay for importing them
NOT_FOR_A_BUILD = ("partcfg.runtime", "partcfg.board", "partcfg.render.map", "partcfg.render.sarif",
                   "partcfg.render.json_schema", "partcfg.semantic_diff", "partcfg.lift",
                   "partcfg.commands.run", "partcfg.commands.diff", "partcfg.commands.schema")


@pytest.mark.slow  # starts an interpreter and worker processes
def test_a_build_imports_nothing_other_commands_need(board_tree, tmp_path):
    """`partcfg build` of a tree (worker pool included) leaves the runtime, the board
    tools, maps, SARIF, schemas, diffs and import out of the process."""
    # the program ends without returning (cli.main): the modules are listed by an exit handler
    probe = ("import atexit, runpy, sys\n"
             "atexit.register(lambda: print(' '.join(sorted(m for m in sys.modules\n"
             "                                              if m.startswith('partcfg')))))\n"
             f"sys.argv = ['partcfg', 'build', {str(board_tree)!r}, '-o', {str(tmp_path / 'out')!r}]\n"
             "runpy.run_module('partcfg.cli', run_name='__main__')\n")
    env = {**os.environ, "PARTCFG_JOBS": "2", "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env,
                          cwd=tmp_path, timeout=120)
    assert done.returncode == 0, done.stderr
    loaded = done.stdout.strip().splitlines()[-1].split()
    assert "partcfg.render.cheader" in loaded  # the probe saw the build's own modules
    assert [m for m in loaded if m.startswith(NOT_FOR_A_BUILD)] == []


@pytest.mark.slow  # starts worker processes
def test_workers_are_forked_from_a_frozen_heap():
    """The pool's workers are forked (they see what this process set up after its imports,
    as prepare_renderers relies on, whatever the platform's default start method), and
    the heap is frozen before they are, so their collections leave inherited pages alone."""
    import gc

    from partcfg.commands import parallel

    gc.unfreeze()
    try:
        PLANTED.append("set up in the parent")
        with parallel.worker_pool_of(2) as pool:
            assert gc.get_freeze_count() > 0
            assert list(pool.map(_planted, range(2))) == [["set up in the parent"]] * 2
    finally:
        PLANTED.clear()
        gc.unfreeze()


PLANTED: list[str] = []


def _planted(_: int) -> list[str]:
    return PLANTED
