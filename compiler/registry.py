"""The OCI registry client core: tags, manifests and image configs, verified and bounded.

This is the network half of resolution's first slice; :mod:`setlist.strategies` decides.
It speaks the OCI distribution API (``/v2/``) over plain HTTP or HTTPS with the standard
library only; requests, redirects, authentication, retries and the digest cache are in
:mod:`setlist.registry_http`.

Why not oras-py (PyPI ``oras``, evaluated at 0.2.43): it does follow ``Link: rel="next"``
for tag lists and it has basic and bearer-token auth, but ``get_manifest`` returns only the
parsed JSON — no body bytes, no ``Docker-Content-Digest``, so no digest verification and
no media type —, there is no HEAD for manifests, no response size limit, every request
goes through a retry decorator that sleeps ``2 + 3**attempt`` seconds on any exception
(minutes before a bad host is reported), authentication silently reads
``~/.docker/config.json`` and credential helpers even when the spec says ``anonymous``,
and its errors and log lines carry raw server text. Wrapping it would mean replacing the
request path, which is most of what it offers, while adding ``requests`` and
``jsonschema`` as runtime dependencies. The client here is small, takes its credentials
only from the caller, never follows a redirect with credentials to another host, and
verifies every digest it is given.

What Setlist needs from a registry, and nothing more:

* :meth:`RegistryClient.tags`: every tag, following pagination (``n``, ``last`` and the
  ``Link`` header).
* :meth:`RegistryClient.manifest`: a manifest or index, its media type and its digest
  (sha256 of the body, checked against ``Docker-Content-Digest`` and a digest reference).
* :meth:`RegistryClient.config` / :meth:`RegistryClient.created`: an image's config blob
  (digest checked) and its build date.
* :func:`tag_infos`: :class:`setlist.strategies.TagInfo` for a spec image, fetching only
  what :func:`setlist.strategies.needs_metadata` asks for.

Every failure is a :class:`RegistryError` naming the registry and image; its text never
contains credentials (they are never put into a message, and any secret the client holds
is scrubbed from server-supplied text as well).
"""

from __future__ import annotations

import hashlib
import json
import os
import random as _random
import re
import time
import urllib.parse
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from . import spec
from .registry_http import (
    DEFAULT_CACHE,
    MAX_ATTEMPTS,
    Credentials,
    DigestCache,
    HostGate,
    RegistryError,
    Transport,
    _digest_matches,
    _origin,
    _Response,
    default_cache_dir,
)
from .strategies import TagInfo, filter_tags, needs_metadata, platform_wanted

__all__ = [
    "ImageMetadata",
    "ACCEPT_MANIFESTS",
    "DOCKER_MANIFEST",
    "DOCKER_MANIFEST_LIST",
    "MAX_CONFIG_BYTES",
    "MAX_MANIFEST_BYTES",
    "OCI_INDEX",
    "OCI_MANIFEST",
    "Credentials",
    "Manifest",
    "RegistryClient",
    "RegistryError",
    "parse_created",
    "tag_infos",
]

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
ACCEPT_MANIFESTS = (OCI_INDEX, OCI_MANIFEST, DOCKER_MANIFEST_LIST, DOCKER_MANIFEST)
INDEX_TYPES = frozenset({OCI_INDEX, DOCKER_MANIFEST_LIST})
IMAGE_TYPES = frozenset({OCI_MANIFEST, DOCKER_MANIFEST})

#: Size caps: a manifest or config larger than this is refused, not read.
MAX_MANIFEST_BYTES = 4 * 1024 * 1024
MAX_CONFIG_BYTES = 4 * 1024 * 1024
#: One page of a tag list (a registry without pagination sends every tag at once).
MAX_TAG_PAGE_BYTES = 16 * 1024 * 1024
#: Upper bound on tag-list pages, against a registry whose Link header loops.
MAX_TAG_PAGES = 10_000
#: Upper bound on a whole tag list, all pages together (a million 40-byte tags fit).
MAX_TAG_LIST_BYTES = 64 * 1024 * 1024

_REPOSITORY = re.compile(
    r"[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*")
_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,127}")
_DIGEST = re.compile(r"(sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128})")
_LINK_NEXT = re.compile(r'<([^>]*)>\s*;[^,]*\brel="?next"?', re.IGNORECASE)
_ATTESTATION = "attestation-manifest"


@dataclass(frozen=True)
class Manifest:
    """A manifest or index as the registry served it, its digest verified."""

    media_type: str
    digest: str
    body: bytes = field(repr=False)
    data: dict[str, Any] = field(repr=False)

    @property
    def is_index(self) -> bool:
        return self.media_type in INDEX_TYPES

    @property
    def config_digest(self) -> str | None:
        """The config blob's digest of an image manifest (None for an index)."""
        config = self.data.get("config")
        if self.is_index or not isinstance(config, dict):
            return None
        digest = config.get("digest")
        return digest if isinstance(digest, str) else None

    @property
    def children(self) -> tuple[tuple[str, str | None], ...]:
        """An index's image manifests as (digest, platform or None), attestation manifests
        (BuildKit's ``unknown/unknown`` entries) left out. Empty for an image manifest."""
        if not self.is_index:
            return ()
        out: list[tuple[str, str | None]] = []
        for entry in self.data.get("manifests") or ():
            if not isinstance(entry, dict) or not isinstance(entry.get("digest"), str):
                continue
            annotations = entry.get("annotations") or {}
            if isinstance(annotations, dict) and \
                    annotations.get("vnd.docker.reference.type") == _ATTESTATION:
                continue
            out.append((entry["digest"], _platform_text(entry.get("platform"))))
        return tuple(out)

    @property
    def platforms(self) -> tuple[str, ...]:
        """An index's platforms (``os/arch[/variant]``, in index order, without repeats);
        empty for an image manifest, whose platform is in its config."""
        seen: dict[str, None] = {}
        for _, platform in self.children:
            if platform is not None:
                seen.setdefault(platform, None)
        return tuple(seen)


def _platform_text(platform: Any) -> str | None:
    if not isinstance(platform, dict):
        return None
    os_, arch = platform.get("os"), platform.get("architecture")
    if not isinstance(os_, str) or not isinstance(arch, str) or not os_ or not arch:
        return None
    variant = platform.get("variant")
    return f"{os_}/{arch}/{variant}" if isinstance(variant, str) and variant else \
        f"{os_}/{arch}"


_RFC3339 = re.compile(
    r"(\d{4}-\d\d-\d\d)[Tt ](\d\d:\d\d:\d\d)(?:\.(\d+))?([Zz]|[+-]\d\d:?\d\d)?$")


def parse_created(value: Any) -> datetime | None:
    """An image config's ``created`` (RFC 3339, Go writes up to nanoseconds) as an aware
    datetime; None when absent or unreadable."""
    if not isinstance(value, str):
        return None
    match = _RFC3339.match(value.strip())
    if match is None:
        return None
    day, clock, fraction, zone = match.groups()
    text = f"{day}T{clock}"
    if fraction:
        text += "." + fraction[:6].ljust(6, "0")
    if not zone or zone in ("Z", "z"):
        text += "+00:00"
    else:
        text += zone if ":" in zone else f"{zone[:3]}:{zone[3:]}"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.year <= 1:
        return None  # Go's zero time: "unknown", as reproducible builds often write
    return moment


class ImageMetadata:
    """What a client derives from manifests and configs, the same for every source of
    them (a registry, an OCI image layout): it needs ``manifest`` and ``config``."""

    def manifest(self, repository: str, reference: str) -> Manifest:
        raise NotImplementedError

    def config(self, repository: str, manifest: Manifest) -> dict[str, Any]:
        raise NotImplementedError

    def created(self, repository: str, manifest: Manifest,
                platforms: Sequence[str] = ()) -> datetime | None:
        """When the image was built (its config's ``created``). For an index: the most
        recent build date among its images for a wanted platform (all without
        ``platforms``), as Image Updater records it."""
        if not manifest.is_index:
            return parse_created(self.config(repository, manifest).get("created"))
        latest: datetime | None = None
        for digest, platform in manifest.children:
            if platforms and (platform is None or not platform_wanted(platform, platforms)):
                continue
            child = self.manifest(repository, digest)
            if child.is_index:
                continue  # nested indexes are not images
            moment = parse_created(self.config(repository, child).get("created"))
            if moment is not None and (latest is None or moment > latest):
                latest = moment
        return latest

    def image_platform(self, repository: str, manifest: Manifest) -> str | None:
        """An image manifest's platform, from its config (None if the config has none)."""
        return _platform_text(self.config(repository, manifest))


class RegistryClient(Transport, ImageMetadata):
    """A synchronous client for one registry host (``host[:port]``).

    ``scheme`` is ``https`` or ``http``; ``insecure`` turns off TLS certificate checks
    (never a reason to send credentials over plain HTTP: the scheme decides that);
    ``ca_file`` adds a CA bundle; ``credentials`` are offered only when the registry asks
    (a 401 with a Basic or Bearer challenge); ``timeout`` is per request, in seconds.
    Transient failures are retried (:mod:`setlist.registry_http`) up to ``max_attempts``,
    waiting with ``sleep`` and jittering with ``random``. Manifests and configs are kept in
    ``cache_dir`` by digest (None: no cache), so that a tag fetched again costs a HEAD
    when it still names the same content; ``requests`` counts what was sent;
    ``throttle`` is entered around every request (a :class:`~setlist.registry_http.HostGate`
    shared by the clients of one host: requests in flight and per second).
    """

    def __init__(
        self,
        host: str,
        *,
        scheme: str = "https",
        insecure: bool = False,
        ca_file: str | None = None,
        credentials: Credentials | None = None,
        timeout: float = 30.0,
        max_manifest_bytes: int = MAX_MANIFEST_BYTES,
        max_config_bytes: int = MAX_CONFIG_BYTES,
        sleep: Callable[[float], object] = time.sleep,
        random: Callable[[], float] = _random.random,
        max_attempts: int = MAX_ATTEMPTS,
        cache_dir: str | os.PathLike[str] | None = DEFAULT_CACHE,
        throttle: HostGate | None = None,
    ) -> None:
        super().__init__(host, scheme=scheme, insecure=insecure, ca_file=ca_file,
                         credentials=credentials, timeout=timeout, sleep=sleep,
                         random=random, max_attempts=max_attempts, throttle=throttle)
        self.max_manifest_bytes = max_manifest_bytes
        self.max_config_bytes = max_config_bytes
        if cache_dir is DEFAULT_CACHE:
            cache_dir = default_cache_dir()
        self.cache = DigestCache(cache_dir) if cache_dir is not None else None
        # What each tag named when this client first asked: a client serves one short
        # run, in which a tag is taken to stay put (one resolve asks once per tag).
        self._by_tag: dict[tuple[str, str], Manifest] = {}

    def __repr__(self) -> str:
        return f"RegistryClient({self.scheme}://{self.host})"

    # ------------------------------------------------------------ public API

    def tags(self, repository: str, *, page_size: int | None = None) -> list[str]:
        """Every tag of ``repository``, in the registry's order, following pagination:
        the ``Link: <...>; rel="next"`` header, or — when a registry sends exactly
        ``page_size`` tags and has never sent one — ``last=<final tag>``. A repeated tag is
        kept once.
        """
        _check_repository(self.host, repository)
        query = {"n": str(page_size)} if page_size else {}
        url = self._url(f"/v2/{repository}/tags/list", query)
        tags: list[str] = []
        seen_tags: set[str] = set()
        seen_urls: set[str] = set()
        linked = False  # once a registry paginates with Link, no Link means the end
        received = 0
        for _ in range(MAX_TAG_PAGES):
            seen_urls.add(url)
            response = self._get(url, repository, MAX_TAG_PAGE_BYTES, "tag list")
            received += len(response.body)
            if received > MAX_TAG_LIST_BYTES:
                raise RegistryError(self.host, repository, "tag list is larger than "
                                    f"{MAX_TAG_LIST_BYTES} bytes over all its pages")
            page = self._json(response.body, repository, "tag list").get("tags") or []
            if not isinstance(page, list) or not all(isinstance(t, str) for t in page):
                raise RegistryError(self.host, repository, "tag list is malformed")
            fresh = [t for t in page if t not in seen_tags]
            seen_tags.update(fresh)
            tags.extend(fresh)
            linked = linked or "Link" in response.headers
            next_url = self._next_page(response, page, page_size, repository, linked)
            if next_url is None or not fresh:
                return tags  # the last page, or a registry that ignores `last`
            if next_url in seen_urls:
                raise RegistryError(self.host, repository, "tag list pagination loops")
            url = next_url
        raise RegistryError(self.host, repository,
                            f"tag list has more than {MAX_TAG_PAGES} pages")

    def manifest(self, repository: str, reference: str) -> Manifest:
        """The manifest or index ``reference`` (a tag or digest) names; its digest is
        the sha256 of the body, checked against the registry's and the reference's."""
        _check_repository(self.host, repository)
        image = _image(repository, reference)
        by_digest = reference if _DIGEST.fullmatch(reference) else None
        if by_digest is None and not _TAG.fullmatch(reference):
            raise RegistryError(self.host, repository, f"'{reference}' is not a valid tag "
                                "or digest")
        if by_digest is None and (repository, reference) in self._by_tag:
            return self._by_tag[(repository, reference)]  # asked twice in one run
        url = self._url(f"/v2/{repository}/manifests/{reference}")  # validated above
        hint_name = f"{self.host}/{repository}:{reference}"
        if by_digest is None and self.cache is not None:
            # A tag moves, its content does not. When this tag was fetched before and its
            # manifest is kept, ask which digest the tag names now (a HEAD, no body) and
            # use the kept manifest when it is the same content; on a first fetch, no HEAD.
            hint = self.cache.recall(hint_name)
            if hint is not None and self.cache.has("manifests", hint):
                now = self._head_digest(url, image)
                cached = self._cached_manifest(now) if now else None
                if cached is not None:
                    self._by_tag[(repository, reference)] = cached
                    return cached
        if by_digest is not None:
            cached = self._cached_manifest(by_digest)
            if cached is not None:
                return cached
        response = self._get(url, image, self.max_manifest_bytes, "manifest",
                             accept=", ".join(ACCEPT_MANIFESTS))
        body = response.body
        digest = "sha256:" + hashlib.sha256(body).hexdigest()
        claimed = (response.headers.get("Docker-Content-Digest") or "").strip()
        for expected, source in ((by_digest, "the reference"), (claimed, "the registry")):
            if expected and not _digest_matches(expected, body):
                raise RegistryError(self.host, image, f"manifest digest mismatch: {source} "
                                    f"says {expected}, the content is {digest}")
        if by_digest is not None:
            digest = by_digest
        data = self._json(body, image, "manifest")
        content_type = (response.headers.get("Content-Type") or "").split(";")[0].strip()
        media_type = _media_type(data, content_type)
        if media_type not in INDEX_TYPES and media_type not in IMAGE_TYPES:
            raise RegistryError(self.host, image,
                                f"unsupported manifest media type {media_type}")
        if self.cache is not None:  # kept under the digest of its content, checked above
            self.cache.put("manifests", digest, media_type.encode() + b"\n" + body)
            if by_digest is None:
                self.cache.remember(hint_name, digest)
        manifest = Manifest(media_type=media_type, digest=digest, body=body, data=data)
        if by_digest is None:
            self._by_tag[(repository, reference)] = manifest
        return manifest

    def referrers(self, repository: str, digest: str) -> list[dict[str, Any]]:
        """The OCI referrers of ``digest`` (distribution spec 1.1 referrers API); empty
        when the registry has none or does not implement the API (404)."""
        _check_repository(self.host, repository)
        if not _DIGEST.fullmatch(digest):
            raise RegistryError(self.host, repository, f"'{digest}' is not a digest")
        url = self._url(f"/v2/{repository}/referrers/{digest}")
        try:
            response = self._get(url, _image(repository, digest), self.max_manifest_bytes,
                                 "referrers", accept="application/vnd.oci.image.index.v1+json")
        except RegistryError as exc:
            if exc.not_found:
                return []
            raise
        found = self._json(response.body, _image(repository, digest), "referrers")
        manifests = found.get("manifests")
        return [m for m in manifests if isinstance(m, dict)] if isinstance(manifests, list) \
            else []

    def _head_digest(self, url: str, image: str) -> str | None:
        """The digest a tag names now, from a HEAD's ``Docker-Content-Digest``; None when
        the registry does not say or refuses the HEAD (the manifest is then fetched)."""
        try:
            response = self._get(url, image, self.max_manifest_bytes, "manifest",
                                 accept=", ".join(ACCEPT_MANIFESTS), head=True)
        except RegistryError:
            return None  # some registries refuse HEAD; the GET that follows decides
        claimed = (response.headers.get("Docker-Content-Digest") or "").strip()
        return claimed if _DIGEST.fullmatch(claimed) else None

    def _cached_manifest(self, digest: str) -> Manifest | None:
        if self.cache is None:
            return None
        entry = self.cache.get("manifests", digest, self.max_manifest_bytes)
        if entry is None:
            return None
        head, _, body = entry.partition(b"\n")
        try:
            data = json.loads(body)
            media_type = head.decode("ascii")
        except (ValueError, UnicodeDecodeError, RecursionError):
            return None
        if not isinstance(data, dict) or media_type not in INDEX_TYPES | IMAGE_TYPES:
            return None
        return Manifest(media_type=media_type, digest=digest, body=body, data=data)

    def config(self, repository: str, manifest: Manifest) -> dict[str, Any]:
        """The image config blob of an image manifest, its digest verified."""
        _check_repository(self.host, repository)
        digest = manifest.config_digest
        image = _image(repository, manifest.digest)
        if digest is None or not _DIGEST.fullmatch(digest):
            raise RegistryError(self.host, image, "manifest has no valid config digest")
        body = self.cache.get("blobs", digest, self.max_config_bytes) if self.cache \
            else None
        if body is None:
            url = self._url(f"/v2/{repository}/blobs/{digest}")
            body = self._get(url, image, self.max_config_bytes, "config").body
            if not _digest_matches(digest, body):
                actual = "sha256:" + hashlib.sha256(body).hexdigest()
                raise RegistryError(self.host, image, f"config digest mismatch: the "
                                    f"manifest says {digest}, the content is {actual}")
            config = self._json(body, image, "config")
            if self.cache is not None:
                self.cache.put("blobs", digest, body)
            return config
        return self._json(body, image, "config")


    # ------------------------------------------------------------ pagination

    def _next_page(self, response: _Response, page: list[str], page_size: int | None,
                   repository: str, linked: bool) -> str | None:
        link = response.headers.get("Link") or ""
        match = _LINK_NEXT.search(link)
        if match:
            target = urllib.parse.urljoin(response.url, match.group(1))
            if _origin(target) != _origin(response.url):
                raise RegistryError(self.host, repository,
                                    "tag list pagination points at another host")
            return target
        if page_size and len(page) == page_size and not linked:
            # Exactly a full page and no Link header: ask for what follows the last tag.
            # (More than a page means the registry ignored `n` and sent everything, as
            # distribution 2.x does.)
            return self._url(f"/v2/{repository}/tags/list",
                             {"n": str(page_size), "last": page[-1]})
        return None


def _media_type(data: dict[str, Any], content_type: str) -> str:
    media_type = data.get("mediaType")
    if isinstance(media_type, str) and media_type:
        return media_type
    return content_type or (OCI_INDEX if "manifests" in data else OCI_MANIFEST)


def _check_repository(host: str, repository: str) -> None:
    if not _REPOSITORY.fullmatch(repository):
        raise RegistryError(host, repository, "not a valid repository name")


def _image(repository: str, reference: str) -> str:
    return f"{repository}@{reference}" if ":" in reference else f"{repository}:{reference}"


# ================================================================ tag metadata


def _relevant(image: spec.Image, tags: Iterable[str]) -> list[str]:
    """The tags whose metadata :func:`choose` can look at: those passing allow/ignore, and
    for ``digest`` only the followed tag (Image Updater fetches no more)."""
    if image.strategy.kind == "digest":
        return [t for t in tags if t == image.strategy.tag]
    return filter_tags(tags, image.allow_tags, image.ignore_tags)


def tag_infos(client: RegistryClient, image: spec.Image,
              needs: set[str] | None = None, *, workers: int = 1) -> list[TagInfo]:
    """The image's tags as :class:`TagInfo`, with only the metadata ``needs`` names
    ("digest", "created", "platforms"; by default what :func:`needs_metadata` asks for).
    Tags :func:`choose` will drop before looking at metadata get none. ``workers``: how
    many tags' metadata to fetch at once."""
    if needs is None:
        needs = needs_metadata(image.strategy, image.platforms)
    names = client.tags(image.repository)
    if not needs:
        return [TagInfo(name) for name in names]
    relevant = set(_relevant(image, names))

    def info(name: str) -> TagInfo:
        if name not in relevant:
            return TagInfo(name)
        manifest = client.manifest(image.repository, name)
        digest = manifest.digest if "digest" in needs else None
        platforms: tuple[str, ...] | None = None
        created: datetime | None = None
        if manifest.is_index:
            if "platforms" in needs:
                platforms = manifest.platforms
            if "created" in needs:
                created = client.created(image.repository, manifest, image.platforms)
        elif "platforms" in needs or "created" in needs:
            config = client.config(image.repository, manifest)
            if "platforms" in needs:
                platform = _platform_text(config)
                platforms = (platform,) if platform else ()
            if "created" in needs:
                created = parse_created(config.get("created"))
        return TagInfo(name, digest=digest, created=created, platforms=platforms)

    if workers <= 1 or len(relevant) <= 1:
        return [info(name) for name in names]
    # Many tags need their manifest and config (newest_build, platforms): fetch them
    # concurrently. The host's gate, shared with the other images, still caps the requests
    # in flight; the order of the result is the registry's order of tags.
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=min(workers, len(relevant)),
                            thread_name_prefix="tags") as pool:
        return list(pool.map(info, names))
