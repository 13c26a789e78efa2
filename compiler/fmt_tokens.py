"""Concrete syntax for the formatter: every token of a file, keywords and punctuation
included, each carrying the comments in the gap before it, and the top-level declarations
as units (with the comments that belong to them and the offsets they cover).

The parser's tree holds the named tokens (names, strings, numbers...); the gaps between
them hold only whitespace, comments and the grammar's fixed words and marks, which a plain
regular expression reads.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from lark import Token, Tree

from .parse import parser


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


@lru_cache(maxsize=1)
def keywords() -> frozenset[str]:
    """The grammar's fixed words (``use``, ``as``, ``for``...)."""
    from lark.lexer import PatternStr

    return frozenset(t.pattern.value for t in parser().terminals
                     if isinstance(t.pattern, PatternStr) and t.pattern.value.isidentifier())


_GAP = re.compile(r"(?P<space>[ \t\r\n\f]+)|(?P<comment>//[^\n]*)"
                  r"|(?P<KEYWORD>[A-Za-z_][A-Za-z0-9_]*)|(?P<PUNCT><-|[{}\[\]();,:.=/])")


def tokens(text: str, tree: Tree) -> tuple[SourceToken, ...]:
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


def units(tree: Tree, tokens: tuple[SourceToken, ...]) -> tuple[Unit, ...]:
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
