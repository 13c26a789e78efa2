"""Which tag Argo CD Image Updater would pick: the pure tag-selection half of resolution.

The registry resolver lists tags (and, when :func:`needs_metadata` says so, fetches their
configs); this module decides. Everything here is pure so that the rules can be tested
against tables without a registry.

The behaviour mirrors Image Updater's ``registry-scanner`` module:

* ``pkg/registry/registry.go`` (``GetTags``): a tag survives the listing only if it matches
  the allow-tags function **and** no ignore-tags glob matches it, so the order of the two
  filters does not matter. For ``digest`` only the constraint tag survives. Metadata
  (creation date, digest, platforms) is fetched only for ``newest-build`` and ``digest``;
  a tag whose manifest has no wanted platform is dropped there.
* ``pkg/image/options.go`` (``ParseMatch``): the allow-tags value is ``regexp:<re>``
  (prefix case-insensitive, the regex is everything after the first colon), ``any``, or
  empty for "everything". Setlist's spec carries the bare regex, which this module treats
  like ``regexp:<re>``; ``None`` or ``""`` allows every tag.
* ``pkg/image/matchfunc.go``: Go ``regexp.Match``, a search anywhere in the tag unless the
  pattern is anchored.
* ``pkg/image/version.go`` (``IsTagIgnored``): Go ``filepath.Match``; a malformed glob
  never matches (the error is swallowed). ``GetNewestVersionFromTags`` picks the last tag
  of the strategy's ascending sort among those passing the constraint.
* ``pkg/tag/tag.go`` / ``semver.go``: semver sorts by version, ties by the original string
  (byte order), so the lexically greatest spelling wins; newest-build sorts by date, ties by
  name, so the greatest name wins among equally old builds; alphabetical is Go ``<`` on
  strings (byte order, which for text is code point order).
* ``pkg/options/options.go`` (``WantsPlatform``): a manifest platform is wanted when
  ``os/arch[/variant]`` is listed exactly, or when the manifest has a variant and
  ``os/arch`` without a variant is listed (``linux/arm`` accepts ``linux/arm/v7``, but
  ``linux/arm/v7`` does not accept a variant-less ``linux/arm``). A multi-platform tag
  qualifies when **at least one** of its platforms is wanted (``TagInfoFromReferences``).
  Platforms play no part for ``semver`` and ``alphabetical``, which never fetch manifests
  (docs/configuration/images.md says so too).

With no platforms configured Image Updater filters by its own runtime platform (unless
``--ignore-platforms`` is set); :func:`choose` does not guess that, so a resolver that wants
to predict it passes the controller's platform (usually ``linux/amd64``) explicitly.
"""

from __future__ import annotations

import functools
import re
import warnings
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from .spec import Strategy
from .versions import Constraint, Version, parse_constraint, parse_version

__all__ = [
    "MAX_SKIPPED",
    "Choice",
    "TagInfo",
    "TagPatternError",
    "choose",
    "filter_tags",
    "glob_match",
    "needs_metadata",
    "platform_wanted",
    "regex_search",
    "translate_regex",
]

#: At most this many (tag, why) pairs are kept in :attr:`Choice.skipped`.
MAX_SKIPPED = 25


@dataclass(frozen=True)
class TagInfo:
    """A tag as the registry reported it; ``None`` fields were not fetched."""

    name: str
    digest: str | None = None
    created: datetime | None = None
    platforms: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Choice:
    """The chosen tag (None: nothing qualifies), why, and the most relevant tags that were
    passed over, best-ranked first (at most :data:`MAX_SKIPPED`)."""

    tag: str | None
    reason: str
    skipped: tuple[tuple[str, str], ...] = ()


class TagPatternError(ValueError):
    """An allow-tags regex that cannot be evaluated here: either not valid RE2 (Image Updater
    would then match no tag at all) or valid RE2 using a feature Python's ``re`` lacks."""


# ================================================================ regular expressions
#
# The allow-tags regex is RE2 (Go's regexp). For valid RE2 input, the constructs whose
# meaning differs in Python's re, or which Python rejects, are translated:
#
#   $            end of text (Python's '$' also matches before a final newline) -> \Z,
#                unless (?m) is in effect
#   \z           end of text -> \Z
#   \Q...\E      literal text -> escaped text
#   (?<name>     named group (Go >= 1.22) -> (?P<name>
#   (?i) etc.    flags in mid-pattern apply to the rest of the enclosing group in Go (across
#                '|'); Python only allows global flags at the start -> scoped (?i:...) groups
#   \x{10FFFF}   braced hex -> \U0010ffff
#   \141, \0     Go octal escapes (Python would read \1.. as backreferences) -> \u escapes
#   \s, \S       Go's \s is [\t\n\f\r ] (no \v) -> explicit class
#   [[:alpha:]]  ASCII POSIX classes inside brackets -> explicit ranges
#   x{,3}        not a repetition in Go, literal text -> \{,3}
#
# Patterns are compiled with re.ASCII, so \d, \w, \b match ASCII only, as in Go. Not
# supported (TagPatternError): Unicode classes \pL, \p{Greek}, negated POSIX classes
# [[:^alpha:]], \C, and the ungreedy flag U. Case folding under (?i) is ASCII-only here and
# Unicode in Go; image tags are ASCII, so this never changes a result.

_NAMED_GROUP = re.compile(r"\(\?P?<([A-Za-z0-9_]+)>")
_FLAG_GROUP = re.compile(r"\(\?([A-Za-z]*)(-[A-Za-z]*)?([:)])")
_REPETITION = re.compile(r"\{[0-9]+(?:,[0-9]*)?\}")
_POSIX_CLASS = re.compile(r"\[:(\^?)([a-z]*):\]")
_POSIX = {
    "alnum": "0-9A-Za-z",
    "alpha": "A-Za-z",
    "ascii": r"\x00-\x7f",
    "blank": r"\t ",
    "cntrl": r"\x00-\x1f\x7f",
    "digit": "0-9",
    "graph": "!-~",
    "lower": "a-z",
    "print": " -~",
    "punct": r"!-/:-@\[-`{-~",
    "space": r"\t\n\v\f\r ",
    "upper": "A-Z",
    "word": "0-9A-Za-z_",
    "xdigit": "0-9A-Fa-f",
}
_GO_SPACE = r"\t\n\f\r\x20"
_OCTAL = "01234567"
_HEX = "0123456789abcdefABCDEF"


def _invalid(pattern: str, what: str) -> TagPatternError:
    return TagPatternError(f"'{pattern}' is not a valid RE2 regular expression: {what}")


def _unsupported(pattern: str, what: str) -> TagPatternError:
    return TagPatternError(f"'{pattern}' uses {what}, which Setlist cannot evaluate")


def _escape(pattern: str, i: int, in_class: bool) -> tuple[str, int]:
    """Translate the escape starting at ``pattern[i] == '\\'``; return (text, next index)."""
    n = len(pattern)
    if i + 1 >= n:
        raise _invalid(pattern, "it ends with a lone '\\'")
    c = pattern[i + 1]
    if c == "Q" and not in_class:
        end = pattern.find("\\E", i + 2)
        literal = pattern[i + 2 :] if end < 0 else pattern[i + 2 : end]
        return re.escape(literal), n if end < 0 else end + 2
    if c == "z" and not in_class:
        return r"\Z", i + 2
    if c in _OCTAL:
        j = i + 2
        if c != "0" and (j >= n or pattern[j] not in _OCTAL):
            raise _invalid(pattern, f"backreferences such as '\\{c}' are not supported")
        while j < n and j < i + 4 and pattern[j] in _OCTAL:
            j += 1
        return f"\\u{int(pattern[i + 1 : j], 8):04x}", j
    if c == "x":
        if pattern.startswith("{", i + 2):
            end = pattern.find("}", i + 3)
            digits = pattern[i + 3 : end] if end > 0 else ""
            if not digits or any(d not in _HEX for d in digits) or int(digits, 16) > 0x10FFFF:
                raise _invalid(pattern, "a '\\x{...}' escape needs a hex code point")
            return f"\\U{int(digits, 16):08x}", end + 1
        hexdigits = pattern[i + 2 : i + 4]
        if len(hexdigits) != 2 or any(d not in _HEX for d in hexdigits):
            raise _invalid(pattern, "'\\x' needs two hex digits")
        return pattern[i : i + 4], i + 4
    if c in "pP":
        raise _unsupported(pattern, f"the Unicode class escape '\\{c}'")
    if c == "C":
        raise _unsupported(pattern, "'\\C' (any byte)")
    if c == "s":
        return (_GO_SPACE if in_class else f"[{_GO_SPACE}]"), i + 2
    if c == "S" and not in_class:
        return f"[^{_GO_SPACE}]", i + 2
    return pattern[i : i + 2], i + 2


def _char_class(pattern: str, i: int) -> tuple[str, int]:
    """Translate the bracket expression starting at ``pattern[i] == '['``."""
    n = len(pattern)
    out = ["["]
    j = i + 1
    if j < n and pattern[j] == "^":
        out.append("^")
        j += 1
    first = True  # a ']' right after '[' or '[^' is a literal, in Go and Python alike
    while True:
        if j >= n:
            raise _invalid(pattern, "a '[' is never closed")
        c = pattern[j]
        if c == "]" and not first:
            out.append("]")
            return "".join(out), j + 1
        first = False
        if c == "[" and (m := _POSIX_CLASS.match(pattern, j)):
            if m[2] not in _POSIX:
                raise _invalid(pattern, f"'[:{m[2]}:]' is not a character class")
            if m[1]:
                raise _unsupported(pattern, f"the negated class '[:^{m[2]}:]' inside brackets")
            out.append(_POSIX[m[2]])
            j = m.end()
        elif c == "\\":
            text, j = _escape(pattern, j, in_class=True)
            out.append(text)
        else:
            # Escape what Python might one day read as set operations; harmless today.
            out.append("\\" + c if c in "[]&~|" else c)
            j += 1


def translate_regex(pattern: str) -> str:
    """Rewrite an RE2 pattern into a Python ``re`` pattern with the same matches (compile it
    with ``re.ASCII``). Raises :class:`TagPatternError` for what cannot be translated."""
    out: list[str] = []
    # Per open group: the scoped-flag wrappers opened inside it by mid-pattern "(?flags)",
    # which must be closed before '|' and ')' (and reopened after '|').
    wrappers: list[list[str]] = [[]]
    saved_multiline: list[bool] = []
    multiline = False
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        if c == "\\":
            text, i = _escape(pattern, i, in_class=False)
            out.append(text)
            continue
        if c == "[":
            text, i = _char_class(pattern, i)
            out.append(text)
            continue
        if c == "(":
            if not pattern.startswith("(?", i):
                out.append("(")
                wrappers.append([])
                saved_multiline.append(multiline)
                i += 1
                continue
            if m := _NAMED_GROUP.match(pattern, i):
                out.append(f"(?P<{m[1]}>")
                wrappers.append([])
                saved_multiline.append(multiline)
                i = m.end()
                continue
            m = _FLAG_GROUP.match(pattern, i)
            if m is None:
                raise _invalid(pattern, f"'{pattern[i:i + 3]}' is not a group RE2 knows")
            on, off = m[1], (m[2] or "")[1:]
            if set(on + off) - set("imsU") or (m[2] is not None and not off):
                raise _invalid(pattern, f"bad flags in '{m.group()}'")
            if "U" in on + off:
                raise _unsupported(pattern, "the ungreedy flag 'U'")
            flags = on + (f"-{off}" if off else "")
            if m[3] == ")":
                if not flags:
                    raise _invalid(pattern, "'(?)' has no flags")
                out.append(f"(?{flags}:")
                wrappers[-1].append(flags)
            else:
                out.append(f"(?{flags}:")
                wrappers.append([])
                saved_multiline.append(multiline)
            multiline = ("m" in on) or (multiline and "m" not in off)
            i = m.end()
            continue
        if c == ")":
            if len(wrappers) == 1:
                raise _invalid(pattern, "a ')' has no matching '('")
            out.append(")" * len(wrappers.pop()) + ")")
            multiline = saved_multiline.pop()
        elif c == "|":
            open_flags = wrappers[-1]
            out.append(")" * len(open_flags) + "|" + "".join(f"(?{f}:" for f in open_flags))
        elif c == "$":
            out.append("$" if multiline else r"\Z")
        elif c == "{":
            if m := _REPETITION.match(pattern, i):
                out.append(m.group())
                i = m.end()
                continue
            out.append(r"\{")
        else:
            out.append(c)
        i += 1
    if len(wrappers) > 1:
        raise _invalid(pattern, "a '(' is never closed")
    out.append(")" * len(wrappers[0]))
    return "".join(out)


@functools.lru_cache(maxsize=256)
def _compile_allow(pattern: str) -> re.Pattern[str]:
    translated = translate_regex(pattern)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            return re.compile(translated, re.ASCII)
    except re.error as err:
        raise _invalid(pattern, err.msg) from None


def regex_search(pattern: str, tag: str) -> bool:
    """Go's ``regexp.MatchString``: does the RE2 ``pattern`` match anywhere in ``tag``?"""
    return _compile_allow(pattern).search(tag) is not None


# ================================================================ globs (filepath.Match)
#
# Go's filepath.Match, not fnmatch: '*' and '?' never match '/', '[...]' negates with '^'
# only ('[!a]' is the class of '!' and 'a'), '\' escapes the next character (also inside
# classes), '{' and '}' are plain characters. A malformed pattern ('[' never closed, '[]',
# a '-' at the start or end of a range, a trailing '\') never matches. Go matches each
# star-separated chunk at its leftmost position without revisiting earlier chunks; that is
# reproduced, although it only differs from full backtracking for names containing '/',
# which image tags never do.

_Item = tuple[Any, ...]  # ("lit", ch) | ("any",) | ("class", negated, ((lo, hi), ...))


def _parse_class(pattern: str, i: int) -> tuple[_Item, int] | None:
    """Parse '[...]' at ``pattern[i]``; None if malformed (Go's ErrBadPattern)."""
    n = len(pattern)
    j = i + 1
    negated = j < n and pattern[j] == "^"
    j += negated
    ranges: list[tuple[str, str]] = []

    def endpoint(k: int) -> tuple[str, int] | None:
        if k >= n or pattern[k] in "-]":
            return None
        if pattern[k] == "\\":
            k += 1
            if k >= n:
                return None
        return pattern[k], k + 1

    while True:
        if j < n and pattern[j] == "]" and ranges:
            return ("class", negated, tuple(ranges)), j + 1
        lo = endpoint(j)
        if lo is None:
            return None
        low, j = lo
        high = low
        if j < n and pattern[j] == "-":
            hi = endpoint(j + 1)
            if hi is None:
                return None
            high, j = hi
        if j >= n:
            return None  # the class is never closed
        ranges.append((low, high))


@functools.lru_cache(maxsize=256)
def _parse_glob(pattern: str) -> tuple[tuple[bool, tuple[_Item, ...]], ...] | None:
    """Split into (preceded by '*', items) chunks; None for a malformed pattern."""
    chunks: list[tuple[bool, tuple[_Item, ...]]] = []
    star, items = False, []
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        if c == "*":
            if items:
                chunks.append((star, tuple(items)))
                items = []
            star = True
            while i < n and pattern[i] == "*":
                i += 1
            continue
        if c == "?":
            items.append(("any",))
            i += 1
        elif c == "[":
            parsed = _parse_class(pattern, i)
            if parsed is None:
                return None
            item, i = parsed
            items.append(item)
        elif c == "\\":
            if i + 1 >= n:
                return None
            items.append(("lit", pattern[i + 1]))
            i += 2
        else:
            items.append(("lit", c))
            i += 1
    if items or star or not chunks:
        chunks.append((star, tuple(items)))
    return tuple(chunks)


def _match_items(items: tuple[_Item, ...], name: str, at: int) -> int | None:
    """Match the fixed-length ``items`` at ``name[at:]``; the end index, or None."""
    if at + len(items) > len(name):
        return None
    for offset, item in enumerate(items):
        ch = name[at + offset]
        kind = item[0]
        if kind == "lit":
            if ch != item[1]:
                return None
        elif kind == "any":
            if ch == "/":
                return None
        else:
            inside = any(lo <= ch <= hi for lo, hi in item[2])
            if inside == item[1]:
                return None
    return at + len(items)


def glob_match(pattern: str, name: str) -> bool:
    """Go's ``filepath.Match(pattern, name)`` as Image Updater uses it: True only for a
    well-formed pattern that matches the whole name."""
    chunks = _parse_glob(pattern)
    if chunks is None:
        return False
    pos = 0
    for index, (star, items) in enumerate(chunks):
        last = index == len(chunks) - 1
        if star and not items:  # a trailing '*' takes the rest unless it holds a '/'
            return "/" not in name[pos:]
        end = _match_items(items, name, pos)
        if end is not None and (end == len(name) or not last):
            pos = end
            continue
        if not star:
            return False
        # Skip 1, 2, ... characters (never a '/') and retry the chunk.
        found = None
        skip = pos
        while skip < len(name) and name[skip] != "/":
            end = _match_items(items, name, skip + 1)
            if end is not None and not (last and end != len(name)):
                found = end
                break
            skip += 1
        if found is None:
            return False
        pos = found
    return pos == len(name)


# ================================================================ filtering


def _allow_check(allow: str | None) -> re.Pattern[str] | None:
    return _compile_allow(allow) if allow else None


def _ignored_by(tag: str, ignore: Sequence[str]) -> str | None:
    for pattern in ignore:
        if glob_match(pattern, tag):
            return pattern
    return None


def filter_tags(tags: Iterable[str], allow: str | None, ignore: Sequence[str]) -> list[str]:
    """The tags Image Updater keeps after allow-tags and ignore-tags, in input order.

    A tag is kept when ``allow`` (a bare RE2 regex, searched anywhere in the tag; None or
    "" allows all) matches it and no ``ignore`` glob matches it. Raises TagPatternError for
    a regex that cannot be evaluated (Image Updater would keep no tag for an invalid one).
    """
    regex = _allow_check(allow)
    return [
        t for t in tags
        if (regex is None or regex.search(t)) and _ignored_by(t, ignore) is None
    ]


# ================================================================ platforms


def _split_platform(text: str) -> tuple[str, str, str]:
    """Image Updater's ParsePlatform: ``os/arch[/variant]``; the variant keeps any further
    slashes; a value without a '/' becomes an os that no manifest can have."""
    parts = text.strip().split("/", 2)
    if len(parts) < 2:
        return text, "", ""
    return parts[0], parts[1], parts[2] if len(parts) == 3 else ""


def _key(os: str, arch: str, variant: str) -> str:
    return f"{os}/{arch}/{variant}" if variant else f"{os}/{arch}"


def _wanted_keys(required: Sequence[str]) -> frozenset[str]:
    return frozenset(_key(*_split_platform(p)) for p in required)


def platform_wanted(platform: str, required: Sequence[str]) -> bool:
    """Image Updater's WantsPlatform: is a manifest built for ``platform`` acceptable?
    Exact ``os/arch[/variant]``, or ``os/arch`` listed without a variant for a manifest
    with one. An empty ``required`` accepts everything."""
    if not required:
        return True
    wanted = _wanted_keys(required)
    os, arch, variant = _split_platform(platform)
    if _key(os, arch, variant) in wanted:
        return True
    return bool(variant) and _key(os, arch, "") in wanted


# ================================================================ strategies

_FETCHES_MANIFESTS = frozenset({"newest_build", "digest"})


def needs_metadata(strategy: Strategy, platforms: Sequence[str] = ()) -> set[str]:
    """What the resolver must fetch per tag for :func:`choose` to decide like Image Updater:
    "created" for newest_build, "digest" for digest, and "platforms" when platforms are
    configured and the strategy is one of those two (semver and alphabetical never look at
    manifests, so Image Updater ignores platforms for them)."""
    needs: set[str] = set()
    if strategy.kind == "newest_build":
        needs.add("created")
    elif strategy.kind == "digest":
        needs.add("digest")
    if platforms and strategy.kind in _FETCHES_MANIFESTS:
        needs.add("platforms")
    return needs


def _utc(moment: datetime) -> datetime:
    """Go compares instants; a naive datetime is taken to be UTC."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def _platform_problem(info: TagInfo, required: Sequence[str]) -> str | None:
    if not required:
        return None
    if info.platforms is None:
        return "its platforms were not fetched"
    if any(platform_wanted(p, required) for p in info.platforms):
        return None
    has = ", ".join(info.platforms) if info.platforms else "no platform"
    missing = ", ".join(p.strip() for p in required)
    return f"{missing} missing (has {has})"


def _prerelease_only_problem(constraint: Constraint, version: Version) -> bool:
    """Would the constraint allow ``version`` if pre-releases were opted in?"""
    return any(all(c.allows(version, True) for c in group) for group in constraint.alternatives)


_CATEGORIES = ("not matching allow_tags", "ignored", "without a wanted platform", "not versions",
               "pre-releases", "outside the constraint", "without a build date")


def _describe_counts(counts: Counter[str], listed: int) -> str:
    """Most frequent first; equal counts in pipeline order, so the text is deterministic."""
    ordered = sorted(counts.items(), key=lambda kv: (-kv[1], _CATEGORIES.index(kv[0])))
    parts = [f"{count} {what}" for what, count in ordered]
    noun = "tag" if listed == 1 else "tags"
    return f"{listed} {noun} listed" + (": " + ", ".join(parts) if parts else "")


def choose(
    strategy: Strategy,
    tags: Sequence[TagInfo],
    *,
    allow: str | None,
    ignore: Sequence[str],
    platforms: Sequence[str],
    unconstrained_prereleases: bool = False,
) -> Choice:
    """The tag Image Updater would update to, with the reasons.

    ``unconstrained_prereleases`` governs semver without a constraint: False (the default)
    is Image Updater v1.3.0 and later — the release Setlist's generated resources target —,
    which uses '*' and so skips pre-releases; True is the older behaviour (up to v1.2.x),
    which took every version, pre-releases included.
    Raises TagPatternError for an allow regex that cannot be evaluated and ConstraintError
    for an unparseable semver constraint (both are rejected earlier by the checker).
    """
    # The registry's tag list is a map in Image Updater: a repeated name keeps its last entry.
    by_name: dict[str, TagInfo] = {}
    for info in tags:
        by_name[info.name] = info
    if not by_name:
        return Choice(None, "the registry lists no tags")

    regex = _allow_check(allow)
    kind = strategy.kind
    constraint: Constraint | None = None
    if kind == "semver":
        if strategy.constraint is not None:
            constraint = parse_constraint(strategy.constraint)
        elif not unconstrained_prereleases:
            constraint = parse_constraint("*")
    if kind == "digest" and not strategy.tag:
        return Choice(None, "the digest strategy needs the tag to follow")
    required = tuple(platforms) if kind in _FETCHES_MANIFESTS else ()

    counts: Counter[str] = Counter()
    skipped: list[tuple[tuple[Any, ...], str, str]] = []  # (rank, tag, why)
    candidates: list[tuple[tuple[Any, ...], TagInfo]] = []

    def rank(info: TagInfo) -> tuple[Any, ...]:
        """Sort key of the strategy (greater wins); unrankable tags sort first."""
        if kind == "semver":
            version = parse_version(info.name)
            return (0, info.name) if version is None else (1, (version, info.name))
        if kind == "newest_build":
            if info.created is None:
                return (0, info.name)
            return (1, (_utc(info.created), info.name))
        return (1, info.name)

    def skip(info: TagInfo, category: str, why: str) -> None:
        counts[category] += 1
        skipped.append((rank(info), info.name, why))

    for info in by_name.values():
        name = info.name
        if regex is not None and not regex.search(name):
            skip(info, "not matching allow_tags", f"does not match allow_tags '{allow}'")
            continue
        if (pattern := _ignored_by(name, ignore)) is not None:
            skip(info, "ignored", f"matches ignore_tags '{pattern}'")
            continue
        if kind == "digest" and name != strategy.tag:
            continue  # Image Updater only ever looks at the followed tag
        if (problem := _platform_problem(info, required)) is not None:
            skip(info, "without a wanted platform", problem)
            continue
        if kind == "semver":
            version = parse_version(name)
            if version is None:
                skip(info, "not versions", "not a semantic version")
                continue
            if constraint is not None and not constraint.allows(version):
                if version.is_prerelease and _prerelease_only_problem(constraint, version):
                    why = (f"pre-release excluded: constraint '{constraint}' has no "
                           "pre-release part")
                    skip(info, "pre-releases", why)
                else:
                    skip(info, "outside the constraint", f"outside constraint '{constraint}'")
                continue
        elif kind == "newest_build" and info.created is None:
            skip(info, "without a build date", "build date unknown (config not fetched)")
            continue
        candidates.append((rank(info), info))

    skipped.sort(key=lambda entry: entry[0], reverse=True)
    explained = tuple((tag, why) for _, tag, why in skipped[:MAX_SKIPPED])

    if not candidates:
        if kind == "digest" and strategy.tag not in by_name:
            reason = f"tag '{strategy.tag}' is not in the registry"
        else:
            reason = f"no tag qualifies ({_describe_counts(counts, len(by_name))})"
        return Choice(None, reason, explained)

    best_rank, best = max(candidates, key=lambda c: c[0])
    # semver and newest_build rank by (version or date, name): was the name the tie-breaker?
    tied = kind in ("semver", "newest_build") and sum(
        1 for r, _ in candidates if r[1][0] == best_rank[1][0]) > 1
    if kind == "semver":
        scope = (f"allowed by '{strategy.constraint}'" if strategy.constraint
                 else "among all versions" if constraint is None else "among all releases")
        reason = f"highest version {scope}"
        if tied:
            reason += "; equal versions are broken by the greatest tag string"
    elif kind == "newest_build":
        assert best.created is not None
        reason = f"most recently built ({_utc(best.created).isoformat()})"
        if tied:
            reason += "; equal build dates are broken by the greatest tag name"
    elif kind == "alphabetical":
        reason = "alphabetically greatest tag (byte order)"
    else:
        digest = best.digest or "unknown: its digest was not fetched"
        reason = f"followed tag '{best.name}' is present; digest {digest}"
    return Choice(best.name, reason, explained)
