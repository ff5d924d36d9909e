"""`partcfg build --check -o DIR`: list committed outputs the YAML no longer produces, write nothing."""

from __future__ import annotations

from support.workflow import workflow_copy


def _tree(tmp_path):
    return workflow_copy(tmp_path)


def _snapshot(d):
    return {p.relative_to(d).as_posix(): (p.read_bytes(), p.stat().st_mtime_ns)
            for p in sorted(d.rglob("*")) if p.is_file()}


def test_fresh_outputs_pass(run_cli, tmp_path):
    src, out = _tree(tmp_path), tmp_path / "build"
    assert run_cli("build", src, "-o", out)[0] == 0
    code, stdout, err = run_cli("build", "--check", src, "-o", out)
    assert code == 0 and stdout == ""
    assert err.strip().endswith(f"files up to date in {out}")


def test_yaml_edit_without_rebuild_is_caught_and_nothing_is_written(run_cli, tmp_path):
    src, out = _tree(tmp_path), tmp_path / "build"
    assert run_cli("build", src, "-o", out)[0] == 0
    before = _snapshot(out)
    receiver = src / "receiver.yaml"
    receiver.write_text(receiver.read_text().replace("execute, loadable]", "execute, loadable, dma]"))
    (out / "old-cell.cell").write_bytes(b"left over")
    (out / "sender.cell").unlink()
    before = _snapshot(out)
    code, stdout, err = run_cli("build", "--check", src, "-o", out)
    assert code == 1
    assert stdout.splitlines() == [
        f"stale: {out / 'receiver.cell'} (differs)",
        f"stale: {out / 'sender.cell'} (missing)",
        f"stale: {out / 'old-cell.cell'} (no longer produced)",
    ]
    assert "3 files out of date" in err
    assert _snapshot(out) == before          # nothing written, not even touched


def test_missing_output_directory(run_cli, tmp_path):
    src, out = _tree(tmp_path), tmp_path / "nowhere"
    code, stdout, _ = run_cli("build", "--check", src, "-o", out)
    assert code == 1 and "(missing)" in stdout
    assert not out.exists()


def test_invalid_yaml_fails_without_writing(run_cli, tmp_path):
    src, out = _tree(tmp_path), tmp_path / "build"
    assert run_cli("build", src, "-o", out)[0] == 0
    before = _snapshot(out)
    (src / "sender.yaml").write_text((src / "sender.yaml").read_text().replace("cpus: 2", "cpus: 3"))
    code, _, err = run_cli("build", "--check", "--force", src, "-o", out)
    assert code == 1 and "CPU-CONFLICT" in err and "Traceback" not in err
    assert _snapshot(out) == before


def test_check_the_committed_golden_outputs(run_cli):
    # the repository's own committed build of the examples must be fresh (CI catches a YAML
    # edit without rebuilt outputs exactly this way)
    from conftest import GOLDEN, example_files
    code, stdout, err = run_cli("build", "--check", *example_files(), "-o", GOLDEN)
    assert code == 0, stdout + err
