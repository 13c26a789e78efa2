"""Credentials from Docker's config.json and credential helpers (``docker_config``), and
the messages around them. Helpers are small scripts (:class:`token_registry.FakeHelper`);
nothing here talks to a registry (test_registry_token_auth.py does, end to end)."""

from __future__ import annotations

import base64
import json
import os
from types import SimpleNamespace

import pytest
from token_registry import FakeHelper

from conftest import write
from setlist.credentials import (
    Connection,
    CredentialError,
    connection,
    docker_config_credentials,
    with_hint,
)
from setlist.project import load
from setlist.registry import Credentials, RegistryError
from setlist.registry_http import Transport

PASSWORD = "helper-pa55-" + "q" * 8
IDENTITY = "identity-t0ken-" + "z" * 8
AUTH = base64.b64encode(f"robot:{PASSWORD}".encode()).decode()


def config(folder, data: dict, helpers: dict[str, FakeHelper] | None = None,
           extra: dict[str, str] | None = None) -> dict[str, str]:
    """Write ``data`` as config.json in ``folder``; the environ that reads it (and finds
    the helpers' folder first on PATH)."""
    write(folder / "config.json", json.dumps(data))
    path = os.pathsep.join([*(str(h.folder) for h in (helpers or {}).values()),
                            os.environ.get("PATH", os.defpath)])
    return {"DOCKER_CONFIG": str(folder), "PATH": path, "HOME": str(folder),
            **(extra or {})}


def described(found: Credentials | None) -> tuple | None:
    if found is None:
        return None
    return (found.username, found.secret, found.identity_token)


# ================================================================ which source, by Docker's rules


CASES = [
    # (name, config.json, host, expected credentials, expected source suffix)
    ("auths entry", {"auths": {"ghcr.io": {"auth": AUTH}}}, "ghcr.io",
     ("robot", PASSWORD, None), "config.json"),
    ("auths with a scheme and path", {"auths": {"https://ghcr.io/v2/": {"auth": AUTH}}},
     "ghcr.io", ("robot", PASSWORD, None), "config.json"),
    ("Docker Hub by its config key", {"auths": {"https://index.docker.io/v1/": {"auth": AUTH}}},
     "docker.io", ("robot", PASSWORD, None), "config.json"),
    ("identity token", {"auths": {"ghcr.io": {"identitytoken": IDENTITY}}}, "ghcr.io",
     ("", "", IDENTITY), "config.json"),
    ("identity token and password", {"auths": {"ghcr.io": {"auth": AUTH,
                                                           "identitytoken": IDENTITY}}},
     "ghcr.io", ("robot", PASSWORD, IDENTITY), "config.json"),
    ("empty auths entry (docker login with a store)", {"auths": {"ghcr.io": {}}}, "ghcr.io",
     None, "config.json"),
    ("another host only", {"auths": {"quay.io": {"auth": AUTH}}}, "ghcr.io", None,
     "config.json"),
    ("credsStore for every host, auths not read",
     {"auths": {"ghcr.io": {"auth": AUTH}}, "credsStore": "store"}, "ghcr.io",
     ("store-user", "store-secret", None), "docker-credential-store (credsStore in "),
    ("credHelpers beats credsStore",
     {"credsStore": "store", "credHelpers": {"ghcr.io": "test"}}, "ghcr.io",
     ("test-user", "test-secret", None), "docker-credential-test (credHelpers in "),
    ("credHelpers for another host: credsStore",
     {"credsStore": "store", "credHelpers": {"quay.io": "test"}}, "ghcr.io",
     ("store-user", "store-secret", None), "docker-credential-store (credsStore in "),
    ("credHelpers beats auths",
     {"auths": {"ghcr.io": {"auth": AUTH}}, "credHelpers": {"ghcr.io": "test"}}, "ghcr.io",
     ("test-user", "test-secret", None), "docker-credential-test (credHelpers in "),
    ("an empty credHelpers entry means the file",
     {"auths": {"ghcr.io": {"auth": AUTH}}, "credsStore": "store",
      "credHelpers": {"ghcr.io": ""}}, "ghcr.io", ("robot", PASSWORD, None), "config.json"),
    ("an empty credsStore means the file",
     {"auths": {"ghcr.io": {"auth": AUTH}}, "credsStore": ""}, "ghcr.io",
     ("robot", PASSWORD, None), "config.json"),
    ("credHelpers for Docker Hub by its config key",
     {"credHelpers": {"https://index.docker.io/v1/": "test"}}, "docker.io",
     ("test-user", "test-secret", None), "docker-credential-test (credHelpers in "),
    ("a host with a port", {"credHelpers": {"localhost:5000": "test"}}, "localhost:5000",
     ("test-user", "test-secret", None), "docker-credential-test (credHelpers in "),
]


@pytest.mark.parametrize("name,data,host,expected,source", CASES, ids=[c[0] for c in CASES])
def test_config_json_rules(tmp_path, name, data, host, expected, source):
    helpers = {"store": FakeHelper(tmp_path / "bin", "store").credentials("store-user",
                                                                         "store-secret"),
               "test": FakeHelper(tmp_path / "bin", "test").credentials("test-user",
                                                                       "test-secret")}
    environ = config(tmp_path, data, helpers)
    found, where = docker_config_credentials(host, environ)
    assert described(found) == expected
    assert source in where and str(tmp_path / "config.json") in where
    used = [h for h in helpers.values() if h.calls]
    if "docker-credential" in source:
        assert len(used) == 1 and used[0].calls[0]["argv"] == ["get"]
    else:
        assert not used  # the file decides: no helper is run


def test_no_config_file_is_no_credentials(tmp_path):
    found, where = docker_config_credentials("ghcr.io", {"DOCKER_CONFIG": str(tmp_path)})
    assert found is None and where == str(tmp_path / "config.json")
    home = {"HOME": str(tmp_path)}
    assert docker_config_credentials("ghcr.io", home) == (
        None, str(tmp_path / ".docker" / "config.json"))


@pytest.mark.parametrize("text,message", [
    ("{", "cannot be read as JSON"),
    ("[]", "is not a JSON object"),
    (json.dumps({"auths": {"ghcr.io": {"auth": "not base64!"}}}), "not base64 of user:password"),
    (json.dumps({"auths": {"ghcr.io": {"auth": base64.b64encode(b"nocolon").decode()}}}),
     "not base64 of user:password"),
    (json.dumps({"credsStore": 7}), "credsStore in"),
])
def test_broken_config_is_an_error_without_its_content(tmp_path, text, message):
    write(tmp_path / "config.json", text)
    with pytest.raises(CredentialError) as caught:
        docker_config_credentials("ghcr.io", {"DOCKER_CONFIG": str(tmp_path)})
    assert message in str(caught.value)
    assert "not base64!" not in str(caught.value) and "nocolon" not in str(caught.value)


# ================================================================ running a helper


def test_helper_gets_the_server_url_on_stdin_and_a_small_environment(tmp_path):
    helper = FakeHelper(tmp_path / "bin").credentials("robot", PASSWORD)
    environ = config(tmp_path, {"credsStore": "test"}, {"test": helper},
                     extra={"SETLIST_TEST_PLANTED": "do-not-pass", "AWS_PROFILE": "ci",
                            "XDG_RUNTIME_DIR": "/run/user/1"})
    assert described(docker_config_credentials("docker.io", environ)[0]) == \
        ("robot", PASSWORD, None)
    assert described(docker_config_credentials("registry.example.com:5000", environ)[0]) == \
        ("robot", PASSWORD, None)
    hub, other = helper.calls
    assert hub["argv"] == ["get"] and hub["stdin"] == "https://index.docker.io/v1/"
    assert other["stdin"] == "registry.example.com:5000"
    env = set(hub["env"])
    assert {"PATH", "HOME", "DOCKER_CONFIG", "AWS_PROFILE", "XDG_RUNTIME_DIR"} <= env
    assert "SETLIST_TEST_PLANTED" not in env


def test_helper_token_user_means_an_identity_token(tmp_path):
    helper = FakeHelper(tmp_path / "bin").credentials("<token>", IDENTITY)
    environ = config(tmp_path, {"credHelpers": {"ghcr.io": "test"}}, {"test": helper})
    found, _ = docker_config_credentials("ghcr.io", environ)
    assert described(found) == ("", "", IDENTITY)
    assert not found.has_password
    assert IDENTITY not in repr(found)


@pytest.mark.parametrize("stdout,exit_status", [
    ("credentials not found in native keychain\n", 1),
    ("credentials not found", 3),
    (json.dumps({"ServerURL": "ghcr.io", "Username": "", "Secret": ""}), 0),
])
def test_helper_without_credentials_means_anonymous(tmp_path, stdout, exit_status):
    helper = FakeHelper(tmp_path / "bin").answer(stdout=stdout, exit=exit_status)
    environ = config(tmp_path, {"credsStore": "test"}, {"test": helper})
    found, where = docker_config_credentials("ghcr.io", environ)
    assert found is None and where.startswith("docker-credential-test (credsStore in ")


@pytest.mark.parametrize("stdout,exit_status,message", [
    (f"fatal: could not unlock {PASSWORD}", 2, "failed for ghcr.io (exit status 2"),
    (json.dumps({"Username": "robot", "Secret": PASSWORD}), 1,
     "failed for ghcr.io (exit status 1"),
    (f"not json {PASSWORD}", 0, "something other than a credential helper's JSON"),
    (json.dumps({"Username": "robot", "Secret": 7}), 0,
     "something other than a credential helper's JSON"),
    (json.dumps([PASSWORD]), 0, "something other than a credential helper's JSON"),
])
def test_a_failing_helper_is_an_error_without_its_output(tmp_path, stdout, exit_status,
                                                         message):
    helper = FakeHelper(tmp_path / "bin").answer(stdout=stdout, exit=exit_status)
    environ = config(tmp_path, {"credsStore": "test"}, {"test": helper})
    with pytest.raises(CredentialError) as caught:
        docker_config_credentials("ghcr.io", environ)
    text = str(caught.value)
    assert text.startswith("credentials: docker-credential-test (credsStore in ")
    assert message in text
    assert PASSWORD not in text and "fatal" not in text
    exc = caught.value  # no chained exception (with the output) shows under it
    assert exc.__cause__ is None and (exc.__context__ is None or exc.__suppress_context__)


def test_a_hanging_helper_is_stopped(tmp_path):
    helper = FakeHelper(tmp_path / "bin").answer(stdout="", sleep=30)
    environ = config(tmp_path, {"credsStore": "test"}, {"test": helper})
    with pytest.raises(CredentialError) as caught:
        docker_config_credentials("ghcr.io", environ, timeout=0.5)
    assert "did not answer within 0.5 s for ghcr.io" in str(caught.value)


def test_a_missing_helper_is_an_error_with_a_hint(tmp_path):
    environ = config(tmp_path, {"credHelpers": {"ghcr.io": "absent"}})
    with pytest.raises(CredentialError) as caught:
        docker_config_credentials("ghcr.io", environ)
    text = str(caught.value)
    assert "docker-credential-absent (credHelpers in" in text
    assert "is not installed or not on PATH" in text and "install it" in text


def test_a_helper_name_is_never_given_to_a_shell(tmp_path):
    marker = tmp_path / "pwned"
    environ = config(tmp_path, {"credsStore": f"x; touch {marker}"})
    with pytest.raises(CredentialError, match="is not installed or not on PATH"):
        docker_config_credentials("ghcr.io", environ)
    assert not marker.exists()


# ================================================================ connections and hints


def spec_with(tmp_path, credentials: str, host: str = "ghcr.io"):
    write(tmp_path / "main.setlist", f'''
registry r {{ host = "{host}"; credentials = {credentials} }}
image app {{ repository = r / "team/app" }}
environment dev {{ clusters = all }}
app a {{ base = "b"; namespace = "a"; images = [app]; deploy = [dev] }}
''')
    loaded = load([str(tmp_path)])
    assert loaded.ok, [str(d) for d in loaded.diagnostics]
    return loaded.spec


def test_connection_asks_a_helper_once_per_host_with_logins(tmp_path):
    helper = FakeHelper(tmp_path / "bin").credentials("robot", PASSWORD)
    environ = config(tmp_path / "docker", {"credsStore": "test"}, {"test": helper})
    spec = spec_with(tmp_path, "docker_config")
    image = spec.images[0]
    logins: dict = {}
    first = connection(spec, image, str(tmp_path), environ, logins=logins)
    second = connection(spec, image, str(tmp_path), environ, logins=logins)
    assert len(helper.calls) == 1
    assert first.credentials == second.credentials == Credentials("robot", PASSWORD)
    assert not first.token and first.source.startswith("docker-credential-test")


def test_env_user_password_and_token(tmp_path):
    spec = spec_with(tmp_path, 'env("REG")')
    image = spec.images[0]
    conn = connection(spec, image, str(tmp_path), {"REG": f"robot:{PASSWORD}"})
    assert (conn.credentials, conn.token) == (Credentials("robot", PASSWORD), False)
    assert conn.source == "environment variable REG"
    conn = connection(spec, image, str(tmp_path), {"REG": IDENTITY})
    assert (conn.credentials.secret, conn.token) == (IDENTITY, True)


def hint(connection_: Connection, reason: str) -> str:
    image = SimpleNamespace(repository="team/app")
    return with_hint(RegistryError(connection_.host, "team/app", reason), image, connection_)


@pytest.mark.parametrize("credentials,source,expected", [
    (None, None, 'no credentials are configured for ghcr.io: set `credentials = '
                 'docker_config` or `credentials = env("VAR")` on its registry'),
    (None, "docker-credential-test (credsStore in /x/config.json)",
     "no credentials for ghcr.io in docker-credential-test (credsStore in /x/config.json): "
     "log in with `docker login ghcr.io`, or set them there"),
    (Credentials("robot", PASSWORD), "/x/config.json",
     "the credentials from /x/config.json were not accepted"),
])
def test_hints_for_refusals(credentials, source, expected):
    conn = Connection(host="ghcr.io", api_host="ghcr.io", scheme="https", ca_file=None,
                      credentials=credentials, source=source)
    reason = "tag list: authentication required or refused (HTTP 401)"
    assert hint(conn, reason) == f"{reason} ({expected})"
    assert hint(conn, "tag list not found (HTTP 404)") == "tag list not found (HTTP 404)"


# ================================================================ secrets are scrubbed


def test_identity_and_access_tokens_are_scrubbed_in_every_form():
    tricky = "rt/+=&" + IDENTITY
    transport = Transport("registry.example.com", credentials=Credentials(
        "robot", PASSWORD, identity_token=tricky))
    transport._authorization = "Bearer access-" + "a" * 20
    from urllib.parse import quote, quote_plus, urlencode

    text = " ".join([tricky, quote(tricky, safe=""), quote_plus(tricky),
                     urlencode({"refresh_token": tricky}), "access-" + "a" * 20, PASSWORD,
                     Credentials("robot", PASSWORD).basic()])
    scrubbed = transport._scrub(text)
    for secret in (IDENTITY, "access-", PASSWORD, "cm9ib3Q6"):
        assert secret not in scrubbed
    assert repr(Credentials("robot", PASSWORD, identity_token=tricky)).count("rt/") == 0
