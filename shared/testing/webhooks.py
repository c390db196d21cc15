"""Test support for outgoing webhooks: a guard that fails a test on any connection to
a non-loopback address, and a scriptable receiver on 127.0.0.1.

* ``loopback_only`` fixture: while the test runs, every ``connect`` of a (green or
  plain) socket to an address outside 127.0.0.0/8 and ::1 is refused and recorded;
  the test then fails, even when the code under test swallowed the error. Unix
  sockets pass. (A general network guard may come in shared/testing from
  hardening-api; this one is local to the webhook tests.)
* ``receiver`` fixture: ``Receiver`` — an HTTP server on 127.0.0.1 that records each
  request (headers, body) and answers the statuses of ``script`` in turn (then 200).
* ``verify_signature()``: the Standard Webhooks check a receiver makes, written from
  the specification (not with the platform's code).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


def _is_loopback(address) -> bool:
    if not isinstance(address, tuple):  # AF_UNIX path
        return True
    host = address[0]
    try:
        return ipaddress.ip_address(str(host).split("%")[0]).is_loopback
    except ValueError:
        return str(host) == "localhost"


@pytest.fixture
def loopback_only(monkeypatch) -> Iterator[list]:
    """Refuse and record every connection attempt to a non-loopback address."""
    attempts: list = []
    classes = {socket.socket}
    try:
        from eventlet.greenio.base import GreenSocket

        classes.add(GreenSocket)
    except ImportError:  # pragma: no cover
        pass
    import eventlet.patcher

    classes.add(eventlet.patcher.original("socket").socket)

    for cls in classes:
        for name in ("connect", "connect_ex"):
            original = getattr(cls, name)

            def guarded(self, address, _original=original):
                if not _is_loopback(address):
                    attempts.append(address)
                    raise ConnectionRefusedError(f"test guard: no connection to {address!r}")
                return _original(self, address)

            monkeypatch.setattr(cls, name, guarded)
    yield attempts
    assert not attempts, f"connection attempts to non-loopback addresses: {attempts}"


class Receiver:
    """An HTTP receiver on 127.0.0.1 (ephemeral port)."""

    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.script: list[int] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status = receiver.script.pop(0) if receiver.script else 200
                receiver.requests.append({"path": self.path, "headers": dict(self.headers),
                                          "body": body.decode(), "status": status,
                                          "at": time.time()})
                self.send_response(status)
                if 300 <= status < 400:
                    self.send_header("Location", "http://169.254.169.254/latest/meta-data")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def wait(self, count: int, timeout: float = 20.0) -> list[dict]:
        deadline = time.monotonic() + timeout
        while len(self.requests) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"{len(self.requests)} requests received, {count} wanted")
            time.sleep(0.05)
        return self.requests

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.close()


def verify_signature(secret: str, headers: dict, body: str, tolerance_s: int = 300) -> bool:
    """Standard Webhooks: v1 = base64(HMAC-SHA256(base64decode(secret without whsec_),
    "<webhook-id>.<webhook-timestamp>.<body>")), timestamp within the tolerance."""
    lower = {k.lower(): v for k, v in headers.items()}
    msg_id, timestamp = lower["webhook-id"], lower["webhook-timestamp"]
    if abs(time.time() - int(timestamp)) > tolerance_s:
        return False
    key = base64.b64decode(secret.split("_", 1)[1])
    expected = base64.b64encode(hmac.new(key, f"{msg_id}.{timestamp}.{body}".encode(),
                                         hashlib.sha256).digest()).decode()
    signatures = [part.split(",", 1)[1] for part in lower["webhook-signature"].split()
                  if part.startswith("v1,")]
    return any(hmac.compare_digest(expected, sig) for sig in signatures)
