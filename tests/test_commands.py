"""The command layer without the CLI: each command function takes paths and an options
object, returns a result with its exit code and the data to print, and prints nothing.

Expected values come from elsewhere: the golden tree (what ``partcfg build`` wrote for the
examples), the fixtures' own comments (which rule each one breaks), the example files
(which systems and cells they declare).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import FIXTURES, GOLDEN, example_files

from partcfg.commands import build as build_mod
from partcfg.commands.board import InitOptions, init_command
from partcfg.commands.build import BuildOptions, build_command
from partcfg.commands.check import CheckOptions, check_command
from partcfg.commands.choices import TextOrJson
from partcfg.commands.diff import DiffOptions, diff_command
from partcfg.commands.import_ import ImportOptions, import_command
from partcfg.commands.map import MapOptions, map_command
from partcfg.commands.schema import schema_command
from partcfg.commands.show import ShowOptions, show_command
from partcfg.diagnostics import InputError

SCHEMA = FIXTURES / "schema"
X86 = [f for f in example_files() if f.name.startswith("qemu-x86")]
VIRT_DTB = Path(__file__).resolve().parent / "boards" / "virt.dtb"


def _relative_files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture
def silent(capsys):
    """Fails the test when anything reached stdout or stderr: only the CLI prints."""
    yield
    out, err = capsys.readouterr()
    assert (out, err) == ("", "")


def test_build_writes_the_golden_tree_and_prints_nothing(tmp_path, silent):
    result = build_command(example_files(), BuildOptions(output=tmp_path))
    assert (result.exit_code, result.outcome) == (0, build_mod.WRITTEN)
    golden = {rel: data for rel, data in _relative_files(GOLDEN).items() if rel != "README.md"}
    assert _relative_files(tmp_path) == golden
    assert sorted(p.relative_to(tmp_path).as_posix() for p in result.written) == sorted(golden)


def test_build_refuses_an_invalid_system_and_writes_nothing(tmp_path, silent):
    out = tmp_path / "out"
    result = build_command([SCHEMA / "base-system.yaml", SCHEMA / "unknown-key.yaml"],
                           BuildOptions(output=out))
    assert (result.exit_code, result.outcome) == (1, build_mod.REFUSED)
    assert [d.rule for d in result.triage.counted] == ["SCHEMA-UNKNOWN-KEY"]
    assert result.written == [] and not out.exists()


def test_build_force_writes_past_errors_and_still_fails(tmp_path, silent):
    result = build_command([SCHEMA / "base-system.yaml", SCHEMA / "unknown-system.yaml"],
                           BuildOptions(output=tmp_path, force=True))
    assert (result.exit_code, result.outcome) == (1, build_mod.WRITTEN)
    assert "SYS-UNKNOWN" in {d.rule for d in result.triage.counted}
    assert (tmp_path / "root.cell").exists()


def test_build_check_lists_what_is_missing_then_nothing(tmp_path, silent):
    first = build_command(X86, BuildOptions(output=tmp_path, check=True))
    assert (first.exit_code, first.outcome) == (1, build_mod.CHECKED)
    assert list(tmp_path.iterdir()) == []   # --check writes nothing
    golden = {rel for rel in _relative_files(GOLDEN / "qemu-x86")}
    assert {rel for rel, _ in first.stale} == golden
    build_command(X86, BuildOptions(output=tmp_path))
    again = build_command(X86, BuildOptions(output=tmp_path, check=True))
    assert (again.exit_code, again.stale) == (0, [])
    assert set(again.outputs) == golden


def test_build_ignore_waives_a_rule(tmp_path, silent):
    files = [SCHEMA / "base-system.yaml", SCHEMA / "unknown-system.yaml"]
    refused = build_command(files, BuildOptions(output=tmp_path / "a"))
    rules = sorted({d.rule for d in refused.triage.counted})
    waived = build_command(files, BuildOptions(output=tmp_path / "b", ignore=tuple(rules)))
    assert refused.exit_code == 1 and waived.exit_code == 0
    assert waived.triage.counted == [] and len(waived.triage.waived) == len(refused.triage.counted)


def test_check_of_the_examples_passes_and_records_a_baseline(tmp_path, silent):
    clean = check_command(example_files(), CheckOptions())
    assert (clean.exit_code, clean.triage.counted, clean.baseline_written) == (0, [], None)
    baseline = tmp_path / "baseline.json"
    bad = [SCHEMA / "base-system.yaml", SCHEMA / "unknown-key.yaml"]
    recorded = check_command(bad, CheckOptions(write_baseline=baseline))
    assert (recorded.exit_code, recorded.baseline_written) == (0, baseline)
    assert baseline.exists()
    # judged against that baseline, the same finding is known, so the check passes
    assert check_command(bad, CheckOptions(baseline=baseline)).exit_code == 0
    assert check_command(bad, CheckOptions()).exit_code == 1


def test_a_baseline_that_cannot_be_written_is_its_own_failure(tmp_path, silent):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    result = check_command(example_files(), CheckOptions(write_baseline=blocker / "baseline.json"))
    assert result.exit_code == 2 and result.baseline_written is None
    assert [d.rule for d in result.write_failure.diagnostics] == ["IO-WRITE"]


def test_check_unknown_scenario_is_an_input_error(silent):
    with pytest.raises(InputError) as raised:
        check_command(example_files(), CheckOptions(scenario="no-such-scenario"))
    assert [d.rule for d in raised.value.diagnostics] == ["CHECK-SCENARIO"]


def test_show_json_lists_every_system_and_cell(silent):
    result = show_command(example_files(), ShowOptions(format=TextOrJson.json))
    assert result.exit_code == 0 and result.diagnostics == []
    facts = json.loads(result.text)
    systems = {s["name"]: sorted(c["name"] for c in s["cells"]) for s in facts["systems"]}
    assert systems == {"qemu-arm64": ["linux-guest", "qemu-arm64", "rt-cell"],
                       "qemu-x86": ["RootCell", "linux-guest", "rt-app"]}


def test_show_text_ends_with_one_newline(silent):
    text = show_command(X86, ShowOptions()).text
    assert text.endswith("\n") and not text.endswith("\n\n")
    assert "rt-app" in text


def test_import_refuses_to_overwrite_unless_forced(tmp_path, silent):
    blobs = sorted((GOLDEN / "qemu-x86").glob("*.cell"))
    out = tmp_path / "yaml"
    first = import_command(blobs, ImportOptions(output=out))
    assert first.exit_code == 0
    assert sorted(p.name for p in first.written) == ["RootCell.yaml", "linux-guest.yaml", "rt-app.yaml"]
    with pytest.raises(InputError) as raised:
        import_command(blobs, ImportOptions(output=out))
    assert {d.rule for d in raised.value.diagnostics} == {"IO-EXISTS"}
    assert import_command(blobs, ImportOptions(output=out, force=True)).exit_code == 0


def test_diff_of_blobs_with_themselves_has_no_change_and_of_two_systems_some(silent):
    result = diff_command(GOLDEN / "qemu-x86", GOLDEN / "qemu-x86", DiffOptions())
    assert (result.exit_code, result.text) == (0, "no change in meaning\n")
    changed = diff_command(GOLDEN / "qemu-x86", GOLDEN / "qemu-arm64", DiffOptions(format=TextOrJson.json))
    assert changed.exit_code == 1 and json.loads(changed.text)


def test_map_draws_one_map_per_system(tmp_path, silent):
    picture = tmp_path / "map.svg"
    result = map_command(example_files(), MapOptions(output=picture))
    assert (result.exit_code, result.maps) == (0, 2)
    assert picture.read_text(encoding="utf-8").rstrip().endswith("</svg>")


def test_schema_is_json_schema(silent):
    result = schema_command()
    assert result.exit_code == 0
    assert "json-schema.org" in json.loads(result.text)["$schema"]


def test_init_writes_a_system_that_passes_check_and_refuses_a_second(tmp_path, silent):
    options = InitOptions(board=VIRT_DTB, output=tmp_path, name="virt",
                          hypervisor_memory=(0x7fc00000, 4 << 20))
    result = init_command(options)
    assert result.exit_code == 0 and [p.name for p in result.written] == ["virt.yaml"]
    checked = check_command(result.written, CheckOptions(board=VIRT_DTB, bootargs=result.bootargs))
    assert checked.exit_code == 0, [d.message for d in checked.triage.counted]
    with pytest.raises(InputError) as raised:
        init_command(options)
    assert [d.rule for d in raised.value.diagnostics] == ["INIT-EXISTS"]


def test_flags_travel_by_name():
    from partcfg.commands.parallel import run_tree
    with pytest.raises(TypeError):
        run_tree(example_files(), True)  # type: ignore[misc]
    with pytest.raises(TypeError):
        build_command(example_files(), BuildOptions(), None)  # type: ignore[misc]
