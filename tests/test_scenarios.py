"""Scenarios: cells that run together are judged together, alternatives are not.

The fixtures (tests/fixtures/scenarios) are one small x86 system "box" with a link "demo"
(root, guest) and three non-root cells: "guest" (CPU 2, interrupt line 4), "rival" (CPU 3,
the guest's line 4) and a second "guest" (guest-too.yaml: CPU 2 and the guest's peer slot
on "demo", an alternative of the same name). Each test writes the system file with the
scenarios it needs. Expected messages are written from the spec's facts by hand.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from partcfg.diagnostics import InputError
from partcfg.commands.pipeline import build_outputs_of, checked_files_of

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "scenarios"


def _box(tmp_path: Path, scenarios: str | None, *cells: str) -> list[Path]:
    """The system file (with ``scenarios`` appended as YAML text) and the named cell files."""
    for f in FIXTURES.glob("*.yaml"):
        shutil.copy(f, tmp_path / f.name)
    if scenarios is not None:
        with open(tmp_path / "box.yaml", "a") as handle:
            handle.write("\nscenarios:\n" + scenarios)
    return [tmp_path / "box.yaml", *(tmp_path / f"{c}.yaml" for c in cells)]


def _found(files, scenario=None):
    return [(d.rule, d.severity.value, f"{Path(d.location.file).name}:{d.location.line}:{d.location.column}"
             if d.location else None, d.message, [Path(r.file).name + f":{r.line}" for r in d.related])
            for d in checked_files_of(files, scenario).diagnostics]


IRQ_CONFLICT = ("IRQ-CONFLICT", "error", "rival.yaml:10:66",
                "interrupt line 4 of irqchip 0xfec00000 is in cell 'rival' and in cell 'guest'",
                ["guest.yaml:12"])


def test_without_scenarios_every_cell_runs_together(tmp_path):
    assert _found(_box(tmp_path, None, "guest", "rival")) == [IRQ_CONFLICT]


def test_the_same_pair_is_an_error_in_one_scenario_and_fine_as_alternatives(tmp_path):
    files = _box(tmp_path, "  together: [guest, rival]\n  apart: [guest]\n  other: [rival]\n",
                 "guest", "rival")
    rule, severity, where, message, related = IRQ_CONFLICT
    assert _found(files) == [(rule, severity, where, message + " (scenario 'together')", related)]


def test_alternatives_only_check_clean(tmp_path):
    files = _box(tmp_path, "  linux: [guest]\n  bare-metal: [rival]\n", "guest", "rival")
    assert _found(files) == []


def test_a_finding_of_every_scenario_is_reported_once_and_plainly(tmp_path):
    """guest.yaml is left out: link 'demo' misses its peer in both scenarios alike."""
    files = _box(tmp_path, "  one: [rival]\n  two: [rival]\n", "rival")
    assert _found(files) == [
        ("LINK-PEER-ABSENT", "info", "box.yaml:26:12",
         "link 'demo': peer 'guest' is not in this call, taken as not running", []),
    ]


def test_an_impossible_scenario_is_one_error_naming_the_cells_and_the_reason(tmp_path):
    files = _box(tmp_path, "  both: [guest@guest, guest@guest-too]\n  rest: [rival]\n",
                 "guest", "rival", "guest-too")
    assert _found(files) == [
        ("SCENARIO-IMPOSSIBLE", "error", "box.yaml:29:3",
         "scenario 'both' cannot run: 'guest@guest' and 'guest@guest-too' share CPU 2, peer slot 1 "
         "of link 'demo', the name 'guest' (the hypervisor refuses the second cell)",
         ["guest.yaml:5", "guest-too.yaml:5"]),
    ]


def test_a_shared_name_without_its_file_stem_means_both_cells(tmp_path):
    files = _box(tmp_path, "  linux: [guest]\n", "guest", "guest-too")
    (d,) = checked_files_of(files).diagnostics
    assert (d.rule, d.message) == (
        "SCENARIO-IMPOSSIBLE", "scenario 'linux' cannot run: 'guest@guest' and 'guest@guest-too' share "
        "CPU 2, peer slot 1 of link 'demo', the name 'guest' (the hypervisor refuses the second cell)")


def test_without_scenarios_a_shared_name_is_still_a_duplicate(tmp_path):
    found = _found(_box(tmp_path, None, "guest", "guest-too"))
    assert found[0][:4] == ("CELL-DUPLICATE", "error", "guest.yaml:5:9",
                            "cell name 'guest' is used twice in system 'box'")


def test_a_cell_in_no_scenario_and_an_unknown_name_are_warnings(tmp_path):
    files = _box(tmp_path, "  linux: [guest, rivl]\n", "guest", "rival")
    assert _found(files) == [
        ("SCENARIO-CELL-UNKNOWN", "warning", "box.yaml:29:18",
         "scenario 'linux' names 'rivl', which is no cell of system 'box' in this call: taken as "
         "not running", []),
        ("SCENARIO-CELL-UNUSED", "warning", "rival.yaml:5:9",
         "cell 'rival' is in no scenario of system 'box': it is never judged with the others",
         ["box.yaml:28"]),
    ]
    unknown = checked_files_of(files).diagnostics[0]
    assert unknown.hint == "did you mean 'rival'?"


def test_scenarios_belong_in_the_system_file(tmp_path):
    files = _box(tmp_path, None, "guest")
    with open(files[1], "a") as handle:
        handle.write("scenarios:\n  linux: [guest]\n")
    assert _found(files) == [
        ("SCENARIO-PLACE", "error", "guest.yaml:13:1",
         "'scenarios' belongs in the system's own file (the one with 'platform')", []),
    ]


def test_partial_check_takes_an_absent_peer_as_not_running(tmp_path):
    files = _box(tmp_path, None, "rival")
    assert _found(files) == [
        ("LINK-PEER-ABSENT", "info", "box.yaml:26:12",
         "link 'demo': peer 'guest' is not in this call, taken as not running", []),
    ]


def test_check_one_scenario(tmp_path, run_cli):
    files = _box(tmp_path, "  together: [guest, rival]\n  apart: [guest]\n", "guest", "rival")
    assert _found(files, "apart") == []
    code, out, _ = run_cli("check", "--scenario", "together", *files)
    assert code == 1 and "(scenario 'together')" in out
    assert run_cli("check", "--scenario", "apart", *files)[0] == 0


def test_an_unknown_scenario_is_a_usage_error_with_did_you_mean(tmp_path, run_cli):
    files = _box(tmp_path, "  together: [guest, rival]\n  apart: [guest]\n", "guest", "rival")
    with pytest.raises(InputError) as caught:
        checked_files_of(files, "appart")
    (d,) = caught.value.diagnostics
    assert (d.rule, d.message, d.hint) == (
        "CHECK-SCENARIO", "no system of this call declares scenario 'appart'", "did you mean 'apart'?")
    code, out, err = run_cli("check", "--scenario", "appart", *files)
    assert code == 2 and "did you mean 'apart'?" in out + err


ALTERNATIVES = "  bare-metal: [guest@guest-too, rival]\n  linux: [guest@guest]\n"


def test_alternatives_sharing_a_name_build_to_name_at_file_stem(tmp_path):
    files = _box(tmp_path, ALTERNATIVES, "guest", "rival", "guest-too")
    outputs = build_outputs_of(checked_files_of(files))
    assert sorted(outputs) == [
        "guest@guest-too.cell", "guest@guest-too/demo.cspace", "guest@guest-too/partcfg_guest.h",
        "guest@guest.cell", "guest@guest/demo.cspace", "guest@guest/partcfg_guest.h",
        "rival.cell", "rival/partcfg_rival.h", "root.cell", "root/demo.cspace",
        "root/partcfg_root.h", "scenarios.txt"]
    assert outputs["scenarios.txt"].decode() == (
        "# scenarios of system box: which cells run together (written by partcfg build)\n"
        "bare-metal: root guest@guest-too rival\n"
        "linux: root guest@guest\n")
    # each alternative's blob carries its own memory: the guest's RAM at 0x3a600000, the other's at 0x3a700000
    assert (0x3a600000).to_bytes(8, "little") in outputs["guest@guest.cell"]
    assert (0x3a700000).to_bytes(8, "little") in outputs["guest@guest-too.cell"]
    assert (0x3a700000).to_bytes(8, "little") not in outputs["guest@guest.cell"]


@pytest.mark.slow  # spawns the runtime's processes
def test_run_runs_each_scenario_in_turn_or_one(tmp_path):
    from partcfg.commands.atomic_write import write_outputs
    from partcfg.runtime.launcher import run_build_dir
    files = _box(tmp_path, ALTERNATIVES, "guest", "rival", "guest-too")
    out = tmp_path / "out"
    write_outputs(out, build_outputs_of(checked_files_of(files)))
    report = run_build_dir(out, seconds=0.05)
    assert [s.name for s in report.systems] == ["box scenario bare-metal", "box scenario linux"]
    assert [sorted(s.name for s in run.subjects if s.kind == "cell") for run in report.systems] == [
        ["guest", "rival", "root"], ["guest", "root"]]
    assert all(run.held for run in report.systems)
    one = run_build_dir(out, seconds=0.05, scenario="linux")
    assert [s.name for s in one.systems] == ["box scenario linux"]
    with pytest.raises(InputError) as caught:
        run_build_dir(out, seconds=0.05, scenario="linx")
    assert caught.value.diagnostics[0].hint == "did you mean 'linux'?"


# --- a board shaped like upstream's: the demos are alternatives ------------------------------

BOARD = FIXTURES / "board"


def test_the_board_without_scenarios_drowns_in_the_alternatives_conflicts():
    found = [(d.rule, d.message) for d in checked_files_of([BOARD]).diagnostics
             if d.severity.value == "error"]
    assert found == [
        ("CPU-CONFLICT", "CPU 1 of cell 'linux-inmate-demo' is also in cell 'inmate-demo'"),
        ("LINK-TX-WRITE", "the output section of peer 1 (inmate-demo) of ivshmem device 0001:00:00.0 "
         "(0x7fafc000-0x7fafdfff) is writable by region #3 of cell 'linux-inmate-demo'; only its owner "
         "may write it"),
        ("LINK-DEV-ID", "ivshmem device 0001:00:00.0: cells 'inmate-demo' and 'linux-inmate-demo' both "
         "claim peer ID 1"),
    ]


def test_import_infers_the_scenarios_and_the_imported_board_checks_clean(tmp_path):
    from partcfg.commands.atomic_write import write_outputs
    from partcfg.commands.pipeline import INFERRED_SCENARIOS_COMMENT, imported_files_of
    build = tmp_path / "build"
    write_outputs(build, build_outputs_of(checked_files_of([BOARD])))
    blobs = sorted(build.glob("*.cell"))
    imported = imported_files_of(blobs, tmp_path / "yaml")
    assert [d.rule for d in imported.diagnostics if d.rule == "IMPORT-INEXACT"] == []  # rebuilt byte for byte
    system_text = imported.outputs["qemu-arm64.yaml"].decode()
    # inmate-demo and linux-inmate-demo share CPU 1 and peer slot 1 of 00:00.0; linux-second
    # (CPU 3, slot 2) runs with either: by the greedy rule, two scenarios, each with linux-second
    assert system_text.endswith(INFERRED_SCENARIOS_COMMENT + "scenarios:\n"
                                "  inmate-demo: [inmate-demo, linux-second]\n"
                                "  linux-inmate-demo: [linux-inmate-demo, linux-second]\n")
    write_outputs(tmp_path / "yaml", imported.outputs)
    checked = checked_files_of([tmp_path / "yaml"])
    assert [d.rule for d in checked.diagnostics if d.severity.value != "info"] == ["LINK-DOMAIN"] * 3
    # the same blobs again: the same text (deterministic)
    assert imported_files_of(blobs, tmp_path / "yaml").outputs == imported.outputs


def test_import_writes_no_scenarios_when_every_cell_can_run_with_every_other(tmp_path):
    from partcfg.commands.atomic_write import write_outputs
    from partcfg.commands.pipeline import imported_files_of
    build = tmp_path / "build"
    write_outputs(build, build_outputs_of(checked_files_of(
        sorted((Path(__file__).resolve().parent / "upstream-shaped" / "qemu-arm64").glob("*.yaml")))))
    imported = imported_files_of(sorted(build.glob("*.cell")), tmp_path / "yaml")
    assert "scenarios:" not in imported.outputs["qemu-arm64.yaml"].decode()


def test_inferred_scenarios_are_maximal_compatible_sets():
    from partcfg.model.assembly import assembly_of
    from partcfg.model.document import document_of
    from partcfg.load.yaml_source import load_yaml_file
    from partcfg.model.scenarios import inferred_scenarios
    system = assembly_of(document_of(load_yaml_file(f)) for f in sorted(BOARD.glob("*.yaml"))).systems[0]
    assert inferred_scenarios(system) == {"inmate-demo": ["inmate-demo", "linux-second"],
                                          "linux-inmate-demo": ["linux-inmate-demo", "linux-second"]}


# --- map and diff ------------------------------------------------------------------------------

def test_map_draws_one_scenario(tmp_path, run_cli):
    files = _box(tmp_path, "  linux: [guest]\n  bare-metal: [rival]\n", "guest", "rival")
    code, _, err = run_cli("map", "--scenario", "bare-metal", "-o", tmp_path / "m.svg", *files)
    # root: 2 declared regions + the link's 4 (state, rw, 2 outputs); rival: 1; not the guest's 5 (its comm region has no physical address and is never drawn)
    assert code == 0 and "(1 map, 7 regions)" in err
    code, _, err = run_cli("map", "-o", tmp_path / "all.svg", *files)
    assert code == 0 and "(1 map, 12 regions)" in err
    code, out, err = run_cli("map", "--scenario", "bare-metl", "-o", tmp_path / "x.svg", *files)
    assert code == 2 and "did you mean 'bare-metal'?" in out + err


def test_diff_reports_scenario_changes(tmp_path):
    from partcfg.semantic_diff import changes_of, side_of
    old, new = tmp_path / "old", tmp_path / "new"
    old.mkdir(), new.mkdir()
    _box(old, "  linux: [guest]\n  bare-metal: [rival]\n", "guest", "rival")
    _box(new, "  linux: [guest, rival]\n  spare: [rival]\n", "guest", "rival")
    for side in (old, new):
        (side / "guest-too.yaml").unlink()
    changes = changes_of(side_of(old).assembly, side_of(new).assembly)
    assert [(c.kind, c.text) for c in changes] == [
        ("scenario-added", "scenario spare added (rival)"),
        ("scenario-removed", "scenario bare-metal removed"),
        ("scenario-changed", "scenario linux: rival joined"),
    ]


def test_a_scenario_that_could_not_be_read_leaves_no_unused_cell_warnings(tmp_path):
    files = _box(tmp_path, "  linux: 5\n", "guest", "rival")
    assert [(d.rule, d.message) for d in checked_files_of(files).diagnostics] == [
        ("SCHEMA-VALUE", "scenarios.linux: Input should be a valid list")]


def test_a_later_scenario_takes_earlier_cells_too(tmp_path):
    """guest (CPU 2), rival (CPU 3), zeta (CPU 3, rival's alternative): the scenario that
    starts at zeta also holds guest, which comes before it."""
    from partcfg.model.assembly import assembly_of
    from partcfg.model.document import document_of
    from partcfg.load.yaml_source import load_yaml_file
    from partcfg.model.scenarios import inferred_scenarios
    files = _box(tmp_path, None, "guest", "rival")
    zeta = tmp_path / "zeta.yaml"
    zeta.write_text((tmp_path / "rival.yaml").read_text().replace("name: rival", "name: zeta")
                    .replace("0x3a800000", "0x3a900000").replace("interrupts: 4", "interrupts: 6"))
    system = assembly_of(document_of(load_yaml_file(f)) for f in [*files, zeta]).systems[0]
    assert inferred_scenarios(system) == {"guest": ["guest", "rival"], "zeta": ["guest", "zeta"]}
