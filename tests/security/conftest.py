"""Helpers for the security tests: separate apps (production, CORS), a threaded live server, raw
HTTP requests, hand-made multipart bodies, and counting what the database holds.

Every test here states one attack and proves two things: the answer is a clear refusal (or the
safe behaviour), and nothing was stored.
"""

import http.client
import io
import threading
import uuid
from dataclasses import dataclass
from html.parser import HTMLParser

import pytest
from sqlalchemy import func, select
from werkzeug.serving import make_server

from portal.extensions import db
from portal.models import AuditEvent, Credential, EmailCode, User, canonical_email

from ..conftest import free_port

# The strict policy, plus blob: images (the edit page previews a chosen picture from one).
EXPECTED_CSP = {
    "default-src": {"'self'"},
    "img-src": {"'self'", "blob:"},
    "object-src": {"'none'"},
    "base-uri": {"'none'"},
    "frame-ancestors": {"'none'"},
    "form-action": {"'self'"},
}
SAFE_REFERRER_POLICIES = {"no-referrer", "same-origin", "strict-origin", "strict-origin-when-cross-origin"}
NOT_PROVIDED = {"detail": "Authentication credentials were not provided."}


# Other apps ------------------------------------------------------------------------------------


@pytest.fixture
def make_app(make_app):
    """The shared ``make_app``, with rate limits off even in a production-config app."""
    return lambda config="testing", **overrides: make_app(config, **{"RATELIMIT_ENABLED": False, **overrides})


# A live server ---------------------------------------------------------------------------------


@dataclass
class LiveServer:
    host: str
    port: int

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"


@pytest.fixture
def live_server(app):
    """The test app served over real HTTP on 127.0.0.1 by a threaded server: one thread per request."""
    server = make_server("127.0.0.1", free_port(), app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield LiveServer("127.0.0.1", server.server_port)
    server.shutdown()
    thread.join(timeout=10)
    server.server_close()


@dataclass
class Answer:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    def json(self):
        import json

        return json.loads(self.body)


def connect(server: LiveServer, timeout: float = 30) -> http.client.HTTPConnection:
    conn = http.client.HTTPConnection(server.host, server.port, timeout=timeout)
    conn.connect()
    return conn


def exchange(conn: http.client.HTTPConnection, method: str, path: str, *, body=None, headers=None) -> Answer:
    """Send one request on an open connection and read the whole answer."""
    conn.request(method, path, body=body, headers=headers or {})
    response = conn.getresponse()
    answer = Answer(response.status, response.headers, response.read())
    conn.close()
    return answer


def run_together(count: int, prepare, send, *, timeout: float = 60) -> list:
    """Run ``send(i, prepared)`` in ``count`` threads that start at one moment.

    ``prepare(i)`` runs first in each thread (open the connection, build the body); a barrier then
    releases every thread at once. Returns each thread's result (or the exception it raised), in
    thread order; fails when a thread has not finished within ``timeout`` seconds.
    """
    barrier = threading.Barrier(count, timeout=timeout)
    results = [None] * count

    def worker(i):
        try:
            prepared = prepare(i)
            barrier.wait()
            results[i] = send(i, prepared)
        except BaseException as exc:  # reported to the test, not lost in the thread
            results[i] = exc

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
    assert not any(thread.is_alive() for thread in threads), f"requests still running after {timeout} s"
    errors = [result for result in results if isinstance(result, BaseException)]
    assert not errors, errors
    return results


# Bodies ----------------------------------------------------------------------------------------


def multipart_body(fields) -> tuple[bytes, str]:
    """A multipart/form-data body from ``(name, value)`` pairs; a value ``(bytes, filename, type)`` is a file.

    Returns the body and its Content-Type. Built by hand so a test can send what no form would.
    """
    boundary = uuid.uuid4().hex
    out = io.BytesIO()
    for name, value in fields:
        out.write(f"--{boundary}\r\n".encode())
        if isinstance(value, tuple):
            data, filename, kind = value
            out.write(f'Content-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'.encode())
            out.write(f"Content-Type: {kind}\r\n\r\n".encode())
            out.write(data)
        else:
            out.write(f'Content-Disposition: form-data; name="{name}"\r\n\r\n'.encode())
            out.write(value.encode() if isinstance(value, str) else value)
        out.write(b"\r\n")
    out.write(f"--{boundary}--\r\n".encode())
    return out.getvalue(), f"multipart/form-data; boundary={boundary}"


# The database ----------------------------------------------------------------------------------


def count_rows(app, model, *where) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model).where(*where))


def users_with_email(app, email: str) -> int:
    return count_rows(app, User, User.email_canonical == canonical_email(email))


def audit_actions(app, action: str | None = None) -> int:
    return count_rows(app, AuditEvent, *([AuditEvent.action == action] if action else []))


def table_counts(app) -> dict:
    """How many rows each table of accounts holds: a request that was refused adds none."""
    return {
        "users": count_rows(app, User),
        "credentials": count_rows(app, Credential),
        "email_codes": count_rows(app, EmailCode),
        "audit_events": count_rows(app, AuditEvent),
    }


# Pages -----------------------------------------------------------------------------------------


def sign_in_page(client, account):
    """Sign ``client`` in through the real sign-in page (the test app has CSRF off)."""
    response = client.post("/login", data={"login": account.email, "password": account.password})
    assert response.status_code == 302, response.status_code
    assert not response.headers["Location"].startswith("/login"), response.headers["Location"]
    return client


class InlineCode(HTMLParser):
    """Finds what a strict CSP blocks: inline scripts and styles, event-handler attributes and
    ``javascript:`` URLs, and any script or stylesheet loaded from another site."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        a = {name.lower(): (value or "") for name, value in attrs}
        line = self.getpos()[0]
        if tag == "script":
            if not a.get("src"):
                self.problems.append(f"line {line}: <script> without src")
            elif not _same_site(a["src"]):
                self.problems.append(f"line {line}: script from another site: {a['src']}")
        if tag == "style":
            self.problems.append(f"line {line}: <style> element")
        if tag == "link" and "stylesheet" in a.get("rel", "").lower() and not _same_site(a.get("href", "")):
            self.problems.append(f"line {line}: stylesheet from another site: {a.get('href')}")
        for name, value in a.items():
            if name == "style":
                self.problems.append(f"line {line}: style= attribute on <{tag}>")
            if name.startswith("on"):
                self.problems.append(f"line {line}: event handler {name}= on <{tag}>")
            if name in ("href", "src", "action", "formaction") and value.strip().lower().startswith("javascript:"):
                self.problems.append(f"line {line}: javascript: URL in {name}= on <{tag}>")

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)


def _same_site(url: str) -> bool:
    return url.startswith("/") and not url.startswith("//")


def inline_code(html: str) -> list[str]:
    parser = InlineCode()
    parser.feed(html)
    parser.close()
    return parser.problems


def parse_csp(value: str) -> dict:
    directives = {}
    for part in value.split(";"):
        words = part.split()
        if words:
            directives[words[0].lower()] = set(words[1:])
    return directives
