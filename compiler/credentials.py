"""How resolution reaches a registry: the connection for an image (scheme, CA, an offline
layout) and the credentials for it.

Credentials are read here, never from the spec: ``env("VAR")`` (``user:password`` is a
user and password; anything else is a token sent as ``Authorization: Bearer``),
``docker_config`` (``$DOCKER_CONFIG/config.json`` or ``~/.docker/config.json``: an
``auths`` entry's ``auth`` or ``identitytoken``; credential helpers are not run yet), or
none. No secret is ever put into a message.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from .ocilayout import LayoutClient
from .registry import Credentials, RegistryClient, RegistryError
from .spec import Image, Registry, Spec

__all__ = ["CredentialError", "Connection", "connection", "docker_config_credentials",
           "with_hint"]

_LOOPBACK = ("127.0.0.1", "localhost", "::1")
#: The host the spec calls ``docker.io`` serves the registry API elsewhere.
_API_HOSTS = {"docker.io": "registry-1.docker.io"}
_DOCKER_HUB_KEYS = ("docker.io", "index.docker.io", "registry-1.docker.io")


class CredentialError(Exception):
    """Credentials could not be read. The text names where they were looked for (a
    variable, a file), never a value."""


def _is_loopback(host: str) -> bool:
    if host.startswith("["):
        name = host[1:].split("]", 1)[0]
    else:
        name = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    return name in _LOOPBACK


def _registry_of(spec: Spec, image: Image) -> Registry | None:
    """The declared registry the image is pulled from: by name (and host), else the first
    declared with the image's host."""
    for registry in spec.registries:
        if registry.name == image.registry and registry.host == image.host:
            return registry
    return next((r for r in spec.registries if r.host == image.host), None)


@dataclass(frozen=True)
class Connection:
    """How to reach one host; ``token`` is a bearer token (``credentials`` then holds it
    too, so that the client scrubs it from any text)."""

    host: str                     # as the spec writes it (messages)
    api_host: str                 # where the API is served
    scheme: str
    ca_file: str | None
    credentials: Credentials | None
    token: bool = False
    helper: str | None = None     # a docker credential helper that was not run
    layout: str | None = None     # an OCI image layout folder read instead of the network

    def client(self, timeout: float) -> RegistryClient | LayoutClient:
        if self.layout is not None:
            return LayoutClient(self.layout, host=self.host)
        cls = _TokenClient if self.token else RegistryClient
        return cls(self.api_host, scheme=self.scheme, ca_file=self.ca_file,
                   credentials=self.credentials, timeout=timeout)


class _TokenClient(RegistryClient):
    """Answers a registry's challenge with ``Authorization: Bearer <token>`` (the token
    is the credentials' secret), over HTTPS or to a loopback host only."""

    def _authenticate(self, response, image):  # noqa: ANN001, ANN202
        if self._credentials is None or self.scheme != "https" and \
                not _is_loopback(self.host):
            return False
        self._authorization = f"Bearer {self._credentials.secret}"
        return True


def connection(spec: Spec, image: Image, base: str, environ: Mapping[str, str]) -> Connection:
    registry = _registry_of(spec, image)
    host = image.host
    if registry is not None and registry.layout is not None:
        layout = os.path.normpath(os.path.join(base, registry.layout))
        return Connection(host=host, api_host=f"layout:{layout}",
                           scheme="file", ca_file=None, credentials=None, layout=layout)
    insecure = registry.insecure if registry is not None else False
    ca_file = registry.ca_file if registry is not None else None
    # Plain HTTP for `insecure` registries and for loopback ones, unless a loopback registry
    # names a CA: then it serves TLS (a local registry with logins must).
    scheme = "http" if insecure or (_is_loopback(host) and not ca_file) else "https"
    if ca_file and not os.path.isabs(ca_file):
        ca_file = os.path.join(base, ca_file)
    credentials: Credentials | None = None
    token = False
    helper = None
    source = registry.credentials if registry is not None else None
    if source is not None and source.source == "env":
        credentials, token = _from_env(source.variable or "", environ)
    elif source is not None and source.source == "docker_config":
        credentials, token, helper = docker_config_credentials(host, environ)
    return Connection(host=host, api_host=_API_HOSTS.get(host, host), scheme=scheme,
                       ca_file=ca_file, credentials=credentials, token=token, helper=helper)


def _from_env(variable: str, environ: Mapping[str, str]) -> tuple[Credentials, bool]:
    value = environ.get(variable)
    if not value:
        raise CredentialError(f"credentials: environment variable {variable} is not set")
    user, colon, password = value.partition(":")
    if colon and user and password:
        return Credentials(user, password), False
    return Credentials("", value), True


def _docker_config_path(environ: Mapping[str, str]) -> Path:
    folder = environ.get("DOCKER_CONFIG")
    if folder:
        return Path(folder) / "config.json"
    home = environ.get("HOME") or os.path.expanduser("~")
    return Path(home) / ".docker" / "config.json"


def _auth_key(key: str) -> str:
    """A config.json ``auths`` key (``https://index.docker.io/v1/``, ``ghcr.io``) as a
    host."""
    for prefix in ("https://", "http://"):
        if key.startswith(prefix):
            key = key[len(prefix):]
    return key.split("/", 1)[0].lower()


def docker_config_credentials(host: str, environ: Mapping[str, str] | None = None
                              ) -> tuple[Credentials | None, bool, str | None]:
    """Credentials for ``host`` from Docker's config.json: (credentials or None, whether
    they are a bearer token, the credential helper that would hold them — not run yet).
    A missing file means no credentials; an unreadable one is a CredentialError naming
    the file (never its content)."""
    environ = os.environ if environ is None else environ
    path = _docker_config_path(environ)
    try:
        data = json.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        return None, False, None
    except (OSError, UnicodeDecodeError, ValueError):
        raise CredentialError(f"credentials: {path} cannot be read as JSON") from None
    if not isinstance(data, dict):
        raise CredentialError(f"credentials: {path} is not a JSON object")
    wanted = {host.lower()}
    if host.lower() in _DOCKER_HUB_KEYS:
        wanted.update(_DOCKER_HUB_KEYS)
    auths = data.get("auths") if isinstance(data.get("auths"), dict) else {}
    entry = next((v for k, v in auths.items() if _auth_key(k) in wanted and
                  isinstance(v, dict)), None)
    helpers = data.get("credHelpers") if isinstance(data.get("credHelpers"), dict) else {}
    helper = next((v for k, v in helpers.items() if _auth_key(k) in wanted), None) or \
        data.get("credsStore")
    helper = f"docker-credential-{helper}" if isinstance(helper, str) and helper else None
    if entry is not None:
        token = entry.get("identitytoken")
        if isinstance(token, str) and token:
            return Credentials("", token), True, None
        auth = entry.get("auth")
        if isinstance(auth, str) and auth:
            try:
                user, colon, password = base64.b64decode(auth, validate=True).decode(
                    "utf-8").partition(":")
            except (binascii.Error, ValueError):
                user, colon, password = "", "", ""
            if not colon or not user:
                raise CredentialError(f"credentials: the auths entry for {host} in {path} "
                                      "is not base64 of user:password")
            return Credentials(user, password), False, None
    return None, False, helper


def with_hint(exc: RegistryError, image: Image, connection: Connection) -> str:
    """The error's reason, with the tag or digest it concerned, and a hint when the
    registry wanted credentials that a credential helper keeps."""
    reason = exc.reason
    reference = exc.image or ""
    if reference.startswith(image.repository) and len(reference) > len(image.repository) + 1:
        reason = f"{reference[len(image.repository) + 1:]}: {reason}"
    if connection.helper and connection.credentials is None and \
            ("HTTP 401" in reason or "HTTP 403" in reason):
        reason += (f" (the credentials for {connection.host} are kept by "
                   f"{connection.helper}; setlist does not run credential helpers yet)")
    return reason
