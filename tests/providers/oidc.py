"""A real OpenID Connect provider on loopback: panva's ``oidc-provider`` (npm) run by Node.js.

``server.mjs`` in ``oidc_provider/`` runs it with the clients given here; ``make providers``
installs its packages (``npm ci``). PKCE with S256 is required of every client; ID tokens are
signed with RS256. A client registered with the ``refresh_token`` grant gets refresh tokens when it
asks for ``offline_access`` with ``prompt=consent``; introspection, revocation, RP-initiated
logout and the device flow (RFC 8628, ``approve_device``) are on. There is no sign-in page: the
test says who signs in next (``sign_in_as``) or that they cancel (``deny_next``), and the
provider's interaction route does the rest, so a flow is driven with plain HTTP requests
(``follow``).
"""

import base64
import hashlib
import json
import re
import secrets
import selectors
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

import requests

from bench.cluster import free_port

HERE = Path(__file__).resolve().parent / "oidc_provider"
SERVER = HERE / "server.mjs"
START_TIMEOUT = 20.0


class ProviderUnavailable(RuntimeError):
    """Node.js or the provider's npm packages are missing, or the provider did not start."""


@dataclass(frozen=True)
class Client:
    """A relying party registered with the provider. No ``client_secret``: a public client."""

    client_id: str
    redirect_uris: tuple[str, ...]
    client_secret: str | None = None
    token_endpoint_auth_method: str | None = None  # client_secret_basic, or none for a public client
    grant_types: tuple[str, ...] = ("authorization_code",)  # add "refresh_token" for refresh tokens
    post_logout_redirect_uris: tuple[str, ...] = ()

    def __post_init__(self):
        object.__setattr__(self, "redirect_uris", tuple(self.redirect_uris))
        object.__setattr__(self, "grant_types", tuple(self.grant_types))
        object.__setattr__(self, "post_logout_redirect_uris", tuple(self.post_logout_redirect_uris))
        if self.token_endpoint_auth_method is None:
            method = "client_secret_basic" if self.client_secret else "none"
            object.__setattr__(self, "token_endpoint_auth_method", method)

    @property
    def public(self) -> bool:
        return self.client_secret is None

    def registration(self) -> dict:
        return {
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "redirect_uris": list(self.redirect_uris),
            "token_endpoint_auth_method": self.token_endpoint_auth_method,
            "grant_types": list(self.grant_types),
            "post_logout_redirect_uris": list(self.post_logout_redirect_uris),
        }


def pkce_pair() -> tuple[str, str]:
    """A fresh code_verifier and its S256 code_challenge."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


@dataclass
class Flow:
    """Where a driven authorization ended: the URL the provider sent the browser to last."""

    url: str
    params: dict[str, str] = field(default_factory=dict)

    @classmethod
    def at(cls, url: str) -> "Flow":
        return cls(url, {name: values[-1] for name, values in parse_qs(urlsplit(url).query).items()})


class OidcProvider:
    """``clients``: the relying parties to register (``Client`` or dicts of its fields)."""

    def __init__(self, clients):
        self.clients = {
            c.client_id: c for c in (c if isinstance(c, Client) else Client(**c) for c in clients)
        }
        self.port: int | None = None
        self.process: subprocess.Popen | None = None
        self.started_in: float | None = None  # seconds from spawning node to its "ready" line
        self._dir: tempfile.TemporaryDirectory | None = None

    # -- the process ---------------------------------------------------------------------------

    @property
    def issuer(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log(self) -> str:
        """What the provider wrote on stderr so far (warnings, errors)."""
        return (Path(self._dir.name) / "stderr.log").read_text() if self._dir else ""

    def start(self) -> "OidcProvider":
        node = shutil.which("node")
        if node is None:
            raise ProviderUnavailable("Node.js is not installed (`node` is not on PATH): run `make providers`")
        if not (HERE / "node_modules" / "oidc-provider").is_dir():
            raise ProviderUnavailable(
                f"the provider's npm packages are not installed in {HERE / 'node_modules'}: run `make providers`"
            )
        self._dir = tempfile.TemporaryDirectory(prefix="oidc-provider-")
        config = Path(self._dir.name) / "config.json"
        self.port = free_port()
        config.write_text(
            json.dumps(
                {
                    "port": self.port,
                    "issuer": self.issuer,
                    "clients": [client.registration() for client in self.clients.values()],
                }
            )
        )
        began = time.monotonic()
        with open(Path(self._dir.name) / "stderr.log", "wb") as stderr:
            self.process = subprocess.Popen(
                [node, str(SERVER), str(config)], cwd=HERE, stdout=subprocess.PIPE, stderr=stderr, text=True
            )
        line = self._first_line(began + START_TIMEOUT)
        if line != f"ready {self.port}":
            self.stop()
            raise ProviderUnavailable(f"the OpenID Connect provider did not start ({line!r}):\n{self.log}")
        self.started_in = time.monotonic() - began
        return self

    def _first_line(self, deadline: float) -> str:
        with selectors.DefaultSelector() as selector:
            selector.register(self.process.stdout, selectors.EVENT_READ)
            if not selector.select(max(0.0, deadline - time.monotonic())):
                return f"nothing within {START_TIMEOUT:.0f} s"
        return self.process.stdout.readline().strip()

    def stop(self) -> None:
        if self.process is not None:
            if self.process.poll() is None:
                self.process.terminate()
                try:
                    self.process.wait(10)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait()
            self.process.stdout.close()
            self.process = None
        if self._dir is not None:
            self._dir.cleanup()
            self._dir = None

    def __enter__(self) -> "OidcProvider":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- what the tests say --------------------------------------------------------------------

    def client(self, client_id: str) -> Client:
        return self.clients[client_id]

    @property
    def discovery_url(self) -> str:
        return f"{self.issuer}/.well-known/openid-configuration"

    def metadata(self) -> dict:
        return self._ok(requests.get(self.discovery_url, timeout=10)).json()

    def sign_in_as(self, sub, email, email_verified=True, given_name=None, family_name=None) -> dict:
        """Whoever signs in from now on (until the next call); returns the claims the provider keeps."""
        person = {
            "sub": str(sub),
            "email": email,
            "email_verified": email_verified,
            "given_name": given_name,
            "family_name": family_name,
        }
        return self._ok(requests.post(f"{self.issuer}/_test/person", json=person, timeout=10)).json()

    def deny_next(self) -> None:
        """The next sign-in ends with ``error=access_denied``, as when the person cancels."""
        self._ok(requests.post(f"{self.issuer}/_test/deny", timeout=10))

    def reset(self) -> None:
        """Nobody signs in and no cancel is pending (the accounts made so far stay)."""
        self._ok(requests.post(f"{self.issuer}/_test/reset", timeout=10))

    @staticmethod
    def _ok(response: requests.Response) -> requests.Response:
        if response.status_code != 200:
            raise AssertionError(f"{response.request.method} {response.url}: {response.status_code} {response.text}")
        return response

    # -- driving a flow without a browser ------------------------------------------------------

    def follow(self, url: str, session: requests.Session | None = None, max_hops: int = 20) -> Flow:
        """GET ``url`` (an authorization request) and follow the provider's redirects, with the
        cookies a browser would keep, until one leads away from the provider (to a relying party's
        redirect_uri, which is not requested) or the provider answers without a redirect (an
        error page: ``Flow.url`` is then the provider's URL and ``Flow.params`` its JSON)."""
        session = session or requests.Session()
        for _ in range(max_hops):
            if not url.startswith(self.issuer + "/"):
                return Flow.at(url)
            response = session.get(url, allow_redirects=False, timeout=10)
            if response.status_code not in (302, 303):
                try:
                    body = response.json()
                except ValueError:
                    body = {"status": response.status_code, "body": response.text}
                return Flow(url, body)
            url = urljoin(url, response.headers["Location"])
        raise AssertionError(f"more than {max_hops} redirects, the last to {url}")

    def approve_device(self, verification_uri_complete: str, session: requests.Session | None = None) -> Flow:
        """Do on the "second device" what the person does in the device flow (RFC 8628): open
        ``verification_uri_complete``, submit its form (the user code), confirm, then sign in as the
        person set by ``sign_in_as`` (or cancel, after ``deny_next``). Returns where it ended: the
        provider's success page (``Flow.params["status"] == 200``) or its error."""
        session = session or requests.Session()
        page = session.get(verification_uri_complete, timeout=10)
        for confirm in (None, "yes"):
            form = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', page.text))
            if "xsrf" not in form:
                raise AssertionError(f"no device form at {page.url}: {page.status_code} {page.text[:500]}")
            if confirm:
                form["confirm"] = confirm
            page = session.post(f"{self.issuer}/device", data=form, allow_redirects=False, timeout=10)
        if page.status_code not in (302, 303):
            raise AssertionError(f"the device confirmation did not lead on: {page.status_code} {page.text[:500]}")
        return self.follow(urljoin(self.issuer, page.headers["Location"]), session)

    def authorization_url(self, client_id, redirect_uri=None, *, state=None, nonce=None,
                          code_challenge=None, code_challenge_method="S256", scope="openid email profile",
                          **extra) -> str:
        params = {
            "client_id": client_id,
            "response_type": "code",
            "redirect_uri": redirect_uri or self.clients[client_id].redirect_uris[0],
            "scope": scope,
            "state": state,
            "nonce": nonce,
            "code_challenge": code_challenge,
            "code_challenge_method": code_challenge_method if code_challenge else None,
            **extra,
        }
        return f"{self.issuer}/auth?" + urlencode({k: v for k, v in params.items() if v is not None})

    def tokens_for(self, client_id, sub, email, email_verified=True, given_name=None, family_name=None,
                   nonce=None, scope="openid email profile") -> dict:
        """The token response of a real authorization-code flow with PKCE, for ``client_id``
        signing in the given person: authorization request, sign-in, redirect to the client's
        first redirect_uri (not followed), code exchanged at the token endpoint."""
        client = self.clients[client_id]
        self.sign_in_as(sub, email, email_verified, given_name, family_name)
        verifier, challenge = pkce_pair()
        state = secrets.token_urlsafe(16)
        redirect_uri = client.redirect_uris[0]
        flow = self.follow(
            self.authorization_url(
                client_id, redirect_uri, state=state, nonce=nonce, code_challenge=challenge, scope=scope
            )
        )
        if not flow.url.startswith(redirect_uri) or "code" not in flow.params or flow.params.get("state") != state:
            raise AssertionError(f"the authorization did not come back with a code: {flow}")
        form = {
            "grant_type": "authorization_code",
            "code": flow.params["code"],
            "redirect_uri": redirect_uri,
            "code_verifier": verifier,
        }
        auth = None
        if client.token_endpoint_auth_method == "client_secret_basic":
            auth = (client.client_id, client.client_secret)
        else:
            form["client_id"] = client.client_id
            if client.token_endpoint_auth_method == "client_secret_post":
                form["client_secret"] = client.client_secret
        return self._ok(requests.post(f"{self.issuer}/token", data=form, auth=auth, timeout=10)).json()

    def id_token_for(self, client_id, sub, email, email_verified=True, given_name=None, family_name=None,
                     nonce=None) -> str:
        """A real ID token (a signed JWT, RS256) the provider issued to ``client_id`` for that person."""
        return self.tokens_for(client_id, sub, email, email_verified, given_name, family_name, nonce)["id_token"]
