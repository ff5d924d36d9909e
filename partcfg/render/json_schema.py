"""Editor support: the JSON Schema of partcfg's YAML input, generated from the models.

A side branch of the flow that only reads ``model``: the pydantic models are the single
source of truth, and this module asks them for their JSON Schema (``partcfg schema``).
YAML language servers use it to complete and check cell files; the committed copy at
``docs/partcfg.schema.json`` is what the examples' modeline points at, and a test keeps it
equal to what this module produces (regenerate with
``partcfg schema > docs/partcfg.schema.json``).

The only thing changed after generation are defaults: the models keep them as the
integers the blob holds (flags ``0``, interrupts ``0``), while an editor should offer the
YAML form a user writes (``[]``, ``intx``).
"""

from __future__ import annotations

import json
from typing import Any

from ..model.system import Document

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
SCHEMA_TITLE = "partcfg system description"


def _yaml_default(prop: dict, default: Any, defs: dict) -> tuple[bool, Any]:
    """(keep, value): the default of a property as a user would write it in YAML."""
    if prop.get("type") == "array" and not isinstance(default, list):
        return (True, []) if not default else (False, None)
    if default == 0 and any(o.get("const") == "intx" for o in prop.get("anyOf", [])):
        return True, "intx"
    ref = prop.get("$ref", "")
    if isinstance(default, dict) and ref.startswith("#/$defs/"):
        fields = defs.get(ref.rsplit("/", 1)[-1], {}).get("properties", {})
        result = {}
        for key, value in default.items():
            keep, value = _yaml_default(fields.get(key, {}), value, defs)
            if keep:
                result[key] = value
        return True, result
    return True, default


def _with_yaml_defaults(node: Any, defs: dict) -> Any:
    if isinstance(node, dict):
        result = {k: _with_yaml_defaults(v, defs) for k, v in node.items()}
        for prop in (result.get("properties") or {}).values():
            if isinstance(prop, dict) and "default" in prop:
                keep, value = _yaml_default(prop, prop["default"], defs)
                if keep:
                    prop["default"] = value
                else:
                    del prop["default"]
        return result
    if isinstance(node, list):
        return [_with_yaml_defaults(v, defs) for v in node]
    return node


def document_schema() -> dict:
    """The JSON Schema (draft 2020-12) of one partcfg YAML file."""
    generated = Document.model_json_schema(mode="validation")
    schema = {"$schema": SCHEMA_DIALECT, "title": SCHEMA_TITLE}
    schema.update(_with_yaml_defaults(generated, generated.get("$defs", {})))
    schema["title"] = SCHEMA_TITLE
    schema["description"] = (
        "One partcfg YAML file. Generated from partcfg's input models (partcfg/model/system.py) by "
        "'partcfg schema'; do not edit. " + generated.get("description", ""))
    return schema


def schema_text() -> str:
    """``document_schema()`` as stable, indented JSON text ending in a newline."""
    return json.dumps(document_schema(), indent=2, sort_keys=False, ensure_ascii=False) + "\n"
