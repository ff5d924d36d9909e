"""Foundation: cell, link and system names as file names and as C identifiers.

Names in YAML are free text; outputs need them as path components (``DIR/<cell>.cell``)
and as C identifiers (``<cell>_config``, ``PARTCFG_<CELL>_<LINK>_BASE``). Both mappings
are many-to-one, so callers that generate several names check for clashes.
"""

from __future__ import annotations

import re

_UNSAFE_IN_FILE = re.compile(r"[^A-Za-z0-9._-]")
_UNSAFE_IN_IDENTIFIER = re.compile(r"[^A-Za-z0-9_]")


def file_stem_of(name: str) -> str:
    """A cell or system name as a file name: characters outside [A-Za-z0-9._-] become -."""
    return _UNSAFE_IN_FILE.sub("-", name) or "-"


def c_identifier_of(name: str) -> str:
    """A name as a C identifier: characters outside [A-Za-z0-9_] become _, and a leading
    digit gets a _ in front (``linux-guest`` -> ``linux_guest``, ``9a`` -> ``_9a``)."""
    ident = _UNSAFE_IN_IDENTIFIER.sub("_", name) or "_"
    return "_" + ident if ident[0].isdigit() else ident
