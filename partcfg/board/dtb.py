"""Board reader: a flattened device tree (``.dtb``) -> :class:`~.facts.Board`.

An input reader, like ``load.py`` for YAML. The blob is parsed by libfdt (the dtc
project's own library, through its Python binding ``pylibfdt``); this module only walks
the nodes it returns and interprets the few bindings the checks need: memory nodes,
``/reserved-memory``, ``/chosen`` (bootargs, stdout-path), ``/cpus``, the GIC (v2 and v3,
with its ITS), SMMUs, UARTs, PCI ECAM hosts, and every other node with registers. ``reg``
is translated to CPU addresses through the parents' ``ranges``; a node whose parent has no
``ranges`` (an I2C or SPI device, ...) has no CPU address and is not a device here.

All input is hostile: the blob size, the node count and the depth are bounded, and every
libfdt failure becomes one ``BOARD-READ`` diagnostic.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass, field

from ..diagnostics import InputError, Location, error
from .facts import (DEVICETREE, Board, Device, Gic, IommuUnit, PciHost, Span, Uart)

MAX_DTB_BYTES = 16 << 20       # real device trees are tens of KiB (QEMU pads to 1 MiB)
MAX_NODES = 65536
MAX_DEPTH = 32
MAX_PROP_BYTES = 1 << 20
FDT_MAGIC = b"\xd0\x0d\xfe\xed"

GICV3_COMPATIBLE = ("arm,gic-v3",)
GICV2_COMPATIBLE = ("arm,gic-400", "arm,cortex-a15-gic", "arm,cortex-a9-gic", "arm,cortex-a7-gic",
                    "arm,arm11mp-gic", "arm,arm1176jzf-devchip-gic", "arm,eb11mp-gic",
                    "arm,pl390", "arm,tc11mp-gic", "qcom,msm-8660-qgic", "qcom,msm-qgic2")
ITS_COMPATIBLE = ("arm,gic-v3-its",)
IOMMU_KINDS = {"arm,smmu-v3": "smmuv3", "arm,mmu-500": "mmu500", "ti,j721e-pvu": "pvu",
               "arm,smmu-v2": None, "arm,smmu-v1": None, "arm,mmu-400": None, "arm,mmu-401": None}
# UART compatible -> console type word (jailhouse.CONSOLE_TYPES); first match wins
UART_KINDS = (
    (re.compile(r"^arm,pl011$|^arm,sbsa-uart$"), "pl011"),
    (re.compile(r"^ns(16550a?|16750|8250)$|^snps,dw-apb-uart$|^ti,.*uart$|^nvidia,tegra.*-uart$"
                r"|^brcm,bcm2835-aux-uart$|^mediatek,mt\d+-uart$"), "8250"),
    (re.compile(r"^xlnx,xuartps$|^cdns,uart-r1p\d+$"), "xuartps"),
    (re.compile(r"^marvell,armada-3700-uart$"), "mvebu"),
    (re.compile(r"^renesas,.*hscif"), "hscif"),
    (re.compile(r"^renesas,.*scifa"), "scifa"),
    (re.compile(r"^renesas,.*scif"), "scif"),
    (re.compile(r"^fsl,.*lpuart$"), "imx-lpuart"),
    (re.compile(r"^fsl,imx\w*-uart$"), "imx"),
)
ARM64_CPUS = re.compile(r"^arm,(cortex-a(3[45]|5\d|6\d|7\d+\w*|x\d)|armv8|neoverse-.*)$|^apple,|^cavium,thunder")


@dataclass
class _Node:
    path: str
    name: str
    parent: "_Node | None"
    props: dict[str, bytes] = field(default_factory=dict)
    children: list["_Node"] = field(default_factory=list)
    parsed_ranges: list[tuple[int, int, int]] | None = None   # (child, parent, size), sorted

    def cells(self, name: str) -> list[int]:
        raw = self.props.get(name, b"")
        return [int.from_bytes(raw[i:i + 4], "big") for i in range(0, len(raw) - len(raw) % 4, 4)]

    def cell(self, name: str, default: int) -> int:
        values = self.cells(name)
        return values[0] if values else default

    def strings(self, name: str) -> tuple[str, ...]:
        raw = self.props.get(name)
        if not raw:
            return ()
        return tuple(s.decode("utf-8", "replace") for s in raw.rstrip(b"\0").split(b"\0") if s)

    def string(self, name: str) -> str | None:
        values = self.strings(name)
        return values[0] if values else None

    @property
    def enabled(self) -> bool:
        return self.string("status") in (None, "okay", "ok")


def _read_error(source: str, reason: str) -> InputError:
    return InputError([error("BOARD-READ", f"cannot read the device tree {source}: {reason}",
                             Location(source),
                             hint="pass a flattened device tree blob (.dtb); compile a .dts "
                                  "source with: dtc -I dts -O dtb -o board.dtb board.dts")])


def _nodes_of(data: bytes, source: str) -> tuple[_Node, list[tuple[int, int]]]:
    """The node tree of the blob as plain Python objects, and its /memreserve/ entries
    (address, size), within the bounds."""
    try:
        import libfdt
    except ImportError:  # pragma: no cover - a dependency of the package
        raise InputError([error("BOARD-READ", "reading device trees needs the pylibfdt package",
                                Location(source), hint="pip install pylibfdt")]) from None
    if len(data) > MAX_DTB_BYTES:
        raise _read_error(source, f"{len(data)} bytes is more than the {MAX_DTB_BYTES >> 20} MiB "
                                  "a device tree may have here")
    if data[:4] != FDT_MAGIC:
        raise _read_error(source, "it does not start with the device-tree magic d00dfeed"
                                  + (" (this looks like a .dts source)" if data.lstrip()[:5] in
                                     (b"/dts-", b"/ {") else ""))
    try:
        # libfdt's walkers trust the structure they walk; fdt_check_full is libfdt's own full
        # validation for untrusted blobs (offsets, sizes, nesting, tags, string references)
        buffer = bytearray(data)
        status = libfdt.fdt_check_full(buffer, len(buffer))
        if status < 0:
            raise _read_error(source, f"libfdt rejects it: {libfdt.fdt_strerror(status)}")
        fdt = libfdt.Fdt(data)
        if fdt.totalsize() > len(data):
            raise _read_error(source, f"the header says {fdt.totalsize()} bytes, the file has {len(data)}")
        root = _Node("/", "", None)
        count = 0
        stack = [(0, root, 0)]
        while stack:
            offset, node, depth = stack.pop()
            count += 1
            if count > MAX_NODES:
                raise _read_error(source, f"more than {MAX_NODES} nodes")
            prop = fdt.first_property_offset(offset, libfdt.QUIET_NOTFOUND)
            while prop >= 0:
                p = fdt.get_property_by_offset(prop)
                value = bytes(p)
                if len(value) > MAX_PROP_BYTES:
                    raise _read_error(source, f"property {p.name!r} of {node.path} is larger than "
                                              f"{MAX_PROP_BYTES >> 20} MiB")
                node.props[p.name] = value
                prop = fdt.next_property_offset(prop, libfdt.QUIET_NOTFOUND)
            if prop != -libfdt.NOTFOUND:
                raise _read_error(source, f"a property of {node.path} cannot be decoded "
                                          f"({libfdt.fdt_strerror(prop)})")
            child = fdt.first_subnode(offset, libfdt.QUIET_NOTFOUND)
            kids = []
            while child >= 0:
                if depth + 1 > MAX_DEPTH:
                    raise _read_error(source, f"nodes nest deeper than {MAX_DEPTH} levels")
                name = fdt.get_name(child)
                kid = _Node(("/" if node.path == "/" else node.path + "/") + name, name, node)
                node.children.append(kid)
                kids.append((child, kid, depth + 1))
                child = fdt.next_subnode(child, libfdt.QUIET_NOTFOUND)
            if child != -libfdt.NOTFOUND:
                raise _read_error(source, f"the children of {node.path} cannot be decoded "
                                          f"({libfdt.fdt_strerror(child)})")
            stack.extend(reversed(kids))
        reserve = [fdt.get_mem_rsv(i) for i in range(min(fdt.num_mem_rsv(), 1024))]
        return root, reserve
    except libfdt.FdtException as exc:
        raise _read_error(source, str(exc)) from None
    except (UnicodeDecodeError, ValueError, TypeError, IndexError, SystemError) as exc:
        # SystemError: the binding fails to decode a name that is not UTF-8
        raise _read_error(source, f"malformed ({exc})") from None


def _walk(root: _Node):
    stack = [root]
    while stack:
        node = stack.pop()
        yield node
        stack.extend(reversed(node.children))


def _address_cells(node: _Node | None) -> tuple[int, int]:
    """#address-cells and #size-cells a node gives its children (defaults 2 and 1)."""
    if node is None:
        return 2, 1
    return min(node.cell("#address-cells", 2), 4), min(node.cell("#size-cells", 1), 4)


def _number(cells: list[int]) -> int:
    value = 0
    for c in cells:
        value = (value << 32) | c
    return value


def _ranges_of(bus: _Node) -> list[tuple[int, int, int]] | None:
    """The bus's ``ranges`` as sorted (child address, parent address, size), parsed once
    per bus (a hostile tree may give thousands of children one huge ranges property)."""
    raw = bus.cells("ranges")
    if not raw:
        return None
    if bus.parsed_ranges is None:
        child_ac, child_sc = _address_cells(bus)
        parent_ac, _ = _address_cells(bus.parent)
        step = max(child_ac + parent_ac + child_sc, 1)
        bus.parsed_ranges = sorted(
            (_number(raw[i:i + child_ac]), _number(raw[i + child_ac:i + child_ac + parent_ac]),
             _number(raw[i + child_ac + parent_ac:i + step]))
            for i in range(0, len(raw) - step + 1, step))
    return bus.parsed_ranges


def _translate(node: _Node, address: int) -> int | None:
    """A child address of ``node``'s parent bus, as a CPU address (None: not translatable)."""
    bus = node.parent
    while bus is not None and bus.parent is not None:
        if "ranges" not in bus.props:
            return None
        entries = _ranges_of(bus)
        if entries is not None:  # None: empty ranges, the identity
            i = bisect.bisect_right(entries, (address, 1 << 256, 0)) - 1
            if i < 0 or not entries[i][0] <= address < entries[i][0] + entries[i][2]:
                return None
            child, parent, _ = entries[i]
            address = parent + (address - child)
        bus = bus.parent
    return address


def _reg_of(node: _Node, source: str) -> list[Span]:
    """The node's ``reg`` entries as CPU-address spans (empty when it has none)."""
    if "reg" not in node.props or node.parent is None:
        return []
    ac, sc = _address_cells(node.parent)
    if ac == 0 or ac + sc == 0 or (node.parent.parent is not None and ac > 2):
        return []  # not memory-mapped (e.g. PCI or I2C addresses)
    raw = node.cells("reg")
    spans = []
    for i in range(0, len(raw) - (ac + sc) + 1, ac + sc):
        start = _translate(node, _number(raw[i:i + ac]))
        size = _number(raw[i + ac:i + ac + sc]) if sc else 0
        if start is None:
            return []
        if size and start + size <= 1 << 64:
            spans.append(Span(start, start + size, node.path, Location(source)))
    return spans


def _phandles(root: _Node) -> dict[int, _Node]:
    result = {}
    for node in _walk(root):
        for key in ("phandle", "linux,phandle"):
            if key in node.props:
                result[node.cell(key, 0)] = node
    return result


def _interrupt_parent(node: _Node, phandles: dict[int, _Node]) -> _Node | None:
    at: _Node | None = node
    while at is not None:
        if "interrupt-parent" in at.props:
            return phandles.get(at.cell("interrupt-parent", 0))
        at = at.parent
    return None


def _gic_line(cells: list[int]) -> int | None:
    """The absolute line of a 3-cell GIC specifier: SPI n -> 32 + n, PPI n -> 16 + n."""
    if len(cells) < 2:
        return None
    kind, number = cells[0], cells[1]
    if kind == 0 and number < 988:
        return 32 + number
    if kind == 1 and number < 16:
        return 16 + number
    return None


def _is_gic(node: _Node | None) -> bool:
    return node is not None and any(c in GICV3_COMPATIBLE + GICV2_COMPATIBLE
                                    for c in node.strings("compatible"))


def _interrupts_of(node: _Node, phandles: dict[int, _Node]) -> tuple[int, ...]:
    """The GIC lines a node raises (lines routed through another controller are left out)."""
    lines: list[int] = []
    if "interrupts-extended" in node.props:
        raw = node.cells("interrupts-extended")
        i = 0
        while i < len(raw):
            parent = phandles.get(raw[i])
            if parent is None:
                break
            n = parent.cell("#interrupt-cells", 1)
            if _is_gic(parent):
                line = _gic_line(raw[i + 1:i + 1 + n])
                if line is not None:
                    lines.append(line)
            i += 1 + max(n, 1)
    elif "interrupts" in node.props:
        parent = _interrupt_parent(node, phandles)
        if _is_gic(parent):
            n = max(parent.cell("#interrupt-cells", 3), 2)  # type: ignore[union-attr]
            raw = node.cells("interrupts")
            for i in range(0, len(raw) - n + 1, n):
                line = _gic_line(raw[i:i + n])
                if line is not None:
                    lines.append(line)
    return tuple(lines)


def _uart_kind(compatible: tuple[str, ...]) -> str | None:
    for c in compatible:
        for pattern, kind in UART_KINDS:
            if pattern.search(c):
                return kind
    return None


def _looks_like_uart(node: _Node) -> bool:
    compatible = node.strings("compatible")
    return _uart_kind(compatible) is not None or any("uart" in c or "serial" in c for c in compatible) \
        or node.name.split("@")[0] in ("serial", "uart")


def board_of_dtb(data: bytes, source: str) -> Board:
    """The facts of a flattened device tree blob (raises InputError on an unreadable one)."""
    root, memreserve = _nodes_of(data, source)
    phandles = _phandles(root)
    where = Location(source)
    compatible_cpus = []
    board = Board(source, DEVICETREE, ("arm", "arm64"), model=root.string("model") or "")
    skip: set[int] = set()   # nodes whose registers are classified on their own

    for node in root.children:
        if node.name == "cpus":
            for cpu in node.children:
                if cpu.string("device_type") == "cpu" and cpu.enabled:
                    board.cpus.append(cpu.path)
                    compatible_cpus.extend(cpu.strings("compatible"))
            for n in _walk(node):
                skip.add(id(n))
        elif node.name == "chosen":
            board.bootargs = node.string("bootargs") or ""
            board.bootargs_what = f"{node.path}/bootargs"
            stdout = node.string("stdout-path") or node.string("linux,stdout-path")
            if stdout:
                stdout = stdout.split(":")[0]
                if not stdout.startswith("/"):  # an alias
                    aliases = next((n for n in root.children if n.name == "aliases"), None)
                    stdout = aliases.string(stdout) if aliases else None
                board.stdout = stdout
        elif node.name == "reserved-memory":
            for child in node.children:
                if not child.enabled:
                    continue
                for span in _reg_of(child, source):
                    (board.reserved_no_map if "no-map" in child.props
                     else board.reserved_mapped).append(span)
            for n in _walk(node):
                skip.add(id(n))
    if any(ARM64_CPUS.search(c) for c in compatible_cpus):
        board.arch_words = ("arm64",)
    for address, size in memreserve:
        if size:
            board.reserved_mapped.append(Span(address, address + size, "/memreserve/", where))

    for node in _walk(root):
        if id(node) in skip or node is root:
            continue
        if not node.enabled and (node.string("device_type") == "memory" or _is_gic(node)):
            continue  # a disabled device still has registers (and is often a non-root cell's)
        if node.string("device_type") == "memory":
            board.memory.extend(_reg_of(node, source))
            skip.add(id(node))
            continue
        compatible = node.strings("compatible")
        if _is_gic(node) and board.gic is None:
            board.gic = _gic_of(node, source, phandles)
            for n in _walk(node):
                skip.add(id(n))
            continue
        spans = _reg_of(node, source)
        if not spans:
            continue
        for c in compatible if node.enabled else ():
            if c in IOMMU_KINDS:
                board.iommus.append(IommuUnit(IOMMU_KINDS[c], spans[0], node.path))
                skip.add(id(node))
                break
        if id(node) in skip:
            continue
        if node.enabled and (node.string("device_type") == "pci" and "pci-host-ecam-generic" in compatible
                             or "pci-host-cam-generic" in compatible):
            buses = node.cells("bus-range") or [0, 0xFF]
            domain = node.cell("linux,pci-domain", 0)
            board.pci_hosts.append(PciHost(spans[0], buses[0], buses[-1], domain))
        if node.enabled and _looks_like_uart(node):
            board.uarts.append(Uart(_uart_kind(compatible), spans[0], node.path, compatible,
                                    regdist_4=node.cell("reg-shift", 0) == 2
                                    or _uart_kind(compatible) == "pl011"))
        board.devices.append(Device(node.path, tuple(spans), compatible,
                                    _interrupts_of(node, phandles), where, node.enabled))
    board.linux_ram = list(board.memory)
    return board


def _gic_of(node: _Node, source: str, phandles: dict[int, _Node]) -> Gic:
    compatible = node.strings("compatible")
    spans = _reg_of(node, source)
    named = [Span(s.start, s.end, f"{node.path} reg[{i}]", s.where) for i, s in enumerate(spans)]
    maintenance = None
    if "interrupts" in node.props:
        raw = node.cells("interrupts")
        maintenance = _gic_line(raw[:3])
    its = tuple(Device(child.path, tuple(_reg_of(child, source)), child.strings("compatible"),
                       where=Location(source))
                for child in node.children
                if child.enabled and any(c in ITS_COMPATIBLE for c in child.strings("compatible")))

    def at(i: int) -> Span | None:
        return named[i] if i < len(named) else None

    if any(c in GICV3_COMPATIBLE for c in compatible):
        regions = max(node.cell("#redistributor-regions", 1), 1)
        rest = 1 + regions
        return Gic(node.path, 3, at(0), tuple(named[1:rest]),
                   node.cell("redistributor-stride", 0) or 0x20000,
                   at(rest), at(rest + 1), at(rest + 2), maintenance, its, Location(source))
    return Gic(node.path, 2, at(0), (), 0, at(1), at(2), at(3), maintenance, its, Location(source))
