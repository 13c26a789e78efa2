"""Real git for tests: bare repositories served by ``git daemon`` on a loopback port (push
over git://), and helpers to look at what landed. Nothing here mocks git."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

#: How long the daemon may take to accept connections (a deadline, not a sleep).
START_DEADLINE = 20.0

IDENTITY = {"GIT_AUTHOR_NAME": "Test Author", "GIT_AUTHOR_EMAIL": "author@example.com",
            "GIT_COMMITTER_NAME": "Test Committer",
            "GIT_COMMITTER_EMAIL": "committer@example.com"}


class GitStartError(RuntimeError):
    pass


def available() -> bool:
    return shutil.which("git") is not None and \
        os.path.exists(_exec_path() + "/git-daemon")


def _exec_path() -> str:
    return subprocess.run(["git", "--exec-path"], capture_output=True, text=True,
                          check=True).stdout.strip()


def git(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> str:
    environ = {**os.environ, **IDENTITY, **(env or {})}
    done = subprocess.run(["git", *args], cwd=cwd, env=environ, capture_output=True,
                          text=True, check=False)
    if done.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed: {done.stderr}")
    return done.stdout


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class GitDaemon:
    """``git daemon`` serving every bare repository below ``root`` with push enabled."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.port = _free_port()
        self.process: subprocess.Popen | None = None

    def start(self) -> GitDaemon:
        self.root.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            ["git", "daemon", "--reuseaddr", "--export-all", "--enable=receive-pack",
             f"--base-path={self.root}", "--listen=127.0.0.1", f"--port={self.port}",
             "--informative-errors", str(self.root)],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + START_DEADLINE
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise GitStartError(self.process.stderr.read().decode(errors="replace"))
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise GitStartError("git daemon did not accept connections in time")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
        if self.process is not None and self.process.stderr is not None:
            self.process.stderr.close()

    def bare(self, name: str, *, seed: dict[str, str] | None = None,
             branch: str = "main") -> str:
        """A new bare repository ``name`` (seeded with one commit of ``seed`` files when
        given); its git:// URL."""
        path = self.root / name
        git("init", "--quiet", "--bare", f"--initial-branch={branch}", str(path))
        if seed:
            work = self.root.parent / f"seed-{name}"
            git("init", "--quiet", f"--initial-branch={branch}", str(work))
            for rel, text in seed.items():
                (work / rel).parent.mkdir(parents=True, exist_ok=True)
                (work / rel).write_text(text)
            git("add", "-A", cwd=work)
            git("commit", "--quiet", "-m", "seed", cwd=work)
            git("push", "--quiet", str(path), f"HEAD:refs/heads/{branch}", cwd=work)
            shutil.rmtree(work)
        return f"git://127.0.0.1:{self.port}/{name}"

    def path(self, name: str) -> Path:
        return self.root / name


def log(bare: Path, branch: str = "main", fmt: str = "%H %P|%s") -> list[str]:
    return git("--git-dir", str(bare), "log", "--format=" + fmt, branch).splitlines()


def show(bare: Path, ref: str, path: str) -> str:
    return git("--git-dir", str(bare), "show", f"{ref}:{path}")


def branches(bare: Path) -> list[str]:
    out = git("--git-dir", str(bare), "for-each-ref", "--format=%(refname:short)",
              "refs/heads/")
    return sorted(out.split())
