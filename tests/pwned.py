"""A Pwned Passwords range API on loopback: a real HTTP server in a thread, for the breach checks.

It serves ``GET /range/<prefix>`` from range files built from the real SHA-1s of the passwords it
is given, pads an answer with entries of count 0 when asked with ``Add-Padding: true``, as the real
service does, and records every request it receives (path and headers) for the tests to inspect.
"""

import hashlib
import random
import secrets
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PADDING_LINES = 40


def sha1_hex(password: str) -> str:
    return hashlib.sha1(password.encode()).hexdigest().upper()


@dataclass
class Received:
    path: str
    headers: dict[str, str]


class PwnedPasswords:
    """``breached``: password → count. ``padded``: passwords whose suffix appears only as padding
    (count 0). ``delay``: seconds to wait before answering; ``status``: the answer's status;
    ``body``: an answer to send instead of the range; ``trickle``: send the answer's headers, then
    one byte of its body every that many seconds, never finishing."""

    def __init__(self, breached=None, *, padded=(), delay=0.0, status=200, body=None, trickle=None):
        self.ranges: dict[str, list[str]] = {}
        for password, count in (breached or {}).items():
            self._add(password, count)
        for password in padded:
            self._add(password, 0)
        self.delay, self.status, self.body, self.trickle = delay, status, body, trickle
        self.requests: list[Received] = []
        self._stopping = threading.Event()
        self.client_gave_up = threading.Event()  # a trickled answer's reader closed the connection
        self._server = None
        self._thread = None

    def _add(self, password: str, count: int) -> None:
        digest = sha1_hex(password)
        self.ranges.setdefault(digest[:5], []).append(f"{digest[5:]}:{count}")

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> "PwnedPasswords":
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):
                api.requests.append(Received(self.path, dict(self.headers.items())))
                if api.delay and api._stopping.wait(api.delay):
                    self.close_connection = True
                    return  # the test is over; nobody waits for this answer any more
                body = api.answer(self.path, self.headers.get("Add-Padding") == "true").encode()
                self.send_response(api.status)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(body) if api.trickle is None else 1_000_000))
                self.end_headers()
                if api.trickle is None:
                    self.wfile.write(body)
                    return
                try:
                    while not api._stopping.wait(api.trickle):
                        self.wfile.write(b"0")
                        self.wfile.flush()
                except OSError:
                    api.client_gave_up.set()

            def log_message(self, *args):
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="pwned-passwords", daemon=True
        )
        self._thread.start()
        return self

    def answer(self, path: str, padded: bool) -> str:
        if self.body is not None:
            return self.body
        if self.status != 200:
            return "Internal Server Error"
        prefix = path.removeprefix("/range/")
        lines = list(self.ranges.get(prefix, []))
        if padded:
            lines += [f"{secrets.token_hex(18)[:35].upper()}:0" for _ in range(PADDING_LINES)]
            random.shuffle(lines)
        return "\r\n".join(lines)

    def stop(self) -> None:
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join()
