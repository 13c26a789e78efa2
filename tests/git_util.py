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


class SmartHTTP:
    """Git's smart HTTP protocol on loopback: ``git http-backend`` (the real CGI program)
    behind a small HTTP server that asks for Basic credentials and accepts exactly
    ``user``/``password``. Request counts by outcome let tests see the login happen."""

    def __init__(self, root: Path, user: str, password: str) -> None:
        import base64
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        owner = self
        self.root = root
        self.expected = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
        self.refused = 0
        self.served = 0
        backend = _exec_path() + "/git-http-backend"

        class Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                if self.headers.get("Authorization") != owner.expected:
                    owner.refused += 1
                    self.send_response(401)
                    self.send_header("WWW-Authenticate", 'Basic realm="git"')
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                owner.served += 1
                path, _, query = self.path.partition("?")
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                env = {"GIT_PROJECT_ROOT": str(owner.root), "GIT_HTTP_EXPORT_ALL": "1",
                       "PATH_INFO": path, "QUERY_STRING": query,
                       "REQUEST_METHOD": self.command, "REMOTE_USER": "robot",
                       "REMOTE_ADDR": "127.0.0.1",
                       "CONTENT_TYPE": self.headers.get("Content-Type", ""),
                       "CONTENT_LENGTH": str(len(body)), "PATH": os.environ["PATH"]}
                if self.headers.get("Content-Encoding"):
                    env["HTTP_CONTENT_ENCODING"] = self.headers["Content-Encoding"]
                if self.headers.get("Git-Protocol"):
                    env["GIT_PROTOCOL"] = self.headers["Git-Protocol"]
                done = subprocess.run([backend], input=body, env=env, capture_output=True)
                head, _, payload = done.stdout.partition(b"\r\n\r\n")
                status = 200
                headers = []
                for line in head.decode("latin-1").split("\r\n"):
                    key, _, value = line.partition(":")
                    if key.lower() == "status":
                        status = int(value.split()[0])
                    elif key:
                        headers.append((key, value.strip()))
                self.send_response(status)
                for key, value in headers:
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = _serve  # noqa: N815

            def log_message(self, *args) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def start(self) -> SmartHTTP:
        self.thread.start()
        return self

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/{name}"

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
