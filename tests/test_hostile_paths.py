"""Names and planted files never move a write outside ``-o``: names that are not plain file
names are refused where they are written, names that become one file (exactly or ignoring
case) are an error naming both, nothing is written through a symbolic link below ``-o``,
and ``build --check`` reads only regular files, never more than it expects."""

from __future__ import annotations

import os
import threading

import pytest

from support.workflow import workflow_copy


def _tree(tmp_path, name="cells", system="board", rename=None):
    """The clean 2-cell system, optionally with another system name or a cell renamed
    (``rename``: (old, new), applied to every file)."""
    src = workflow_copy(tmp_path, name=name)
    for f in src.glob("*.yaml"):
        text = f.read_text().replace("system: board", f"system: {system!r}".replace("'", '"'))
        if rename:
            old, new = rename
            text = text.replace(f"name: {old}", f'name: "{new}"').replace(old + "]", f'"{new}"]')
        f.write_text(text)
    return src


def _all_files(root):
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*"))


def test_a_cell_named_dotdot_is_refused_and_nothing_lands_outside(run_cli, tmp_path):
    src = _tree(tmp_path, rename=("receiver", ".."))
    out = tmp_path / "top" / "build"
    code, _, err = run_cli("build", src, "-o", out, "--force")
    assert code == 1
    assert f"{src / 'receiver.yaml'}:4:9: error[BUILD-NAME-FILE]: the cell name '..' would be " \
           "the path component '..', which leaves its directory" in err
    assert not (tmp_path / "top").exists() or _all_files(tmp_path / "top") in ([], ["build"])


@pytest.mark.parametrize("name, why", [
    (".", "would be the path component '.', which leaves its directory"),
    (".hidden", "would be a hidden file name (it starts with '.')"),
    ("x" * 200, "'xxxxxxxxxxxxxxxxxxxx'... has 200 characters, more than the 128 a file name may have"),
])
def test_names_that_are_no_plain_file_name_are_refused(run_cli, tmp_path, name, why):
    src = _tree(tmp_path, rename=("sender", name))
    code, _, err = run_cli("build", src, "-o", tmp_path / "build", "--force")
    assert code in (1, 2)
    assert "BUILD-NAME-FILE" in err and why in err and "internal error" not in err
    assert not (tmp_path / "build").exists() or _all_files(tmp_path / "build") == []


def test_a_system_named_dotdot_is_refused(run_cli, tmp_path):
    _tree(tmp_path, "a", system="..")
    _tree(tmp_path, "b", system="other")
    out = tmp_path / "top" / "build"
    code, _, err = run_cli("build", tmp_path / "a", tmp_path / "b", "-o", out, "--force")
    assert code == 1
    assert f"{tmp_path / 'a' / 'board.yaml'}:2:9: error[BUILD-NAME-FILE]: the system name '..' " \
           "would be the path component '..', which leaves its directory" in err
    assert not (tmp_path / "top").exists() or _all_files(tmp_path / "top") in ([], ["build"])


def test_system_names_that_map_to_one_file_name_are_a_clash_naming_both(run_cli, tmp_path):
    _tree(tmp_path, "a", system="s/1")
    _tree(tmp_path, "b", system="s-1")
    code, _, err = run_cli("build", tmp_path / "a", tmp_path / "b", "-o", tmp_path / "build")
    assert code == 1
    assert f"{tmp_path / 'b' / 'board.yaml'}:2:9: error[BUILD-NAME-CLASH]: system 's/1' and " \
           "system 's-1' would both be written to the directory s-1" in err
    assert f"= see also: {tmp_path / 'a' / 'board.yaml'}:2:9" in err
    assert not (tmp_path / "build").exists()


def test_names_that_differ_only_by_case_are_a_clash(run_cli, tmp_path):
    _tree(tmp_path, "a", system="Board")
    _tree(tmp_path, "b", system="board")
    code, _, err = run_cli("build", tmp_path / "a", tmp_path / "b", "-o", tmp_path / "build")
    assert code == 1
    assert f"{tmp_path / 'b' / 'board.yaml'}:2:9: error[BUILD-NAME-CLASH]: system 'Board' and " \
           "system 'board' would both be written to Board/ and board/, one directory where " \
           "case is ignored" in err


def test_cells_that_differ_only_by_case_are_a_clash(run_cli, tmp_path):
    src = _tree(tmp_path, rename=("receiver", "Sender"))
    code, _, err = run_cli("build", src, "-o", tmp_path / "build", "--force")
    assert code == 1
    assert "error[BUILD-NAME-CLASH]: cell 'Sender' and cell 'sender' would both be written to " \
           "Sender.cell and sender.cell, one file where case is ignored" in err


def test_a_symlinked_subdirectory_below_the_output_is_not_written_through(run_cli, tmp_path):
    src = _tree(tmp_path)
    out, elsewhere = tmp_path / "build", tmp_path / "elsewhere"
    out.mkdir()
    elsewhere.mkdir()
    (out / "receiver").symlink_to(elsewhere)
    code, _, err = run_cli("build", src, "-o", out)
    assert code == 2
    assert f"error[IO-WRITE]: cannot write below {out / 'receiver'}: {out / 'receiver'} is a " \
           "symbolic link or not a directory; partcfg does not write through it" in err
    assert list(elsewhere.iterdir()) == []
    assert _all_files(out) == ["receiver"]          # refused before the first file


def test_a_symlink_planted_as_an_output_file_is_replaced_not_followed(run_cli, tmp_path):
    src = _tree(tmp_path)
    out, victim = tmp_path / "build", tmp_path / "victim"
    out.mkdir()
    victim.write_bytes(b"precious")
    (out / "sender.cell").symlink_to(victim)
    assert run_cli("build", src, "-o", out)[0] == 0
    assert victim.read_bytes() == b"precious"
    assert not (out / "sender.cell").is_symlink() and (out / "sender.cell").read_bytes()[:5] == b"JHCLL"


def _check_in_thread(run_cli, *args):
    """--check in a thread with a deadline: a FIFO read would block it forever."""
    result = {}
    thread = threading.Thread(target=lambda: result.update(r=run_cli(*args)), daemon=True)
    thread.start()
    thread.join(20)
    assert not thread.is_alive(), "build --check hung"
    return result["r"]


def test_check_does_not_block_on_a_fifo_planted_as_an_output(run_cli, tmp_path):
    src, out = _tree(tmp_path), tmp_path / "build"
    assert run_cli("build", src, "-o", out)[0] == 0
    (out / "sender.cell").unlink()
    os.mkfifo(out / "sender.cell")
    code, stdout, _ = _check_in_thread(run_cli, "build", "--check", src, "-o", out)
    assert code == 1
    assert f"stale: {out / 'sender.cell'} (not a regular file)" in stdout


def test_check_does_not_read_dev_zero_through_a_symlink(run_cli, tmp_path):
    src, out = _tree(tmp_path), tmp_path / "build"
    assert run_cli("build", src, "-o", out)[0] == 0
    (out / "sender.cell").unlink()
    (out / "sender.cell").symlink_to("/dev/zero")
    code, stdout, _ = _check_in_thread(run_cli, "build", "--check", src, "-o", out)
    assert code == 1
    assert f"stale: {out / 'sender.cell'} (not a regular file)" in stdout


def test_check_reads_no_more_than_the_expected_size(run_cli, tmp_path):
    src, out = _tree(tmp_path), tmp_path / "build"
    assert run_cli("build", src, "-o", out)[0] == 0
    with open(out / "sender.cell", "r+b") as f:   # 8 GiB, sparse: reading it whole would not end well
        f.truncate(8 << 30)
    code, stdout, _ = _check_in_thread(run_cli, "build", "--check", src, "-o", out)
    assert code == 1 and f"stale: {out / 'sender.cell'} (differs)" in stdout
