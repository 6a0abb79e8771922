"""The OpenID provider, per core: ``python -m bench.oidc``.

What one operation of the provider costs the process, and so how many of them one core serves a
second, beside the figures other providers publish per vCPU:

- a password sign-in, ``POST /api/token/`` (argon2id at the production cost);
- a token refresh, ``POST /oauth/token`` with ``grant_type=refresh_token`` and rotation: one sign-in
  refreshed again and again, each time with the refresh token the last answer carried;
- an authorization-code exchange, ``POST /oauth/token`` with ``grant_type=authorization_code`` and
  its PKCE verifier: the token endpoint alone, the codes issued beforehand through the authorization
  endpoint by a signed-in browser (not timed; a code lives 60 seconds, so each round gets its own);
- an introspection, ``POST /oauth/introspect`` of a live access token.

The app is a confidential one (``client_secret_basic``), trusted (no consent page), asking for
``openid profile email offline_access``: each exchange and each refresh signs an access token and an
ID token. Requests go straight to the WSGI app (as in ``bench.request_cpu``), production settings
with rate limits off, a SQLite file with one user, or the throwaway database named by
$TEST_DATABASE_URL (its tables dropped and made anew, and left empty). Each figure is the median of
the process time per operation over $BENCH_ROUNDS interleaved rounds; the database server's own CPU
is not counted, so on PostgreSQL it is the portal's share.
"""

import base64
import functools
import hashlib
import io
import json
import os
import re
import secrets
import statistics
import sys
import tempfile
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

from werkzeug.test import EnvironBuilder

from bench.request_cpu import cpu_per_request, production_app
from portal.extensions import db
from portal.services.audit import SYSTEM
from portal.services.oidc import apps
from portal.services.people import accounts

ROUNDS = int(os.environ.get("BENCH_ROUNDS", 5))
EMAIL, PASSWORD = "bench@example.com", "Bench-mark-password-1"
BASE = "https://localhost"
CALLBACK = "https://app.example/callback"
SCOPE = "openid profile email offline_access"

SIGN_IN = "password sign-in (POST /api/token/)"
REFRESH = "token refresh (rotation)"
EXCHANGE = "authorization-code exchange"
INTROSPECT = "introspection (access token)"
# Operations per round, and what others publish per vCPU for the same operation.
COUNTS = {SIGN_IN: 10, REFRESH: 400, EXCHANGE: 200, INTROSPECT: 1000}
REFERENCES = {
    SIGN_IN: "Keycloak 15 /vCPU/s (a whole login)",
    REFRESH: "Keycloak 120 /vCPU/s",
    EXCHANGE: "—",
    INTROSPECT: "ZITADEL v4 ~115 /vCPU/s (4,810 on 42)",
}


def portal_app(work: Path):
    """The production app with one person and one trusted confidential app: (app, client_id, secret)."""
    app = production_app(work)
    with app.app_context():
        db.drop_all()
        db.create_all()
        accounts.create_user(EMAIL, PASSWORD, SYSTEM, email_verified=True)
        registered, secret = apps.register_app("Bench app", [CALLBACK], SYSTEM, trusted=True)
        client_id = registered.client_id
        db.session.commit()
    return app, client_id, secret


@functools.cache
def _template(path: str, authorization: str | None, content_type: str) -> dict:
    headers = {"Authorization": authorization} if authorization else {}
    environ = EnvironBuilder(method="POST", path=path, base_url=BASE, headers=headers).get_environ()
    return environ | {"CONTENT_TYPE": content_type}


def post(path: str, *, form: dict | None = None, body: bytes | None = None, content_type: str | None = None,
         authorization: str | None = None) -> dict:
    """The environ of one POST, from a template built once (as a server hands one over); its body is
    read once, so each request gets its own."""
    if form is not None:
        body, content_type = urlencode(form).encode(), "application/x-www-form-urlencoded"
    return _template(path, authorization, content_type) | {
        "CONTENT_LENGTH": str(len(body)), "wsgi.input": io.BytesIO(body),
    }


class Browser:
    """A person signed in to the portal's pages, asking the authorization endpoint for codes."""

    def __init__(self, app, client_id: str):
        self.client = app.test_client()
        self.client_id = client_id
        page = self.client.get(BASE + "/login").get_data(as_text=True)
        csrf = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
        answer = self.client.post(BASE + "/login", data={"login": EMAIL, "password": PASSWORD, "csrf_token": csrf},
                                   headers={"Referer": BASE + "/login"})  # checked on https
        if answer.status_code != 302:
            raise RuntimeError(f"signing in answered {answer.status_code}")

    def code(self) -> tuple[str, str]:
        """A fresh code and its PKCE verifier."""
        verifier = secrets.token_urlsafe(48)
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        query = urlencode({"response_type": "code", "client_id": self.client_id, "redirect_uri": CALLBACK,
                           "scope": SCOPE, "state": "s", "nonce": secrets.token_urlsafe(8),
                           "code_challenge": challenge, "code_challenge_method": "S256"})
        answer = self.client.get(f"{BASE}/oauth/authorize?{query}")
        location = answer.headers.get("Location", "")
        if answer.status_code != 302 or not location.startswith(CALLBACK):
            raise RuntimeError(f"the authorization endpoint answered {answer.status_code} {location}")
        return parse_qs(urlsplit(location).query)["code"][0], verifier


class Exchanges:
    """Each next code exchange, from codes issued beforehand (``prepare``, not timed)."""

    def __init__(self, browser: Browser, basic: str):
        self.browser, self.basic, self.codes = browser, basic, iter(())
        self.last = None

    def prepare(self, count: int) -> None:
        self.codes = iter([self.browser.code() for _ in range(count)])

    def __call__(self) -> dict:
        code, verifier = next(self.codes)
        return post("/oauth/token", authorization=self.basic, form={
            "grant_type": "authorization_code", "code": code, "redirect_uri": CALLBACK, "code_verifier": verifier,
        })

    def answered(self, body: bytes) -> None:
        self.last = json.loads(body)


class Refreshes:
    """Each next refresh of one sign-in, with the refresh token the last answer carried."""

    def __init__(self, refresh_token: str, basic: str):
        self.refresh_token, self.basic = refresh_token, basic

    def __call__(self) -> dict:
        return post("/oauth/token", authorization=self.basic,
                    form={"grant_type": "refresh_token", "refresh_token": self.refresh_token})

    def answered(self, body: bytes) -> None:
        self.refresh_token = json.loads(body)["refresh_token"]


class Introspections:
    """The introspection of one live access token (a fresh one each round: they live five minutes)."""

    def __init__(self, basic: str):
        self.basic, self.token = basic, None

    def __call__(self) -> dict:
        return post("/oauth/introspect", authorization=self.basic, form={"token": self.token})

    def answered(self, body: bytes) -> None:
        if json.loads(body).get("active") is not True:
            raise RuntimeError("the access token was not active")


def sign_ins() -> dict:
    return post("/api/token/", body=json.dumps({"email": EMAIL, "password": PASSWORD}).encode(),
                content_type="application/json")


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="portal-bench-oidc-"))
    portal, client_id, secret = portal_app(work)
    basic = "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    browser = Browser(portal, client_id)
    exchanges = Exchanges(browser, basic)
    exchanges.prepare(2)
    cpu_per_request(portal, exchanges, 2)
    refreshes = Refreshes(exchanges.last["refresh_token"], basic)
    introspections = Introspections(basic)
    cases = {SIGN_IN: sign_ins, REFRESH: refreshes, EXCHANGE: exchanges, INTROSPECT: introspections}

    def before_round(count: int) -> None:
        exchanges.prepare(count + 1)
        cpu_per_request(portal, exchanges, 1)  # its access token is introspected this round
        introspections.token = exchanges.last["access_token"]

    before_round(50)
    for name, next_environ in cases.items():  # warm-up: compiled statements, cached keys
        cpu_per_request(portal, next_environ, min(COUNTS[name], 50))
    samples = {name: [] for name in cases}
    for _ in range(ROUNDS):
        before_round(COUNTS[EXCHANGE])
        for name, next_environ in cases.items():
            samples[name].append(cpu_per_request(portal, next_environ, COUNTS[name]))

    width = max(map(len, cases))
    print(f"{'operation'.ljust(width)}  {'CPU µs/op':>10}  {'spread':>15}  {'per core/s':>10}  published elsewhere")
    for name, values in samples.items():
        median = statistics.median(values)
        print(f"{name.ljust(width)}  {median:10.0f}  {min(values):6.0f} – {max(values):6.0f}  {1e6 / median:10.0f}"
              f"  {REFERENCES[name]}")
    with portal.app_context():
        database = db.engine.dialect.name
        if os.environ.get("TEST_DATABASE_URL"):
            db.drop_all()  # left empty, as the tests expect it
    print(f"(Python {sys.version.split()[0]}, {database}, {ROUNDS} rounds; per round "
          + ", ".join(f"{count} {name.split(' (')[0]}" for name, count in COUNTS.items()) + ")")


if __name__ == "__main__":
    main()
