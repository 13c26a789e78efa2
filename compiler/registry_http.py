"""The HTTP transport under :class:`setlist.registry.RegistryClient`.

Plain HTTP or HTTPS with the standard library: size-capped reads, redirects followed by
the client itself (credentials never go to another host), answers to ``401`` challenges
(Basic, or a Bearer token from the realm), and bounded retries:

* ``429`` waits for ``Retry-After`` (seconds or an HTTP date, at most
  :data:`MAX_RETRY_AFTER`), or backs off when there is none;
* ``5xx`` (except 501 and 505), timeouts, connection resets and truncated responses back
  off exponentially with full jitter (``random() * min(BACKOFF_MAX, BACKOFF_BASE * 2**n)``),
  or wait for ``Retry-After`` when a ``503`` sends one;
* at most :data:`MAX_ATTEMPTS` attempts and :data:`RETRY_BUDGET` seconds of waiting per
  request; any other status (a ``404``, a ``403``) or a refused connection fails at once.

``sleep`` and ``random`` are the client's (constructor arguments), so tests wait for
nothing. Every request actually sent is counted in ``requests``. :class:`DigestCache`
keeps what was fetched by digest (immutable) on disk.
"""

from __future__ import annotations

import base64
import email.utils
import hashlib
import http.client
import json
import os
import random as _random
import re
import socket
import ssl
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

__all__ = [
    "BACKOFF_BASE",
    "BACKOFF_MAX",
    "MAX_ATTEMPTS",
    "MAX_REDIRECTS",
    "MAX_RETRY_AFTER",
    "RETRY_BUDGET",
    "DEFAULT_CACHE",
    "Credentials",
    "DigestCache",
    "RegistryError",
    "Transport",
]

MAX_REDIRECTS = 5
#: Attempts per request (the first one included) before a transient failure is final.
MAX_ATTEMPTS = 4
#: Backoff: the n-th retry waits ``random() * min(BACKOFF_MAX, BACKOFF_BASE * 2**n)``.
BACKOFF_BASE = 0.5
BACKOFF_MAX = 8.0
#: A ``Retry-After`` longer than this is waited for this long only.
MAX_RETRY_AFTER = 30.0
#: Total seconds one request may spend waiting between attempts; a wait that would
#: overrun it ends the retries.
RETRY_BUDGET = 30.0
_NOT_RETRIED_5XX = frozenset({501, 505})
_ERROR_BODY_BYTES = 64 * 1024
_HASHES = {"sha256": hashlib.sha256, "sha512": hashlib.sha512}


class RegistryError(Exception):
    """A registry could not answer, or answered something Setlist must not trust.

    ``registry`` is the host, ``image`` the repository (with ``:tag`` or ``@digest`` where
    one was asked for, None for registry-wide failures), ``reason`` what went wrong. The
    text never contains credentials.
    """

    def __init__(self, registry: str, image: str | None, reason: str, *,
                 not_found: bool = False) -> None:
        self.registry = registry
        self.image = image
        self.reason = reason
        # The registry says the thing asked for does not exist (HTTP 404, or absent from an
        # OCI layout): an answer, not a failure, for callers probing for it.
        self.not_found = not_found
        where = f"{registry}/{image}" if image else registry
        super().__init__(f"registry {where}: {reason}")


#: The ``client_id`` sent with OAuth2 token requests (the token service logs it).
OAUTH_CLIENT_ID = "setlist"
_TOKEN_BYTES = 1024 * 1024


@dataclass(frozen=True)
class Credentials:
    """A user name and secret (a password or token), an identity token, or both. Secrets
    never show in a repr.

    ``identity_token`` is Docker's ``identitytoken``: an OAuth2 refresh token. It is only
    ever sent to the registry's token service, in a ``grant_type=refresh_token`` POST that
    returns an access token; the user name and secret, when there are any, answer Basic
    challenges (and token services that do not take refresh tokens).
    """

    username: str
    secret: str = field(repr=False)
    identity_token: str | None = field(default=None, repr=False)

    @property
    def has_password(self) -> bool:
        """Whether there is a user name or secret for Basic authentication."""
        return bool(self.username or self.secret)

    def basic(self) -> str:
        raw = f"{self.username}:{self.secret}".encode()
        return "Basic " + base64.b64encode(raw).decode("ascii")


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Redirects are followed by the client itself, to control where credentials go."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # noqa: ANN001
        return None


@dataclass
class _Response:
    status: int
    headers: Any
    body: bytes
    url: str


class _Transient(Exception):
    """A failure worth another attempt (the text is already scrubbed)."""


def retryable_status(status: int) -> bool:
    return status == 429 or 500 <= status <= 599 and status not in _NOT_RETRIED_5XX


def retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """A ``Retry-After`` header in seconds (delta-seconds or an HTTP date; a date in the
    past is 0), None when absent or unreadable. Not capped."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, (moment - (now or datetime.now(UTC))).total_seconds())


class Transport:
    """Requests to one registry host; :class:`setlist.registry.RegistryClient` builds the
    OCI API on it. See the module text for redirects, authentication and retries."""

    def __init__(
        self,
        host: str,
        *,
        scheme: str = "https",
        insecure: bool = False,
        ca_file: str | None = None,
        credentials: Credentials | None = None,
        timeout: float = 30.0,
        sleep: Callable[[float], object] = time.sleep,
        random: Callable[[], float] = _random.random,
        max_attempts: int = MAX_ATTEMPTS,
        throttle: HostGate | None = None,
    ) -> None:
        if scheme not in ("http", "https"):
            raise ValueError(f"scheme must be http or https, not {scheme!r}")
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self.host = host
        self.scheme = scheme
        self.timeout = timeout
        self.max_attempts = max_attempts
        #: How many HTTP requests this client has sent (every attempt, redirect and token).
        self.requests = 0
        self._sleep = sleep
        self._random = random
        self._throttle = throttle  # entered around every request (the host's shared limits)
        self._credentials = credentials
        self._authorization: str | None = None  # the header that last satisfied a challenge
        handlers: list[Any] = [_NoRedirect()]
        if scheme == "https":
            try:
                context = ssl.create_default_context(cafile=ca_file)
            except (OSError, ssl.SSLError) as exc:
                raise RegistryError(host, None, f"cannot load CA file {ca_file}: "
                                    f"{exc.strerror or exc}") from None
            if insecure:
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
            handlers.append(urllib.request.HTTPSHandler(context=context))
        self._opener = urllib.request.build_opener(*handlers)

    def _url(self, path: str, query: dict[str, str] | None = None) -> str:
        url = f"{self.scheme}://{self.host}{path}"
        return url + ("?" + urllib.parse.urlencode(query) if query else "")

    def _get(self, url: str, image: str, limit: int, what: str, *,
             accept: str | None = None, head: bool = False) -> _Response:
        """GET (or HEAD: headers only) ``url``, following redirects (credentials stay with
        this host) and answering one authentication challenge."""
        headers = {"Accept": accept} if accept else {}
        retried_auth = False
        for _ in range(MAX_REDIRECTS + 1):
            same_host = _origin(url) == _origin(self._url("/"))
            request_headers = dict(headers)
            if same_host and self._authorization:
                request_headers["Authorization"] = self._authorization
            response = self._send(url, request_headers, image, limit, what, head=head)
            if response.status in (301, 302, 303, 307, 308):
                location = response.headers.get("Location")
                if not location:
                    raise RegistryError(self.host, image, f"{what}: redirect without target")
                url = urllib.parse.urljoin(url, location)
                if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
                    raise RegistryError(self.host, image, f"{what}: redirect to a non-HTTP "
                                        "location")
                continue
            if response.status == 401 and same_host and not retried_auth:
                retried_auth = True
                if self._authenticate(response, image):
                    continue
            if response.status == 200:
                return response
            raise RegistryError(self.host, image, self._failure(response, what),
                                not_found=response.status == 404)
        raise RegistryError(self.host, image, f"{what}: too many redirects")

    def _send(self, url: str, headers: dict[str, str], image: str, limit: int,
              what: str, *, data: bytes | None = None, head: bool = False) -> _Response:
        """One request with retries (a POST of ``data`` when given, a HEAD with ``head``,
        else a GET): a response whose status is not worth retrying, or a
        :class:`RegistryError` saying how many attempts were made."""
        waited = 0.0
        attempt = 1
        while True:
            try:
                response = self._open(url, headers, image, limit, what, data=data,
                                      head=head)
            except _Transient as exc:
                last, response = str(exc), None
            else:
                if not retryable_status(response.status):
                    return response
                last = f"HTTP {response.status}"
            delay = self._delay(attempt, response)
            if attempt >= self.max_attempts or waited + delay > RETRY_BUDGET:
                if response is not None:
                    reason = self._failure(response, what)
                else:
                    reason = f"{what}: {last}"
                raise RegistryError(self.host, image, f"{reason} (gave up after {attempt} "
                                    f"attempt{'s' if attempt > 1 else ''}, last {last})")
            self._sleep(delay)
            waited += delay
            attempt += 1

    def _delay(self, attempt: int, response: _Response | None) -> float:
        """How long to wait before attempt ``attempt + 1``."""
        if response is not None:
            asked = retry_after(response.headers.get("Retry-After"))
            if asked is not None:
                return min(asked, MAX_RETRY_AFTER)
        return self._random() * min(BACKOFF_MAX, BACKOFF_BASE * 2 ** (attempt - 1))

    def _open(self, url: str, headers: dict[str, str], image: str, limit: int,
              what: str, *, data: bytes | None = None, head: bool = False) -> _Response:
        if self._throttle is None:
            return self._once(url, headers, image, limit, what, data=data, head=head)
        with self._throttle:
            return self._once(url, headers, image, limit, what, data=data, head=head)

    def _once(self, url: str, headers: dict[str, str], image: str, limit: int,
              what: str, *, data: bytes | None = None, head: bool = False) -> _Response:
        method = "POST" if data is not None else "HEAD" if head else "GET"
        request = urllib.request.Request(url, data=data, headers=headers, method=method)
        self.requests += 1
        try:
            raw = self._opener.open(request, timeout=self.timeout)
        except urllib.error.HTTPError as exc:
            if exc.fp is None:
                return _Response(exc.code, exc.headers, b"", url)
            raw = exc  # an error status still has headers and a (small) body
        except urllib.error.URLError as exc:
            if _transient(exc.reason):
                raise _Transient(f"connection failed ({self._scrub(str(exc.reason))})"
                                 ) from None
            raise RegistryError(self.host, image, f"{what}: cannot connect "
                                f"({self._scrub(str(exc.reason))})") from None
        except (OSError, http.client.HTTPException) as exc:
            text = self._scrub(str(exc) or type(exc).__name__)
            if _transient(exc):
                raise _Transient(f"connection failed ({text})") from None
            raise RegistryError(self.host, image, f"{what}: connection failed "
                                f"({text})") from None
        with raw:
            status = raw.status if raw.status is not None else 0
            if head:
                return _Response(status, raw.headers, b"", raw.geturl() or url)
            length = raw.headers.get("Content-Length")
            if status == 200 and length and length.isdigit() and int(length) > limit:
                raise RegistryError(self.host, image, f"{what} is larger than "
                                    f"{limit} bytes ({length})")
            cap = limit if status == 200 else _ERROR_BODY_BYTES
            try:
                body = raw.read(cap + 1)
            except (OSError, http.client.HTTPException) as exc:
                raise _Transient(f"reading the response failed "
                                 f"({self._scrub(str(exc) or type(exc).__name__)})"
                                 ) from None
            if status == 200 and len(body) > limit:
                raise RegistryError(self.host, image, f"{what} is larger than {limit} bytes")
            if length and length.isdigit() and len(body) < int(length) <= cap:
                raise _Transient(f"response truncated ({len(body)} of {length} bytes)")
            return _Response(status, raw.headers, body, raw.geturl() or url)

    def _authenticate(self, response: _Response, image: str) -> bool:
        """Answer a 401 challenge: Basic with the user name and secret, or a Bearer token
        from the realm: for an identity token, by an OAuth2 refresh-token grant (a POST);
        otherwise by a GET, with the user name and secret when there are any. False:
        cannot answer."""
        challenge = response.headers.get("WWW-Authenticate") or ""
        scheme, _, params_text = challenge.strip().partition(" ")
        params = dict(re.findall(r'(\w+)="([^"]*)"', params_text))
        credentials = self._credentials
        if scheme.lower() == "basic":
            if credentials is None or self.scheme != "https" and \
                    not is_loopback(self.host):
                return False
            if not credentials.has_password:
                raise RegistryError(self.host, image, "the registry asks for a user name "
                                    "and password (Basic authentication); an identity "
                                    "token cannot answer that")
            self._authorization = credentials.basic()
            return True
        if scheme.lower() != "bearer" or "realm" not in params:
            return False
        realm = params["realm"]
        parts = urllib.parse.urlsplit(realm)
        if parts.scheme not in ("http", "https"):
            return False
        if credentials is not None and parts.scheme != "https" and \
                not is_loopback(parts.netloc):
            raise RegistryError(self.host, image, "refusing to send credentials to a "
                                "token service over plain HTTP")
        token = None
        if credentials is not None and credentials.identity_token:
            token = self._refresh_grant(realm, params, image)
        if token is None:
            token = self._token_by_get(realm, params, image)
        self._authorization = f"Bearer {token}"
        return True

    def _token_by_get(self, realm: str, params: dict[str, str], image: str) -> str:
        """A token from the realm by GET (the distribution token protocol), sending the
        user name and secret as Basic authentication when there are any."""
        query = {k: params[k] for k in ("service", "scope") if k in params}
        token_url = realm + ("&" if "?" in realm else "?") + urllib.parse.urlencode(query)
        headers = {}
        if self._credentials is not None and self._credentials.has_password:
            headers["Authorization"] = self._credentials.basic()
        token_response = self._send(token_url, headers, image, _TOKEN_BYTES, "token")
        if token_response.status != 200:
            raise RegistryError(self.host, image, "token request refused (HTTP "
                                f"{token_response.status})")
        return self._token_from(token_response, image)

    def _refresh_grant(self, realm: str, params: dict[str, str], image: str) -> str | None:
        """An access token for the identity token (an OAuth2 refresh token), POSTed to the
        realm as ``grant_type=refresh_token`` with the challenge's service and scope. None
        when the token service does not take such POSTs (HTTP 404) but a user name and
        secret can be used instead, by GET."""
        credentials = self._credentials
        assert credentials is not None and credentials.identity_token
        form = {"grant_type": "refresh_token", "refresh_token": credentials.identity_token,
                "client_id": OAUTH_CLIENT_ID}
        form.update({k: params[k] for k in ("service", "scope") if k in params})
        token_response = self._send(
            realm, {"Content-Type": "application/x-www-form-urlencoded",
                    "Accept": "application/json"}, image, _TOKEN_BYTES, "token",
            data=urllib.parse.urlencode(form).encode("ascii"))
        status = token_response.status
        if status == 404:
            if credentials.has_password:
                return None
            raise RegistryError(self.host, image, "the token service "
                                f"{urllib.parse.urlsplit(realm).netloc} does not take "
                                "OAuth2 refresh-token requests (HTTP 404 to a POST), so "
                                "the identity token cannot be used with it; log in with a "
                                "user name and password instead")
        if status != 200:
            detail = _oauth_error(token_response.body)
            raise RegistryError(self.host, image, "the token service refused the identity "
                                f"token (HTTP {status})"
                                + (f": {self._scrub(detail)}" if detail else ""))
        return self._token_from(token_response, image)

    def _token_from(self, response: _Response, image: str) -> str:
        data = self._json(response.body, image, "token response")
        token = data.get("access_token") or data.get("token")
        if not isinstance(token, str) or not token:
            raise RegistryError(self.host, image, "token response has no token")
        return token

    def _failure(self, response: _Response, what: str) -> str:
        reason = f"{what}: HTTP {response.status}"
        if response.status == 404:
            reason = f"{what} not found (HTTP 404)"
        elif response.status == 401:
            reason = f"{what}: authentication required or refused (HTTP 401)"
        elif response.status == 403:
            reason = f"{what}: access denied (HTTP 403)"
        elif response.status == 429:
            reason = f"{what}: rate limited (HTTP 429)"
        detail = _error_detail(response.body)
        return reason + (f": {self._scrub(detail)}" if detail else "")

    def _json(self, body: bytes, image: str, what: str) -> dict[str, Any]:
        try:
            data = json.loads(body)
        except (ValueError, UnicodeDecodeError, RecursionError):
            raise RegistryError(self.host, image, f"{what} is not valid JSON (or nests too "
                                "deeply)") from None
        if not isinstance(data, dict):
            raise RegistryError(self.host, image, f"{what} is not a JSON object")
        return data

    def _scrub(self, text: str) -> str:
        """Server or library text with every secret this client holds blanked out."""
        secrets: list[str] = []
        credentials = self._credentials
        if credentials is not None:
            secrets += [credentials.secret, credentials.identity_token or ""]
            if credentials.has_password:
                secrets.append(credentials.basic().split(" ", 1)[1])
        if self._authorization:  # the Basic header, or the access token last obtained
            secrets.append(self._authorization.split(" ", 1)[-1])
        # as a form or query would carry them (a server may echo a request back)
        secrets += [urllib.parse.quote(s, safe="") for s in secrets if s] + \
            [urllib.parse.quote_plus(s) for s in secrets if s]
        for secret in sorted(set(filter(None, secrets)), key=len, reverse=True):
            text = text.replace(secret, "***")
        return text[:300]


class RateLimiter:
    """At most ``per_second`` calls of :meth:`wait` return per second, across threads:
    each caller is given the next free slot (evenly spaced) and sleeps until it."""

    def __init__(self, per_second: float, *, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], object] = time.sleep) -> None:
        if per_second <= 0:
            raise ValueError("per_second must be positive")
        self.interval = 1.0 / per_second
        self._clock = clock
        self._sleep = sleep
        self._next = 0.0
        self._lock = threading.Lock()

    def wait(self) -> None:
        with self._lock:
            now = self._clock()
            slot = max(now, self._next)
            self._next = slot + self.interval
        if slot > now:
            self._sleep(slot - now)


class HostGate:
    """What one registry host is asked at once, shared by every client of the host: at most
    ``concurrency`` requests in flight, and at most ``per_second`` started per second. A
    client enters it around each request (the wait for a slot is not part of the request's
    timeout)."""

    def __init__(self, concurrency: int, per_second: float | None = None) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.concurrency = concurrency
        self._slots = threading.BoundedSemaphore(concurrency)
        self._rate = RateLimiter(per_second) if per_second else None

    def __enter__(self) -> HostGate:
        self._slots.acquire()
        if self._rate is not None:
            self._rate.wait()
        return self

    def __exit__(self, *exc: object) -> None:
        self._slots.release()


class _UseDefault:
    def __repr__(self) -> str:
        return "DEFAULT_CACHE"


#: ``cache_dir`` default: ``$XDG_CACHE_HOME/setlist/oci`` (``~/.cache/setlist/oci``).
DEFAULT_CACHE: Any = _UseDefault()


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(Path.home(), ".cache")
    return Path(base) / "setlist" / "oci"


class DigestCache:
    """Immutable registry content on disk, one file per digest: ``manifests/<alg>/<hex>``
    (the media type, a newline, the body) and ``blobs/<alg>/<hex>``. Entries are checked
    against their digest when read (a bad one is ignored and replaced) and written
    atomically; a cache that cannot be read or written is simply not used. ``tags/``
    holds hints: the digest each tag named when it was last fetched."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    def _path(self, kind: str, digest: str) -> Path:
        algorithm, _, hexdigest = digest.partition(":")
        return self.root / kind / algorithm / hexdigest

    def get(self, kind: str, digest: str, limit: int) -> bytes | None:
        path = self._path(kind, digest)
        try:
            if path.stat().st_size > limit + 256:
                return None
            data = path.read_bytes()
        except OSError:
            return None
        body = data.partition(b"\n")[2] if kind == "manifests" else data
        return data if _digest_matches(digest, body) and len(body) <= limit else None

    def put(self, kind: str, digest: str, data: bytes) -> None:
        self._write(self._path(kind, digest), data)

    @staticmethod
    def _write(path: Path, data: bytes) -> None:
        """Atomically; a cache that cannot be written is simply not used."""
        from .files import replace_file

        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            replace_file(path, data, mode=0o644)
        except OSError:
            pass

    def has(self, kind: str, digest: str) -> bool:
        """Whether an entry is kept (not checked: :meth:`get` checks it when read)."""
        return self._path(kind, digest).is_file()

    def _hint_path(self, name: str) -> Path:
        return self.root / "tags" / hashlib.sha256(name.encode()).hexdigest()

    def recall(self, name: str) -> str | None:
        """The digest ``name`` (``host/repository:tag``) named when it was last fetched —
        a hint only: a tag moves, so the caller asks the registry before trusting it."""
        try:
            text = self._hint_path(name).read_text("ascii").strip()
        except (OSError, UnicodeDecodeError):
            return None
        return text if re.fullmatch(r"sha256:[0-9a-f]{64}|sha512:[0-9a-f]{128}", text) \
            else None

    def remember(self, name: str, digest: str) -> None:
        self._write(self._hint_path(name), digest.encode("ascii"))


def _digest_matches(digest: str, body: bytes) -> bool:
    algorithm, _, hexdigest = digest.partition(":")
    hasher = _HASHES.get(algorithm)
    return hasher is not None and hasher(body).hexdigest() == hexdigest


def _transient(exc: object) -> bool:
    """A timeout, a reset or dropped connection, a truncated response: worth retrying.
    A refused connection or an unknown host is not (the registry is not there)."""
    if isinstance(exc, (ConnectionRefusedError, socket.gaierror, ssl.SSLError)):
        return False
    return isinstance(exc, (TimeoutError, ConnectionError, http.client.HTTPException))


def _origin(url: str) -> tuple[str, str]:
    parts = urllib.parse.urlsplit(url)
    return parts.scheme, parts.netloc.lower()


def is_loopback(host: str) -> bool:
    """``host[:port]`` (``[::1]:5000``, ``localhost``) names this machine."""
    if host.startswith("["):
        name = host[1:].split("]", 1)[0]
    else:
        name = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    return name in ("127.0.0.1", "localhost", "::1")


def _oauth_error(body: bytes) -> str:
    """An OAuth2 error answer's ``error`` (and ``error_description``), else the first OCI
    error's code and message."""
    try:
        data = json.loads(body)
        if isinstance(data, dict) and isinstance(data.get("error"), str):
            description = data.get("error_description")
            return data["error"] + (f" {description}" if isinstance(description, str)
                                    else "")
    except (ValueError, UnicodeDecodeError, RecursionError):
        return ""
    return _error_detail(body)


def _error_detail(body: bytes) -> str:
    """The first OCI error's code and message, if the body has one."""
    try:
        errors = json.loads(body).get("errors")
        first = errors[0]
        return " ".join(str(first.get(k)) for k in ("code", "message") if first.get(k))
    except (ValueError, AttributeError, TypeError, IndexError, KeyError,
            UnicodeDecodeError, RecursionError):
        return ""
