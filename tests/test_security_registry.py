"""Hostile registries and the network (docs/security.md): nesting and sizes a real registry
would not send, credentials kept from plain HTTP and from other hosts, `insecure` only when
asked, and planted secrets grepped for in every output of every command, on success and on
failure. Loopback servers (tests/loopback.py) play the registries."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from git_util import IDENTITY, git
from test_registry import FaultServer

import setlist
from conftest import write
from setlist import lockfile
from setlist import registry as registry_module
from setlist.credentials import connection
from setlist.lockfile import Lock, LockEntry
from setlist.registry import Credentials, RegistryError

SECRETS = {
    "env": "EnvSecret-d81f3a",
    "auth": "AuthSecret-77c2e0",
    "identity": "IdentitySecret-5be9a1",
    "git": "GitToken-0a4c77",
    "url": "UrlSecret-c3d9f2",
}


@pytest.fixture
def faults() -> Iterator[FaultServer]:
    server = FaultServer().start()
    try:
        yield server
    finally:
        server.close()


class NotLoopback(FaultServer):
    """A FaultServer on 127.0.0.2: on this machine, but not a name Setlist treats as
    loopback (127.0.0.1, localhost, ::1), so it stands for a remote registry."""

    def __init__(self) -> None:
        super().__init__()
        handler, server_class = self.httpd.RequestHandlerClass, type(self.httpd)
        self.httpd.server_close()
        self.httpd = server_class(("127.0.0.2", 0), handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def host(self) -> str:
        return f"127.0.0.2:{self.httpd.server_address[1]}"


# ================================================================ malicious answers

def test_deeply_nested_json_from_a_registry_is_an_error_not_a_crash(faults):
    body = b"[" * 200_000 + b"]" * 200_000
    faults.routes["/v2/x/y/manifests/1.0"] = lambda h: (
        200, {"Content-Type": "application/vnd.oci.image.manifest.v1+json"}, body)
    faults.routes["/v2/x/y/tags/list"] = lambda h: (200, {}, body)
    client = faults.client(cache_dir=None)
    with pytest.raises(RegistryError, match="is not valid JSON"):
        client.manifest("x/y", "1.0")
    with pytest.raises(RegistryError, match="tag list is not valid JSON"):
        client.tags("x/y")


def test_deeply_nested_error_bodies_are_ignored(faults):
    faults.routes["/v2/x/y/tags/list"] = lambda h: (
        403, {}, b'{"errors": ' + b"[" * 100_000 + b"]" * 100_000 + b"}")
    with pytest.raises(RegistryError, match=r"access denied \(HTTP 403\)"):
        faults.client(cache_dir=None).tags("x/y")


def test_a_tag_list_is_capped_over_all_its_pages(faults, monkeypatch):
    """Each page is capped (MAX_TAG_PAGE_BYTES) and so is their sum: a registry cannot
    make the client hold more than MAX_TAG_LIST_BYTES of tags by paginating forever."""
    monkeypatch.setattr(registry_module, "MAX_TAG_LIST_BYTES", 64 * 1024)

    def page(handler):
        start = int(handler.path.rpartition("=")[2]) if "=" in handler.path else 0
        tags = [f"t{start + i:09d}-{'x' * 100}" for i in range(100)]
        link = f'</v2/x/y/tags/list?last={start + 100}>; rel="next"'
        return 200, {"Link": link}, json.dumps({"tags": tags}).encode()

    faults.routes["/v2/x/y/tags/list"] = page
    with pytest.raises(RegistryError, match="tag list is larger than 65536 bytes over all"):
        faults.client(cache_dir=None).tags("x/y")
    assert len(faults.requests) < 10


@pytest.mark.parametrize("length", [True, False])
def test_an_oversized_manifest_is_refused_with_or_without_a_length(faults, length):
    body = b'{"schemaVersion": 2, "pad": "' + b"x" * (5 * 1024 * 1024) + b'"}'
    headers = {"Content-Type": "application/vnd.oci.image.manifest.v1+json"}
    if not length:
        headers["X-No-Length"] = "1"
    faults.routes["/v2/x/y/manifests/1.0"] = lambda h: (200, headers, body)
    with pytest.raises(RegistryError, match="manifest is larger than 4194304 bytes"):
        faults.client(cache_dir=None).manifest("x/y", "1.0")


def test_a_manifest_fetched_by_digest_must_have_that_digest(faults):
    body = b'{"schemaVersion": 2}'
    wanted = "sha256:" + "0" * 64
    faults.routes[f"/v2/x/y/manifests/{wanted}"] = lambda h: (
        200, {"Content-Type": "application/vnd.oci.image.manifest.v1+json"}, body)
    with pytest.raises(RegistryError, match="digest"):
        faults.client(cache_dir=None).manifest("x/y", wanted)


# ================================================================ plain HTTP and credentials

def test_no_credentials_go_over_plain_http_to_a_host_that_is_not_loopback():
    """`insecure = true` allows plain HTTP, but a Basic challenge over it is not answered:
    the password would cross the network readable."""
    server = NotLoopback().start()
    try:
        server.routes["/v2/x/y/tags/list"] = lambda h: (
            401, {"WWW-Authenticate": 'Basic realm="r"'}, b"")
        client = server.client(credentials=Credentials("robot", SECRETS["env"]),
                               cache_dir=None)
        with pytest.raises(RegistryError, match="HTTP 401"):
            client.tags("x/y")
        assert server.requests and all("Authorization" not in h for _, h in server.requests)
        realm = f"http://{server.host}/token"
        server.routes["/v2/x/y/tags/list"] = lambda h: (
            401, {"WWW-Authenticate": f'Bearer realm="{realm}",service="s"'}, b"")
        with pytest.raises(RegistryError, match="token service over plain HTTP"):
            client.tags("x/y")
        assert all("/token" not in path for path, _ in server.requests)
    finally:
        server.close()


def _scheme(tmp_path: Path, registry_fields: str, host: str) -> tuple[str, str | None]:
    write(tmp_path / "main.setlist", f'''registry r {{
  host = "{host}"
{registry_fields}}}
image api {{
  repository = r / "x/y"
  strategy   = semver("^1")
}}
''')
    project = setlist.load(str(tmp_path / "main.setlist"))
    assert project.ok, [d.message for d in project.errors]
    spec = project.spec
    found = connection(spec, spec.images[0], str(tmp_path), {})
    return found.scheme, found.ca_file


@pytest.mark.parametrize(("host", "fields", "scheme"), [
    ("registry.example.com", "", "https"),
    ("registry.example.com", "  insecure = false\n", "https"),
    ("registry.example.com", "  insecure = true\n", "http"),
    ("10.0.0.5:5000", "", "https"),
    ("127.0.0.2:5000", "", "https"),
    ("127.0.0.1:5000", "", "http"),
    ("localhost:5000", "", "http"),
    ("[::1]:5000", "", "http"),
    ("127.0.0.1:5000", '  ca_file = "ca.pem"\n', "https"),
])
def test_plain_http_only_when_insecure_or_on_loopback(tmp_path, host, fields, scheme):
    assert _scheme(tmp_path, fields, host)[0] == scheme


# ================================================================ secrets in every output

class Echo(FaultServer):
    """A registry that wants logins and repeats every request header back in its errors
    (and headers), so that any secret the client sends would show in a careless message."""

    def __init__(self, bearer: bool) -> None:
        super().__init__()
        self.bearer = bearer
        handler_class = self.httpd.RequestHandlerClass
        handler_class.do_POST = handler_class.do_GET  # token requests: same echo
        self.posted: list[str] = []

    def answer(self, handler) -> None:  # noqa: ANN001
        self.requests.append((handler.path, dict(handler.headers)))
        seen = json.dumps(dict(handler.headers))
        if handler.command == "POST":
            form = handler.rfile.read(int(handler.headers.get("Content-Length") or 0))
            self.posted.append(form.decode("utf-8", "replace"))
            seen += " " + self.posted[-1]
        decoded = ""
        auth = handler.headers.get("Authorization", "")
        if auth.startswith("Basic "):
            decoded = base64.b64decode(auth[6:]).decode("utf-8", "replace")
        challenge = (f'Bearer realm="http://{self.host}/token",service="echo"'
                     if self.bearer else 'Basic realm="echo"')
        body = json.dumps({"errors": [{"code": "DENIED", "message": f"{seen} {decoded}"}],
                           "error": "invalid_grant", "error_description": seen}).encode()
        from loopback import reply

        reply(handler, 401, {"WWW-Authenticate": challenge, "X-Echo": seen[:4000]}, body)


def _spec(url: str, basic: Echo, bearer: Echo) -> str:
    return f'''gitops {{
  repo   = "{url}"
  branch = "main"
}}
registry basic {{
  host        = "{basic.host}"
  credentials = env("REG_AUTH")
}}
registry cfg {{
  host        = "{bearer.host}"
  credentials = docker_config
}}
image api {{
  repository = basic / "ex/api"
  strategy   = semver("^1")
}}
image web {{
  repository = cfg / "ex/web"
  strategy   = semver("^1")
}}
environment dev {{ clusters = cluster.env == "dev" }}
environment prod {{ clusters = cluster.env == "prod" }}
app shop {{
  base      = "apps/shop/base"
  namespace = "shop"
  images    = [api, web]
  deploy    = [dev, prod]
}}
promotion api {{
  dev  <- registry
  prod <- dev
}}
'''


def test_planted_secrets_appear_in_no_output_file_commit_or_cache(tmp_path, git_daemon):
    basic, bearer = Echo(bearer=False).start(), Echo(bearer=True).start()
    try:
        _secrets_run(tmp_path, git_daemon, basic, bearer)
    finally:
        basic.close()
        bearer.close()


def _secrets_run(tmp_path: Path, daemon, basic: Echo, bearer: Echo) -> None:
    url = daemon.bare("secrets.git", seed={"README.md": "# ops\n"})
    project = tmp_path / "project"
    write(project / "main.setlist", _spec(url, basic, bearer))
    entries = {(image, env): LockEntry(repository=f"{host}/ex/{image}", tag="1.0.0",
                                       strategy='semver("^1")', since="2026-01-01T00:00:00Z")
               for image, host in (("api", basic.host), ("web", bearer.host))
               for env in ("dev", "prod")}
    write(project / "setlist.lock", lockfile.dump(Lock(entries=entries)))
    docker = tmp_path / "docker"
    auth = base64.b64encode(f"robot:{SECRETS['auth']}".encode()).decode()
    write(docker / "config.json", json.dumps({"auths": {bearer.host: {
        "auth": auth, "identitytoken": SECRETS["identity"]}}}))
    cache = tmp_path / "cache"
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(IDENTITY)
    env.update({"XDG_CACHE_HOME": str(cache), "DOCKER_CONFIG": str(docker),
                "REG_AUTH": f"robot:{SECRETS['env']}", "SETLIST_GIT_TOKEN": SECRETS["git"]})

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "setlist", *args], cwd=project, env=env,
                              capture_output=True, text=True, timeout=300)

    out = tmp_path / "out"
    runs = {
        "check": run("check", "main.setlist"),
        "resolve": run("resolve", "main.setlist"),
        "compile": run("compile", "main.setlist", "-o", str(out)),
        "apply": run("apply", "main.setlist"),
        "apply --resolve": run("apply", "main.setlist", "--resolve"),
        "promote": run("promote", "main.setlist"),
        "import": run("import", str(out), "-o", str(tmp_path / "imported.setlist")),
        "apply (remote with user info)": run(
            "apply", "main.setlist", "--repo",
            f"https://robot:{SECRETS['url']}@127.0.0.1:9/ops.git"),
    }
    expected = {"check": 0, "resolve": 3, "compile": 0, "apply": 0, "apply --resolve": 3,
                "promote": 3, "import": 0, "apply (remote with user info)": 3}
    assert {k: r.returncode for k, r in runs.items()} == expected, \
        {k: r.stderr[-500:] for k, r in runs.items()}
    # The registries were asked, with the credentials (so the secrets were in play).
    assert any(h.get("Authorization") for _, h in basic.requests)
    assert any(SECRETS["identity"] in form for form in bearer.posted)
    bare = daemon.path("secrets.git")
    history = git("--git-dir", str(bare), "log", "--all", "-p", "--format=%H%n%B%n%an%n%ae")
    assert "setlist.lock" in history or "argocd/" in history
    for name, secret in SECRETS.items():
        for command, proc in runs.items():
            assert secret not in proc.stdout + proc.stderr, (name, command)
        assert secret not in history, name
        for place in (project, out, cache, tmp_path / "imported.setlist"):
            paths = [place] if place.is_file() else place.rglob("*")
            for path in paths:
                if path.is_file() and not path.is_symlink():
                    assert secret.encode() not in path.read_bytes(), (name, path)


def test_user_info_in_the_remote_url_logs_in_but_is_kept_out_of_the_cached_clone(tmp_path):
    """A remote URL with user info works (git gets it through its environment) while the
    cached clone's .git/config, commits and outputs never hold the password."""
    from git_util import SmartHTTP

    root = tmp_path / "srv"
    root.mkdir()
    git("init", "--quiet", "--bare", "--initial-branch=main", str(root / "ops.git"))
    git("--git-dir", str(root / "ops.git"), "config", "http.receivepack", "true")
    server = SmartHTTP(root, "robot", SECRETS["url"]).start()
    try:
        url = server.url("ops.git").replace("://", f"://robot:{SECRETS['url']}@")
        project = tmp_path / "project"
        write(project / "main.setlist", f'gitops {{\n  repo = "{url}"\n}}\n'
              'image api {\n  repository = "ghcr.io/ex/api"\n  strategy = semver("^1")\n}\n'
              'environment dev { clusters = all }\n'
              'app shop {\n  base = "apps/shop/base"\n  namespace = "shop"\n'
              '  images = [api]\n  deploy = [dev]\n}\n')
        write(project / "setlist.lock", lockfile.dump(Lock(entries={("api", "dev"): LockEntry(
            repository="ghcr.io/ex/api", tag="1.0.0", strategy='semver("^1")')})))
        env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
        env.update(IDENTITY)
        env["XDG_CACHE_HOME"] = str(tmp_path / "cache")
        done = subprocess.run([sys.executable, "-m", "setlist", "apply", str(project)],
                              env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        assert server.served > 0 and SECRETS["url"] not in done.stdout + done.stderr
        history = git("--git-dir", str(root / "ops.git"), "log", "-p", "--format=%B", "main")
        assert "argocd/root.yaml" in history and SECRETS["url"] not in history
        for path in (tmp_path / "cache").rglob("*"):
            if path.is_file():
                assert SECRETS["url"].encode() not in path.read_bytes(), path
    finally:
        server.stop()
