"""The ``schema`` command: the JSON Schema of the YAML input format (for editors and
YAML language servers), from ``render.json_schema``. Returns a :class:`SchemaResult`;
never prints."""

from __future__ import annotations

from dataclasses import dataclass

from .outcome import EXIT_OK


@dataclass
class SchemaResult:
    exit_code: int
    text: str                # the schema, for standard output as is


def schema_command() -> SchemaResult:
    from ..render.json_schema import schema_text

    return SchemaResult(EXIT_OK, schema_text())
