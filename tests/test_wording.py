"""The words partcfg uses for things (partcfg.wording), checked against the format's own
numbers as the specification gives them (byte 5: 0 = x86, 1 = arm, 2 = arm64; memory
flags 0x1 READ, 0x2 WRITE, 0x4 EXECUTE, 0x8 DMA, 0x10 IO) and hand-written spans."""

from __future__ import annotations

from dataclasses import dataclass

from partcfg import wording


@dataclass
class _Region:
    name: str | None = None
    link: str | None = None
    origin: str = "declared"
    section: str | None = None
    owner: int | None = None


def test_architecture_numbers_are_named_as_in_the_format():
    assert [wording.arch_name(n) for n in (0, 1, 2)] == ["x86", "arm", "arm64"]


def test_an_unknown_architecture_keeps_its_number_or_the_given_word():
    assert wording.arch_name(7) == "7"
    assert wording.arch_name(7, "?") == "?"


def test_pci_device_types_are_named_as_in_the_format():
    # device types: 1 = PCI device, 2 = bridge, 3 = ivshmem
    assert (wording.PCI_TYPE_NAMES[1], wording.PCI_TYPE_NAMES[3]) == ("device", "ivshmem")


def test_access_letters_follow_the_bit_order_read_write_execute_dma():
    assert wording.access_letters(0x1) == "r---"
    assert wording.access_letters(0x1 | 0x2 | 0x8) == "rw-d"
    assert wording.access_letters(0x4 | 0x10) == "--x-"   # IO is not an access letter


def test_access_words_name_the_bits_set():
    assert wording.access_words(0x1 | 0x4) == "READ, EXECUTE"
    assert wording.access_words(0x8) == "DMA"
    assert wording.access_words(0) == ""


def test_the_strongest_grant_gives_the_access_class():
    assert wording.access_class_of(0x1 | 0x2 | 0x10) == "io"
    assert wording.access_class_of(0x1 | 0x2 | 0x4) == "execute"
    assert wording.access_class_of(0x1 | 0x2) == "read-write"
    assert wording.access_class_of(0x1) == "read-only"
    assert wording.access_class_of(0x8) == "none"
    assert set(wording.ACCESS_CLASSES) == {"io", "execute", "read-write", "read-only", "none"}


def test_a_span_shows_first_and_last_address():
    assert wording.span_text(0x1000, 0x2000) == "0x1000-0x1fff"


def test_a_span_past_the_64_bit_space_stops_at_its_last_address():
    assert wording.span_text(0xFFFF_FFFF_FFFF_F000, 0x1_0000_0000_0000_1000) == \
        "0xfffffffffffff000-0xffffffffffffffff"


def test_a_span_with_size_adds_the_size_in_units():
    assert wording.span_with_size(0x1000, 0x2000) == "0x1000-0x1fff (4K)"
    assert wording.span_with_size(0, 0x100000) == "0x0-0xfffff (1M)"


def test_regions_are_named_by_name_or_by_index():
    assert wording.region_label(_Region(name="ram"), 3) == "region 'ram'"
    assert wording.region_label(_Region(), 3) == "region #3"
    derived = _Region(link="demo", origin="link demo: state table", section="state")
    assert wording.region_label(derived, 4) == "region #4 (link demo: state table)"


def test_a_region_in_its_cell():
    assert wording.region_in_cell(_Region(name="ram"), 3, "linux") == "region 'ram' of cell 'linux'"
    assert wording.region_in_cell(_Region(), 3, "linux") == "region #3 of cell 'linux'"
    derived = _Region(link="demo", origin="link demo: state table", section="state")
    assert wording.region_in_cell(derived, 4, "linux") == "link demo: state table in cell 'linux'"


def test_what_a_region_means_names_link_sections():
    assert wording.region_meaning(_Region(link="demo", section="state")) == "state table of link demo"
    assert wording.region_meaning(_Region(link="demo", section="rw")) == "read/write section of link demo"
    assert wording.region_meaning(_Region(link="demo", section="output", owner=1)) == \
        "output section of peer 1 of link demo"
    assert wording.region_meaning(_Region(name="ram")) == "region 'ram'"
    assert wording.region_meaning(_Region()) == "an unnamed region"


def test_cell_heading_names_the_system_when_there_is_one():
    assert wording.cell_heading("demo", "board") == '"demo" of system "board"'
    assert wording.cell_heading("demo", None) == '"demo"'
