"""Compile stage: a pure function from the resolved plan to output documents.

No file, network or clock access happens here; the write stage puts the documents on disk.
Output paths are relative to the root of the config repository.
"""

from __future__ import annotations

import hashlib
import posixpath
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .. import spec as s
from ..diagnostics import Diagnostic, Related, error, warning
from ..plan import ImageVersion, Plan
from .argocd import (
    app_project,
    application_set,
    applications,
    argocd_write_back,
    root_application,
)
from .documents import Document, go_duration, header, without_userinfo
from .imageupdater import image_updater, pull_request_provider
from .kustomize import overlay
from .selectors import MAX_GENERATORS, cluster_generators, rollout_steps

__all__ = ["CompileResult", "Document", "Layout", "Memo", "compile_plan"]


@dataclass(frozen=True)
class Layout:
    """Where each kind of output goes, from the gitops block's settings."""

    root: str
    argocd: str
    overlays: str

    @classmethod
    def of(cls, gitops: s.GitOps) -> Layout:
        root = gitops.path.strip("/")
        return cls(root=root, argocd=posixpath.join(root, gitops.argocd_dir) if root else
                   gitops.argocd_dir, overlays=gitops.overlays)

    def overlay_dir(self, app: str, env: str) -> str:
        rel = self.overlays.replace("{app}", app).replace("{env}", env)
        return posixpath.join(self.root, rel) if self.root else rel

    def under_argocd(self, *parts: str) -> str:
        return posixpath.join(self.argocd, *parts)


#: What an earlier compile produced for an app, by the app's key: (path, owner, sha256)
#: of each of its files, or None when those files cannot be vouched for now.
Recall = Callable[[str], "list[tuple[str, str, str]] | None"]


@dataclass
class Memo:
    """The per-app memo of an incremental compile (``setlist.cache``).

    Every app gets a key: a hash of everything its documents are made from (the app, the
    environments it is deployed to, its images and their versions there, the gitops
    settings, the generated headers and setlist's own code). ``recall`` answers for a key
    whose documents an earlier compile wrote and whose files still hold exactly those
    bytes; the app's documents are then not built or rendered again but stand in as
    :class:`Document` placeholders carrying only their hash. AppProjects are memoised the
    same way, keyed by the apps they gather (without their versions). ``keys`` receives
    each app's (and each AppProject's, as ``"project NAME"``) key and the paths of its
    documents, for the next compile."""

    recall: Recall
    keys: dict[str, tuple[str, list[str]]] = field(default_factory=dict)


@dataclass
class CompileResult:
    documents: list[Document] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not any(d.severity.value == "error" for d in self.diagnostics)


def compile_plan(plan: Plan, memo: Memo | None = None) -> CompileResult:
    spec = plan.spec
    result = CompileResult()
    if spec.gitops is None:
        result.diagnostics.append(error(
            plan.anchor, "SL703", "compiling needs a gitops block naming the config "
            "repository", 'add gitops { repo = "https://github.com/ORG/gitops" } to the spec'))
        return result
    gitops = spec.gitops.model_copy(update={"repo": without_userinfo(spec.gitops.repo)})
    layout = Layout.of(gitops)
    envs = {e.name: e for e in spec.environments}
    images = {i.name: i for i in spec.images}
    generated = header(plan.sources, "setlist")
    user_header = header(plan.sources, "user")
    docs = result.documents
    missing: dict[str, dict[str, s.Span]] = {}  # image → env → first app use

    for env in spec.environments:
        result.diagnostics.extend(_in_cluster_warnings(env, gitops, spec.apps))
    deployed = {env for app in spec.apps for env in app.deploy}
    static_in_cluster = any(argocd_write_back(e) and e.static_clusters and e.name in deployed
                            for e in spec.environments)
    docs.append(Document(layout.under_argocd("root.yaml"),
                         root_application(gitops, layout.argocd, static_in_cluster),
                         header=generated))
    projects: dict[str, list[s.App]] = {}
    keyer = _Keyer(gitops, generated, user_header, envs, images) if memo else None
    targets = _Targets()
    for app in spec.apps:
        projects.setdefault(app.project, []).append(app)
        versions_by_env: list[tuple[str, dict[str, ImageVersion | None]]] = []
        for env_name in app.deploy:
            env = envs.get(env_name)
            if env is None:
                continue
            in_cluster = env.updates.kind == "in_cluster"
            versions: dict[str, ImageVersion | None] = {}
            for img in app.images:
                # In-cluster: Image Updater chooses the version; pins and the lock are not
                # Setlist's to write there (the checker rejects pins, SL505).
                version = None if in_cluster else plan.version(img.image, env.name)
                versions[img.image] = version
                if version is None and not in_cluster and \
                        (img.image, env.name) not in plan.stale:
                    missing.setdefault(img.image, {}).setdefault(env.name, img.span)
            versions_by_env.append((env_name, versions))
        if keyer is not None:
            assert memo is not None
            key = keyer.key(app, versions_by_env)
            known = memo.recall(key)
            if known is not None:
                # The same inputs as a compile whose files are still on disk as written:
                # only what the environments' selectors say needs reporting again.
                for env_name, _versions in versions_by_env:
                    result.diagnostics.extend(targets.of(envs[env_name])[0])
                docs.extend(Document(path, None, owner, digest=digest)
                            for path, owner, digest in known)
                memo.keys[app.name] = (key, [path for path, _owner, _digest in known])
                continue
            first = len(docs)
        for env_name, versions in versions_by_env:
            env = envs[env_name]
            overlay_dir = layout.overlay_dir(app.name, env.name)
            name = f"{app.name}-{env.name}"
            in_cluster = env.updates.kind == "in_cluster"
            # With git write-back Image Updater writes the overlay's entries of its images.
            unmanaged = {i.image for i in app.images} \
                if in_cluster and env.updates.write_method == "git" else set()
            docs.append(Document(posixpath.join(overlay_dir, "kustomization.yaml"),
                                 overlay(app, overlay_dir, images, versions, unmanaged),
                                 owner="user", header=user_header))
            if in_cluster and app.images:
                docs.append(Document(layout.under_argocd("image-updaters", name + ".yaml"),
                                     image_updater(app, env, gitops, overlay_dir, images),
                                     header=generated))
            if env.static_clusters:
                docs.append(Document(layout.under_argocd("applications", name + ".yaml"),
                                     applications(app, env, gitops, overlay_dir),
                                     header=generated))
                continue
            errors, generators, steps = targets.of(env)
            if errors:
                result.diagnostics.extend(errors)
                continue
            docs.append(Document(layout.under_argocd("applicationsets", name + ".yaml"),
                                 application_set(app, env, gitops, overlay_dir, generators,
                                                 steps),
                                 header=generated))
        if keyer is not None:
            assert memo is not None
            memo.keys[app.name] = (key, [d.path for d in docs[first:]])
    for project in sorted(projects):
        path = layout.under_argocd("projects", project + ".yaml")
        if keyer is not None:
            assert memo is not None
            key = keyer.project_key(project, projects[project])
            known = memo.recall(key)
            memo.keys[f"project {project}"] = (key, [path])
            if known is not None:
                docs.extend(Document(p, None, owner, digest=digest)
                            for p, owner, digest in known)
                continue
        docs.append(Document(path, app_project(project, projects[project], envs, gitops),
                             header=generated))
    for name in sorted(missing):
        result.diagnostics.append(_no_version(images[name], missing[name],
                                              _upstreams(spec, name)))
    docs.sort(key=lambda d: d.path)
    return result


class _Targets:
    """Each environment's cluster generators and rollout steps, worked out once per
    compile, with the errors (SL701/SL702) that every app deployed there reports."""

    def __init__(self) -> None:
        self._found: dict[str, tuple[list[Diagnostic], Any, Any]] = {}

    def of(self, env: s.Environment) -> tuple[list[Diagnostic], Any, Any]:
        found = self._found.get(env.name)
        if found is None:
            found = self._found[env.name] = self._work_out(env)
        return found

    @staticmethod
    def _work_out(env: s.Environment) -> tuple[list[Diagnostic], Any, Any]:
        if env.static_clusters:
            return [], None, None
        assert env.selector is not None
        generators = cluster_generators(env.selector)
        if generators is None:
            return [error(
                env.span, "SL701",
                f"the cluster selector of '{env.name}' needs more than {MAX_GENERATORS} "
                "cluster generators to select each cluster once",
                "Argo CD rejects duplicate Applications, so an 'or' becomes disjoint "
                "generators; simplify the selector or label the clusters for it")], None, None
        steps = None
        if env.rollout:
            steps = rollout_steps(env.rollout)
            if steps is None:
                return [error(
                    env.span, "SL702",
                    f"the rollout of '{env.name}' needs too many steps to express 'rest'",
                    "give each rollout step a single label test")], None, None
        return [], generators, steps


class _Keyer:
    """Computes apps' memo keys (see :class:`Memo`), each shared input hashed once."""

    def __init__(self, gitops: s.GitOps, generated: str, user_header: str,
                 envs: dict[str, s.Environment], images: dict[str, s.Image]) -> None:
        from ..cache import fingerprint

        self._envs = envs
        self._images = images
        self._env_json: dict[str, bytes] = {}
        self._image_json: dict[str, bytes] = {}
        self._shapes: dict[str, bytes] = {}
        self._base = "\0".join((fingerprint(), s.content_text(gitops), generated,
                                user_header)).encode()

    def _of(self, cache: dict[str, bytes], table: dict, name: str) -> bytes:
        found = cache.get(name)
        if found is None:
            found = cache[name] = s.content_text(table[name]).encode()
        return found

    def key(self, app: s.App,
            versions_by_env: list[tuple[str, dict[str, ImageVersion | None]]]) -> str:
        """The app's key: its shape (see :meth:`shape`), its images and their versions."""
        digest = hashlib.sha256(self.shape(app, [env for env, _versions in versions_by_env]))
        for entry in app.images:
            digest.update(b"\0image\0" + self._of(self._image_json, self._images,
                                                  entry.image))
        for env_name, versions in versions_by_env:
            digest.update(f"\0env\0{env_name}".encode())
            for image, version in versions.items():
                text = "-" if version is None else \
                    f"{version.tag}\0{version.digest}\0{version.source}"
                digest.update(f"\0{image}={text}".encode())
        return digest.hexdigest()

    def shape(self, app: s.App, env_names: list[str]) -> bytes:
        """A digest of the app and the environments it is deployed to (of them,
        ``env_names``, those declared): what its AppProject takes from it."""
        found = self._shapes.get(app.name)
        if found is None:
            digest = hashlib.sha256(self._base)
            digest.update(b"\0app\0" + s.content_text(app).encode())
            for env_name in env_names:
                digest.update(b"\0env\0" + self._of(self._env_json, self._envs, env_name))
            found = self._shapes[app.name] = digest.digest()
        return found

    def project_key(self, project: str, apps: list[s.App]) -> str:
        """An AppProject's key: its name and the shapes of the apps it gathers."""
        digest = hashlib.sha256(self._base)
        digest.update(f"\0project\0{project}".encode())
        for app in apps:
            digest.update(self.shape(app, [e for e in app.deploy if e in self._envs]))
        return digest.hexdigest()


def _in_cluster_warnings(env: s.Environment, gitops: s.GitOps,
                         apps: tuple[s.App, ...]) -> list[Diagnostic]:
    """What an ImageUpdater resource cannot say for ``env``: its own check interval
    (SL707), and a pull request where Image Updater cannot open one (SL708)."""
    updates = env.updates
    if updates.kind != "in_cluster":
        return []
    out = []
    where = updates.span or env.span
    if updates.interval_seconds is not None:
        interval = go_duration(updates.interval_seconds)
        out.append(warning(
            where, "SL707",
            f"'{env.name}' asks Image Updater to check every {interval}, but an ImageUpdater "
            "resource has no interval of its own: the controller checks all of them at its "
            "--interval (default 2m)",
            f"start the Image Updater controller with --interval {interval} (or "
            f"IMAGE_UPDATER_INTERVAL={interval}); remove interval from the spec to silence "
            "this"))
    runs_images = any(env.name in a.deploy and a.images for a in apps)
    if updates.write_method == "git" and env.writeback == "pull_request" and runs_images:
        provider, why = pull_request_provider(gitops.repo)
        if provider is None:
            out.append(warning(
                where, "SL708",
                f"Image Updater cannot open pull requests for {gitops.repo} ({why}); in "
                f"'{env.name}' it pushes each change to a branch of its own, "
                f"image-updater-<app>-{env.name}-<hash>, based on {gitops.branch}",
                "open pull requests from those branches (by hand or with your forge's "
                "automation), or use an https:// URL of a GitHub or GitLab repository"))
    return out


def _upstreams(spec: s.Spec, image: str) -> dict[str, str]:
    """Environment → where its versions of ``image`` come from ("registry" or an env)."""
    return {stage.env: stage.source for p in spec.promotions if p.image == image
            for stage in p.stages}


def _no_version(image: s.Image, envs: dict[str, s.Span],
                upstreams: dict[str, str]) -> Diagnostic:
    """SL700 at the image declaration: the environments that have no version of it."""
    names = sorted(envs)
    listed = ", ".join(f"'{e}'" for e in names)
    where = "environment" if len(names) == 1 else "environments"
    promoted = sorted(e for e in names if upstreams.get(e, "registry") != "registry")
    hints = []
    if len(promoted) < len(names):
        hints.append("run `setlist resolve` to pin versions from the registry in setlist.lock")
    for env in promoted:
        hints.append(f"'{env}' receives versions by promotion from '{upstreams[env]}'; "
                     "until one is promoted, the spec's pin is used")
    hints.append(f'or pin one in image {image.name} with tag = "..."')
    related = tuple(Related(span=envs[e], message=f"deployed to '{e}' here") for e in names)
    return warning(image.span, "SL700",
                   f"no version of image '{image.name}' is known for the {where} {listed}; "
                   "the overlays leave the base's tag in place", *hints, related=related)
