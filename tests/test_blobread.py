"""blobread: decoding revision-14 blobs, and one clear BlobError for every bad input."""

from __future__ import annotations

import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support.roundtrip import blob_files_of, example_systems, standalone_cells, systems

from partcfg.formats import jailhouse as jh
from partcfg.load.blob import (ParsedBlob, blob_bytes_of, parsed_blob_file, parsed_blob_of)
from partcfg.diagnostics import BlobError, InputError, Location, Severity


@pytest.fixture(scope="module")
def x86_blobs() -> dict[str, bytes]:
    return example_systems()["qemu-x86"]


def _error_of(data: bytes, file: str = "in.cell"):
    with pytest.raises(BlobError) as exc:
        parsed_blob_of(data, file)
    (diag,) = exc.value.diagnostics
    assert diag.severity is Severity.ERROR and diag.location == Location(file)
    return diag.rule, diag.message


def _cell_blob(**descriptor) -> bytes:
    desc = {"signature": jh.CELL_SIGNATURE, "architecture": 0, "revision": 14, "name": "c",
            **descriptor}
    return jh.CELL_DESC.pack(desc)


def test_system_blob_decodes(x86_blobs):
    blob = parsed_blob_of(x86_blobs["RootCell"], "RootCell.cell")
    assert (blob.file, blob.kind, blob.arch, blob.trailing, blob.diagnostics) == \
        ("RootCell.cell", "system", 0, 0, [])
    assert blob.header["hypervisor_memory"]["phys_start"] == 0x3A000000
    assert blob.header["platform_info"]["pci_mmconfig_base"] == 0xB0000000
    assert blob.cell.name == b"RootCell"
    assert blob.cell.cpu_set == bytes([0x0F]) + bytes(7)
    assert blob.cell.memory[0] == {"phys_start": 0, "virt_start": 0, "size": 0xA0000, "flags": 0xF}
    assert [len(getattr(blob.cell, a)) for a in ("memory", "cache", "irqchips", "pio",
                                                  "pci_devices", "pci_caps", "stream_ids")] \
        == [8 + 4 + 5 + 4, 0, 1, 9, 5 + 3, 7, 0]
    assert blob.cell.pci_devices[2]["bdf"] == 0x10 and blob.cell.pci_caps[2]["id"] == 0x01


def test_cell_blob_decodes(x86_blobs):
    blob = parsed_blob_of(x86_blobs["rt-app"], "rt-app.cell")
    assert (blob.kind, blob.arch, blob.header) == ("cell", 0, None)
    assert blob.cell.descriptor["signature"] == b"JHCLL"
    assert blob.cell.name == b"rt-app"
    assert blob.cell.pci_devices[0]["shmem_regions_start"] == 2


def test_blob_bytes_of_is_the_inverse(x86_blobs):
    for name, data in x86_blobs.items():
        assert blob_bytes_of(parsed_blob_of(data, name)) == data


def test_wrong_signature():
    assert _error_of(b"ELF\x7f" + bytes(200)) == (
        "BLOB-SIGNATURE",
        "not a Jailhouse configuration: signature b'ELF\\x7f\\x00', expected JHSYS (system) or "
        "JHCLL (cell)")


def test_empty_file():
    assert _error_of(b"") == ("BLOB-TRUNCATED", "truncated: expected at least 132 bytes, found 0")


def test_wrong_revision_names_both_numbers():
    assert _error_of(_cell_blob(revision=13)) == (
        "BLOB-REVISION", "configuration revision 13, but partcfg reads revision 14")


def test_unknown_architecture():
    assert _error_of(_cell_blob(architecture=7)) == (
        "BLOB-ARCH", "unknown architecture 7 (known: 0 x86, 1 arm, 2 arm64)")


def test_truncated_descriptor():
    assert _error_of(_cell_blob()[:100]) == (
        "BLOB-TRUNCATED", "truncated: expected at least 132 bytes, found 100")


def test_truncated_system_header():
    data = jh.SYSTEM_HEADER.pack({"signature": b"JHSYS", "revision": 14})
    assert _error_of(data) == ("BLOB-TRUNCATED", "truncated: expected at least 488 bytes, found 356")


def test_truncated_payload(x86_blobs):
    data = x86_blobs["rt-app"]
    assert _error_of(data[:-1]) == (
        "BLOB-TRUNCATED", f"truncated: expected {len(data)} bytes, found {len(data) - 1}")


def test_absurd_count_is_refused_before_anything_is_allocated():
    data = _cell_blob(num_memory_regions=0xFFFFFFFF)
    assert _error_of(data) == (
        "BLOB-COUNT", "num_memory_regions is 4294967295 (137438953440 bytes), more than the whole "
        "file (132 bytes)")


def test_absurd_cpu_set_size():
    assert _error_of(_cell_blob(cpu_set_size=0x7FFFFFFF))[0] == "BLOB-COUNT"


def test_trailing_bytes_are_a_warning_and_ignored(x86_blobs):
    data = x86_blobs["rt-app"]
    blob = parsed_blob_of(data + bytes(12), "rt.cell")
    assert blob.trailing == 12
    (diag,) = blob.diagnostics
    assert (diag.rule, diag.severity, diag.location) == ("BLOB-TRAILING", Severity.WARNING,
                                                        Location("rt.cell"))
    assert diag.message == f"12 trailing bytes after the last array (offset {len(data):#x}) ignored"
    assert blob_bytes_of(blob) == data


def test_minimal_cell_blob():
    blob = parsed_blob_of(_cell_blob(), "min.cell")
    assert blob.cell.name == b"c" and blob.cell.memory == [] and blob.cell.cpu_set == b""


def test_file_that_cannot_be_read(tmp_path):
    missing = tmp_path / "nope.cell"
    with pytest.raises(InputError) as exc:
        parsed_blob_file(missing)
    (diag,) = exc.value.diagnostics
    assert diag.rule == "IO-READ" and diag.message.startswith(f"cannot read {missing}: ")
    assert not isinstance(exc.value, BlobError)


def test_file_is_read(tmp_path, x86_blobs):
    path = tmp_path / "rt-app.cell"
    path.write_bytes(x86_blobs["rt-app"])
    assert parsed_blob_file(path).file == str(path)


@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
@given(systems())
def test_parse_of_pack_is_identity(generated):
    blobs, _ = generated
    for blob in blobs:
        parsed = parsed_blob_of(blob_bytes_of(blob), blob.file)
        assert parsed.cell == blob.cell and parsed.kind == blob.kind and parsed.arch == blob.arch
        assert blob_bytes_of(parsed) == blob_bytes_of(blob)


def _decodes_or_blob_error(data: bytes) -> None:
    try:
        blob = parsed_blob_of(data, "fuzz.cell")
    except BlobError as exc:
        assert len(exc.diagnostics) == 1 and exc.diagnostics[0].message
        return
    assert isinstance(blob, ParsedBlob)
    assert len(blob_bytes_of(blob)) + blob.trailing == len(data)


@settings(max_examples=100, deadline=None)
@given(st.one_of(st.binary(max_size=600),
                 st.binary(max_size=600).map(lambda b: b"JHCLL" + b[:1] + b"\x0e\x00" + b[1:]),
                 st.binary(max_size=900).map(lambda b: b"JHSYS" + b[:1] + b"\x0e\x00" + b[1:])))
def test_arbitrary_bytes_decode_or_raise_blob_error(data):
    _decodes_or_blob_error(data)


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(standalone_cells(), st.lists(st.tuples(st.integers(0, 1 << 16), st.integers(0, 255)),
                                    max_size=8), st.integers(-40, 40))
def test_damaged_blobs_decode_or_raise_blob_error(blob, flips, cut):
    data = bytearray(blob_files_of([blob])["alone.cell"])
    for at, value in flips:
        data[at % len(data)] = value
    _decodes_or_blob_error(bytes(data[:len(data) + cut] if cut < 0 else data + bytes(cut)))


def test_counts_are_read_little_endian():
    data = _cell_blob(num_pio_regions=1) + struct.pack("<HH", 0x3F8, 8)
    assert parsed_blob_of(data, "p.cell").cell.pio == [{"base": 0x3F8, "length": 8}]
