"""The bundled examples check clean, through the CLI as a user runs it; the quickstart's
offline registry (examples/quickstart/oci) is what its generator writes, and resolving from
it reproduces the committed setlist.lock."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import setlist
from conftest import EXAMPLES, ROOT
from setlist import lockfile
from setlist.ocilayout import LayoutClient


@pytest.mark.parametrize("name", ["quickstart", "multi-cluster"])
def test_example_checks_clean(name):
    project = setlist.load(EXAMPLES / name)
    assert project.files, f"examples/{name} holds no *.setlist files"
    assert [str(d) for d in project.diagnostics] == []
    assert project.spec is not None and project.spec.apps


def test_cli_check_quickstart_exit_zero():
    result = subprocess.run([sys.executable, "-m", "setlist", "check", "examples/quickstart"],
                            cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no problems found" in result.stdout


# ---------------------------------------------------------------- the quickstart's offline registry

QUICKSTART = EXAMPLES / "quickstart"
LAYOUT = QUICKSTART / "oci"
GENERATOR = ROOT / "scripts" / "make_quickstart_layout.py"


def files_below(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes()
            for p in sorted(root.rglob("*")) if p.is_file()}


def resolve(folder: Path) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([sys.executable, "-m", "setlist", "resolve", str(folder)],
                            cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def without_since(lock: lockfile.Lock) -> dict[tuple[str, str], dict]:
    return {key: entry.model_dump(exclude={"since"}) for key, entry in lock.entries.items()}


@pytest.fixture
def quickstart_copy(tmp_path) -> Path:
    """The quickstart (spec, layout, config repository) in a scratch folder, without its lock."""
    folder = tmp_path / "quickstart"
    shutil.copytree(QUICKSTART, folder, ignore=shutil.ignore_patterns(lockfile.LOCK_NAME))
    return folder


def test_bundled_layout_is_what_the_generator_writes(tmp_path):
    out = tmp_path / "oci"
    result = subprocess.run([sys.executable, str(GENERATOR), str(out)], cwd=ROOT,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    generated, bundled = files_below(out), files_below(LAYOUT)
    assert sorted(generated) == sorted(bundled), \
        "examples/quickstart/oci is stale: run python scripts/make_quickstart_layout.py"
    changed = [name for name in generated if generated[name] != bundled[name]]
    assert changed == [], \
        "examples/quickstart/oci is stale: run python scripts/make_quickstart_layout.py"
    assert sum(len(data) for data in bundled.values()) < 100_000


def test_bundled_layout_is_a_valid_oci_layout():
    client = LayoutClient(LAYOUT, host="ghcr.io")
    assert client.tags("example/shop-api") == [
        "1.3.9", "1.4.0", "1.4.2", "1.4.3", "1.5.0", "1.5.1", "1.5.1-debug", "2.0.0-rc.1",
        "2.0.0", "latest"]
    assert client.tags("example/shop-web") == [
        "main-f12d8e0", "main-3f9c2ab", "main-a41c9e7", "main-0b7e1d4", "pr-57-d41e9b2"]
    assert client.manifest("example/shop-api", "latest").digest == \
        client.manifest("example/shop-api", "2.0.0").digest
    two = client.manifest("example/shop-api", "1.5.0")
    assert two.is_index and two.platforms == ("linux/amd64", "linux/arm64")
    for digest, _ in two.children:  # every blob is read and checked against its digest
        child = client.manifest("example/shop-api", digest)
        assert client.config("example/shop-api", child)["created"] == "2025-03-10T08:21:00Z"
    one = client.manifest("example/shop-api", "1.5.1")
    assert not one.is_index
    assert client.image_platform("example/shop-api", one) == "linux/s390x"


def test_resolving_a_copy_reproduces_the_committed_lock(quickstart_copy):
    committed = lockfile.read(QUICKSTART)
    assert committed is not None, "examples/quickstart/setlist.lock is missing"
    resolve(quickstart_copy)
    fresh = lockfile.read(quickstart_copy)
    from_registry = lockfile.Lock(entries={k: e for k, e in committed.entries.items()
                                           if e.source == "registry"})
    assert without_since(fresh) == without_since(from_registry)
    assert {(image, env): (e.tag, e.digest) for (image, env), e in fresh.entries.items()} == {
        ("api", "dev"): ("1.5.0", committed.get("api", "dev").digest),
        ("web", "dev"): ("main-0b7e1d4", committed.get("web", "dev").digest)}
    # a second run changes nothing, byte for byte
    text = (quickstart_copy / lockfile.LOCK_NAME).read_bytes()
    resolve(quickstart_copy)
    assert (quickstart_copy / lockfile.LOCK_NAME).read_bytes() == text


def test_promoted_entries_name_versions_the_layout_holds():
    """staging and prod carry versions promoted earlier (resolve keeps them); each is a tag
    of the bundled layout with its digest, older than what dev runs."""
    client = LayoutClient(LAYOUT, host="ghcr.io")
    promoted = {k: e for k, e in lockfile.read(QUICKSTART).entries.items()
                if e.source.startswith("promotion:")}
    assert sorted(promoted) == [("api", "prod"), ("api", "staging"), ("web", "prod"),
                                ("web", "staging")]
    for (image, env), entry in promoted.items():
        repository = entry.repository.removeprefix("ghcr.io/")
        assert client.manifest(repository, entry.tag).digest == entry.digest, (image, env)
        upstream = {"staging": "dev", "prod": "staging"}[env]
        assert entry.source == f"promotion:{upstream}"


def test_the_committed_lock_is_up_to_date(quickstart_copy):
    shutil.copy(QUICKSTART / lockfile.LOCK_NAME, quickstart_copy / lockfile.LOCK_NAME)
    resolve(quickstart_copy)
    assert (quickstart_copy / lockfile.LOCK_NAME).read_bytes() == \
        (QUICKSTART / lockfile.LOCK_NAME).read_bytes()


def test_the_platform_filter_passes_over_the_s390x_only_tag(quickstart_copy):
    locked = lockfile.read(QUICKSTART).get("api", "dev")
    assert locked.tag == "1.5.0"
    assert set(locked.platforms) >= {"linux/amd64", "linux/arm64"}
    # without the platform filter, semver("^1.4") takes 1.5.1, built for linux/s390x only
    spec = quickstart_copy / "setlist.setlist"
    text = spec.read_text(encoding="utf-8")
    line = '  platforms   = ["linux/amd64", "linux/arm64"]\n'
    assert text.count(line) == 1
    spec.write_text(text.replace(line, ""), encoding="utf-8")
    resolve(quickstart_copy)
    unfiltered = lockfile.read(quickstart_copy).get("api", "dev")
    assert (unfiltered.tag, unfiltered.platforms) == ("1.5.1", ("linux/s390x",))
