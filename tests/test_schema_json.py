"""`partcfg schema`: the JSON Schema of the input format, generated from the models.

The committed copy (docs/partcfg.schema.json, which the examples' modeline points at) must
equal the generated one; every example must validate; every property must carry a
description and examples that themselves validate; and the schema must reject what the
models reject, or an editor would approve broken files.
"""

from __future__ import annotations

import json
import re

import pytest

from conftest import FIXTURES, ROOT, example_files

jsonschema = pytest.importorskip("jsonschema")

SCHEMA_FILE = ROOT / "docs" / "partcfg.schema.json"
MODELINE = re.compile(r"^# yaml-language-server: \$schema=(\S+)$")


@pytest.fixture(scope="module")
def schema():
    from partcfg.render.json_schema import document_schema
    s = document_schema()
    jsonschema.Draft202012Validator.check_schema(s)
    return s


def _data_of(path):
    from partcfg.load.yaml_source import load_yaml_file
    return load_yaml_file(path).data


def test_committed_schema_is_the_generated_one(run_cli):
    code, out, _ = run_cli("schema")
    assert code == 0
    assert json.loads(out)["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert SCHEMA_FILE.read_text(encoding="utf-8") == out, \
        "docs/partcfg.schema.json is stale: run `partcfg schema > docs/partcfg.schema.json`"


def test_every_example_starts_with_the_modeline_and_validates(schema):
    validator = jsonschema.Draft202012Validator(schema)
    assert example_files()
    for path in example_files():
        first = path.read_text(encoding="utf-8").splitlines()[0]
        m = MODELINE.match(first)
        assert m, f"{path.name} does not start with the yaml-language-server modeline"
        assert (path.parent / m.group(1)).resolve() == SCHEMA_FILE
        errors = list(validator.iter_errors(_data_of(path)))
        assert not errors, f"{path.name}: {errors[0].message}"


def _properties(schema):
    yield "Document", schema
    yield from schema["$defs"].items()


def test_every_property_has_a_description_and_valid_examples(schema):
    count = 0
    for owner, definition in _properties(schema):
        for name, prop in definition.get("properties", {}).items():
            where = f"{owner}.{name}"
            assert prop.get("description"), f"{where} has no description"
            assert prop.get("examples"), f"{where} has no examples"
            bare = {k: v for k, v in prop.items() if k not in ("examples", "default")}
            check = jsonschema.Draft202012Validator({**bare, "$defs": schema["$defs"]})
            for example in prop["examples"]:
                assert not list(check.iter_errors(example)), f"{where}: example {example!r} is invalid"
            if "default" in prop:
                assert not list(check.iter_errors(prop["default"])), f"{where}: default is invalid"
            count += 1
    assert count > 100


@pytest.mark.parametrize("fixture", ["unknown-key.yaml", "not-a-mapping.yaml", "bad-values.yaml",
                                     "bad-cell-name.yaml", "base-system.yaml"])
def test_the_schema_rejects_what_the_models_reject(schema, fixture):
    from partcfg.diagnostics import ConfigError
    from partcfg.load.yaml_source import load_yaml_file
    from partcfg.model.document import document_of

    path = FIXTURES / "schema" / fixture
    source = load_yaml_file(path)
    try:
        document_of(source)
        models_accept = True
    except ConfigError:
        models_accept = False
    schema_accepts = jsonschema.Draft202012Validator(schema).is_valid(source.data)
    assert schema_accepts == models_accept


def test_schema_offers_yaml_defaults(schema):
    region = schema["$defs"]["MemoryRegion"]["properties"]
    assert region["flags"]["default"] == []
    assert schema["$defs"]["Link"]["properties"]["interrupts"]["default"] == "intx"
    assert "read" in json.dumps(region["flags"]["items"])
