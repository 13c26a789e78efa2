"""The compile cache (setlist.cache): a compile that reuses it writes exactly the bytes a
cold compile writes — warm, after the cache is deleted, after one app changed — and still
notices hand edits and missing files. Each compile is a `setlist compile` process with a
cache folder of the test's own (XDG_CACHE_HOME)."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT

sys.path.insert(0, str(ROOT / "bench"))
import estate  # noqa: E402

sys.path.remove(str(ROOT / "bench"))

APPS, ENVS = 12, 4


def compile_(work: Path, out: str, cache: Path | None) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env.pop("SETLIST_NO_CACHE", None)
    if cache is None:
        env["SETLIST_NO_CACHE"] = "1"
    else:
        env["XDG_CACHE_HOME"] = str(cache)
    return subprocess.run([sys.executable, "-m", "setlist", "compile", "estate", "-o", out,
                           "--color", "never"], cwd=work, env=env, capture_output=True,
                          text=True, timeout=300)


def ok(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes()
            for p in sorted(root.rglob("*")) if p.is_file()}


def age(root: Path, seconds: float = 10) -> None:
    """Move every file's mtime back, as if the files were written a while ago (the cache
    does not trust files changed within its racy window; ctime still moves forward)."""
    for p in root.rglob("*"):
        if p.is_file():
            st = p.stat()
            os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns - int(seconds * 1e9)))


@pytest.fixture
def work(tmp_path):
    estate.generate(tmp_path, APPS, ENVS)
    return tmp_path


def test_warm_and_after_deleting_the_cache_same_bytes_as_cold(work):
    cache = work / "cache"
    ok(compile_(work, "cold", None))
    first = ok(compile_(work, "out", cache))
    assert re.search(r"out: \d+ created", first)
    assert list((cache / "setlist" / "compile").glob("run-*.bin"))
    assert list((cache / "setlist" / "compile").glob("out-*.bin"))
    warm = ok(compile_(work, "out", cache))
    assert re.fullmatch(r"out: 0 created, 0 updated, 0 removed, \d+ unchanged\n", warm)
    assert tree(work / "out") == tree(work / "cold")
    again = ok(compile_(work, "out", cache))  # the replayed run, if the files are trusted
    assert again == warm
    assert tree(work / "out") == tree(work / "cold")
    shutil.rmtree(cache)
    assert ok(compile_(work, "out", cache)) == warm
    assert tree(work / "out") == tree(work / "cold")
    # a cache of another output folder gives a fresh folder the same bytes
    ok(compile_(work, "elsewhere", cache))
    assert tree(work / "elsewhere") == tree(work / "cold")


def test_one_app_changed_same_bytes_as_a_cold_compile(work):
    cache = work / "cache"
    ok(compile_(work, "out", cache))
    ok(compile_(work, "out", cache))
    age(work / "out")
    estate.change_pin(work / "estate", 5, 3)
    changed = ok(compile_(work, "out", cache))
    assert f"{ENVS} updated" in changed
    ok(compile_(work, "cold", None))
    assert tree(work / "out") == tree(work / "cold")
    # and back: the earlier run's record must not be replayed for the new inputs
    estate.change_pin(work / "estate", 5, 0)
    ok(compile_(work, "out", cache))
    shutil.rmtree(work / "cold")
    ok(compile_(work, "cold", None))
    assert tree(work / "out") == tree(work / "cold")


def test_moved_declarations_and_a_changed_project_same_bytes_as_a_cold_compile(work):
    """Lines added above declarations move them without changing what they make (no key
    holds a position), and an app moved to another namespace changes its AppProject."""
    cache = work / "cache"
    ok(compile_(work, "out", cache))
    age(work / "out")
    spec = work / "estate" / "apps-00.setlist"
    spec.write_text("// moved down\n\n" + spec.read_text())
    assert "0 created, 0 updated, 0 removed" in ok(compile_(work, "out", cache))
    spec.write_text(spec.read_text().replace(f'namespace = "{estate.app_name(4)}"',
                                             'namespace = "elsewhere"'))
    changed = ok(compile_(work, "out", cache))
    assert f"{ENVS + 1} updated" in changed  # the app's Applications and its AppProject
    ok(compile_(work, "cold", None))
    assert tree(work / "out") == tree(work / "cold")


@pytest.mark.parametrize("edit", ["append", "same-size"])
def test_hand_edit_is_refused_with_a_warm_cache(work, edit):
    cache = work / "cache"
    ok(compile_(work, "out", cache))
    ok(compile_(work, "out", cache))
    age(work / "out")
    ok(compile_(work, "out", cache))  # records the aged files as trusted
    target = work / "out" / "argocd" / "root.yaml"
    data = target.read_bytes()
    st = target.stat()
    if edit == "append":
        target.write_bytes(data + b"# mine\n")
    else:
        target.write_bytes(data.replace(b"main", b"mayn", 1))
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns))  # even with the old mtime
    result = compile_(work, "out", cache)
    assert result.returncode == 1
    assert "argocd/root.yaml: was edited by hand since setlist wrote it" in result.stderr


def test_a_removed_output_file_is_written_again(work):
    cache = work / "cache"
    ok(compile_(work, "out", cache))
    ok(compile_(work, "cold", None))
    age(work / "out")
    ok(compile_(work, "out", cache))
    (work / "out" / "argocd" / "root.yaml").unlink()
    assert "1 created" in ok(compile_(work, "out", cache))
    assert tree(work / "out") == tree(work / "cold")


def test_a_corrupt_cache_is_ignored(work):
    cache = work / "cache"
    ok(compile_(work, "out", cache))
    ok(compile_(work, "cold", None))
    for record in (cache / "setlist" / "compile").iterdir():
        record.write_bytes(b"\x00not a record")
    ok(compile_(work, "out", cache))
    assert tree(work / "out") == tree(work / "cold")


def test_the_cache_folder_is_kept_small(tmp_path, monkeypatch):
    """Every new set of inputs writes a run record: the older half goes once there are
    more than MAX_RUNS, and a record just replayed counts as new."""
    from setlist import cache

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.delenv("SETLIST_NO_CACHE", raising=False)
    folder = tmp_path / "setlist" / "compile"

    def inputs(n: int) -> cache.Inputs:
        return cache.Inputs(key=hashlib.sha256(str(n).encode()).hexdigest(), texts={},
                            lock=None)

    cache.remember_run(inputs(0), [("a.yaml", "setlist", "0" * 64)], [], {})
    for n in range(1, cache.MAX_RUNS + 1):
        os.utime(folder / f"run-{inputs(n - 1).key[:32]}.bin", ns=(n * 10**9, n * 10**9))
        if n == 3:
            assert cache.recall_run(inputs(0)) is not None  # used again: kept
        cache.remember_run(inputs(n), [("a.yaml", "setlist", "0" * 64)], [], {})
    runs = list(folder.glob("run-*.bin"))
    assert len(runs) == (cache.MAX_RUNS + 1) - (cache.MAX_RUNS + 1) // 2
    assert cache.recall_run(inputs(0)) is not None
    assert cache.recall_run(inputs(1)) is None
    assert cache.recall_run(inputs(cache.MAX_RUNS)) is not None


def test_the_key_covers_code_inputs_and_lock(work, monkeypatch):
    from setlist import cache

    roots = sorted((work / "estate").glob("*.setlist"))
    monkeypatch.chdir(work)
    base = cache.inputs(("estate",), roots, None)
    assert cache.inputs(("estate",), roots, None).key == base.key
    assert cache.inputs(("estate",), roots, b"lock").key != base.key
    assert cache.inputs(("estate", "x"), roots, None).key != base.key
    estate.change_pin(work / "estate", 1, 2)
    assert cache.inputs(("estate",), roots, None).key != base.key
    estate.change_pin(work / "estate", 1, 0)
    assert cache.inputs(("estate",), roots, None).key == base.key
    monkeypatch.setattr(cache, "_FINGERPRINT", ["another setlist"])
    assert cache.inputs(("estate",), roots, None).key != base.key


def test_constants_shared_with_the_stages():
    from setlist import cache, lockfile, write

    assert cache.MANIFEST == write.MANIFEST
    assert cache.LOCK_NAME == lockfile.LOCK_NAME


# ---------------------------------------------------------------- the per-app memo


def memo_keys(project_dir: Path, lock=None) -> dict[str, str]:  # noqa: ANN001
    """Each app's memo key (and each AppProject's, as "project NAME"), from a compile
    that recalls nothing."""
    from setlist import load
    from setlist.compile import Memo

    memo = Memo(lambda key: None)
    result = load(project_dir).compile(lock, memo=memo)
    assert result.ok
    assert not [d for d in result.documents if d.digest is not None]
    return {app: key for app, (key, _paths) in memo.keys.items()}


def test_memo_keys_change_only_for_what_an_app_is_made_from(work):
    project = work / "estate"
    before = memo_keys(project)
    apps = [a for a in before if not a.startswith("project ")]
    projects = {f"project team-{a % estate.TEAMS:02d}" for a in range(APPS)}
    assert len(apps) == APPS and before.keys() == {*apps, *projects}
    assert len(set(before.values())) == len(before)
    assert memo_keys(project) == before  # deterministic
    estate.change_pin(project, 5, 3)
    after = memo_keys(project)
    # a version is not part of an AppProject: only the app's own key changes
    assert {a for a in before if before[a] != after[a]} == {estate.app_name(5)}
    # where a declaration sits is not part of any key: a comment above all of them
    apps_file = project / "apps-00.setlist"
    apps_file.write_text("// moved down\n\n" + apps_file.read_text())
    assert memo_keys(project) == after
    # a change of the app's shape changes its key and its AppProject's
    apps_file.write_text(apps_file.read_text().replace(
        f'namespace = "{estate.app_name(4)}"', 'namespace = "elsewhere"'))
    changed = memo_keys(project)
    assert {a for a in after if after[a] != changed[a]} == \
        {estate.app_name(4), f"project team-{4 % estate.TEAMS:02d}"}
    # a shared input (an environment every app is deployed to) changes every key
    envs = project / "envs.setlist"
    envs.write_text(envs.read_text().replace('tier: "pre"', 'tier: "early"', 1))
    assert all(memo_keys(project)[a] != after[a] for a in after)


def test_memo_key_follows_the_lock(work):
    from setlist import load, lockfile

    project = work / "estate"
    name = estate.app_name(2)
    spec = project / "apps-00.setlist"
    spec.write_text(re.sub(rf'(image {name} \{{[^}}]*?)\n  tag\s*=\s*"[^"]*"', r"\1",
                           spec.read_text()))
    image = next(i for i in load(project).spec.images if i.name == name)

    def lock(tag: str) -> lockfile.Lock:
        return lockfile.Lock(entries={(name, "dev"): lockfile.LockEntry(
            repository=image.reference, tag=tag)})

    before = memo_keys(project, lock("1.2.8"))
    assert memo_keys(project, lock("1.2.8")) == before
    after = memo_keys(project, lock("1.2.9"))
    assert {a for a in before if before[a] != after[a]} == {name}


def test_one_pin_changed_builds_only_that_apps_documents(work, monkeypatch):
    """In process: a compile with the memo of the previous run builds documents only for
    the app whose inputs changed; the rest stand in as placeholders with their hashes."""
    from setlist import cache as compile_cache
    from setlist import cli

    monkeypatch.setenv("XDG_CACHE_HOME", str(work / "cache"))
    monkeypatch.delenv("SETLIST_NO_CACHE", raising=False)
    monkeypatch.chdir(work)
    ok(compile_(work, "out", work / "cache"))
    age(work / "out")
    ok(compile_(work, "out", work / "cache"))  # records the aged files as trusted
    estate.change_pin(work / "estate", 5, 3)
    record = compile_cache.recall_output(Path("out"))
    teams = {a % estate.TEAMS for a in range(APPS)}
    assert record is not None and len(record.apps) == APPS + len(teams)
    memo, trusted, _manifest = cli._memo(record, Path("out"))
    from setlist import load

    result = load(Path("estate")).compile(memo=memo)
    built = {d.path for d in result.documents if d.digest is None}
    changed = estate.app_name(5)
    # a pin is no part of an AppProject: the app's own files and the root are built
    assert built - {"argocd/root.yaml"} == {p for p in built if f"/{changed}" in p}
    assert len([p for p in built if f"/{changed}" in p]) == 2 * ENVS
    placeholders = [d for d in result.documents if d.digest is not None]
    assert placeholders and all(trusted[d.path] == d.digest for d in placeholders)


def test_a_hand_edit_of_a_reused_apps_file_is_still_refused(work):
    cache = work / "cache"
    ok(compile_(work, "out", cache))
    age(work / "out")
    ok(compile_(work, "out", cache))
    other = next((work / "out" / "argocd" / "applications").glob(
        f"{estate.app_name(7)}-*.yaml"))
    st = other.stat()
    other.write_bytes(other.read_bytes().replace(b"main", b"mayn", 1))
    os.utime(other, ns=(st.st_atime_ns, st.st_mtime_ns))
    estate.change_pin(work / "estate", 5, 3)
    result = compile_(work, "out", cache)
    assert result.returncode == 1
    rel = other.relative_to(work / "out").as_posix()
    assert f"{rel}: was edited by hand since setlist wrote it" in result.stderr


def test_an_edited_overlay_of_a_reused_app_keeps_the_edit(work):
    cache = work / "cache"
    ok(compile_(work, "out", cache))
    overlay = next(p for p in sorted((work / "out").rglob("kustomization.yaml"))
                   if estate.app_name(7) in p.as_posix())
    overlay.write_text(overlay.read_text() + "patches:\n- path: mine.yaml\n")
    ok(compile_(work, "out", cache))  # the overlay is now marked edited in the manifest
    age(work / "out")
    ok(compile_(work, "out", cache))
    edited = overlay.read_bytes()
    assert b"mine.yaml" in edited
    estate.change_pin(work / "estate", 5, 3)
    assert f"{ENVS} updated" in ok(compile_(work, "out", cache))
    assert overlay.read_bytes() == edited
    ok(compile_(work, "cold", None))
    shutil.copy(overlay, work / "cold" / overlay.relative_to(work / "out"))
    manifest = ".setlist/manifest.json"
    assert (work / "out" / manifest).read_text().count('"edited"') == 1
    out, cold = tree(work / "out"), tree(work / "cold")
    out.pop(manifest), cold.pop(manifest)
    assert out == cold
