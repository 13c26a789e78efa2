"""A subset of Go's ``text/template``, evaluated as Go evaluates it.

Enough for the templates of an ApplicationSet (``goTemplate: true``) that Setlist writes and
that people commonly write by hand: text, ``{{-``/``-}}`` trimming, comments, field chains
(``.a.b``), ``.`` and ``$``, variables (``{{$x := pipeline}}``, ``{{$x = pipeline}}``,
``$x.field``), pipelines with ``|`` and parentheses, string literals, ``true``/``false``/``nil``,
``if``/``with`` with ``else``, ``else if`` and ``else with``, decimal integer constants, the
builtin ``index`` with any number of keys, and the string functions of Sprig that Setlist's
own templates use (``trunc``, ``trimAll``, ``trimPrefix``, ``trimSuffix``; Argo CD gives
goTemplate the Sprig library but ``env``, ``expandenv`` and ``getHostByName``). Anything else
Argo CD evaluates (``range``, ``define``, other numbers, other functions, ...) raises
:class:`Unsupported`, a :class:`TemplateError` saying so; a function Argo CD does not have
fails as in Go (``function "x" not defined``). Never a Python exception.

Values: a ``dict`` is a Go ``map[string]interface{}`` (a missing key's zero value is nil), a
:class:`StrMap` a ``map[string]string`` (zero value ""), ``None`` is nil (Go's invalid or nil
interface value, printed ``<no value>``). The rules follow text/template's exec.go and funcs.go:

- field access (``.a``, ``$x.a``) on a map with a missing key obeys ``missingkey``:
  ``default``/``invalid`` gives nil, ``zero`` the map's zero value, ``error`` fails
  (``map has no entry for key "a"``); on nil it fails with ``missingkey=error`` only
  (``nil data; no entry for key "a"``);
- ``index`` never looks at ``missingkey``: a missing key gives the zero value; ``index`` of nil
  fails (``index of untyped nil``);
- ``if``/``with`` are false for nil, "", an empty map and ``false``; variables declared inside
  them end at their ``{{end}}``;
- a function's arguments are checked as evalCall and evalArg check them: the number of
  arguments (the piped value counts as the last), and each argument's type: a constant of
  the wrong kind (``expected integer; found "x"``), nil (``invalid value; expected string``)
  or a value of another type (``wrong type for value; expected string; got int``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from .gotemplate_funcs import ARGO_CD_FUNCTIONS, FUNCTIONS
from .gotemplate_funcs import SPRIG as _SPRIG

SUPPORTED = ("fields (.a.b), variables, `index`, `trunc`, `trimAll`, `trimPrefix`, "
             "`trimSuffix`, `if`/`with`/`else`/`end`, string literals, decimal integers, "
             "comments and {{- -}} trimming")
_SPACE = " \t\r\n"


class TemplateError(Exception):
    """A template Go would fail to parse or execute, or one this subset cannot evaluate."""


class Unsupported(TemplateError):
    """A template Go may well evaluate, but this subset does not: what Argo CD makes of it is
    unknown, not a failure."""


class StrMap(dict):
    """A Go ``map[string]string`` (labels, annotations): its zero value is ""."""


# ---------------------------------------------------------------- lexing

_TOKEN = re.compile(r"""
    (?P<decl>:=) | (?P<assign>=) | (?P<lparen>\() | (?P<rparen>\)) | (?P<pipe>\|)
  | (?P<comma>,)
  | (?P<str>"(?:[^"\\\n]|\\.)*") | (?P<raw>`[^`]*`)
  | (?P<num>[+-]?[0-9][\w.]*)
  | (?P<var>\$\w*(?:\.[^\W\d]\w*)*)
  | (?P<field>(?:\.[^\W\d]\w*)+)
  | (?P<dot>\.(?![\w.]))
  | (?P<ident>[^\W\d]\w*)
""", re.X)


@dataclass(frozen=True)
class _Tok:
    kind: str
    text: str


@dataclass
class _Action:
    tokens: list[_Tok]
    source: str       # the action as written, {{ }} included, for messages


def _lex(text: str) -> list[str | _Action]:
    """Text pieces (trimmed as {{- and -}} ask) and actions; comments are dropped."""
    items: list[str | _Action] = []
    pos, trim_next = 0, False
    while True:
        start = text.find("{{", pos)
        chunk = text[pos:] if start < 0 else text[pos:start]
        if trim_next:
            chunk = chunk.lstrip(_SPACE)
        if start < 0:
            if chunk:
                items.append(chunk)
            return items
        inner = start + 2
        if text.startswith("-", inner) and text[inner + 1:inner + 2] in tuple(_SPACE):
            chunk = chunk.rstrip(_SPACE)
            inner += 2
        if chunk:
            items.append(chunk)
        if text.startswith("/*", inner):
            close = text.find("*/", inner + 2)
            if close < 0:
                raise TemplateError("unclosed comment")
            after = close + 2
            if text.startswith("}}", after):
                pos, trim_next = after + 2, False
            elif text[after:after + 1] in tuple(_SPACE) and text.startswith("-}}", after + 1):
                pos, trim_next = after + 4, True
            else:
                raise TemplateError("comment ends before closing delimiter")
            continue
        tokens: list[_Tok] = []
        p = inner
        while True:
            if p >= len(text):
                raise TemplateError(f"unclosed action {text[start:]!r}")
            if text.startswith("}}", p):
                end, trim_next = p + 2, False
                break
            if text[p] in _SPACE and text.startswith("-}}", p + 1):
                end, trim_next = p + 4, True
                break
            if text[p] in _SPACE:
                p += 1
                continue
            m = _TOKEN.match(text, p)
            if m is None:
                what = ("numbers" if text[p] in "0123456789+-" else
                        "character constants" if text[p] == "'" else None)
                if what:
                    raise Unsupported(f"unsupported: preview does not evaluate {what} "
                                        f"(in {text[start:p + 1]}...)")
                raise TemplateError(f"unexpected {text[p]!r} in action {text[start:p + 1]}...")
            kind = m.lastgroup or ""
            if kind == "num" and not _int_constant(m.group(kind)):
                raise Unsupported(f"unsupported: preview evaluates decimal integers only "
                                    f"(in {text[start:m.end()]}...)")
            tokens.append(_Tok(kind, m.group(kind)))
            p = m.end()
        items.append(_Action(tokens, text[start:end]))
        pos = end


_INT64 = range(-(1 << 63), 1 << 63)


def _int_constant(text: str) -> bool:
    """A constant Go reads as the int ``int(text)``: no 0x/0o/0b prefix, no leading 0 (octal
    in Go), no '_', '.', exponent or 'i'; within int64."""
    return re.fullmatch(r"[+-]?(?:0|[1-9][0-9]*)", text) is not None and int(text) in _INT64


_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v",
            "\\": "\\", '"': '"'}
_ESCAPE = re.compile(r"\\(?:([abfnrtv\\\"])|x([0-9A-Fa-f]{2})|u([0-9A-Fa-f]{4})"
                     r"|U([0-9A-Fa-f]{8})|([0-7]{3})|(.))", re.S)


def _unquote(tok: _Tok) -> str:
    """A Go string literal's value (strconv.Unquote); byte escapes must form valid UTF-8."""
    if tok.kind == "raw":
        return tok.text[1:-1].replace("\r", "")

    def sub(m: re.Match[str]) -> str:
        simple, hex2, hex4, hex8, octal, bad = m.groups()
        if bad is not None:
            raise TemplateError(f"invalid escape \\{bad} in string {tok.text}")
        if simple:
            return _ESCAPES[simple]
        if hex2 or octal:
            code = int(hex2, 16) if hex2 else int(octal, 8)
            if code > 0x7F:
                raise Unsupported(f"unsupported: byte escape in string {tok.text}")
            return chr(code)
        return chr(int(hex4 or hex8, 16))

    return _ESCAPE.sub(sub, tok.text[1:-1])


# ---------------------------------------------------------------- parsing

# Operands: ("field", names), ("var", name, names), ("dot",), ("str", value, quoted),
# ("num", int, text), ("bool", b), ("nil",), ("func", name), ("pipe", _Pipe).
Operand = tuple[Any, ...]


@dataclass
class _Pipe:
    decl: str | None = None          # the variable set by the pipeline, if any
    assign: bool = False             # `=` (set an existing variable) rather than `:=`
    cmds: list[list[Operand]] = field(default_factory=list)


@dataclass
class _Print:
    pipe: _Pipe
    source: str


@dataclass
class _Control:
    kind: str                        # "if" or "with"
    pipe: _Pipe
    source: str
    body: list[Any]
    orelse: list[Any] | None


_UNSUPPORTED_KEYWORDS = {"range", "define", "template", "block", "break", "continue"}




class _Parser:
    def __init__(self, items: list[str | _Action]):
        self.items = items
        self.pos = 0
        self.vars: list[str] = ["$"]

    def parse(self) -> list[Any]:
        nodes, stop = self.list()
        if stop is not None:
            raise TemplateError(f"unexpected {stop.source}")
        return nodes

    def list(self) -> tuple[list[Any], _Action | None]:
        """Nodes up to an {{end}} or {{else ...}} (returned) or the end of the text."""
        nodes: list[Any] = []
        while self.pos < len(self.items):
            item = self.items[self.pos]
            self.pos += 1
            if isinstance(item, str):
                nodes.append(item)
                continue
            toks = item.tokens
            if not toks:
                raise TemplateError(f"missing value for command in {item.source}")
            word = toks[0].text if toks[0].kind == "ident" else ""
            if word in ("end", "else"):
                return nodes, item
            if word in ("if", "with"):
                nodes.append(self.control(word, toks[1:], item))
            elif word in _UNSUPPORTED_KEYWORDS:
                raise Unsupported(f"unsupported: preview does not evaluate {{{{{word}}}}} "
                                    f"(in {item.source}); it understands {SUPPORTED}")
            else:
                nodes.append(_Print(self.pipeline(toks, item, decl_ok=True), item.source))
        return nodes, None

    def control(self, kind: str, toks: list[_Tok], item: _Action) -> _Control:
        mark = len(self.vars)
        try:
            pipe = self.pipeline(toks, item, decl_ok=True)
            body, stop = self.list()
            orelse: list[Any] | None = None
            if stop is not None and stop.tokens[0].text == "else":
                rest = stop.tokens[1:]
                if rest and rest[0].kind == "ident" and rest[0].text in ("if", "with"):
                    # {{else if x}} ... {{end}}: an {{if}} in the else part, sharing the end
                    orelse = [self.control(rest[0].text, rest[1:], stop)]
                    return _Control(kind, pipe, item.source, body, orelse)
                if rest:
                    raise TemplateError(f"unexpected {rest[0].text!r} in {stop.source}")
                orelse, stop = self.list()
                if stop is not None and stop.tokens[0].text == "else":
                    raise TemplateError(f"expected end; found {stop.source}")
            if stop is None:
                raise TemplateError(f"unexpected EOF: {item.source} has no {{{{end}}}}")
            if len(stop.tokens) > 1:
                raise TemplateError(f"unexpected {stop.tokens[1].text!r} in {stop.source}")
            return _Control(kind, pipe, item.source, body, orelse)
        finally:
            del self.vars[mark:]

    def pipeline(self, toks: list[_Tok], item: _Action, decl_ok: bool) -> _Pipe:
        pipe = _Pipe()
        if (decl_ok and len(toks) >= 2 and toks[0].kind == "var" and "." not in toks[0].text
                and toks[1].kind in ("decl", "assign", "comma")):
            if toks[1].kind == "comma":
                raise Unsupported(f"unsupported: two variables outside range in "
                                    f"{item.source}")
            name = toks[0].text
            pipe.decl, pipe.assign = name, toks[1].kind == "assign"
            if pipe.assign and name not in self.vars:
                raise TemplateError(f'undefined variable "{name}" in {item.source}')
            toks = toks[2:]
            if not pipe.assign:
                self.vars.append(name)   # as Go's parser: in scope from here on
        pos = 0
        cmd: list[Operand] = []
        while pos < len(toks):
            tok = toks[pos]
            pos += 1
            if tok.kind == "pipe":
                if not cmd:
                    raise TemplateError(f"missing command before '|' in {item.source}")
                pipe.cmds.append(cmd)
                cmd = []
            elif tok.kind == "lparen":
                depth, end = 1, pos
                while end < len(toks) and depth:
                    depth += {"lparen": 1, "rparen": -1}.get(toks[end].kind, 0)
                    end += 1
                if depth:
                    raise TemplateError(f"unclosed left paren in {item.source}")
                inner = self.pipeline(toks[pos:end - 1], item, decl_ok=False)
                if end < len(toks) and toks[end].kind == "field":
                    raise Unsupported(f"unsupported: a field of a parenthesized pipeline "
                                        f"in {item.source}")
                cmd.append(("pipe", inner))
                pos = end
            else:
                cmd.append(self.operand(tok, item))
        if not cmd:
            raise TemplateError(f"missing value for command in {item.source}")
        pipe.cmds.append(cmd)
        return pipe

    def operand(self, tok: _Tok, item: _Action) -> Operand:
        if tok.kind == "field":
            return ("field", tuple(tok.text[1:].split(".")))
        if tok.kind == "dot":
            return ("dot",)
        if tok.kind == "var":
            name, *names = tok.text.split(".")
            if name not in self.vars:
                raise TemplateError(f'undefined variable "{name}" in {item.source}')
            return ("var", name, tuple(names))
        if tok.kind in ("str", "raw"):
            return ("str", _unquote(tok), tok.text)
        if tok.kind == "num":
            return ("num", int(tok.text), tok.text)
        if tok.kind == "ident":
            if tok.text in ("true", "false"):
                return ("bool", tok.text == "true")
            if tok.text == "nil":
                return ("nil",)
            if tok.text in FUNCTIONS:
                return ("func", tok.text)
            if tok.text not in ARGO_CD_FUNCTIONS:
                raise TemplateError(f'function "{tok.text}" not defined in {item.source}')
            raise Unsupported(f"unsupported function {tok.text!r} in {item.source}: preview "
                              f"understands {SUPPORTED}")
        raise TemplateError(f"unexpected {tok.text!r} in {item.source}")


@lru_cache(maxsize=512)
def parse(text: str) -> tuple[Any, ...]:
    """The template's nodes; TemplateError when Go would not parse it or it is unsupported."""
    return tuple(_Parser(_lex(text)).parse())


# ---------------------------------------------------------------- execution

_NO_FINAL = object()   # no value piped in from a previous command


def go_type(value: Any) -> str:
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, str):
        return "string"
    if isinstance(value, int):
        return "int"
    if isinstance(value, StrMap):
        return "map[string]string"
    if isinstance(value, Mapping):
        return "map[string]interface {}"
    if isinstance(value, (list, tuple)):
        return "[]interface {}"
    return type(value).__name__


def go_print(value: Any) -> str:
    """fmt.Fprint of a value as text/template prints it."""
    if value is None:
        return "<no value>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Mapping):
        return "map[" + " ".join(f"{k}:{_inner(value[k])}" for k in sorted(value)) + "]"
    if isinstance(value, (list, tuple)):
        return "[" + " ".join(_inner(v) for v in value) + "]"
    return str(value)


def _inner(value: Any) -> str:
    return "<nil>" if value is None else go_print(value)


def truth(value: Any) -> bool:
    """text/template's isTrue: false for nil, "", empty maps and lists, false and 0."""
    if value is None:
        return False
    if isinstance(value, (str, Mapping, list, tuple)):
        return len(value) > 0
    return bool(value)


def index(item: Any, keys: Sequence[Any]) -> Any:
    """The builtin ``index``: item[k1][k2]...; a missing map key gives the zero value."""
    if item is None:
        raise TemplateError("error calling index: index of untyped nil")
    for key in keys:
        if item is None:
            raise TemplateError("error calling index: index of nil pointer")
        if isinstance(item, Mapping):
            if key is None:
                raise TemplateError("error calling index: value is nil; should be of type "
                                    "string")
            if not isinstance(key, str):
                raise TemplateError(f"error calling index: value has type {go_type(key)}; "
                                    "should be string")
            item = item[key] if key in item else ("" if isinstance(item, StrMap) else None)
        elif isinstance(item, (str, list, tuple)):
            what = "nil" if key is None else f"type {go_type(key)}"
            raise TemplateError(f"error calling index: cannot index slice/array with {what}")
        else:
            raise TemplateError(f"error calling index: can't index item of type "
                                f"{go_type(item)}")
    return item


class _State:
    def __init__(self, data: Any, missing: str):
        self.vars: list[tuple[str, Any]] = [("$", data)]
        self.missing = missing
        self.out: list[str] = []

    def walk(self, nodes: Sequence[Any], dot: Any) -> None:
        for node in nodes:
            if isinstance(node, str):
                self.out.append(node)
            elif isinstance(node, _Print):
                value = self.at(node.source, self.pipeline, node.pipe, dot)
                if node.pipe.decl is None:
                    self.out.append(go_print(value))
            else:
                mark = len(self.vars)
                value = self.at(node.source, self.pipeline, node.pipe, dot)
                if truth(value):
                    self.walk(node.body, value if node.kind == "with" else dot)
                elif node.orelse is not None:
                    self.walk(node.orelse, dot)
                del self.vars[mark:]

    @staticmethod
    def at(source: str, fn: Any, *args: Any) -> Any:
        """fn(*args), its TemplateError naming the action (only pipelines are evaluated
        here, never nested actions, so each error is located once)."""
        try:
            return fn(*args)
        except TemplateError as exc:
            raise type(exc)(f"{exc} in {source}") from None

    def pipeline(self, pipe: _Pipe, dot: Any) -> Any:
        value: Any = _NO_FINAL
        for cmd in pipe.cmds:
            value = self.command(cmd, dot, value)
        if pipe.decl is not None:
            if pipe.assign:
                for i in range(len(self.vars) - 1, -1, -1):
                    if self.vars[i][0] == pipe.decl:
                        self.vars[i] = (pipe.decl, value)
                        break
                else:
                    raise TemplateError(f"undefined variable: {pipe.decl}")
            else:
                self.vars.append((pipe.decl, value))
        return value

    def command(self, cmd: list[Operand], dot: Any, final: Any) -> Any:
        first, args = cmd[0], cmd[1:]
        if first[0] == "func" and first[1] in _SPRIG:
            return self.call(first[1], args, dot, final)
        if first[0] == "func":
            values = [self.arg(a, dot) for a in args]
            if final is not _NO_FINAL:
                values.append(final)
            if not values:
                raise TemplateError("wrong number of args for index: want at least 1 got 0")
            return index(values[0], values[1:])
        if args or final is not _NO_FINAL:
            if first[0] in ("field", "var") and (first[0] == "field" or first[2]):
                names = first[1] if first[0] == "field" else first[2]
                raise TemplateError(f"{names[-1]} is not a method but has arguments")
            raise TemplateError("can't give argument to non-function")
        if first[0] == "nil":
            raise TemplateError("nil is not a command")
        return self.arg(first, dot)

    def call(self, name: str, args: list[Operand], dot: Any, final: Any) -> Any:
        """A Sprig function, its arguments checked as evalCall and evalArg check them."""
        types, fn = _SPRIG[name]
        given = len(args) + (final is not _NO_FINAL)
        if given != len(types):
            raise TemplateError(f"wrong number of args for {name}: want {len(types)} got "
                                f"{given}")
        values = [self.typed_arg(a, dot, t) for a, t in zip(args, types, strict=False)]
        if final is not _NO_FINAL:
            values.append(_assignable(final, types[-1]))
        return fn(*values)

    def typed_arg(self, operand: Operand, dot: Any, typ: str) -> Any:
        kind = operand[0]
        if kind == "nil":
            raise TemplateError(f"cannot assign nil to {typ}")
        if kind in ("str", "num", "bool"):
            # a constant: only one of the parameter's kind will do (evalString, evalInteger)
            want = {"string": "str", "int": "num"}[typ]
            if kind != want:
                found = operand[2] if kind != "bool" else go_print(operand[1])
                what = "integer" if typ == "int" else typ
                raise TemplateError(f"expected {what}; found {found}")
            return operand[1]
        return _assignable(self.arg(operand, dot), typ)

    def arg(self, operand: Operand, dot: Any) -> Any:
        kind = operand[0]
        if kind == "field":
            return self.fields(dot, operand[1])
        if kind == "var":
            return self.fields(self.variable(operand[1]), operand[2])
        if kind == "dot":
            return dot
        if kind in ("str", "num", "bool"):
            return operand[1]
        if kind == "nil":
            return None
        if kind == "pipe":
            return self.pipeline(operand[1], dot)
        return self.command([operand], dot, _NO_FINAL)  # a function without arguments

    def variable(self, name: str) -> Any:
        for var, value in reversed(self.vars):
            if var == name:
                return value
        raise TemplateError(f"undefined variable: {name}")

    def fields(self, receiver: Any, names: Sequence[str]) -> Any:
        for i, name in enumerate(names):
            if receiver is None:
                if i > 0 and self.missing == "zero":
                    # a map[string]interface{}'s zero value is a nil interface, not nothing
                    raise TemplateError(f"nil pointer evaluating interface {{}}.{name}")
                if self.missing == "error":
                    raise TemplateError(f'nil data; no entry for key "{name}"')
                return None
            if not isinstance(receiver, Mapping):
                raise TemplateError(f"can't evaluate field {name} in type {go_type(receiver)}")
            if name in receiver:
                receiver = receiver[name]
            elif self.missing == "error":
                raise TemplateError(f'map has no entry for key "{name}"')
            elif self.missing == "zero" and isinstance(receiver, StrMap):
                receiver = ""
            else:
                if self.missing != "zero":
                    return None  # an invalid value: the rest of the chain gives nothing
                receiver = None
        return receiver


def _assignable(value: Any, typ: str) -> Any:
    """validateType: nil is no string or int; an interface value must hold the type."""
    if value is None:
        raise TemplateError(f"invalid value; expected {typ}")
    ok = isinstance(value, str) if typ == "string" else (
        isinstance(value, int) and not isinstance(value, bool))
    if not ok:
        raise TemplateError(f"wrong type for value; expected {typ}; got {go_type(value)}")
    return value


def _missing(options: Sequence[str]) -> str:
    missing = "invalid"
    for opt in options:
        key, _, value = opt.partition("=")
        if key != "missingkey" or value not in ("invalid", "default", "zero", "error"):
            raise TemplateError(f"unrecognized option: {opt}")
        missing = "invalid" if value == "default" else value
    return missing


def render(text: str, data: Any, options: Sequence[str] = ()) -> str:
    """Execute ``text`` on ``data`` as Go's text/template would with ``Option(options...)``."""
    missing = _missing(options)
    state = _State(data, missing)
    state.walk(parse(text), data)
    return "".join(state.out)
