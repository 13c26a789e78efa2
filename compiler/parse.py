"""Parse stage: source text → ``model.Module`` plus syntax diagnostics.

The Lark parser is built lazily on first use and cached for the process. A file that parses
cleanly costs one parse; a file with errors is re-parsed declaration by declaration so that
every broken declaration is reported and every intact one still reaches the checker.
"""

from __future__ import annotations

import dataclasses
import os
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from lark import Lark, Token, Tree
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from . import model as m
from .diagnostics import Diagnostic, Span, error

DECL_KEYWORDS = ("import", "const", "gitops", "registry", "image", "environment", "app",
                 "promotion", "policy", "use", "waive")
_DECL_START = re.compile(
    r"^(?:{})\b(?![ \t]*[=:.\]\),])".format("|".join(DECL_KEYWORDS)), re.MULTILINE)


@lru_cache(maxsize=1)
def parser() -> Lark:
    """The LALR parser, built once per process; the built tables are cached on disk.

    Building the tables costs more than checking a small project, so they are kept in the
    user's cache folder (never in site-packages), keyed by grammar text and Lark version.
    A cache that cannot be written or read is simply not used.
    """
    import hashlib

    import lark

    text = resources.files("setlist.grammar").joinpath("setlist.lark").read_text("utf-8")
    digest = hashlib.sha256(f"{lark.__version__}\0{text}".encode()).hexdigest()[:16]
    cache: str | bool = False
    folder = _cache_dir()
    if folder is not None:
        cache = os.path.join(folder, f"grammar-{digest}.lark-cache")
    options = dict(parser="lalr", lexer="contextual", propagate_positions=True,
                   maybe_placeholders=False, start=["start", "expr"])
    try:
        return Lark(text, cache=cache, **options)
    except Exception:  # a corrupt or unreadable cache file: build without it
        return Lark(text, cache=False, **options)


def _cache_dir() -> str | None:
    if os.environ.get("SETLIST_NO_CACHE"):
        return None
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    folder = os.path.join(base, "setlist")
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError:
        return None
    return folder if os.access(folder, os.W_OK) else None


@dataclass
class _Offset:
    """Where a parsed fragment sits in its file (fragments: declarations, interpolations)."""

    line: int = 0      # added to every line
    column: int = 0    # added to columns on the fragment's first line only
    pos: int = 0       # added to every character offset


def parse_source(text: str, file: str) -> tuple[m.Module, list[Diagnostic]]:
    """Parse one file. Never raises for bad input: problems come back as diagnostics."""
    comments: list[Token] = []
    diags: list[Diagnostic] = []
    try:
        tree = _parse(text, "start", comments)
        builder = _Builder(file, text, _Offset(), diags)
        decls = builder.decls(tree)
    except UnexpectedInput:
        comments.clear()
        decls = []
        for start, end in _chunks(text):
            chunk = text[start:end]
            offset = _Offset(line=text.count("\n", 0, start), pos=start)
            tree, errors = _parse_recovering(chunk, file, offset, text,
                                             end if end < len(text) else None)
            diags.extend(errors)
            if tree is not None:
                built = _Builder(file, text, offset, diags).decls(tree)
                if errors:
                    built = [dataclasses.replace(d, recovered=True) for d in built]
                decls.extend(built)
            chunk_comments: list[Token] = []
            _parse_comments_only(chunk, chunk_comments)
            comments.extend(_shift_token(t, offset) for t in chunk_comments)
    module_comments = tuple(
        m.Comment(span=_token_span(file, t, _Offset()), text=str(t)) for t in comments)
    decls = _attach_docs(decls, module_comments, text)
    return m.Module(file=file, decls=tuple(decls), comments=module_comments), diags


MAX_ERRORS_PER_DECLARATION = 8
_CLOSERS = {"RBRACE", "RSQB", "RPAR", "$END"}


def _parse_recovering(chunk: str, file: str, off: _Offset, full: str,
                      next_decl: int | None = None) -> tuple[Tree | None, list[Diagnostic]]:
    """Parse one declaration, blanking each broken line and retrying, to report every
    independent mistake. A later error that is only a closing bracket or the end of the
    text is most likely a consequence of the blanking, so it ends the recovery silently.
    The declaration is kept (marked recovered) when it parses after blanking.
    """
    errors: list[Diagnostic] = []
    text = chunk
    header_line = _first_code_line(chunk)
    for _ in range(MAX_ERRORS_PER_DECLARATION):
        try:
            return parser().parse(text, start="start"), errors
        except UnexpectedInput as exc:
            token = getattr(exc, "token", None)
            if errors and token is not None and token.type in _CLOSERS:
                return None, errors
            errors.append(_syntax_error(exc, text, file, off, full, next_decl=next_decl))
            line = exc.line if exc.line and exc.line > 0 else 0
            if token is not None and token.type == "$END" or line <= header_line:
                return None, errors
            text = _blank_line(text, line)
    return None, errors


def _first_code_line(text: str) -> int:
    for number, line in enumerate(text.split("\n"), start=1):
        stripped = line.strip()
        if stripped and not stripped.startswith("//"):
            return number
    return 1


def _blank_line(text: str, line: int) -> str:
    """Replace a line's characters with spaces, keeping every offset of the text."""
    lines = text.split("\n")
    lines[line - 1] = " " * len(lines[line - 1])
    return "\n".join(lines)


def _parse(text: str, start: str, comments: list[Token]) -> Tree:
    # Comments are collected by a cheap second scan (a regex that skips strings) rather than
    # lexer callbacks, which are fixed when the cached parser is built.
    tree = parser().parse(text, start=start)
    _parse_comments_only(text, comments)
    return tree


_COMMENT_SCAN = re.compile(r'"(?:[^"\\\n]|\\.)*"?|//[^\n]*')


def _parse_comments_only(text: str, out: list[Token]) -> None:
    if "//" not in text:
        return
    line = 1
    last = 0
    for match in _COMMENT_SCAN.finditer(text):
        if not match.group().startswith("//"):
            continue
        start = match.start()
        line += text.count("\n", last, start)
        last = start
        column = start - (text.rfind("\n", 0, start) + 1) + 1
        out.append(Token("COMMENT", match.group(), start_pos=start, line=line, column=column,
                         end_line=line, end_column=column + len(match.group()),
                         end_pos=match.end()))


def _shift_token(tok: Token, off: _Offset) -> Token:
    return Token(tok.type, str(tok), start_pos=tok.start_pos + off.pos, line=tok.line + off.line,
                 column=tok.column, end_line=tok.end_line + off.line, end_column=tok.end_column,
                 end_pos=tok.end_pos + off.pos)


def _chunks(text: str) -> list[tuple[int, int]]:
    """Split at lines that start (in column 1) with a declaration keyword."""
    starts = [mt.start() for mt in _DECL_START.finditer(text)]
    if not starts or starts[0] != 0:
        starts.insert(0, 0)
    ends = starts[1:] + [len(text)]
    return list(zip(starts, ends, strict=False))


def _attach_docs(decls: list, comments: tuple[m.Comment, ...], text: str) -> list:
    """A run of whole-line comments directly above a declaration is its documentation."""
    if not comments:
        return decls
    by_line = {}
    for c in comments:
        line_start = text.rfind("\n", 0, c.span.start) + 1
        if text[line_start:c.span.start].strip() == "":
            by_line[c.span.line] = c.text
    out = []
    for d in decls:
        line = d.span.line - 1
        doc_lines = []
        while line in by_line:
            doc_lines.append(by_line[line])
            line -= 1
        if doc_lines:
            body = [re.sub(r"^//+ ?", "", t) for t in reversed(doc_lines)]
            d = dataclasses.replace(d, doc="\n".join(body).strip())
        out.append(d)
    return out


# ---------------------------------------------------------------- tree → model


class _Builder:
    def __init__(self, file: str, text: str, off: _Offset, diags: list[Diagnostic]) -> None:
        self.file = file
        self.text = text
        self.off = off
        self.diags = diags

    # spans -------------------------------------------------------------------------
    def span(self, node: Tree | Token) -> Span:
        if isinstance(node, Token):
            return _token_span(self.file, node, self.off)
        meta = node.meta
        off = self.off
        return Span(file=self.file, line=meta.line + off.line,
                    column=meta.column + (off.column if meta.line == 1 else 0),
                    end_line=meta.end_line + off.line,
                    end_column=meta.end_column + (off.column if meta.end_line == 1 else 0),
                    start=meta.start_pos + off.pos, end=meta.end_pos + off.pos)

    # declarations -------------------------------------------------------------------
    def decls(self, tree: Tree) -> list:
        out = []
        for child in tree.children:
            method = getattr(self, child.data)
            out.append(method(child))
        return out

    def import_decl(self, t: Tree):
        path = self.string(t.children[0])
        alias = t.children[1] if len(t.children) > 1 else None
        return m.Import(span=self.span(t), path=path, name=str(alias) if alias else "",
                        name_span=self.span(alias) if alias else None)

    def const_decl(self, t: Tree):
        name, value = t.children
        return m.Const(span=self.span(t), name=str(name), name_span=self.span(name),
                       value=self.expr(value))

    def _block(self, t: Tree, kind: str, named: bool = True):
        whole = self.span(t)
        kw_span = whole.model_copy(update={"end_line": whole.line,
                                           "end_column": whole.column + len(kind),
                                           "end": whole.start + len(kind)})
        if named:
            name, body = t.children
        else:
            name, body = None, t.children[-1]
            kw_span = self.span(t.children[0])
        fields, freezes = [], []
        for item in body.children:
            if item.data == "field":
                fields.append(self.field(item))
            else:
                freezes.append(self.freeze(item))
        return m.Block(span=self.span(t), block=kind, name=str(name) if name else kind,
                       name_span=self.span(name) if name else kw_span,
                       keyword_span=kw_span, fields=tuple(fields), freezes=tuple(freezes))

    def gitops_decl(self, t):
        return self._block(t, "gitops", named=False)

    def registry_decl(self, t):
        return self._block(t, "registry")

    def image_decl(self, t):
        return self._block(t, "image")

    def environment_decl(self, t):
        return self._block(t, "environment")

    def app_decl(self, t):
        return self._block(t, "app")

    def field(self, t: Tree) -> m.FieldNode:
        name, value = t.children
        return m.FieldNode(span=self.span(t), name=str(name), name_span=self.span(name),
                           value=self.expr(value))

    def freeze(self, t: Tree) -> m.Freeze:
        parts = [self.expr(c) for c in t.children]
        return m.Freeze(span=self.span(t), cron=parts[0], duration=parts[1],
                        tz=parts[2] if len(parts) > 2 else None)

    def promotion_decl(self, t: Tree):
        name, *rules = t.children
        return m.Promotion(span=self.span(t), name=self.dotted(name), name_span=self.span(name),
                           rules=tuple(self.promotion_rule(r) for r in rules))

    def dotted(self, t: Tree) -> str:
        """``env`` or ``module.env``: a reference kept as text, resolved by the checker."""
        return ".".join(str(c) for c in t.children)

    def promotion_rule(self, t: Tree) -> m.PromotionRule:
        stage, source, *rest = t.children
        after = None
        gates = [self.expr(r) for r in rest]
        # "after" is anonymous; the first trailing expression follows it when a duration
        # clause exists, which the source text tells unambiguously.
        if gates and re.match(r"\s*after\b", self.text[self.span(source).end:]):
            after = gates.pop(0)
        return m.PromotionRule(span=self.span(t), stage=self.dotted(stage),
                               stage_span=self.span(stage), source=self.dotted(source),
                               source_span=self.span(source), after=after, gates=tuple(gates))

    def policy_decl(self, t: Tree):
        name, *rest = t.children
        params: tuple[m.Param, ...] = ()
        if rest and isinstance(rest[0], Tree) and rest[0].data == "params":
            params = tuple(self.param(p) for p in rest[0].children)
            rest = rest[1:]
        return m.Policy(span=self.span(t), name=str(name), name_span=self.span(name),
                        params=params, body=tuple(self.policy_stmt(s) for s in rest))

    def param(self, t: Tree) -> m.Param:
        name, *rest = t.children
        type_ = None
        default = None
        for r in rest:
            if isinstance(r, Tree) and r.data == "type_ref":
                type_ = self.type_ref(r)
            else:
                default = self.expr(r)
        return m.Param(span=self.span(t), name=str(name), type=type_, default=default)

    def type_ref(self, t: Tree) -> str:
        name, *inner = t.children
        return f"{name}[{self.type_ref(inner[0])}]" if inner else str(name)

    def policy_stmt(self, t: Tree):
        if t.data == "field":
            return m.PolicyField(span=self.span(t), field=self.field(t))
        if t.data == "for_stmt":
            var, iterable, *rest = t.children
            where = None
            body = []
            for r in rest:
                if isinstance(r, Tree) and r.data in ("field", "for_stmt", "require_stmt",
                                                      "deny_stmt"):
                    body.append(self.policy_stmt(r))
                else:
                    where = self.expr(r)
            return m.ForStmt(span=self.span(t), var=str(var), var_span=self.span(var),
                             iterable=self.expr(iterable), where=where, body=tuple(body))
        cond, message = t.children
        return m.Require(span=self.span(t), stmt="require" if t.data == "require_stmt" else "deny",
                         condition=self.expr(cond), message=self.expr(message))

    def use_decl(self, t: Tree):
        return m.Use(span=self.span(t), target=self.expr(t.children[0]))

    def waive_decl(self, t: Tree):
        target, *rest = t.children
        kind = name = None
        if len(rest) == 4:
            kind, name, until, reason = rest
        else:
            until, reason = rest
        return m.Waive(span=self.span(t), target=self.expr(target),
                       scope_kind=str(kind) if kind else None,
                       scope_kind_span=self.span(kind) if kind else None,
                       scope_name=str(name) if name else None,
                       scope_name_span=self.span(name) if name else None,
                       until=m.Date(span=self.span(until), text=str(until)),
                       reason=self.string(reason))

    # expressions --------------------------------------------------------------------
    def expr(self, t: Tree | Token):
        if isinstance(t, Token):  # a bare terminal reached through an inlined rule
            return self.token_expr(t)
        return getattr(self, "e_" + t.data)(t)

    def token_expr(self, tok: Token):
        kind = tok.type
        span = self.span(tok)
        if kind == "NAME":
            return m.Name(span=span, name=str(tok))
        if kind == "STRING":
            return self.string(tok)
        if kind == "INT":
            return m.Int(span=span, value=int(tok))
        if kind == "DURATION":
            return m.Duration(span=span, text=str(tok))
        if kind == "DATE":
            return m.Date(span=span, text=str(tok))
        if kind == "REGEX":
            return m.Regex(span=span, pattern=str(tok)[1:-1].replace("\\/", "/"))
        raise AssertionError(f"unexpected terminal {kind}")

    def e_name(self, t):
        return self.token_expr(t.children[0])

    e_string = e_int = e_duration = e_date = e_regex = e_name

    def e_true(self, t):
        return m.Bool(span=self.span(t), value=True)

    def e_false(self, t):
        return m.Bool(span=self.span(t), value=False)

    def e_none(self, t):
        return m.NoneLit(span=self.span(t))

    def e_list(self, t):
        return m.ListExpr(span=self.span(t), items=tuple(self.expr(c) for c in t.children))

    def e_map(self, t):
        entries = []
        for e in t.children:
            key, value = e.children
            key_text = self.string(key).text if key.type == "STRING" else str(key)
            entries.append(m.Entry(span=self.span(e), key=key_text, key_span=self.span(key),
                                   value=self.expr(value)))
        return m.MapExpr(span=self.span(t), entries=tuple(entries))

    def e_attr(self, t):
        value, attr = t.children
        return m.Attr(span=self.span(t), value=self.expr(value), attr=str(attr),
                      attr_span=self.span(attr))

    def e_index(self, t):
        value, index = t.children
        return m.Index(span=self.span(t), value=self.expr(value), index=self.expr(index))

    def e_call(self, t):
        func, *rest = t.children
        args, kwargs = [], []
        if rest:
            for a in rest[0].children:
                if isinstance(a, Tree) and a.data == "kwarg":
                    name, value = a.children
                    kwargs.append(m.KwArg(span=self.span(a), name=str(name),
                                          name_span=self.span(name), value=self.expr(value)))
                else:
                    args.append(self.expr(a))
        return m.Call(span=self.span(t), func=self.expr(func), args=tuple(args),
                      kwargs=tuple(kwargs))

    def _binary(self, t, op: str, op_span: Span | None = None):
        left, *mid, right = t.children
        if op_span is None:
            op_span = self._op_span(t, op)
        return m.Binary(span=self.span(t), op=op, op_span=op_span, left=self.expr(left),
                        right=self.expr(right))

    def _op_span(self, t: Tree, op: str) -> Span:
        left = self.span(t.children[0])
        right = self.span(t.children[-1])
        between = self.text[left.end:right.start]
        idx = between.find(op.split()[0])
        start = left.end + max(idx, 0)
        line = left.end_line + between.count("\n", 0, max(idx, 0))
        col_base = self.text.rfind("\n", 0, start) + 1
        column = start - col_base + 1
        return Span(file=self.file, line=line, column=column, end_line=line,
                    end_column=column + len(op), start=start, end=start + len(op))

    def e_or_(self, t):
        return self._binary(t, "or")

    def e_and_(self, t):
        return self._binary(t, "and")

    def e_compare(self, t):
        op = t.children[1]
        return self._binary(t, str(op), self.span(op))

    def e_match(self, t):
        op = t.children[1]
        return self._binary(t, str(op), self.span(op))

    def e_in_(self, t):
        return self._binary(t, "in")

    def e_not_in(self, t):
        return self._binary(t, "not in")

    def e_join(self, t):
        return self._binary(t, "/")

    def e_not_(self, t):
        return m.Not(span=self.span(t), operand=self.expr(t.children[0]))

    def e_exists(self, t):
        return m.Exists(span=self.span(t), operand=self.expr(t.children[0]))

    def e_as_(self, t):
        value, alias = t.children
        return m.As(span=self.span(t), value=self.expr(value), alias=self.string(alias))

    # strings ------------------------------------------------------------------------
    def string(self, tok: Token) -> m.Str:
        span = self.span(tok)
        raw = str(tok)[1:-1]
        if "\\" not in raw and "${" not in raw:
            return m.Str(span=span, parts=(raw,) if raw else ())
        parts: list = []
        buf: list[str] = []
        i = 0
        n = len(raw)
        errors_before = len(self.diags)
        while i < n:
            ch = raw[i]
            if ch == "\\":
                decoded, width = self._escape(raw, i, span)
                buf.append(decoded)
                i += width
            elif raw.startswith("${", i):
                close = raw.find("}", i + 2)
                if close < 0:
                    self.diags.append(error(
                        _sub_span(span, i + 1, n + 1), "SL103",
                        "interpolation '${' is not closed with '}'",
                        "write '\\${' for a literal '${'"))
                    buf.append(raw[i:])
                    break
                if buf:
                    parts.append("".join(buf))
                    buf = []
                expr = self._interpolation(raw[i + 2:close], span, i + 3)
                parts.append(expr if expr is not None else m.reported(span))
                i = close + 1
            else:
                buf.append(ch)
                i += 1
        if buf:
            parts.append("".join(buf))
        if len(self.diags) > errors_before:
            parts.append(m.reported(span))
        return m.Str(span=span, parts=tuple(parts))

    _ESCAPES = {'"': '"', "\\": "\\", "n": "\n", "t": "\t", "r": "\r", "$": "$", "/": "/"}

    def _escape(self, raw: str, i: int, span: Span) -> tuple[str, int]:
        nxt = raw[i + 1] if i + 1 < len(raw) else ""
        if nxt in self._ESCAPES:
            return self._ESCAPES[nxt], 2
        if nxt == "u":
            mt = re.match(r"\\u\{([0-9a-fA-F]{1,6})\}", raw[i:])
            if mt and int(mt.group(1), 16) <= 0x10FFFF:
                return chr(int(mt.group(1), 16)), len(mt.group())
            bad = re.match(r"\\u(\{[^}\s\"]*\}?)?", raw[i:]).group()
            self.diags.append(error(
                _sub_span(span, i + 1, i + 1 + len(bad)), "SL103",
                f"'{bad}' is not a valid unicode escape",
                "write \\u{ and 1 to 6 hexadecimal digits and }, e.g. \\u{e9} for é"))
            return "", len(bad)
        self.diags.append(error(
            _sub_span(span, i + 1, i + 3), "SL103", f"unknown escape '\\{nxt}' in string",
            'known escapes: \\" \\\\ \\n \\t \\r \\$ \\u{hex}'))
        return nxt, 2

    def _interpolation(self, inner: str, span: Span, rel: int):
        if not inner.strip():
            self.diags.append(error(_sub_span(span, rel - 2, rel + 1), "SL103",
                                    "empty interpolation '${}'",
                                    "put a name inside, e.g. \"${team}\""))
            return None
        off = _Offset(line=span.line - 1, column=span.column - 1 + rel, pos=span.start + rel)
        try:
            tree = parser().parse(inner, start="expr")
        except UnexpectedInput as exc:
            self.diags.append(_syntax_error(exc, inner, self.file, off, self.text,
                                            code="SL103", what="interpolation"))
            return None
        return _Builder(self.file, self.text, off, self.diags).expr(tree)


def _token_span(file: str, tok: Token, off: _Offset) -> Span:
    return Span(file=file, line=tok.line + off.line,
                column=tok.column + (off.column if tok.line == 1 else 0),
                end_line=tok.end_line + off.line,
                end_column=tok.end_column + (off.column if tok.end_line == 1 else 0),
                start=tok.start_pos + off.pos, end=tok.end_pos + off.pos)


def _sub_span(span: Span, start: int, end: int) -> Span:
    """A part of a one-line token's span, by 0-based offsets into the token text."""
    return Span(file=span.file, line=span.line, column=span.column + start,
                end_line=span.line, end_column=span.column + end,
                start=span.start + start, end=span.start + end)


# ---------------------------------------------------------------- syntax errors

_WORDS = {
    "NAME": "a name", "STRING": "a string", "INT": "a number", "DURATION": "a duration",
    "DATE": "a date", "REGEX": "a regular expression", "COMPARE": "a comparison",
    "MATCH": "'=~'", "$END": "end of file", "_SEP": "';'",
}
_VALUE_START = {"NAME", "STRING", "INT", "DURATION", "DATE", "REGEX", "LSQB", "LBRACE", "LPAR",
                "TRUE", "FALSE", "NONE", "NOT", "EXISTS"}

# What a field's value is, in words, for "expected ... after 'deploy ='".
FIELD_NOUNS = {
    "deploy": "an environment name or a list of them", "images": "an image name or a list",
    "clusters": "a cluster selector such as cluster.env == \"prod\"",
    "strategy": "an update strategy such as semver(\"^1.2\")",
    "repository": "a repository such as ghcr / \"org/app\"", "rollout": "a list of selectors",
    "sync": "a sync policy such as automated()", "credentials": "docker_config or env(\"VAR\")",
}


def _describe_terminal(name: str) -> str:
    if name in _WORDS:
        return _WORDS[name]
    try:
        pattern = parser().get_terminal(name).pattern
    except KeyError:
        return name.lower()
    if pattern.type == "str":
        return f"'{pattern.value}'"
    return name.lower()


_OPERATORS = {"COMPARE", "MATCH", "AND", "OR", "IN", "NOT", "SLASH", "DOT", "LPAR", "LSQB", "AS"}


def _describe_expected(expected: set[str], field: str | None) -> str:
    """Expected terminals in words, likeliest first: a value, a field name or '}', and only
    then the operators that could continue the expression (collapsed into one word)."""
    words = []
    if expected & _VALUE_START and len(expected & _VALUE_START) >= 5:
        words.append(FIELD_NOUNS.get(field or "", "a value"))
        expected = expected - _VALUE_START
    at_body_level = {"RBRACE", "_SEP"} <= expected
    if "NAME" in expected:
        words.append("a field name" if at_body_level else "a name")
        expected = expected - {"NAME"}
    for closer in ("RBRACE", "RSQB", "RPAR", "COMMA", "_SEP"):
        if closer in expected:
            words.append(_describe_terminal(closer))
            expected = expected - {closer}
    operators = expected & _OPERATORS
    if len(operators) >= 3:
        expected = expected - operators
        tail = "an operator"
    else:
        tail = None
    words += sorted(_describe_terminal(e) for e in expected)
    if tail:
        words.append(tail)
    words = list(dict.fromkeys(words))
    if not words:
        return "the end of the expression"
    if len(words) > 6:
        words = words[:6] + ["…"]
    if len(words) == 1:
        return words[0]
    return ", ".join(words[:-1]) + " or " + words[-1]


def _describe_found(tok: Token) -> str:
    if tok.type == "$END":
        return "end of file"
    if tok.type == "NAME":
        return f"the name '{tok}'"
    if tok.type == "STRING":
        return f"the string {tok}"
    text = str(tok)
    if tok.type.isupper() and text.isalpha():
        return f"the keyword '{text}'"
    return f"'{text}'"


def _context(full: str, pos: int) -> tuple[str | None, str | None]:
    """The text just before ``pos`` (for "after '...'") and the field being written."""
    before = full[:pos].rstrip()
    line = before[before.rfind("\n") + 1:]
    line = _strip_comment(line).rstrip()
    field = None
    mt = re.match(r"^\s*([A-Za-z_][\w-]*)\s*=", line)
    if mt:
        field = mt.group(1)
    mt = re.search(r"([A-Za-z_][\w-]*\s*=|\S+)\s*$", line)
    after = mt.group(1) if mt else None
    if after and len(after) > 30:
        after = after[-30:]
    return after, field


LIST_FIELDS = {"deploy", "images", "rollout", "platforms", "ignore_tags", "options"}


def _missing_before_next(full: str, pos: int, file: str, want: str) -> Diagnostic:
    keyword = re.match(r"\w+", full[pos:])
    word = keyword.group() if keyword else ""
    line = full.count("\n", 0, pos) + 1
    return error(Span(file=file, line=line, column=1, end_line=line, end_column=1 + len(word),
                      start=pos, end=pos + len(word)), "SL100",
                 f"expected {want} before this declaration, found the keyword '{word}'",
                 "a '}' may be missing at the end of the declaration above")


def _gate_without_comma(full: str, pos: int, expected: set[str]) -> tuple[Span, str] | None:
    """`prod <- dev after 24h approval`: the gate reads as the start of the next rule, so
    the parser complains one token later. Find the bare word and point at it instead."""
    if {_describe_terminal(e) for e in expected} != {"'<-'"}:
        return None
    before = full[:pos].rstrip()
    line_start = before.rfind("\n") + 1
    mt = re.search(r"<-.*\s([A-Za-z_][\w-]*)$", before[line_start:])
    if not mt:
        return None
    start = line_start + mt.start(1)
    line = full.count("\n", 0, start) + 1
    column = start - line_start + 1
    word = mt.group(1)
    return (Span(file="", line=line, column=column, end_line=line,
                 end_column=column + len(word), start=start, end=start + len(word)), word)


def _strip_comment(line: str) -> str:
    """The line without a trailing `//` comment; `//` inside a string is not a comment."""
    for match in _COMMENT_SCAN.finditer(line):
        if match.group().startswith("//"):
            return line[:match.start()]
    return line


_POLICY_ONLY = {"FOR", "REQUIRE", "DENY"}


def _inside_policy(full: str, pos: int) -> bool:
    """Whether ``pos`` lies in a policy declaration (the last declaration keyword before it)."""
    return _inside(full, pos, "policy")


def _inside(full: str, pos: int, keyword: str) -> bool:
    last = None
    for match in _DECL_START.finditer(full, 0, pos):
        last = match
    return last is not None and full.startswith(keyword, last.start())


_NAMED_DECLS = {  # declaration keyword -> an example of its head, for "expected a name"
    "environment": "environment prod { ... }", "app": "app shop { ... }",
    "image": "image api { ... }", "registry": "registry ghcr { ... }",
    "policy": "policy pinned { ... }", "promotion": "promotion api { ... } (named after its image)",
    "const": "const team = \"shop\"",
}


def _token_hint(tok: Token, expected: set[str], after: str | None, field: str | None,
                full: str, pos: int) -> list[str]:
    """Hints for a few common slips, recognised by the token found and what was expected."""
    if expected == {"NAME"} and after in _NAMED_DECLS and tok.type != "NAME":
        return [f"give the {after} a name, e.g. {_NAMED_DECLS[after]}"]
    if expected == {"BECAUSE"}:
        reason = str(tok) if tok.type == "STRING" else '"REASON"'
        return [f"add 'because' before the reason: waive POLICY until DATE because {reason}"]
    if expected == {"STRING"} and after == "import" and tok.type == "NAME":
        path = re.match(r'[^\s"]+', full[pos:])
        return [f'put the path in double quotes: import "{path.group() if path else tok}"']
    if field and after and re.fullmatch(rf"{re.escape(field)}\s*=", after) \
            and len(expected & _VALUE_START) >= 5:
        example = re.search(r"such as (.+)$", FIELD_NOUNS.get(field, ""))
        if example:
            return [f"give '{field}' a value, e.g. {field} = {example.group(1)}"]
        return [f"give '{field}' a value after '=', or remove the field"]
    if tok.type == "RBRACE" and expected and all(e.lower() in DECL_KEYWORDS or e == "$END"
                                                 for e in expected):
        return ["this '}' closes nothing; remove it or check the braces above"]
    return []


def _stray_character_hint(chunk: str, pos: int, ch: str, in_promotion: bool) -> str:
    """What a character the lexer cannot start any token with was probably meant to be."""
    if ch == "-" and chunk.startswith("->", pos) and in_promotion:
        line_start = chunk.rfind("\n", 0, pos) + 1
        left = re.search(r"([\w.-]+)\s*$", chunk[line_start:pos])
        right = re.match(r"\s*([\w.-]+)", chunk[pos + 2:])
        if left and right:
            source, target = left.group(1), right.group(1)
            if target == "registry":  # 'dev -> registry': only the arrow is reversed
                source, target = target, source
            return f"promotions read TARGET <- SOURCE: write '{target} <- {source}'"
        return "promotions read TARGET <- SOURCE, e.g. prod <- staging"
    known = {"#": "comments start with '//'", "'": "strings use double quotes",
             "`": "strings use double quotes", "&": "use 'and' to combine conditions",
             "|": "use 'or' to combine conditions", "!": "use 'not' to negate a condition"}
    if ch in known:
        return known[ch]
    return f"remove the {ch!r}, or put the text in double quotes if it is part of a value"


def _syntax_error(exc: UnexpectedInput, chunk: str, file: str, off: _Offset, full: str,
                  code: str = "SL100", what: str = "",
                  next_decl: int | None = None) -> Diagnostic:
    """One syntax diagnostic. ``next_decl`` is the offset of the declaration after this
    chunk, where an unexpected end of the chunk is really noticed."""
    pos = getattr(exc, "pos_in_stream", None) or 0
    line, column = exc.line, exc.column
    if isinstance(exc, UnexpectedToken) and exc.token.type == "$END":
        pos = len(chunk.rstrip())
        line = chunk.count("\n", 0, pos) + 1
        column = pos - (chunk.rfind("\n", 0, pos) + 1) + 1
    abs_pos = pos + off.pos
    abs_line = line + off.line
    abs_col = column + (off.column if line == 1 else 0)

    def span(width: int) -> Span:
        return Span(file=file, line=abs_line, column=abs_col, end_line=abs_line,
                    end_column=abs_col + max(width, 1), start=abs_pos,
                    end=abs_pos + max(width, 1))

    prefix = f"in {what}: " if what else ""
    if isinstance(exc, UnexpectedCharacters):
        ch = chunk[pos] if pos < len(chunk) else ""
        if ch == '"':
            end = chunk.find("\n", pos)
            width = (end if end >= 0 else len(chunk)) - pos
            return error(span(width), "SL101", prefix + "string is not closed before the end "
                         "of the line", "add the closing '\"'; strings cannot span lines")
        if ch == "/":
            return error(span(1), code, prefix + "unexpected '/'",
                         "comments start with '//'; regular expressions are written /.../")
        if what:
            return error(span(1), code, prefix + f"unexpected character {ch!r}",
                         "an interpolation holds a name or a reference, e.g. ${team}; "
                         "operators are not evaluated inside strings")
        return error(span(1), "SL102", prefix + f"unexpected character {ch!r}",
                     _stray_character_hint(chunk, pos, ch, _inside(full, abs_pos, "promotion")))
    assert isinstance(exc, (UnexpectedToken, UnexpectedEOF))
    tok = getattr(exc, "token", None)
    after, field = _context(full, abs_pos)
    expected = set(getattr(exc, "expected", None) or getattr(exc, "accepts", None) or ())
    if expected & _POLICY_ONLY and not _inside_policy(full, abs_pos):
        expected -= _POLICY_ONLY  # states are shared between block and policy bodies
    want = _describe_expected(expected, field)
    where = f" after '{after}'" if after and not what else ""
    if tok is None or tok.type == "$END":
        if what:
            return error(span(1), code, prefix + f"expected {want} after '{after}'"
                         if after else prefix + f"expected {want}",
                         "an interpolation holds a name or a reference, e.g. ${team}")
        if next_decl is not None:
            return _missing_before_next(full, next_decl, file, want)
        return error(span(1), "SL104", prefix + f"unexpected end of file: expected {want}{where}",
                     "a closing '}', ']' or ')' may be missing")
    found = _describe_found(tok)
    gate = _gate_without_comma(full, abs_pos, expected)
    if gate is not None:
        return error(gate[0].model_copy(update={"file": file}), code,
                     f"expected ',' before the gate '{gate[1]}'",
                     "separate gates with ',', e.g. prod <- staging after 24h, approval")
    if tok.type == "EQUAL" and "COMPARE" in expected:
        return error(span(1), code, prefix + f"expected '==' to compare{where}, found '='",
                     "'=' sets a field; '==' compares two values")
    hints = []
    if tok.type == "EQUAL" and "EQUAL" not in expected and "COMPARE" in expected:
        hints.append("use '==' to compare")
    if str(tok) in DECL_KEYWORDS:
        hints.append("a '}' may be missing before this declaration")
    if tok.type == "COMMA" and "_SEP" in expected:
        hints.append(f"to give several values, write a list: {field} = [a, b]"
                     if field in FIELD_NOUNS and field in LIST_FIELDS else
                     "separate fields with a new line or ';'")
    for closer, text in (("RSQB", "']'"), ("RPAR", "')'"), ("RBRACE", "'}'")):
        if tok.type in _CLOSERS and tok.type != closer and closer in expected:
            hints.append(f"a closing {text} may be missing")
            break
    if tok.type == "COLON" and "EQUAL" in expected:
        hints.append("fields are set with '=', e.g. name = value")
    elif "EQUAL" in expected and after and re.fullmatch(r"[A-Za-z_][\w-]*", after):
        same_line = "\n" not in full[len(full[:abs_pos].rstrip()):abs_pos]
        value = str(tok) if same_line and tok.type in _VALUE_START else "value"
        hints.append(f"write '{after} = {value}'")
    hints.extend(_token_hint(tok, expected, after, field, full, abs_pos))
    return error(span(len(str(tok))), code, prefix + f"expected {want}{where}, found {found}",
                 *hints)
