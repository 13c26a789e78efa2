"""Compile stage: a pure function from the resolved plan to output documents.

No file, network or clock access happens here; the write stage puts the documents on disk.
Output paths are relative to the root of the config repository.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field

from .. import spec as s
from ..diagnostics import Diagnostic, error, warning
from ..plan import ImageVersion, Plan
from .argocd import app_project, application_set, applications, root_application
from .documents import Document, header
from .kustomize import overlay
from .selectors import MAX_GENERATORS, cluster_generators, rollout_steps

__all__ = ["CompileResult", "Document", "Layout", "compile_plan"]


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


@dataclass
class CompileResult:
    documents: list[Document] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not any(d.severity.value == "error" for d in self.diagnostics)


def compile_plan(plan: Plan) -> CompileResult:
    spec = plan.spec
    result = CompileResult()
    if spec.gitops is None:
        result.diagnostics.append(error(
            plan.anchor, "SL703", "compiling needs a gitops block naming the config "
            "repository", 'add gitops { repo = "https://github.com/ORG/gitops" } to the spec'))
        return result
    gitops = spec.gitops
    layout = Layout.of(gitops)
    envs = {e.name: e for e in spec.environments}
    images = {i.name: i for i in spec.images}
    generated = header(plan.sources, "setlist")
    user_header = header(plan.sources, "user")
    docs = result.documents

    for env in spec.environments:
        if env.updates.kind == "in_cluster":
            result.diagnostics.append(warning(
                env.updates.span or env.span, "SL704",
                f"'{env.name}' asks for in-cluster updates, which this version of setlist "
                "does not compile yet: no ImageUpdater resource is written",
                "versions come from the spec meanwhile; remove the setting to silence this"))
    docs.append(Document(layout.under_argocd("root.yaml"), root_application(gitops,
                                                                            layout.argocd),
                         header=generated))
    projects: dict[str, list[s.App]] = {}
    for app in spec.apps:
        projects.setdefault(app.project, []).append(app)
        for env_name in app.deploy:
            env = envs.get(env_name)
            if env is None:
                continue
            overlay_dir = layout.overlay_dir(app.name, env.name)
            versions: dict[str, ImageVersion | None] = {}
            for img in app.images:
                version = plan.version(img.image, env.name)
                versions[img.image] = version
                if version is None and (img.image, env.name) not in plan.stale:
                    result.diagnostics.append(warning(
                        img.span, "SL700",
                        f"no version of image '{img.image}' is known for '{env.name}'; the "
                        "overlay leaves the base's tag in place",
                        f"pin one with tag = \"...\" in image {img.image}"))
            docs.append(Document(posixpath.join(overlay_dir, "kustomization.yaml"),
                                 overlay(app, overlay_dir, images, versions), owner="user",
                                 header=user_header))
            name = f"{app.name}-{env.name}"
            if env.static_clusters:
                docs.append(Document(layout.under_argocd("applications", name + ".yaml"),
                                     applications(app, env, gitops, overlay_dir),
                                     header=generated))
                continue
            assert env.selector is not None
            generators = cluster_generators(env.selector)
            if generators is None:
                result.diagnostics.append(error(
                    env.span, "SL701",
                    f"the cluster selector of '{env.name}' needs more than {MAX_GENERATORS} "
                    "cluster generators to select each cluster once",
                    "Argo CD rejects duplicate Applications, so an 'or' becomes disjoint "
                    "generators; simplify the selector or label the clusters for it"))
                continue
            steps = None
            if env.rollout:
                steps = rollout_steps(env.rollout)
                if steps is None:
                    result.diagnostics.append(error(
                        env.span, "SL702",
                        f"the rollout of '{env.name}' needs too many steps to express 'rest'",
                        "give each rollout step a single label test"))
                    continue
            docs.append(Document(layout.under_argocd("applicationsets", name + ".yaml"),
                                 application_set(app, env, gitops, overlay_dir, generators,
                                                 steps),
                                 header=generated))
    for project in sorted(projects):
        docs.append(Document(layout.under_argocd("projects", project + ".yaml"),
                             app_project(project, projects[project], envs, gitops),
                             header=generated))
    docs.sort(key=lambda d: d.path)
    return result
