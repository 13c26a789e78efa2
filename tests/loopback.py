"""A loopback HTTP server for the faults a real registry cannot produce on demand (wrong
digests, 429s, resets, servers that ask for logins); subclasses say how to answer a GET."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Loopback:
    """Serves on 127.0.0.1 and a free port once started; ``answer`` handles each request
    whose method is in ``methods`` (others get the standard 501)."""

    methods: tuple[str, ...] = ("GET",)

    def __init__(self) -> None:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

        for method in self.methods:
            setattr(Handler, f"do_{method}", lambda handler: owner.answer(handler))

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request, client_address) -> None:  # noqa: ANN001
                pass  # connections the test resets on purpose

        self.httpd = Server(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def answer(self, handler: BaseHTTPRequestHandler) -> None:
        raise NotImplementedError

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.httpd.server_address[1]}"

    def start(self) -> Loopback:
        self.thread.start()
        return self

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()


def reply(handler: BaseHTTPRequestHandler, status: int, headers: dict[str, str],
          body: bytes, *, length: bool = True) -> None:
    """Send one complete answer (with Content-Length unless told not to)."""
    handler.send_response(status)
    for key, value in headers.items():
        handler.send_header(key, value)
    if length and "Content-Length" not in headers:
        handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)
