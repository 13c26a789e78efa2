"""Syntax model: what a source file says, node by node, each node with its span.

These are the parse stage's output and the checker's input. They hold no meaning beyond the
text (names are not resolved, values not validated); the checker turns them into the typed
spec in ``setlist.spec``.
"""

from __future__ import annotations

from typing import Annotated, Literal, Union

from pydantic import BaseModel, ConfigDict, Field

from .diagnostics import Span


class Node(BaseModel):
    model_config = ConfigDict(frozen=True)

    span: Span


# ---------------------------------------------------------------- expressions

class Name(Node):
    kind: Literal["name"] = "name"
    name: str


class Attr(Node):
    kind: Literal["attr"] = "attr"
    value: Expr
    attr: str
    attr_span: Span


class Index(Node):
    kind: Literal["index"] = "index"
    value: Expr
    index: Expr


class KwArg(Node):
    name: str
    name_span: Span
    value: Expr


class Call(Node):
    kind: Literal["call"] = "call"
    func: Expr
    args: tuple[Expr, ...] = ()
    kwargs: tuple[KwArg, ...] = ()


class Str(Node):
    """A string literal. ``parts`` alternates literal text and interpolated expressions."""

    kind: Literal["str"] = "str"
    parts: tuple[Union[str, Expr], ...] = ()

    @property
    def is_plain(self) -> bool:
        return all(isinstance(p, str) for p in self.parts)

    @property
    def text(self) -> str:
        """The literal text, with interpolations shown as written (`${...}`)."""
        return "".join(p if isinstance(p, str) else "${…}" for p in self.parts)


class Int(Node):
    kind: Literal["int"] = "int"
    value: int


class Bool(Node):
    kind: Literal["bool"] = "bool"
    value: bool


class NoneLit(Node):
    kind: Literal["none"] = "none"


class Duration(Node):
    kind: Literal["duration"] = "duration"
    text: str


class Date(Node):
    kind: Literal["date"] = "date"
    text: str


class Regex(Node):
    kind: Literal["regex"] = "regex"
    pattern: str


class ListExpr(Node):
    kind: Literal["list"] = "list"
    items: tuple[Expr, ...] = ()


class Entry(Node):
    key: str
    key_span: Span
    value: Expr


class MapExpr(Node):
    kind: Literal["map"] = "map"
    entries: tuple[Entry, ...] = ()


BinaryOp = Literal["and", "or", "==", "!=", "<", "<=", ">", ">=", "in", "not in", "=~", "!~", "/"]


class Binary(Node):
    kind: Literal["binary"] = "binary"
    op: BinaryOp
    op_span: Span
    left: Expr
    right: Expr


class Not(Node):
    kind: Literal["not"] = "not"
    operand: Expr


class Exists(Node):
    kind: Literal["exists"] = "exists"
    operand: Expr


class As(Node):
    kind: Literal["as"] = "as"
    value: Expr
    alias: Str


Expr = Annotated[
    Union[Name, Attr, Index, Call, Str, Int, Bool, NoneLit, Duration, Date, Regex, ListExpr,
          MapExpr, Binary, Not, Exists, As],
    Field(discriminator="kind"),
]


# ---------------------------------------------------------------- declarations

class FieldNode(Node):
    name: str
    name_span: Span
    value: Expr


class Freeze(Node):
    cron: Expr
    duration: Expr
    tz: Expr | None = None


class Decl(Node):
    name: str = ""
    name_span: Span | None = None
    doc: str | None = None


class Import(Decl):
    decl: Literal["import"] = "import"
    path: Str


class Const(Decl):
    decl: Literal["const"] = "const"
    value: Expr


BlockKind = Literal["gitops", "registry", "image", "environment", "app"]


class Block(Decl):
    """gitops, registry, image, environment and app: a name and a body of fields."""

    decl: Literal["block"] = "block"
    block: BlockKind
    keyword_span: Span
    fields: tuple[FieldNode, ...] = ()
    freezes: tuple[Freeze, ...] = ()


class PromotionRule(Node):
    stage: str
    stage_span: Span
    source: str
    source_span: Span
    after: Expr | None = None
    gates: tuple[Expr, ...] = ()


class Promotion(Decl):
    decl: Literal["promotion"] = "promotion"
    rules: tuple[PromotionRule, ...] = ()


class Param(Node):
    name: str
    type: str | None = None
    default: Expr | None = None


class Require(Node):
    stmt: Literal["require", "deny"]
    condition: Expr
    message: Expr


class ForStmt(Node):
    stmt: Literal["for"] = "for"
    var: str
    var_span: Span
    iterable: Expr
    where: Expr | None = None
    body: tuple[PolicyStmt, ...] = ()


class PolicyField(Node):
    stmt: Literal["field"] = "field"
    field: FieldNode


PolicyStmt = Union[Require, ForStmt, PolicyField]


class Policy(Decl):
    decl: Literal["policy"] = "policy"
    params: tuple[Param, ...] = ()
    body: tuple[PolicyStmt, ...] = ()


class Use(Decl):
    decl: Literal["use"] = "use"
    target: Expr


class Waive(Decl):
    decl: Literal["waive"] = "waive"
    target: Expr
    scope_kind: str | None = None
    scope_kind_span: Span | None = None
    scope_name: str | None = None
    scope_name_span: Span | None = None
    until: Date
    reason: Str


AnyDecl = Union[Import, Const, Block, Promotion, Policy, Use, Waive]


class Comment(BaseModel):
    model_config = ConfigDict(frozen=True)

    span: Span
    text: str


class Module(BaseModel):
    """One parsed source file. ``decls`` keep source order; ``comments`` is a side table."""

    model_config = ConfigDict(frozen=True)

    file: str
    decls: tuple[AnyDecl, ...] = ()
    comments: tuple[Comment, ...] = ()


for _cls in (Attr, Index, KwArg, Call, Str, ListExpr, Entry, MapExpr, Binary, Not, Exists, As,
             FieldNode, Freeze, Const, Block, PromotionRule, Promotion, Param, Require, ForStmt,
             PolicyField, Policy, Use, Waive, Module):
    _cls.model_rebuild()
