"""Render layer: a configuration blob as a linkable ELF object (``partcfg build --emit elf``).

A boot loader or firmware image that carries a cell's configuration can link this
object instead of converting the ``.cell`` file itself. The object is relocatable ELF64,
little-endian, for x86-64 or AArch64 (the blob is architecture-independent; only the
machine field differs so the target's linker accepts it), with no relocations and these
sections: the blob and its size in ``.rodata`` (read-only data, 8-byte aligned), an
empty ``.note.GNU-stack`` (the object needs no executable stack), a symbol table and
the string tables. Two global symbols::

    extern const unsigned char <cell>_config[];    /* the blob */
    extern const uint64_t <cell>_config_size;      /* its length in bytes */

The ELF structures are declared with ``binfmt`` like every other binary format here; the
output depends only on its inputs (no timestamps, no host paths).
"""

from __future__ import annotations

from ..formats.binfmt import U8, U16, U32, U64, Chars, Field, Struct

ELF64_EHDR = Struct("Elf64_Ehdr", [
    Field("e_ident", Chars(16)),
    Field("e_type", U16), Field("e_machine", U16), Field("e_version", U32),
    Field("e_entry", U64), Field("e_phoff", U64), Field("e_shoff", U64),
    Field("e_flags", U32), Field("e_ehsize", U16), Field("e_phentsize", U16),
    Field("e_phnum", U16), Field("e_shentsize", U16), Field("e_shnum", U16),
    Field("e_shstrndx", U16),
])
ELF64_SHDR = Struct("Elf64_Shdr", [
    Field("sh_name", U32), Field("sh_type", U32), Field("sh_flags", U64),
    Field("sh_addr", U64), Field("sh_offset", U64), Field("sh_size", U64),
    Field("sh_link", U32), Field("sh_info", U32), Field("sh_addralign", U64),
    Field("sh_entsize", U64),
])
ELF64_SYM = Struct("Elf64_Sym", [
    Field("st_name", U32), Field("st_info", U8), Field("st_other", U8),
    Field("st_shndx", U16), Field("st_value", U64), Field("st_size", U64),
])

ELF_MAGIC = b"\x7fELF"
ELFCLASS64, ELFDATA2LSB, EV_CURRENT, ELFOSABI_NONE = 2, 1, 1, 0
ET_REL = 1
SHT_PROGBITS, SHT_SYMTAB, SHT_STRTAB = 1, 2, 3
SHF_ALLOC = 0x2
STB_LOCAL, STB_GLOBAL = 0, 1
STT_OBJECT, STT_SECTION = 1, 3

# --target value -> ELF machine
MACHINES = {"x86-64": 62, "aarch64": 183}
# architecture (jailhouse.ARCHITECTURES value) -> default --target; 32-bit arm has none,
# because the object is ELF64
DEFAULT_TARGETS = {0: "x86-64", 2: "aarch64"}


def _align(value: int, to: int) -> int:
    return (value + to - 1) // to * to


class _StringTable:
    def __init__(self) -> None:
        self.data = bytearray(b"\0")

    def add(self, name: str) -> int:
        at = len(self.data)
        self.data += name.encode("ascii") + b"\0"
        return at


def config_symbols_of(symbol_base: str) -> tuple[str, str]:
    """The two global symbols of an object: the blob and its size."""
    return f"{symbol_base}_config", f"{symbol_base}_config_size"


def elf_object_of(blob: bytes, symbol_base: str, target: str) -> bytes:
    """A relocatable ELF64 LE object holding ``blob`` as ``<symbol_base>_config`` and
    its length as the u64 ``<symbol_base>_config_size``. ``symbol_base`` must already be
    a C identifier; ``target`` is a key of :data:`MACHINES`."""
    machine = MACHINES[target]
    data_symbol, size_symbol = config_symbols_of(symbol_base)
    size_at = _align(len(blob), 8)
    rodata = blob + bytes(size_at - len(blob)) + len(blob).to_bytes(8, "little")

    shstrtab, strtab = _StringTable(), _StringTable()
    symbols = [
        {},  # the null symbol
        {"st_info": STB_LOCAL << 4 | STT_SECTION, "st_shndx": 1},
        {"st_name": strtab.add(data_symbol), "st_info": STB_GLOBAL << 4 | STT_OBJECT,
         "st_shndx": 1, "st_value": 0, "st_size": len(blob)},
        {"st_name": strtab.add(size_symbol), "st_info": STB_GLOBAL << 4 | STT_OBJECT,
         "st_shndx": 1, "st_value": size_at, "st_size": 8},
    ]
    first_global = 2
    symtab = ELF64_SYM.pack_many(symbols)

    # (name, header fields, contents); the offsets are filled in below
    sections = [
        (".rodata", {"sh_type": SHT_PROGBITS, "sh_flags": SHF_ALLOC, "sh_addralign": 8}, rodata),
        (".note.GNU-stack", {"sh_type": SHT_PROGBITS, "sh_addralign": 1}, b""),
        (".symtab", {"sh_type": SHT_SYMTAB, "sh_link": 4, "sh_info": first_global,
                     "sh_addralign": 8, "sh_entsize": ELF64_SYM.size}, symtab),
        (".strtab", {"sh_type": SHT_STRTAB, "sh_addralign": 1}, None),
        (".shstrtab", {"sh_type": SHT_STRTAB, "sh_addralign": 1}, None),
    ]
    names = [shstrtab.add(name) for name, _, _ in sections]
    contents = {".strtab": bytes(strtab.data), ".shstrtab": bytes(shstrtab.data)}

    body = bytearray()
    headers = [ELF64_SHDR.pack({})]
    at = ELF64_EHDR.size
    for (name, fields, data), name_at in zip(sections, names):
        data = contents.get(name, data)
        start = _align(at, fields["sh_addralign"])
        body += bytes(start - at) + data
        at = start + len(data)
        headers.append(ELF64_SHDR.pack({**fields, "sh_name": name_at, "sh_offset": start,
                                         "sh_size": len(data)}))
    shoff = _align(at, 8)
    body += bytes(shoff - at)
    ident = ELF_MAGIC + bytes([ELFCLASS64, ELFDATA2LSB, EV_CURRENT, ELFOSABI_NONE])
    header = ELF64_EHDR.pack({
        "e_ident": ident, "e_type": ET_REL, "e_machine": machine, "e_version": EV_CURRENT,
        "e_shoff": shoff, "e_ehsize": ELF64_EHDR.size, "e_shentsize": ELF64_SHDR.size,
        "e_shnum": len(headers), "e_shstrndx": len(headers) - 1,
    })
    return header + bytes(body) + b"".join(headers)
