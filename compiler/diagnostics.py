"""The one diagnostic type every stage reports with.

Stages never raise for bad input: they return (or append to) lists of ``Diagnostic``.
Renderers in ``setlist.render`` turn them into text, JSON, SARIF or GitHub annotations;
the language server turns them into LSP diagnostics.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict


class Span(BaseModel):
    """A range of source text. Lines and columns are 1-based; ``end_column`` is exclusive.

    ``start``/``end`` are 0-based character offsets into the file's text, kept so that the
    formatter and the language server can slice the source without re-counting lines.
    """

    model_config = ConfigDict(frozen=True)

    file: str
    line: int
    column: int
    end_line: int
    end_column: int
    start: int = 0
    end: int = 0

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"

    def sort_key(self) -> tuple[str, int, int, int, int]:
        return (self.file, self.line, self.column, self.end_line, self.end_column)

    def cover(self, other: Span) -> Span:
        """The smallest span holding both (same file)."""
        first, last = (self, other) if self.start <= other.start else (other, self)
        end = last if last.end >= first.end else first
        return Span(
            file=self.file,
            line=first.line,
            column=first.column,
            end_line=end.end_line,
            end_column=end.end_column,
            start=first.start,
            end=end.end,
        )


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


class Related(BaseModel):
    model_config = ConfigDict(frozen=True)

    span: Span
    message: str


class Fix(BaseModel):
    """A machine-applicable edit: replace the text of ``span`` with ``replacement``."""

    model_config = ConfigDict(frozen=True)

    title: str
    span: Span
    replacement: str


class Diagnostic(BaseModel):
    model_config = ConfigDict(frozen=True)

    span: Span
    severity: Severity
    code: str
    message: str
    hints: tuple[str, ...] = ()
    related: tuple[Related, ...] = ()
    fixes: tuple[Fix, ...] = ()
    # A policy violation (SL800) names its policy as written where it is turned on
    # ("std.no_latest_tag") and carries the policy's help text, for SARIF rules and editors.
    policy: str | None = None
    policy_help: str | None = None

    def sort_key(self) -> tuple:
        return (*self.span.sort_key(), self.code, self.message)

    def __str__(self) -> str:
        return f"{self.span}: {self.severity.value}[{self.code}]: {self.message}"


def error(span: Span, code: str, message: str, *hints: str, **kw) -> Diagnostic:
    return Diagnostic(span=span, severity=Severity.ERROR, code=code, message=message,
                      hints=tuple(h for h in hints if h), **kw)


def warning(span: Span, code: str, message: str, *hints: str, **kw) -> Diagnostic:
    return Diagnostic(span=span, severity=Severity.WARNING, code=code, message=message,
                      hints=tuple(h for h in hints if h), **kw)


def sort_diagnostics(diags: list[Diagnostic]) -> list[Diagnostic]:
    """Stable, deterministic order with exact duplicates removed."""
    seen: set[tuple] = set()
    out = []
    for d in sorted(diags, key=Diagnostic.sort_key):
        key = (d.sort_key(), d.severity)
        if key not in seen:
            seen.add(key)
            out.append(d)
    return out


def has_errors(diags: list[Diagnostic]) -> bool:
    return any(d.severity is Severity.ERROR for d in diags)
