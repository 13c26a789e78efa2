"""`setlist resolve` against a real registry (the `registry` fixture: Debian's
docker-registry on loopback, plain HTTP): the lock it writes, what it keeps, what it
refuses, and that compile then deploys the locked versions."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from datetime import UTC, datetime

import pytest
from loopback import Loopback, reply
from registry_util import OCI_MANIFEST, canonical, digest_of
from ruamel.yaml import YAML

from conftest import write
from setlist import lockfile
from setlist.lockfile import Lock, LockEntry
from setlist.project import load
from setlist.resolve import (
    CredentialError,
    docker_config_credentials,
    format_strategy,
    registry_fed,
    resolve,
    rfc3339,
)
from setlist.spec import Strategy

NOW = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
LATER = datetime(2025, 2, 1, 0, 0, 0, tzinfo=UTC)
SECRET = "s3cr3t-t0ken-value"

SPEC = '''gitops {{ repo = "https://git.example.com/ops" }}
registry local {{ host = "{host}"{credentials} }}
image api {{
  repository = local / "{prefix}/api"
  strategy   = semver("^1.4")
}}
image web {{
  repository = local / "{prefix}/web"
  strategy   = newest_build
  allow_tags = /^main-/
}}
image proxy {{
  repository = local / "{prefix}/proxy"
  strategy   = digest("stable")
}}
environment dev {{ clusters = all }}
environment prod {{ clusters = all }}
app shop {{
  base      = "apps/shop/base"
  namespace = "shop"
  images    = [api, web, proxy]
  deploy    = [dev, prod]
}}
promotion api {{
  dev  <- registry
  prod <- dev
}}
'''


def spec_text(registry, prefix: str, credentials: str = "") -> str:
    return SPEC.format(host=registry.host, prefix=prefix, credentials=credentials)


@pytest.fixture(scope="module")
def pushed(registry):
    """Images under resolve/*: what each strategy must choose."""
    p = "resolve"
    digests = {
        "api-1.4.2": registry.push_image(f"{p}/api", "1.4.2", created="2024-01-01T00:00:00Z"),
        "api-1.4.3": registry.push_image(f"{p}/api", "1.4.3", created="2024-02-01T00:00:00Z"),
        "api-2.0.0": registry.push_image(f"{p}/api", "2.0.0", created="2024-03-01T00:00:00Z"),
        "web-main-aaa": registry.push_image(f"{p}/web", "main-aaa",
                                            created="2024-05-01T10:00:00Z"),
        "web-main-bbb": registry.push_index(f"{p}/web", "main-bbb",
                                            ["linux/amd64", "linux/arm64"],
                                            "2024-05-02T10:00:00Z"),
        "web-dev-ccc": registry.push_image(f"{p}/web", "dev-ccc",
                                           created="2024-06-01T10:00:00Z"),
        "proxy-stable": registry.push_image(f"{p}/proxy", "stable",
                                            created="2024-04-01T00:00:00Z",
                                            platform="linux/arm64"),
        "proxy-latest": registry.push_image(f"{p}/proxy", "latest",
                                            created="2024-07-01T00:00:00Z"),
    }
    return digests


PROD_ENTRY = LockEntry(repository="", tag="1.4.2", digest="sha256:" + "c" * 64,
                       strategy='semver("^1.4")', since="2024-12-01T00:00:00Z",
                       source="promotion:dev")


def project(tmp_path, registry, prefix: str = "resolve", credentials: str = "",
            prod_entry: bool = True):
    """A project folder with the spec and a lock holding api's promoted prod entry and an
    entry for an image the spec no longer deploys."""
    write(tmp_path / "main.setlist", spec_text(registry, prefix, credentials))
    entries = {("gone", "dev"): LockEntry(repository="example.com/gone", tag="1.0.0")}
    if prod_entry:
        entries[("api", "prod")] = PROD_ENTRY.model_copy(
            update={"repository": f"{registry.host}/{prefix}/api"})
    write(tmp_path / "setlist.lock", lockfile.dump(Lock(entries=entries)))
    return tmp_path


def run(*args: str, cwd, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("SETLIST_TEST_")}
    environ.update(env or {})
    return subprocess.run([sys.executable, "-m", "setlist", *args], cwd=cwd, env=environ,
                          capture_output=True, text=True, encoding="utf-8", timeout=120)


def spec_of(folder):
    loaded = load([str(folder)])
    assert loaded.ok, [str(d) for d in loaded.diagnostics]
    return loaded.spec


# ================================================================ pure parts


def test_strategies_are_written_as_in_the_spec():
    assert format_strategy(Strategy(kind="semver", constraint="^1.4")) == 'semver("^1.4")'
    assert format_strategy(Strategy(kind="semver")) == "semver()"
    assert format_strategy(Strategy(kind="newest_build")) == "newest_build"
    assert format_strategy(Strategy(kind="digest", tag="stable")) == 'digest("stable")'
    assert rfc3339(datetime(2024, 5, 6, 7, 8, 9, 120000, tzinfo=UTC)) == \
        "2024-05-06T07:08:09.12Z"


def test_registry_fed_pairs_skip_promoted_and_pinned(tmp_path, registry):
    text = spec_text(registry, "resolve").replace(
        'strategy   = digest("stable")', 'strategy = digest("stable"); tag = "stable"')
    write(tmp_path / "main.setlist", text)
    assert registry_fed(spec_of(tmp_path)) == {"api": ["dev"], "web": ["dev", "prod"]}


def test_docker_config_auth_and_identity_token(tmp_path):
    auth = base64.b64encode(f"robot:{SECRET}".encode()).decode()
    write(tmp_path / "config.json", json.dumps({
        "auths": {"https://index.docker.io/v1/": {"auth": auth},
                  "ghcr.io": {"identitytoken": SECRET},
                  "bad.example.com": {"auth": "not base64!"}},
        "credHelpers": {"gcr.io": "gcloud"}}))
    environ = {"DOCKER_CONFIG": str(tmp_path), "PATH": str(tmp_path / "bin")}
    config = str(tmp_path / "config.json")
    creds, where = docker_config_credentials("docker.io", environ)
    assert (creds.username, creds.secret, creds.identity_token, where) == \
        ("robot", SECRET, None, config)
    assert SECRET not in repr(creds)
    creds, _ = docker_config_credentials("ghcr.io", environ)
    assert (creds.username, creds.secret, creds.identity_token) == ("", "", SECRET)
    with pytest.raises(CredentialError, match="docker-credential-gcloud .credHelpers in"):
        docker_config_credentials("gcr.io", environ)  # not installed here
    assert docker_config_credentials("quay.io", environ) == (None, config)
    with pytest.raises(CredentialError) as caught:
        docker_config_credentials("bad.example.com", environ)
    assert "not base64" in str(caught.value) and "not base64!" not in str(caught.value)
    assert docker_config_credentials("ghcr.io", {"DOCKER_CONFIG": str(tmp_path / "no")}) == \
        (None, str(tmp_path / "no" / "config.json"))


# ================================================================ against the registry


def test_resolve_chooses_per_strategy_and_keeps_promoted_entries(tmp_path, registry, pushed):
    folder = project(tmp_path, registry)
    old = lockfile.read(folder)
    result = resolve(spec_of(folder), old, now=NOW, base=folder)
    assert result.ok, result.failures
    entries = result.lock.entries
    ref = f"{registry.host}/resolve"
    assert entries[("api", "dev")] == LockEntry(
        repository=f"{ref}/api", tag="1.4.3", digest=pushed["api-1.4.3"],
        platforms=("linux/amd64",), created="2024-02-01T00:00:00Z",
        strategy='semver("^1.4")', since="2025-01-02T03:04:05Z", source="registry")
    assert entries[("api", "prod")] == old.get("api", "prod")  # downstream: untouched
    for env in ("dev", "prod"):
        web = entries[("web", env)]
        assert (web.tag, web.digest, web.platforms, web.created, web.strategy) == (
            "main-bbb", pushed["web-main-bbb"], ("linux/amd64", "linux/arm64"),
            "2024-05-02T10:00:00Z", "newest_build")
        proxy = entries[("proxy", env)]
        assert (proxy.tag, proxy.digest, proxy.platforms, proxy.strategy) == (
            "stable", pushed["proxy-stable"], ("linux/arm64",), 'digest("stable")')
    assert ("gone", "dev") not in entries
    assert sorted(entries) == [("api", "dev"), ("api", "prod"), ("proxy", "dev"),
                               ("proxy", "prod"), ("web", "dev"), ("web", "prod")]
    assert result.changed == 6  # 5 added, 1 dropped
    assert [r.line() for r in result.resolved][0] == \
        f"api dev: 1.4.3 ({pushed['api-1.4.3'][:19]}…) from {ref}/api"

    again = resolve(spec_of(folder), result.lock, now=LATER, base=folder)
    assert again.ok and again.changed == 0
    assert lockfile.dump(again.lock) == lockfile.dump(result.lock)  # since kept


def test_since_moves_only_when_the_version_changes(tmp_path, registry):
    prefix = "resolve-since"
    for name in ("web", "proxy"):
        registry.push_image(f"{prefix}/{name}", "stable" if name == "proxy" else "main-1",
                            created="2024-01-01T00:00:00Z")
    registry.push_image(f"{prefix}/api", "1.4.0", created="2024-01-01T00:00:00Z")
    folder = project(tmp_path, registry, prefix)
    first = resolve(spec_of(folder), lockfile.read(folder), now=NOW, base=folder)
    assert first.ok, first.failures
    registry.push_image(f"{prefix}/api", "1.5.0", created="2024-02-01T00:00:00Z")
    second = resolve(spec_of(folder), first.lock, now=LATER, base=folder)
    assert second.ok and second.changed == 1
    assert [(r.image, r.env, r.changed) for r in second.resolved if r.changed] == \
        [("api", "dev", True)]
    assert second.lock.get("api", "dev").tag == "1.5.0"
    assert second.lock.get("api", "dev").since == rfc3339(LATER)
    assert second.lock.get("web", "dev").since == rfc3339(NOW)


def test_many_images_on_one_host_resolve_concurrently(tmp_path, registry):
    names = [f"img{i:02d}" for i in range(12)]
    digests = {n: registry.push_image(f"resolve-many/{n}", "1.0.0",
                                      created="2024-01-01T00:00:00Z") for n in names}
    images = "\n".join(f'image {n} {{ repository = local / "resolve-many/{n}" }}'
                       for n in names)
    write(tmp_path / "main.setlist", f'''registry local {{ host = "{registry.host}" }}
{images}
environment dev {{ clusters = all }}
app many {{ base = "b"; namespace = "many"; images = [{", ".join(names)}]; deploy = [dev] }}
''')
    result = resolve(spec_of(tmp_path), None, now=NOW, base=tmp_path, max_per_host=8)
    assert result.ok, result.failures
    assert {k[0]: v.digest for k, v in result.lock.entries.items()} == digests


def test_cli_writes_the_lock_and_a_second_run_changes_nothing(tmp_path, registry, pushed):
    folder = project(tmp_path, registry)
    proc = run("resolve", cwd=folder)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == f"api dev: 1.4.3 ({pushed['api-1.4.3'][:19]}…) from " \
                       f"{registry.host}/resolve/api"
    assert lines[-1] == "setlist.lock: 6 entries changed"
    lock = lockfile.read(folder)
    assert lock.get("api", "dev").digest == pushed["api-1.4.3"]
    assert lock.get("web", "prod").digest == pushed["web-main-bbb"]
    assert lock.get("proxy", "dev").digest == pushed["proxy-stable"]
    assert lock.get("api", "prod").source == "promotion:dev"
    since = lock.get("api", "dev").since
    assert since and since.endswith("Z")
    before = (folder / "setlist.lock").read_bytes()
    mtime = (folder / "setlist.lock").stat().st_mtime_ns

    proc = run("resolve", ".", cwd=folder)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[-1] == "setlist.lock: up to date"
    assert (folder / "setlist.lock").read_bytes() == before
    assert (folder / "setlist.lock").stat().st_mtime_ns == mtime
    assert not [p for p in folder.iterdir() if p.name.startswith(".setlist.lock.")]

    out = folder / "out"
    proc = run("compile", ".", "-o", str(out), cwd=folder)
    assert proc.returncode == 0, proc.stderr
    overlays = {env: YAML(typ="safe", pure=True).load(
        (out / f"apps/shop/overlays/{env}/kustomization.yaml").read_text("utf-8"))["images"]
        for env in ("dev", "prod")}
    ref = f"{registry.host}/resolve"
    assert overlays["dev"] == [
        {"name": f"{ref}/api", "newTag": "1.4.3", "digest": pushed["api-1.4.3"]},
        {"name": f"{ref}/proxy", "newTag": "stable", "digest": pushed["proxy-stable"]},
        {"name": f"{ref}/web", "newTag": "main-bbb", "digest": pushed["web-main-bbb"]}]
    assert overlays["prod"][0] == {"name": f"{ref}/api", "newTag": "1.4.2",
                                   "digest": PROD_ENTRY.digest}
    assert overlays["prod"][1:] == overlays["dev"][1:]


def test_cli_image_option_limits_the_work(tmp_path, registry, pushed):
    # web's repository does not exist here: only --image api keeps the run clean.
    folder = project(tmp_path, registry)
    text = (folder / "main.setlist").read_text("utf-8").replace("resolve/web", "resolve/absent")
    write(folder / "main.setlist", text)
    proc = run("resolve", "--image", "api", "--env", "dev", cwd=folder)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[:-1] == [
        f"api dev: 1.4.3 ({pushed['api-1.4.3'][:19]}…) from {registry.host}/resolve/api"]
    assert sorted(lockfile.read(folder).entries) == [("api", "dev"), ("api", "prod")]

    proc = run("resolve", "--image", "nope", cwd=folder)
    assert proc.returncode == 2 and "--image nope: no such image" in proc.stderr
    proc = run("resolve", "--env", "qa", cwd=folder)
    assert proc.returncode == 2 and "--env qa: no such env" in proc.stderr


def test_cli_missing_repository_exits_3_and_keeps_the_lock(tmp_path, registry, pushed):
    folder = project(tmp_path, registry)
    assert run("resolve", cwd=folder).returncode == 0
    before = (folder / "setlist.lock").read_bytes()
    text = (folder / "main.setlist").read_text("utf-8").replace("resolve/proxy",
                                                                "resolve/missing")
    write(folder / "main.setlist", text)
    proc = run("resolve", cwd=folder)
    assert proc.returncode == 3
    errors = [line for line in proc.stderr.splitlines() if line.startswith("setlist: error:")]
    assert len(errors) == 1, proc.stderr
    assert errors[0].startswith(f"setlist: error: {registry.host} resolve/missing: ")
    assert "not found" in errors[0]
    assert "setlist.lock was not changed" in proc.stderr
    assert proc.stdout == ""
    assert (folder / "setlist.lock").read_bytes() == before


def test_cli_no_qualifying_tag_exits_3(tmp_path, registry, pushed):
    folder = project(tmp_path, registry)
    before = (folder / "setlist.lock").read_bytes()
    write(folder / "main.setlist", (folder / "main.setlist").read_text("utf-8").replace(
        'semver("^1.4")', 'semver("^9")'))
    proc = run("resolve", cwd=folder)
    assert proc.returncode == 3
    assert f"setlist: error: {registry.host} resolve/api: no tag qualifies" in proc.stderr
    assert (folder / "setlist.lock").read_bytes() == before


def test_cli_env_credentials_unset_and_set(tmp_path, registry, pushed):
    creds = '; credentials = env("SETLIST_TEST_TOKEN")'
    folder = project(tmp_path, registry, credentials=creds)
    before = (folder / "setlist.lock").read_bytes()
    proc = run("resolve", cwd=folder)
    assert proc.returncode == 3
    assert f"setlist: error: {registry.host} resolve/api: credentials: environment " \
           "variable SETLIST_TEST_TOKEN is not set" in proc.stderr
    assert (folder / "setlist.lock").read_bytes() == before

    # Set: the registry never challenges, so the secret is never sent — and never shown.
    for value in (SECRET, f"robot:{SECRET}"):
        proc = run("resolve", cwd=folder, env={"SETLIST_TEST_TOKEN": value})
        assert proc.returncode == 0, proc.stderr
        assert SECRET not in proc.stdout + proc.stderr
        assert SECRET not in (folder / "setlist.lock").read_text("utf-8")
    write(folder / "main.setlist", (folder / "main.setlist").read_text("utf-8").replace(
        "resolve/web", "resolve/absent"))
    proc = run("resolve", cwd=folder, env={"SETLIST_TEST_TOKEN": SECRET})
    assert proc.returncode == 3 and "resolve/absent" in proc.stderr
    assert SECRET not in proc.stdout + proc.stderr


def test_cli_spec_errors_exit_1(tmp_path, registry):
    write(tmp_path / "main.setlist", spec_text(registry, "resolve").replace(
        "deploy    = [dev, prod]", "deploy    = [dev, prd]"))
    proc = run("resolve", cwd=tmp_path)
    assert proc.returncode == 1 and "SL200" in proc.stdout + proc.stderr
    assert not (tmp_path / "setlist.lock").exists()


def test_cli_writes_the_lock_in_the_project_folder(tmp_path, registry, pushed):
    folder = project(tmp_path / "proj", registry)
    proc = run("resolve", "proj", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert lockfile.read(folder).get("api", "dev").tag == "1.4.3"
    assert not (tmp_path / "setlist.lock").exists()


# ================================================================ credentials on the wire
# docker-registry cannot be told to want a bearer token on demand: a tiny loopback server
# stands in for an authenticating registry (as in test_registry.py), serving one image.


class AuthRegistry(Loopback):
    """Serves repository ``auth/app`` (tag 1.0.0) only to ``Authorization: <wanted>``."""

    def __init__(self, wanted: str, challenge: str) -> None:
        super().__init__()
        config = canonical({"os": "linux", "architecture": "amd64",
                            "created": "2024-01-01T00:00:00Z"})
        manifest = canonical({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                              "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                         "digest": digest_of(config), "size": len(config)},
                              "layers": []})
        self.digest = digest_of(manifest)
        self.routes = {"/v2/auth/app/tags/list": (b'{"name":"auth/app","tags":["1.0.0"]}', {}),
                       "/v2/auth/app/manifests/1.0.0": (manifest,
                                                        {"Content-Type": OCI_MANIFEST}),
                       f"/v2/auth/app/blobs/{digest_of(config)}": (config, {})}
        self.wanted, self.challenge = wanted, challenge
        self.seen: list[str | None] = []
        self.start()

    def answer(self, handler) -> None:  # noqa: ANN001
        self.seen.append(handler.headers.get("Authorization"))
        body, headers = self.routes.get(handler.path, (b"{}", {}))
        status = 200 if handler.path in self.routes else 404
        if handler.headers.get("Authorization") != self.wanted:
            status, body, headers = 401, b"{}", {"WWW-Authenticate": self.challenge}
        reply(handler, status, headers, body)


# (config.json identity tokens are exchanged at the token service: test_registry_token_auth)
@pytest.mark.parametrize("kind", ["env-token", "env-basic", "docker-auth"])
def test_credentials_reach_an_authenticating_registry(tmp_path, kind):
    basic = "Basic " + base64.b64encode(f"robot:{SECRET}".encode()).decode()
    wanted = basic if "basic" in kind or kind == "docker-auth" else f"Bearer {SECRET}"
    server = AuthRegistry(wanted, 'Basic realm="test"' if wanted == basic
                          else 'Bearer realm="https://auth.invalid/token"')
    try:
        environ = {"DOCKER_CONFIG": str(tmp_path)}
        if kind.startswith("env"):
            source = 'env("SETLIST_TEST_TOKEN")'
            environ["SETLIST_TEST_TOKEN"] = SECRET if kind == "env-token" else f"robot:{SECRET}"
        else:
            source = "docker_config"
            entry = {"identitytoken": SECRET} if kind == "docker-token" else \
                {"auth": base64.b64encode(f"robot:{SECRET}".encode()).decode()}
            write(tmp_path / "config.json", json.dumps({"auths": {server.host: entry}}))
        write(tmp_path / "main.setlist", f'''
registry r {{ host = "{server.host}"; credentials = {source} }}
image app {{ repository = r / "auth/app" }}
environment dev {{ clusters = all }}
app a {{ base = "b"; namespace = "a"; images = [app]; deploy = [dev] }}
''')
        result = resolve(spec_of(tmp_path), None, now=NOW, base=tmp_path, environ=environ)
        assert result.ok, result.failures
        assert result.lock.get("app", "dev").digest == server.digest
        assert server.seen[0] is None and wanted in server.seen  # offered when challenged
        assert SECRET not in lockfile.dump(result.lock)

        environ.pop("SETLIST_TEST_TOKEN", None)
        write(tmp_path / "config.json", "{}")
        refused = resolve(spec_of(tmp_path), None, now=NOW, base=tmp_path, environ=environ)
        assert not refused.ok
        assert SECRET not in str(refused.failures)
    finally:
        server.close()
