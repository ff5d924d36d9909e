"""Foundations: the binary formats partcfg reads and writes, each struct declared once.

``binfmt`` (declarative little-endian structs), ``jailhouse`` (the revision-14 config
format), ``ivshmem`` (the ivshmem v2 PCI device) and ``vocabulary`` (what each flag and
type word means). Every layer may import these; they import no layer.
"""
