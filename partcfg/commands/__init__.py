"""Orchestration: one entry per command, run by the CLI; returns data, never prints.

``pipeline`` (files -> load -> model -> check -> layout -> render), ``parallel`` (the same
for big trees on every core) and ``atomic_write`` (outputs written atomically).
"""
