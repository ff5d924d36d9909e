"""Runtime, step 3: the memory plan made real (Linux only).

Supervisor side: :class:`SectionFiles` backs every section of the plan with its own
memory file (``memfd``, mode 0600; sparse, so a 1 GiB region costs nothing until
touched), sealed against resizing from the start. A cell gets its sections in two steps:
first the writable descriptors of the sections its blob lets it write, which it maps;
once every cell has done so, the supervisor seals each file with ``F_SEAL_FUTURE_WRITE``
(mappings made until then keep working, no new writable mapping or write can be made by
anyone) and only *then* opens the read-only descriptors, through ``/proc/self/fd``, and
hands them to the cells. A read-only descriptor therefore never exists on an unsealed
file: reopening it read-write through ``/proc/self/fd`` yields nothing writable (and as
another user id, nothing at all), and the kernel refuses a write, an ``mprotect``
upgrade and a writable ``mmap`` (confine.py has the rest of the isolation model).

Cell side: :func:`address_space_of` reserves each region in one contiguous range and maps
the pieces it has a descriptor for (``MAP_SHARED | MAP_FIXED``); :func:`map_read_only`
maps the rest once the read-only descriptors arrive. The result is the cell's own memory
map, which resolves the cell's addresses to addresses in the process.
"""

from __future__ import annotations

import bisect
import fcntl
import mmap
import os
from dataclasses import dataclass

from . import _ring
from .plan import ACCESS_NONE, ACCESS_R, ACCESS_RW, KIND_COMM, KIND_SHARED, MemoryPlan

F_SEAL_FUTURE_WRITE = getattr(fcntl, "F_SEAL_FUTURE_WRITE", 0x0010)
SIZE_SEALS = fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW          # from creation on
WRITE_SEALS = F_SEAL_FUTURE_WRITE | fcntl.F_SEAL_SEAL            # once the cells have mapped
PROT_OF_ACCESS = {ACCESS_RW: mmap.PROT_READ | mmap.PROT_WRITE, ACCESS_R: mmap.PROT_READ,
                  ACCESS_NONE: 0}          # PROT_NONE


class SealRefused(OSError):
    """A section's file could not be sealed (a cell holding it writable sealed its seals)."""

    def __init__(self, section: int, why: str):
        super().__init__(why)
        self.section = section


class SectionFiles:
    """One memory file per section: a writable descriptor from the start, a read-only
    one only once the file is sealed (:meth:`seal`)."""

    def __init__(self, plan: MemoryPlan, tag: str):
        self.plan = plan
        self.rw: list[int] = []
        self.ro: list[int] = []
        self.sealed = False
        try:
            for sec in plan.sections:
                fd = os.memfd_create(f"partcfg:{tag}:{sec.phys:#x}",
                                     os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
                self.rw.append(fd)
                os.fchmod(fd, 0o600)    # a reopen through /proc needs the owner's user id
                os.ftruncate(fd, sec.size)
                fcntl.fcntl(fd, fcntl.F_ADD_SEALS, SIZE_SEALS)
        except BaseException:
            self.close()
            raise

    def fd_for(self, section: int, access: str) -> int | None:
        """The descriptor a cell with ``access`` gets; None for read-only before the seal."""
        if access == ACCESS_RW:
            return self.rw[section]
        return self.ro[section] if self.sealed else None

    def seal(self) -> None:
        """No new writable mapping and no write from now on, then the read-only
        descriptors. A cell holding a writable descriptor may have sealed a file itself:
        a file whose seals forbid writing is as good; any other refusal is an OSError."""
        for index, fd in enumerate(self.rw):
            try:
                fcntl.fcntl(fd, fcntl.F_ADD_SEALS, WRITE_SEALS)
            except PermissionError as exc:
                seals = fcntl.fcntl(fd, fcntl.F_GET_SEALS)
                if not seals & (F_SEAL_FUTURE_WRITE | fcntl.F_SEAL_WRITE):
                    raise SealRefused(index, exc.strerror) from None
        self.ro = [os.open(f"/proc/self/fd/{fd}", os.O_RDONLY | os.O_CLOEXEC) for fd in self.rw]
        self.sealed = True

    def write_sealed(self) -> bool:
        return bool(self.rw) and all(
            fcntl.fcntl(fd, fcntl.F_GET_SEALS) & (F_SEAL_FUTURE_WRITE | fcntl.F_SEAL_WRITE)
            for fd in self.rw)

    def map_writable(self, start: int, size: int) -> int:
        """The supervisor's own writable mapping of a physical range (a state table), from
        every section it covers; only before seal()."""
        addr = _ring.reserve(size)
        for sec in self.plan.sections:
            if sec.phys < start + size and sec.end > start:
                _ring.map_shared(addr + sec.phys - start, sec.size, PROT_OF_ACCESS[ACCESS_RW],
                                 self.rw[sec.index])
        return addr

    def close(self) -> None:
        for fd in self.rw + self.ro:
            try:
                os.close(fd)
            except OSError:
                pass
        self.rw, self.ro = [], []


def mapping_request_of(plan: MemoryPlan, cell: int, files: SectionFiles) -> tuple[list[dict], list[int]]:
    """What a cell process needs to map its memory: per region, the pieces with the file
    descriptor to map each from (as the cell will inherit it; None for a read-only one
    not handed out yet), and the descriptors to pass."""
    cell_plan = plan.cells[cell]
    wanted = cell_plan.section_access()
    fds = {s: files.fd_for(s, a) for s, a in wanted.items()}
    regions = []
    for r in cell_plan.regions:
        regions.append({
            "index": r.index, "kind": r.kind, "phys": r.phys, "virt": r.virt, "size": r.size,
            "flags": r.flags,
            "pieces": [{"section": p.section, "offset": p.offset, "size": p.size,
                        "access": p.access, "fd": fds.get(p.section) if p.access != ACCESS_NONE else None}
                       for p in r.pieces],
        })
    passed = sorted({fd for fd in fds.values() if fd is not None})
    return regions, passed


def read_only_sections_of(plan: MemoryPlan, cell: int) -> list[int]:
    """The sections a cell maps from a read-only descriptor (handed out after the seal)."""
    return sorted(s for s, a in plan.cells[cell].section_access().items() if a == ACCESS_R)


@dataclass
class MappedRegion:
    index: int
    kind: str
    virt: int
    size: int
    flags: int
    host: int
    pieces: list[dict]

    @property
    def virt_end(self) -> int:
        return self.virt + self.size


class AddressSpace:
    """A cell's memory map: its regions, each at a host address in this process."""

    def __init__(self, regions: list[MappedRegion]):
        self.regions = sorted(regions, key=lambda r: r.virt)
        self._starts = [r.virt for r in self.regions]

    def region_at(self, virt: int) -> MappedRegion | None:
        i = bisect.bisect_right(self._starts, virt) - 1
        if i >= 0 and self.regions[i].virt <= virt < self.regions[i].virt_end:
            return self.regions[i]
        return None

    def resolve(self, virt: int, size: int) -> tuple[int, MappedRegion] | None:
        """Host address of [virt, virt + size) when one region holds all of it."""
        region = self.region_at(virt)
        if region is None or virt + max(size, 1) > region.virt_end:
            return None
        return region.host + (virt - region.virt), region

    def access_at(self, virt: int, size: int) -> str | None:
        """The access the blob grants on [virt, virt + size): one value for all its pieces."""
        found = self.resolve(virt, size)
        if found is None:
            return None
        _, region = found
        lo, hi = virt - region.virt, virt - region.virt + size
        accesses = {p["access"] for p in region.pieces
                    if p["offset"] < hi and p["offset"] + p["size"] > lo}
        return accesses.pop() if len(accesses) == 1 else None


def address_space_of(regions: list[dict]) -> AddressSpace:
    """Reserve every region and map the pieces that have a descriptor the way the request
    says (the rest waits for :func:`map_read_only`); OSError when the kernel refuses."""
    mapped = []
    for r in regions:
        if r["kind"] == KIND_SHARED:
            host = _ring.reserve(r["size"])
            for p in r["pieces"]:
                if p["access"] != ACCESS_NONE and p["fd"] is not None:
                    _ring.map_shared(host + p["offset"], p["size"], PROT_OF_ACCESS[p["access"]], p["fd"])
            mapped.append(MappedRegion(r["index"], r["kind"], r["virt"], r["size"], r["flags"],
                                       host, r["pieces"]))
        elif r["kind"] == KIND_COMM:
            host = _ring.reserve(r["size"])
            _ring.map_private(host, r["size"], PROT_OF_ACCESS[ACCESS_RW])
            mapped.append(MappedRegion(r["index"], r["kind"], r["virt"], r["size"], r["flags"],
                                       host, [{"section": None, "offset": 0, "size": r["size"],
                                               "access": ACCESS_RW, "fd": None}]))
    return AddressSpace(mapped)


def map_read_only(space: AddressSpace, fds: dict[int, int], partial: bool = False) -> int:
    """Map every piece still waiting for its descriptor from ``fds`` (section -> the
    read-only descriptor received); returns how many pieces were mapped. OSError when the
    kernel refuses, ValueError when a section has no descriptor (unless ``partial``: more
    descriptors are still to come)."""
    count = 0
    for region in space.regions:
        if region.kind != KIND_SHARED:
            continue
        for p in region.pieces:
            if p["access"] == ACCESS_NONE or p["fd"] is not None:
                continue
            if p["section"] not in fds:
                if partial:
                    continue
                raise ValueError(f"no descriptor for section {p['section']}")
            p["fd"] = fds[p["section"]]
            _ring.map_shared(region.host + p["offset"], p["size"], PROT_OF_ACCESS[p["access"]], p["fd"])
            count += 1
    return count
