"""Command layer, above every other layer and below the CLI: one module per command,
each with an options dataclass, a result dataclass carrying the exit code and the data to
print, and one function that owns the command's orchestration; nothing here prints.

``build``, ``check``, ``show``, ``import_``, ``diff``, ``map``, ``schema``, ``run`` and
``board`` (``init``, ``collect``) are the commands; what they share: ``pipeline`` (files ->
load -> model -> check -> layout -> render), ``parallel`` (the same for big trees on
every core), ``atomic_write`` (outputs written atomically), ``outcome`` (exit codes,
triage of findings) and ``choices`` (option choices declared once).
"""
