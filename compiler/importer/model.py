"""What the import reads out of Argo CD manifests, before it is grouped into a spec.

A ``Unit`` is one deployment as Argo CD sees it: a plain Application, one element of a list
generator, or one cluster-generator ApplicationSet (one per label value when its path names a
cluster label). Grouping units into apps and environments is the build step's business.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .read import Origin

# A label test in Setlist's terms: (key, op, values) with op one of ==, in, not in, exists,
# not exists; a conjunction is a sorted tuple of tests, a selector a tuple of conjunctions
# (an `or` of them). The empty conjunction is `all`.
Test = tuple[str, str, tuple[str, ...]]
Conjunction = tuple[Test, ...]
Selector = tuple[Conjunction, ...]


@dataclass(frozen=True)
class Retry:
    limit: int = 5
    backoff: int = 5
    factor: int = 2
    max_backoff: int = 180


@dataclass(frozen=True)
class Sync:
    automated: bool = False
    prune: bool = False
    self_heal: bool = False
    allow_empty: bool = False
    options: tuple[str, ...] = ()
    retry: Retry | None = None


@dataclass(frozen=True)
class ImageConf:
    """One image as Image Updater was told to track it (or as an overlay pins it)."""

    repository: str                 # as written, without tag ("ghcr.io/x/api", "nginx")
    strategy: str | None = None     # semver, newest_build, alphabetical, digest; None: unknown
    constraint: str | None = None   # semver constraint, or the tag digest() follows
    allow_tags: str | None = None
    ignore_tags: tuple[str, ...] = ()
    platforms: tuple[str, ...] = ()
    manifest_name: str | None = None  # the kustomization `images:` name, when not repository

    def settings(self) -> tuple:
        return (self.strategy, self.constraint, self.allow_tags, self.ignore_tags,
                self.platforms)


@dataclass
class Updater:
    """Image Updater's settings for one unit."""

    images: dict[str, ImageConf]   # alias → image
    method: str = "argocd"         # argocd | git
    pull_request: bool = False
    origin: Origin | None = None


@dataclass(frozen=True)
class Pin:
    name: str                 # the `images:` name
    new_name: str | None
    tag: str | None
    digest: str | None


@dataclass
class Unit:
    name: str                        # the Application's (or ApplicationSet's) name
    kind: str                        # Application | ApplicationSet
    origin: Origin
    repo: str
    revision: str
    path: str
    namespace: str                   # destination namespace
    project: str
    argocd_namespace: str
    sync: Sync
    selector: Selector | None = None                     # cluster generator
    static: tuple[tuple[str, str], ...] = ()             # (name|server, value)
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    iu_annotations: dict[str, str] = field(default_factory=dict)
    template_name: str = ""          # name of the generated Applications (appsets)
    updater: Updater | None = None
    pins: dict[str, Pin] = field(default_factory=dict)
    base: str | None = None          # from the overlay's resources
    base_repo: tuple[str, str, str | None] | None = None  # git(repo, path, ref) base
    preserve: bool = False
    applications_sync: str | None = None
    has_finalizer: bool = True
    kustomize_images: list[str] = field(default_factory=list)  # source.kustomize.images
    document: str = ""               # the name of the document it came from
    # filled by the build step
    app: str = ""
    env: str = ""

    @property
    def subject(self) -> str:
        return f"{self.kind} {self.document or self.name}"
