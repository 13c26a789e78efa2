"""Syntax model: what a source file says, node by node, each node with its span.

These are the parse stage's output and the checker's input. They hold no meaning beyond the
text (names are not resolved, values not validated); the checker turns them into the typed
spec in ``setlist.spec``.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from operator import attrgetter
from typing import Any, Literal, TypeVar

from .diagnostics import Span


class _Value:
    """Equality, hashing and repr by field values, as ``dataclass`` writes them, written
    once for every node class: ``dataclass`` generates each method per class with an
    ``exec``, which made building the model's classes a sizeable part of a cold start."""

    __slots__ = ()

    def __eq__(self, other: object) -> bool:
        if other.__class__ is self.__class__:
            values = _values(self.__class__)
            return values(self) == values(other)
        return NotImplemented

    def __hash__(self) -> int:
        return hash(_values(self.__class__)(self))

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={getattr(self, name)!r}"
                          for name in _field_names(self.__class__))
        return f"{self.__class__.__qualname__}({shown})"


# Plain frozen dataclasses rather than validating models: the syntax tree is built once per
# parse from already-valid pieces. Equality, hashing and repr come from _Value.
_dataclass = dataclass(frozen=True, slots=True, kw_only=True, eq=False, repr=False)


_C = TypeVar("_C", bound=type)


def node(cls: _C) -> _C:
    # A class without a docstring would get one made from its signature (inspect.signature,
    # a few milliseconds over all node classes at every start); nothing reads it.
    cls.__doc__ = cls.__doc__ or f"Syntax node {cls.__name__}."
    return _dataclass(cls)


@node
class Node(_Value):
    span: Span

    def children(self) -> list[Node]:
        """Direct child nodes in field order (for generic walks)."""
        out: list[Node] = []
        for name in _field_names(type(self)):
            value = getattr(self, name)
            if isinstance(value, Node):
                out.append(value)
            elif isinstance(value, tuple):
                out.extend(x for x in value if isinstance(x, Node))
        return out


_FIELD_NAMES: dict[type, tuple[str, ...]] = {}
_VALUES: dict[type, Any] = {}


def _field_names(cls: type) -> tuple[str, ...]:
    """A node class's field names, looked up once: ``fields()`` is slow enough to show
    in walks over every node of a large project (the checker, the language server)."""
    names = _FIELD_NAMES.get(cls)
    if names is None:
        names = _FIELD_NAMES[cls] = tuple(f.name for f in fields(cls))
    return names


def _values(cls: type) -> Any:
    """A function giving a node's field values as a tuple (what equality compares)."""
    values = _VALUES.get(cls)
    if values is None:
        names = _field_names(cls)
        if len(names) == 1:
            get = attrgetter(names[0])
            values = _VALUES[cls] = lambda obj: (get(obj),)
        else:
            values = _VALUES[cls] = attrgetter(*names)
    return values


# ---------------------------------------------------------------- expressions

@node
class Name(Node):
    kind: Literal["name"] = "name"
    name: str


# The name of a placeholder node standing where a broken piece was already reported, so that
# later stages stay quiet about it instead of cascading.
REPORTED = "\0reported"


def reported(span: Span) -> Name:
    return Name(span=span, name=REPORTED)


def is_reported(expr: object) -> bool:
    return isinstance(expr, Name) and expr.name == REPORTED


@node
class Attr(Node):
    kind: Literal["attr"] = "attr"
    value: Expr
    attr: str
    attr_span: Span


@node
class Index(Node):
    kind: Literal["index"] = "index"
    value: Expr
    index: Expr


@node
class KwArg(Node):
    name: str
    name_span: Span
    value: Expr


@node
class Call(Node):
    kind: Literal["call"] = "call"
    func: Expr
    args: tuple[Expr, ...] = ()
    kwargs: tuple[KwArg, ...] = ()


@node
class Str(Node):
    """A string literal. ``parts`` alternates literal text and interpolated expressions."""

    kind: Literal["str"] = "str"
    parts: tuple[str | Expr, ...] = ()

    @property
    def is_plain(self) -> bool:
        return all(isinstance(p, str) for p in self.parts)

    @property
    def text(self) -> str:
        """The literal text, with interpolations shown as written (`${...}`)."""
        return "".join(p if isinstance(p, str) else "${…}" for p in self.parts)


@node
class Int(Node):
    kind: Literal["int"] = "int"
    value: int


@node
class Bool(Node):
    kind: Literal["bool"] = "bool"
    value: bool


@node
class NoneLit(Node):
    kind: Literal["none"] = "none"


@node
class Duration(Node):
    kind: Literal["duration"] = "duration"
    text: str


@node
class Date(Node):
    kind: Literal["date"] = "date"
    text: str


@node
class Regex(Node):
    kind: Literal["regex"] = "regex"
    pattern: str


@node
class ListExpr(Node):
    kind: Literal["list"] = "list"
    items: tuple[Expr, ...] = ()


@node
class Comprehension(Node):
    """``[item for var in iterable where condition]``: a list built in a policy."""

    kind: Literal["comprehension"] = "comprehension"
    item: Expr
    var: str
    var_span: Span
    iterable: Expr
    where: Expr | None = None


@node
class Entry(Node):
    key: str
    key_span: Span
    value: Expr


@node
class MapExpr(Node):
    kind: Literal["map"] = "map"
    entries: tuple[Entry, ...] = ()


BinaryOp = Literal["and", "or", "==", "!=", "<", "<=", ">", ">=", "in", "not in", "=~", "!~", "/"]


@node
class Binary(Node):
    kind: Literal["binary"] = "binary"
    op: BinaryOp
    op_span: Span
    left: Expr
    right: Expr


@node
class Not(Node):
    kind: Literal["not"] = "not"
    operand: Expr


@node
class Exists(Node):
    kind: Literal["exists"] = "exists"
    operand: Expr


@node
class As(Node):
    kind: Literal["as"] = "as"
    value: Expr
    alias: Str


Expr = (Name | Attr | Index | Call | Str | Int | Bool | NoneLit | Duration | Date | Regex
        | ListExpr | Comprehension | MapExpr | Binary | Not | Exists | As)


# ---------------------------------------------------------------- declarations

@node
class FieldNode(Node):
    name: str
    name_span: Span
    value: Expr


@node
class Freeze(Node):
    cron: Expr
    duration: Expr
    tz: Expr | None = None


@node
class Decl(Node):
    name: str = ""
    name_span: Span | None = None
    doc: str | None = None
    recovered: bool = False  # parsed only after skipping broken lines: fields may be missing


@node
class Import(Decl):
    decl: Literal["import"] = "import"
    path: Str


@node
class Const(Decl):
    decl: Literal["const"] = "const"
    value: Expr


BlockKind = Literal["gitops", "registry", "image", "environment", "app"]


@node
class Block(Decl):
    """gitops, registry, image, environment and app: a name and a body of fields."""

    decl: Literal["block"] = "block"
    block: BlockKind
    keyword_span: Span
    fields: tuple[FieldNode, ...] = ()
    freezes: tuple[Freeze, ...] = ()


@node
class PromotionRule(Node):
    stage: str
    stage_span: Span
    source: str
    source_span: Span
    after: Expr | None = None
    gates: tuple[Expr, ...] = ()


@node
class Promotion(Decl):
    decl: Literal["promotion"] = "promotion"
    rules: tuple[PromotionRule, ...] = ()


@node
class Param(Node):
    name: str
    type: str | None = None
    default: Expr | None = None


@node
class Require(Node):
    stmt: Literal["require", "deny"]
    condition: Expr
    message: Expr


@node
class ForStmt(Node):
    stmt: Literal["for"] = "for"
    var: str
    var_span: Span
    iterable: Expr
    where: Expr | None = None
    body: tuple[PolicyStmt, ...] = ()


@node
class PolicyField(Node):
    stmt: Literal["field"] = "field"
    field: FieldNode


PolicyStmt = Require | ForStmt | PolicyField


@node
class Policy(Decl):
    decl: Literal["policy"] = "policy"
    params: tuple[Param, ...] = ()
    body: tuple[PolicyStmt, ...] = ()


@node
class Use(Decl):
    decl: Literal["use"] = "use"
    target: Expr


@node
class Waive(Decl):
    decl: Literal["waive"] = "waive"
    target: Expr
    scope_kind: str | None = None
    scope_kind_span: Span | None = None
    scope_name: str | None = None
    scope_name_span: Span | None = None
    until: Date
    reason: Str


AnyDecl = Import | Const | Block | Promotion | Policy | Use | Waive


@node
class Comment(_Value):
    span: Span
    text: str


@node
class Module(_Value):
    """One parsed source file. ``decls`` keep source order; ``comments`` is a side table."""

    file: str
    decls: tuple[AnyDecl, ...] = ()
    comments: tuple[Comment, ...] = ()


