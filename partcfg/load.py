"""Load layer: YAML text -> plain Python data, with the source position of every node.

The first step of the flow. Scalars are resolved the YAML 1.2 way (``00:10.0`` stays a
string, ``yes`` is not a boolean; only ``true``/``false``, ``null`` and integers are
typed), duplicate keys are errors, and the composed node tree is kept so that any
path into the data (``("cell", "memory", 3, "size")``) maps back to ``file:line:col``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import yaml

from .collector import collector_paused
from .diagnostics import ConfigError, Diagnostic, InputError, Location, error
from .files import file_bytes_of

try:  # libyaml's composer is several times faster; marks are the same
    _BaseLoader: type = yaml.CSafeLoader  # type: ignore[attr-defined]
except AttributeError:  # pragma: no cover - PyYAML built without libyaml
    _BaseLoader = yaml.SafeLoader

_KIND_TAGS = {yaml.ScalarNode: "tag:yaml.org,2002:str", yaml.SequenceNode: "tag:yaml.org,2002:seq",
              yaml.MappingNode: "tag:yaml.org,2002:map"}


class _Loader(_BaseLoader):  # type: ignore[misc, valid-type]
    """Composes nodes without PyYAML's YAML 1.1 implicit tag resolution: :func:`_scalar`
    resolves scalars itself, and skipping the regex cascade per scalar is a fifth of the
    load time of a large file."""

    def resolve(self, kind, value, implicit):  # noqa: D401 - PyYAML's hook
        return _KIND_TAGS[kind]

_INT_RE = re.compile(r"^[-+]?(0x_*[0-9a-fA-F][0-9a-fA-F_]*|0o_*[0-7][0-7_]*|0b_*[01][01_]*|[0-9][0-9_]*)$")
MAX_INT_CHARS = 100        # a 64-bit value in binary with a _ every 4 digits is 81 characters
MAX_ALIAS_NODES = 200_000  # nodes that aliases may add to a document beyond its own
_NULLS = {"", "~", "null", "Null", "NULL"}
_BOOLS = {"true": True, "True": True, "TRUE": True,
          "false": False, "False": False, "FALSE": False}
MAX_DEPTH = 64

Path_ = tuple  # a path into the data: keys and list indices


@dataclass
class SourceDoc:
    """One loaded YAML file: its data and the node tree that locates every value."""

    file: str
    data: Any
    root: yaml.Node | None

    def node_at(self, path: Sequence[Any], key: bool = False) -> yaml.Node | None:
        """The node at ``path`` (or its key node with ``key=True``); the deepest existing
        ancestor when the path leads nowhere (e.g. a missing key)."""
        node = self.root
        key_node = None
        for seg in path:
            if isinstance(node, yaml.MappingNode):
                for k, v in node.value:
                    if isinstance(k, yaml.ScalarNode) and _scalar(k) == seg:
                        key_node, node = k, v
                        break
                else:
                    continue  # not a key here: a pydantic union tag or a missing key
            elif isinstance(node, yaml.SequenceNode) and isinstance(seg, int) \
                    and 0 <= seg < len(node.value):
                key_node, node = None, node.value[seg]
            else:
                continue
        if key and key_node is not None:
            return key_node
        return node

    def location(self, path: Sequence[Any] = (), key: bool = False) -> Location:
        node = self.node_at(path, key)
        if node is None:
            return Location(self.file, 1, 1)
        return Location(self.file, node.start_mark.line + 1, node.start_mark.column + 1)


class DecimalInt(int):
    """An integer written in plain decimal digits. Some enumeration words are digits
    (console type ``8250``); the model maps such a number back to the word, while the
    same value written in hex (``0x203a``) stays a raw number."""


def _scalar(node: yaml.ScalarNode) -> Any:
    """YAML 1.2 core resolution of a scalar; quoted and block scalars are always text.
    PyYAML's own (YAML 1.1) implicit tags are ignored on purpose: they turn ``00:10.0``
    into a sexagesimal float and ``on`` into True."""
    text = node.value
    if node.style:  # ', ", | or >
        return text
    if text in _NULLS:
        return None
    if text in _BOOLS:
        return _BOOLS[text]
    if len(text) <= MAX_INT_CHARS and _INT_RE.match(text):   # longer ones: see _data_of
        if text.isdigit():
            return DecimalInt(text)
        sign = -1 if text.startswith("-") else 1
        return sign * int(text.lstrip("+-").replace("_", ""), 0)
    return text


def _data_of(doc_file: str, node: yaml.Node, problems: list[Diagnostic],
             depth: int = 0) -> Any:
    if depth > MAX_DEPTH:
        raise _TooDeep(node)
    if isinstance(node, yaml.ScalarNode):
        if len(node.value) > MAX_INT_CHARS and not node.style and _INT_RE.match(node.value):
            problems.append(error(
                "YAML-INT-LENGTH", f"an integer of {len(node.value)} characters; partcfg reads "
                f"integers of at most {MAX_INT_CHARS}", Location(doc_file, node.start_mark.line + 1,
                                                                 node.start_mark.column + 1),
                hint="every value partcfg stores fits in 64 bits"))
            return None
        return _scalar(node)
    if isinstance(node, yaml.SequenceNode):
        return [_data_of(doc_file, item, problems, depth + 1) for item in node.value]
    if isinstance(node, yaml.MappingNode):
        result: dict = {}
        first_seen: dict = {}
        for key_node, value_node in node.value:
            here = Location(doc_file, key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            if isinstance(key_node, yaml.ScalarNode) and key_node.value == "<<" and not key_node.style:
                problems.append(error("YAML-MERGE", "merge keys (<<) are not supported",
                                      here, hint="write the keys out, or use an anchor for the whole value"))
                continue
            if not isinstance(key_node, yaml.ScalarNode):
                problems.append(error("YAML-KEY", "a mapping key must be a plain name or number", here))
                continue
            key = _scalar(key_node)
            if key in first_seen:
                problems.append(error("YAML-DUPLICATE-KEY", f"key {key!r} appears twice in one mapping",
                                      here, related=[first_seen[key]],
                                      hint="remove one of them; the second would silently win"))
                continue
            first_seen[key] = here
            result[key] = _data_of(doc_file, value_node, problems, depth + 1)
        return result
    raise _TooDeep(node)  # pragma: no cover - composer yields only the three kinds


class _TooDeep(Exception):
    def __init__(self, node: yaml.Node):
        self.node = node


def _refuse_alias_bombs(root: yaml.Node, file: str) -> None:
    """Aliases make a tree of a graph: nested ones (``b: [*a, *a, ...]``, ``c: [*b, *b, ...]``)
    grow it exponentially, so a 1 KB file would expand to gigabytes. Counts the expanded
    size in one pass over the distinct nodes (memoised) and refuses a document that
    aliases grow by more than ``MAX_ALIAS_NODES`` nodes, at the biggest alias."""
    sizes: dict[int, int] = {}
    aliased: list[yaml.Node] = []
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        key = id(node)
        if children_done:
            children = node.value if isinstance(node, yaml.SequenceNode) else \
                [n for pair in node.value for n in pair]
            sizes[key] = 1 + sum(sizes.get(id(c), 1) for c in children)
            continue
        if key in sizes:
            aliased.append(node)
            continue
        if isinstance(node, yaml.ScalarNode):
            sizes[key] = 1
            continue
        sizes[key] = 0   # on the way: a recursive alias meets it again and counts it as 0
        stack.append((node, True))
        children = node.value if isinstance(node, yaml.SequenceNode) else \
            [n for pair in node.value for n in pair]
        stack.extend((c, False) for c in reversed(children))
    own = len(sizes)
    if sizes.get(id(root), 0) - own > MAX_ALIAS_NODES:
        biggest = max(aliased, key=lambda n: sizes.get(id(n), 1), default=root)
        raise ConfigError([error(
            "YAML-ALIAS", f"aliases expand this document to {sizes[id(root)]} nodes, more than "
            f"{MAX_ALIAS_NODES} beyond its own {own}", Location(
                file, biggest.start_mark.line + 1, biggest.start_mark.column + 1),
            hint="write the values out, or use fewer nested aliases")])


def load_yaml_text(text: str, file: str) -> SourceDoc:
    """Parse one YAML document. Raises ConfigError listing every syntax problem found."""
    try:
        with collector_paused():
            nodes = list(yaml.compose_all(text, Loader=_Loader))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = Location(file, mark.line + 1, mark.column + 1) if mark else Location(file)
        message = " ".join(p for p in (exc.context, exc.problem) if p) or "invalid YAML"
        raise ConfigError([error("YAML-SYNTAX", f"YAML syntax error: {message}", where)]) from None
    except (yaml.YAMLError, ValueError, RecursionError) as exc:
        raise ConfigError([error("YAML-SYNTAX", f"YAML syntax error: {exc}", Location(file))]) from None
    if len(nodes) > 1:
        second = nodes[1]
        raise ConfigError([error(
            "YAML-MULTI-DOC", "a partcfg file holds one YAML document; this one has more",
            Location(file, second.start_mark.line + 1, second.start_mark.column + 1),
            hint="split the documents into separate files")])
    root = nodes[0] if nodes else None
    if root is not None and "*" in text:   # no alias without '*': the walk below is for them
        _refuse_alias_bombs(root, file)
    problems: list[Diagnostic] = []
    try:
        with collector_paused():
            data = _data_of(file, root, problems) if root is not None else None
    except (_TooDeep, RecursionError) as exc:
        node = getattr(exc, "node", root)
        raise ConfigError([error(
            "YAML-DEPTH", f"nesting deeper than {MAX_DEPTH} levels (recursive alias?)",
            Location(file, node.start_mark.line + 1, node.start_mark.column + 1))]) from None
    if problems:
        raise ConfigError(problems)
    return SourceDoc(file, data, root)


def load_yaml_file(path: str | Path) -> SourceDoc:
    """Read and parse a YAML file; unreadable files raise InputError (exit code 2)."""
    name = str(path)
    raw = file_bytes_of(path)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError([error("IO-ENCODING", f"{name} is not UTF-8 text (byte {exc.start})",
                                Location(name),
                                hint="is this a binary blob? use 'partcfg import' for .cell files")]) from None
    return load_yaml_text(text, name)
