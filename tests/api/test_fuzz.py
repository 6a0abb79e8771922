"""Fuzzing: schemathesis reads the served OpenAPI document (``/api/openapi.json``), sends every
operation generated requests, valid and invalid, and checks every answer against the document with
all of its checks (server errors, status codes, content types, response headers and bodies,
negative data rejected, positive data accepted, authentication enforced, methods not allowed, …).
It must find nothing.

Every operation that takes credentials runs twice, once with a verified user's JWT access token
(``Authorization: Bearer``) and once with an API key (``Authorization: Token``); the public ones run
once, without credentials. The run is deterministic (a fixed seed, derandomized generation) and
takes ``MAX_EXAMPLES`` generated cases per operation and run, plus the cases that schemathesis'
examples and coverage phases derive from the document.

The caller's account and credential are renewed whenever a case ended them (the logout routes,
deleting the account), so later cases still reach the routes behind authentication. About half of
the valid cases are steered towards what random data rarely hits (the caller's own id and someone
else's, the current ETag, the real password, a live refresh token, a real code (to verify an address
or to sign in) or reset link, a fresh address with a strong password), so the success answers are
checked against the document too.

Marked ``fuzz`` so CI can run it once (``pytest -m fuzz``) and leave it out of its other runs
(``-m "not fuzz"``). When the module ends it prints, past pytest's output capture, the number of
cases and, for each run of an operation, its cases by answer status.
"""

import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field

import pytest
import schemathesis
from flask_jwt_extended import decode_token
from hypothesis import HealthCheck, settings
from jwt import PyJWTError

from portal import create_app
from portal.extensions import db
from portal.models import User
from portal.services.audit import SYSTEM
from portal.services.people import accounts, verification
from portal.services.ways_in import callers, tokens
from portal.transactions import unit_of_work

from ..conftest import PASSWORD

pytestmark = pytest.mark.fuzz

MAX_EXAMPLES = 100
SEED = 20251122

# All of schemathesis' checks, with the statuses the documented behaviour adds:
# - a request that matches the document may still be refused: a 400 for what a type cannot say
#   (a taken email, a weak password, a malformed phone number, a wrong code, …) and a 412 for a
#   stale If-Match;
# - a request with invalid data may also be refused by a stale If-Match (412) or a body over the
#   size limit (413).
CONFIG = {
    "seed": SEED,
    "suppress-health-check": ["too_slow", "filter_too_much", "data_too_large"],
    "generation": {"max-examples": MAX_EXAMPLES, "deterministic": True, "database": "none"},
    "checks": {
        "positive_data_acceptance": {"expected-statuses": ["2xx", "3xx", "400", "401", "403", "404", "412", "429"]},
        "negative_data_rejection": {
            "expected-statuses": ["400", "401", "403", "404", "405", "412", "413", "415", "429"]
        },
    },
}
SIGN_IN_PATHS = ("/api/token/", "/api/auth/token/login/")
STRONG_PASSWORD = "a-Strong-passphrase-9041"


@dataclass
class Tally:
    runs: dict = field(default_factory=lambda: defaultdict(Counter))  # (scheme, operation) → status → cases
    started: float = field(default_factory=time.monotonic)


@pytest.fixture(scope="module")
def tally(request):
    """Counts the cases of the whole module and prints the total for the CI log."""
    counted = Tally()
    yield counted
    seconds = time.monotonic() - counted.started
    total = sum(statuses.total() for statuses in counted.runs.values())
    lines = [
        f"fuzz: {total} cases in {len(counted.runs)} runs of an operation "
        f"({MAX_EXAMPLES} generated at most per run, plus the examples and coverage phases; seed {SEED}) "
        f"in {seconds:.0f} s"
    ]
    for (scheme, label), statuses in sorted(counted.runs.items()):
        answers = " ".join(f"{status}×{count}" for status, count in sorted(statuses.items()))
        lines.append(f"fuzz: {statuses.total():5} {scheme:9} {label:45} {answers}")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    with capture.global_and_fixture_disabled():  # past pytest's capture, as capsys.disabled() does
        print("\n" + "\n".join(lines))


class Caller:
    """The fuzzer's identity: a verified user and, unless ``scheme`` is None, one credential of
    that scheme; both are renewed when a case ended them."""

    def __init__(self, app, scheme):
        self.app, self.client, self.scheme = app, app.test_client(), scheme
        self.serial = 0
        self.user_id = self.email = self.secret = None
        self.password = PASSWORD
        self.other_id = self._create_user(f"someone-else-{scheme}@example.com")

    def _create_user(self, email) -> int:
        with self.app.app_context(), unit_of_work():
            return accounts.create_user(email, PASSWORD, SYSTEM, email_verified=True).id

    def _state(self) -> str:
        """``live``, ``revoked`` (the credential), or ``gone`` (the user, or never made)."""
        if self.user_id is None:
            return "gone"
        with self.app.app_context():
            user = db.session.get(User, self.user_id)
            if user is None or not user.is_active:
                return "gone"
            self.email = user.email  # a case may have changed it
            if self.scheme is None:
                return "live"
            if self.scheme == "token":
                credential = callers.caller_for_key(self.secret)
            else:
                try:
                    credential = tokens.live_credential_for_claims(decode_token(self.secret))
                except PyJWTError:
                    credential = None
            return "live" if credential is not None else "revoked"

    def _sign_in(self, path: str = "/api/token/") -> dict | None:
        response = self.client.post(path, json={"email": self.email, "password": self.password})
        return response.get_json() if response.status_code == 200 else None

    def _issue(self) -> str | None:
        if self.scheme == "bearer":
            return (self._sign_in("/api/token/") or {}).get("access")
        return (self._sign_in("/api/auth/token/login/") or {}).get("auth_token")

    def headers(self) -> dict:
        """The Authorization header of a live credential (none without a scheme), renewing what the
        last case ended. A user who can no longer sign in (a case changed their email, which is then
        unverified) is replaced too."""
        state = self._state()
        if state == "revoked":
            self.secret = self._issue()
            state = "live" if self.secret else "gone"
        if state == "gone":
            self.serial += 1
            self.email, self.password = f"fuzz{self.serial}-{self.scheme}@example.com", PASSWORD
            self.user_id = self._create_user(self.email)
            self.secret = self._issue() if self.scheme else None
        if self.scheme is None:
            return {}
        prefix = "Bearer" if self.scheme == "bearer" else "Token"
        return {"Authorization": f"{prefix} {self.secret}"}

    def steer(self, case) -> None:
        """Point about half of the valid cases at what random data rarely finds: the caller's own id
        and someone else's, the current ETag, real credentials, codes and reset links, a fresh address
        and a strong password. Whatever was generated invalid stays as it was."""
        path = case.path_parameters or {}
        if isinstance(path.get("user_id"), int) and not isinstance(path["user_id"], bool):
            path["user_id"] = (self.user_id, self.other_id, path["user_id"])[path["user_id"] % 3]
        if case.meta is not None and case.meta.generation.mode.is_negative:
            return
        headers = case.headers or {}
        for name in ("If-Match", "If-None-Match"):
            if isinstance(headers.get(name), str) and len(headers[name]) % 2 == 0:
                headers[name] = f'"{self._version()}"'
        body = case.body
        if not isinstance(body, dict) or len(repr(body)) % 2:
            return
        if "current_password" in body:
            body["current_password"] = self.password
        if case.path in SIGN_IN_PATHS:
            body.update(email=self.email, password=self.password)
        elif case.path == "/api/token/refresh/":
            body["refresh"] = (self._sign_in() or {}).get("refresh", body.get("refresh"))
        elif case.path in ("/api/users/reset_password/", "/api/auth/code/"):
            body["email"] = self.email
        elif case.path == "/api/token/code/":
            body.update(self._sign_in_code())
        elif case.path == "/api/users/reset_password_confirm/":
            body.update(self._reset_link(), new_password=STRONG_PASSWORD)
        elif case.path == "/api/v1/accounts/users/":
            self.serial += 1
            email = f"new{self.serial}-{self.scheme}@example.com"
            body.update(email=email, password=STRONG_PASSWORD, confirm_password=STRONG_PASSWORD)
        elif case.path == "/api/v1/accounts/users/verify-otp/":
            body.update(self._unverified_with_code())

    def _version(self) -> int:
        with self.app.app_context():
            return db.session.get(User, self.user_id).version

    def _reset_link(self) -> dict:
        with self.app.app_context():
            link = verification.password_reset_link(db.session.get(User, self.user_id))
        uid, token = link.rstrip("/").split("/")[-2:]
        return {"uid": uid, "token": token}

    def _unverified_with_code(self) -> dict:
        self.serial += 1
        email = f"unverified{self.serial}-{self.scheme}@example.com"
        with self.app.app_context():
            user = accounts.create_user(email, PASSWORD, SYSTEM)
            code = verification.issue_code(user)
            db.session.commit()
        return {"email": email, "otp": code}

    def _sign_in_code(self) -> dict:
        """A live sign-in code of the caller's account (``headers`` has just made sure there is one)."""
        with self.app.app_context():
            user = db.session.get(User, self.user_id)
            code = verification.issue_code(user, verification.SIGN_IN)
            db.session.commit()
            return {"email": user.email, "code": code}

    def settle(self, case, response) -> None:
        """Remember a password the case changed."""
        if response.status_code == 204 and case.path in (
            "/api/users/me/set_password/", "/api/users/reset_password_confirm/"
        ):  # fmt: skip
            self.password = case.body["new_password"]


def needs_credentials(context) -> bool:
    return bool(context.operation.definition.raw.get("security"))


def is_public(context) -> bool:
    return not needs_credentials(context)


# The document as an app of this code serves it (test_the_fuzzed_document_is_the_one_the_app_serves).
# Each case then goes to the test's own fresh app, so every run of an operation starts afresh.
document = schemathesis.openapi.from_wsgi(
    "/api/openapi.json", create_app("testing"), config=schemathesis.Config.from_dict(CONFIG)
)
protected = document.include(needs_credentials)
public = document.include(is_public)  # selected by a filter, GET /api/openapi.json is fuzzed too


@pytest.fixture(params=["bearer", "token"])
def credentialed(request, app):
    return Caller(app, request.param)


@pytest.fixture(params=["anonymous"])  # a parameter also gives each operation its own test id
def anonymous(app):
    return Caller(app, None)


def test_the_fuzzed_document_is_the_one_the_app_serves(client):
    assert client.get("/api/openapi.json").get_json() == document.raw_schema


def call_and_validate(case, caller, tally):
    headers = caller.headers()
    caller.steer(case)
    excluded = []
    if case.media_type == "multipart/form-data" and not isinstance(case.body, dict):
        # A value that is not an object cannot be written as form fields: on the wire it becomes a
        # multipart body without parts, which is an empty form, not invalid data.
        excluded.append(schemathesis.checks.negative_data_rejection)
    response = case.call_and_validate(session=caller.client, headers=headers, excluded_checks=excluded)
    caller.settle(case, response)
    tally.runs[caller.scheme or "anonymous", case.operation.label][response.status_code] += 1


@protected.parametrize()
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])  # the caller renews itself per case
def test_protected_operations_answer_as_documented_with_either_credential(case, credentialed, tally):
    call_and_validate(case, credentialed, tally)


@public.parametrize()
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_public_operations_answer_as_documented(case, anonymous, tally):
    call_and_validate(case, anonymous, tally)
