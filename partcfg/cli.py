"""Command line: the thin shell around the core. The only module that prints and picks
exit codes: 0 ok (or warnings only), 1 invalid configuration, 2 usage or I/O error,
3 internal error (a bug; ``PARTCFG_DEBUG=1`` prints its traceback). The codes of errors
live on the error classes (``PartcfgError.exit_code``).
No input of any kind may reach the user as a Python traceback.
"""

from __future__ import annotations

import contextlib
import functools
import os
import sys
import traceback
from enum import Enum
from pathlib import Path
from typing import Callable, List, Optional

import typer

from . import __version__
from .commands.choices import TextOrJson
from .commands.outcome import EXIT_OK, EXIT_USAGE
from .diagnostics import (INTERNAL_ERROR_EXIT_CODE, Diagnostic, InputError, PartcfgError,
                          sorted_diagnostics)
from .render import EMIT_KINDS
from .render.elf import MACHINES

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  rich_markup_mode=None,
                  help="Declarative, validated configurations for Jailhouse-style partitioned systems.")


class ReportFormat(str, Enum):
    text = "text"
    json = "json"
    sarif = "sarif"
    github = "github"


@functools.lru_cache(maxsize=64)
def _lines_of(file: str) -> list[str]:
    try:
        return Path(file).read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return []


def _line_of(file: str, line: int) -> str | None:
    lines = _lines_of(file)
    return lines[line - 1] if 0 < line <= len(lines) else None


def _print_diagnostics(diagnostics: List[Diagnostic], fmt: ReportFormat = ReportFormat.text,
                       to_stderr: bool = True) -> None:
    from .render.findings_text import json_report_of, summary_of, text_report_of
    if fmt is ReportFormat.json:
        typer.echo(json_report_of(diagnostics), nl=False)
        return
    if fmt is ReportFormat.sarif:
        from .render.sarif import sarif_report_of
        typer.echo(sarif_report_of(diagnostics), nl=False)
        return
    if fmt is ReportFormat.github:
        from .render.annotations import annotations_of
        typer.echo(annotations_of(diagnostics), nl=False)
        typer.echo(summary_of(diagnostics), err=True)
        return
    if diagnostics:
        typer.echo(text_report_of(diagnostics, _line_of), err=to_stderr)
    typer.echo(summary_of(diagnostics), err=to_stderr)


def _guarded(command: Callable) -> Callable:
    """Turn core errors into diagnostics and exit codes; never show a traceback."""
    @functools.wraps(command)
    def run(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except (typer.Exit, typer.Abort, SystemExit, typer.BadParameter):
            raise  # a bad option value is a usage error: typer prints it and exits 2
        except PartcfgError as exc:  # the error class says its exit code
            _print_diagnostics(sorted_diagnostics(exc.diagnostics))
            raise typer.Exit(exc.exit_code)
        except KeyboardInterrupt:
            typer.echo("interrupted", err=True)
            raise typer.Exit(130)
        except Exception as exc:  # a bug in partcfg: say so plainly; the traceback on request
            if os.environ.get("PARTCFG_DEBUG") == "1":
                traceback.print_exc()
            typer.echo(f"partcfg: internal error: {type(exc).__name__}: {exc}\n"
                       "This is a bug in partcfg; please report it with the input that caused it "
                       "(PARTCFG_DEBUG=1 shows where it happened).",
                       err=True)
            raise typer.Exit(INTERNAL_ERROR_EXIT_CODE)
    return run


FilesArg = typer.Argument(..., help="YAML files (or directories of them)", show_default=False,
                          metavar="FILE")
WerrorOpt = typer.Option(False, "--werror", help="treat warnings as errors (exit 1 when there are any)")


@contextlib.contextmanager
def _progress(what: str):
    """A progress bar on stderr while ``what`` runs, only for a person at a terminal (not
    when stderr is piped and not in CI); yields the ``on_progress(done, total)`` callback."""
    import os
    if not sys.stderr.isatty() or os.environ.get("CI"):
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TextColumn("systems"), TimeElapsedColumn(),
                  console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(what, total=None)

        def advance(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)
        yield advance


IgnoreOpt = typer.Option([], "--ignore", metavar="RULE",
                         help="waive every finding of RULE in this run (repeatable); see also "
                              "'# partcfg: ignore[RULE] reason' comments and [tool.partcfg] in pyproject.toml")
ShowWaivedOpt = typer.Option(False, "--show-waived",
                             help="also list the findings that waivers (and a --baseline) accepted")


def _print_triaged(triage, fmt: ReportFormat = ReportFormat.text, to_stderr: bool = True,
                   show_waived: bool = False) -> None:
    """Like _print_diagnostics for the findings that count, plus how many were waived or
    known from the baseline (and, with --show-waived, which)."""
    from .render.findings_text import accepted_text_of, triage_json_of, triage_summary_of
    counted = triage.counted
    if fmt is ReportFormat.sarif:
        from .render.sarif import sarif_report_of
        typer.echo(sarif_report_of(counted, triage=triage), nl=False)
        return
    if fmt is ReportFormat.json:
        typer.echo(triage_json_of(triage, show_waived), nl=False)
        typer.echo(triage_summary_of(triage), err=True)
        return
    if fmt is ReportFormat.github:
        from .render.annotations import annotations_of
        typer.echo(annotations_of(counted), nl=False)
    elif counted:
        from .render.findings_text import text_report_of
        typer.echo(text_report_of(counted, _line_of), err=to_stderr)
    accepted = accepted_text_of(triage, _line_of) if show_waived else ""
    if accepted:
        typer.echo(accepted, err=to_stderr or fmt is ReportFormat.github)
    typer.echo(triage_summary_of(triage), err=to_stderr or fmt is ReportFormat.github)


# the choices are declared where they are implemented; the CLI only names them
EmitKind = Enum("EmitKind", {kind: kind for kind in EMIT_KINDS}, type=str)
ElfTarget = Enum("ElfTarget", {machine: machine for machine in MACHINES}, type=str)


def _files(count: int) -> str:
    return f"{count} file{'s' if count != 1 else ''}"


@app.command(short_help="Validate and write the blobs, config spaces and firmware headers.")
@_guarded
def build(files: List[Path] = FilesArg,
          output: Path = typer.Option(Path("build"), "-o", "--output", metavar="DIR", help="output directory"),
          force: bool = typer.Option(False, "--force", help="write outputs even when validation fails"),
          check: bool = typer.Option(False, "--check", help="write nothing; exit 1 and list the files "
                                     "in DIR that differ from what the YAML now produces"),
          werror: bool = WerrorOpt,
          emit: List[EmitKind] = typer.Option(
              [], "--emit", metavar="|".join(EMIT_KINDS), help="also write Jailhouse-style C sources (c) "
                                 "or linkable ELF objects (elf); repeatable"),
          target: Optional[ElfTarget] = typer.Option(
              None, "--target", metavar="|".join(MACHINES),
              help="machine of --emit elf objects (default: the system's arch)"),
          ignore: List[str] = IgnoreOpt,
          show_waived: bool = ShowWaivedOpt,
          ) -> None:
    """Validate the system(s) and write DIR/<cell>.cell for every cell, plus every
    peer's DIR/<cell>/<link>.cspace and the firmware header DIR/<cell>/partcfg_<cell>.h."""
    from .commands.build import CHECKED, REFUSED, UNREPRESENTABLE, BuildOptions, build_command

    options = BuildOptions(output=output, force=force, check=check, werror=werror,
                           emit=frozenset(e.value for e in emit),
                           target=target.value if target else None, ignore=tuple(ignore))
    with _progress("building") as on_progress:
        result = build_command(files, options, on_progress=on_progress)
    triage = result.triage
    if result.outcome == REFUSED:
        _print_triaged(triage, show_waived=show_waived)
        typer.echo("nothing written" + ("" if check else " (use --force to write anyway)"), err=True)
    elif result.outcome == UNREPRESENTABLE:
        _print_diagnostics(result.unrepresentable)
        typer.echo("nothing written", err=True)
    elif result.outcome == CHECKED:
        if triage.counted or triage.waived:
            _print_triaged(triage, show_waived=show_waived)
        for rel, why in result.stale:
            typer.echo(f"stale: {output / rel} ({why})")
        if result.stale:
            typer.echo(f"{_files(len(result.stale))} out of date in {output}; "
                       f"rebuild with: partcfg build ... -o {output}", err=True)
        else:
            typer.echo(f"{_files(len(result.outputs))} up to date in {output}", err=True)
    else:
        if triage.counted or triage.waived:
            _print_triaged(triage, show_waived=show_waived)
        typer.echo(f"wrote {_files(len(result.written))} to {output}", err=True)
    raise typer.Exit(result.exit_code)


@app.command(short_help="Validate only: report every problem, write nothing.")
@_guarded
def check(files: List[Path] = FilesArg,
          format: ReportFormat = typer.Option(ReportFormat.text, "--format", metavar="text|json|sarif|github",
                                              help="report format: text, json, sarif (code scanning) "
                                                   "or github (workflow annotations)"),
          werror: bool = WerrorOpt,
          inmate: List[str] = typer.Option(
              [], "--inmate", metavar="CELL=FILE",
              help="also check an inmate ELF image against its cell's memory; repeatable"),
          ignore: List[str] = IgnoreOpt,
          show_waived: bool = ShowWaivedOpt,
          baseline: Optional[Path] = typer.Option(
              None, "--baseline", metavar="FILE",
              help="fail only on findings that are not in this baseline (see --write-baseline)"),
          write_baseline: Optional[Path] = typer.Option(
              None, "--write-baseline", metavar="FILE",
              help="record today's findings (not the waived ones) in FILE and exit 0"),
          scenario: Optional[str] = typer.Option(
              None, "--scenario", metavar="NAME",
              help="judge only this scenario (the cells the system file lists under scenarios: NAME)"),
          board: Optional[Path] = typer.Option(
              None, "--board", metavar="BOARD",
              help="also check the system(s) against the board: a device tree blob (.dtb), or an "
                   "x86 snapshot (directory or tar from 'partcfg collect')"),
          bootargs: Optional[str] = typer.Option(
              None, "--bootargs", metavar="CMDLINE",
              help="with --board: the root cell's kernel command line (mem=, memmap=), in place "
                   "of the board's /chosen/bootargs or proc/cmdline"),
          ) -> None:
    """Validate only: report every problem in every file, write nothing."""
    from .commands.check import CheckOptions, check_command

    if bootargs is not None and board is None:
        typer.echo("partcfg check: --bootargs needs --board", err=True)
        raise typer.Exit(EXIT_USAGE)
    options = CheckOptions(werror=werror, inmate=tuple(inmate), ignore=tuple(ignore), baseline=baseline,
                           write_baseline=write_baseline, scenario=scenario, board=board,
                           bootargs=bootargs, fingerprints=format is ReportFormat.sarif)
    try:
        with _progress("checking") as on_progress:
            result = check_command(files, options, on_progress=on_progress)
    except InputError as exc:  # still in the format asked for: CI uploads what it gets
        if format is ReportFormat.text:
            raise
        _print_diagnostics(sorted_diagnostics(exc.diagnostics), format, to_stderr=False)
        raise typer.Exit(EXIT_USAGE)
    if result.write_failure is not None:
        raise result.write_failure
    _print_triaged(result.triage, format, to_stderr=False, show_waived=show_waived)
    if result.baseline_written is not None:
        n = len(result.triage.recorded)
        typer.echo(f"wrote {n} finding{'s' if n != 1 else ''} to the baseline {result.baseline_written}",
                   err=True)
    raise typer.Exit(result.exit_code)


@app.command(short_help="Print the resolved system: every region and link.")
@_guarded
def show(files: List[Path] = FilesArg,
         cspace: bool = typer.Option(False, "--cspace",
                                     help="print each peer's decoded PCI config space instead"),
         format: TextOrJson = typer.Option(TextOrJson.text, "--format", metavar="text|json",
                                           help="text, or json (the same facts for scripts)"),
         ) -> None:
    """Print the resolved system: regions per cell with their origin, and every link."""
    from .commands.show import ShowOptions, show_command

    if format is TextOrJson.json and cspace:
        typer.echo("partcfg show: --cspace is text only", err=True)
        raise typer.Exit(EXIT_USAGE)
    result = show_command(files, ShowOptions(format=format, cspace=cspace))
    typer.echo(result.text, nl=False)
    if result.diagnostics:
        _print_diagnostics(result.diagnostics)
    raise typer.Exit(result.exit_code)


@app.command("import", short_help="Turn existing .cell blobs (or ELF objects) into YAML.")
@_guarded
def import_(files: List[Path] = typer.Argument(..., metavar="BLOB",
                                               help="Jailhouse .cell blobs or ELF objects compiled from C configs",
                                               show_default=False),
            output: Path = typer.Option(Path("."), "-o", "--output", metavar="DIR", help="output directory"),
            force: bool = typer.Option(False, "--force", help="overwrite YAML files that already exist"),
            ) -> None:
    """Turn existing configuration blobs into partcfg YAML (one file per input).
    Blobs of one system imported together keep their links and their system.
    Existing files are left alone unless --force."""
    from .commands.import_ import ImportOptions, import_command

    result = import_command(files, ImportOptions(output=output, force=force))
    if result.diagnostics:
        _print_diagnostics(result.diagnostics)
    typer.echo(f"wrote {_files(len(result.written))} to {output}", err=True)
    raise typer.Exit(result.exit_code)


def _address_and_size(text: str) -> tuple[int, int]:
    from .units import parse_int, parse_size
    address, sep, size = text.partition(":")
    try:
        if not sep:
            raise ValueError("expected ADDR:SIZE")
        return parse_int(address.strip()), parse_size(size.strip())
    except ValueError as exc:
        raise typer.BadParameter(f"{text!r}: {exc} (e.g. 0x7fc00000:4M)") from None


@app.command(short_help="Write a starting system (platform + root cell) from a device tree.")
@_guarded
def init(board: Path = typer.Option(..., "--board", metavar="BOARD", help="the board's device tree blob (.dtb)"),
         output: Path = typer.Option(Path("."), "-o", "--output", help="output directory"),
         name: Optional[str] = typer.Option(None, "--name", help="system and root-cell name "
                                            "(default: the board file's name)"),
         hypervisor_memory: Optional[str] = typer.Option(
             None, "--hypervisor-memory", metavar="ADDR:SIZE",
             help="the hypervisor's memory, when the board has no /reserved-memory/jailhouse node"),
         force: bool = typer.Option(False, "--force", help="overwrite an existing system file"),
         ) -> None:
    """Write a starting system for a board: platform (GIC, console, hypervisor memory) and a
    root cell with every CPU, the RAM and every device of the device tree."""
    from .commands.board import InitOptions, init_command

    given = _address_and_size(hypervisor_memory) if hypervisor_memory is not None else None
    result = init_command(InitOptions(board=board, output=output, name=name, hypervisor_memory=given,
                                      force=force))
    for note in result.notes:
        typer.echo(f"note: {note}", err=True)
    written = " ".join(str(p) for p in result.written)
    with_bootargs = f" --bootargs {result.bootargs}" if result.bootargs else ""
    typer.echo(f"wrote {', '.join(str(p) for p in result.written)}; check it with: partcfg check "
               f"--board {board}{with_bootargs} {written}", err=True)
    raise typer.Exit(result.exit_code)


@app.command(short_help="Gather this x86 machine's description into a snapshot for --board.")
@_guarded
def collect(output: Path = typer.Option(..., "-o", "--output", help="the snapshot archive to write (board.tar)"),
            ) -> None:
    """Gather this x86 machine's description (/proc/iomem, /proc/cmdline, /proc/cpuinfo, PCI
    resources) into one tar archive for 'partcfg check --board'. Run it as root on the target."""
    from .commands.board import collect_command

    result = collect_command(output)
    typer.echo(f"wrote {result.output} ({result.files} files)", err=True)
    raise typer.Exit(result.exit_code)


@app.command(short_help="Print the JSON Schema of the YAML format.")
@_guarded
def schema() -> None:
    """Print the JSON Schema of the YAML input format (for editors and YAML language servers)."""
    from .commands.schema import schema_command

    result = schema_command()
    typer.echo(result.text, nl=False)
    raise typer.Exit(result.exit_code)


@app.command("map", short_help="Draw the memory map of every system (HTML or SVG).")
@_guarded
def map_(files: List[Path] = FilesArg,
         output: Path = typer.Option(..., "-o", "--output", metavar="FILE",
                                     help="the picture to write: *.html or *.svg"),
         scenario: Optional[str] = typer.Option(
             None, "--scenario", metavar="NAME",
             help="draw only the root and the cells of this scenario (for systems that declare it)"),
         ) -> None:
    """Draw the memory map of every system: one lane per cell, links across their peers."""
    from .commands.map import HTML_SUFFIXES, SVG_SUFFIXES, MapOptions, map_command
    from .units import counted

    if output.suffix.lower() not in HTML_SUFFIXES + SVG_SUFFIXES:
        typer.echo(f"partcfg map: cannot tell the picture's format from {output.name!r}: "
                   "name it *.html or *.svg", err=True)
        raise typer.Exit(EXIT_USAGE)
    result = map_command(files, MapOptions(output=output, scenario=scenario))
    if result.diagnostics:
        _print_diagnostics(result.diagnostics)
    if not result.maps:
        typer.echo("nothing to draw: no system or cell could be read", err=True)
    else:
        typer.echo(f"wrote {output} ({result.maps} map{'s' if result.maps != 1 else ''}, "
                   f"{counted(result.regions, 'region')})", err=True)
    raise typer.Exit(result.exit_code)


@app.command(short_help="Print what changed in meaning between two versions.")
@_guarded
def diff(old: Path = typer.Argument(..., metavar="OLD", help="old version: YAML file, .cell blob, or a directory of either",
                                    show_default=False),
         new: Path = typer.Argument(..., metavar="NEW", help="new version: YAML file, .cell blob, or a directory of either",
                                    show_default=False),
         format: TextOrJson = typer.Option(TextOrJson.text, "--format", metavar="text|json", help="text or json"),
         ) -> None:
    """Print what changed in meaning between two versions (exit 0: nothing, 1: changed)."""
    from .commands.diff import DiffOptions, diff_command

    result = diff_command(old, new, DiffOptions(format=format))
    if result.notes:  # e.g. a blob that imports only inexactly: the diff may miss what was lost
        _print_diagnostics(result.notes)
    typer.echo(result.text, nl=False)
    raise typer.Exit(result.exit_code)


@app.command(short_help="Run the built system(s) and exercise every link.")
@_guarded
def run(build_dir: Path = typer.Argument(..., metavar="BUILD_DIR", help="the directory `partcfg build` wrote",
                                         show_default=False),
        bench: bool = typer.Option(False, "--bench", help="measure message rates, 64 KiB "
                                   "throughput and round-trip time between two cells per link"),
        seconds: float = typer.Option(1.0, "--seconds", min=0.05, max=3600.0, metavar="N",
                                      help="duration of the timed traffic (of each figure "
                                      "with --bench)"),
        scenario: Optional[str] = typer.Option(
            None, "--scenario", metavar="NAME",
            help="run only this scenario (by default each scenario the build recorded, in turn)"),
        program: List[str] = typer.Option(
            [], "--program", metavar="CELL=COMMAND",
            help="run COMMAND as cell CELL instead of partcfg's cell code (repeatable); "
            "docs/cell-programs.md"),
        ) -> None:
    """Run the built system(s): one process per cell, a supervisor as the hypervisor, and
    exercise every link; exit 0 only when everything held."""
    from .commands.run import RunOptions, run_command
    from .runtime.run_report import text_of_run

    programs = dict(p.partition("=")[::2] for p in program)
    result = run_command(build_dir, RunOptions(seconds=seconds, bench=bench, scenario=scenario,
                                               programs=programs))
    typer.echo(text_of_run(result.report))
    raise typer.Exit(result.exit_code)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"partcfg {__version__}")
        raise typer.Exit(EXIT_OK)


@app.callback()
def _main(version: Optional[bool] = typer.Option(None, "--version", callback=_version,
                                                 is_eager=True, help="print the version")) -> None:
    """partcfg: cells and shared-memory links in YAML, checked before anything boots."""


def main() -> None:
    """The ``partcfg`` program: run the command, then end the process (see
    :func:`_ended_without_teardown`)."""
    for stream in (sys.stdout, sys.stderr):  # file names that are not UTF-8 print as \udcXX
        with contextlib.suppress(AttributeError, ValueError):
            stream.reconfigure(errors="backslashreplace")
    try:
        app()
        status: object = 0
    except SystemExit as exc:  # how typer ends every command
        status = exc.code
    except KeyboardInterrupt:  # pragma: no cover - outside any command
        status = 130
    _ended_without_teardown(status)


def _ended_without_teardown(status: object) -> None:
    """Exit with ``status`` (as ``sys.exit`` reads it) without Python's interpreter
    teardown, which frees every object of every imported module one by one: about 0.035 s
    after a build (pydantic, typer, Jinja), a tenth of building a 40-system tree. Nothing
    is lost: every output is written and closed before the command returns, the exit
    handlers still run (multiprocessing's, concurrent.futures'), and the standard streams
    are flushed. Where another thread is still running, or a stream cannot be flushed, the
    ordinary exit decides instead (it waits for the thread, and reports the stream)."""
    import atexit
    import threading

    if threading.active_count() > 1:
        sys.exit(status)
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe (partcfg check | head): Python's own words
            sys.exit(status)
    if status is None:
        code = 0
    elif isinstance(status, int):
        code = status
    else:  # a message: printed like sys.exit prints it
        print(status, file=sys.stderr, flush=True)
        code = 1
    os._exit(code & 0xFF)


if __name__ == "__main__":
    main()
