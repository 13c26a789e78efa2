"""Bugs found by bench/fuzz.py, one focused test each (docs/hardening.md lists them)."""

from __future__ import annotations

import pytest

from conftest import without_spans
from setlist.fmt import format_source
from setlist.parse import parse_source
from setlist.project import load


def _checked(text: str):
    project = load((), overrides={"fuzz.setlist": text})
    return without_spans(project.spec), sorted(d.code for d in project.diagnostics)


def test_only_the_first_declaration_starting_on_a_line_is_documented():
    # fmt gives each declaration a line of its own and can keep the comment above only one
    # of them; it used to move it to the last, changing which registry was documented.
    text = ('const fleet\n// doc\n= "dev" registry internal { host = "r.io" } use p\n'
            'registry a { host = "r.io" } registry b { host = "r.io" }\npolicy p {}\n')
    module, _ = parse_source(text, "fuzz.setlist")
    assert [getattr(d, "doc", None) for d in module.decls] == [None, "doc", None, None, None,
                                                               None]
    once = format_source(text)
    assert "// doc\nregistry internal {" in once
    assert format_source(once) == once
    assert _checked(once) == _checked(text)


def test_comments_above_a_line_of_declarations_document_the_first():
    text = '// doc\nregistry a { host = "r.io" } registry b { host = "r.io" }\n'
    assert [r.doc for r in load((), overrides={"x.setlist": text}).spec.registries] == \
        ["doc", None]
    once = format_source(text)
    assert once.startswith("// doc\nregistry a {")
    assert _checked(once) == _checked(text)


def test_fmt_keeps_the_separator_before_a_field_named_like_a_keyword():
    # After an expression `use` reads as the keyword of a `use` declaration; only the ';'
    # made this parse, and fmt used to drop it, writing a file that no longer parsed.
    text = 'app shop { base = "apps/shop/base"; use = [dev]; namespace = "shop" }\n'
    once = format_source(text)
    assert '  base      = "apps/shop/base";\n  use       = [dev]\n' in once
    assert format_source(once) == once
    assert _checked(once) == _checked(text)
    assert "SL300" in _checked(text)[1]


def test_fmt_keeps_the_separator_before_a_promotion_rule_of_an_environment_named_as():
    text = "promotion api { dev <- registry, approval; as <- dev }\n"
    once = format_source(text)
    assert once == "promotion api {\n  dev <- registry, approval;\n  as  <- dev\n}\n"
    assert format_source(once) == once
    assert _checked(once) == _checked(text)


def test_syntax_error_on_a_very_long_line_names_what_came_before():
    # The "after '...'" context was found by searching the whole line from every position:
    # quadratic, seconds for a few thousand unclosed brackets (a hang for the fuzzer).
    def nested(depth: int) -> str:
        return 'environment dev {\n  clusters = cluster.env == "dev" ' + "[" * depth + \
            "]" * depth + ' cluster.env == "test"\n}\n'

    _, short = parse_source(nested(30), "fuzz.setlist")
    _, long = parse_source(nested(3000), "fuzz.setlist")
    assert [(d.code, d.message) for d in long] == [(d.code, d.message) for d in short] == [
        ("SL100", "expected '=' after 'cluster', found '.'")]
    assert long[0].span.column == short[0].span.column + 2 * (3000 - 30)


@pytest.mark.parametrize("path,message", [
    ("std/sy\x00nc", "the standard library has no module"),
    ("std/" + "a" * 300, "the standard library has no module"),
    ("./a\x00b", "cannot find"),
    ("./" + "a" * 300, "cannot find"),
    ("./" + "a/" * 3000 + "x", "cannot find"),
], ids=["std-nul", "std-too-long", "nul", "name-too-long", "path-too-long"])
def test_import_of_a_path_the_system_cannot_look_up_is_sl204(project_dir, path, message):
    # A NUL or an over-long name made the lookup raise ValueError/OSError (a traceback).
    project = load((), overrides={"main.setlist": f'import "{path}" as x\n'})
    assert [(d.code, d.span.line, d.span.column) for d in project.diagnostics] == \
        [("SL204", 1, 8)]
    assert message in project.diagnostics[0].message and project.diagnostics[0].hints


def test_repeated_loads_do_not_accumulate_garbage_cycles(project_dir):
    # Found by the fuzzer's long-lived workers (and a language server loads on every edit):
    # about 1,600 unreachable objects per load stay, 730 MB after 2,000 fuzz inputs.
    import gc

    text = (
        'environment dev { clusters = cluster.env == "dev" }\n'
        'app shop { base = "apps/shop/base"; namespace = "shop"; deploy = [dev] }\n')
    load((), overrides={"a.setlist": text})
    gc.collect()
    load((), overrides={"a.setlist": text})
    per_load = gc.collect()
    for _ in range(100):
        load((), overrides={"a.setlist": text})
    assert gc.collect() < 10 * max(per_load, 1)
