"""partcfg import: blobs -> idiomatic YAML -> the very same blobs again.

The round trip is the contract: blob -> imports -> yaml_doc -> load -> model -> layout ->
render/blob must give back identical bytes, for the examples, for random valid blobs
(hypothesis) and for blobs that break the rules. Whatever cannot be kept is a warning.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support.roundtrip import (blob_files_of, example_systems, imported_texts_of,
                       rebuilt_blobs_of, standalone_cells, systems)

from partcfg import __version__
from partcfg.formats import jailhouse as jh
from partcfg.load.blob import ParsedBlob, blob_bytes_of, parsed_blob_of
from partcfg.diagnostics import Severity
from partcfg.lift.blob_to_yaml import Hex, ImportedDocument, imported_documents_of
from partcfg.load.yaml_source import load_yaml_text
from partcfg.render.yaml_doc import scalar_text, yaml_text_of

EXAMPLES = example_systems()


def _parsed(blobs: dict[str, bytes], folder: str = "build") -> dict[str, ParsedBlob]:
    return {name: parsed_blob_of(data, f"{folder}/{name}.cell") for name, data in blobs.items()}


def _round_trip(parsed: list[ParsedBlob]) -> tuple[list[ImportedDocument], dict[str, bytes]]:
    documents = imported_documents_of(parsed)
    return documents, rebuilt_blobs_of({d.name: yaml_text_of(d) for d in documents})


def _diagnostics(documents: list[ImportedDocument], infos: bool = True) -> list[tuple]:
    return [(d.rule, d.severity, str(d.location), d.message)
            for doc in documents for d in doc.diagnostics
            if infos or d.severity is not Severity.INFO]


# --- the examples --------------------------------------------------------------------------

@pytest.mark.parametrize("system", sorted(EXAMPLES))
def test_example_system_imported_together_rebuilds_identically(system):
    blobs = EXAMPLES[system]
    documents, rebuilt = _round_trip(list(_parsed(blobs).values()))
    assert rebuilt == blobs
    assert _diagnostics(documents) == []
    root = documents[0].data
    assert set(root) == {"system", "platform", "cell", "links"}
    assert all(d.data["system"] == root["system"] for d in documents)


@pytest.mark.parametrize("system, cell", [(s, c) for s in sorted(EXAMPLES) for c in EXAMPLES[s]])
def test_example_blob_imported_alone_rebuilds_identically(system, cell):
    blob = EXAMPLES[system][cell]
    documents, rebuilt = _round_trip([parsed_blob_of(blob, f"{cell}.cell")])
    assert rebuilt == {cell: blob}
    (document,) = documents
    assert "links" not in document.data
    if document.data.get("platform") is None:   # a cell on its own: standalone
        assert "system" not in document.data and "arch" in document.data["cell"]


def test_example_links_are_lifted_with_names_and_placements():
    documents = imported_documents_of(list(_parsed(EXAMPLES["qemu-x86"]).values()))
    by_name = {d.name: d.data for d in documents}
    links = by_name["RootCell.yaml"]["links"]
    assert links == {
        "virtio-block-00-0c-0": {
            "bdf": "00:0c.0", "base": 0x3F000000, "state_table": "4K", "rw_section": "892K",
            "peers": ["RootCell", "linux-guest"], "interrupts": {"msix": 2},
            "protocol": "virtio:block", "backend": "RootCell"},
        "ivshmem-00-0e-0": {
            "bdf": "00:0e.0", "base": 0x3F0F0000, "state_table": "4K", "rw_section": "36K",
            "output_section": "8K", "peers": ["RootCell", "rt-app", "linux-guest"],
            "interrupts": {"msix": 16}, "protocol": "undefined"},
        "veth-00-0f-0": {
            "bdf": "00:0f.0", "base": 0x3F100000, "state_table": "4K", "output_section": "508K",
            "peers": ["RootCell", "linux-guest"], "interrupts": {"msix": 2}, "protocol": "veth"},
    }
    guest = by_name["linux-guest.yaml"]["cell"]
    assert guest["memory"][:3] == [{"link": n} for n in links]
    assert guest["pci_devices"] == [{"link": n} for n in links]
    assert by_name["rt-app.yaml"]["cell"]["memory"][2] == {"link": "ivshmem-00-0e-0"}


def test_example_root_cell_is_idiomatic():
    documents = imported_documents_of(list(_parsed(EXAMPLES["qemu-x86"]).values()))
    data = documents[0].data
    assert data["system"] == "RootCell"
    assert data["platform"]["hypervisor_memory"] == {"phys": 0x3A000000, "size": "6M"}
    assert data["platform"]["iommus"] == [{"type": "intel", "base": 0xFED90000, "size": "4K"}]
    cell = data["cell"]
    assert cell["cpus"] == "0-3" and "cpu_set_size" not in cell
    # regions are named from what they are (here I/O at an address)
    assert cell["memory"][7] == {"name": "io-0xfed00000", "phys": 0xFED00000, "size": "1K",
                                 "flags": ["read", "write", "io", "io-32"]}
    assert cell["irqchips"] == [{"address": 0xFEC00000, "id": 0xFF00, "pin_base": 0,
                                 "interrupts": "0-23"}]
    # the capability array is cut where devices' capability ranges start and end
    assert [(g["name"], len(g["caps"])) for g in cell["pci_caps"]] == \
        [("caps-00-1f-2", 2), ("caps-00-02-0", 5)]
    assert cell["pci_caps"][1]["caps"][4] == {"id": 0x1, "extended": True, "start": 0x100,
                                              "length": 0x4}
    e1000e = cell["pci_devices"][2]
    assert e1000e == {"type": "device", "bdf": "00:02.0",
                      "bar_mask": [0xFFFE0000, 0xFFFE0000, 0xFFFFFFE0, 0xFFFFC000, 0, 0],
                      "caps": ["caps-00-02-0"], "msi_vectors": 1, "msi_flags": ["64bit"],
                      "msix_vectors": 5, "msix_region_size": "4K", "msix_address": 0xFEBD0000}


RT_APP_TOGETHER = """\
# Generated by partcfg import from build/rt-app.cell (partcfg {version}).

system: RootCell

cell:
  name: rt-app
  flags: [passive-comm-region, virtual-console-permitted]
  cpus: 3
  memory:
    - {{name: loadable, phys: 0x3ef00000, virt: 0x0, size: 1M, flags: [read, write, execute, loadable]}}
    - {{name: comm-region, virt: 0x100000, size: 4K, flags: [read, write, comm-region]}}
    - {{link: ivshmem-00-0e-0}}
  pio:
    - {{base: 0x2f8, length: 0x8}}
  pci_devices:
    - {{link: ivshmem-00-0e-0}}
"""

RT_APP_ALONE = """\
# Generated by partcfg import from rt-app.cell (partcfg {version}).

cell:
  name: rt-app
  arch: x86
  flags: [passive-comm-region, virtual-console-permitted]
  cpus: 3
  memory:
    - {{name: loadable, phys: 0x3ef00000, virt: 0x0, size: 1M, flags: [read, write, execute, loadable]}}
    - {{name: comm-region, virt: 0x100000, size: 4K, flags: [read, write, comm-region]}}
    - {{name: ivshmem-00-0e-0-state, phys: 0x3f0f0000, size: 4K, flags: [read, rootshared]}}
    - {{name: ivshmem-00-0e-0-rw, phys: 0x3f0f1000, size: 36K, flags: [read, write, rootshared]}}
    - {{name: ivshmem-00-0e-0-out0, phys: 0x3f0fa000, size: 8K, flags: [read, rootshared]}}
    - {{name: ivshmem-00-0e-0-out1, phys: 0x3f0fc000, size: 8K, flags: [read, write, rootshared]}}
    - {{name: ivshmem-00-0e-0-out2, phys: 0x3f0fe000, size: 8K, flags: [read, rootshared]}}
  pio:
    - {{base: 0x2f8, length: 0x8}}
  pci_devices:
    - type: ivshmem
      bdf: 00:0e.0
      bar_mask: [0xfffff000, 0xfffff000, 0, 0, 0, 0]
      msix_vectors: 16
      shmem_regions: ivshmem-00-0e-0-state
      shmem_dev_id: 1
      shmem_peers: 3
"""


def _without_console(text: str) -> str:
    # the example's console is checked on its own (test_console_type_word_is_quoted)
    return "".join(line for line in text.splitlines(True) if not line.startswith("  console:"))


def test_yaml_text_of_a_cell_imported_with_its_system():
    texts = imported_texts_of({f"build/{n}.cell": b for n, b in EXAMPLES["qemu-x86"].items()})
    assert list(texts) == ["RootCell.yaml", "linux-guest.yaml", "rt-app.yaml"]
    assert _without_console(texts["rt-app.yaml"]) == RT_APP_TOGETHER.format(version=__version__)


def test_yaml_text_of_a_cell_imported_alone():
    texts = imported_texts_of({"rt-app.cell": EXAMPLES["qemu-x86"]["rt-app"]})
    assert _without_console(texts["rt-app.yaml"]) == RT_APP_ALONE.format(version=__version__)


def test_import_is_deterministic():
    files = {f"build/{n}.cell": b for n, b in EXAMPLES["qemu-x86"].items()}
    assert imported_texts_of(files) == imported_texts_of(dict(files))


def test_system_blob_alone_keeps_its_links_raw_and_says_why():
    blob = EXAMPLES["qemu-x86"]["RootCell"]
    documents, rebuilt = _round_trip([parsed_blob_of(blob, "RootCell.cell")])
    assert rebuilt == {"RootCell": blob}
    assert "links" not in documents[0].data
    assert _diagnostics(documents) == [
        ("IMPORT-LINK-RAW", Severity.INFO, "RootCell.cell",
         f"ivshmem devices at {bdf} kept as raw PCI devices and regions: 1 of its {n} peers "
         "were imported") for bdf, n in (("00:0c.0", 2), ("00:0e.0", 3), ("00:0f.0", 2))]


# --- random valid blobs (hypothesis) -------------------------------------------------------

@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(systems())
def test_random_system_round_trips_and_lifts_its_links(generated):
    blobs, links = generated
    files = blob_files_of(blobs)
    documents, rebuilt = _round_trip([parsed_blob_of(data, f) for f, data in files.items()])
    for blob in blobs:
        assert rebuilt[blob.cell.name.decode()] == files[blob.file]
    assert not [d for doc in documents for d in doc.diagnostics if d.severity is not Severity.INFO]
    lifted = documents[0].data.get("links", {}).values()
    lifted_bdfs = {(link["bdf"], link.get("domain", 0)) for link in lifted}
    for link in links:
        assert (f"{link['bdf'] >> 8:02x}:{(link['bdf'] >> 3) & 0x1F:02x}.{link['bdf'] & 7}",
                link["domain"]) in lifted_bdfs


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(standalone_cells())
def test_random_standalone_cell_round_trips(blob):
    files = blob_files_of([blob])
    documents, rebuilt = _round_trip([parsed_blob_of(files["alone.cell"], "alone.cell")])
    assert list(rebuilt.values()) == [files["alone.cell"]]
    assert documents[0].data["cell"]["arch"] in jh.ARCHITECTURES
    assert not [d for d in documents[0].diagnostics if d.severity is not Severity.INFO]


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(systems())
def test_random_system_cells_imported_alone_round_trip(generated):
    blobs, _ = generated
    for blob in blobs:
        data = blob_bytes_of(blob)
        _, rebuilt = _round_trip([parsed_blob_of(data, blob.file)])
        assert list(rebuilt.values()) == [data]


# --- blobs that break the rules still import -------------------------------------------------

def _x86() -> dict[str, ParsedBlob]:
    return _parsed(EXAMPLES["qemu-x86"])


def _assert_round_trip(parsed: dict[str, ParsedBlob]) -> list[ImportedDocument]:
    documents, rebuilt = _round_trip(list(parsed.values()))
    assert rebuilt == {p.cell.name.decode(): blob_bytes_of(p) for p in parsed.values()}
    return documents


def test_link_whose_peer_breaks_the_layout_stays_raw():
    parsed = _x86()
    parsed["rt-app"].cell.memory[3]["flags"] &= ~jh.MEM_WRITE   # its rw section read-only
    documents = _assert_round_trip(parsed)
    root, guest, rt = (d.data for d in documents)
    assert list(root["links"]) == ["virtio-block-00-0c-0", "veth-00-0f-0"]
    assert rt["cell"]["memory"][2] == {"name": "ivshmem-00-0e-0-state", "phys": 0x3F0F0000,
                                       "size": "4K", "flags": ["read", "rootshared"]}
    assert rt["cell"]["pci_devices"] == [{
        "type": "ivshmem", "bdf": "00:0e.0", "bar_mask": list(jh.IVSHMEM_BAR_MASK_MSIX),
        "msix_vectors": 16, "shmem_regions": "ivshmem-00-0e-0-state", "shmem_dev_id": 1,
        "shmem_peers": 3}]
    # the note names the field, the peer and what the link would give there
    message = ("ivshmem devices at 00:0e.0 kept as raw PCI devices and regions: memory region 3 "
               "of 'rt-app' (peer 1, its read/write section) has flags [read, rootshared] where "
               "the link gives [read, write, rootshared]")
    assert _diagnostics(documents) == [
        ("IMPORT-LINK-RAW", Severity.INFO, f"build/{n}.cell", message)
        for n in ("RootCell", "linux-guest", "rt-app")]


@pytest.mark.parametrize("change, reason", [
    (lambda p: p["rt-app"].cell.pci_devices[0].update(shmem_protocol=1),
     "shmem_protocol: 'RootCell' (peer 0) says 0x0000, 'rt-app' (peer 1) says 0x0001, "
     "'linux-guest' (peer 2) says 0x0000; not one protocol, nor one virtio back-end with "
     "front-ends"),
    (lambda p: p["rt-app"].cell.pci_devices[0].update(shmem_dev_id=2),
     "the peer IDs are [0, 2, 2], not 0..2"),
    (lambda p: p["rt-app"].cell.pci_devices[0].update(num_msix_vectors=4),
     "num_msix_vectors: 'rt-app' (peer 1) says 4, 'RootCell' (peer 0) says 16"),
    (lambda p: p["rt-app"].cell.pci_devices[0].update(msix_address=0x1000),
     "the device of 'rt-app' sets msix_address, which a link leaves 0"),
    (lambda p: p["rt-app"].cell.pci_devices[0].update(shmem_regions_start=4),
     "'rt-app' has 7 memory regions, fewer than shmem_regions_start 4 + 2 + 3 peers"),
    (lambda p: p["rt-app"].cell.pci_devices[0].update(shmem_peers=2),
     "shmem_peers: 'rt-app' says 2, 'RootCell' says 3"),
])
def test_peers_that_disagree_stay_raw(change, reason):
    parsed = _x86()
    change(parsed)
    documents = _assert_round_trip(parsed)
    assert "ivshmem-00-0e-0" not in documents[0].data["links"]
    assert (f"ivshmem devices at 00:0e.0 kept as raw PCI devices and regions: {reason}"
            in [d.message for d in documents[2].diagnostics])


def test_ivshmem_device_pointing_past_the_regions_keeps_a_raw_index():
    parsed = {"rt-app": _x86()["rt-app"]}
    parsed["rt-app"].cell.pci_devices[0]["shmem_regions_start"] = 40
    documents = _assert_round_trip(parsed)
    assert documents[0].data["cell"]["pci_devices"][0]["shmem_regions"] == 40


def test_overlaps_and_foreign_cpus_import_unchanged():
    parsed = _x86()
    rt = parsed["rt-app"].cell
    rt.memory[0]["phys_start"] = 0x3A000000          # over the hypervisor
    rt.memory.append(dict(rt.memory[0]))               # overlapping itself
    rt.descriptor["num_memory_regions"] += 1
    rt.cpu_set = bytes([0x80]) + bytes(7)              # CPU 7: not the root's
    _assert_round_trip(parsed)


def test_device_capabilities_beyond_the_array_are_a_warning():
    parsed = {"RootCell": _x86()["RootCell"]}
    device = parsed["RootCell"].cell.pci_devices[2]
    device.update(caps_start=5, num_caps=9)
    documents = imported_documents_of(list(parsed.values()))
    assert ("IMPORT-INEXACT", Severity.WARNING, "build/RootCell.cell",
            "PCI device 00:02.0: capabilities 5..13 lie beyond the 7 capabilities of the cell; "
            "num_caps 9 is written as 0") in _diagnostics(documents)
    rebuilt = rebuilt_blobs_of({d.name: yaml_text_of(d) for d in documents})["RootCell"]
    device.update(num_caps=0)
    assert rebuilt == blob_bytes_of(parsed["RootCell"])


@pytest.mark.parametrize("change, message", [
    (lambda b: b.header["platform_info"]["arch"].update(x86=dict(
        b.header["platform_info"]["arch"]["x86"], padding=7), arm=None),
     "x86 platform padding byte is 0x7; partcfg writes 0"),
    (lambda b: b.header["platform_info"]["arch"].update(x86=None, arm=dict(
        b.header["platform_info"]["arch"]["arm"], gicr_base=1)),
     "bytes 16..43 of the x86 platform part are not zero; partcfg writes zeros"),
    (lambda b: b.header["platform_info"].update(pci_is_virtual=2),
     "pci_is_virtual is 2; partcfg writes it as 1 (true)"),
    (lambda b: b.cell.descriptor.update(signature=b"JHCLL"),
     "the root cell descriptor's signature/architecture/revision are not zero; partcfg "
     "writes zeros there"),
])
def test_what_cannot_be_kept_is_a_warning(change, message):
    blob = _x86()["RootCell"]
    change(blob)
    blob.header["platform_info"]["arch"] = {k: v for k, v in
                                            blob.header["platform_info"]["arch"].items() if v}
    parsed = parsed_blob_of(blob_bytes_of(blob), "sys.cell")
    (document,) = imported_documents_of([parsed])
    assert _diagnostics([document], infos=False) == [
        ("IMPORT-INEXACT", Severity.WARNING, "sys.cell", message)]
    assert f"# warning IMPORT-INEXACT: {message}" in yaml_text_of(document)
    rebuilt_blobs_of({document.name: yaml_text_of(document)})  # still builds


def test_arm_padding_is_a_warning():
    blob = _parsed(EXAMPLES["qemu-arm64"])["qemu-arm64"]
    blob.header["platform_info"]["arch"] = {"arm": dict(blob.header["platform_info"]["arch"]["arm"],
                                                        padding=[1, 2])}
    (document,) = imported_documents_of([parsed_blob_of(blob_bytes_of(blob), "a.cell")])
    assert _diagnostics([document]) == [("IMPORT-INEXACT", Severity.WARNING, "a.cell",
                                         "ARM platform padding bytes are 0102; partcfg writes zeros")]


def test_undecodable_cell_name_is_a_warning():
    blob = _x86()["rt-app"]
    blob.cell.descriptor["name"] = b"rt\xff"
    (document,) = imported_documents_of([parsed_blob_of(blob_bytes_of(blob), "rt.cell")])
    assert document.data["cell"]["name"] == "rt\ufffd"
    assert _diagnostics([document]) == [
        ("IMPORT-INEXACT", Severity.WARNING, "rt.cell",
         "cell name b'rt\\xff' is not UTF-8; the undecodable bytes are replaced")]


def test_trailing_bytes_warning_reaches_the_document():
    data = EXAMPLES["qemu-x86"]["rt-app"]
    (document,) = imported_documents_of([parsed_blob_of(data + b"\1\2", "rt.cell")])
    assert document.diagnostics == []
    assert [d.rule for d in document.blob_diagnostics] == ["BLOB-TRAILING"]
    assert "# warning BLOB-TRAILING: 2 trailing bytes" in yaml_text_of(document)
    assert rebuilt_blobs_of({document.name: yaml_text_of(document)}) == {"rt-app": data}


# --- which system a cell joins ------------------------------------------------------------

def test_cell_of_another_architecture_is_imported_standalone():
    parsed = _x86()
    parsed["rt-app"].cell.descriptor["architecture"] = parsed["rt-app"].arch = 2
    documents = imported_documents_of(
        [parsed_blob_of(blob_bytes_of(p), p.file) for p in parsed.values()])
    rt = documents[2]
    assert "system" not in rt.data and rt.data["cell"]["arch"] == "arm64"
    assert ("IMPORT-ARCH", Severity.WARNING, "build/rt-app.cell",
            "imported as a standalone cell: its architecture arm64 differs from system "
            "'RootCell' (x86)") in _diagnostics([rt])
    assert "ivshmem-00-0e-0" not in documents[0].data["links"]


def test_cell_named_like_another_is_imported_standalone():
    parsed = _x86()
    parsed["rt-app"].cell.descriptor["name"] = b"linux-guest"
    documents, rebuilt = _round_trip(
        [parsed_blob_of(blob_bytes_of(p), p.file) for p in parsed.values()])
    assert "system" not in documents[2].data
    assert ("IMPORT-NAME-CLASH", Severity.WARNING, "build/rt-app.cell",
            "imported as a standalone cell: cell name 'linux-guest' is already used by "
            "build/linux-guest.cell in system 'RootCell'") in _diagnostics(documents)


def test_several_systems_take_the_cells_of_their_own_directory():
    parsed = list(_parsed(EXAMPLES["qemu-x86"], "x86").values()) + \
        list(_parsed(EXAMPLES["qemu-arm64"], "arm").values())
    documents, rebuilt = _round_trip(parsed)
    assert [(d.name, d.data.get("system")) for d in documents] == [
        ("RootCell.yaml", "RootCell"), ("linux-guest.yaml", "RootCell"), ("rt-app.yaml", "RootCell"),
        ("qemu-arm64.yaml", "qemu-arm64"), ("linux-guest-2.yaml", "qemu-arm64"),
        ("rt-cell.yaml", "qemu-arm64")]
    assert rebuilt["rt-cell"] == EXAMPLES["qemu-arm64"]["rt-cell"]


def test_cell_with_no_system_of_its_directory_is_standalone():
    parsed = [*_parsed(EXAMPLES["qemu-x86"], "x86").values(),
              *_parsed(EXAMPLES["qemu-arm64"], "arm").values()]
    loose = parsed_blob_of(EXAMPLES["qemu-x86"]["rt-app"], "elsewhere/rt.cell")
    documents = imported_documents_of(parsed + [loose])
    assert "system" not in documents[-1].data
    assert _diagnostics([documents[-1]]) == [
        ("IMPORT-STANDALONE", Severity.INFO, "elsewhere/rt.cell",
         "imported as a standalone cell: 0 system blobs could be its system")]


# --- idiomatic forms that need care ----------------------------------------------------------

def _cell_blob(**fields) -> ParsedBlob:
    descriptor = jh.CELL_DESC.unpack(jh.CELL_DESC.pack(
        {"signature": jh.CELL_SIGNATURE, "revision": jh.REVISION, "name": "c"}))
    blob = ParsedBlob("c.cell", "cell", 0, None, parsed_blob_of(
        jh.CELL_DESC.pack(descriptor), "c.cell").cell)
    for key, value in fields.items():
        setattr(blob.cell, key, value)
    for attribute, (count, _) in zip(("memory", "cache", "irqchips", "pio", "pci_devices",
                                      "pci_caps", "stream_ids"), jh.PAYLOAD_ARRAYS):
        blob.cell.descriptor[count] = len(getattr(blob.cell, attribute))
    blob.cell.descriptor["cpu_set_size"] = len(blob.cell.cpu_set)
    return parsed_blob_of(blob_bytes_of(blob), "c.cell")


def test_large_cpu_sets_are_split_into_ranges_the_parser_accepts():
    blob = _cell_blob(cpu_set=b"\xff" * 1100)
    documents, rebuilt = _round_trip([blob])
    assert documents[0].data["cell"]["cpus"] == "0-4096,4097-8193,8194-8799"
    assert rebuilt == {"c": blob_bytes_of(blob)}


def test_unusual_cpu_set_size_is_kept():
    blob = _cell_blob(cpu_set=b"\x05" + bytes(11))
    documents, rebuilt = _round_trip([blob])
    assert documents[0].data["cell"]["cpus"] == "0,2"
    assert documents[0].data["cell"]["cpu_set_size"] == 12
    assert rebuilt == {"c": blob_bytes_of(blob)}


def test_console_type_word_is_quoted():
    blob = _cell_blob()
    blob.cell.descriptor["console"].update(type=2, address=0x3F8)
    blob = parsed_blob_of(blob_bytes_of(blob), "c.cell")
    documents, rebuilt = _round_trip([blob])
    assert documents[0].data["cell"]["console"] == {"type": "8250", "address": 0x3F8}
    assert '  console: {type: "8250", address: 0x3f8}\n' in yaml_text_of(documents[0])
    assert rebuilt == {"c": blob_bytes_of(blob)}


def test_unknown_flag_bits_stay_raw_numbers():
    blob = _cell_blob(memory=[{"phys_start": 0x1000, "virt_start": 0x1000, "size": 0x1000,
                               "flags": jh.MEM_READ | 1 << 40}])
    documents, rebuilt = _round_trip([blob])
    assert documents[0].data["cell"]["memory"] == [
        {"name": "read-only", "phys": 0x1000, "size": "4K", "flags": ["read", 1 << 40]}]
    assert "flags: [read, 0x10000000000]" in yaml_text_of(documents[0])
    assert rebuilt == {"c": blob_bytes_of(blob)}


def test_placeholder_and_comm_regions():
    zero = {"phys_start": 0, "virt_start": 0, "size": 0, "flags": 0}
    comm = {"phys_start": 0, "virt_start": 0x100000, "size": 0x1000,
            "flags": jh.MEM_READ | jh.MEM_WRITE | jh.MEM_COMM_REGION}
    blob = _cell_blob(memory=[zero, comm])
    documents, rebuilt = _round_trip([blob])
    assert documents[0].data["cell"]["memory"] == [
        {"size": 0}, {"name": "comm-region", "virt": 0x100000, "size": "4K",
                      "flags": ["read", "write", "comm-region"]}]   # an empty slot: no placeholder values
    assert rebuilt == {"c": blob_bytes_of(blob)}


def test_overlapping_capability_ranges_are_cut_into_groups():
    caps = [{"id": i, "start": 0x40 + 8 * i, "len": 8, "flags": 0} for i in range(1, 6)]
    devices = [dict(jh.PCI_DEVICE.unpack(bytes(56)), type=1, bdf=0x08, caps_start=0, num_caps=3),
               dict(jh.PCI_DEVICE.unpack(bytes(56)), type=1, bdf=0x10, caps_start=2, num_caps=2),
               dict(jh.PCI_DEVICE.unpack(bytes(56)), type=2, bdf=0x18, caps_start=7)]
    blob = _cell_blob(pci_caps=caps, pci_devices=devices)
    documents, rebuilt = _round_trip([blob])
    cell = documents[0].data["cell"]
    assert [(g["name"], [c["id"] for c in g["caps"]]) for g in cell["pci_caps"]] == [
        ("caps-00-01-0", [1, 2]), ("caps-00-01-0-2", [3]), ("caps-00-02-0", [4]), ("caps-4", [5])]
    assert [d.get("caps") for d in cell["pci_devices"]] == [
        ["caps-00-01-0", "caps-00-01-0-2"], ["caps-00-01-0-2", "caps-00-02-0"], None]
    assert cell["pci_devices"][2] == {"type": "bridge", "bdf": "00:03.0", "caps_start": 7}
    assert rebuilt == {"c": blob_bytes_of(blob)}


def test_iommu_bytes_of_other_types_are_kept():
    blob = _x86()["RootCell"]
    unit = blob.header["platform_info"]["iommu_units"][0]
    unit["variant"] = {"amd": {"bdf": 0x10, "base_cap": 0x40, "msi_cap": 0, "features": 1},
                       "tipvu": {"tlb_base": 0x100400010, "tlb_size": 9}}
    unit["type"] = jh.IOMMU_AMD
    blob.header["platform_info"]["iommu_units"][3] = {"type": 2, "base": 0, "size": 0,
                                                      "variant": {"tipvu": {"tlb_size": 5}}}
    parsed = parsed_blob_of(blob_bytes_of(blob), "sys.cell")
    documents, rebuilt = _round_trip([parsed])
    iommus = documents[0].data["platform"]["iommus"]
    assert iommus[0]["amd"] == {"bdf": "00:02.0", "base_cap": 0x40, "features": 1}
    assert iommus[0]["pvu"] == {"tlb_base": 0x100400010, "tlb_size": 9}
    assert iommus[1:] == [{"type": "none"}, {"type": "none"}, {"type": "intel", "pvu": {"tlb_size": 5}}]
    assert rebuilt["RootCell"] == blob_bytes_of(parsed)


# --- the YAML renderer -------------------------------------------------------------------------

@pytest.mark.parametrize("value, text", [
    ("00:0e.0", "00:0e.0"), ("4K", "4K"), ("virtio-back:block", "virtio-back:block"),
    ("8250", '"8250"'), ("0x10", '"0x10"'), ("true", '"true"'), ("null", '"null"'), ("", '""'),
    ("a b", '"a b"'), ("a: b", '"a: b"'), ("x,y", '"x,y"'), ("-x", '"-x"'), ('q"\\', '"q\\"\\\\"'),
    ("tab\there", '"tab\\x09here"'), ("ü", '"ü"'), ("\u2028", '"\\u2028"'), ("\x85", '"\\x85"'),
    (Hex(0x1000), "0x1000"), (12, "12"), (True, "true")])
def test_scalar_text(value, text):
    assert scalar_text(value) == text


@settings(max_examples=200, deadline=None)
@given(st.one_of(st.text(st.characters(blacklist_categories=("Cs",)), max_size=20),
                 st.text("a0x:,/+.-_ #'\"[]{}!&*?|>%@`\t\n", max_size=8)))
def test_any_string_reads_back_the_same(value):
    block, flow = scalar_text(value, flow=False), scalar_text(value)
    for text, expected in ((f"k: {block}\n", value), (f"k:\n  - {block}\n", [value]),
                           (f"k: [{flow}]\n", [value]), (f"k: {{a: {flow}, b: 1}}\n", {"a": value, "b": 1})):
        assert load_yaml_text(text, "t.yaml").data["k"] == expected


def test_long_mappings_become_blocks_and_top_level_sections_are_separated():
    document = ImportedDocument("in.cell", "in.yaml", {
        "system": "s", "cell": {"name": "c", "memory": [{"phys": Hex(1), "size": "4K"}],
                                "pci_devices": [{"type": "device", "bdf": "00:01.0",
                                                 "bar_mask": [Hex(0xFFFFF000)] * 6,
                                                 "msix_vectors": 16}]}})
    assert yaml_text_of(document) == (
        f"# Generated by partcfg import from in.cell (partcfg {__version__}).\n"
        "\n"
        "system: s\n"
        "\n"
        "cell:\n"
        "  name: c\n"
        "  memory:\n"
        "    - {phys: 0x1, size: 4K}\n"
        "  pci_devices:\n"
        "    - type: device\n"
        "      bdf: 00:01.0\n"
        "      bar_mask: [0xfffff000, 0xfffff000, 0xfffff000, 0xfffff000, 0xfffff000, 0xfffff000]\n"
        "      msix_vectors: 16\n")


def test_imported_link_placement_with_its_own_address_round_trips():
    parsed = _x86()
    shift = 0x40000000
    for index in range(2, 7):   # rt-app maps the demo link elsewhere
        parsed["rt-app"].cell.memory[index]["virt_start"] += shift
    documents = _assert_round_trip(parsed)
    assert documents[2].data["cell"]["memory"][2] == {"link": "ivshmem-00-0e-0",
                                                      "virt": 0x3F0F0000 + shift}


def test_imported_documents_know_their_sources():
    documents = imported_documents_of(list(_parsed(EXAMPLES["qemu-x86"]).values()))
    assert [(d.source, d.name) for d in documents] == [
        ("build/RootCell.cell", "RootCell.yaml"), ("build/linux-guest.cell", "linux-guest.yaml"),
        ("build/rt-app.cell", "rt-app.yaml")]
    assert all(d.diagnostics == [] for d in documents)


@pytest.mark.parametrize("name", [b"ab\0cd", b"x" * 32, b"", b"true", "名前".encode(), b"a: b",
                                  b"- x", b"#c", b"12"])
def test_odd_cell_names_survive_as_peers(name):
    parsed = _x86()
    parsed["rt-app"].cell.descriptor["name"] = name
    documents = _assert_round_trip(parsed)
    assert name.decode() in documents[0].data["links"]["ivshmem-00-0e-0"]["peers"]


def test_header_comment_stays_one_valid_yaml_line():
    document = ImportedDocument("odd\nname\x01.cell", "odd.yaml", {"cell": {"name": "c", "arch": "x86"}})
    text = yaml_text_of(document)
    assert text.splitlines()[0] == \
        f"# Generated by partcfg import from odd name?.cell (partcfg {__version__})."
    assert load_yaml_text(text, "odd.yaml").data == {"cell": {"name": "c", "arch": "x86"}}


# --- the rebuild proof of `partcfg import` ----------------------------------------------------

def _arm64_blobs(run_cli, tmp_path):
    from conftest import example_files
    files = [f for f in example_files() if f.name.startswith("qemu-arm64")]
    code, _, err = run_cli("build", *files, "-o", tmp_path / "b")
    assert code == 0, err
    return sorted((tmp_path / "b").glob("*.cell"))


def test_import_of_exact_blobs_warns_nothing(run_cli, tmp_path):
    """A proof that always warns fails here: the examples rebuild byte for byte."""
    code, out, err = run_cli("import", *_arm64_blobs(run_cli, tmp_path), "-o", tmp_path / "y")
    assert code == 0
    assert err.strip() == f"wrote 3 files to {tmp_path / 'y'}"
    assert "IMPORT-INEXACT" not in out + err


def test_import_proof_reports_a_document_that_does_not_rebuild(run_cli, tmp_path, monkeypatch):
    """A proof that never warns fails here: the importer is made to get rt-cell's CPU
    wrong (3 -> 1); nothing but the rebuild can notice. The CPU set follows the 132-byte
    descriptor (spec), so the first difference is at offset 0x84."""
    import partcfg.lift.blob_to_yaml
    real = partcfg.lift.blob_to_yaml.imported_documents_of

    def wrong_cpu(blobs):
        documents = real(blobs)
        for doc in documents:
            if doc.data.get("cell", {}).get("name") == "rt-cell":
                doc.data["cell"]["cpus"] = 1
        return documents
    monkeypatch.setattr(partcfg.lift.blob_to_yaml, "imported_documents_of", wrong_cpu)
    blobs = _arm64_blobs(run_cli, tmp_path)
    code, out, err = run_cli("import", *blobs, "-o", tmp_path / "y")
    assert code == 0
    rt = next(b for b in blobs if b.name == "rt-cell.cell")
    assert [line for line in err.splitlines() if "[" in line] == [
        f"{rt}: warning[IMPORT-INEXACT]: rt-cell.yaml does not rebuild {rt} byte for byte "
        "(first difference at offset 0x84)"]


def test_import_warns_what_yaml_cannot_express(run_cli, tmp_path):
    """The importer's own IMPORT-INEXACT warnings reach the user: a system blob whose
    x86 platform padding byte (spec: architecture part at 312, u16 pm_timer_address, u8
    apic_mode, then the padding byte at 315) is not zero."""
    from conftest import example_files
    files = [f for f in example_files() if f.name.startswith("qemu-x86")]
    code, _, err = run_cli("build", *files, "-o", tmp_path / "b")
    assert code == 0, err
    system = tmp_path / "b" / "RootCell.cell"
    data = bytearray(system.read_bytes())
    assert data[315] == 0
    data[315] = 7
    system.write_bytes(bytes(data))
    code, _, err = run_cli("import", system, "-o", tmp_path / "y")
    assert code == 0
    warnings = [line for line in err.splitlines() if "warning[" in line]
    assert warnings == [   # the proof finds the very byte too: 315 = 0x13b
        f"{system}: warning[IMPORT-INEXACT]: RootCell.yaml does not rebuild {system} byte for "
        "byte (first difference at offset 0x13b)",
        f"{system}: warning[IMPORT-INEXACT]: x86 platform padding byte is 0x7; partcfg writes 0"]
