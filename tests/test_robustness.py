"""No input produces a traceback: arbitrary text and arbitrary YAML-shaped documents go
through the whole flow (load, model, validate, layout, render) and come out as data or
as partcfg's own errors, never as any other exception."""

from __future__ import annotations

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import CELLS
from partcfg.diagnostics import PartcfgError
from partcfg.layout import layout_of_cell, layout_of_system
from partcfg.load.yaml_source import load_yaml_text
from partcfg.model.assembly import assembly_of
from partcfg.model.document import document_of
from partcfg.model.system import Document
from partcfg.render.blob import blobs_of_system, cell_payload_of
from partcfg.check.validate import diagnostics_of_assembly


def _field_names(model, seen=None) -> set[str]:
    """Every key the input format knows, so generated documents get past the first level."""
    import typing
    from pydantic import BaseModel
    seen = seen if seen is not None else set()
    names: set[str] = set()
    if model in seen:
        return names
    seen.add(model)
    for name, f in model.model_fields.items():
        names.add(name)
        stack = [f.annotation]
        while stack:
            tp = stack.pop()
            stack.extend(typing.get_args(tp))
            if isinstance(tp, type) and issubclass(tp, BaseModel):
                names |= _field_names(tp, seen)
    return names


KEYS = sorted(_field_names(Document))
WORDS = ["read", "write", "execute", "dma", "io", "rootshared", "comm-region", "loadable", "x86",
         "arm64", "8250", "intx", "veth", "virtio:block", "00:0e.0", "0-3", "4K", "1M", "ivshmem",
         "root", "a", "b", "demo", "-1", "0x", ""]
scalars = st.one_of(st.none(), st.booleans(), st.integers(-5, 2**66), st.sampled_from(WORDS),
                    st.text(max_size=8))
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4),
    st.dictionaries(st.sampled_from(KEYS), inner, max_size=5)), max_leaves=25)


def _whole_flow(texts: dict[str, str]) -> None:
    documents = []
    for name, text in texts.items():
        try:
            documents.append(document_of(load_yaml_text(text, name)))
        except PartcfgError:
            continue
    assembly = assembly_of(documents)
    diagnostics_of_assembly(assembly)
    for system in assembly.systems:
        blobs_of_system(layout_of_system(system))
    for cell in assembly.standalone:
        cell_payload_of(layout_of_cell(None, cell))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=200))
def test_arbitrary_text_is_data_or_a_partcfg_error(text):
    _whole_flow({"t.yaml": text})


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(system=values, cell=values, links=values)
def test_arbitrary_documents_never_crash_the_flow(system, cell, links):
    base = {"system": "s", "platform": {"arch": "x86", "hypervisor_memory": {"phys": 0x100000, "size": "1M"}},
            "cell": {"name": "root", "cpus": "0-1"}}
    texts = {"base.yaml": yaml.safe_dump(base),
             "sys.yaml": yaml.safe_dump({"system": "s", "platform": system}),
             "cell.yaml": yaml.safe_dump({"system": "s", "cell": cell}),
             "links.yaml": yaml.safe_dump({"system": "s", "links": links})}
    try:
        _whole_flow(texts)
    except PartcfgError:
        pass


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_mutated_examples_never_crash_the_flow(data):
    """The bundled examples with one value replaced anywhere in one file."""
    files = sorted(CELLS.glob("qemu-x86*.yaml"))
    texts = {f.name: f.read_text() for f in files}
    victim = data.draw(st.sampled_from(sorted(texts)))
    doc = yaml.safe_load(texts[victim])
    paths = []

    def walk(node, path):
        paths.append(path)
        if isinstance(node, dict):
            for k, v in node.items():
                walk(v, path + (k,))
        elif isinstance(node, list):
            for i, v in enumerate(node):
                walk(v, path + (i,))
    walk(doc, ())
    path = data.draw(st.sampled_from(paths[1:]))
    parent = doc
    for seg in path[:-1]:
        parent = parent[seg]
    parent[path[-1]] = data.draw(values)
    texts[victim] = yaml.safe_dump(doc)
    _whole_flow(texts)
