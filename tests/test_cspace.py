"""Per-peer PCI configuration-space images (``<cell>/<link>.cspace``) and their reader.

The reader (``ivshmem.link_view_of``) walks the capability list like a guest driver;
every rendered image of every example peer must read back as its link declares. The
byte positions are also pinned here against the spec's table with literal offsets, so a
moved field fails even if the declaration and the reader moved together.
"""

from __future__ import annotations

import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from support.firmware import (FIXTURES, assembly_of_texts, example_layouts, example_outputs,
                              example_paths, example_systems)
from partcfg.formats import ivshmem as iv
from partcfg.diagnostics import BlobError, ConfigError
from partcfg.layout import layout_of_cell, layout_of_system
from partcfg.model.regions import sections_of
from partcfg.render.cspace import cspace_of, cspace_outputs_of


def _peers():
    """(system, link name, link, peer ID, cell layout) for every peer of every example link."""
    for name, layout in example_layouts().items():
        system = example_systems()[name]
        cells = {c.cell.name: c for c in layout.cells}
        for link_name, link in system.links.items():
            for peer, cell_name in enumerate(link.peers):
                yield system, link_name, link, peer, cells[cell_name]


def _expected_base(link_name, link, cell_layout):
    """The link base in the peer's own address space: its placement's virt, if any."""
    for item in cell_layout.cell.memory:
        if getattr(item, "link", None) == link_name and item.virt is not None:
            return item.virt
    return link.base


def _check_view(view: iv.LinkView, link_name, link, peer, cell_layout):
    base = _expected_base(link_name, link, cell_layout)
    assert view.base == base
    assert view.state_table_size == link.state_table
    assert view.rw_size == link.rw_section
    assert view.output_size == link.output_section
    assert view.msix_vectors == link.interrupts
    assert view.protocol == link.protocol_of_peer(peer)
    assert view.interrupt_pin == (0 if link.interrupts else ((link.bdf >> 3) & 3) + 1)
    assert view.capability_chain == ((0x40, 0x60) if link.interrupts else (0x40,))
    for sec in sections_of(link):
        if sec.kind == "output":
            assert view.output_section_of(sec.owner) == base + sec.offset


def test_every_example_peer_reads_back_as_its_link_declares():
    seen = 0
    for system, link_name, link, peer, cell_layout in _peers():
        image = cspace_of(cell_layout, link_name)
        assert len(image) == 128
        _check_view(iv.link_view_of(image), link_name, link, peer, cell_layout)
        seen += 1
    assert seen == 9  # 3+2+2 peers in qemu-x86, 2 in qemu-arm64


def test_build_writes_one_image_per_link_and_peer():
    outputs = example_outputs(frozenset())
    images = sorted(rel for rel in outputs if rel.endswith(".cspace"))
    assert images == [
        "qemu-arm64/linux-guest/telemetry.cspace", "qemu-arm64/rt-cell/telemetry.cspace",
        "qemu-x86/RootCell/demo.cspace", "qemu-x86/RootCell/net.cspace",
        "qemu-x86/RootCell/virtio-blk.cspace", "qemu-x86/linux-guest/demo.cspace",
        "qemu-x86/linux-guest/net.cspace", "qemu-x86/linux-guest/virtio-blk.cspace",
        "qemu-x86/rt-app/demo.cspace"]
    for system, link_name, link, peer, cell_layout in _peers():
        data = outputs[f"{system.name}/{cell_layout.cell.name}/{link_name}.cspace"]
        _check_view(iv.link_view_of(data), link_name, link, peer, cell_layout)


# --- the spec's byte table, with literal offsets --------------------------------------------

def _spec_bytes(image: bytes) -> dict[int, int]:
    """Offsets the spec gives a value to (any other byte must be zero)."""
    listed = {}
    for at, size in ((0x00, 2), (0x02, 2), (0x04, 2), (0x06, 2), (0x08, 1), (0x09, 1), (0x0A, 1),
                     (0x0B, 1), (0x0E, 1), (0x2C, 2), (0x2E, 2), (0x34, 1), (0x3C, 1), (0x3D, 1),
                     (0x40, 1), (0x41, 1), (0x42, 1), (0x43, 1), (0x44, 4), (0x48, 8), (0x50, 8),
                     (0x58, 8), (0x60, 1), (0x61, 1), (0x62, 2), (0x64, 4), (0x68, 4)):
        listed[at] = int.from_bytes(image[at:at + size], "little")
        for i in range(at + 1, at + size):
            listed[i] = None
    return listed


def _assert_rest_zero(image: bytes) -> None:
    listed = _spec_bytes(image)
    stray = [hex(i) for i in range(128) if i not in listed and image[i]]
    assert not stray, f"bytes the spec leaves zero are set: {stray}"


def test_msix_image_matches_the_spec_table_byte_for_byte():
    layout = {c.cell.name: c for c in example_layouts()["qemu-x86"].cells}["rt-app"]
    image = cspace_of(layout, "demo")
    assert image[0x00:0x04] == bytes([0x0A, 0x11, 0x06, 0x41])
    assert image[0x04:0x08] == bytes([0x00, 0x00, 0x10, 0x00])
    assert image[0x08:0x0C] == bytes([0x00, 0x00, 0x00, 0xFF])   # protocol 0x0000
    assert image[0x0E] == 0 and image[0x10:0x28] == bytes(24)
    assert image[0x2C:0x30] == bytes([0x0A, 0x11, 0x06, 0x41])
    assert image[0x34] == 0x40 and image[0x3C] == 0 and image[0x3D] == 0
    assert image[0x40:0x44] == bytes([0x09, 0x60, 0x20, 0x00])
    assert struct.unpack_from("<IQQQ", image, 0x44) == (0x1000, 0x9000, 0x2000, 0x3F0F0000)
    assert image[0x60:0x62] == bytes([0x11, 0x00])
    assert struct.unpack_from("<HII", image, 0x62) == (15, 0x00000001, 0x00000101)
    _assert_rest_zero(image)


def test_intx_image_keeps_the_unlinked_msix_capability():
    layout = {c.cell.name: c for c in example_layouts()["qemu-arm64"].cells}["rt-cell"]
    image = cspace_of(layout, "telemetry")
    assert image[0x09:0x0B] == bytes([0x01, 0x40])               # custom:0x4001
    assert image[0x3D] == 1                                         # device 0 -> INTA
    assert image[0x40:0x44] == bytes([0x09, 0x00, 0x20, 0x00])     # next 0: MSI-X unlinked
    assert struct.unpack_from("<IQQQ", image, 0x44) == (0x1000, 0x1000, 0x10000, 0x7F000000)
    assert image[0x60:0x62] == bytes([0x11, 0x00])
    assert struct.unpack_from("<HII", image, 0x62) == (0, 0x00000001, 0x00000101)
    _assert_rest_zero(image)


def test_virtio_back_end_and_front_end_see_their_own_protocol():
    cells = {c.cell.name: c for c in example_layouts()["qemu-x86"].cells}
    back = cspace_of(cells["RootCell"], "virtio-blk")
    front = cspace_of(cells["linux-guest"], "virtio-blk")
    assert back[0x09:0x0B] == bytes([0x02, 0xC0]) and front[0x09:0x0B] == bytes([0x02, 0x80])


# --- a cell that maps a link elsewhere, and INTx pins -----------------------------------------

REMAP = FIXTURES / "remap-system.yaml"
REMAP_GUEST = FIXTURES / "remap-guest.yaml"


def test_image_reports_the_peers_own_address_and_intx_pin():
    assembly = assembly_of_texts({str(f): f.read_text() for f in (REMAP, REMAP_GUEST)})
    system = assembly.systems[0]
    cells = {c.cell.name: c for c in layout_of_system(system).cells}
    link = system.links["mailbox"]
    guest = iv.link_view_of(cspace_of(cells["guest"], "mailbox"))
    root = iv.link_view_of(cspace_of(cells["root"], "mailbox"))
    assert root.base == link.base == 0x3F000000
    assert guest.base == 0x80000000                      # the guest's placement virt
    assert guest.output_section_of(1) == 0x80000000 + 0x1000 + 0x2000 + 0x1000
    assert guest.interrupt_pin == root.interrupt_pin == 4   # device 0x1b: (0x1b & 3) + 1
    for peer, name in enumerate(link.peers):
        _check_view(iv.link_view_of(cspace_of(cells[name], "mailbox")), "mailbox", link, peer,
                    cells[name])


def test_two_links_with_one_file_name_are_a_clash():
    text = REMAP.read_text().replace("  mailbox:", "  'mail box':", 1) + (
        "  mail-box:\n    bdf: 00:1c.0\n    base: 0x3f010000\n    peers: [root, guest]\n")
    assembly = assembly_of_texts({"clash.yaml": text})
    with pytest.raises(ConfigError) as caught:
        cspace_outputs_of(layout_of_system(assembly.systems[0]))
    diag = caught.value.diagnostics[0]
    assert diag.rule == "BUILD-NAME-CLASH"
    assert diag.message == "two links of cell 'root' would be written to root/mail-box.cspace"
    assert str(diag.location) == "clash.yaml:25:3"


# --- the reader on any valid link (hypothesis) ------------------------------------------------

PAGE = 0x1000


@st.composite
def _links(draw):
    peers = draw(st.integers(2, 4))
    return {
        "peers": peers,
        "state": PAGE * draw(st.integers(1, 3)),
        "rw": PAGE * draw(st.integers(0, 40)),
        "out": PAGE * draw(st.integers(0, 40)),
        "msix": draw(st.integers(0, 16)),
        "device": draw(st.integers(0, 31)),
        "protocol": draw(st.sampled_from(["undefined", "veth", "custom:0x4abc"])),
        "virt": draw(st.one_of(st.none(), st.integers(1, 0xFFFF).map(lambda p: p * 0x100000))),
    }


def _system_text(link: dict) -> str:
    names = ["root"] + [f"c{i}" for i in range(1, link["peers"])]
    irq = "intx" if not link["msix"] else f"{{msix: {link['msix']}}}"
    placement = (f"    - {{link: l, virt: {link['virt']:#x}}}\n" if link["virt"] else "")
    return (
        "system: h\nplatform:\n  arch: x86\n  hypervisor_memory: {phys: 0x3a000000, size: 6M}\n"
        "cell:\n  name: root\n  cpus: 0-3\n  memory:\n" + placement
        + "    - {name: ram, phys: 0x100000, size: 0x1000000, flags: [read, write]}\n"
        f"links:\n  l:\n    bdf: 00:{link['device']:02x}.0\n    base: 0x40000000\n"
        f"    state_table: {link['state']:#x}\n    rw_section: {link['rw']:#x}\n"
        f"    output_section: {link['out']:#x}\n    peers: [{', '.join(names)}]\n"
        f"    interrupts: {irq}\n    protocol: {link['protocol']}\n")


def _peer_texts(link: dict) -> dict[str, str]:
    texts = {"h.yaml": _system_text(link)}
    for i in range(1, link["peers"]):
        texts[f"c{i}.yaml"] = f"system: h\ncell:\n  name: c{i}\n  cpus: {i}\n"
    return texts


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_links())
def test_reader_recovers_any_link_for_every_peer(spec):
    system = assembly_of_texts(_peer_texts(spec)).systems[0]
    link = system.links["l"]
    layouts = {c.name: layout_of_cell(system, c) for c in system.all_cells}
    for peer, name in enumerate(link.peers):
        _check_view(iv.link_view_of(cspace_of(layouts[name], "l")), "l", link, peer, layouts[name])


# --- malformed images: one exact diagnostic each ----------------------------------------------

def _good() -> bytearray:
    layout = {c.cell.name: c for c in example_layouts()["qemu-x86"].cells}["rt-app"]
    return bytearray(cspace_of(layout, "demo"))


def _patched(**changes) -> bytes:
    image = _good()
    for at, value in changes.items():
        image[int(at[1:], 16)] = value
    return bytes(image)


@pytest.mark.parametrize("image, rule, message", [
    (bytes(0x30), "CSPACE-SIZE", "config space image is 48 bytes; the header alone needs 64"),
    (_patched(x00=0x86, x01=0x80), "CSPACE-ID",
     "vendor/device ID 0x8086:0x4106 is not an ivshmem device (0x110a:0x4106)"),
    (_patched(x06=0x00), "CSPACE-CAP-LIST",
     "status register 0x0000 says there is no capability list (bit 4 clear)"),
    (_patched(x61=0x40), "CSPACE-CAP-LOOP", "capability list loops: 0x40 -> 0x60 -> 0x40"),
    (_patched(x41=0x40), "CSPACE-CAP-LOOP", "capability list loops: 0x40 -> 0x40"),
    (_patched(x34=0x10), "CSPACE-CAP-POINTER",
     "capability pointer 0x10 at offset 0x34 is outside the capability area 0x40..0x7e"),
    (_patched(x41=0x90), "CSPACE-CAP-POINTER",
     "capability pointer 0x90 at offset 0x41 is outside the capability area 0x40..0x7e"),
    (_patched(x41=0x62), "CSPACE-CAP-POINTER",
     "capability pointer 0x62 at offset 0x41 is not dword-aligned"),
    (_patched(x40=0x11), "CSPACE-NO-VENDOR-CAP", "the capability list has no vendor-specific "
     "capability (ID 0x09): 0x11 at 0x40, 0x11 at 0x60"),
    (_patched(x34=0x00), "CSPACE-NO-VENDOR-CAP", "the capability list has no vendor-specific "
     "capability (ID 0x09): no capabilities"),
    (_patched(x42=0x18), "CSPACE-VENDOR-CAP",
     "vendor capability at 0x40 is 0x18 bytes long; the base address needs 0x20"),
    (_patched(x34=0x64, x64=0x09, x65=0x00), "CSPACE-VENDOR-CAP",
     "vendor capability at 0x64 runs past the end of the 128-byte image"),
], ids=["short", "vendor", "status", "loop", "self-loop", "low-pointer", "high-pointer",
        "unaligned", "no-vendor-cap", "empty-list", "short-cap", "cap-past-end"])
def test_reader_rejects_malformed_images(image, rule, message):
    with pytest.raises(BlobError) as caught:
        iv.link_view_of(image, "bad.cspace")
    [diag] = caught.value.diagnostics
    assert (diag.rule, diag.message, str(diag.location)) == (rule, message, "bad.cspace")


# --- partcfg show --cspace ------------------------------------------------------------------

def test_show_cspace_prints_an_annotated_dump_per_peer(run_cli, monkeypatch):
    from support.firmware import ROOT
    monkeypatch.chdir(ROOT)
    code, out, err = run_cli("show", *example_paths(), "--cspace")
    assert code == 0, err
    titles = [line for line in out.splitlines() if line and not line.startswith(" ")]
    assert titles[0] == "qemu-arm64: cell linux-guest, link telemetry (peer 1 of 2, 00:00.0)"
    assert len(titles) == 9
    dump = out.split("qemu-x86: cell rt-app, link demo (peer 1 of 3, 00:0e.0)\n")[1]
    lines = dump.splitlines()
    assert lines[0].split() == ["off", "register", "value", "meaning"]
    assert "  0x09  class_interface              0x00                 protocol bits 0..7 " \
           "(protocol 0x0000: undefined)" in lines
    assert "  0x41  vendor_cap.next              0x60                 MSI-X capability" in lines
    assert "  0x58  vendor_cap.base              0x000000003f0f0000   state table address in " \
           "this cell's address space" in lines
    assert "  0x62  msix_cap.message_control     0x000f               16 vectors" in lines
    assert lines[-1] == ("  reader: region at 0x3f0f0000, rw section at 0x3f0f1000, output "
                         "section of peer k at 0x3f0fa000 + k * 0x2000; MSI-X, 16 vectors")
    assert set(example_systems()) == {"qemu-arm64", "qemu-x86"}
