"""Runtime, step 3: the memory plan made real (Linux only).

Supervisor side: :class:`SectionFiles` backs every section of the plan with its own
memory file (``memfd``; sparse, so a 1 GiB region costs nothing until touched) and opens
a second, read-only file descriptor on each through ``/proc/self/fd``. A cell receives
only the descriptors its regions need: the writable one where its blob grants write,
else the read-only one, so the kernel refuses a write, an ``mprotect`` upgrade and a
writable ``mmap``. Once every cell has mapped its memory the supervisor seals each file
with ``F_SEAL_FUTURE_WRITE``: mappings made until then keep working, but no new writable
mapping of the file can be made by anyone, which also closes the loophole of re-opening
the read-only descriptor read-write through ``/proc/self/fd``.

Cell side: :func:`address_space_of` maps each region into one contiguous reservation,
piece by piece from its sections (``MAP_SHARED | MAP_FIXED``), and returns the cell's own
memory map, which resolves the cell's addresses to addresses in the process.
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
SEALS = fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW | F_SEAL_FUTURE_WRITE | fcntl.F_SEAL_SEAL
PROT_OF_ACCESS = {ACCESS_RW: mmap.PROT_READ | mmap.PROT_WRITE, ACCESS_R: mmap.PROT_READ,
                  ACCESS_NONE: 0}          # PROT_NONE


class SectionFiles:
    """One memory file per section, with a writable and a read-only descriptor each."""

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
                os.ftruncate(fd, sec.size)
                self.ro.append(os.open(f"/proc/self/fd/{fd}", os.O_RDONLY | os.O_CLOEXEC))
        except BaseException:
            self.close()
            raise

    def fd_for(self, section: int, access: str) -> int:
        return self.rw[section] if access == ACCESS_RW else self.ro[section]

    def seal(self) -> None:
        for fd in self.rw:
            fcntl.fcntl(fd, fcntl.F_ADD_SEALS, SEALS)
        self.sealed = True

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
    descriptor to map each from (as the cell will inherit it), and the descriptors to pass."""
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
    passed = sorted(set(fds.values()))
    return regions, passed


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
    """Map every region the way the request says; OSError when the kernel refuses."""
    mapped = []
    for r in regions:
        if r["kind"] == KIND_SHARED:
            host = _ring.reserve(r["size"])
            for p in r["pieces"]:
                if p["access"] != ACCESS_NONE:
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
