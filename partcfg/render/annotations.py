"""Render layer: diagnostics as GitHub Actions workflow commands (``--format github``).

One line per diagnostic, ``::error file=F,line=L,col=C,title=RULE::message``, which the
Actions runner turns into an annotation on that line of the pull request. Warnings become
``::warning``, infos ``::notice``. The hint and the other parties' locations follow the
message on lines of their own (encoded as %0A, as the runner expects). Paths are made
relative to the working directory, which in a workflow is the repository root.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

from ..diagnostics import Diagnostic, Location, Severity

COMMAND_OF = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "notice"}


def display_path_of(file: str, base: Path | None = None) -> str:
    """``file`` relative to ``base`` (default: the working directory) when it lies below
    it, with forward slashes; otherwise unchanged."""
    base = (base or Path.cwd()).resolve()
    try:
        return Path(os.path.abspath(file)).relative_to(base).as_posix()
    except ValueError:
        return Path(file).as_posix()


def _data(text: str) -> str:
    """Escape a command's message (the runner's own rules for the data part)."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _property(text: str) -> str:
    """Escape a property value: the data escapes plus ':' and ','."""
    return _data(text).replace(":", "%3A").replace(",", "%2C")


def _where(location: Location | None, base: Path | None) -> str:
    if location is None:
        return ""
    text = display_path_of(location.file, base)
    return f"{text}:{location.line}:{location.column}" if location.line else text


def annotation_of(d: Diagnostic, base: Path | None = None) -> str:
    """The workflow command line of one diagnostic."""
    props = []
    loc = d.location
    if loc is not None:
        props.append(f"file={_property(display_path_of(loc.file, base))}")
        if loc.line:
            props.append(f"line={loc.line}")
            if loc.column:
                props.append(f"col={loc.column}")
    props.append(f"title={_property(f'{d.rule} ({d.severity.value})')}")
    message = d.message
    for other in d.related:
        message += f"\nsee also: {_where(other, base)}"
    if d.hint:
        message += f"\nhint: {d.hint}"
    return f"::{COMMAND_OF[d.severity]} {','.join(props)}::{_data(message)}"


def annotations_of(diagnostics: Sequence[Diagnostic], base: Path | None = None) -> str:
    """Every diagnostic as a workflow command, one per line (empty text for none)."""
    return "".join(annotation_of(d, base) + "\n" for d in diagnostics)
