"""`setlist apply` against real git: bare repositories served by `git daemon` on loopback,
pushes over git://, concurrent writers in separate processes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from git_util import IDENTITY, branches, git, log, show

from conftest import write
from setlist import lockfile
from setlist.lockfile import Lock, LockEntry

IMAGES = ("api", "web", "db", "cache")
SECRET = "gh-token-Qx81zz7"


@pytest.fixture(scope="module")
def daemon(git_daemon):
    return git_daemon


def spec_text(url: str, prod_review: bool = False) -> str:
    images = "".join(f'image {name} {{\n  repository = "ghcr.io/example/{name}"\n'
                     f'  strategy = semver("^1")\n}}\n' for name in IMAGES)
    review = "\n  writeback = pull_request" if prod_review else ""
    return (f'gitops {{\n  repo = "{url}"\n  branch = "main"\n}}\n' + images +
            'environment dev { clusters = cluster.env == "dev" }\n'
            f'environment prod {{\n  clusters = cluster.env == "prod"{review}\n}}\n'
            'app shop {\n  base = "apps/shop/base"\n  namespace = "shop"\n'
            f'  images = [{", ".join(IMAGES)}]\n  deploy = [dev, prod]\n}}\n')


def entry(name: str, version: str) -> LockEntry:
    digest = "sha256:" + format(abs(hash((name, version))) % (16 ** 64), "064x")
    return LockEntry(repository=f"ghcr.io/example/{name}", tag=version, digest=digest,
                     strategy='semver("^1")', since="2026-01-01T00:00:00Z")


def lock_with(**versions: str) -> Lock:
    entries = {}
    for name in IMAGES:
        for env in ("dev", "prod"):
            entries[(name, env)] = entry(name, versions.get(f"{name}_{env}", "1.0.0"))
    return Lock(entries=entries)


def project(folder: Path, url: str, lock: Lock | None = None, **spec) -> Path:
    write(folder / "main.setlist", spec_text(url, **spec))
    if lock is not None:
        write(folder / "setlist.lock", lockfile.dump(lock))
    return folder


def environ(cache: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(IDENTITY)
    env["XDG_CACHE_HOME"] = str(cache)
    env.update(extra)
    return env


def apply(folder: Path, *args: str, cache: Path, env: dict[str, str] | None = None,
          ) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "setlist", "apply", str(folder), *args],
                          env=environ(cache, **(env or {})), capture_output=True, text=True,
                          timeout=300)


SEED = {"README.md": "# ops\n", "apps/shop/base/kustomization.yaml":
        "resources: [deployment.yaml]\n"}


def test_first_apply_commits_and_a_rerun_changes_nothing(daemon, tmp_path):
    url = daemon.bare("first.git", seed=SEED)
    folder = project(tmp_path / "spec", url, lock_with())
    done = apply(folder, cache=tmp_path / "cache")
    assert done.returncode == 0, done.stderr
    assert "committed" in done.stdout
    bare = daemon.path("first.git")
    history = log(bare)
    assert len(history) == 2 and history[0].endswith("|setlist: update api, cache, db, web "
                                                     "in dev, prod")
    body = git("--git-dir", str(bare), "log", "-1", "--format=%B%n--%an <%ae>", "main")
    assert "api dev: none → 1.0.0" in body
    assert "Setlist-Spec: " in body and "Setlist-Lock: " in body
    assert "--Test Author <author@example.com>" in body
    files = git("--git-dir", str(bare), "ls-tree", "-r", "--name-only", "main").split()
    assert "setlist.lock" in files and ".setlist/manifest.json" in files
    assert "argocd/applicationsets/shop-prod.yaml" in files and "README.md" in files
    assert show(bare, "main", "setlist.lock") == lockfile.dump(lock_with())
    again = apply(folder, cache=tmp_path / "cache")
    assert again.returncode == 0 and "nothing to commit" in again.stdout
    assert len(log(bare)) == 2  # no empty commit


def test_a_lock_change_commits_only_generated_paths(daemon, tmp_path):
    url = daemon.bare("change.git", seed=SEED)
    folder = project(tmp_path / "spec", url, lock_with())
    assert apply(folder, cache=tmp_path / "cache").returncode == 0
    # Someone commits an unrelated file meanwhile; apply keeps it.
    work = tmp_path / "other"
    git("clone", "--quiet", url, str(work))
    write(work / "docs/notes.md", "notes\n")
    git("add", "-A", cwd=work)
    git("commit", "--quiet", "-m", "notes", cwd=work)
    git("push", "--quiet", "origin", "HEAD:main", cwd=work)
    write(folder / "setlist.lock", lockfile.dump(lock_with(api_dev="1.2.0")))
    done = apply(folder, cache=tmp_path / "cache")
    assert done.returncode == 0, done.stderr
    bare = daemon.path("change.git")
    assert log(bare)[0].endswith("|setlist: api dev: 1.0.0 → 1.2.0")
    changed = git("--git-dir", str(bare), "show", "--name-only", "--format=", "main").split()
    assert changed == [".setlist/manifest.json", "apps/shop/overlays/dev/kustomization.yaml",
                       "setlist.lock"]
    assert show(bare, "main", "docs/notes.md") == "notes\n"


def test_dry_run_shows_the_commit_and_pushes_nothing(daemon, tmp_path):
    url = daemon.bare("dry.git", seed=SEED)
    folder = project(tmp_path / "spec", url, lock_with())
    done = apply(folder, "--dry-run", cache=tmp_path / "cache")
    assert done.returncode == 0, done.stderr
    assert "would commit to main" in done.stdout and "Setlist-Lock:" in done.stdout
    assert len(log(daemon.path("dry.git"))) == 1


def test_hand_edits_in_the_repository_stop_the_run(daemon, tmp_path):
    url = daemon.bare("edits.git", seed=SEED)
    folder = project(tmp_path / "spec", url, lock_with())
    assert apply(folder, cache=tmp_path / "cache").returncode == 0
    work = tmp_path / "other"
    git("clone", "--quiet", url, str(work))
    target = work / "argocd/applicationsets/shop-dev.yaml"
    target.write_text(target.read_text() + "# hand edit\n")
    git("commit", "--quiet", "-am", "hand edit", cwd=work)
    git("push", "--quiet", "origin", "HEAD:main", cwd=work)
    write(folder / "setlist.lock", lockfile.dump(lock_with(web_dev="1.3.0")))
    lock_before = (folder / "setlist.lock").read_bytes()
    done = apply(folder, cache=tmp_path / "cache")
    assert done.returncode == 1
    assert "argocd/applicationsets/shop-dev.yaml: was edited by hand" in done.stderr
    assert len(log(daemon.path("edits.git"))) == 3
    assert (folder / "setlist.lock").read_bytes() == lock_before
    forced = apply(folder, "--force", cache=tmp_path / "cache")
    assert forced.returncode == 0, forced.stderr
    assert "# hand edit" not in show(daemon.path("edits.git"), "main",
                                     "argocd/applicationsets/shop-dev.yaml")


def test_concurrent_writers_all_land_with_linear_history(daemon, tmp_path):
    """Four processes, as if on four machines (separate caches), each change one image at
    the same moment: every change lands, no commit is lost or force-pushed over."""
    url = daemon.bare("race.git", seed=SEED)
    base = project(tmp_path / "base", url, lock_with())
    assert apply(base, cache=tmp_path / "cache-base").returncode == 0
    processes = []
    for n, name in enumerate(IMAGES):
        folder = project(tmp_path / f"writer{n}", url,
                         lock_with(**{f"{name}_prod": f"1.{n + 5}.0"}))
        processes.append(subprocess.Popen(
            [sys.executable, "-m", "setlist", "apply", str(folder)],
            env=environ(tmp_path / f"cache{n}"), stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True))
    outcomes = [p.communicate(timeout=300) + (p.returncode,) for p in processes]
    assert [code for _, _, code in outcomes] == [0] * 4, outcomes
    bare = daemon.path("race.git")
    history = log(bare)
    assert len(history) == 2 + 4
    assert all(len(line.split("|")[0].split()) <= 2 for line in history)  # one parent each
    final = lockfile.parse(show(bare, "main", "setlist.lock"))
    assert {name: final.get(name, "prod").tag for name in IMAGES} == {
        name: f"1.{n + 5}.0" for n, name in enumerate(IMAGES)}
    overlay = show(bare, "main", "apps/shop/overlays/prod/kustomization.yaml")
    for n, _ in enumerate(IMAGES):
        assert f'newTag: "1.{n + 5}.0"' in overlay  # the output agrees with the lock


def test_the_same_image_changed_twice_ends_consistent(daemon, tmp_path):
    url = daemon.bare("same.git", seed=SEED)
    base = project(tmp_path / "base", url, lock_with())
    assert apply(base, cache=tmp_path / "cache-base").returncode == 0
    processes = []
    for n, version in enumerate(("1.7.0", "1.8.0")):
        folder = project(tmp_path / f"writer{n}", url, lock_with(api_dev=version))
        processes.append(subprocess.Popen(
            [sys.executable, "-m", "setlist", "apply", str(folder)],
            env=environ(tmp_path / f"cache{n}"), stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True))
    assert [p.wait(timeout=300) for p in processes] == [0, 0]
    bare = daemon.path("same.git")
    final = lockfile.parse(show(bare, "main", "setlist.lock")).get("api", "dev")
    assert final.tag in ("1.7.0", "1.8.0")
    overlay = show(bare, "main", "apps/shop/overlays/dev/kustomization.yaml")
    assert f'newTag: "{final.tag}"' in overlay and final.digest in overlay


def test_pull_request_mode_pushes_a_branch_of_its_own(daemon, tmp_path):
    url = daemon.bare("review.git", seed=SEED)
    folder = project(tmp_path / "spec", url, lock_with(), prod_review=True)
    assert apply(folder, "--mode", "commit", cache=tmp_path / "cache").returncode == 0
    write(folder / "setlist.lock", lockfile.dump(lock_with(api_prod="1.4.0")))
    marker = tmp_path / "opened.txt"
    command = f"printf '%s|%s|%s' {{branch}} {{base}} {{title}} > {marker}"
    done = apply(folder, "--open-pr-command", command, cache=tmp_path / "cache")
    assert done.returncode == 0, done.stderr
    bare = daemon.path("review.git")
    assert len(log(bare)) == 2  # main untouched
    pushed = [b for b in branches(bare) if b.startswith("setlist/prod/")]
    assert len(pushed) == 1 and pushed[0] in done.stdout
    assert marker.read_text() == f"{pushed[0]}|main|setlist: api prod: 1.0.0 → 1.4.0"
    assert "api prod: 1.0.0 → 1.4.0" in log(bare, pushed[0])[0]
    tip = log(bare, pushed[0], "%H")[0]
    rerun = apply(folder, cache=tmp_path / "cache")
    assert rerun.returncode == 0, rerun.stderr
    assert "already holds this change" in rerun.stderr
    assert log(bare, pushed[0], "%H")[0] == tip  # the same branch, not pushed again
    assert [b for b in branches(bare) if b.startswith("setlist/")] == pushed


def test_unreachable_remote_exits_3_and_redacts_credentials(tmp_path):
    url = f"https://robot:{SECRET}@127.0.0.1:9/ops.git"
    folder = project(tmp_path / "spec", url, lock_with())
    lock_before = (folder / "setlist.lock").read_bytes()
    done = apply(folder, cache=tmp_path / "cache", env={"SETLIST_GIT_TOKEN": SECRET})
    assert done.returncode == 3
    assert "https://***@127.0.0.1:9/ops.git" in done.stderr
    assert SECRET not in done.stderr + done.stdout
    assert (folder / "setlist.lock").read_bytes() == lock_before


def test_askpass_gives_git_the_token_from_the_environment(tmp_path):
    from setlist.gitrepo import _askpass_script

    script = _askpass_script(tmp_path)
    assert SECRET not in script.read_text()
    answer = subprocess.run([str(script), "Password for 'https://host': "],
                            env={"SETLIST_GIT_TOKEN": SECRET}, capture_output=True, text=True)
    assert answer.stdout == SECRET + "\n"


def test_a_stale_local_lock_does_not_undo_other_writers(daemon, tmp_path):
    url = daemon.bare("stale.git", seed=SEED)
    mine = project(tmp_path / "mine", url, lock_with())
    assert apply(mine, cache=tmp_path / "cache-mine").returncode == 0
    theirs = project(tmp_path / "theirs", url, lock_with(db_dev="1.9.0"))
    assert apply(theirs, cache=tmp_path / "cache-theirs").returncode == 0
    # My lock still says db 1.0.0 (made before their change) and changes web.
    write(mine / "setlist.lock", lockfile.dump(lock_with(web_dev="1.4.0")))
    done = apply(mine, cache=tmp_path / "cache-mine")
    assert done.returncode == 0, done.stderr
    final = lockfile.parse(show(daemon.path("stale.git"), "main", "setlist.lock"))
    assert (final.get("db", "dev").tag, final.get("web", "dev").tag) == ("1.9.0", "1.4.0")
    # The local lock now matches what was committed.
    assert lockfile.read(mine) == final


def test_apply_resolve_starts_from_the_committed_lock(daemon, tmp_path):
    from test_ocilayout import Layout

    url = daemon.bare("resolve.git", seed=SEED)
    folder = tmp_path / "spec"
    layout = Layout(folder / "oci")
    for name in IMAGES:
        for version, day in (("1.0.0", "01"), ("1.1.0", "02")):
            layout.tag(f"example/{name}:{version}",
                       layout.image("linux/amd64", f"2024-01-{day}T00:00:00Z"))
    text = spec_text(url).replace('repository = "ghcr.io/example/', 'repository = ghcr / "example/')
    write(folder / "main.setlist", 'registry ghcr {\n  host = "ghcr.io"\n  layout = "oci"\n}\n'
          + text)
    done = apply(folder, "--resolve", cache=tmp_path / "cache")
    assert done.returncode == 0, done.stderr
    committed = lockfile.parse(show(daemon.path("resolve.git"), "main", "setlist.lock"))
    assert {committed.get(n, e).tag for n in IMAGES for e in ("dev", "prod")} == {"1.1.0"}
    again = apply(folder, "--resolve", cache=tmp_path / "cache")
    assert again.returncode == 0 and "nothing to commit" in again.stdout


def test_commit_signing_configured_by_the_user_is_honoured(daemon, tmp_path):
    key = tmp_path / "signing-key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)],
                   check=True)
    config = tmp_path / "gitconfig"
    config.write_text(f"[gpg]\n\tformat = ssh\n[user]\n\tsigningkey = {key}\n"
                      "[commit]\n\tgpgsign = true\n")
    url = daemon.bare("signed.git", seed=SEED)
    folder = project(tmp_path / "spec", url, lock_with())
    done = apply(folder, cache=tmp_path / "cache", env={"GIT_CONFIG_GLOBAL": str(config)})
    assert done.returncode == 0, done.stderr
    raw = git("--git-dir", str(daemon.path("signed.git")), "cat-file", "commit", "main")
    assert "gpgsig -----BEGIN SSH SIGNATURE-----" in raw


def test_a_token_reaches_git_through_askpass_and_nowhere_else(tmp_path):
    """A real authenticated remote (git http-backend behind Basic auth): the token in
    SETLIST_GIT_TOKEN logs git in, and appears in no output, commit, clone or cache file."""
    from git_util import SmartHTTP

    root = tmp_path / "srv"
    root.mkdir()
    git("init", "--quiet", "--bare", "--initial-branch=main", str(root / "ops.git"))
    git("--git-dir", str(root / "ops.git"), "config", "http.receivepack", "true")
    server = SmartHTTP(root, "x-access-token", SECRET).start()
    try:
        url = server.url("ops.git")
        folder = project(tmp_path / "spec", url, lock_with())
        refused = apply(folder, cache=tmp_path / "cache")
        assert refused.returncode == 3 and server.served == 0
        assert "set SETLIST_GIT_TOKEN" in refused.stderr
        done = apply(folder, cache=tmp_path / "cache", env={"SETLIST_GIT_TOKEN": SECRET})
        assert done.returncode == 0, done.stderr
        assert server.served > 0
        outputs = refused.stdout + refused.stderr + done.stdout + done.stderr
        assert SECRET not in outputs
        history = git("--git-dir", str(root / "ops.git"), "log", "--format=%B%n%an%n%ae",
                      "main")
        assert "api dev: none → 1.0.0" in history and SECRET not in history
        for place in (root, tmp_path / "cache", folder):
            for path in place.rglob("*"):
                if path.is_file():
                    assert SECRET.encode() not in path.read_bytes(), path
    finally:
        server.stop()


@pytest.mark.parametrize("ours_is_later", [False, True])
def test_the_later_decision_wins_whichever_writer_lands_last(daemon, tmp_path, ours_is_later):
    """Two writers change api in dev at once. Theirs lands between our read of the
    repository and our push, so our push is refused and retried on top of theirs: the entry
    decided later (`since`) is the one that stays, whoever pushed last."""
    from setlist.apply import ApplyOptions
    from setlist.apply import apply as run_apply
    from setlist.project import load

    name = f"decided-{ours_is_later}.git"
    url = daemon.bare(name, seed=SEED)
    assert apply(project(tmp_path / "base", url, lock_with()),
                 cache=tmp_path / "cache-base").returncode == 0
    early, late = "2026-02-01T00:00:00Z", "2026-03-01T00:00:00Z"
    ours = entry("api", "1.7.0").model_copy(update={"since": late if ours_is_later else early})
    theirs = entry("api", "1.8.0").model_copy(
        update={"since": early if ours_is_later else late})
    other = project(tmp_path / "other", url, lock_with().with_entries({("api", "dev"): theirs}))
    mine = load([str(project(tmp_path / "mine", url))])

    def resolver(remote: Lock) -> Lock:
        landed = apply(other, cache=tmp_path / "cache-other")
        assert landed.returncode == 0, landed.stderr
        return remote.with_entries({("api", "dev"): ours})

    result = run_apply(mine, None, ApplyOptions(repo=url, branch="main"),
                       environ=environ(tmp_path / "cache-mine"), resolver=resolver,
                       sleep=lambda seconds: None)
    assert result.attempts == 2  # the first push was refused
    final = lockfile.parse(show(daemon.path(name), "main", "setlist.lock")).get("api", "dev")
    assert final == (ours if ours_is_later else theirs)
    assert result.status == ("committed" if ours_is_later else "unchanged")


def test_a_project_without_lock_entries_commits_its_output(daemon, tmp_path):
    """Every image pinned in the spec: no lock is written, and none is staged."""
    url = daemon.bare("nolock.git", seed=SEED)
    folder = tmp_path / "spec"
    text = spec_text(url).replace('strategy = semver("^1")', 'tag = "1.0.0"')
    write(folder / "main.setlist", text)
    done = apply(folder, cache=tmp_path / "cache")
    assert done.returncode == 0, done.stderr
    bare = daemon.path("nolock.git")
    assert len(log(bare)) == 2
    assert 'newTag: "1.0.0"' in show(bare, "main", "apps/shop/overlays/dev/kustomization.yaml")
    files = git("--git-dir", str(bare), "ls-tree", "-r", "--name-only", "main").split()
    assert "setlist.lock" not in files


# ---------------------------------------------------------------- the committed lock is capped


def _limited(max_bytes: int = 2 * 1024 ** 3):
    """A memory ceiling for the apply process, so that a lock read without a cap fails the
    test with a MemoryError instead of taking the machine's memory."""
    import resource

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (max_bytes, max_bytes))
    return limit


def apply_limited(folder: Path, *args: str, cache: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "setlist", "apply", str(folder), *args],
                          env=environ(cache), capture_output=True, text=True, timeout=300,
                          preexec_fn=_limited())


def _commit_to(url: str, work: Path, files: dict[str, str],
               links: dict[str, str] | None = None, message: str = "change") -> None:
    if not work.exists():
        git("clone", "--quiet", url, str(work))
    for rel, text in files.items():
        write(work / rel, text)
    for rel, target in (links or {}).items():
        (work / rel).unlink(missing_ok=True)
        os.symlink(target, work / rel)
    git("add", "-A", cwd=work)
    git("commit", "--quiet", "-m", message, cwd=work)
    git("push", "--quiet", "origin", "HEAD:main", cwd=work)


def test_an_oversized_committed_lock_stops_the_run(daemon, tmp_path):
    url = daemon.bare("biglock.git", seed=SEED)
    big = "# padding\n" + "#" * lockfile.MAX_LOCK_BYTES + "\n"
    _commit_to(url, tmp_path / "other", {"setlist.lock": big}, message="a huge lock")
    folder = project(tmp_path / "spec", url, lock_with())
    done = apply_limited(folder, cache=tmp_path / "cache")
    assert done.returncode == 1, done.stderr
    assert done.stderr.splitlines() == [
        "setlist: error: setlist.lock in the config repository is larger than 32 MiB, more "
        "than setlist reads",
        "  a lock holds one entry per image and environment; replace it with one written by "
        "setlist resolve"]
    assert len(log(daemon.path("biglock.git"))) == 2   # nothing pushed


def test_a_committed_lock_that_is_a_symbolic_link_is_not_followed(daemon, tmp_path):
    url = daemon.bare("linklock.git", seed=SEED)
    # git stores the link, not what it points to; followed, it never ends
    _commit_to(url, tmp_path / "other", {}, links={"setlist.lock": "/dev/zero"},
               message="a lock that is a link")
    folder = project(tmp_path / "spec", url, lock_with())
    done = apply_limited(folder, cache=tmp_path / "cache")
    assert done.returncode == 1, done.stderr
    assert done.stderr.splitlines()[0] == (
        "setlist: error: setlist.lock in the config repository is a symbolic link; setlist "
        "reads its lock only from a regular file")
    assert "Traceback" not in done.stderr and "MemoryError" not in done.stderr


def test_an_oversized_lock_in_the_history_is_skipped_unread(daemon, tmp_path):
    from setlist.gitrepo import Repo

    url = daemon.bare("oldbiglock.git", seed=SEED)
    work = tmp_path / "other"
    _commit_to(url, work, {"setlist.lock": "#" * 5000 + "\n"}, message="too big")
    _commit_to(url, work, {"setlist.lock": lockfile.dump(lock_with())}, message="a lock")
    commits = git("log", "--format=%H", cwd=work).split()   # newest first: lock, big, seed
    repo = Repo(path=work, environ=environ(tmp_path / "cache"))
    got = dict(repo.read_files(commits, "setlist.lock", limit=4096))
    assert got == {commits[0]: lockfile.dump(lock_with()),   # read
                   commits[1]: None,                          # 5001 bytes: too large
                   commits[2]: None}                          # no lock in the seed
    # apply reads that history (a local lock with a change) and lands the change
    folder = project(tmp_path / "spec", url, lock_with(api_dev="1.3.0"))
    done = apply_limited(folder, cache=tmp_path / "cache")
    assert done.returncode == 0, done.stderr
    final = lockfile.parse(show(daemon.path("oldbiglock.git"), "main", "setlist.lock"))
    assert final.get("api", "dev").tag == "1.3.0"
