"""CPU time per authenticated read, through the WSGI interface: ``python -m bench.request_cpu``.

The load run (``bench.load``) says how many requests a second the portal serves; this says what
one request costs the process, without a server or a network, so a change of a few microseconds
shows. Each figure is the median, over interleaved rounds, of the process time of many requests
sent straight to the WSGI app (a SQLite file with one user, production settings but rate limits
off). A bare Flask app answering a constant JSON object is measured beside it as the floor.
"""

import statistics
import sys
import tempfile
import time
from pathlib import Path

from flask import Flask
from werkzeug.test import EnvironBuilder

from portal import create_app
from portal.extensions import db
from portal.services.audit import SYSTEM
from portal.services.people import accounts
from portal.services.ways_in import api_keys, tokens

ROUNDS, REQUESTS = 7, 2000
READS = {
    "GET /api/users/me/ (Token)": ("GET", "/api/users/me/", "key"),
    "GET /api/users/me/ (JWT)": ("GET", "/api/users/me/", "jwt"),
    "POST /api/profile/ (JWT)": ("POST", "/api/profile/", "jwt"),
}


def portal_app(work: Path):
    app = create_app(
        "production",
        {
            "SECRET_KEY": "bench-secret-key-that-is-long-enough-for-hs256",
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{work / 'bench.sqlite'}",
            "TRUSTED_HOSTS": ["localhost"], "RATELIMIT_ENABLED": False, "LOG_REQUESTS": False,
            "UPLOAD_FOLDER": str(work / "uploads"), "MAIL_OUTBOX_DIR": str(work / "outbox"),
        },
    )
    with app.app_context():
        db.create_all()
        user = accounts.create_user("bench@example.com", "Bench-mark-password-1", SYSTEM, email_verified=True)
        _, key = api_keys.issue_api_key(user, SYSTEM)
        access = tokens.issue_token_pair(user, SYSTEM)["access"]
    return app, {"key": f"Token {key}", "jwt": f"Bearer {access}"}


def bare_app():
    app = Flask("bare")
    body = {f"field{n}": n for n in range(13)}
    app.add_url_rule("/api/users/me/", "me", lambda: body)
    return app


def environ(method: str, path: str, authorization: str | None) -> dict:
    headers = {"Host": "localhost"} | ({"Authorization": authorization} if authorization else {})
    return EnvironBuilder(method=method, path=path, headers=headers).get_environ()


def cpu_per_request(app, template: dict, count: int) -> float:
    """Microseconds of process time per request, ``count`` requests in a row."""

    def start_response(status, headers, exc_info=None):
        if not status.startswith("200"):
            raise RuntimeError(f"answered {status}")

    started = time.process_time()
    for _ in range(count):
        answer = app(dict(template), start_response)
        b"".join(answer)
        getattr(answer, "close", lambda: None)()
    return (time.process_time() - started) / count * 1e6


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="portal-bench-cpu-"))
    portal, authorizations = portal_app(work)
    cases = {"bare Flask, constant JSON": (bare_app(), environ("GET", "/api/users/me/", None))}
    for name, (method, path, credential) in READS.items():
        cases[name] = (portal, environ(method, path, authorizations[credential]))
    for app, template in cases.values():
        cpu_per_request(app, template, 200)  # warm-up: compiled statements, remembered tokens
    samples = {name: [] for name in cases}
    for _ in range(ROUNDS):
        for name, (app, template) in cases.items():
            samples[name].append(cpu_per_request(app, template, REQUESTS))
    width = max(map(len, cases))
    print(f"{'request'.ljust(width)}  {'CPU µs':>8}  {'spread':>13}")
    for name, values in samples.items():
        print(f"{name.ljust(width)}  {statistics.median(values):8.0f}  {min(values):5.0f} – {max(values):5.0f}")
    print(f"(Python {sys.version.split()[0]}, SQLite, {ROUNDS} rounds of {REQUESTS} requests)")


if __name__ == "__main__":
    main()
