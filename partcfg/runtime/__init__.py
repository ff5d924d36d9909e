"""The bundled runtime (``partcfg run BUILD_DIR``): built artifacts in, processes out.

Reads what ``partcfg build`` wrote (``.cell`` blobs and ``<cell>/<link>.cspace``
configuration-space images), never YAML, and runs every system in it: one OS process per
cell, with memory mapped from the blobs and their permissions applied by the kernel (to
partcfg's own cell code; not a sandbox for hostile code), and
a supervisor process per system standing in for the hypervisor. Flow:

    builddir (blobs -> systems, links by BDF) -> plan (sections, expected access)
    -> launcher (CLI side) -> supervisor (cell_processes: memory files, start, end;
       event_loop: wake-ups, registers; exercise_phases: exercises, verdicts)
    -> cell processes (mapping, discovery like a guest driver, exercises) -> report

``_ring`` is the compiled core (rings, memory primitives). This package imports nothing
heavy at import time: cell processes start from it.
"""

from __future__ import annotations


def __getattr__(name: str):
    if name == "run_build_dir":
        from . import launcher
        return getattr(launcher, name)
    raise AttributeError(name)
