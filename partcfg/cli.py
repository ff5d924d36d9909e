"""Command line: the thin shell around the core. The only module that prints and picks
exit codes: 0 ok (or warnings only), 1 invalid configuration, 2 usage or I/O error.
No input of any kind may reach the user as a Python traceback.
"""

from __future__ import annotations

import contextlib
import functools
import sys
from enum import Enum
from pathlib import Path
from typing import Callable, List, Optional

import typer

from . import __version__
from .diagnostics import (ConfigError, Diagnostic, InputError, PartcfgError,
                          has_errors, sorted_diagnostics)

EXIT_OK, EXIT_INVALID, EXIT_USAGE = 0, 1, 2

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
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
    from .render.report import json_report_of, summary_of, text_report_of
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
        except (typer.Exit, typer.Abort, SystemExit):
            raise
        except InputError as exc:
            _print_diagnostics(sorted_diagnostics(exc.diagnostics))
            raise typer.Exit(EXIT_USAGE)
        except ConfigError as exc:
            _print_diagnostics(sorted_diagnostics(exc.diagnostics))
            raise typer.Exit(EXIT_INVALID)
        except PartcfgError as exc:
            _print_diagnostics(sorted_diagnostics(exc.diagnostics))
            raise typer.Exit(EXIT_USAGE)
        except KeyboardInterrupt:
            typer.echo("interrupted", err=True)
            raise typer.Exit(130)
        except Exception as exc:  # a bug in partcfg: say so plainly, without a traceback
            typer.echo(f"partcfg: internal error: {type(exc).__name__}: {exc}\n"
                       "This is a bug in partcfg; please report it with the input that caused it.",
                       err=True)
            raise typer.Exit(EXIT_USAGE)
    return run


FilesArg = typer.Argument(..., help="YAML files (or directories of them)", show_default=False)
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


def _failed(diagnostics: List[Diagnostic], werror: bool) -> bool:
    """Errors fail a run; with --werror, warnings do too."""
    from .diagnostics import Severity
    return has_errors(diagnostics) or (werror and any(d.severity is Severity.WARNING for d in diagnostics))


class EmitKind(str, Enum):
    c = "c"
    elf = "elf"


class ElfTarget(str, Enum):
    x86_64 = "x86-64"
    aarch64 = "aarch64"


@app.command()
@_guarded
def build(files: List[Path] = FilesArg,
          output: Path = typer.Option(Path("build"), "-o", "--output", help="output directory"),
          force: bool = typer.Option(False, "--force", help="write outputs even when validation fails"),
          check: bool = typer.Option(False, "--check", help="write nothing; exit 1 and list the files "
                                     "in DIR that differ from what the YAML now produces"),
          werror: bool = WerrorOpt,
          emit: List[EmitKind] = typer.Option(
              [], "--emit", help="also write Jailhouse-style C sources (c) or linkable ELF "
                                 "objects (elf); repeatable"),
          target: Optional[ElfTarget] = typer.Option(
              None, "--target", help="machine of --emit elf objects (default: the system's arch)"),
          ) -> None:
    """Validate the system(s) and write DIR/<cell>.cell for every cell, plus every
    peer's DIR/<cell>/<link>.cspace and the firmware header DIR/<cell>/partcfg_<cell>.h."""
    from .output import stale_outputs_of, write_outputs
    from .parallel import run_tree
    from .pipeline import build_outputs_of, checked_files_of

    kinds = frozenset(e.value for e in emit)
    machine = target.value if target else None
    # many systems: in shares on every core (None: the serial path, e.g. on any error)
    with _progress("building") as on_progress:
        tree = None if force else run_tree(files, True, kinds, machine, on_progress=on_progress)
    if tree is not None:
        diagnostics, outputs = tree.diagnostics, tree.outputs or {}
    else:
        checked = checked_files_of(files)
        diagnostics = checked.diagnostics
    failed = _failed(diagnostics, werror)
    if failed and (check or not force):
        _print_diagnostics(diagnostics)
        typer.echo("nothing written" + ("" if check else " (use --force to write anyway)"), err=True)
        raise typer.Exit(EXIT_INVALID)
    if tree is None:
        try:
            outputs = build_outputs_of(checked, kinds, machine)
        except ConfigError as exc:  # --force past errors, but the format cannot hold a value
            _print_diagnostics(sorted_diagnostics(diagnostics + exc.diagnostics))
            typer.echo("nothing written", err=True)
            raise typer.Exit(EXIT_INVALID)
    if check:
        if diagnostics:
            _print_diagnostics(diagnostics)
        stale = stale_outputs_of(output, outputs)
        for rel, why in stale:
            typer.echo(f"stale: {output / rel} ({why})")
        if stale:
            typer.echo(f"{len(stale)} file{'s' if len(stale) != 1 else ''} out of date in {output}; "
                       f"rebuild with: partcfg build ... -o {output}", err=True)
            raise typer.Exit(EXIT_INVALID)
        typer.echo(f"{len(outputs)} file{'s' if len(outputs) != 1 else ''} up to date in {output}", err=True)
        raise typer.Exit(EXIT_OK)
    written = write_outputs(output, outputs)
    if diagnostics:
        _print_diagnostics(diagnostics)
    typer.echo(f"wrote {len(written)} file{'s' if len(written) != 1 else ''} to {output}", err=True)
    raise typer.Exit(EXIT_INVALID if failed else EXIT_OK)


@app.command()
@_guarded
def check(files: List[Path] = FilesArg,
          format: ReportFormat = typer.Option(ReportFormat.text, "--format",
                                              help="report format: text, json, sarif (code scanning) "
                                                   "or github (workflow annotations)"),
          werror: bool = WerrorOpt,
          inmate: List[str] = typer.Option(
              [], "--inmate", metavar="CELL=FILE",
              help="also check an inmate ELF image against its cell's memory; repeatable"),
          ) -> None:
    """Validate only: report every problem in every file, write nothing."""
    from .parallel import run_tree
    from .pipeline import checked_files_of, inmate_diagnostics_of_specs

    tree = None
    try:
        if not inmate:  # many systems: in shares on every core (None: the serial path)
            with _progress("checking") as on_progress:
                tree = run_tree(files, False, on_progress=on_progress)
        if tree is not None:
            diagnostics = tree.diagnostics
        else:
            checked = checked_files_of(files)
            diagnostics = checked.diagnostics
        if inmate:
            diagnostics = sorted_diagnostics(diagnostics + inmate_diagnostics_of_specs(checked, inmate))
    except InputError as exc:  # still in the format asked for: CI uploads what it gets
        if format is ReportFormat.text:
            raise
        _print_diagnostics(sorted_diagnostics(exc.diagnostics), format, to_stderr=False)
        raise typer.Exit(EXIT_USAGE)
    _print_diagnostics(diagnostics, format, to_stderr=False)
    raise typer.Exit(EXIT_INVALID if _failed(diagnostics, werror) else EXIT_OK)


@app.command()
@_guarded
def show(files: List[Path] = FilesArg,
         cspace: bool = typer.Option(False, "--cspace",
                                     help="print each peer's decoded PCI config space instead"),
         ) -> None:
    """Print the resolved system: regions per cell with their origin, and every link."""
    from .layout import layout_of_cell, layout_of_system
    from .pipeline import checked_files_of
    from .render.show import cell_text_of, system_text_of

    checked = checked_files_of(files)
    if cspace:
        from .render.cspace import cspace_texts_of
        texts = [t for s in checked.assembly.systems for t in cspace_texts_of(layout_of_system(s))]
    else:
        texts = [system_text_of(layout_of_system(s)) for s in checked.assembly.systems]
        texts += [cell_text_of(layout_of_cell(None, c)) for c in checked.assembly.standalone]
    typer.echo("\n\n".join(texts))
    if checked.diagnostics:
        _print_diagnostics(checked.diagnostics)
    raise typer.Exit(EXIT_INVALID if has_errors(checked.diagnostics) else EXIT_OK)


@app.command("import")
@_guarded
def import_(files: List[Path] = typer.Argument(..., help="Jailhouse .cell blobs or ELF objects compiled from C configs",
                                               show_default=False),
            output: Path = typer.Option(Path("."), "-o", "--output", help="output directory"),
            ) -> None:
    """Turn existing configuration blobs into partcfg YAML (one file per input).
    Blobs of one system imported together keep their links and their system."""
    from .output import write_outputs
    from .pipeline import imported_files_of

    imported = imported_files_of(files)
    written = write_outputs(output, imported.outputs)
    if imported.diagnostics:
        _print_diagnostics(imported.diagnostics)
    typer.echo(f"wrote {len(written)} file{'s' if len(written) != 1 else ''} to {output}", err=True)
    decoded_all = len(written) == len(files)
    raise typer.Exit(EXIT_OK if decoded_all else EXIT_USAGE)


class DiffFormat(str, Enum):
    text = "text"
    json = "json"


@app.command()
@_guarded
def schema() -> None:
    """Print the JSON Schema of the YAML input format (for editors and YAML language servers)."""
    from .schema import schema_text

    typer.echo(schema_text(), nl=False)
    raise typer.Exit(EXIT_OK)


@app.command("map")
@_guarded
def map_(files: List[Path] = FilesArg,
         output: Path = typer.Option(..., "-o", "--output", help="the picture to write: *.html or *.svg"),
         ) -> None:
    """Draw the memory map of every system: one lane per cell, links across their peers."""
    from .output import write_outputs
    from .pipeline import checked_files_of
    from .render.map import map_html_of, map_svg_of, standalone_map_of, system_map_of

    suffix = output.suffix.lower()
    if suffix not in (".html", ".htm", ".svg"):
        typer.echo(f"partcfg map: cannot tell the picture's format from {output.name!r}: "
                   "name it *.html or *.svg", err=True)
        raise typer.Exit(EXIT_USAGE)
    checked = checked_files_of(files)
    maps = [system_map_of(s) for s in checked.assembly.systems]
    if checked.assembly.standalone:
        maps.append(standalone_map_of(checked.assembly.standalone))
    if checked.diagnostics:
        _print_diagnostics(checked.diagnostics)
    if not maps:
        typer.echo("nothing to draw: no system or cell could be read", err=True)
        raise typer.Exit(EXIT_INVALID)
    from .names import printable_path_of
    sources = [printable_path_of(str(f)) for f in checked.files]
    text = map_svg_of(maps, sources) if suffix == ".svg" else map_html_of(maps, sources)
    write_outputs(output.parent, {output.name: text.encode("utf-8")})
    typer.echo(f"wrote {output} ({len(maps)} map{'s' if len(maps) != 1 else ''}, "
               f"{sum(m.region_count for m in maps)} regions)", err=True)
    raise typer.Exit(EXIT_INVALID if has_errors(checked.diagnostics) else EXIT_OK)


@app.command()
@_guarded
def diff(old: Path = typer.Argument(..., help="old version: YAML file, .cell blob, or a directory of either",
                                    show_default=False),
         new: Path = typer.Argument(..., help="new version: YAML file, .cell blob, or a directory of either",
                                    show_default=False),
         format: DiffFormat = typer.Option(DiffFormat.text, "--format", help="text or json"),
         ) -> None:
    """Print what changed in meaning between two versions (exit 0: nothing, 1: changed)."""
    from .diagnostics import Severity
    from .diff import changes_of, side_of
    from .render.diff import diff_json_of, diff_text_of

    before, after = side_of(old), side_of(new)
    notes = [d for side in (before, after) for d in side.diagnostics if d.severity is not Severity.INFO]
    if notes:  # e.g. a blob that imports only inexactly: the diff may miss what was lost
        _print_diagnostics(sorted_diagnostics(notes))
    changes = changes_of(before.assembly, after.assembly)
    if format is DiffFormat.json:
        typer.echo(diff_json_of(changes, str(old), str(new)), nl=False)
    else:
        typer.echo(diff_text_of(changes), nl=False)
    raise typer.Exit(EXIT_INVALID if changes else EXIT_OK)


@app.command()
@_guarded
def run(build_dir: Path = typer.Argument(..., help="the directory `partcfg build` wrote",
                                         show_default=False),
        bench: bool = typer.Option(False, "--bench", help="measure message rates, 64 KiB "
                                   "throughput and round-trip time between two cells per link"),
        seconds: float = typer.Option(1.0, "--seconds", min=0.05, max=3600.0,
                                      help="duration of the timed traffic (of each figure "
                                      "with --bench)"),
        ) -> None:
    """Run the built system(s): one process per cell, a supervisor as the hypervisor, and
    exercise every link; exit 0 only when everything held."""
    from .runtime.launcher import run_build_dir
    from .runtime.report import text_of_run

    report = run_build_dir(build_dir, seconds=seconds, bench=bench)
    typer.echo(text_of_run(report))
    raise typer.Exit(EXIT_OK if report.held else EXIT_INVALID)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"partcfg {__version__}")
        raise typer.Exit(EXIT_OK)


@app.callback()
def _main(version: Optional[bool] = typer.Option(None, "--version", callback=_version,
                                                 is_eager=True, help="print the version")) -> None:
    """partcfg: cells and shared-memory links in YAML, checked before anything boots."""


def main() -> None:
    for stream in (sys.stdout, sys.stderr):  # file names that are not UTF-8 print as \udcXX
        with contextlib.suppress(AttributeError, ValueError):
            stream.reconfigure(errors="backslashreplace")
    try:
        app()
    except KeyboardInterrupt:  # pragma: no cover - outside any command
        sys.exit(130)


if __name__ == "__main__":
    main()
