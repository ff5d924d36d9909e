"""Foundation: cell, link and system names as file names and as C identifiers.

Names in YAML are free text; outputs need them as path components (``DIR/<cell>.cell``)
and as C identifiers (``<cell>_config``, ``PARTCFG_<CELL>_<LINK>_BASE``). Both mappings
are many-to-one, so callers that generate several names check for clashes.
"""

from __future__ import annotations

import re

_UNSAFE_IN_FILE = re.compile(r"[^A-Za-z0-9._-]")
_UNSAFE_IN_IDENTIFIER = re.compile(r"[^A-Za-z0-9_]")


MAX_FILE_STEM = 128   # bytes; leaves room for suffixes and temp-file prefixes below NAME_MAX (255)


def file_stem_of(name: str) -> str:
    """A cell or system name as a file name: characters outside [A-Za-z0-9._-] become -
    (so ``/``, NUL and control characters never reach the file system).
    :func:`file_stem_problem_of` says when the result is still not a usable file name."""
    return _UNSAFE_IN_FILE.sub("-", name) or "-"


def file_stem_problem_of(name: str) -> str | None:
    """Why ``name`` cannot become an output file name (None: it can). Refused, not mapped:
    names whose file name would be ``.``, ``..`` or hidden (leading ``.``: it could step out
    of the output directory or hide among partcfg's temp files) and names longer than
    ``MAX_FILE_STEM`` characters."""
    stem = file_stem_of(name)
    if stem in (".", ".."):
        return f"{name!r} would be the path component {stem!r}, which leaves its directory"
    if stem.startswith("."):
        return f"{name!r} would be a hidden file name (it starts with '.')"
    if len(stem) > MAX_FILE_STEM:
        return f"{name[:20]!r}... has {len(name)} characters, more than the {MAX_FILE_STEM} a file name may have"
    return None


def is_plain_relative_path(rel: str) -> bool:
    """``rel`` names a file below a directory: '/'-separated plain components, none of them
    empty, ``.``, ``..`` or holding NUL, and not absolute."""
    parts = rel.split("/")
    return all(p not in ("", ".", "..") and "\0" not in p for p in parts)


def c_identifier_of(name: str) -> str:
    """A name as a C identifier: characters outside [A-Za-z0-9_] become _, and a leading
    digit gets a _ in front (``linux-guest`` -> ``linux_guest``, ``9a`` -> ``_9a``)."""
    ident = _UNSAFE_IN_IDENTIFIER.sub("_", name) or "_"
    return "_" + ident if ident[0].isdigit() else ident


def printable_path_of(path: str) -> str:
    """A file name as text that can be written as UTF-8: bytes that were not UTF-8 (which
    Python keeps as lone surrogates) become U+FFFD."""
    return path.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
