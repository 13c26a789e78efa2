"""Format stage: one canonical layout for ``*.setlist`` text, comments kept, meaning unchanged.

Formatting works on the parser's own tree plus a concrete token stream: every token of the
file, keywords and punctuation included, each carrying the comments in the gap before it
(``fmt_tokens``). The printer walks the tree and consumes the stream in step, so every
comment is met exactly where it stood (``fmt_stream``, ``fmt_exprs``, ``fmt_printer``).
Layout is planned as a small document of text, line breaks, groups and indentation that the
renderer fits into ``WIDTH`` columns: a group goes on one line when it fits, otherwise its
line breaks become new lines (``fmt_layout``).

``parse_document`` is the entry point for edits that keep the user's layout (a language
server, ``setlist new``): it gives each top-level declaration as a ``Unit`` with the comments
that belong to it and the offsets it covers, so one declaration can be replaced or inserted
and only that text formatted.
"""

from __future__ import annotations

from lark.exceptions import UnexpectedInput

from .diagnostics import Diagnostic, Severity, Span, error
from .fmt_layout import INDENT, WIDTH
from .fmt_printer import Printer
from .fmt_tokens import Comment, Document, SourceToken, Unit
from .fmt_tokens import tokens as _tokens
from .fmt_tokens import units as _units
from .parse import parse_source, parser

__all__ = ["INDENT", "WIDTH", "Comment", "Document", "FormatError", "SourceToken", "Unit",
           "format_document", "format_source", "parse_document"]


class FormatError(Exception):
    """The text does not parse, so it is not formatted; ``diagnostics`` say where and why."""

    def __init__(self, diagnostics: list[Diagnostic]) -> None:
        self.diagnostics = diagnostics
        first = diagnostics[0]
        super().__init__(f"{first.span}: {first.code}: {first.message}")


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
        return Printer(doc).file(doc.tree)
    except RecursionError:
        raise FormatError([_at_start(doc.name, "SL105", "the file nests expressions too "
                                     "deeply to be formatted",
                                     "split long chains of and/or or deeply nested lists "
                                     "into constants")]) from None


def _at_start(name: str, code: str, message: str, *hints: str) -> Diagnostic:
    return error(Span(file=name, line=1, column=1, end_line=1, end_column=1), code, message,
                 *hints)
