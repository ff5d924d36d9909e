"""The ``map`` command: the memory map of every system (one lane per cell, links across
their peers), drawn into one HTML page or SVG picture.

Orchestration only: ``pipeline`` checks the files, ``model.scenarios`` narrows a system
to a scenario, ``render.map`` draws, ``atomic_write`` writes. Returns a
:class:`MapResult`; never prints.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from ..diagnostics import Diagnostic
from .outcome import EXIT_INVALID, exit_code_of

#: the picture formats, by the output's suffix (anything else is a usage error)
SVG_SUFFIXES = (".svg",)
HTML_SUFFIXES = (".html", ".htm")


@dataclass(frozen=True)
class MapOptions:
    output: Path                 # *.html, *.htm or *.svg
    scenario: str | None = None  # draw only the root and this scenario's cells


@dataclass
class MapResult:
    exit_code: int
    diagnostics: list[Diagnostic]
    maps: int = 0                # systems drawn (standalone cells count as one); 0: nothing written
    regions: int = 0


def map_command(files: Sequence[str | Path], options: MapOptions) -> MapResult:
    from ..model.scenarios import scenario_system_of
    from ..names import printable_path_of
    from ..render.map import map_html_of, map_svg_of, standalone_map_of, system_map_of
    from .atomic_write import write_outputs
    from .pipeline import checked_files_of

    output, scenario = options.output, options.scenario
    suffix = output.suffix.lower()
    if suffix not in SVG_SUFFIXES + HTML_SUFFIXES:
        raise ValueError(f"not a picture's name: {output.name!r}")  # the CLI says so before
    checked = checked_files_of(files, scenario=scenario)
    maps = [system_map_of(s if scenario is None else scenario_system_of(s, scenario))
            for s in checked.assembly.systems]
    if checked.assembly.standalone:
        maps.append(standalone_map_of(checked.assembly.standalone))
    if not maps:
        return MapResult(EXIT_INVALID, checked.diagnostics)
    sources = [printable_path_of(str(f)) for f in checked.files]
    text = map_svg_of(maps, sources) if suffix in SVG_SUFFIXES else map_html_of(maps, sources)
    write_outputs(output.parent, {output.name: text.encode("utf-8")})
    return MapResult(exit_code_of(checked.diagnostics), checked.diagnostics, len(maps),
                     sum(m.region_count for m in maps))
