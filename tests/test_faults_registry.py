"""Registry fault campaign: `setlist resolve` and `setlist compile --resolve`, run as the
real CLI, against the real registry behind a fault-injecting loopback proxy
(tests/fault_proxy.py).

Every run must end in one of two ways: success after retries (exit 0, and the lock the same
as a clean run's), or exit 3 with a one-line reason naming the registry, `setlist.lock` and
the compiled output byte for byte as before. Never a traceback.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import registry_util
from fault_proxy import FaultProxy, Rule

from conftest import running_registry, write
from setlist import lockfile
from setlist.lockfile import Lock, LockEntry

#: The client timeout of the runs (seconds): stalled requests are given up after this.
TIMEOUT = "0.5"
#: A longer client timeout, and a delay comfortably below it.
PATIENT, JUST_UNDER = "4", 2.0

TAGS = r"/tags/list$"
MANIFEST = r"/manifests/"
API_MANIFEST = r"/faults/api/manifests/"
BLOB = r"/blobs/"


def spec_text(host: str) -> str:
    images = "".join(f'image {name} {{\n  repository = local / "faults/{name}"\n'
                     '  strategy = semver("^1")\n}\n' for name in ("api", "web"))
    return ('gitops { repo = "https://git.example.com/ops" }\n'
            f'registry local {{ host = "{host}" }}\n' + images +
            'environment dev { clusters = all }\n'
            'app shop {\n  base = "apps/shop/base"\n  namespace = "shop"\n'
            '  images = [api, web]\n  deploy = [dev]\n}\n')


def push_images(server: registry_util.Registry) -> dict[str, str]:
    """api: single-platform images (manifest and config); web: image indexes."""
    digests = {}
    for version, day in (("1.0.0", "01"), ("1.1.0", "02")):
        digests[f"api:{version}"] = server.push_image(
            "faults/api", version, created=f"2024-01-{day}T00:00:00Z")
        digests[f"web:{version}"] = server.push_index(
            "faults/web", version, ["linux/amd64", "linux/arm64"], f"2024-01-{day}T00:00:00Z")
    return digests


def old_lock(host: str, digests: dict[str, str]) -> Lock:
    """What the project ran before: 1.0.0 of both (the registry now offers 1.1.0)."""
    return Lock(entries={(name, "dev"): LockEntry(
        repository=f"{host}/faults/{name}", tag="1.0.0", digest=digests[f"{name}:1.0.0"],
        strategy='semver("^1")', since="2024-01-01T00:00:00Z", source="registry")
        for name in ("api", "web")})


def cache_env(cache: Path) -> dict[str, str]:
    """An environment whose cache folder is ``cache``: no OCI content kept from other runs
    (every run asks the registry for everything), but the session's parser tables."""
    shared = Path(os.environ["XDG_CACHE_HOME"]) / "setlist"
    (cache / "setlist").mkdir(parents=True, exist_ok=True)
    for table in shared.glob("*.lark-cache"):
        shutil.copy(table, cache / "setlist" / table.name)
    return dict(os.environ, XDG_CACHE_HOME=str(cache))


def keep_tables(cache: Path) -> None:
    """Parser tables a run built go to the session cache, for the runs after it."""
    shared = Path(os.environ["XDG_CACHE_HOME"]) / "setlist"
    shared.mkdir(parents=True, exist_ok=True)
    for table in (cache / "setlist").glob("*.lark-cache"):
        if not (shared / table.name).exists():
            shutil.copy(table, shared / table.name)


def run(*args: str, cwd: Path, cache: Path) -> subprocess.CompletedProcess:
    """The CLI, with a cache of its own (:func:`cache_env`)."""
    done = subprocess.run([sys.executable, "-m", "setlist", *args], cwd=cwd,
                          env=cache_env(cache), capture_output=True, text=True,
                          encoding="utf-8", timeout=180)
    keep_tables(cache)
    return done


def tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def without_since(lock: Lock) -> dict:
    return {k: v.model_copy(update={"since": None}) for k, v in lock.entries.items()}


class Campaign:
    """A project (spec, old lock, compiled output) talking to ``proxy``; copies of it per
    run."""

    def __init__(self, proxy: FaultProxy, template: Path) -> None:
        self.proxy = proxy
        self.template = template
        self.clean: Lock | None = None

    def project(self, where: Path) -> Path:
        shutil.copytree(self.template, where)
        return where

    def resolve(self, where: Path, *args: str) -> tuple[subprocess.CompletedProcess, Path]:
        folder = self.project(where)
        return run("resolve", "spec", *args, cwd=folder, cache=where / "cache"), folder

    def compile(self, where: Path) -> tuple[subprocess.CompletedProcess, Path]:
        folder = self.project(where)
        return run("compile", "--resolve", "spec", "-o", "out", cwd=folder,
                   cache=where / "cache"), folder


def make_campaign(server: registry_util.Registry, root: Path) -> Iterator[Campaign]:
    proxy = FaultProxy(server.host).start()
    try:
        template = root / "template"
        digests = push_images(server)
        write(template / "spec" / "main.setlist", spec_text(proxy.host))
        write(template / "spec" / "setlist.lock", lockfile.dump(old_lock(proxy.host, digests)))
        done = run("compile", "spec", "-o", "out", cwd=template, cache=root / "cache")
        assert done.returncode == 0, done.stderr
        campaign = Campaign(proxy, template)
        clean, folder = campaign.resolve(root / "clean")
        assert clean.returncode == 0, clean.stderr
        campaign.clean = lockfile.read(folder / "spec")
        assert {e.tag for e in campaign.clean.entries.values()} == {"1.1.0"}
        yield campaign
    finally:
        proxy.close()


@pytest.fixture(scope="module")
def campaign(registry, tmp_path_factory) -> Iterator[Campaign]:
    yield from make_campaign(registry, tmp_path_factory.mktemp("faults"))


def assert_recovered(campaign: Campaign, done: subprocess.CompletedProcess,
                     folder: Path) -> None:
    assert "Traceback" not in done.stderr
    assert done.returncode == 0, done.stderr
    assert without_since(lockfile.read(folder / "spec")) == without_since(campaign.clean)


def assert_failed_cleanly(done: subprocess.CompletedProcess, folder: Path, template: Path,
                          registry_host: str, reason: str) -> None:
    assert "Traceback" not in done.stderr
    assert done.returncode == 3, done.stdout + done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("setlist: error:")]
    assert errors, done.stderr
    assert all(registry_host in line for line in errors), errors
    assert any(reason in line for line in errors), errors
    assert (folder / "spec" / "setlist.lock").read_bytes() == \
        (template / "spec" / "setlist.lock").read_bytes()
    assert tree(folder / "out") == tree(template / "out")
    assert "setlist.lock was not changed" in done.stderr


# ================================================================ transient: recovered

RECOVERED = {
    "delay-over-timeout-once": Rule("stall", TAGS, nth={1}),
    "reset-before-headers-once": Rule("reset", MANIFEST, nth={1}),
    "reset-after-headers-once": Rule("reset_after_headers", MANIFEST, nth={1}),
    "truncated-body-once": Rule("truncate", BLOB, nth={1}),
    "429-retry-after": Rule("status", TAGS, nth={1}, status=429,
                            headers={"Retry-After": "1"}),
    "429-no-retry-after": Rule("status", MANIFEST, nth={1, 2}, status=429),
    "500-once": Rule("status", MANIFEST, nth={1}, status=500),
    "502-twice": Rule("status", TAGS, nth={1, 2}, status=502),
    "503-retry-after": Rule("status", BLOB, nth={1}, status=503,
                            headers={"Retry-After": "0"}),
    "content-length-too-long-once": Rule("length", MANIFEST, nth={1}, delta=+50),
}


@pytest.mark.parametrize("rule", RECOVERED.values(), ids=RECOVERED.keys())
def test_transient_faults_are_retried_to_the_clean_lock(campaign, tmp_path, rule):
    campaign.proxy.reset(rule)
    done, folder = campaign.resolve(tmp_path / "run", "--timeout", TIMEOUT)
    assert rule.fired >= 1, campaign.proxy.log
    assert_recovered(campaign, done, folder)
    assert tree(folder / "out") == tree(campaign.template / "out")  # resolve writes no output


def test_a_delay_just_under_the_timeout_is_waited_for(campaign, tmp_path):
    rule = Rule("delay", TAGS, seconds=JUST_UNDER)
    campaign.proxy.reset(rule)
    done, folder = campaign.resolve(tmp_path / "run", "--timeout", PATIENT)
    assert rule.fired == 2  # both tag lists, each once: nothing timed out
    assert_recovered(campaign, done, folder)


def test_compile_resolve_recovers_and_writes_both(campaign, tmp_path):
    rule = Rule("reset_after_headers", MANIFEST, nth={1})
    campaign.proxy.reset(rule)
    done, folder = campaign.compile(tmp_path / "run")
    assert rule.fired == 1
    assert_recovered(campaign, done, folder)
    overlay = (folder / "out/apps/shop/overlays/dev/kustomization.yaml").read_text()
    assert 'newTag: "1.1.0"' in overlay


# ================================================================ lasting: exit 3

FAILED = {
    "delay-over-timeout-always": (Rule("stall", API_MANIFEST), "timed out"),
    "reset-before-headers-always": (Rule("reset", API_MANIFEST), "gave up after 4 attempts"),
    "reset-after-headers-always": (Rule("reset_after_headers", BLOB),
                                   "gave up after 4 attempts"),
    "truncated-body-always": (Rule("truncate", TAGS), "response truncated"),
    "429-always": (Rule("status", TAGS, status=429, headers={"Retry-After": "0"}),
                   "rate limited (HTTP 429)"),
    "500-always": (Rule("status", MANIFEST, status=500), "HTTP 500"),
    "502-always": (Rule("status", BLOB, status=502), "HTTP 502"),
    "503-always": (Rule("status", TAGS, status=503), "HTTP 503"),
    "content-length-too-short": (Rule("length", API_MANIFEST, delta=-10),
                                 "manifest digest mismatch"),
    "oversized-declared": (Rule("oversize", API_MANIFEST, size=5 * 1024 * 1024),
                           "larger than 4194304 bytes"),
    "oversized-undeclared": (Rule("oversize", API_MANIFEST, size=5 * 1024 * 1024,
                                  declared=False), "larger than 4194304 bytes"),
}
#: Also run as `compile --resolve` (not the stall: compile has no --timeout, a stalled
#: request would take 4 × 30 s there).
WITH_COMPILE = {"reset-before-headers-always", "truncated-body-always", "429-always",
                "500-always", "content-length-too-short", "oversized-undeclared"}


@pytest.mark.parametrize("case", FAILED, ids=FAILED.keys())
def test_lasting_faults_exit_3_and_change_nothing(campaign, tmp_path, case):
    rule, reason = FAILED[case]
    rule.seen = rule.fired = 0
    campaign.proxy.reset(rule)
    runs = [("resolve", tmp_path / "resolve")]
    if case in WITH_COMPILE:
        runs.append(("compile", tmp_path / "compile"))
    results = _run_together(campaign, runs)  # at once: the rule holds for both
    assert rule.fired >= 1, campaign.proxy.log
    for (command, _), (done, folder) in zip(runs, results, strict=True):
        assert_failed_cleanly(done, folder, campaign.template, campaign.proxy.host, reason)
        if command == "resolve":
            assert "Traceback" not in done.stdout


def _run_together(campaign: Campaign, runs: list[tuple[str, Path]]
                  ) -> list[tuple[subprocess.CompletedProcess, Path]]:
    """Start every run, then wait for each (they share the proxy's rule)."""
    started = []
    for command, where in runs:
        folder = campaign.project(where)
        args = ["resolve", "spec", "--timeout", TIMEOUT] if command == "resolve" else \
            ["compile", "--resolve", "spec", "-o", "out"]
        env = cache_env(where / "cache")
        process = subprocess.Popen([sys.executable, "-m", "setlist", *args], cwd=folder,
                                   env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   text=True, encoding="utf-8")
        started.append((process, folder, args))
    out = []
    for process, folder, args in started:
        stdout, stderr = process.communicate(timeout=180)
        out.append((subprocess.CompletedProcess(args, process.returncode, stdout, stderr),
                    folder))
    return out


# ================================================================ the registry dies


@pytest.fixture
def own_registry(tmp_path_factory) -> Iterator[registry_util.Registry]:
    """A registry of this test's own, which it stops and starts again."""
    yield from running_registry(tmp_path_factory.mktemp("mortal"))


def test_registry_killed_mid_resolve(own_registry, tmp_path):
    """The registry process is stopped while resolve runs (when the first manifest is
    asked for, after the tag lists): exit 3, nothing changed; once it is back, a rerun
    gives the clean lock."""
    campaign_runs = make_campaign(own_registry, tmp_path / "c")
    campaign = next(campaign_runs)
    try:
        port = own_registry.port
        kill = Rule("call", MANIFEST, nth={1}, action=own_registry.stop)
        campaign.proxy.reset(kill)
        done, folder = campaign.resolve(tmp_path / "killed", "--timeout", TIMEOUT)
        assert kill.fired == 1 and own_registry.process is None
        assert any(s.path.endswith("/tags/list") for s in campaign.proxy.log[:2])
        assert_failed_cleanly(done, folder, campaign.template, campaign.proxy.host,
                              "HTTP 502")
        compiled, folder = campaign.compile(tmp_path / "killed-compile")
        assert_failed_cleanly(compiled, folder, campaign.template, campaign.proxy.host,
                              "HTTP 502")
        own_registry.start(port=port)
        campaign.proxy.reset()
        again, folder = campaign.resolve(tmp_path / "back", "--timeout", TIMEOUT)
        assert_recovered(campaign, again, folder)
    finally:
        campaign_runs.close()
