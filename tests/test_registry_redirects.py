"""Redirects and slow registries, from loopback servers (the real registry neither redirects
on demand nor stalls): credentials never follow a redirect to another host, redirected
content is still checked against its digest, and a registry slower than the timeout is
retried and then reported — with the lock left as it was."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import pytest
from registry_util import canonical, digest_of
from test_registry import FaultServer

from conftest import ROOT, write
from setlist.registry import Credentials, RegistryError

SECRET = "redirect-secret-Zq81"
CONFIG = json.dumps({"created": "2024-05-06T07:08:09Z", "os": "linux",
                     "architecture": "amd64"}).encode()
MANIFEST = canonical({
    "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
    "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
               "digest": digest_of(CONFIG), "size": len(CONFIG)}, "layers": []})
MANIFEST_HEADERS = {"Content-Type": "application/vnd.oci.image.manifest.v1+json",
                    "Docker-Content-Digest": digest_of(MANIFEST)}


@pytest.fixture
def two() -> Iterator[tuple[FaultServer, FaultServer]]:
    """A registry and a second host (another port: another origin) it redirects to."""
    registry, storage = FaultServer().start(), FaultServer().start()
    try:
        yield registry, storage
    finally:
        registry.close()
        storage.close()


def _basic_protected(route):
    """Ask for Basic credentials first, as a registry with logins does."""
    def guarded(handler):
        if handler.headers.get("Authorization") != Credentials("robot", SECRET).basic():
            return 401, {"WWW-Authenticate": 'Basic realm="registry"'}, b""
        return route(handler)
    return guarded


def _serve_image(registry: FaultServer, storage: FaultServer, config: bytes = CONFIG) -> None:
    blob = f"/v2/x/y/blobs/{digest_of(CONFIG)}"
    registry.routes["/v2/x/y/manifests/1.0.0"] = _basic_protected(
        lambda h: (200, MANIFEST_HEADERS, MANIFEST))
    registry.routes[blob] = _basic_protected(
        lambda h: (307, {"Location": f"http://{storage.host}/storage/blob?sig=abc"}, b""))
    storage.routes["/storage/blob"] = lambda h: (200, {}, config)


def test_credentials_do_not_follow_a_redirect_to_another_host(two, tmp_path):
    registry, storage = two
    _serve_image(registry, storage)
    client = registry.client(credentials=Credentials("robot", SECRET),
                             cache_dir=tmp_path / "cache")
    manifest = client.manifest("x/y", "1.0.0")
    assert client.config("x/y", manifest)["created"] == "2024-05-06T07:08:09Z"
    assert storage.requests, "the redirect was followed"
    for path, headers in storage.requests:
        assert "Authorization" not in headers, path
        assert SECRET not in json.dumps(headers)
    # The registry itself did get the credentials once it asked for them.
    assert any(h.get("Authorization") for _, h in registry.requests)


def test_redirected_content_is_checked_against_its_digest(two, tmp_path):
    registry, storage = two
    _serve_image(registry, storage, config=CONFIG + b" ")
    client = registry.client(credentials=Credentials("robot", SECRET), cache_dir=None)
    manifest = client.manifest("x/y", "1.0.0")
    with pytest.raises(RegistryError) as caught:
        client.config("x/y", manifest)
    assert "digest" in str(caught.value) and SECRET not in str(caught.value)


def test_redirect_to_a_non_http_location_is_refused(two):
    registry, _ = two
    registry.routes["/v2/x/y/manifests/1.0.0"] = lambda h: (
        302, {"Location": "file:///etc/passwd"}, b"")
    with pytest.raises(RegistryError) as caught:
        registry.client(cache_dir=None).manifest("x/y", "1.0.0")
    assert "non-HTTP" in str(caught.value)


def test_endless_redirects_are_an_error(two):
    registry, _ = two
    registry.routes["/v2/x/y/manifests/1.0.0"] = lambda h: (
        302, {"Location": "/v2/x/y/manifests/1.0.0"}, b"")
    with pytest.raises(RegistryError) as caught:
        registry.client(cache_dir=None).manifest("x/y", "1.0.0")
    assert "too many redirects" in str(caught.value)


# ================================================================ slow registries


class Stall:
    """A route that answers after ``delays[n]`` seconds on its n-th call (the last delay
    repeats), then releases stalled handlers at the end of the test."""

    def __init__(self, answer, *delays: float) -> None:
        self.answer = answer
        self.delays = delays
        self.calls = 0
        self.release = threading.Event()

    def __call__(self, handler):
        delay = self.delays[min(self.calls, len(self.delays) - 1)]
        self.calls += 1
        self.release.wait(delay)
        return self.answer


TAGS = (200, {"Content-Type": "application/json"}, b'{"name": "x/y", "tags": ["1.0.0"]}')


def test_a_slow_answer_is_retried(two):
    registry, _ = two
    stall = Stall(TAGS, 2.0, 0.0)
    registry.routes["/v2/x/y/tags/list"] = stall
    try:
        tags = registry.client(timeout=0.3, cache_dir=None).tags("x/y")
    finally:
        stall.release.set()
    assert tags == ["1.0.0"] and stall.calls == 2


def test_a_registry_that_stays_slow_is_reported(two):
    registry, _ = two
    stall = Stall(TAGS, 5.0)
    registry.routes["/v2/x/y/tags/list"] = stall
    try:
        with pytest.raises(RegistryError) as caught:
            registry.client(timeout=0.2, cache_dir=None, max_attempts=3).tags("x/y")
    finally:
        stall.release.set()
    text = str(caught.value)
    assert "gave up after 3 attempts" in text and "timed out" in text
    assert stall.calls == 3


@pytest.mark.parametrize("command", [["resolve"], ["compile", "--resolve", "-o", "out"]],
                         ids=["resolve", "compile"])
def test_resolve_against_a_stalled_registry_exits_3_and_keeps_the_lock(two, tmp_path,
                                                                       command):
    registry, _ = two
    stall = Stall(TAGS, 60.0)
    registry.routes["/v2/x/y/tags/list"] = stall
    write(tmp_path / "main.setlist", f'''gitops {{ repo = "https://git.example.com/ops" }}
registry local {{ host = "{registry.host}" }}
image api {{ repository = local / "x/y" }}
environment dev {{ clusters = all }}
app shop {{
  base = "b"
  namespace = "shop"
  images = [api]
  deploy = [dev]
}}
''')
    lock = "# an old lock\nversion: 1\nimages: {}\n"
    write(tmp_path / "setlist.lock", lock)
    started = time.monotonic()
    try:
        proc = subprocess.run([sys.executable, "-m", "setlist", *command, "--timeout", "0.2"],
                              cwd=tmp_path,
                              capture_output=True, text=True, timeout=120)
    finally:
        stall.release.set()
    assert proc.returncode == 3, proc.stderr
    assert "timed out" in proc.stderr and "setlist.lock was not changed" in proc.stderr
    assert (tmp_path / "setlist.lock").read_text() == lock
    assert not (tmp_path / "out").exists()
    assert time.monotonic() - started < 60  # bounded: it did not wait for the server


def test_timeout_without_resolve_is_a_bad_invocation(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "setlist", "compile", "--timeout", "1",
                           str(ROOT / "examples" / "quickstart"), "-o", str(tmp_path / "o")],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "--timeout only applies with --resolve" in proc.stderr
    assert not (tmp_path / "o").exists()
