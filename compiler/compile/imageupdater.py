"""Argo CD Image Updater resources: one `ImageUpdater` per app and environment whose versions
are moved in the cluster (`updates = in_cluster(...)`) rather than by Setlist's commits.

What Image Updater (CRD `argocd-image-updater.argoproj.io/v1alpha1`) makes of each field:

- ``applicationRefs[].namePattern`` is a Go ``filepath.Match`` glob over the names of the
  Applications in the ImageUpdater's own namespace. Generated Applications are named
  `<app>-<env>.<cluster>` (or `<app>-<env>` for a single listed cluster), and app and
  environment names hold no '.', so `<app>-<env>.*` selects one app in one environment and
  never `prod-eu`'s Applications from `prod`'s resource.
- ``images[].imageName`` is parsed like an image reference whose "tag" is the version
  constraint for `semver` (`ghcr.io/org/api:^1.4`) or the tag to follow for `digest`
  (`...:latest`); other strategies take no constraint. ``alias`` names the entry (it must
  match ``^[a-zA-Z0-9][a-zA-Z0-9-._]*$``); ``manifestTargets.kustomize.name`` is the
  `images:` name in the kustomization when the manifests call the image something else.
- ``allowTags`` needs a match function: `regexp:<re>` (or `any`); a bare regex matches
  nothing. ``ignoreTags`` are ``filepath.Match`` globs, ``platforms`` `os/arch[/variant]`.
- ``writeBackConfig.gitConfig.writeBackTarget`` `kustomization:/<dir>` names the
  kustomization folder from the repository root (a path without the leading '/' would be
  taken relative to the Application's source path). ``branch`` `base:target` pushes to
  another branch; with ``pullRequest`` (exactly one of ``github``/``gitlab``) the branch is
  only the base and Image Updater opens the pull request itself, which needs token (HTTPS)
  credentials.
- There is no per-resource interval: the controller checks every ImageUpdater at its
  ``--interval``.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from .. import spec as s
from .documents import LABEL_APP, LABEL_ENV, MANAGED_BY

API_VERSION = "argocd-image-updater.argoproj.io/v1alpha1"
KIND = "ImageUpdater"

# Setlist's strategy → Image Updater's updateStrategy.
STRATEGIES = {"semver": "semver", "newest_build": "newest-build",
              "alphabetical": "alphabetical", "digest": "digest"}

_ALIAS = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9._-]*")
_SCP_LIKE = re.compile(r"^(?:[^@/:]+@)?(?P<host>[^/:]+):(?!\d+(?:/|$))")


def name_pattern(app: s.App, env: s.Environment) -> str:
    """The glob that selects exactly the Applications generated for ``app`` in ``env``."""
    name = f"{app.name}-{env.name}"
    return name if len(env.static_clusters) == 1 else f"{name}.*"


def image_name(image: s.Image) -> str:
    """The reference with the constraint (semver) or the followed tag (digest) as its tag."""
    strategy = image.strategy
    version = strategy.constraint if strategy.kind == "semver" else \
        strategy.tag if strategy.kind == "digest" else None
    return f"{image.reference}:{version}" if version else image.reference


def update_settings(image: s.Image) -> dict[str, Any]:
    """Every setting the spec gives, on the image itself: nothing is left to defaults set
    elsewhere (the controller's or another level of the resource)."""
    out: dict[str, Any] = {"updateStrategy": STRATEGIES[image.strategy.kind]}
    if image.allow_tags is not None:
        out["allowTags"] = f"regexp:{image.allow_tags}"
    if image.ignore_tags:
        out["ignoreTags"] = list(image.ignore_tags)
    if image.platforms:
        out["platforms"] = list(image.platforms)
    return out


def _aliases(app: s.App) -> dict[str, str]:
    """Image → its alias in the resource: the image's name, made to fit the CRD's pattern
    (names may start with '_') and unique within the app."""
    out: dict[str, str] = {}
    taken: set[str] = set()
    for entry in app.images:
        base = entry.image if _ALIAS.fullmatch(entry.image) else "image" + entry.image
        alias, n = base, 2
        while alias in taken:
            alias, n = f"{base}-{n}", n + 1
        taken.add(alias)
        out[entry.image] = alias
    return out


def image_configs(app: s.App, images: dict[str, s.Image]) -> list[dict[str, Any]]:
    aliases = _aliases(app)
    out = []
    for entry in app.images:
        image = images[entry.image]
        config: dict[str, Any] = {"alias": aliases[entry.image], "imageName": image_name(image),
                                  "commonUpdateSettings": update_settings(image)}
        if entry.alias and entry.alias != image.reference:
            config["manifestTargets"] = {"kustomize": {"name": entry.alias}}
        out.append(config)
    return sorted(out, key=lambda c: c["alias"])


def repo_host(url: str) -> tuple[str, bool]:
    """The host of a Git URL (lower case) and whether it is reached over SSH."""
    if "://" in url:
        parts = urlsplit(url)
        return (parts.hostname or "").lower(), parts.scheme.lower() in ("ssh", "git+ssh")
    match = _SCP_LIKE.match(url)
    return ((match["host"].lower(), True) if match else ("", False))


def pull_request_provider(repo: str) -> tuple[str | None, str]:
    """``("github" | "gitlab", "")`` when Image Updater can open pull requests for ``repo``,
    else ``(None, why not)``. The forge is told by its host name (github.com, gitlab.com,
    or a host named github.* / gitlab.*); opening a pull request needs an API token, which
    SSH credentials do not carry."""
    host, ssh = repo_host(repo)
    if ssh:
        return None, "it is reached over SSH, and opening a pull request needs a token"
    for forge in ("github", "gitlab"):
        if host == f"{forge}.com" or host.startswith(f"{forge}."):
            return forge, ""
    return None, f"'{host}' is neither GitHub nor GitLab by its name"


def review_branch(app: s.App, env: s.Environment) -> str:
    """The branch Image Updater pushes to when it cannot open a pull request itself: one per
    set of changes (``.SHA256`` of the change list)."""
    return f"image-updater-{app.name}-{env.name}-{{{{.SHA256}}}}"


def write_back(app: s.App, env: s.Environment, gitops: s.GitOps,
               overlay_dir: str) -> dict[str, Any]:
    if env.updates.write_method == "argocd":
        return {"method": "argocd"}
    git: dict[str, Any] = {"repository": gitops.repo, "branch": gitops.branch,
                           "writeBackTarget": f"kustomization:/{overlay_dir.strip('/')}"}
    if env.writeback == "pull_request":
        provider, _ = pull_request_provider(gitops.repo)
        if provider is None:
            git["branch"] = f"{gitops.branch}:{review_branch(app, env)}"
        else:
            git["pullRequest"] = {provider: {}}
    return {"method": "git", "gitConfig": git}


def image_updater(app: s.App, env: s.Environment, gitops: s.GitOps, overlay_dir: str,
                  images: dict[str, s.Image]) -> dict[str, Any]:
    """The ImageUpdater of ``app`` in ``env`` (which must run at least one image: the CRD
    requires a non-empty ``images`` list)."""
    labels = {"app.kubernetes.io/managed-by": MANAGED_BY, LABEL_APP: app.name,
              LABEL_ENV: env.name}
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": {"name": f"{app.name}-{env.name}", "namespace": gitops.namespace,
                     "labels": dict(sorted(labels.items()))},
        "spec": {
            "applicationRefs": [{"namePattern": name_pattern(app, env),
                                 "images": image_configs(app, images)}],
            "writeBackConfig": write_back(app, env, gitops, overlay_dir),
        },
    }
