"""The CI rules the test suite enforces on itself: in CI a skip is a failure (unless
allowed, with a reason), and the Python the project claims is the Python it tests."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib

import pytest

from conftest import ROOT

SAMPLE = '''
import pytest

def test_runs():
    pass

def test_needs_a_tool():
    pytest.skip("frobnicator is not installed")

@pytest.mark.parametrize("system", ["a"])
def test_sources_compile_against_jailhouse_headers(system):
    pytest.skip("set JAILHOUSE_SRC")
'''


def _pytest(tmp_path, ci: str | None):
    (tmp_path / "test_sample.py").write_text(SAMPLE)
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    if ci is not None:
        env["CI"] = ci
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "tests"), env.get("PYTHONPATH", "")])
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "support.ci_skips", "-rs",
                           "-p", "no:cacheprovider", str(tmp_path / "test_sample.py")],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)


def test_a_skip_in_ci_is_a_failure_unless_allowed(tmp_path):
    ran = _pytest(tmp_path, "true")
    assert ran.returncode == 1, ran.stdout
    assert "1 failed, 1 passed, 1 skipped" in ran.stdout
    assert "skipped in CI, which must run every test: Skipped: frobnicator is not installed" in ran.stdout
    assert "SKIPPED [1] test_sample.py:12: set JAILHOUSE_SRC" in ran.stdout


def test_outside_ci_skips_are_listed_with_their_reasons(tmp_path):
    ran = _pytest(tmp_path, None)
    assert ran.returncode == 0, ran.stdout
    assert "SKIPPED [1] test_sample.py:8: frobnicator is not installed" in ran.stdout


def test_the_claimed_python_is_the_one_tested():
    """pyproject's requires-python is the lowest version the tests can run on (they use
    tomllib, 3.11) and the README says the same."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["requires-python"] == ">=3.11"
    assert sys.version_info >= (3, 11)
    assert "Python 3.11 or newer" in (ROOT / "README.md").read_text()
    assert not [d for d in project["optional-dependencies"]["test"] if "python_version" in d]


def _ci_run_with(tmp_path, tools: list[str]):
    """Run .ci/run with a PATH that holds only ``tools`` (plus what its first lines use)."""
    import shutil
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ["dirname", "mktemp", "rm", "head", *tools]:
        os.symlink(shutil.which(tool), bin_dir / tool)
    os.symlink(sys.executable, bin_dir / "python3")
    return subprocess.run(["/bin/bash", str(ROOT / ".ci" / "run")], cwd=tmp_path,
                          env={"PATH": str(bin_dir), "HOME": str(tmp_path)},
                          capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("present, missing", [([], "gcc"), (["gcc"], "objcopy")])
def test_ci_fails_at_once_without_a_tool_the_tests_need(tmp_path, present, missing):
    import shutil
    if any(shutil.which(t) is None for t in ["dirname", "mktemp", "rm", "head", *present]):
        pytest.skip("this machine lacks the tools to stage the run")   # not in CI: CI has them
    ran = _ci_run_with(tmp_path, present)
    assert ran.returncode == 1, ran.stdout + ran.stderr
    assert ran.stdout.splitlines()[-1] == f"CI needs {missing} (the C tests use it)"
    assert "== test venv" not in ran.stdout          # stopped before installing anything


# every test here starts processes: out of the quick loop (pytest -m "not slow")
pytestmark = pytest.mark.slow
