"""CPU time per authenticated read and per token refresh, through the WSGI interface: ``python -m bench.request_cpu``.

The load run (``bench.load``) says how many requests a second the portal serves; this says what
one request costs the process, without a server or a network, so a change of a few microseconds
shows. Each figure is the median, over interleaved rounds, of the process time of many requests
sent straight to the WSGI app (a SQLite file with one user, or the throwaway database named by
$TEST_DATABASE_URL, whose tables it drops and makes anew; production settings but rate limits off).
A bare Flask app answering a constant JSON object is measured beside it as the floor. The refresh
rotates one sign-in again and again, each time with the refresh token the last answer carried; its
figure is also given as refreshes per second of one core. The database server's own CPU is not
counted: on PostgreSQL it is the client's share of a request.
"""

import io
import json
import os
import secrets
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from flask import Flask
from werkzeug.test import EnvironBuilder

from portal import create_app
from portal.extensions import db
from portal.models import Credential, utcnow
from portal.services.audit import SYSTEM
from portal.services.oidc import apps, issuance
from portal.services.people import accounts
from portal.services.ways_in import api_keys, tokens

ROUNDS = int(os.environ.get("BENCH_ROUNDS", 7))
REQUESTS = int(os.environ.get("BENCH_REQUESTS", 2000))
READS = {
    "GET /api/users/me/ (Token)": ("GET", "/api/users/me/", "key"),
    "GET /api/users/me/ (JWT)": ("GET", "/api/users/me/", "jwt"),
    "GET /api/users/me/ (app token)": ("GET", "/api/users/me/", "app"),
    "POST /api/profile/ (JWT)": ("POST", "/api/profile/", "jwt"),
}
REFRESH = "POST /api/token/refresh/ (rotation)"


def production_app(work: Path):
    """The production app on the bench's database (a SQLite file in ``work``, or TEST_DATABASE_URL),
    rate limits, the request log and the breach check off: the portal is measured, nothing else."""
    return create_app(
        "production",
        {
            "SECRET_KEY": "bench-secret-key-that-is-long-enough-for-hs256",
            "SQLALCHEMY_DATABASE_URI": os.environ.get("TEST_DATABASE_URL") or f"sqlite:///{work / 'bench.sqlite'}",
            "TRUSTED_HOSTS": ["localhost"], "RATELIMIT_ENABLED": False, "LOG_REQUESTS": False,
            "UPLOAD_FOLDER": str(work / "uploads"), "MAIL_OUTBOX_DIR": str(work / "outbox"),
            "PASSWORD_BREACH_CHECK": False,
            "OIDC_ACCESS_TOKEN_EXPIRES": timedelta(hours=1),  # an app's token outlives the run
        },
    )


def portal_app(work: Path):
    app = production_app(work)
    with app.app_context():
        db.drop_all()
        db.create_all()
        user = accounts.create_user("bench@example.com", "Bench-mark-password-1", SYSTEM, email_verified=True)
        _, key = api_keys.issue_api_key(user, SYSTEM)
        pair = tokens.issue_token_pair(user, SYSTEM)
        access = app_access_token(user)
        db.session.commit()
    return app, {"key": f"Token {key}", "jwt": f"Bearer {pair['access']}", "app": f"Bearer {access}"}, pair["refresh"]


def app_access_token(user) -> str:
    """An access token with ``api:read`` of an app's sign-in, as the token endpoint would give it
    after the code flow (whose browser steps the bench does not play)."""
    scopes = ["openid", "api:read"]
    client, _ = apps.register_app("Bench app", ["https://app.example/callback"], SYSTEM, scopes=scopes)
    now = utcnow()
    sign_in = Credential(
        user=user, kind=issuance.APP, client_id=client.id, scopes=scopes, public_id=secrets.token_urlsafe(16),
        created_at=now, expires_at=now + timedelta(days=1), method="pwd", proven_at=now, name=client.name,
    )
    db.session.add(sign_in)
    db.session.flush()
    return issuance._access_token(sign_in, client, scopes, issuer="http://localhost")


def bare_app():
    app = Flask("bare")
    body = {f"field{n}": n for n in range(13)}
    app.add_url_rule("/api/users/me/", "me", lambda: body)
    return app


def environ(method: str, path: str, authorization: str | None) -> dict:
    headers = {"Host": "localhost"} | ({"Authorization": authorization} if authorization else {})
    return EnvironBuilder(method=method, path=path, headers=headers).get_environ()


class Refreshes:
    """The environ of each next refresh of one sign-in: its body carries the refresh token the last
    answer returned (``answered``), so every request is a rotation, never a reuse."""

    def __init__(self, refresh_token: str):
        self.refresh_token = refresh_token
        self.template = environ("POST", "/api/token/refresh/", None)
        self.template["CONTENT_TYPE"] = "application/json"

    def __call__(self) -> dict:
        body = json.dumps({"refresh": self.refresh_token}).encode()
        return self.template | {"CONTENT_LENGTH": str(len(body)), "wsgi.input": io.BytesIO(body)}

    def answered(self, body: bytes) -> None:
        self.refresh_token = json.loads(body)["refresh"]


def cpu_per_request(app, next_environ, count: int) -> float:
    """Microseconds of process time per request, ``count`` requests in a row; ``next_environ()``
    gives each request, and is told each answer's body when it has an ``answered``."""

    def start_response(status, headers, exc_info=None):
        if not status.startswith("200"):
            raise RuntimeError(f"answered {status}")

    answered = getattr(next_environ, "answered", None)
    started = time.process_time()
    for _ in range(count):
        answer = app(next_environ(), start_response)
        body = b"".join(answer)
        getattr(answer, "close", lambda: None)()
        if answered is not None:
            answered(body)
    return (time.process_time() - started) / count * 1e6


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="portal-bench-cpu-"))
    portal, authorizations, refresh_token = portal_app(work)

    def same(template):
        return lambda: dict(template)

    cases = {"bare Flask, constant JSON": (bare_app(), same(environ("GET", "/api/users/me/", None)))}
    for name, (method, path, credential) in READS.items():
        cases[name] = (portal, same(environ(method, path, authorizations[credential])))
    cases[REFRESH] = (portal, Refreshes(refresh_token))
    for app, next_environ in cases.values():
        cpu_per_request(app, next_environ, 200)  # warm-up: compiled statements, remembered tokens
    samples = {name: [] for name in cases}
    for _ in range(ROUNDS):
        for name, (app, next_environ) in cases.items():
            samples[name].append(cpu_per_request(app, next_environ, REQUESTS))
    width = max(map(len, cases))
    print(f"{'request'.ljust(width)}  {'CPU µs':>8}  {'spread':>13}")
    for name, values in samples.items():
        print(f"{name.ljust(width)}  {statistics.median(values):8.0f}  {min(values):5.0f} – {max(values):5.0f}")
    print(f"{'refreshes per second of one core'.ljust(width)}  {1e6 / statistics.median(samples[REFRESH]):8.0f}")
    with portal.app_context():
        database = db.engine.dialect.name
        if os.environ.get("TEST_DATABASE_URL"):
            db.drop_all()  # left empty, as the tests expect it
    print(f"(Python {sys.version.split()[0]}, {database}, {ROUNDS} rounds of {REQUESTS} requests)")


if __name__ == "__main__":
    main()
