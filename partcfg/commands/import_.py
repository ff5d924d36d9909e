"""The ``import`` command: existing ``.cell`` blobs (or ELF objects compiled from C
configs) -> partcfg YAML, one file per input, written below the output directory.

Orchestration only: ``pipeline.imported_files_of`` lifts and proves the import, this
module refuses to overwrite an edited file and writes. Returns an
:class:`ImportResult`; never prints.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from ..diagnostics import Diagnostic, InputError, Location, error
from .outcome import EXIT_OK, EXIT_USAGE


@dataclass(frozen=True)
class ImportOptions:
    output: Path = Path(".")
    force: bool = False      # overwrite YAML files that already exist


@dataclass
class ImportResult:
    exit_code: int           # 2 when some input could not be decoded (the others are written)
    written: list[Path]
    diagnostics: list[Diagnostic]


def import_command(files: Sequence[str | Path], options: ImportOptions) -> ImportResult:
    """Import ``files`` together (blobs of one system keep their links and their system).
    Existing files are left alone (InputError) unless ``options.force``."""
    from .atomic_write import write_outputs
    from .pipeline import imported_files_of

    output = options.output
    imported = imported_files_of(files, output_dir=output)
    existing = sorted(rel for rel in imported.outputs if (output / rel).exists())
    if existing and not options.force:  # an edited import must not be lost to a second import
        raise InputError([error("IO-EXISTS", "would overwrite an existing file", Location(str(output / rel)),
                                hint="import into another directory, or pass --force to overwrite")
                          for rel in existing])
    written = write_outputs(output, imported.outputs)
    decoded_all = len(written) == len(files)
    return ImportResult(EXIT_OK if decoded_all else EXIT_USAGE, written, imported.diagnostics)
