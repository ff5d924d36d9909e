"""Model layer: the scalar types of the input format, human forms in, integers out.

Part of step 2 of the flow (imports ``load`` and the foundations). Each type is an
integer (or a tuple of them) annotated with what pydantic calls on the YAML value first:
sizes (``4K``), CPU and line sets (``0-3,6``), PCI addresses (``00:0e.0``), flag and
choice words, link protocols and interrupt models; and with the JSON schema ``partcfg
schema`` shows for it.
"""

from __future__ import annotations

import difflib
from typing import Annotated, Callable, Mapping

from pydantic import AfterValidator, BeforeValidator, WithJsonSchema

from ..diagnostics import did_you_mean
from ..formats.vocabulary import DESCRIPTIONS, enum_schema_of, known_words_text
from ..load.yaml_source import DecimalInt
from ..units import (WordError, parse_bdf, parse_cpu_numbers, parse_cpu_set, parse_flags, parse_int,
                     parse_size)


_INT_SCHEMA = {"anyOf": [{"type": "integer", "minimum": 0},
                         {"type": "string", "pattern": r"^(0x[0-9a-fA-F_]+|[0-9][0-9_]*)$"}]}
_SIZE_SCHEMA = {"anyOf": [{"type": "integer", "minimum": 0},
                          {"type": "string", "pattern": r"^\s*(0x[0-9a-fA-F_]+|[0-9][0-9_]*)\s*([KMGTkmgt])?(i?B)?\s*$"}],
                "examples": ["4K", "1M", "0x1000"]}


def _fits(bits: int) -> Callable[[int], int]:
    def check(value: int) -> int:
        if value >= 1 << bits:
            raise ValueError(f"{value:#x} does not fit in {bits} bits (at most {(1 << bits) - 1:#x})")
        return value
    return check


def _uint(bits: int, parse: Callable[[object], int] = parse_int, schema: dict = _INT_SCHEMA):
    fits = _fits(bits)
    limit = 1 << bits

    def parse_fitting(value: object) -> int:
        # one Python call for a number that is already an integer in range (most of them,
        # and there are several per region); everything else as before: parse, then fit
        if (type(value) is int or type(value) is DecimalInt) and 0 <= value < limit:  # noqa: E721
            return value  # type: ignore[return-value]
        return fits(parse(value))
    return Annotated[int, BeforeValidator(parse_fitting), WithJsonSchema(schema)]


U8 = _uint(8)
U16 = _uint(16)
U32 = _uint(32)
Int = _uint(64)
Size = _uint(64, parse_size, _SIZE_SCHEMA)
Size32 = _uint(32, parse_size, _SIZE_SCHEMA)
Size16 = _uint(16, parse_size, _SIZE_SCHEMA)
Bdf = Annotated[int, BeforeValidator(parse_bdf), AfterValidator(_fits(16)),
                WithJsonSchema({"anyOf": [{"type": "string", "pattern": r"^([0-9a-fA-F]{1,4}:)?[0-9a-fA-F]{1,2}:[0-9a-fA-F]{1,2}\.[0-7]$"},
                                          {"type": "integer"}], "examples": ["00:0e.0"]})]
NumberSet = Annotated[tuple[int, ...], BeforeValidator(parse_cpu_set),
                      WithJsonSchema({"anyOf": [{"type": "string"}, {"type": "integer"},
                                                {"type": "array", "items": {"type": ["integer", "string"]}}],
                                      "examples": ["0-3,6"]})]
CpuNumbers = Annotated[tuple[int, ...], BeforeValidator(parse_cpu_numbers),
                      WithJsonSchema({"anyOf": [{"type": "string"}, {"type": "integer"},
                                                {"type": "array", "items": {"type": ["integer", "string"]}}],
                                      "examples": ["0-3,6"]})]


def flags_type(names: Mapping[str, int], what: str, bits: int):
    masks: dict[tuple, int] = {}  # word list -> mask: the same lists repeat region after region
    fits = _fits(bits)

    def parse(value: object) -> int:
        if type(value) is list and all(type(w) is str for w in value):
            words = tuple(value)
            mask = masks.get(words)
            if mask is None:
                mask = fits(parse_flags(value, names, what))
                if len(masks) < 4096:
                    masks[words] = mask
            return mask
        return fits(parse_flags(value, names, what))
    return Annotated[int, BeforeValidator(parse),
                     WithJsonSchema({"type": "array", "items": {
                         "anyOf": [enum_schema_of(what, names), {"type": "integer"}]}})]


def choice_type(names: Mapping[str, int], what: str, bits: int):
    def parse(value: object) -> int:
        if isinstance(value, DecimalInt) and str(value) in names:  # `type: 8250` is a word
            return names[str(value)]
        if isinstance(value, str) and value.strip().lower() in names:
            return names[value.strip().lower()]
        try:
            return parse_int(value)
        except ValueError:
            hint = did_you_mean(str(value), names)
            raise ValueError(f"unknown {what} {value!r}" + (f"; {hint}" if hint else "")
                             + f" (known: {', '.join(names)})") from None
    return Annotated[int, BeforeValidator(parse), AfterValidator(_fits(bits)),
                     WithJsonSchema({"anyOf": [enum_schema_of(what, names), {"type": "integer"}]})]


def parse_protocol(value: object) -> int:
    """``undefined``, ``veth``, ``custom:0x4001``, ``virtio-front:net``, ``virtio-back:block``,
    ``virtio:block`` (a link with a ``backend``) or a number, as the u16 ivshmem protocol."""
    if isinstance(value, str):
        text = value.strip().lower()
        if text in PROTOCOL_WORDS:
            return PROTOCOL_WORDS[text]
        kind, sep, arg = text.partition(":")
        if sep and kind in ("custom", "virtio", "virtio-front", "virtio-back"):
            if kind == "custom":
                try:
                    return parse_int(arg)
                except ValueError:
                    raise WordError(f"custom protocol {arg!r} is not a number",
                                    hint="write custom:0x4000 to custom:0x7fff") from None
            # "virtio:DEV" on a link stands for its back-end's value (see Link.backend)
            base = 0x8000 if kind == "virtio-front" else 0xC000
            if arg in VIRTIO_DEVICES:
                return base + VIRTIO_DEVICES[arg]
            try:
                return base + parse_int(arg)
            except ValueError:
                close = difflib.get_close_matches(arg, list(VIRTIO_DEVICES), n=1, cutoff=0.5)
                raise WordError(f"unknown virtio device {arg!r} (known: "
                                f"{known_words_text('virtio device')}, or a device number)",
                                hint=f"did you mean '{kind}:{close[0]}'?" if close else None) from None
    try:
        return parse_int(value)
    except ValueError:
        hint = did_you_mean(str(value), [*PROTOCOL_WORDS, "custom", "virtio"])
        raise WordError(f"unknown protocol {value!r} (known: undefined, veth, custom:0x4000-0x7fff, "
                        f"virtio:{'|'.join(VIRTIO_DEVICES)} with backend, or a number)",
                        hint=hint) from None


def format_protocol(value: int) -> str | int:
    for word, number in PROTOCOL_WORDS.items():
        if number == value:
            return word
    if 0x4000 <= value <= 0x7FFF:
        return f"custom:{value:#06x}"
    names = {v: k for k, v in VIRTIO_DEVICES.items()}
    if 0x8000 <= value <= 0xFFFF:
        kind, dev = ("virtio-front", value - 0x8000) if value < 0xC000 else ("virtio-back", value - 0xC000)
        return f"{kind}:{names.get(dev, dev)}"
    return value


PROTOCOL_WORDS = {"undefined": 0x0000, "veth": 0x0001}
VIRTIO_DEVICES = {"net": 1, "block": 2, "console": 3}
_PROTOCOL_MEANINGS = DESCRIPTIONS["protocol"]
Protocol = Annotated[int, BeforeValidator(parse_protocol), AfterValidator(_fits(16)),
                     WithJsonSchema({"anyOf": [
                         {"const": "undefined", "description": _PROTOCOL_MEANINGS["undefined"]},
                         {"const": "veth", "description": _PROTOCOL_MEANINGS["veth"]},
                         {"type": "string", "pattern": r"^custom:(0x[0-9a-fA-F_]+|[0-9][0-9_]*)$",
                          "description": _PROTOCOL_MEANINGS["custom:N"]},
                         {"type": "string",
                          "pattern": r"^virtio(-front|-back)?:(net|block|console|0x[0-9a-fA-F_]+|[0-9][0-9_]*)$",
                          "description": _PROTOCOL_MEANINGS["virtio:DEVICE"] + " (virtio-front:/virtio-back: "
                                         "on raw ivshmem devices)"},
                         {"type": "integer", "minimum": 0, "description": "the raw 16-bit protocol value"}],
                                     "examples": ["undefined", "veth", "custom:0x4001", "virtio-back:block"]})]


def parse_interrupts(value: object) -> int:
    """``intx`` (0 MSI-X vectors) or ``{msix: N}``: the number of MSI-X vectors."""
    if isinstance(value, str) and value.strip().lower() == "intx":
        return 0
    if isinstance(value, dict) and set(value) == {"msix"}:
        return parse_int(value["msix"])
    hint = did_you_mean(str(value), ["intx", "msix"]) if isinstance(value, str) else None
    if hint == "did you mean 'msix'?":
        hint = "write {msix: N} with N from 1 to 16"
    raise WordError(f"unknown interrupt model {value!r} (known: intx, or {{msix: N}} with N "
                    "from 1 to 16)", hint=hint)


Interrupts = Annotated[int, BeforeValidator(parse_interrupts), AfterValidator(_fits(16)),
                       WithJsonSchema({"anyOf": [
                           {"const": "intx", "description": DESCRIPTIONS["interrupt model"]["intx"]},
                           {"type": "object", "properties": {
                               "msix": {"type": "integer", "minimum": 1, "maximum": 16}}, "required": ["msix"],
                            "additionalProperties": False,
                            "description": DESCRIPTIONS["interrupt model"]["{msix: N}"]}]})]
