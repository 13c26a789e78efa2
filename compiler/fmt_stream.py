"""The formatter's walk over the token stream: tokens taken in step with the tree, and the
comments in the gaps between them laid out where they stood (lines of their own before an
item of a list, block or file; at the end of a line anywhere else).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from lark import Token

from .fmt_layout import Group, IfBreak, Line, Nest, Suffix
from .fmt_tokens import Comment, Document, SourceToken, keywords


class Stream:
    """The token stream with its comments, and sequences (lists, arguments, blocks) laid
    out item by item with the comments between them. ``Printer`` walks the tree on it."""

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
        out: list = [Suffix(c.text) for c in self.gaps[self.i]]
        self.gaps[self.i] = []
        self.i += 1
        out.append(tok.text)
        return out

    def gap(self) -> list[Comment]:
        comments, self.gaps[self.i] = self.gaps[self.i], []
        return comments

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
                    self.toks[self.i + 1].text in keywords()
                inner.append(self.take(sep)[:None if keep else -1])
            if sep == ",":
                inner.append("," if k < len(items) - 1 else IfBreak(","))
        force |= self.closing(inner, bool(items))
        end = self.take(close)
        if not inner:
            return end
        return Group([Nest(inner), Line(soft=not pad), end], force)

    def lead(self, inner: list, first: bool, pad: bool) -> bool:
        """The line break before an item, with the comments in the gap before it."""
        comments = self.gap()
        force = False
        if comments and not comments[0].own_line:
            inner.append(Suffix(comments.pop(0).text))
            force = True
        marks = [(c.blank_before, c.text) for c in comments]
        marks.append((self.peek().blank_before, None))
        for j, (blank, text) in enumerate(marks):
            start = first and j == 0
            inner.append(Line(soft=start and not pad, blank=blank and not start))
            if text is not None:
                inner.append(text)
                force = True
        return force

    def closing(self, inner: list, has_items: bool) -> bool:
        """The comments before the closing token: they force the sequence to break."""
        comments = self.gap()
        found = bool(comments)
        if comments and not comments[0].own_line:
            inner.append(Suffix(comments.pop(0).text))
        for j, c in enumerate(comments):
            inner += [Line(blank=c.blank_before and (has_items or j > 0)), c.text]
        return found
