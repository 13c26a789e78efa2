"""Shared fixtures. Tests run from the project root; shared/ lies beside it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


@pytest.fixture(scope="session", autouse=True)
def private_cache(tmp_path_factory):
    """Caches (parser tables, OCI blobs) go to a folder of the test session, never to the
    user's own cache; subprocesses inherit the variable."""
    old = os.environ.get("XDG_CACHE_HOME")
    os.environ["XDG_CACHE_HOME"] = str(tmp_path_factory.mktemp("cache"))
    yield
    if old is None:
        os.environ.pop("XDG_CACHE_HOME", None)
    else:
        os.environ["XDG_CACHE_HOME"] = old


@pytest.fixture
def project_dir(tmp_path, monkeypatch):
    """An empty folder as the current directory, for specs written by the test."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def without_spans(value):
    """A spec node as plain data without its spans, for comparing what a spec says."""
    if hasattr(value, "model_dump"):
        value = value.model_dump()
    if isinstance(value, dict):
        return {k: without_spans(v) for k, v in value.items() if k != "span"}
    if isinstance(value, (list, tuple)):
        return [without_spans(v) for v in value]
    return value


def unavailable(reason: str) -> None:
    """A test needs something this machine lacks (a tool, ../shared): in CI that is a
    failure, because CI must run every test; elsewhere the test is skipped with the reason."""
    if IN_CI:
        pytest.fail(f"{reason} (CI must run this test)", pytrace=False)
    pytest.skip(reason)  # outside CI only: CI fails above


@pytest.fixture(scope="session")
def registry(tmp_path_factory):
    """A real OCI registry (Debian's docker-registry) on a free loopback port, plain HTTP,
    for the whole session; tests use their own repository names. Missing or failing to
    start: unavailable (a failure in CI)."""
    yield from running_registry(tmp_path_factory.mktemp("registry"))


def running_registry(folder):
    """Start a registry in ``folder``, yield it, stop it: the body of a fixture. Missing or
    failing to start: unavailable (a failure in CI)."""
    import registry_util

    if not registry_util.available():
        unavailable(f"{registry_util.BINARY} is not installed "
                    "(scripts/install-services.sh installs it)")
    server = registry_util.Registry(folder)
    try:
        server.start()
    except registry_util.RegistryStartError as exc:
        unavailable(f"{registry_util.BINARY} did not start: {exc}")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def registry_tls(tmp_path_factory):
    """A throwaway CA and a server certificate for localhost / 127.0.0.1, made with the
    ``openssl`` CLI (:class:`registry_util.TLSFiles`). Missing openssl: unavailable."""
    import registry_util

    try:
        return registry_util.make_tls(tmp_path_factory.mktemp("tls"))
    except registry_util.RegistryStartError as exc:
        unavailable(f"cannot make test certificates: {exc}")


def _start_registry(tmp_path_factory, name: str, **options):
    import registry_util

    if not registry_util.available():
        unavailable(f"{registry_util.BINARY} is not installed "
                    "(scripts/install-services.sh installs it)")
    server = registry_util.Registry(tmp_path_factory.mktemp(name), **options)
    try:
        server.start()
    except registry_util.RegistryStartError as exc:
        unavailable(f"{registry_util.BINARY} did not start ({name}): {exc}")
    return server


@pytest.fixture(scope="session")
def tls_registry(tmp_path_factory, registry_tls):
    """The real registry over HTTPS with the ``registry_tls`` certificate, no auth."""
    server = _start_registry(tmp_path_factory, "registry-tls", tls=registry_tls)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def auth_registry(tmp_path_factory, registry_tls):
    """The real registry over HTTPS behind htpasswd basic auth: ``auth_registry.account``
    holds the one user and its (random) password. Hashing needs ``htpasswd -B`` or the
    ``bcrypt`` package (the test extra); without either: unavailable."""
    import secrets

    import registry_util

    if not registry_util.can_hash_passwords():
        unavailable("neither htpasswd (apache2-utils) nor the bcrypt package is installed "
                    "(pip install -e '.[test]')")
    account = registry_util.Account("setlist", "pw-" + secrets.token_urlsafe(18))
    server = _start_registry(tmp_path_factory, "registry-auth", tls=registry_tls,
                             account=account)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def git_daemon(tmp_path_factory):
    """``git daemon`` on a loopback port serving bare repositories (tests/git_util.py)."""
    import git_util

    if not git_util.available():
        unavailable("git and git daemon are needed (scripts/install-services.sh installs "
                    "them)")
    server = git_util.GitDaemon(tmp_path_factory.mktemp("git") / "repos")
    try:
        server.start()
    except git_util.GitStartError as exc:
        unavailable(f"git daemon did not start: {exc}")
    yield server
    server.stop()
