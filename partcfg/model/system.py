"""Model layer: loaded YAML -> typed pydantic models -> assembled systems.

Second step of the flow (imports ``load`` and the foundations). Human forms (``4K``,
``0-3,6``, ``00:0e.0``, flag words) become integers here; every model object remembers
the YAML node it came from (``source``), so later layers can point at it. Files are
grouped into systems by their ``system:`` name. The meaning of a link for each peer
(its regions and their permissions, docs/format/ivshmem-v2.md) is part of the model too,
because validation judges the effective access that results from it. A schema problem
costs only its node: the rest of the file still becomes a Document, which remembers what
it could not declare so that nothing is reported twice (see ``document_of``).
"""

from __future__ import annotations

import difflib
import types
import typing
from dataclasses import dataclass, field
from typing import Annotated, Any, Callable, Iterable, Mapping, Union

from pydantic import (AfterValidator, BaseModel, BeforeValidator, ConfigDict, Discriminator, Field,
                      PrivateAttr, Tag, ValidationError, WithJsonSchema)

from ..formats import jailhouse as jh
from ..gc_pause import collector_paused
from ..diagnostics import ConfigError, Diagnostic, Location, did_you_mean, error
from ..load.yaml_source import DecimalInt, SourceDoc
from ..units import WordError, parse_bdf, parse_cpu_numbers, parse_cpu_set, parse_flags, parse_int, parse_size
from ..formats.vocabulary import DESCRIPTIONS, enum_schema_of, known_words_text
from ..wording import arch_name

# --- scalar types: human forms in, integers out ------------------------------------------

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


def _flags(names: Mapping[str, int], what: str, bits: int):
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


def _choice(names: Mapping[str, int], what: str, bits: int):
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


# --- source references -------------------------------------------------------------------

@dataclass(frozen=True)
class SourceRef:
    """Where a model object came from: a loaded document and the path inside it."""

    doc: SourceDoc
    path: tuple

    def location(self, *more: Any, key: bool = False) -> Location:
        return self.doc.location(self.path + tuple(more), key=key)


class Node(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, validate_default=False)
    _source: SourceRef | None = PrivateAttr(default=None)

    @property
    def source(self) -> SourceRef | None:
        # straight from the private dict: pydantic's __getattr__ path is ~10x slower, and
        # validation reads this once per region of 100,000-region systems
        return self.__pydantic_private__.get("_source")  # type: ignore[union-attr]

    def location(self, *more: Any, key: bool = False) -> Location | None:
        return self._source.location(*more, key=key) if self._source else None

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        # pydantic fills the private dict through one generic hook per class level (two
        # calls per region: a fifth of document_of on 100,000-region systems); every
        # private default here is immutable, so a copy of one dict does the same
        super().__pydantic_init_subclass__(**kwargs)
        if any(attr.default_factory is not None for attr in cls.__private_attributes__.values()):
            return  # a fresh value per object: pydantic's own hook
        defaults = {name: attr.get_default() for name, attr in cls.__private_attributes__.items()}

        def model_post_init(self: Any, context: Any, /) -> None:
            if getattr(self, "__pydantic_private__", None) is None:
                object.__setattr__(self, "__pydantic_private__", defaults.copy())

        cls.model_post_init = model_post_init  # type: ignore[method-assign]


# --- the input format ----------------------------------------------------------------------

class Console(Node):
    """A console: the cell's own (cell descriptor) or the hypervisor's debug console."""
    type: _choice(jh.CONSOLE_TYPES, "console type", 16) = Field(0, description="console kind",
                                                                examples=["8250", "pl011"])
    address: Int = Field(0, description="register base (MMIO address or I/O port)",
                         examples=["0x3f8", "0x09000000"])
    size: Size32 = Field(0, description="register window size", examples=["4K", "0x1000"])
    flags: _flags(jh.CONSOLE_FLAGS, "console flag", 16) = Field(0, description="mmio, regdist-4, ...",
                                                                examples=[["mmio", "regdist-4"]])
    divider: U32 = Field(0, description="UART clock divider (0: leave as the firmware set it)",
                         examples=[0, 13])
    gate_nr: U32 = Field(0, description="clock gate number of the UART (platform specific)", examples=[0])
    clock_reg: Int = Field(0, description="address of the clock gate register (platform specific)",
                           examples=["0x0"])


class MemoryRegion(Node):
    """A memory region of a cell: physical range, where the cell sees it, and access."""
    name: str | None = Field(None, description="optional name, used by references and in messages",
                             examples=["ram", "uart"])
    phys: Int = Field(0, description="physical start address (0 for the communication region)",
                      examples=["0x3ef00000"])
    virt: Int | None = Field(None, description="address the cell sees; defaults to phys",
                             examples=["0x0", "0x100000"])
    size: Size = Field(0, description="size in bytes", examples=["1M"])
    flags: _flags(jh.MEM_FLAGS, "memory flag", 64) = Field(0, description="access words", examples=[["read", "write", "execute", "dma"]])

    @property
    def virt_start(self) -> int:
        return self.phys if self.virt is None else self.virt


class LinkPlacement(Node):
    """``- link: NAME`` in a cell's memory list: where that link's derived regions go."""
    link: str = Field(description="name of a link this cell is a peer of", examples=["demo"])
    virt: Int | None = Field(None, description="where this cell maps the link (defaults to the link base)",
                             examples=["0x80000000"])


class PciLinkPlacement(Node):
    """``- link: NAME`` in a cell's pci_devices list: where the link's device entry goes."""
    link: str = Field(description="name of a link this cell is a peer of; its PCI device entry goes here",
                      examples=["demo"])


class CacheRegion(Node):
    start: U32 = Field(description="first cache way/line index of the region (CAT/MPAM)", examples=[0])
    size: U32 = Field(description="number of ways/lines in the region", examples=[4])
    type: _choice(jh.CACHE_TYPES, "cache type", 8) = Field(3, description="which cache: l3 (unified), l3-code or l3-data",
                                                           examples=["l3"])
    flags: _flags(jh.CACHE_FLAGS, "cache flag", 16) = Field(
        0, description="flag words: rootshared lets the root cell keep using the region",
        examples=[["rootshared"]])
    padding: U8 = Field(0, description="reserved byte, kept so imported blobs rebuild exactly", examples=[0])


class Irqchip(Node):
    """An interrupt controller and the interrupt lines the cell owns on it."""
    address: Int = Field(description="register base of the controller (IOAPIC / GIC distributor)",
                         examples=["0xfec00000", "0x08000000"])
    id: U32 = Field(0, description="controller ID (x86: IOAPIC source ID such as 0xff00; ARM: 0)",
                    examples=["0xff00"])
    pin_base: U32 = Field(0, description="first line of the 128-line window", examples=[0, 32])
    interrupts: NumberSet = Field((), description="absolute line numbers, e.g. 32-63,70",
                                  examples=["32-63,70", "3-4"])


class PioRegion(Node):
    name: str | None = Field(None, description="optional name, used in messages", examples=["com2"])
    base: U16 = Field(description="first I/O port", examples=["0x2f8"])
    length: U16 = Field(description="number of ports", examples=[8])


class PciCapability(Node):
    id: U16 = Field(description="capability ID (0x05 MSI, 0x10 PCIe, 0x11 MSI-X, ...)",
                    examples=["0x05", "0x11"])
    extended: bool = Field(False, description="a PCIe extended capability (sets bit 15 of the ID)",
                           examples=[False])
    start: U16 = Field(description="offset in configuration space", examples=["0x80"])
    length: U16 = Field(description="bytes of configuration space the capability spans", examples=[14])
    flags: _flags(jh.PCI_CAP_FLAGS, "capability flag", 16) = Field(
        0, description="flag words: writable lets the cell write the capability",
        examples=[["writable"]])


class PciCapGroup(Node):
    """A named run of capabilities that PCI devices refer to."""
    name: str = Field(description="group name that PCI devices list in caps", examples=["ahci"])
    caps: list[PciCapability] = Field([], description="the capabilities of the group, in configuration-space order",
                                      examples=[[{"id": "0x05", "start": "0x80", "length": 14, "flags": ["writable"]}]])


class PciDevice(Node):
    name: str | None = Field(None, description="optional name, used in messages", examples=["ahci"])
    type: _choice(jh.PCI_TYPES, "PCI device type", 8) = Field(1, description="device, bridge or ivshmem",
                                                              examples=["device"])
    iommu: U8 = Field(0, description="index of the IOMMU unit (platform iommus) that translates this device",
                      examples=[0])
    domain: U16 = Field(0, description="PCI segment (domain) number", examples=[0])
    bdf: Bdf = Field(description="PCI address bus:dev.fn", examples=["00:1f.2"])
    bar_mask: list[U32] = Field([], max_length=6, description="up to 6 BAR size masks (32 bits each)",
                                examples=[["0xffffe000", 0, 0, 0, 0, 0]])
    caps: list[str] = Field([], description="names of consecutive capability groups", examples=[["ahci"]])
    caps_start: U16 | None = Field(None, description="raw capability index (only without caps)", examples=[0])
    msi_vectors: U8 = Field(0, description="number of MSI vectors the device supports", examples=[1])
    msi_flags: _flags(jh.PCI_MSI_FLAGS, "MSI flag", 8) = Field(0, description="MSI capability words: 64bit, maskable",
                                                               examples=[["64bit", "maskable"]])
    msix_vectors: U16 = Field(0, description="number of MSI-X vectors the device supports", examples=[5])
    msix_region_size: Size16 = Field(0, description="size of the MSI-X table region", examples=["4K"])
    msix_address: Int = Field(0, description="physical address of the MSI-X table", examples=["0xfebd0000"])
    shmem_regions: str | U32 | None = Field(None, description="ivshmem: first memory region (name or index)",
                                            examples=["shmem-state", 0])
    shmem_dev_id: U8 = Field(0, description="ivshmem: this cell's peer ID", examples=[0])
    shmem_peers: U8 = Field(0, description="ivshmem: number of peers", examples=[2])
    shmem_protocol: Protocol = Field(
        0, description="ivshmem protocol: undefined, veth, custom:N or virtio-front/back:DEVICE",
        examples=["veth"])


# pydantic puts these tags into error locations; the mapper skips them
_ITEM_TAGS = ("declared-item", "link-placement")


def _tag_by_link_key(value: Any) -> str:
    return _ITEM_TAGS[1] if isinstance(value, dict) and "link" in value else _ITEM_TAGS[0]


MemoryItem = Annotated[Union[Annotated[MemoryRegion, Tag(_ITEM_TAGS[0])],
                             Annotated[LinkPlacement, Tag(_ITEM_TAGS[1])]], Discriminator(_tag_by_link_key)]
PciItem = Annotated[Union[Annotated[PciDevice, Tag(_ITEM_TAGS[0])],
                          Annotated[PciLinkPlacement, Tag(_ITEM_TAGS[1])]], Discriminator(_tag_by_link_key)]


class Cell(Node):
    """A cell: the root cell in a system file, any other cell in a file of its own."""
    name: str = Field(description=f"cell name, at most {jh.CELL_NAME_MAXLEN} characters", examples=["rt-app"])
    arch: _choice(jh.ARCHITECTURES, "architecture", 8) | None = Field(
        None, description="only for a standalone cell (no system); otherwise the system's", examples=["arm64"])
    flags: _flags(jh.CELL_FLAGS, "cell flag", 32) = Field(0, description="cell flag words",
                                                          examples=[["passive-comm-region", "virtual-console-permitted"]])
    cpus: CpuNumbers = Field((), description="CPU numbers, e.g. 0-3,6", examples=["0-3,6", 3])
    cpu_set_size: U32 | None = Field(None, description="bytes of CPU bitmap (default: 8 per 64 CPUs)",
                                     examples=[8])
    memory: list[MemoryItem] = Field([], description="memory regions and link placements (- link: NAME), in array order",
                                     examples=[[{"name": "ram", "phys": "0x3ef00000", "virt": "0x0", "size": "1M",
                                                "flags": ["read", "write", "execute", "loadable"]},
                                               {"link": "demo"}]])
    cache_regions: list[CacheRegion] = Field([], description="cache partitions (Intel CAT / ARM MPAM) the cell owns",
                                             examples=[[{"start": 0, "size": 4, "type": "l3"}]])
    irqchips: list[Irqchip] = Field([], description="interrupt controllers and the lines the cell owns on each",
                                    examples=[[{"address": "0xfec00000", "id": "0xff00", "pin_base": 0,
                                                "interrupts": "3-4"}]])
    pio: list[PioRegion] = Field([], description="x86 port I/O ranges the cell may access",
                                 examples=[[{"name": "com2", "base": "0x2f8", "length": 8}]])
    pci_caps: list[PciCapGroup] = Field([], description="named groups of PCI capabilities, referred to by pci_devices",
                                        examples=[[{"name": "ahci",
                                                 "caps": [{"id": "0x05", "start": "0x80", "length": 14}]}]])
    pci_devices: list[PciItem] = Field(
        [], description="PCI functions the cell owns and link device placements (- link: NAME)",
        examples=[[{"name": "ahci", "bdf": "00:1f.2", "caps": ["ahci"]}, {"link": "demo"}]])
    stream_ids: list[U32] = Field([], description="SMMU stream IDs of the cell's DMA masters",
                                  examples=[["0x10", "0x11"]])
    vpci_irq_base: U32 = Field(0, description="first interrupt line of the cell's virtual PCI devices",
                               examples=[100])
    cpu_reset_address: Int = Field(0, description="address where the cell's CPUs start", examples=["0x0"])
    msg_reply_timeout: Int = Field(0, description="how long the hypervisor waits for the cell to answer a message",
                                   examples=[0])
    console: Console = Field(Console(), description="the cell's own console",
                             examples=[{"type": "8250", "address": "0x2f8", "flags": []}])
    id: U32 = Field(0, description="always 0 in files (the driver assigns it)", examples=[0])
    # keys of this cell whose values could not be read (set by document_of; already reported)
    _unreadable_keys: frozenset = PrivateAttr(default=frozenset())


MAX_LINK_PEERS = 255   # shmem_peers is one byte in the device entry (the hypervisor takes 12)


class Link(Node):
    """A shared-memory link (ivshmem v2) between 2..12 cells, declared once."""
    bdf: Bdf = Field(description="PCI address of the virtual device, identical for all peers",
                     examples=["00:0e.0"])
    domain: U16 = Field(0, description="PCI segment (domain) of the virtual device", examples=[0, 1])
    peer_domains: dict[str, U16] = Field(
        {}, description="peers whose device entry says another PCI domain than 'domain' "
        "(upstream root cells often use 1, their peers 0); the hypervisor pairs by BDF alone",
        examples=[{"root": 1}])
    iommu: U8 = Field(0, description="IOMMU unit index of the virtual device", examples=[0])
    base: Int = Field(description="physical base address of the state table", examples=["0x3f0f0000"])
    state_table: Size = Field(jh.PAGE_SIZE, description="state table size (>= 4 bytes per peer, page multiple)",
                              examples=["4K"])
    rw_section: Size = Field(0, description="common read/write section size (may be 0)", examples=["36K", 0])
    output_section: Size = Field(0, description="size of each peer's output section (may be 0)",
                                 examples=["8K"])
    peers: list[str] = Field(max_length=MAX_LINK_PEERS, description="cell names; the position is the peer ID",
                             examples=[["root", "rt-app", "linux-guest"]])
    interrupts: Interrupts = Field(0, description="intx, or {msix: N} with N <= 16",
                                   examples=["intx", {"msix": 16}])
    protocol: Protocol = Field(0, description="undefined, veth, custom:0x4000-0x7fff, or virtio:DEVICE with backend",
                               examples=["undefined", "veth", "custom:0x4001", "virtio:block"])
    backend: str | None = Field(None, description="virtio links: the back-end peer; every other peer is a front-end",
                                examples=["root"])
    rootshared_in_root: bool = Field(
        False, description="also flag the root cell's link regions rootshared (no effect in the "
        "root cell; upstream's JAILHOUSE_SHMEM_NET_REGIONS writes it there too)", examples=[True])
    bar_mask: list[U32] | None = Field(None, max_length=6, description="defaults from the interrupt model",
                                       examples=[["0xfffff000", "0xfffffe00", 0, 0, 0, 0]])

    @property
    def size(self) -> int:
        return self.state_table + self.rw_section + len(self.peers) * self.output_section

    def protocol_of_peer(self, peer_id: int) -> int:
        """A virtio link's back-end peer sees 0xc000 + device, front-ends 0x8000 + device;
        every peer of any other link sees the declared protocol."""
        if self.backend is not None and self.protocol >= 0xC000:
            is_backend = peer_id < len(self.peers) and self.peers[peer_id] == self.backend
            return self.protocol if is_backend else self.protocol - 0x4000
        return self.protocol

    def domain_of_peer(self, peer_id: int) -> int:
        """The PCI domain peer ``peer_id``'s device entry carries."""
        if self.peer_domains and peer_id < len(self.peers):
            return self.peer_domains.get(self.peers[peer_id], self.domain)
        return self.domain

    @property
    def effective_bar_mask(self) -> tuple[int, ...]:
        if self.bar_mask is not None:
            return tuple(self.bar_mask) + (0,) * (6 - len(self.bar_mask))
        return jh.IVSHMEM_BAR_MASK_MSIX if self.interrupts else jh.IVSHMEM_BAR_MASK_INTX


class HypervisorMemory(Node):
    phys: Int = Field(description="physical start of the hypervisor's memory", examples=["0x3a000000"])
    size: Size = Field(description="size of the hypervisor's memory", examples=["6M"])
    virt: Int = Field(0, description="virtual address (filled in by the driver; 0 in files)", examples=[0])
    flags: _flags(jh.MEM_FLAGS, "memory flag", 64) = Field(0, description="memory flag words (normally none)",
                                                           examples=[[]])


class PciPlatform(Node):
    mmconfig_base: Int = Field(0, description="physical base of the PCI MMCONFIG (ECAM) window",
                               examples=["0xb0000000"])
    end_bus: U8 = Field(0, description="last bus number covered by the MMCONFIG window", examples=["0xff"])
    virtual: bool = Field(False, description="the hypervisor emulates a virtual PCI host controller",
                          examples=[True])
    domain: U16 = Field(0, description="PCI segment of the (virtual) host controller", examples=[0, 1])


class AmdIommu(Node):
    bdf: Bdf = Field(0, description="PCI address of the AMD IOMMU", examples=["00:00.2"])
    base_cap: U8 = Field(0, description="offset of the IOMMU capability block", examples=["0x40"])
    msi_cap: U8 = Field(0, description="offset of the MSI capability", examples=["0x64"])
    features: U32 = Field(0, description="extended feature register value", examples=["0x80048824"])


class PvuIommu(Node):
    tlb_base: Int = Field(0, description="TI PVU: physical base of the TLB", examples=["0x36400000"])
    tlb_size: U32 = Field(0, description="TI PVU: size of the TLB window", examples=["0x400000"])


class Iommu(Node):
    type: _choice(jh.IOMMU_TYPES, "IOMMU type", 32) = Field(description="IOMMU kind: intel, amd, smmuv3, pvu, mmu500",
                                                            examples=["intel"])
    base: Int = Field(0, description="register base", examples=["0xfed90000"])
    size: Size32 = Field(0, description="register window size", examples=["4K"])
    amd: AmdIommu | None = Field(None, description="AMD IOMMU details (type amd only)",
                                 examples=[{"bdf": "00:00.2", "base_cap": "0x40", "msi_cap": "0x64"}])
    pvu: PvuIommu | None = Field(None, description="TI PVU details (type pvu only)",
                                 examples=[{"tlb_base": "0x36400000", "tlb_size": "0x400000"}])


class X86Platform(Node):
    pm_timer_address: U16 = Field(0, description="I/O port of the ACPI PM timer", examples=["0x608"])
    apic_mode: _choice(jh.APIC_MODES, "APIC mode", 8) = Field(0, description="APIC mode: xapic or x2apic (0: detect)",
                                                              examples=["x2apic"])
    vtd_interrupt_limit: U32 = Field(0, description="number of VT-d interrupt remapping entries",
                                     examples=[256])
    tsc_khz: U32 = Field(0, description="TSC frequency in kHz (0: calibrate)", examples=[0])
    apic_khz: U32 = Field(0, description="APIC timer frequency in kHz (0: calibrate)", examples=[0])


class ArmPlatform(Node):
    maintenance_irq: U8 = Field(0, description="GIC maintenance interrupt line", examples=[25])
    gic_version: U8 = Field(0, description="GIC version: 2 or 3", examples=[3])
    gicd_base: Int = Field(0, description="GIC distributor base", examples=["0x08000000"])
    gicc_base: Int = Field(0, description="GICv2 CPU interface base", examples=["0x08010000"])
    gich_base: Int = Field(0, description="GICv2 hypervisor interface base", examples=["0x08030000"])
    gicv_base: Int = Field(0, description="GICv2 virtual CPU interface base", examples=["0x08040000"])
    gicr_base: Int = Field(0, description="GICv3 redistributor base", examples=["0x080a0000"])


class Platform(Node):
    """The machine: only in a system's own file, next to its root cell."""
    arch: _choice(jh.ARCHITECTURES, "architecture", 8) = Field(description="architecture: x86, arm or arm64",
                                                               examples=["x86", "arm64"])
    flags: _flags(jh.SYSTEM_FLAGS, "system flag", 32) = Field(0, description="system flag words",
                                                              examples=[["root-reads-debug-console"]])
    hypervisor_memory: HypervisorMemory = Field(description="memory reserved for the hypervisor",
                                                examples=[{"phys": "0x3a000000", "size": "6M"}])
    debug_console: Console = Field(Console(), description="the hypervisor's debug console",
                                   examples=[{"type": "pl011", "address": "0x09000000", "size": "4K",
                                              "flags": ["mmio", "regdist-4"]}])
    pci: PciPlatform = Field(PciPlatform(), description="PCI host facts",
                             examples=[{"mmconfig_base": "0xb0000000", "end_bus": "0xff"}])
    iommus: list[Iommu] = Field([], max_length=jh.MAX_IOMMU_UNITS, description="IOMMU units (at most 8)",
                                examples=[[{"type": "intel", "base": "0xfed90000", "size": "4K"}]])
    x86: X86Platform | None = Field(None, description="x86 platform facts",
                                    examples=[{"pm_timer_address": "0x608", "vtd_interrupt_limit": 256}])
    arm: ArmPlatform | None = Field(None, description="ARM interrupt controller facts",
                                    examples=[{"gic_version": 3, "maintenance_irq": 25, "gicd_base": "0x08000000",
                                              "gicr_base": "0x080a0000"}])


class Document(Node):
    """One YAML file. ``system`` names the system it belongs to; the file that also has
    ``platform`` is that system's own file and its ``cell`` is the root cell."""
    system: str | None = Field(None, description="name of the system this file belongs to",
                               examples=["qemu-x86"])
    platform: Platform | None = Field(None, description="the machine; only in a system's own file, next to its root cell",
                                      examples=[{"arch": "x86", "hypervisor_memory": {"phys": "0x3a000000", "size": "6M"}}])
    cell: Cell | None = Field(None, description="the cell this file describes (the root cell in the file with platform)",
                              examples=[{"name": "rt-app", "cpus": 3, "memory": [
                                  {"name": "ram", "phys": "0x3ef00000", "virt": "0x0", "size": "1M",
                                   "flags": ["read", "write", "execute", "loadable"]}]}])
    links: dict[str, Link] = Field({}, description="shared-memory links by name, each declared once for all its peers",
                                   examples=[{"demo": {"bdf": "00:0e.0", "base": "0x3f0f0000", "state_table": "4K",
                                                "rw_section": "36K", "output_section": "8K",
                                                "peers": ["root", "rt-app"], "interrupts": {"msix": 16}}}])
    scenarios: dict[str, Annotated[list[str], Field(max_length=256)]] | None = Field(
        None, max_length=256,
        description="only in a system's own file: which non-root cells run at the same time, by "
                    "scenario name (the root cell is in every scenario); without it every cell runs "
                    "together. A cell whose name another cell shares is named 'name@file-stem'",
        examples=[{"bare-metal": ["inmate-demo"], "linux": ["linux-demo", "ivshmem-demo"]}])
    _unreadable: Any = PrivateAttr(default=None)  # set by document_of when it dropped bad nodes


# --- YAML data -> models, with pydantic errors mapped back to the YAML ------------------

_UNION_ORIGINS = (Union, types.UnionType)
_RULE_OF_ERROR = {"extra_forbidden": "SCHEMA-UNKNOWN-KEY", "missing": "SCHEMA-MISSING"}


def _model_at(model: Any, loc: tuple) -> type[BaseModel] | None:
    """The model class that the pydantic error location ``loc`` points into."""
    tp: Any = model
    for seg in loc:
        tp = _unwrap(tp)
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            fld = tp.model_fields.get(seg)
            if fld is None:
                return None
            tp = fld.annotation
        elif typing.get_origin(tp) in (list, tuple):
            tp = typing.get_args(tp)[0]
        elif typing.get_origin(tp) is dict:
            tp = typing.get_args(tp)[1]
        elif typing.get_origin(tp) in _UNION_ORIGINS:
            members = [_unwrap(a) for a in typing.get_args(tp)]
            tagged = [a for a in typing.get_args(tp) if _tag_of(a) == seg]
            if tagged:
                tp = tagged[0]
            else:
                models = [m for m in members if isinstance(m, type) and issubclass(m, BaseModel)]
                if len(models) != 1:
                    return None
                tp = models[0]
                if seg in tp.model_fields:
                    tp = tp.model_fields[seg].annotation
        else:
            return None
    tp = _unwrap(tp)
    return tp if isinstance(tp, type) and issubclass(tp, BaseModel) else None


def _unwrap(tp: Any) -> Any:
    while typing.get_origin(tp) is Annotated:
        tp = typing.get_args(tp)[0]
    if typing.get_origin(tp) in _UNION_ORIGINS:
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return _unwrap(args[0])
    return tp


def _tag_of(tp: Any) -> str | None:
    if typing.get_origin(tp) is Annotated:
        for meta in typing.get_args(tp)[1:]:
            if isinstance(meta, Tag):
                return meta.tag
    return None


def _diagnostics_of(exc: ValidationError, doc: SourceDoc) -> list[Diagnostic]:
    result = []
    for err in exc.errors(include_url=False):
        loc = tuple(err["loc"])
        kind = err["type"]
        rule = _RULE_OF_ERROR.get(kind, "SCHEMA-VALUE")
        message = err["msg"].removeprefix("Value error, ")
        hint = None
        where = ".".join(str(s) for s in loc if s not in _ITEM_TAGS)
        if kind == "extra_forbidden":
            parent = _model_at(Document, loc[:-1])
            known = [n for n in parent.model_fields] if parent else []
            message = f"unknown key {loc[-1]!r}" + (f" in {parent.__name__}" if parent else "")
            hint = did_you_mean(str(loc[-1]), known)
            location = doc.location(loc, key=True)
        elif kind == "missing":
            message = f"missing required key {loc[-1]!r}"
            location = doc.location(loc[:-1])
        else:
            cause = (err.get("ctx") or {}).get("error")
            if isinstance(cause, WordError):
                hint = cause.hint
                location = doc.location(loc + ((cause.index,) if cause.index is not None else ()))
            else:
                location = doc.location(loc)
            if kind in ("model_type", "dict_type"):
                message = "expected a mapping of keys here"
            message = f"{where}: {message}" if where else message
        result.append(error(rule, message, location, hint=hint))
    return result


def _attach_sources(obj: Any, doc: SourceDoc, path: tuple) -> None:
    if isinstance(obj, Node):
        # the private dict and the field dict directly: pydantic's attribute hooks cost a
        # third of document_of on 100,000-region systems
        obj.__pydantic_private__["_source"] = SourceRef(doc, path)  # type: ignore[index]
        for name, value in obj.__dict__.items():
            if isinstance(value, (Node, list, dict)):
                _attach_sources(value, doc, path + (name,))
    elif isinstance(obj, list):
        for i, item in enumerate(obj):
            if isinstance(item, (Node, list, dict)):
                _attach_sources(item, doc, path + (i,))
    elif isinstance(obj, dict):
        for key, item in obj.items():
            _attach_sources(item, doc, path + (key,))


class PartialDocumentError(ConfigError):
    """A file with problems whose readable rest is still a Document: ``document`` holds
    what remains once every bad node was dropped (None when nothing could be kept)."""

    def __init__(self, diagnostics: list[Diagnostic], document: "Document | None"):
        super().__init__(diagnostics)
        self.document = document


@dataclass
class Unreadable:
    """What a file meant to declare but could not, so that findings which only follow
    from it (a placement of a link that could not be read, a peer whose cell failed, the
    cells of a system whose platform failed) are not reported a second time."""
    links: set[str] = field(default_factory=set)
    cell_name: str | None = None   # the cell's name, when the cell itself was dropped
    platform: bool = False


_MAX_RECOVERY_ROUNDS = 4


def document_of(doc: SourceDoc) -> Document:
    """The typed Document of a loaded YAML file. A schema problem costs only its node: the
    rest of the file is still read, and PartialDocumentError (a ConfigError) carries every
    problem together with the Document of what was readable."""
    if doc.data is None:
        raise ConfigError([error("SCHEMA-EMPTY", "the file is empty", Location(doc.file, 1, 1),
                                 hint="a partcfg file has 'system:' and a 'cell:', 'platform:' or 'links:'")])
    if not isinstance(doc.data, dict):
        raise ConfigError([error("SCHEMA-TYPE", "expected a mapping at the top of the file",
                                 doc.location(()))])
    try:
        with collector_paused():
            model = Document.model_validate(doc.data)
            _attach_sources(model, doc, ())
        return model
    except ValidationError as exc:
        first = exc
    return _recovered_document_of(doc, first)


def _recovered_document_of(doc: SourceDoc, exc: ValidationError) -> Document:
    """Drop each bad node (a list item, a link, or a single key) and validate again, until
    what is left is valid; raise PartialDocumentError with every problem and that rest.
    List items and links go whole (a region without its bad field would be a different
    region); a key outside them goes alone and falls back to its default, and if it was
    required, its parent goes instead (reported once, as the original problem)."""
    import copy

    data = copy.deepcopy(doc.data)
    diagnostics = _diagnostics_of(exc, doc)
    dropped_leaves: set[tuple] = set()
    unreadable = Unreadable()
    raw_cell = doc.data.get("cell")
    for _ in range(_MAX_RECOVERY_ROUNDS):
        cuts = []
        for err in exc.errors(include_url=False):
            path = tuple(s for s in err["loc"] if s not in _ITEM_TAGS)
            if not path:
                raise PartialDocumentError(diagnostics, None)
            if err["type"] == "missing" and path in dropped_leaves:
                cuts.append(path[:-1])
            else:
                cuts.append(_cut_of(path, err["type"]))
        for cut in sorted(set(cuts), key=_path_order, reverse=True):
            if not cut:
                raise PartialDocumentError(diagnostics, None)
            _delete_at(data, cut)
            if not any(isinstance(s, int) for s in cut):
                dropped_leaves.add(cut)
            if cut[0] == "links" and len(cut) == 2:
                unreadable.links.add(str(cut[1]))
            elif cut == ("cell",) and isinstance(raw_cell, dict) and isinstance(raw_cell.get("name"), str):
                unreadable.cell_name = raw_cell["name"]
            elif cut == ("platform",):
                unreadable.platform = True
        try:
            with collector_paused():
                model = Document.model_validate(data)
                _attach_sources(model, doc, ())
        except ValidationError as again:
            exc = again
            # problems the pruning itself caused (a required key it removed) are not new
            fresh = [d for d, err in zip(_diagnostics_of(again, doc), again.errors(include_url=False))
                     if not (err["type"] == "missing"
                             and tuple(s for s in err["loc"] if s not in _ITEM_TAGS) in dropped_leaves)]
            diagnostics.extend(d for d in fresh if d not in diagnostics)
            continue
        model._unreadable = unreadable
        if model.cell is not None:
            model.cell._unreadable_keys = frozenset(
                str(p[1]) for p in dropped_leaves if len(p) == 2 and p[0] == "cell")
        raise PartialDocumentError(diagnostics, model)
    raise PartialDocumentError(diagnostics, None)


def _cut_of(path: tuple, kind: str) -> tuple:
    """The node a problem at ``path`` costs: the key itself when it is unknown, else the
    innermost list item or link around it, else the key."""
    if kind == "extra_forbidden":
        return path
    for i in range(len(path) - 1, -1, -1):
        if isinstance(path[i], int) or (i == 1 and path[0] == "links"):
            return path[:i + 1]
    return path


def _path_order(path: tuple) -> tuple:
    # deeper paths and higher list indices first, so deleting one never shifts another
    return tuple((0, s, "") if isinstance(s, int) else (1, 0, str(s)) for s in path)


def _delete_at(data: Any, path: tuple) -> None:
    node = data
    for seg in path[:-1]:
        try:
            node = node[seg]
        except (KeyError, IndexError, TypeError):
            return
    try:
        del node[path[-1]]
    except (KeyError, IndexError, TypeError):
        pass


def unreadable_keys_of(cell: Cell) -> frozenset[str]:
    """The keys of ``cell`` whose values were bad and dropped (their defaults stand in)."""
    return cell.__pydantic_private__.get("_unreadable_keys") or frozenset()  # type: ignore[union-attr]


def unreadable_of(document: Document) -> Unreadable | None:
    """What a recovered document could not declare (None for a document read whole)."""
    return document.__pydantic_private__.get("_unreadable")  # type: ignore[union-attr]


# --- assembling documents into systems ------------------------------------------------------

@dataclass
class System:
    """One machine: its platform, root cell, other cells and links (all from YAML)."""
    name: str
    platform: Platform
    root: Cell
    cells: list[Cell] = field(default_factory=list)  # non-root, in file order
    links: dict[str, Link] = field(default_factory=dict)
    documents: list[Document] = field(default_factory=list)
    # names of links and cells an input meant to declare but could not (already reported):
    # validation does not report placements of or peers by these names again
    unreadable_links: set[str] = field(default_factory=set)
    unreadable_cells: set[str] = field(default_factory=set)

    @property
    def arch(self) -> int:
        return self.platform.arch

    @property
    def all_cells(self) -> list[Cell]:
        return [self.root, *self.cells]

    def cell_named(self, name: str) -> Cell | None:
        for c in self.all_cells:
            if c.name == name:
                return c
        return None


@dataclass
class Assembly:
    """What a set of input files amounts to: systems, standalone cells, and problems."""
    systems: list[System] = field(default_factory=list)
    standalone: list[Cell] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)


def assembly_of(documents: Iterable[Document], unreadable_systems: Iterable[str] = (),
                unreadable_cells: Iterable[tuple[str, str]] = ()) -> Assembly:
    """Group documents into systems by their ``system:`` name (files in the given order).
    ``unreadable_systems`` names systems whose own file failed to load: files that belong
    to them are skipped quietly (the load error already says what is wrong), as are those
    of a system whose file has no root cell. ``unreadable_cells`` holds (system, cell)
    for cell files that failed to load, so that links naming them as peers stay quiet."""
    docs = list(documents)
    unreadable = set(unreadable_systems)
    for d in docs:
        lost = unreadable_of(d)
        if lost is not None and lost.platform and d.system is not None:
            unreadable.add(d.system)
    result = Assembly()
    by_name: dict[str, System] = {}
    for d in docs:
        if d.platform is None:
            continue
        if d.system is None:
            result.diagnostics.append(error("SYS-NAME", "a file with 'platform' must name its system",
                                            d.location("platform", key=True),
                                            hint="add 'system: <name>' at the top of the file"))
            continue
        if d.cell is None:
            unreadable.add(d.system)
            lost = unreadable_of(d)
            if lost is None or lost.cell_name is None:  # else its load error says why
                result.diagnostics.append(error("SYS-ROOT-MISSING", f"system {d.system!r} has no root cell",
                                                d.location("platform", key=True),
                                                hint="add the root cell as 'cell:' in the same file"))
            continue
        if d.system in by_name:
            result.diagnostics.append(error(
                "SYS-DUPLICATE", f"system {d.system!r} is defined twice",
                d.location("system"), related=[by_name[d.system].documents[0].location("system")]))
            continue
        by_name[d.system] = System(d.system, d.platform, d.cell, documents=[d])
    cells_by_name: dict[str, dict[str, Cell]] = {}
    for d in docs:
        if d.platform is not None:
            target = by_name.get(d.system or "")
            if target and target.documents[0] is d:
                _add_links(target, d, result)
            continue
        if d.scenarios is not None:
            result.diagnostics.append(error(
                "SCENARIO-PLACE", "'scenarios' belongs in the system's own file (the one with 'platform')",
                d.location("scenarios", key=True), hint="move it next to 'platform:'"))
        if d.system is None:
            if d.cell is not None:
                result.standalone.append(d.cell)
            if d.links:
                result.diagnostics.append(error(
                    "LINK-NO-SYSTEM", "links need a system: this file names none",
                    d.location("links", key=True), hint="add 'system: <name>' at the top of the file"))
            continue
        target = by_name.get(d.system)
        if target is None and d.system in unreadable:
            continue
        if target is None:
            result.diagnostics.append(error(
                "SYS-UNKNOWN", f"system {d.system!r} is not defined by any input file",
                d.location("system"), hint=did_you_mean(d.system, by_name)
                or "pass the system's file (the one with 'platform:') in the same call"))
            continue
        target.documents.append(d)
        if d.cell is not None:
            # by name through a dict: cell_named per file made 10,000 cells quadratic
            named = cells_by_name.get(target.name)
            if named is None:
                named = cells_by_name[target.name] = {c.name: c for c in target.all_cells}
            clash = named.get(d.cell.name)
            # alternatives may share a name when the system says which cells run together
            # (judged per scenario: a scenario holding both is an impossible one)
            if clash is not None and target.documents[0].scenarios is None:
                result.diagnostics.append(error(
                    "CELL-DUPLICATE", f"cell name {d.cell.name!r} is used twice in system {target.name!r}",
                    d.cell.location("name"), related=[clash.location("name")]))
            else:
                target.cells.append(d.cell)
                named[d.cell.name] = d.cell
        _add_links(target, d, result)
    result.systems = list(by_name.values())
    for system_name, cell_name in unreadable_cells:
        if system_name in by_name:
            by_name[system_name].unreadable_cells.add(cell_name)
    for system in result.systems:
        for d in system.documents:
            lost = unreadable_of(d)
            if lost is not None:
                system.unreadable_links |= lost.links
                if lost.cell_name is not None:
                    system.unreadable_cells.add(lost.cell_name)
    for cell in result.standalone:
        if cell.arch is None:
            result.diagnostics.append(error(
                "CELL-ARCH", f"standalone cell {cell.name!r} must state its architecture",
                cell.location("name"), hint="add 'arch: x86' (or arm, arm64), or 'system: <name>'"))
    for system in result.systems:
        for cell in system.all_cells:
            if cell.arch is not None and cell.arch != system.arch:
                result.diagnostics.append(error(
                    "CELL-ARCH", f"cell {cell.name!r} says arch {arch_name(cell.arch)} but system "
                    f"{system.name!r} is {arch_name(system.arch)}", cell.location("arch"),
                    related=[system.platform.location("arch")]))
    return result


def _add_links(system: System, doc: Document, result: Assembly) -> None:
    for name, link in doc.links.items():
        if name in system.links:
            result.diagnostics.append(error(
                "LINK-DUPLICATE", f"link {name!r} is declared twice in system {system.name!r}",
                link.location(key=True), related=[system.links[name].location(key=True)]))
            continue
        system.links[name] = link


# --- what a link means for each peer (docs/format/ivshmem-v2.md) -----------------------------------

@dataclass(frozen=True)
class Region:
    """A memory region as it stands in a cell's region array, declared or derived."""
    phys: int
    virt: int
    size: int
    flags: int
    origin: str                     # "declared", or e.g. "link demo: output section of peer 1"
    source: SourceRef | None
    name: str | None = None
    link: str | None = None         # the link this region was derived from
    section: str | None = None      # "state", "rw", or "output"
    owner: int | None = None        # for output sections: the owning peer's ID

    @property
    def end(self) -> int:
        return self.phys + self.size

    @property
    def is_placeholder(self) -> bool:
        return not (self.phys or self.virt or self.size or self.flags)

    def location(self) -> Location | None:
        return self.source.location() if self.source else None


@dataclass(frozen=True)
class Section:
    kind: str          # "state", "rw", "output"
    offset: int        # from the link base
    size: int
    owner: int | None  # peer ID owning an output section

    @property
    def label(self) -> str:
        return {"state": "state table", "rw": "read/write section"}.get(
            self.kind, f"output section of peer {self.owner}")


def sections_of(link: Link) -> list[Section]:
    """The link's sections in physical order: state table, rw section, outputs 0..N-1."""
    result = [Section("state", 0, link.state_table, None),
              Section("rw", link.state_table, link.rw_section, None)]
    at = link.state_table + link.rw_section
    for peer in range(len(link.peers)):
        result.append(Section("output", at, link.output_section, peer))
        at += link.output_section
    return result


def link_regions_of(link_name: str, link: Link, peer_id: int, is_root: bool,
                    virt_base: int | None, source: SourceRef | None) -> list[Region]:
    """The 2 + N region entries peer ``peer_id`` gets for a link, in array order."""
    virt0 = link.base if virt_base is None else virt_base
    shared = 0 if is_root and not link.rootshared_in_root else jh.MEM_ROOTSHARED
    regions = []
    for sec in sections_of(link):
        if sec.kind == "state":
            flags = jh.MEM_READ | shared
        elif sec.kind == "rw":
            flags = jh.MEM_READ | jh.MEM_WRITE | shared
        else:
            flags = jh.MEM_READ | (jh.MEM_WRITE if sec.owner == peer_id else 0) | shared
        if sec.size == 0 and sec.kind != "state":
            regions.append(Region(0, 0, 0, 0, f"link {link_name}: {sec.label} (absent)", source,
                                  link=link_name, section=sec.kind, owner=sec.owner))
        else:
            regions.append(Region(link.base + sec.offset, virt0 + sec.offset, sec.size, flags,
                                  f"link {link_name}: {sec.label}", source,
                                  link=link_name, section=sec.kind, owner=sec.owner))
    return regions


def links_of_cell(system: System | None, cell: Cell) -> list[tuple[str, Link, int]]:
    """(name, link, peer ID) for every link ``cell`` is a peer of, in declaration order."""
    if system is None:
        return []
    return [(name, link, link.peers.index(cell.name))
            for name, link in system.links.items() if cell.name in link.peers]


def peer_links_of(system: System) -> dict[str, list[tuple[str, Link, int]]]:
    """Cell name -> what :func:`links_of_cell` returns for it, for all cells at once
    (one pass over the links instead of one per cell)."""
    result: dict[str, list[tuple[str, Link, int]]] = {}
    for name, link in system.links.items():
        seen: set[str] = set()
        for peer_id, peer in enumerate(link.peers):
            if peer not in seen:
                seen.add(peer)
                result.setdefault(peer, []).append((name, link, peer_id))
    return result


def regions_of_cell(system: System | None, cell: Cell,
                    links: list[tuple[str, Link, int]] | None = None) -> list[Region]:
    """The cell's memory-region array: declared regions and link placements in list order,
    then the regions of links the cell is a peer of but did not place, in link order.
    ``links``: the cell's :func:`links_of_cell`, when the caller has it already."""
    is_root = system is not None and cell is system.root
    if links is None:
        links = links_of_cell(system, cell)
    mine = {name: (link, peer) for name, link, peer in links}
    placed: set[str] = set()
    result: list[Region] = []
    for item in cell.memory:
        if isinstance(item, LinkPlacement):
            if item.link in mine and item.link not in placed:
                link, peer = mine[item.link]
                result.extend(link_regions_of(item.link, link, peer, is_root, item.virt, item.source))
                placed.add(item.link)
            continue  # unknown or repeated placements are reported by validation
        result.append(Region(item.phys, item.virt_start, item.size, item.flags, "declared",
                             item.source, name=item.name))
    for name, (link, peer) in mine.items():
        if name not in placed:
            result.extend(link_regions_of(name, link, peer, is_root, None, link.source))
    return result


def cell_arch(system: System | None, cell: Cell) -> int:
    if system is not None:
        return system.arch
    return cell.arch if cell.arch is not None else 0

