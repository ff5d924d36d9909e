"""Foundation: the ivshmem v2 PCI device as a guest sees it (docs/format/ivshmem-v2.md), declared once.

The first 128 bytes of the configuration space each peer sees, its vendor-specific
capability (where the guest finds the shared region, because the region is not
relocatable through a BAR) and the MSI-X capability are declared here with ``binfmt``;
the renderer (``render/cspace``), the firmware C header (``render/cheader``) and the
reader below all work from these declarations, so no offset is written twice.

:func:`link_view_of` is the reader: it walks the capability list from 0x34 to the
vendor capability (ID 0x09) like a guest driver does, and returns what a driver would
learn. A malformed image raises :class:`BlobError` with one clear diagnostic.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable, TypeVar

from .binfmt import U8, U16, U32, U64, Array, Field, Struct
from ..diagnostics import BlobError, Location, error

VENDOR_ID = 0x110A
DEVICE_ID = 0x4106
CLASS_BASE = 0xFF              # class code base: "device does not fit any defined class"
STATUS_CAP_LIST = 0x0010       # status register: a capability list is present
CAP_ID_VENDOR = 0x09
CAP_ID_MSIX = 0x11
VENDOR_CAP_OFFSET = 0x40
MSIX_CAP_OFFSET = 0x60
VENDOR_CAP_LENGTH = 0x20       # the length that includes the 64-bit base address
PRIV_CONTROL_ONESHOT = 0x01    # privileged control: one-shot interrupt mode
MSIX_TABLE_BIR = 0x00000001    # MSI-X table in BAR 1 at offset 0
MSIX_PBA_BIR = 0x10 * 16 + 1   # pending-bit array in BAR 1, after a 16-entry table
MSIX_TABLE_SIZE_MASK = 0x07FF  # message control: table size - 1
CSPACE_SIZE = 0x80
CAP_POINTER_OFFSET = 0x34
REGISTERS_SIZE = 0x1000        # BAR 0: one page of 32-bit registers

VENDOR_CAP = Struct("partcfg_ivshmem_vendor_cap", [
    Field("id", U8, "capability ID 0x09 (vendor-specific)"),
    Field("next", U8, "next capability: 0x60 (MSI-X) or 0x00"),
    Field("length", U8, "capability length 0x20 (base address present)"),
    Field("priv_control", U8, "privileged control: bit 0 one-shot interrupt mode"),
    Field("state_table_size", U32, "state table size"),
    Field("rw_size", U64, "read/write section size"),
    Field("output_size", U64, "output section size (each peer's)"),
    Field("base", U64, "base address of the region in this cell's address space"),
], doc="ivshmem v2 vendor-specific capability (config space 0x40..0x5f)")

MSIX_CAP = Struct("partcfg_ivshmem_msix_cap", [
    Field("id", U8, "capability ID 0x11 (MSI-X)"),
    Field("next", U8, "next capability 0x00"),
    Field("message_control", U16, "bits 0..10: table size - 1"),
    Field("table", U32, "table offset/BIR: BAR 1, offset 0"),
    Field("pba", U32, "pending-bit array offset/BIR: BAR 1, offset 0x100"),
], doc="MSI-X capability (config space 0x60..0x6b)")

CSPACE = Struct("partcfg_ivshmem_cspace", [
    Field("vendor_id", U16, "vendor ID 0x110a"),
    Field("device_id", U16, "device ID 0x4106"),
    Field("command", U16, "command register"),
    Field("status", U16, "status register: 0x0010 capability list present"),
    Field("revision", U8, "revision ID"),
    Field("class_interface", U8, "class interface: protocol bits 0..7"),
    Field("class_subclass", U8, "class sub-class: protocol bits 8..15"),
    Field("class_base", U8, "class base 0xff"),
    Field("cache_line_size", U8),
    Field("latency_timer", U8),
    Field("header_type", U8, "header type 0x00"),
    Field("bist", U8),
    Field("bar", Array(U32, 6), "BARs: 0 at reset (BAR 0 registers, BAR 1 MSI-X table)"),
    Field("cardbus_cis", U32),
    Field("subsystem_vendor_id", U16, "subsystem vendor ID 0x110a"),
    Field("subsystem_id", U16, "subsystem ID 0x4106"),
    Field("rom_base", U32),
    Field("cap_pointer", U8, "capability pointer 0x40"),
    Field("reserved_35", Array(U8, 7)),
    Field("interrupt_line", U8),
    Field("interrupt_pin", U8, "INTx: (device number & 3) + 1; MSI-X: 0"),
    Field("min_grant", U8),
    Field("max_latency", U8),
    Field("vendor_cap", VENDOR_CAP),
    Field("msix_cap", MSIX_CAP),
    Field("reserved_6c", Array(U8, CSPACE_SIZE - 0x6C)),
], doc="the first 128 bytes of the ivshmem v2 configuration space a peer sees")

REGISTERS = Struct("partcfg_ivshmem_registers", [
    Field("id", U32, "this peer's ID (read-only)"),
    Field("max_peers", U32, "maximum peers (read-only)"),
    Field("int_control", U32, "bit 0 enables interrupts"),
    Field("doorbell", U32, "bits 0..15 vector, bits 16..31 target peer ID (write-only)"),
    Field("state", U32, "this peer's state; a change raises vector 0 at every other peer"),
], doc="ivshmem v2 register region (BAR 0), 32-bit accesses")

DOORBELL_PEER_SHIFT = 16
DOORBELL_VECTOR_MASK = 0xFFFF
INT_CONTROL_ENABLE = 0x1

# every named offset the spec lists, so tests and generated C agree with the declarations
if CSPACE.size != CSPACE_SIZE or VENDOR_CAP.size != VENDOR_CAP_LENGTH \
        or CSPACE.offsets["vendor_cap"] != VENDOR_CAP_OFFSET \
        or CSPACE.offsets["msix_cap"] != MSIX_CAP_OFFSET \
        or CSPACE.offsets["cap_pointer"] != CAP_POINTER_OFFSET:  # pragma: no cover
    raise AssertionError("ivshmem config space declaration disagrees with the spec")


T = TypeVar("T")


def links_by_bdf(endpoints: Iterable[T], bdf_of: Callable[[T], int]) -> dict[int, list[T]]:
    """Group ivshmem endpoints into links the way the hypervisor does: by BDF alone
    (hypervisor/ivshmem.c compares only the BDF; the PCI domain is not part of the key,
    and upstream root cells commonly give their devices domain 1 while the peers say 0).
    BDF -> that link's endpoints, both in first-seen order. The one pairing rule that
    validation, import and the runtime share."""
    links: dict[int, list[T]] = {}
    for endpoint in endpoints:
        links.setdefault(bdf_of(endpoint), []).append(endpoint)
    return links


def interrupt_pin_of(bdf: int, msix_vectors: int) -> int:
    """INTx links use pin ((device number & 3) + 1), i.e. INTA..INTD; MSI-X links 0."""
    return 0 if msix_vectors else ((bdf >> 3) & 3) + 1


@dataclass(frozen=True)
class LinkView:
    """What a guest driver learns from one peer's configuration space."""
    base: int
    state_table_size: int
    rw_size: int
    output_size: int
    msix_vectors: int          # 0: INTx (no MSI-X capability in the list)
    protocol: int
    interrupt_pin: int
    vendor_cap_offset: int
    capability_chain: tuple[int, ...]  # offsets visited from 0x34, in order
    priv_control: int = 0

    @property
    def output_sections_start(self) -> int:
        """Address of peer 0's output section (the state table and rw section come first)."""
        return self.base + self.state_table_size + self.rw_size

    def output_section_of(self, peer: int) -> int:
        """Address of peer ``peer``'s output section: base + state + rw + peer * output."""
        return self.output_sections_start + peer * self.output_size


def _fail(rule: str, message: str, file: str, hint: str | None = None) -> BlobError:
    return BlobError([error(rule, message, Location(file), hint=hint)])


def link_view_of(image: bytes, file: str = "<config space>") -> LinkView:
    """Walk the capability list of a config-space image from 0x34 to the vendor
    capability and read the region's base address and section sizes from it.
    Raises BlobError (rule ``CSPACE-*``) on a malformed image."""
    image = bytes(image)
    if len(image) < VENDOR_CAP_OFFSET:
        raise _fail("CSPACE-SIZE", f"config space image is {len(image)} bytes; the header "
                    f"alone needs {VENDOR_CAP_OFFSET}", file)
    head = CSPACE.unpack(image + bytes(max(0, CSPACE_SIZE - len(image))))
    if (head["vendor_id"], head["device_id"]) != (VENDOR_ID, DEVICE_ID):
        raise _fail("CSPACE-ID", f"vendor/device ID {head['vendor_id']:#06x}:"
                    f"{head['device_id']:#06x} is not an ivshmem device "
                    f"({VENDOR_ID:#06x}:{DEVICE_ID:#06x})", file)
    if not head["status"] & STATUS_CAP_LIST:
        raise _fail("CSPACE-CAP-LIST", f"status register {head['status']:#06x} says there "
                    "is no capability list (bit 4 clear)", file)
    at = head["cap_pointer"]
    came_from = CAP_POINTER_OFFSET
    chain: list[int] = []
    found: dict[int, int] = {}  # capability ID -> offset, first occurrence
    while at:
        if at in chain:
            path = " -> ".join(f"{o:#04x}" for o in chain + [at])
            raise _fail("CSPACE-CAP-LOOP", f"capability list loops: {path}", file)
        if at < VENDOR_CAP_OFFSET or at + 2 > len(image):
            raise _fail("CSPACE-CAP-POINTER", f"capability pointer {at:#04x} at offset "
                        f"{came_from:#04x} is outside the capability area "
                        f"{VENDOR_CAP_OFFSET:#04x}..{len(image) - 2:#04x}", file)
        if at & 3:
            raise _fail("CSPACE-CAP-POINTER", f"capability pointer {at:#04x} at offset "
                        f"{came_from:#04x} is not dword-aligned", file)
        chain.append(at)
        found.setdefault(image[at], at)
        came_from, at = at + 1, image[at + 1]
    if CAP_ID_VENDOR not in found:
        walked = ", ".join(f"{image[o]:#04x} at {o:#04x}" for o in chain) or "no capabilities"
        raise _fail("CSPACE-NO-VENDOR-CAP", "the capability list has no vendor-specific "
                    f"capability (ID {CAP_ID_VENDOR:#04x}): {walked}", file)
    vendor_at = found[CAP_ID_VENDOR]
    if vendor_at + VENDOR_CAP.size > len(image):
        raise _fail("CSPACE-VENDOR-CAP", f"vendor capability at {vendor_at:#04x} runs past "
                    f"the end of the {len(image)}-byte image", file)
    cap = VENDOR_CAP.unpack(image, vendor_at)
    if cap["length"] < VENDOR_CAP_LENGTH:
        raise _fail("CSPACE-VENDOR-CAP", f"vendor capability at {vendor_at:#04x} is "
                    f"{cap['length']:#04x} bytes long; the base address needs "
                    f"{VENDOR_CAP_LENGTH:#04x}", file)
    msix_vectors = 0
    if CAP_ID_MSIX in found:
        msix_at = found[CAP_ID_MSIX]
        if msix_at + 4 > len(image):
            raise _fail("CSPACE-CAP-POINTER", f"MSI-X capability at {msix_at:#04x} runs past "
                        f"the end of the {len(image)}-byte image", file)
        control = int.from_bytes(image[msix_at + 2:msix_at + 4], "little")
        msix_vectors = (control & MSIX_TABLE_SIZE_MASK) + 1
    return LinkView(
        base=cap["base"], state_table_size=cap["state_table_size"], rw_size=cap["rw_size"],
        output_size=cap["output_size"], msix_vectors=msix_vectors,
        protocol=head["class_subclass"] << 8 | head["class_interface"],
        interrupt_pin=head["interrupt_pin"], vendor_cap_offset=vendor_at,
        capability_chain=tuple(chain), priv_control=cap["priv_control"])
