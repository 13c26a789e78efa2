"""The config repository, through the ``git`` CLI and the user's own git configuration.

Setlist never reimplements git: clones, fetches, commits and pushes are ``git`` commands, so
credential helpers, ssh agents, ``commit.gpgsign`` and the author identity configured for
the user all apply. What Setlist adds:

* a cached clone per repository URL under the user cache folder, reused by later runs and
  serialised by a lock file, so that two applies on one machine never share a work tree at
  the same time;
* a token from the environment (``SETLIST_GIT_TOKEN``) reaches git through ``GIT_ASKPASS``
  (a small script that prints the variable), never on a command line or in a URL;
* every message that shows a URL shows it redacted (``https://***@host/...``), and git's
  own output is scrubbed of user info and of the token before it is shown.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
import stat
import subprocess
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = ["GitError", "Repo", "TOKEN_VARIABLE", "cached_clone", "redact"]

#: A token in this variable is given to git when it asks for a password.
TOKEN_VARIABLE = "SETLIST_GIT_TOKEN"
#: How long one git command may take (a clone of a large repository included).
GIT_TIMEOUT = 600.0

_USERINFO = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<info>[^/@\s]+)@")


class GitError(Exception):
    """A git command failed; the text is redacted and names the command, never a secret."""

    def __init__(self, message: str, *, rejected: bool = False) -> None:
        super().__init__(message)
        self.rejected = rejected  # a push refused because the remote moved on


def redact(text: str, secrets: Sequence[str] = ()) -> str:
    """``text`` without URL user info (``https://user:pw@host`` → ``https://***@host``) and
    without any of ``secrets``."""
    text = _USERINFO.sub(lambda m: f"{m['scheme']}***@", text)
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


@dataclass
class Repo:
    """A work tree of the config repository, driven with the git CLI."""

    path: Path
    environ: Mapping[str, str]

    def _env(self) -> dict[str, str]:
        env = dict(self.environ)
        env["GIT_TERMINAL_PROMPT"] = "0"  # never wait for a password on a terminal
        env.setdefault("LC_ALL", "C")    # git's messages are matched in English
        return env

    def _secrets(self) -> list[str]:
        token = self.environ.get(TOKEN_VARIABLE)
        return [token] if token else []

    def run(self, *args: str, check: bool = True, input: str | None = None,
            timeout: float = GIT_TIMEOUT) -> subprocess.CompletedProcess[str]:
        """``git -C <work tree> ARGS``; a failure (with ``check``) is a redacted GitError."""
        return run_git(["-C", str(self.path), *args], self._env(), self._secrets(),
                       check=check, input=input, timeout=timeout)

    def head(self) -> str | None:
        done = self.run("rev-parse", "--verify", "-q", "HEAD", check=False)
        return done.stdout.strip() or None

    def remote_head(self, branch: str) -> str | None:
        done = self.run("rev-parse", "--verify", "-q", f"refs/remotes/origin/{branch}",
                        check=False)
        return done.stdout.strip() or None

    def fetch(self, branch: str) -> str | None:
        """Fetch ``branch`` from origin; its commit, or None when the remote has no such
        branch (an empty repository)."""
        done = self.run("fetch", "--quiet", "--prune", "origin",
                        f"+refs/heads/{branch}:refs/remotes/origin/{branch}", check=False)
        if done.returncode != 0:
            if "couldn't find remote ref" in done.stderr:
                return None
            raise GitError(f"git fetch failed: {_last_lines(done.stderr, self._secrets())}")
        return self.remote_head(branch)

    def reset_to(self, commit: str | None, branch: str) -> None:
        """Make the work tree exactly ``commit`` (or empty, for a new repository) on a
        local branch named ``branch``, dropping anything a failed run left behind."""
        if commit is None:
            # A new repository: an empty orphan branch (any earlier one is dropped).
            self.run("checkout", "--quiet", "--orphan", "setlist-orphan", check=False)
            self.run("branch", "-D", f"setlist-{branch}", check=False)
            self.run("checkout", "--quiet", "--orphan", f"setlist-{branch}", check=False)
            self.run("branch", "-D", "setlist-orphan", check=False)
            self.run("rm", "-r", "-q", "-f", "--cached", ".", check=False)
        else:
            self.run("checkout", "--quiet", "-B", f"setlist-{branch}", commit)
            self.run("reset", "--quiet", "--hard", commit)
        self.run("clean", "-q", "-f", "-d", "-x")

    def changed_paths(self, paths: Sequence[str]) -> list[str]:
        """Of ``paths``, those whose content differs from the index (new, changed or
        deleted), after staging them."""
        # A path that is neither in the work tree nor tracked (no lock was ever written)
        # would make `git add` fail on a pathspec that matches nothing.
        tracked = set(self.run("ls-files", "-z", "--", *paths).stdout.split("\0")) \
            if paths else set()
        paths = [p for p in paths if p in tracked or os.path.lexists(self.path / p)]
        if not paths:
            return []
        self.run("add", "-A", "--", *paths)
        done = self.run("diff", "--cached", "--name-only", "-z", "--", *paths)
        return [p for p in done.stdout.split("\0") if p]

    def remote_tree(self, branch: str) -> str | None:
        """The tree of ``branch`` on the remote now (None when it does not exist)."""
        done = self.run("fetch", "--quiet", "origin", f"refs/heads/{branch}", check=False)
        if done.returncode != 0:
            return None
        tree = self.run("rev-parse", "FETCH_HEAD^{tree}", check=False).stdout.strip()
        return tree or None

    def tree(self) -> str:
        return self.run("rev-parse", "HEAD^{tree}").stdout.strip()

    def read_files(self, commits: Sequence[str], path: str,
                   limit: int) -> Iterator[tuple[str, str | None]]:
        """(commit, text) of ``path`` as each of ``commits`` has it; the text is None when
        the commit has no such file or the file is larger than ``limit`` bytes. Sizes are
        asked first (one ``git cat-file --batch-check``), so a large file is never read
        into memory."""
        if not commits:
            return
        specs = "".join(f"{commit}:{path}\n" for commit in commits)
        done = self.run("cat-file", "--batch-check=%(objectname) %(objecttype) %(objectsize)",
                        input=specs)
        for commit, line in zip(commits, done.stdout.splitlines(), strict=False):
            oid, kind, size = (line.split() + ["", "", ""])[:3]
            if kind != "blob" or not size.isdigit() or int(size) > limit:
                yield commit, None
                continue
            blob = self.run("cat-file", "blob", oid, check=False)
            yield commit, blob.stdout if blob.returncode == 0 else None

    def commit(self, message: str, author: str | None = None) -> str:
        with tempfile.NamedTemporaryFile("w", encoding="utf-8", suffix=".txt",
                                         delete=False) as handle:
            handle.write(message)
        try:
            args = ["commit", "--quiet", "--no-verify", "-F", handle.name]
            if author:
                args.append(f"--author={author}")
            self.run(*args)
        finally:
            os.unlink(handle.name)
        head = self.head()
        assert head is not None
        return head

    def push(self, source: str, branch: str, *, lease: str | None = None,
             force_with_lease: bool = False) -> None:
        """Push ``source`` to ``branch``. A refusal because the remote moved on (not a
        fast-forward, or a lease that no longer holds) is a GitError with ``rejected``."""
        args = ["push", "--porcelain", "origin", f"{source}:refs/heads/{branch}"]
        if force_with_lease:
            args.insert(1, f"--force-with-lease=refs/heads/{branch}:{lease or ''}")
        done = self.run(*args, check=False)
        if done.returncode == 0:
            return
        text = done.stdout + done.stderr
        # Refusals because another writer moved the branch first: not a fast-forward any
        # more, a lease that no longer holds, or the server losing the race to lock the ref.
        rejected = any(s in text for s in ("[rejected]", "non-fast-forward", "fetch first",
                                            "stale info", "cannot lock ref",
                                            "but expected"))
        reason = _last_lines(done.stderr or done.stdout, self._secrets())
        raise GitError(f"git push to {branch} was refused: {reason}" if "rejected" in text
                       else f"git push failed: {reason}", rejected=rejected)


def run_git(args: Sequence[str], env: Mapping[str, str], secrets: Sequence[str] = (), *,
            check: bool = True, input: str | None = None,
            timeout: float = GIT_TIMEOUT) -> subprocess.CompletedProcess[str]:
    command = ["git", *args]
    shown = redact(" ".join(a for a in args if not a.startswith("--author=")), secrets)
    try:
        done = subprocess.run(command, env=dict(env), capture_output=True, text=True,
                              encoding="utf-8", errors="replace", input=input,
                              timeout=timeout)
    except FileNotFoundError:
        raise GitError("the git command was not found; install git") from None
    except subprocess.TimeoutExpired:
        raise GitError(f"git {shown} took longer than {timeout:.0f} s") from None
    if check and done.returncode != 0:
        raise GitError(f"git {shown} failed: {_last_lines(done.stderr, secrets)}")
    return done


def _last_lines(text: str, secrets: Sequence[str], count: int = 3) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    shown = " / ".join(lines[-count:]) or "no message"
    return redact(shown, secrets)


def _askpass_script(folder: Path) -> Path:
    """A script git runs for a password: it prints $SETLIST_GIT_TOKEN (the token itself
    never leaves the environment). For a user name prompt it prints a placeholder user,
    which token-based Git hosts ignore."""
    path = folder / "askpass.sh"
    text = ('#!/bin/sh\ncase "$1" in\n  Username*) echo "x-access-token" ;;\n'
            f'  *) printf "%s\\n" "${TOKEN_VARIABLE}" ;;\nesac\n')
    if not path.exists() or path.read_text() != text:
        path.write_text(text)
        path.chmod(stat.S_IRWXU)
    return path


def _without_userinfo(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    authority, slash, path = rest.partition("/")
    if not sep or "@" not in authority:
        return url
    return f"{scheme}://{authority.rpartition('@')[2]}{slash}{path}"


def cache_root(environ: Mapping[str, str]) -> Path:
    base = environ.get("XDG_CACHE_HOME") or os.path.join(
        environ.get("HOME") or os.path.expanduser("~"), ".cache")
    return Path(base) / "setlist" / "repos"


@contextlib.contextmanager
def cached_clone(url: str, environ: Mapping[str, str], *,
                 root: Path | None = None) -> Iterator[Repo]:
    """A work tree of ``url`` in the cache (cloned on first use), held under an exclusive
    lock for the duration of the ``with`` block: applies on one machine take turns."""
    root = cache_root(environ) if root is None else root
    root.mkdir(parents=True, exist_ok=True)
    stored = _without_userinfo(url)
    key = hashlib.sha256(stored.encode("utf-8")).hexdigest()[:20]
    folder = root / key
    env = dict(environ)
    if env.get(TOKEN_VARIABLE):
        env["GIT_ASKPASS"] = str(_askpass_script(root))
    if stored != url:
        # The clone's .git/config keeps the URL without its user info; git gets the full
        # URL only through the environment of its own processes (a url.insteadOf rule).
        count = int(env.get("GIT_CONFIG_COUNT") or 0)
        env.update({"GIT_CONFIG_COUNT": str(count + 1),
                    f"GIT_CONFIG_KEY_{count}": f"url.{url}.insteadOf",
                    f"GIT_CONFIG_VALUE_{count}": stored})
    url = stored
    with open(root / f"{key}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            repo = Repo(folder, env)
            if not (folder / ".git").is_dir():
                if folder.exists():
                    import shutil

                    shutil.rmtree(folder)  # a clone that never finished
                folder.mkdir()
                repo.run("init", "--quiet")
                repo.run("remote", "add", "origin", url)
            elif repo.run("remote", "get-url", "origin", check=False).stdout.strip() != url:
                # Only when it changed: rewriting .git/config on every run fails on a full
                # disk before git can say what is wrong (and needs no write otherwise).
                repo.run("remote", "set-url", "origin", url)
            yield repo
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
