"""Load layer: YAML text -> plain Python data, with the source position of every node.

The first step of the flow. Scalars are resolved the YAML 1.2 way (``00:10.0`` stays a
string, ``yes`` is not a boolean; only ``true``/``false``, ``null`` and integers are
typed), duplicate keys are errors, and any path into the data
(``("cell", "memory", 3, "size")``) maps back to ``file:line:col`` through libyaml's
node tree of the file.

Most files (everything ``partcfg import`` writes, most hand-written ones) use a small,
line-shaped part of YAML: block mappings and sequences of plain names and numbers, and
one-line flow collections. Those are read straight into data by :func:`_simple_data_of`
(a few regular expressions per line, no node objects, no marks); a file that strays
outside that part in any way takes the full libyaml path, which is also where every
problem is reported. The node tree is composed only when a position is asked for (a
finding), from the same text by the same composer, so positions are exactly libyaml's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import yaml

from ..gc_pause import collector_paused
from ..diagnostics import ConfigError, Diagnostic, InputError, Location, error
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


@dataclass
class SourceDoc:
    """One loaded YAML file: its data and the node tree that locates every value
    (``root``; composed from ``text`` on first use when the file was read by the
    simple path)."""

    file: str
    data: Any
    root: yaml.Node | None
    text: str | None = None

    def __getstate__(self) -> dict:
        # to another process (pipeline's parallel loading) without the node tree when
        # the text can give it again: a tree pickles at ten times the size of its text
        state = dict(self.__dict__)
        if state.get("text") is not None:
            state["root"] = None
        return state

    def tree(self) -> yaml.Node | None:
        """The composed node tree of the file (None for an empty or unparsed file)."""
        if self.root is None and self.text is not None:
            with collector_paused():
                self.root = yaml.compose(self.text, Loader=_Loader)
            self.text = None
        return self.root

    def node_at(self, path: Sequence[Any], key: bool = False) -> yaml.Node | None:
        """The node at ``path`` (or its key node with ``key=True``); the deepest existing
        ancestor when the path leads nowhere (e.g. a missing key)."""
        node = self.tree()
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
    if node.style:  # ', ", | or >
        return node.value
    return _plain_scalar(node.value)


def _plain_scalar(text: str) -> Any:
    """YAML 1.2 core resolution of an unquoted scalar's text."""
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


# --- the simple path: line-shaped YAML straight into data ----------------------------------

_NOT_SIMPLE = object()


class _NotSimple(Exception):
    """The text leaves the simple part of YAML: the full path reads it."""


# A simple file holds printable ASCII and newlines only (tabs, CR, NEL, a BOM, control
# characters: all left to libyaml). Plain scalars are words of name characters without
# any YAML indicator (no quotes, anchors, tags, comments, block scalars, merge keys),
# with inner spaces between words and colons that are not followed by a space
# (``00:0e.0``); keys are single words without colons.
_UNSIMPLE_CHAR = re.compile(r"[^\x20-\x7e\n]")
_C = r"[A-Za-z0-9_.+~/-]"
_START = r"(?:[A-Za-z0-9_.+~/]|-(?=[A-Za-z0-9_.+~/]))"  # '- ' would be a sequence entry
_WORD = rf"{_START}{_C}*"
# (each pattern matches one way only: runs of a character class, no nested choices, so
# a line that does not match fails in linear time)
_FLOW_SCALAR = rf"{_START}{_C}*(?::{_C}+)*(?: +{_C}+(?::{_C}+)*)*"
_B = r"[A-Za-z0-9_.+~/,-]"  # block scalars take commas too: ``cpus: 0-1,4``
_BLOCK_SCALAR = re.compile(rf"{_START}{_B}*(?::{_C}{_B}*)*(?: +{_B}+(?::{_C}{_B}*)*)*")
_KEY_LINE = re.compile(rf"({_WORD}):(?: +(.*))?")
_LIST = rf"\[ *(?:{_FLOW_SCALAR} *(?:, *{_FLOW_SCALAR} *)*)?\]"
_FLAT_LIST = re.compile(_LIST)
_LIST_INSIDE = re.compile(rf" *(?:{_FLOW_SCALAR} *(?:, *{_FLOW_SCALAR} *)*)?")
_PAIR = re.compile(rf"({_WORD}): +(?:\[([^\]]*)\]|({_FLOW_SCALAR}))")
_FLOW_TOKEN = re.compile(rf" *([{{}}\[\],]|:(?= )|{_FLOW_SCALAR}) *")
_STRUCTURE = frozenset("{}[],:")
_MAX_KEY = 1000  # libyaml refuses implicit keys longer than 1024 characters
_RESOLVED: dict[str, Any] = {}
_RESOLVED_MAX = 1 << 17
_SIMPLE_DEPTH = 32  # deeper files take the full path, which bounds nesting


def _simple_data_of(text: str) -> Any:
    """The data of ``text`` when it keeps to the simple part of YAML (see the module
    docstring), else ``_NOT_SIMPLE``. Gives exactly what the full path gives; anything
    the full path would report (a duplicate key, too deep a nesting, a scalar it
    refuses) sends the file there."""
    if _UNSIMPLE_CHAR.search(text):
        return _NOT_SIMPLE
    lines: list[tuple[int, str]] = []
    for raw in text.split("\n"):
        content = raw.lstrip(" ")
        if not content or content[0] == "#":
            continue
        if content.startswith(("---", "...")):
            return _NOT_SIMPLE
        indent = len(raw) - len(content)
        comment = content.find("#")
        if comment > 0:  # a comment after the content: '#' after a space, nowhere else
            if content[comment - 1] != " ":
                return _NOT_SIMPLE
            content = content[:comment]
        lines.append((indent, content.rstrip(" ")))
    if not lines or lines[0][0] != 0:
        return _NOT_SIMPLE
    try:
        return _SimpleReader(lines).document()
    except Exception:  # noqa: BLE001 - any surprise: the full path reads and reports
        return _NOT_SIMPLE


class _SimpleReader:
    """Block structure by indentation over the content lines; one-line flow
    collections by regular expressions. Raises _NotSimple at anything else."""

    def __init__(self, lines: list[tuple[int, str]]):
        self.lines = lines
        # scalar text -> value, shared by every file of a run (names, sizes and flag words
        # repeat from file to file; the values are immutable), bounded
        if len(_RESOLVED) > _RESOLVED_MAX:
            _RESOLVED.clear()
        self.resolved = _RESOLVED
        self.lists: dict[str, tuple] = {}  # the inside of a flat flow list -> its values

    def list_of(self, items: str) -> tuple:
        """The values of a flat flow list's inside (``read, write``)."""
        return tuple(self.scalar(x.strip()) for x in items.split(",")) if items.strip() else ()

    def scalar(self, text: str) -> Any:
        try:
            return self.resolved[text]
        except KeyError:
            if len(text) > MAX_INT_CHARS and _INT_RE.match(text):
                raise _NotSimple from None  # the full path reports it (YAML-INT-LENGTH)
            value = self.resolved[text] = _plain_scalar(text)
            return value

    def key(self, text: str) -> Any:
        if len(text) > _MAX_KEY:
            raise _NotSimple
        return self.scalar(text)

    def document(self) -> Any:
        lines = self.lines
        if lines[0][1][0] in "{[":
            if len(lines) != 1:
                raise _NotSimple
            return self.flow(lines[0][1], 1)
        value, end = self.block(0, 0, 1)
        if end != len(lines):
            raise _NotSimple
        return value

    def block(self, i: int, indent: int, depth: int) -> tuple[Any, int]:
        if depth > _SIMPLE_DEPTH:
            raise _NotSimple
        content = self.lines[i][1]
        if content == "-" or content.startswith("- "):
            return self.sequence(i, indent, depth)
        return self.mapping(i, indent, depth)

    def sequence(self, i: int, indent: int, depth: int) -> tuple[list, int]:
        lines, items, n = self.lines, [], len(self.lines)
        while i < n:
            at, content = lines[i]
            if at < indent:
                break
            if at > indent or not (content == "-" or content.startswith("- ")):
                raise _NotSimple
            rest = content[2:].lstrip(" ")
            if not rest:
                i += 1
                if i < n and lines[i][0] > indent:
                    value, i = self.block(i, lines[i][0], depth + 1)
                else:
                    value = None
            elif rest[0] in "{[":
                value = self.flow(rest, depth + 1)
                i += 1
            elif rest[0] == "-" and (rest == "-" or rest.startswith("- ")):
                raise _NotSimple
            elif _KEY_LINE.fullmatch(rest):  # a mapping begun on the dash line
                lines[i] = (len(content) - len(rest) + indent, rest)
                value, i = self.mapping(i, lines[i][0], depth + 1)
            else:
                value = self.block_scalar(rest)
                i += 1
            items.append(value)
        return items, i

    def mapping(self, i: int, indent: int, depth: int) -> tuple[dict, int]:
        lines, result, n = self.lines, {}, len(self.lines)
        while i < n:
            at, content = lines[i]
            if at < indent:
                break
            m = _KEY_LINE.fullmatch(content)
            if at > indent or m is None:
                raise _NotSimple
            key = self.key(m.group(1))
            if key in result:
                raise _NotSimple
            rest = m.group(2)
            i += 1
            if not rest:
                if i < n and lines[i][0] > indent:
                    value, i = self.block(i, lines[i][0], depth + 1)
                elif i < n and lines[i][0] == indent and lines[i][1][0] == "-":
                    raise _NotSimple  # a sequence level with its key: left to libyaml
                else:
                    value = None
            elif rest[0] in "{[":
                value = self.flow(rest, depth + 1)
            else:
                value = self.block_scalar(rest)
            result[key] = value
        return result, i

    def block_scalar(self, text: str) -> Any:
        if _BLOCK_SCALAR.fullmatch(text) is None:
            raise _NotSimple
        return self.scalar(text)

    def flow(self, text: str, depth: int) -> Any:
        if text[0] == "{":
            flat = self.flat_map(text)
            if flat is not None:
                return flat
        if text[0] == "[" and _FLAT_LIST.fullmatch(text):
            return list(self.list_of(text[1:-1]))
        tokens, at = [], 0
        while at < len(text):
            m = _FLOW_TOKEN.match(text, at)
            if m is None:
                raise _NotSimple
            tokens.append(m.group(1))
            at = m.end()
        value, end = self.flow_value(tokens, 0, depth)
        if end != len(tokens):
            raise _NotSimple
        return value

    def flat_map(self, text: str) -> dict | None:
        """A one-line flow mapping of scalars and flat lists (a region), or None for any
        other shape. One regular-expression pass: ``split`` gives every pair and the
        separators between them, which must be nothing but the braces, commas and spaces
        (so junk anywhere declines), and each distinct list inside is checked once."""
        parts = _PAIR.split(text)  # [sep, key, list, scalar, sep, key, ..., sep]
        if len(parts) < 5 or parts[0].rstrip(" ") != "{" or parts[-1].lstrip(" ") != "}":
            return None
        result: dict = {}
        resolved, lists = self.resolved, self.lists
        for at in range(1, len(parts) - 1, 4):
            key_text, items, value_text = parts[at:at + 3]
            if at > 1 and parts[at - 1].strip(" ") != ",":
                return None
            if len(key_text) > _MAX_KEY:
                raise _NotSimple
            key = resolved[key_text] if key_text in resolved else self.scalar(key_text)
            if key in result:
                raise _NotSimple
            if value_text:
                result[key] = resolved[value_text] if value_text in resolved else self.scalar(value_text)
            else:  # a list: flag words repeat from region to region
                values = lists.get(items)
                if values is None:
                    if _LIST_INSIDE.fullmatch(items) is None:
                        return None
                    values = lists[items] = self.list_of(items)
                result[key] = list(values)
        return result

    def flow_value(self, tokens: list[str], i: int, depth: int) -> tuple[Any, int]:
        if depth > _SIMPLE_DEPTH:
            raise _NotSimple
        token = tokens[i]
        if token not in _STRUCTURE:
            return self.scalar(token), i + 1
        if token == "[":
            items: list = []
            i += 1
            if tokens[i] == "]":
                return items, i + 1
            while True:
                value, i = self.flow_value(tokens, i, depth + 1)
                items.append(value)
                if tokens[i] == "]":
                    return items, i + 1
                if tokens[i] != "," or tokens[i + 1] in ",]":
                    raise _NotSimple
                i += 1
        if token == "{":
            result: dict = {}
            i += 1
            if tokens[i] == "}":
                return result, i + 1
            while True:
                if tokens[i] in _STRUCTURE or tokens[i + 1] != ":":
                    raise _NotSimple
                key = self.key(tokens[i])
                if key in result:
                    raise _NotSimple
                result[key], i = self.flow_value(tokens, i + 2, depth + 1)
                if tokens[i] == "}":
                    return result, i + 1
                if tokens[i] != "," or tokens[i + 1] in ",}":
                    raise _NotSimple
                i += 1
        raise _NotSimple


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
    data = _simple_data_of(text)
    if data is not _NOT_SIMPLE:
        return SourceDoc(file, data, None, text)
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
    return SourceDoc(file, data, root, text)


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
