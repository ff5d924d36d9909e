"""Runtime, step 1: a build directory -> the systems it holds, read from built artifacts.

The runtime reads what ``partcfg build`` wrote, never YAML: the ``.cell`` blobs (decoded
by ``partcfg.load.blob``) and, per cell, the ``<cell>/<link>.cspace`` configuration-space
images (and, to name a system built flat, the first lines of its firmware headers). Like the hypervisor, it pairs the peers of a link by the ivshmem device's BDF
alone (device type 3; ``ivshmem.links_by_bdf``, the pairing validation and import use
too) and refuses a set of blobs the hypervisor would refuse:
no or two system configurations, cells of another architecture, duplicate names, CPUs
a non-root cell does not get from the root cell, link peers that disagree on the
region or claim the same peer ID. Every refusal is an :class:`InputError` (exit code 2)
with one clear diagnostic per problem.
"""

from __future__ import annotations

import os
import re
import stat

from dataclasses import dataclass, field
from pathlib import Path

from ..formats import jailhouse as jh
from ..load.blob import ParsedBlob, parsed_blob_file
from ..diagnostics import BlobError, Diagnostic, InputError, Location, error
from ..load.files import file_bytes_of
from ..formats.ivshmem import link_view_of, links_by_bdf
from ..units import format_bdf
from ..wording import arch_name

CELL_SUFFIX = ".cell"
IMAGE_SUFFIX = ".cspace"
MAX_CSPACE_BYTES = 4096           # a PCI configuration space is 256 bytes (4 KiB extended)


@dataclass
class CellBlob:
    """One cell of a system as its blob describes it."""
    name: str
    file: Path
    blob: ParsedBlob
    is_root: bool
    images: dict[str, Path]            # link file stem -> <cell>/<link>.cspace

    @property
    def regions(self) -> list[dict]:
        return self.blob.cell.memory

    @property
    def devices(self) -> list[dict]:
        return self.blob.cell.pci_devices

    @property
    def cpus(self) -> set[int]:
        return {i * 8 + b for i, byte in enumerate(self.blob.cell.cpu_set)
                for b in range(8) if byte >> b & 1}

    def location(self) -> Location:
        return Location(str(self.file))


@dataclass
class LinkPeer:
    cell: int            # index into SystemBuild.cells
    device: int          # index into that cell's PCI device array
    peer_id: int         # shmem_dev_id


@dataclass
class LinkInfo:
    """A shared-memory link as the hypervisor sees it: the ivshmem devices with one BDF
    (whatever PCI domain each says), their common region and the peers present in this
    build."""
    domain: int                         # the domain of the first peer's device (for labels)
    bdf: int
    name: str
    max_peers: int
    peers: dict[int, LinkPeer]          # peer ID -> where it is
    state_table: tuple[int, int]        # physical (start, size)
    rw_size: int
    output_size: int
    protocols: dict[int, int]           # peer ID -> protocol its device entry says
    vectors: dict[int, int]             # peer ID -> MSI-X vectors (0: INTx)

    @property
    def label(self) -> str:
        return f"{self.name} ({self.domain:04x}:{format_bdf(self.bdf)})"

    @property
    def phys_end(self) -> int:
        start, size = self.state_table
        return start + size + self.rw_size + self.max_peers * self.output_size


@dataclass
class SystemBuild:
    name: str
    directory: Path
    arch: int
    cells: list[CellBlob]               # root first
    links: list[LinkInfo] = field(default_factory=list)
    notes: list[Diagnostic] = field(default_factory=list)   # warnings from the blobs

    @property
    def root(self) -> CellBlob:
        return self.cells[0]


def _refuse(diagnostics: list[Diagnostic]) -> InputError:
    return InputError(diagnostics)


def system_dirs_of(path: Path) -> list[Path]:
    """The system directories of a build directory: the directory itself when it holds
    ``.cell`` files (one system built flat), else each subdirectory that does."""
    path = Path(path)
    if not path.is_dir():
        what = "does not exist" if not path.exists() else "is not a directory"
        raise _refuse([error("RUN-BUILD-DIR", f"build directory {path} {what}", Location(str(path)),
                             hint="give the directory `partcfg build -o DIR` wrote")])
    if any(p.suffix == CELL_SUFFIX and p.is_file() for p in path.iterdir()):
        return [path]
    systems = sorted(d for d in path.iterdir()
                     if d.is_dir() and any(p.suffix == CELL_SUFFIX and p.is_file()
                                           for p in d.iterdir()))
    if not systems:
        raise _refuse([error("RUN-BUILD-DIR", f"no .cell files in {path} or its subdirectories",
                             Location(str(path)),
                             hint="give the directory `partcfg build -o DIR` wrote")])
    return systems


_HEADER_SYSTEM = re.compile(rb'^ \* Firmware view of cell "[^"\n]*" of system "([^"\n]{1,200})"', re.M)
HEADER_PROBE_BYTES = 512


def system_name_in_headers_of(directory: Path) -> str | None:
    """The system a flat build directory holds, as its firmware headers
    (``<cell>/partcfg_<cell>.h``, first lines) name it; None when no header says.
    The blobs themselves carry no system name, only the root cell's."""
    for header in sorted(Path(directory).glob("*/partcfg_*.h")):
        try:   # a FIFO or device planted as a header must neither block nor be read
            fd = os.open(header, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError:
            continue
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                continue
            found = _HEADER_SYSTEM.search(os.pread(fd, HEADER_PROBE_BYTES, 0))
        except OSError:
            continue
        finally:
            os.close(fd)
        if found:
            return found.group(1).decode("utf-8", errors="replace")
    return None


def _cell_name_of(blob: ParsedBlob) -> str:
    return blob.cell.name.decode("utf-8", errors="replace")


def _images_of(cell_file: Path) -> dict[str, Path]:
    folder = cell_file.with_suffix("")
    if not folder.is_dir():
        return {}
    return {p.stem: p for p in sorted(folder.iterdir())
            if p.suffix == IMAGE_SUFFIX and p.is_file()}


def _blobs_of(directory: Path) -> tuple[list[tuple[Path, ParsedBlob]], list[Diagnostic]]:
    parsed, problems = [], []
    for file in sorted(p for p in directory.iterdir() if p.suffix == CELL_SUFFIX and p.is_file()):
        try:
            parsed.append((file, parsed_blob_file(file)))
        except InputError as exc:
            problems.extend(exc.diagnostics)
    return parsed, problems


SCENARIOS_FILE = "scenarios.txt"   # written by build (pipeline.scenarios_file_text)
SCENARIOS_FILE_LIMIT = 1 << 16


def scenarios_in(directory: Path) -> dict[str, list[str]] | None:
    """The scenarios build recorded for a system directory: name -> the stems of the
    ``.cell`` files that run together (root first); None when it recorded none (every
    cell runs together)."""
    file = Path(directory) / SCENARIOS_FILE
    if not file.is_file():
        return None
    try:
        with open(file, "rb") as handle:
            text = handle.read(SCENARIOS_FILE_LIMIT).decode("utf-8", errors="replace")
    except OSError:
        return None
    result: dict[str, list[str]] = {}
    for line in text.splitlines():
        name, sep, stems = line.partition(": ")
        if line.startswith("#") or not sep:
            continue
        result[name] = stems.split()
    return result


def _missing_cells(directory: Path) -> list[Diagnostic]:
    """RUN-CELL-MISSING for each cell the build wrote outputs for or recorded in a scenario
    whose blob is gone (a half-copied or pruned build directory): its link peers would
    otherwise run against a peer that never comes."""
    present = {p.stem for p in directory.iterdir() if p.suffix == CELL_SUFFIX}
    wanted: dict[str, list[str]] = {}
    for folder in sorted(directory.iterdir()):
        if folder.is_dir() and not folder.is_symlink() and folder.name not in present:
            links = sorted(p.stem for p in folder.iterdir()
                           if p.suffix == IMAGE_SUFFIX and p.is_file())
            if links:
                wanted[folder.name] = links
    for stems in (scenarios_in(directory) or {}).values():
        for stem in stems:
            if stem not in present:
                wanted.setdefault(stem, [])
    return [error("RUN-CELL-MISSING", f"cell {stem!r} of this build has no blob ({stem}"
                  f"{CELL_SUFFIX} is missing)" + (f"; it is a peer of link"
                  f"{'s' if len(links) > 1 else ''} {', '.join(links)}" if links else ""),
                  Location(str(directory / (stem + CELL_SUFFIX))),
                  hint="build again into a fresh directory, or copy the build directory whole")
            for stem, links in sorted(wanted.items())]


def system_build_of(directory: Path, name: str | None = None,
                    scenario: str | None = None) -> SystemBuild:
    """Read one system directory; InputError (exit 2) when the blobs do not form one
    system the hypervisor would accept. ``name`` defaults to the root cell's name. With
    ``scenario`` (one that :func:`scenarios_in` lists), only that scenario's cells run."""
    directory = Path(directory)
    parsed, problems = _blobs_of(directory)
    problems += _missing_cells(directory) if parsed or problems else []
    if problems:
        raise _refuse(problems)
    if scenario is not None:
        running = set((scenarios_in(directory) or {}).get(scenario, []))
        parsed = [(f, b) for f, b in parsed if b.kind == "system" or f.stem in running]
    where = Location(str(directory))
    systems = [(f, b) for f, b in parsed if b.kind == "system"]
    if not systems:
        raise _refuse([error("RUN-NO-SYSTEM", f"{directory} holds cell configurations but no "
                             "system configuration (JHSYS): these blobs do not form one system",
                             where, hint="build the file with `platform:` together with its cells")])
    if len(systems) > 1:
        raise _refuse([error("RUN-TWO-SYSTEMS", f"{directory} holds {len(systems)} system "
                             "configurations (" + ", ".join(f.name for f, _ in systems)
                             + "); one directory is one system", Location(str(systems[1][0])),
                             related=[Location(str(systems[0][0]))],
                             hint="build each system into its own directory")])
    root_file, root_blob = systems[0]
    cells = [CellBlob(_cell_name_of(root_blob), root_file, root_blob, True, _images_of(root_file))]
    cells += [CellBlob(_cell_name_of(b), f, b, False, _images_of(f))
              for f, b in parsed if b.kind == "cell"]
    notes = [d for _, b in parsed for d in b.diagnostics]
    refusals: list[Diagnostic] = []

    seen: dict[str, CellBlob] = {}
    for cell in cells:
        if cell.blob.arch != root_blob.arch:
            refusals.append(error(
                "RUN-ARCH-MISMATCH", f"cell {cell.name!r} is built for "
                f"{arch_name(cell.blob.arch)}, the system for "
                f"{arch_name(root_blob.arch)}", cell.location(),
                related=[cells[0].location()]))
        if cell.name in seen:
            refusals.append(error("RUN-DUPLICATE-CELL", f"two blobs describe cell {cell.name!r}",
                                  cell.location(), related=[seen[cell.name].location()]))
        seen.setdefault(cell.name, cell)

    refusals += _carving_problems(cells)
    refusals += _missing_images(cells)
    links, link_problems = _links_of(cells)
    refusals += link_problems
    if refusals:
        raise _refuse(refusals)
    return SystemBuild(name or cells[0].name, directory, root_blob.arch, cells, links, notes)


def _carving_problems(cells: list[CellBlob]) -> list[Diagnostic]:
    """Non-root cells are carved out of the root cell: their CPUs must be the root cell's,
    and no CPU may belong to two non-root cells. (Private memory the root never had is
    mapped into the cell alone, as the hypervisor maps it.)"""
    root = cells[0]
    problems = []
    owner: dict[int, CellBlob] = {}
    for cell in cells[1:]:
        # memory: a range the root cell never had is simply mapped into the cell, as the
        # hypervisor does (a device window for one cell is legal): nothing to refuse
        root_cpus = root.cpus
        foreign = sorted(cell.cpus - root_cpus)
        if foreign:   # one diagnostic, however many CPUs a corrupt bitmap names
            from ..units import format_ranges
            listed = format_ranges(foreign)
            listed = listed if len(listed) <= 80 else listed[:80] + "..."
            problems.append(error("RUN-CPU-NOT-IN-ROOT", f"cell {cell.name!r} uses CPU"
                                  f"{'s' if len(foreign) > 1 else ''} {listed}, which the root "
                                  f"cell {root.name!r} does not have",
                                  cell.location(), related=[root.location()]))
        for cpu in sorted(cell.cpus & root_cpus):
            if cpu in owner:
                problems.append(error("RUN-CPU-CONFLICT", f"CPU {cpu} belongs to two non-root "
                                      f"cells, {owner[cpu].name!r} and {cell.name!r}",
                                      cell.location(), related=[owner[cpu].location()]))
            else:
                owner[cpu] = cell
        if cell.cpus and cell.cpus >= root.cpus:
            problems.append(error("RUN-ROOT-NO-CPU", f"cell {cell.name!r} takes every CPU of the "
                                  "root cell", cell.location()))
    return problems


def _missing_images(cells: list[CellBlob]) -> list[Diagnostic]:
    """A cell with ivshmem devices finds its links only through its configuration-space
    images (``partcfg build`` writes them next to the blob)."""
    problems = []
    for cell in cells:
        wanted = sum(1 for d in cell.devices if d["type"] == jh.PCI_TYPE_IVSHMEM)
        if len(cell.images) < wanted:
            folder = cell.file.with_suffix("")
            problems.append(error(
                "RUN-NO-IMAGE", f"cell {cell.name!r} has {wanted} ivshmem device"
                f"{'s' if wanted != 1 else ''} but {len(cell.images)} configuration-space "
                f"image{'s' if len(cell.images) != 1 else ''} in {folder}/", cell.location(),
                hint="rebuild with `partcfg build`, which writes <cell>/<link>.cspace"))
    return problems


def _same_protocol(a: int, b: int) -> bool:
    """Peers agree on the protocol; a virtio front-end pairs with the back-end of the same
    device type (0x8000 + id and 0xc000 + id)."""
    if a == b:
        return True
    return a >= 0x8000 and b >= 0x8000 and (a & 0x3FFF) == (b & 0x3FFF)


def _links_of(cells: list[CellBlob]) -> tuple[list[LinkInfo], list[Diagnostic]]:
    problems: list[Diagnostic] = []
    endpoints = [LinkPeer(ci, di, dev["shmem_dev_id"]) for ci, cell in enumerate(cells)
                 for di, dev in enumerate(cell.devices) if dev["type"] == jh.PCI_TYPE_IVSHMEM]
    groups = links_by_bdf(endpoints, lambda p: cells[p.cell].devices[p.device]["bdf"])
    links = []
    for bdf, members in sorted(groups.items()):
        first = members[0]
        domain = cells[first.cell].devices[first.device]["domain"]
        where = f"{domain:04x}:{format_bdf(bdf)}"
        first_cell, first_dev = cells[first.cell], cells[first.cell].devices[first.device]
        max_peers = first_dev["shmem_peers"]
        peers: dict[int, LinkPeer] = {}
        shape = None
        for m in members:
            cell = cells[m.cell]
            dev = cell.devices[m.device]
            start = dev["shmem_regions_start"]
            if dev["shmem_peers"] != max_peers:
                problems.append(error(
                    "RUN-LINK-PEERS", f"the ivshmem devices at {where} disagree on the number of "
                    f"peers: {first_cell.name!r} says {max_peers}, {cell.name!r} "
                    f"{dev['shmem_peers']}", cell.location(), related=[first_cell.location()]))
                continue
            if not 2 <= max_peers <= jh.MAX_SHMEM_PEERS or m.peer_id >= max_peers:
                problems.append(error(
                    "RUN-LINK-PEER-ID", f"cell {cell.name!r} is peer {m.peer_id} of the "
                    f"{max_peers}-peer link at {where}", cell.location()))
                continue
            if m.peer_id in peers:
                other = cells[peers[m.peer_id].cell]
                problems.append(error(
                    "RUN-LINK-PEER-ID", f"cells {other.name!r} and {cell.name!r} both claim peer "
                    f"ID {m.peer_id} of the link at {where}; the hypervisor refuses the second",
                    cell.location(), related=[other.location()]))
                continue
            if start + 2 + max_peers > len(cell.regions):
                problems.append(error(
                    "RUN-LINK-REGIONS", f"the ivshmem device at {where} of cell {cell.name!r} "
                    f"needs memory regions {start}..{start + 1 + max_peers}, the cell has "
                    f"{len(cell.regions)}", cell.location()))
                continue
            this_shape = _region_shape(cell.regions[start:start + 2 + max_peers])
            if this_shape is None:
                problems.append(error(
                    "RUN-LINK-REGIONS", f"memory regions {start}..{start + 1 + max_peers} of cell "
                    f"{cell.name!r} are not one ivshmem region (state table, read/write section, "
                    f"{max_peers} equal output sections, contiguous) for the link at {where}",
                    cell.location()))
                continue
            if shape is None:
                shape = this_shape
            elif this_shape != shape:
                problems.append(error(
                    "RUN-LINK-LAYOUT", f"peers of the link at {where} disagree on its region: "
                    f"{first_cell.name!r} has state table {shape[0]:#x}+{shape[1]:#x}, rw "
                    f"{shape[2]:#x}, output {shape[3]:#x}; {cell.name!r} has {this_shape[0]:#x}"
                    f"+{this_shape[1]:#x}, rw {this_shape[2]:#x}, output {this_shape[3]:#x}",
                    cell.location(), related=[first_cell.location()]))
                continue
            if not _same_protocol(dev["shmem_protocol"], first_dev["shmem_protocol"]):
                problems.append(error(
                    "RUN-LINK-PROTOCOL", f"peers of the link at {where} disagree on the protocol: "
                    f"{first_cell.name!r} {first_dev['shmem_protocol']:#06x}, {cell.name!r} "
                    f"{dev['shmem_protocol']:#06x}", cell.location(), related=[first_cell.location()]))
                continue
            peers[m.peer_id] = m
        if shape is None or not peers:
            continue
        links.append(LinkInfo(
            domain=domain, bdf=bdf, name=_link_name_of(cells, peers, where), max_peers=max_peers,
            peers=dict(sorted(peers.items())), state_table=(shape[0], shape[1]),
            rw_size=shape[2], output_size=shape[3],
            protocols={pid: cells[p.cell].devices[p.device]["shmem_protocol"]
                       for pid, p in peers.items()},
            vectors={pid: cells[p.cell].devices[p.device]["num_msix_vectors"]
                     for pid, p in peers.items()}))
    return links, problems


def _region_shape(regions: list[dict]) -> tuple[int, int, int, int] | None:
    """(state table start, state table size, rw size, output size) when the 2 + N entries
    form one contiguous ivshmem region, else None."""
    state, rw, outputs = regions[0], regions[1], regions[2:]
    if not state["size"]:
        return None
    at = state["phys_start"] + state["size"]
    if rw["size"]:
        if rw["phys_start"] != at:
            return None
        at += rw["size"]
    size = outputs[0]["size"] if outputs else 0
    for k, r in enumerate(outputs):
        if r["size"] != size or (size and r["phys_start"] != at + k * size):
            return None
    return state["phys_start"], state["size"], rw["size"], size


def _link_name_of(cells: list[CellBlob], peers: dict[int, LinkPeer], fallback: str) -> str:
    """The link's name as ``partcfg build`` wrote it into the image file names: the stem
    of the image whose base address is the link's state table, in the first peer that has
    one. Blobs carry no link names, so this is cosmetic; pairing is by BDF."""
    for peer in peers.values():
        cell = cells[peer.cell]
        dev = cell.devices[peer.device]
        base = cell.regions[dev["shmem_regions_start"]]["virt_start"]
        for stem, path in cell.images.items():
            try:
                if link_view_of(file_bytes_of(path, MAX_CSPACE_BYTES, "configuration-space image"),
                                str(path)).base == base:
                    return stem
            except (InputError, BlobError):
                continue
    return fallback
