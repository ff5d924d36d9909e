"""The struct tables against docs/format/jailhouse-config-format.md (every offset and size),
the binfmt framework's pack/unpack, and the units parsers against their formatters."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support.roundtrip import struct_values

from partcfg.formats import jailhouse as jh
from partcfg.formats.binfmt import U8, U16, U32, Array, Field, Struct, StructError
from partcfg.units import (format_bdf, format_flags, format_ranges, format_size, parse_bdf,
                           parse_cpu_set, parse_flags, parse_int, parse_size)

# (struct, size, {field: (offset, size)}) straight from the spec's tables
SPEC_LAYOUTS = [
    (jh.CELL_DESC, 132, {
        "signature": (0, 5), "architecture": (5, 1), "revision": (6, 2), "name": (8, 32),
        "id": (40, 4), "flags": (44, 4), "cpu_set_size": (48, 4), "num_memory_regions": (52, 4),
        "num_cache_regions": (56, 4), "num_irqchips": (60, 4), "num_pio_regions": (64, 4),
        "num_pci_devices": (68, 4), "num_pci_caps": (72, 4), "num_stream_ids": (76, 4),
        "vpci_irq_base": (80, 4), "cpu_reset_address": (84, 8), "msg_reply_timeout": (92, 8),
        "console": (100, 32)}),
    (jh.CONSOLE, 32, {
        "address": (0, 8), "size": (8, 4), "type": (12, 2), "flags": (14, 2), "divider": (16, 4),
        "gate_nr": (20, 4), "clock_reg": (24, 8)}),
    (jh.MEMORY, 32, {"phys_start": (0, 8), "virt_start": (8, 8), "size": (16, 8), "flags": (24, 8)}),
    (jh.CACHE, 12, {"start": (0, 4), "size": (4, 4), "type": (8, 1), "padding": (9, 1),
                    "flags": (10, 2)}),
    (jh.IRQCHIP, 32, {"address": (0, 8), "id": (8, 4), "pin_base": (12, 4), "pin_bitmap": (16, 16)}),
    (jh.PIO, 4, {"base": (0, 2), "length": (2, 2)}),
    (jh.PCI_DEVICE, 56, {
        "type": (0, 1), "iommu": (1, 1), "domain": (2, 2), "bdf": (4, 2), "bar_mask": (6, 24),
        "caps_start": (30, 2), "num_caps": (32, 2), "num_msi_vectors": (34, 1), "msi_bits": (35, 1),
        "num_msix_vectors": (36, 2), "msix_region_size": (38, 2), "msix_address": (40, 8),
        "shmem_regions_start": (48, 4), "shmem_dev_id": (52, 1), "shmem_peers": (53, 1),
        "shmem_protocol": (54, 2)}),
    (jh.PCI_CAPABILITY, 8, {"id": (0, 2), "start": (2, 2), "len": (4, 2), "flags": (6, 2)}),
    (jh.STREAM_ID, 4, {"id": (0, 4)}),
    (jh.IOMMU, 28, {"type": (0, 4), "base": (4, 8), "size": (12, 4), "variant": (16, 12)}),
    (jh.IOMMU_AMD_PART, 8, {"bdf": (0, 2), "base_cap": (2, 1), "msi_cap": (3, 1), "features": (4, 4)}),
    (jh.IOMMU_PVU_PART, 12, {"tlb_base": (0, 8), "tlb_size": (8, 4)}),
    (jh.ARCH_X86, 16, {"pm_timer_address": (0, 2), "apic_mode": (2, 1), "padding": (3, 1),
                       "vtd_interrupt_limit": (4, 4), "tsc_khz": (8, 4), "apic_khz": (12, 4)}),
    (jh.ARCH_ARM, 44, {"maintenance_irq": (0, 1), "gic_version": (1, 1), "padding": (2, 2),
                       "gicd_base": (4, 8), "gicc_base": (12, 8), "gich_base": (20, 8),
                       "gicv_base": (28, 8), "gicr_base": (36, 8)}),
    # platform_info starts at 76 in the system header: 76 + these offsets are the spec's
    (jh.PLATFORM_INFO, 280, {"pci_mmconfig_base": (0, 8), "pci_mmconfig_end_bus": (8, 1),
                             "pci_is_virtual": (9, 1), "pci_domain": (10, 2),
                             "iommu_units": (12, 224), "arch": (236, 44)}),
    (jh.SYSTEM_HEADER, 356, {"signature": (0, 5), "architecture": (5, 1), "revision": (6, 2),
                             "flags": (8, 4), "hypervisor_memory": (12, 32),
                             "debug_console": (44, 32), "platform_info": (76, 280)}),
]
ALL_STRUCTS = [s for s, _, _ in SPEC_LAYOUTS]


@pytest.mark.parametrize("struct_, size, fields", SPEC_LAYOUTS, ids=lambda v: getattr(v, "c_name", ""))
def test_struct_matches_the_spec(struct_, size, fields):
    assert struct_.size == size
    assert [f.name for f in struct_.fields] == list(fields)  # declaration order = file order
    for name, (offset, field_size) in fields.items():
        assert struct_.offsets[name] == offset, name
        assert struct_.field(name).type.size == field_size, name


def test_system_header_absolute_offsets_of_the_spec():
    info = jh.SYSTEM_HEADER.offsets["platform_info"]
    assert info + jh.PLATFORM_INFO.offsets["pci_mmconfig_base"] == 76
    assert info + jh.PLATFORM_INFO.offsets["pci_mmconfig_end_bus"] == 84
    assert info + jh.PLATFORM_INFO.offsets["pci_is_virtual"] == 85
    assert info + jh.PLATFORM_INFO.offsets["pci_domain"] == 86
    assert info + jh.PLATFORM_INFO.offsets["iommu_units"] == 88
    assert jh.IOMMU.size * jh.MAX_IOMMU_UNITS == 224
    assert info + jh.PLATFORM_INFO.offsets["arch"] == 312
    assert jh.SYSTEM_HEADER.size + jh.CELL_DESC.size == 488  # root cell descriptor at 356


def test_payload_arrays_in_file_order():
    assert [(count, s.size) for count, s in jh.PAYLOAD_ARRAYS] == [
        ("num_memory_regions", 32), ("num_cache_regions", 12), ("num_irqchips", 32),
        ("num_pio_regions", 4), ("num_pci_devices", 56), ("num_pci_caps", 8),
        ("num_stream_ids", 4)]


def test_pack_is_little_endian_and_packed():
    raw = jh.MEMORY.pack({"phys_start": 0x3A000000, "virt_start": 1, "size": 0x600000, "flags": 0x3})
    assert raw == struct.pack("<QQQQ", 0x3A000000, 1, 0x600000, 3)
    raw = jh.CACHE.pack({"start": 1, "size": 2, "type": 3, "flags": 1})
    assert raw == bytes([1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 1, 0])


def test_missing_fields_pack_as_zero_and_names_are_nul_padded():
    raw = jh.CELL_DESC.pack({"name": "rt"})
    assert len(raw) == 132 and raw[8:40] == b"rt" + bytes(30) and not any(raw[40:])


def test_unknown_field_is_an_error():
    with pytest.raises(StructError, match="has no field 'phys'"):
        jh.MEMORY.pack({"phys": 1})


def test_value_out_of_range_is_an_error():
    with pytest.raises(StructError, match=r"type: 0x100 does not fit in 8 bits"):
        jh.PCI_DEVICE.pack({"type": 0x100})


# pack takes plain in-range ints of scalar fields and scalar arrays on a fast path; every
# other value must still go to the field type's own check and be refused with its path
_SMALL = Struct("small", [Field("flag", U8), Field("ids", Array(U16, 3)),
                          Field("inner", Struct("inner", [Field("x", U32)]))])


@pytest.mark.parametrize("value, message", [
    ({"flag": True}, "flag: expected an integer, got True"),
    ({"flag": -1}, "flag: -0x1 does not fit in 8 bits"),
    ({"flag": 256}, "flag: 0x100 does not fit in 8 bits"),
    ({"flag": "1"}, "flag: expected an integer, got '1'"),
    ({"ids": [1, False]}, r"ids\[1\]: expected an integer, got False"),
    ({"ids": [1, 2, 0x10000]}, r"ids\[2\]: 0x10000 does not fit in 16 bits"),
    ({"ids": [1.0]}, r"ids\[0\]: expected an integer, got 1.0"),
    ({"ids": [1, 2, 3, 4]}, "ids: expected at most 3 items"),
    ({"inner": {"x": 1 << 32}}, "inner.x: 0x100000000 does not fit in 32 bits"),
])
def test_values_that_do_not_fit_are_refused_with_their_path(value, message):
    with pytest.raises(StructError, match=message):
        _SMALL.pack(value)


def test_missing_and_in_range_values_pack_little_endian():
    class Int(int):  # an int subclass is an integer too (the fast path takes only int)
        pass
    packed = _SMALL.pack({"flag": Int(255), "ids": [0xFFFF, None], "inner": {"x": 7}})
    assert packed == struct.pack("<B3HI", 255, 0xFFFF, 0, 0, 7)


def test_union_variants_must_agree():
    with pytest.raises(StructError, match="union variants disagree"):
        jh.IOMMU.pack({"variant": {"amd": {"bdf": 1}, "tipvu": {"tlb_base": 2}}})


def test_unpack_of_short_buffer_is_an_error():
    with pytest.raises(StructError, match="needs 32 bytes, 31 available"):
        jh.MEMORY.unpack(bytes(31))


@pytest.mark.parametrize("struct_", ALL_STRUCTS, ids=lambda s: s.c_name)
def test_unpack_of_pack_is_identity(struct_):
    @settings(max_examples=40, deadline=None)
    @given(struct_values(struct_))
    def check(value):
        raw = struct_.pack(value)
        assert len(raw) == struct_.size
        assert struct_.unpack(raw) == value
        assert struct_.pack(struct_.unpack(raw)) == raw
    check()


@settings(max_examples=100, deadline=None)
@given(st.data())
def test_pack_of_unpack_is_identity_for_any_bytes(data):
    struct_ = data.draw(st.sampled_from(ALL_STRUCTS))
    raw = data.draw(st.binary(min_size=struct_.size, max_size=struct_.size))
    assert struct_.pack(struct_.unpack(raw)) == raw


# --- units --------------------------------------------------------------------------------

@settings(max_examples=200, deadline=None)
@given(st.one_of(st.integers(0, (1 << 64) - 1),
                 st.integers(0, 1 << 20).map(lambda k: k << 12),
                 st.integers(0, 1 << 20).map(lambda k: k << 30)))
def test_parse_size_of_format_size(value):
    assert parse_size(format_size(value)) == value


@pytest.mark.parametrize("value, text", [(4096, "4K"), (0x9000, "36K"), (1 << 20, "1M"),
                                         (6 << 20, "6M"), (0x1000 + 1, "0x1001"), (3, "3"), (0, "0")])
def test_format_size_examples(value, text):
    assert format_size(value) == text


@settings(max_examples=200, deadline=None)
@given(st.sets(st.integers(0, 2000), max_size=40))
def test_parse_cpu_set_of_format_ranges(cpus):
    assert parse_cpu_set(format_ranges(cpus)) == tuple(sorted(cpus))


def test_format_ranges_example():
    assert format_ranges([6, 0, 1, 2, 3]) == "0-3,6"


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 0xFFFF))
def test_parse_bdf_of_format_bdf(bdf):
    assert parse_bdf(format_bdf(bdf)) == bdf


def test_format_bdf_example():
    assert format_bdf(0x70) == "00:0e.0" and parse_bdf("00:1f.2") == 0xFA


@pytest.mark.parametrize("names, bits", [
    (jh.CELL_FLAGS, 32), (jh.SYSTEM_FLAGS, 32), (jh.MEM_FLAGS, 64), (jh.CACHE_FLAGS, 16),
    (jh.CONSOLE_FLAGS, 16), (jh.PCI_MSI_FLAGS, 8), (jh.PCI_CAP_FLAGS, 16)])
def test_parse_flags_of_format_flags(names, bits):
    @settings(max_examples=60, deadline=None)
    @given(st.integers(0, (1 << bits) - 1))
    def check(mask):
        assert parse_flags(format_flags(mask, names), names, "flag") == mask
    check()


def test_format_flags_keeps_unknown_bits_raw():
    assert format_flags(0x3 | 0x1000, jh.MEM_FLAGS) == ["read", "write", 0x1000]


@settings(max_examples=100, deadline=None)
@given(st.integers(0, (1 << 64) - 1))
def test_parse_int_of_hex_and_decimal_text(value):
    assert parse_int(hex(value)) == parse_int(str(value)) == parse_int(value) == value


def test_format_span_names_the_first_and_the_last_address():
    from partcfg.units import format_span, size_in_units
    assert format_span(0x1000, 0x2000) == "0x1000-0x1fff"
    assert format_span(0, 1) == "0x0-0x0"
    assert (size_in_units(0x3000), size_in_units(0x1001), size_in_units(0)) == ("12K", None, None)
