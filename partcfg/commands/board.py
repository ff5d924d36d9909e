"""The board commands: ``init`` (a starting system for a board, from its device tree)
and ``collect`` (this x86 machine's description, as a snapshot for ``check --board``).

Orchestration only: ``board`` reads and drafts, ``atomic_write`` writes. Each returns a
result object; neither prints.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..diagnostics import InputError, Location, error
from .outcome import EXIT_OK


@dataclass(frozen=True)
class InitOptions:
    board: Path                          # the board's device tree blob
    output: Path = Path(".")
    name: str | None = None              # system and root-cell name (default: the board file's)
    hypervisor_memory: tuple[int, int] | None = None   # (address, size) when the board has none
    force: bool = False                  # overwrite an existing system file


@dataclass
class InitCommandResult:
    exit_code: int
    written: list[Path]
    notes: list[str] = field(default_factory=list)   # what the draft could not decide
    bootargs: str | None = None          # the command line to check the root cell with


def init_command(options: InitOptions) -> InitCommandResult:
    from ..board.init import init_of_board
    from ..board.read import board_of
    from ..names import file_stem_of
    from .atomic_write import write_outputs

    facts = board_of(options.board)
    system_name = options.name or file_stem_of(options.board.stem)[:31]  # a cell name holds 31 characters
    drafted = init_of_board(facts, system_name, options.hypervisor_memory)
    existing = [options.output / rel for rel in drafted.outputs if (options.output / rel).exists()]
    if existing and not options.force:
        raise InputError([error("INIT-EXISTS", f"{existing[0]} exists already", Location(str(existing[0])),
                                hint="choose another -o or --name, or pass --force")])
    written = write_outputs(options.output, drafted.outputs)
    return InitCommandResult(EXIT_OK, written, list(drafted.notes), drafted.bootargs)


@dataclass
class CollectResult:
    exit_code: int
    output: Path
    files: int                           # how many files the snapshot holds


def collect_command(output: Path) -> CollectResult:
    """Gather /proc/iomem, /proc/cmdline, /proc/cpuinfo and PCI resources of this machine
    into the tar archive ``output``."""
    from ..board.collect import snapshot_files_from, snapshot_tar_of
    from .atomic_write import write_outputs

    files = snapshot_files_from(Path("/"))
    write_outputs(output.parent, {output.name: snapshot_tar_of(files)})
    return CollectResult(EXIT_OK, output, len(files))
