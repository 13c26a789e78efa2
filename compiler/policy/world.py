"""What policies see: the checked spec (and resolved facts) as typed objects.

Each object has a kind (``deployment``, ``app``, ``environment``, ``image``, ``registry``,
``promotion``, ``sync``, ``freeze``), a name, fields, the source span a violation points at,
and the scope a waiver can name (``for app legacy`` matches every object that involves the
app ``legacy``). Facts that only a registry knows (the tag and digest an environment runs,
platforms, build date, signature) come from the lock and an optional signature check; where
they are not known the value is ``UNKNOWN`` and rules that depend on them stay undecided.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property

from .. import model as m
from ..diagnostics import Span
from ..lockfile import Lock
from ..spec import App, Environment, Image, Spec

# ---------------------------------------------------------------- value types


class _Unknown:
    """A fact nobody knows yet (no lock entry, no registry asked): rules depending on it
    are neither met nor broken."""

    _instance: _Unknown | None = None

    def __new__(cls) -> _Unknown:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "unknown"

    def __bool__(self) -> bool:
        raise TypeError("unknown has no truth value")


UNKNOWN = _Unknown()


@dataclass(frozen=True, order=True)
class Duration:
    seconds: int

    def __str__(self) -> str:
        out, rest = [], self.seconds
        for unit, size in (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
            if rest >= size:
                out.append(f"{rest // size}{unit}")
                rest %= size
        return "".join(out) or "0s"


@dataclass(eq=False)
class Obj:
    """One object of the model. Equal when kind and name are (an image seen through a
    deployment equals the image itself)."""

    kind: str
    name: str
    fields: dict[str, object]
    anchor: Span | None = None
    scope: frozenset[tuple[str, str]] = frozenset()
    lazy: dict[str, Callable[[], object]] = field(default_factory=dict)

    def get(self, name: str) -> object:
        if name not in self.fields and name in self.lazy:
            self.fields[name] = self.lazy.pop(name)()
        return self.fields.get(name)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Obj) and (self.kind, self.name) == (other.kind, other.name)

    def __hash__(self) -> int:
        return hash((self.kind, self.name))

    def __str__(self) -> str:
        return f"{self.kind} {self.name}"


# ---------------------------------------------------------------- the static model

# Field types per kind, for the type checker and docs/policies.md. Facts a registry gives
# (tag, digest, provided_platforms, created, age, since, source, signed) may be none.
FIELDS: dict[str, dict[str, str]] = {
    "deployment": {"name": "string", "app": "app", "env": "environment", "image": "image"},
    "app": {"name": "string", "namespace": "string", "project": "string", "base": "string",
            "base_repo": "string", "images": "list[image]", "deploy": "list[environment]",
            "sync": "sync", "labels": "map", "annotations": "map"},
    "environment": {"name": "string", "writeback": "string", "updates": "string",
                    "labels": "map", "freezes": "list[freeze]", "apps": "list[app]",
                    "clusters": "list[string]",
                    "preserve_resources_on_deletion": "bool"},
    "image": {"name": "string", "registry": "registry", "host": "string",
              "repository": "string", "reference": "string", "strategy": "string",
              "constraint": "string", "allow_tags": "string", "ignore_tags": "list[string]",
              "platforms": "list[string]", "tag": "string", "digest": "string",
              "provided_platforms": "list[string]", "created": "date", "age": "duration",
              "since": "date", "source": "string", "signed": "bool"},
    "registry": {"name": "string", "host": "string", "credentials": "string",
                 "insecure": "bool", "images": "list[image]"},
    "promotion": {"name": "string", "image": "image", "env": "environment",
                  "source": "environment", "from_registry": "bool", "soak": "duration",
                  "approval": "bool", "signed": "bool"},
    "sync": {"automated": "bool", "prune": "bool", "self_heal": "bool", "allow_empty": "bool",
             "options": "list[string]"},
    "freeze": {"cron": "string", "duration": "duration", "tz": "string"},
}

COLLECTIONS: dict[str, str] = {
    "deployments": "deployment", "apps": "app", "environments": "environment",
    "images": "image", "registries": "registry", "promotions": "promotion"}

# Kinds a declared name can stand for inside a policy or a `use` argument.
DECLARED_KINDS = ("environment", "app", "image", "registry")


def parse_time(text: str | None) -> datetime | None:
    """An RFC 3339 time or a date (midnight UTC) as an aware datetime."""
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment


@dataclass
class Facts:
    """Where resolved facts come from: a lock (at check time the project's own, after
    resolve/promote the new one), the time of evaluation and an optional signature check
    ``signed(image_name, digest) -> bool`` (None: signatures are unknown)."""

    lock: Lock | None
    now: datetime
    signed: Callable[[str, str], bool] | None = None


# ---------------------------------------------------------------- building the world


class World:
    """Every object of one checked spec, built once per evaluation."""

    def __init__(self, spec: Spec, facts: Facts,
                 anchors: Callable[[str, str], Span | None],
                 deploy_anchor: Callable[[str, str], Span | None]) -> None:
        self.spec = spec
        self.facts = facts
        self._anchor = anchors
        self._deploy_anchor = deploy_anchor
        self._signed_memo: dict[tuple[str, str], object] = {}
        self.registries = {r.name: self._registry(r) for r in spec.registries}
        self.images = {i.name: self._image(i, None) for i in spec.images}
        self.environments = {e.name: self._environment(e) for e in spec.environments}
        self.apps = {a.name: self._app(a) for a in spec.apps}
        for env in self.environments.values():
            env.fields["apps"] = tuple(a for a in self.apps.values()
                                       if env in a.fields["deploy"])
        for reg in self.registries.values():
            reg.fields["images"] = tuple(i for i in self.images.values()
                                         if i.fields["registry"] == reg)

    @cached_property
    def deployments(self) -> tuple[Obj, ...]:
        return tuple(self._deployments())

    @cached_property
    def promotions(self) -> tuple[Obj, ...]:
        return tuple(self._promotions())

    def collection(self, name: str) -> tuple[Obj, ...]:
        return {"deployments": self.deployments, "promotions": self.promotions,
                "apps": tuple(self.apps.values()),
                "environments": tuple(self.environments.values()),
                "images": tuple(self.images.values()),
                "registries": tuple(self.registries.values())}[name]

    def declared(self, kind: str, name: str) -> Obj | None:
        table = {"environment": self.environments, "app": self.apps, "image": self.images,
                 "registry": self.registries}[kind]
        return table.get(name)

    # objects -------------------------------------------------------------------------
    def _registry(self, r) -> Obj:  # noqa: ANN001
        return Obj("registry", r.name, {
            "name": r.name, "host": r.host, "credentials": r.credentials.source,
            "insecure": r.insecure, "images": ()},
            anchor=self._anchor("registry", r.name), scope=frozenset({("registry", r.name)}))

    def _image(self, i: Image, env: str | None) -> Obj:
        registry = self.registries.get(i.registry) if i.registry else None
        fields: dict[str, object] = {
            "name": i.name, "registry": registry, "host": i.host,
            "repository": i.repository, "reference": i.reference,
            "strategy": i.strategy.kind,
            "constraint": i.strategy.constraint if i.strategy.kind == "semver"
            else i.strategy.tag,
            "allow_tags": i.allow_tags, "ignore_tags": i.ignore_tags,
            "platforms": i.platforms}
        scope = {("image", i.name)} | ({("registry", i.registry)} if i.registry else set())
        obj = Obj("image", i.name, fields, anchor=self._anchor("image", i.name),
                  scope=frozenset(scope))
        if env is None:
            # An image on its own: the version the spec pins, no environment's facts.
            fields.update(tag=i.tag, digest=i.digest, provided_platforms=UNKNOWN,
                          created=UNKNOWN, age=UNKNOWN, since=UNKNOWN, source=UNKNOWN,
                          signed=UNKNOWN)
            if i.digest:
                obj.lazy["signed"] = lambda: self._signed(i.name, i.digest)
            return obj
        entry = self.facts.lock.get(i.name, env) if self.facts.lock else None
        if i.tag or i.digest:  # a pin wins over the lock, as in the plan
            tag, digest = i.tag, i.digest
            if entry is not None and entry.tag == tag and (digest is None
                                                           or entry.digest == digest):
                digest = entry.digest
        elif entry is not None:
            tag, digest = entry.tag, entry.digest
        else:
            tag = digest = UNKNOWN
        created = parse_time(entry.created) if entry and entry.digest == digest else None
        fields.update(
            tag=tag, digest=digest,
            provided_platforms=entry.platforms if entry and entry.digest == digest and
            entry.platforms else UNKNOWN,
            created=created if created else UNKNOWN,
            age=Duration(int((self.facts.now - created).total_seconds())) if created
            else UNKNOWN,
            since=parse_time(entry.since) if entry and entry.since else UNKNOWN,
            source=entry.source if entry else UNKNOWN)
        if isinstance(digest, str):
            obj.lazy["signed"] = lambda: self._signed(i.name, digest)
        else:  # no digest: nothing can be verified; not known yet: undecided
            fields["signed"] = False if digest is None else UNKNOWN
        return obj

    def _signed(self, image: str, digest: str) -> object:
        if self.facts.signed is None:
            return UNKNOWN
        key = (image, digest)
        if key not in self._signed_memo:
            self._signed_memo[key] = self.facts.signed(image, digest)
        return self._signed_memo[key]

    def _environment(self, e: Environment) -> Obj:
        clusters = tuple(c.name or c.server or "" for c in e.static_clusters)
        freezes = tuple(Obj("freeze", f"{e.name}:{n}", {
            "cron": f.cron, "duration": Duration(f.duration_seconds), "tz": f.timezone},
            anchor=f.span, scope=frozenset({("environment", e.name)}))
            for n, f in enumerate(e.freezes))
        return Obj("environment", e.name, {
            "name": e.name, "writeback": e.writeback, "updates": e.updates.kind,
            "labels": dict(e.labels), "freezes": freezes, "apps": (), "clusters": clusters,
            "preserve_resources_on_deletion": e.preserve_resources_on_deletion},
            anchor=self._anchor("environment", e.name),
            scope=frozenset({("environment", e.name)}))

    def _app(self, a: App) -> Obj:
        sync = Obj("sync", a.name, {
            "automated": a.sync.automated, "prune": a.sync.prune,
            "self_heal": a.sync.self_heal, "allow_empty": a.sync.allow_empty,
            "options": a.sync.options}, scope=frozenset({("app", a.name)}))
        return Obj("app", a.name, {
            "name": a.name, "namespace": a.namespace, "project": a.project,
            "base": a.base.path, "base_repo": a.base.repo,
            "images": tuple(self.images[e.image] for e in a.images if e.image in self.images),
            "deploy": tuple(self.environments[n] for n in a.deploy if n in self.environments),
            "sync": sync, "labels": dict(a.labels), "annotations": dict(a.annotations)},
            anchor=self._anchor("app", a.name), scope=frozenset({("app", a.name)}))

    def _deployments(self):
        images = {i.name: i for i in self.spec.images}
        for a in self.spec.apps:
            for env in a.deploy:
                for entry in a.images:
                    image = images.get(entry.image)
                    if image is None or env not in self.environments:
                        continue
                    view = self._image(image, env)
                    name = f"{a.name}/{env}/{image.name}"
                    yield Obj("deployment", name, {
                        "name": name, "app": self.apps[a.name],
                        "env": self.environments[env], "image": view},
                        anchor=self._deploy_anchor(a.name, env) or self.apps[a.name].anchor,
                        scope=frozenset({("app", a.name), ("environment", env)}) | view.scope)

    def _promotions(self):
        for p in self.spec.promotions:
            image = self.images.get(p.image)
            for stage in p.stages:
                env = self.environments.get(stage.env)
                if image is None or env is None:
                    continue
                source = self.environments.get(stage.source)
                name = f"{p.image}/{stage.env}"
                yield Obj("promotion", name, {
                    "name": name, "image": image, "env": env, "source": source,
                    "from_registry": stage.source == "registry",
                    "soak": Duration(stage.after_seconds), "approval": stage.approval,
                    "signed": stage.signed},
                    anchor=stage.span,
                    scope=frozenset({("image", p.image), ("environment", stage.env)}))


def deploy_entry_span(decl: m.Block, env: str) -> Span | None:
    """The span of ``env`` in an app's ``deploy = [...]`` list, when written there."""
    for fld in decl.fields:
        if fld.name == "deploy" and isinstance(fld.value, m.ListExpr):
            for item in fld.value.items:
                if isinstance(item, m.Name) and item.name == env:
                    return item.span
    return None
