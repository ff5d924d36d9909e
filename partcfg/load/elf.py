"""Load layer: the configuration blob inside an ELF object compiled from a C config.

Jailhouse-style C configurations (``struct { ... } config = { ... };``) compile to an
object whose data section holds the blob. :func:`blob_bytes_of_elf` finds it through the
symbol table with pyelftools: the symbol named ``config`` (Jailhouse's convention),
else partcfg's own ``<cell>_config`` (objects from ``build --emit elf``), else the only
data object; it reads the symbol's bytes from ``.data`` or ``.rodata``. The bytes then
go through the ordinary blob reader, so ``import foo.o`` behaves like ``import foo.cell``.

Everything that can go wrong raises :class:`BlobError` with one clear diagnostic
(rule ``ELF-*``): not ELF, malformed, big-endian, no symbol table, no or several
candidate symbols, data in ``.bss``, relocations inside the configuration.
"""

from __future__ import annotations

import io

from ..diagnostics import BlobError, Location, error

ELF_MAGIC = b"\x7fELF"
_UNDEFINED_SECTIONS = ("SHN_UNDEF", "SHN_ABS", "SHN_COMMON")


def _fail(rule: str, message: str, file: str, hint: str | None = None) -> BlobError:
    return BlobError([error(rule, message, Location(file), hint=hint)])


def _data_symbols(elf) -> list:
    """Defined data objects with a size, in symbol-table order."""
    found = []
    for section in elf.iter_sections():
        if section["sh_type"] not in ("SHT_SYMTAB", "SHT_DYNSYM"):
            continue
        for sym in section.iter_symbols():
            if sym["st_info"]["type"] == "STT_OBJECT" and sym["st_size"] > 0 \
                    and sym["st_shndx"] not in _UNDEFINED_SECTIONS:
                found.append(sym)
    return found


def _config_symbol(elf, file: str):
    symbols = _data_symbols(elf)
    by_name: dict[str, list] = {}
    for sym in symbols:
        by_name.setdefault(sym.name, []).append(sym)
    if "config" in by_name:
        return by_name["config"][0]
    ours = [s for s in symbols if s.name.endswith("_config")
            and f"{s.name}_size" in by_name]
    if len(ours) == 1:
        return ours[0]
    if len(symbols) == 1:
        return symbols[0]
    if not symbols:
        raise _fail("ELF-NO-CONFIG", "the object defines no data symbol, so it holds no "
                    "configuration", file,
                    hint="compile the C configuration (struct {...} config = {...};) with "
                         "gcc -c, and do not strip the object")
    names = ", ".join(sorted({s.name for s in symbols}))
    raise _fail("ELF-AMBIGUOUS", f"no symbol named 'config' and several data symbols "
                f"({names}): cannot tell which one is the configuration", file,
                hint="name the configuration variable 'config', as Jailhouse's configs do")


def _relocations_into(elf, section_index: int, start: int, end: int) -> int:
    count = 0
    for section in elf.iter_sections():
        if section["sh_type"] in ("SHT_REL", "SHT_RELA") and section["sh_info"] == section_index:
            count += sum(1 for r in section.iter_relocations() if start <= r["r_offset"] < end)
    return count


def _check_extent(data: bytes, file: str) -> None:
    """A clear message for the common damage, a truncated file (pyelftools' own would
    speak of offsets and EOF)."""
    import struct
    wide = len(data) > 4 and data[4] == 2
    header_size = 64 if wide else 52
    if len(data) < header_size:
        raise _fail("ELF-TRUNCATED", f"truncated ELF object: {len(data)} bytes, the ELF "
                    f"header alone needs {header_size}", file)
    if wide:
        shoff, = struct.unpack_from("<Q", data, 0x28)
        shentsize, shnum = struct.unpack_from("<HH", data, 0x3A)
    else:
        shoff, = struct.unpack_from("<I", data, 0x20)
        shentsize, shnum = struct.unpack_from("<HH", data, 0x2E)
    end = shoff + shentsize * shnum
    if end > len(data):
        raise _fail("ELF-TRUNCATED", f"truncated ELF object: its section headers end at "
                    f"byte {end}, the file has {len(data)}", file)


def blob_bytes_of_elf(data: bytes, file: str) -> bytes:
    """The configuration bytes held by an ELF object; BlobError when there are none."""
    from elftools.common.exceptions import ELFError
    from elftools.elf.elffile import ELFFile

    data = bytes(data)
    if not data.startswith(ELF_MAGIC):
        raise _fail("ELF-NOT-ELF", "not an ELF object (no \\x7fELF magic)", file,
                    hint="import takes .cell blobs or ELF objects compiled from C configs")
    if len(data) > 5 and data[5] == 2:
        raise _fail("ELF-BIG-ENDIAN", "big-endian ELF object: Jailhouse configurations "
                    "are little-endian, so this object cannot hold one", file,
                    hint="compile the configuration for a little-endian target")
    _check_extent(data, file)
    try:
        elf = ELFFile(io.BytesIO(data))
        if elf.get_section_by_name(".symtab") is None and elf.get_section_by_name(".dynsym") is None:
            raise _fail("ELF-NO-SYMBOLS", "the object has no symbol table, so the "
                        "configuration cannot be found", file,
                        hint="use the object as compiled (gcc -c), not a stripped one")
        sym = _config_symbol(elf, file)
        index = sym["st_shndx"]
        section = elf.get_section(index)
        name = section.name
        if section["sh_type"] == "SHT_NOBITS":
            raise _fail("ELF-NO-DATA", f"symbol '{sym.name}' is in {name}, which holds no "
                        "bytes (an uninitialised variable)", file,
                        hint="initialise the configuration struct in the C file")
        start = sym["st_value"] - (section["sh_addr"] if elf["e_type"] != "ET_REL" else 0)
        end = start + sym["st_size"]
        if start < 0 or end > section["sh_size"]:
            raise _fail("ELF-RANGE", f"symbol '{sym.name}' ({sym['st_size']} bytes at "
                        f"{start:#x}) lies outside section {name} ({section['sh_size']} bytes)",
                        file)
        relocated = _relocations_into(elf, index, start, end)
        if relocated:
            raise _fail("ELF-RELOCATIONS", f"the configuration in '{sym.name}' has "
                        f"{relocated} relocation{'s' if relocated != 1 else ''}: it refers "
                        "to other symbols' addresses, which a configuration blob cannot hold",
                        file, hint="use constant values only in the C configuration")
        blob = section.data()[start:end]
    except BlobError:
        raise
    except ELFError as exc:
        raise _fail("ELF-MALFORMED", f"malformed ELF object: {exc}", file) from None
    except Exception as exc:  # noqa: BLE001 - pyelftools reports truncation in many ways
        raise _fail("ELF-MALFORMED", "malformed ELF object: "
                    f"{exc or type(exc).__name__}", file) from None
    if len(blob) != sym["st_size"]:
        raise _fail("ELF-MALFORMED", f"section {name} is truncated: symbol '{sym.name}' "
                    f"needs {sym['st_size']} bytes, {len(blob)} present", file)
    return bytes(blob)
