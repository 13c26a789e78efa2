"""The real registry (Debian's docker-registry, distribution 2.8) behind token
authentication, with a small token issuer of our own on loopback.

The registry is configured with ``auth: token:`` (``realm``, ``service``, ``issuer``,
``rootcertbundle``); it answers unauthenticated requests with a ``Bearer`` challenge and
accepts only JWTs that the issuer signed. The issuer (:class:`TokenIssuer`, a threaded
``http.server``) speaks both halves of the distribution token protocol:

* ``GET /token?service=…&scope=…`` with Basic authentication (a valid user gets the
  actions the scope asked for; no ``Authorization`` gets a token granting nothing; a wrong
  password gets 401);
* ``POST /token`` (``application/x-www-form-urlencoded``, OAuth2): ``grant_type=refresh_token``
  with a refresh token it issued (an identity token, as ``docker login`` keeps one), or
  ``grant_type=password``; it answers ``{"access_token", "expires_in", "scope", …}``. With
  ``oauth = False`` it answers POSTs with 404, as older token services do.

Tokens are ES256 JWTs whose header carries the signing certificate in ``x5c``; the
registry checks it against ``rootcertbundle`` (the same self-signed certificate). The
issuer counts what it was asked (:attr:`TokenIssuer.counts`) so tests can tell which
flow ran. Keys and certificates come from the ``cryptography`` package.
"""

from __future__ import annotations

import base64
import datetime
import json
import os
import re
import secrets
import sys
import threading
import time
import urllib.parse
from collections import Counter
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from registry_util import Account, Registry, TLSFiles

SERVICE = "setlist-test-registry"
ISSUER = "setlist-test-issuer"
#: Seconds an access token lives.
TOKEN_LIFETIME = 300
ACTIONS = ("pull", "push")

TOKEN_AUTH_TEMPLATE = """\
auth:
  token:
    realm: {realm}
    service: {service}
    issuer: {issuer}
    rootcertbundle: {bundle}
"""


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _json_b64(value: dict) -> str:
    return _b64url(json.dumps(value, separators=(",", ":")).encode())


@dataclass(frozen=True)
class SigningKey:
    """An EC P-256 key and a self-signed certificate for it (PEM on disk as
    ``certificate``, the registry's ``rootcertbundle``)."""

    key: object
    der: bytes
    certificate: Path

    @classmethod
    def create(cls, folder: Path) -> SigningKey:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID

        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Setlist test token issuer")])
        now = datetime.datetime.now(datetime.UTC)
        certificate = (
            x509.CertificateBuilder()
            .subject_name(name).issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=True,
                crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
            .sign(key, hashes.SHA256()))
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / "token-signer.pem"
        path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
        return cls(key=key, der=certificate.public_bytes(serialization.Encoding.DER),
                   certificate=path)

    def sign(self, claims: dict) -> str:
        """A compact JWS (ES256: the signature is r || s, 32 bytes each)."""
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

        header = {"typ": "JWT", "alg": "ES256",
                  "x5c": [base64.b64encode(self.der).decode("ascii")]}
        signing_input = f"{_json_b64(header)}.{_json_b64(claims)}"
        der = self.key.sign(signing_input.encode("ascii"), ec.ECDSA(hashes.SHA256()))
        r, s = decode_dss_signature(der)
        return f"{signing_input}.{_b64url(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"


def parse_scopes(values: list[str]) -> list[tuple[str, str, list[str]]]:
    """``repository:NAME:ACTIONS`` scopes (one or more per value, space separated) as
    (type, name, actions); anything else is ignored."""
    found = []
    for value in values:
        for scope in value.split():
            match = re.fullmatch(r"(repository):([^:]+):([a-z*,]+)", scope)
            if match:
                found.append((match[1], match[2], match[3].split(",")))
    return found


class TokenIssuer:
    """The realm: issues JWTs for ``users`` (name → password) and for the refresh tokens
    it handed out (:meth:`identity_token`). ``counts`` holds, per kind of request, how many
    were answered: ``get-basic``, ``get-anonymous``, ``get-refused``, ``refresh``,
    ``refresh-refused``, ``password``, ``post-404``, ``post-refused``. ``client_ids`` the
    ``client_id`` of every POST, ``scopes`` every scope asked for."""

    def __init__(self, signer: SigningKey, users: dict[str, str]) -> None:
        self.signer = signer
        self.users = dict(users)
        self.refresh_tokens: dict[str, str] = {}
        self.counts: Counter[str] = Counter()
        self.client_ids: list[str] = []
        self.scopes: list[str] = []
        self.oauth = True
        self._lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                owner._get(self)

            def do_POST(self) -> None:  # noqa: N802
                owner._post(self)

            def log_message(self, *args) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def realm(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/token"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()

    def reset(self) -> None:
        with self._lock:
            self.counts.clear()
            self.client_ids.clear()
            self.scopes.clear()
        self.oauth = True

    def _count(self, kind: str) -> None:
        with self._lock:
            self.counts[kind] += 1

    # ------------------------------------------------------------ tokens

    def identity_token(self, user: str) -> str:
        """A refresh token for ``user``, as the token service hands one to
        ``docker login``."""
        token = "rt-" + secrets.token_urlsafe(24)
        with self._lock:
            self.refresh_tokens[token] = user
        return token

    def token(self, user: str | None, scopes: list[str], service: str = SERVICE) -> str:
        """A JWT for ``service`` granting ``user`` the actions the scopes ask for (of pull
        and push); nothing for no user."""
        now = int(time.time())
        access = []
        if user is not None:
            for kind, name, actions in parse_scopes(scopes):
                granted = [a for a in actions if a in ACTIONS]
                if "*" in actions:
                    granted = list(ACTIONS)
                if granted:
                    access.append({"type": kind, "name": name, "actions": granted})
        claims = {"iss": ISSUER, "sub": user or "", "aud": service, "exp": now + TOKEN_LIFETIME,
                  "nbf": now - 10, "iat": now, "jti": secrets.token_hex(12), "access": access}
        return self.signer.sign(claims)

    # ------------------------------------------------------------ HTTP

    def _reply(self, handler: BaseHTTPRequestHandler, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    def _basic_user(self, header: str | None) -> tuple[str | None, bool]:
        """(user, whether the header was present); user None when absent or wrong."""
        if not header:
            return None, False
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "basic":
            return None, True
        try:
            user, _, password = base64.b64decode(value).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return None, True
        if self.users.get(user) != password or not password:
            return None, True
        return user, True

    def _get(self, handler: BaseHTTPRequestHandler) -> None:
        url = urllib.parse.urlsplit(handler.path)
        query = urllib.parse.parse_qs(url.query)
        if url.path != "/token":
            return self._reply(handler, 404, {"error": "not_found"})
        scopes = query.get("scope", [])
        with self._lock:
            self.scopes.extend(scopes)
        user, offered = self._basic_user(handler.headers.get("Authorization"))
        if offered and user is None:
            self._count("get-refused")
            return self._reply(handler, 401, {"errors": [{"code": "UNAUTHORIZED",
                                                          "message": "bad credentials"}]})
        self._count("get-basic" if user else "get-anonymous")
        token = self.token(user, scopes, query.get("service", [SERVICE])[0])
        self._reply(handler, 200, {"token": token, "access_token": token,
                                   "expires_in": TOKEN_LIFETIME})

    def _post(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length).decode("utf-8", "replace")
        if urllib.parse.urlsplit(handler.path).path != "/token":
            return self._reply(handler, 404, {"error": "not_found"})
        if not self.oauth:
            self._count("post-404")
            return self._reply(handler, 404, {"errors": [{"code": "NOT_FOUND",
                                                          "message": "no OAuth2 here"}]})
        form = urllib.parse.parse_qs(body)
        field = {k: v[0] for k, v in form.items()}
        scopes = form.get("scope", [])
        with self._lock:
            self.client_ids.append(field.get("client_id", ""))
            self.scopes.extend(scopes)
        if handler.headers.get("Content-Type", "").split(";")[0] != \
                "application/x-www-form-urlencoded" or not field.get("client_id"):
            self._count("post-refused")
            return self._reply(handler, 400, {"error": "invalid_request"})
        grant = field.get("grant_type")
        user = None
        if grant == "refresh_token":
            user = self.refresh_tokens.get(field.get("refresh_token", ""))
            kind = "refresh"
        elif grant == "password":
            name = field.get("username", "")
            user = name if self.users.get(name) == field.get("password") else None
            kind = "password"
        else:
            self._count("post-refused")
            return self._reply(handler, 400, {"error": "unsupported_grant_type"})
        if user is None:
            self._count(f"{kind}-refused")
            # Echo the grant back, as a careless server might: clients must scrub it.
            return self._reply(handler, 401, {"error": "invalid_grant",
                                              "error_description": f"rejected {body}"})
        self._count(kind)
        token = self.token(user, scopes, field.get("service", SERVICE))
        self._reply(handler, 200, {"access_token": token, "expires_in": TOKEN_LIFETIME,
                                   "scope": " ".join(scopes),
                                   "issued_at": datetime.datetime.now(datetime.UTC)
                                   .strftime("%Y-%m-%dT%H:%M:%SZ")})


class TokenRegistry(Registry):
    """docker-registry with ``auth: token`` pointing at :attr:`issuer`; the push helpers
    fetch a token for the repository they write from the issuer directly. Plain HTTP on
    loopback unless ``tls`` is given."""

    def __init__(self, workdir: Path, issuer: TokenIssuer, account: Account, *,
                 tls: TLSFiles | None = None) -> None:
        super().__init__(workdir, tls=tls)
        self.issuer = issuer
        self.token_account = account

    def _config(self, storage: Path) -> str:
        return super()._config(storage) + TOKEN_AUTH_TEMPLATE.format(
            realm=self.issuer.realm, service=SERVICE, issuer=ISSUER,
            bundle=self.issuer.signer.certificate)

    def request(self, method: str, path_or_url: str, body: bytes | None = None,
                headers: dict[str, str] | None = None, *, timeout: float = 30):
        import urllib.request

        url = path_or_url if path_or_url.startswith("http") else self.url + path_or_url
        path = urllib.parse.urlsplit(url).path
        match = re.match(r"/v2/(.+?)/(?:blobs|manifests|tags)/", path)
        scopes = [f"repository:{match[1]}:pull,push"] if match else []
        token = self.issuer.token(self.token_account.user, scopes)
        headers = {**(headers or {}), "Authorization": f"Bearer {token}"}
        request = urllib.request.Request(url, data=body, method=method, headers=headers)
        return urllib.request.urlopen(request, timeout=timeout, context=self._context)


def start(workdir: Path, *, tls: TLSFiles | None = None) -> TokenRegistry:
    """An issuer with one user (``setlist``, a random password) and the registry using
    it, started; raises :class:`registry_util.RegistryStartError` when the registry does
    not start (the issuer is closed then)."""
    workdir = Path(workdir)
    account = Account("setlist", "pw-" + secrets.token_urlsafe(18))
    issuer = TokenIssuer(SigningKey.create(workdir / "signer"), {account.user: account.password})
    server = TokenRegistry(workdir / "registry", issuer, account, tls=tls)
    try:
        server.start()
    except BaseException:
        issuer.close()
        raise
    return server


def stop(server: TokenRegistry) -> None:
    server.stop()
    server.issuer.close()


# ---------------------------------------------------------------- credential helpers

HELPER_SCRIPT = """\
#!{python}
import json, os, sys, time
here = {folder!r}
server = sys.stdin.read()
with open(os.path.join(here, "{name}.log"), "a", encoding="utf-8") as log:
    log.write(json.dumps({{"argv": sys.argv[1:], "stdin": server,
                          "env": sorted(os.environ)}}) + "\\n")
with open(os.path.join(here, "{name}.json"), encoding="utf-8") as plan_file:
    plan = json.load(plan_file)
sys.stdout.write(plan.get("stdout", ""))
sys.stdout.flush()
time.sleep(plan.get("sleep", 0))
sys.exit(plan.get("exit", 0))
"""


class FakeHelper:
    """An executable ``docker-credential-NAME`` in ``folder`` (a Python script) that
    logs each call (arguments, standard input, the names of its environment variables)
    and answers as :meth:`answer` says: what to print, the exit status, how long to take
    first."""

    def __init__(self, folder: Path, name: str = "test") -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.name = name
        self.path = self.folder / f"docker-credential-{name}"
        self.path.write_text(HELPER_SCRIPT.format(python=sys.executable,
                                                  folder=str(self.folder), name=name),
                             "utf-8")
        os.chmod(self.path, 0o755)
        self.answer(stdout="credentials not found in native keychain\n", exit=1)

    def answer(self, *, stdout: str = "", exit: int = 0, sleep: float = 0) -> FakeHelper:
        (self.folder / f"{self.name}.json").write_text(
            json.dumps({"stdout": stdout, "exit": exit, "sleep": sleep}), "utf-8")
        return self

    def credentials(self, user: str, secret: str, server: str = "") -> FakeHelper:
        return self.answer(stdout=json.dumps({"ServerURL": server, "Username": user,
                                              "Secret": secret}))

    def not_found(self) -> FakeHelper:
        return self.answer(stdout="credentials not found in native keychain\n", exit=1)

    @property
    def calls(self) -> list[dict]:
        log = self.folder / f"{self.name}.log"
        if not log.exists():
            return []
        return [json.loads(line) for line in log.read_text("utf-8").splitlines()]
