"""The one diagnostic type every stage reports with.

Stages never raise for bad input: they return (or append to) lists of ``Diagnostic``.
Renderers in ``setlist.render`` turn them into text, JSON, SARIF or GitHub annotations;
the language server turns them into LSP diagnostics.

Spans and diagnostics are plain frozen dataclasses: every stage, `setlist check` included,
imports this module, and they are built from pieces that are already checked, so they need
no validating model (pydantic's import and validators took a third of a cold check).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any


@dataclass(frozen=True)
class Span:
    """A range of source text. Lines and columns are 1-based; ``end_column`` is exclusive.

    ``start``/``end`` are 0-based character offsets into the file's text, kept so that the
    formatter and the language server can slice the source without re-counting lines.
    """

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

    def model_copy(self, *, update: Mapping[str, Any] | None = None) -> Span:
        """This span with ``update``'s fields replaced (the spelling callers used when spans
        were pydantic models; ``dataclasses.replace`` does the same)."""
        return replace(self, **update) if update else replace(self)


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


@dataclass(frozen=True, slots=True)
class Related:
    span: Span
    message: str


@dataclass(frozen=True, slots=True)
class Fix:
    """A machine-applicable edit: replace the text of ``span`` with ``replacement``."""

    title: str
    span: Span
    replacement: str


@dataclass(frozen=True, slots=True)
class Diagnostic:
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

    def __post_init__(self) -> None:
        # Take what the pydantic model took: a severity by name, lists for the tuples.
        if type(self.severity) is not Severity:
            object.__setattr__(self, "severity", Severity(self.severity))
        for name in ("hints", "related", "fixes"):
            if type(getattr(self, name)) is not tuple:
                object.__setattr__(self, name, tuple(getattr(self, name)))

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
