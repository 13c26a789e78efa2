"""The checked, typed spec: what the checker hands to resolve, policy and compile.

Everything here has been validated: names resolve, values have their types and syntax,
references point at declarations of the right kind. Every entity keeps the span of the
declaration it came from, so later stages can still point at the source.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

from .diagnostics import Span


class SpecNode(BaseModel):
    """Every node keeps the span of the source that stated it; ``None`` only where the
    spec said nothing and the value is Setlist's default (a default sync policy, say)."""

    model_config = ConfigDict(frozen=True)

    span: Span | None = None


# ---------------------------------------------------------------- cluster selectors

LabelOp = Literal["==", "!=", "in", "not in", "exists", "not exists"]


class LabelTest(SpecNode):
    """One test on a cluster label, already in Argo CD terms (not pushed into the test)."""

    kind: Literal["test"] = "test"
    key: str
    op: LabelOp
    values: tuple[str, ...] = ()
    span: Span


class SelAnd(SpecNode):
    kind: Literal["and"] = "and"
    terms: tuple[Selector, ...]


class SelOr(SpecNode):
    kind: Literal["or"] = "or"
    terms: tuple[Selector, ...]


class SelAll(SpecNode):
    """Every cluster Argo CD knows, including the local one (an empty selector)."""

    kind: Literal["all"] = "all"


Selector = LabelTest | SelAnd | SelOr | SelAll


class StaticCluster(SpecNode):
    """A destination named in the spec: by cluster name, or by API server URL."""

    name: str | None = None
    server: str | None = None
    span: Span


class RestStep(SpecNode):
    kind: Literal["rest"] = "rest"


# ---------------------------------------------------------------- blocks


class GitOps(SpecNode):
    repo: str
    branch: str = "main"
    path: str = ""                                   # prefix of all output in the repository
    namespace: str = "argocd"                        # where Argo CD (and its CRs) live
    argocd_dir: str = "argocd"
    overlays: str = "apps/{app}/overlays/{env}"
    root_app: str = "setlist-root"
    span: Span


class Credentials(SpecNode):
    source: Literal["anonymous", "docker_config", "env"] = "anonymous"
    variable: str | None = None


class Registry(SpecNode):
    name: str
    host: str
    credentials: Credentials = Credentials()
    insecure: bool = False
    ca_file: str | None = None
    layout: str | None = None  # an OCI image layout folder, relative to the project folder
    concurrency: int | None = None          # requests in flight at once (default 8)
    requests_per_second: int | None = None  # a rate limit while resolving (default none)
    span: Span
    doc: str | None = None


class Strategy(SpecNode):
    kind: Literal["semver", "newest_build", "alphabetical", "digest"]
    # semver: the Masterminds constraint; None means '*' — every release, no pre-releases —
    # as Image Updater (v1.3.0 and later) does when an image has no constraint.
    constraint: str | None = None
    tag: str | None = None         # digest


class Image(SpecNode):
    name: str
    registry: str | None  # a declared registry's name; None for a bare host in repository
    host: str
    repository: str
    strategy: Strategy
    allow_tags: str | None = None       # regex (RE2)
    ignore_tags: tuple[str, ...] = ()   # globs
    platforms: tuple[str, ...] = ()
    tag: str | None = None              # pinned until resolution replaces pins
    digest: str | None = None
    span: Span
    doc: str | None = None

    @property
    def reference(self) -> str:
        return f"{self.host}/{self.repository}"


class Freeze(SpecNode):
    cron: str
    duration_seconds: int
    timezone: str = "UTC"
    span: Span


class UpdateMethod(SpecNode):
    """How versions reach the environment: Setlist's own commits, or Image Updater."""

    kind: Literal["setlist", "in_cluster"] = "setlist"
    write_method: Literal["argocd", "git"] = "argocd"
    interval_seconds: int | None = None


class Environment(SpecNode):
    name: str
    selector: Selector | None = None
    static_clusters: tuple[StaticCluster, ...] = ()
    updates: UpdateMethod = UpdateMethod()
    writeback: Literal["direct", "pull_request"] = "direct"
    freezes: tuple[Freeze, ...] = ()
    rollout: tuple[LabelTest | SelAnd | SelOr | SelAll | RestStep, ...] = ()
    preserve_resources_on_deletion: bool = False
    applications_sync: Literal["create-only", "create-update", "create-delete", "sync"] | None = \
        None
    labels: tuple[tuple[str, str], ...] = ()
    span: Span
    doc: str | None = None


class Retry(SpecNode):
    limit: int = 5
    backoff_seconds: int = 5
    factor: int = 2
    max_seconds: int = 180


class SyncPolicy(SpecNode):
    automated: bool = False
    prune: bool = False
    self_heal: bool = False
    allow_empty: bool = False
    options: tuple[str, ...] = ()
    retry: Retry | None = None


class AppImage(SpecNode):
    image: str
    alias: str | None = None  # the name the base's manifests use, when not the repository
    span: Span


class Base(SpecNode):
    """Where the app's Kustomize base lives: a folder of the gitops repo, or another repo."""

    path: str
    repo: str | None = None  # None: the gitops repository itself
    ref: str | None = None   # branch, tag or commit of ``repo``


class App(SpecNode):
    name: str
    base: Base
    namespace: str
    project: str
    images: tuple[AppImage, ...] = ()
    deploy: tuple[str, ...]
    sync: SyncPolicy = SyncPolicy()
    labels: tuple[tuple[str, str], ...] = ()
    annotations: tuple[tuple[str, str], ...] = ()
    span: Span
    doc: str | None = None


class Stage(SpecNode):
    env: str
    source: str  # "registry" or an environment name
    after_seconds: int = 0
    approval: bool = False
    signed: bool = False  # a cosign signature must exist for the promoted digest
    span: Span


class Promotion(SpecNode):
    image: str
    stages: tuple[Stage, ...]
    span: Span


class Spec(SpecNode):
    """The whole checked project. Tuples keep a deterministic (declaration) order."""

    gitops: GitOps | None = None
    registries: tuple[Registry, ...] = ()
    images: tuple[Image, ...] = ()
    environments: tuple[Environment, ...] = ()
    apps: tuple[App, ...] = ()
    promotions: tuple[Promotion, ...] = ()

    def app(self, name: str) -> App | None:
        return next((a for a in self.apps if a.name == name), None)

    def environment(self, name: str) -> Environment | None:
        return next((e for e in self.environments if e.name == name), None)

    def image(self, name: str) -> Image | None:
        return next((i for i in self.images if i.name == name), None)


for _cls in (SelAnd, SelOr, Environment):
    _cls.model_rebuild()
