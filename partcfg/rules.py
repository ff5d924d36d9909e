"""Foundation: the registry of every rule id partcfg can emit.

Each diagnostic names a rule; this module says what each rule means, how severe it is by
default and how to fix it. Machine-readable outputs (SARIF ``rules``, ``partcfg rules``)
are rendered from :data:`RULES`. A test greps the sources for rule ids and fails when one
is missing here, so a new ``error("X-Y", ...)`` must be registered in the same change.
"""

from __future__ import annotations

from dataclasses import dataclass

from .diagnostics import Severity

E, W, I = Severity.ERROR, Severity.WARNING, Severity.INFO


@dataclass(frozen=True)
class Rule:
    id: str
    severity: Severity          # the severity partcfg reports it with
    title: str                  # a short phrase (SARIF shortDescription)
    description: str            # what is checked and why (SARIF fullDescription)
    help: str                   # how to fix it


_TABLE: list[tuple[str, Severity, str, str, str]] = [
    # --- input files ---------------------------------------------------------------------
    ("IO-READ", E, "File cannot be read",
     "An input file could not be opened or read.",
     "Check the path and the file's permissions."),
    ("IO-ENCODING", E, "File is not UTF-8 text",
     "A YAML input is not valid UTF-8; it is probably a binary file.",
     "Pass YAML files to check/build; import binary .cell files with 'partcfg import'."),
    ("IO-MISSING", E, "No such file or directory",
     "A path given on the command line does not exist.",
     "Check the spelling of the path."),
    ("IO-WRITE", E, "Output cannot be written",
     "An output file or directory could not be created or written.",
     "Check that the output directory is writable and the disk is not full."),
    ("YAML-SYNTAX", E, "YAML syntax error",
     "The file is not well-formed YAML.",
     "Fix the syntax at the reported position (indentation, quotes, brackets)."),
    ("YAML-MULTI-DOC", E, "More than one YAML document",
     "A partcfg file holds exactly one YAML document; '---' started a second one.",
     "Split the documents into separate files."),
    ("YAML-DEPTH", E, "Nesting too deep",
     "The data nests deeper than partcfg accepts, usually through a recursive alias.",
     "Remove the recursive alias or flatten the structure."),
    ("YAML-MERGE", E, "Merge key not supported",
     "YAML merge keys ('<<') hide where values come from and are not supported.",
     "Write the keys out, or use an anchor for a whole value."),
    ("YAML-KEY", E, "Mapping key is not a plain scalar",
     "Mapping keys must be plain names or numbers, not sequences or mappings.",
     "Use a plain name as the key."),
    ("YAML-DUPLICATE-KEY", E, "Duplicate key",
     "A key appears twice in one mapping; YAML would silently keep only the second value.",
     "Remove one of the two keys."),
    # --- schema ----------------------------------------------------------------------------
    ("SCHEMA-EMPTY", E, "Empty file",
     "The input file contains no data.",
     "A partcfg file has 'system:' and a 'cell:', 'platform:' or 'links:'."),
    ("SCHEMA-TYPE", E, "Wrong kind of value",
     "The top of a file (or another place) holds a value of the wrong kind.",
     "A partcfg file is a mapping with keys such as system, platform, cell, links."),
    ("SCHEMA-UNKNOWN-KEY", E, "Unknown key",
     "A mapping holds a key the format does not define (often a misspelling).",
     "Follow the did-you-mean hint or remove the key."),
    ("SCHEMA-MISSING", E, "Required key missing",
     "A mapping lacks a key the format requires.",
     "Add the named key."),
    ("SCHEMA-VALUE", E, "Invalid value",
     "A value cannot be parsed (size, CPU set, BDF, flag word, number out of range, ...).",
     "Fix the value as the message explains."),
    # --- assembling files into systems -----------------------------------------------------
    ("SYS-NAME", E, "System file without a system name",
     "A file with 'platform:' must say which system it defines.",
     "Add 'system: <name>' at the top of the file."),
    ("SYS-ROOT-MISSING", E, "System without a root cell",
     "The file that defines a system's platform must also hold its root cell.",
     "Add the root cell as 'cell:' next to 'platform:'."),
    ("SYS-DUPLICATE", E, "System defined twice",
     "Two files define the platform of the same system.",
     "Rename one system or drop one of the files from the call."),
    ("SYS-UNKNOWN", E, "Unknown system",
     "A file belongs to a system that no input file defines.",
     "Pass the system's file (the one with 'platform:') in the same call, or fix the name."),
    ("SYS-SKIPPED", I, "System-wide rules skipped",
     "A standalone cell (no 'system:') was checked with the per-cell rules only; overlaps "
     "with other cells, root-cell resources and links could not be judged.",
     "Add 'system: <name>' and pass the system's files to get the whole-system checks."),
    ("BUILD-NAME-CLASH", E, "Two outputs with the same file name",
     "Two cells would be written to the same output file.",
     "Give one of the cells another name."),
    # --- binary blobs ----------------------------------------------------------------------
    ("BLOB-SIGNATURE", E, "Not a Jailhouse configuration",
     "The file does not start with JHSYS or JHCLL.",
     "partcfg import reads compiled Jailhouse .cell files."),
    ("BLOB-REVISION", E, "Unsupported configuration revision",
     "The blob has a configuration revision other than 14.",
     "Rebuild the file with a Jailhouse release that uses revision 14."),
    ("BLOB-ARCH", E, "Unknown architecture in blob",
     "The architecture byte is not 0 (x86), 1 (arm) or 2 (arm64).",
     "Check that the file is a Jailhouse configuration."),
    ("BLOB-TRUNCATED", E, "Truncated blob",
     "The file is shorter than its descriptor's counts require.",
     "Rebuild or re-copy the file."),
    ("BLOB-COUNT", E, "Implausible count in blob",
     "A count in the descriptor implies more bytes than the whole file holds.",
     "The descriptor is corrupt or the file is not a revision-14 configuration."),
    ("BLOB-TRAILING", W, "Trailing bytes after the last array",
     "The blob carries bytes after the last counted array (e.g. a declared but uncounted "
     "array); they are ignored.",
     "Fix the count in the original C config, or drop the extra array."),
    # --- cells -----------------------------------------------------------------------------
    ("CELL-DUPLICATE", E, "Cell name used twice",
     "Two cells of one system have the same name; names identify cells in links and outputs.",
     "Rename one of the cells."),
    ("CELL-ARCH", E, "Cell architecture missing or inconsistent",
     "A standalone cell must state its architecture; a cell of a system must not contradict it.",
     "Add 'arch:' to a standalone cell, or remove the conflicting 'arch:'."),
    ("CELL-NAME", E, "Cell name empty or too long",
     "A cell name must have 1 to 31 bytes (the descriptor holds 31 characters + NUL).",
     "Shorten the name."),
    ("CELL-AARCH32", E, "AArch32 cell outside an arm64 system",
     "The aarch32 cell flag only exists on arm64 (an arm64 system may host AArch32 cells).",
     "Remove the aarch32 flag."),
    ("CELL-PIO-RANGE", E, "Port I/O range beyond 0xffff",
     "A port I/O region's base + length exceeds the 64 KiB port space.",
     "Fix the base or the length."),
    ("CELL-PIO-ARCH", W, "Port I/O on a non-x86 system",
     "Port I/O regions only mean something on x86; other architectures ignore them.",
     "Remove the pio list."),
    # --- memory ----------------------------------------------------------------------------
    ("MEM-OVERLAP-PHYS", E, "Regions of one cell overlap physically",
     "Two memory regions of the same cell cover the same physical bytes; the hypervisor "
     "refuses overlapping mappings.",
     "Shrink or move one of the regions (or merge them)."),
    ("MEM-OVERLAP-VIRT", E, "Regions of one cell overlap in its address space",
     "Two memory regions of the same cell (communication region included) are mapped at "
     "overlapping guest-physical addresses.",
     "Give one of the regions another 'virt' address."),
    ("MEM-ALIGN", E, "Region not page-aligned",
     "phys, virt and size of a region must be multiples of 4 KiB; only IO regions with an "
     "access width (io-8/16/32/64) may be sub-page.",
     "Align the region, or mark a sub-page MMIO region with io and an access width."),
    ("MEM-WRAP", E, "Region beyond the 64-bit address space",
     "start + size of a region exceeds 2^64.",
     "Fix the start or the size."),
    ("MEM-SIZE-ZERO", E, "Zero-size region",
     "A region with a zero size but other fields set is neither a mapping nor the all-zero "
     "placeholder the format knows.",
     "Give the region a size, or remove it."),
    ("MEM-IO-WIDTH", E, "Invalid IO access width",
     "An access width (io-8/16/32/64) needs the io flag, and a region has at most one width.",
     "Add io, or keep a single access width."),
    ("MEM-COMM-REGION", E, "Invalid communication region",
     "The communication region has no physical address (phys 0), exists at most once per "
     "cell and only in non-root cells.",
     "Set phys to 0 / remove the extra or root-cell communication region."),
    ("MEM-ROOT-FLAGS", W, "Flag without effect in the root cell",
     "rootshared and loadable only mean something for non-root cells.",
     "Remove the flag from the root cell's region."),
    ("MEM-FLAGS-UNKNOWN", W, "Unknown memory flag bits",
     "A region carries raw flag bits revision 14 does not define; the hypervisor rejects "
     "or ignores them.",
     "Remove the raw bits."),
    ("MEM-NOT-IN-ROOT", E, "Region outside the root cell",
     "A non-root cell's region that is not rootshared must come out of the root cell's "
     "memory (the root cell gives the pages up while the cell runs).",
     "Add the range to the root cell's regions, fix the address, or mark it rootshared."),
    ("MEM-HYPERVISOR", E, "Region overlaps hypervisor memory",
     "No cell may map the hypervisor's own memory.",
     "Move the region or the hypervisor memory."),
    ("MEM-MMCONFIG", E, "Region overlaps the PCI MMCONFIG window",
     "The PCI configuration window ((end_bus + 1) MiB from mmconfig_base) is emulated by "
     "the hypervisor and must not be mapped by any cell.",
     "Remove the overlap."),
    ("MEM-IOMMU", E, "Region overlaps IOMMU registers",
     "The IOMMU units' registers belong to the hypervisor.",
     "Remove the overlap."),
    ("MEM-IRQCHIP", E, "Region overlaps interrupt-controller registers",
     "x86: the xAPIC page and the IOAPIC pages; arm: GIC distributor, CPU, hypervisor and "
     "virtual interfaces, redistributors. The hypervisor emulates or owns them.",
     "Remove the overlap."),
    ("ISO-PRIVATE", E, "Private memory reachable by another cell",
     "Memory of a non-root cell that is not rootshared is private to it; another non-root "
     "cell can reach the same bytes through one of its regions.",
     "Remove the overlap, or share the memory explicitly through a link."),
    # --- CPUs ------------------------------------------------------------------------------
    ("CPU-EMPTY", E, "Cell without CPUs",
     "Every cell needs at least one CPU.",
     "Add 'cpus:'."),
    ("CPU-SET-SIZE", E, "CPU beyond the CPU set size",
     "cpu_set_size bytes hold cpu_set_size * 8 CPUs; higher CPU numbers are lost.",
     "Raise cpu_set_size or drop it (the default fits)."),
    ("CPU-NOT-IN-ROOT", E, "CPU not owned by the root cell",
     "CPUs of non-root cells are taken from the root cell.",
     "Add the CPU to the root cell or pick another CPU."),
    ("CPU-CONFLICT", E, "CPU in two non-root cells",
     "A CPU can belong to one non-root cell at a time.",
     "Give each non-root cell its own CPUs."),
    ("CPU-ROOT-NONE", E, "Root cell left without CPUs",
     "The non-root cells take every CPU of the root cell; the root cell must keep one.",
     "Leave at least one root CPU to the root cell."),
    # --- interrupts ------------------------------------------------------------------------
    ("IRQ-PIN-RANGE", E, "Interrupt line outside the irqchip window",
     "An irqchip entry covers the 128 lines pin_base..pin_base+127.",
     "Move the line into the window or add an irqchip entry with another pin_base."),
    ("IRQ-NOT-IN-ROOT", E, "Interrupt line not owned by the root cell",
     "Interrupt lines of non-root cells are taken from the root cell's irqchips.",
     "Add the line to the root cell's irqchip with the same address."),
    ("IRQ-CONFLICT", E, "Interrupt line in two non-root cells",
     "An interrupt line of one interrupt controller belongs to one non-root cell.",
     "Give the line to one cell only."),
    # --- PCI -------------------------------------------------------------------------------
    ("PCI-CAPS-COUNT", E, "Too many PCI capabilities",
     "Capability indices are 16-bit: a cell holds at most 65535 capabilities.",
     "Drop unused capability groups."),
    ("PCI-CAPS-UNKNOWN", E, "Unknown capability group",
     "A PCI device names a capability group the cell does not define.",
     "Follow the did-you-mean hint or define the group under pci_caps."),
    ("PCI-CAPS-ORDER", E, "Capability groups not consecutive",
     "A device's capabilities are one run of the capability array, so the groups it names "
     "must follow each other, in order, in pci_caps.",
     "Reorder pci_caps or the device's caps list."),
    ("PCI-CAPS-DUPLICATE", E, "Capability group defined twice",
     "Two capability groups of one cell have the same name.",
     "Rename one of the groups."),
    ("PCI-CAPS-BOTH", E, "caps and caps_start together",
     "A device names its capabilities either by group (caps) or by raw index (caps_start).",
     "Keep one of the two."),
    ("PCI-DUPLICATE", E, "PCI function listed twice",
     "A cell lists the same physical PCI function (domain + BDF) twice.",
     "Remove one entry."),
    ("PCI-NOT-IN-ROOT", E, "PCI function not owned by the root cell",
     "Physical PCI functions of non-root cells are taken from the root cell.",
     "Add the device to the root cell's pci_devices."),
    ("PCI-CONFLICT", E, "PCI function in two non-root cells",
     "A physical PCI function (domain + BDF) belongs to one non-root cell.",
     "Assign the device to one cell only."),
    ("PCI-SHMEM-REGION", E, "Unknown ivshmem region name",
     "A raw ivshmem device's shmem_regions names no memory region of the cell.",
     "Use the name of the link's state-table region (or an index)."),
    ("PCI-SHMEM-RANGE", E, "ivshmem regions beyond the region array",
     "shmem_regions_start + 2 + shmem_peers exceeds the cell's memory region count.",
     "Point shmem_regions at the first of the 2 + peers consecutive link regions."),
    # --- links -----------------------------------------------------------------------------
    ("LINK-NO-SYSTEM", E, "Links without a system",
     "Links connect cells of one system; this file names none.",
     "Add 'system: <name>' at the top of the file."),
    ("LINK-DUPLICATE", E, "Link declared twice",
     "Two link declarations of one system have the same name.",
     "Rename or remove one of them."),
    ("LINK-PLACEMENT-UNKNOWN", E, "Placement of an unknown link",
     "'- link: NAME' in a cell's memory or pci_devices names no link of the system.",
     "Follow the did-you-mean hint or declare the link."),
    ("LINK-PLACEMENT-PEER", E, "Placement of a link the cell is not a peer of",
     "A cell places a link whose peers do not include it.",
     "Add the cell to the link's peers or remove the placement."),
    ("LINK-PLACEMENT-TWICE", E, "Link placed twice",
     "A cell places the same link twice in one list; only the first placement counts.",
     "Remove the second placement."),
    ("LINK-PEERS", E, "Invalid peer count",
     "A link has 2 to 12 peers (the hypervisor's limit).",
     "Add or remove peers."),
    ("LINK-PEER-UNKNOWN", E, "Unknown peer",
     "A link's peer names no cell of the system.",
     "Follow the did-you-mean hint, or pass the cell's file in the same call."),
    ("LINK-PEER-DUPLICATE", E, "Peer listed twice",
     "A cell appears twice in one link's peers.",
     "Remove the repetition."),
    ("LINK-MSIX", E, "Too many MSI-X vectors",
     "An ivshmem device has at most 16 MSI-X vectors.",
     "Use at most {msix: 16}."),
    ("LINK-ALIGN", E, "Link not page-aligned",
     "A link's base and section sizes are multiples of 4 KiB.",
     "Round the base and sizes to 4 KiB."),
    ("LINK-STATE-TABLE", E, "State table too small",
     "The state table holds one u32 per peer and is never empty.",
     "Use a state table of at least 4 bytes per peer (4K is usual)."),
    ("LINK-BDF-DUPLICATE", E, "Two links with one PCI address",
     "The hypervisor pairs ivshmem peers by domain + BDF, so each link needs its own.",
     "Give each link its own BDF."),
    ("LINK-BDF-CLASH", E, "Link BDF used by a physical device",
     "A link's virtual PCI device has the domain + BDF of a physical PCI function of a cell.",
     "Pick a free BDF for the link."),
    ("LINK-PROTOCOL", E, "Invalid ivshmem protocol",
     "Protocol 0 (undefined), 1 (veth), 0x4000-0x7fff (custom), 0x8000-0xbfff/0xc000-0xffff "
     "(virtio front-/back-end); 0x0002-0x3fff are reserved; a declared link names the "
     "back-end value (virtio:DEVICE) and its backend.",
     "Use undefined, veth, custom:0x4000-0x7fff or virtio:DEVICE with backend."),
    ("LINK-BACKEND", E, "Invalid virtio back-end",
     "A virtio link (protocol >= 0xc000) names its back-end peer with 'backend'; other "
     "protocols have no back-end.",
     "Name a peer as backend, or drop backend for non-virtio links."),
    ("LINK-MISMATCH", E, "Peers disagree on a link",
     "All peers of an ivshmem link (matched by domain + BDF) must agree on the number of "
     "peers, the protocol (one virtio back-end, the others front-ends), the MSI-X vector "
     "count and the shared-memory layout.",
     "Make the peers' device entries and regions agree (or declare the link once under "
     "'links:' and let partcfg derive them)."),
    ("LINK-DEV-ID", E, "Invalid or duplicate ivshmem peer ID",
     "Each peer of an ivshmem link has its own ID below shmem_peers.",
     "Give each peer a distinct shmem_dev_id in 0..shmem_peers-1."),
    ("LINK-TX-WRITE", E, "Output section writable by another cell",
     "An output section is its owner's TX area: only the owner may write it. Judged on "
     "the effective access of every cell through all of its regions.",
     "Remove write access from the named region, or stop it from covering the section."),
    ("LINK-ACCESS", E, "Non-peer can access a link",
     "A cell that is not a peer of a link can read or write its shared memory.",
     "Stop the named region from covering the link, or make the cell a peer."),
    ("LINK-ROOT-ACCESS", W, "Root cell keeps access to a link it is not a peer of",
     "The root cell is not a peer of the link but one of its regions covers the link's "
     "memory, which the peers map rootshared, so the root keeps access.",
     "Stop the root cell's region from covering the link, or make the root a peer."),
]

RULES: dict[str, Rule] = {rid: Rule(rid, sev, title, desc, hlp)
                          for rid, sev, title, desc, hlp in _TABLE}


def rule_of(rule_id: str) -> Rule | None:
    """The registered rule with this id, or None."""
    return RULES.get(rule_id)
