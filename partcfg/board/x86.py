"""Board reader: a snapshot of a running x86 machine -> :class:`~.facts.Board`.

An input reader. A snapshot is a directory or a tar archive (``partcfg collect`` writes
one) holding the target's files under their own paths: ``proc/iomem``, ``proc/cmdline``,
``proc/cpuinfo`` and ``sys/bus/pci/devices/*/resource``. ``/proc/iomem`` gives RAM
("System RAM"), firmware-reserved memory, the IOAPICs, the PCI MMCONFIG/ECAM window, DMAR
units and every claimed device range; the PCI resource files add the memory BARs.

All input is hostile: the archive is read in memory (nothing is extracted), only regular
files with the expected names are looked at, and every size and count is bounded.
"""

from __future__ import annotations

import re
import tarfile
from dataclasses import dataclass
from pathlib import Path

from ..diagnostics import InputError, Location, error
from ..load.bounded import TooLarge, bounded_bytes_of
from .facts import X86_SNAPSHOT, Board, Device, IommuUnit, PciHost, Span

MAX_FILE_BYTES = 4 << 20
MAX_MEMBERS = 8192
MAX_ARCHIVE_BYTES = 64 << 20
MAX_IOMEM_LINES = 100000
MAX_PCI_DEVICES = 4096
IOMEM, CMDLINE, CPUINFO = "proc/iomem", "proc/cmdline", "proc/cpuinfo"
PCI_RESOURCE = re.compile(r"^sys/bus/pci/devices/([0-9a-fA-F]{4}:[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-7])/resource$")
WANTED = (IOMEM, CMDLINE, CPUINFO)

_LINE = re.compile(r"^(\s*)([0-9a-fA-F]+)-([0-9a-fA-F]+) : (.*)$")
_MMCONFIG = re.compile(r"^PCI (?:ECAM|MMCONFIG) ([0-9a-fA-F]{4}) \[bus ([0-9a-fA-F]{2})-([0-9a-fA-F]{2})\]$")
# top-level iomem names of memory (the root cell maps them as RAM)
RAM_NAMES = ("System RAM", "Reserved", "reserved", "ACPI Tables", "ACPI Non-volatile Storage",
             "Persistent Memory", "Persistent Memory (legacy)", "Soft Reserved", "Unknown E820 type")
NOT_DEVICES = re.compile(r"^(System RAM|Reserved|reserved|Kernel (code|rodata|data|bss)|PCI Bus .*"
                         r"|ACPI .*|Crash kernel|Soft Reserved|Persistent Memory.*|Unknown E820 type)$")
IORESOURCE_MEM = 0x200


@dataclass(frozen=True)
class IomemLine:
    number: int        # 1-based line in the file
    depth: int
    start: int
    end: int           # exclusive
    name: str


def _problem(source: str, reason: str, hint: str | None = None) -> InputError:
    return InputError([error("BOARD-READ", f"cannot read the x86 snapshot {source}: {reason}",
                             Location(source), hint=hint or "make the snapshot with "
                             "'partcfg collect -o board.tar' on the target")])


def snapshot_files_of(path: Path) -> dict[str, bytes]:
    """Relative name -> bytes of the files of a snapshot directory or tar archive."""
    source = str(path)
    files: dict[str, bytes] = {}
    if path.is_dir():
        for name in WANTED:
            f = path / name
            if f.is_file():
                files[name] = _bounded_read(f, source)
        pci = path / "sys" / "bus" / "pci" / "devices"
        if pci.is_dir():
            entries = sorted(pci.iterdir())[:MAX_PCI_DEVICES]
            for entry in entries:
                rel = f"sys/bus/pci/devices/{entry.name}/resource"
                if PCI_RESOURCE.match(rel) and (entry / "resource").is_file():
                    files[rel] = _bounded_read(entry / "resource", source)
        return files
    try:
        if path.stat().st_size > MAX_ARCHIVE_BYTES:
            raise _problem(source, f"larger than {MAX_ARCHIVE_BYTES >> 20} MiB")
        with tarfile.open(path, "r:*") as archive:
            total = 0
            for count, member in enumerate(archive):
                if count >= MAX_MEMBERS:
                    raise _problem(source, f"more than {MAX_MEMBERS} entries")
                name = member.name.lstrip("./").lstrip("/")
                if not member.isfile() or not (name in WANTED or PCI_RESOURCE.match(name)):
                    continue
                if member.size > MAX_FILE_BYTES:
                    raise _problem(source, f"{name} is larger than {MAX_FILE_BYTES >> 20} MiB")
                total += member.size
                if total > MAX_ARCHIVE_BYTES:
                    raise _problem(source, f"the files add up to more than {MAX_ARCHIVE_BYTES >> 20} MiB")
                handle = archive.extractfile(member)
                if handle is not None:
                    files[name] = handle.read(MAX_FILE_BYTES + 1)[:MAX_FILE_BYTES]
    except (tarfile.TarError, EOFError, OSError, ValueError) as exc:
        raise _problem(source, f"not a readable tar archive ({exc})") from None
    return files


def _bounded_read(path: Path, source: str) -> bytes:
    try:
        return bounded_bytes_of(path, MAX_FILE_BYTES)
    except TooLarge:
        raise _problem(source, f"{path} is larger than {MAX_FILE_BYTES >> 20} MiB") from None
    except OSError as exc:
        raise _problem(source, f"{path}: {exc.strerror or exc}") from None


def iomem_lines_of(text: str) -> list[IomemLine]:
    """The parsed lines of /proc/iomem (lines that do not parse are skipped; ranges whose
    end is before their start too)."""
    result = []
    for number, line in enumerate(text.splitlines()[:MAX_IOMEM_LINES], 1):
        m = _LINE.match(line)
        if not m:
            continue
        start, last = int(m.group(2), 16), int(m.group(3), 16)
        if last < start or last >= 1 << 64:
            continue
        result.append(IomemLine(number, len(m.group(1)) // 2, start, last + 1, m.group(4).strip()))
    return result


def board_of_snapshot(path: Path) -> Board:
    """The facts of an x86 snapshot (directory or tar archive)."""
    source = str(path)
    files = snapshot_files_of(path)
    if IOMEM not in files:
        raise _problem(source, f"it has no {IOMEM}")
    iomem_where = f"{source}/{IOMEM}" if path.is_dir() else f"{source}:{IOMEM}"
    board = Board(source, X86_SNAPSHOT, ("x86",))
    lines = iomem_lines_of(files[IOMEM].decode("utf-8", "replace"))
    if not any(line.start or line.end > 1 for line in lines):
        raise _problem(source, f"{IOMEM} lists no addresses (it was read without root rights?)",
                       hint="run 'partcfg collect' as root: /proc/iomem shows zeros to other users")

    def span(line: IomemLine) -> Span:
        return Span(line.start, line.end, f"iomem line {line.number} '{line.name}'",
                    Location(iomem_where, line.number, 1))

    seen: set[tuple[int, int]] = set()
    for line in lines:
        if line.depth == 0 and line.name in RAM_NAMES:
            board.memory.append(span(line))
        if line.depth == 0 and line.name == "System RAM":
            board.linux_ram.append(span(line))
        if re.match(r"^IOAPIC \d+$", line.name):
            board.ioapics.append(span(line))
        m = _MMCONFIG.match(line.name)
        if m:
            board.pci_hosts.append(PciHost(span(line), int(m.group(2), 16), int(m.group(3), 16),
                                           int(m.group(1), 16)))
        if re.match(r"^dmar\d+$", line.name):
            board.iommus.append(IommuUnit("intel", span(line), f"iomem line {line.number} '{line.name}'"))
        elif line.name == "amd_iommu":
            board.iommus.append(IommuUnit("amd", span(line), f"iomem line {line.number} '{line.name}'"))
        hypervisors = bool(m) or re.match(r"^(IOAPIC \d+|dmar\d+|amd_iommu)$", line.name)
        if not NOT_DEVICES.match(line.name) and not hypervisors and (line.start, line.end) not in seen:
            seen.add((line.start, line.end))  # a driver's claim inside its BAR is the same device
            board.devices.append(Device(f"iomem line {line.number} '{line.name}'", (span(line),),
                                        where=Location(iomem_where, line.number, 1)))
    for rel in sorted(k for k in files if PCI_RESOURCE.match(k)):
        bdf = PCI_RESOURCE.match(rel).group(1)  # type: ignore[union-attr]
        text = files[rel].decode("ascii", "replace")
        for bar, line in enumerate(text.splitlines()[:17]):
            parts = line.split()
            try:
                start, last, flags = (int(p, 16) for p in parts[:3])
            except ValueError:
                continue
            if flags & IORESOURCE_MEM and last > start and (start, last + 1) not in seen:
                where = Location(f"{source}/{rel}" if path.is_dir() else f"{source}:{rel}", bar + 1, 1)
                board.devices.append(Device(f"PCI {bdf} resource {bar}", (
                    Span(start, last + 1, f"PCI {bdf} resource {bar}", where),), where=where))
    if CMDLINE in files:
        board.bootargs = files[CMDLINE].decode("utf-8", "replace").strip()
        board.bootargs_what = CMDLINE
    if CPUINFO in files:
        text = files[CPUINFO].decode("utf-8", "replace")
        board.cpus = [f"processor {line.split(':', 1)[1].strip()}" for line in text.splitlines()
                      if re.match(r"^processor\s*:", line)]
    return board
