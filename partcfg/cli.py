"""Command line: the thin shell around the core. The only module that prints and picks
exit codes: 0 ok (or warnings only), 1 invalid configuration, 2 usage or I/O error.
No input of any kind may reach the user as a Python traceback.
"""

from __future__ import annotations

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


@app.command()
@_guarded
def build(files: List[Path] = FilesArg,
          output: Path = typer.Option(Path("build"), "-o", "--output", help="output directory"),
          force: bool = typer.Option(False, "--force", help="write outputs even when validation fails"),
          ) -> None:
    """Validate the system(s) and write DIR/<cell>.cell for every cell."""
    from .output import write_outputs
    from .pipeline import blob_outputs_of, checked_files_of

    checked = checked_files_of(files)
    failed = has_errors(checked.diagnostics)
    if failed and not force:
        _print_diagnostics(checked.diagnostics)
        typer.echo("nothing written (use --force to write anyway)", err=True)
        raise typer.Exit(EXIT_INVALID)
    outputs = blob_outputs_of(checked)
    written = write_outputs(output, outputs)
    if checked.diagnostics:
        _print_diagnostics(checked.diagnostics)
    typer.echo(f"wrote {len(written)} file{'s' if len(written) != 1 else ''} to {output}", err=True)
    raise typer.Exit(EXIT_INVALID if failed else EXIT_OK)


@app.command()
@_guarded
def check(files: List[Path] = FilesArg,
          format: ReportFormat = typer.Option(ReportFormat.text, "--format", help="report format"),
          ) -> None:
    """Validate only: report every problem in every file, write nothing."""
    from .pipeline import checked_files_of

    checked = checked_files_of(files)
    _print_diagnostics(checked.diagnostics, format, to_stderr=False)
    raise typer.Exit(EXIT_INVALID if has_errors(checked.diagnostics) else EXIT_OK)


@app.command()
@_guarded
def show(files: List[Path] = FilesArg) -> None:
    """Print the resolved system: regions per cell with their origin, and every link."""
    from .layout import layout_of_cell, layout_of_system
    from .pipeline import checked_files_of
    from .render.show import cell_text_of, system_text_of

    checked = checked_files_of(files)
    texts = [system_text_of(layout_of_system(s)) for s in checked.assembly.systems]
    texts += [cell_text_of(layout_of_cell(None, c)) for c in checked.assembly.standalone]
    typer.echo("\n\n".join(texts))
    if checked.diagnostics:
        _print_diagnostics(checked.diagnostics)
    raise typer.Exit(EXIT_INVALID if has_errors(checked.diagnostics) else EXIT_OK)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"partcfg {__version__}")
        raise typer.Exit(EXIT_OK)


@app.callback()
def _main(version: Optional[bool] = typer.Option(None, "--version", callback=_version,
                                                 is_eager=True, help="print the version")) -> None:
    """partcfg: cells and shared-memory links in YAML, checked before anything boots."""


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:  # pragma: no cover - outside any command
        sys.exit(130)


if __name__ == "__main__":
    main()
