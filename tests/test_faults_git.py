"""Git and disk fault campaign for `setlist apply` and `setlist promote`, with real git
(bare repositories served by `git daemon`, server-side hooks), real processes racing, and a
real small filesystem (tmpfs, else a loop-mounted ext4 image) that runs full.

A failed run exits 3 with a message saying what failed, leaves the remote as it was and
the project's files untouched; a rerun once the fault is gone succeeds.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from git_util import GitDaemon, GitStartError, available, git, log, show
from test_apply import SEED, environ, lock_with, project
from test_apply import apply as run_apply

from conftest import unavailable, write
from setlist import lockfile
from setlist.lockfile import Lock, LockEntry


@pytest.fixture(scope="module")
def daemon(git_daemon):
    return git_daemon


@pytest.fixture
def own_daemon(tmp_path) -> Iterator[GitDaemon]:
    """A git daemon of this test's own, which the test stops and starts again."""
    if not available():
        unavailable("git and git daemon are needed (scripts/install-services.sh)")
    server = GitDaemon(tmp_path / "served")
    try:
        server.start()
    except GitStartError as exc:
        unavailable(f"git daemon did not start: {exc}")
    try:
        yield server
    finally:
        server.stop()


def refs(bare: Path) -> str:
    """Every ref and what it points at: the remote's whole visible state."""
    return git("--git-dir", str(bare), "for-each-ref", "--format=%(refname) %(objectname)")


def objects(bare: Path) -> set[str]:
    """Every object the repository holds (loose or packed, quarantine left out)."""
    out = git("--git-dir", str(bare), "cat-file", "--batch-all-objects",
              "--batch-check=%(objectname)")
    return set(out.split())


def hook(bare: Path, name: str, body: str) -> None:
    path = bare / "hooks" / name
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)


def no_traceback(done: subprocess.CompletedProcess) -> None:
    assert "Traceback" not in done.stdout + done.stderr, done.stderr


# ================================================================ the remote dies mid-push


def test_the_remote_dies_mid_push_and_a_rerun_lands(own_daemon, tmp_path):
    """A pre-receive hook stops the git daemon and kills the receive-pack serving this push
    (after apply fetched, while it pushes): the remote is gone mid-push."""
    url = own_daemon.bare("dies.git", seed=SEED)
    bare = own_daemon.path("dies.git")
    folder = project(tmp_path / "spec", url, lock_with())
    assert run_apply(folder, cache=tmp_path / "cache").returncode == 0
    write(folder / "setlist.lock", lockfile.dump(lock_with(api_prod="1.5.0")))
    local = {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}
    before, stored = refs(bare), objects(bare)
    marker = tmp_path / "kill-once"
    marker.write_text("")
    assert own_daemon.process is not None
    hook(bare, "pre-receive",
         f'cat >/dev/null\nif [ -e "{marker}" ]; then\n  rm -f "{marker}"\n'
         f"  kill {own_daemon.process.pid}\n  kill -9 $PPID\n  exit 1\nfi\nexit 0\n")
    done = run_apply(folder, cache=tmp_path / "cache")
    no_traceback(done)
    assert done.returncode == 3, done.stdout + done.stderr
    assert not marker.exists()  # the hook ran: the push reached the remote
    assert own_daemon.process.wait(timeout=10) is not None
    error = [line for line in done.stderr.splitlines() if line.startswith("setlist: error:")]
    assert len(error) == 1 and url in error[0] and "git push failed" in error[0], error
    assert refs(bare) == before and objects(bare) == stored
    assert {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()} == local
    down = run_apply(folder, cache=tmp_path / "cache")  # still gone: refused at the fetch
    no_traceback(down)
    assert down.returncode == 3 and "git fetch failed" in down.stderr, down.stderr
    own_daemon.start()
    again = run_apply(folder, cache=tmp_path / "cache")
    assert again.returncode == 0, again.stderr
    assert lockfile.parse(show(bare, "main", "setlist.lock")).get("api", "prod").tag == "1.5.0"
    assert len(log(bare)) == 3
    assert lockfile.read(folder) == lock_with(api_prod="1.5.0")


# ================================================================ a hook refuses every push

REASON = "policy: main is frozen for the 2026.07 release"

PROMOTE_LOCK = Lock(entries={
    ("api", "dev"): LockEntry(repository="ghcr.io/example/api", tag="1.3.0",
                              digest="sha256:" + "13".ljust(64, "a"),
                              since="2026-07-06T10:00:00Z", strategy="semver()"),
    ("api", "staging"): LockEntry(repository="ghcr.io/example/api", tag="1.2.0",
                                  digest="sha256:" + "12".ljust(64, "a"),
                                  since="2026-07-01T10:00:00Z", source="promotion:dev",
                                  strategy="semver()"),
    ("api", "prod"): LockEntry(repository="ghcr.io/example/api", tag="1.1.0",
                               digest="sha256:" + "11".ljust(64, "a"),
                               since="2026-06-20T10:00:00Z", source="promotion:staging",
                               strategy="semver()"),
})


def promote(folder: Path, *args: str, cache: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "setlist", "promote", str(folder),
                           "--no-resolve", *args], env=environ(cache), capture_output=True,
                          text=True, timeout=300)


@pytest.mark.parametrize("command", ["apply", "apply-pull-request", "promote",
                                     "promote-approval"])
def test_a_hook_refusing_every_push_exits_3_with_its_reason(daemon, tmp_path, command):
    name = f"refuse-{command}.git"
    if command.startswith("apply"):
        url = daemon.bare(name, seed=SEED)
        folder = project(tmp_path / "spec", url, lock_with())
        assert run_apply(folder, "--mode", "commit", cache=tmp_path / "cache").returncode == 0
        write(folder / "setlist.lock", lockfile.dump(lock_with(web_prod="1.6.0")))
    else:
        from test_promote import spec_of

        url = daemon.bare(name, seed={"README.md": "ops\n",
                                      "setlist.lock": lockfile.dump(PROMOTE_LOCK)})
        folder = tmp_path / "spec"
        spec_of(folder, repo=url)
    bare = daemon.path(name)
    local = {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}
    before, stored = refs(bare), objects(bare)
    hook(bare, "pre-receive", f'cat >/dev/null\necho "{REASON}" >&2\n'
         'echo "see https://ops.example.com/freeze" >&2\nexit 1\n')
    if command == "apply":
        done = run_apply(folder, "--mode", "commit", cache=tmp_path / "cache")
    elif command == "apply-pull-request":
        done = run_apply(folder, "--mode", "pull-request", cache=tmp_path / "cache")
    elif command == "promote":
        done = promote(folder, "--env", "staging", "--at", "2026-07-06T12:30Z",
                       cache=tmp_path / "cache")
    else:  # approval: pushed as a pull-request branch of setlist's own
        done = promote(folder, "--env", "prod", "--at", "2026-07-07T12:00Z",
                       cache=tmp_path / "cache")
    no_traceback(done)
    assert done.returncode == 3, done.stdout + done.stderr
    error = [line for line in done.stderr.splitlines() if line.startswith("setlist: error:")]
    assert len(error) == 1, done.stderr
    assert "was refused" in error[0] and REASON in error[0], error[0]
    assert refs(bare) == before and objects(bare) == stored
    assert {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()} == local
    assert "attempt" not in done.stderr  # a refusal by policy is not a race: not retried


# ================================================================ concurrent writers

MANY = tuple(f"svc{n}" for n in range(8))


def many_spec(url: str) -> str:
    images = "".join(f'image {name} {{\n  repository = "ghcr.io/example/{name}"\n'
                     '  strategy = semver("^1")\n}\n' for name in MANY)
    return (f'gitops {{\n  repo = "{url}"\n  branch = "main"\n}}\n' + images +
            'environment prod { clusters = cluster.env == "prod" }\n'
            'app shop {\n  base = "apps/shop/base"\n  namespace = "shop"\n'
            f'  images = [{", ".join(MANY)}]\n  deploy = [prod]\n}}\n')


def many_lock(changed: str | None = None, version: str = "1.0.0") -> Lock:
    return Lock(entries={(name, "prod"): LockEntry(
        repository=f"ghcr.io/example/{name}", tag=version if name == changed else "1.0.0",
        digest="sha256:" + format(abs(hash((name, version if name == changed else "1.0.0")))
                                  % (16 ** 64), "064x"),
        strategy='semver("^1")', since="2026-01-01T00:00:00Z") for name in MANY})


@pytest.mark.parametrize("writers", [2, 4, 8])
def test_concurrent_writers_all_land_without_force_push(daemon, tmp_path, writers):
    """N processes, as if on N machines (caches of their own), each change a different
    image at once: every change lands, history is linear, nothing is pushed over."""
    name = f"writers-{writers}.git"
    url = daemon.bare(name, seed=SEED)
    bare = daemon.path(name)
    write(tmp_path / "base" / "main.setlist", many_spec(url))
    write(tmp_path / "base" / "setlist.lock", lockfile.dump(many_lock()))
    assert run_apply(tmp_path / "base", cache=tmp_path / "cache-base").returncode == 0
    start = log(bare, fmt="%H")[0]
    processes = []
    for n in range(writers):
        folder = tmp_path / f"writer{n}"
        write(folder / "main.setlist", many_spec(url))
        write(folder / "setlist.lock", lockfile.dump(many_lock(MANY[n], f"1.{n + 1}.0")))
        processes.append(subprocess.Popen(
            [sys.executable, "-m", "setlist", "apply", str(folder)],
            env=environ(tmp_path / f"cache{n}"), stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True))
    outcomes = [p.communicate(timeout=300) + (p.returncode,) for p in processes]
    for stdout, stderr, code in outcomes:
        assert "Traceback" not in stderr
        assert code == 0 and "committed" in stdout, (stdout, stderr)
    history = log(bare)
    assert len(history) == 2 + writers
    assert all(len(line.split("|")[0].split()) == 2 for line in history[:-1])  # one parent
    # Nothing was pushed over: the head before the race is an ancestor of the final head.
    git("--git-dir", str(bare), "merge-base", "--is-ancestor", start, "main")
    final = lockfile.parse(show(bare, "main", "setlist.lock"))
    assert {n: final.get(n, "prod").tag for n in MANY} == {
        n: (f"1.{i + 1}.0" if i < writers else "1.0.0") for i, n in enumerate(MANY)}
    overlay = show(bare, "main", "apps/shop/overlays/prod/kustomization.yaml")
    for i in range(writers):
        assert f'newTag: "1.{i + 1}.0"' in overlay
    git("--git-dir", str(bare), "fsck", "--no-progress")


# ================================================================ a full disk


@contextlib.contextmanager
def small_disk(where: Path, size_kib: int) -> Iterator[Path]:
    """A filesystem of ``size_kib`` KiB mounted at ``where``: tmpfs, else an ext4 image on
    a loop device. Neither possible (not root, no mount): unavailable."""
    where.mkdir(parents=True, exist_ok=True)
    tried = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_kib}k,mode=0755",
                            "tmpfs", str(where)], capture_output=True, text=True)
    if tried.returncode != 0:
        image = where.parent / f"{where.name}.img"
        made = shutil.which("mkfs.ext4") is not None and subprocess.run(
            ["dd", "if=/dev/zero", f"of={image}", "bs=1k", f"count={size_kib}"],
            capture_output=True).returncode == 0 and subprocess.run(
            ["mkfs.ext4", "-q", "-F", str(image)], capture_output=True).returncode == 0
        looped = made and subprocess.run(["mount", "-o", "loop", str(image), str(where)],
                                         capture_output=True).returncode == 0
        if not looped:
            unavailable(f"cannot mount a small filesystem (tmpfs: {tried.stderr.strip()}; "
                        "no loop-mounted ext4 either): the disk-full tests need root")
    try:
        yield where
    finally:
        if subprocess.run(["umount", str(where)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(where)], capture_output=True)


def fill(disk: Path, leave: int = 0) -> Path:
    """Fill ``disk`` up, then free about ``leave`` bytes again; the ballast file."""
    ballast = disk / "ballast"
    chunk = b"\0" * 65536
    with open(ballast, "wb") as handle:
        with contextlib.suppress(OSError):
            while True:
                handle.write(chunk)
                handle.flush()
    with contextlib.suppress(OSError):  # what a buffered write could not place
        handle.close()
    size = ballast.stat().st_size
    if leave:
        os.truncate(ballast, max(0, size - leave))
    probe = disk / "probe"
    with pytest.raises(OSError) as full:
        with open(probe, "wb") as handle:
            handle.write(b"\0" * (leave + 65536))
            handle.flush()
            os.fsync(handle.fileno())
    probe.unlink(missing_ok=True)
    assert full.value.errno == errno.ENOSPC
    return ballast


def tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def leftovers(folder: Path) -> list[str]:
    """Temporary files a write may leave behind."""
    return sorted(str(p) for pattern in (".setlist-work-*", "*.setlist-new", ".*.tmp")
                  for p in folder.rglob(pattern))


def cli(*args: str, cwd: Path, env: dict[str, str] | None = None
        ) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "setlist", *args], cwd=cwd,
                          env=env or dict(os.environ), capture_output=True, text=True,
                          timeout=300)


def test_compile_into_a_full_disk_changes_nothing(tmp_path):
    with small_disk(tmp_path / "disk", 512) as disk:
        folder = project(tmp_path / "spec", "https://git.example.com/ops", lock_with())
        out = disk / "out"
        first = cli("compile", str(folder), "-o", str(out), cwd=tmp_path)
        assert first.returncode == 0, first.stderr
        before = tree(out)
        write(folder / "setlist.lock", lockfile.dump(lock_with(api_prod="1.5.0",
                                                              web_dev="1.6.0")))
        lock_before = (folder / "setlist.lock").read_bytes()
        ballast = fill(disk, leave=4096)  # room for the first staged file, not the rest
        done = cli("compile", str(folder), "-o", str(out), cwd=tmp_path)
        no_traceback(done)
        assert done.returncode == 3, done.stdout + done.stderr
        assert "writing failed, nothing was changed" in done.stderr
        assert "No space left on device" in done.stderr
        assert tree(out) == before and leftovers(disk) == []
        assert (folder / "setlist.lock").read_bytes() == lock_before
        ballast.unlink()
        again = cli("compile", str(folder), "-o", str(out), cwd=tmp_path)
        assert again.returncode == 0, again.stderr
        assert 'newTag: "1.5.0"' in (out / "apps/shop/overlays/prod/kustomization.yaml"
                                     ).read_text()


def _layout_project(folder: Path, url: str) -> None:
    """A project whose registry is an OCI layout in the folder: resolving needs no network,
    and finds 1.1.0 of every image (the lock says 1.0.0)."""
    from test_apply import IMAGES, spec_text
    from test_ocilayout import Layout

    layout = Layout(folder / "oci")
    for name in IMAGES:
        for version, day in (("1.0.0", "01"), ("1.1.0", "02")):
            layout.tag(f"example/{name}:{version}",
                       layout.image("linux/amd64", f"2024-01-{day}T00:00:00Z"))
    text = spec_text(url).replace('repository = "ghcr.io/example/',
                                  'repository = ghcr / "example/')
    write(folder / "main.setlist",
          'registry ghcr {\n  host = "ghcr.io"\n  layout = "oci"\n}\n' + text)


def test_compile_resolve_into_a_full_disk_keeps_the_lock(tmp_path):
    with small_disk(tmp_path / "disk", 512) as disk:
        folder = tmp_path / "spec"
        _layout_project(folder, "https://git.example.com/ops")
        write(folder / "setlist.lock", "")
        out = disk / "out"
        first = cli("compile", str(folder), "-o", str(out), cwd=tmp_path)
        assert first.returncode == 0, first.stderr
        before, lock_before = tree(out), (folder / "setlist.lock").read_bytes()
        ballast = fill(disk, leave=4096)
        done = cli("compile", "--resolve", str(folder), "-o", str(out), cwd=tmp_path)
        no_traceback(done)
        assert done.returncode == 3, done.stdout + done.stderr
        assert "No space left on device" in done.stderr
        assert tree(out) == before and leftovers(disk) == []
        assert (folder / "setlist.lock").read_bytes() == lock_before
        assert leftovers(folder) == []
        ballast.unlink()
        again = cli("compile", "--resolve", str(folder), "-o", str(out), cwd=tmp_path)
        assert again.returncode == 0, again.stderr


def test_resolve_with_the_project_on_a_full_disk_keeps_the_lock(tmp_path):
    with small_disk(tmp_path / "disk", 512) as disk:
        folder = disk / "spec"
        _layout_project(folder, "https://git.example.com/ops")
        write(folder / "setlist.lock", lockfile.dump(Lock(entries={})) + "# old\n")
        lock_before = (folder / "setlist.lock").read_bytes()
        fill(disk)
        done = cli("resolve", str(folder), cwd=tmp_path)
        no_traceback(done)
        assert done.returncode == 3, done.stdout + done.stderr
        assert "setlist.lock could not be written" in done.stderr
        assert "No space left on device" in done.stderr
        assert (folder / "setlist.lock").read_bytes() == lock_before
        assert leftovers(folder) == []


@pytest.mark.parametrize("leave", [0, 4096, 16384], ids=["no-room", "room-for-git-only",
                                                        "room-for-the-output-only"])
def test_apply_with_its_clone_on_a_full_disk(daemon, tmp_path, leave):
    """The cached clone (XDG_CACHE_HOME) is on a small disk that runs full. Depending on the
    room left, git cannot fetch, or setlist cannot write the output into the clone, or git
    cannot stage or commit it: exit 3 naming the cause, the remote and the project as they
    were; once there is room again, a rerun lands the change."""
    name = f"full-{leave}.git"
    url = daemon.bare(name, seed=SEED)
    bare = daemon.path(name)
    with small_disk(tmp_path / "disk", 2048) as disk:
        folder = project(tmp_path / "spec", url, lock_with())
        first = run_apply(folder, cache=disk)
        assert first.returncode == 0, first.stderr
        write(folder / "setlist.lock", lockfile.dump(lock_with(api_prod="1.5.0")))
        local = {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}
        before, stored = refs(bare), objects(bare)
        ballast = fill(disk, leave=leave)
        done = run_apply(folder, cache=disk)
        no_traceback(done)
        assert done.returncode == 3, done.stdout + done.stderr
        error = [line for line in done.stderr.splitlines()
                 if line.startswith("setlist: error:")]
        assert len(error) == 1 and url in error[0], done.stderr
        # git says it its own way ("write error. Out of diskspace" for the index)
        assert "No space left on device" in error[0] or "Out of diskspace" in error[0], error
        assert refs(bare) == before and objects(bare) == stored
        assert {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()} == local
        assert leftovers(disk / "setlist") == []
        ballast.unlink()
        again = run_apply(folder, cache=disk)
        assert again.returncode == 0, again.stderr
        final = lockfile.parse(show(bare, "main", "setlist.lock"))
        assert final.get("api", "prod").tag == "1.5.0"
