"""JWT sign-ins: an access/refresh pair per sign-in, refresh-token rotation, revocation, and decoding.

A pair belongs to one ``Credential`` row (the ``sid`` claim), which holds the jti of the one live
refresh token, so a token presented twice is recognised. A refresh changes that row alone.
"""

import functools
import math
import secrets
import uuid

import jwt
from flask import current_app
from flask_jwt_extended import create_access_token, create_refresh_token
from sqlalchemy import bindparam, update

from ...clock import timestamp
from ...extensions import db
from ...models import Credential, User, utcnow
from ..audit import Actor
from ..errors import AuthenticationFailed
from ..plumbing.attempts import keep_attempts
from ..signing_in.sign_in import PASSWORD, record_sign_in
from . import callers
from .credentials import JWT, by_public_id, check_usable, live_sign_in, one_with_user, revoke

JWT_BY_PUBLIC_ID = by_public_id(JWT)

# The swap of a sign-in's live refresh token for the next one: changed only while the presented one is
# still the live one and the sign-in still stands (``atomic``). Built once, on the table rather than
# the model: composing and executing an ORM UPDATE afresh cost a refresh more than its SQL.
_credentials = Credential.__table__
SWAP_REFRESH_TOKEN = (
    update(_credentials)
    .where(
        _credentials.c.id == bindparam("credential_id"),
        _credentials.c.refresh_jti == bindparam("presented_jti"),
        _credentials.c.revoked_at.is_(None),
    )
    .values(refresh_jti=bindparam("new_jti"), expires_at=bindparam("expires_at"), last_used_at=bindparam("now"))
)


def issue_token_pair(user: User, actor: Actor, *, method: str = PASSWORD) -> dict:
    """A new sign-in: a Credential row and its first access/refresh pair. ``method``: how it was proven."""
    now = utcnow()
    credential = Credential(
        user=user,
        kind=JWT,
        public_id=secrets.token_urlsafe(16),
        refresh_jti=uuid.uuid4().hex,
        created_at=now,
        expires_at=now + current_app.config["JWT_REFRESH_TOKEN_EXPIRES"],
        created_ip=actor.ip,
        method=method,
        proven_at=now,
    )
    db.session.add(credential)
    tokens = _mint_pair(user.id, credential.public_id, credential.refresh_jti)
    record_sign_in(user, actor, method, credential=credential)
    return tokens


def rotate_refresh_token(refresh_token) -> dict:
    """Trade a live refresh token for a new pair; the presented one stops working. One presented a
    second time has leaked: the whole sign-in is revoked, which stands though the request is refused.
    The swap is one conditional UPDATE, so of two requests racing with one token only one wins. The
    sign-in is read as a snapshot (``callers``): the refresh needs its facts, not models to change."""
    claims = decode_jwt(refresh_token, once=True)  # errors go to the JWT loaders (401)
    if claims.get("type") != "refresh":
        raise AuthenticationFailed("Token has wrong type.")
    credential = callers.caller_for_claims(claims)
    now = utcnow()
    if credential is not None:
        check_usable(credential, now)
    new_jti = uuid.uuid4().hex
    swapped = credential is not None and db.session.execute(SWAP_REFRESH_TOKEN, {
        "credential_id": credential.id, "presented_jti": claims.get("jti"), "new_jti": new_jti,
        "expires_at": now + current_app.config["JWT_REFRESH_TOKEN_EXPIRES"],
        "now": now,  # a refresh is a use: the inactivity timeout counts from it
    }).rowcount == 1
    if not swapped:
        db.session.execute(
            update(Credential)
            .where(Credential.public_id == str(claims.get("sid")), Credential.revoked_at.is_(None))
            .values(revoked_at=now)
        )
        keep_attempts()
        raise AuthenticationFailed("Token is invalid or expired")
    return _mint_pair(credential.user.id, credential.public_id, new_jti)


def sign_out(presented: Credential, actor: Actor, *, refresh_token=None) -> None:
    """End the presented credential and, when given, the sign-in of its user's refresh token: both or neither."""
    if refresh_token:
        claims = decode_jwt(refresh_token) if isinstance(refresh_token, str) else {}
        credential = live_credential_for_claims(claims)
        if claims.get("type") != "refresh" or credential is None or credential.user_id != presented.user_id:
            raise AuthenticationFailed("Token is invalid or expired")
        revoke(credential, actor)
    revoke(presented, actor)


def _mint_pair(user_id: int, public_id: str, refresh_jti: str) -> dict:
    """An access token and the refresh token whose jti the sign-in's row holds."""
    cfg = current_app.config
    access = _claims(public_id, cfg["JWT_ACCESS_TOKEN_EXPIRES"])
    refresh = _claims(public_id, cfg["JWT_REFRESH_TOKEN_EXPIRES"]) | {"jti": refresh_jti}
    return {
        "access": create_access_token(identity=str(user_id), additional_claims=access),
        "refresh": create_refresh_token(identity=str(user_id), additional_claims=refresh),
    }


def _claims(public_id: str, lifetime) -> dict:
    """The sign-in a token belongs to, and its times by the portal's clock (flask-jwt-extended would
    stamp the system's; the claims given take precedence over its own)."""
    now = math.floor(timestamp())
    return {"sid": public_id, "iat": now, "nbf": now, "exp": now + int(lifetime.total_seconds())}


def decode_jwt(token: str, *, once: bool = False) -> dict:
    """The claims of a token this portal signed, its times by the portal's clock; an expired token is
    AuthenticationFailed, PyJWT's other errors a 401 through flask-jwt-extended's handler.

    One decode (flask-jwt-extended's ``decode_token`` decodes every token twice), and none for a
    token this process verified before: only time can change its verdict, so its times alone are
    checked again. ``once``: a one-use token (a refresh token) is not remembered. Callers must not
    change the dict."""
    if not isinstance(token, str):
        raise jwt.DecodeError("Invalid token type.")
    cfg = current_app.config
    audience = cfg["JWT_DECODE_AUDIENCE"]  # PyJWT takes one name or several
    claims = (_decoded if once else _verified_claims)(
        token, cfg["SECRET_KEY"], tuple(cfg["JWT_DECODE_ALGORITHMS"]),
        tuple(audience) if isinstance(audience, list) else audience, cfg["JWT_DECODE_ISSUER"],
    )
    now = timestamp()
    if claims["exp"] <= now:  # PyJWT's own tests: expired at ``exp``, not valid before ``nbf`` or ``iat``
        raise AuthenticationFailed("Token has expired.")
    if claims.get("nbf", now) > now or claims.get("iat", now) > now:
        raise jwt.ImmatureSignatureError("The token is not yet valid.")
    return claims


def _decoded(token: str, key: str, algorithms: tuple, audience: str | tuple, issuer: str) -> dict:
    """PyJWT's verdict on a token but for its times (PyJWT reads the system's clock)."""
    claims = jwt.decode(
        token, key, algorithms=list(algorithms), audience=audience, issuer=issuer,
        options={"require": ["exp", "sub", "type"], "verify_exp": False, "verify_nbf": False, "verify_iat": False},
    )
    for name in ("exp", "iat", "nbf"):
        value = claims.get(name, 0)
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise jwt.DecodeError(f"The {name} claim must be a number.")
    return claims


# Only tokens that pass are remembered (an error is not cached).
_verified_claims = functools.lru_cache(maxsize=1024)(_decoded)


def live_credential_for_claims(claims: dict) -> Credential | None:
    """The live sign-in a decoded JWT belongs to, as a model, or None."""
    return live_sign_in(claims, lambda sid: one_with_user(JWT_BY_PUBLIC_ID, sid))
