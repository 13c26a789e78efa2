"""A real OCI registry for tests: Debian's ``docker-registry`` (distribution 2.8) on a free
loopback port, plus push helpers that speak the OCI distribution API over plain HTTP.

Nothing here mocks a registry; :class:`Registry` drives the real one the way a client like
``crane`` or ``docker push`` would (monolithic blob uploads, manifests PUT with their media
type).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable
from pathlib import Path

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"

BINARY = "docker-registry"
#: How long the registry may take to answer /v2/ after starting (a deadline, not a sleep).
START_DEADLINE = 30.0


class RegistryStartError(RuntimeError):
    pass


def available() -> bool:
    return shutil.which(BINARY) is not None


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def canonical(document: dict) -> bytes:
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


CONFIG_TEMPLATE = """\
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: {root}
  delete:
    enabled: true
  cache:
    blobdescriptor: inmemory
http:
  addr: 127.0.0.1:{port}
  headers:
    X-Content-Type-Options: [nosniff]
"""


class Registry:
    """A running ``docker-registry serve`` and plain-HTTP push helpers."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = Path(workdir)
        self.process: subprocess.Popen[bytes] | None = None
        self.port = 0
        self._log = None

    # ------------------------------------------------------------ lifecycle

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    def start(self, attempts: int = 3) -> Registry:
        binary = shutil.which(BINARY)
        if binary is None:
            raise RegistryStartError(f"{BINARY} is not installed")
        storage = self.workdir / "storage"
        storage.mkdir(parents=True, exist_ok=True)
        problem = ""
        for attempt in range(attempts):  # another process may take the port in between
            self.port = free_port()
            config = self.workdir / "config.yml"
            config.write_text(CONFIG_TEMPLATE.format(root=storage, port=self.port), "utf-8")
            log_path = self.workdir / f"registry-{attempt}.log"
            self._log = log_path.open("wb")
            self.process = subprocess.Popen(
                [binary, "serve", str(config)], stdout=self._log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL)
            try:
                self._wait_ready()
                return self
            except RegistryStartError as exc:
                problem = str(exc)
                self.stop()
                problem += ": " + log_path.read_text("utf-8", "replace")[-2000:]
        raise RegistryStartError(problem)

    def _wait_ready(self) -> None:
        assert self.process is not None
        deadline = time.monotonic() + START_DEADLINE
        while True:
            if self.process.poll() is not None:
                raise RegistryStartError(f"{BINARY} exited with {self.process.returncode}")
            try:
                with urllib.request.urlopen(self.url + "/v2/", timeout=2) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > deadline:
                raise RegistryStartError(f"{BINARY} did not answer /v2/ within "
                                         f"{START_DEADLINE:.0f}s")
            time.sleep(0.05)  # poll interval while waiting for the listener

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> Registry:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------ HTTP

    def request(self, method: str, path_or_url: str, body: bytes | None = None,
                headers: dict[str, str] | None = None):
        url = path_or_url if path_or_url.startswith("http") else self.url + path_or_url
        request = urllib.request.Request(url, data=body, method=method,
                                         headers=dict(headers or {}))
        return urllib.request.urlopen(request, timeout=30)

    # ------------------------------------------------------------ pushing

    def push_blob(self, repo: str, data: bytes) -> str:
        """Monolithic upload: POST an upload session, PUT the bytes with ?digest=."""
        digest = digest_of(data)
        with self.request("POST", f"/v2/{repo}/blobs/uploads/") as response:
            assert response.status == 202, response.status
            location = response.headers["Location"]
        location = urllib.parse.urljoin(self.url + "/", location)
        separator = "&" if "?" in location else "?"
        target = f"{location}{separator}digest={urllib.parse.quote(digest)}"
        with self.request("PUT", target, data, {
                "Content-Type": "application/octet-stream",
                "Content-Length": str(len(data))}) as response:
            assert response.status == 201, response.status
            assert response.headers["Docker-Content-Digest"] == digest
        return digest

    def push_manifest(self, repo: str, reference: str, body: bytes, media_type: str) -> str:
        with self.request("PUT", f"/v2/{repo}/manifests/{reference}", body,
                          {"Content-Type": media_type}) as response:
            assert response.status == 201, response.status
            digest = response.headers["Docker-Content-Digest"]
        assert digest == digest_of(body)
        return digest

    def image_manifest(self, repo: str, *, created: str, platform: str = "linux/amd64",
                       layer: bytes | None = None) -> tuple[bytes, dict]:
        """Push a config and one layer; the (not yet pushed) manifest body and config."""
        os_, arch, *variant = platform.split("/")
        config: dict = {"created": created, "architecture": arch, "os": os_,
                        "rootfs": {"type": "layers", "diff_ids": []},
                        "config": {}}
        if variant:
            config["variant"] = variant[0]
        layer = layer if layer is not None else f"layer {platform} {created}".encode()
        config["rootfs"]["diff_ids"] = [digest_of(layer)]
        config_body = canonical(config)
        config_digest = self.push_blob(repo, config_body)
        layer_digest = self.push_blob(repo, layer)
        manifest = {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": config_digest,
                       "size": len(config_body)},
            "layers": [{"mediaType": OCI_LAYER, "digest": layer_digest, "size": len(layer)}],
        }
        return canonical(manifest), config

    def push_image(self, repo: str, tag: str, *, created: str,
                   platform: str = "linux/amd64") -> str:
        """An image (config with ``created``, ``os``, ``architecture``, one small layer)
        tagged ``tag``; returns the manifest digest."""
        body, _ = self.image_manifest(repo, created=created, platform=platform)
        return self.push_manifest(repo, tag, body, OCI_MANIFEST)

    def push_index(self, repo: str, tag: str, platforms: list[str], created: str) -> str:
        """An OCI image index over one image per platform; returns the index digest."""
        entries = []
        for platform in platforms:
            body, _ = self.image_manifest(repo, created=created, platform=platform)
            digest = self.push_manifest(repo, digest_of(body), body, OCI_MANIFEST)
            os_, arch, *variant = platform.split("/")
            described: dict = {"os": os_, "architecture": arch}
            if variant:
                described["variant"] = variant[0]
            entries.append({"mediaType": OCI_MANIFEST, "digest": digest, "size": len(body),
                            "platform": described})
        index = canonical({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries})
        return self.push_manifest(repo, tag, index, OCI_INDEX)

    def tag_many(self, repo: str, tags: Iterable[str], *, created: str) -> str:
        """One image under many tags (the manifest PUT once per tag); its digest."""
        body, _ = self.image_manifest(repo, created=created)
        digest = ""
        for tag in tags:
            digest = self.push_manifest(repo, tag, body, OCI_MANIFEST)
        return digest

    def tag_count(self, repo: str) -> int:
        """How many tags the registry lists for ``repo`` in one unpaginated request."""
        with self.request("GET", f"/v2/{repo}/tags/list") as response:
            return len(json.loads(response.read()).get("tags") or [])
