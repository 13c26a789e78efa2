"""Compiler diagnostics as LSP diagnostics, with the data code actions need.

Hints are appended to the message (every client shows the message; few show more); related
spans become relatedInformation; the code links to its explanation. Whatever a quick fix
needs is put on ``data`` here, where the compiler's diagnostic is still at hand, so that
code actions never read it back out of the message text.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import cache
from pathlib import Path

from lsprotocol import types as lsp

from ..diagnostics import Diagnostic, Severity, Span
from .positions import LineIndex

SOURCE = "setlist"
SEVERITY = {Severity.ERROR: lsp.DiagnosticSeverity.Error,
            Severity.WARNING: lsp.DiagnosticSeverity.Warning,
            Severity.INFO: lsp.DiagnosticSeverity.Information}
DID_YOU_MEAN = re.compile(r"did you mean '([^']+)'\?")
IMPORT_HINT = re.compile(r'import "([^"]+)"(?: as ([A-Za-z_][\w-]*))?')
IDENT = re.compile(r"[A-Za-z_](?:[A-Za-z0-9_-]*[A-Za-z0-9_])?")
POLICY_NAME = re.compile(r"policy '([^']+)'|\(policy ([^\s)]+)\)")
CHECKER_CODES = ("SL1", "SL2", "SL3", "SL4", "SL5", "SL6")
WAIVE_HINT = re.compile(r"waive (\S+) for (app|environment|image|registry) "
                        r"([A-Za-z_](?:[A-Za-z0-9_-]*[A-Za-z0-9_])?) until")

# How a file key becomes a URI and a LineIndex (the server knows which session owns it).
Locate = Callable[[str], tuple[str, LineIndex] | None]


def to_lsp(diag: Diagnostic, lines: LineIndex, locate: Locate) -> lsp.Diagnostic:
    message = diag.message
    if diag.hints:
        message += "\n" + "\n".join(f"hint: {h}" for h in diag.hints)
    related = []
    for rel in diag.related:
        where = locate(rel.span.file)
        if where is not None:
            uri, rel_lines = where
            related.append(lsp.DiagnosticRelatedInformation(
                location=lsp.Location(uri=uri, range=rel_lines.span_range(rel.span)),
                message=rel.message))
    return lsp.Diagnostic(
        range=lines.span_range(diag.span),
        severity=SEVERITY.get(diag.severity, lsp.DiagnosticSeverity.Error),
        code=diag.code,
        code_description=explanation(diag.code),
        source=SOURCE,
        message=message,
        related_information=related or None,
        data=fix_data(diag, lines),
    )


@cache
def _diagnostics_page() -> Path | None:
    """docs/diagnostics.md of a source checkout, when the package runs from one."""
    page = Path(__file__).resolve().parents[2] / "docs" / "diagnostics.md"
    return page if page.is_file() else None


def explanation(code: str) -> lsp.CodeDescription | None:
    """Where the code is explained: its section of docs/diagnostics.md when that page is
    installed beside the package; else none (`setlist explain CODE` prints the same)."""
    from ..codes import CODES

    page = _diagnostics_page()
    known = CODES.get(code)
    if page is None or known is None:
        return None
    anchor = re.sub(r"[^a-z0-9 -]", "", f"{code}: {known.title}".lower()).replace(" ", "-")
    return lsp.CodeDescription(href=f"{page.as_uri()}#{anchor}")


def fix_data(diag: Diagnostic, lines: LineIndex) -> dict | None:
    """Machine-readable fixes: replacements, an import to add, a policy to waive."""
    data: dict = {"code": diag.code}
    replacements = [{"title": f.title, "range": _range_json(lines.span_range(f.span)),
                     "newText": f.replacement} for f in diag.fixes]
    for hint in diag.hints:
        match = DID_YOU_MEAN.search(hint)
        if match:
            target = _name_span(diag.span, lines.text)
            if target is not None:
                replacements.append({"title": f"Replace with '{match.group(1)}'",
                                     "range": _range_json(lines.span_range(target)),
                                     "newText": match.group(1)})
        imported = IMPORT_HINT.search(hint)
        if imported and diag.code == "SL200":
            data["import"] = {"path": imported.group(1), "alias": imported.group(2)}
    if replacements:
        data["replacements"] = replacements
    if diag.code == "SL200" and diag.message.startswith("unknown module '"):
        data["alias"] = diag.message.split("'")[1]
    policy = getattr(diag, "policy", None) or policy_of(diag)
    if policy is not None:
        data["policy"] = policy
        for hint in diag.hints:  # the policy stage names what the violation is about
            scoped = WAIVE_HINT.search(hint)
            if scoped and scoped.group(1) == policy:
                data["scope"] = [scoped.group(2), scoped.group(3)]
    return data if len(data) > 1 else None


def policy_of(diag: Diagnostic) -> str | None:
    """The policy a diagnostic without a ``policy`` field reports a violation of: its
    message or a related location names "policy 'NAME'" and its code is none of the
    checker's own (SL1xx–SL6xx: syntax, names, fields, values, promotions, selectors)."""
    if diag.code[:3] in CHECKER_CODES:
        return None
    for text in (diag.message, *(r.message for r in diag.related)):
        match = POLICY_NAME.search(text)
        if match:
            return match.group(1) or match.group(2)
    return None


def _name_span(span: Span, text: str) -> Span | None:
    """The span of the misspelt name itself: the whole span when it is a name, or the
    name a call starts with (`semverr("^1")`)."""
    piece = text[span.start:span.end]
    match = IDENT.match(piece)
    if match is None or span.line != span.end_line and match.end() < len(piece) and \
            "\n" in piece[:match.end()]:
        return None
    if match.end() == len(piece):
        return span
    if not piece[match.end():].lstrip().startswith("("):
        return None
    width = match.end()
    return Span(file=span.file, line=span.line, column=span.column, end_line=span.line,
                end_column=span.column + width, start=span.start, end=span.start + width)


def _range_json(rng: lsp.Range) -> dict:
    return {"start": {"line": rng.start.line, "character": rng.start.character},
            "end": {"line": rng.end.line, "character": rng.end.character}}
