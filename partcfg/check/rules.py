"""Foundation: the registry of every rule id partcfg can emit.

Each diagnostic names a rule; this module says what each rule means, how severe it is by
default and how to fix it. Machine-readable outputs (SARIF ``rules``, the JSON report)
are rendered from :data:`RULES`. A test greps the sources for rule ids and fails when one
is missing here, so a new ``error("X-Y", ...)`` must be registered in the same change.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..diagnostics import Severity

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
    ("IO-EMPTY", E, "Nothing to check",
     "A directory given to check, build, show or map holds no YAML files (the run would judge "
     "nothing and pass), or no input was given; or a directory was given to import, which "
     "takes blob files.",
     "Pass the directory (or the files) that hold the system."),
    ("IO-EXISTS", E, "Output file exists",
     "'partcfg import' would overwrite a file that already exists (perhaps edited since).",
     "Import into another directory, or pass --force to overwrite."),
    ("DIFF-EMPTY", E, "Nothing to compare",
     "A directory given to 'partcfg diff' holds neither YAML files nor .cell blobs.",
     "Pass a YAML file, a .cell blob, or a directory holding either."),
    ("IO-TOO-BIG", E, "File too large",
     "An input file is larger than any file of its kind partcfg reads (YAML and blobs 64 MiB, "
     "ELF objects and images 256 MiB); it is refused without being read whole.",
     "Check that the path names the intended file."),
    ("IO-WRITE", E, "Output cannot be written",
     "An output file or directory could not be created or written.",
     "Check that the output directory is writable and the disk is not full."),
    ("YAML-SYNTAX", E, "YAML syntax error",
     "The file is not well-formed YAML.",
     "Fix the syntax at the reported position (indentation, quotes, brackets)."),
    ("YAML-MULTI-DOC", E, "More than one YAML document",
     "A partcfg file holds exactly one YAML document; '---' started a second one.",
     "Split the documents into separate files."),
    ("YAML-ALIAS", E, "Aliases expand too far",
     "Nested aliases grow a document exponentially (a 1 KB file can expand to gigabytes); "
     "partcfg refuses a document that aliases grow by more than 200,000 nodes.",
     "Write the values out, or use fewer nested aliases."),
    ("YAML-INT-LENGTH", E, "Integer too long",
     "An integer written with more than 100 characters; every value partcfg stores fits "
     "in 64 bits, and reading very long integers costs time.",
     "Check the number."),
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
    ("BUILD-NAME-FILE", E, "Name cannot be a file name",
     "A cell, link or system name would become an output file name that is '.', '..', hidden "
     "(starts with '.') or too long, so the output could land outside the output directory "
     "or be lost among temporary files. Characters other than letters, digits, '.', '_' and "
     "'-' are replaced by '-' in file names.",
     "Rename it."),
    ("BUILD-UNREPRESENTABLE", E, "Value the format cannot hold",
     "build --force writes outputs despite validation errors, but a value that does not fit "
     "the binary format (a 200-character cell name, 20,000 peers) cannot be packed at all.",
     "Fix the errors validation reports."),
    ("BUILD-NAME-CLASH", E, "Two outputs with the same file name",
     "Two cells, or two links of a cell, would be written to the same output file (names "
     "differ only in characters that file and C names cannot hold).",
     "Rename one of the cells or links."),
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
    ("BLOB-CPU-SET", E, "CPU set too large",
     "The blob's CPU bitmap is larger than partcfg reads (8192 bytes, 65536 CPUs); each set "
     "bit costs work in import, diff and run.",
     "Check that the file is an intact revision-14 configuration."),
    ("BLOB-COUNT", E, "Implausible count in blob",
     "A count in the descriptor implies more bytes than the whole file holds.",
     "The descriptor is corrupt or the file is not a revision-14 configuration."),
    ("BLOB-TRAILING", W, "Trailing bytes after the last array",
     "The blob carries bytes after the last counted array (e.g. a declared but uncounted "
     "array); they are ignored.",
     "Fix the count in the original C config, or drop the extra array."),
    # --- importing blobs ---------------------------------------------------------------------
    ("IMPORT-NAME-CLASH", E, "Two imports with the same name",
     "Two imported blobs would be written to the same YAML file, or a cell blob's name is "
     "already used in its system (it is then imported standalone, as a warning).",
     "Import them into different directories."),
    ("IMPORT-ARCH", W, "Cell blob of another architecture than its system",
     "A cell blob's architecture differs from the system blob imported with it, so it was "
     "imported as a standalone cell.",
     "Import the cell with a system of its own architecture."),
    ("IMPORT-INEXACT", W, "Import does not rebuild byte for byte",
     "Building the imported YAML again does not give the original blob's bytes.",
     "Please report this with the blob."),
    ("IMPORT-LINK-RAW", I, "ivshmem devices kept raw",
     "Imported ivshmem devices could not be lifted into a declared link and are kept as raw "
     "PCI devices and memory regions (the link rules still judge them, paired by BDF).",
     "Review the raw devices; declare the link under 'links:' when it is regular."),
    ("IMPORT-STANDALONE", I, "Imported as a standalone cell",
     "A cell blob could not be tied to exactly one system blob and was imported on its own.",
     "Import a system blob with its cell blobs (one system per directory)."),
    # --- the bundled runtime (partcfg run) -------------------------------------------------
    ("RUN-MSIX-VECTORS", E, "Too many MSI-X vectors",
     "An ivshmem device in a blob has more MSI-X vectors than the 16 the format allows; "
     "partcfg run backs every vector with a descriptor.",
     "Rebuild the blob; at most 16 vectors per link device."),
    ("RUN-TOO-MANY", E, "More than partcfg run can back",
     "A build directory needs more memory files (1024 sections per system) or link devices "
     "(64 per cell) than partcfg run provides: every one costs descriptors in every process.",
     "Run a smaller system."),
    ("RUN-BUILD-DIR", E, "Not a build directory",
     "The directory given to 'partcfg run' holds no .cell files.",
     "Give the directory that 'partcfg build -o DIR' wrote."),
    ("RUN-CELL-MISSING", E, "A cell of the build without its blob",
     "The build directory holds a cell's link images (CELL/*.cspace) or names the cell in a "
     "recorded scenario, but CELL.cell is gone: its peers would wait for a cell that never "
     "comes, so the run stops before starting anything and names the cell and its links.",
     "Build again into a fresh directory; copy a build directory whole."),
    ("RUN-NO-SYSTEM", E, "Cell blobs without a system blob",
     "A build directory holds cell configurations but no system configuration (JHSYS).",
     "Build the file with 'platform:' together with its cells."),
    ("RUN-TWO-SYSTEMS", E, "Two system blobs in one directory",
     "One build directory is one system; this one holds several system configurations.",
     "Build each system into its own directory."),
    ("RUN-ARCH-MISMATCH", E, "Cell built for another architecture",
     "A cell blob's architecture differs from the system blob's.",
     "Rebuild the cell for the system's architecture."),
    ("RUN-DUPLICATE-CELL", E, "Two blobs for one cell",
     "Two blobs of the build directory describe cells with the same name.",
     "Remove the stale blob."),
    ("RUN-CPU-NOT-IN-ROOT", E, "Cell CPU not owned by the root cell",
     "A non-root cell uses a CPU the root cell does not have.",
     "Rebuild from a configuration that passes 'partcfg check'."),
    ("RUN-CPU-CONFLICT", E, "CPU in two non-root cells",
     "Two non-root cell blobs claim the same CPU.",
     "Rebuild from a configuration that passes 'partcfg check'."),
    ("RUN-ROOT-NO-CPU", E, "Root cell left without CPUs",
     "A cell takes every CPU of the root cell.",
     "Rebuild from a configuration that passes 'partcfg check'."),
    ("RUN-NO-IMAGE", E, "Missing configuration-space image",
     "A cell has ivshmem devices but the build directory lacks their rendered PCI "
     "configuration-space images.",
     "Rebuild with 'partcfg build', which writes <cell>/<link>.cspace."),
    ("RUN-LINK-PEERS", E, "Link peers disagree on the peer count",
     "The ivshmem devices of one BDF disagree on the number of peers.",
     "Rebuild from a configuration that passes 'partcfg check'."),
    ("RUN-LINK-PEER-ID", E, "Invalid or duplicate peer ID",
     "A peer ID is out of range or claimed by two cells of one link.",
     "Rebuild from a configuration that passes 'partcfg check'."),
    ("RUN-LINK-REGIONS", E, "ivshmem regions missing or irregular",
     "A cell's ivshmem device does not point at 2 + peers contiguous regions forming one "
     "shared-memory region.",
     "Rebuild from a configuration that passes 'partcfg check'."),
    ("RUN-LINK-LAYOUT", E, "Link peers disagree on the layout",
     "The peers of one link describe different shared-memory regions.",
     "Rebuild from a configuration that passes 'partcfg check'."),
    ("RUN-LINK-PROTOCOL", E, "Link peers disagree on the protocol",
     "The peers of one link use different protocols.",
     "Rebuild from a configuration that passes 'partcfg check'."),
    ("RUN-CELL-START", E, "Cell process did not start",
     "A cell's process died or did not answer while the runtime set it up.",
     "Look at the reason in the message; rerun with fewer cells if resources ran out."),
    ("RUN-PROGRAM-CELL", E, "--program names no cell of the build directory",
     "partcfg run --program CELL=COMMAND runs COMMAND as cell CELL; CELL must be a cell of "
     "the build directory and COMMAND a command line.",
     "Use a cell name the run lists (the hint suggests the closest)."),
    ("RUN-MAP-FAILED", E, "Cell memory cannot be mapped",
     "A cell process could not map its memory as its blob describes.",
     "Look at the reason in the message (address space, permissions, limits)."),
    ("RUN-MAP-EMPTY", E, "Region of size 0",
     "A region with flags but size 0 cannot be mapped by the runtime.",
     "Give the region a size or remove it."),
    ("RUN-MAP-RANGE", E, "Region past the address space",
     "A region runs past the end of the address space the runtime can map.",
     "Fix the region's address or size."),
    ("RUN-MAP-ALIGN", E, "Region not page-aligned",
     "The runtime maps whole pages; the region is neither page-aligned nor sub-page I/O.",
     "Align the region to 4 KiB."),
    ("RUN-MAP-WRITE-ONLY", E, "Writable region without read access",
     "No page table can grant write without read.",
     "Add read to the region's flags."),
    ("RUN-MAP-VIRT-OVERLAP", E, "Regions overlap in the cell's address space",
     "Two regions of a cell map to overlapping addresses; one address cannot map two places.",
     "Rebuild from a configuration that passes 'partcfg check'."),
    ("RUN-MAP-TOO-LARGE", E, "Cell address space too large for the runtime",
     "The cell maps more bytes than one cell process can reserve.",
     "Run smaller cells, or test the configuration on the hypervisor."),
    ("RUN-NO-CORE", E, "The runtime's compiled core is missing",
     "partcfg run needs its C extension (partcfg/runtime/_ring.c), built at install time.",
     "Reinstall partcfg with a C compiler and the Python headers present: pip install ."),
    # --- cells -----------------------------------------------------------------------------
    ("CELL-DUPLICATE", E, "Cell name used twice",
     "Two cells of one system have the same name; names identify cells in links and outputs. With "
     "scenarios: declared, alternatives may share a name (see SCENARIO-IMPOSSIBLE).",
     "Rename one of the cells."),
    # --- scenarios -------------------------------------------------------------------------
    ("SCENARIO-IMPOSSIBLE", E, "Scenario the hypervisor cannot run",
     "Two cells of one scenario share a CPU, a peer slot on an ivshmem link, or a name: the "
     "hypervisor refuses to create the second while the first runs, so the scenario never "
     "exists. One error per scenario names the cells and what they share; the scenario's "
     "other rules are not judged.",
     "Put the cells in different scenarios (they are alternatives), or remove the overlap."),
    ("SCENARIO-CELL-UNUSED", W, "Cell in no scenario",
     "The system declares scenarios but none holds this cell, so it is never judged with the "
     "cells it runs with.",
     "Add the cell to the scenarios it runs in."),
    ("SCENARIO-CELL-UNKNOWN", W, "Scenario names no cell of the call",
     "A scenario names a cell that is not among the checked files (misspelt, or left out of "
     "the call): it is taken as not running.",
     "Follow the did-you-mean hint, or pass the cell's file in the same call."),
    ("CHECK-SCENARIO", E, "Unknown scenario",
     "partcfg check --scenario (or run/map --scenario) names a scenario no system of the call "
     "declares (a usage error, exit 2).",
     "Follow the did-you-mean hint, or leave --scenario out to judge every scenario."),
    ("SCENARIO-PLACE", E, "Scenarios outside the system's file",
     "Only the system's own file (the one with 'platform') says which cells run together.",
     "Move 'scenarios:' next to 'platform:'."),
    ("CELL-ARCH", E, "Cell architecture missing or inconsistent",
     "A standalone cell must state its architecture; a cell of a system must not contradict it.",
     "Add 'arch:' to a standalone cell, or remove the conflicting 'arch:'."),
    ("CELL-NAME", E, "Cell name empty or too long",
     "A cell name must have 1 to 31 bytes (the descriptor holds 31 characters + NUL).",
     "Shorten the name."),
    ("CELL-AARCH32", E, "AArch32 cell outside an arm64 system",
     "The aarch32 cell flag only exists on arm64: an AArch32 cell on an arm64 system "
     "carries architecture arm64 and the flag; the driver refuses any other architecture "
     "byte (driver/cell.c).",
     "Keep architecture arm64 with the aarch32 flag; on x86 or 32-bit arm drop the flag."),
    ("CELL-CONFIG-SIZE", E, "Cell configuration larger than 16 pages",
     "cell create maps the configuration (descriptor plus arrays) into 16 temporary pages "
     "and refuses a larger one with -E2BIG (hypervisor/control.c).",
     "Merge regions or drop unused array entries."),
    ("CPU-ZERO", W, "Non-root x86 cell takes CPU 0",
     "The driver takes each CPU of a new cell offline in Linux; x86 Linux usually cannot "
     "take CPU 0 offline, so cell create fails there.",
     "Give the cell another CPU."),
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
     "A region that is mapped (virt and size page-aligned) must have a page-aligned phys "
     "as well; the communication region's virt must be page-aligned. Sub-page regions are "
     "emulated instead (see MEM-SUBPAGE-WIDTH).",
     "Align the region, or mark a sub-page MMIO region with io and an access width."),
    ("MEM-WRAP", E, "Region beyond the 64-bit address space",
     "start + size of a region exceeds 2^64.",
     "Fix the start or the size."),
    ("MEM-SIZE-ZERO", E, "Zero-size region",
     "A region with a zero size but other fields set is neither a mapping nor the all-zero "
     "placeholder the format knows.",
     "Give the region a size, or remove it."),
    ("MEM-IO-WIDTH", E, "Access width without the io flag",
     "An access width (io-8/16/32/64) is meant for IO regions. The widths are a mask of "
     "the access sizes the hypervisor lets through (hypervisor/mmio.c); several are fine.",
     "Add io, or remove the access widths."),
    ("MEM-SUBPAGE-WIDTH", E, "Sub-page region without an access width",
     "A region whose address or size is not page-aligned is emulated: every access traps "
     "and is refused unless its size bit (io-8/16/32/64) is set, so a sub-page region "
     "without any width refuses every access (hypervisor/mmio.c).",
     "Add the access sizes the device is used with (several are allowed), and io-unaligned "
     "for naturally unaligned accesses; or align the region to 4 KiB."),
    ("MEM-COMM-REGION", E, "Invalid communication region",
     "The communication region has no physical address (phys 0), exists at most once per "
     "cell and only in non-root cells.",
     "Set phys to 0 / remove the extra or root-cell communication region."),
    ("MEM-ROOT-FLAGS", W, "Flag without effect in the root cell",
     "loadable only means something for non-root cells. (rootshared in the root cell has "
     "no effect either, but upstream's link helper sets it there, so it is not reported.)",
     "Remove the flag from the root cell's region."),
    ("MEM-FLAGS-UNKNOWN", W, "Unknown memory flag bits",
     "A region carries raw flag bits revision 14 does not define; the hypervisor rejects "
     "or ignores them.",
     "Remove the raw bits."),
    ("MEM-NOT-IN-ROOT", W, "Region outside the root cell",
     "A non-root cell's region that is not rootshared is normally taken from the root "
     "cell's memory. At cell create the hypervisor unmaps it from the root cell and maps "
     "it into the new one; a range the root never had is simply mapped, which is legal "
     "(e.g. a device window given only to this cell) but unusual.",
     "If the range should come from the root cell, add it there or fix the address."),
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
    ("IRQ-PIN-BASE", E, "irqchip window the hypervisor refuses",
     "ARM: an irqchip entry's pin_base must be a multiple of 32 and its 128-line window "
     "must end at line 1024 or below; x86: every IOAPIC entry has pin_base 0. Otherwise "
     "the configuration is refused with -EINVAL (arm-common/irqchip.c, x86/ioapic.c).",
     "Use pin_base 32, 160, ... (ARM) or 0 (x86)."),
    ("IRQ-CHIP-IGNORED", W, "irqchip entry the hypervisor ignores",
     "ARM: an irqchip entry whose address is not the GIC distributor base is silently "
     "ignored, so the cell gets none of its lines.",
     "Use the platform's gicd_base as the address."),
    ("LINK-INTX-IRQ", E, "Cell does not own its link's INTx line",
     "On ARM a link with INTx raises SPI 32 + vpci_irq_base + pin - 1 in the cell (pin "
     "((bdf >> 3) & 3) + 1); without that line in its GIC irqchip entry the cell never "
     "sees the interrupt (arm-common/ivshmem.c).",
     "Add the line to the cell's irqchip, or change vpci_irq_base."),
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
     "shmem_regions_start + 2 + shmem_peers exceeds the cell's memory region count; the "
     "hypervisor refuses the cell (-EINVAL).",
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
     "A link's peer names no cell of the system, but resembles one (a misspelling).",
     "Follow the did-you-mean hint, or pass the cell's file in the same call."),
    ("LINK-PEER-ABSENT", I, "Link peer not in the call",
     "A link's peer is no cell of the files checked (and no likely misspelling of one): the "
     "cell is taken as not running and the link is judged with the peers that are present. "
     "Reported once per link.",
     "Pass the cell's file in the same call to judge the link with it."),
    ("LINK-PEER-DUPLICATE", E, "Peer listed twice",
     "A cell appears twice in one link's peers.",
     "Remove the repetition."),
    ("LINK-MSIX", E, "Too many MSI-X vectors",
     "An ivshmem device has at most 16 MSI-X vectors.",
     "Use at most {msix: 16}."),
    ("LINK-OVERLAP", E, "Links overlap",
     "Two declared links cover common physical memory, so each peer's sections of one are "
     "also sections of the other.",
     "Move one link's base past the other's end."),
    ("LINK-ALIGN", E, "Link not page-aligned",
     "A link's base and section sizes are multiples of 4 KiB.",
     "Round the base and sizes to 4 KiB."),
    ("LINK-STATE-TABLE", E, "State table too small",
     "The state table holds one u32 per peer and is never empty.",
     "Use a state table of at least 4 bytes per peer (4K is usual)."),
    ("LINK-BDF-DUPLICATE", E, "Two links with one PCI address",
     "The hypervisor pairs ivshmem peers by BDF alone (not the domain), so each link needs "
     "its own BDF.",
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
    ("LINK-DOMAIN", W, "Link peers disagree on the PCI domain",
     "The ivshmem devices of one BDF carry different PCI domains. The hypervisor pairs "
     "them by BDF alone, so they are one link (upstream root cells commonly use domain 1, "
     "their peers 0).",
     "Give every peer the same domain unless this is deliberate."),
    ("LINK-PERMISSION", E, "A peer's access to a link section is wrong",
     "Each peer maps the state table read-only (the hypervisor writes it), the read/write "
     "section read/write, its own output section read/write and every other output "
     "section read-only (docs/format/ivshmem-v2.md). Judged for every ivshmem device, raw ones "
     "included.",
     "Fix the named region's flags."),
    ("LINK-MISMATCH", E, "Peers disagree on a link",
     "All peers of an ivshmem link (matched by BDF) must agree on the number of "
     "peers, the protocol (one virtio back-end, the others front-ends), the MSI-X vector "
     "count and the shared-memory layout.",
     "Make the peers' device entries and regions agree (or declare the link once under "
     "'links:' and let partcfg derive them)."),
    ("LINK-DEV-ID", E, "Invalid or duplicate ivshmem peer ID",
     "Each peer of an ivshmem link has its own ID below shmem_peers: the hypervisor refuses "
     "a second device in one peer slot (-EBUSY), and a cell whose ID is outside its own "
     "peer count maps one output section and uses another.",
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
    # --- the system against its board (check --board, init, collect) -------------------------
    ("BOARD-READ", E, "Board description cannot be read",
     "The board given with --board is neither a readable flattened device tree (.dtb) nor an "
     "x86 snapshot (directory or tar archive with proc/iomem), or it exceeds a size bound.",
     "Pass a .dtb (compile a .dts with dtc), or a snapshot made by 'partcfg collect'."),
    ("BOARD-ARCH", E, "System and board of different architectures",
     "The system's architecture is not one the board can run (a device tree describes an ARM "
     "machine, an x86 snapshot an x86 one).",
     "Check each system against its own board."),
    ("BOARD-RAM", E, "RAM region not in the board's memory",
     "A region used as RAM (not io; execute, dma, loadable, a link, or on memory), or the "
     "hypervisor memory, lies partly or wholly outside the board's memory nodes (x86: the RAM "
     "and firmware-reserved lines of /proc/iomem).",
     "Keep RAM inside the board's memory, or flag a device region io."),
    ("BOARD-NO-DEVICE", W, "No device behind an I/O region",
     "An I/O region of a cell covers no register range of any device the board describes.",
     "Check the address against the board; remove the region if the device does not exist."),
    ("BOARD-DEVICE-UNUSED", I, "Board device left out of the root cell",
     "A device of the board (or the GIC's ITS, which the hypervisor does not emulate) is in no "
     "region of the root cell, so the root cell's Linux cannot use it.",
     "Add a region for the device if the root cell should have it."),
    ("BOARD-NOT-RESERVED", E, "Memory not reserved from Linux",
     "The hypervisor memory, a non-root cell's RAM or a link's shared memory is RAM the root "
     "cell's Linux may still allocate: it is not in a /reserved-memory node with no-map and not "
     "excluded by mem= or memmap= on the kernel command line.",
     "Add a /reserved-memory child with no-map, or boot Linux with mem=/memmap= (pass the "
     "command line with --bootargs when the board file lacks it)."),
    ("BOARD-GIC", E, "Interrupt controller differs from the board",
     "gic_version, gicd_base, gicc_base, gich_base, gicv_base or maintenance_irq of the "
     "platform do not match the board's GIC node (its compatible, reg and interrupts).",
     "Copy the values the message names from the board."),
    ("BOARD-GICR", E, "Redistributors differ from the board",
     "gicr_base is not the start of the board's redistributor region, or that region holds "
     "fewer redistributors (one per CPU, redistributor-stride apart, 128 KiB by default) than "
     "there are CPUs.",
     "Set gicr_base from the board; check the GIC's reg and the CPU count."),
    ("BOARD-ITS", E, "A cell maps the GIC ITS",
     "The hypervisor does not emulate the GICv3 ITS; a cell mapping it could steer any "
     "device's MSIs to any CPU.",
     "Remove the ITS from the region (and from the root cell's device tree)."),
    ("BOARD-IOMMU", E, "IOMMU unit differs from the board",
     "A platform IOMMU unit has a base where the board has no IOMMU, or another type or size "
     "than the board's unit there.",
     "Copy base, type and size from the board's IOMMU node."),
    ("BOARD-IOMMU-UNUSED", W, "Board IOMMU not in the platform",
     "The board has an IOMMU/SMMU the platform does not list, so DMA of the devices behind it "
     "is not confined to their cells.",
     "Add the unit to platform.iommus."),
    ("BOARD-CONSOLE", E, "Debug console differs from the board",
     "The debug console's address is no UART of the board, or its type is not the UART's kind.",
     "Use the board's console UART (/chosen/stdout-path) and its type."),
    ("BOARD-CPUS", E, "CPUs differ from the board",
     "The root cell holds every CPU the board has, and no other.",
     "Set the root cell's cpus to 0..N-1 for the board's N CPUs."),
    ("BOARD-IRQ", E, "Device interrupt missing from a non-root cell",
     "A device inside a non-root cell's I/O region raises interrupt lines (its interrupts "
     "property) that are not in the cell's irqchip entries, so its driver never gets them.",
     "Add the lines to the cell's irqchip (they come out of the root cell's)."),
    ("BOARD-PCI", E, "PCI configuration window differs from the board",
     "A physical PCI host's mmconfig_base/end_bus is not the board's ECAM/MMCONFIG window, or "
     "a virtual PCI host's window lies on memory or a device of the board.",
     "Use the board's window, or move the virtual one to a free address."),
    ("BOARD-IOAPIC", E, "Irqchip is no IOAPIC of the board",
     "An x86 root cell's irqchip address is not the address of an IOAPIC in /proc/iomem.",
     "Use the IOAPIC addresses of the snapshot."),
    ("INIT-HYPERVISOR-MEMORY", E, "No hypervisor memory for init",
     "partcfg init takes the hypervisor memory from a /reserved-memory child named jailhouse "
     "or hypervisor (with no-map), or from --hypervisor-memory; neither was there, or the "
     "range is not in the board's RAM.",
     "Add the reserved-memory node, or pass --hypervisor-memory ADDR:SIZE inside RAM."),
    ("INIT-BOARD", E, "Board cannot start a system",
     "partcfg init needs a device tree with memory, CPUs and a GIC.",
     "Pass the device tree of an ARM board."),
    ("INIT-EXISTS", E, "init would overwrite a file",
     "The system file partcfg init writes exists already.",
     "Choose another directory or name, or pass --force."),
    ("COLLECT-READ", E, "A file of the running machine cannot be read",
     "partcfg collect could not read /proc/iomem (or another file it gathers).",
     "Run partcfg collect as root on the target machine."),
    # --- firmware-facing outputs: build options, config-space images, ELF -------
    ("BUILD-EMIT", E, "Unknown output kind",
     "--emit names an output kind partcfg does not write.",
     "Use --emit c (Jailhouse-style C sources) or --emit elf (linkable ELF objects)."),
    ("BUILD-ELF-TARGET", E, "No machine for ELF objects",
     "ELF objects are ELF64 for x86-64 or AArch64; the target comes from --target or from "
     "the system's architecture, and a 32-bit arm system has no default.",
     "Pass --target x86-64 or --target aarch64."),
    ("CSPACE-SIZE", E, "Config-space image too short",
     "A PCI configuration-space image must hold at least the 64-byte header.",
     "Pass the whole image (partcfg writes 128 bytes per peer)."),
    ("CSPACE-ID", E, "Not an ivshmem device",
     "The image's vendor/device ID is not 0x110a:0x4106 (ivshmem v2).",
     "Check that the image belongs to a link's ivshmem device."),
    ("CSPACE-CAP-LIST", E, "No capability list",
     "Bit 4 of the status register is clear, so a driver would not look for the vendor "
     "capability.",
     "Set the capability-list bit (status 0x0010)."),
    ("CSPACE-CAP-POINTER", E, "Capability pointer out of range",
     "A capability pointer points into the header, past the image or is not dword-aligned.",
     "Fix the pointer at the reported offset."),
    ("CSPACE-CAP-LOOP", E, "Capability list loops",
     "Following the next pointers from 0x34 returns to a capability already visited.",
     "End the list with a next pointer of 0."),
    ("CSPACE-NO-VENDOR-CAP", E, "No vendor capability",
     "The capability list has no vendor-specific capability (ID 0x09), which is where an "
     "ivshmem v2 driver finds the shared region.",
     "Link the vendor capability at 0x40 from the capability pointer."),
    ("CSPACE-VENDOR-CAP", E, "Vendor capability too short",
     "The vendor capability is shorter than the 0x20 bytes that include the base address, "
     "or runs past the end of the image.",
     "Set its length to 0x20."),
    ("ELF-NOT-ELF", E, "Not an ELF object",
     "The input lacks the ELF magic bytes.",
     "Import .cell blobs or ELF objects compiled from C configurations."),
    ("ELF-BIG-ENDIAN", E, "Big-endian ELF object",
     "Jailhouse configurations are little-endian; a big-endian object cannot hold one.",
     "Compile the configuration for a little-endian target."),
    ("ELF-TRUNCATED", E, "Truncated ELF object",
     "The ELF header or the section headers lie past the end of the file.",
     "Use the complete object file."),
    ("ELF-MALFORMED", E, "Malformed ELF object",
     "The ELF structures cannot be decoded.",
     "Recompile the object."),
    ("ELF-NO-SYMBOLS", E, "No symbol table",
     "The configuration is found through the symbol table, and the object has none.",
     "Use the object as compiled (gcc -c), not a stripped copy."),
    ("ELF-NO-CONFIG", E, "No configuration symbol",
     "The object defines no data symbol that could hold the configuration.",
     "Compile the C configuration (struct { ... } config = { ... };)."),
    ("ELF-AMBIGUOUS", E, "Several candidate symbols",
     "There is no symbol named 'config' and more than one data symbol.",
     "Name the configuration variable 'config', as Jailhouse's configs do."),
    ("ELF-NO-DATA", E, "Configuration without bytes",
     "The configuration symbol lives in a section without file contents (.bss).",
     "Initialise the configuration struct."),
    ("ELF-RANGE", E, "Symbol outside its section",
     "The configuration symbol's range does not fit into its section.",
     "Recompile the object."),
    ("ELF-RELOCATIONS", E, "Relocations in the configuration",
     "The configuration data refers to other symbols' addresses; a blob cannot hold them.",
     "Use constant values only in the C configuration."),
    # --- waivers and baselines (accepted findings) --------------------------------------------
    ("WAIVER-UNUSED", W, "Waiver that waives nothing",
     "An inline '# partcfg: ignore[...]' comment, a [tool.partcfg] ignore in pyproject.toml "
     "or an --ignore option matched no finding of this run: the problem it accepted is gone, "
     "or the rule id is misspelt.",
     "Remove the waiver, or fix the rule id (see the did-you-mean hint)."),
    ("WAIVER-NO-REASON", W, "Waiver without a reason",
     "A waiver written into a file (inline comment or pyproject.toml) says which rule it "
     "accepts but not why; the next reader cannot tell whether it still holds.",
     "Write the reason after the bracket, or give the rule a reason string in pyproject.toml."),
    ("WAIVER-SYNTAX", W, "Malformed waiver comment",
     "A YAML comment starts with 'partcfg:' but is not 'partcfg: ignore[RULE,...] reason', so "
     "it waives nothing.",
     "Write '# partcfg: ignore[RULE-ID] reason' on the node's line or the line above it."),
    ("PROJECT-CONFIG", E, "Invalid [tool.partcfg] settings",
     "The [tool.partcfg] table of pyproject.toml cannot be used: the file is not valid TOML, "
     "a key is unknown, a value has the wrong type, or a severity override names an unknown "
     "rule or severity.",
     "Fix the table as the message says (see the README section on waivers)."),
    ("BASELINE-FILE", E, "Unusable baseline file",
     "The file given to --baseline cannot be read, is not JSON, or is not a partcfg baseline "
     "of a version this partcfg understands.",
     "Write a new one with 'partcfg check --write-baseline FILE'."),
    # --- inmate images (check --inmate) -------------------------------------------------------
    ("INMATE-SPEC", E, "Malformed --inmate argument",
     "--inmate takes CELL=FILE.",
     "Write e.g. --inmate rt-app=build/rt-app.elf."),
    ("INMATE-CELL", E, "Unknown or ambiguous inmate cell",
     "The cell named in --inmate is not in the given files, or several systems have it.",
     "Check the name; use SYSTEM/CELL when several systems have the cell."),
    ("INMATE-ELF", E, "Unreadable inmate image",
     "The inmate image is not an ELF executable with loadable segments.",
     "Pass the linked ELF image of the inmate."),
    ("INMATE-OUTSIDE", E, "Segment outside loadable memory",
     "A loadable segment of the image lies (partly) outside the cell's regions flagged "
     "loadable, judged by the cell's own addresses; the hypervisor cannot load it there.",
     "Link the image into the cell's loadable memory, or flag the intended region loadable."),
    ("INMATE-COMM-OVERLAP", E, "Segment overlaps the communication region",
     "A loadable segment overlaps the cell's communication region, which the hypervisor "
     "owns.",
     "Move the image or the communication region."),
    ("INMATE-ENTRY", E, "Entry point outside the image",
     "The ELF entry point is not inside any loadable segment.",
     "Check the linker script's ENTRY and the load addresses."),
]

RULES: dict[str, Rule] = {rid: Rule(rid, sev, title, desc, hlp)
                          for rid, sev, title, desc, hlp in _TABLE}
