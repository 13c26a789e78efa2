"""`setlist.gotemplate`: the subset of Go's text/template that preview evaluates.

Expected values follow text/template's exec.go and funcs.go (index, isTrue, evalField,
printValue); where Go's own behaviour is the point, the Go rule is named in a comment.
"""

from __future__ import annotations

import random

import pytest

from setlist.compile.argocd import (
    CLUSTER_LABEL_TEMPLATE,
    application_name,
    application_name_template,
    cluster_label_template,
    cluster_label_value,
)
from setlist.gotemplate import StrMap, TemplateError, Unsupported, parse, render
from setlist.values import check_label_value, name_normalized

ERR = ["missingkey=error"]
PARAMS = {"name": "a", "server": "https://a",
          "metadata": {"labels": StrMap({"k": "v", "wave": "1"}),
                       "annotations": StrMap({"team": "x"})}}


# ---------------------------------------------------------------- text, fields, printing


def test_fields_and_text():
    assert render("x-{{.name}}-{{ .metadata.labels.k }}", PARAMS) == "x-a-v"
    assert render("no actions", PARAMS) == "no actions"
    assert render("{{.metadata.labels}}", PARAMS) == "map[k:v wave:1]"
    assert render("{{.}}", {"b": True, "a": "x"}) == "map[a:x b:true]"
    assert render("{{$}}", "s") == "s"


def test_missingkey_applies_to_field_access():
    assert render("{{.nope}}", PARAMS) == "<no value>"
    assert render("{{.nope}}", PARAMS, ["missingkey=default"]) == "<no value>"
    assert render("{{.nope.deeper}}", PARAMS) == "<no value>"
    # zero: the map's zero value; for map[string]string that is ""
    assert render("{{.metadata.labels.zz}}", PARAMS, ["missingkey=zero"]) == ""
    assert render("{{.nope}}", PARAMS, ["missingkey=zero"]) == "<no value>"
    with pytest.raises(TemplateError, match=r"nil pointer evaluating interface \{\}\.x"):
        render("{{.nope.x}}", PARAMS, ["missingkey=zero"])
    with pytest.raises(TemplateError, match='map has no entry for key "nope"'):
        render("{{.nope}}", PARAMS, ERR)
    with pytest.raises(TemplateError, match='map has no entry for key "zz"'):
        render("{{.metadata.labels.zz}}", PARAMS, ERR)
    with pytest.raises(TemplateError, match='nil data; no entry for key "x"'):
        render("{{$v := index . \"nope\"}}{{$v.x}}", PARAMS, ERR)
    with pytest.raises(TemplateError, match="can't evaluate field x in type string"):
        render("{{.name.x}}", PARAMS)
    with pytest.raises(TemplateError, match="unrecognized option: strict"):
        render("x", PARAMS, ["strict"])


def test_errors_name_the_action():
    with pytest.raises(TemplateError) as exc:
        render("a {{ .metadata.nope }} b", PARAMS, ERR)
    assert str(exc.value) == 'map has no entry for key "nope" in {{ .metadata.nope }}'


# ---------------------------------------------------------------- index


def test_index_ignores_missingkey():
    assert render('{{index .metadata.labels "k"}}', PARAMS, ERR) == "v"
    assert render('{{index . "metadata" "labels" "k"}}', PARAMS, ERR) == "v"
    # a missing key gives the element type's zero value: "" for map[string]string,
    # nil (printed <no value>) for map[string]interface{}
    assert render('{{index .metadata.labels "zz"}}', PARAMS, ERR) == ""
    assert render('{{index . "nope"}}', PARAMS, ERR) == "<no value>"
    assert render('{{index .metadata "labels" `k`}}', PARAMS, ERR) == "v"
    assert render('{{index .metadata.labels .name}}', {**PARAMS, "name": "k"}, ERR) == "v"
    assert render('{{index (index . "metadata") "annotations" "team"}}', PARAMS, ERR) == "x"
    assert render('{{"k" | index .metadata.labels}}', PARAMS, ERR) == "v"


@pytest.mark.parametrize(("text", "message"), [
    ('{{index .nope "k"}}', "index of untyped nil"),
    ('{{index . "nope" "k"}}', "index of nil pointer"),
    ('{{index .name "k"}}', "cannot index slice/array with type string"),
    ('{{index .metadata.labels nil}}', "value is nil; should be of type string"),
    ("{{index}}", "wrong number of args for index"),
])
def test_index_errors(text, message):
    with pytest.raises(TemplateError, match=message):
        render(text, PARAMS)


# ---------------------------------------------------------------- variables, if, with


def test_variables():
    assert render('{{$x := .name}}[{{$x}}]', PARAMS) == "[a]"
    assert render('{{$x := .name}}{{$x = "b"}}{{$x}}', PARAMS) == "b"
    assert render("{{$m := .metadata}}{{$m.labels.k}}", PARAMS) == "v"
    assert render("{{$.name}}", PARAMS) == "a"
    # a variable declared inside {{if}} ends at its {{end}}
    with pytest.raises(TemplateError, match='undefined variable "\\$y"'):
        render("{{if .name}}{{$y := .name}}{{end}}{{$y}}", PARAMS)
    with pytest.raises(TemplateError, match='undefined variable "\\$z"'):
        render("{{$z}}", PARAMS)


def test_if_else_with():
    assert render("{{if .name}}yes{{else}}no{{end}}", PARAMS) == "yes"
    for falsy in ({}, {"name": ""}, {"name": StrMap()}, {"name": None}, {"name": False}):
        assert render("{{if .name}}yes{{else}}no{{end}}", falsy) == "no"
    assert render('{{if .x}}1{{else if .name}}2{{else}}3{{end}}', PARAMS) == "2"
    assert render('{{if .x}}1{{else if .y}}2{{else}}3{{end}}', PARAMS) == "3"
    assert render("{{with .metadata.labels}}{{.k}}{{else}}none{{end}}", PARAMS) == "v"
    assert render("{{with .nope}}{{.k}}{{else}}none{{end}}", PARAMS) == "none"
    assert render("{{with $l := .metadata.labels}}{{$l.k}}{{end}}", PARAMS) == "v"
    assert render("{{if true}}t{{end}}{{if false}}f{{end}}", PARAMS) == "t"


def test_trimming_and_comments():
    assert render("a {{- .name -}} b", PARAMS) == "aab"
    assert render("a\n  {{- .name}}\n", PARAMS) == "aa\n"
    assert render("a {{/* a comment }} with braces */}} b", PARAMS) == "a  b"
    assert render("a {{- /* c */ -}} \n b", PARAMS) == "ab"
    assert render("{{if .name -}}\n  x\n{{- end}}", PARAMS) == "x"
    # `{{-3}}` is not a trim marker (no space after the dash): it prints the number -3
    assert render("a {{-3}}", PARAMS) == "a -3"
    assert render("a {{- 3}}", PARAMS) == "a3"
    assert render('{{"}}"}}', PARAMS) == "}}"
    assert render('{{"a\\tb\\u00e9"}}', PARAMS) == "a\tb\u00e9"


@pytest.mark.parametrize(("text", "message"), [
    ("{{if .name}}x", "has no {{end}}"),
    ("{{end}}", "unexpected {{end}}"),
    ("{{else}}", "unexpected {{else}}"),
    ("{{if .a}}{{else}}{{else}}{{end}}", "expected end"),
    ("{{.name", "unclosed action"),
    ("{{/* x", "unclosed comment"),
    ("{{/* x */ }}", "comment ends before closing delimiter"),
    ("{{range .metadata}}{{end}}", "unsupported"),
    ("{{ .name | upper }}", "unsupported function 'upper'"),
    ("{{ printf \"%s\" .name }}", "unsupported function 'printf'"),
    ("{{}}", "missing value for command"),
    ("{{.name .server}}", "not a method but has arguments"),
    ('{{"a" "b"}}', "can't give argument to non-function"),
    ("{{nil}}", "nil is not a command"),
    ("{{ 'c' }}", "character constants"),
    ('{{"\\q"}}', "invalid escape"),
])
def test_parse_and_execution_errors(text, message):
    with pytest.raises(TemplateError, match=message):
        render(text, PARAMS)


def test_never_a_python_exception():
    words = [".name", ".metadata", ".metadata.labels", ".metadata.labels.k", ".", "$", "$x",
             "$x.labels", "$x :=", "$x =", "index", "if", "else", "end", "with", '"k"',
             '"labels"', "`r`", "(", ")", "|", "nil", "true", "range", "3", "'c'", '"', "/*",
             "*/", "{{", "}}"]
    rng = random.Random(7)
    rendered = 0
    for _ in range(4000):
        parts = []
        for _ in range(rng.randint(1, 6)):
            if rng.random() < 0.2:
                parts.append(rng.choice(["x", " ", "\n", "{{", "}}", "a}}b"]))
            else:
                parts.append(rng.choice(["{{", "{{- "]) + " ".join(
                    rng.choice(words) for _ in range(rng.randint(0, 4)))
                    + rng.choice(["}}", " -}}", ""]))
        text = "".join(parts)
        for options in ((), ERR, ["missingkey=zero"]):
            try:
                assert isinstance(render(text, PARAMS, options), str)
                rendered += "{{" in text
            except TemplateError:
                pass
    assert rendered > 100   # not every random template is rejected


# ---------------------------------------------------------------- the label template


def test_cluster_label_template_is_nil_safe():
    template = cluster_label_template("wave")
    parse(template)
    local = {"name": "in-cluster", "nameNormalized": "in-cluster",
             "server": "https://kubernetes.default.svc", "project": ""}
    for params in (local, {**local, "metadata": {}},
                   {**local, "metadata": {"annotations": StrMap({"a": "b"})}},
                   {**local, "metadata": {"labels": StrMap({"env": "prod"})}}):
        assert render(template, params, ERR) == ""
    assert render(template, PARAMS, ERR) == "1"
    # keys that need quoting are quoted as Go string literals
    assert render(cluster_label_template('a"b'), {"metadata": {"labels": StrMap(
        {'a"b': "q"})}}, ERR) == "q"


# ---------------------------------------------------------------- integers and Sprig functions


def test_integer_constants():
    assert render("{{3}} {{-0}} {{+7}} {{if 0}}t{{else}}f{{end}}", PARAMS) == "3 0 7 f"
    # only forms whose value Go and this subset agree on; 010 is octal in Go
    for text in ("{{010}}", "{{0x1F}}", "{{1e3}}", "{{1_000}}", "{{1.5}}", "{{3i}}",
                 "{{99999999999999999999}}", "{{3.name}}"):
        with pytest.raises(Unsupported, match="decimal integers only"):
            render(text, PARAMS)


@pytest.mark.parametrize(("text", "out"), [
    ('{{trunc 3 "abcdef"}}', "abc"),
    ('{{trunc 10 "abc"}}', "abc"),
    ('{{trunc 0 "abc"}}', ""),
    ('{{trunc -2 "abcdef"}}', "ef"),        # the last 2
    ('{{trunc -9 "abcdef"}}', "abcdef"),    # sprig: not longer than 9, so all of it
    ('{{"abcdef" | trunc 4}}', "abcd"),     # the piped value is the last argument
    ('{{trimAll "-." "-.a-b.-"}}', "a-b"),
    ('{{"..a.." | trimAll "."}}', "a"),
    ('{{trimAll "" " a "}}', " a "),
    ('{{"prefix-x" | trimPrefix "prefix-"}}', "x"),
    ('{{"x--" | trimSuffix "-"}}', "x-"),    # strings.TrimSuffix: once
    ('{{trunc 5 .name | trimAll "-"}}', "a"),
    ('{{trunc 1 (trimPrefix "h" .server)}}', "t"),
])
def test_sprig_string_functions(text, out):
    assert render(text, PARAMS, ERR) == out


def test_trunc_counts_bytes_as_go_does():
    # "é" is two bytes: Go keeps one of them; so does the surrogateescape'd result
    cut = render('{{trunc 2 "aé"}}', PARAMS)
    assert cut.encode("utf-8", "surrogateescape") == b"a\xc3"
    assert render('{{trunc 3 "aé"}}', PARAMS) == "aé"


@pytest.mark.parametrize(("text", "message"), [
    ("{{trunc 3}}", "wrong number of args for trunc: want 2 got 1"),
    ('{{"x" | trunc 3 "y"}}', "wrong number of args for trunc: want 2 got 3"),
    ('{{trimAll "-" trunc}}', "wrong number of args for trunc: want 2 got 0"),
    ('{{trunc "3" .name}}', 'expected integer; found "3"'),
    ("{{trunc 3 5}}", "expected string; found 5"),
    ("{{trunc true .name}}", "expected integer; found true"),
    ("{{trunc 3 nil}}", "cannot assign nil to string"),
    ("{{trunc .name .name}}", "wrong type for value; expected int; got string"),
    ("{{trunc 3 .metadata}}", r"wrong type for value; expected string; got map\[string\]"
                              r"interface \{\}"),
    ('{{index . "nope" | trimAll "-"}}', "invalid value; expected string"),
    ("{{3 | trimAll \"-\"}}", "wrong type for value; expected string; got int"),
    ("{{trunc 3 .nope}}", 'map has no entry for key "nope"'),
])
def test_function_arguments_are_checked_as_go_checks_them(text, message):
    with pytest.raises(TemplateError, match=message) as exc:
        render(text, PARAMS, ERR)
    assert not isinstance(exc.value, Unsupported)


def test_unsupported_is_not_undefined():
    # Argo CD has upper (Sprig): preview cannot tell what it gives, which is not a failure
    with pytest.raises(Unsupported, match="unsupported function 'upper'"):
        render("{{.name | upper}}", PARAMS)
    # a function Argo CD does not have fails to parse there too
    for name in ("trunk", "env", "expandenv", "getHostByName"):
        with pytest.raises(TemplateError, match=f'function "{name}" not defined') as exc:
            render(f"{{{{{name} .name}}}}", PARAMS)
        assert not isinstance(exc.value, Unsupported)


# ---------------------------------------------------------------- the cluster name templates


def _names() -> list[str]:
    rng = random.Random(11)
    names = ["in-cluster", "a" * 63, "a" * 64, "a" * 62 + "-b", "a" * 62 + ".b",
             "a" * 61 + "-.bc", "x" * 300, "Edge 1 (Berlin)",
             "0123456789abcdef0123456789abcdef.gr7.eu-west-1.eks.amazonaws.com"]
    for _ in range(300):
        names.append("".join(rng.choice("ab-._Z9") for _ in range(rng.randint(1, 280))))
    return names


def test_cluster_name_templates_match_the_python_side():
    """Static Applications compute in Python what ApplicationSets compute in Go: the same
    values, and always a valid label value and an object name within 253 characters."""
    for name in _names():
        normalized = name_normalized(name)
        params = {"name": name, "nameNormalized": normalized}
        label = render(CLUSTER_LABEL_TEMPLATE, params, ERR)
        assert label == cluster_label_value(normalized)
        assert check_label_value(label) is None, (name, label)
        if len(normalized) <= 63:
            assert label == normalized        # a label that fits is never changed
        for base in ("a-e", "x" * 63 + "-" + "y" * 20):
            app = render(application_name_template(base), params, ERR)
            assert app == application_name(base, normalized)
            assert len(app) <= 253 and not app.endswith(("-", "."))
            if len(base) + 1 + len(normalized) <= 253:
                assert app == f"{base}.{normalized}"   # no Application is renamed
