"""`setlist fmt`: one canonical layout, comments kept, idempotent, meaning unchanged.

Meaning is compared on what the rest of the compiler sees: the checked spec (spans left out),
the diagnostic codes, the syntax tree (policy bodies are only parsed, never checked) and the
comments, for every spec file of the repository, every example in the docs and generated specs.
"""

from __future__ import annotations

import dataclasses
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_properties import mutated

from conftest import EXAMPLES, ROOT, without_spans, write
from setlist.cli import main
from setlist.diagnostics import Span
from setlist.fmt import WIDTH, FormatError, format_source, parse_document
from setlist.parse import parse_source
from setlist.project import load

SETTINGS = settings(max_examples=int(os.environ.get("SETLIST_FUZZ_EXAMPLES", "250")),
                    deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _plain(value):
    """A syntax-tree node as plain data, spans left out."""
    if dataclasses.is_dataclass(value):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)
                if not isinstance(getattr(value, f.name), Span)}
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    return value


def meaning(text: str, path: str = "fmt.setlist") -> dict:
    project = load((path,) if os.path.exists(path) else (), overrides={path: text})
    module, _ = parse_source(text, path)
    return {
        "spec": without_spans(project.spec) if project.spec is not None else None,
        "codes": sorted(d.code for d in project.diagnostics),
        "syntax": _plain(module.decls),
        # comment words in order: a comment moved to the end of a line may share it
        "comments": [w for t in parse_document(text).tokens for c in t.comments
                     for w in c.text.split()],
    }


def assert_formats_safely(text: str, path: str = "fmt.setlist") -> str:
    """Idempotent and meaning-preserving. CRLF text is compared with its LF form, which is
    what `setlist check` reads from disk (Python's universal newlines)."""
    once = format_source(text, path)
    assert format_source(once, path) == once, "formatting is not idempotent"
    lf = text.replace("\r\n", "\n").replace("\r", "\n")
    assert meaning(once, path) == meaning(lf, path), \
        "formatting changed the meaning"
    return once


# ---- every spec file and docs example -----------------------------------------------------

def _corpus() -> list[tuple[str, Path | None, str]]:
    files = [*EXAMPLES.rglob("*.setlist"), *(ROOT / "stdlib").rglob("*.setlist"),
             *(ROOT / "tests" / "golden").rglob("*.setlist"),
             *(ROOT / "tests" / "bad_inputs").rglob("*.setlist")]
    cases: list[tuple[str, Path | None, str]] = [
        (p.relative_to(ROOT).as_posix(), p, p.read_text("utf-8")) for p in sorted(files)]
    fence = re.compile(r"^```setlist(?:-fragment)?[ \t]*\n(.*?)^```[ \t]*$",
                       re.MULTILINE | re.DOTALL)
    for md in sorted((ROOT / "docs").glob("*.md")) + [ROOT / "README.md"]:
        text = md.read_text("utf-8")
        for mt in fence.finditer(text):
            line = text.count("\n", 0, mt.start()) + 1
            cases.append((f"{md.relative_to(ROOT).as_posix()}:{line}", None, mt.group(1)))
    return cases


CORPUS = _corpus()


@pytest.mark.parametrize("where,path,text", CORPUS, ids=[c[0] for c in CORPUS])
def test_corpus_formats_safely(where, path, text):
    try:
        format_source(text, where)
    except FormatError:
        assert where.startswith(("tests/bad_inputs/", "tests/golden/parse_errors/")), \
            f"{where} should parse"
        return
    assert_formats_safely(text, str(path) if path else "fmt.setlist")


def test_corpus_is_large_and_mostly_parses():
    parsed = 0
    for where, _, text in CORPUS:
        try:
            format_source(text, where)
            parsed += 1
        except FormatError:
            pass
    assert len(CORPUS) > 150 and parsed > 120


@pytest.mark.parametrize("path", sorted([*EXAMPLES.rglob("*.setlist"),
                                         *(ROOT / "stdlib").rglob("*.setlist")]),
                         ids=lambda p: p.relative_to(ROOT).as_posix())
def test_repository_specs_are_formatted(path):
    text = path.read_text("utf-8")
    assert format_source(text) == text


# ---- the canonical layout ------------------------------------------------------------------

CASES = {
    "blocks one field a line, = aligned, ; and one-line blocks expanded": (
        'environment dev  { clusters = cluster.env == "dev"; writeback = direct }\n'
        'app shop { base = "apps/shop"   namespace="shop" deploy=[dev] }\n',
        'environment dev {\n  clusters  = cluster.env == "dev"\n  writeback = direct\n}\n\n'
        'app shop {\n  base      = "apps/shop"\n  namespace = "shop"\n  deploy    = [dev]\n}\n'),
    "alignment runs end at blank lines, own-line comments and freezes": (
        "environment prod {\n\tclusters = all\n\twriteback = direct\n\n\n\trollout = [rest]\n"
        '  // why\n  updates = setlist\n  freeze "0 0 * * *" for 2h\n'
        "  preserve_resources_on_deletion = true\n  labels = {}\n\n}\n",
        "environment prod {\n  clusters  = all\n  writeback = direct\n\n  rollout = [rest]\n"
        '  // why\n  updates = setlist\n  freeze "0 0 * * *" for 2h\n'
        "  preserve_resources_on_deletion = true\n  labels                         = {}\n}\n"),
    "one blank line between declarations, one-liners may stay together": (
        '\n\n// header\n\n\n\nimport "std/sync"\nimport "./lib" as  lib\n\n\n\nconst a=1\n'
        "const b = 2\napp x {}\nuse p\n\n\n\nuse q\n",
        '// header\n\nimport "std/sync"\nimport "./lib" as lib\n\nconst a = 1\nconst b = 2\n'
        "app x {}\nuse p\n\nuse q\n"),
    "multi-line declarations are set apart": (
        'const a = 1\napp x { base = "b" }\nconst c = 3\n',
        'const a = 1\n\napp x {\n  base = "b"\n}\n\nconst c = 3\n'),
    "comments stay where they belong": (
        "/// Doc of api.\n// more doc\nimage api {   // after the brace\n"
        '  repository = "r"    // trailing\n\n  // before tag\n  tag = "1"\n\n'
        "  // at the end\n}   // after the block\n\n// end of file\n",
        "/// Doc of api.\n// more doc\nimage api {  // after the brace\n"
        '  repository = "r"  // trailing\n\n  // before tag\n  tag = "1"\n\n'
        "  // at the end\n}  // after the block\n\n// end of file\n"),
    "a comment inside a list breaks it, one item a line": (
        "app a { deploy = [dev, // first\n prod] }\n",
        "app a {\n  deploy = [\n    dev,  // first\n    prod,\n  ]\n}\n"),
    "a comment inside an expression goes to the end of its line": (
        'environment e { clusters = cluster.env == // why\n "x" and exists cluster.y }\n',
        'environment e {\n  clusters = cluster.env == "x" and exists cluster.y  // why\n}\n'),
    "strings and regular expressions are kept verbatim": (
        'image i { repository = "a\\"b\\u{e9}\\t\\${x}é//x"   allow_tags = /^v\\/\\d+ é$/ }\n',
        'image i {\n  repository = "a\\"b\\u{e9}\\t\\${x}é//x"\n'
        "  allow_tags = /^v\\/\\d+ é$/\n}\n"),
    "maps and calls": (
        "app a { labels = {team:\"x\",\"k/v\": \"y\",} sync = automated (prune : true,)"
        " annotations = { } x = f() }\n",
        'app a {\n  labels      = { team: "x", "k/v": "y" }\n'
        "  sync        = automated(prune: true)\n  annotations = {}\n  x           = f()\n}\n"),
    "parentheses are kept": (
        "environment e { clusters = ((cluster.a == \"1\")) or (cluster.b == \"2\" or all) }\n",
        'environment e {\n  clusters = ((cluster.a == "1")) or (cluster.b == "2" or all)\n}\n'),
    "promotion arrows aligned, policies": (
        "promotion api { dev <- registry; staging<-dev after 2h\n"
        "prod <- envs.staging after 24h , approval }\n"
        "policy p ( max : number = 3 , kinds: list[string] , ) { for d in deployments where"
        ' d.env==prod { require d.x!=none , "m" ; deny d.y , "n" } }\n'
        'waive p for app legacy until 2027-03-01 because "ticket"\n',
        "promotion api {\n  dev     <- registry\n  staging <- dev after 2h\n"
        "  prod    <- envs.staging after 24h, approval\n}\n\n"
        "policy p(max: number = 3, kinds: list[string]) {\n"
        "  for d in deployments where d.env == prod {\n"
        '    require d.x != none, "m"\n    deny d.y, "n"\n  }\n}\n\n'
        'waive p for app legacy until 2027-03-01 because "ticket"\n'),
    "CRLF and tabs": (
        "app a {\r\n\tbase = \"b\"\t// c\t \r\n\tnamespace = \"n\"\r\n}\r\n",
        'app a {\n  base      = "b"  // c\n  namespace = "n"\n}\n'),
    "empty and comment-only files": ("  \n\n", ""),
    "only comments": ("\n// a\n\n\n// b   \n", "// a\n\n// b\n"),
}


@pytest.mark.parametrize("source,expected", CASES.values(), ids=CASES.keys())
def test_layout(source, expected):
    assert format_source(source) == expected
    assert format_source(expected) == expected


def test_lists_break_past_the_width_with_a_trailing_comma():
    def field(n: int) -> str:
        return f'image i {{\n  ignore_tags = ["{"x" * n}", "b"]\n}}\n'

    fits = field(WIDTH - len('  ignore_tags = ["", "b"]'))
    assert max(len(line) for line in fits.splitlines()) == WIDTH
    assert format_source(fits) == fits
    too_long = field(WIDTH - len('  ignore_tags = ["", "b"]') + 1)
    assert format_source(too_long) == (
        f'image i {{\n  ignore_tags = [\n    "{"x" * 76}",\n    "b",\n  ]\n}}\n')


def test_calls_break_one_argument_a_line_and_inner_calls_stay_whole():
    source = ("const auto_retry = automated(prune: true, self_heal: true, options: "
              '["CreateNamespace=true"], retry: retry(limit: 5, backoff: 5s, factor: 2))\n')
    assert format_source(source) == (
        "const auto_retry = automated(\n  prune: true,\n  self_heal: true,\n"
        '  options: ["CreateNamespace=true"],\n'
        "  retry: retry(limit: 5, backoff: 5s, factor: 2),\n)\n")


def test_long_conditions_break_before_each_operator():
    long = " and ".join(f'cluster.label_{n} == "value-{n}"' for n in range(4))
    source = f"environment e {{ clusters = {long} or (all or all) }}\n"
    assert format_source(source) == (
        "environment e {\n"
        '  clusters = cluster.label_0 == "value-0"\n'
        '             and cluster.label_1 == "value-1"\n'
        '             and cluster.label_2 == "value-2"\n'
        '             and cluster.label_3 == "value-3"\n'
        "             or (all or all)\n}\n")
    assert_formats_safely(source)


def test_doc_comments_stay_documentation():
    source = ('// header\n\n/// The API.\n// Second line.\nimage api { repository = "r" }\n'
              'image web { repository = "w" }  // not documentation\n')
    out = format_source(source)
    spec = load((), overrides={"x.setlist": out}).spec
    assert [(i.name, i.doc) for i in spec.images] == [("api", "The API.\nSecond line."),
                                                      ("web", None)]
    assert meaning(out) == meaning(source)


def test_documentation_above_a_declaration_starting_mid_line_stays_its_documentation():
    source = 'app a {\n  base = "x"\n  // Doc of b.\n} app b { base = "y" }\n'
    out = format_source(source)
    assert out == ('app a {\n  base = "x"\n}\n\n// Doc of b.\napp b {\n  base = "y"\n}\n')
    assert meaning(out) == meaning(source)


def test_the_formatting_example_of_the_language_reference_is_formatted():
    text = (ROOT / "docs" / "language.md").read_text("utf-8")
    section = text.split("### Formatting\n", 1)[1].split("\n## ", 1)[0]
    block = section.split("```setlist\n", 1)[1].split("```", 1)[0]
    assert format_source(block) == block
    assert "  writeback = direct\n" in block and "             and " in block


def test_documentation_keeps_the_trailing_whitespace_the_parser_keeps():
    source = "// x  \n\n/// First.  \n/// Second.\t\nimage i { repository = \"r\" }  // t  \n"
    out = format_source(source)
    assert out == ("// x\n\n/// First.  \n/// Second.\nimage i {\n  repository = \"r\"\n}"
                   "  // t\n")
    assert meaning(out) == meaning(source)


def test_carriage_returns_are_line_ends_as_when_check_reads_a_file(tmp_path):
    source = "/// A\r\n/// B\rimage i {\r\n  repository = \"r\"\r\n}\r\n"
    out = format_source(source)
    assert out == '/// A\n/// B\nimage i {\n  repository = "r"\n}\n'
    spec = tmp_path / "crlf.setlist"
    spec.write_bytes(source.encode())
    assert [i.doc for i in load((str(spec),)).spec.images] == ["A\nB"]
    assert [i.doc for i in load((), overrides={"x.setlist": out}).spec.images] == ["A\nB"]


def test_a_byte_order_mark_is_a_syntax_error_like_in_check():
    with pytest.raises(FormatError, match=r"<input>:1:1: SL102: unexpected character"):
        format_source("\ufeffconst x = 1\n")


def test_syntax_errors_raise_with_every_diagnostic():
    source = 'app a {\n  base = \n}\napp b { namespace = "x" "y" }\n'
    with pytest.raises(FormatError, match=r"^spec\.setlist:3:1: SL\d+") as info:
        format_source(source, "spec.setlist")
    assert len(info.value.diagnostics) == 2
    assert {d.span.line for d in info.value.diagnostics} == {3, 4}


def test_document_units_cover_declarations_with_their_comments():
    text = ('import "std/sync"\n\n// about dev\nenvironment dev { clusters = all }  // t\n'
            "app a {}\n")
    doc = parse_document(text, "x.setlist")
    assert [(u.kind, u.name) for u in doc.units] == [("import", ""), ("environment", "dev"),
                                                     ("app", "a")]
    assert [text[u.start:u.end] for u in doc.units] == [
        'import "std/sync"', "// about dev\nenvironment dev { clusters = all }  // t",
        "app a {}"]
    assert doc.tokens[-1].kind == "$END"


# ---- generated specs -----------------------------------------------------------------------

NAMES = ["a", "b2", "api", "dev", "prod", "eu-west", "_x", "shop_v2", "registry", "rest", "all"]
STRINGS = ['"x"', '""', '"a\\"b"', '"${org}"', '"\\u{1F600} é"', '"tab\\tthere\t"',
           '"// not a comment"', '"long-value-0123456789-abcdefghijklmnopqrstuvwxyz"']
ATOMS = [*NAMES, *STRINGS, "0", "42", "2h", "1h30m", "2027-03-01", "2027-03-01T09:30Z",
         "/^v\\d+$/", "/a\\/b é/", "true", "false", "none"]
PREC = {"or": 1, "and": 2, "not": 3, "exists": 3, "==": 4, "!=": 4, "<": 4, "in": 4,
        "not in": 4, "=~": 4, "as": 5, "/": 6}


def _prec(node: tuple) -> int:
    if node[0] == "bin":
        return PREC[node[1]]
    return PREC.get(node[0], 7 if node[0] in ("attr", "index", "call") else 8)


def _toks(node: tuple, need: int = 0) -> list[str]:
    if _prec(node) < need:
        return ["(", *_toks(node), ")"]
    kind, *rest = node
    if kind == "atom":
        return [rest[0]]
    if kind == "paren":
        return ["(", *_toks(rest[0]), ")"]
    if kind in ("list", "map", "call"):
        items, trailing = rest[-2], rest[-1]
        parts = [_toks(x) if not isinstance(x, tuple) or x[0] != "kv" else
                 [x[1], ":", *_toks(x[2])] for x in items]
        out = [rest[0], "("] if kind == "call" else ["[" if kind == "list" else "{"]
        for k, part in enumerate(parts):
            out += ([","] if k else []) + part
        closer = {"list": "]", "map": "}", "call": ")"}[kind]
        return out + ([","] if trailing and items else []) + [closer]
    if kind == "attr":
        return [*_toks(rest[0], 7), ".", rest[1]]
    if kind == "index":
        return [*_toks(rest[0], 7), "[", *_toks(rest[1]), "]"]
    if kind == "bin":
        op, left, right = rest
        p = PREC[op]
        if p == 4:
            return [*_toks(left, 5), *op.split(), *_toks(right, 5)]
        return [*_toks(left, p), op, *_toks(right, p + 1)]
    if kind == "not":
        return ["not", *_toks(rest[0], 3)]
    if kind == "exists":
        return ["exists", *_toks(rest[0], 7)]
    return [*_toks(rest[0], 6), "as", rest[1]]  # as


def _grow(children):
    kv = st.tuples(st.just("kv"), st.sampled_from(["team", '"k/v"', "x"]), children)
    return st.one_of(
        st.tuples(st.just("list"), st.lists(children, max_size=5), st.booleans()),
        st.tuples(st.just("map"), st.lists(kv, max_size=3), st.booleans()),
        st.tuples(st.just("call"), st.sampled_from(["semver", "f", "automated"]),
                  st.lists(st.one_of(children, kv.map(lambda t: ("kv", "n", t[2]))),
                           max_size=4), st.booleans()),
        st.tuples(st.just("attr"), children, st.sampled_from(NAMES)),
        st.tuples(st.just("index"), children, children),
        st.tuples(st.just("bin"), st.sampled_from(["or", "and", "/", *list(PREC)[4:10]]),
                  children, children),
        st.tuples(st.just("not"), children),
        st.tuples(st.just("exists"), children),
        st.tuples(st.just("as"), children, st.sampled_from(STRINGS)),
        st.tuples(st.just("paren"), children),
    )


EXPRS = st.recursive(st.sampled_from(ATOMS).map(lambda a: ("atom", a)), _grow, max_leaves=14)
expr_toks = EXPRS.map(_toks)
name = st.sampled_from(NAMES[:8])


@st.composite
def declaration(draw) -> list[str]:
    kind = draw(st.sampled_from(["import", "const", "block", "block", "promotion", "policy",
                                 "use", "waive"]))
    if kind == "import":
        return ["import", draw(st.sampled_from(['"std/sync"', '"./lib"']))] + \
            draw(st.sampled_from([[], ["as", "lib2"]]))
    if kind == "const":
        return ["const", draw(name), "=", *draw(expr_toks)]
    if kind == "use":
        return ["use", draw(name), *draw(st.sampled_from([[], [".", "b2"], ["(", ")"]]))]
    if kind == "waive":
        return ["waive", draw(name), *draw(st.sampled_from([[], ["for", "app", "a"]])),
                "until", "2027-03-01", "because", '"why"']
    if kind == "promotion":
        out = ["promotion", draw(name), "{"]
        for _ in range(draw(st.integers(0, 4))):
            out += [draw(name), "<-", draw(name)]
            if draw(st.booleans()):
                out += ["after", *draw(expr_toks)]
            for _ in range(draw(st.integers(0, 2))):
                out += [",", *draw(expr_toks)]
            out += draw(st.sampled_from([[], [";"]]))
        return out + ["}"]
    if kind == "policy":
        out = ["policy", draw(name)]
        if draw(st.booleans()):
            out += ["(", "n", ":", "list", "[", "string", "]", ",", "m", "=", "3", ")"]
        return out + ["{", "for", "d", "in", *draw(expr_toks), "where", *draw(expr_toks),
                      "{", "require", *draw(expr_toks), ",", '"m"', ";", "x", "=", "1", "}",
                      "deny", *draw(expr_toks), ",", '"n"', "}"]
    out = [draw(st.sampled_from(["gitops", "registry", "image", "environment", "app"]))]
    out += [] if out[0] == "gitops" else [draw(name)]
    out.append("{")
    for _ in range(draw(st.integers(0, 6))):
        if draw(st.integers(0, 5)) == 0:
            out += ["freeze", '"0 0 * * *"', "for", "2h"] + \
                draw(st.sampled_from([[], ["tz", '"UTC"']]))
        else:
            out += [draw(st.sampled_from(NAMES[:8] + ["preserve_resources_on_deletion"])), "=",
                    *draw(expr_toks)]
        out += draw(st.sampled_from([[], [";"]]))
    return out + ["}"]


GAPS = [" "] * 12 + ["\n"] * 4 + ["  ", "\t", "\n\n\n", "\r\n",  # whitespace first
                                  "\r", " // c1\n", "\n// c2  \n", "\n\n/// doc \t\n// more \n",
                                  "\n  // c3\n\n", " //\n", "\t// c4\r\n"]
TIGHT = set("{}[](),;:=")


@st.composite
def spec_text(draw) -> str:
    decls = [draw(declaration()) for _ in range(draw(st.integers(1, 5)))]
    out = [draw(st.sampled_from(["", "// header\n\n", "\n"]))]
    for d, decl in enumerate(decls):
        for k, tok in enumerate(decl):
            if k == 0 and d:
                # Declarations start lines: the parser documents every declaration starting
                # on the line below a comment, which two on one line cannot both keep.
                out.append(draw(st.sampled_from([g for g in GAPS if "\n" in g])))
            elif k:
                tight = tok in TIGHT or decl[k - 1] in TIGHT
                gaps = GAPS + ([""] if tight else [])
                # A comment just before 'after' makes the parser take the duration for a gate.
                out.append(draw(st.sampled_from(gaps[:20] if tok == "after" else gaps)))
            out.append(tok)
    return "".join(out) + draw(st.sampled_from(["", "\n", "  // last\n"]))


@SETTINGS
@given(spec_text())
def test_generated_specs_format_safely(text):
    assert_formats_safely(text)


@SETTINGS
@given(mutated())
def test_mutated_examples_format_safely_when_they_parse(text):
    try:
        format_source(text)
    except FormatError:
        return
    assert_formats_safely(text)


# ---- the command ---------------------------------------------------------------------------

UGLY = 'app shop { base = "apps/shop"; namespace = "shop"   deploy = [dev] }\n'
PRETTY = format_source(UGLY)


def fmt(*args: str, input: bytes | None = None):
    return CliRunner().invoke(main, ["fmt", *args], input=input)


def test_fmt_rewrites_only_files_that_change(project_dir):
    ugly = write(project_dir / "a.setlist", UGLY)
    pretty = write(project_dir / "sub" / "b.setlist", PRETTY)
    hidden = write(project_dir / ".hidden" / "c.setlist", UGLY)
    before = pretty.stat()
    result = fmt()
    assert result.exit_code == 0, result.output
    assert result.output == "a.setlist\nformatted 1 file, 1 already formatted\n"
    assert ugly.read_text("utf-8") == PRETTY
    assert pretty.stat().st_mtime_ns == before.st_mtime_ns and pretty.stat().st_ino == before.st_ino
    assert hidden.read_text("utf-8") == UGLY
    assert sorted(p.name for p in project_dir.rglob("*")) == [".hidden", "a.setlist",
                                                                "b.setlist", "c.setlist", "sub"]


def test_fmt_keeps_permissions_and_writes_lf(project_dir):
    spec = project_dir / "a.setlist"
    spec.write_bytes(UGLY.replace("\n", "\r\n").encode())
    spec.chmod(0o640)
    assert fmt("a.setlist").exit_code == 0
    assert spec.read_bytes() == PRETTY.encode()
    assert spec.stat().st_mode & 0o777 == 0o640


def test_fmt_check_lists_unformatted_files_and_writes_nothing(project_dir):
    write(project_dir / "a.setlist", UGLY)
    write(project_dir / "b.setlist", PRETTY)
    result = fmt("--check", ".")
    assert result.exit_code == 1
    assert result.stdout == "a.setlist\n"
    assert "1 file not formatted; run `setlist fmt`" in result.stderr
    assert (project_dir / "a.setlist").read_text("utf-8") == UGLY
    clean = fmt("--check", "b.setlist")
    assert (clean.exit_code, clean.stdout) == (0, "1 file already formatted\n")


def test_fmt_diff_prints_a_unified_diff_and_writes_nothing(project_dir):
    write(project_dir / "a.setlist", UGLY)
    result = fmt("--diff")
    assert result.exit_code == 0
    assert result.stdout.startswith("--- a/a.setlist\n+++ b/a.setlist\n@@ ")
    assert f"-{UGLY}" in result.stdout and "+  namespace = \"shop\"\n" in result.stdout
    assert (project_dir / "a.setlist").read_text("utf-8") == UGLY
    assert fmt("--diff", "--check").exit_code == 1


def test_fmt_reports_syntax_errors_and_leaves_the_file_alone(project_dir):
    broken = write(project_dir / "broken.setlist", 'app a {\n  base = "x"\n}}\n')
    write(project_dir / "a.setlist", UGLY)
    result = fmt()
    assert result.exit_code == 1
    assert "--> broken.setlist:3:2" in result.stderr and "SL100" in result.stderr
    assert "1 file with syntax errors left unformatted" in result.stderr
    assert broken.read_text("utf-8") == 'app a {\n  base = "x"\n}}\n'
    assert (project_dir / "a.setlist").read_text("utf-8") == PRETTY


def test_fmt_unreadable_paths_exit_2(project_dir):
    missing = fmt("nope.setlist")
    assert missing.exit_code == 2 and "nope.setlist: no such file or directory" in missing.stderr
    (project_dir / "latin1.setlist").write_bytes(b"const x = \"\xe9\"\n")
    result = fmt("latin1.setlist")
    assert result.exit_code == 2 and "latin1.setlist: not UTF-8 text" in result.stderr
    empty = project_dir / "empty"
    empty.mkdir()
    assert fmt("empty").exit_code == 2


def test_fmt_stdin_to_stdout(project_dir):
    result = fmt("-", input=UGLY.encode())
    assert (result.exit_code, result.stdout) == (0, PRETTY)
    check = fmt("-", "--check", input=UGLY.encode())
    assert (check.exit_code, check.stdout) == (1, "<stdin>\n")
    bad = fmt("-", input=b"app a {")
    assert bad.exit_code == 1 and bad.stdout == "" and "<stdin>:1:8" in bad.stderr
    assert fmt("-", "a.setlist").exit_code == 2


def test_fmt_as_a_process_in_a_pipe(tmp_path):
    result = subprocess.run([sys.executable, "-m", "setlist", "fmt", "-"], input=UGLY.encode(),
                            capture_output=True, cwd=tmp_path, timeout=120, check=False)
    assert (result.returncode, result.stdout.decode()) == (0, PRETTY)


def test_fmt_examples_are_already_formatted():
    result = fmt("--check", str(EXAMPLES), str(ROOT / "stdlib"))
    assert result.exit_code == 0, result.output
