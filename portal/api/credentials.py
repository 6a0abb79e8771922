"""Credential routes, named after djangorestframework-simplejwt and djoser so API users know them.

JWT: /api/token/, /api/token/refresh/, /api/logout/. API keys: /api/auth/token/login/ and
/logout/. Passwords: /api/users/me/set_password/, /api/users/reset_password/ and
/api/users/reset_password_confirm/.
"""

from ..limits import limited
from ..services import accounts, api_keys, credentials, sign_in, tokens, verification
from ..services.errors import ValidationFailed
from . import bp
from .auth import authenticated, caller_credential, caller_user, current_actor
from ..payload import read_payload
from .schemas import ChangePassword, PasswordResetConfirm, PasswordResetRequest, RefreshToken, SignIn, SignOut

sign_in_limits = limited("RATELIMIT_SIGN_IN", per_account=("email", "username"))


def _authenticate_payload():
    body = SignIn().to_changes(read_payload())
    if not body.get("email") and not body.get("username"):
        raise ValidationFailed.on("non_field_errors", 'Must include "email" or "username".')
    return sign_in.authenticate(body["password"], email=body.get("email"), username=body.get("username"))


@bp.post("/token/")
@sign_in_limits
def token_obtain():
    user = _authenticate_payload()
    return tokens.issue_token_pair(user, current_actor())


@bp.post("/token/refresh/")
@limited("RATELIMIT_REFRESH")  # per address only: the body names no account, and refresh tokens cannot be guessed
def token_refresh():
    return tokens.rotate_refresh_token(RefreshToken().to_changes(read_payload())["refresh"])


@bp.post("/logout/")
@authenticated
def logout():
    """Revoke the presented credential and, when given, the sign-in of a refresh token."""
    refresh = SignOut().to_changes(read_payload()).get("refresh")
    tokens.sign_out(caller_credential(), current_actor(), refresh_token=refresh)
    return "", 204


@bp.post("/auth/token/login/")
@sign_in_limits
def api_key_login():
    user = _authenticate_payload()
    _, key = api_keys.issue_api_key(user, current_actor(), name="API sign-in")
    return {"auth_token": key}


@bp.post("/auth/token/logout/")
@authenticated
def api_key_logout():
    credentials.revoke(caller_credential(), current_actor())
    return "", 204


@bp.post("/users/me/set_password/")
@limited("RATELIMIT_PASSWORD_CHECK", per_ip=False, per_credential=True)
@authenticated
def set_password():
    body = ChangePassword().to_changes(read_payload())
    accounts.change_password(
        caller_user(), body["current_password"], body["new_password"], current_actor(), keep=caller_credential()
    )
    return "", 204


@bp.post("/users/reset_password/")
@limited("RATELIMIT_PASSWORD_RESET", per_account=("email",))
def reset_password():
    """Always 204 for a well-formed address, so the answer tells nobody whether it has an account."""
    email = PasswordResetRequest().to_changes(read_payload())["email"]
    verification.request_password_reset(email, current_actor())
    return "", 204


@bp.post("/users/reset_password_confirm/")
@limited("RATELIMIT_PASSWORD_RESET_CONFIRM")
def reset_password_confirm():
    body = PasswordResetConfirm().to_changes(read_payload())
    accounts.reset_password(body["uid"], body["token"], body["new_password"], current_actor())
    return "", 204
