"""Credential routes, named after djangorestframework-simplejwt and djoser so API users know them.

JWT: /api/token/, /api/token/refresh/, /api/logout/. API keys: /api/auth/token/login/ and
/logout/. Passwords: /api/users/me/set_password/, /api/users/reset_password/ and
/api/users/reset_password_confirm/.
"""

from functools import partial

from ..limits import limited
from ..payload import read_payload
from ..services.errors import ValidationFailed
from ..services.people import accounts, verification
from ..services.signing_in import sign_in
from ..services.ways_in import api_keys, credentials, scopes, tokens
from . import bp
from .auth import ANY, FULL, authenticated, caller_credential, caller_user, current_actor
from .documented import documented
from .schemas import (
    ChangePassword,
    KeySignIn,
    PasswordResetConfirm,
    PasswordResetRequest,
    RefreshToken,
    SignIn,
    SignOut,
)
from .two_step import API_KEY, JWT_PAIR, signed_in

sign_in_limits = limited("RATELIMIT_SIGN_IN", per_account=("email", "username"))
# Each route's summary and description are its docstring; all are under this tag of the OpenAPI document.
documented_credentials = partial(documented, tag="Credentials")
# How both sign-in routes refuse, as the OpenAPI document says it.
SIGN_IN_REFUSED = {
    401: ("SignInRefused", "No active account found with the given credentials; or, for an account with a "
          "second factor, the two-step answer: `mfa_required`, an `mfa_token` for `POST /api/token/mfa/`, "
          "and the `methods` it takes."),
    403: ("Detail", "The email address was never verified."),
}


def _authenticate_payload():
    return _authenticate(SignIn().to_changes(read_payload()))


def _authenticate(body: dict):
    if not body.get("email") and not body.get("username"):
        raise ValidationFailed.on("non_field_errors", 'Must include "email" or "username".')
    return sign_in.authenticate(body["password"], email=body.get("email"), username=body.get("username"))


@bp.post("/token/")
@documented_credentials(body="SignIn", answer="TokenPair", errors=SIGN_IN_REFUSED)
@sign_in_limits
def token_obtain():
    """Sign in: a JWT pair

    `password` and `email` or `username`. The pair's access token goes in
    `Authorization: Bearer <access>`.
    """
    return signed_in(_authenticate_payload(), issue=JWT_PAIR)


@bp.post("/token/refresh/")
@documented_credentials(
    body="RefreshToken",
    answer="TokenPair",
    errors={401: ("Detail", "The refresh token is invalid, expired or revoked.")},
)
@limited("RATELIMIT_REFRESH")  # per address only: the body names no account, and refresh tokens cannot be guessed
def token_refresh():
    """Swap a refresh token for a new pair

    The presented refresh token stops working; presenting it again revokes the whole sign-in.
    """
    return tokens.rotate_refresh_token(RefreshToken().to_changes(read_payload())["refresh"])


@bp.post("/logout/")
@documented_credentials(body="SignOut", body_required=False, status=204)
@authenticated(needs=FULL)  # may end another sign-in (its refresh token)
def logout():
    """Sign out

    The presented credential, and the sign-in of the given refresh token, stop working at once.
    """
    refresh = SignOut().to_changes(read_payload()).get("refresh")
    tokens.sign_out(caller_credential(), current_actor(), refresh_token=refresh)
    return "", 204


@bp.post("/auth/token/login/")
@documented_credentials(body="KeySignIn", answer="AuthToken", errors=SIGN_IN_REFUSED)
@sign_in_limits
def api_key_login():
    """Sign in: a new API key

    A new key each call, for `Authorization: Token <key>`. With `idle_timeout`, the key stops
    working once it has gone unused that many seconds; with `expires_in`, that many seconds from
    now. With `scopes`, it is a personal access token: `["api:read"]` reads the profile,
    `["api:write"]` also changes it, and every other route refuses it with a 403.
    """
    body = KeySignIn().to_changes(read_payload())
    # Refused before any password is checked.
    key = {
        "idle_timeout": api_keys.idle_limit_of(body.get("idle_timeout")),
        "scopes": scopes.key_scopes_of(body.get("scopes")),
        "expires_in": api_keys.lifetime_of(body.get("expires_in")),
    }
    return signed_in(_authenticate(body), issue=API_KEY, key={k: v for k, v in key.items() if v is not None})


@bp.post("/auth/token/logout/")
@documented_credentials(status=204)
@authenticated(needs=ANY)  # ends the presented credential alone
def api_key_logout():
    """Revoke the presented credential

    Meant for `Authorization: Token <key>`: that key stops working.
    """
    credentials.revoke(caller_credential(), current_actor())
    return "", 204


@bp.post("/users/me/set_password/")
@documented_credentials(body="ChangePassword", status=204)
@limited("RATELIMIT_PASSWORD_CHECK", per_ip=False, per_credential=True)
@authenticated(needs=FULL)
def set_password():
    """Change the caller's password

    Every other token, key and browser session of the user stops working; the presented one stays.
    """
    body = ChangePassword().to_changes(read_payload())
    accounts.change_password(
        caller_user(), body["current_password"], body["new_password"], current_actor(), keep=caller_credential()
    )
    return "", 204


@bp.post("/users/reset_password/")
@documented_credentials(body="PasswordResetRequest", status=204)
@limited("RATELIMIT_PASSWORD_RESET", per_account=("email",))
def reset_password():
    """Ask for a password reset link

    204 whether or not the address has an account; when it has, a link to
    `/password/reset/<uid>/<token>/` is mailed. 400 only for a malformed address.
    """
    # Always 204 for a well-formed address, so the answer tells nobody whether it has an account.
    email = PasswordResetRequest().to_changes(read_payload())["email"]
    verification.request_password_reset(email, current_actor())
    return "", 204


@bp.post("/users/reset_password_confirm/")
@documented_credentials(body="PasswordResetConfirm", status=204)
@limited("RATELIMIT_PASSWORD_RESET_CONFIRM")
def reset_password_confirm():
    """Set a new password with a reset link's uid and token

    The link works once; every credential of the user stops working.
    """
    body = PasswordResetConfirm().to_changes(read_payload())
    accounts.reset_password(body["uid"], body["token"], body["new_password"], current_actor())
    return "", 204
