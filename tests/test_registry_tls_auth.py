"""The registry client and `setlist resolve` against the real registry over TLS and behind
htpasswd basic authentication: Debian's docker-registry with a throwaway CA (the
`registry_tls`, `tls_registry` and `auth_registry` fixtures in conftest.py)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from conftest import write
from setlist.registry import Credentials, RegistryClient, RegistryError

CREATED = "2025-01-01T00:00:00Z"


def client(server, **kwargs) -> RegistryClient:
    kwargs.setdefault("scheme", "https")
    return RegistryClient(server.host, cache_dir=None, max_attempts=1, **kwargs)


@pytest.fixture(scope="module")
def tls_image(tls_registry):
    digest = tls_registry.push_image("tls/app", "1.0.0", created=CREATED)
    return "tls/app", digest


@pytest.fixture(scope="module")
def auth_image(auth_registry):
    digest = auth_registry.push_image("auth/app", "2.0.0", created=CREATED)
    return "auth/app", digest


def no_traceback_cause(exc: BaseException) -> bool:
    """Raised ``from None``: no chained exception shows under the message."""
    return exc.__cause__ is None and (exc.__context__ is None or exc.__suppress_context__)


# ================================================================ TLS


def test_https_with_the_ca_lists_tags_and_fetches_a_manifest(tls_registry, registry_tls,
                                                             tls_image):
    repo, digest = tls_image
    api = client(tls_registry, ca_file=str(registry_tls.ca))
    assert api.tags(repo) == ["1.0.0"]
    manifest = api.manifest(repo, "1.0.0")
    assert manifest.digest == digest
    assert not manifest.is_index


def test_https_by_name_localhost_matches_the_certificate(tls_registry, registry_tls,
                                                         tls_image):
    repo, _ = tls_image
    api = RegistryClient(tls_registry.localhost, ca_file=str(registry_tls.ca),
                         cache_dir=None, max_attempts=1)
    assert api.tags(repo) == ["1.0.0"]


def test_https_without_the_ca_fails_naming_the_certificate(tls_registry, tls_image):
    repo, _ = tls_image
    with pytest.raises(RegistryError) as caught:
        client(tls_registry).tags(repo)
    text = str(caught.value)
    assert text.startswith(f"registry {tls_registry.host}/{repo}: ")
    assert "certificate" in text.lower()
    assert "Traceback" not in text
    assert no_traceback_cause(caught.value)


def test_a_missing_ca_file_is_a_registry_error(tls_registry, tmp_path):
    missing = tmp_path / "absent.pem"
    with pytest.raises(RegistryError) as caught:
        client(tls_registry, ca_file=str(missing))
    assert f"cannot load CA file {missing}" in str(caught.value)
    assert no_traceback_cause(caught.value)


def test_insecure_https_skips_certificate_checks(tls_registry, tls_image):
    """``insecure`` keeps HTTPS but checks neither the chain nor the name."""
    repo, digest = tls_image
    api = client(tls_registry, insecure=True)
    assert api.scheme == "https"
    assert api.tags(repo) == ["1.0.0"]
    assert api.manifest(repo, "1.0.0").digest == digest


def test_plain_http_to_the_tls_port_fails_cleanly(tls_registry, tls_image):
    repo, _ = tls_image
    with pytest.raises(RegistryError) as caught:
        client(tls_registry, scheme="http").tags(repo)
    assert "HTTP 400" in str(caught.value)
    assert no_traceback_cause(caught.value)


# ================================================================ htpasswd basic auth


def test_correct_credentials_list_tags(auth_registry, registry_tls, auth_image):
    repo, digest = auth_image
    account = auth_registry.account
    api = client(auth_registry, ca_file=str(registry_tls.ca),
                 credentials=Credentials(account.user, account.password))
    assert api.tags(repo) == ["2.0.0"]
    assert api.manifest(repo, "2.0.0").digest == digest


def test_no_credentials_is_refused(auth_registry, registry_tls, auth_image):
    repo, _ = auth_image
    with pytest.raises(RegistryError) as caught:
        client(auth_registry, ca_file=str(registry_tls.ca)).tags(repo)
    assert "HTTP 401" in str(caught.value)


def test_wrong_password_is_refused_without_showing_it(auth_registry, registry_tls,
                                                      auth_image):
    repo, _ = auth_image
    wrong = Credentials(auth_registry.account.user, "wrong-" + auth_registry.account.password)
    with pytest.raises(RegistryError) as caught:
        client(auth_registry, ca_file=str(registry_tls.ca), credentials=wrong).tags(repo)
    text = str(caught.value)
    assert "HTTP 401" in text
    assert wrong.secret not in text and auth_registry.account.password not in text
    assert wrong.basic().split()[1] not in text
    assert wrong.secret not in repr(caught.value)


# ================================================================ setlist resolve, end to end


def run(*args: str, cwd, env: dict[str, str]) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if k != "REG_AUTH"}
    environ.update(env)
    return subprocess.run([sys.executable, "-m", "setlist", *args], cwd=cwd, env=environ,
                          capture_output=True, text=True, encoding="utf-8", timeout=120)


def test_resolve_with_env_credentials_and_ca_file(tmp_path, auth_registry, registry_tls,
                                                  auth_image):
    repo, digest = auth_image
    account = auth_registry.account
    (tmp_path / "certs").mkdir()
    (tmp_path / "certs" / "ca.pem").write_bytes(registry_tls.ca.read_bytes())
    host = auth_registry.localhost
    write(tmp_path / "main.setlist", f'''gitops {{ repo = "https://git.example.com/ops" }}
registry local {{
  host        = "{host}"
  credentials = env("REG_AUTH")
  ca_file     = "certs/ca.pem"
}}
image app {{
  repository = local / "{repo}"
  strategy   = semver("^2")
}}
environment dev {{ clusters = all }}
app shop {{
  base      = "apps/shop/base"
  namespace = "shop"
  images    = [app]
  deploy    = [dev]
}}
''')
    proc = run("resolve", cwd=tmp_path, env={"REG_AUTH": f"{account.user}:{account.password}"})
    # Whatever the outcome, the password is never shown.
    assert account.password not in proc.stdout + proc.stderr
    assert proc.returncode == 0, proc.stderr
    lock = (tmp_path / "setlist.lock").read_text("utf-8")
    assert account.password not in lock
    assert f"{host}/{repo}" in lock and digest in lock and "2.0.0" in lock
