"""Credential routes, named after djangorestframework-simplejwt and djoser so API users know them.

JWT: /api/token/, /api/token/refresh/, /api/logout/. API keys: /api/auth/token/login/ and
/logout/. Passwords: /api/users/me/set_password/.
"""

from flask import current_app, g
from flask_jwt_extended import decode_token

from ..extensions import limiter
from ..models import canonical_email
from ..services import accounts, credentials
from ..services.errors import AuthenticationFailed, ValidationFailed
from . import bp
from .auth import authenticated, current_actor
from .payload import read_payload


def _sign_in_limit():
    return current_app.config["RATELIMIT_SIGN_IN"]


def _account_key() -> str:
    """Rate-limit key for the account being signed in to, whatever address it comes from."""
    try:
        payload = read_payload()
    except Exception:  # the view answers a bad body; the limiter only needs a key
        return "account:"
    identifier = payload.get("email") or payload.get("username")
    return "account:" + (canonical_email(identifier) if isinstance(identifier, str) else "")


def sign_in_limits(view):
    """Per client address and per account, so neither spraying nor one-account guessing goes far."""
    view = limiter.limit(_sign_in_limit, key_func=_account_key, scope="sign-in-account")(view)
    return limiter.limit(_sign_in_limit, scope="sign-in-ip")(view)


def _authenticate_payload():
    payload = read_payload()
    errors = {}
    if payload.get("password") in (None, ""):
        errors["password"] = ["This field is required."]
    if not payload.get("email") and not payload.get("username"):
        errors["non_field_errors"] = ['Must include "email" or "username".']
    if errors:
        raise ValidationFailed(errors)
    return credentials.authenticate(payload["password"], email=payload.get("email"), username=payload.get("username"))


@bp.post("/token/")
@sign_in_limits
def token_obtain():
    user = _authenticate_payload()
    return credentials.issue_token_pair(user, current_actor())


@bp.post("/token/refresh/")
@sign_in_limits
def token_refresh():
    refresh = read_payload().get("refresh")
    if not isinstance(refresh, str) or not refresh:
        raise ValidationFailed.on("refresh", "This field is required.")
    claims = decode_token(refresh)  # signature and expiry; errors go to the JWT loaders (401)
    if claims.get("type") != "refresh":
        raise AuthenticationFailed("Token has wrong type.")
    return credentials.rotate_refresh_token(claims)


@bp.post("/logout/")
@authenticated
def logout():
    """Revoke the presented credential and, when given, the sign-in of a refresh token."""
    refresh = read_payload().get("refresh")
    if refresh:
        claims = decode_token(refresh) if isinstance(refresh, str) else {}
        credential = credentials.live_credential_for_claims(claims)
        if claims.get("type") != "refresh" or credential is None or credential.user_id != g.user.id:
            raise AuthenticationFailed("Token is invalid or expired")
        credentials.revoke(credential, current_actor())
    credentials.revoke(g.credential, current_actor())
    return "", 204


@bp.post("/auth/token/login/")
@sign_in_limits
def api_key_login():
    user = _authenticate_payload()
    _, key = credentials.issue_api_key(user, current_actor(), name="API sign-in")
    return {"auth_token": key}


@bp.post("/auth/token/logout/")
@authenticated
def api_key_logout():
    credentials.revoke(g.credential, current_actor())
    return "", 204


@bp.post("/users/me/set_password/")
@authenticated
def set_password():
    payload = read_payload()
    accounts.change_password(
        g.user, payload.get("current_password"), payload.get("new_password"), current_actor(), keep=g.credential
    )
    return "", 204
