"""Every closed vocabulary of the YAML format is listed, with the same words, in three
places: the error that rejects a wrong word, the JSON Schema (an enum of described
constants) and the README's "Words partcfg knows"."""

from __future__ import annotations

import pytest

from conftest import ROOT
from partcfg.formats import jailhouse as jh
from partcfg.diagnostics import ConfigError
from partcfg.load.yaml_source import load_yaml_text
from partcfg.model.document import document_of
from partcfg.formats.vocabulary import DESCRIPTIONS, WORDS

# vocabulary -> a file using the wrong word "bogus" where that vocabulary is expected
WRONG_WORD = {
    "architecture": "cell: {name: c, arch: bogus}",
    "cell flag": "cell: {name: c, arch: x86, flags: [bogus]}",
    "system flag": "system: s\nplatform: {arch: x86, hypervisor_memory: {phys: 0, size: 1M}, flags: [bogus]}",
    "memory flag": "cell: {name: c, arch: x86, memory: [{phys: 0, size: 4K, flags: [read, bogus]}]}",
    "cache type": "cell: {name: c, arch: x86, cache_regions: [{start: 0, size: 1, type: bogus}]}",
    "cache flag": "cell: {name: c, arch: x86, cache_regions: [{start: 0, size: 1, flags: [bogus]}]}",
    "console type": "cell: {name: c, arch: x86, console: {type: bogus}}",
    "console flag": "cell: {name: c, arch: x86, console: {flags: [bogus]}}",
    "PCI device type": "cell: {name: c, arch: x86, pci_devices: [{bdf: 00:01.0, type: bogus}]}",
    "MSI flag": "cell: {name: c, arch: x86, pci_devices: [{bdf: 00:01.0, msi_flags: [bogus]}]}",
    "capability flag": "cell: {name: c, arch: x86, pci_caps: [{name: g, caps: [{id: 5, start: 0x40, length: 4, flags: [bogus]}]}]}",
    "IOMMU type": "system: s\nplatform: {arch: x86, hypervisor_memory: {phys: 0, size: 1M}, iommus: [{type: bogus}]}",
    "APIC mode": "system: s\nplatform: {arch: x86, hypervisor_memory: {phys: 0, size: 1M}, x86: {apic_mode: bogus}}",
}
LINK = "system: s\nlinks: {l: {bdf: 00:0e.0, base: 0x1000, peers: [a, b], %s}}"


def _message_of(text: str) -> str:
    with pytest.raises(ConfigError) as exc:
        document_of(load_yaml_text(text, "t.yaml"))
    (d,) = exc.value.diagnostics
    return d.message


def test_every_vocabulary_has_a_description_for_exactly_its_words():
    for what, words in WORDS.items():
        assert list(DESCRIPTIONS[what]) == list(words), what
    assert list(DESCRIPTIONS["virtio device"]) == ["net", "block", "console"]
    assert all(d.strip() for words in DESCRIPTIONS.values() for d in words.values())


@pytest.mark.parametrize("what", sorted(WRONG_WORD))
def test_the_error_lists_the_known_words(what):
    message = _message_of(WRONG_WORD[what])
    assert f"unknown {what} 'bogus'" in message
    assert f"(known: {', '.join(WORDS[what])})" in message


@pytest.mark.parametrize("value, known", [
    ("protocol: bogus", "(known: undefined, veth, custom:0x4000-0x7fff, virtio:net|block|console with backend, or a number)"),
    ("protocol: virtio:bogus", "(known: net, block, console, or a device number)"),
    ("interrupts: bogus", "(known: intx, or {msix: N} with N from 1 to 16)"),
])
def test_link_vocabularies_are_listed_too(value, known):
    assert known in _message_of(LINK % value)


def _described_consts(node) -> dict[str, str] | None:
    """The first anyOf of described constants inside a schema node."""
    if isinstance(node, dict):
        options = node.get("anyOf")
        if options and all(isinstance(o, dict) and "const" in o for o in options):
            return {o["const"]: o["description"] for o in options}
        for value in node.values():
            found = _described_consts(value)
            if found:
                return found
    elif isinstance(node, list):
        for value in node:
            found = _described_consts(value)
            if found:
                return found
    return None


@pytest.mark.parametrize("model, field, what", [
    ("MemoryRegion", "flags", "memory flag"), ("Cell", "flags", "cell flag"),
    ("Console", "type", "console type"), ("Console", "flags", "console flag"),
    ("Platform", "arch", "architecture"), ("Platform", "flags", "system flag"),
    ("CacheRegion", "type", "cache type"), ("CacheRegion", "flags", "cache flag"),
    ("PciDevice", "type", "PCI device type"), ("PciDevice", "msi_flags", "MSI flag"),
    ("PciCapability", "flags", "capability flag"), ("Iommu", "type", "IOMMU type"),
    ("X86Platform", "apic_mode", "APIC mode"),
])
def test_the_schema_has_each_vocabulary_as_an_enum_with_descriptions(model, field, what):
    from partcfg.render.json_schema import document_schema
    prop = document_schema()["$defs"][model]["properties"][field]
    assert _described_consts(prop) == DESCRIPTIONS[what]


def test_the_readme_lists_every_word_with_its_meaning():
    text = (ROOT / "README.md").read_text()
    section = text[text.index("### Words partcfg knows"):]
    section = section[:section.index("\n## ")]
    for what, words in DESCRIPTIONS.items():
        line = next(l for l in section.splitlines() if l.startswith(f"- **{what}**"))
        for word, meaning in words.items():
            assert f"`{word}` ({meaning})" in line, (what, word)


def test_memory_flags_are_the_format_s():
    assert WORDS["memory flag"] is jh.MEM_FLAGS


def test_the_schema_describes_protocols_and_interrupt_models():
    from partcfg.render.json_schema import document_schema
    link = document_schema()["$defs"]["Link"]["properties"]
    protocol = link["protocol"]["anyOf"]
    assert {o.get("const"): o["description"] for o in protocol if "const" in o} == {
        "undefined": DESCRIPTIONS["protocol"]["undefined"], "veth": DESCRIPTIONS["protocol"]["veth"]}
    assert [o["description"] for o in protocol if "pattern" in o][0] == DESCRIPTIONS["protocol"]["custom:N"]
    interrupts = link["interrupts"]["anyOf"]
    assert [o["description"] for o in interrupts] == list(DESCRIPTIONS["interrupt model"].values())
