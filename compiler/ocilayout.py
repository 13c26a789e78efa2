"""An offline registry: an OCI image layout folder, read like a registry.

A registry declared with ``layout = "path"`` is not contacted: :mod:`setlist.resolve`
reads its images from an OCI image layout (the OCI image-layout specification, as written
by ``skopeo copy ... oci:DIR:REF``, ``oras copy --to-oci-layout``, ``docker buildx build
--output type=oci`` unpacked, or ``regctl image export``):

* ``oci-layout``: ``{"imageLayoutVersion": "1.0.0"}`` (major version 1 is accepted);
* ``index.json``: an image index whose ``manifests`` are the tagged images; each one's
  ``org.opencontainers.image.ref.name`` annotation names it (entries without one are
  not tagged, and cannot be chosen by tag);
* ``blobs/<algorithm>/<hex>``: every manifest, index and config, named by its digest.

How a ref name maps to a repository and a tag:

* ``TAG`` (``1.4.3``; a layout per repository, skopeo's ``oci:DIR:TAG``): the tag
  belongs to whichever repository is asked for — such a layout holds one repository;
* ``REPOSITORY:TAG`` (a colon after the last ``/``: ``example/api:1.4.3`` or
  ``ghcr.io/example/api:1.4.3``): the tag belongs to that repository only; a leading
  registry host (the part before the first ``/`` when it has a ``.`` or ``:`` or is
  ``localhost``) is ignored, so one layout can hold several repositories.

Ref names that are neither (a digest, an invalid tag) are skipped. A tag named twice for
one repository with different digests is an error.

:class:`LayoutClient` has the public methods of :class:`setlist.registry.RegistryClient`
that resolution uses (``tags``, ``manifest``, ``config``, ``created``,
``image_platform``), so :func:`setlist.registry.tag_infos` takes it as it is. Every
blob is verified against its digest (and its descriptor's size, when index.json gives
one) before it is trusted. Every failure is a :class:`setlist.registry.RegistryError`
whose reason names the layout folder.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path
from typing import Any

from .registry import (
    DOCKER_MANIFEST,
    DOCKER_MANIFEST_LIST,
    MAX_CONFIG_BYTES,
    MAX_MANIFEST_BYTES,
    OCI_INDEX,
    OCI_MANIFEST,
    ImageMetadata,
    Manifest,
    RegistryError,
)

__all__ = ["LAYOUT_FILE", "REF_NAME", "LayoutClient"]

REF_NAME = "org.opencontainers.image.ref.name"
LAYOUT_FILE = "oci-layout"
#: index.json is read whole; a layout with more tags than fit here is refused.
MAX_INDEX_BYTES = 16 * 1024 * 1024

_REPOSITORY = re.compile(
    r"[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*")
_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,127}")
_DIGEST = re.compile(r"(sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128})")
_HASHES = {"sha256": hashlib.sha256, "sha512": hashlib.sha512}
_MEDIA_TYPES = frozenset({OCI_INDEX, OCI_MANIFEST, DOCKER_MANIFEST_LIST, DOCKER_MANIFEST})


def split_ref_name(name: str) -> tuple[str | None, str] | None:
    """A ref name as (repository or None for "any", tag); None when it names no tag."""
    repository: str | None = None
    tag = name
    slash = name.rfind("/")
    colon = name.rfind(":")
    if colon > slash:
        repository, tag = name[:colon], name[colon + 1:]
        first, _, rest = repository.partition("/")
        if rest and ("." in first or ":" in first or first == "localhost"):
            repository = rest
        if not _REPOSITORY.fullmatch(repository):
            return None
    elif slash >= 0:
        return None  # a path without a tag
    if not _TAG.fullmatch(tag):
        return None
    return repository, tag


class LayoutClient(ImageMetadata):
    """Reads one OCI image layout folder. ``host`` is the registry host the spec knows the
    images by (it is the ``registry`` of every :class:`RegistryError`)."""

    def __init__(self, path: str | os.PathLike[str], *, host: str | None = None,
                 max_manifest_bytes: int = MAX_MANIFEST_BYTES,
                 max_config_bytes: int = MAX_CONFIG_BYTES) -> None:
        self.path = Path(path)
        self.host = host or os.fspath(self.path)
        self.max_manifest_bytes = max_manifest_bytes
        self.max_config_bytes = max_config_bytes
        self._refs: list[tuple[str | None, str, dict[str, Any]]] | None = None

    def __repr__(self) -> str:
        return f"LayoutClient({os.fspath(self.path)!r})"

    # ------------------------------------------------------------ public API

    def tags(self, repository: str) -> list[str]:
        """The repository's tags, in index.json order, each once."""
        self._check_repository(repository)
        tags: list[str] = []
        for _, tag, _ in self._entries(repository):
            if tag not in tags:
                tags.append(tag)
        if not tags:
            raise RegistryError(self.host, repository, self._why(
                f"repository {repository} not found (no ref name in index.json names it)"),
                not_found=True)
        return tags

    def manifest(self, repository: str, reference: str) -> Manifest:
        """The manifest or index a tag (from index.json) or a digest (any blob) names,
        its content checked against the digest."""
        self._check_repository(repository)
        image = _image(repository, reference)
        descriptor: dict[str, Any] = {}
        if _DIGEST.fullmatch(reference):
            digest = reference
        elif _TAG.fullmatch(reference):
            found = [d for _, tag, d in self._entries(repository) if tag == reference]
            if not found:
                raise RegistryError(self.host, image, self._why(
                    f"tag {reference} not found in index.json"), not_found=True)
            descriptor = found[0]
            digest = descriptor["digest"]
        else:
            raise RegistryError(self.host, repository, f"'{reference}' is not a valid tag "
                                "or digest")
        body = self._blob(digest, image, "manifest", self.max_manifest_bytes,
                          descriptor.get("size"))
        data = self._json(body, image, f"manifest {digest}")
        media_type = data.get("mediaType")
        if not isinstance(media_type, str) or not media_type:
            media_type = descriptor.get("mediaType")
        if not isinstance(media_type, str) or not media_type:
            media_type = OCI_INDEX if "manifests" in data else OCI_MANIFEST
        if media_type not in _MEDIA_TYPES:
            raise RegistryError(self.host, image, self._why(
                f"unsupported manifest media type {media_type}"))
        return Manifest(media_type=media_type, digest=digest, body=body, data=data)

    def config(self, repository: str, manifest: Manifest) -> dict[str, Any]:
        """The image config blob of an image manifest, its digest verified."""
        self._check_repository(repository)
        image = _image(repository, manifest.digest)
        digest = manifest.config_digest
        if digest is None or not _DIGEST.fullmatch(digest):
            raise RegistryError(self.host, image, self._why(
                "manifest has no valid config digest"))
        size = manifest.data.get("config", {}).get("size")
        body = self._blob(digest, image, "config", self.max_config_bytes, size)
        return self._json(body, image, f"config {digest}")

    def _why(self, reason: str) -> str:
        return f"OCI layout {os.fspath(self.path)}: {reason}"

    def _check_repository(self, repository: str) -> None:
        if not _REPOSITORY.fullmatch(repository):
            raise RegistryError(self.host, repository, "not a valid repository name")

    def _entries(self, repository: str) -> list[tuple[str | None, str, dict[str, Any]]]:
        """(repository or None, tag, descriptor) of index.json's tagged entries for
        ``repository``; a tag named twice with different digests is an error."""
        if self._refs is None:
            self._refs = self._read_index()
        out: list[tuple[str | None, str, dict[str, Any]]] = []
        seen: dict[str, str] = {}
        for repo, tag, descriptor in self._refs:
            if repo is not None and repo != repository:
                continue
            previous = seen.setdefault(tag, descriptor["digest"])
            if previous != descriptor["digest"]:
                raise RegistryError(self.host, _image(repository, tag), self._why(
                    f"tag {tag} names both {previous} and {descriptor['digest']} in "
                    "index.json"))
            out.append((repo, tag, descriptor))
        return out

    def _read_index(self) -> list[tuple[str | None, str, dict[str, Any]]]:
        if not self.path.is_dir():
            what = "is not a folder" if self.path.exists() else "does not exist"
            raise RegistryError(self.host, None, f"OCI layout folder {os.fspath(self.path)} "
                                f"{what}")
        marker = self._json(self._file(self.path / LAYOUT_FILE, 64 * 1024), None, LAYOUT_FILE)
        version = marker.get("imageLayoutVersion")
        if not isinstance(version, str) or version.split(".")[0] != "1":
            raise RegistryError(self.host, None, self._why(
                f"{LAYOUT_FILE} has imageLayoutVersion {version!r}, not 1.x"))
        index = self._json(self._file(self.path / "index.json", MAX_INDEX_BYTES), None,
                           "index.json")
        manifests = index.get("manifests")
        if not isinstance(manifests, list):
            raise RegistryError(self.host, None, self._why("index.json has no manifests list"))
        refs: list[tuple[str | None, str, dict[str, Any]]] = []
        for entry in manifests:
            if not isinstance(entry, dict):
                raise RegistryError(self.host, None, self._why(
                    "index.json has a manifest entry that is not an object"))
            annotations = entry.get("annotations")
            name = annotations.get(REF_NAME) if isinstance(annotations, dict) else None
            parsed = split_ref_name(name) if isinstance(name, str) else None
            if parsed is None:
                continue
            digest = entry.get("digest")
            if not isinstance(digest, str) or not _DIGEST.fullmatch(digest):
                raise RegistryError(self.host, None, self._why(
                    f"index.json entry {name} has no valid digest"))
            refs.append((parsed[0], parsed[1], entry))
        return refs

    def _file(self, path: Path, limit: int, image: str | None = None,
              label: str | None = None) -> bytes:
        """A file of the layout, at most ``limit`` bytes; ``label`` names it in errors
        (default: its path in the layout)."""
        label = label or path.relative_to(self.path).as_posix()
        try:
            with path.open("rb") as handle:
                body = handle.read(limit + 1)
        except FileNotFoundError:
            raise RegistryError(self.host, image, self._why(f"{label} is missing")) from None
        except OSError as exc:
            raise RegistryError(self.host, image, self._why(
                f"{label} cannot be read ({exc.strerror or exc})")) from None
        if len(body) > limit:
            raise RegistryError(self.host, image, self._why(
                f"{label} is larger than {limit} bytes"))
        return body

    def _blob(self, digest: str, image: str, what: str, limit: int, size: Any) -> bytes:
        algorithm, _, hexdigest = digest.partition(":")
        path = self.path / "blobs" / algorithm / hexdigest
        body = self._file(path, limit, image, f"{what} blob {digest}")
        actual = f"{algorithm}:{_HASHES[algorithm](body).hexdigest()}"
        if actual != digest:
            raise RegistryError(self.host, image, self._why(
                f"{what} digest mismatch: blob {digest} has content {actual}"))
        if isinstance(size, int) and not isinstance(size, bool) and size != len(body):
            raise RegistryError(self.host, image, self._why(
                f"{what} blob {digest} is {len(body)} bytes, its descriptor says {size}"))
        return body

    def _json(self, body: bytes, image: str | None, what: str) -> dict[str, Any]:
        try:
            data = json.loads(body)
        except (ValueError, UnicodeDecodeError, RecursionError):
            raise RegistryError(self.host, image, self._why(
                f"{what} is not valid JSON (or nests too deeply)")) from None
        if not isinstance(data, dict):
            raise RegistryError(self.host, image, self._why(f"{what} is not a JSON object"))
        return data


def _image(repository: str, reference: str) -> str:
    return f"{repository}@{reference}" if ":" in reference else f"{repository}:{reference}"
