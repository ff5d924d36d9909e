"""The ``show`` command: the resolved system(s), every region with its origin and every
link (or each peer's decoded PCI config space), as text or JSON.

Orchestration only: ``pipeline`` checks the files, ``layout`` resolves them, ``render``
says them. Returns a :class:`ShowResult`; never prints.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from ..diagnostics import Diagnostic
from .choices import TextOrJson
from .outcome import exit_code_of


@dataclass(frozen=True)
class ShowOptions:
    format: TextOrJson = TextOrJson.text
    cspace: bool = False     # each peer's decoded config space instead (text only)


@dataclass
class ShowResult:
    exit_code: int
    text: str                       # what goes to standard output, as is
    diagnostics: list[Diagnostic]


def show_command(files: Sequence[str | Path], options: ShowOptions) -> ShowResult:
    from ..layout import layout_of_cell, layout_of_system
    from ..render.show import cell_text_of, show_json_of, system_text_of
    from .pipeline import checked_files_of

    if options.cspace and options.format is TextOrJson.json:
        raise ValueError("the decoded config space is text only")
    checked = checked_files_of(files)
    if options.format is TextOrJson.json:
        text = show_json_of([layout_of_system(s) for s in checked.assembly.systems],
                            [layout_of_cell(None, c) for c in checked.assembly.standalone])
    else:
        if options.cspace:
            from ..render.cspace import cspace_texts_of
            texts = [t for s in checked.assembly.systems for t in cspace_texts_of(layout_of_system(s))]
        else:
            texts = [system_text_of(layout_of_system(s)) for s in checked.assembly.systems]
            texts += [cell_text_of(layout_of_cell(None, c)) for c in checked.assembly.standalone]
        text = "\n\n".join(texts) + "\n"
    return ShowResult(exit_code_of(checked.diagnostics), text, checked.diagnostics)
