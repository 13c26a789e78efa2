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

from lark import Lark, Token, Tree
from lark.exceptions import UnexpectedInput, UnexpectedToken

from . import model as m
from .diagnostics import Diagnostic, Span, error

DECL_KEYWORDS = ("import", "const", "gitops", "registry", "image", "environment", "app",
                 "promotion", "policy", "use", "waive")
_DECL_START = re.compile(
    r"^(?:{})\b(?![ \t]*[=:.\]\),])".format("|".join(DECL_KEYWORDS)), re.MULTILINE)


# `after` following a promotion's source, past blanks and `//` comments (which may sit on
# the source's line while `after` starts the next one).
_AFTER = re.compile(r"(?:\s|//[^\n]*)*after\b")


class WholeWords:
    """Lark post-lexer whose only job is ``always_accept``: every state of the contextual
    lexer may read a NAME. A state where no name may follow (between declarations, after
    ``import "x"``) otherwise lexes keywords alone, and ``constwave`` would read as the
    keyword ``const`` and the name ``wave``. With NAME there, a word is read whole and is a
    keyword only when it is exactly one (Lark retypes such a NAME).

    A character no terminal of the state starts makes the lexer report the terminals it
    had, NAME included even where the parser takes none; the expected set is put back to
    what the parser state takes."""

    always_accept = ("NAME",)

    def process(self, stream):
        try:
            yield from stream
        except UnexpectedToken as exc:
            state = exc.state
            if state is not None:
                exc.expected = {t for t in state.parse_conf.states[state.position]
                                if t.isupper()}
            raise


@lru_cache(maxsize=1)
def parser() -> Lark:
    """The LALR parser, built once per process; the built tables are cached on disk.

    Building the tables costs more than checking a small project, so they are kept in the
    user's cache folder (never in site-packages), keyed by grammar text and Lark version.
    A cache that cannot be written or read is simply not used.
    """
    import hashlib

    import lark

    from .packaged import grammar_file

    with open(grammar_file(), encoding="utf-8") as handle:
        text = handle.read()
    digest = hashlib.sha256(f"{lark.__version__}\0{text}".encode()).hexdigest()[:16]
    cache: str | bool = False
    folder = _cache_dir()
    if folder is not None:
        cache = os.path.join(folder, f"grammar-{digest}.lark-cache")
    options = dict(parser="lalr", lexer="contextual", propagate_positions=True,
                   maybe_placeholders=False, start=["start", "expr"], postlex=WholeWords())
    try:
        return Lark(text, cache=cache, **options)
    except Exception:  # a corrupt or unreadable cache file: build without it
        return Lark(text, cache=False, **options)


def _cache_dir() -> str | None:
    from .cache import base_folder

    return base_folder()


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
    except (UnexpectedInput, RecursionError):
        # Declaration by declaration: every broken (or too deeply nested) one is reported,
        # every intact one still reaches the checker.
        diags.clear()
        comments.clear()
        decls = []
        for start, end in _chunks(text):
            chunk = text[start:end]
            offset = _Offset(line=text.count("\n", 0, start), pos=start)
            tree, errors = _parse_recovering(chunk, file, offset, text,
                                             end if end < len(text) else None)
            diags.extend(errors)
            if tree is not None:
                try:
                    built = _Builder(file, text, offset, diags).decls(tree)
                except RecursionError:
                    diags.append(_too_deep(file, text, start))
                    built = []
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


def _too_deep(file: str, text: str, start: int) -> Diagnostic:
    line = text.count("\n", 0, start) + 1
    end = text.find("\n", start)
    width = max((end if end >= 0 else len(text)) - start, 1)
    return error(Span(file=file, line=line, column=1, end_line=line, end_column=1 + width,
                      start=start, end=start + width), "SL105",
                 "this declaration nests expressions too deeply to be read",
                 "split long chains of and/or or deeply nested lists into constants")


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
            from .syntax_errors import syntax_error  # only needed when something is wrong

            errors.append(syntax_error(exc, text, file, off, full, next_decl=next_decl))
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


def pieces(text: str) -> list[int]:
    """Offsets where a file can be cut into pieces that parse on their own: before each
    line that starts a declaration, above the `//` lines directly over it (its doc
    comment). Parsing the pieces one by one gives the file's parse when every piece parses
    without a diagnostic (a declaration is self-delimiting, and no token spans lines across
    a cut); the language server and the parse cache re-parse only pieces that changed."""
    cuts = [0]
    for found in _DECL_START.finditer(text):
        start = found.start()
        while start > 0:  # climb over the `//` lines directly above: its documentation
            above = text.rfind("\n", 0, start - 1) + 1
            if not text[above:start - 1].lstrip(" \t").startswith("//"):
                break
            start = above
        if start > cuts[-1]:
            cuts.append(start)
    return cuts


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
    lines_seen: set[int] = set()
    for d in decls:
        # Of several declarations starting on one line only the first is documented: the
        # formatter puts each on a line of its own and the comments above the first.
        first_on_line = d.span.line not in lines_seen
        lines_seen.add(d.span.line)
        line = d.span.line - 1
        doc_lines = []
        while first_on_line and line in by_line:
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
        if gates and _AFTER.match(self.text, self.span(source).end):
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

    def e_comprehension(self, t):
        item, var, iterable, *where = t.children
        return m.Comprehension(span=self.span(t), item=self.expr(item), var=str(var),
                               var_span=self.span(var), iterable=self.expr(iterable),
                               where=self.expr(where[0]) if where else None)

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
            from .syntax_errors import syntax_error

            self.diags.append(syntax_error(exc, inner, self.file, off, self.text,
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
