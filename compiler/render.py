"""Turn diagnostics into the text people read and the formats machines read.

Every renderer is pure: it takes diagnostics (and, for text, the source texts) and returns
a string, so the CLI decides where output goes and tests can compare strings directly.
Renderers keep the order they are given; callers wanting a canonical order pass the list
through ``setlist.diagnostics.sort_diagnostics`` first.

The CLI picks a renderer from ``RENDERERS`` by the name given to ``--format``. All entries
share one signature so the CLI needs no per-format branching::

    RENDERERS[name](diags, sources, color=use_color, tool_version=__version__) -> str

Formats that do not need ``sources``, ``color`` or ``tool_version`` ignore them.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Protocol
from urllib.parse import quote

from setlist.diagnostics import Diagnostic, Severity, Span

__all__ = [
    "RENDERERS",
    "Renderer",
    "render_github",
    "render_json",
    "render_sarif",
    "render_text",
    "summary",
]

# rustc and most editors agree on 4; it only has to match between source line and carets.
TAB_WIDTH = 4

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
SARIF_VERSION = "2.1.0"
INFORMATION_URI = "https://github.com/setlist-dev/setlist"

_SARIF_LEVEL = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "note"}
_GITHUB_COMMAND = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "notice"}
# Lower rank = more severe; used to pick a rule's default level from what was reported.
_RANK = {Severity.ERROR: 0, Severity.WARNING: 1, Severity.INFO: 2}


# ---- summary -----------------------------------------------------------------------------


def _plural(count: int, singular: str, plural: str) -> str:
    return f"{count} {singular if count == 1 else plural}"


def summary(diags: Sequence[Diagnostic]) -> str:
    """One line counting diagnostics by severity, e.g. ``2 errors, 1 warning``.

    Zero counts are left out so a clean-but-noisy run reads ``1 warning``, not
    ``0 errors, 1 warning, 0 info messages``.
    """
    counts = {sev: 0 for sev in Severity}
    for d in diags:
        counts[d.severity] += 1
    parts = []
    if counts[Severity.ERROR]:
        parts.append(_plural(counts[Severity.ERROR], "error", "errors"))
    if counts[Severity.WARNING]:
        parts.append(_plural(counts[Severity.WARNING], "warning", "warnings"))
    if counts[Severity.INFO]:
        parts.append(_plural(counts[Severity.INFO], "info message", "info messages"))
    return ", ".join(parts) if parts else "no problems found"


# ---- text --------------------------------------------------------------------------------


class _Style:
    """ANSI styling that collapses to plain text, so layout code never branches on colour."""

    RESET: ClassVar[str] = "\x1b[0m"
    BOLD: ClassVar[str] = "\x1b[1m"
    SEVERITY: ClassVar[dict[Severity, str]] = {
        Severity.ERROR: "\x1b[1;31m",
        Severity.WARNING: "\x1b[1;33m",
        Severity.INFO: "\x1b[1;36m",
    }
    GUTTER: ClassVar[str] = "\x1b[1;34m"

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled

    def paint(self, text: str, sgr: str) -> str:
        if not self.enabled or not text:
            return text
        return f"{sgr}{text}{self.RESET}"


def _cell(ch: str, at: int) -> tuple[str, int]:
    """How one source character is shown and how many terminal cells it takes.

    ``at`` is the display column the character starts at, needed for tab stops. Control
    characters are replaced so a stray escape byte in a source file cannot drive the
    terminal; wide East Asian characters take two cells and combining marks none, so
    carets stay under the characters the span counts.
    """
    if ch == "\t":
        width = TAB_WIDTH - at % TAB_WIDTH
        return " " * width, width
    category = unicodedata.category(ch)
    if category == "Cc":
        return "\ufffd", 1
    if category in ("Mn", "Me", "Cf"):
        return ch, 0
    if unicodedata.east_asian_width(ch) in ("W", "F"):
        return ch, 2
    return ch, 1


def _layout(line: str) -> tuple[str, list[int]]:
    """The displayable line and the display column at which each character starts.

    The returned list has one extra entry (the width of the whole line) so that column
    ``len(line) + 1`` - a caret just past the end - has a position too.
    """
    shown: list[str] = []
    starts: list[int] = []
    at = 0
    for ch in line:
        starts.append(at)
        text, width = _cell(ch, at)
        shown.append(text)
        at += width
    starts.append(at)
    return "".join(shown), starts


def _source_line(source: str, number: int) -> str | None:
    r"""Line ``number`` (1-based) without its terminator, or None when out of range.

    Splits only on ``\n`` (dropping a trailing ``\r``) because that is what line numbers
    in spans count; ``str.splitlines`` would also split on form feeds and U+2028.
    """
    if number < 1:
        return None
    lines = source.split("\n")
    if number > len(lines):
        return None
    return lines[number - 1].removesuffix("\r")


def _caret_range(span: Span, line: str, starts: list[int]) -> tuple[int, int]:
    """Display offset and width of the underline for ``span`` on its first line."""
    last = len(line) + 1  # the column just past the last character
    first_col = min(max(span.column, 1), last)
    # A multi-line span is underlined to the end of its first line only.
    multi = span.end_line > span.line
    end_col = last if multi else min(max(span.end_column, first_col), last)
    offset = starts[first_col - 1]
    width = starts[end_col - 1] - offset
    return offset, max(width, 1)


def _annotation(pad: str, label: str, text: str, style: _Style) -> list[str]:
    """``= hint: ...`` lines; continuation lines are indented under the first."""
    head = f"{pad} {style.paint('=', style.GUTTER)} {style.paint(label, style.BOLD)}: "
    indent = " " * (len(pad) + len(f" = {label}: "))
    first, *rest = text.split("\n")
    return [head + first] + [indent + more for more in rest]


def _render_one(diag: Diagnostic, sources: Mapping[str, str], style: _Style) -> list[str]:
    span = diag.span
    sev_style = style.SEVERITY[diag.severity]
    header = style.paint(f"{diag.severity.value}[{diag.code}]", sev_style)
    out = [header + style.paint(f": {diag.message}", style.BOLD)]

    number = str(span.line)
    pad = " " * len(number)
    bar = style.paint("|", style.GUTTER)
    out.append(f"{pad}{style.paint('-->', style.GUTTER)} {span}")

    source = sources.get(span.file)
    line = _source_line(source, span.line) if source is not None else None
    notes = [("hint", h) for h in diag.hints]
    notes += [("note", f"{r.span}: {r.message}") for r in diag.related]

    if line is not None:
        shown, starts = _layout(line)
        offset, width = _caret_range(span, line, starts)
        out.append(f"{pad} {bar}")
        out.append(f"{style.paint(number, style.GUTTER)} {bar} {shown}".rstrip())
        out.append(f"{pad} {bar} {' ' * offset}{style.paint('^' * width, sev_style)}")
        if notes:
            out.append(f"{pad} {bar}")
    for label, text in notes:
        out.extend(_annotation(pad, label, text, style))
    return out


def render_text(
    diags: Sequence[Diagnostic],
    sources: Mapping[str, str],
    color: bool = False,
    *,
    summary_line: bool = True,
) -> str:
    """Human-readable snippets in the rustc/ruff style, one block per diagnostic.

    ``sources`` maps the file names used in spans to their text; a diagnostic whose file
    or line is missing still gets its header, location, hints and notes, because a
    report without a snippet is better than no report.
    """
    style = _Style(color)
    blocks = ["\n".join(_render_one(d, sources, style)) for d in diags]
    if summary_line:
        blocks.append(style.paint(summary(diags), style.BOLD))
    return "\n\n".join(blocks) + "\n" if blocks else ""


# ---- JSON --------------------------------------------------------------------------------


def _span_fields(span: Span) -> dict[str, Any]:
    return {
        "file": span.file,
        "line": span.line,
        "column": span.column,
        "end_line": span.end_line,
        "end_column": span.end_column,
    }


def _json_object(diag: Diagnostic) -> dict[str, Any]:
    return {
        **_span_fields(diag.span),
        "severity": diag.severity.value,
        "code": diag.code,
        "message": diag.message,
        "hints": list(diag.hints),
        "related": [{**_span_fields(r.span), "message": r.message} for r in diag.related],
        **({"policy": diag.policy} if diag.policy else {}),
    }


def render_json(diags: Sequence[Diagnostic]) -> str:
    """A JSON list with a fixed key order, so that output diffs cleanly between runs.

    Columns are 1-based and count characters; ``end_column`` is exclusive, as in spans.
    """
    import json  # the machine formats' own imports, kept off the text format's path

    data = [_json_object(d) for d in diags]
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


# ---- SARIF -------------------------------------------------------------------------------


def _rule_name(title: str) -> str:
    """``"invalid URL"`` -> ``"InvalidURL"``: SARIF wants an identifier-like name.

    Only the first letter of each word is raised so that acronyms keep their case.
    """
    words = re.findall(r"[A-Za-z0-9]+", title)
    return "".join(w[0].upper() + w[1:] for w in words)


def _rule(code: str, level: str) -> dict[str, Any]:
    from setlist.codes import CODES

    entry = CODES.get(code)
    if entry is not None:
        title, explanation = entry.title, entry.explanation
    else:
        # A stage may report a code the catalogue has not caught up with; the run is still
        # worth uploading, so describe the rule generically rather than failing.
        title = f"diagnostic {code}"
        explanation = f"{code} has no entry in the diagnostic catalogue of this version."
    return {
        "id": code,
        "name": _rule_name(title) or code,
        "shortDescription": {"text": title},
        "fullDescription": {"text": explanation},
        "help": {"text": explanation},
        "defaultConfiguration": {"level": level},
    }


def _rule_id(diag: Diagnostic) -> str:
    """Policy violations get one rule per policy (``SL800/std.no_latest_tag``), so that code
    scanning groups and explains them by policy; everything else one rule per code."""
    return f"{diag.code}/{diag.policy}" if diag.policy else diag.code


def _policy_rule(rule_id: str, level: str, help_text: str | None) -> dict[str, Any]:
    code, policy = rule_id.split("/", 1)
    rule = _rule(code, level)
    text = help_text or f"Policy {policy} (see its declaration)."
    return {**rule, "id": rule_id, "name": _rule_name(policy) or rule["name"],
            "shortDescription": {"text": f"policy {policy}"},
            "fullDescription": {"text": text},
            "help": {"text": f"{text}\n\n{rule['help']['text']}"}}


_DRIVE = re.compile(r"^[A-Za-z]:/")


def _artifact_uri(path: str) -> str:
    """A URI reference for ``path``, kept relative when the path is relative.

    Backslashes become slashes and characters that are not allowed in a URI (spaces,
    ``%``, ``#``, non-ASCII) are percent-encoded; a Windows drive path becomes a
    ``file:`` URI because ``C:/x`` would otherwise read as scheme ``c``.
    """
    path = path.replace("\\", "/")
    encoded = quote(path, safe="/:@!$&'()*+,;=~")
    if _DRIVE.match(path):
        return "file:///" + encoded
    return encoded


def _region(span: Span) -> dict[str, int]:
    """A SARIF region; clamped because one impossible region rejects the whole upload."""
    start_line = max(span.line, 1)
    start_col = max(span.column, 1)
    end_line = max(span.end_line, start_line)
    end_col = max(span.end_column, 1)
    if end_line == start_line:
        end_col = max(end_col, start_col)
    return {
        "startLine": start_line,
        "startColumn": start_col,
        "endLine": end_line,
        "endColumn": end_col,
    }


def _physical(span: Span) -> dict[str, Any]:
    return {
        "artifactLocation": {"uri": _artifact_uri(span.file)},
        "region": _region(span),
    }


def _with_hints(diag: Diagnostic, prefix: str = "hint: ") -> str:
    return "\n".join([diag.message, *(prefix + h for h in diag.hints)])


def render_sarif(diags: Sequence[Diagnostic], tool_version: str) -> str:
    """A SARIF 2.1.0 log with one run, for code-scanning uploads.

    Rules cover only the codes that occur, sorted by id so that ``ruleIndex`` is stable.
    A rule's default level is the most severe level it was reported with, since the
    catalogue does not fix a severity per code. ``columnKind`` is declared as code points
    because span columns count characters, not the UTF-16 units SARIF assumes otherwise.
    """
    levels: dict[str, Severity] = {}
    helps: dict[str, str | None] = {}
    for d in diags:
        rid = _rule_id(d)
        known = levels.get(rid)
        if known is None or _RANK[d.severity] < _RANK[known]:
            levels[rid] = d.severity
        if d.policy:
            helps[rid] = d.policy_help
    codes = sorted(levels)
    index = {code: i for i, code in enumerate(codes)}
    rules = [_policy_rule(rid, _SARIF_LEVEL[levels[rid]], helps[rid]) if rid in helps
             else _rule(rid, _SARIF_LEVEL[levels[rid]]) for rid in codes]

    results = []
    for d in diags:
        result: dict[str, Any] = {
            "ruleId": _rule_id(d),
            "ruleIndex": index[_rule_id(d)],
            "level": _SARIF_LEVEL[d.severity],
            "message": {"text": _with_hints(d)},
            "locations": [{"physicalLocation": _physical(d.span)}],
        }
        if d.related:
            result["relatedLocations"] = [
                {"id": i, "physicalLocation": _physical(r.span), "message": {"text": r.message}}
                for i, r in enumerate(d.related)
            ]
        results.append(result)

    log = {
        "$schema": SARIF_SCHEMA,
        "version": SARIF_VERSION,
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "setlist",
                        "informationUri": INFORMATION_URI,
                        "version": tool_version,
                        "rules": rules,
                    }
                },
                "columnKind": "unicodeCodePoints",
                "results": results,
            }
        ],
    }
    import json

    return json.dumps(log, indent=2, ensure_ascii=False) + "\n"


# ---- GitHub Actions ----------------------------------------------------------------------


def _escape_data(text: str) -> str:
    """Escape a workflow-command message; ``%`` first so later escapes are not doubled."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    """Escape a property value, where ``:`` and ``,`` would end the value early."""
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def render_github(diags: Sequence[Diagnostic]) -> str:
    """GitHub Actions workflow commands, one annotation per line.

    GitHub only accepts ``col``/``endColumn`` when the annotation starts and ends on the
    same line, so multi-line spans are annotated by lines alone. Related locations become
    ``note:`` lines in the message because annotations cannot point at a second place.
    """
    lines = []
    for d in diags:
        span = d.span
        props = [("file", span.file), ("line", str(span.line))]
        if span.end_line == span.line:
            props.append(("col", str(span.column)))
            props += [("endLine", str(span.end_line)), ("endColumn", str(span.end_column))]
        else:
            props.append(("endLine", str(span.end_line)))
        props.append(("title", d.code))
        prop_text = ",".join(f"{key}={_escape_property(value)}" for key, value in props)
        message = "\n".join([_with_hints(d), *(f"note: {r.span}: {r.message}" for r in d.related)])
        lines.append(f"::{_GITHUB_COMMAND[d.severity]} {prop_text}::{_escape_data(message)}")
    return "".join(line + "\n" for line in lines)


# ---- registry for the CLI ----------------------------------------------------------------


class Renderer(Protocol):
    """The one call shape the CLI uses for every ``--format``."""

    def __call__(
        self,
        diags: Sequence[Diagnostic],
        sources: Mapping[str, str],
        *,
        color: bool,
        tool_version: str,
    ) -> str: ...


def _text(
    diags: Sequence[Diagnostic], sources: Mapping[str, str], *, color: bool, tool_version: str
) -> str:
    return render_text(diags, sources, color=color)


def _json(
    diags: Sequence[Diagnostic], sources: Mapping[str, str], *, color: bool, tool_version: str
) -> str:
    return render_json(diags)


def _sarif(
    diags: Sequence[Diagnostic], sources: Mapping[str, str], *, color: bool, tool_version: str
) -> str:
    return render_sarif(diags, tool_version)


def _github(
    diags: Sequence[Diagnostic], sources: Mapping[str, str], *, color: bool, tool_version: str
) -> str:
    return render_github(diags)


# Machine formats ignore ``color`` on purpose: escape codes would corrupt them.
RENDERERS: dict[str, Renderer] = {
    "text": _text,
    "json": _json,
    "sarif": _sarif,
    "github": _github,
}
