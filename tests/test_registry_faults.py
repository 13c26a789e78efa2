"""Retries and the digest cache of the registry client.

Transient faults (429 with Retry-After, 5xx, reset connections, truncated bodies) come
from a loopback HTTP server, since the real registry cannot produce them on demand; the
client waits through a recording ``sleep`` and a fixed ``random``, so nothing here waits.
The cache is tested against the real registry (the ``registry`` fixture).
"""

from __future__ import annotations

import json
import socket
import struct
import urllib.parse
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler

import pytest
from loopback import Loopback, reply
from registry_util import OCI_MANIFEST

from setlist.registry import RegistryClient, RegistryError
from setlist.registry_http import (
    BACKOFF_BASE,
    BACKOFF_MAX,
    MAX_ATTEMPTS,
    MAX_RETRY_AFTER,
    RETRY_BUDGET,
    retry_after,
)

#: One answer: (status, headers, body), or RESET to drop the connection with a TCP RST,
#: or TRUNCATE to promise more body than is sent and close.
Answer = tuple[int, dict[str, str], bytes] | str
RESET, TRUNCATE = "reset", "truncate"
TAGS = (200, {"Content-Type": "application/json"}, b'{"name": "x/y", "tags": ["1.0"]}')


class Script(Loopback):
    """A loopback server answering every GET from a list of answers, the last one
    repeated once the list is used up."""

    def __init__(self) -> None:
        super().__init__()
        self.answers: list[Answer] = []
        self.paths: list[str] = []

    def answer(self, handler: BaseHTTPRequestHandler) -> None:
        self.paths.append(urllib.parse.urlsplit(handler.path).path)
        answer = self.answers[min(len(self.paths), len(self.answers)) - 1]
        if answer == RESET:
            handler.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                          struct.pack("ii", 1, 0))
            handler.close_connection = True
            handler.connection.close()
            return
        if answer == TRUNCATE:
            handler.send_response(200)
            handler.send_header("Content-Length", "1000")
            handler.end_headers()
            handler.wfile.write(b'{"tags": [')
            handler.close_connection = True
            return
        status, headers, body = answer
        reply(handler, status, headers, body)


class Sleeps(list):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def script() -> Iterator[Script]:
    server = Script().start()
    try:
        yield server
    finally:
        server.close()


def make_client(host: str, sleeps: Sleeps, *, rand: Callable[[], float] = lambda: 1.0,
                **kwargs) -> RegistryClient:
    return RegistryClient(host, scheme="http", sleep=sleeps, random=rand, cache_dir=None,
                          **kwargs)


# ================================================================ retries


def test_429_waits_for_retry_after_seconds(script):
    script.answers = [(429, {"Retry-After": "7"}, b""), TAGS]
    sleeps = Sleeps()
    client = make_client(script.host, sleeps)
    assert client.tags("x/y") == ["1.0"]
    assert sleeps == [7.0]
    assert client.requests == 2


def test_429_retry_after_http_date_is_capped(script):
    later = format_datetime(datetime.now(UTC) + timedelta(hours=1), usegmt=True)
    script.answers = [(429, {"Retry-After": later}, b""), TAGS]
    sleeps = Sleeps()
    assert make_client(script.host, sleeps).tags("x/y") == ["1.0"]
    assert sleeps == [MAX_RETRY_AFTER]


def test_retry_after_parsing():
    now = datetime(2025, 1, 1, tzinfo=UTC)
    assert retry_after("120", now) == 120.0
    assert retry_after("Wed, 01 Jan 2025 00:00:30 GMT", now) == 30.0
    assert retry_after("Tue, 31 Dec 2024 23:00:00 GMT", now) == 0.0  # in the past
    assert retry_after("soon", now) is None and retry_after(None, now) is None


def test_429_without_retry_after_backs_off(script):
    script.answers = [(429, {}, b""), TAGS]
    sleeps = Sleeps()
    assert make_client(script.host, sleeps, rand=lambda: 0.5).tags("x/y") == ["1.0"]
    assert sleeps == [0.5 * BACKOFF_BASE]


def test_429_that_outlasts_the_budget_gives_up(script):
    script.answers = [(429, {"Retry-After": "3600"}, b"")]
    sleeps = Sleeps()
    with pytest.raises(RegistryError) as info:
        make_client(script.host, sleeps).tags("x/y")
    assert sleeps == [MAX_RETRY_AFTER]  # a second wait would overrun RETRY_BUDGET
    assert "rate limited (HTTP 429)" in str(info.value)
    assert "gave up after 2 attempts, last HTTP 429" in str(info.value)


def test_503_twice_then_200(script):
    script.answers = [(503, {}, b""), (503, {}, b""), TAGS]
    sleeps = Sleeps()
    client = make_client(script.host, sleeps)
    assert client.tags("x/y") == ["1.0"]
    assert sleeps == [BACKOFF_BASE, 2 * BACKOFF_BASE]  # random() == 1: the full range
    assert client.requests == 3


def test_backoff_uses_full_jitter(script):
    script.answers = [(503, {}, b""), (502, {}, b""), TAGS]
    draws = iter([0.25, 0.0])
    sleeps = Sleeps()
    assert make_client(script.host, sleeps, rand=lambda: next(draws)).tags("x/y") == ["1.0"]
    assert sleeps == [0.25 * BACKOFF_BASE, 0.0]


def test_always_500_gives_up_after_max_attempts(script):
    script.answers = [(500, {}, json.dumps(
        {"errors": [{"code": "UNKNOWN", "message": "boom"}]}).encode())]
    sleeps = Sleeps()
    client = make_client(script.host, sleeps)
    with pytest.raises(RegistryError) as info:
        client.tags("x/y")
    text = str(info.value)
    assert "tag list: HTTP 500: UNKNOWN boom" in text
    assert f"gave up after {MAX_ATTEMPTS} attempts, last HTTP 500" in text
    assert client.requests == MAX_ATTEMPTS == len(sleeps) + 1
    assert sleeps == sorted(sleeps) and sleeps[0] < sleeps[-1]
    assert all(s <= BACKOFF_MAX for s in sleeps)


def test_backoff_is_bounded_by_the_budget(script):
    script.answers = [(500, {}, b"")]
    sleeps = Sleeps()
    with pytest.raises(RegistryError, match=r"gave up after \d+ attempts, last HTTP 500"):
        make_client(script.host, sleeps, max_attempts=50).tags("x/y")
    assert max(sleeps) == BACKOFF_MAX  # the exponential growth stops at the cap
    assert sum(sleeps) <= RETRY_BUDGET < sum(sleeps) + BACKOFF_MAX
    assert len(script.paths) == len(sleeps) + 1 < 50


@pytest.mark.parametrize("status", [400, 401, 403, 404, 501])
def test_other_errors_fail_at_once(script, status):
    script.answers = [(status, {}, b""), TAGS]
    sleeps = Sleeps()
    with pytest.raises(RegistryError, match=f"HTTP {status}"):
        make_client(script.host, sleeps).tags("x/y")
    assert sleeps == [] and len(script.paths) == 1


def test_reset_connection_is_retried(script):
    script.answers = [RESET, TAGS]
    sleeps = Sleeps()
    client = make_client(script.host, sleeps)
    assert client.tags("x/y") == ["1.0"]
    assert sleeps == [BACKOFF_BASE] and client.requests == 2


def test_always_reset_gives_up(script):
    script.answers = [RESET]
    sleeps = Sleeps()
    with pytest.raises(RegistryError) as info:
        make_client(script.host, sleeps).tags("x/y")
    assert "tag list: connection failed" in str(info.value)
    assert f"gave up after {MAX_ATTEMPTS} attempts" in str(info.value)
    assert len(sleeps) == MAX_ATTEMPTS - 1


def test_truncated_body_is_retried(script):
    script.answers = [TRUNCATE, TAGS]
    sleeps = Sleeps()
    assert make_client(script.host, sleeps).tags("x/y") == ["1.0"]
    assert len(sleeps) == 1


def test_refused_connection_is_not_retried():
    with socket.socket() as sock:  # a port nobody listens on: bound, never listening
        sock.bind(("127.0.0.1", 0))
        host = f"127.0.0.1:{sock.getsockname()[1]}"
        sleeps = Sleeps()
        with pytest.raises(RegistryError, match="cannot connect"):
            make_client(host, sleeps).tags("x/y")
    assert sleeps == []


# ================================================================ cache (real registry)


def cached_client(registry, cache_dir, **kwargs) -> RegistryClient:
    return RegistryClient(registry.host, scheme="http", cache_dir=cache_dir, **kwargs)


def test_second_fetch_by_digest_makes_no_request(registry, tmp_path):
    digest = registry.push_image("cache/hit", "1.0", created="2024-07-01T00:00:00Z")
    client = cached_client(registry, tmp_path)
    manifest = client.manifest("cache/hit", digest)
    config = client.config("cache/hit", manifest)
    assert client.requests == 2
    assert client.manifest("cache/hit", digest) == manifest
    assert client.config("cache/hit", manifest) == config
    assert client.requests == 2
    fresh = cached_client(registry, tmp_path)  # another client, the same folder
    again = fresh.manifest("cache/hit", digest)
    assert (again.digest, again.media_type, again.body) == (digest, OCI_MANIFEST,
                                                             manifest.body)
    assert fresh.config("cache/hit", again) == config
    assert fresh.requests == 0
    assert not list(tmp_path.rglob(".tmp-*"))


def test_a_tag_is_checked_with_a_head_and_a_moved_tag_is_fetched(registry, tmp_path):
    digest = registry.push_image("cache/tag", "moving", created="2024-07-01T00:00:00Z")
    client = cached_client(registry, tmp_path)
    assert client.manifest("cache/tag", "moving").digest == digest
    assert client.requests == 1  # a first fetch: no HEAD
    again = cached_client(registry, tmp_path)
    assert again.manifest("cache/tag", "moving").digest == digest
    assert again.requests == 1  # the tag still names the kept manifest: a HEAD, no body
    newer = registry.push_image("cache/tag", "moving", created="2024-08-01T00:00:00Z")
    moved = cached_client(registry, tmp_path)
    assert moved.manifest("cache/tag", "moving").digest == newer != digest
    assert moved.requests == 2  # the HEAD names new content, which is then fetched
    assert cached_client(registry, tmp_path).manifest("cache/tag", "moving").digest == newer
    # The hint a HEAD relies on is only a hint: a wrong one costs a fetch, never a wrong
    # answer.
    for hint in (tmp_path / "tags").iterdir():
        hint.write_text(digest)
    assert cached_client(registry, tmp_path).manifest("cache/tag", "moving").digest == newer


def test_corrupted_cache_entries_are_refetched(registry, tmp_path):
    digest = registry.push_image("cache/bad", "1.0", created="2024-07-02T00:00:00Z")
    client = cached_client(registry, tmp_path)
    manifest = client.manifest("cache/bad", digest)
    config = client.config("cache/bad", manifest)
    manifest_file = tmp_path / "manifests" / "sha256" / digest.split(":")[1]
    config_digest = manifest.config_digest
    assert config_digest is not None
    config_file = tmp_path / "blobs" / "sha256" / config_digest.split(":")[1]
    good_manifest, good_config = manifest_file.read_bytes(), config_file.read_bytes()
    manifest_file.write_bytes(good_manifest.replace(b"layers", b"LAYERS"))
    config_file.write_bytes(b'{"created": "forged"}')
    fresh = cached_client(registry, tmp_path)
    assert fresh.manifest("cache/bad", digest) == manifest
    assert fresh.config("cache/bad", manifest) == config
    assert fresh.requests == 2
    assert manifest_file.read_bytes() == good_manifest  # repaired
    assert config_file.read_bytes() == good_config


def test_cache_respects_size_caps_and_can_be_off(registry, tmp_path):
    digest = registry.push_image("cache/caps", "1.0", created="2024-07-03T00:00:00Z")
    cached_client(registry, tmp_path).manifest("cache/caps", digest)
    with pytest.raises(RegistryError, match="manifest is larger than 64 bytes"):
        cached_client(registry, tmp_path, max_manifest_bytes=64).manifest("cache/caps",
                                                                          digest)
    off = cached_client(registry, None)
    off.manifest("cache/caps", digest)
    off.manifest("cache/caps", digest)
    assert off.requests == 2 and off.cache is None
