"""How resolution reaches a registry: the connection for an image (scheme, CA, an offline
layout) and the credentials for it.

Credentials are read here, never from the spec:

* ``env("VAR")``: ``user:password`` is a user and password; anything else is a token sent
  as ``Authorization: Bearer``.
* ``docker_config``: Docker's ``config.json`` (``$DOCKER_CONFIG/config.json``, else
  ``~/.docker/config.json``), by Docker's own rules. A ``credHelpers`` entry for the host
  names the credential helper that keeps its credentials; without one, ``credsStore``
  names the helper for every host; with neither (or a ``credHelpers`` entry that is
  empty), the host's ``auths`` entry is read: ``auth`` (base64 of ``user:password``) and
  ``identitytoken``. When a helper is in charge, ``auths`` is not read. A helper
  ``docker-credential-NAME`` is run as ``docker-credential-NAME get`` with the server URL
  on standard input (``https://index.docker.io/v1/`` for Docker Hub, else the host), never
  through a shell, with a small environment and a time limit (:data:`HELPER_TIMEOUT`); it
  answers ``{"ServerURL", "Username", "Secret"}``, where the user ``<token>`` makes the
  secret an identity token. "credentials not found" from it means none (anonymous).
* ``anonymous``: none.

An identity token is an OAuth2 refresh token: it is exchanged at the registry's token
service for access tokens (:class:`setlist.registry_http.Transport`), never sent to the
registry itself. No secret is ever put into a message, and no helper output is either.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import shutil
import signal
import subprocess
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass
from pathlib import Path

from .ocilayout import LayoutClient
from .registry import Credentials, RegistryClient, RegistryError
from .registry_http import HostGate, is_loopback
from .spec import Image, Registry, Spec

__all__ = ["HELPER_TIMEOUT", "CredentialError", "Connection", "connection", "registry_of",
           "docker_config_credentials", "with_hint"]

#: The host the spec calls ``docker.io`` serves the registry API elsewhere.
_API_HOSTS = {"docker.io": "registry-1.docker.io"}
_DOCKER_HUB_KEYS = ("docker.io", "index.docker.io", "registry-1.docker.io")
#: What Docker calls Docker Hub in config.json and asks credential helpers for.
DOCKER_HUB_SERVER = "https://index.docker.io/v1/"
#: Seconds a credential helper may take to answer.
HELPER_TIMEOUT = 30.0
#: The user name with which a credential helper says its secret is an identity token.
_TOKEN_USER = "<token>"
_HELPER_OUTPUT_BYTES = 1024 * 1024
#: What a credential helper inherits from the environment: where to look (PATH, HOME,
#: DOCKER_CONFIG), the session keychains and password stores use, and cloud helpers'
#: settings. Nothing else (the variables another registry's credentials are in, say).
_HELPER_VARIABLES = frozenset({
    "PATH", "HOME", "USER", "LOGNAME", "LANG", "LC_ALL", "LC_CTYPE", "TMPDIR", "TZ",
    "DOCKER_CONFIG", "DBUS_SESSION_BUS_ADDRESS", "DISPLAY", "GNUPGHOME", "GPG_TTY",
    "PASSWORD_STORE_DIR", "SSL_CERT_FILE", "SSL_CERT_DIR", "HTTPS_PROXY", "https_proxy",
    "HTTP_PROXY", "http_proxy", "NO_PROXY", "no_proxy", "SYSTEMROOT", "APPDATA",
    "LOCALAPPDATA", "USERPROFILE"})
_HELPER_PREFIXES = ("XDG_", "AWS_", "AZURE_", "GOOGLE_", "CLOUDSDK_")


class CredentialError(Exception):
    """Credentials could not be read. The text names where they were looked for (a
    variable, a file, a credential helper), never a value."""


def registry_of(spec: Spec, image: Image) -> Registry | None:
    """The declared registry the image is pulled from: by name (and host), else the first
    declared with the image's host."""
    for registry in spec.registries:
        if registry.name == image.registry and registry.host == image.host:
            return registry
    return next((r for r in spec.registries if r.host == image.host), None)


@dataclass(frozen=True)
class Connection:
    """How to reach one host; ``token`` says the credentials' secret is a bearer token
    sent as is. ``source`` says where credentials were looked for (a variable, a
    config.json, a credential helper), for messages; None when the spec names none."""

    host: str                     # as the spec writes it (messages)
    api_host: str                 # where the API is served
    scheme: str
    ca_file: str | None
    credentials: Credentials | None
    token: bool = False
    source: str | None = None
    layout: str | None = None     # an OCI image layout folder read instead of the network

    def client(self, timeout: float, *, throttle: HostGate | None = None
               ) -> RegistryClient | LayoutClient:
        """A client for this host; ``throttle`` is entered around every request (the
        limits shared by the clients of one host; a layout has none)."""
        if self.layout is not None:
            return LayoutClient(self.layout, host=self.host)
        cls = _TokenClient if self.token else RegistryClient
        return cls(self.api_host, scheme=self.scheme, ca_file=self.ca_file,
                   credentials=self.credentials, timeout=timeout, throttle=throttle)


class _TokenClient(RegistryClient):
    """Answers a registry's challenge with ``Authorization: Bearer <token>`` (the token
    is the credentials' secret), over HTTPS or to a loopback host only."""

    def _authenticate(self, response, image):  # noqa: ANN001, ANN202
        if self._credentials is None or self.scheme != "https" and \
                not is_loopback(self.host):
            return False
        self._authorization = f"Bearer {self._credentials.secret}"
        return True


def connection(spec: Spec, image: Image, base: str, environ: Mapping[str, str], *,
               logins: MutableMapping[tuple[str, str], tuple[Credentials | None, str]]
               | None = None) -> Connection:
    """How to reach ``image``'s registry, with its credentials. ``logins``, when given,
    keeps what ``docker_config`` found per host, so that one run asks a credential
    helper once per host rather than once per image."""
    registry = registry_of(spec, image)
    host = image.host
    if registry is not None and registry.layout is not None:
        layout = os.path.normpath(os.path.join(base, registry.layout))
        return Connection(host=host, api_host=f"layout:{layout}",
                           scheme="file", ca_file=None, credentials=None, layout=layout)
    insecure = registry.insecure if registry is not None else False
    ca_file = registry.ca_file if registry is not None else None
    # Plain HTTP for `insecure` registries and for loopback ones, unless a loopback registry
    # names a CA: then it serves TLS (a local registry with logins must).
    scheme = "http" if insecure or (is_loopback(host) and not ca_file) else "https"
    if ca_file and not os.path.isabs(ca_file):
        ca_file = os.path.join(base, ca_file)
    credentials: Credentials | None = None
    token = False
    where = None
    source = registry.credentials if registry is not None else None
    if source is not None and source.source == "env":
        variable = source.variable or ""
        credentials, token = _from_env(variable, environ)
        where = f"environment variable {variable}"
    elif source is not None and source.source == "docker_config":
        key = ("docker_config", host)
        if logins is not None and key in logins:
            credentials, where = logins[key]
        else:
            credentials, where = docker_config_credentials(host, environ)
            if logins is not None:
                logins[key] = (credentials, where)
    return Connection(host=host, api_host=_API_HOSTS.get(host, host), scheme=scheme,
                       ca_file=ca_file, credentials=credentials, token=token, source=where)


def _from_env(variable: str, environ: Mapping[str, str]) -> tuple[Credentials, bool]:
    value = environ.get(variable)
    if not value:
        raise CredentialError(f"credentials: environment variable {variable} is not set")
    user, colon, password = value.partition(":")
    if colon and user and password:
        return Credentials(user, password), False
    return Credentials("", value), True


# ================================================================ Docker's config.json


def _docker_config_path(environ: Mapping[str, str]) -> Path:
    folder = environ.get("DOCKER_CONFIG")
    if folder:
        return Path(folder) / "config.json"
    home = environ.get("HOME") or os.path.expanduser("~")
    return Path(home) / ".docker" / "config.json"


def _auth_key(key: str) -> str:
    """A config.json key (``https://index.docker.io/v1/``, ``ghcr.io``) as a host."""
    for prefix in ("https://", "http://"):
        if key.startswith(prefix):
            key = key[len(prefix):]
    return key.split("/", 1)[0].lower()


def _server_url(host: str) -> str:
    """What Docker calls ``host`` in config.json and when it asks a credential helper."""
    return DOCKER_HUB_SERVER if host.lower() in _DOCKER_HUB_KEYS else host


def _entry_for(table: dict, host: str) -> object:
    """The value for ``host`` in a config.json table: its exact key (as ``docker login``
    writes it), else the first key naming the same host (Docker Hub by any of its
    names); None when there is none."""
    if _server_url(host) in table:
        return table[_server_url(host)]
    if host in table:
        return table[host]
    wanted = {host.lower()}
    if host.lower() in _DOCKER_HUB_KEYS:
        wanted.update(_DOCKER_HUB_KEYS)
    return next((v for k, v in table.items() if _auth_key(k) in wanted), None)


def docker_config_credentials(host: str, environ: Mapping[str, str] | None = None, *,
                              timeout: float = HELPER_TIMEOUT
                              ) -> tuple[Credentials | None, str]:
    """Credentials for ``host`` from Docker's config.json, by Docker's rules (see the
    module text), and where they were looked for (the file, or the credential helper and
    the file that names it), for messages. None: there are none (a missing file, no
    entry, a helper that has none). An unreadable file, a broken entry, or a helper that
    is missing, fails, hangs or answers nonsense is a :class:`CredentialError` naming
    them, never a secret or the helper's output."""
    environ = os.environ if environ is None else environ
    path = _docker_config_path(environ)
    try:
        data = json.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        return None, str(path)
    except (OSError, UnicodeDecodeError, ValueError, RecursionError):
        raise CredentialError(f"credentials: {path} cannot be read as JSON") from None
    if not isinstance(data, dict):
        raise CredentialError(f"credentials: {path} is not a JSON object")
    helpers = data.get("credHelpers") if isinstance(data.get("credHelpers"), dict) else {}
    helper = _entry_for(helpers, host)
    setting = "credHelpers"
    if helper is None:
        helper, setting = data.get("credsStore"), "credsStore"
    if helper is not None and not isinstance(helper, str):
        raise CredentialError(f"credentials: {setting} in {path} is not a string")
    if helper:  # an empty credHelpers entry means the file itself, as for Docker
        program = f"docker-credential-{helper}"
        where = f"{program} ({setting} in {path})"
        return _run_helper(program, _server_url(host), host, where, environ, timeout), where
    auths = data.get("auths") if isinstance(data.get("auths"), dict) else {}
    entry = _entry_for(auths, host)
    if not isinstance(entry, dict):
        return None, str(path)
    return _from_auths_entry(entry, host, path), str(path)


def _from_auths_entry(entry: dict, host: str, path: Path) -> Credentials | None:
    identity = entry.get("identitytoken")
    identity = identity if isinstance(identity, str) and identity else None
    user = password = ""
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
        password = password.strip("\x00")
    if identity is None and not user:
        return None
    return Credentials(user, password, identity_token=identity)


# ================================================================ credential helpers


def _helper_environ(environ: Mapping[str, str]) -> dict[str, str]:
    return {k: v for k, v in environ.items()
            if k in _HELPER_VARIABLES or k.startswith(_HELPER_PREFIXES)}


def _run_helper(program: str, server_url: str, host: str, where: str,
                environ: Mapping[str, str], timeout: float) -> Credentials | None:
    """``program get`` for ``server_url``: the credentials, or None when it has none."""
    binary = shutil.which(program, path=environ.get("PATH") or os.defpath)
    if binary is None:
        raise CredentialError(f"credentials: {where} is not installed or not on PATH "
                              f"(install it, or remove the setting so that the auths "
                              f"entry for {host} is read)")
    try:
        process = subprocess.Popen(
            [binary, "get"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL, env=_helper_environ(environ), shell=False,
            start_new_session=True)
    except OSError as exc:
        raise CredentialError(f"credentials: {where} cannot be run "
                              f"({exc.strerror or type(exc).__name__})") from None
    with process:
        try:
            out, _ = process.communicate(server_url.encode("utf-8"), timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill(process)
            raise CredentialError(f"credentials: {where} did not answer within "
                                  f"{timeout:g} s for {host}") from None
    text = out.decode("utf-8", "replace").strip()
    if process.returncode != 0:
        if text.lower().startswith("credentials not found"):
            return None
        raise CredentialError(f"credentials: {where} failed for {host} (exit status "
                              f"{process.returncode}; its output is not shown, as it may "
                              "hold secrets)")
    try:
        if len(out) > _HELPER_OUTPUT_BYTES:
            raise ValueError
        answer = json.loads(text)
        user, secret = answer.get("Username", ""), answer.get("Secret", "")
        if not isinstance(user, str) or not isinstance(secret, str):
            raise ValueError
    except (ValueError, AttributeError, RecursionError):
        raise CredentialError(f"credentials: {where} answered for {host} with something "
                              "other than a credential helper's JSON (not shown)") from None
    if not secret:
        return None
    if user == _TOKEN_USER:
        return Credentials("", "", identity_token=secret)
    return Credentials(user, secret)


def _kill(process: subprocess.Popen[bytes]) -> None:
    """End a helper that hangs, with anything it started (its own session)."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (AttributeError, OSError):
        process.kill()
    process.wait()


# ================================================================ messages


def with_hint(exc: RegistryError, image: Image, connection: Connection) -> str:
    """The error's reason, with the tag or digest it concerned, and, when the registry
    refused (HTTP 401 or 403), a hint about the credentials: none configured, none found
    where they were looked for, or the ones found were not accepted."""
    reason = exc.reason
    reference = exc.image or ""
    if reference.startswith(image.repository) and len(reference) > len(image.repository) + 1:
        reason = f"{reference[len(image.repository) + 1:]}: {reason}"
    if "HTTP 401" not in reason and "HTTP 403" not in reason:
        return reason
    host = connection.host
    if connection.source is None:
        hint = (f"no credentials are configured for {host}: set `credentials = "
                'docker_config` or `credentials = env("VAR")` on its registry')
    elif connection.credentials is None:
        hint = (f"no credentials for {host} in {connection.source}: log in with "
                f"`docker login {host}`, or set them there")
    else:
        hint = f"the credentials from {connection.source} were not accepted"
    return f"{reason} ({hint})"
