"""The resolve stage: ask the registries which version each environment should run.

For every (image, environment) pair the spec deploys whose image has no pin (``tag`` or
``digest``) and whose environment is fed by the registry — the image has no promotion, or
its promotion's stage for that environment has source ``registry`` — the image's tags are
listed (with the metadata :func:`setlist.strategies.needs_metadata` asks for), the
strategy chooses one tag, and the chosen manifest (or index) is fetched for its digest,
platforms and build date. The result is a new :class:`setlist.lockfile.Lock`:

* entries for pairs fed by the registry are replaced; ``since`` is kept when the chosen
  tag and digest equal the old entry's (the version did not change), and is ``now``
  otherwise;
* entries of downstream (promoted) environments, of pinned images and of pairs left out
  with ``--image``/``--env`` are kept as they are;
* entries for pairs the spec no longer deploys are dropped.

Besides :mod:`setlist.registry`, this is the only module that opens network connections.
A registry declared with ``layout`` is not contacted: its images are read from that OCI
image layout folder (relative to the project folder) by
:class:`setlist.ocilayout.LayoutClient`, and no credentials are looked up for it.
Each image is resolved once (its choice does not depend on the environment) in a thread
pool per registry host, at most :data:`MAX_PER_HOST` at a time; every task has its own
:class:`~setlist.registry.RegistryClient`, so threads share nothing mutable.

Credentials and connections come from :mod:`setlist.credentials`. No secret is ever put
into a message, the lock or the output.

The lock is written only when every image resolved, atomically (a temporary file in the
same folder, then :func:`os.replace`), and only when its text changes.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Collection, Mapping
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import UTC, datetime

from . import lockfile
from .credentials import (
    Connection,
    CredentialError,
    connection,
    docker_config_credentials,
    registry_of,
    with_hint,
)
from .lockfile import Lock, LockEntry
from .ocilayout import LayoutClient
from .plan import deployments
from .registry import Manifest, RegistryClient, RegistryError, parse_created
from .registry_http import HostGate
from .spec import Image, Spec, Strategy
from .strategies import platform_provided

__all__ = [
    "MAX_PER_HOST",
    "CredentialError",
    "Failure",
    "Resolution",
    "Resolved",
    "ResolveResult",
    "docker_config_credentials",
    "format_strategy",
    "registry_fed",
    "resolve",
    "rfc3339",
    "write_lock",
]

#: At most this many images are resolved at the same time against one registry host.
MAX_PER_HOST = 8



@dataclass(frozen=True)
class Failure:
    """One image that could not be resolved: ``<registry> <image>: <reason>``."""

    registry: str
    image: str
    reason: str

    def __str__(self) -> str:
        return f"{self.registry} {self.image}: {self.reason}"


@dataclass(frozen=True)
class Resolution:
    """What the registry says an image should run now (the same for every environment
    the registry feeds)."""

    tag: str
    digest: str
    platforms: tuple[str, ...] = ()
    created: str | None = None
    # Better-ranked tags passed over because they lack a listed platform ("1.5.1 (lacks
    # linux/arm64)"), best first.
    set_aside: tuple[str, ...] = ()


@dataclass(frozen=True)
class Resolved:
    """One (image, environment) pair and its new lock entry."""

    image: str
    env: str
    entry: LockEntry
    changed: bool

    def line(self) -> str:
        short = self.entry.digest or ""
        if short.startswith("sha256:") and len(short) > 19:
            short = short[:19] + "…"
        return f"{self.image} {self.env}: {self.entry.tag} ({short}) from " \
               f"{self.entry.repository}"


@dataclass(frozen=True)
class ResolveResult:
    lock: Lock
    resolved: tuple[Resolved, ...]
    failures: tuple[Failure, ...]
    changed: int  # lock entries added, replaced with different content, or dropped
    skipped: tuple[str, ...] = ()  # images not contacted (offline), their entries kept
    set_aside: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # image → notes

    @property
    def ok(self) -> bool:
        return not self.failures


#: Called as each image is done: (image name, outcome, images done, images in all).
Progress = Callable[[str, "Resolution | Failure", int, int], None]


# ================================================================ what to resolve


def registry_fed(spec: Spec) -> dict[str, list[str]]:
    """Image name → the environments (sorted) whose version comes from the registry, for
    unpinned images the spec deploys. Environments with `updates = in_cluster(...)` are
    left out: Argo CD Image Updater chooses their versions in the cluster, and a locked
    version would have nothing to pin there."""
    images = {i.name: i for i in spec.images}
    in_cluster = {e.name for e in spec.environments if e.updates.kind == "in_cluster"}
    sources: dict[tuple[str, str], str] = {}
    promoted: set[str] = set()
    for promotion in spec.promotions:
        promoted.add(promotion.image)
        for stage in promotion.stages:
            sources[(promotion.image, stage.env)] = stage.source
    fed: dict[str, list[str]] = {}
    for image_name, env in deployments(spec):
        image = images.get(image_name)
        if image is None or image.tag or image.digest or env in in_cluster:
            continue
        if image_name in promoted and sources.get((image_name, env)) != "registry":
            continue
        fed.setdefault(image_name, []).append(env)
    return fed


def format_strategy(strategy: Strategy) -> str:
    """The strategy as the spec language writes it: ``semver("^1.4")``, ``newest_build``."""
    if strategy.kind == "semver":
        return f"semver({json.dumps(strategy.constraint)})" if strategy.constraint \
            else "semver()"
    if strategy.kind == "digest":
        return f"digest({json.dumps(strategy.tag or '')})"
    return strategy.kind


def rfc3339(moment: datetime) -> str:
    """UTC, ``Z``, fractional seconds only when there are any."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    moment = moment.astimezone(UTC)
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    if moment.microsecond:
        text += f".{moment.microsecond:06d}".rstrip("0")
    return text + "Z"


# ================================================================ resolving one image


def _resolve_image(image: Image, conn: Connection, timeout: float,
                   gate: HostGate | None = None) -> Resolution:
    """List, choose, and fetch the chosen manifest. Raises RegistryError, or ValueError
    when no tag qualifies (its text is the reason).

    The pinned version must provide every platform the image lists: when the chosen tag's
    manifest falls short, that tag is set aside (with what it has) and the strategy
    chooses again among the rest."""
    from dataclasses import replace

    from .registry import tag_infos
    from .strategies import choose

    client = conn.client(timeout, throttle=gate)
    infos = tag_infos(client, image, workers=gate.concurrency if gate is not None else 1)
    set_aside: list[str] = []
    while True:
        choice = choose(image.strategy, infos, allow=image.allow_tags,
                        ignore=image.ignore_tags, platforms=image.platforms,
                        every_platform=True)
        if choice.tag is None:
            raise ValueError(_with_skipped(choice))
        index = next(n for n, i in enumerate(infos) if i.name == choice.tag)
        info = infos[index]
        manifest = client.manifest(image.repository, choice.tag)
        created = info.created
        if manifest.is_index:
            platforms = manifest.platforms
        else:
            platforms, created = _image_details(client, image, manifest, created)
        missing = [p for p in image.platforms if not platform_provided(p, platforms)]
        if not missing:
            return Resolution(tag=choice.tag, digest=manifest.digest, platforms=platforms,
                              created=rfc3339(created) if created is not None else None,
                              set_aside=tuple(set_aside))
        set_aside.append(f"{choice.tag} (lacks {', '.join(missing)})")
        infos[index] = replace(info, platforms=platforms)


def _with_skipped(choice) -> str:  # noqa: ANN001
    """The reason nothing qualifies, with why the best-ranked few tags were passed over."""
    best = "; ".join(f"{tag}: {why}" for tag, why in choice.skipped[:3])
    return f"{choice.reason}; best passed over: {best}" if best else choice.reason


def _image_details(client: RegistryClient | LayoutClient, image: Image, manifest: Manifest,
                   created: datetime | None) -> tuple[tuple[str, ...], datetime | None]:
    """A single-platform image's platform and build date, from its config."""
    config = client.config(image.repository, manifest)
    os_, arch, variant = (config.get(k) for k in ("os", "architecture", "variant"))
    platforms: tuple[str, ...] = ()
    if isinstance(os_, str) and os_ and isinstance(arch, str) and arch:
        platforms = (f"{os_}/{arch}/{variant}" if isinstance(variant, str) and variant
                     else f"{os_}/{arch}",)
    return platforms, created or parse_created(config.get("created"))


# ================================================================ the stage


def resolve(spec: Spec, lock: Lock | None, *, now: datetime, base: str | os.PathLike = ".",
            images: Collection[str] | None = None, envs: Collection[str] | None = None,
            environ: Mapping[str, str] | None = None, max_per_host: int | None = None,
            timeout: float = 30.0, offline: bool = False,
            progress: Progress | None = None) -> ResolveResult:
    """Resolve the registry-fed pairs (limited to ``images`` and ``envs`` when given) and
    return the new lock with what changed. With failures, the result's lock is the old one
    unchanged and nothing should be written. ``now`` becomes ``since`` of new versions;
    ``base`` is the project folder (relative ``ca_file`` and ``layout`` paths);
    ``environ`` supplies the credential variables and ``DOCKER_CONFIG`` (default: the
    process environment). ``max_per_host`` overrides every registry's ``concurrency``.
    ``offline`` reads only registries with a ``layout``: images of other registries keep
    their lock entries and are listed in ``skipped``. ``progress`` is called in the
    calling thread each time an image is done: (image name, its Resolution or Failure,
    images done, images in all)."""
    environ = os.environ if environ is None else environ
    old = lock if lock is not None else Lock()
    since = rfc3339(now)
    fed = {name: [e for e in es if envs is None or e in envs]
           for name, es in registry_fed(spec).items() if images is None or name in images}
    fed = {name: es for name, es in fed.items() if es}
    by_name = {i.name: i for i in spec.images}

    failures: list[Failure] = []
    skipped: list[str] = []
    connections: dict[str, Connection] = {}
    work: dict[str, list[Image]] = {}
    logins: dict = {}  # what docker_config found per host: a helper runs once per host
    for name in sorted(fed):
        image = by_name[name]
        if offline and not _has_layout(spec, image):
            skipped.append(name)
            continue
        try:
            conn = connection(spec, image, os.fspath(base), environ, logins=logins)
        except CredentialError as exc:
            failures.append(Failure(image.host, image.repository, str(exc)))
            continue
        connections[name] = conn
        work.setdefault(conn.api_host, []).append(image)

    results: dict[str, Resolution] = {}
    total = sum(len(batch) for batch in work.values())
    pools: list[ThreadPoolExecutor] = []
    try:
        futures: dict[Future[Resolution], Image] = {}
        for host, batch in work.items():
            cap, per_second = _host_limits(spec, batch)
            if max_per_host is not None:
                cap = max_per_host
            pool = ThreadPoolExecutor(max_workers=max(1, min(cap, len(batch))),
                                      thread_name_prefix=f"resolve-{host}")
            pools.append(pool)
            gate = HostGate(max(1, cap), per_second)
            for image in batch:
                futures[pool.submit(_resolve_image, image, connections[image.name], timeout,
                                    gate)] = image
        for done, future in enumerate(as_completed(futures), 1):
            image = futures[future]
            outcome: Resolution | Failure
            try:
                outcome = results[image.name] = future.result()
            except RegistryError as exc:
                outcome = Failure(image.host, image.repository,
                                  with_hint(exc, image, connections[image.name]))
                failures.append(outcome)
            except ValueError as exc:  # no tag qualifies, a bad pattern or constraint
                outcome = Failure(image.host, image.repository, str(exc))
                failures.append(outcome)
            if progress is not None:
                progress(image.name, outcome, done, total)
    finally:
        for pool in pools:
            pool.shutdown(wait=True, cancel_futures=True)
    if failures:
        failures.sort(key=lambda f: (f.registry, f.image, f.reason))
        return ResolveResult(lock=old, resolved=(), failures=tuple(failures), changed=0,
                             skipped=tuple(skipped))

    # pairs the spec no longer deploys (an image or environment removed) leave the lock
    entries = dict(old.without(set(deployments(spec))).entries)
    resolved: list[Resolved] = []
    for name in sorted(results):
        image, found = by_name[name], results[name]
        for env in fed[name]:
            previous = old.get(name, env)
            same = previous is not None and previous.repository == image.reference and \
                previous.tag == found.tag and previous.digest == found.digest
            entry = LockEntry(repository=image.reference, tag=found.tag, digest=found.digest,
                              platforms=found.platforms, created=found.created,
                              strategy=format_strategy(image.strategy),
                              since=previous.since if same and previous.since else since,
                              source="registry")
            entries[(name, env)] = entry
            resolved.append(Resolved(name, env, entry, changed=entry != previous))
    new = Lock(entries=entries)
    changed = sum(1 for key in set(old.entries) | set(new.entries)
                  if old.entries.get(key) != new.entries.get(key))
    return ResolveResult(lock=new, resolved=tuple(resolved), failures=(), changed=changed,
                         skipped=tuple(skipped), set_aside={n: r.set_aside for n, r in
                                                            results.items() if r.set_aside})


def _has_layout(spec: Spec, image: Image) -> bool:
    registry = registry_of(spec, image)
    return registry is not None and registry.layout is not None


def _host_limits(spec: Spec, batch: list[Image]) -> tuple[int, int | None]:
    """The concurrency cap and request rate for one host: the smallest any registry block
    of that host declares (default: :data:`MAX_PER_HOST`, no rate limit)."""
    hosts = {image.host for image in batch}
    declared = [r for r in spec.registries if r.host in hosts]
    caps = [r.concurrency for r in declared if r.concurrency]
    rates = [r.requests_per_second for r in declared if r.requests_per_second]
    return min(caps, default=MAX_PER_HOST), min(rates, default=None)


# ================================================================ writing


def write_lock(base: str | os.PathLike, lock: Lock) -> bool:
    """Write ``setlist.lock`` in ``base`` when its text changes, atomically and flushed to
    disk (:func:`setlist.files.replace_file`). True when written."""
    from .files import replace_file

    path = lockfile.lock_path(base)
    text = lockfile.dump(lock)
    try:
        if path.read_text("utf-8") == text:
            return False
    except FileNotFoundError:
        if not lock.entries:
            return False  # nothing to record, and no lock to update
    replace_file(path, text.encode("utf-8"), durable=True)
    return True
