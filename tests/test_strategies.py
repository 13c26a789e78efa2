"""Tests for setlist.strategies: tag selection as Argo CD Image Updater performs it.

The expectations are derived from Image Updater's registry-scanner (registry.go GetTags,
image/version.go, image/options.go, tag/tag.go, options/options.go) and from Go's
regexp and path/filepath semantics; see the module docstring.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from setlist.spec import Strategy
from setlist.strategies import (
    MAX_SKIPPED,
    Choice,
    TagInfo,
    TagPatternError,
    choose,
    filter_tags,
    glob_match,
    needs_metadata,
    platform_provided,
    platform_wanted,
    regex_search,
)
from setlist.versions import newest, parse_constraint


def _at(day: int, hour: int = 0) -> datetime:
    return datetime(2024, 1, day, hour, tzinfo=UTC)


def _choose(strategy: Strategy, tags: list[TagInfo], *, allow: str | None = None,
            ignore: tuple[str, ...] = (), platforms: tuple[str, ...] = (),
            **kw: bool) -> Choice:
    return choose(strategy, tags, allow=allow, ignore=ignore, platforms=platforms, **kw)


def _names(*names: str) -> list[TagInfo]:
    return [TagInfo(n) for n in names]


SEMVER = Strategy(kind="semver")
NEWEST = Strategy(kind="newest_build")
ALPHA = Strategy(kind="alphabetical")


# --- allow_tags: Go regexp.MatchString ------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "tag", "expected"),
    [
        ("1.2", "v1.2.3", True),             # unanchored search, '.' is any character
        ("1.2", "v1x2.3", True),
        ("^1\\.2", "v1.2.3", False),
        ("^v1\\.2", "v1.2.3", True),
        ("^[0-9a-f]{7}$", "a5fb3d3", True),
        ("^[0-9a-f]{7}$", "a5fb3d3a", False),
        ("^[0-9a-f]{7}$", "latest", False),
        ("-rc", "2.0.0-rc.1", True),
        ("^latest$|^stable$", "stable", True),
        ("^latest$|^stable$", "stable-1", False),
        ("rc$", "1.0-rc\n", False),          # Go's '$' is the end of text, not before a '\n'
        ("(?m)rc$", "1.0-rc\nx", True),      # ... unless multi-line mode is on
        ("rc\\z", "1.0-rc", True),           # RE2's end-of-text escape
        ("\\Qv1.0+b\\E", "v1.0+b", True),    # quoted literal text
        ("\\Qv1.0+b\\E", "v1x0+b", False),
        ("^(?<major>\\d+)\\.x$", "3.x", True),   # Go 1.22 named group syntax
        ("^(?P<major>\\d+)\\.x$", "3.x", True),
        ("^v(?i)rc|^x", "vRC", True),        # mid-pattern flags apply to the rest of the group
        ("^v(?i)rc|^x", "X1", True),         # ... including later alternatives
        ("^v(?i)rc|^x", "VRC", False),       # ... but not to what came before
        ("^(?i:V)1", "v1", True),
        ("a{,2}", "a{,2}", True),            # not a repetition in RE2: literal text
        ("a{,2}", "aa", False),
        ("^a{2}$", "aa", True),
        ("^[[:digit:]]+-[[:alpha:]]$", "12-b", True),   # POSIX classes in brackets
        ("^[[:xdigit:]]+$", "beefZ", False),
        ("\\d", "\u0661", False),            # Go's \d is ASCII only
        ("\\s", "\x0b", False),              # Go's \s has no vertical tab
        ("^\\141bc$", "abc", True),          # octal escape, not a backreference
        ("^\\x{61}", "abc", True),           # braced hex escape
        ("^[^-]+$", "abc", True),
        ("^[]a]+$", "]a]", True),            # ']' first in a class is literal
    ],
)
def test_regex_search(pattern: str, tag: str, expected: bool) -> None:
    assert regex_search(pattern, tag) is expected


@pytest.mark.parametrize(
    "pattern",
    ["\\pL", "\\p{Greek}", "(?U)a+", "(?=x)", "a(", "a)", "[a", "\\1", "(?i-)a", "[[:^alpha:]]"],
)
def test_regex_that_cannot_be_evaluated(pattern: str) -> None:
    with pytest.raises(TagPatternError):
        regex_search(pattern, "x")


# --- ignore_tags: Go filepath.Match -----------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "name", "expected"),
    [
        ("*", "v1.2.3", True),
        ("*", "a/b", False),                 # '*' does not cross '/'
        ("*/*", "a/b", True),
        ("a*b", "a/b", False),
        ("v*", "v1", True),
        ("v*", "1v", False),                 # the whole name must match
        ("*-rc*", "1.0-rc1", True),
        ("*-rc*", "1.0-beta", False),
        ("a*b*c", "aXbYc", True),
        ("*b", "bbb", True),
        ("**", "abc", True),
        ("v?.0", "v1.0", True),
        ("v?.0", "v10.0", False),
        ("?", "/", False),                   # '?' does not match '/'
        ("?", "\u00e9", True),               # one character, not one byte
        ("[0-9]*", "1abc", True),
        ("[0-9]*", "abc", False),
        ("[^0-9]*", "abc", True),
        ("[^0-9]*", "1abc", False),
        ("[!0-9]*", "abc", False),           # Go negates with '^' only: '!' is a member
        ("[!0-9]*", "!x", True),
        ("[!0-9]*", "5x", True),
        ("[a-c]x", "bx", True),
        ("[a-cx-z]", "y", True),
        ("[z-a]", "m", False),               # a backwards range matches nothing
        ("\\*", "*", True),                  # escapes
        ("\\*", "a", False),
        ("[\\]]", "]", True),
        ("[\\-]", "-", True),
        ("{a,b}", "a", False),               # no brace alternatives in filepath.Match
        ("{a,b}", "{a,b}", True),
        ("", "", True),
        ("", "a", False),
        ("*[/x]*y", "x/y", False),           # Go commits to the leftmost chunk match
        ("[", "[", False),                   # malformed patterns never match
        ("[]a]", "]", False),
        ("[a-]", "a", False),
        ("[-a]", "-", False),
        ("abc\\", "abc\\", False),
        ("*[", "x", False),
    ],
)
def test_glob_match(pattern: str, name: str, expected: bool) -> None:
    assert glob_match(pattern, name) is expected


# --- filter_tags ------------------------------------------------------------------------------

TAGS = ["latest", "v1.0.0", "v1.1.0-rc.1", "1.2.0", "main-abc1234", "v2.0.0"]


@pytest.mark.parametrize(
    ("allow", "ignore", "expected"),
    [
        (None, (), TAGS),
        ("", (), TAGS),                                   # empty: every tag, like "any"
        ("^v", (), ["v1.0.0", "v1.1.0-rc.1", "v2.0.0"]),
        ("0$", (), ["v1.0.0", "1.2.0", "v2.0.0"]),
        (None, ("latest", "main-*"), ["v1.0.0", "v1.1.0-rc.1", "1.2.0", "v2.0.0"]),
        ("^v", ("*-rc*",), ["v1.0.0", "v2.0.0"]),          # both must let a tag through
        ("^v", ("v2*", "1*"), ["v1.0.0", "v1.1.0-rc.1"]),
        (None, ("*",), []),                               # Image Updater's "pause" idiom
        ("^nothing$", (), []),
        (None, ("[",), TAGS),                             # malformed glob ignores nothing
    ],
)
def test_filter_tags(allow: str | None, ignore: tuple[str, ...], expected: list[str]) -> None:
    assert filter_tags(TAGS, allow, ignore) == expected


def test_filter_tags_keeps_order_and_duplicates() -> None:
    assert filter_tags(iter(["b", "a", "b"]), "[ab]", ()) == ["b", "a", "b"]


def test_filter_tags_rejects_untranslatable_regex() -> None:
    with pytest.raises(TagPatternError):
        filter_tags(["a"], "\\p{L}", ())


# --- semver ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("constraint", "tags", "expected"),
    [
        (None, ["1.0.0", "2.0.0-rc.1", "latest"], "1.0.0"),  # no constraint: "*", no pre-releases
        ("^1.0", ["1.0.0", "1.5.0", "1.6.0-rc.1", "2.0.0"], "1.5.0"),
        (">=1.0.0-0 <2", ["1.0.0", "1.5.0", "1.6.0-rc.1", "2.0.0"], "1.6.0-rc.1"),
        ("2.x-0", ["1.9.0", "2.0.0-rc1"], "2.0.0-rc1"),
        ("*", ["1.0.0", "2.0.0-rc.1"], "1.0.0"),
        ("~1.2", ["1.2.0", "1.2.9", "1.3.0"], "1.2.9"),
        ("1.x", ["v1.0", "1.4", "v2.0"], "1.4"),               # 'v' and short forms parse
        (None, ["1", "1.1", "1.0.9"], "1.1"),
        (None, ["1.2.3", "v1.2.3"], "v1.2.3"),                 # tie: greatest original string
        (None, ["1.2.3+build.10", "1.2.3+build.2"], "1.2.3+build.2"),
        (None, ["01.2.3", "1.2.3"], "1.2.3"),
        (None, ["1.10.0", "1.9.0"], "1.10.0"),                 # numeric, not lexical
        (None, ["latest", "main", "sha-1234"], None),
        ("^3", ["1.0.0", "2.0.0"], None),
    ],
)
def test_semver(constraint: str | None, tags: list[str], expected: str | None) -> None:
    strategy = Strategy(kind="semver", constraint=constraint)
    assert _choose(strategy, _names(*tags)).tag == expected


def test_semver_without_constraint_like_image_updater_1_3() -> None:
    tags = _names("v2.2.0", "v2.3.0-rc.0.18.g1abb7b5dd-ppc64le")
    choice = _choose(SEMVER, tags)
    assert choice.tag == "v2.2.0"
    assert "among all releases" in choice.reason
    # Image Updater up to v1.2.x took pre-releases too when no constraint was given
    assert _choose(SEMVER, tags, unconstrained_prereleases=True).tag == \
        "v2.3.0-rc.0.18.g1abb7b5dd-ppc64le"


def test_semver_explains_excluded_prerelease() -> None:
    choice = _choose(Strategy(kind="semver", constraint="^1.0"), _names("1.0.0", "1.1.0-rc.1",
                                                                         "2.0.0", "x"))
    assert choice.tag == "1.0.0"
    assert choice.skipped == (
        ("2.0.0", "outside constraint '^1.0'"),
        ("1.1.0-rc.1", "pre-release excluded: constraint '^1.0' has no pre-release part"),
        ("x", "not a semantic version"),
    )


def test_semver_ignores_platforms() -> None:
    # Image Updater never fetches manifests for semver, so platforms have no effect.
    tags = [TagInfo("1.0.0", platforms=("linux/arm64",)),
            TagInfo("1.1.0", platforms=("linux/amd64",)), TagInfo("1.2.0")]
    assert _choose(SEMVER, tags, platforms=("linux/arm64",)).tag == "1.2.0"


@given(st.lists(st.sampled_from(["1.2.3", "v1.2.3", "1.2.3+x", "01.2.3", "1.2.2", "x",
                                 "2.0.0-rc.1", "v2.0.0-rc.1", "2", "latest"])),
       st.sampled_from([None, "*", "^1", ">=2.0.0-0", "1.2.x"]))
def test_semver_agrees_with_versions_newest(tags: list[str], constraint: str | None) -> None:
    # no constraint means '*' (Image Updater v1.3.0 and later)
    parsed = parse_constraint(constraint or "*")
    strategy = Strategy(kind="semver", constraint=constraint)
    assert _choose(strategy, _names(*tags)).tag == newest(tags, parsed)
    assert _choose(strategy, _names(*reversed(tags))).tag == newest(tags, parsed)


# --- newest_build ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tags", "expected"),
    [
        ([TagInfo("a1", created=_at(1)), TagInfo("b2", created=_at(3)),
          TagInfo("c3", created=_at(2))], "b2"),
        ([TagInfo("zzz", created=_at(1)), TagInfo("aaa", created=_at(1, 1))], "aaa"),
        # Equal dates: Image Updater sorts by name, the greatest name is last and wins.
        ([TagInfo("abc", created=_at(5)), TagInfo("abd", created=_at(5)),
          TagInfo("old", created=_at(1))], "abd"),
        # Go compares instants: 01:00+01:00 equals 00:00Z; a naive time counts as UTC.
        ([TagInfo("b", created=datetime(2024, 1, 1, 1, tzinfo=timezone(timedelta(hours=1)))),
          TagInfo("a", created=datetime(2024, 1, 1))], "b"),
        ([TagInfo("new"), TagInfo("old", created=_at(1))], "old"),   # unknown date: skipped
        ([TagInfo("x"), TagInfo("y")], None),
        # A repeated name keeps its last entry, as Image Updater's tag map does.
        ([TagInfo("a", created=_at(9)), TagInfo("b", created=_at(2)),
          TagInfo("a", created=_at(1))], "b"),
    ],
)
def test_newest_build(tags: list[TagInfo], expected: str | None) -> None:
    assert _choose(NEWEST, tags).tag == expected


def test_newest_build_with_allow_and_ignore() -> None:
    tags = [TagInfo("latest", created=_at(9)), TagInfo("a5fb3d3", created=_at(2)),
            TagInfo("f7bb2e3", created=_at(3)), TagInfo("master", created=_at(8)),
            TagInfo("0000000", created=_at(7))]
    choice = _choose(NEWEST, tags, allow="^[0-9a-f]{7}$", ignore=("0*",))
    assert choice.tag == "f7bb2e3"
    assert [t for t, _ in choice.skipped] == ["latest", "master", "0000000"]  # newest first
    assert "most recently built (2024-01-03T00:00:00+00:00)" == choice.reason


def test_newest_build_tie_is_explained() -> None:
    choice = _choose(NEWEST, [TagInfo("a", created=_at(1)), TagInfo("b", created=_at(1))])
    assert choice.tag == "b" and "broken by the greatest tag name" in choice.reason


# --- alphabetical ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tags", "expected"),
    [
        (["a", "b", "B"], "b"),                    # byte order: lowercase after uppercase
        (["Z", "a"], "a"),
        (["10", "9"], "9"),                        # not numeric
        (["2024-01-31", "2024-02-01"], "2024-02-01"),
        (["z", "\u00e9"], "\u00e9"),               # UTF-8 byte order = code point order
        (["v1.10.0", "v1.9.0"], "v1.9.0"),
        ([], None),
    ],
)
def test_alphabetical(tags: list[str], expected: str | None) -> None:
    assert _choose(ALPHA, _names(*tags)).tag == expected


def test_alphabetical_with_ignore() -> None:
    assert _choose(ALPHA, _names("prod-1", "prod-2", "stage-9"), ignore=("stage-*",)).tag \
        == "prod-2"


# --- digest ------------------------------------------------------------------------------------


def test_digest_picks_followed_tag() -> None:
    tags = [TagInfo("latest", digest="sha256:aaa"), TagInfo("v9", digest="sha256:bbb")]
    choice = _choose(Strategy(kind="digest", tag="latest"), tags)
    assert choice == Choice("latest", "followed tag 'latest' is present; digest sha256:aaa")


@pytest.mark.parametrize(
    ("tags", "allow", "ignore", "expected", "reason_part"),
    [
        (_names("v1", "v2"), None, (), None, "tag 'prod' is not in the registry"),
        (_names("prod", "v2"), "^v", (), None, "1 not matching allow_tags"),
        (_names("prod"), None, ("pr*",), None, "1 ignored"),
        (_names("prod"), None, (), "prod", "digest unknown"),
    ],
)
def test_digest_edge_cases(tags: list[TagInfo], allow: str | None, ignore: tuple[str, ...],
                           expected: str | None, reason_part: str) -> None:
    choice = _choose(Strategy(kind="digest", tag="prod"), tags, allow=allow, ignore=ignore)
    assert choice.tag == expected
    assert reason_part in choice.reason


def test_digest_without_tag() -> None:
    choice = _choose(Strategy(kind="digest"), _names("latest"))
    assert choice.tag is None and "needs the tag" in choice.reason


# --- platforms ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("platform", "required", "expected"),
    [
        ("linux/arm64", ["linux/arm64"], True),
        ("linux/arm/v7", ["linux/arm"], True),        # variant-less wants any variant
        ("linux/arm64/v8", ["linux/arm64"], True),
        ("linux/arm", ["linux/arm/v7"], False),       # but not the other way round
        ("linux/arm/v6", ["linux/arm/v7"], False),
        ("linux/amd64", ["linux/arm64", "linux/amd64"], True),
        ("windows/amd64", ["linux/amd64"], False),
        ("linux/amd64", [" linux/amd64 "], True),     # configured values are trimmed
        ("linux/amd64", [], True),
    ],
)
def test_platform_wanted(platform: str, required: list[str], expected: bool) -> None:
    assert platform_wanted(platform, required) is expected


@pytest.mark.parametrize(
    ("platforms", "required", "expected_tag"),
    [
        (("linux/amd64",), ("linux/arm64",), "old"),
        (("linux/amd64", "linux/arm64"), ("linux/arm64",), "new"),
        (("linux/amd64",), ("linux/arm64", "linux/amd64"), "new"),   # one wanted platform is enough
        (("linux/arm/v7",), ("linux/arm",), "new"),
        (("linux/arm",), ("linux/arm/v7",), "old"),
        ((), ("linux/arm64",), "old"),
        (None, ("linux/arm64",), "old"),        # not fetched although needed: not eligible
        (None, (), "new"),                      # not needed: eligible
    ],
)
def test_newest_build_platforms(platforms: tuple[str, ...] | None, required: tuple[str, ...],
                                expected_tag: str) -> None:
    tags = [TagInfo("new", created=_at(2), platforms=platforms),
            TagInfo("old", created=_at(1), platforms=("linux/amd64", "linux/arm64",
                                                      "linux/arm/v7"))]
    assert _choose(NEWEST, tags, platforms=required).tag == expected_tag


@pytest.mark.parametrize(
    ("platforms", "required", "expected_tag"),
    [
        # Setlist's rule: every listed platform, not any one of them.
        (("linux/amd64", "linux/arm64"), ("linux/arm64", "linux/amd64"), "new"),
        (("linux/amd64",), ("linux/arm64", "linux/amd64"), "old"),
        (("linux/arm/v7", "linux/amd64"), ("linux/arm", "linux/amd64"), "new"),
        (("linux/arm", "linux/amd64"), ("linux/arm/v7",), "old"),
        ((), ("linux/arm64",), "old"),
        # Not fetched: left for the resolver to check on the chosen tag's manifest.
        (None, ("linux/arm64",), "new"),
        (("linux/s390x",), (), "new"),
    ],
)
def test_every_platform_rule(platforms: tuple[str, ...] | None, required: tuple[str, ...],
                             expected_tag: str) -> None:
    everything = ("linux/amd64", "linux/arm64", "linux/arm/v7")
    for strategy in (NEWEST, Strategy(kind="semver"), Strategy(kind="alphabetical")):
        tags = [TagInfo("1.1.0" if strategy.kind != "newest_build" else "new",
                        created=_at(2), platforms=platforms),
                TagInfo("1.0.0" if strategy.kind != "newest_build" else "old",
                        created=_at(1), platforms=everything)]
        chosen = choose(strategy, tags, allow=None, ignore=(), platforms=required,
                        every_platform=True).tag
        names = {"new": tags[0].name, "old": tags[1].name}
        assert chosen == names[expected_tag], strategy


def test_platform_provided_reads_variants_one_way() -> None:
    assert platform_provided("linux/arm", ["linux/arm/v7"])
    assert not platform_provided("linux/arm/v7", ["linux/arm"])
    assert platform_provided("linux/amd64", ["windows/amd64", "linux/amd64"])
    assert not platform_provided("linux/amd64", [])


def test_every_platform_reason_names_what_is_missing() -> None:
    tags = [TagInfo("1.0.0", platforms=("linux/amd64",))]
    choice = choose(Strategy(kind="semver"), tags, allow=None, ignore=(),
                    platforms=("linux/amd64", "linux/arm64", "linux/ppc64le"),
                    every_platform=True)
    assert choice.tag is None
    assert choice.skipped == (("1.0.0", "linux/arm64, linux/ppc64le missing (has linux/amd64)"),)


def test_platform_skip_reason() -> None:
    tags = [TagInfo("new", created=_at(2), platforms=("linux/amd64",)),
            TagInfo("newer", created=_at(3))]
    choice = _choose(NEWEST, tags, platforms=("linux/arm64",))
    assert choice.tag is None
    assert choice.skipped == (("newer", "its platforms were not fetched"),
                              ("new", "linux/arm64 missing (has linux/amd64)"))
    assert choice.reason == "no tag qualifies (2 tags listed: 2 without a wanted platform)"


def test_digest_platforms() -> None:
    tags = [TagInfo("prod", digest="sha256:1", platforms=("linux/amd64",))]
    digest = Strategy(kind="digest", tag="prod")
    assert _choose(digest, tags, platforms=("linux/amd64",)).tag == "prod"
    assert _choose(digest, tags, platforms=("linux/arm64",)).tag is None


# --- needs_metadata ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("strategy", "platforms", "expected"),
    [
        (SEMVER, (), set()),
        (Strategy(kind="semver", constraint="^1"), ("linux/arm64",), set()),
        (ALPHA, ("linux/arm64",), set()),
        (NEWEST, (), {"created"}),
        (NEWEST, ("linux/arm64",), {"created", "platforms"}),
        (Strategy(kind="digest", tag="latest"), (), {"digest"}),
        (Strategy(kind="digest", tag="latest"), ("linux/amd64",), {"digest", "platforms"}),
    ],
)
def test_needs_metadata(strategy: Strategy, platforms: tuple[str, ...],
                        expected: set[str]) -> None:
    assert needs_metadata(strategy, platforms) == expected


# --- explanations ------------------------------------------------------------------------------


def test_empty_registry() -> None:
    assert _choose(SEMVER, []) == Choice(None, "the registry lists no tags")


def test_no_tag_qualifies_counts_reasons() -> None:
    choice = _choose(Strategy(kind="semver", constraint="^5"),
                     _names("latest", "v1", "v2", "4.0.0", "dev-1"), allow="^v|^4|^l",
                     ignore=("latest",))
    assert choice.tag is None
    assert choice.reason == ("no tag qualifies (5 tags listed: 3 outside the constraint, "
                             "1 not matching allow_tags, 1 ignored)")


def test_skipped_is_bounded_and_best_first() -> None:
    tags = _names(*(f"1.0.{i}" for i in range(100)), "2.0.0")
    choice = _choose(Strategy(kind="semver", constraint="^2"), tags)
    assert choice.tag == "2.0.0"
    assert len(choice.skipped) == MAX_SKIPPED
    assert choice.skipped[0] == ("1.0.99", "outside constraint '^2'")


def test_semver_tie_is_explained() -> None:
    choice = _choose(SEMVER, _names("1.0.0", "v1.0.0"))
    assert choice.tag == "v1.0.0"
    assert choice.reason == ("highest version among all releases; equal versions are broken "
                             "by the greatest tag string")
