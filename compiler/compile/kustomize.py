"""Kustomize overlays: one per app and environment, pointing at the app's base, with the
`images:` overrides that pin what the environment runs."""

from __future__ import annotations

import posixpath
from collections.abc import Collection
from typing import Any

from .. import spec as s
from ..plan import ImageVersion
from .documents import without_userinfo

KUSTOMIZE_API = "kustomize.config.k8s.io/v1beta1"


def base_reference(base: s.Base, overlay_dir: str) -> str:
    """How the overlay names its base: a relative folder, or a Kustomize remote URL
    (`REPO//PATH?ref=REF`) for a base in another repository."""
    if base.repo is None:
        return posixpath.relpath(base.path or ".", overlay_dir or ".")
    url = without_userinfo(base.repo).rstrip("/")
    if base.path:
        url += "//" + base.path.strip("/")
    if base.ref:
        url += f"?ref={base.ref}"
    return url


def image_entries(app: s.App, images: dict[str, s.Image],
                  versions: dict[str, ImageVersion | None],
                  unmanaged: Collection[str] = ()) -> list[dict[str, Any]]:
    """The `images:` list. `name` is how the base refers to the image (its repository, or
    the alias given with `as`); `newName` is only needed when that differs.

    Images in ``unmanaged`` are left out: another writer keeps their entries (Image
    Updater's git write-back rewrites an entry whole, by name, with its tag). Setlist owns
    the entries it lists and would replace them on every compile, dropping that tag."""
    out = []
    for entry in app.images:
        if entry.image in unmanaged:
            continue
        image = images[entry.image]
        reference = image.reference
        item: dict[str, Any] = {"name": entry.alias or reference}
        if entry.alias and entry.alias != reference:
            item["newName"] = reference
        version = versions.get(entry.image)
        if version is not None:
            if version.tag:
                item["newTag"] = version.tag
            if version.digest:
                item["digest"] = version.digest
        out.append(item)
    return sorted(out, key=lambda i: i["name"])


def overlay(app: s.App, overlay_dir: str, images: dict[str, s.Image],
            versions: dict[str, ImageVersion | None],
            unmanaged: Collection[str] = ()) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "apiVersion": KUSTOMIZE_API,
        "kind": "Kustomization",
        "resources": [base_reference(app.base, overlay_dir)],
    }
    entries = image_entries(app, images, versions, unmanaged)
    if entries:
        doc["images"] = entries
    return doc
