"""Model layer: loaded YAML -> typed pydantic models -> assembled systems.

Second step of the flow (imports ``load`` and the foundations). Human forms (``4K``,
``0-3,6``, ``00:0e.0``, flag words) become integers here; every model object remembers
the YAML node it came from (``source``), so later layers can point at it. Files are
grouped into systems by their ``system:`` name. The meaning of a link for each peer
(its regions and their permissions, spec/ivshmem-v2.md) is part of the model too,
because validation judges the effective access that results from it.
"""

from __future__ import annotations

import types
import typing
from dataclasses import dataclass, field
from typing import Annotated, Any, Callable, Iterable, Mapping, Union

from pydantic import (AfterValidator, BaseModel, BeforeValidator, ConfigDict, Discriminator, Field,
                      PrivateAttr, Tag, ValidationError, WithJsonSchema)

from . import jailhouse as jh
from .diagnostics import ConfigError, Diagnostic, Location, did_you_mean, error
from .load import SourceDoc
from .units import parse_bdf, parse_cpu_set, parse_flags, parse_int, parse_size

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
    return Annotated[int, BeforeValidator(parse), AfterValidator(_fits(bits)), WithJsonSchema(schema)]


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


def _flags(names: Mapping[str, int], what: str, bits: int):
    return Annotated[int, BeforeValidator(lambda v: parse_flags(v, names, what)), AfterValidator(_fits(bits)),
                     WithJsonSchema({"type": "array", "items": {
                         "anyOf": [{"enum": list(names)}, {"type": "integer"}]}})]


def _choice(names: Mapping[str, int], what: str, bits: int):
    def parse(value: object) -> int:
        if isinstance(value, str) and value.strip().lower() in names:
            return names[value.strip().lower()]
        try:
            return parse_int(value)
        except ValueError:
            hint = did_you_mean(str(value), names)
            raise ValueError(f"unknown {what} {value!r}" + (f"; {hint}" if hint else "")
                             + f" (known: {', '.join(names)})") from None
    return Annotated[int, BeforeValidator(parse), AfterValidator(_fits(bits)),
                     WithJsonSchema({"anyOf": [{"enum": list(names)}, {"type": "integer"}]})]


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
                return parse_int(arg)
            # "virtio:DEV" on a link stands for its back-end's value (see Link.backend)
            base = 0x8000 if kind == "virtio-front" else 0xC000
            return base + (VIRTIO_DEVICES[arg] if arg in VIRTIO_DEVICES else parse_int(arg))
    try:
        return parse_int(value)
    except ValueError:
        raise ValueError(f"unknown protocol {value!r} (use undefined, veth, custom:0x4000-0x7fff, "
                         "virtio-front:net|block|console or virtio-back:...)") from None


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

Protocol = Annotated[int, BeforeValidator(parse_protocol), AfterValidator(_fits(16)),
                     WithJsonSchema({"anyOf": [{"type": "string"}, {"type": "integer"}],
                                     "examples": ["undefined", "veth", "custom:0x4001", "virtio-back:block"]})]


def parse_interrupts(value: object) -> int:
    """``intx`` (0 MSI-X vectors) or ``{msix: N}``: the number of MSI-X vectors."""
    if isinstance(value, str) and value.strip().lower() == "intx":
        return 0
    if isinstance(value, dict) and set(value) == {"msix"}:
        return parse_int(value["msix"])
    raise ValueError(f"expected 'intx' or {{msix: N}}, got {value!r}")


Interrupts = Annotated[int, BeforeValidator(parse_interrupts), AfterValidator(_fits(16)),
                       WithJsonSchema({"anyOf": [{"const": "intx"}, {"type": "object", "properties": {
                           "msix": {"type": "integer", "minimum": 1, "maximum": 16}}, "required": ["msix"],
                           "additionalProperties": False}]})]


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
        return self._source

    def location(self, *more: Any, key: bool = False) -> Location | None:
        return self._source.location(*more, key=key) if self._source else None


# --- the input format ----------------------------------------------------------------------

class Console(Node):
    """A console: the cell's own (cell descriptor) or the hypervisor's debug console."""
    type: _choice(jh.CONSOLE_TYPES, "console type", 16) = Field(0, description="console kind", examples=["8250", "pl011"])
    address: Int = Field(0, description="register base (MMIO address or I/O port)")
    size: Size32 = Field(0, description="register window size")
    flags: _flags(jh.CONSOLE_FLAGS, "console flag", 16) = Field(0, description="mmio, regdist-4, ...", examples=[["mmio", "regdist-4"]])
    divider: U32 = 0
    gate_nr: U32 = 0
    clock_reg: Int = 0


class MemoryRegion(Node):
    """A memory region of a cell: physical range, where the cell sees it, and access."""
    name: str | None = Field(None, description="optional name, used by references and in messages")
    phys: Int = Field(0, description="physical start address (0 for the communication region)")
    virt: Int | None = Field(None, description="address the cell sees; defaults to phys")
    size: Size = Field(0, description="size in bytes", examples=["1M"])
    flags: _flags(jh.MEM_FLAGS, "memory flag", 64) = Field(0, description="access words", examples=[["read", "write", "execute", "dma"]])

    @property
    def virt_start(self) -> int:
        return self.phys if self.virt is None else self.virt


class LinkPlacement(Node):
    """``- link: NAME`` in a cell's memory list: where that link's derived regions go."""
    link: str = Field(description="name of a link this cell is a peer of")
    virt: Int | None = Field(None, description="where this cell maps the link (defaults to the link base)")


class PciLinkPlacement(Node):
    """``- link: NAME`` in a cell's pci_devices list: where the link's device entry goes."""
    link: str


class CacheRegion(Node):
    start: U32
    size: U32
    type: _choice(jh.CACHE_TYPES, "cache type", 8) = 3
    flags: _flags(jh.CACHE_FLAGS, "cache flag", 16) = 0
    padding: U8 = 0


class Irqchip(Node):
    """An interrupt controller and the interrupt lines the cell owns on it."""
    address: Int = Field(description="register base of the controller (IOAPIC / GIC distributor)")
    id: U32 = 0
    pin_base: U32 = Field(0, description="first line of the 128-line window")
    interrupts: NumberSet = Field((), description="absolute line numbers, e.g. 32-63,70")


class PioRegion(Node):
    name: str | None = None
    base: U16
    length: U16


class PciCapability(Node):
    id: U16 = Field(description="capability ID (0x05 MSI, 0x10 PCIe, 0x11 MSI-X, ...)")
    extended: bool = Field(False, description="a PCIe extended capability (sets bit 15 of the ID)")
    start: U16 = Field(description="offset in configuration space")
    length: U16
    flags: _flags(jh.PCI_CAP_FLAGS, "capability flag", 16) = 0


class PciCapGroup(Node):
    """A named run of capabilities that PCI devices refer to."""
    name: str
    caps: list[PciCapability] = []


class PciDevice(Node):
    name: str | None = None
    type: _choice(jh.PCI_TYPES, "PCI device type", 8) = 1
    iommu: U8 = 0
    domain: U16 = 0
    bdf: Bdf
    bar_mask: list[U32] = Field([], max_length=6)
    caps: list[str] = Field([], description="names of consecutive capability groups")
    caps_start: U16 | None = Field(None, description="raw capability index (only without caps)")
    msi_vectors: U8 = 0
    msi_flags: _flags(jh.PCI_MSI_FLAGS, "MSI flag", 8) = 0
    msix_vectors: U16 = 0
    msix_region_size: Size16 = 0
    msix_address: Int = 0
    shmem_regions: str | U32 | None = Field(None, description="ivshmem: first memory region (name or index)")
    shmem_dev_id: U8 = 0
    shmem_peers: U8 = 0
    shmem_protocol: Protocol = 0


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
    name: str = Field(description=f"cell name, at most {jh.CELL_NAME_MAXLEN} characters")
    arch: _choice(jh.ARCHITECTURES, "architecture", 8) | None = Field(
        None, description="only for a standalone cell (no system); otherwise the system's")
    flags: _flags(jh.CELL_FLAGS, "cell flag", 32) = 0
    cpus: NumberSet = Field((), description="CPU numbers, e.g. 0-3,6")
    cpu_set_size: U32 | None = Field(None, description="bytes of CPU bitmap (default: 8 per 64 CPUs)")
    memory: list[MemoryItem] = []
    cache_regions: list[CacheRegion] = []
    irqchips: list[Irqchip] = []
    pio: list[PioRegion] = []
    pci_caps: list[PciCapGroup] = []
    pci_devices: list[PciItem] = []
    stream_ids: list[U32] = []
    vpci_irq_base: U32 = 0
    cpu_reset_address: Int = 0
    msg_reply_timeout: Int = 0
    console: Console = Console()
    id: U32 = Field(0, description="always 0 in files (the driver assigns it)")


class Link(Node):
    """A shared-memory link (ivshmem v2) between 2..12 cells, declared once."""
    bdf: Bdf = Field(description="PCI address of the virtual device, identical for all peers")
    domain: U16 = 0
    iommu: U8 = 0
    base: Int = Field(description="physical base address of the state table")
    state_table: Size = Field(jh.PAGE_SIZE, description="state table size (>= 4 bytes per peer, page multiple)")
    rw_section: Size = Field(0, description="common read/write section size (may be 0)")
    output_section: Size = Field(0, description="size of each peer's output section (may be 0)")
    peers: list[str] = Field(description="cell names; the position is the peer ID")
    interrupts: Interrupts = Field(0, description="intx, or {msix: N} with N <= 16")
    protocol: Protocol = Field(0, description="undefined, veth, custom:0x4000-0x7fff, or virtio:DEVICE with backend")
    backend: str | None = Field(None, description="virtio links: the back-end peer; every other peer is a front-end")
    bar_mask: list[U32] | None = Field(None, max_length=6, description="defaults from the interrupt model")

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

    @property
    def effective_bar_mask(self) -> tuple[int, ...]:
        if self.bar_mask is not None:
            return tuple(self.bar_mask) + (0,) * (6 - len(self.bar_mask))
        return jh.IVSHMEM_BAR_MASK_MSIX if self.interrupts else jh.IVSHMEM_BAR_MASK_INTX


class HypervisorMemory(Node):
    phys: Int
    size: Size
    virt: Int = 0
    flags: _flags(jh.MEM_FLAGS, "memory flag", 64) = 0


class PciPlatform(Node):
    mmconfig_base: Int = 0
    end_bus: U8 = 0
    virtual: bool = False
    domain: U16 = 0


class AmdIommu(Node):
    bdf: Bdf = 0
    base_cap: U8 = 0
    msi_cap: U8 = 0
    features: U32 = 0


class PvuIommu(Node):
    tlb_base: Int = 0
    tlb_size: U32 = 0


class Iommu(Node):
    type: _choice(jh.IOMMU_TYPES, "IOMMU type", 32)
    base: Int = 0
    size: Size32 = 0
    amd: AmdIommu | None = None
    pvu: PvuIommu | None = None


class X86Platform(Node):
    pm_timer_address: U16 = 0
    apic_mode: _choice(jh.APIC_MODES, "APIC mode", 8) = 0
    vtd_interrupt_limit: U32 = 0
    tsc_khz: U32 = 0
    apic_khz: U32 = 0


class ArmPlatform(Node):
    maintenance_irq: U8 = 0
    gic_version: U8 = 0
    gicd_base: Int = 0
    gicc_base: Int = 0
    gich_base: Int = 0
    gicv_base: Int = 0
    gicr_base: Int = 0


class Platform(Node):
    """The machine: only in a system's own file, next to its root cell."""
    arch: _choice(jh.ARCHITECTURES, "architecture", 8)
    flags: _flags(jh.SYSTEM_FLAGS, "system flag", 32) = 0
    hypervisor_memory: HypervisorMemory
    debug_console: Console = Console()
    pci: PciPlatform = PciPlatform()
    iommus: list[Iommu] = Field([], max_length=jh.MAX_IOMMU_UNITS)
    x86: X86Platform | None = None
    arm: ArmPlatform | None = None


class Document(Node):
    """One YAML file. ``system`` names the system it belongs to; the file that also has
    ``platform`` is that system's own file and its ``cell`` is the root cell."""
    system: str | None = Field(None, description="name of the system this file belongs to")
    platform: Platform | None = None
    cell: Cell | None = None
    links: dict[str, Link] = {}


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
            location = doc.location(loc)
            if kind in ("model_type", "dict_type"):
                message = "expected a mapping of keys here"
            message = f"{where}: {message}" if where else message
        result.append(error(rule, message, location, hint=hint))
    return result


def _attach_sources(obj: Any, doc: SourceDoc, path: tuple) -> None:
    if isinstance(obj, Node):
        obj._source = SourceRef(doc, path)
        for name in type(obj).model_fields:
            value = getattr(obj, name)
            if isinstance(value, (Node, list, dict)):
                _attach_sources(value, doc, path + (name,))
    elif isinstance(obj, list):
        for i, item in enumerate(obj):
            if isinstance(item, (Node, list, dict)):
                _attach_sources(item, doc, path + (i,))
    elif isinstance(obj, dict):
        for key, item in obj.items():
            _attach_sources(item, doc, path + (key,))


def document_of(doc: SourceDoc) -> Document:
    """The typed Document of a loaded YAML file; ConfigError lists every schema problem."""
    if doc.data is None:
        raise ConfigError([error("SCHEMA-EMPTY", "the file is empty", Location(doc.file, 1, 1),
                                 hint="a partcfg file has 'system:' and a 'cell:', 'platform:' or 'links:'")])
    if not isinstance(doc.data, dict):
        raise ConfigError([error("SCHEMA-TYPE", "expected a mapping at the top of the file",
                                 doc.location(()))])
    try:
        model = Document.model_validate(doc.data)
    except ValidationError as exc:
        raise ConfigError(_diagnostics_of(exc, doc)) from None
    _attach_sources(model, doc, ())
    return model


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


def assembly_of(documents: Iterable[Document], unreadable_systems: Iterable[str] = ()) -> Assembly:
    """Group documents into systems by their ``system:`` name (files in the given order).
    ``unreadable_systems`` names systems whose own file failed to load: files that belong
    to them are skipped quietly (the load error already says what is wrong)."""
    docs = list(documents)
    unreadable = set(unreadable_systems)
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
    for d in docs:
        if d.platform is not None:
            target = by_name.get(d.system or "")
            if target and target.documents[0] is d:
                _add_links(target, d, result)
            continue
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
            clash = target.cell_named(d.cell.name)
            if clash is not None:
                result.diagnostics.append(error(
                    "CELL-DUPLICATE", f"cell name {d.cell.name!r} is used twice in system {target.name!r}",
                    d.cell.location("name"), related=[clash.location("name")]))
            else:
                target.cells.append(d.cell)
        _add_links(target, d, result)
    result.systems = list(by_name.values())
    for cell in result.standalone:
        if cell.arch is None:
            result.diagnostics.append(error(
                "CELL-ARCH", f"standalone cell {cell.name!r} must state its architecture",
                cell.location("name"), hint="add 'arch: x86' (or arm, arm64), or 'system: <name>'"))
    for system in result.systems:
        for cell in system.all_cells:
            if cell.arch is not None and cell.arch != system.arch:
                result.diagnostics.append(error(
                    "CELL-ARCH", f"cell {cell.name!r} says arch {_arch_name(cell.arch)} but system "
                    f"{system.name!r} is {_arch_name(system.arch)}", cell.location("arch"),
                    related=[system.platform.location("arch")]))
    return result


def _arch_name(arch: int) -> str:
    return {v: k for k, v in jh.ARCHITECTURES.items()}.get(arch, str(arch))


def _add_links(system: System, doc: Document, result: Assembly) -> None:
    for name, link in doc.links.items():
        if name in system.links:
            result.diagnostics.append(error(
                "LINK-DUPLICATE", f"link {name!r} is declared twice in system {system.name!r}",
                link.location(key=True), related=[system.links[name].location(key=True)]))
            continue
        system.links[name] = link


# --- what a link means for each peer (spec/ivshmem-v2.md) -----------------------------------

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
    shared = 0 if is_root else jh.MEM_ROOTSHARED
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


def regions_of_cell(system: System | None, cell: Cell) -> list[Region]:
    """The cell's memory-region array: declared regions and link placements in list order,
    then the regions of links the cell is a peer of but did not place, in link order."""
    is_root = system is not None and cell is system.root
    mine = {name: (link, peer) for name, link, peer in links_of_cell(system, cell)}
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

