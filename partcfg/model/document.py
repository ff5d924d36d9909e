"""Model layer: loaded YAML data -> a typed Document, pydantic's errors mapped back to YAML.

Part of step 2 of the flow. Every problem pydantic finds becomes a diagnostic at the YAML
node it concerns, and every model object is given its node (``source``). A schema problem
costs only its node: the rest of the file still becomes a Document, which remembers what
it could not declare so that nothing is reported twice (see :func:`document_of`).
"""

from __future__ import annotations

import types
import typing
from dataclasses import dataclass, field
from typing import Annotated, Any, Union

from pydantic import BaseModel, Tag, ValidationError

from ..diagnostics import ConfigError, Diagnostic, Location, did_you_mean, error
from ..gc_pause import collector_paused
from ..load.yaml_source import SourceDoc
from ..units import WordError
from .system import Cell, Document, ITEM_TAGS, Node, SourceRef


_UNION_ORIGINS = (Union, types.UnionType)
_RULE_OF_ERROR = {"extra_forbidden": "SCHEMA-UNKNOWN-KEY", "missing": "SCHEMA-MISSING"}


def _model_at(model: Any, loc: tuple) -> type[BaseModel] | None:
    """The model class that the pydantic error location ``loc`` points into."""
    tp: Any = model
    for seg in loc:
        tp = _unwrap(tp)
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            fld = tp.model_fields.get(seg)
            if fld is None:
                return None
            tp = fld.annotation
        elif typing.get_origin(tp) in (list, tuple):
            tp = typing.get_args(tp)[0]
        elif typing.get_origin(tp) is dict:
            tp = typing.get_args(tp)[1]
        elif typing.get_origin(tp) in _UNION_ORIGINS:
            members = [_unwrap(a) for a in typing.get_args(tp)]
            tagged = [a for a in typing.get_args(tp) if _tag_of(a) == seg]
            if tagged:
                tp = tagged[0]
            else:
                models = [m for m in members if isinstance(m, type) and issubclass(m, BaseModel)]
                if len(models) != 1:
                    return None
                tp = models[0]
                if seg in tp.model_fields:
                    tp = tp.model_fields[seg].annotation
        else:
            return None
    tp = _unwrap(tp)
    return tp if isinstance(tp, type) and issubclass(tp, BaseModel) else None


def _unwrap(tp: Any) -> Any:
    while typing.get_origin(tp) is Annotated:
        tp = typing.get_args(tp)[0]
    if typing.get_origin(tp) in _UNION_ORIGINS:
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return _unwrap(args[0])
    return tp


def _tag_of(tp: Any) -> str | None:
    if typing.get_origin(tp) is Annotated:
        for meta in typing.get_args(tp)[1:]:
            if isinstance(meta, Tag):
                return meta.tag
    return None


def _diagnostics_of(exc: ValidationError, doc: SourceDoc) -> list[Diagnostic]:
    result = []
    for err in exc.errors(include_url=False):
        loc = tuple(err["loc"])
        kind = err["type"]
        rule = _RULE_OF_ERROR.get(kind, "SCHEMA-VALUE")
        message = err["msg"].removeprefix("Value error, ")
        hint = None
        where = ".".join(str(s) for s in loc if s not in ITEM_TAGS)
        if kind == "extra_forbidden":
            parent = _model_at(Document, loc[:-1])
            known = [n for n in parent.model_fields] if parent else []
            message = f"unknown key {loc[-1]!r}" + (f" in {parent.__name__}" if parent else "")
            hint = did_you_mean(str(loc[-1]), known)
            location = doc.location(loc, key=True)
        elif kind == "missing":
            message = f"missing required key {loc[-1]!r}"
            location = doc.location(loc[:-1])
        else:
            cause = (err.get("ctx") or {}).get("error")
            if isinstance(cause, WordError):
                hint = cause.hint
                location = doc.location(loc + ((cause.index,) if cause.index is not None else ()))
            else:
                location = doc.location(loc)
            if kind in ("model_type", "dict_type"):
                message = "expected a mapping of keys here"
            message = f"{where}: {message}" if where else message
        result.append(error(rule, message, location, hint=hint))
    return result


def _may_hold_nodes(annotation: Any) -> bool:
    """Whether a field declared as ``annotation`` can hold a Node, a list or a dict (the
    values :func:`_attach_sources` descends into); scalars and tuples of numbers cannot."""
    origin = typing.get_origin(annotation)
    if origin is Annotated:
        return _may_hold_nodes(typing.get_args(annotation)[0])
    if origin in (Union, types.UnionType):
        return any(_may_hold_nodes(arg) for arg in typing.get_args(annotation))
    if origin in (list, dict) or annotation in (list, dict, Any):
        return True
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


_FIELDS_WITH_NODES: dict[type, tuple[str, ...]] = {}


def _fields_with_nodes(cls: type[Node]) -> tuple[str, ...]:
    """The fields of ``cls`` that :func:`_attach_sources` must look into (none for a
    memory region: a hundred thousand of them skip the walk over their fields)."""
    names = _FIELDS_WITH_NODES.get(cls)
    if names is None:
        names = _FIELDS_WITH_NODES[cls] = tuple(
            name for name, info in cls.model_fields.items() if _may_hold_nodes(info.annotation))
    return names


def _attach_sources(obj: Any, doc: SourceDoc, path: tuple) -> None:
    if isinstance(obj, Node):
        # the private dict and the field dict directly: pydantic's attribute hooks cost a
        # third of document_of on 100,000-region systems
        obj.__pydantic_private__["_source"] = SourceRef(doc, path)  # type: ignore[index]
        values = obj.__dict__
        for name in _fields_with_nodes(type(obj)):
            value = values[name]
            if isinstance(value, (Node, list, dict)):
                _attach_sources(value, doc, path + (name,))
    elif isinstance(obj, list):
        for i, item in enumerate(obj):
            if isinstance(item, (Node, list, dict)):
                _attach_sources(item, doc, path + (i,))
    elif isinstance(obj, dict):
        for key, item in obj.items():
            _attach_sources(item, doc, path + (key,))


class PartialDocumentError(ConfigError):
    """A file with problems whose readable rest is still a Document: ``document`` holds
    what remains once every bad node was dropped (None when nothing could be kept)."""

    def __init__(self, diagnostics: list[Diagnostic], document: "Document | None"):
        super().__init__(diagnostics)
        self.document = document


@dataclass
class Unreadable:
    """What a file meant to declare but could not, so that findings which only follow
    from it (a placement of a link that could not be read, a peer whose cell failed, the
    cells of a system whose platform failed) are not reported a second time."""
    links: set[str] = field(default_factory=set)
    cell_name: str | None = None   # the cell's name, when the cell itself was dropped
    platform: bool = False


_MAX_RECOVERY_ROUNDS = 4


def document_of(doc: SourceDoc) -> Document:
    """The typed Document of a loaded YAML file. A schema problem costs only its node: the
    rest of the file is still read, and PartialDocumentError (a ConfigError) carries every
    problem together with the Document of what was readable."""
    if doc.data is None:
        raise ConfigError([error("SCHEMA-EMPTY", "the file is empty", Location(doc.file, 1, 1),
                                 hint="a partcfg file has 'system:' and a 'cell:', 'platform:' or 'links:'")])
    if not isinstance(doc.data, dict):
        raise ConfigError([error("SCHEMA-TYPE", "expected a mapping at the top of the file",
                                 doc.location(()))])
    try:
        with collector_paused():
            model = Document.model_validate(doc.data)
            _attach_sources(model, doc, ())
        return model
    except ValidationError as exc:
        first = exc
    return _recovered_document_of(doc, first)


def _recovered_document_of(doc: SourceDoc, exc: ValidationError) -> Document:
    """Drop each bad node (a list item, a link, or a single key) and validate again, until
    what is left is valid; raise PartialDocumentError with every problem and that rest.
    List items and links go whole (a region without its bad field would be a different
    region); a key outside them goes alone and falls back to its default, and if it was
    required, its parent goes instead (reported once, as the original problem)."""
    import copy

    data = copy.deepcopy(doc.data)
    diagnostics = _diagnostics_of(exc, doc)
    dropped_leaves: set[tuple] = set()
    unreadable = Unreadable()
    raw_cell = doc.data.get("cell")
    for _ in range(_MAX_RECOVERY_ROUNDS):
        cuts = []
        for err in exc.errors(include_url=False):
            path = tuple(s for s in err["loc"] if s not in ITEM_TAGS)
            if not path:
                raise PartialDocumentError(diagnostics, None)
            if err["type"] == "missing" and path in dropped_leaves:
                cuts.append(path[:-1])
            else:
                cuts.append(_cut_of(path, err["type"]))
        for cut in sorted(set(cuts), key=_path_order, reverse=True):
            if not cut:
                raise PartialDocumentError(diagnostics, None)
            _delete_at(data, cut)
            if not any(isinstance(s, int) for s in cut):
                dropped_leaves.add(cut)
            if cut[0] == "links" and len(cut) == 2:
                unreadable.links.add(str(cut[1]))
            elif cut == ("cell",) and isinstance(raw_cell, dict) and isinstance(raw_cell.get("name"), str):
                unreadable.cell_name = raw_cell["name"]
            elif cut == ("platform",):
                unreadable.platform = True
        try:
            with collector_paused():
                model = Document.model_validate(data)
                _attach_sources(model, doc, ())
        except ValidationError as again:
            exc = again
            # problems the pruning itself caused (a required key it removed) are not new
            fresh = [d for d, err in zip(_diagnostics_of(again, doc), again.errors(include_url=False))
                     if not (err["type"] == "missing"
                             and tuple(s for s in err["loc"] if s not in ITEM_TAGS) in dropped_leaves)]
            diagnostics.extend(d for d in fresh if d not in diagnostics)
            continue
        model._unreadable = unreadable
        if model.cell is not None:
            model.cell._unreadable_keys = frozenset(
                str(p[1]) for p in dropped_leaves if len(p) == 2 and p[0] == "cell")
        raise PartialDocumentError(diagnostics, model)
    raise PartialDocumentError(diagnostics, None)


def _cut_of(path: tuple, kind: str) -> tuple:
    """The node a problem at ``path`` costs: the key itself when it is unknown, else the
    innermost list item or link around it, else the key."""
    if kind == "extra_forbidden":
        return path
    for i in range(len(path) - 1, -1, -1):
        if isinstance(path[i], int) or (i == 1 and path[0] == "links"):
            return path[:i + 1]
    return path


def _path_order(path: tuple) -> tuple:
    # deeper paths and higher list indices first, so deleting one never shifts another
    return tuple((0, s, "") if isinstance(s, int) else (1, 0, str(s)) for s in path)


def _delete_at(data: Any, path: tuple) -> None:
    node = data
    for seg in path[:-1]:
        try:
            node = node[seg]
        except (KeyError, IndexError, TypeError):
            return
    try:
        del node[path[-1]]
    except (KeyError, IndexError, TypeError):
        pass


def unreadable_keys_of(cell: Cell) -> frozenset[str]:
    """The keys of ``cell`` whose values were bad and dropped (their defaults stand in)."""
    return cell.__pydantic_private__.get("_unreadable_keys") or frozenset()  # type: ignore[union-attr]


def unreadable_of(document: Document) -> Unreadable | None:
    """What a recovered document could not declare (None for a document read whole)."""
    return document.__pydantic_private__.get("_unreadable")  # type: ignore[union-attr]
