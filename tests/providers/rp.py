"""An independent OpenID Connect relying party on Node.js: panva's ``openid-client`` (npm), driven
from Python, to prove an OpenID provider works with a client from another ecosystem.

``rp.mjs`` in ``rp/`` runs it; ``make providers`` installs its packages (``npm ci``). It is a
long-running process that reads one JSON command per line on stdin and answers one JSON line on
stdout; each method here sends one command and returns the answer as a dict, or raises
``RelyingPartyError`` with openid-client's error (its class name, its code, its message). Every
check is openid-client's own: the authorization response's ``state`` and RFC 9207 ``iss``, PKCE
with S256, the ID token's signature against the provider's ``jwks_uri``, its ``iss``, ``aud``,
``azp``, ``exp``, ``iat``, ``sub``, ``nonce`` and ``auth_time``; userinfo's ``sub``. ``at_hash`` is
checked by ``rp.mjs`` when the ID token carries one (openid-client does not in the code flow).
"""

import json
import selectors
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent / "rp"
SCRIPT = HERE / "rp.mjs"
START_TIMEOUT = 20.0
COMMAND_TIMEOUT = 30.0


class RelyingPartyUnavailable(RuntimeError):
    """Node.js or the relying party's npm packages are missing, or the process did not start or died."""


class RelyingPartyError(Exception):
    """What openid-client refused: ``name`` is the error's class (``ClientError``,
    ``ResponseBodyError``, ``AuthorizationResponseError``, ``WWWAuthenticateChallengeError``,
    ``TypeError``, ``RelyingPartyError`` for rp.mjs's own checks), ``code`` its code
    (``OAUTH_INVALID_RESPONSE``, ``OAUTH_RESPONSE_BODY_ERROR``, ``OAUTH_JWT_CLAIM_COMPARISON``, ...),
    ``message`` its message. ``oauth_error``/``error_description``/``status`` carry an OAuth error
    the server answered; ``cause`` what failed underneath (a dict, often with its own ``error`` and
    ``code``); ``answer`` the whole answer."""

    def __init__(self, name: str, code: str | None, message: str, answer: dict | None = None):
        super().__init__(f"{name} [{code}]: {message}")
        self.name = name
        self.code = code
        self.message = message
        self.answer = answer or {}
        self.oauth_error = self.answer.get("oauth_error")
        self.error_description = self.answer.get("error_description")
        self.status = self.answer.get("status")
        self.cause = self.answer.get("cause")

    @property
    def cause_message(self) -> str:
        """The message of what failed underneath (``ClientError`` wraps it), or ``message``."""
        return self.cause.get("error", self.message) if isinstance(self.cause, dict) else self.message


class NodeRelyingParty:
    """One relying party (one client of one provider after ``discover``), one Node.js process."""

    def __init__(self):
        self.process: subprocess.Popen | None = None
        self.started_in: float | None = None  # seconds from spawning node to its "ready" line
        self.metadata: dict | None = None  # the provider's metadata, after discover
        self._dir: tempfile.TemporaryDirectory | None = None

    # -- the process ---------------------------------------------------------------------------

    @property
    def log(self) -> str:
        """What the process wrote on stderr so far."""
        return (Path(self._dir.name) / "stderr.log").read_text() if self._dir else ""

    def start(self) -> "NodeRelyingParty":
        node = shutil.which("node")
        if node is None:
            raise RelyingPartyUnavailable("Node.js is not installed (`node` is not on PATH): run `make providers`")
        if not (HERE / "node_modules" / "openid-client").is_dir():
            raise RelyingPartyUnavailable(
                f"the relying party's npm packages are not installed in {HERE / 'node_modules'}: run `make providers`"
            )
        self._dir = tempfile.TemporaryDirectory(prefix="node-rp-")
        began = time.monotonic()
        with open(Path(self._dir.name) / "stderr.log", "wb") as stderr:
            self.process = subprocess.Popen(
                [node, str(SCRIPT)], cwd=HERE, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr,
                text=True, bufsize=1,
            )
        line = self._line(began + START_TIMEOUT)
        if line != "ready":
            self.stop()
            raise RelyingPartyUnavailable(f"the relying party did not start ({line!r}):\n{self.log}")
        self.started_in = time.monotonic() - began
        return self

    def _line(self, deadline: float) -> str | None:
        with selectors.DefaultSelector() as selector:
            selector.register(self.process.stdout, selectors.EVENT_READ)
            if not selector.select(max(0.0, deadline - time.monotonic())):
                return None
        return self.process.stdout.readline().strip()

    def stop(self) -> None:
        if self.process is not None:
            if self.process.poll() is None:
                self.process.stdin.close()
                try:
                    self.process.wait(5)
                except subprocess.TimeoutExpired:
                    self.process.terminate()
                    try:
                        self.process.wait(5)
                    except subprocess.TimeoutExpired:
                        self.process.kill()
                        self.process.wait()
            for stream in (self.process.stdin, self.process.stdout):
                if not stream.closed:
                    stream.close()
            self.process = None
        if self._dir is not None:
            self._dir.cleanup()
            self._dir = None

    def __enter__(self) -> "NodeRelyingParty":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def command(self, name: str, timeout: float = COMMAND_TIMEOUT, **arguments) -> dict:
        """Send one command and return its answer; raise ``RelyingPartyError`` when it was refused."""
        if self.process is None or self.process.poll() is not None:
            raise RelyingPartyUnavailable(f"the relying party is not running:\n{self.log}")
        self.process.stdin.write(json.dumps({"command": name, **arguments}) + "\n")
        self.process.stdin.flush()
        line = self._line(time.monotonic() + timeout)
        if not line:
            ended = f"the relying party ended:\n{self.log}"
            raise RelyingPartyUnavailable(f"no answer to {name} within {timeout:.0f} s" if line is None else ended)
        answer = json.loads(line)
        if "error" in answer and "name" in answer:
            raise RelyingPartyError(answer["name"], answer.get("code"), answer["error"], answer)
        return answer

    # -- the commands --------------------------------------------------------------------------

    def discover(self, issuer: str, client_id: str, client_secret: str | None, redirect_uri: str,
                 token_endpoint_auth_method: str | None = None) -> dict:
        """Discovery (``issuer`` + ``/.well-known/openid-configuration``, its ``issuer`` must be
        ``issuer`` exactly) and this process's client; returns the provider's metadata. The auth
        method: ``client_secret_basic`` (the default with a secret), ``client_secret_post``, ``none``."""
        self.metadata = self.command(
            "discover", issuer=issuer, client_id=client_id, client_secret=client_secret,
            redirect_uri=redirect_uri, token_endpoint_auth_method=token_endpoint_auth_method,
        )
        return self.metadata

    def authorization_url(self, scope: str = "openid email profile", *, prompt: str | None = None,
                          max_age: int | None = None, login_hint: str | None = None,
                          extra: dict | None = None) -> dict:
        """``{url, state, nonce, code_verifier}``: PKCE with S256, a fresh state, a nonce when the
        scope has ``openid`` (else ``None``). The process keeps them for the next ``callback``."""
        return self.command(
            "authorization_url", scope=scope, prompt=prompt, max_age=max_age, login_hint=login_hint, extra=extra or {}
        )

    def callback(self, url: str, **overrides) -> dict:
        """The authorization response at ``url`` checked and its code exchanged:
        ``{access_token, refresh_token, id_token, expires_in, scope, token_type, claims}`` (claims:
        the ID token's, ``None`` without one). ``overrides`` (``state``, ``nonce``,
        ``code_verifier``, ``max_age``) replace what the last ``authorization_url`` kept."""
        return self.command("callback", url=url, **overrides)

    def userinfo(self, access_token: str, expected_sub: str | None) -> dict:
        """The userinfo endpoint's claims; their ``sub`` must be ``expected_sub`` (``None``: not checked)."""
        return self.command("userinfo", access_token=access_token, expected_sub=expected_sub)

    def refresh(self, refresh_token: str) -> dict:
        """The refresh token grant: the new token set, as ``callback`` returns it."""
        return self.command("refresh", refresh_token=refresh_token)

    def introspect(self, token: str, token_type_hint: str | None = None) -> dict:
        """The introspection response (``{"active": False}`` for a token the provider does not know)."""
        return self.command("introspect", token=token, token_type_hint=token_type_hint)

    def revoke(self, token: str, token_type_hint: str | None = None) -> dict:
        """``{"revoked": True}`` once the revocation endpoint answered 200."""
        return self.command("revoke", token=token, token_type_hint=token_type_hint)

    def device_authorization(self, scope: str = "openid") -> dict:
        """``{device_code, user_code, verification_uri, verification_uri_complete, interval,
        expires_in}``; the process keeps it for ``device_poll``."""
        return self.command("device_authorization", scope=scope)

    def device_poll(self, device_code: str | None = None, wait: float | None = None) -> dict:
        """Without ``wait``: one token request for ``device_code`` (the last device authorization's
        by default): the token set, or ``{"oauth_error": "authorization_pending" | "slow_down" |
        "expired_token" | "access_denied", "error_description": ...}``. With ``wait`` (seconds):
        openid-client's own polling loop (it waits the interval before each request) until tokens,
        another error, or ``wait`` runs out (``RelyingPartyError`` ``AbortError``/``TimeoutError``)."""
        return self.command(
            "device_poll", timeout=(wait or 0) + COMMAND_TIMEOUT, device_code=device_code, wait=wait
        )

    def end_session_url(self, id_token_hint: str | None, post_logout_redirect_uri: str | None,
                        state: str | None = None) -> dict:
        """``{url}``: the provider's ``end_session_endpoint`` with those parameters (and ``client_id``)."""
        return self.command(
            "end_session_url", id_token_hint=id_token_hint, post_logout_redirect_uri=post_logout_redirect_uri,
            state=state,
        )
