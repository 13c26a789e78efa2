"""Argo CD Image Updater configuration: Application annotations and ImageUpdater resources.

Annotations (prefix ``argocd-image-updater.argoproj.io/``): ``image-list`` is a comma
separated list of ``[alias=]image[:constraint]``; per alias ``<alias>.update-strategy``,
``.allow-tags`` (``regexp:<re>`` or ``any``), ``.ignore-tags`` (comma separated globs),
``.platforms`` and ``.kustomize.image-name``; the same keys without an alias are defaults for
every image; ``write-back-method`` (``argocd``, ``git`` or ``git:<credentials>``),
``write-back-target`` and ``git-branch``. An ``ImageUpdater`` (v1alpha1) says the same in
``spec.applicationRefs[]``, each selecting Applications by a ``namePattern`` glob.
"""

from __future__ import annotations

import fnmatch
import posixpath
import re
from typing import Any

from .argo import IU_PREFIX
from .model import ImageConf, Unit, Updater
from .read import Doc, Note, Origin

STRATEGIES = {"semver": "semver", "newest-build": "newest_build", "latest": "newest_build",
              "alphabetical": "alphabetical", "name": "alphabetical", "digest": "digest"}
_IMAGE_KEYS = {"update-strategy", "allow-tags", "ignore-tags", "platforms",
               "kustomize.image-name"}
_SETTINGS = {"updateStrategy", "allowTags", "ignoreTags", "platforms"}


def split_reference(ref: str) -> tuple[str, str | None, str | None]:
    """(repository, tag-or-constraint, digest) of ``name[:tag][@digest]``."""
    ref = ref.strip()
    digest = None
    if "@" in ref:
        ref, digest = ref.split("@", 1)
    slash = ref.rfind("/")
    head, tail = ref[:slash + 1], ref[slash + 1:]
    if ":" in tail:
        tail, tag = tail.split(":", 1)
        return head + tail, tag, digest
    return ref, None, digest


def _allow(value: str, where: Origin, subject: str, notes: list[Note]) -> str | None:
    value = value.strip()
    if value in ("", "any"):
        return None
    if value.startswith("regexp:"):
        return value[len("regexp:"):]
    notes.append(Note(where, subject, f"allow-tags {value!r} has no match function "
                      "(regexp:... or any), so Image Updater matches no tag with it; not "
                      "imported"))
    return None


def _image(repository: str, constraint: str | None, settings: dict[str, Any],
           manifest_name: str | None, where: Origin, subject: str,
           notes: list[Note]) -> ImageConf:
    raw = str(settings.get("strategy") or "semver")
    strategy = STRATEGIES.get(raw)
    if strategy is None:
        notes.append(Note(where, subject, f"update strategy {raw!r} of {repository} is "
                          "unknown; semver is used"))
        strategy = "semver"
    if strategy in ("newest_build", "alphabetical") and constraint:
        notes.append(Note(where, subject, f"the tag {constraint!r} of {repository} has no "
                          f"meaning for {raw}; not imported"))
        constraint = None
    if strategy == "digest" and not constraint:
        notes.append(Note(where, subject, f"{repository} follows a digest without a tag; "
                          "digest(\"latest\") is used"))
        constraint = "latest"
    allow = settings.get("allow")
    return ImageConf(repository=repository, strategy=strategy, constraint=constraint,
                     allow_tags=_allow(allow, where, subject, notes) if allow else None,
                     ignore_tags=tuple(settings.get("ignore") or ()),
                     platforms=tuple(settings.get("platforms") or ()),
                     manifest_name=manifest_name)


def _csv(value: str) -> list[str]:
    return [p.strip() for p in value.split(",") if p.strip()]


def from_annotations(unit: Unit, notes: list[Note]) -> Updater | None:
    ann = {k[len(IU_PREFIX):]: v for k, v in unit.iu_annotations.items()}
    if not ann:
        return None
    subject = unit.subject
    where = unit.origin
    if "image-list" not in ann:
        notes.append(Note(where, subject, "Image Updater annotations without an image-list "
                          "are not imported"))
        return None
    entries = []
    for item in _csv(ann["image-list"]):
        alias, _, ref = item.rpartition("=") if "=" in item else ("", "", item)
        entries.append((alias.strip(), ref.strip()))
    used = {"image-list"}
    images: dict[str, ImageConf] = {}
    for alias, ref in entries:
        repository, constraint, digest = split_reference(ref)
        if digest:
            notes.append(Note(where, subject, f"the digest in {ref} is not imported"))
        key = alias or repository.rsplit("/", 1)[-1]
        settings: dict[str, Any] = {}
        for scope in ("", f"{alias}.") if alias else ("",):
            for name, field in (("update-strategy", "strategy"), ("allow-tags", "allow")):
                if scope + name in ann:
                    settings[field] = ann[scope + name]
                    used.add(scope + name)
            for name, field in (("ignore-tags", "ignore"), ("platforms", "platforms")):
                if scope + name in ann:
                    settings[field] = _csv(ann[scope + name])
                    used.add(scope + name)
        manifest = ann.get(f"{alias}.kustomize.image-name") if alias else None
        if manifest:
            used.add(f"{alias}.kustomize.image-name")
        images[key] = _image(repository, constraint, settings, manifest, where, subject,
                             notes)
    method, pull_request = "argocd", False
    raw_method = ann.get("write-back-method", "argocd").strip()
    used.add("write-back-method")
    if raw_method.startswith("git"):
        method = "git"
        if raw_method != "git":
            notes.append(Note(where, subject, f"write-back-method {raw_method!r}: the "
                              "credentials reference is not imported; give Image Updater "
                              "its Git credentials where it is installed"))
    elif raw_method != "argocd":
        notes.append(Note(where, subject, f"write-back-method {raw_method!r} is unknown; "
                          "argocd is used"))
    branch = ann.get("git-branch")
    if branch is not None:
        used.add("git-branch")
        if ":" in branch:
            pull_request = True
            notes.append(Note(where, subject, f"git-branch {branch!r} pushes to a branch of "
                              "its own; imported as writeback = pull_request"))
        elif branch != unit.revision:
            notes.append(Note(where, subject, f"git-branch {branch!r} differs from the "
                              f"Application's revision {unit.revision!r}; Setlist's "
                              "ImageUpdater writes to the gitops branch"))
    target = ann.get("write-back-target")
    if target is not None:
        used.add("write-back-target")
        _check_target(target, unit, where, subject, notes)
    for key in sorted(set(ann) - used):
        alias, _, rest = key.partition(".")
        why = ("has no Setlist equivalent" if rest in ("pull-secret", "force-update") or
               rest.startswith("helm.") else "is unknown")
        notes.append(Note(where, subject, f"the annotation {IU_PREFIX}{key} {why}; not "
                          "imported"))
    return Updater(images=images, method=method, pull_request=pull_request, origin=where)


def _check_target(target: str, unit: Unit, where: Origin, subject: str,
                  notes: list[Note]) -> None:
    if target in ("kustomization", ""):
        return
    if target.startswith("kustomization:"):
        path = target[len("kustomization:"):]
        full = path.strip("/") if path.startswith("/") else \
            "/".join(p for p in (unit.path, path) if p)
        if posixpath.normpath(full) == posixpath.normpath(unit.path):
            return
        notes.append(Note(where, subject, f"write-back-target {target!r} is not the "
                          f"Application's folder; Setlist writes to the overlay"))
        return
    notes.append(Note(where, subject, f"write-back-target {target!r} has no Setlist "
                      "equivalent; Setlist writes to the overlay's kustomization"))


# ---------------------------------------------------------------- ImageUpdater resources


def _settings(raw: Any) -> dict[str, Any]:
    raw = raw if isinstance(raw, dict) else {}
    out: dict[str, Any] = {}
    if "updateStrategy" in raw:
        out["strategy"] = raw["updateStrategy"]
    if "allowTags" in raw:
        out["allow"] = raw["allowTags"]
    if "ignoreTags" in raw:
        out["ignore"] = [str(t) for t in raw["ignoreTags"] or []]
    if "platforms" in raw:
        out["platforms"] = [str(p) for p in raw["platforms"] or []]
    return out


def _write_back(raw: Any, where: Origin, subject: str, notes: list[Note],
                gitops_branch: str | None) -> tuple[str, bool]:
    raw = raw if isinstance(raw, dict) else {}
    method = str(raw.get("method") or "argocd")
    if method == "argocd":
        return "argocd", False
    if method != "git":
        notes.append(Note(where, subject, f"write-back method {method!r}: the credentials "
                          "reference is not imported"))
    git = raw.get("gitConfig") or {}
    pull_request = bool(git.get("pullRequest"))
    branch = str(git.get("branch") or "")
    if ":" in branch:
        pull_request = True
        notes.append(Note(where, subject, f"branch {branch!r} pushes to a branch of its own; "
                          "imported as writeback = pull_request"))
    if (git.get("pullRequest") or {}).get("labels"):
        notes.append(Note(where, subject, "pull request labels are not imported"))
    target = str(git.get("writeBackTarget") or "")
    if target and not target.startswith("kustomization"):
        notes.append(Note(where, subject, f"writeBackTarget {target!r} has no Setlist "
                          "equivalent; Setlist writes to the overlay's kustomization"))
    return "git", pull_request


def apply_resource(doc: Doc, units: list[Unit], notes: list[Note]) -> int:
    """Give the units an ImageUpdater's settings; returns how many units it selected."""
    spec = doc.data.get("spec") or {}
    subject = f"ImageUpdater {doc.name}"
    for key in sorted(set(spec) - {"applicationRefs", "commonUpdateSettings",
                                   "writeBackConfig", "namespace"}):
        notes.append(Note(doc.line_of("spec", key), subject, f"spec.{key} is not imported"))
    common = _settings(spec.get("commonUpdateSettings"))
    for key in ("pullSecret", "forceUpdate"):
        if key in (spec.get("commonUpdateSettings") or {}):
            notes.append(Note(doc.line_of("spec", "commonUpdateSettings"), subject,
                              f"{key} has no Setlist equivalent; not imported"))
    selected = 0
    for r, ref in enumerate(spec.get("applicationRefs") or []):
        where = doc.line_of("spec", "applicationRefs", r)
        pattern = str(ref.get("namePattern") or "")
        if ref.get("labelSelectors"):
            notes.append(Note(where, subject, "labelSelectors are not evaluated; the "
                              "namePattern alone selects Applications"))
        for key in ("imagesVerification",):
            if key in ref or key in spec:
                notes.append(Note(where, subject, f"{key} has no Setlist equivalent; not "
                                  "imported"))
        matched = [u for u in units if fnmatch.fnmatchcase(_sample(u), pattern)]
        if not matched:
            notes.append(Note(where, subject, f"namePattern {pattern!r} selects none of the "
                              "imported Applications"))
            continue
        ref_common = {**common, **_settings(ref.get("commonUpdateSettings"))}
        method, pr = _write_back(ref.get("writeBackConfig") or spec.get("writeBackConfig"),
                                 where, subject, notes, None)
        if ref.get("useAnnotations"):
            for unit in matched:
                if unit.updater is None:
                    unit.updater = from_annotations(unit, notes)
                if unit.updater is not None:
                    unit.updater.method, unit.updater.pull_request = method, pr
                    selected += 1
            continue
        images: dict[str, ImageConf] = {}
        for i, img in enumerate(ref.get("images") or []):
            iwhere = doc.line_of("spec", "applicationRefs", r, "images", i)
            repository, constraint, digest = split_reference(str(img.get("imageName") or ""))
            if digest:
                notes.append(Note(iwhere, subject, f"the digest of {img.get('imageName')} is "
                                  "not imported"))
            settings = {**ref_common, **_settings(img.get("commonUpdateSettings"))}
            for key in ("pullSecret", "forceUpdate"):
                if key in (img.get("commonUpdateSettings") or {}):
                    notes.append(Note(iwhere, subject, f"{key} has no Setlist equivalent; "
                                      "not imported"))
            targets = img.get("manifestTargets") or {}
            if "helm" in targets or "plugin" in targets:
                notes.append(Note(iwhere, subject, "helm and plugin manifest targets have "
                                  "no Setlist equivalent; not imported"))
            if "imagesVerification" in img:
                notes.append(Note(iwhere, subject, "imagesVerification has no Setlist "
                                  "equivalent; not imported"))
            name = (targets.get("kustomize") or {}).get("name")
            images[str(img.get("alias") or repository.rsplit("/", 1)[-1])] = _image(
                repository, constraint, settings, name, iwhere, subject, notes)
        for unit in matched:
            if unit.updater is not None and unit.updater.origin != where:
                notes.append(Note(where, subject, f"{unit.kind} {unit.name} is also "
                                  f"configured at {unit.updater.origin}; this one is used"))
            unit.updater = Updater(images=dict(images), method=method, pull_request=pr,
                                   origin=where)
            selected += 1
    return selected


def _sample(unit: Unit) -> str:
    """A name the unit's Applications could have: its template with placeholders filled."""
    return re.sub(r"\{\{.*?\}\}", "x", unit.template_name or unit.name)
