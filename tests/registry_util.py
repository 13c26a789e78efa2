"""A real OCI registry for tests: Debian's ``docker-registry`` (distribution 2.8) on a free
loopback port, plus push helpers that speak the OCI distribution API over plain HTTP, or
over HTTPS with a throwaway CA (:func:`make_tls`, made with the ``openssl`` CLI) and behind
htpasswd basic authentication (:func:`htpasswd_line`, bcrypt hashes).

Nothing here mocks a registry; :class:`Registry` drives the real one the way a client like
``crane`` or ``docker push`` would (monolithic blob uploads, manifests PUT with their media
type).
"""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass
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

TLS_TEMPLATE = """\
  tls:
    certificate: {certificate}
    key: {key}
"""

AUTH_TEMPLATE = """\
auth:
  htpasswd:
    realm: {realm}
    path: {path}
"""

OPENSSL = "openssl"
HTPASSWD = "htpasswd"


# ---------------------------------------------------------------- TLS material


@dataclass(frozen=True)
class TLSFiles:
    """A throwaway CA and a server certificate for ``localhost`` and ``127.0.0.1``
    signed by it (PEM files)."""

    ca: Path
    certificate: Path
    key: Path


def _openssl(*args: str, cwd: Path) -> None:
    binary = shutil.which(OPENSSL)
    if binary is None:
        raise RegistryStartError(f"{OPENSSL} is not installed")
    result = subprocess.run([binary, *args], cwd=cwd, capture_output=True, text=True,
                            stdin=subprocess.DEVNULL)
    if result.returncode != 0:
        raise RegistryStartError(f"openssl {args[0]} failed: {result.stderr[-1000:]}")


def make_tls(folder: Path, names: tuple[str, ...] = ("localhost",),
             addresses: tuple[str, ...] = ("127.0.0.1", "::1")) -> TLSFiles:
    """A CA (``ca.pem``) and a server key and certificate (``server-key.pem``,
    ``server.pem``) for ``names`` and ``addresses``, in ``folder``; EC P-256 keys, valid
    for a day. The CA's key stays in the folder and is used for nothing else."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
             "-nodes", "-keyout", "ca-key.pem", "-out", "ca.pem", "-days", "1",
             "-subj", "/CN=Setlist test CA",
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign",
             "-addext", "subjectKeyIdentifier=hash", cwd=folder)
    _openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
             "-nodes", "-keyout", "server-key.pem", "-out", "server.csr",
             "-subj", "/CN=localhost", cwd=folder)
    alt = ",".join([f"DNS:{n}" for n in names] + [f"IP:{a}" for a in addresses])
    (folder / "server.ext").write_text(
        "basicConstraints=critical,CA:FALSE\n"
        "keyUsage=critical,digitalSignature\n"
        "extendedKeyUsage=serverAuth\n"
        "subjectKeyIdentifier=hash\n"
        "authorityKeyIdentifier=keyid,issuer\n"
        f"subjectAltName={alt}\n", "utf-8")
    _openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca-key.pem",
             "-CAcreateserial", "-days", "1", "-sha256", "-extfile", "server.ext",
             "-out", "server.pem", cwd=folder)
    return TLSFiles(ca=folder / "ca.pem", certificate=folder / "server.pem",
                    key=folder / "server-key.pem")


# ---------------------------------------------------------------- htpasswd


def can_hash_passwords() -> bool:
    """docker-registry reads bcrypt entries only: ``htpasswd -B`` (apache2-utils) or the
    ``bcrypt`` package make them; Python's ``crypt`` cannot."""
    if shutil.which(HTPASSWD):
        return True
    try:
        import bcrypt  # noqa: F401
    except ImportError:
        return False
    return True


def htpasswd_line(user: str, password: str) -> str:
    """One htpasswd entry ``user:$2…`` with a bcrypt hash (cost 4: a test, not a vault)."""
    binary = shutil.which(HTPASSWD)
    if binary is not None:
        result = subprocess.run([binary, "-n", "-i", "-B", "-C", "4", user],
                                input=password, capture_output=True, text=True, check=True)
        return result.stdout.strip()
    import bcrypt

    hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4)).decode("ascii")
    return f"{user}:{hashed}"


@dataclass(frozen=True)
class Account:
    user: str
    password: str

    @property
    def basic(self) -> str:
        raw = f"{self.user}:{self.password}".encode()
        return "Basic " + base64.b64encode(raw).decode("ascii")


class Registry:
    """A running ``docker-registry serve`` and push helpers: plain HTTP, or HTTPS when
    ``tls`` is given; with ``account`` too, it wants that user's password (htpasswd basic
    auth, which docker-registry serves over TLS), and the helpers send it."""

    def __init__(self, workdir: Path, *, tls: TLSFiles | None = None,
                 account: Account | None = None) -> None:
        if account is not None and tls is None:
            raise ValueError("htpasswd authentication needs TLS")
        self.workdir = Path(workdir)
        self.tls = tls
        self.account = account
        self.process: subprocess.Popen[bytes] | None = None
        self.port = 0
        self._log = None
        self._context = ssl.create_default_context(cafile=str(tls.ca)) if tls else None

    # ------------------------------------------------------------ lifecycle

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def localhost(self) -> str:
        """The same registry by name (the certificate names ``localhost`` too)."""
        return f"localhost:{self.port}"

    @property
    def scheme(self) -> str:
        return "https" if self.tls is not None else "http"

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host}"

    def _config(self, storage: Path) -> str:
        text = CONFIG_TEMPLATE.format(root=storage, port=self.port)
        if self.tls is not None:
            text += TLS_TEMPLATE.format(certificate=self.tls.certificate, key=self.tls.key)
        if self.account is not None:
            path = self.workdir / "htpasswd"
            path.write_text(htpasswd_line(self.account.user, self.account.password) + "\n",
                            "utf-8")
            text += AUTH_TEMPLATE.format(realm="setlist-test", path=path)
        return text

    def start(self, attempts: int = 3, *, port: int | None = None) -> Registry:
        """Start serving (``port``: this one, as a registry coming back after a crash;
        default a free one)."""
        binary = shutil.which(BINARY)
        if binary is None:
            raise RegistryStartError(f"{BINARY} is not installed")
        storage = self.workdir / "storage"
        storage.mkdir(parents=True, exist_ok=True)
        problem = ""
        for attempt in range(attempts):  # another process may take the port in between
            self.port = port or free_port()
            config = self.workdir / "config.yml"
            config.write_text(self._config(storage), "utf-8")
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
                with self.request("GET", "/v2/", timeout=2) as response:
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
                headers: dict[str, str] | None = None, *, timeout: float = 30):
        """One request (the CA trusted, the account's password sent when there is one)."""
        url = path_or_url if path_or_url.startswith("http") else self.url + path_or_url
        headers = dict(headers or {})
        if self.account is not None:
            headers["Authorization"] = self.account.basic
        request = urllib.request.Request(url, data=body, method=method, headers=headers)
        return urllib.request.urlopen(request, timeout=timeout, context=self._context)

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
