"""Runtime: starting the supervisor and cell processes with *this* partcfg.

``python -m partcfg...`` would put the working directory first on ``sys.path``; run from
a source checkout after ``pip install .``, the child would import the checkout, which has
no compiled ring core, instead of the installed package. The children therefore put the
directory that holds the running ``partcfg`` package first themselves.
"""

from __future__ import annotations

import sys
from pathlib import Path

PACKAGE_PARENT = str(Path(__file__).resolve().parent.parent.parent)


def module_command(module: str, *args: str) -> list[str]:
    """The argv that runs ``module`` as ``__main__`` with ``args`` in a new interpreter."""
    bootstrap = (f"import runpy, sys; sys.path.insert(0, {PACKAGE_PARENT!r}); "
                 f"runpy.run_module({module!r}, run_name='__main__', alter_sys=True)")
    return [sys.executable, "-c", bootstrap, *args]
