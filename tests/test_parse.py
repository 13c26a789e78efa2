"""Parse stage: the syntax tree, its spans, comments and the error recovery."""

from __future__ import annotations

import random
import re
from pathlib import Path

import pytest

from setlist import model as m
from setlist.parse import parse_source


def parse(text: str) -> tuple[m.Module, list]:
    return parse_source(text, "t.setlist")


def test_spans_are_one_based_with_exclusive_end():
    module, diags = parse('environment dev {\n  clusters = cluster.env == "dev"\n}\n')
    assert diags == []
    (env,) = module.decls
    assert isinstance(env, m.Block) and env.block == "environment"
    assert (env.name_span.line, env.name_span.column, env.name_span.end_column) == (1, 13, 16)
    (field,) = env.fields
    assert (field.name_span.line, field.name_span.column) == (2, 3)
    cmp_ = field.value
    assert isinstance(cmp_, m.Binary) and cmp_.op == "=="
    assert (cmp_.op_span.line, cmp_.op_span.column, cmp_.op_span.end_column) == (2, 26, 28)
    text = 'environment dev {\n  clusters = cluster.env == "dev"\n}\n'
    assert text[cmp_.right.span.start:cmp_.right.span.end] == '"dev"'


def test_every_expression_kind():
    module, diags = parse(
        'const x = [a, b.c, d["k"], f(1, k: true), "s", 2, true, false, none, 90s, 1h30m, '
        '2027-03-01, /^v\\d+$/, {k: "v", "a/b": 1}, not x, exists cluster.y, a as "n", '
        'r / "p", a or b and c, a in [1], a not in [2], a =~ /x/]\n')
    assert diags == []
    kinds = [type(i).__name__ for i in module.decls[0].value.items]
    assert kinds == ["Name", "Attr", "Index", "Call", "Str", "Int", "Bool", "Bool", "NoneLit",
                     "Duration", "Duration", "Date", "Regex", "MapExpr", "Not", "Exists", "As",
                     "Binary", "Binary", "Binary", "Binary", "Binary"]
    items = module.decls[0].value.items
    assert items[12].pattern == "^v\\d+$"
    assert [e.key for e in items[13].entries] == ["k", "a/b"]
    or_ = items[18]
    assert or_.op == "or" and or_.right.op == "and"  # and binds tighter than or
    assert items[20].op == "not in" and items[21].op == "=~"


def test_identifiers_may_contain_dashes_and_keywords_after_dots():
    module, diags = parse('app my-app { images = [d.image.app] }')
    assert diags == []
    assert module.decls[0].name == "my-app"
    value = module.decls[0].fields[0].value.items[0]
    assert isinstance(value, m.Attr) and value.attr == "app" and value.value.attr == "image"


def test_string_escapes_and_interpolation_spans():
    text = 'const a = "x\\"y\\n${team}-${n}\\u{e9}"'
    module, diags = parse(text)
    assert diags == []
    s = module.decls[0].value
    assert s.parts[0] == 'x"y\n'
    team = s.parts[1]
    assert isinstance(team, m.Name) and team.name == "team"
    assert text[team.span.start:team.span.end] == "team"
    assert team.span.column == text.index("team") + 1
    assert s.parts[-1] == "é"


def test_comments_side_table_and_doc_comments():
    module, diags = parse(
        '// file comment\n\n// The API image.\n// Second line.\nimage api {\n'
        '  repository = "x/y" // trailing\n}\nconst z = 1 // not a doc for next\n'
        'const w = 2\n')
    assert diags == []
    assert [c.text for c in module.comments] == [
        "// file comment", "// The API image.", "// Second line.", "// trailing",
        "// not a doc for next"]
    api, z, w = module.decls
    assert api.doc == "The API image.\nSecond line."
    assert z.doc is None and w.doc is None


def test_comment_markers_inside_strings_are_not_comments():
    module, diags = parse('const u = "https://example.com" // real\n')
    assert diags == []
    assert [c.text for c in module.comments] == ["// real"]
    assert module.decls[0].value.parts == ("https://example.com",)


def test_a_comment_between_source_and_after_keeps_the_soak():
    module, diags = parse('promotion api {\n  prod <- staging // soak first\n'
                          '    after 24h, approval\n  qa <- staging, approval\n}\n')
    assert diags == []
    prod, qa = module.decls[0].rules
    assert prod.after.text == "24h" and [g.name for g in prod.gates] == ["approval"]
    assert qa.after is None and [g.name for g in qa.gates] == ["approval"]


def test_promotion_rules_and_policy_statements():
    module, diags = parse(
        'promotion api {\n  dev <- registry\n  prod <- dev after 24h, approval\n}\n'
        'policy p(envs: list[environment], n = 2) {\n  severity = warning\n'
        '  for d in deployments where d.env in envs {\n'
        '    require d.image.digest != none, "pin"\n    deny d.tag == "latest", "no latest"\n'
        '  }\n}\nuse std.no_latest_tag\nwaive p for app legacy until 2027-03-01 because "v"\n')
    assert diags == []
    promo, policy, use, waive = module.decls
    assert [(r.stage, r.source) for r in promo.rules] == [("dev", "registry"), ("prod", "dev")]
    assert promo.rules[1].after.text == "24h" and promo.rules[1].gates[0].name == "approval"
    assert promo.rules[0].after is None
    assert [(p.name, p.type) for p in policy.params] == [("envs", "list[environment]"),
                                                           ("n", None)]
    loop = policy.body[1]
    assert isinstance(loop, m.ForStmt) and loop.var == "d"
    assert [s.stmt for s in loop.body] == ["require", "deny"]
    assert isinstance(use.target, m.Attr)
    assert (waive.scope_kind, waive.scope_name, waive.until.text) == ("app", "legacy",
                                                                     "2027-03-01")


@pytest.mark.parametrize("text, code, line, col, message", [
    ('app a {\n  deploy =\n}\n', "SL100", 3, 1,
     "expected an environment name or a list of them after 'deploy =', found '}'"),
    ('environment e {\n  clusters = cluster.env = "x"\n}\n', "SL100", 2, 26,
     "expected '==' to compare after 'cluster.env', found '='"),
    ('app a { namespace: "x" }\n', "SL100", 1, 18, "expected '=' after 'namespace', found ':'"),
    ('image i {\n  repository = "x\n}\n', "SL101", 2, 16, "string is not closed"),
    ('app a { deploy = [dev,\n', "SL104", 1, 23, "unexpected end of file"),
    ('app a @ {}\n', "SL102", 1, 7, "unexpected character '@'"),
    ('const a = "${}"\n', "SL103", 1, 12, "empty interpolation"),
    ('const a = "\\q"\n', "SL103", 1, 12, "unknown escape '\\q'"),
    ('const a = "${a b}"\n', "SL103", 1, 16, "in interpolation"),
])
def test_syntax_errors_say_what_was_expected(text, code, line, col, message):
    _, diags = parse(text)
    assert diags, "expected a syntax error"
    d = diags[0]
    assert (d.code, d.span.line, d.span.column) == (code, line, col)
    assert message in d.message


def test_recovery_reports_errors_in_several_declarations_and_lines():
    text = ('environment prod {\n  clusters = cluster.env = "prod"\n  writeback pull_request\n'
            '}\napp ok { base = "b"; namespace = "n"; deploy = [prod] }\n'
            'app broken { namespace: "x" }\nenvironment dev { clusters = all }\n')
    module, diags = parse(text)
    assert [(d.code, d.span.line) for d in diags] == [("SL100", 2), ("SL100", 3),
                                                       ("SL100", 6)]
    names = [d.name for d in module.decls]
    assert names == ["prod", "ok", "dev"]
    assert module.decls[0].recovered and not module.decls[1].recovered


def test_blank_and_comment_only_files():
    for text in ("", "\n\n", "// only a comment\n"):
        module, diags = parse(text)
        assert module.decls == () and diags == []


# ---------------------------------------------------------------- keywords are whole words


@pytest.mark.parametrize("text, name", [
    ("const wave = 1\n", "wave"),
    ("const constwave = 1\n", "constwave"),
    ("const x = 1\nconst appsx = 2\n", "appsx"),
    ('import "std/sync" as assets\nconst x = assets.y\n', "x"),
])
def test_a_name_that_starts_with_a_keyword_is_one_name(text, name):
    module, diags = parse(text)
    assert diags == []
    assert module.decls[-1].name == name


@pytest.mark.parametrize("text, line, keyword, name", [
    ("constwave = 1\n", 1, "const", "wave"),
    ('appshop { base = "b" }\n', 1, "app", "shop"),
    ("environment dev { clusters = all }\nenvironmentprod { clusters = all }\n", 2,
     "environment", "prod"),
    ("policy p { }\npolicyq(y: int) { }\n", 2, "policy", "q"),
])
def test_a_keyword_glued_to_a_name_is_a_syntax_error(text, line, keyword, name):
    module, diags = parse(text)
    (d,) = diags
    assert (d.code, d.span.line, d.span.column) == ("SL100", line, 1)
    assert d.message.endswith(f"found the name '{keyword}{name}'")
    assert d.hints == (f"put a space after the keyword '{keyword}': {keyword} {name}",)
    # it used to read as `{keyword} {name}`
    assert name not in [getattr(decl, "name", None) for decl in module.decls]


def test_a_word_merely_starting_with_a_keyword_gets_no_glued_keyword_hint():
    # `approval` starts with `app`, but `app roval shop {` is not what was meant
    _, diags = parse('approval shop { base = "b" }\n')
    (d,) = diags
    assert d.code == "SL100" and d.message.endswith("found the name 'approval'")
    assert d.hints and "put a space" not in d.hints[0]
    assert "a declaration starts with one of the keywords" in d.hints[0]


def test_after_import_a_glued_as_is_not_an_alias():
    _, diags = parse('import "std/sync" asx\n')
    (d,) = diags
    assert d.code == "SL100" and d.message.endswith("found the name 'asx'")
    assert d.hints == ("write 'as' before the alias: as asx",)


def test_lexer_errors_expect_only_what_the_parser_takes():
    # a character no terminal of the state starts: the parser wanted '=', not a name
    _, diags = parse('app a { namespace: "x" }\n')
    assert diags[0].message == "expected '=' after 'namespace', found ':'"


# ---------------------------------------------------------------- every syntax error has a hint

ROOT = Path(__file__).resolve().parent.parent
_WORD = re.compile(r'"(?:[^"\\\n]|\\.)*"|//[^\n]*|[A-Za-z_][\w-]*|\d+\w*|<-|==|!=|<=|>=|=~|!~'
                   r"|\S")


def _malformed() -> list[tuple[str, str]]:
    """The bad-input corpus, and the examples broken one word at a time (a word dropped,
    doubled, replaced or followed by another), deterministically."""
    cases = [(p.name, p.read_text("utf-8")) for p in sorted((ROOT / "tests" / "bad_inputs")
                                                           .rglob("*.setlist"))]
    sources = [p.read_text("utf-8") for p in sorted((ROOT / "examples").rglob("*.setlist"))]
    rng = random.Random(20240611)
    for n in range(400):
        text = rng.choice(sources)
        words = [w for w in _WORD.finditer(text) if not w.group().startswith("//")]
        w, other = rng.choice(words), rng.choice(words).group()
        broken = [text[:w.start()] + text[w.end():],
                  text[:w.start()] + w.group() + " " + text[w.start():],
                  text[:w.start()] + other + text[w.end():],
                  text[:w.end()] + other + text[w.end():]][n % 4]
        cases.append((f"mutation {n}", broken))
    return cases


def test_every_syntax_error_has_a_hint():
    seen = 0
    for name, text in _malformed():
        _, diags = parse(text)
        for d in diags:
            if d.code.startswith("SL1"):
                seen += 1
                assert d.hints and all(h.strip() for h in d.hints), f"{name}: {d}"
    assert seen > 300   # the corpus does exercise the parser's errors


@pytest.mark.parametrize("text, hint", [
    # two values in a row
    ('app a {\n  namespace = "a" "b"\n}\n', "a field holds one value"),
    ("const xs = [a b]\n", "separate the items of a list with ','"),
    ("const m = {a: 1 b: 2}\n", "separate the entries of a map with ','"),
    ("const x = f(a b)\n", "separate the arguments with ','"),
    ('environment e { clusters = cluster.env == "a" "b" }\n', "a field holds one value"),
    ("const x = a b\n", "a declaration starts with one of the keywords"),
    # a value missing
    ("const x = = 1\n", 'write a value here: a name, a "string"'),
    ("const x = a.]\n", "after '.' comes a name"),
    # a declaration's shape
    ('environment dev = { clusters = all }\n', "a declaration is a keyword, one name and a body"
                                               " in braces, e.g. environment prod { ... }"),
    ('import "std/sync" sync\n', "write 'as' before the alias: as sync"),
    # brackets
    ("const x = f(a }\n", "a closing ')' may be missing"),
])
def test_hints_for_common_syntax_errors(text, hint):
    _, diags = parse(text)
    assert diags and diags[0].code == "SL100", diags
    assert hint in diags[0].hints[0], diags[0]
