"""The choices of command options, declared once for the commands and the CLI that
names them (the output kinds and ELF machines are declared where they are implemented:
``render.EMIT_KINDS``, ``render.elf.MACHINES``)."""

from __future__ import annotations

from enum import Enum


class TextOrJson(str, Enum):
    """What ``show`` and ``diff`` print: text for people, or the same facts as JSON."""
    text = "text"
    json = "json"
