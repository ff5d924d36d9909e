"""The firmware header ``<cell>/partcfg_<cell>.h``: pedantic C11, and what a C program
compiled against it sees equals the Python rendering, byte for byte.

One gcc invocation per example system builds a program that includes every cell
header of that system, prints each link's ``static const`` config-space image, the
per-link constants, and what the header's helpers and the README's snippet
(tests/fixtures/firmware/read_link.c) read from the image for every peer k.
"""

from __future__ import annotations

import pytest

from support.firmware import (FIXTURES, GOLDEN, ROOT, assembly_of_texts, example_layouts,
                              example_outputs, example_systems, needs_gcc, run, write_tree)
from partcfg.formats import ivshmem as iv
from partcfg.diagnostics import ConfigError
from partcfg.layout import layout_of_system
from partcfg.names import c_identifier_of, file_stem_of
from partcfg.render.cheader import firmware_header_of

C11 = ["-std=c11", "-Wall", "-Wextra", "-Werror", "-pedantic"]


def _links_by_cell(system):
    """(cell name, link name, link, peer ID) in header order."""
    layout = layout_of_system(system)
    for cell in layout.cells:
        for entry in cell.pci_devices:
            if entry.link is not None:
                link = system.links[entry.link]
                yield cell.cell.name, entry.link, link, link.peers.index(cell.cell.name)


def _program(system) -> str:
    lines = ["#include <inttypes.h>", "#include <stdio.h>"]
    for cell in system.all_cells:
        lines.append(f'#include "{file_stem_of(cell.name)}/partcfg_{file_stem_of(cell.name)}.h"')
    lines += [
        "static const uint8_t *current_image;",
        "static uint32_t pci_read_config(uint16_t bdf, unsigned int reg, unsigned int size)",
        "{",
        "\tuint32_t value = 0;",
        "\t(void)bdf;",
        "\tfor (unsigned int i = 0; i < size; i++)",
        "\t\tvalue |= (uint32_t)current_image[reg + i] << (8 * i);",
        "\treturn value;",
        "}",
        '#include "read_link.c"',
        "static void dump(const char *what, const void *image, size_t size)",
        "{",
        "\tconst unsigned char *bytes = image;",
        '\tprintf("%s image ", what);',
        "\tfor (size_t i = 0; i < size; i++)",
        '\t\tprintf("%02x", bytes[i]);',
        '\tprintf("\\n");',
        "}",
        "int main(void)",
        "{",
        "\tunsigned int at;",
        "\tconst struct partcfg_ivshmem_vendor_cap *cap;",
    ]
    for cell, link_name, link, peer in _links_by_cell(system):
        var = f"partcfg_{c_identifier_of(cell)}_{c_identifier_of(link_name)}_cspace"
        p = f"PARTCFG_{c_identifier_of(cell).upper()}_{c_identifier_of(link_name).upper()}"
        what = f"{cell}/{link_name}"
        lines += [
            f'\tdump("{what}", &{var}, sizeof({var}));',
            f'\tprintf("{what} constants %" PRIx64 " %" PRIx32 " %" PRIx64 " %" PRIx64 '
            f'" %u %u %x %u %u %x\\n", (uint64_t){p}_BASE, (uint32_t){p}_STATE_TABLE_SIZE, '
            f"(uint64_t){p}_RW_SIZE, (uint64_t){p}_OUTPUT_SIZE, {p}_PEER_ID, {p}_PEERS, "
            f"{p}_PROTOCOL, {p}_MSIX_VECTORS, {p}_INTERRUPT_PIN, {p}_BDF);",
            f"\tat = partcfg_ivshmem_vendor_cap_offset((const uint8_t *)&{var}, sizeof({var}));",
            f"\tcap = (const struct partcfg_ivshmem_vendor_cap *)((const uint8_t *)&{var} + at);",
            f"\tcurrent_image = (const uint8_t *)&{var};",
            f'\tprintf("{what} cap %x\\n", at);',
        ]
        for k in range(len(link.peers)):
            lines.append(
                f'\tprintf("{what} peer {k} %" PRIx64 " %" PRIx64 " %" PRIx64 " %" PRIx64 "\\n", '
                f"(uint64_t){p}_OUTPUT_OFFSET_PEER_{k}, (uint64_t){p}_OUTPUT_OFFSET({k}), "
                f"partcfg_ivshmem_output_section(cap, {k}), output_section_of_peer({p}_BDF, {k}));")
    lines += ["\treturn 0;", "}", ""]
    return "\n".join(lines)


def _expected(system, outputs) -> list[str]:
    lines = []
    for cell, link_name, link, peer in _links_by_cell(system):
        what = f"{cell}/{link_name}"
        image = outputs[f"{system.name}/{file_stem_of(cell)}/{file_stem_of(link_name)}.cspace"]
        view = iv.link_view_of(image)
        assert (view.state_table_size, view.rw_size, view.output_size) == (
            link.state_table, link.rw_section, link.output_section)
        lines.append(f"{what} image {image.hex()}")
        lines.append(f"{what} constants {view.base:x} {link.state_table:x} {link.rw_section:x} "
                     f"{link.output_section:x} {peer} {len(link.peers)} "
                     f"{link.protocol_of_peer(peer):x} {link.interrupts} "
                     f"{view.interrupt_pin} {link.bdf:x}")
        lines.append(f"{what} cap 40")
        first = link.state_table + link.rw_section
        for k in range(len(link.peers)):
            offset = first + k * link.output_section
            lines.append(f"{what} peer {k} {offset:x} {offset:x} {view.base + offset:x} "
                         f"{view.base + offset:x}")
    return lines


@needs_gcc
@pytest.mark.parametrize("system_name", ["qemu-arm64", "qemu-x86"])
def test_header_compiles_pedantic_and_matches_the_python_rendering(system_name, tmp_path):
    system = example_systems()[system_name]
    outputs = example_outputs(frozenset())
    write_tree(tmp_path, outputs, prefix=f"{system_name}/")
    (tmp_path / "read_link.c").write_text((FIXTURES / "read_link.c").read_text())
    (tmp_path / "main.c").write_text(_program(system))
    run(["gcc", *C11, "-I", tmp_path, "-o", tmp_path / "main", tmp_path / "main.c"])
    printed = run([tmp_path / "main"]).splitlines()
    assert printed == _expected(system, outputs)


def test_every_cell_gets_a_header_and_they_match_the_golden_files():
    outputs = example_outputs(frozenset())
    headers = sorted(rel for rel in outputs if rel.endswith(".h"))
    assert headers == [
        "qemu-arm64/linux-guest/partcfg_linux-guest.h", "qemu-arm64/qemu-arm64/partcfg_qemu-arm64.h",
        "qemu-arm64/rt-cell/partcfg_rt-cell.h", "qemu-x86/RootCell/partcfg_RootCell.h",
        "qemu-x86/linux-guest/partcfg_linux-guest.h", "qemu-x86/rt-app/partcfg_rt-app.h"]
    for rel in headers + [r for r in outputs if r.endswith(".cspace")]:
        golden = GOLDEN / rel
        assert golden.is_file(), f"{rel} is not in tests/golden (python -m tests.regen_golden)"
        assert outputs[rel] == golden.read_bytes(), f"{rel} differs from tests/golden"


def test_header_names_its_inputs_without_timestamps_or_absolute_paths():
    text = example_outputs(frozenset())["qemu-x86/rt-app/partcfg_rt-app.h"].decode()
    assert text.startswith(
        "/*\n * Firmware view of cell \"rt-app\" of system \"qemu-x86\": its shared-memory links.\n"
        " * Generated by partcfg 0.1.0 from:\n *   qemu-x86-links.yaml\n"
        " *   qemu-x86-linux-guest.yaml\n *   qemu-x86-rt-app.yaml\n *   qemu-x86.yaml\n")
    assert str(ROOT) not in text


def test_header_declares_the_structs_from_the_ivshmem_declarations():
    text = example_outputs(frozenset())["qemu-x86/rt-app/partcfg_rt-app.h"].decode()
    for struct in (iv.VENDOR_CAP, iv.MSIX_CAP, iv.CSPACE, iv.REGISTERS):
        assert f"struct {struct.c_name} {{" in text
        assert (f"_Static_assert(sizeof(struct {struct.c_name}) == {struct.size}, ") in text
        for name, at in struct.offsets.items():
            assert f"_Static_assert(offsetof(struct {struct.c_name}, {name}) == {at:#x}, " in text
    assert "#define PARTCFG_RT_APP_DEMO_OUTPUT_OFFSET_PEER_1 UINT64_C(0xc000)" in text
    assert "static const struct partcfg_ivshmem_cspace partcfg_rt_app_demo_cspace = {" in text


def test_links_that_become_one_c_name_are_a_clash():
    text = (FIXTURES / "remap-system.yaml").read_text().replace("  mailbox:", "  mail.box:", 1) + (
        "  mail-box:\n    bdf: 00:1c.0\n    base: 0x3f010000\n    peers: [root, guest]\n")
    layout = layout_of_system(assembly_of_texts({"clash.yaml": text}).systems[0])
    with pytest.raises(ConfigError) as caught:
        firmware_header_of(layout.root)
    [diag] = caught.value.diagnostics
    assert (diag.rule, diag.message, str(diag.location)) == (
        "BUILD-NAME-CLASH", "links 'mail.box' and 'mail-box' of cell 'root' both become the C "
        "prefix PARTCFG_ROOT_MAIL_BOX", "clash.yaml:25:3")


def test_readme_section_shows_the_tested_snippet():
    doc = (ROOT / "README.md").read_text()
    assert (FIXTURES / "read_link.c").read_text() in doc


def test_headers_rendered_one_after_another_in_one_process_are_each_their_own():
    # ivshmem_types_context() is computed once per process and each image's view and
    # initializer once per distinct image bytes; whatever is cached, every
    # header rendered after it must still be its own cell's. Two cells of one name in
    # two systems (linux-guest), rendered in both orders, each equal their golden file.
    from partcfg.render.cheader import ivshmem_types_context

    layouts = example_layouts()
    cells = {(system, c.cell.name): c for system, layout in layouts.items() for c in layout.cells}
    order = sorted(cells) + sorted(cells, reverse=True)
    for system, cell in order:
        stem = file_stem_of(cell)
        golden = (GOLDEN / system / stem / f"partcfg_{stem}.h").read_text(encoding="utf-8")
        sources = [line.removeprefix(" *   ") for line in golden.splitlines()[2:]
                   if line.startswith(" *   ")]
        assert firmware_header_of(cells[system, cell], sources) == golden, (system, cell)
    arm = firmware_header_of(cells["qemu-arm64", "linux-guest"])
    x86 = firmware_header_of(cells["qemu-x86", "linux-guest"])
    assert arm != x86
    constants, declarations = ivshmem_types_context()
    assert isinstance(constants, tuple) and isinstance(declarations, str)  # nothing to mutate
