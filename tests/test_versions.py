"""Tests for setlist.versions: Masterminds semver v3 behaviour as the image updater sees it."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from setlist.versions import (
    ConstraintError,
    Version,
    compare_versions,
    newest,
    parse_constraint,
    parse_version,
)

# --- versions ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1.2.3", (1, 2, 3, (), ())),
        ("v1.2.3", (1, 2, 3, (), ())),
        ("1", (1, 0, 0, (), ())),
        ("v2.7", (2, 7, 0, (), ())),
        ("1.2.3-rc.1+build.5", (1, 2, 3, ("rc", "1"), ("build", "5"))),
        ("1.2-beta.5", (1, 2, 0, ("beta", "5"), ())),
        ("01.02.03", (1, 2, 3, (), ())),
        ("1.2.3-0abc", (1, 2, 3, ("0abc",), ())),
        ("1.2.3+meta.01", (1, 2, 3, (), ("meta", "01"))),
        ("20240101-nightly", (20240101, 0, 0, ("nightly",), ())),
    ],
)
def test_parse_version_valid(text: str, expected: tuple[object, ...]) -> None:
    v = parse_version(text)
    assert v is not None
    assert (v.major, v.minor, v.patch, v.prerelease, v.build) == expected
    assert v.original == text


@pytest.mark.parametrize(
    "text",
    [
        "",
        "latest",
        "1.2.3.4",
        "v",
        "V1.2.3",
        " 1.2.3",
        "1.2.3 ",
        "1.2.beta",
        "1.2.3-",
        "1.2.3-beta.01",
        "1.0.0-alpha_beta",
        "1.0.0-alpha..1",
        "9.8.7+meta+meta",
        "1.1.2+.123",
        "sha-abc123",
    ],
)
def test_parse_version_rejects(text: str) -> None:
    assert parse_version(text) is None


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ("1.2.3", "1.5.1", -1),
        ("2.0.0", "1.99.99", 1),
        ("1.3", "1.1.4", 1),
        ("4.2", "4.2-beta", 1),
        ("4.2-alpha", "4.2-beta", -1),
        ("4.2-beta.2", "4.2-beta.11", -1),
        ("4.2-beta2", "4.2-beta11", 1),  # alphanumeric identifiers compare lexically
        ("4.2-beta", "4.2-beta.1", -1),
        ("4.2-1", "4.2-alpha", -1),  # numeric identifiers sort before alphanumeric
        ("1.2+bar", "1.2+baz", 0),
        ("v1.2.3", "1.2.3", 0),
    ],
)
def test_version_precedence(a: str, b: str, expected: int) -> None:
    va, vb = parse_version(a), parse_version(b)
    assert va is not None and vb is not None
    assert compare_versions(va, vb) == expected
    assert (va == vb) is (expected == 0)


def test_version_equality_ignores_build_but_keeps_original() -> None:
    a, b = parse_version("v1.2.3+a"), parse_version("1.2.3+b")
    assert a == b and hash(a) == hash(b)
    assert a is not None and a.original == "v1.2.3+a"
    assert str(a) == "1.2.3+a"


def test_versions_sort() -> None:
    tags = ["1.0.0", "1.0.0-rc.1", "1.0.0-beta.11", "1.0.0-beta.2", "1.0.0-alpha", "0.9.9"]
    parsed = [parse_version(t) for t in tags]
    assert all(isinstance(v, Version) for v in parsed)
    ordered = sorted(v for v in parsed if v is not None)
    assert [v.original for v in ordered] == [
        "0.9.9",
        "1.0.0-alpha",
        "1.0.0-beta.2",
        "1.0.0-beta.11",
        "1.0.0-rc.1",
        "1.0.0",
    ]


@given(
    st.tuples(st.integers(0, 50), st.integers(0, 50), st.integers(0, 50)),
    st.tuples(st.integers(0, 50), st.integers(0, 50), st.integers(0, 50)),
)
def test_release_order_matches_tuple_order(
    a: tuple[int, int, int], b: tuple[int, int, int]
) -> None:
    va = parse_version("v{}.{}.{}".format(*a))
    vb = parse_version("{}.{}.{}".format(*b))
    assert va is not None and vb is not None
    assert compare_versions(va, vb) == (a > b) - (a < b)


# --- constraints ------------------------------------------------------------------------

ALLOWS_CASES: list[tuple[str, str, bool]] = [
    # exact and bare versions; partial bare versions behave like wildcards
    ("=2.0.0", "2.0.0", True),
    ("=2.0.0", "2.0.1", False),
    ("2.0.0", "2.0.0", True),
    ("=2.0", "2.0.7", True),
    ("4.1", "4.1.0", True),
    ("2", "2.9.9", True),
    ("2", "3.0.0", False),
    ("v1.2.3", "1.2.3", True),
    ("1.2.3", "v1.2.3", True),
    # not equal
    ("!=4.1.0", "4.1.0", False),
    ("!=4.1.0", "4.1.1", True),
    ("!=4.1", "4.1.5", False),
    ("!=4.x", "5.1.0", True),
    ("!=4.x", "4.1.0", False),
    # greater / less, with partial versions
    (">1.1", "1.1.9", False),
    (">1.1", "1.2.0", True),
    (">11", "11.9.0", False),
    (">11", "12.0.0", True),
    (">1.2.3", "1.2.4", True),
    ("<1.1", "1.0.9", True),
    ("<1.1", "1.1.0", False),
    ("<1.x", "0.9.0", True),
    ("<1.x", "1.1.1", False),
    (">=1.1", "1.1.0", True),
    (">=1.1", "1.0.9", False),
    ("=>1.1", "1.1.0", True),
    ("<=1.1", "1.1.9", True),
    ("<=1.1", "1.2.0", False),
    ("=<1.1", "1.1.9", True),
    ("<=1.x", "1.9.0", True),
    ("<=2.x", "3.0.0", False),
    # tilde
    ("~1.2.3", "1.2.9", True),
    ("~1.2.3", "1.3.0", False),
    ("~1.2.3", "1.2.2", False),
    ("~1.2", "1.2.0", True),
    ("~1", "1.9.0", True),
    ("~1", "2.0.0", False),
    ("~>1.2.3", "1.2.5", True),
    ("~>1.2.3", "1.3.0", False),
    ("~*", "7.1.1", True),
    ("~0.2.3", "0.2.9", True),
    # caret
    ("^1.2.3", "1.9.9", True),
    ("^1.2.3", "2.0.0", False),
    ("^1.2.3", "1.2.2", False),
    ("^1.2", "1.2.0", True),
    ("^1.2", "2.0.0", False),
    ("^1", "1.0.0", True),
    ("^0.2.3", "0.2.9", True),
    ("^0.2.3", "0.3.0", False),
    ("^0.2", "0.2.0", True),
    ("^0.0.3", "0.0.3", True),
    ("^0.0.3", "0.0.4", False),
    ("^0.0", "0.0.7", True),
    ("^0.0", "0.1.0", False),
    ("^0", "0.9.0", True),
    ("^0", "1.0.0", False),
    ("^1.x", "1.4.0", True),
    ("^1.x", "2.0.0", False),
    # wildcards in any position
    ("*", "4.5.6", True),
    ("x", "0.0.1", True),
    ("1.x", "1.4.0", True),
    ("1.X", "2.0.0", False),
    ("1.2.*", "1.2.9", True),
    ("1.2.*", "1.3.0", False),
    ("1.2.x", "1.2.0", True),
    # hyphen ranges (inclusive; a partial upper bound covers the whole line)
    ("1.2 - 1.4.5", "1.3.0", True),
    ("1.2 - 1.4.5", "1.4.5", True),
    ("1.2 - 1.4.5", "1.4.6", False),
    ("1.2 - 1.4.5", "1.1.9", False),
    ("1.2 - 1.4", "1.4.9", True),
    ("1.2 - 1.4", "1.5.0", False),
    ("v1 - v2", "2.9.9", True),
    ("1.1-3", "4.3.2", False),  # no spaces: a version with pre-release "3", not a range
    # AND by space or comma
    (">=1.2 <2", "1.9.9", True),
    (">=1.2 <2", "2.0.0", False),
    (">= 1.2, < 2", "1.5.0", True),
    (">= 1.2, < 2", "1.1.0", False),
    (">=1.1, <2, !=1.2.3", "1.2.3", False),
    ("1.0.0 - 2.0.0, !=1.5.0", "1.5.0", False),
    # OR
    ("<1 || >=3", "0.5.0", True),
    ("<1 || >=3", "2.0.0", False),
    ("<1 || >=3", "3.1.0", True),
    (">=1.1 <2 !=1.2.3 || > 3", "4.1.2", True),
    (">=1.1 <2 !=1.2.3 || > 3", "3.0.0", False),
    # pre-releases are excluded unless the AND group mentions one
    ("*", "1.2.3-alpha.1", False),
    ("*-0", "1.2.3-alpha.1", True),
    ("2.x", "2.1.0-rc.1", False),
    ("2.x-0", "2.1.0-rc.1", True),
    (">=1.2", "1.5.0-beta", False),
    (">=1.2.3-alpha", "1.2.3-beta", True),
    (">=1.2.3-alpha", "1.2.3-0", False),
    (">=1.2.3-alpha", "1.2.3", True),
    (">1.2.3-alpha.1", "1.2.3-alpha.2", True),
    ("^1.2.0", "1.2.1-alpha.1", False),
    ("^1.2.0-alpha.0", "1.2.1-alpha.1", True),
    ("^1.2.0-alpha.2", "1.2.0-alpha.1", False),
    ("~1.2.3-beta.2", "1.2.4-beta.2", True),
    ("~1.2.3-beta.2", "1.3.0-beta.2", False),
    (">= 1.0.0 <= 2.0.0-beta", "1.0.1-beta", True),  # one pre-release opts the group in
    (">= 1.0.0 <= 2.0.0-beta || > 3", "3.0.1-beta", False),  # but not the other group
    ("!=4.1-alpha", "4.1.0", True),
    ("!=4.1-alpha", "4.1.0-alpha", False),
    ("<0-z", "0.0.0-alpha", True),
    # build metadata never matters
    ("=1.2.3+a", "1.2.3+b", True),
]


@pytest.mark.parametrize(("constraint", "version", "expected"), ALLOWS_CASES)
def test_constraint_allows(constraint: str, version: str, expected: bool) -> None:
    v = parse_version(version)
    assert v is not None, version
    assert parse_constraint(constraint).allows(v) is expected


def test_constraint_table_covers_every_operator() -> None:
    ops = {"=", "!=", ">", "<", ">=", "=>", "<=", "=<", "~", "~>", "^"}
    seen = {op for op in ops if any(c.startswith(op) for c, _, _ in ALLOWS_CASES)}
    assert seen == ops
    assert len(ALLOWS_CASES) >= 40


def test_constraint_structure() -> None:
    c = parse_constraint(">= 1.2, <2 || 1.0 - 1.1")
    assert [[(x.op, str(x.version)) for x in g] for g in c.alternatives] == [
        [(">=", "1.2.0"), ("<", "2.0.0")],
        [(">=", "1.0.0"), ("<=", "1.1.0")],
    ]
    assert str(c) == ">= 1.2, <2 || 1.0 - 1.1"
    assert parse_constraint("=>1").alternatives[0][0].op == ">="
    assert parse_constraint("~>1").alternatives[0][0].op == "~"


@pytest.mark.parametrize(
    ("text", "fragment", "offset"),
    [
        ("^1.x.y", "the patch version 'y' is not a number or a wildcard", 5),
        ("latest", "expected a version such as 1.2.3 but found 'latest'", 0),
        (">= bar", "found 'bar'", 3),
        ("1.2.3.4", "at most three parts", 5),
        ("", "it is empty; write '*'", 0),
        ("   ", "it is empty", 0),
        (">=", "a version is missing after '>='", 2),
        ("~ ", "a version is missing after '~'", 2),
        ("1.2 ||", "an alternative between '||' is empty", 6),
        ("|| 1.2", "an alternative between '||' is empty", 0),
        ("1.2 | 3", "a single '|' is not an operator", 4),
        (">=1.2<2", "'<' must be separated", 5),
        ("12.3.34~ 1.2.3", "'~' must be separated", 7),
        ("1..2", "the minor version is missing", 2),
        ("1.", "the minor version is missing", 2),
        ("1x", "the major version '1x' is not a number", 0),
        ("1.2.3-", "the pre-release has an empty or invalid identifier", 6),
        ("1.2.3-a..b", "pre-release has an empty or invalid identifier", 8),
        ("1.2.3+", "build metadata has an empty or invalid identifier", 6),
        ("v1.2.3-beta.01", "'01' is numeric and must not start with 0", 7),
        (">= 1.2 - 1.4", "a hyphen range cannot start with an operator ('>=')", 7),
        ("1.2 - >1.4", "a hyphen range needs a plain version on both sides", 6),
        (">=1.2,, <2", "a version is missing after ','", 6),
        (">=1.2 <2 foo", "found 'foo'", 9),
        ("==1.2", "found '=1.2'", 1),
    ],
)
def test_invalid_constraints(text: str, fragment: str, offset: int) -> None:
    with pytest.raises(ConstraintError) as info:
        parse_constraint(text)
    err = info.value
    assert err.message.startswith(f"'{text}' is not a valid version range: ")
    assert fragment in err.message
    assert err.offset == offset
    assert str(err) == err.message


def test_constraint_error_message_matches_brief_example() -> None:
    with pytest.raises(ConstraintError) as info:
        parse_constraint("^1.x.y")
    assert info.value.message.startswith("'^1.x.y' is not a valid version range: ")
    assert "^1.x.y"[info.value.offset] == "y"


@given(st.text(alphabet="0123456789.xX*-+^~<>=!|, v", max_size=20))
def test_parse_constraint_never_crashes(text: str) -> None:
    try:
        parse_constraint(text)
    except ConstraintError as err:
        assert 0 <= err.offset <= len(text)


# --- newest -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tags", "constraint", "expected"),
    [
        (["1.0.0", "1.2.0", "1.10.0", "1.9.0"], None, "1.10.0"),
        (["latest", "main", "sha-1234"], None, None),
        ([], None, None),
        (["1.0.0", "2.0.0-rc.1"], None, "2.0.0-rc.1"),  # no constraint: pre-releases count
        (["1.0.0", "2.0.0-rc.1"], "*", "1.0.0"),
        (["1.0.0", "2.0.0-rc.1"], "*-0", "2.0.0-rc.1"),
        (["1.2.3", "1.3.0", "2.0.0", "latest"], "^1.2", "1.3.0"),
        (["1.2.3", "1.2.9", "1.3.0"], "~1.2.0", "1.2.9"),
        (["3.0.0", "4.0.0"], "<3", None),
        (["v1.2.3", "1.2.3"], None, "v1.2.3"),  # tie: lexically greatest tag string
        (["1.2.3", "v1.2.3"], None, "v1.2.3"),
        (["1.2.3+b", "1.2.3+a", "1.2.3"], "1.2.x", "1.2.3+b"),
        (["v2", "2.0.0", "v2.0"], ">=2", "v2.0"),
        (["1.0.0-alpha", "1.0.0-beta", "1.0.0-beta.2"], ">=1.0.0-0", "1.0.0-beta.2"),
    ],
)
def test_newest(tags: list[str], constraint: str | None, expected: str | None) -> None:
    parsed = parse_constraint(constraint) if constraint is not None else None
    assert newest(tags, parsed) == expected


@given(st.lists(st.sampled_from(["1.2.3", "v1.2.3", "1.2.3+x", "01.2.3", "1.2.2", "x"])))
def test_newest_is_independent_of_order(tags: list[str]) -> None:
    assert newest(tags, None) == newest(list(reversed(tags)), None)
    assert newest(sorted(tags), None) == newest(tags, None)
