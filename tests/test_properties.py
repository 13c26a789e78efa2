"""Property tests: whatever the input, loading a project yields diagnostics, never an exception.

Inputs are random text, token soups drawn from the language's own vocabulary, and mutations
(deletions, insertions, duplications, swaps) of the bundled examples and stdlib.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import EXAMPLES, ROOT
from setlist.diagnostics import Diagnostic
from setlist.project import load

SEEDS = sorted(p.read_text("utf-8") for p in [*EXAMPLES.rglob("*.setlist"),
                                              *(ROOT / "stdlib").rglob("*.setlist")])
VOCAB = [
    "import", "const", "gitops", "registry", "image", "environment", "app", "promotion",
    "policy", "use", "waive", "for", "in", "not", "and", "or", "exists", "as", "after",
    "until", "because", "freeze", "tz", "require", "deny", "where", "true", "false", "none",
    "{", "}", "[", "]", "(", ")", "=", "==", "!=", "<-", ",", ";", ":", ".", "/", "=~",
    "cluster", "cluster.env", "dev", "prod", "api", "registry", "semver", "automated",
    '"x"', '"^1.2"', '"${x}"', '"${', '"\\q"', "2h", "90s", "1d", "2027-02-30", "2027-03-01",
    "/^v\\d+$/", "42", "\n", " ", "//c\n", "#", "@", "\t", "é", '"std/sync"', '"./a"',
]

SETTINGS = settings(max_examples=int(os.environ.get("SETLIST_FUZZ_EXAMPLES", "250")), deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])

def check_never_raises(text: str) -> list[Diagnostic]:
    project = load((), overrides={"fuzz.setlist": text})
    assert all(isinstance(d, Diagnostic) for d in project.diagnostics)
    for d in project.diagnostics:
        assert d.span.line >= 1 and d.span.column >= 1, d
        assert d.message and d.code.startswith("SL"), d
    return project.diagnostics

@SETTINGS
@given(st.text(max_size=300))
def test_random_text(text):
    check_never_raises(text)

@SETTINGS
@given(st.lists(st.sampled_from(VOCAB), max_size=80).map(" ".join))
def test_token_soup(text):
    check_never_raises(text)

@st.composite
def mutated(draw):
    text = draw(st.sampled_from(SEEDS))
    for _ in range(draw(st.integers(1, 4))):
        n = len(text)
        i = draw(st.integers(0, n))
        j = draw(st.integers(i, min(n, i + 40)))
        op = draw(st.sampled_from(["delete", "insert", "duplicate", "replace"]))
        if op == "delete":
            text = text[:i] + text[j:]
        elif op == "insert":
            text = text[:i] + draw(st.sampled_from(VOCAB)) + text[i:]
        elif op == "duplicate":
            text = text[:j] + text[i:j] + text[j:]
        else:
            text = text[:i] + draw(st.sampled_from(VOCAB)) + text[j:]
    return text

@SETTINGS
@given(mutated())
def test_mutated_examples(text):
    check_never_raises(text)

def test_seeds_present():
    assert len(SEEDS) >= 3, "the mutation corpus needs the examples and stdlib"
