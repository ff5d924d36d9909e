"""Render layer: C declarations generated from ``binfmt`` struct declarations.

One declaration per binary struct: the packed C struct types that partcfg's generated
headers contain (the firmware header's ivshmem types, the Jailhouse-style struct
header) are produced from the same ``Struct`` objects that pack and unpack the bytes,
together with ``_Static_assert`` checks of every size and field offset, so a C compiler
proves that the C view and the Python view agree.

Conventions: every struct is ``__attribute__((packed))``; a ``Union`` field becomes an
anonymous union of its variants (as in Jailhouse's headers, so initializers name the
variant directly: ``.amd = {...}``); a field with ``c_bits`` becomes those bit-fields.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence

from ..formats.binfmt import Array, Chars, Field, FieldType, Scalar, Struct, Union

PACKED = "__attribute__((packed))"


def _comment(text: str) -> str:
    return " /* " + text.replace("*/", "* /") + " */" if text else ""


def _type_name(ftype: FieldType, type_names: Mapping[str, str]) -> str:
    if isinstance(ftype, Struct):
        return f"struct {ftype.c_name}"
    return type_names.get(ftype.c_type, ftype.c_type)


def _types_within(ftype: FieldType) -> Iterator[FieldType]:
    """Every type inside ``ftype`` and ``ftype`` itself, contained types first."""
    if isinstance(ftype, Array):
        yield from _types_within(ftype.element)
    elif isinstance(ftype, Union):
        for variant in ftype.variants.values():
            yield from _types_within(variant)
    elif isinstance(ftype, Struct):
        for f in ftype.fields:
            yield from _types_within(f.type)
    yield ftype


def structs_used_by(structs: Iterable[Struct]) -> list[Struct]:
    """The given structs and every struct they contain, each once, dependencies first."""
    ordered: list[Struct] = []
    for s in structs:
        for ftype in _types_within(s):
            if isinstance(ftype, Struct) and all(o is not ftype for o in ordered):
                ordered.append(ftype)
    return ordered


def _member_lines(f: Field, type_names: Mapping[str, str], indent: str) -> list[str]:
    ftype = f.type
    if isinstance(ftype, Union):
        lines = [f"{indent}union {{{_comment(f.doc or f.name)}"]
        for name, variant in ftype.variants.items():
            lines.append(f"{indent}\t{_type_name(variant, type_names)} {name};")
        lines.append(f"{indent}}} {PACKED};")
        return lines
    if f.c_bits:
        base = _type_name(ftype, type_names)
        return [f"{indent}{base} {name}:{width};{_comment(f.doc) if i == 0 else ''}"
                for i, (name, width) in enumerate(f.c_bits)]
    dims = ""
    while isinstance(ftype, Array):
        dims += f"[{ftype.count}]"
        ftype = ftype.element
    if isinstance(ftype, Chars):
        dims += f"[{ftype.length}]"
    return [f"{indent}{_type_name(ftype, type_names)} {f.name}{dims};{_comment(f.doc)}"]


def c_struct_of(struct: Struct, type_names: Mapping[str, str] = {},
                name: str | None = None) -> str:
    """``struct NAME { ... } __attribute__((packed));`` for one struct (its nested
    structs must be declared before it; see :func:`structs_used_by`)."""
    lines = []
    if struct.doc:
        lines.append(f"/*{_comment(struct.doc)[2:-3]} */")
    lines.append(f"struct {name or struct.c_name} {{")
    for f in struct.fields:
        lines.extend(_member_lines(f, type_names, "\t"))
    lines.append(f"}} {PACKED};")
    return "\n".join(lines)


def c_static_asserts_of(struct: Struct, name: str | None = None) -> list[str]:
    """``_Static_assert`` lines pinning the struct's size and every addressable member's
    offset (bit-fields have no offset in C; the member after them pins them)."""
    c_name = name or struct.c_name
    lines = [f'_Static_assert(sizeof(struct {c_name}) == {struct.size}, '
             f'"struct {c_name} must be {struct.size} bytes");']
    for f in struct.fields:
        at = struct.offsets[f.name]
        if f.c_bits:
            continue
        members = list(f.type.variants) if isinstance(f.type, Union) else [f.name]
        for member in members:
            lines.append(f'_Static_assert(offsetof(struct {c_name}, {member}) == {at:#x}, '
                         f'"{member} must be at offset {at:#x} of struct {c_name}");')
    return lines


def c_declarations_of(structs: Sequence[Struct], type_names: Mapping[str, str] = {},
                      static_asserts: bool = True) -> str:
    """Declarations of ``structs`` and everything they contain, dependencies first, each
    followed by its static assertions."""
    blocks = []
    for s in structs_used_by(structs):
        block = c_struct_of(s, type_names)
        if static_asserts:
            block += "\n" + "\n".join(c_static_asserts_of(s))
        blocks.append(block)
    return "\n\n".join(blocks)


STDINT_NAMES = {"__u8": "uint8_t", "__u16": "uint16_t", "__u32": "uint32_t", "__u64": "uint64_t"}


def scalar_types_of(structs: Iterable[Struct]) -> list[Scalar]:
    """The scalar types the structs use, smallest first (for typedefs)."""
    found = {t.c_type: t for s in structs for t in _types_within(s) if isinstance(t, Scalar)}
    return sorted(found.values(), key=lambda t: t.size)


# --- initializers ------------------------------------------------------------------------

# (struct, field name, value) -> a C expression for the value, or None for the default
Speller = Callable[[Struct, str, Any], "str | None"]


def c_number(value: int) -> str:
    """A C integer literal: decimal below 10, hex otherwise."""
    return str(value) if value < 10 else f"{value:#x}"


def c_string(raw: bytes) -> str:
    """A C string literal for ``raw`` (trailing NUL padding dropped); anything but
    printable ASCII is an octal escape, so the literal is exact whatever the bytes."""
    raw = bytes(raw).rstrip(b"\0")
    out = []
    for byte in raw:
        ch = chr(byte)
        if ch in '"\\?':
            out.append("\\" + ch)  # \? keeps "??x" from forming a trigraph
        elif 0x20 <= byte < 0x7F:
            out.append(ch)
        else:
            out.append(f"\\{byte:03o}")
    return '"' + "".join(out) + '"'


def is_zero(ftype: FieldType, value: Any) -> bool:
    """True when ``value`` packs to all-zero bytes (and so needs no initializer)."""
    if value is None:
        return True
    if isinstance(ftype, Scalar):
        return value == 0
    if isinstance(ftype, Chars):
        return not bytes(value).rstrip(b"\0")
    if isinstance(ftype, Array):
        return all(is_zero(ftype.element, v) for v in value)
    if isinstance(ftype, Struct):
        return all(is_zero(f.type, value.get(f.name)) for f in ftype.fields)
    if isinstance(ftype, Union):
        return not any(_union_bytes(ftype, value))
    raise TypeError(f"unknown field type {ftype!r}")


def _union_bytes(union: Union, value: Any) -> bytes:
    leaves: list = []
    union.flatten(value, leaves, "")
    return leaves[0]


def union_variant_of(union: Union, value: Any) -> tuple[str, Struct, dict] | None:
    """The one variant whose initializer alone reproduces the union's bytes (C
    initializes one member of a union), or None when the union is all zero."""
    packed = _union_bytes(union, value)
    if not any(packed):
        return None
    for name, variant in union.variants.items():
        candidate = value.get(name) if value else None
        if candidate is None:
            candidate = variant.unpack(packed)
        if variant.pack(candidate).ljust(union.size, b"\0") == packed:
            return name, variant, candidate
    raise ValueError("no single union variant reproduces the bytes")  # pragma: no cover


def c_members_of(struct: Struct, value: Mapping[str, Any] | None, level: int,
                 spell: Speller | None = None) -> list[str]:
    """Designated-initializer lines (``.field = value,``) for the non-zero fields of a
    struct value, indented by ``level`` tabs. Zero fields are left out: C zeroes them,
    exactly as ``binfmt`` packs a missing field."""
    lines: list[str] = []
    spell_zero = getattr(spell, "spell_zero", None)
    for f in struct.fields:
        v = value.get(f.name) if value else None
        if is_zero(f.type, v):
            # a speller may still want a zero written out (e.g. JAILHOUSE_X86)
            zero = spell_zero(struct, f.name, value or {}) if spell_zero else None
            if zero is not None:
                lines.append("\t" * level + f".{f.name} = {zero},")
            continue
        lines.extend(_member_initializer(struct, f, v, level, spell))
    return lines


def _element_initializer(ftype: FieldType, value: Any, level: int,
                         spell: Speller | None) -> list[str]:
    ind = "\t" * level
    if isinstance(ftype, Struct):
        members = c_members_of(ftype, value, level + 1, spell)
        return [f"{ind}{{", *members, f"{ind}}},"] if members else [f"{ind}{{ 0 }},"]
    if isinstance(ftype, Chars):
        return [f"{ind}{c_string(value)},"]
    return [f"{ind}{c_number(value or 0)},"]


def _member_initializer(struct: Struct, f: Field, value: Any, level: int,
                        spell: Speller | None) -> list[str]:
    ind = "\t" * level
    custom = spell(struct, f.name, value) if spell else None
    if custom is not None:  # continuation lines of a long expression go one tab deeper
        return [f"{ind}.{f.name} = " + custom.replace("\n", "\n" + ind + "\t") + ","]
    ftype = f.type
    if f.c_bits:
        lines, shift = [], 0
        for name, width in f.c_bits:
            part = (value >> shift) & ((1 << width) - 1)
            if part:
                lines.append(f"{ind}.{name} = {c_number(part)},")
            shift += width
        if value >> shift:
            raise ValueError(f"{struct.c_name}.{f.name}: bits {value >> shift << shift:#x} "
                             "have no C bit-field")
        return lines
    if isinstance(ftype, Scalar):
        return [f"{ind}.{f.name} = {c_number(value)},"]
    if isinstance(ftype, Chars):
        return [f"{ind}.{f.name} = {c_string(value)},"]
    if isinstance(ftype, Struct):
        return [f"{ind}.{f.name} = {{", *c_members_of(ftype, value, level + 1, spell),
                f"{ind}}},"]
    if isinstance(ftype, Union):
        chosen = union_variant_of(ftype, value)
        if chosen is None:
            return []
        name, variant, variant_value = chosen
        return [f"{ind}.{name} = {{", *c_members_of(variant, variant_value, level + 1, spell),
                f"{ind}}},"]
    if isinstance(ftype, Array):
        items = list(value)
        while items and is_zero(ftype.element, items[-1]):
            items.pop()
        if isinstance(ftype.element, Scalar):
            return [f"{ind}.{f.name} = {{ " + ", ".join(c_number(v) for v in items) + " },"]
        lines = [f"{ind}.{f.name} = {{"]
        for item in items:
            lines.extend(_element_initializer(ftype.element, item, level + 1, spell))
        return lines + [f"{ind}}},"]
    raise TypeError(f"unknown field type {ftype!r}")  # pragma: no cover
