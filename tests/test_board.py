"""Checking a system against its board, and starting a system from a board.

The boards are real: QEMU's own device trees of its virt machine (tests/boards/README.md
says how each was made) and a snapshot of the x86 machine the tests were written on.
Each planted fault (tests/fixtures/board/, or a libfdt edit of a real blob for faults on
the board's side) must give exactly one finding, asserted in full: rule, place in the
YAML, message. The expected addresses come from the QEMU virt memory map and the
snapshot's /proc/iomem, worked out by hand.
"""

from __future__ import annotations

import io
import json
import os
import tarfile
from pathlib import Path

import libfdt
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import CELLS, FIXTURES, ROOT
from partcfg.board.checks import diagnostics_of_board
from partcfg.board.cmdline import mem_limit_of, memmap_reserved_of, memparse
from partcfg.board.collect import snapshot_files_from, snapshot_tar_of
from partcfg.board.dtb import board_of_dtb
from partcfg.board.init import init_of_board
from partcfg.board.read import board_of
from partcfg.diagnostics import InputError, PartcfgError, Severity
from partcfg.commands.pipeline import checked_files_of

BOARDS = ROOT / "tests" / "boards"
VIRT = BOARDS / "virt.dtb"
X86 = BOARDS / "x86-this-machine"
FAULTS = FIXTURES / "board"
ARM_BOOTARGS = "console=ttyAMA0 mem=944M"   # 0x40000000 + 944 MiB = 0x7b000000
X86_BOOTARGS = "console=ttyS0 memmap=6M$0x3a000000 memmap=16M$0x3a600000"
ARM_CELLS = ["qemu-arm64-links.yaml", "qemu-arm64-linux-guest.yaml", "qemu-arm64-rt-cell.yaml"]


def arm_files(root: Path = CELLS / "qemu-arm64.yaml", rt_cell: Path | None = None) -> list[Path]:
    others = [CELLS / n for n in ARM_CELLS if not (rt_cell and n == "qemu-arm64-rt-cell.yaml")]
    return [root, *others] + ([rt_cell] if rt_cell else [])


def findings(files, board, severities=(Severity.ERROR, Severity.WARNING)):
    checked = checked_files_of(files)
    assert not checked.diagnostics, checked.diagnostics   # the YAML itself is valid
    (system,) = checked.assembly.systems
    return [d for d in diagnostics_of_board(system, board) if d.severity in severities]


def short(location) -> str:
    return f"{Path(location.file).name}:{location.line}:{location.column}"


def one(diagnostics):
    assert len(diagnostics) == 1, [d.message for d in diagnostics]
    d = diagnostics[0]
    return d.rule, d.severity.value, short(d.location), d.message


def virt(bootargs: str | None = ARM_BOOTARGS):
    return board_of(VIRT, bootargs)


def edited_dtb(tmp_path: Path, edit, source: Path = VIRT) -> Path:
    """A real blob with one libfdt edit (the blob's padding leaves room for it)."""
    fdt = libfdt.Fdt(source.read_bytes())
    edit(fdt)
    out = tmp_path / f"edited-{source.name}"
    out.write_bytes(bytes(fdt.as_bytearray()))
    return out


def reg(*pairs: int) -> bytes:
    return b"".join(v.to_bytes(8, "big") for v in pairs)


def add_reserved(fdt, children: list[tuple[str, int, int, bool]]) -> None:
    parent = fdt.add_subnode(0, "reserved-memory")
    fdt.setprop_u32(parent, "#address-cells", 2)
    fdt.setprop_u32(parent, "#size-cells", 2)
    fdt.setprop(parent, "ranges", b"")
    for name, start, size, no_map in children:
        parent = fdt.path_offset("/reserved-memory")
        node = fdt.add_subnode(parent, name)
        fdt.setprop(node, "reg", reg(start, size))
        if no_map:
            fdt.setprop(node, "no-map", b"")


# --- reading the real boards ----------------------------------------------------------------

def test_qemu_virt_device_tree_facts():
    board = virt(None)
    assert board.arch_words == ("arm64",)
    assert [(m.start, m.end, m.what) for m in board.memory] == [(0x40000000, 0x80000000, "/memory@40000000")]
    assert board.cpus == ["/cpus/cpu@0", "/cpus/cpu@1", "/cpus/cpu@2", "/cpus/cpu@3"]
    gic = board.gic
    assert (gic.version, gic.distributor.start, gic.distributor.size) == (3, 0x08000000, 0x10000)
    assert [(r.start, r.size) for r in gic.redistributor_regions] == [(0x080a0000, 0xf60000)]
    assert gic.redistributor_stride == 0x20000 and gic.maintenance_irq == 25   # PPI 9
    assert [(i.path, i.spans[0].start) for i in gic.its] == [("/intc@8000000/its@8080000", 0x08080000)]
    assert board.stdout == "/pl011@9000000"
    assert [(u.kind, u.span.start, u.regdist_4) for u in board.uarts] == [("pl011", 0x09000000, True)]
    devices = {d.path: d for d in board.devices}
    assert devices["/pl031@9010000"].interrupts == (34,)          # SPI 2
    assert devices["/virtio_mmio@a003e00"].interrupts == (79,)    # SPI 47
    assert [(s.start, s.end) for s in devices["/flash@0"].spans] == [(0, 0x4000000), (0x4000000, 0x8000000)]
    assert len([p for p in devices if p.startswith("/virtio_mmio@")]) == 32
    assert [(h.span.start, h.end_bus) for h in board.pci_hosts] == [(0x4010000000, 0xFF)]
    assert board.bootargs == "" and board.iommus == []


def test_gicv2_and_smmu_device_trees():
    gic = board_of(BOARDS / "virt-gicv2.dtb").gic
    assert (gic.version, gic.distributor.start, gic.cpu_interface.start, gic.hyp_interface.start,
            gic.virt_interface.start) == (2, 0x08000000, 0x08010000, 0x08030000, 0x08040000)
    smmu = board_of(BOARDS / "virt-smmuv3.dtb").iommus
    assert [(u.kind, u.span.start, u.span.size, u.path) for u in smmu] == \
        [("smmuv3", 0x09050000, 0x20000, "/smmuv3@9050000")]


def test_x86_snapshot_facts():
    board = board_of(X86)
    assert board.arch_words == ("x86",)
    assert [(m.start, m.end) for m in board.linux_ram] == [(0x1000, 0x9fc00), (0x100000, 0xc0000000),
                                                            (0x100000000, 0x640000000)]
    assert [(s.start, s.what) for s in board.ioapics] == [(0xfec00000, "iomem line 15 'IOAPIC 0'")]
    assert [(h.span.start, h.start_bus, h.end_bus) for h in board.pci_hosts] == [(0xeec00000, 0, 0)]
    assert board.cpus == ["processor 0", "processor 1"]
    assert board.bootargs.startswith("mitigations=auto") and board.bootargs_what == "proc/cmdline"
    # each virtio BAR once (iomem line, not again its driver's claim nor the sysfs resource)
    bars = [d.path for d in board.devices if d.spans[0].start >= 0x4000000000]
    assert bars == [f"iomem line {n} '0000:00:0{i}.0'" for i, n in zip(range(1, 6), range(18, 28, 2))]
    ioapic = board.ioapics[0].where
    assert (Path(ioapic.file).name, ioapic.line) == ("iomem", 15)


# --- the bundled example against the machine it is written for --------------------------------

def test_example_checks_clean_against_qemu_virt():
    every = findings(arm_files(), virt(), severities=tuple(Severity))
    assert [d for d in every if d.severity is not Severity.INFO] == []
    assert sorted(d.message for d in every) == sorted([
        "the board's device /flash@0 (0x0-0x3ffffff, 0x4000000-0x7ffffff) is in no region of the "
        "root cell 'qemu-arm64'",
        "the board's device /pcie@10000000 (0x4010000000-0x401fffffff) is in no region of the root "
        "cell 'qemu-arm64'",
        "the board's GIC has an ITS (/intc@8000000/its@8080000, 0x8080000-0x809ffff) that the "
        "hypervisor does not emulate; the root cell 'qemu-arm64' cannot use it"])
    assert {short(d.location) for d in every} == {"qemu-arm64.yaml:19:9"}


def test_example_via_cli_exit_0_and_json(run_cli):
    code, out, _ = run_cli("check", "--board", VIRT, "--bootargs", ARM_BOOTARGS, *arm_files(),
                           "--format", "json")
    assert code == 0
    assert {d["rule"] for d in json.loads(out)} == {"BOARD-DEVICE-UNUSED"}
    code, out, _ = run_cli("check", "--board", VIRT, *arm_files())
    assert code == 1 and "error[BOARD-NOT-RESERVED]" in out


def test_reserved_memory_nodes_instead_of_mem(tmp_path):
    def edit(fdt):
        add_reserved(fdt, [("jailhouse@7fc00000", 0x7fc00000, 0x400000, True),
                           ("inmates@7b000000", 0x7b000000, 0x4022000, True)])
    board = board_of(edited_dtb(tmp_path, edit))
    assert findings(arm_files(), board) == []


# --- planted faults: exactly one finding each -------------------------------------------------

def test_region_off_the_board():
    assert one(findings(arm_files(FAULTS / "off-board.yaml"), virt())) == (
        "BOARD-RAM", "error", "off-board.yaml:26:7",
        "region 'sram' of cell 'qemu-arm64' (0x20000000-0x2000ffff) is RAM, but 0x20000000-0x2000ffff "
        "is not in the board's memory (memory: /memory@40000000 0x40000000-0x7fffffff)")


def test_io_region_without_a_device():
    assert one(findings(arm_files(FAULTS / "no-device.yaml"), virt())) == (
        "BOARD-NO-DEVICE", "warning", "no-device.yaml:26:7",
        f"no device at 0x9040000-0x9040fff: region 'spi' of cell 'qemu-arm64' maps it, but {VIRT} "
        "describes nothing there")


def test_memory_not_reserved():
    # mem= 64 KiB too large: Linux keeps 0x40000000-0x7b00ffff, linux-guest's loader page run
    board = virt("console=ttyAMA0 mem=966720K")
    assert one(findings(arm_files(), board)) == (
        "BOARD-NOT-RESERVED", "error", "qemu-arm64-linux-guest.yaml:11:7",
        "region 'loader' of cell 'linux-guest' (0x7b000000-0x7b00ffff) is not reserved from Linux: "
        "0x7b000000-0x7b00ffff is RAM the root cell's Linux may allocate (/memory@40000000; "
        "mem=966720K in --bootargs)")


def test_reserved_without_no_map_is_not_enough(tmp_path):
    def edit(fdt):
        add_reserved(fdt, [("jailhouse@7fc00000", 0x7fc00000, 0x400000, False),
                           ("inmates@7b000000", 0x7b000000, 0x4022000, True)])
    board = board_of(edited_dtb(tmp_path, edit))
    assert one(findings(arm_files(), board)) == (
        "BOARD-NOT-RESERVED", "error", "qemu-arm64.yaml:9:29",
        "the hypervisor memory (0x7fc00000-0x7fffffff) is not reserved from Linux: 0x7fc00000-0x7fffffff "
        "is RAM the root cell's Linux may allocate (/memory@40000000); /reserved-memory/jailhouse@7fc00000 "
        "reserves it without no-map, so Linux still maps it")


def test_wrong_gic_base(tmp_path):
    # the non-root cells' irqchips carry the same wrong address (else the hypervisor would
    # ignore them: IRQ-CHIP-IGNORED), so the YAML is consistent and only the board disagrees
    cells = []
    for name in ARM_CELLS:
        text = (CELLS / name).read_text().replace("address: 0x08000000", "address: 0x08010000")
        (tmp_path / name).write_text(text)
        cells.append(tmp_path / name)
    assert one(findings([FAULTS / "wrong-gic-base.yaml", *cells], virt())) == (
        "BOARD-GIC", "error", "wrong-gic-base.yaml:17:16",
        "gicd_base is 0x8010000, but the board's GIC distributor is at 0x8000000 "
        "(/intc@8000000 reg[0], 0x8000000-0x800ffff)")


def test_wrong_maintenance_irq():
    assert one(findings(arm_files(FAULTS / "wrong-maintenance-irq.yaml"), virt())) == (
        "BOARD-GIC", "error", "wrong-maintenance-irq.yaml:15:22",
        "maintenance_irq is 26, but the board's GIC /intc@8000000 signals maintenance on line 25 "
        "(its interrupts property)")


def test_missing_redistributor(tmp_path):
    def edit(fdt):   # room for 3 redistributors of 128 KiB, with 4 CPUs
        fdt.setprop(fdt.path_offset("/intc@8000000"), "reg", reg(0x08000000, 0x10000, 0x080a0000, 0x60000))
    board = board_of(edited_dtb(tmp_path, edit), ARM_BOOTARGS)
    assert one(findings(arm_files(), board)) == (
        "BOARD-GICR", "error", "qemu-arm64.yaml:16:16",
        "the board's redistributor region /intc@8000000 reg[1] (0x80a0000-0x80fffff) holds 3 "
        "redistributors of 0x20000 bytes, but there are 4 CPUs: the redistributor of CPU 3 is missing")


def test_wrong_redistributor_base(tmp_path):
    text = (CELLS / "qemu-arm64.yaml").read_text().replace("gicr_base: 0x080a0000", "gicr_base: 0x080c0000")
    (tmp_path / "qemu-arm64.yaml").write_text(text)
    assert one(findings(arm_files(tmp_path / "qemu-arm64.yaml"), virt())) == (
        "BOARD-GICR", "error", "qemu-arm64.yaml:16:16",
        "gicr_base is 0x80c0000, but the board's redistributors start at 0x80a0000 (/intc@8000000 reg[1])")


def test_console_type_and_address():
    assert one(findings(arm_files(FAULTS / "wrong-console-type.yaml"), virt())) == (
        "BOARD-CONSOLE", "error", "wrong-console-type.yaml:11:25",
        "the debug console is of type 8250, but the UART at 0x9000000 (/pl011@9000000, compatible "
        "arm,pl011, arm,primecell) is pl011")
    assert one(findings(arm_files(FAULTS / "wrong-console-address.yaml"), virt())) == (
        "BOARD-CONSOLE", "error", "wrong-console-address.yaml:11:41",
        "the debug console is at 0x9001000, but the board has no UART there (the board's UARTs: "
        "/pl011@9000000 at 0x9000000)")


def test_cpu_count():
    assert one(findings(arm_files(FAULTS / "extra-cpu.yaml"), virt())) == (
        "BOARD-CPUS", "error", "extra-cpu.yaml:21:9",
        "the board has 4 CPUs (/cpus/cpu@0 .. /cpus/cpu@3), the root cell 'qemu-arm64' has CPUs 0-4: "
        "CPU 4 is not on the board")


def test_device_interrupt_not_in_the_cells_irqchips():
    files = arm_files(rt_cell=FAULTS / "rt-cell-rtc.yaml")
    (d,) = findings(files, virt())
    assert (d.rule, short(d.location), d.message) == (
        "BOARD-IRQ", "rt-cell-rtc.yaml:13:7",
        "the board's device /pl031@9010000 in region 'rtc' of cell 'rt-cell' raises interrupt line 34, "
        "which is not in the cell's irqchips")
    assert short(d.related[0]) == "rt-cell-rtc.yaml:17:5"


def test_its_mapped_by_a_cell():
    errors = findings(arm_files(FAULTS / "its-mapped.yaml"), virt())
    assert one(errors) == (
        "BOARD-ITS", "error", "its-mapped.yaml:26:7",
        "region 'its' of cell 'qemu-arm64' maps the GIC ITS /intc@8000000/its@8080000, which the "
        "hypervisor does not emulate: the cell could steer any device's MSIs")


def test_virtual_pci_window_on_a_device():
    assert one(findings(arm_files(FAULTS / "vpci-on-flash.yaml"), virt())) == (
        "BOARD-PCI", "error", "vpci-on-flash.yaml:12:24",
        "the virtual PCI host's configuration window (0x4000000-0x40fffff) lies on /flash@0 of the board")


def test_iommus_against_the_board():
    smmu_board = board_of(BOARDS / "virt-smmuv3.dtb", ARM_BOOTARGS)
    assert one(findings(arm_files(), smmu_board)) == (
        "BOARD-IOMMU-UNUSED", "warning", "qemu-arm64.yaml:8:9",
        "the board's IOMMU /smmuv3@9050000 (smmuv3, 0x9050000-0x906ffff) is not among the platform's "
        "iommus: DMA of the devices behind it is not confined to their cells")
    wrong = findings(arm_files(FAULTS / "iommu-wrong-base.yaml"), smmu_board)
    assert [(d.rule, short(d.location)) for d in wrong] == [
        ("BOARD-IOMMU", "iommu-wrong-base.yaml:13:28"), ("BOARD-IOMMU-UNUSED", "iommu-wrong-base.yaml:13:5")]
    assert wrong[0].message == ("IOMMU unit 0 is at 0x9060000, but the board has no IOMMU there (the "
                                "board's: /smmuv3@9050000 at 0x9050000)")


def test_arm_system_against_x86_board():
    (d,) = findings(arm_files(), board_of(X86))
    assert (d.rule, short(d.location), d.message) == (
        "BOARD-ARCH", "qemu-arm64.yaml:8:9",
        f"system 'qemu-arm64' is arm64, but {X86} describes an x86 machine (x86 snapshot)")


# --- x86: this machine's snapshot -------------------------------------------------------------

X86_FILES = [FAULTS / "x86-inmate.yaml", FAULTS / "x86-this-machine.yaml"]


def test_x86_system_checks_clean_with_its_command_line():
    every = findings(X86_FILES, board_of(X86, X86_BOOTARGS), severities=tuple(Severity))
    assert [(d.rule, d.message) for d in every] == [
        ("BOARD-DEVICE-UNUSED", "the board's device iomem line 4 'AMZNC10C:00' (0xde000-0xdefff) is in "
                                "no region of the root cell 'root'"),
        ("BOARD-DEVICE-UNUSED", "the board's device iomem line 5 'System ROM' (0xf0000-0xfffff) is in "
                                "no region of the root cell 'root'")]


def test_x86_faults_name_the_iomem_line(tmp_path):
    board = board_of(X86, "console=ttyS0 memmap=16M$0x3a600000")   # hypervisor memory forgotten
    d = one(findings(X86_FILES, board))
    assert d == ("BOARD-NOT-RESERVED", "error", "x86-this-machine.yaml:9:29",
                 "the hypervisor memory (0x3a000000-0x3a5fffff) is not reserved from Linux: "
                 "0x3a000000-0x3a5fffff is RAM the root cell's Linux may allocate (iomem line 6 'System RAM')")
    text = (FAULTS / "x86-this-machine.yaml").read_text()
    (tmp_path / "root.yaml").write_text(text.replace("address: 0xfec00000", "address: 0xfec01000")
                                        .replace("mmconfig_base: 0xeec00000", "mmconfig_base: 0xe0000000"))
    errors = findings([tmp_path / "root.yaml", FAULTS / "x86-inmate.yaml"], board_of(X86, X86_BOOTARGS))
    assert [(d.rule, short(d.location), d.message) for d in errors] == [
        ("BOARD-PCI", "root.yaml:11:24", "mmconfig_base is 0xe0000000, but the board has no PCI "
         "configuration window there (the board's: iomem line 13 'PCI ECAM 0000 [bus 00-00]' at 0xeec00000)"),
        ("BOARD-IOAPIC", "root.yaml:23:17", "irqchip at 0xfec01000 of the root cell is no IOAPIC of the "
         "board (the board's: iomem line 15 'IOAPIC 0' at 0xfec00000)")]
    assert (Path(errors[0].related[0].file).name, errors[0].related[0].line) == ("x86-this-machine", 0)


def test_collect_on_this_machine(tmp_path, run_cli):
    if not os.access("/proc/iomem", os.R_OK):
        pytest.skip("/proc/iomem is not readable here")
    try:
        files = snapshot_files_from(Path("/"))
    except InputError as exc:   # not root: iomem shows zeros
        pytest.skip(str(exc))
    assert snapshot_tar_of(files) == snapshot_tar_of(dict(reversed(list(files.items()))))
    code, _, err = run_cli("collect", "-o", tmp_path / "board.tar")
    assert code == 0, err
    board = board_of(tmp_path / "board.tar")
    assert len(board.cpus) == os.cpu_count()
    ram = [line for line in Path("/proc/iomem").read_text().splitlines() if line.endswith(" : System RAM")
           and not line.startswith(" ")]
    assert [(m.start, m.end - 1) for m in board.linux_ram] == \
        [tuple(int(v, 16) for v in line.split(" : ")[0].split("-")) for line in ram]
    with tarfile.open(tmp_path / "board.tar") as archive:
        names = archive.getnames()
    assert names[:3] == ["proc/cmdline", "proc/cpuinfo", "proc/iomem"]
    assert all(n.startswith("sys/bus/pci/devices/") and n.endswith("/resource") for n in names[3:])


# --- init: a starting system that checks clean ------------------------------------------------

def init_and_check(tmp_path, run_cli, board: Path, *init_args: str, bootargs: str | None = None):
    out = tmp_path / "system"
    code, _, err = run_cli("init", "--board", board, "-o", out, "--name", "board", *init_args)
    assert code == 0, err
    files = sorted(out.glob("*.yaml"))
    assert [f.name for f in files] == ["board.yaml"]
    every = findings(files, board_of(board, bootargs), severities=tuple(Severity))
    return files[0], every, err


def test_init_from_qemu_virt_checks_clean(tmp_path, run_cli):
    path, every, err = init_and_check(tmp_path, run_cli, VIRT, "--hypervisor-memory", "0x7fc00000:4M",
                                      bootargs="mem=1020M")
    assert "boot the root cell's Linux with mem=1020M" in err       # 1 GiB - 4 MiB
    assert "check it with: partcfg check --board " in err and " --bootargs mem=1020M " in err
    assert [(d.rule, d.severity.value) for d in every] == [("BOARD-DEVICE-UNUSED", "info")]   # the ITS
    text = path.read_text()
    assert "    # /pl031@9010000\n    - {name: pl031, phys: 0x09010000, size: 4K, flags: [read, write, io]}" in text
    assert "# /virtio_mmio@a000000 .. /virtio_mmio@a000e00 (8 nodes)" in text
    assert "interrupts: 32-159" in text and "gicr_base: 0x080a0000" in text
    # without the command line the note names, the hypervisor memory is Linux's
    assert [d.rule for d in findings([path], board_of(VIRT))] == ["BOARD-NOT-RESERVED"]


def test_init_takes_the_reserved_memory_node(tmp_path, run_cli):
    board = edited_dtb(tmp_path, lambda fdt: add_reserved(fdt, [("jailhouse@7f000000", 0x7f000000, 0x600000, True)]))
    path, every, _ = init_and_check(tmp_path, run_cli, board)
    assert [d for d in every if d.severity is not Severity.INFO] == []
    text = path.read_text()
    assert "  # /reserved-memory/jailhouse@7f000000\n  hypervisor_memory: {phys: 0x7f000000, size: 6M}" in text
    # RAM on both sides of the hypervisor memory
    assert "{name: ram, phys: 0x40000000, size: 1008M," in text
    assert "{name: ram-2, phys: 0x7f600000, size: 10M," in text


@pytest.mark.parametrize("name", ["virt-gicv2.dtb", "virt-smmuv3.dtb"])
def test_init_from_other_qemu_machines_checks_clean(tmp_path, run_cli, name):
    board = BOARDS / name
    top = 0x60000000 if "gicv2" in name else 0x80000000
    path, every, _ = init_and_check(tmp_path, run_cli, board, "--hypervisor-memory",
                                    f"{top - 0x400000:#x}:4M", bootargs=f"mem={(top - 0x40000000 >> 20) - 4}M")
    assert [d for d in every if d.severity is not Severity.INFO] == []
    text = path.read_text()
    if "gicv2" in name:
        assert "gicc_base: 0x08010000\n    gich_base: 0x08030000\n    gicv_base: 0x08040000" in text
    else:
        assert "- {type: smmuv3, base: 0x09050000, size: 128K}  # /smmuv3@9050000" in text


def test_init_refuses_to_overwrite_and_needs_hypervisor_memory(tmp_path, run_cli):
    code, _, err = run_cli("init", "--board", VIRT, "-o", tmp_path)
    assert code == 2 and "error[INIT-HYPERVISOR-MEMORY]" in err
    code, _, err = run_cli("init", "--board", VIRT, "-o", tmp_path, "--hypervisor-memory", "0x20000000:4M")
    assert code == 2 and "is not inside the board's RAM" in err
    code, _, err = run_cli("init", "--board", VIRT, "-o", tmp_path, "--hypervisor-memory", "4M")
    assert code == 2 and "ADDR:SIZE" in err
    args = ("init", "--board", VIRT, "-o", tmp_path, "--hypervisor-memory", "0x7fc00000:4M")
    assert run_cli(*args)[0] == 0
    code, _, err = run_cli(*args)
    assert code == 2 and "error[INIT-EXISTS]" in err
    assert run_cli(*args, "--force")[0] == 0
    code, _, err = run_cli("init", "--board", X86, "-o", tmp_path / "x")
    assert code == 2 and "error[INIT-BOARD]" in err


# --- hostile input -----------------------------------------------------------------------------

def test_unreadable_boards(tmp_path, run_cli):
    dts = tmp_path / "board.dts"
    dts.write_text("/dts-v1/;\n/ { };\n")
    with pytest.raises(InputError) as exc:
        board_of(dts)
    (d,) = exc.value.diagnostics
    assert (d.rule, d.message) == ("BOARD-READ", f"cannot read the device tree {dts}: it does not start "
                                   "with the device-tree magic d00dfeed (this looks like a .dts source)")
    assert "dtc -I dts -O dtb" in d.hint
    truncated = tmp_path / "truncated.dtb"
    truncated.write_bytes(VIRT.read_bytes()[:2000])
    with pytest.raises(InputError) as exc:
        board_of(truncated)
    assert exc.value.diagnostics[0].rule == "BOARD-READ"
    code, _, err = run_cli("check", "--board", tmp_path / "missing.dtb", *arm_files())
    assert code == 2 and "error[IO-MISSING]" in err
    code, _, err = run_cli("check", "--bootargs", "mem=1G", *arm_files())
    assert code == 2 and "--bootargs needs --board" in err
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InputError) as exc:
        board_of(empty)
    assert exc.value.diagnostics[0].message == f"cannot read the x86 snapshot {empty}: it has no proc/iomem"


def test_snapshot_archive_reads_only_its_own_files(tmp_path):
    iomem = (X86 / "proc" / "iomem").read_bytes()
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for name, data in (("../../etc/passwd", b"x"), ("proc/iomem", iomem), ("/proc/cmdline", b"mem=1G")):
            member = tarfile.TarInfo(name)
            member.size = len(data)
            archive.addfile(member, io.BytesIO(data))
        link = tarfile.TarInfo("proc/cpuinfo")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/shadow"
        archive.addfile(link)
    (tmp_path / "b.tar").write_bytes(buffer.getvalue())
    board = board_of(tmp_path / "b.tar")
    assert board.bootargs == "mem=1G" and board.cpus == []
    assert not (tmp_path / "etc").exists()


def test_command_line_parsing():
    assert memparse("944M") == 944 << 20 and memparse("0x1000") == 0x1000 and memparse("1x") is None
    assert mem_limit_of("mem=1G quiet mem=512M -- mem=4G") == (512 << 20, "mem=512M")
    assert memmap_reserved_of("memmap=6M$0x3a000000,1M!0x100000 memmap=4K#0 memmap=1M@0") == [
        (0x3a000000, 0x3a600000, "memmap=6M$0x3a000000,1M!0x100000"),
        (0x100000, 0x200000, "memmap=6M$0x3a000000,1M!0x100000"), (0, 0x1000, "memmap=4K#0")]


_VIRT_BYTES = VIRT.read_bytes()[:0x2000] + bytes(0)   # the structure fits in the first 8 KiB


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.integers(0, 0x1fff), st.integers(0, 255)), min_size=1, max_size=8))
def test_mutated_device_trees_raise_only_partcfg_errors(flips):
    data = bytearray(VIRT.read_bytes()[:0x2000])
    data[4:8] = (0x2000).to_bytes(4, "big")  # totalsize: the cut blob
    for at, value in flips:
        data[at] = value
    try:
        board_of_dtb(bytes(data), "mutated.dtb")
    except PartcfgError:
        pass


def test_board_findings_are_valid_sarif(run_cli, monkeypatch):
    from test_sarif import _official_validator
    monkeypatch.chdir(ROOT)
    code, out, _ = run_cli("check", "--format", "sarif", "--board", "tests/boards/x86-this-machine",
                           "tests/fixtures/board/x86-this-machine.yaml", "tests/fixtures/board/x86-inmate.yaml")
    assert code == 1
    log = json.loads(out)
    assert not list(_official_validator().iter_errors(log))
    results = [r for r in log["runs"][0]["results"] if r["ruleId"] == "BOARD-NOT-RESERVED"]
    assert [r["locations"][0]["physicalLocation"]["region"]["startLine"] for r in results] == [10, 9]


def test_gicv3_platform_on_a_gicv2_board():
    gic_rules = [(d.rule, short(d.location), d.message)
                 for d in findings(arm_files(), board_of(BOARDS / "virt-gicv2.dtb", ARM_BOOTARGS))
                 if d.rule in ("BOARD-GIC", "BOARD-GICR")]
    assert gic_rules == [
        ("BOARD-GIC", "qemu-arm64.yaml:13:18", "gic_version is 3, but the board's GIC /intc@8000000 is a GICv2"),
        ("BOARD-GIC", "qemu-arm64.yaml:13:5", "gicc_base is not set, but the board's GIC CPU interface is "
         "at 0x8010000 (/intc@8000000 reg[1], 0x8010000-0x801ffff)"),
        ("BOARD-GIC", "qemu-arm64.yaml:13:5", "gich_base is not set, but the board's GIC hypervisor "
         "interface is at 0x8030000 (/intc@8000000 reg[2], 0x8030000-0x803ffff)"),
        ("BOARD-GIC", "qemu-arm64.yaml:13:5", "gicv_base is not set, but the board's GIC virtual CPU "
         "interface is at 0x8040000 (/intc@8000000 reg[3], 0x8040000-0x804ffff)"),
        ("BOARD-GICR", "qemu-arm64.yaml:16:16", "gicr_base is 0x80a0000, but the board's GICv2 "
         "/intc@8000000 has no redistributors")]


def test_collect_reports_what_it_cannot_read(tmp_path):
    with pytest.raises(InputError) as exc:
        snapshot_files_from(tmp_path)
    (d,) = exc.value.diagnostics
    assert d.rule == "COLLECT-READ" and d.message.startswith(f"cannot read {tmp_path / 'proc/iomem'}: ")
    (tmp_path / "proc").mkdir()
    for name in ("iomem", "cmdline", "cpuinfo"):   # what a user without root rights reads
        (tmp_path / "proc" / name).write_text("00000000-00000000 : System RAM\n" if name == "iomem" else "x\n")
    with pytest.raises(InputError) as exc:
        snapshot_files_from(tmp_path)
    assert exc.value.diagnostics[0].message == f"{tmp_path / 'proc/iomem'} shows no addresses"


def test_init_output_is_plain_yaml_whatever_the_board_says(tmp_path):
    def edit(fdt):
        fdt.setprop_str(0, "model", "evil\nsystem: other\n")
        add_reserved(fdt, [("jailhouse@7fc00000", 0x7fc00000, 0x400000, True)])
    board = board_of(edited_dtb(tmp_path, edit))
    result = init_of_board(board, "123")
    text = result.outputs["123.yaml"].decode()
    assert "(model evil?system: other?)" in text and 'system: "123"' in text
    checked = checked_files_of([_written(tmp_path, result)])
    assert not checked.diagnostics and checked.assembly.systems[0].name == "123"


def _written(tmp_path: Path, result) -> Path:
    ((name, data),) = result.outputs.items()
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_a_disabled_device_is_still_a_device(tmp_path):
    # the usual way to hand a device to a non-root cell: disable it in the root's tree
    board = board_of(edited_dtb(tmp_path, lambda fdt: fdt.setprop_str(
        fdt.path_offset("/pl031@9010000"), "status", "disabled")), ARM_BOOTARGS)
    (rtc,) = [d for d in board.devices if d.path == "/pl031@9010000"]
    assert not rtc.enabled and rtc.interrupts == (34,)
    (d,) = findings(arm_files(rt_cell=FAULTS / "rt-cell-rtc.yaml"), board)
    assert d.rule == "BOARD-IRQ" and "/pl031@9010000" in d.message


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(max_size=400), st.text(max_size=200))
def test_any_snapshot_text_reads_or_says_why(tmp_path, iomem, cmdline):
    snapshot = tmp_path / "snap"
    (snapshot / "proc").mkdir(parents=True, exist_ok=True)
    real = (X86 / "proc" / "iomem").read_text()
    (snapshot / "proc" / "iomem").write_text(real + iomem, errors="replace")
    (snapshot / "proc" / "cmdline").write_text(cmdline, errors="replace")
    board = board_of(snapshot)
    assert len(board.linux_ram) >= 3
    mem_limit_of(cmdline)
    memmap_reserved_of(cmdline)


def test_registers_are_translated_through_the_buses_ranges(tmp_path):
    def cells(*values: int) -> bytes:
        return b"".join(v.to_bytes(4, "big") for v in values)

    def edit(fdt):
        soc = fdt.add_subnode(0, "soc")
        fdt.setprop(soc, "#address-cells", cells(1))
        fdt.setprop(soc, "#size-cells", cells(1))
        fdt.setprop(soc, "ranges", cells(0x0, 0x0, 0x20000000, 0x100000))   # child 0 -> 0x20000000
        uart = fdt.add_subnode(fdt.path_offset("/soc"), "serial@1000")
        fdt.setprop(uart, "reg", cells(0x1000, 0x100))
        fdt.setprop_str(uart, "compatible", "ns16550a")
        fdt.setprop(uart, "reg-shift", cells(2))
        i2c = fdt.add_subnode(fdt.path_offset("/soc"), "i2c@2000")
        fdt.setprop(i2c, "reg", cells(0x2000, 0x100))
        fdt.setprop(i2c, "#address-cells", cells(1))
        fdt.setprop(i2c, "#size-cells", cells(0))
        sensor = fdt.add_subnode(fdt.path_offset("/soc/i2c@2000"), "sensor@48")
        fdt.setprop(sensor, "reg", cells(0x48))
        outside = fdt.add_subnode(fdt.path_offset("/soc"), "timer@200000")   # beyond the window
        fdt.setprop(outside, "reg", cells(0x200000, 0x100))
    board = board_of(edited_dtb(tmp_path, edit))
    spans = {d.path: [(s.start, s.end) for s in d.spans] for d in board.devices if d.path.startswith("/soc")}
    assert spans == {"/soc/serial@1000": [(0x20001000, 0x20001100)], "/soc/i2c@2000": [(0x20002000, 0x20002100)]}
    assert [(u.kind, u.span.start, u.regdist_4) for u in board.uarts if u.path == "/soc/serial@1000"] == \
        [("8250", 0x20001000, True)]
