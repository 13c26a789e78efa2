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

``setlist resolve`` itself is stricter (``every_platform``): the version it pins must
provide every platform the spec lists, for every strategy, because the lock promises that
the pinned digest runs on each of them.

With no platforms configured Image Updater filters by its own runtime platform (unless
``--ignore-platforms`` is set); :func:`choose` does not guess that, so a resolver that wants
to predict it passes the controller's platform (usually ``linux/amd64``) explicitly.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from .spec import Strategy
from .tagmatch import TagPatternError, compile_allow, glob_match, regex_search, translate_regex
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
    "platform_provided",
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


# ================================================================ filtering


def _allow_check(allow: str | None) -> re.Pattern[str] | None:
    return compile_allow(allow) if allow else None


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


def _platform_problem(info: TagInfo, required: Sequence[str], every: bool) -> str | None:
    if not required:
        return None
    if info.platforms is None:
        # Setlist's rule is checked on the chosen tag once its manifest is fetched.
        return None if every else "its platforms were not fetched"
    has = ", ".join(info.platforms) if info.platforms else "no platform"
    if every:
        missing = [r.strip() for r in required if not platform_provided(r, info.platforms)]
        return f"{', '.join(missing)} missing (has {has})" if missing else None
    if any(platform_wanted(p, required) for p in info.platforms):
        return None
    missing_text = ", ".join(p.strip() for p in required)
    return f"{missing_text} missing (has {has})"


def platform_provided(required: str, platforms: Sequence[str]) -> bool:
    """Setlist's rule, the reverse view of :func:`platform_wanted`: does an image built for
    ``platforms`` serve the required ``os/arch[/variant]``? ``linux/arm`` is served by
    ``linux/arm/v7``; ``linux/arm/v7`` is not served by a variant-less ``linux/arm``."""
    return any(platform_wanted(p, (required,)) for p in platforms)


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
    every_platform: bool = False,
) -> Choice:
    """The tag Image Updater would update to, with the reasons.

    ``unconstrained_prereleases`` governs semver without a constraint: False (the default)
    is Image Updater v1.3.0 and later — the release Setlist's generated resources target —,
    which uses '*' and so skips pre-releases; True is the older behaviour (up to v1.2.x),
    which took every version, pre-releases included.
    ``every_platform`` is Setlist's own resolution rule instead of Image Updater's: a tag
    qualifies only when it provides **every** listed platform, whatever the strategy; a tag
    whose platforms were not fetched is not excluded here (the caller checks the chosen
    tag's manifest and chooses again without it when it falls short).
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
    required = tuple(platforms) if every_platform or kind in _FETCHES_MANIFESTS else ()

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
        if (problem := _platform_problem(info, required, every_platform)) is not None:
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
