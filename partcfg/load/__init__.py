"""Load layer, the first step of the flow: input files -> plain data with positions.

``yaml_source`` (YAML text with the position of every node), ``blob`` (Jailhouse
``.cell`` bytes), ``elf`` (the configuration blob inside a compiled C config),
``files`` (reading any input, bounded, errors typed) and ``inputs`` (the one input reader
every command uses: paths -> YAML files, blobs, ELF objects, by suffix and magic).
"""
