"""Device cookies: a browser that has signed in to an account before is known to that account.

OWASP's "Slow down online guessing attacks with device cookies": each sign-in in a browser gives it
a signed, per-account token. A request with a valid one is a *known device*: the failures of
everyone else do not hold it back; it has an allowance of its own, so a stolen cookie is limited
too. One cookie holds the tokens of the last few accounts signed in to (a shared computer keeps its
owners). Only pages read the cookie. API clients are unknown sources: they keep a refresh token or an API
key instead of signing in again, and a script could replay a browser's cookie from anywhere.
"""

import secrets

from flask import after_this_request, current_app, request
from flask_login import user_logged_in
from itsdangerous import BadSignature, URLSafeTimedSerializer

from ...clock import ClockSigner
from ...models import User

COOKIE_NAME = "portal_device"
SALT = "device-cookie"
ACCOUNTS_PER_BROWSER = 5  # the newest sign-ins; an older account's token makes way
SEPARATOR = "~"  # between tokens; itsdangerous tokens never hold it, and a cookie may


def _serializer(user: User) -> URLSafeTimedSerializer:
    # The account's security stamp in the salt: a recovery (a reset link, a securing, a deactivation)
    # retires every token issued before it, the intruder's included; the owner's own change of
    # password, or a hash upgraded at sign-in, leaves the owner's browsers known.
    return URLSafeTimedSerializer(
        current_app.config["SECRET_KEY"], salt=f"{SALT}:{user.id}:{user.security_stamp}", signer=ClockSigner
    )


def presented() -> bool:
    """Whether this request carries a device cookie at all (most do not: nothing to look up)."""
    return COOKIE_NAME in request.cookies


def _tokens() -> list[str]:
    value = request.cookies.get(COOKIE_NAME, "")
    return [token for token in value.split(SEPARATOR) if token][:ACCOUNTS_PER_BROWSER]


def _user_id_of(token: str) -> str:
    user_id, _, _ = token.partition(":")
    return user_id


def known_device(user: User | None) -> str | None:
    """The nonce of the device this request's cookie proves for ``user``'s account (which names it
    for its own allowance), or None: no cookie, another account's, forged, expired, or revoked."""
    if user is None or not user.is_active:
        return None
    max_age = current_app.config["DEVICE_COOKIE_LIFETIME"].total_seconds()
    for token in _tokens():
        if _user_id_of(token) != str(user.id):
            continue
        try:
            user_id, nonce = _serializer(user).loads(token.partition(":")[2], max_age=max_age)
        except (BadSignature, ValueError, TypeError):
            continue
        if user_id == user.id and isinstance(nonce, str):
            return nonce
    return None


def issue(user: User) -> str:
    """The cookie's new value once ``user`` signed in in this browser: a fresh token for that account
    first, then the others this browser held (their signatures are checked when they are used)."""
    token = f"{user.id}:{_serializer(user).dumps([user.id, secrets.token_urlsafe(16)])}"
    others = [t for t in _tokens() if _user_id_of(t) != str(user.id)]
    return SEPARATOR.join([token, *others][:ACCOUNTS_PER_BROWSER])


def _remember_browser(sender, user, **extra) -> None:
    """Flask-Login's ``user_logged_in``: every browser sign-in leaves the browser a fresh device cookie."""
    value = issue(user)
    cfg = current_app.config

    @after_this_request
    def set_cookie(response):
        response.set_cookie(
            COOKIE_NAME, value, max_age=int(cfg["DEVICE_COOKIE_LIFETIME"].total_seconds()),
            secure=cfg.get("SESSION_COOKIE_SECURE", False), httponly=True, samesite="Lax",
        )
        return response


def init_app(app) -> None:
    user_logged_in.connect(_remember_browser, app)
