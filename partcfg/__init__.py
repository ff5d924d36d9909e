"""partcfg: declarative, validated configurations for statically partitioned systems.

Data flows one way:
    load (YAML + positions, or blob bytes) -> model (pydantic) -> validate (whole system)
    -> layout (resolved arrays and indices) -> render (bytes / text).
Each layer imports only the ones before it; ``diagnostics``, ``units``, ``names`` and
``formats`` are foundations every layer may use. Only ``cli`` prints.
"""

__version__ = "0.1.0"
