"""A real HTTP proxy on loopback in front of a real registry, which injects faults by rule.

Every request (GET or HEAD) is forwarded to the upstream registry and its answer relayed,
unless the first :class:`Rule` that matches the request (method, a regular expression
searched in the path, and which of the rule's matching requests it is: ``nth``, 1-based)
says otherwise. What a rule can do (``fault``):

* ``stall``: hold the request, answering nothing, until the client gives up and closes the
  connection (a delay longer than any client timeout, without a clock);
* ``delay``: answer after ``seconds`` (a delay shorter than the client timeout);
* ``reset``: drop the connection with a TCP reset before any answer;
* ``reset_after_headers``: send the status line and headers, then reset;
* ``truncate``: send the headers and half the body, then close cleanly;
* ``status``: answer ``status`` with ``headers`` (``Retry-After``) and an OCI error body;
* ``length``: the real body with a ``Content-Length`` off by ``delta`` bytes;
* ``oversize``: a body of ``size`` bytes, with its ``Content-Length`` or (``declared`` false)
  without one, ended by closing the connection;
* ``call``: run ``action`` (stop the registry, say), then forward as usual.

When the upstream cannot be reached the proxy answers ``502 Bad Gateway``, as a reverse
proxy in front of a registry does. Nothing here imitates a registry: every answer that is
not a fault is the registry's own.
"""

from __future__ import annotations

import fcntl
import http.client
import json
import re
import select
import socket
import struct
import termios
import threading
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler

from loopback import Loopback

#: Upper bound on holding a stalled request (a client that never gives up).
STALL_DEADLINE = 60.0
#: Upper bound on waiting for the client to acknowledge what was sent before a reset.
ACK_DEADLINE = 5.0
_HOP_BY_HOP = frozenset({"connection", "keep-alive", "transfer-encoding", "te", "trailer",
                         "upgrade", "proxy-authenticate", "proxy-authorization",
                         "content-length"})


@dataclass
class Rule:
    """One fault for the requests it matches; ``seen`` counts the matching requests and
    ``fired`` those the fault was applied to."""

    fault: str
    path: str = ""
    method: str | None = None
    nth: Collection[int] | None = None
    seconds: float = 0.0
    status: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    delta: int = 0
    size: int = 0
    declared: bool = True
    action: Callable[[], object] | None = None
    seen: int = 0
    fired: int = 0

    def applies(self, method: str, path: str) -> bool:
        """Whether this request matches, counting it; True when the fault is applied."""
        if self.method is not None and self.method != method:
            return False
        if not re.search(self.path, path):
            return False
        self.seen += 1
        if self.nth is not None and self.seen not in self.nth:
            return False
        self.fired += 1
        return True


@dataclass(frozen=True)
class Seen:
    method: str
    path: str
    fault: str | None


class FaultProxy(Loopback):
    """Listens on 127.0.0.1 and a free port once started; forwards to ``upstream``
    (``host:port``, plain HTTP)."""

    methods = ("GET", "HEAD")

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.rules: list[Rule] = []
        self.log: list[Seen] = []
        self._lock = threading.Lock()
        super().__init__()

    def answer(self, handler: BaseHTTPRequestHandler) -> None:
        self._handle(handler)

    def reset(self, *rules: Rule) -> None:
        """Replace the rules and forget what was seen."""
        with self._lock:
            self.rules = list(rules)
            self.log = []

    # ------------------------------------------------------------ one request

    def _rule_for(self, method: str, path: str) -> Rule | None:
        with self._lock:
            rule = next((r for r in self.rules if r.applies(method, path)), None)
            self.log.append(Seen(method, path, rule.fault if rule else None))
            return rule

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        method, path = handler.command, handler.path
        rule = self._rule_for(method, path.split("?", 1)[0])
        if rule is not None and rule.fault == "call" and rule.action is not None:
            rule.action()
            rule = None
        if rule is not None and rule.fault == "stall":
            _wait_for_close(handler.connection)
            handler.close_connection = True
            return
        if rule is not None and rule.fault == "reset":
            _reset(handler)
            return
        if rule is not None and rule.fault == "status":
            body = json.dumps({"errors": [{"code": "UNAVAILABLE", "message":
                                           f"injected HTTP {rule.status}"}]}).encode()
            _send(handler, rule.status, {"Content-Type": "application/json",
                                         **rule.headers}, body, method)
            return
        status, headers, body = self._forward(handler)
        if rule is None:
            _send(handler, status, headers, body, method)
        elif rule.fault == "delay":
            time.sleep(rule.seconds)  # the injected fault itself: an answer this late
            _send(handler, status, headers, body, method)
        elif rule.fault == "reset_after_headers":
            _send(handler, status, headers, b"", method, length=len(body))
            _wait_acked(handler.connection)
            _reset(handler)
        elif rule.fault == "truncate":
            _send(handler, status, headers, body[: len(body) // 2], method, length=len(body))
            handler.close_connection = True
        elif rule.fault == "length":
            _send(handler, status, headers, body, method, length=max(0, len(body) + rule.delta))
            handler.close_connection = True
        elif rule.fault == "oversize":
            padding = b'{"padding": "' + b"x" * max(0, rule.size - 16) + b'"}'
            _send(handler, status, headers, padding, method,
                  length=len(padding) if rule.declared else None)
            handler.close_connection = True
        else:
            raise ValueError(f"unknown fault {rule.fault!r}")

    def _forward(self, handler: BaseHTTPRequestHandler) -> tuple[int, dict[str, str], bytes]:
        headers = {k: v for k, v in handler.headers.items()
                   if k.lower() not in _HOP_BY_HOP and k.lower() != "host"}
        connection = http.client.HTTPConnection(self.upstream, timeout=30)
        try:
            connection.request(handler.command, handler.path, headers=headers)
            response = connection.getresponse()
            body = response.read()
            kept = {k: v for k, v in response.getheaders() if k.lower() not in _HOP_BY_HOP}
            if handler.command == "HEAD" and response.getheader("Content-Length"):
                kept["Content-Length"] = response.getheader("Content-Length") or "0"
            return response.status, kept, body
        except (OSError, http.client.HTTPException) as exc:
            body = json.dumps({"errors": [{"code": "UNAVAILABLE", "message":
                                           f"upstream unreachable: {exc}"}]}).encode()
            return 502, {"Content-Type": "application/json"}, body
        finally:
            connection.close()


def _send(handler: BaseHTTPRequestHandler, status: int, headers: dict[str, str], body: bytes,
          method: str, *, length: int | None | str = "auto") -> None:
    """Status line, headers (``Content-Length`` as given: the body's by default, None for
    none) and, unless HEAD, ``body``."""
    handler.send_response(status)
    for key, value in headers.items():
        if key.lower() != "content-length" or method == "HEAD":
            handler.send_header(key, value)
    if method != "HEAD":
        if length == "auto":
            length = len(body)
        if length is not None:
            handler.send_header("Content-Length", str(length))
        else:
            handler.close_connection = True
    handler.end_headers()
    if method != "HEAD" and body:
        try:
            handler.wfile.write(body)
        except OSError:
            pass  # the client gave up


def _reset(handler: BaseHTTPRequestHandler) -> None:
    """Drop the connection with a TCP reset (SO_LINGER 0), not a clean close."""
    handler.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    handler.close_connection = True
    handler.connection.close()


def _wait_acked(sock: socket.socket) -> None:
    """Until the peer has acknowledged everything sent (the send queue is empty), so that
    a reset that follows cannot overtake the headers."""
    deadline = time.monotonic() + ACK_DEADLINE
    buffer = bytearray(4)
    while time.monotonic() < deadline:
        fcntl.ioctl(sock.fileno(), termios.TIOCOUTQ, buffer)
        if struct.unpack("i", buffer)[0] == 0:
            return
        select.select([], [], [], 0.01)


def _wait_for_close(sock: socket.socket) -> None:
    """Until the client closes its end (it timed out and gave up), or the deadline."""
    deadline = time.monotonic() + STALL_DEADLINE
    while time.monotonic() < deadline:
        readable, _, _ = select.select([sock], [], [], deadline - time.monotonic())
        if not readable:
            return
        try:
            if not sock.recv(4096):
                return
        except OSError:
            return
