"""A GitHub stand-in on loopback: a real HTTP server in a thread, for "sign in with GitHub".

It speaks GitHub's OAuth app web flow and the two REST calls a sign-in needs:

* ``GET /login/oauth/authorize`` → 302 to the redirect_uri with ``code`` and ``state`` for the
  person set by ``sign_in_as`` (``error=access_denied`` after ``deny_next``). PKCE with S256 is
  required, unlike GitHub, so a relying party that skips it fails here.
* ``POST /login/oauth/access_token`` → the token as JSON (``Accept: application/json``) or as a
  form, as GitHub does; a wrong client secret, a wrong, expired or reused code, a redirect_uri other
  than the authorization's, or a missing or wrong code_verifier gets GitHub's error (status 200).
  A code is spent by the first exchange that names it, even a refused one.
* ``GET /api/user``, ``GET /api/user/emails`` with ``Authorization: Bearer|token <token>``
  (the emails need the ``user:email`` or ``user`` scope, else 404 as GitHub answers); 401 otherwise.

Every request is recorded (method, path, headers, form) for the tests to inspect.
"""

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlsplit

DOCS = "https://docs.github.com"
TOKEN_ERRORS = f"{DOCS}/apps/managing-oauth-apps/troubleshooting-oauth-app-access-token-request-errors"
BAD_CODE = {
    "error": "bad_verification_code",
    "error_description": "The code passed is incorrect or expired.",
    "error_uri": f"{TOKEN_ERRORS}/#bad-verification-code",
}
BAD_CLIENT = {
    "error": "incorrect_client_credentials",
    "error_description": "The client_id and/or client_secret passed are incorrect.",
    "error_uri": f"{TOKEN_ERRORS}/#incorrect-client-credentials",
}
REDIRECT_MISMATCH = {
    "error": "redirect_uri_mismatch",
    "error_description": "The redirect_uri MUST match the registered callback URL for this application.",
    "error_uri": f"{DOCS}/apps/managing-oauth-apps/troubleshooting-authorization-request-errors/#redirect-uri-mismatch",
}
DENIED = {
    "error": "access_denied",
    "error_description": "The user has denied your application access.",
    "error_uri": f"{DOCS}/apps/managing-oauth-apps/troubleshooting-authorization-request-errors/#access-denied",
}


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    form: dict[str, str] = field(default_factory=dict)

    @property
    def query(self) -> dict[str, str]:
        return {name: values[-1] for name, values in parse_qs(urlsplit(self.path).query).items()}


@dataclass
class Person:
    id: int
    login: str
    name: str | None
    emails: list[dict]  # {email, primary, verified, visibility}

    @property
    def public_email(self) -> str | None:
        return next((e["email"] for e in self.emails if e["primary"] and e["visibility"] == "public"), None)


@dataclass
class Grant:
    person: Person
    client_id: str
    redirect_uri: str
    scope: str
    code_challenge: str


def s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


class GitHubStandIn:
    """An OAuth app ``client_id``/``client_secret``. ``redirect_uris``: the callback URLs the app
    accepts (None: any; a list may be added to after start, e.g. a live server's callback)."""

    def __init__(self, client_id="portal-github", client_secret="github-secret", redirect_uris=None):
        self.client_id, self.client_secret = client_id, client_secret
        self.redirect_uris = None if redirect_uris is None else list(redirect_uris)
        self.person: Person | None = None
        self._deny_next = False
        self.codes: dict[str, Grant] = {}
        self.tokens: dict[str, Grant] = {}
        self.requests: list[Received] = []
        self._lock = threading.Lock()
        self._server = None
        self._thread = None

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def authorize_url(self) -> str:
        return f"{self.url}/login/oauth/authorize"

    @property
    def token_url(self) -> str:
        return f"{self.url}/login/oauth/access_token"

    @property
    def api_url(self) -> str:
        return f"{self.url}/api"

    def sign_in_as(self, id, login, name=None, emails=()) -> Person:
        """Whoever authorizes from now on. ``emails``: dicts of email, primary, verified and
        optionally visibility ("public" or "private" for the primary address, None for the others,
        as GitHub reports; the primary defaults to public, which makes it the user's ``email``)."""
        self.person = Person(
            int(id),
            login,
            name,
            [
                {
                    "email": e["email"],
                    "primary": bool(e.get("primary", False)),
                    "verified": bool(e.get("verified", False)),
                    "visibility": e.get("visibility", "public" if e.get("primary") else None),
                }
                for e in emails
            ],
        )
        return self.person

    def deny_next(self) -> None:
        """The next authorization ends with ``error=access_denied``, as when the person cancels."""
        self._deny_next = True

    def start(self) -> "GitHubStandIn":
        github = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):
                self.record({})
                path = urlsplit(self.path).path
                if path == "/login/oauth/authorize":
                    self.answer(*github.authorize(self.received.query))
                elif path in ("/api/user", "/api/user/emails"):
                    self.answer(*github.api(path, self.headers.get("Authorization", "")))
                else:
                    self.answer(404, {"message": "Not Found", "documentation_url": f"{DOCS}/rest"})

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                form = {k: v[-1] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
                self.record(form)
                if urlsplit(self.path).path != "/login/oauth/access_token":
                    self.answer(404, {"message": "Not Found", "documentation_url": f"{DOCS}/rest"})
                    return
                body = github.exchange(form, self.headers.get("Authorization", ""))
                if "application/json" in self.headers.get("Accept", ""):
                    self.answer(200, body)
                else:
                    self.answer(200, urlencode(body), content_type="application/x-www-form-urlencoded")

            def record(self, form):
                self.received = Received(self.command, self.path, dict(self.headers.items()), form)
                github.requests.append(self.received)

            def answer(self, status, body, headers=None, content_type="application/json; charset=utf-8"):
                data = (body if isinstance(body, str) else json.dumps(body)).encode()
                self.send_response(status)
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="github-stand-in", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join()

    def __enter__(self) -> "GitHubStandIn":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- the endpoints -------------------------------------------------------------------------

    def authorize(self, query: dict[str, str]):
        """(status, body, headers) of an authorization request."""
        if query.get("client_id") != self.client_id:
            return 404, "Not Found: no OAuth app has this client_id", {}
        redirect_uri = query.get("redirect_uri", "")
        if not redirect_uri or (self.redirect_uris is not None and redirect_uri not in self.redirect_uris):
            return 400, {**REDIRECT_MISMATCH, "redirect_uri": redirect_uri}, {}

        def back(params):
            params = {**params, **({"state": query["state"]} if "state" in query else {})}
            separator = "&" if urlsplit(redirect_uri).query else "?"
            return 302, "", {"Location": redirect_uri + separator + urlencode(params)}

        challenge, method = query.get("code_challenge"), query.get("code_challenge_method")
        if not challenge or method != "S256":
            return back(
                {"error": "invalid_request", "error_description": "PKCE with code_challenge_method=S256 is required."}
            )
        with self._lock:
            if self._deny_next:
                self._deny_next = False
                return back(DENIED)
        if self.person is None:
            return 409, "Nobody to sign in: call sign_in_as first", {}
        code = secrets.token_hex(10)
        self.codes[code] = Grant(self.person, self.client_id, redirect_uri, query.get("scope", ""), challenge)
        return back({"code": code})

    def exchange(self, form: dict[str, str], authorization: str) -> dict:
        """The JSON body of a token exchange (GitHub answers 200 even to a refused one)."""
        client_id, client_secret = form.get("client_id"), form.get("client_secret")
        if authorization.lower().startswith("basic "):
            try:
                client_id, _, client_secret = base64.b64decode(authorization[6:]).decode().partition(":")
            except (binascii.Error, UnicodeDecodeError):
                return BAD_CLIENT
        if client_id != self.client_id or not hmac.compare_digest(client_secret or "", self.client_secret):
            return BAD_CLIENT
        with self._lock:
            grant = self.codes.pop(form.get("code", ""), None)
        if grant is None or grant.client_id != client_id:
            return BAD_CODE
        if "redirect_uri" in form and form["redirect_uri"] != grant.redirect_uri:
            return REDIRECT_MISMATCH
        verifier = form.get("code_verifier", "")
        if not verifier or not hmac.compare_digest(s256(verifier), grant.code_challenge):
            return BAD_CODE
        token = "gho_" + secrets.token_urlsafe(27)
        self.tokens[token] = grant
        return {"access_token": token, "token_type": "bearer", "scope": grant.scope}

    def api(self, path: str, authorization: str):
        scheme, _, token = authorization.partition(" ")
        if not authorization:
            return 401, {"message": "Requires authentication", "documentation_url": f"{DOCS}/rest"}, {}
        grant = self.tokens.get(token) if scheme.lower() in ("bearer", "token") else None
        if grant is None:
            return 401, {"message": "Bad credentials", "documentation_url": f"{DOCS}/rest", "status": "401"}, {}
        scopes = [s for s in grant.scope.replace(",", " ").split() if s]
        headers = {"X-OAuth-Scopes": ", ".join(scopes), "X-GitHub-Media-Type": "github.v3"}
        person = grant.person
        if path == "/api/user":
            return 200, {
                "login": person.login,
                "id": person.id,
                "node_id": base64.b64encode(f"04:User{person.id}".encode()).decode(),
                "avatar_url": f"https://avatars.githubusercontent.com/u/{person.id}?v=4",
                "html_url": f"https://github.com/{person.login}",
                "type": "User",
                "site_admin": False,
                "name": person.name,
                "email": person.public_email,
            }, headers
        if not {"user", "user:email"} & set(scopes):
            return 404, {"message": "Not Found", "documentation_url": f"{DOCS}/rest"}, headers
        return 200, [dict(e) for e in person.emails], headers
