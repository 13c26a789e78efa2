"""Expression layout for the formatter: parentheses kept where they were, lists, maps and
calls as sequences, and long ``and``/``or`` chains one operand a line.
"""

from __future__ import annotations

from lark import Token, Tree

from .fmt_layout import Group, Line, Nest, Suffix
from .fmt_stream import Stream

_LEAVES = {"name", "string", "int", "duration", "date", "regex"}


class Expressions(Stream):
    """Lays out expressions; ``Printer`` adds declarations and statements."""

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

    def chain(self, t: Tree) -> Group:
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
            parts += [[Suffix(c.text) for c in self.gap()], Line(),
                      self.take(t.data.rstrip("_")), " ", self.expr(node.children[1])]
        return Group([Nest(parts, align=True)])
