"""The layering of the package, read from its sources (AST, nothing imported).

Data flows one way: foundations -> load -> model -> check (and lift, board) -> layout
-> semantic_diff -> render; the runtime beside them; the commands above all of these and
the CLI on top. A module may import its own package, the foundations and the layers
before it, never one after it. The runtime reads built
artifacts only (blobs through ``load.blob``, never YAML, models or checks). Only the CLI
prints.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "partcfg"

# rank of every top-level part of the package; a part imports only lower ranks
RANKS = {
    "partcfg": 0, "diagnostics": 0, "units": 0, "names": 0, "gc_pause": 0, "formats": 0,
    "wording": 0,
    "load": 1,
    "model": 2,
    "check": 3, "lift": 3, "board": 3,
    "layout": 4,
    "semantic_diff": 5,
    "render": 6,
    "runtime": 7,
    "commands": 8,
    "cli": 9,
}
FOUNDATION = 0
# what the runtime may use: the foundations and the blob reader (built artifacts only)
RUNTIME_MAY_IMPORT = {"partcfg", "diagnostics", "units", "names", "formats", "wording", "load.blob",
                      "load.files"}


def _modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        if is_package:
            parts = parts[:-1]
        yield path, parts, is_package


def imports_of(path: Path, parts: list[str], is_package: bool) -> set[str]:
    """Every partcfg module a source imports, as dotted names without ``partcfg.``."""
    package = parts if is_package else parts[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[:len(package) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            if module == "partcfg" or module.startswith("partcfg."):
                names = [a.name for a in node.names] if not node.module else [""]
                for name in names:
                    found.add(".".join(p for p in (module, name) if p))
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("partcfg"))
    return {m.removeprefix("partcfg.") if m != "partcfg" else "partcfg" for m in found}


def _part(dotted: str) -> str:
    return dotted.split(".")[0]


def layering_faults(sources) -> list[str]:
    faults = []
    for path, parts, is_package in sources:
        own = parts[1] if len(parts) > 1 else "partcfg"
        own_rank = RANKS[own]
        for target in sorted(imports_of(path, parts, is_package)):
            if _part(target) not in RANKS:  # a name from partcfg/__init__.py (__version__)
                target = "partcfg"
            part = _part(target)
            if part == own:
                continue
            rank = RANKS[part]
            where = f"{'/'.join(parts)}: imports {target}"
            if own_rank == FOUNDATION and rank > FOUNDATION:
                faults.append(f"{where} (a foundation imports a layer)")
            elif own == "runtime" and not any(target == m or target.startswith(m + ".")
                                              for m in RUNTIME_MAY_IMPORT):
                faults.append(f"{where} (the runtime reads built artifacts, not the YAML side)")
            elif rank >= own_rank and own_rank != FOUNDATION:
                faults.append(f"{where} (rank {rank} >= own rank {own_rank})")
    return faults


def printing_calls(path: Path) -> list[str]:
    """print(), typer.echo/secho, click.echo and sys.stdout/stderr writes in one source."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if isinstance(func, ast.Name) and func.id == "print":
            found.append(f"{path.name}:{node.lineno}: print")
        elif isinstance(func, ast.Attribute):
            owner = ast.unparse(func.value)
            if func.attr in ("echo", "secho") and owner in ("typer", "click"):
                found.append(f"{path.name}:{node.lineno}: {owner}.{func.attr}")
            elif func.attr == "write" and owner in ("sys.stdout", "sys.stderr",
                                                     "sys.stdout.buffer", "sys.stderr.buffer"):
                found.append(f"{path.name}:{node.lineno}: {owner}.write")
    return found


def test_every_part_of_the_package_has_a_rank():
    parts = {(p[1] if len(p) > 1 else "partcfg") for _, p, _ in _modules()}
    assert parts <= set(RANKS), sorted(parts - set(RANKS))


def test_no_module_imports_a_later_layer():
    assert layering_faults(_modules()) == []


def test_only_the_cli_prints():
    found = [hit for path, parts, _ in _modules() if parts != ["partcfg", "cli"]
             for hit in printing_calls(path)]
    assert found == []


# --- the checks above can fail: planted sources ---------------------------------------------

@pytest.mark.parametrize("where, source, expected", [
    (["partcfg", "units"], "from .model.system import Cell\n", "a foundation imports a layer"),
    (["partcfg", "formats", "ivshmem"], "from ..check import validate\n",
     "a foundation imports a layer"),
    (["partcfg", "model", "system"], "from ..layout import layout_of_system\n", "rank 4 >= own rank 2"),
    (["partcfg", "load", "blob"], "from partcfg.render.blob import x\n", "rank 6 >= own rank 1"),
    (["partcfg", "check", "validate"], "from ..lift import blob_to_yaml\n", "rank 3 >= own rank 3"),
    (["partcfg", "runtime", "plan"], "from ..load.yaml_source import load_yaml_file\n",
     "the runtime reads built artifacts"),
    (["partcfg", "runtime", "plan"], "from ..model.system import Cell\n",
     "the runtime reads built artifacts"),
    (["partcfg", "runtime", "launcher"], "from ..commands.run import run_command\n",
     "the runtime reads built artifacts"),
    (["partcfg", "commands", "build"], "from ..cli import app\n", "rank 9 >= own rank 8"),
    (["partcfg", "render", "map"], "from ..commands.atomic_write import write_outputs\n",
     "rank 8 >= own rank 6"),
])
def test_a_planted_upward_import_is_found(tmp_path, where, source, expected):
    path = tmp_path / "planted.py"
    path.write_text(source)
    faults = layering_faults([(path, where, False)])
    assert len(faults) == 1 and expected in faults[0], faults


def test_a_planted_allowed_import_is_not_a_fault(tmp_path):
    path = tmp_path / "planted.py"
    path.write_text("from ..load.blob import parsed_blob_of\nfrom .. import __version__\n")
    assert layering_faults([(path, ["partcfg", "runtime", "plan"], False)]) == []
    path.write_text("from ..model.system import Cell\nfrom ..formats import jailhouse as jh\n")
    assert layering_faults([(path, ["partcfg", "layout"], False)]) == []


@pytest.mark.parametrize("source", ["print('x')\n", "import typer\ntyper.echo('x')\n",
                                    "import sys\nsys.stdout.write('x')\n",
                                    "import sys\nsys.stderr.buffer.write(b'x')\n"])
def test_a_planted_print_is_found(tmp_path, source):
    path = tmp_path / "planted.py"
    path.write_text(source)
    assert len(printing_calls(path)) == 1
