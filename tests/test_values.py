"""Tests for setlist.values: each validator accepts what its consumer accepts and explains
what it rejects, pointing at the offending character."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from setlist import values as V
from setlist import values_time as VT
from setlist.values import ValueProblem

Check = Callable[[str], ValueProblem | None]

VALID: list[tuple[Check, str]] = [
    (V.check_semver_constraint, "^1.2"),
    (V.check_semver_constraint, ">= 1.2, < 2 || 3.x-0"),
    (V.check_regex, r"^v\d+\.\d+\.\d+$"),
    (V.check_regex, r"^(?P<major>\d+)\.(?:\d+)-[a-z]+?$"),
    (V.check_regex, r"[(?=]x"),  # lookahead syntax inside a class is just characters
    (V.check_regex, r"\(?=x"),
    (V.check_regex, r"a+?b*?c{2,3}?"),
    # valid RE2 that Python spells differently: tag selection translates it
    (V.check_regex, r"^v\d+\z"),
    (V.check_regex, r"^\Qv1.2\E-"),
    (V.check_regex, r"^(?<major>\d+)\."),
    (V.check_regex, r"\x{76}\d"),
    (V.check_regex, r"^rc(?i)-BETA"),
    (V.check_regex, r"(?i)^v(?s:.)(?-m:x)$"),
    (V.check_glob, "*-debug"),
    (V.check_glob, "v1.*"),
    (V.check_glob, "[abc]*"),
    (V.check_glob, "[!a-f]?-beta"),   # Go: '!' is an ordinary member of the class
    (V.check_glob, "[^a-f]?-beta"),   # Go negates with '^'
    (V.check_glob, "v1\\]*"),
    (VT.check_duration, "1h30m"),
    (VT.check_duration, "90s"),
    (VT.check_duration, "7d"),
    (VT.check_duration, "2w"),
    (VT.check_duration, "0s"),
    (VT.check_duration, "1w2d3h4m5s"),
    (VT.check_date, "2027-02-28"),
    (VT.check_date, "2024-02-29"),
    (VT.check_date, "2027-03-01T09:30Z"),
    (VT.check_date, "2027-03-01T09:30:15+02:00"),
    (VT.check_date, "2027-12-31T23:59:59-05:30"),
    (VT.check_cron, "0 22 * * 1-5"),
    (VT.check_cron, "*/15 * * * *"),
    (VT.check_cron, "1-30/5 0,12 1 JAN,jul *"),
    (VT.check_cron, "0 0 * * MON-FRI"),
    (VT.check_cron, "0 0 ? * ?"),
    (VT.check_cron, "5/10 * * * sun"),
    (VT.check_cron, "  0   3 * *   6  "),
    (VT.check_cron, "@daily"),
    (VT.check_cron, "@midnight"),
    (VT.check_cron, "@annually"),
    (VT.check_timezone, "Europe/Berlin"),
    (VT.check_timezone, "UTC"),
    (VT.check_timezone, "America/Argentina/Buenos_Aires"),
    (V.check_platform, "linux/amd64"),
    (V.check_platform, "linux/arm/v7"),
    (V.check_platform, "linux/arm64/v8"),
    (V.check_platform, "windows/amd64"),
    (V.check_platform, "linux/s390x"),
    (V.check_platform, "darwin/arm64"),
    (V.check_url, "https://github.com/org/repo.git"),
    (V.check_url, "http://gitea.local:3000/org/repo"),
    (V.check_url, "ssh://git@github.com/org/repo"),
    (V.check_url, "git@github.com:org/repo.git"),
    (V.check_url, "git://example.com/repo"),
    (V.check_url, "file:///srv/git/repo"),
    (V.check_dns1123_label, "my-app"),
    (V.check_dns1123_label, "a"),
    (V.check_dns1123_label, "a" * 63),
    (V.check_dns1123_subdomain, "my.app.example"),
    (V.check_dns1123_subdomain, "a-1.b-2"),
    (V.check_label_key, "app"),
    (V.check_label_key, "app.kubernetes.io/name"),
    (V.check_label_key, "example.com/My_Key.v1"),
    (V.check_label_value, ""),
    (V.check_label_value, "v1.2.3"),
    (V.check_label_value, "Prod_1"),
    (V.check_host, "ghcr.io"),
    (V.check_host, "localhost:5000"),
    (V.check_host, "127.0.0.1:5000"),
    (V.check_host, "[::1]:5000"),
    (V.check_host, "[2001:db8::1]"),
    (V.check_host, "registry-1.docker.io"),
    (V.check_repository_path, "org/app"),
    (V.check_repository_path, "library/nginx"),
    (V.check_repository_path, "a__b/c-d.e/f--g"),
    (V.check_tag, "v1.2.3"),
    (V.check_tag, "latest"),
    (V.check_tag, "_internal"),
    (V.check_tag, "1.2.3-rc.1_build.5"),
    (V.check_tag, "a" * 128),
    (V.check_digest, "sha256:" + "a" * 64),
    (V.check_digest, "sha512:" + "0" * 128),
]


@pytest.mark.parametrize(("check", "value"), VALID, ids=lambda x: getattr(x, "__name__", x))
def test_valid(check: Check, value: str) -> None:
    assert check(value) is None


INVALID: list[tuple[Check, str, str, int | None, str | None]] = [
    # (check, value, message fragment, offset, hint fragment or None to skip)
    (V.check_semver_constraint, "^1.x.y",
     "'^1.x.y' is not a valid version range: the patch version 'y'", 5, "^1.4"),
    (V.check_semver_constraint, "latest", "found 'latest'", 0, None),
    (V.check_regex, "(a", "is not a valid regular expression: missing ), unterminated", 0,
     "close the group with ')'"),
    (V.check_regex, "^v[0-9+$", "unterminated character set", 2,
     "close the character class with ']'"),
    (V.check_regex, r"(a)\1", "uses a backreference ('\\1')", 3,
     "RE2 engine, which Argo CD Image Updater uses, does not support backreferences"),
    (V.check_regex, "(?P<x>a)(?P=x)", "a named backreference ('(?P=')", 8,
     "does not support backreferences"),
    (V.check_regex, "foo(?=bar)", "uses a lookahead ('(?=')", 3, "does not support lookaheads"),
    (V.check_regex, "foo(?!bar)", "a negative lookahead", 3, "does not support lookaheads"),
    (V.check_regex, "(?<=v)1", "uses a lookbehind ('(?<=')", 0, "does not support lookbehinds"),
    (V.check_regex, "(?<!v)1", "a negative lookbehind", 0, "does not support lookbehinds"),
    (V.check_regex, "(?>ab)c", "an atomic group", 0, "does not support atomic groups"),
    (V.check_regex, "a*+b", "a possessive quantifier ('*+')", 2,
     "does not support possessive quantifiers"),
    (V.check_regex, "a{2,}+", "a possessive quantifier ('{2,}+')", 5, "RE2"),
    (V.check_regex, r"v\d+\Z", "uses '\\Z'", 4, "use '$'"),
    (V.check_regex, "(?x) v1 ", "the inline flag(s) 'x'", 0, "flags i, m, s and U"),
    (V.check_regex, "a(?ai:b)", "the inline flag(s) 'a'", 1, None),
    (V.check_glob, "", "must not be empty", None, "'*'"),
    (V.check_glob, "v1.[0-9", "'[' that is never closed", 3, "escape"),
    (V.check_glob, "x[]", "class that starts with ']'", 2, "'\\]'"),
    (V.check_glob, "[]]x", "class that starts with ']'", 1, None),
    (V.check_glob, "[z-a]*", "backwards range 'z-a'", 1, "'a-z'"),
    (V.check_glob, "{alpha,beta}", "no {a,b} alternatives", 0, '"*-alpha"'),
    (V.check_glob, "alpha}", "contains '}'", 5, None),
    (V.check_glob, "*:latest", "contains ':'", 1, "letters, digits"),
    (V.check_glob, "v1 *", "contains whitespace", 2, None),
    (V.check_glob, "v1\\", "ends with a lone '\\'", 2, None),
    (VT.check_duration, "", "must not be empty", None, "1h30m"),
    (VT.check_duration, "30m1h", "'30m1h' lists hours after a smaller unit", 4, "largest"),
    (VT.check_duration, "1h2h", "gives hours twice", 3, "Combine"),
    (VT.check_duration, "90", "'90' ends with '90' without a unit", 2, "'90s'"),
    (VT.check_duration, "1h30", "ends with '30' without a unit", 4, "Every number"),
    (VT.check_duration, "h", "has 'h' without a number", 0, None),
    (VT.check_duration, "500ms", "unknown unit 'ms'", 3, "one-second resolution"),
    (VT.check_duration, "1H", "unknown unit 'H'", 1, "lowercase: 'h'"),
    (VT.check_duration, "1y", "unknown unit 'y'", 1, "s, m, h, d or w"),
    (VT.check_duration, "1 h", "contains ' ' where a unit must be", 1, None),
    (VT.check_duration, "-5s", "contains '-', which is not a digit or a unit", 0, None),
    (VT.check_date, "2027-02-30", "'2027-02-30' is not a real date: February 2027 has 28 days",
     8, "the last day of February 2027 is 2027-02-28"),
    (VT.check_date, "2027-04-31", "April 2027 has 30 days", 8, None),
    (VT.check_date, "2027-13-01", "there is no month 13", 5, None),
    (VT.check_date, "2027-1-01", "expected a digit at position 7, found '-'", 6, "2027-03-01"),
    (VT.check_date, "2027-01", "expected '-' at position 8, found the end", 7, None),
    (VT.check_date, "27/01/2027", "expected a digit at position 3, found '/'", 2, None),
    (VT.check_date, "2027-03-01T25:00Z", "hour 25, which is out of range 0-23", 11, None),
    (VT.check_date, "2027-03-01T09:60Z", "minute 60, which is out of range 0-59", 14, None),
    (VT.check_date, "2027-03-01T09:30:61Z", "second 61", 17, None),
    (VT.check_date, "2027-03-01T09:30+24:00", "zone hour 24", 17, None),
    (VT.check_date, "2027-03-01T09:30", "has no time zone", 16, "'Z'"),
    (VT.check_date, "2027-03-01 09:30Z", "a time must start with 'T'", 10, None),
    (VT.check_date, "2027-03-01T9:30Z", "is malformed", 10, None),
    (VT.check_cron, "0 25 * * *", "The cron hour 25 is out of range 0-23", 2,
     "hours run from 0 to 23"),
    (VT.check_cron, "60 * * * *", "minute 60 is out of range 0-59", 0, None),
    (VT.check_cron, "0 0 0 * *", "day-of-month 0 is out of range 1-31", 4, None),
    (VT.check_cron, "0 0 1 13 *", "month 13 is out of range 1-12", 6, None),
    (VT.check_cron, "0 0 * * 7", "day-of-week 7 is out of range 0-6", 8, "Sunday is 0"),
    (VT.check_cron, "0 9-17,18-30 * * *", "hour 30 is out of range 0-23", 10, None),
    (VT.check_cron, "0 0 * * 5-1", "range '5-1' starts after it ends", 8, "wrap"),
    (VT.check_cron, "*/0 * * * *", "step '0'; a step must be a positive number", 2, None),
    (VT.check_cron, "*/x * * * *", "step 'x'", 2, None),
    (VT.check_cron, "0 0 * FOO *", "'FOO', which is not a valid value (1-12 or a name such as JAN)",
     6, None),
    (VT.check_cron, "0 ? * * *", "hour field has '?'", 2, None),
    (VT.check_cron, "1,,2 * * * *", "empty list item", 2, None),
    (VT.check_cron, "0 0 * *", "has 4 fields; it needs 5", None, "minute hour"),
    (VT.check_cron, "0 0 0 * * *", "has 6 fields", None, "no seconds field"),
    (VT.check_cron, "@dialy", "'@dialy' is not a known cron descriptor", 0, "'@daily'"),
    (VT.check_cron, "@every 5m", "not a known cron descriptor", 0, "Known: @yearly"),
    (VT.check_timezone, "europe/berlin", "'europe/berlin' is not a known IANA time zone", None,
     "Did you mean 'Europe/Berlin'?"),
    (VT.check_timezone, "Europe/Berln", "not a known IANA time zone", None, "'Europe/Berlin'"),
    (VT.check_timezone, "Mars/Olympus_Mons", "not a known IANA", None, None),
    (VT.check_timezone, "CEST", "not a known IANA", None,
     "use the region name 'Europe/Berlin' or 'Europe/Paris'"),
    (VT.check_timezone, "PDT", "not a known IANA", None, "'America/Los_Angeles'"),
    (VT.check_timezone, "XYZT", "not a known IANA", None,
     "region name such as 'Europe/Berlin'; abbreviations do not follow daylight saving"),
    (V.check_platform, "linux", "'linux' is not a platform: expected os/arch[/variant]", None,
     "linux/amd64"),
    (V.check_platform, "linux/amd64/v3/x", "expected os/arch[/variant]", None, None),
    (V.check_platform, "linx/amd64", "'linx' in 'linx/amd64' is not a known operating system",
     0, "Did you mean 'linux'?"),
    (V.check_platform, "Linux/amd64", "not a known operating system", 0, "'linux'"),
    (V.check_platform, "linux/x86_64", "'x86_64' in 'linux/x86_64' is not a known architecture",
     6, "write 'amd64'"),
    (V.check_platform, "linux/aarch64", "not a known architecture", 6, "'arm64'"),
    (V.check_platform, "linux/amd46", "not a known architecture", 6, "Did you mean 'amd64'?"),
    (V.check_platform, "linux/arm/v9", "'v9' is not a known variant of arm", 10, "v5, v6, v7"),
    (V.check_platform, "linux/arm/V7", "variant of arm", 10, "'v7'"),
    (V.check_url, "", "must not be empty", None, None),
    (V.check_url, "github.com/org/repo", "'github.com/org/repo' is not a URL: it has no scheme",
     0, "'https://github.com/org/repo'"),
    (V.check_url, "https://git hub.com/x", "contains whitespace", 11, None),
    (V.check_url, "ftp://example.com/repo", "uses scheme 'ftp', which is not allowed", 0,
     "https, http, ssh, git, file"),
    (V.check_url, "https://", "has no host", 8, None),
    (V.check_url, "https:///org/repo", "has no host", 8, None),
    (V.check_url, "https://example.com:99999/repo", "has an invalid port", 19, None),
    (V.check_url, "git@github.com:", "has no repository path", 15, None),
    (V.check_url, "https://[github.com/org", "unbalanced '[' or ']'", 8, "IPv6"),
]


@pytest.mark.parametrize(("check", "value", "fragment", "offset", "hint"), INVALID,
                         ids=lambda x: getattr(x, "__name__", x))
def test_invalid(check: Check, value: str, fragment: str, offset: int | None,
                 hint: str | None) -> None:
    problem = check(value)
    assert isinstance(problem, ValueProblem), value
    assert fragment.lower().rstrip(".") in problem.message.lower()
    assert not problem.message.endswith(".")  # clauses, like all diagnostics
    assert problem.offset == offset
    if hint is not None:
        assert problem.hint is not None and hint.lower().rstrip(".") in problem.hint.lower()
    if problem.offset is not None:
        assert 0 <= problem.offset <= len(value)


NAMES: list[tuple[Check, str, str, int | None, str | None]] = [
    (V.check_dns1123_label, "", "The name must not be empty", 0, None),
    (V.check_dns1123_label, "My_App",
     "'My_App' contains 'M'; only lowercase letters, digits and '-' are allowed", 0,
     "Try 'my-app'."),
    (V.check_dns1123_label, "my_app", "contains '_'", 2, "Try 'my-app'."),
    (V.check_dns1123_label, "app.v1", "contains '.'", 3, "'app-v1'"),
    (V.check_dns1123_label, "-app", "must start and end with a letter or digit", 0, "'app'"),
    (V.check_dns1123_label, "app-", "must start and end with a letter or digit", 3, "'app'"),
    (V.check_dns1123_label, "a" * 64, "is 64 characters long; the limit is 63", 63, None),
    (V.check_dns1123_subdomain, "My_App.example", "contains 'M'", 0, "'my-app.example'"),
    (V.check_dns1123_subdomain, "a..b", "(also on both sides of each '.')", 1, "'a.b'"),
    (V.check_dns1123_subdomain, "a.-b", "must start and end", 2, "'a.b'"),
    (V.check_dns1123_subdomain, "x" * 254, "the limit is 253", 253, None),
    (V.check_label_key, "Example.com/x", "label key prefix 'Example.com' contains 'E'", 0,
     "'example.com'"),
    (V.check_label_key, "a/b/c", "has more than one '/'", 1, None),
    (V.check_label_key, "/x", "label key prefix must not be empty", 0, None),
    (V.check_label_key, "x/", "label name must not be empty", 2, None),
    (V.check_label_key, "example.com/my key", "label name 'my key' contains ' '", 14,
     "'my-key'"),
    (V.check_label_key, "example.com/-x", "must start and end with a letter or digit", 12, "'x'"),
    (V.check_label_key, "k" * 64, "is 64 characters long; the limit is 63", 63, None),
    (V.check_label_value, "-bad", "label value '-bad' must start and end", 0, "'bad'"),
    (V.check_label_value, "has space", "contains ' '", 3, "'has-space'"),
    (V.check_label_value, "v" * 64, "the limit is 63", 63, None),
    (V.check_label_value, "x.", "must start and end", 1, "'x'"),
    (V.check_host, "", "must not be empty", None, "ghcr.io"),
    (V.check_host, "https://ghcr.io", "'https://ghcr.io' includes a scheme", 0, "drop 'https://'"),
    (V.check_host, "ghcr.io/org", "includes a path", 7, "Drop '/org'"),
    (V.check_host, "ghcr.io:0", "port '0' in 'ghcr.io:0' is not a number from 1 to 65535", 8,
     None),
    (V.check_host, "ghcr.io:", "port ''", 8, None),
    (V.check_host, "ghcr.io:http", "port 'http'", 8, None),
    (V.check_host, "ghcr_io", "'ghcr_io' in 'ghcr_io' is not a valid host name", 4, None),
    (V.check_host, "-ghcr.io", "is not a valid host name", 0, None),
    (V.check_host, "999.1.1.1:5000", "'999.1.1.1' in '999.1.1.1:5000' is not an IPv4 address", 0,
     None),
    (V.check_host, "[::g]:5000", "'::g' in '[::g]:5000' is not an IPv6 address", 1, None),
    (V.check_host, "[::1", "malformed bracketed IPv6", 0, None),
    (V.check_host, "::1", "has no host name before the ':'", 0, "'[::1]:5000'"),
    (V.check_host, "ghcr.io:50:00", "port '50:00'", 8, None),
    (V.check_host, ":5000", "has no host name before the ':'", 0, None),
    (V.check_repository_path, "", "must not be empty", None, None),
    (V.check_repository_path, "Org/App", "'Org/App' contains 'O'", 0,
     "lowercase: 'org/app'"),
    (V.check_repository_path, "org//app", "has an empty component", 4, "'org/app'"),
    (V.check_repository_path, "/org", "has an empty component", 0, None),
    (V.check_repository_path, "org/app/", "has an empty component", 8, None),
    (V.check_repository_path, "org/app:1.0", "includes a tag", 7, "Drop ':1.0'"),
    (V.check_repository_path, "org/app@sha256:ab", "includes a digest", 7, "Drop '@sha256:ab'"),
    (V.check_repository_path, "a..b", "has '.' where a letter or digit must be", 1, None),
    (V.check_repository_path, "a___b", "has '_' where a letter or digit must be", 1, None),
    (V.check_repository_path, "org/-app", "has '-' where a letter or digit must be", 4, None),
    (V.check_repository_path, "org/my app", "contains ' '", 6, None),
    (V.check_repository_path, "a" * 256, "the limit is 255", 255, None),
    (V.check_tag, "", "must not be empty", None, None),
    (V.check_tag, "1.2.3+build.5", "'1.2.3+build.5' contains '+'", 5, "cannot store '+'"),
    (V.check_tag, ".hidden", "starts with '.'", 0, None),
    (V.check_tag, "-rc", "starts with '-'", 0, "drop the leading '-': 'rc'"),
    (V.check_tag, ":v1", "contains ':'", 0, "without the repository"),
    (V.check_tag, "v1/2", "contains '/'", 2, None),
    (V.check_tag, "t" * 129, "129 characters; the limit is 128", 128, None),
    (V.check_digest, "a" * 64, "has no algorithm prefix", 0, "Write 'sha256:aaaa"),
    (V.check_digest, "abc", "has no algorithm prefix", 0, "64 lowercase hex digits"),
    (V.check_digest, "md5:abc", "uses algorithm 'md5'; expected sha256 or sha512", 0, None),
    (V.check_digest, "sha256:" + "a" * 63, "has 63 hex digits; sha256 needs 64", 70, None),
    (V.check_digest, "sha256:" + "a" * 65, "has 65 hex digits; sha256 needs 64", 71, None),
    (V.check_digest, "sha512:" + "a" * 64, "sha512 needs 128", 71, None),
    (V.check_digest, "sha256:" + "A" * 64, "contains 'A', which is not a lowercase hex digit", 7,
     "lowercase hex"),
    (V.check_digest, "sha256:xyz", "contains 'x'", 7, None),
]


@pytest.mark.parametrize(("check", "value", "fragment", "offset", "hint"), NAMES,
                         ids=lambda x: getattr(x, "__name__", x) if callable(x) else str(x)[:20])
def test_invalid_names_and_references(check: Check, value: str, fragment: str,
                                      offset: int | None, hint: str | None) -> None:
    test_invalid(check, value, fragment, offset, hint)


def test_url_schemes_can_be_restricted() -> None:
    assert V.check_url("https://example.com/x", schemes=("https",)) is None
    problem = V.check_url("http://example.com/x", schemes=("https",))
    assert problem is not None and "scheme 'http'" in problem.message
    problem = V.check_url("git@github.com:org/repo.git", schemes=("https",))
    assert problem is not None and "SSH (scp-style) address" in problem.message


def test_parse_duration() -> None:
    assert VT.parse_duration("90s") == 90
    assert VT.parse_duration("1h30m") == 5400
    assert VT.parse_duration("7d") == 7 * 86400
    assert VT.parse_duration("2w1s") == 2 * 604800 + 1
    assert VT.parse_duration("0s") == 0
    assert VT.parse_duration("30m1h") is None
    assert VT.parse_duration("") is None


@given(st.integers(0, 60), st.integers(0, 23), st.integers(0, 59), st.integers(0, 59))
def test_duration_round_trip(d: int, h: int, m: int, s: int) -> None:
    text = "".join(f"{n}{u}" for n, u in ((d, "d"), (h, "h"), (m, "m"), (s, "s")) if n) or "0s"
    assert VT.check_duration(text) is None
    assert VT.parse_duration(text) == d * 86400 + h * 3600 + m * 60 + s


@given(st.text(max_size=30))
def test_validators_never_crash(text: str) -> None:
    for check in (V.check_semver_constraint, V.check_regex, V.check_glob, VT.check_duration,
                  VT.check_date, VT.check_cron, VT.check_timezone, V.check_platform, V.check_url,
                  V.check_dns1123_label, V.check_dns1123_subdomain, V.check_label_key,
                  V.check_label_value, V.check_host, V.check_repository_path, V.check_tag,
                  V.check_digest):
        problem = check(text)
        if problem is not None and problem.offset is not None:
            assert 0 <= problem.offset <= len(text), (check.__name__, text, problem)
    V.looks_like_secret(text)


def test_value_problem_is_frozen() -> None:
    problem = ValueProblem("x")
    assert problem.hint is None and problem.offset is None
    with pytest.raises(AttributeError):
        problem.message = "y"  # type: ignore[misc]


@pytest.mark.parametrize(
    "value",
    [
        "ghp_" + "a1B2c3D4" * 5,
        "gho_16C7e42F292c6912E7710c838347Ae178B4a",
        "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz",
        "glpat-xxxxxxxxxxxxxxxxxxxx",
        "AKIAIOSFODNN7EXAMPLE",
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.signature",
        "admin:hunter2",
        "deploy-bot:S3cr3t!pass",
        "https://user:p4ss@git.example.com/org/repo.git",
        "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "xoxb-123456789012-abcdefghij",
        "-----BEGIN OPENSSH PRIVATE KEY-----",
    ],
)
def test_looks_like_secret(value: str) -> None:
    assert V.looks_like_secret(value)


@pytest.mark.parametrize(
    "value",
    [
        "",
        "latest",
        "localhost:5000",
        "ghcr.io:443",
        "sha256:" + "ab" * 32,
        "0123456789abcdef0123456789abcdef01234567",  # a commit id
        "my-very-long-application-name-here",
        "app.kubernetes.io/name",
        "ghcr.io/org/app",
        "Europe/Berlin",
        "tag:v1.2.3",
        "env:production",
        "https://github.com/org/repo.git",
        "git@github.com:org/repo.git",
        "0 22 * * 1-5",
        "ReleaseCandidateBuild",
    ],
)
def test_does_not_look_like_secret(value: str) -> None:
    assert not V.looks_like_secret(value)
