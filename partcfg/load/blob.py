"""Load layer for binary blobs: Jailhouse revision-14 ``.cell`` bytes -> plain dicts.

The blob counterpart of ``load`` (first step of the flow; imports only the
foundations). A blob is decoded with the ``jailhouse`` struct tables into a
:class:`ParsedBlob`: the system header (system configs only), the cell descriptor, the
CPU bitmap and one list of field dicts per payload array. Nothing is interpreted here;
turning the arrays into partcfg's model is ``lift.blob_to_yaml``'s job.

Any byte string either decodes or raises :class:`BlobError` with one clear diagnostic
(wrong signature, revision or architecture, truncation, a count the file cannot hold);
bytes after the last array only produce a warning. Sizes are checked against the file
length before anything is decoded, so a count of 0xffffffff costs nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..formats import jailhouse as jh
from ..diagnostics import BlobError, Diagnostic, Location, error, warning
from .files import MAX_BLOB_BYTES, file_bytes_of

SYSTEM_KIND, CELL_KIND = "system", "cell"

# ParsedCell attribute of each payload array, in file order (pairs with jh.PAYLOAD_ARRAYS).
ARRAY_ATTRIBUTES = ("memory", "cache", "irqchips", "pio", "pci_devices", "pci_caps",
                    "stream_ids")


@dataclass
class ParsedCell:
    """A cell descriptor and its payload, decoded field by field (Jailhouse field names)."""
    descriptor: dict
    cpu_set: bytes
    memory: list[dict] = field(default_factory=list)
    cache: list[dict] = field(default_factory=list)
    irqchips: list[dict] = field(default_factory=list)
    pio: list[dict] = field(default_factory=list)
    pci_devices: list[dict] = field(default_factory=list)
    pci_caps: list[dict] = field(default_factory=list)
    stream_ids: list[dict] = field(default_factory=list)

    @property
    def name(self) -> bytes:
        """The raw name field without its NUL padding."""
        return bytes(self.descriptor.get("name", b"")).rstrip(b"\0")


@dataclass
class ParsedBlob:
    """One decoded ``.cell`` file."""
    file: str
    kind: str                      # "system" or "cell"
    arch: int                      # jh.ARCHITECTURES value
    header: dict | None            # the system header (system configs only)
    cell: ParsedCell
    trailing: int = 0              # bytes after the last array (ignored)
    diagnostics: list[Diagnostic] = field(default_factory=list)


MAX_CPU_SET_BYTES = 8192   # 65536 CPUs, as YAML allows; every set bit becomes a CPU number to check and print


def _fail(rule: str, message: str, file: str, hint: str | None = None) -> BlobError:
    return BlobError([error(rule, message, Location(file), hint=hint)])


def parsed_blob_of(data: bytes, file: str) -> ParsedBlob:
    """Decode one blob; raises BlobError (and nothing else) when it cannot be decoded."""
    data = bytes(data)
    found = len(data)
    signature = data[:5]
    if signature == jh.SYSTEM_SIGNATURE:
        kind, header_size = SYSTEM_KIND, jh.SYSTEM_HEADER.size
    elif signature == jh.CELL_SIGNATURE:
        kind, header_size = CELL_KIND, 0
    elif found < 5 and (jh.SYSTEM_SIGNATURE.startswith(signature)
                        or jh.CELL_SIGNATURE.startswith(signature)):
        raise _fail("BLOB-TRUNCATED", f"truncated: expected at least {jh.CELL_DESC.size} bytes, "
                    f"found {found}", file)
    else:
        raise _fail("BLOB-SIGNATURE",
                    f"not a Jailhouse configuration: signature {signature!r}, expected "
                    f"{jh.SYSTEM_SIGNATURE.decode()} (system) or {jh.CELL_SIGNATURE.decode()} (cell)",
                    file, hint="partcfg import reads compiled .cell files")
    fixed = header_size + jh.CELL_DESC.size
    if found < 8:
        raise _fail("BLOB-TRUNCATED", f"truncated: expected at least {fixed} bytes, found {found}",
                    file)
    revision = int.from_bytes(data[6:8], "little")
    if revision != jh.REVISION:
        raise _fail("BLOB-REVISION", f"configuration revision {revision}, but partcfg reads "
                    f"revision {jh.REVISION}", file,
                    hint="rebuild the file with a Jailhouse release that uses revision 14")
    arch = data[5]
    if arch not in jh.ARCHITECTURES.values():
        raise _fail("BLOB-ARCH", f"unknown architecture {arch} (known: "
                    + ", ".join(f"{v} {k}" for k, v in jh.ARCHITECTURES.items()) + ")", file)
    if found < fixed:
        raise _fail("BLOB-TRUNCATED", f"truncated: expected at least {fixed} bytes, found {found}",
                    file)
    header = jh.SYSTEM_HEADER.unpack(data) if kind == SYSTEM_KIND else None
    descriptor = jh.CELL_DESC.unpack(data, header_size)

    # Sizes first, against the file length: a huge count must not allocate anything.
    sizes = [("cpu_set_size", descriptor["cpu_set_size"], 1)]
    sizes += [(count, descriptor[count], struct.size) for count, struct in jh.PAYLOAD_ARRAYS]
    for name, count, item_size in sizes:
        if count * item_size > found:
            raise _fail("BLOB-COUNT", f"{name} is {count} ({count * item_size} bytes), more "
                        f"than the whole file ({found} bytes)", file,
                        hint="the descriptor is corrupt or the file is not a revision-14 config")
    if descriptor["cpu_set_size"] > MAX_CPU_SET_BYTES:
        raise _fail("BLOB-CPU-SET", f"cpu_set_size is {descriptor['cpu_set_size']} bytes "
                    f"({descriptor['cpu_set_size'] * 8} CPUs); partcfg reads CPU sets of at most "
                    f"{MAX_CPU_SET_BYTES} bytes ({MAX_CPU_SET_BYTES * 8} CPUs)", file,
                    hint="the descriptor is corrupt, or the machine is larger than partcfg supports")
    expected = fixed + sum(count * item_size for _, count, item_size in sizes)
    if found < expected:
        raise _fail("BLOB-TRUNCATED", f"truncated: expected {expected} bytes, found {found}", file)

    at = fixed
    cpu_set = data[at:at + descriptor["cpu_set_size"]]
    at += descriptor["cpu_set_size"]
    arrays = {}
    for attribute, (count, struct) in zip(ARRAY_ATTRIBUTES, jh.PAYLOAD_ARRAYS):
        arrays[attribute] = struct.unpack_many(data, at, descriptor[count])
        at += descriptor[count] * struct.size
    diagnostics = []
    trailing = found - expected
    if trailing:
        diagnostics.append(warning(
            "BLOB-TRAILING", f"{trailing} trailing byte{'s' if trailing != 1 else ''} after the "
            f"last array (offset {expected:#x}) ignored", Location(file),
            hint="a declared-but-uncounted array? the descriptor's counts do not cover them"))
    return ParsedBlob(file, kind, arch, header, ParsedCell(descriptor, cpu_set, **arrays),
                      trailing, diagnostics)


def parsed_blob_file(path: str | Path) -> ParsedBlob:
    """Read and decode a blob file; unreadable files raise InputError, bad bytes BlobError."""
    return parsed_blob_of(file_bytes_of(path, MAX_BLOB_BYTES, "configuration blob"), str(path))


def blob_bytes_of(blob: ParsedBlob) -> bytes:
    """The inverse of :func:`parsed_blob_of` (without trailing bytes): header, descriptor,
    CPU set and arrays packed as they stand (the descriptor's counts are not recomputed)."""
    cell = blob.cell
    parts = [jh.SYSTEM_HEADER.pack(blob.header)] if blob.kind == SYSTEM_KIND else []
    parts.append(jh.CELL_DESC.pack(cell.descriptor))
    parts.append(bytes(cell.cpu_set))
    for attribute, (_, struct) in zip(ARRAY_ATTRIBUTES, jh.PAYLOAD_ARRAYS):
        parts.append(struct.pack_many(getattr(cell, attribute)))
    return b"".join(parts)
