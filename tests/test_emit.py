"""The generated-file YAML emitter: layout, and strings read back as the same strings by
YAML 1.1 readers (PyYAML, pure and libyaml) and a YAML 1.2 reader (ruamel.yaml)."""

from __future__ import annotations

import math
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

from setlist import emit
from setlist.emit import dump

_RUAMEL = YAML(typ="safe", pure=True)  # YAML 1.2


def _pyyaml(text: str) -> list[Any]:
    return list(yaml.load_all(text, Loader=yaml.SafeLoader))


def _libyaml(text: str) -> list[Any]:
    return list(yaml.load_all(text, Loader=yaml.CSafeLoader))


def _ruamel(text: str) -> list[Any]:
    return list(_RUAMEL.load_all(text))


READERS = {"pyyaml (1.1)": _pyyaml, "ruamel (1.2)": _ruamel}
if getattr(yaml, "CSafeLoader", None) is not None:
    READERS["libyaml (1.1)"] = _libyaml


def same(a: Any, b: Any) -> bool:
    """Equal, with the same types throughout (True is not 1) and the same key order."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and math.isnan(a):
        return math.isnan(b)
    return a == b


def assert_round_trip(documents: list[Any], header: str = "") -> str:
    text = dump(documents, header)
    for name, read in READERS.items():
        try:
            back = read(text)
        except Exception as exc:  # pragma: no cover - the message is the point
            raise AssertionError(f"{name} cannot read:\n{text}") from exc
        assert same(back, documents), f"{name} read {back!r} from:\n{text}"
    return text


# ----------------------------------------------------------------- the quoting trap

TRAPS = [
    "yes", "Yes", "YES", "No", "no", "on", "On", "OFF", "off", "y", "Y", "n", "N", "yEs",
    "true", "True", "FALSE", "~", "null", "Null", "NULL",
    "0", "0123", "017", "0o17", "0x1f", "0X1F", "0b101", "1_000", "_", "12:30", "1:20.5",
    "190:20:30", "1e3", "1E3", "1e+3", "1.5e-3", "1.10", "1.0.0", "1.2.3", "1_000.5",
    ".5", ".inf", "-.inf", "+.INF", ".NaN", ".nan",
    "2027-03-01", "2001-12-14t21:59:43.10-05:00", "2001-12-14 21:59:43.10 -5", "2001-1-2",
    "-1", "+1", "+inf", "+NaN", "0x1p-2", "0x1.8P+1", "0_x1f", "1_e1_0",
    "-", "--", "---", "...", "... x", "=", "<<",
    "a: b", "a #b", "a:", "a:b", "#x", " lead", "trail ", "x\t", '"q"', "'q'",
    "{{.server}}", "{{.nameNormalized}}", '{{index .metadata.labels "canary"}}',
    "prod-{{.nameNormalized}}", "[x]", "{x}", ",x", "*", "*x", "&x", "!x", "!!str", "%x",
    "@x", "`x", "|", ">", "?", "? x", ":", ": x", "-x", "- x",
    "", "line\nbreak", "trailing\n", "\tab", "a\rb", "nul\x00", "del\x7f", "bell\x07",
    "café", "😀 party", "naïve: yes", "nbsp\u00a0", "\u00a0", "ls\u2028ps\u2029",
    "nel\x85", "\ufeffbom", "zw\u200bj", "back\\slash", "slash/", "é",
    "CreateNamespace=true", "missingkey=error", "https://kubernetes.default.svc",
    "sha256:abc", "a,b", "a[0]", "50%", "x#y", "x y", "a'b", 'a"b',
]


@pytest.mark.parametrize("s", TRAPS, ids=[repr(s) for s in TRAPS])
def test_trap_string_as_value_and_key(s: str) -> None:
    assert_round_trip([{"value": s, "list": [s, {"k": s}], s: s, "nested": {s: [s]}}])


@pytest.mark.parametrize("s", ["yes", "No", "on", "OFF", "y", "n", "~", "null", "0123",
                               "0o17", "0x1f", "12:30", "1e3", "1.10", ".inf", "2027-03-01",
                               "true", "-1", "+1", "+inf", "0x1p-2", "0_x1f", "=", "<<",
                               "{{.server}}", ""])
def test_ambiguous_strings_are_quoted(s: str) -> None:
    assert dump([{"k": s}]) == f'k: "{s}"\n'


@pytest.mark.parametrize("s", ["argoproj.io/v1alpha1", "nginx", "v1.2.3", "team-0",
                               "https://github.com/org/repo.git", "CreateNamespace=true",
                               "app.kubernetes.io/managed-by", "5s", "3m", "café", "a:b",
                               "sha256:0f", "x y", "yesterday", "online", "null-ish"])
def test_ordinary_strings_stay_plain(s: str) -> None:
    assert dump([{"k": s}]) == f"k: {s}\n"
    assert dump([{s: 1}]) == f"{s}: 1\n"


def test_escapes_are_yaml_escapes() -> None:
    text = dump([{"k": "a\nb\t\"c\"\\ \x00\x7f\x85\u2028\u2029\ufeff"}])
    assert text == 'k: "a\\nb\\t\\"c\\"\\\\ \\u0000\\u007f\\u0085\\u2028\\u2029\\ufeff"\n'
    assert_round_trip([{"k": "a\nb\t\"c\"\\ \x00\x7f\x85\u2028\u2029\ufeff"}])


def test_scalars_of_other_types() -> None:
    text = assert_round_trip([{"none": None, "t": True, "f": False, "i": 0, "neg": -5,
                               "big": 10**30, "x": 1.5, "e": 1e20, "small": 1e-7,
                               "inf": math.inf, "ninf": -math.inf, "nan": math.nan}])
    assert "none: null\nt: true\nf: false\ni: 0\nneg: -5\n" in text
    assert "inf: .inf\nninf: -.inf\nnan: .nan\n" in text


def test_key_too_long_for_an_implicit_key() -> None:
    long = "k" * 1500
    for value in ["v", {"a": 1}, [1, {"b": [2]}], {}, []]:
        assert_round_trip([{long: value, "after": 1}])
        assert_round_trip([[{long: value}]])


def test_long_values() -> None:
    assert_round_trip([{"k": "v" * 5000, "q": "yes " * 2000, "l": ["x" * 3000]}])


# ----------------------------------------------------------------- random documents

_scalars = st.none() | st.booleans() | st.integers() | st.text()
_nodes = st.recursive(
    _scalars,
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(), children, max_size=4),
    max_leaves=20,
)
_documents = st.lists(st.dictionaries(st.text(), _nodes, max_size=5), min_size=1, max_size=3)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_documents, st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40))
def test_random_documents_round_trip(documents: list[dict[str, Any]], header: str) -> None:
    assert_round_trip(documents, header)


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_random_strings_round_trip_as_values_and_keys(s: str) -> None:
    assert_round_trip([{"v": s}, {s: [s]}, {s: {s: s}}])


# ----------------------------------------------------------------- layout

def test_layout_of_an_argocd_like_file() -> None:
    documents = [
        {
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "Application",
            "metadata": {
                "name": "shop-prod",
                "namespace": "argocd",
                "labels": {"setlist.dev/app": "shop", "tier": "on"},
                "finalizers": ["resources-finalizer.argocd.argoproj.io"],
            },
            "spec": {
                "project": "default",
                "source": {"repoURL": "https://github.com/o/r.git", "path": "overlays/prod"},
                "destination": {"server": "{{.server}}", "namespace": "shop"},
                "syncPolicy": {
                    "automated": {"prune": True, "selfHeal": False},
                    "syncOptions": ["CreateNamespace=true"],
                    "retry": {"limit": 5, "backoff": {"duration": "5s", "factor": 2}},
                },
                "ignoreDifferences": [],
                "info": {},
                "generators": [{"clusters": {"selector": {"matchLabels": {"env": "prod"}}}},
                               {"list": {"elements": [{"a": "1.10"}, {}]}}],
                "matrix": [["a", "b"], [], [{"x": None}]],
            },
        },
        {"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization",
         "resources": ["../../base"], "images": [{"name": "nginx", "newTag": "1.25.3"}]},
        {},
    ]
    expected = """\
# Generated by setlist from shop.setlist.
#
# Do not edit.
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: shop-prod
  namespace: argocd
  labels:
    setlist.dev/app: shop
    tier: "on"
  finalizers:
  - resources-finalizer.argocd.argoproj.io
spec:
  project: default
  source:
    repoURL: https://github.com/o/r.git
    path: overlays/prod
  destination:
    server: "{{.server}}"
    namespace: shop
  syncPolicy:
    automated:
      prune: true
      selfHeal: false
    syncOptions:
    - CreateNamespace=true
    retry:
      limit: 5
      backoff:
        duration: 5s
        factor: 2
  ignoreDifferences: []
  info: {}
  generators:
  - clusters:
      selector:
        matchLabels:
          env: prod
  - list:
      elements:
      - a: "1.10"
      - {}
  matrix:
  - - a
    - b
  - []
  - - x: null
---
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
- ../../base
images:
- name: nginx
  newTag: "1.25.3"
---
{}
"""
    header = "Generated by setlist from shop.setlist.\n\nDo not edit."
    assert dump(documents, header) == expected
    assert_round_trip(documents, header)


def test_layout_matches_pyyaml_default_block_style() -> None:
    doc = {"a": [1, [2, 3], {"b": [4], "c": {"d": 5}}], "e": {"f": [{"g": 6}]}}
    assert dump([doc]) == yaml.safe_dump(doc, sort_keys=False, default_flow_style=False)


def test_no_header_no_separator_before_the_first_document() -> None:
    assert dump([{"a": 1}]) == "a: 1\n"
    assert dump([{"a": 1}, {"b": 2}]) == "a: 1\n---\nb: 2\n"
    assert dump([{}]) == "{}\n"
    assert dump([]) == ""
    assert dump([{"a": 1}], "one line") == "# one line\na: 1\n"


# ----------------------------------------------------------------- determinism

def test_deterministic_and_keeps_insertion_order() -> None:
    doc = {"z": 1, "a": {"y": "yes", "b": ["on", "x"]}, "m": "1.0"}
    first = dump([doc], "h")
    emit._cache.clear()
    emit._key_cache.clear()
    assert dump([doc], "h") == first == dump([dict(doc)], "h")
    assert first.index("z:") < first.index("a:") < first.index("m:")
    assert dump([{"b": 1, "a": 2}]) == "b: 1\na: 2\n"
    assert dump([{"a": 2, "b": 1}]) == "a: 2\nb: 1\n"


def test_bool_and_int_keys_do_not_share_a_cache_entry() -> None:
    assert dump([{1: "a"}, {True: "b"}, {"1": "c"}]) == '1: a\n---\ntrue: b\n---\n"1": c\n'


def test_header_characters_a_comment_cannot_hold_are_escaped() -> None:
    header = "esc\x1b del\x7f bom\ufeff tab\tok\r\nnel\x85ls\u2028next"
    text = dump([{"a": 1}], header)
    assert text == "# esc\\u001b del\\u007f bom\\ufeff tab\tok\n# nel\n# ls\n# next\na: 1\n"
    assert_round_trip([{"a": 1}], header)
