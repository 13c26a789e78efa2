"""Write the quickstart's offline registry: an OCI image layout at examples/quickstart/oci/.

    python scripts/make_quickstart_layout.py [OUT]     # default: examples/quickstart/oci

The layout (``oci-layout``, ``index.json``, ``blobs/sha256/...``, per the OCI image-layout
specification) holds the two ghcr.io repositories examples/quickstart reads, under
multi-repository ref names (``example/shop-api:1.5.0``), so ``setlist resolve
examples/quickstart`` runs with no network. This script is the source of truth: the layout
is checked in, and tests/test_examples.py checks that it is byte for byte what this script
writes. Every run writes the same bytes (fixed dates, fixed tar headers, no compression).

What is in it, and what the quickstart's image rules make of it:

* ``example/shop-api`` (``semver("^1.4")``, platforms linux/amd64 and linux/arm64):
  1.4.0 … 1.5.0 are two-platform image indexes; 1.5.1 is built for linux/s390x only,
  so the platform filter passes over it (under "any listed platform" and "every listed
  platform" alike) and 1.5.0 is chosen; 1.3.9 and 2.0.0 are outside the constraint,
  1.5.1-debug and 2.0.0-rc.1 fail ``allow_tags``; ``latest`` is 2.0.0 again.
* ``example/shop-web`` (``newest_build``, ``allow_tags = /^main-[0-9a-f]{7}$/``): four
  ``main-<sha>`` builds whose newest is not the lexically last, and ``pr-57-d41e9b2``,
  newer still but not matching ``allow_tags``.

Blobs are tiny: each layer is an uncompressed tar holding one file, VERSION.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
import tarfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "examples" / "quickstart" / "oci"

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
REF_NAME = "org.opencontainers.image.ref.name"
CREATED = "org.opencontainers.image.created"
SOURCE = "org.opencontainers.image.source"

BOTH = ("linux/amd64", "linux/arm64")

# (repository, tag, build date, platforms; an alias names the tag it repeats).
# One platform: a plain image manifest; several: an image index of manifests.
API = "example/shop-api"
WEB = "example/shop-web"
IMAGES: list[tuple[str, str, str, tuple[str, ...]]] = [
    (API, "1.3.9", "2024-11-04T10:12:00Z", ("linux/amd64",)),
    (API, "1.4.0", "2025-01-13T09:30:00Z", BOTH),
    (API, "1.4.2", "2025-02-03T14:05:00Z", BOTH),
    (API, "1.4.3", "2025-02-20T11:47:00Z", BOTH),
    (API, "1.5.0", "2025-03-10T08:21:00Z", BOTH),
    (API, "1.5.1", "2025-03-18T16:02:00Z", ("linux/s390x",)),
    (API, "1.5.1-debug", "2025-03-18T16:09:00Z", BOTH),
    (API, "2.0.0-rc.1", "2025-03-24T12:00:00Z", BOTH),
    (API, "2.0.0", "2025-04-01T07:45:00Z", BOTH),
    (WEB, "main-f12d8e0", "2025-03-05T17:20:00Z", ("linux/amd64",)),
    (WEB, "main-3f9c2ab", "2025-03-12T10:02:00Z", ("linux/amd64",)),
    (WEB, "main-a41c9e7", "2025-03-19T13:44:00Z", ("linux/amd64",)),
    (WEB, "main-0b7e1d4", "2025-03-26T09:15:00Z", ("linux/amd64",)),
    (WEB, "pr-57-d41e9b2", "2025-03-27T18:30:00Z", ("linux/amd64",)),
]
ALIASES: list[tuple[str, str, str]] = [(API, "latest", "2.0.0")]


def canonical(value: object) -> bytes:
    """JSON as the blobs hold it: compact, keys in the order written here."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def layer_tar(text: str) -> bytes:
    """An uncompressed tar of one file, VERSION, with fixed metadata: a header, the data
    padded to 512 bytes, and the two zero blocks that end an archive."""
    data = text.encode()
    info = tarfile.TarInfo("VERSION")
    info.size = len(data)
    info.mtime = 0
    info.mode = 0o644
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    header = info.tobuf(format=tarfile.USTAR_FORMAT, encoding="utf-8", errors="strict")
    padding = -len(data) % tarfile.BLOCKSIZE
    return header + data + b"\0" * padding + b"\0" * (2 * tarfile.BLOCKSIZE)


class Builder:
    """Blobs by digest, and the tagged entries of index.json."""

    def __init__(self) -> None:
        self.blobs: dict[str, bytes] = {}
        self.refs: list[dict[str, object]] = []

    def blob(self, data: bytes, media_type: str) -> dict[str, object]:
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        self.blobs[digest] = data
        return {"mediaType": media_type, "digest": digest, "size": len(data)}

    def image(self, repository: str, tag: str, created: str, platform: str,
              layer: dict[str, object]) -> dict[str, object]:
        """An image manifest (and its config) for one platform."""
        os_, arch = platform.split("/")
        config = {
            "created": created,
            "architecture": arch,
            "os": os_,
            "config": {
                "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
                "Entrypoint": [f"/app/{repository.rsplit('/', 1)[1]}"],
                "WorkingDir": "/app",
                "Labels": {"org.opencontainers.image.version": tag},
            },
            "rootfs": {"type": "layers", "diff_ids": [layer["digest"]]},
            "history": [{"created": created, "created_by": "COPY VERSION /VERSION"}],
        }
        manifest = {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": self.blob(canonical(config), OCI_CONFIG),
            "layers": [layer],
            "annotations": {CREATED: created, SOURCE: f"https://github.com/{repository}"},
        }
        return self.blob(canonical(manifest), OCI_MANIFEST)

    def tagged(self, repository: str, tag: str, created: str,
               platforms: tuple[str, ...]) -> dict[str, object]:
        layer = self.blob(layer_tar(f"{repository} {tag}\n"), OCI_LAYER)
        images = [self.image(repository, tag, created, p, layer) for p in platforms]
        if len(images) == 1:
            return images[0]
        manifests = []
        for platform, image in zip(platforms, images, strict=True):
            os_, arch = platform.split("/")
            manifests.append({**image, "platform": {"architecture": arch, "os": os_}})
        index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests,
                 "annotations": {CREATED: created}}
        return self.blob(canonical(index), OCI_INDEX)

    def ref(self, descriptor: dict[str, object], repository: str, tag: str) -> None:
        self.refs.append({**descriptor, "annotations": {REF_NAME: f"{repository}:{tag}"}})


def build() -> dict[str, bytes]:
    """The layout's files: relative path → bytes."""
    builder = Builder()
    by_tag: dict[tuple[str, str], dict[str, object]] = {}
    for repository, tag, created, platforms in IMAGES:
        descriptor = builder.tagged(repository, tag, created, platforms)
        by_tag[(repository, tag)] = descriptor
        builder.ref(descriptor, repository, tag)
    for repository, tag, target in ALIASES:
        builder.ref(by_tag[(repository, target)], repository, tag)
    index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": builder.refs}
    files = {
        "oci-layout": canonical({"imageLayoutVersion": "1.0.0"}),
        "index.json": (json.dumps(index, indent=2) + "\n").encode(),
    }
    for digest, data in sorted(builder.blobs.items()):
        algorithm, _, hexdigest = digest.partition(":")
        files[f"blobs/{algorithm}/{hexdigest}"] = data
    return files


def write(out: Path) -> dict[str, bytes]:
    """Replace ``out`` with the layout (``out`` must be absent, empty, or a layout)."""
    if out.exists():
        if not out.is_dir() or (any(out.iterdir()) and not (out / "oci-layout").is_file()):
            raise SystemExit(f"{out} exists and is not an OCI image layout; not replacing it")
        shutil.rmtree(out)
    files = build()
    for name, data in files.items():
        path = out / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return files


def main(argv: list[str]) -> int:
    if len(argv) > 1 or (argv and argv[0].startswith("-")):
        print("usage: python scripts/make_quickstart_layout.py [OUT]", file=sys.stderr)
        return 2
    out = Path(argv[0]) if argv else DEFAULT_OUT
    files = write(out)
    size = sum(len(data) for data in files.values())
    print(f"wrote {out}: {len(files)} files, {size} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
