"""`--format github` (workflow annotation lines) and `--werror`."""

from __future__ import annotations

import pytest

from conftest import FIXTURES, ROOT

WORKFLOW = FIXTURES / "workflow"


@pytest.fixture
def in_repo(monkeypatch):
    monkeypatch.chdir(ROOT)


def test_conflict_annotations_point_at_both_parties(run_cli, in_repo):
    code, out, err = run_cli("check", "--format", "github", WORKFLOW / "conflict")
    assert code == 1
    assert out.splitlines() == [
        "::error file=tests/fixtures/workflow/conflict/receiver.yaml,line=7,col=7,title=ISO-PRIVATE (error)"
        "::region 'ram' of cell 'receiver' is private (not rootshared), but region 'ram' of cell 'sender' "
        "also covers 0x10080000-0x100fffff%0Asee also: tests/fixtures/workflow/conflict/sender.yaml:7:7"
        "%0Ahint: remove the overlap, or share the memory through a link",
        "::error file=tests/fixtures/workflow/conflict/sender.yaml,line=5,col=9,title=CPU-CONFLICT (error)"
        "::CPU 2 of cell 'sender' is also in cell 'receiver'%0Asee also: "
        "tests/fixtures/workflow/conflict/receiver.yaml:5:9%0Ahint: a CPU belongs to one non-root cell",
    ]
    assert err.strip() == "2 errors"


def test_warnings_are_warning_annotations_and_werror_fails(run_cli, in_repo):
    code, out, _ = run_cli("check", "--format", "github", WORKFLOW / "warn")
    assert code == 0
    assert out.startswith("::warning file=tests/fixtures/workflow/warn/board.yaml,line=14,col=55,"
                          "title=MEM-ROOT-FLAGS (warning)::region 'uart' of cell 'root': loadable has no "
                          "effect in the root cell")
    code, out2, _ = run_cli("check", "--format", "github", "--werror", WORKFLOW / "warn")
    assert (code, out2) == (1, out)
    code, _, _ = run_cli("check", "--werror", WORKFLOW / "clean")
    assert code == 0


def test_werror_build_writes_nothing(run_cli, tmp_path):
    out = tmp_path / "out"
    code, _, err = run_cli("build", "--werror", WORKFLOW / "warn", "-o", out)
    assert code == 1
    assert "warning[MEM-ROOT-FLAGS]" in err and "nothing written" in err
    assert not out.exists()
    code, _, _ = run_cli("build", WORKFLOW / "warn", "-o", out)
    assert code == 0 and (out / "root.cell").exists()


def test_escaping_follows_the_runner_rules():
    from partcfg.diagnostics import Location, info, warning
    from partcfg.render.annotations import annotation_of

    d = warning("X-Y", "100% sure\r\nnext line", Location("dir/a,b:c.yaml", 3, 0), hint="h")
    assert annotation_of(d) == ("::warning file=dir/a%2Cb%3Ac.yaml,line=3,title=X-Y (warning)"
                                "::100%25 sure%0D%0Anext line%0Ahint: h")
    assert annotation_of(info("A-B", "note")) == "::notice title=A-B (info)::note"


def test_no_traceback_for_bad_input(run_cli, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_bytes(b"\x00\xff garbage: [")
    for fmt in ("github", "sarif"):
        code, out, err = run_cli("check", "--format", fmt, bad)
        assert code == 2                # not UTF-8: the file cannot be read as text
        assert "IO-ENCODING" in out + err
        assert "Traceback" not in out + err and "internal error" not in out + err
