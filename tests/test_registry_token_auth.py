"""`setlist resolve` against the real registry behind token authentication
(docker-registry with ``auth: token``, our token issuer on loopback: token_registry.py),
end to end through the CLI: anonymous, ``env("VAR")``, config.json ``auths`` (``auth``
and ``identitytoken``) and credential helpers (user and password, ``<token>`` identity
tokens, ``credHelpers`` over ``credsStore``, none found, a crash). The issuer's counters
say which flow ran; no planted secret may show in output, errors or the lock."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys

import pytest
import token_registry as tokens
from token_registry import FakeHelper

from conftest import unavailable, write
from setlist import lockfile
from setlist.lockfile import Lock, LockEntry
from setlist.registry import Credentials, RegistryClient, RegistryError

CREATED = "2025-01-01T00:00:00Z"
REPO = "tok/app"


@pytest.fixture(scope="module")
def token_registry(tmp_path_factory):
    """docker-registry with ``auth: token`` and its issuer, for this module. Missing
    docker-registry or ``cryptography``: unavailable (a failure in CI)."""
    import registry_util

    if not registry_util.available():
        unavailable(f"{registry_util.BINARY} is not installed "
                    "(scripts/install-services.sh installs it)")
    try:
        import cryptography  # noqa: F401
    except ImportError:
        unavailable("the cryptography package is not installed (pip install -e '.[test]')")
    try:
        server = tokens.start(tmp_path_factory.mktemp("registry-token"))
    except registry_util.RegistryStartError as exc:
        unavailable(f"{registry_util.BINARY} did not start (token auth): {exc}")
    try:
        yield server
    finally:
        tokens.stop(server)


@pytest.fixture(scope="module")
def pushed(token_registry):
    token_registry.push_image(REPO, "1.0.0", created=CREATED)
    return token_registry.push_image(REPO, "1.1.0", created=CREATED)


@pytest.fixture
def issuer(token_registry, pushed):
    """The issuer with its counters cleared (and OAuth2 POSTs on) for one test."""
    token_registry.issuer.reset()
    yield token_registry.issuer
    token_registry.issuer.reset()


OLD_ENTRY = LockEntry(repository="", tag="0.9.0", digest="sha256:" + "e" * 64,
                      strategy='semver("^1")', since="2024-12-01T00:00:00Z",
                      source="registry")


def project(folder, server, credentials: str):
    """A project resolving tok/app on the token registry, with a lock holding an older
    version (to show it is left alone on failure)."""
    write(folder / "main.setlist", f'''gitops {{ repo = "https://git.example.com/ops" }}
registry tok {{
  host        = "{server.host}"
  credentials = {credentials}
}}
image app {{
  repository = tok / "{REPO}"
  strategy   = semver("^1")
}}
environment dev {{ clusters = all }}
app shop {{ base = "apps/shop/base"; namespace = "shop"; images = [app]; deploy = [dev] }}
''')
    entry = OLD_ENTRY.model_copy(update={"repository": f"{server.host}/{REPO}"})
    write(folder / "setlist.lock", lockfile.dump(Lock(entries={("app", "dev"): entry})))
    return folder


def run(folder, *, env: dict[str, str] | None = None,
        bin_dir=None) -> subprocess.CompletedProcess:
    """``setlist resolve`` in ``folder`` with ``DOCKER_CONFIG`` there (the user's own
    config is never read) and ``bin_dir`` first on PATH."""
    environ = {k: v for k, v in os.environ.items()
               if not k.startswith("SETLIST_TEST_") and k != "DOCKER_CONFIG"}
    environ["DOCKER_CONFIG"] = str(folder / "docker")
    if bin_dir is not None:
        environ["PATH"] = os.pathsep.join([str(bin_dir), environ.get("PATH", os.defpath)])
    environ.update(env or {})
    return subprocess.run([sys.executable, "-m", "setlist", "resolve"], cwd=folder,
                          env=environ, capture_output=True, text=True, encoding="utf-8",
                          timeout=120)


def docker_config(folder, data: dict) -> None:
    write(folder / "docker" / "config.json", json.dumps(data))


def resolved(folder, proc, pushed: str) -> None:
    assert proc.returncode == 0, proc.stderr
    entry = lockfile.read(folder).get("app", "dev")
    assert (entry.tag, entry.digest) == ("1.1.0", pushed)


def refused(folder, proc, before: bytes) -> str:
    """Exit 3, one error line for the image, the lock byte for byte as it was; the
    error line."""
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert "setlist.lock was not changed" in proc.stderr
    assert (folder / "setlist.lock").read_bytes() == before
    errors = [line for line in proc.stderr.splitlines() if line.startswith("setlist: error:")]
    assert len(errors) == 1, proc.stderr
    return errors[0]


def never_shown(folder, proc, *secrets: str) -> None:
    shown = proc.stdout + proc.stderr + (folder / "setlist.lock").read_text("utf-8")
    for secret in secrets:
        assert secret not in shown


# ================================================================ the client directly


def test_client_with_a_password_gets_a_token_by_get(token_registry, issuer, pushed):
    account = token_registry.token_account
    api = RegistryClient(token_registry.host, scheme="http", cache_dir=None, max_attempts=1,
                         credentials=Credentials(account.user, account.password))
    assert sorted(api.tags(REPO)) == ["1.0.0", "1.1.0"]
    assert api.manifest(REPO, "1.1.0").digest == pushed
    assert issuer.counts["get-basic"] >= 1 and issuer.counts["refresh"] == 0
    assert f"repository:{REPO}:pull" in issuer.scopes


def test_client_with_an_identity_token_uses_the_refresh_grant(token_registry, issuer, pushed):
    identity = issuer.identity_token(token_registry.token_account.user)
    api = RegistryClient(token_registry.host, scheme="http", cache_dir=None, max_attempts=1,
                         credentials=Credentials("", "", identity_token=identity))
    assert api.manifest(REPO, "1.1.0").digest == pushed
    assert issuer.counts["refresh"] >= 1
    assert issuer.counts["get-basic"] == issuer.counts["get-anonymous"] == 0
    assert set(issuer.client_ids) == {"setlist"}


def test_client_with_a_bad_identity_token_never_shows_it(token_registry, issuer):
    bad = "rt-not-issued-" + "x" * 16
    api = RegistryClient(token_registry.host, scheme="http", cache_dir=None, max_attempts=1,
                         credentials=Credentials("", "", identity_token=bad))
    with pytest.raises(RegistryError) as caught:
        api.tags(REPO)
    text = str(caught.value)
    # The issuer echoes the form back; the client scrubs it.
    assert "the token service refused the identity token (HTTP 401): invalid_grant" in text
    assert bad not in text and issuer.counts["refresh-refused"] == 1


# ================================================================ setlist resolve


def test_anonymous_is_refused_with_exit_3(tmp_path, token_registry, issuer):
    folder = project(tmp_path, token_registry, "anonymous")
    before = (folder / "setlist.lock").read_bytes()
    error = refused(folder, run(folder), before)
    assert error.startswith(f"setlist: error: {token_registry.host} {REPO}: ")
    assert "authentication required or refused (HTTP 401)" in error
    assert "no credentials are configured" in error
    assert issuer.counts["get-anonymous"] >= 1  # a token that grants nothing


def test_env_user_and_password_via_the_token_service(tmp_path, token_registry, issuer,
                                                     pushed):
    account = token_registry.token_account
    folder = project(tmp_path, token_registry, 'env("SETLIST_TEST_REG")')
    proc = run(folder, env={"SETLIST_TEST_REG": f"{account.user}:{account.password}"})
    resolved(folder, proc, pushed)
    assert issuer.counts["get-basic"] >= 1 and issuer.counts["get-refused"] == 0
    never_shown(folder, proc, account.password)


def test_env_wrong_password_is_refused_without_showing_it(tmp_path, token_registry, issuer):
    wrong = "wrong-" + token_registry.token_account.password
    folder = project(tmp_path, token_registry, 'env("SETLIST_TEST_REG")')
    before = (folder / "setlist.lock").read_bytes()
    proc = run(folder, env={"SETLIST_TEST_REG": f"setlist:{wrong}"})
    error = refused(folder, proc, before)
    assert "token request refused (HTTP 401)" in error
    assert "the credentials from environment variable SETLIST_TEST_REG were not accepted" \
        in error
    assert issuer.counts["get-refused"] >= 1
    never_shown(folder, proc, wrong, token_registry.token_account.password)


def test_docker_config_auths_auth(tmp_path, token_registry, issuer, pushed):
    account = token_registry.token_account
    folder = project(tmp_path, token_registry, "docker_config")
    auth = base64.b64encode(f"{account.user}:{account.password}".encode()).decode()
    docker_config(folder, {"auths": {token_registry.host: {"auth": auth}}})
    proc = run(folder)
    resolved(folder, proc, pushed)
    assert issuer.counts["get-basic"] >= 1
    never_shown(folder, proc, account.password, auth)


def test_docker_config_auths_identity_token(tmp_path, token_registry, issuer, pushed):
    identity = issuer.identity_token(token_registry.token_account.user)
    folder = project(tmp_path, token_registry, "docker_config")
    docker_config(folder, {"auths": {f"http://{token_registry.host}": {
        "identitytoken": identity}}})
    proc = run(folder)
    resolved(folder, proc, pushed)
    assert issuer.counts["refresh"] >= 1 and issuer.counts["get-basic"] == 0
    assert set(issuer.client_ids) == {"setlist"}
    never_shown(folder, proc, identity)


def test_identity_token_with_a_token_service_without_oauth(tmp_path, token_registry, issuer):
    identity = issuer.identity_token(token_registry.token_account.user)
    issuer.oauth = False
    folder = project(tmp_path, token_registry, "docker_config")
    before = (folder / "setlist.lock").read_bytes()
    docker_config(folder, {"auths": {token_registry.host: {"identitytoken": identity}}})
    proc = run(folder)
    error = refused(folder, proc, before)
    assert "does not take OAuth2 refresh-token requests (HTTP 404 to a POST)" in error
    assert "log in with a user name and password instead" in error
    assert issuer.counts["post-404"] >= 1
    never_shown(folder, proc, identity)


def test_identity_token_falls_back_to_the_password_without_oauth(tmp_path, token_registry,
                                                                 issuer, pushed):
    """An auths entry with both: a token service that does not take POSTs is asked by
    GET with the user and password, as for any login."""
    account = token_registry.token_account
    identity = issuer.identity_token(account.user)
    issuer.oauth = False
    folder = project(tmp_path, token_registry, "docker_config")
    auth = base64.b64encode(f"{account.user}:{account.password}".encode()).decode()
    docker_config(folder, {"auths": {token_registry.host: {"auth": auth,
                                                           "identitytoken": identity}}})
    proc = run(folder)
    resolved(folder, proc, pushed)
    assert issuer.counts["post-404"] >= 1 and issuer.counts["get-basic"] >= 1
    never_shown(folder, proc, identity, account.password)


def test_helper_user_and_password(tmp_path, token_registry, issuer, pushed):
    account = token_registry.token_account
    helper = FakeHelper(tmp_path / "bin").credentials(account.user, account.password)
    folder = project(tmp_path, token_registry, "docker_config")
    auth = base64.b64encode(b"setlist:not-this-one").decode()
    # With a store, auths entries are not read (docker login keeps only a stub there).
    docker_config(folder, {"auths": {token_registry.host: {"auth": auth}},
                           "credsStore": "test"})
    proc = run(folder, bin_dir=helper.folder)
    resolved(folder, proc, pushed)
    assert [call["stdin"] for call in helper.calls] == [token_registry.host]
    assert issuer.counts["get-basic"] >= 1 and issuer.counts["get-refused"] == 0
    never_shown(folder, proc, account.password)


def test_helper_identity_token_uses_the_refresh_grant(tmp_path, token_registry, issuer,
                                                      pushed):
    identity = issuer.identity_token(token_registry.token_account.user)
    helper = FakeHelper(tmp_path / "bin").credentials("<token>", identity)
    folder = project(tmp_path, token_registry, "docker_config")
    docker_config(folder, {"credHelpers": {token_registry.host: "test"}})
    proc = run(folder, bin_dir=helper.folder)
    resolved(folder, proc, pushed)
    assert issuer.counts["refresh"] >= 1
    assert issuer.counts["get-basic"] == issuer.counts["get-anonymous"] == 0
    assert set(issuer.client_ids) == {"setlist"}
    assert f"repository:{REPO}:pull" in issuer.scopes
    never_shown(folder, proc, identity)


def test_cred_helpers_beat_creds_store(tmp_path, token_registry, issuer, pushed):
    account = token_registry.token_account
    bin_dir = tmp_path / "bin"
    planted = "store-secret-" + "s" * 12
    store = FakeHelper(bin_dir, "store").credentials("someone", planted)
    helper = FakeHelper(bin_dir, "test").credentials(account.user, account.password)
    folder = project(tmp_path, token_registry, "docker_config")
    docker_config(folder, {"credsStore": "store",
                           "credHelpers": {token_registry.host: "test"}})
    proc = run(folder, bin_dir=bin_dir)
    resolved(folder, proc, pushed)
    assert len(helper.calls) == 1 and not store.calls
    never_shown(folder, proc, account.password, planted)


def test_helper_without_credentials_means_anonymous(tmp_path, token_registry, issuer):
    helper = FakeHelper(tmp_path / "bin").not_found()
    folder = project(tmp_path, token_registry, "docker_config")
    before = (folder / "setlist.lock").read_bytes()
    docker_config(folder, {"credsStore": "test"})
    error = refused(folder, run(folder, bin_dir=helper.folder), before)
    assert "authentication required or refused (HTTP 401)" in error
    assert f"no credentials for {token_registry.host} in docker-credential-test " \
           "(credsStore in " in error
    assert f"docker login {token_registry.host}" in error
    assert len(helper.calls) == 1 and issuer.counts["get-anonymous"] >= 1


def test_helper_crash_exits_3_without_its_output(tmp_path, token_registry, issuer):
    planted = "crash-secret-" + "c" * 12
    helper = FakeHelper(tmp_path / "bin").answer(
        stdout=json.dumps({"Username": "robot", "Secret": planted}) + "\npanic: boom\n",
        exit=2)
    folder = project(tmp_path, token_registry, "docker_config")
    before = (folder / "setlist.lock").read_bytes()
    docker_config(folder, {"credHelpers": {token_registry.host: "test"}})
    proc = run(folder, bin_dir=helper.folder)
    error = refused(folder, proc, before)
    assert error == (f"setlist: error: {token_registry.host} {REPO}: credentials: "
                     f"docker-credential-test (credHelpers in {folder / 'docker' / 'config.json'})"
                     f" failed for {token_registry.host} (exit status 2; its output is not "
                     "shown, as it may hold secrets)")
    assert "panic" not in proc.stderr and "Traceback" not in proc.stderr
    assert sum(issuer.counts.values()) == 0  # nothing was asked of the registry's issuer
    never_shown(folder, proc, planted)


def test_missing_helper_exits_3_with_a_hint(tmp_path, token_registry, issuer):
    folder = project(tmp_path, token_registry, "docker_config")
    before = (folder / "setlist.lock").read_bytes()
    docker_config(folder, {"credsStore": "setlist-test-absent"})
    error = refused(folder, run(folder, bin_dir=tmp_path / "empty-bin"), before)
    assert "docker-credential-setlist-test-absent (credsStore in " in error
    assert "is not installed or not on PATH (install it, or remove the setting" in error
