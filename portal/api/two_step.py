"""How the API renders the sign-in flow's outcome, and two-step sign-in through the API.

Every route that proves who someone is (a password, an emailed code) hands the person to the
sign-in flow (``flow.sign_in``) through ``signed_in``, and answers what it decided
(``answer_outcome``). An account without a second factor signs in exactly as the documents
describe. For one with an authenticator app or a passkey, ``POST /api/token/`` and
``POST /api/auth/token/login/`` answer a correct password with 401 and an ``mfa_token`` (and the
``methods`` the step takes now, from ``factors.KINDS``) instead of credentials; ``POST /api/token/mfa/``
with that token and a code (or a passkey's answer) then gives exactly what the first route would
have given: a JWT pair, or ``{"auth_token": …}``. The token is good for TWO_FACTOR_PENDING_TTL,
once, and for TWO_FACTOR_MAX_ATTEMPTS wrong codes; tries count against the account's sign-in limit.
The 401 hands out the pending sign-in it wrote, so it is kept though the answer is an error.
"""

from functools import partial

from .. import transactions
from ..http import relying_party
from ..limits import limited
from ..payload import read_payload
from ..services.errors import SignInExpired
from ..services.signing_in import flow, passkeys, two_factor
from ..services.signing_in.sign_in import PASSWORD
from ..services.ways_in import api_keys, tokens
from . import bp
from .auth import current_actor, tell_about_breached_password
from .documented import documented
from .errors import error_response
from .schemas import PasskeyOptionsRequest, SecondStep

JWT_PAIR, API_KEY = "jwt", "key"
SECOND_FACTOR_REQUIRED = "A second factor is required: send a code or a passkey with the mfa_token to /api/token/mfa/."
documented_credentials = partial(documented, tag="Credentials")
SECOND_STEP_REFUSED = {
    401: ("Detail", "The mfa_token is unknown, expired, used, or out of tries: sign in again from the start."),
}


def signed_in(user, *, issue: str, first_step: str = PASSWORD, key: dict | None = None):
    """The answer to a first step that proved who this is: the flow's outcome (``answer_outcome``),
    with what was asked for (``issue``: a JWT pair or an API key, with ``key``: its ``idle_timeout``,
    ``scopes`` and ``expires_in`` when chosen) kept by a pending sign-in for when it finishes."""
    data = {"issue": issue} | ({"key": key} if key else {})
    return answer_outcome(flow.sign_in(user, first_step=first_step, door_data=data))


def answer_outcome(outcome: flow.Outcome):
    """A finished sign-in gets the credential its first route asked for; a pending one 401 with the
    ``mfa_token`` and the ``methods`` its step takes."""
    if outcome.finished:
        key = outcome.data.get("key") or {}
        if "key_idle_timeout" in outcome.data:  # a pending sign-in begun before keys took scopes
            key = {"idle_timeout": outcome.data["key_idle_timeout"]}
        return _issue(outcome.user, outcome.data.get("issue", JWT_PAIR), method=outcome.method, key=key)
    transactions.keep_though_refused()  # the 401 hands out the pending sign-in it wrote
    return error_response(401, {
        "detail": SECOND_FACTOR_REQUIRED, "mfa_required": True, "mfa_token": outcome.token,
        "methods": list(outcome.step.offered),
    })


@bp.post("/token/mfa/")
@documented_credentials(body="SecondStep", answer="SignedIn", errors=SECOND_STEP_REFUSED)
@limited("RATELIMIT_SIGN_IN", per_account=("mfa_token",))
def token_mfa():
    """Finish a two-step sign-in

    `mfa_token` from the 401 of `POST /api/token/` or `POST /api/auth/token/login/`, and `code` (from
    the authenticator app, or a recovery code) or `passkey` (the answer of
    `navigator.credentials.get()` to the options of `POST /api/token/mfa/passkey/`, as JSON). The answer
    is what the first route gives an account without a second factor: a JWT pair, or an API key. A
    wrong code is a 400 on `code` and spends one of five tries.
    """
    body = SecondStep().to_changes(read_payload())
    token, assertion = body["mfa_token"], None
    if body.get("passkey") is not None:
        if two_factor.pending_sign_in(token) is None:
            raise SignInExpired(two_factor.EXPIRED)
        party = relying_party()
        assertion = passkeys.verify_passkey(
            body["passkey"], rp_id=party.id, origin=party.origin, binding=token, actor=current_actor()
        )
    return answer_outcome(flow.complete_sign_in(token, current_actor(), code=body.get("code"), passkey=assertion))


@bp.post("/token/mfa/passkey/")
@documented_credentials(body="PasskeyOptionsRequest", answer="PasskeyOptions", errors=SECOND_STEP_REFUSED)
@limited("RATELIMIT_SIGN_IN", per_account=("mfa_token",))
def token_mfa_passkey_options():
    """Options for a passkey as the second step

    The `PublicKeyCredentialRequestOptions` (binary values in base64url) for `navigator.credentials.get()`,
    naming the passkeys of the account signing in; the challenge is bound to the `mfa_token`.
    """
    token = PasskeyOptionsRequest().to_changes(read_payload())["mfa_token"]
    pending = two_factor.pending_sign_in(token)
    if pending is None:
        raise SignInExpired(two_factor.EXPIRED)
    return passkeys.authentication_options(rp_id=relying_party().id, binding=token, user=pending.user)


def _issue(user, issue: str, *, method: str, key: dict):
    if user.password_breached:
        tell_about_breached_password()
    if issue == API_KEY:
        _, key = api_keys.issue_api_key(
            user, current_actor(), name=api_keys.SIGNED_IN_THROUGH_THE_API, method=method,
            idle_timeout=key.get("idle_timeout"), scopes=key.get("scopes"), expires_in=key.get("expires_in"),
        )
        return {"auth_token": key}
    return tokens.issue_token_pair(user, current_actor(), method=method)
