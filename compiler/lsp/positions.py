"""Positions between the compiler and the protocol, converted in this one place.

The compiler counts 1-based lines and 1-based columns in characters (code points), and keeps
0-based character offsets (``Span.start``/``end``). LSP counts 0-based lines and 0-based
columns in the code units of the negotiated encoding: UTF-16 unless the client offered
another one. A character outside the Basic Multilingual Plane (most emoji) is one code point
but two UTF-16 units and four UTF-8 bytes, so a column is converted by measuring the line's
text, never by arithmetic on the column alone.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, field

from lsprotocol import types as lsp

from ..diagnostics import Span

UTF16 = "utf-16"
UTF8 = "utf-8"
UTF32 = "utf-32"


def units(text: str, encoding: str = UTF16) -> int:
    """How many code units ``text`` takes in ``encoding``."""
    if encoding == UTF32 or text.isascii():
        return len(text)
    if encoding == UTF8:
        return len(text.encode("utf-8", "surrogatepass"))
    return len(text) + sum(1 for ch in text if ord(ch) > 0xFFFF)


def chars_for_units(line: str, count: int, encoding: str = UTF16) -> int:
    """The number of characters of ``line`` that ``count`` code units cover; a position
    inside a character (half a surrogate pair) or past the end snaps to a boundary."""
    if encoding == UTF32 or line.isascii():
        return max(0, min(count, len(line)))
    used = 0
    for index, ch in enumerate(line):
        width = units(ch, encoding)
        if used + width > count:
            return index
        used += width
    return len(line)


@dataclass
class LineIndex:
    """Line starts of one text, for offset ↔ (line, character) in either direction."""

    text: str
    encoding: str = UTF16
    starts: list[int] = field(init=False)

    def __post_init__(self) -> None:
        starts = [0]
        find = self.text.find
        pos = find("\n")
        while pos >= 0:
            starts.append(pos + 1)
            pos = find("\n", pos + 1)
        self.starts = starts

    def line_text(self, line: int) -> str:
        """The text of a 0-based line, without its line break."""
        if line < 0 or line >= len(self.starts):
            return ""
        end = self.starts[line + 1] - 1 if line + 1 < len(self.starts) else len(self.text)
        return self.text[self.starts[line]:end].rstrip("\r")

    def offset(self, position: lsp.Position) -> int:
        """The character offset of an LSP position (clamped to the text)."""
        if position.line >= len(self.starts):
            return len(self.text)
        line = max(position.line, 0)
        return self.starts[line] + chars_for_units(self.line_text(line), position.character,
                                                   self.encoding)

    def position(self, offset: int) -> lsp.Position:
        """The LSP position of a character offset (clamped to the text)."""
        offset = max(0, min(offset, len(self.text)))
        line = bisect_right(self.starts, offset) - 1
        start = self.starts[line]
        before = self.text[start:offset]
        return lsp.Position(line=line, character=units(before, self.encoding))

    def range(self, start: int, end: int) -> lsp.Range:
        return lsp.Range(start=self.position(start), end=self.position(max(start, end)))

    def span_range(self, span: Span) -> lsp.Range:
        """A compiler span as an LSP range, from its 1-based lines and columns."""
        return lsp.Range(start=self.line_column(span.line, span.column),
                         end=self.line_column(span.end_line, span.end_column))

    def line_column(self, line: int, column: int) -> lsp.Position:
        """A 1-based line and 1-based character column as an LSP position."""
        text = self.line_text(line - 1)
        chars = max(0, min(column - 1, len(text)))
        return lsp.Position(line=max(line - 1, 0),
                            character=units(text[:chars], self.encoding))


def contains(span: Span, offset: int) -> bool:
    """Whether ``offset`` lies in ``span`` or touches its end (a cursor right after a
    name still means that name)."""
    return span.start <= offset <= span.end
