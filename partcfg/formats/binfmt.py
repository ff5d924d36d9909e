"""Foundation: declarative little-endian binary structs.

One declaration per binary struct drives packing, unpacking, size, field offsets and
the generated C declarations (``render/cdecl.py``). Nothing here hand-counts an offset: sizes and
offsets are sums over the declared fields, and the ``struct`` format strings are built
from the field types, always with an explicit ``<`` (little-endian, no padding).

Values are plain dicts keyed by field name. A field missing from the dict packs as zero
(the Jailhouse convention: a field a source file leaves unset is zero); an unknown key is
an error, so a typo cannot silently vanish.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any, Iterator, Mapping, Sequence


class StructError(ValueError):
    """A value does not fit the declared struct (wrong key, out-of-range number, ...)."""


class FieldType:
    """A type a struct field can have. Subclasses know their size and how to (un)flatten."""

    size: int
    fmt: str  # fragment of a ``struct`` format string (without the byte-order prefix)
    c_type: str

    def zero(self) -> Any:
        raise NotImplementedError

    def flatten(self, value: Any, out: list, path: str) -> None:
        raise NotImplementedError

    def unflatten(self, leaves: Iterator[Any]) -> Any:
        raise NotImplementedError


@dataclass(frozen=True)
class Scalar(FieldType):
    size: int
    fmt: str
    c_type: str

    def zero(self) -> int:
        return 0

    def flatten(self, value: Any, out: list, path: str) -> None:
        if value is None:
            value = 0
        if isinstance(value, bool) or not isinstance(value, int):
            raise StructError(f"{path}: expected an integer, got {value!r}")
        if not 0 <= value < 1 << (8 * self.size):
            raise StructError(f"{path}: {value:#x} does not fit in {8 * self.size} bits")
        out.append(value)

    def unflatten(self, leaves: Iterator[Any]) -> int:
        return next(leaves)


U8 = Scalar(1, "B", "__u8")
U16 = Scalar(2, "H", "__u16")
U32 = Scalar(4, "I", "__u32")
U64 = Scalar(8, "Q", "__u64")


@dataclass(frozen=True)
class Chars(FieldType):
    """A fixed-size byte string (C ``char name[n]``), NUL-padded when packed."""

    length: int
    c_type: str = "char"

    @property
    def size(self) -> int:  # type: ignore[override]
        return self.length

    @property
    def fmt(self) -> str:  # type: ignore[override]
        return f"{self.length}s"

    def zero(self) -> bytes:
        return b""

    def flatten(self, value: Any, out: list, path: str) -> None:
        if value is None:
            value = b""
        if isinstance(value, str):
            value = value.encode("utf-8")
        if not isinstance(value, (bytes, bytearray)) or len(value) > self.length:
            raise StructError(f"{path}: expected at most {self.length} bytes, got {value!r}")
        out.append(bytes(value))

    def unflatten(self, leaves: Iterator[Any]) -> bytes:
        return next(leaves)


@dataclass(frozen=True)
class Array(FieldType):
    element: FieldType
    count: int

    @property
    def size(self) -> int:  # type: ignore[override]
        return self.element.size * self.count

    @property
    def fmt(self) -> str:  # type: ignore[override]
        return self.element.fmt * self.count

    @property
    def c_type(self) -> str:  # type: ignore[override]
        return self.element.c_type

    def zero(self) -> list:
        return [self.element.zero() for _ in range(self.count)]

    def flatten(self, value: Any, out: list, path: str) -> None:
        if value is None:
            value = []
        if not isinstance(value, Sequence) or isinstance(value, (str, bytes)) \
                or len(value) > self.count:
            raise StructError(f"{path}: expected at most {self.count} items, got {value!r}")
        element = self.element
        if isinstance(element, Scalar):
            # the common case (bitmaps, ID lists) without a call and a path string per
            # element; anything not plainly in range takes Scalar.flatten, which says why
            limit, append, given = 1 << (8 * element.size), out.append, len(value)
            for i in range(self.count):
                item = value[i] if i < given else None
                if item is None:
                    append(0)
                elif type(item) is int and 0 <= item < limit:
                    append(item)
                else:
                    element.flatten(item, out, f"{path}[{i}]")
            return
        for i in range(self.count):
            element.flatten(value[i] if i < len(value) else None, out, f"{path}[{i}]")

    def unflatten(self, leaves: Iterator[Any]) -> list:
        return [self.element.unflatten(leaves) for _ in range(self.count)]


@dataclass(frozen=True)
class Field:
    name: str
    type: FieldType
    doc: str = ""
    # C bit-field names packed into this (integer) field, lowest bit first: (name, width).
    c_bits: tuple[tuple[str, int], ...] = ()


class Struct(FieldType):
    """A packed little-endian struct declared as an ordered list of fields."""

    def __init__(self, c_name: str, fields: Sequence[Field], doc: str = ""):
        self.c_name = c_name
        self.c_type = f"struct {c_name}"
        self.doc = doc
        self.fields = tuple(fields)
        self._by_name = {f.name: f for f in self.fields}
        if len(self._by_name) != len(self.fields):
            raise ValueError(f"duplicate field name in struct {c_name}")
        self.fmt = "".join(f.type.fmt for f in self.fields)
        self._codec = struct.Struct("<" + self.fmt)
        self.size = self._codec.size
        offsets: dict[str, int] = {}
        at = 0
        for f in self.fields:
            offsets[f.name] = at
            at += f.type.size
        if at != self.size:  # would mean a field type lies about its size
            raise AssertionError(f"struct {c_name}: fields add up to {at}, format to {self.size}")
        self.offsets = offsets
        # (name, type, 2**bits for a scalar field else 0): what flatten walks
        self._plan = tuple((f.name, f.type, 1 << (8 * f.type.size) if isinstance(f.type, Scalar)
                            else 0) for f in self.fields)

    def __repr__(self) -> str:
        return f"Struct({self.c_name}, {self.size} bytes)"

    def field(self, name: str) -> Field:
        return self._by_name[name]

    def zero(self) -> dict:
        return {f.name: f.type.zero() for f in self.fields}

    def flatten(self, value: Any, out: list, path: str) -> None:
        if value is None:
            value = {}
        if not isinstance(value, Mapping):
            raise StructError(f"{path}: expected a mapping for {self.c_type}, got {value!r}")
        unknown = set(value) - set(self._by_name)
        if unknown:
            raise StructError(f"{path}: {self.c_type} has no field {sorted(unknown)[0]!r}")
        get, append = value.get, out.append
        for name, type_, limit in self._plan:
            item = get(name)
            if limit:  # a scalar: zero when missing, else taken when plainly in range
                if item is None:
                    append(0)
                    continue
                if type(item) is int and 0 <= item < limit:
                    append(item)
                    continue
            # anything else (nested types, values to refuse) with its path for the message
            type_.flatten(item, out, f"{path}.{name}" if path else name)

    def unflatten(self, leaves: Iterator[Any]) -> dict:
        return {f.name: f.type.unflatten(leaves) for f in self.fields}

    def pack(self, value: Mapping[str, Any] | None = None) -> bytes:
        leaves: list = []
        self.flatten(value or {}, leaves, "")
        return self._codec.pack(*leaves)

    def unpack(self, buf: bytes | bytearray | memoryview, offset: int = 0) -> dict:
        if len(buf) - offset < self.size:
            raise StructError(f"{self.c_type} needs {self.size} bytes, "
                              f"{max(len(buf) - offset, 0)} available")
        return self.unflatten(iter(self._codec.unpack_from(buf, offset)))

    def pack_many(self, values: Sequence[Mapping[str, Any]]) -> bytes:
        return b"".join(self.pack(v) for v in values)

    def unpack_many(self, buf: bytes | bytearray | memoryview, offset: int,
                    count: int) -> list[dict]:
        return [self.unpack(buf, offset + i * self.size) for i in range(count)]


class Union(FieldType):
    """Overlapping variants (C ``union``). The value is a dict of variant name -> struct
    value; several variants may be given only if they pack to the same bytes. Unpacking
    decodes every variant, so ``pack(unpack(b)) == b`` for any bytes ``b``."""

    def __init__(self, variants: Sequence[tuple[str, Struct]]):
        self.variants = dict(variants)
        self.size = max(s.size for s in self.variants.values())
        self.fmt = f"{self.size}s"
        self.c_type = "union"

    def zero(self) -> dict:
        return {}

    def _bytes_of(self, value: Any, path: str) -> bytes:
        if not value:
            return bytes(self.size)
        if not isinstance(value, Mapping):
            raise StructError(f"{path}: expected a mapping of union variants, got {value!r}")
        packed = bytearray(self.size)
        written = 0
        for name, variant_value in value.items():
            if name not in self.variants:
                raise StructError(f"{path}: union has no variant {name!r}")
            raw = self.variants[name].pack(variant_value)
            common = min(written, len(raw))
            if packed[:common] != raw[:common]:
                raise StructError(f"{path}: union variants disagree")
            packed[:len(raw)] = raw
            written = max(written, len(raw))
        return bytes(packed)

    def flatten(self, value: Any, out: list, path: str) -> None:
        out.append(self._bytes_of(value, path))

    def unflatten(self, leaves: Iterator[Any]) -> dict:
        raw = next(leaves)
        return {name: s.unpack(raw) for name, s in self.variants.items()}
