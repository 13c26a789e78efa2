"""How `setlist resolve` runs, against the real registry: the every-platform rule, offline
runs, `compile --resolve` (all or nothing), per-host concurrency and request rate, and the
progress it prints."""

from __future__ import annotations

import io
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime

import pytest
from loopback import Loopback, reply
from test_resolve import run, spec_of

from conftest import write
from setlist import lockfile
from setlist.progress import ResolveProgress
from setlist.registry_http import RateLimiter
from setlist.resolve import Failure, Resolution, resolve

NOW = datetime(2025, 3, 4, 5, 6, 7, tzinfo=UTC)

GITOPS = 'gitops { repo = "https://git.example.com/ops" }\n'


def app_spec(host: str, repository: str, image_fields: str, *, registry_fields: str = "",
             extra: str = "") -> str:
    return (GITOPS + f'registry local {{\n  host = "{host}"\n{registry_fields}}}\n'
            f'image api {{\n  repository = local / "{repository}"\n{image_fields}}}\n'
            'environment dev { clusters = all }\n'
            'app shop {\n  base = "apps/shop/base"\n  namespace = "shop"\n'
            '  images = [api]\n  deploy = [dev]\n}\n' + extra)


# ================================================================ every listed platform


@pytest.fixture(scope="module")
def platform_images(registry):
    p = "run/platforms"
    return {
        "1.0.0": registry.push_index(p, "1.0.0", ["linux/amd64", "linux/arm64"],
                                     "2024-01-01T00:00:00Z"),
        "1.1.0": registry.push_index(p, "1.1.0", ["linux/amd64", "linux/arm64"],
                                     "2024-02-01T00:00:00Z"),
        # Newer, but only for amd64: not eligible when arm64 is listed.
        "1.2.0": registry.push_image(p, "1.2.0", created="2024-03-01T00:00:00Z"),
        "1.3.0": registry.push_index(p, "1.3.0", ["linux/amd64", "linux/s390x"],
                                     "2024-04-01T00:00:00Z"),
    }


@pytest.mark.parametrize("strategy", ['semver("^1.0")', "newest_build", "alphabetical"])
def test_every_listed_platform_is_required(tmp_path, registry, platform_images, strategy):
    write(tmp_path / "main.setlist", app_spec(
        registry.host, "run/platforms",
        f'  strategy = {strategy}\n  platforms = ["linux/amd64", "linux/arm64"]\n'))
    result = resolve(spec_of(tmp_path), None, now=NOW, base=tmp_path)
    assert result.ok, result.failures
    entry = result.lock.get("api", "dev")
    assert (entry.tag, entry.digest) == ("1.1.0", platform_images["1.1.0"])
    assert entry.platforms == ("linux/amd64", "linux/arm64")
    notes = " ".join(result.set_aside.get("api", ()))
    if strategy != "newest_build":  # newest_build knows every tag's platforms beforehand
        assert "1.3.0 (lacks linux/arm64)" in notes and "1.2.0 (lacks linux/arm64)" in notes


def test_no_tag_with_every_platform_fails_with_the_reason(tmp_path, registry, platform_images):
    write(tmp_path / "main.setlist", app_spec(
        registry.host, "run/platforms",
        '  strategy = semver("^1.0")\n  platforms = ["linux/arm/v7"]\n'))
    write(tmp_path / "setlist.lock", "")
    proc = run("resolve", cwd=tmp_path)
    assert proc.returncode == 3, proc.stderr
    assert "no tag qualifies" in proc.stderr and "linux/arm/v7 missing" in proc.stderr
    assert (tmp_path / "setlist.lock").read_text() == ""


def test_cli_notes_passed_over_tags(tmp_path, registry, platform_images):
    write(tmp_path / "main.setlist", app_spec(
        registry.host, "run/platforms",
        '  strategy = semver("^1.0")\n  platforms = ["linux/amd64", "linux/arm64"]\n'))
    proc = run("resolve", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "api dev: 1.1.0" in proc.stdout
    assert "note: api: passed over 1.3.0 (lacks linux/arm64), 1.2.0 (lacks linux/arm64)" \
        in proc.stderr


# ================================================================ offline


def test_offline_reads_layouts_only_and_keeps_other_entries(tmp_path, registry,
                                                            platform_images):
    from test_ocilayout import Layout

    from setlist.lockfile import Lock, LockEntry

    layout = Layout(tmp_path / "oci")
    layout.tag("example/api:1.0.0", layout.image("linux/amd64", "2024-01-01T00:00:00Z"))
    newest = layout.tag("example/api:1.1.0", layout.image("linux/amd64",
                                                          "2024-02-01T00:00:00Z"))
    text = (GITOPS + f'registry net {{ host = "{registry.host}" }}\n'
            'registry vendored {\n  host = "ghcr.io"\n  layout = "oci"\n}\n'
            'image api {\n  repository = vendored / "example/api"\n'
            '  strategy = semver()\n}\n'
            'image web {\n  repository = net / "run/platforms"\n  strategy = semver()\n}\n'
            'environment dev { clusters = all }\n'
            'app shop {\n  base = "b"\n  namespace = "shop"\n  images = [api, web]\n'
            '  deploy = [dev]\n}\n')
    write(tmp_path / "main.setlist", text)
    kept = LockEntry(repository=f"{registry.host}/run/platforms", tag="0.9.0",
                     digest="sha256:" + "d" * 64, since="2024-01-01T00:00:00Z")
    write(tmp_path / "setlist.lock", lockfile.dump(Lock(entries={("web", "dev"): kept})))
    # The network registry is given an address nothing listens on: offline never calls it.
    dead = text.replace(registry.host, "127.0.0.1:9")
    write(tmp_path / "main.setlist", dead)
    proc = run("resolve", "--offline", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "offline: kept the locked versions of web" in proc.stderr
    lock = lockfile.read(tmp_path)
    assert lock.get("api", "dev").tag == "1.1.0"
    assert lock.get("api", "dev").digest == newest["digest"]
    assert lock.get("web", "dev") == kept
    online = run("resolve", cwd=tmp_path)
    assert online.returncode == 3 and "127.0.0.1:9" in online.stderr


# ================================================================ compile --resolve


def _compile_project(tmp_path, host: str, strategy: str = '"~1.1"', team: str = "a"):
    labels = ", ".join(f'"label-{n}": "{team}-{n}"' for n in range(30))
    text = app_spec(host, "run/platforms", f'  strategy = semver({strategy})\n')
    write(tmp_path / "spec" / "main.setlist",
          text.replace('  deploy = [dev]\n', f'  deploy = [dev]\n  labels = {{ {labels} }}\n'))
    return tmp_path / "spec", tmp_path / "out"


def _tree(folder) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_compile_resolve_writes_lock_and_overlays(tmp_path, registry, platform_images):
    spec, out = _compile_project(tmp_path, registry.host)
    proc = run("compile", "--resolve", str(spec), "-o", str(out), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert lockfile.read(spec).get("api", "dev").tag == "1.1.0"
    overlay = (out / "apps/shop/overlays/dev/kustomization.yaml").read_text()
    assert 'newTag: "1.1.0"' in overlay and platform_images["1.1.0"] in overlay
    assert "SL700" not in proc.stderr
    check = run("compile", "--resolve", "--check", str(spec), "-o", str(out), cwd=tmp_path)
    assert check.returncode == 0, check.stdout + check.stderr


def test_compile_resolve_failure_changes_nothing(tmp_path, registry, platform_images):
    spec, out = _compile_project(tmp_path, registry.host)
    assert run("compile", "--resolve", str(spec), "-o", str(out),
               cwd=tmp_path).returncode == 0
    lock_before = (spec / "setlist.lock").read_bytes()
    out_before = _tree(out)
    # The registry now fails: the constraint admits nothing.
    write(spec / "main.setlist", app_spec(registry.host, "run/platforms",
                                          '  strategy = semver("^7")\n'))
    proc = run("compile", "--resolve", str(spec), "-o", str(out), cwd=tmp_path)
    assert proc.returncode == 3, proc.stderr
    assert (spec / "setlist.lock").read_bytes() == lock_before
    assert _tree(out) == out_before


def test_compile_resolve_output_failure_restores_the_lock(tmp_path, registry,
                                                         platform_images):
    """The output cannot be written (a file-size limit, which binds root too, makes the
    larger generated files fail while the small lock goes through): the lock is put back."""
    import resource

    spec, out = _compile_project(tmp_path, registry.host)
    assert run("compile", "--resolve", str(spec), "-o", str(out),
               cwd=tmp_path).returncode == 0
    lock_before = (spec / "setlist.lock").read_bytes()
    out_before = _tree(out)
    largest = max(len(data) for data in out_before.values())
    assert len(lock_before) < 1000 < largest
    _compile_project(tmp_path, registry.host, '"^1.0"', team="b")  # a new version and labels

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (1000, 1000))

    proc = subprocess.run([sys.executable, "-m", "setlist", "compile", "--resolve", str(spec),
                           "-o", str(out)], cwd=tmp_path, capture_output=True, text=True,
                          timeout=120, preexec_fn=limit)
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert "nothing was changed" in proc.stderr
    assert (spec / "setlist.lock").read_bytes() == lock_before
    assert _tree(out) == out_before


def test_offline_needs_resolve(tmp_path, registry):
    spec, out = _compile_project(tmp_path, registry.host)
    proc = run("compile", "--offline", str(spec), "-o", str(out), cwd=tmp_path)
    assert proc.returncode == 2 and "--offline only applies with --resolve" in proc.stderr


# ================================================================ concurrency and rate


class Tracker(Loopback):
    """Answers every tag list slowly and records when requests start and how many are in
    flight at once."""

    def __init__(self, delay: float) -> None:
        super().__init__()
        self.delay = delay
        self.lock = threading.Lock()
        self.starts: list[float] = []
        self.active = 0
        self.peak = 0

    def answer(self, handler) -> None:
        with self.lock:
            self.starts.append(time.monotonic())
            self.active += 1
            self.peak = max(self.peak, self.active)
        try:
            time.sleep(self.delay)
        finally:
            # Leave before replying: once the reply is out the client may release its slot
            # and start another request before this thread runs again, which would count
            # one request twice.
            with self.lock:
                self.active -= 1
        self.respond(handler)

    def respond(self, handler) -> None:
        reply(handler, 200, {"Content-Type": "application/json"},
              b'{"name": "x", "tags": ["not-a-version"]}')


def _many_images(host: str, count: int, registry_fields: str) -> str:
    images = "".join(f'image i{n} {{\n  repository = local / "r/i{n}"\n}}\n'
                     for n in range(count))
    names = ", ".join(f"i{n}" for n in range(count))
    return (GITOPS + f'registry local {{\n  host = "{host}"\n{registry_fields}}}\n' + images
            + 'environment dev { clusters = all }\n'
            f'app shop {{\n  base = "b"\n  namespace = "shop"\n  images = [{names}]\n'
            '  deploy = [dev]\n}\n')


def test_concurrency_caps_requests_in_flight(tmp_path):
    server = Tracker(delay=0.05).start()
    try:
        write(tmp_path / "main.setlist", _many_images(server.host, 12, "  concurrency = 3\n"))
        result = resolve(spec_of(tmp_path), None, now=NOW, base=tmp_path)
    finally:
        server.close()
    assert len(result.failures) == 12  # no version tags: every image fails, after asking
    assert len(server.starts) == 12
    assert 1 < server.peak <= 3


class Builds(Tracker):
    """One repository of ``count`` builds (a manifest and a config each), served slowly:
    newest_build must read every build's date, which is where concurrency pays."""

    def __init__(self, delay: float, count: int) -> None:
        import hashlib
        import json

        super().__init__(delay)
        self.files: dict[str, tuple[str, bytes]] = {}
        tags = []
        for n in range(count):
            config = json.dumps({"architecture": "amd64", "os": "linux",
                                 "created": f"2024-01-{n + 1:02d}T00:00:00Z"}).encode()
            config_digest = "sha256:" + hashlib.sha256(config).hexdigest()
            manifest = json.dumps({
                "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                           "digest": config_digest, "size": len(config)},
                "layers": []}).encode()
            tag = f"build-{n:02d}"
            tags.append(tag)
            self.files[f"/v2/r/builds/manifests/{tag}"] = (
                "application/vnd.oci.image.manifest.v1+json", manifest)
            self.files[f"/v2/r/builds/blobs/{config_digest}"] = ("application/octet-stream",
                                                                config)
        self.files["/v2/r/builds/tags/list"] = (
            "application/json", json.dumps({"name": "r/builds", "tags": tags}).encode())

    def respond(self, handler) -> None:
        import hashlib

        kind, body = self.files.get(handler.path.split("?")[0], ("text/plain", b""))
        digest = "sha256:" + hashlib.sha256(body).hexdigest()
        reply(handler, 200 if body else 404,
              {"Content-Type": kind, "Docker-Content-Digest": digest}, body)


def test_one_image_reads_its_builds_concurrently_within_the_cap(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    server = Builds(delay=0.03, count=10).start()
    try:
        write(tmp_path / "main.setlist", GITOPS + f'registry local {{\n  host = "{server.host}"'
              '\n  concurrency = 3\n}\nimage api {\n  repository = local / "r/builds"\n'
              '  strategy = newest_build\n}\nenvironment dev { clusters = all }\n'
              'app shop {\n  base = "b"\n  namespace = "shop"\n  images = [api]\n'
              '  deploy = [dev]\n}\n')
        result = resolve(spec_of(tmp_path), None, now=NOW, base=tmp_path)
    finally:
        server.close()
    assert not result.failures, result.failures
    assert result.lock.get("api", "dev").tag == "build-09"
    assert len(server.starts) >= 21  # the tag list, then a manifest and a config per build
    assert server.peak == 3


def test_requests_per_second_spaces_requests(tmp_path):
    server = Tracker(delay=0.0).start()
    try:
        write(tmp_path / "main.setlist", _many_images(
            server.host, 6, "  requests_per_second = 10\n"))
        resolve(spec_of(tmp_path), None, now=NOW, base=tmp_path)
    finally:
        server.close()
    starts = sorted(server.starts)
    assert len(starts) == 6
    # Six requests at 10 a second are spread over five intervals of 100 ms. A slow machine
    # only spreads them further, but the first may reach the server late (its connection
    # is the first), so allow the span to be short by most of one interval.
    assert starts[-1] - starts[0] >= 4 * 0.1 + 0.02


def test_rate_limiter_slots_are_evenly_spaced():
    now = [100.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(round(seconds, 6))

    limiter = RateLimiter(4, clock=lambda: now[0], sleep=sleep)
    for _ in range(4):
        limiter.wait()
    assert slept == [0.25, 0.5, 0.75]
    now[0] = 200.0  # long idle: no burst credit is saved up beyond the next slot
    limiter.wait()
    assert slept == [0.25, 0.5, 0.75]
    with pytest.raises(ValueError):
        RateLimiter(0)


# ================================================================ progress


class Stream(io.StringIO):
    def __init__(self, tty: bool) -> None:
        super().__init__()
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


def test_progress_lines_when_not_a_terminal():
    stream = Stream(tty=False)
    clock = iter([0.0, 0.4, 1.25])
    progress = ResolveProgress(stream, clock=lambda: next(clock))
    progress("api", Resolution(tag="1.4.3", digest="sha256:" + "a" * 64), 1, 12)
    progress("web", Failure("ghcr.io", "example/web", "manifest not found"), 2, 12)
    assert stream.getvalue().splitlines() == [
        "[ 1/12] api: 1.4.3 (0.4 s)",
        "[ 2/12] web: failed: manifest not found (1.2 s)",
    ]


def test_progress_bar_on_a_terminal_is_erased_at_the_end():
    stream = Stream(tty=True)
    progress = ResolveProgress(stream)
    progress("api", Resolution(tag="1", digest="sha256:" + "a" * 64), 1, 2)
    assert stream.getvalue().startswith("\rresolving [" + "#" * 12 + "." * 12 + "] 1/2")
    progress("web", Resolution(tag="2", digest="sha256:" + "b" * 64), 2, 2)
    text = stream.getvalue()
    assert "2/2 images" in text and text.endswith("\r")
    assert "\n" not in text  # nothing left behind in the terminal's scrollback


def test_cli_prints_one_line_per_image_on_stderr(tmp_path, registry, platform_images):
    write(tmp_path / "main.setlist", app_spec(registry.host, "run/platforms",
                                              '  strategy = semver("^1.0")\n'))
    proc = run("resolve", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "[1/1] api: 1.3.0 (" in proc.stderr
    assert "\r" not in proc.stderr
