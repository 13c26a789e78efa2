"""Format stage: one canonical layout for ``*.setlist`` text, comments kept, meaning unchanged.

Formatting works on the parser's own tree plus a concrete token stream: every token of the
file, keywords and punctuation included, each carrying the comments in the gap before it.
The printer walks the tree and consumes the stream in step, so every comment is met exactly
where it stood. Layout is planned as a small document of text, line breaks, groups and
indentation that the renderer fits into ``WIDTH`` columns: a group goes on one line when it
fits, otherwise its line breaks become new lines.

``parse_document`` is the entry point for edits that keep the user's layout (a language
server, ``setlist new``): it gives each top-level declaration as a ``Unit`` with the comments
that belong to it and the offsets it covers, so one declaration can be replaced or inserted
and only that text formatted.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

from lark import Token, Tree
from lark.exceptions import UnexpectedInput

from .diagnostics import Diagnostic, Severity, Span, error
from .parse import parse_source, parser

WIDTH = 100  # columns (characters) a line may take
INDENT = 2


class FormatError(Exception):
    """The text does not parse, so it is not formatted; ``diagnostics`` say where and why."""

    def __init__(self, diagnostics: list[Diagnostic]) -> None:
        self.diagnostics = diagnostics
        first = diagnostics[0]
        super().__init__(f"{first.span}: {first.code}: {first.message}")


# ---------------------------------------------------------------- concrete syntax

@dataclass(frozen=True, slots=True)
class Comment:
    """A ``//`` comment, ``text`` as written."""

    text: str
    start: int
    end: int
    own_line: bool       # nothing but whitespace before it on its line
    blank_before: bool   # an empty line separates it from what comes before


@dataclass(frozen=True, slots=True)
class SourceToken:
    """One token of the file. ``kind`` is the terminal name for names, strings, numbers and
    the like, ``KEYWORD`` or ``PUNCT`` for the fixed words and marks, ``$END`` for the end."""

    kind: str
    text: str
    start: int
    end: int
    comments: tuple[Comment, ...]  # the comments between the previous token and this one
    blank_before: bool             # an empty line separates it from what comes before


@dataclass(frozen=True, slots=True)
class Unit:
    """A top-level declaration with its own-line comments above it and the comment at the
    end of its last line; ``start``/``end`` cover all of that."""

    kind: str   # import, const, gitops, registry, image, environment, app, promotion, ...
    name: str   # the declared name, "" when the declaration has none
    start: int
    end: int
    first: int  # index of its first token in Document.tokens
    last: int   # index of its last token
    tree: Tree


@dataclass(frozen=True)
class Document:
    """A parsed file: its text, the parser's tree, the token stream and the declarations."""

    text: str
    name: str
    tree: Tree
    tokens: tuple[SourceToken, ...]
    units: tuple[Unit, ...]


def format_source(text: str, name: str = "<input>") -> str:
    """The canonical form of ``text``; raises ``FormatError`` when it does not parse."""
    return format_document(parse_document(text, name))


def parse_document(text: str, name: str = "<input>") -> Document:
    """Parse ``text`` into a ``Document``; raises ``FormatError`` when it does not parse.

    Line endings are read as ``setlist check`` reads a file (CRLF and CR are newlines), so
    offsets refer to ``Document.text``, the text with LF line endings."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    try:
        tree = parser().parse(text, start="start")
    except (UnexpectedInput, RecursionError):
        _, diags = parse_source(text, name)
        raise FormatError([d for d in diags if d.severity == Severity.ERROR]
                          or [_at_start(name, "SL100", "the file does not parse")]) from None
    tokens = _tokens(text, tree)
    return Document(text=text, name=name, tree=tree, tokens=tokens,
                    units=_units(tree, tokens))


def format_document(doc: Document) -> str:
    try:
        return _Printer(doc).file(doc.tree)
    except RecursionError:
        raise FormatError([_at_start(doc.name, "SL105", "the file nests expressions too "
                                     "deeply to be formatted",
                                     "split long chains of and/or or deeply nested lists "
                                     "into constants")]) from None


@lru_cache(maxsize=1)
def _keywords() -> frozenset[str]:
    """The grammar's fixed words (``use``, ``as``, ``for``...)."""
    from lark.lexer import PatternStr

    return frozenset(t.pattern.value for t in parser().terminals
                     if isinstance(t.pattern, PatternStr) and t.pattern.value.isidentifier())


def _at_start(name: str, code: str, message: str, *hints: str) -> Diagnostic:
    return error(Span(file=name, line=1, column=1, end_line=1, end_column=1), code, message,
                 *hints)


_GAP = re.compile(r"(?P<space>[ \t\r\n\f]+)|(?P<comment>//[^\n]*)"
                  r"|(?P<KEYWORD>[A-Za-z_][A-Za-z0-9_]*)|(?P<PUNCT><-|[{}\[\]();,:.=/])")


def _tokens(text: str, tree: Tree) -> tuple[SourceToken, ...]:
    """Named tokens come from the tree; the gaps between them hold only whitespace,
    comments and the fixed words and marks, which a plain regular expression reads."""
    named: list[Token] = []
    stack: list[Tree | Token] = [tree]
    while stack:  # not Tree.scan_values: long and/or chains are deeper than its recursion
        node = stack.pop()
        if isinstance(node, Token):
            named.append(node)
        else:
            stack.extend(node.children)
    named.sort(key=lambda t: t.start_pos)
    out: list[SourceToken] = []
    comments: list[Comment] = []
    prev_end: int | None = None  # end of the previous token or comment

    def newlines(start: int) -> int:
        return 0 if prev_end is None else text.count("\n", prev_end, start)

    def add(kind: str, value: str, start: int, end: int) -> None:
        nonlocal prev_end
        out.append(SourceToken(kind=kind, text=value, start=start, end=end,
                               comments=tuple(comments), blank_before=newlines(start) > 1))
        comments.clear()
        prev_end = end

    def gap(pos: int, end: int) -> None:
        nonlocal prev_end
        while pos < end:
            mt = _GAP.match(text, pos, end)
            if mt is None:
                raise AssertionError(f"unexpected text at offset {pos}: {text[pos:pos + 10]!r}")
            if mt.lastgroup == "comment":
                count = newlines(mt.start())
                comments.append(Comment(text=mt.group(), start=mt.start(),
                                        end=mt.end(), own_line=prev_end is None or count > 0,
                                        blank_before=count > 1))
                prev_end = mt.end()
            elif mt.lastgroup != "space":
                add(mt.lastgroup, mt.group(), mt.start(), mt.end())
            pos = mt.end()

    pos = 0
    for tok in named:
        gap(pos, tok.start_pos)
        add(tok.type, str(tok), tok.start_pos, tok.end_pos)
        pos = tok.end_pos
    gap(pos, len(text))
    add("$END", "", len(text), len(text))
    return tuple(out)


def _units(tree: Tree, tokens: tuple[SourceToken, ...]) -> tuple[Unit, ...]:
    first_at = {t.start: k for k, t in enumerate(tokens)}
    last_at = {t.end: k for k, t in enumerate(tokens) if t.kind != "$END"}
    units = []
    for decl in tree.children:
        first, last = first_at[decl.meta.start_pos], last_at[decl.meta.end_pos]
        lead = [c for c in tokens[first].comments if c.own_line]
        after = tokens[last + 1].comments
        end = after[0].end if after and not after[0].own_line else tokens[last].end
        name = next((str(c) for c in decl.children if isinstance(c, Token)
                     and c.type == "NAME"), "")
        if decl.data == "promotion_decl":
            name = ".".join(decl.children[0].children)
        units.append(Unit(kind=decl.data.removesuffix("_decl"), name=name,
                          start=lead[0].start if lead else tokens[first].start, end=end,
                          first=first, last=last, tree=decl))
    return tuple(units)


# ---------------------------------------------------------------- layout documents
# A layout document is a str, a list of documents, or one of the classes below.

class _Line:
    """A line break (an empty line too, if blank) in a broken group; in a flat one a space,
    or nothing if soft."""

    __slots__ = ("soft", "blank")

    def __init__(self, soft: bool = False, blank: bool = False) -> None:
        self.soft, self.blank = soft, blank


class _Group:
    """Printed flat when it fits on the line, else broken; ``force`` breaks it always (a
    comment inside needs a line end), and a forced group forces every group around it."""

    __slots__ = ("parts", "force")

    def __init__(self, parts: object, force: bool = False) -> None:
        self.parts = parts
        self.force = force or _forces(parts)


class _Nest:
    """Lines inside are indented one level deeper, or (align) to the column it starts at."""

    __slots__ = ("parts", "align")

    def __init__(self, parts: object, align: bool = False) -> None:
        self.parts, self.align = parts, align


class _IfBreak:
    """Text printed only when the enclosing group is broken (a trailing comma)."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text


class _Suffix:
    """A comment that goes at the end of the current line, whatever follows on it."""

    __slots__ = ("text",)

    def __init__(self, comment: str) -> None:
        self.text = "  " + comment


def _forces(doc: object) -> bool:
    if isinstance(doc, list):
        return any(_forces(d) for d in doc)
    if isinstance(doc, _Nest):
        return _forces(doc.parts)
    return isinstance(doc, _Group) and doc.force


def _render(doc: object) -> str:
    out: list[str] = []
    col = 0
    suffixes: list[str] = []
    stack: list[tuple[int, bool, object]] = [(0, True, doc)]  # (indent, broken, document)
    while stack:
        indent, broken, d = stack.pop()
        if isinstance(d, str):
            out.append(d)
            col += len(d)
        elif isinstance(d, list):
            stack.extend((indent, broken, x) for x in reversed(d))
        elif isinstance(d, _Group):
            flat = not d.force and (not broken or _fits(d.parts, stack, WIDTH - col))
            stack.append((indent, not flat, d.parts))
        elif isinstance(d, _Nest):
            stack.append((col if d.align else indent + INDENT, broken, d.parts))
        elif isinstance(d, _Line):
            if broken:
                out.extend(suffixes)
                suffixes.clear()
                out.append("\n\n" if d.blank else "\n")
                out.append(" " * indent)
                col = indent
            elif not d.soft:
                out.append(" ")
                col += 1
        elif isinstance(d, _IfBreak):
            if broken:
                out.append(d.text)
                col += len(d.text)
        elif isinstance(d, _Suffix):
            suffixes.append(d.text)
    out.extend(suffixes)
    return "\n".join(line.rstrip() for line in "".join(out).split("\n"))


def _fits(parts: object, rest: list[tuple[int, bool, object]], width: int) -> bool:
    """Whether ``parts`` printed flat, and what follows up to the next line break, take at
    most ``width`` columns. Comments at line ends do not count."""
    todo: list[tuple[bool, object]] = [(False, parts)]
    k = len(rest)
    while width >= 0:
        if not todo:
            if k == 0:
                return True
            k -= 1
            todo.append(rest[k][1:])
            continue
        broken, d = todo.pop()
        if isinstance(d, str):
            width -= len(d)
        elif isinstance(d, list):
            todo.extend((broken, x) for x in reversed(d))
        elif isinstance(d, _Group):
            todo.append((broken or d.force, d.parts))
        elif isinstance(d, _Nest):
            todo.append((broken, d.parts))
        elif isinstance(d, _Line):
            if broken:
                return True
            width -= 0 if d.soft else 1
        elif isinstance(d, _IfBreak) and broken:
            width -= len(d.text)
    return False


# ---------------------------------------------------------------- tree → layout

_LEAVES = {"name", "string", "int", "duration", "date", "regex"}


class _Printer:
    """Walks the tree and the token stream in step. Comments in the gap before an item of a
    list, block or file are laid out as lines of their own (or at the end of the previous
    item's line); anywhere else a comment goes to the end of the line it ends up on."""

    def __init__(self, doc: Document) -> None:
        self.toks = doc.tokens
        self.gaps = [list(t.comments) for t in doc.tokens]
        self.i = 0
        self.at = {t.start: k for k, t in enumerate(doc.tokens)}
        self.closer: dict[int, int] = {}
        opened: list[int] = []
        for k, t in enumerate(doc.tokens):
            if t.kind == "PUNCT" and t.text == "(":
                opened.append(k)
            elif t.kind == "PUNCT" and t.text == ")":
                self.closer[opened.pop()] = k
        self._keep_docs(doc)

    def _keep_docs(self, doc: Document) -> None:
        """The parser takes the whole-line comments directly above the line a declaration
        starts on for its documentation, even when that line begins inside the previous
        declaration: such comments are moved to stand right above the declaration."""
        text = doc.text
        previous_line = -1
        for k, unit in enumerate(doc.units):
            start = self.toks[unit.first].start
            line_start = text.rfind("\n", 0, start) + 1
            # only the first declaration starting on a line is documented (the parser's rule)
            same_line, previous_line = line_start == previous_line, line_start
            if not k or same_line or not text[line_start:start].strip():
                continue
            run: list[tuple[int, Comment]] = []
            expected = line_start - 1  # offset of the newline ending the line above
            for k in range(unit.first - 1, -1, -1):
                for c in reversed(self.gaps[k]):
                    if expected < 0 or not c.own_line or text.rfind("\n", 0, c.start) != \
                            text.rfind("\n", 0, expected):
                        break
                    run.append((k, c))
                    expected = text.rfind("\n", 0, c.start)
                else:
                    continue
                break
            for k, c in run:
                self.gaps[k].remove(c)
            moved = [c for _, c in reversed(run)]
            if moved:
                moved[0] = dataclasses.replace(moved[0], blank_before=False)
            self.gaps[unit.first][:0] = moved

    # token stream ---------------------------------------------------------------------
    def peek(self) -> SourceToken:
        return self.toks[self.i]

    def take(self, expect: str | Token) -> list:
        tok = self.toks[self.i]
        if tok.start != expect.start_pos if isinstance(expect, Token) else tok.text != expect:
            raise AssertionError(f"formatter out of step at offset {tok.start}: found "
                                 f"{tok.text!r}, expected {str(expect)!r}")
        out: list = [_Suffix(c.text) for c in self.gaps[self.i]]
        self.gaps[self.i] = []
        self.i += 1
        out.append(tok.text)
        return out

    def gap(self) -> list[Comment]:
        comments, self.gaps[self.i] = self.gaps[self.i], []
        return comments

    # file -----------------------------------------------------------------------------
    def file(self, tree: Tree) -> str:
        out: list[str] = []
        prev_single = False
        for k, decl in enumerate(tree.children):
            lead = self.gap()  # own-line only: a trailing one went to the previous declaration
            tok = self.peek()
            blank = lead[0].blank_before if lead else tok.blank_before
            # The documentation run directly above keeps its lines' trailing whitespace,
            # which the parser keeps in the text of the documentation (all but the last).
            doc = len(lead) if lead and not tok.blank_before else 0
            while 1 < doc and not lead[doc - 1].blank_before:
                doc -= 1
            pieces: list[str] = []
            for j, c in enumerate(lead):
                pieces += ["\n\n" if j and c.blank_before else "\n" if j else "",
                           c.text if doc and doc - 1 <= j < len(lead) - 1 else c.text.rstrip()]
            if lead:
                pieces.append("\n\n" if tok.blank_before else "\n")
            layout = [getattr(self, decl.data)(decl)]
            after = self.gaps[self.i]
            if after and not after[0].own_line:
                layout.append(_Suffix(after.pop(0).text))
            text = _render(layout)
            single = "\n" not in text
            if k:
                out.append("\n" if not blank and prev_single and single else "\n\n")
            out += [*pieces, text]
            prev_single = single
        for c in self.gap():
            if out:
                out.append("\n\n" if c.blank_before else "\n")
            out.append(c.text.rstrip())
        if self.peek().kind != "$END":
            raise AssertionError(f"formatter stopped at offset {self.peek().start}")
        return "".join(out) + "\n" if out else ""

    # sequences --------------------------------------------------------------------------
    def seq(self, items: list, item: Callable[[object, int], object], close: str, *,
            sep: str = ",", pad: bool = False, broken: bool = False) -> object:
        """Items up to the closing token (the opening one is taken): one line if it fits
        and holds no comment that needs a line end, else one item per line; ``pad`` puts
        spaces inside the brackets of the one-line form, ``broken`` always breaks."""
        inner: list = []
        force = broken and bool(items)
        for k, node in enumerate(items):
            force |= self.lead(inner, first=k == 0, pad=pad)
            inner.append(item(node, k))
            if self.peek().kind == "PUNCT" and self.peek().text == sep:
                force |= bool(self.gaps[self.i])
                # A ';' is kept before a statement that starts with a keyword used as a name
                # (a field `use`, an environment `as`): after an expression that word would
                # be read as the keyword. Otherwise the separator is redone.
                keep = sep == ";" and self.toks[self.i + 1].kind == "NAME" and \
                    self.toks[self.i + 1].text in _keywords()
                inner.append(self.take(sep)[:None if keep else -1])
            if sep == ",":
                inner.append("," if k < len(items) - 1 else _IfBreak(","))
        force |= self.closing(inner, bool(items))
        end = self.take(close)
        if not inner:
            return end
        return _Group([_Nest(inner), _Line(soft=not pad), end], force)

    def lead(self, inner: list, first: bool, pad: bool) -> bool:
        """The line break before an item, with the comments in the gap before it."""
        comments = self.gap()
        force = False
        if comments and not comments[0].own_line:
            inner.append(_Suffix(comments.pop(0).text))
            force = True
        marks = [(c.blank_before, c.text) for c in comments]
        marks.append((self.peek().blank_before, None))
        for j, (blank, text) in enumerate(marks):
            start = first and j == 0
            inner.append(_Line(soft=start and not pad, blank=blank and not start))
            if text is not None:
                inner.append(text)
                force = True
        return force

    def closing(self, inner: list, has_items: bool) -> bool:
        """The comments before the closing token: they force the sequence to break."""
        comments = self.gap()
        found = bool(comments)
        if comments and not comments[0].own_line:
            inner.append(_Suffix(comments.pop(0).text))
        for j, c in enumerate(comments):
            inner += [_Line(blank=c.blank_before and (has_items or j > 0)), c.text]
        return found

    def statements(self, items: list) -> object:
        """Fields, rules or statements of a block, one a line, ``=`` or ``<-`` aligned in
        each run of neighbours not parted by an empty line, a comment or another kind."""
        widths = [self.label(n) for n in items]
        runs: list[list[int]] = []
        for k, node in enumerate(items):
            if widths[k] is None:
                continue
            idx = self.at[node.meta.start_pos]
            if (k and widths[k - 1] is not None and not self.toks[idx].blank_before
                    and not any(c.own_line for c in self.gaps[idx])):
                runs[-1].append(k)
            else:
                runs.append([k])
        pads = [0] * len(items)
        for run in runs:
            for k in run:
                pads[k] = max(widths[j] for j in run)
        return self.seq(items, lambda n, k: self.statement(n, pads[k]), "}", sep=";",
                        broken=True)

    @staticmethod
    def label(node: Tree) -> int | None:
        if node.data == "field":
            return len(node.children[0])
        if node.data == "promotion_rule":
            return len(".".join(node.children[0].children))
        return None

    # declarations ------------------------------------------------------------------------
    def import_decl(self, t: Tree) -> list:
        path, *alias = t.children
        out = [self.take("import"), " ", self.take(path)]
        if alias:
            out += [" ", self.take("as"), " ", self.take(alias[0])]
        return out

    def const_decl(self, t: Tree) -> list:
        name, value = t.children
        return [self.take("const"), " ", self.take(name), " ", self.take("="), " ",
                self.expr(value)]

    def block(self, t: Tree) -> list:
        name, body = t.children
        head = [self.take(name)] if t.data == "gitops_decl" else \
            [self.take(t.data.removesuffix("_decl")), " ", self.take(name)]
        return [*head, " ", self.take("{"), self.statements(body.children)]

    gitops_decl = registry_decl = image_decl = environment_decl = app_decl = block

    def promotion_decl(self, t: Tree) -> list:
        name, *rules = t.children
        return [self.take("promotion"), " ", self.dotted(name), " ", self.take("{"),
                self.statements(rules)]

    def policy_decl(self, t: Tree) -> list:
        name, *rest = t.children
        out = [self.take("policy"), " ", self.take(name)]
        if rest and rest[0].data == "params":
            out += [self.take("("), self.seq(rest.pop(0).children, self.param, ")")]
        return [*out, " ", self.take("{"), self.statements(rest)]

    def use_decl(self, t: Tree) -> list:
        return [self.take("use"), " ", self.expr(t.children[0])]

    def waive_decl(self, t: Tree) -> list:
        target, *rest = t.children
        out = [self.take("waive"), " ", self.expr(target)]
        if len(rest) == 4:
            kind, name, *rest = rest
            out += [" ", self.take("for"), " ", self.take(kind), " ", self.take(name)]
        until, reason = rest
        return [*out, " ", self.take("until"), " ", self.take(until), " ",
                self.take("because"), " ", self.take(reason)]

    # statements ----------------------------------------------------------------------------
    def statement(self, t: Tree, pad: int = 0) -> list:
        kind = t.data
        if kind == "field":
            name, value = t.children
            return [self.take(name), " " * (pad - len(name) + 1), self.take("="), " ",
                    self.expr(value)]
        if kind == "promotion_rule":
            stage, source, *rest = t.children
            out = [self.dotted(stage), " " * (pad - self.label(t) + 1), self.take("<-"), " ",
                   self.dotted(source)]
            if rest and self.peek().kind == "KEYWORD" and self.peek().text == "after":
                out += [" ", self.take("after"), " ", self.expr(rest.pop(0))]
            for gate in rest:
                out += [self.take(","), " ", self.expr(gate)]
            return out
        if kind == "freeze":
            cron, duration, *tz = t.children
            out = [self.take("freeze"), " ", self.expr(cron), " ", self.take("for"), " ",
                   self.expr(duration)]
            if tz:
                out += [" ", self.take("tz"), " ", self.expr(tz[0])]
            return out
        if kind == "for_stmt":
            var, iterable, *rest = t.children
            out = [self.take("for"), " ", self.take(var), " ", self.take("in"), " ",
                   self.expr(iterable)]
            if self.peek().kind == "KEYWORD" and self.peek().text == "where":
                out += [" ", self.take("where"), " ", self.expr(rest.pop(0))]
            return [*out, " ", self.take("{"), self.statements(rest)]
        condition, message = t.children  # require_stmt, deny_stmt
        return [self.take(kind.removesuffix("_stmt")), " ", self.expr(condition),
                self.take(","), " ", self.expr(message)]

    def param(self, t: Tree, _k: int = 0) -> list:
        name, *rest = t.children
        out = [self.take(name)]
        for part in rest:
            if isinstance(part, Tree) and part.data == "type_ref":
                out += [self.take(":"), " ", self.type_ref(part)]
            else:
                out += [" ", self.take("="), " ", self.expr(part)]
        return out

    def type_ref(self, t: Tree) -> list:
        name, *inner = t.children
        out = [self.take(name)]
        if inner:
            out += [self.take("["), self.type_ref(inner[0]), self.take("]")]
        return out

    def dotted(self, t: Tree) -> list:
        first, *rest = t.children
        out = [self.take(first)]
        for part in rest:
            out += [self.take("."), self.take(part)]
        return out

    # expressions ---------------------------------------------------------------------------
    def wrapped(self, node: Tree | Token) -> bool:
        """Whether the next token is a parenthesis around ``node`` (the parser keeps no
        trace of parentheses, so the matching one must close after the node ends)."""
        tok = self.peek()
        end = node.end_pos if isinstance(node, Token) else node.meta.end_pos
        return tok.kind == "PUNCT" and tok.text == "(" and \
            self.toks[self.closer[self.i]].start >= end

    def expr(self, t: Tree | Token, _k: int = 0) -> list:
        opens = []
        while self.wrapped(t):
            opens.append(self.take("("))
        body = self.term(t)
        return [*opens, body, *[self.take(")") for _ in opens]]

    def term(self, t: Tree | Token) -> object:
        if isinstance(t, Token):
            return self.take(t)
        kind = t.data
        if kind in _LEAVES:
            return self.take(t.children[0])
        if kind in ("true", "false", "none"):
            return self.take(kind)
        c = t.children
        if kind == "list":
            return [self.take("["), self.seq(c, self.expr, "]")]
        if kind == "comprehension":
            out = [self.take("["), self.expr(c[0]), " ", self.take("for"), " ", self.take(c[1]),
                   " ", self.take("in"), " ", self.expr(c[2])]
            if len(c) > 3:
                out += [" ", self.take("where"), " ", self.expr(c[3])]
            return [*out, self.take("]")]
        if kind == "map":
            return [self.take("{"), self.seq(c, self.entry, "}", pad=True)]
        if kind == "call":
            func = self.expr(c[0])
            return [func, self.take("("), self.seq(c[1].children if len(c) > 1 else [],
                                                   self.entry, ")")]
        if kind in ("or_", "and_"):
            return self.chain(t)
        if kind == "attr":
            return [self.expr(c[0]), self.take("."), self.take(c[1])]
        if kind == "index":
            return [self.expr(c[0]), self.take("["), self.expr(c[1]), self.take("]")]
        if kind in ("not_", "exists"):
            return [self.take(kind.rstrip("_")), " ", self.expr(c[0])]
        left = self.expr(c[0])
        if kind in ("compare", "match"):
            op = self.take(c[1])
        else:
            words = {"in_": ["in"], "not_in": ["not", "in"], "join": ["/"], "as_": ["as"]}
            op = [self.take(w) if j == 0 else [" ", self.take(w)]
                  for j, w in enumerate(words[kind])]
        return [left, " ", op, " ", self.expr(c[-1])]

    def entry(self, t: Tree | Token, _k: int = 0) -> list:
        """A map entry or a named argument (``key: value``); anything else is an argument."""
        if isinstance(t, Tree) and t.data in ("entry", "kwarg"):
            key, value = t.children
            return [self.take(key), self.take(":"), " ", self.expr(value)]
        return self.expr(t)

    def chain(self, t: Tree) -> _Group:
        """``a or b or c``: one line if it fits, else one operand a line, each line after
        the first starting with the operator, aligned under the first operand."""
        spine = [t]
        while True:
            left = spine[-1].children[0]
            if not isinstance(left, Tree) or left.data != t.data or self.wrapped(left):
                break
            spine.append(left)
        parts: list = [self.expr(spine[-1].children[0])]
        for node in reversed(spine):
            # comments before the operator end the line above it, not the operator's line
            parts += [[_Suffix(c.text) for c in self.gap()], _Line(),
                      self.take(t.data.rstrip("_")), " ", self.expr(node.children[1])]
        return _Group([_Nest(parts, align=True)])
