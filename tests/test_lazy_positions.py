"""A valid build finds no source positions: finding one composes the file's YAML node
tree (``SourceDoc.tree``), which costs more than reading the file did, and only a
diagnostic needs it. Checked on the benchmark's board tree (bench/tree.py), which is
valid and warning-free, so every position asked for would be wasted work."""

from __future__ import annotations

import importlib.util

from support.firmware import ROOT

from partcfg.commands.pipeline import build_outputs_of, checked_files_of
from partcfg.load.inputs import yaml_files_of
from partcfg.load.yaml_source import SourceDoc


def _bench_tree_module():
    spec = importlib.util.spec_from_file_location("bench_tree", ROOT / "bench" / "tree.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_valid_build_composes_no_yaml_node_tree(tmp_path, monkeypatch):
    _bench_tree_module().write_tree(tmp_path, 4, 3)
    composed: list[str] = []
    original = SourceDoc.tree

    def counted(self):
        if self.root is None and self.text is not None:
            composed.append(self.file)
        return original(self)

    monkeypatch.setattr(SourceDoc, "tree", counted)
    checked = checked_files_of(yaml_files_of([tmp_path]), parallel_load=False)
    assert checked.diagnostics == []
    outputs = build_outputs_of(checked, set())
    assert len([rel for rel in outputs if rel.endswith(".cell")]) == 4 * 4
    assert composed == []
