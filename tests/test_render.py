"""Tests for setlist.render: what users and machines actually receive."""

from __future__ import annotations

import json
import re

import jsonschema
import pytest

from setlist.codes import CODES
from setlist.diagnostics import Diagnostic, Related, Severity, Span
from setlist.render import (
    RENDERERS,
    render_github,
    render_json,
    render_sarif,
    render_text,
    summary,
)

FILE = "examples/quickstart/main.setlist"
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def span(line: int, col: int, end_col: int, *, end_line: int | None = None, file: str = FILE):
    return Span(
        file=file,
        line=line,
        column=col,
        end_line=line if end_line is None else end_line,
        end_column=end_col,
    )


def diag(
    sp: Span,
    message: str = "boom",
    *,
    severity: Severity = Severity.ERROR,
    code: str = "SL200",
    hints: tuple[str, ...] = (),
    related: tuple[Related, ...] = (),
) -> Diagnostic:
    return Diagnostic(
        span=sp, severity=severity, code=code, message=message, hints=hints, related=related
    )


def col_of(line: str, needle: str) -> int:
    """1-based character column of ``needle`` in ``line``."""
    return line.index(needle) + 1


def snippet(out: str, number: int) -> tuple[str, str]:
    """The displayed source line and the caret line below it (text after ``| ``)."""
    lines = out.splitlines()
    for i, text in enumerate(lines):
        if text.startswith(f"{number} | ") or text == f"{number} |":
            shown = text.split(" | ", 1)[1] if " | " in text else ""
            carets = lines[i + 1].split(" | ", 1)[1]
            return shown, carets
    raise AssertionError(f"no snippet for line {number} in:\n{out}")


def underlined(shown: str, carets: str) -> str:
    """The part of the displayed line that sits above the carets."""
    start = len(carets) - len(carets.lstrip(" "))
    assert set(carets[start:]) == {"^"}
    return shown[start : len(carets)]


# ---- text --------------------------------------------------------------------------------

QUICKSTART = "\n".join(
    [
        "// quickstart",
        "",
        "",
        "",
        "environment staging {",
        *[""] * 6,
        "  deploy = [dev, stagin, prod]",
        "",
    ]
)


def test_text_matches_the_documented_layout() -> None:
    source_line = QUICKSTART.split("\n")[11]
    col = col_of(source_line, "stagin")
    d = diag(
        span(12, col, col + 6),
        "unknown name 'stagin'",
        hints=("did you mean 'staging'?",),
        related=(Related(span=span(5, 13, 20), message="'staging' is declared here"),),
    )
    out = render_text([d], {FILE: QUICKSTART})
    assert out == (
        "error[SL200]: unknown name 'stagin'\n"
        f"  --> {FILE}:12:{col}\n"
        "   |\n"
        "12 |   deploy = [dev, stagin, prod]\n"
        "   |                  ^^^^^^\n"
        "   |\n"
        "   = hint: did you mean 'staging'?\n"
        f"   = note: {FILE}:5:13: 'staging' is declared here\n"
        "\n"
        "1 error\n"
    )


def test_carets_line_up_after_tabs() -> None:
    line = "\tdeploy =\t[dev,\tstagin]"
    col = col_of(line, "stagin")
    out = render_text([diag(span(1, col, col + 6))], {FILE: line + "\n"}, summary_line=False)
    shown, carets = snippet(out, 1)
    assert "\t" not in shown
    assert underlined(shown, carets) == "stagin"


def test_tab_inside_the_span_is_underlined_at_its_expanded_width() -> None:
    line = "a\tb"
    out = render_text([diag(span(1, 1, 4))], {FILE: line}, summary_line=False)
    shown, carets = snippet(out, 1)
    assert underlined(shown, carets) == shown == "a   b"


@pytest.mark.parametrize(
    ("line", "target"),
    [
        ('name = "café" + stagin', "stagin"),
        ('name = "café" + stagin', '"café"'),
        ("ünïcödé = «x» + stagin", "stagin"),
        ("Ωmega → «x» = stagin", "«x»"),
    ],
)
def test_carets_count_characters_not_bytes(line: str, target: str) -> None:
    col = col_of(line, target)
    d = diag(span(1, col, col + len(target)))
    out = render_text([d], {FILE: line}, summary_line=False)
    shown, carets = snippet(out, 1)
    assert underlined(shown, carets) == target


@pytest.mark.parametrize(
    ("line", "target", "offset", "width"),
    [
        ('label = "東京" + stagin', "stagin", 17, 6),  # wide characters take two cells
        ('label = "東京" + stagin', "東京", 9, 4),
        ("e\u0301t\u00e9 = stagin", "stagin", 6, 6),  # a combining accent takes none
    ],
)
def test_carets_follow_terminal_cell_widths(
    line: str, target: str, offset: int, width: int
) -> None:
    col = col_of(line, target)
    out = render_text([diag(span(1, col, col + len(target)))], {FILE: line}, summary_line=False)
    shown, carets = snippet(out, 1)
    assert shown == line
    assert carets == " " * offset + "^" * width


def test_multi_line_span_underlines_to_end_of_first_line() -> None:
    src = "app api {\n  deploy = [dev]\n}\n"
    d = diag(span(1, 5, 2, end_line=3))
    out = render_text([d], {FILE: src}, summary_line=False)
    shown, carets = snippet(out, 1)
    assert shown == "app api {"
    assert underlined(shown, carets) == "api {"
    assert "2 |" not in out


def test_empty_span_and_span_past_end_of_line_get_one_caret() -> None:
    src = "deploy = [\n"
    at_bracket = diag(span(1, 10, 10))
    past_end = diag(span(1, 11, 11), "expected ']'")
    way_past = diag(span(1, 40, 45))
    for d, col in ((at_bracket, 10), (past_end, 11), (way_past, 11)):
        out = render_text([d], {FILE: src}, summary_line=False)
        _, carets = snippet(out, 1)
        assert carets == " " * (col - 1) + "^"


def test_missing_source_prints_header_and_location_only() -> None:
    d = diag(span(3, 2, 5), "unknown name 'x'", hints=("did you mean 'y'?",))
    for sources in ({}, {FILE: "only one line\n"}, {"other.setlist": "a\nb\nc\n"}):
        out = render_text([d], sources, summary_line=False)
        assert out == (
            f"error[SL200]: unknown name 'x'\n --> {FILE}:3:2\n  = hint: did you mean 'y'?\n"
        )
        assert "^" not in out


def test_crlf_and_control_characters_do_not_leak_into_the_snippet() -> None:
    src = "a = 1\r\nb = \x1b[31mx\r\n"
    col = col_of("b = \x1b[31mx", "x")
    out = render_text([diag(span(2, col, col + 1))], {FILE: src}, summary_line=False)
    shown, carets = snippet(out, 2)
    assert "\r" not in out and "\x1b" not in out
    assert underlined(shown, carets) == "x"


def test_gutter_widens_with_the_line_number() -> None:
    src = "\n" * 99 + "boom\n"
    out = render_text([diag(span(100, 1, 5))], {FILE: src}, summary_line=False)
    assert out.splitlines()[1:5] == [
        f"   --> {FILE}:100:1",
        "    |",
        "100 | boom",
        "    | ^^^^",
    ]


def test_related_notes_and_multi_line_hints() -> None:
    other = span(7, 3, 9, file="lib/envs.setlist")
    d = diag(
        span(1, 1, 2),
        "duplicate declaration",
        code="SL201",
        hints=("rename one\nor delete it",),
        related=(
            Related(span=other, message="first declared here"),
            Related(span=span(2, 1, 2), message="also here"),
        ),
    )
    out = render_text([d], {FILE: "x\ny\n"}, summary_line=False)
    assert out.endswith(
        "  |\n"
        "  = hint: rename one\n"
        "          or delete it\n"
        "  = note: lib/envs.setlist:7:3: first declared here\n"
        f"  = note: {FILE}:2:1: also here\n"
    )


def test_no_trailing_blank_gutter_without_notes() -> None:
    out = render_text([diag(span(1, 1, 2))], {FILE: "x"}, summary_line=False)
    assert out.splitlines()[-1] == "  | ^"


def test_severity_labels_and_block_separation() -> None:
    ds = [
        diag(span(1, 1, 2), "e"),
        diag(span(1, 1, 2), "w", severity=Severity.WARNING, code="SL207"),
        diag(span(1, 1, 2), "i", severity=Severity.INFO, code="SL999"),
    ]
    out = render_text(ds, {})
    blocks = out.rstrip("\n").split("\n\n")
    assert [b.splitlines()[0] for b in blocks] == [
        "error[SL200]: e",
        "warning[SL207]: w",
        "info[SL999]: i",
        "1 error, 1 warning, 1 info message",
    ]


@pytest.mark.parametrize(
    ("counts", "expected"),
    [
        ((0, 0, 0), "no problems found"),
        ((1, 0, 0), "1 error"),
        ((2, 0, 0), "2 errors"),
        ((0, 1, 0), "1 warning"),
        ((0, 3, 0), "3 warnings"),
        ((2, 1, 0), "2 errors, 1 warning"),
        ((1, 2, 0), "1 error, 2 warnings"),
        ((0, 0, 1), "1 info message"),
        ((1, 1, 2), "1 error, 1 warning, 2 info messages"),
    ],
)
def test_summary_pluralisation(counts: tuple[int, int, int], expected: str) -> None:
    sevs = [Severity.ERROR, Severity.WARNING, Severity.INFO]
    ds = [
        diag(span(1, 1, 2), severity=s) for s, n in zip(sevs, counts, strict=True) for _ in range(n)
    ]
    assert summary(ds) == expected


def test_summary_line_is_optional() -> None:
    d = diag(span(1, 1, 2))
    assert render_text([d], {}).endswith("\n\n1 error\n")
    assert "1 error" not in render_text([d], {}, summary_line=False)
    assert render_text([], {}) == "no problems found\n"
    assert render_text([], {}, summary_line=False) == ""


def test_color_only_when_asked_and_layout_unchanged() -> None:
    src = "  deploy = [dev, stagin]\n"
    d = diag(span(1, 17, 23), "bad", hints=("h",))
    w = diag(span(1, 17, 23), "meh", severity=Severity.WARNING)
    plain = render_text([d, w], {FILE: src})
    colored = render_text([d, w], {FILE: src}, color=True)
    assert "\x1b[" not in plain
    assert "\x1b[1;31merror[SL200]" in colored
    assert "\x1b[1;33mwarning[SL200]" in colored
    assert "\x1b[1;34m|" in colored
    assert "\x1b[1;31m^^^^^^" in colored
    assert ANSI.sub("", colored) == plain


# ---- JSON --------------------------------------------------------------------------------


def test_json_keys_order_and_values() -> None:
    rel = Related(span=span(5, 13, 20, file="lib/envs.setlist"), message="declared here")
    d = diag(span(12, 18, 24), "unknown name 'café'", hints=("h1", "h2"), related=(rel,))
    text = render_json([d])
    assert text.endswith("]\n")
    assert "café" in text  # not \u-escaped
    data = json.loads(text)
    assert list(data[0]) == [
        "file", "line", "column", "end_line", "end_column",
        "severity", "code", "message", "hints", "related",
    ]  # fmt: skip
    assert data[0]["severity"] == "error"
    assert data[0]["hints"] == ["h1", "h2"]
    assert data[0]["related"] == [
        {
            "file": "lib/envs.setlist",
            "line": 5,
            "column": 13,
            "end_line": 5,
            "end_column": 20,
            "message": "declared here",
        }
    ]
    assert list(data[0]["related"][0]) == [
        "file", "line", "column", "end_line", "end_column", "message",
    ]  # fmt: skip


def test_json_round_trips_to_the_same_diagnostics() -> None:
    ds = [
        diag(span(1, 2, 3), "a", hints=("x",)),
        diag(
            span(4, 1, 2, end_line=6),
            "b\nc",
            severity=Severity.WARNING,
            code="SL207",
            related=(Related(span=span(9, 9, 10), message="r"),),
        ),
        diag(span(2, 2, 2), "i", severity=Severity.INFO, code="SL999"),
    ]
    data = json.loads(render_json(ds))
    rebuilt = [
        Diagnostic(
            span=Span(**{k: o[k] for k in ("file", "line", "column", "end_line", "end_column")}),
            severity=Severity(o["severity"]),
            code=o["code"],
            message=o["message"],
            hints=tuple(o["hints"]),
            related=tuple(
                Related(
                    span=Span(**{k: v for k, v in r.items() if k != "message"}),
                    message=r["message"],
                )
                for r in o["related"]
            ),
        )
        for o in data
    ]
    assert rebuilt == ds
    assert render_json(rebuilt) == render_json(ds)


def test_json_empty() -> None:
    assert render_json([]) == "[]\n"


# ---- SARIF -------------------------------------------------------------------------------

_REGION = {
    "type": "object",
    "required": ["startLine", "startColumn", "endLine", "endColumn"],
    "properties": {
        k: {"type": "integer", "minimum": 1}
        for k in ("startLine", "startColumn", "endLine", "endColumn")
    },
}
_PHYSICAL = {
    "type": "object",
    "required": ["artifactLocation", "region"],
    "properties": {
        "artifactLocation": {
            "type": "object",
            "required": ["uri"],
            "properties": {"uri": {"type": "string", "pattern": r"^[^\\ ]+$"}},
        },
        "region": _REGION,
    },
}
_MESSAGE = {
    "type": "object",
    "required": ["text"],
    "properties": {"text": {"type": "string", "minLength": 1}},
}
# A hand-written subset of the SARIF 2.1.0 schema: the parts GitHub code scanning reads.
SARIF_SUBSET = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["$schema", "version", "runs"],
    "properties": {
        "version": {"const": "2.1.0"},
        "runs": {
            "type": "array",
            "minItems": 1,
            "maxItems": 1,
            "items": {
                "type": "object",
                "required": ["tool", "results"],
                "properties": {
                    "columnKind": {"enum": ["utf16CodeUnits", "unicodeCodePoints"]},
                    "tool": {
                        "type": "object",
                        "required": ["driver"],
                        "properties": {
                            "driver": {
                                "type": "object",
                                "required": ["name", "version", "informationUri", "rules"],
                                "properties": {
                                    "name": {"const": "setlist"},
                                    "rules": {
                                        "type": "array",
                                        "items": {
                                            "type": "object",
                                            "required": [
                                                "id", "name", "shortDescription",
                                                "fullDescription", "help",
                                                "defaultConfiguration",
                                            ],
                                            "properties": {
                                                "id": {"type": "string"},
                                                "name": {
                                                    "type": "string",
                                                    "pattern": "^[A-Za-z0-9]+$",
                                                },
                                                "shortDescription": _MESSAGE,
                                                "fullDescription": _MESSAGE,
                                                "help": _MESSAGE,
                                                "defaultConfiguration": {
                                                    "type": "object",
                                                    "properties": {
                                                        "level": {
                                                            "enum": ["error", "warning", "note"]
                                                        }
                                                    },
                                                },
                                            },
                                        },
                                    },
                                },
                            }
                        },
                    },
                    "results": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["ruleId", "ruleIndex", "level", "message", "locations"],
                            "properties": {
                                "ruleId": {"type": "string"},
                                "ruleIndex": {"type": "integer", "minimum": 0},
                                "level": {"enum": ["error", "warning", "note"]},
                                "message": _MESSAGE,
                                "locations": {
                                    "type": "array",
                                    "minItems": 1,
                                    "items": {
                                        "type": "object",
                                        "required": ["physicalLocation"],
                                        "properties": {"physicalLocation": _PHYSICAL},
                                    },
                                },
                                "relatedLocations": {
                                    "type": "array",
                                    "items": {
                                        "type": "object",
                                        "required": ["id", "physicalLocation", "message"],
                                        "properties": {
                                            "id": {"type": "integer", "minimum": 0},
                                            "physicalLocation": _PHYSICAL,
                                            "message": _MESSAGE,
                                        },
                                    },
                                },
                            },
                        },
                    },
                },
            },
        },
    },
}  # fmt: skip


def _sarif_sample() -> list[Diagnostic]:
    return [
        diag(
            span(12, 18, 24),
            "unknown name 'stagin'",
            code="SL200",
            hints=("did you mean 'staging'?",),
            related=(Related(span=span(5, 13, 20), message="'staging' is declared here"),),
        ),
        diag(
            span(1, 1, 20, file="sub dir\\lib.setlist"),
            "unused import",
            severity=Severity.WARNING,
            code="SL207",
        ),
        diag(span(2, 3, 1, end_line=4), "cycle", code="SL205"),
        diag(span(3, 1, 2), "not catalogued", severity=Severity.INFO, code="SL999"),
        diag(span(4, 1, 2), "second unknown name", code="SL200"),
    ]


def test_sarif_structure_rules_and_results() -> None:
    ds = _sarif_sample()
    log = json.loads(render_sarif(ds, "1.2.3"))
    jsonschema.Draft202012Validator.check_schema(SARIF_SUBSET)
    jsonschema.validate(log, SARIF_SUBSET, cls=jsonschema.Draft202012Validator)

    assert log["$schema"] == "https://json.schemastore.org/sarif-2.1.0.json"
    (run,) = log["runs"]
    driver = run["tool"]["driver"]
    assert driver["version"] == "1.2.3"
    assert driver["informationUri"] == "https://github.com/setlist-dev/setlist"

    rules = driver["rules"]
    assert [r["id"] for r in rules] == ["SL200", "SL205", "SL207", "SL999"]
    sl200 = rules[0]
    assert sl200["name"] == "UnknownName"
    assert sl200["shortDescription"]["text"] == CODES["SL200"].title
    assert sl200["fullDescription"]["text"] == CODES["SL200"].explanation
    assert sl200["help"]["text"] == CODES["SL200"].explanation
    assert [r["defaultConfiguration"]["level"] for r in rules] == [
        "error", "error", "warning", "note",
    ]  # fmt: skip
    assert rules[3]["name"] and "SL999" in rules[3]["shortDescription"]["text"]

    results = run["results"]
    assert [r["ruleId"] for r in results] == [d.code for d in ds]
    for res in results:
        assert rules[res["ruleIndex"]]["id"] == res["ruleId"]
    assert [r["level"] for r in results] == ["error", "warning", "error", "note", "error"]
    assert results[0]["message"]["text"] == "unknown name 'stagin'\nhint: did you mean 'staging'?"

    loc = results[0]["locations"][0]["physicalLocation"]
    assert loc["artifactLocation"]["uri"] == FILE
    assert loc["region"] == {"startLine": 12, "startColumn": 18, "endLine": 12, "endColumn": 24}
    assert results[2]["locations"][0]["physicalLocation"]["region"] == {
        "startLine": 2, "startColumn": 3, "endLine": 4, "endColumn": 1,
    }  # fmt: skip
    uri = results[1]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
    assert uri == "sub%20dir/lib.setlist"

    (rel,) = results[0]["relatedLocations"]
    assert rel["id"] == 0
    assert rel["message"]["text"] == "'staging' is declared here"
    assert rel["physicalLocation"]["region"]["startLine"] == 5
    assert "relatedLocations" not in results[1]


def test_sarif_rule_names_keep_acronyms() -> None:
    log = json.loads(render_sarif([diag(span(1, 1, 2), code="SL408")], "0"))
    assert log["runs"][0]["tool"]["driver"]["rules"][0]["name"] == "InvalidURL"


def test_sarif_is_deterministic_and_indented() -> None:
    ds = _sarif_sample()
    first = render_sarif(ds, "1.0")
    assert first == render_sarif(list(ds), "1.0")
    assert first.startswith('{\n  "$schema"') and first.endswith("}\n")


def test_sarif_empty_run_is_valid() -> None:
    log = json.loads(render_sarif([], "1.0"))
    jsonschema.validate(log, SARIF_SUBSET, cls=jsonschema.Draft202012Validator)
    assert log["runs"][0]["results"] == []
    assert log["runs"][0]["tool"]["driver"]["rules"] == []


def test_sarif_clamps_impossible_regions() -> None:
    log = json.loads(
        render_sarif([diag(Span(file="f", line=0, column=0, end_line=0, end_column=0))], "1")
    )
    jsonschema.validate(log, SARIF_SUBSET, cls=jsonschema.Draft202012Validator)


# ---- GitHub ------------------------------------------------------------------------------


def test_github_basic_command() -> None:
    d = diag(span(12, 18, 24), "unknown name 'stagin'", hints=("did you mean 'staging'?",))
    assert render_github([d]) == (
        f"::error file={FILE},line=12,col=18,endLine=12,endColumn=24,title=SL200"
        "::unknown name 'stagin'%0Ahint: did you mean 'staging'?\n"
    )


def test_github_levels() -> None:
    ds = [
        diag(span(1, 1, 2)),
        diag(span(1, 1, 2), severity=Severity.WARNING),
        diag(span(1, 1, 2), severity=Severity.INFO),
    ]
    assert [line.split(" ", 1)[0] for line in render_github(ds).splitlines()] == [
        "::error", "::warning", "::notice",
    ]  # fmt: skip


def test_github_escaping_of_message_and_properties() -> None:
    d = diag(
        span(1, 1, 2, file="dir,a/b:c%d.setlist"),
        "100% bad: a, b\r\nnext",
        hints=("use 50%",),
    )
    (line,) = render_github([d]).splitlines()
    props, message = line.removeprefix("::error ").split("::", 1)
    assert props.startswith("file=dir%2Ca/b%3Ac%25d.setlist,line=1,")
    assert message == "100%25 bad: a, b%0D%0Anext%0Ahint: use 50%25"
    assert "\n" not in line and "\r" not in line


def test_github_multi_line_span_has_no_columns_and_related_become_notes() -> None:
    rel = Related(span=span(9, 2, 3), message="opened here")
    d = diag(span(3, 4, 1, end_line=5), "unclosed", related=(rel,))
    assert render_github([d]) == (
        f"::error file={FILE},line=3,endLine=5,title=SL200"
        f"::unclosed%0Anote: {FILE}:9:2: opened here\n"
    )


def test_github_empty() -> None:
    assert render_github([]) == ""


# ---- registry ----------------------------------------------------------------------------


def test_renderers_share_one_signature() -> None:
    assert set(RENDERERS) == {"text", "json", "sarif", "github"}
    ds = [diag(span(1, 1, 2), "m")]
    sources = {FILE: "x\n"}
    outs = {
        name: fn(ds, sources, color=False, tool_version="9.9") for name, fn in RENDERERS.items()
    }
    assert outs["text"] == render_text(ds, sources)
    assert outs["json"] == render_json(ds)
    assert outs["sarif"] == render_sarif(ds, "9.9")
    assert outs["github"] == render_github(ds)
    assert "\x1b[" in RENDERERS["text"](ds, sources, color=True, tool_version="9.9")
    for name in ("json", "sarif", "github"):
        assert RENDERERS[name](ds, sources, color=True, tool_version="9.9") == outs[name]
