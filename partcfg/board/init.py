"""A starting system from a board: :class:`~.facts.Board` -> the YAML of a platform and a
root cell (``partcfg init --board board.dtb -o DIR``).

Works from the board facts alone (an input reader's output) and writes text; what it
writes is loaded, modelled and checked like any other input. The platform gets the GIC,
the console UART named by ``/chosen/stdout-path``, the IOMMUs the hypervisor has drivers
for, and the hypervisor memory (a ``/reserved-memory`` child named ``jailhouse`` or
``hypervisor`` with ``no-map``, or the range given by the caller). The root cell gets
every CPU, all RAM but the hypervisor's, every device with registers (one region per
run of pages, with a comment naming each device-tree node in it) and the interrupt lines
of those devices. It checks clean against the same board, which the tests prove.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from ..diagnostics import InputError, error
from ..names import file_stem_of
from ..units import format_ranges, format_size
from .facts import DEVICETREE, Board, uncovered

PAGE = 0x1000
PINS_PER_IRQCHIP = 128
HYPERVISOR_NODE_NAMES = ("jailhouse", "hypervisor")


@dataclass
class InitResult:
    """The files to write (relative name -> bytes) and what the user must still do."""
    outputs: dict[str, bytes]
    notes: list[str]
    bootargs: str | None = None     # the kernel argument that reserves the hypervisor memory


def _safe(text: str) -> str:
    """Board text (node paths, model) for a YAML comment: printable ASCII only, so a hostile
    name cannot end the comment and add keys."""
    return "".join(c if " " <= c <= "~" else "?" for c in text)[:200]


def _scalar(text: str) -> str:
    """A name as a YAML scalar that stays a string (quoted unless plainly a word)."""
    if re.fullmatch(r"[A-Za-z_][A-Za-z0-9._-]*", text) and text.lower() not in ("true", "false", "null"):
        return text
    return json.dumps(text)


def _hex(value: int) -> str:
    return f"{value:#010x}" if value < 1 << 32 else f"{value:#x}"


def _size(value: int) -> str:
    return _hex(value) if value < 10 else format_size(value)


def _node_name(path: str) -> str:
    return path.rsplit("/", 1)[-1].split("@")[0] or "device"


def _hypervisor_memory_of(board: Board, given: tuple[int, int] | None) -> tuple[int, int, str]:
    """(phys, size, where it came from)."""
    where = board.location
    if given is not None:
        phys, size = given
        source = "--hypervisor-memory"
    else:
        found = [s for s in board.reserved_no_map
                 if _node_name(s.what).startswith(HYPERVISOR_NODE_NAMES)]
        if not found:
            raise InputError([error(
                "INIT-HYPERVISOR-MEMORY", f"{board.source} has no /reserved-memory child named "
                f"jailhouse or hypervisor (with no-map) to take the hypervisor memory from", where,
                hint="pass --hypervisor-memory ADDR:SIZE (e.g. the last 4M of RAM), or add "
                     "'jailhouse@ADDR { reg = <...>; no-map; };' under /reserved-memory")])
        phys, size = found[0].start, found[0].size
        source = found[0].what
    if size <= 0 or phys % PAGE or size % PAGE:
        raise InputError([error("INIT-HYPERVISOR-MEMORY", f"the hypervisor memory {_hex(phys)}+{_hex(size)} "
                                 "is not a page-aligned, non-empty range", where)])
    if uncovered(phys, phys + size, [(m.start, m.end) for m in board.memory]):
        raise InputError([error(
            "INIT-HYPERVISOR-MEMORY", f"the hypervisor memory {_hex(phys)}-{_hex(phys + size - 1)} "
            f"({source}) is not inside the board's RAM", where,
            hint="memory: " + ", ".join(f"{m.what} {_hex(m.start)}-{_hex(m.end - 1)}" for m in board.memory))])
    return phys, size, source


def _device_runs(board: Board, avoid: list[tuple[int, int]]) -> list[tuple[int, int, list[str]]]:
    """(start, end, node paths) of page-rounded device ranges, merged where they share pages."""
    pieces = []
    for device in board.devices:
        for s in device.spans:
            lo, hi = s.start & ~(PAGE - 1), (s.end + PAGE - 1) & ~(PAGE - 1)
            if any(lo < b and a < hi for a, b in avoid):
                continue
            pieces.append((lo, hi, device.path))
    pieces.sort()
    runs: list[tuple[int, int, list[str]]] = []
    for lo, hi, path in pieces:
        if runs and lo < runs[-1][1]:
            start, end, paths = runs[-1]
            runs[-1] = (start, max(end, hi), paths + ([path] if path not in paths else []))
        else:
            runs.append((lo, hi, [path]))
    return runs


def _nodes_comment(paths: list[str], disabled: set[str]) -> str:
    paths = [p + (" (disabled)" if p in disabled else "") for p in paths]
    if len(paths) <= 3:
        return ", ".join(paths)
    return f"{paths[0]} .. {paths[-1]} ({len(paths)} nodes)"


def init_of_board(board: Board, name: str, hypervisor_memory: tuple[int, int] | None = None,
                  arch: str | None = None) -> InitResult:
    """The starting system for ``board``: ``{name}.yaml`` and the notes for the user."""
    where = board.location
    if board.kind != DEVICETREE:
        raise InputError([error("INIT-BOARD", f"partcfg init starts ARM systems from a device tree; "
                                 f"{board.source} is an {board.kind}", where,
                                 hint="x86 root cells: use a snapshot with 'partcfg check --board'")])
    gic = board.gic
    missing = [what for what, ok in (("memory", board.memory), ("CPUs", board.cpus),
                                     ("GIC", gic is not None and gic.distributor is not None)) if not ok]
    if missing:
        raise InputError([error("INIT-BOARD", f"{board.source} describes no {', '.join(missing)}: "
                                "nothing to start a system from", where)])
    assert gic is not None and gic.distributor is not None
    hv_phys, hv_size, hv_source = _hypervisor_memory_of(board, hypervisor_memory)
    hv_end = hv_phys + hv_size
    arch = arch or board.arch_words[-1]
    notes: list[str] = []

    lines = [
        "# Written by 'partcfg init' from the board's device tree: a starting point.",
        f"# Board: {_safe(board.source)}" + (f" (model {_safe(board.model)})" if board.model else ""),
        "# Check it with: partcfg check --board BOARD FILES... ; then give non-root cells",
        "# their CPUs, RAM and devices in files of their own.",
        f"system: {_scalar(name)}",
        "",
        "platform:",
        f"  arch: {arch}",
        f"  # {_safe(hv_source)}",
        f"  hypervisor_memory: {{phys: {_hex(hv_phys)}, size: {_size(hv_size)}}}",
    ]
    uart = next((u for u in board.uarts if u.path == board.stdout), None)
    if uart is None:
        uart = next((u for u in board.uarts if u.kind), None)
    if uart is not None and uart.kind:
        flags = ["mmio"] + (["regdist-4"] if uart.regdist_4 else [])
        lines += [f"  # {_safe(uart.path)}" + (" (/chosen/stdout-path)" if uart.path == board.stdout else ""),
                  f"  debug_console: {{type: {uart.kind}, address: {_hex(uart.span.start)}, "
                  f"size: {_size(max(uart.span.size, PAGE))}, "
                  f"flags: [{', '.join(flags)}]}}"]
    else:
        notes.append("no console UART the hypervisor has a driver for: the platform has no debug_console")
    units = [u for u in board.iommus if u.kind]
    if units:
        lines.append("  iommus:")
        for u in units:
            lines.append(f"    - {{type: {u.kind}, base: {_hex(u.span.start)}, size: {_size(u.span.size)}}}"
                         f"  # {_safe(u.path)}")
    lines += ["  arm:", f"    # {_safe(gic.path)}", f"    gic_version: {gic.version}"]
    if gic.maintenance_irq is not None:
        lines.append(f"    maintenance_irq: {gic.maintenance_irq}")
    lines.append(f"    gicd_base: {_hex(gic.distributor.start)}")
    for key, span in (("gicc_base", gic.cpu_interface), ("gich_base", gic.hyp_interface),
                      ("gicv_base", gic.virt_interface)):
        if span is not None:
            lines.append(f"    {key}: {_hex(span.start)}")
    if gic.version == 3 and gic.redistributor_regions:
        lines.append(f"    gicr_base: {_hex(gic.redistributor_regions[0].start)}")

    cpus = len(board.cpus)
    lines += ["", "cell:", f"  name: {_scalar(name)}", f"  # {_safe(board.cpus[0])}" + (f" .. {_safe(board.cpus[-1])}" if cpus > 1 else ""),
              f"  cpus: {'0' if cpus == 1 else f'0-{cpus - 1}'}", "  memory:"]
    used_names: dict[str, int] = {}

    def unique(base: str) -> str:
        used_names[base] = used_names.get(base, 0) + 1
        return base if used_names[base] == 1 else f"{base}-{used_names[base]}"

    for m in sorted(board.memory, key=lambda s: s.start):
        for lo, hi in uncovered(m.start, m.end, [(hv_phys, hv_end)]):
            lo_page, hi_page = (lo + PAGE - 1) & ~(PAGE - 1), hi & ~(PAGE - 1)
            if hi_page > lo_page:
                lines.append(f"    # {_safe(m.what)}" + (" (without the hypervisor memory)"
                                                   if m.start < hv_end and hv_phys < m.end else ""))
                lines.append(f"    - {{name: {unique('ram')}, phys: {_hex(lo_page)}, size: {_size(hi_page - lo_page)}, "
                             "flags: [read, write, execute, dma]}")
    avoid = [(m.start, m.end) for m in board.memory]
    for span in (gic.distributor, gic.cpu_interface, gic.hyp_interface, gic.virt_interface):
        if span is not None:
            avoid.append((span.start, span.end))
    if gic.version == 3 and gic.redistributor_regions:
        first = gic.redistributor_regions[0]
        avoid.append((first.start, first.start + max(cpus, 1) * gic.redistributor_stride))
    avoid += [(s.start, s.end) for its in gic.its for s in its.spans]
    avoid += [(u.span.start, u.span.end) for u in board.iommus]
    device_lines: set[int] = set()
    by_path = {d.path: d for d in board.devices}
    disabled = {d.path for d in board.devices if not d.enabled}
    for lo, hi, paths in _device_runs(board, avoid):
        lines.append(f"    # {_safe(_nodes_comment(paths, disabled))}")
        lines.append(f"    - {{name: {unique(_node_name(paths[0]))}, phys: {_hex(lo)}, size: {_size(hi - lo)}, "
                     "flags: [read, write, io]}")
        for path in paths:
            device_lines.update(line for line in by_path[path].interrupts if line >= 32)
    windows = sorted({(line - 32) // PINS_PER_IRQCHIP for line in device_lines})
    if windows:
        lines.append("  irqchips:  # every line of the windows the board's devices use")
        for w in windows:
            base = 32 + w * PINS_PER_IRQCHIP
            lines.append(f"    - {{address: {_hex(gic.distributor.start)}, pin_base: {base}, "
                         f"interrupts: {base}-{base + PINS_PER_IRQCHIP - 1}}}")
        lines.append(f"  # device lines: {format_ranges(device_lines)}")

    reserved = any(s.start <= hv_phys and hv_end <= s.end for s in board.reserved_no_map)
    bootargs = None
    if not reserved:
        below = sum(max(0, min(m.end, hv_phys) - m.start) for m in board.memory)
        last = max(board.memory, key=lambda m: m.end)
        if hv_end == last.end and below % (1 << 20) == 0:
            bootargs = f"mem={below >> 20}M"
            how = f"boot the root cell's Linux with {bootargs} (or add a /reserved-memory node with no-map)"
        else:
            how = (f"add 'jailhouse@{hv_phys:x} {{ reg = <{hv_phys >> 32:#x} {hv_phys & 0xFFFFFFFF:#x} "
                   f"{hv_size >> 32:#x} {hv_size & 0xFFFFFFFF:#x}>; no-map; }};' under /reserved-memory")
        notes.append(f"the hypervisor memory {_hex(hv_phys)}-{_hex(hv_end - 1)} is RAM Linux may "
                     f"allocate: {how}")
        lines.insert(lines.index("platform:") - 1, f"# Before 'jailhouse enable': {how}.")
    text = "\n".join(lines) + "\n"
    return InitResult({f"{file_stem_of(name)}.yaml": text.encode("utf-8")}, notes, bootargs)
