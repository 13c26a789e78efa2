"""The resolved plan: the checked spec plus the image version each environment runs.

Compile reads only this. Versions come from pins in the spec (an image's ``tag`` and
``digest``) until a lockfile provides them; either way compile takes the same plan, so
resolution can replace the source of versions without touching the compile stage.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from .diagnostics import Diagnostic, Span, error
from .lockfile import Lock, LockEntry
from .spec import Image, Record, Spec

# Where diagnostics about the project as a whole point when no declaration fits.
NOWHERE = Span(file="setlist", line=1, column=1, end_line=1, end_column=1)


class ImageVersion(Record):
    tag: str | None = None
    digest: str | None = None
    source: Literal["pin", "lock"] = "pin"


@dataclass(frozen=True)
class Plan:
    spec: Spec
    versions: Mapping[tuple[str, str], ImageVersion] = field(default_factory=dict)
    # The spec files, as named in generated headers (relative to the project folder).
    sources: tuple[str, ...] = ()
    anchor: Span = NOWHERE  # the start of the first spec file
    # (image, environment) pairs whose locked version the spec no longer admits (SL705,
    # reported by the plan); compile does not report them again as having no version.
    stale: frozenset[tuple[str, str]] = frozenset()

    def version(self, image: str, env: str) -> ImageVersion | None:
        return self.versions.get((image, env))


def deployments(spec: Spec) -> list[tuple[str, str]]:
    """Every (image, environment) pair that some app runs, in a stable order."""
    pairs = {(img.image, env) for app in spec.apps for img in app.images for env in app.deploy}
    return sorted(pairs)


def plan_from_pins(spec: Spec, sources: tuple[str, ...] = (), anchor: Span = NOWHERE) -> Plan:
    plan, _ = build_plan(spec, None, sources, anchor)
    return plan


def build_plan(spec: Spec, lock: Lock | None, sources: tuple[str, ...] = (),
               anchor: Span = NOWHERE) -> tuple[Plan, list[Diagnostic]]:
    """Versions per (image, environment): a pin in the spec wins; otherwise the lock's
    entry, when the image's settings still admit it. A locked version they no longer admit
    (another repository, a tag outside the constraint or the tag filters) is an error at the
    image: compiling it would deploy something the spec now forbids."""
    versions: dict[tuple[str, str], ImageVersion] = {}
    diags: list[Diagnostic] = []
    stale: set[tuple[str, str]] = set()
    images = {i.name: i for i in spec.images}
    upstream = {(p.image, stage.env): stage.source for p in spec.promotions
                for stage in p.stages}
    in_cluster = {e.name for e in spec.environments if e.updates.kind == "in_cluster"}
    pins: dict[str, ImageVersion] = {}
    for image_name, env in deployments(spec):
        image = images.get(image_name)
        if image is None or env in in_cluster:
            continue  # Image Updater sets versions there; the lock has no say
        if image.tag or image.digest:
            pin = pins.get(image_name)
            if pin is None:  # one record per image: a pin is the same in every environment
                pin = pins[image_name] = ImageVersion(tag=image.tag, digest=image.digest)
            versions[(image_name, env)] = pin
            continue
        entry = lock.get(image_name, env) if lock is not None else None
        if entry is None:
            continue
        reason = stale_reason(image, entry)
        if reason is not None:
            source = upstream.get((image_name, env), "registry")
            how = ("run `setlist resolve` to choose a version the new settings allow (or "
                   "`setlist compile --resolve`)" if source == "registry" else
                   f"'{env}' receives versions by promotion from '{source}': promote one the "
                   "new settings allow")
            diags.append(error(
                image.span, "SL705",
                f"the version of image '{image_name}' locked for '{env}' "
                f"({entry.tag or entry.digest}) is no longer allowed: {reason}",
                f"{how}, or pin one with tag = \"...\""))
            stale.add((image_name, env))
            continue
        versions[(image_name, env)] = ImageVersion(tag=entry.tag, digest=entry.digest,
                                                   source="lock")
    return Plan(spec=spec, versions=versions, sources=sources, anchor=anchor,
                stale=frozenset(stale)), diags


def stale_reason(image: Image, entry: LockEntry) -> str | None:
    """Why the image's current settings would not choose the locked version, or None."""
    from .strategies import filter_tags
    from .tagmatch import TagPatternError
    from .versions import parse_constraint, parse_version

    if entry.repository != image.reference:
        return f"it is from {entry.repository}, the image is now {image.reference}"
    tag = entry.tag
    if tag is None:
        return None
    try:
        if not filter_tags([tag], image.allow_tags, image.ignore_tags):
            return f"tag {tag} is excluded by allow_tags or ignore_tags"
    except TagPatternError:
        return None  # the checker has reported the pattern
    strategy = image.strategy
    if strategy.kind == "digest" and strategy.tag and tag != strategy.tag:
        return f"the image now follows tag {strategy.tag}"
    if strategy.kind == "semver":
        version = parse_version(tag)
        if version is None:
            return f"tag {tag} is not a version"
        if not parse_constraint(strategy.constraint or "*").allows(version):
            return f"tag {tag} is outside the constraint {strategy.constraint or '*'}"
    return None
