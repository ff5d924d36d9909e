"""Render layer: laid-out systems -> output bytes and text, one module per output kind.

The last step of the flow; renderers import the layers before them and never print.
"""

#: the extra output kinds ``build --emit`` writes (C sources, ELF objects); the CLI's choices
EMIT_KINDS = ("c", "elf")
