"""JWT sign-ins: an access/refresh pair per sign-in, refresh-token rotation, revocation, and decoding.

A pair belongs to one ``Credential`` row, named by the tokens' ``sid`` claim; the row holds the
jti of the one refresh token that is live, so a token presented twice is recognised.
"""

import functools
import math
import secrets
import uuid

import jwt
from flask import current_app
from flask_jwt_extended import create_access_token, create_refresh_token
from sqlalchemy import update

from ...clock import timestamp
from ...extensions import db
from ...models import Credential, User, utcnow
from ..audit import Actor
from ..errors import AuthenticationFailed
from ..people.users import mark_changed
from ..plumbing.atomic import update_where
from ..signing_in.sign_in import PASSWORD, record_sign_in
from .credentials import JWT, by_public_id, check_usable, mark_revoked, one_with_user

JWT_BY_PUBLIC_ID = by_public_id(JWT)


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
    tokens = _mint_pair(credential)
    record_sign_in(user, actor, method, credential=credential)
    db.session.commit()
    return tokens


def rotate_refresh_token(refresh_token) -> dict:
    """Trade a live refresh token for a new pair; the presented one stops working.

    A refresh token presented a second time means it leaked: the whole sign-in is revoked. The
    swap is one conditional UPDATE, so of two requests racing with the same token only one wins.
    """
    claims = decode_jwt(refresh_token)  # errors go to the JWT loaders (401)
    if claims.get("type") != "refresh":
        raise AuthenticationFailed("Token has wrong type.")
    credential = live_credential_for_claims(claims)
    if credential is not None:
        check_usable(credential)
    new_jti = uuid.uuid4().hex
    swapped = credential is not None and update_where(
        Credential, Credential.id == credential.id, Credential.refresh_jti == claims.get("jti"),
        refresh_jti=new_jti, expires_at=utcnow() + current_app.config["JWT_REFRESH_TOKEN_EXPIRES"],
        last_used_at=utcnow(),  # a refresh is a use: the inactivity timeout counts from it
    )
    if not swapped:
        db.session.rollback()
        db.session.execute(
            update(Credential)
            .where(Credential.public_id == str(claims.get("sid")), Credential.revoked_at.is_(None))
            .values(revoked_at=utcnow())
        )
        db.session.commit()
        raise AuthenticationFailed("Token is invalid or expired")
    db.session.refresh(credential)
    tokens = _mint_pair(credential)
    credential.user.last_login = utcnow()
    mark_changed(credential.user)
    db.session.commit()
    return tokens


def sign_out(presented: Credential, actor: Actor, *, refresh_token=None) -> None:
    """End the presented credential and, when given, the sign-in of one of its user's own refresh
    tokens (logout): both or neither."""
    if refresh_token:
        claims = decode_jwt(refresh_token) if isinstance(refresh_token, str) else {}
        credential = live_credential_for_claims(claims)
        if claims.get("type") != "refresh" or credential is None or credential.user_id != presented.user_id:
            raise AuthenticationFailed("Token is invalid or expired")
        mark_revoked(credential, actor)
    mark_revoked(presented, actor)
    db.session.commit()


def _mint_pair(credential: Credential) -> dict:
    """An access token and the refresh token whose jti the row holds."""
    identity = str(credential.user.id)
    claims = {"sid": credential.public_id}
    cfg = current_app.config
    access_times = _times_from_now(cfg["JWT_ACCESS_TOKEN_EXPIRES"])
    refresh_times = _times_from_now(cfg["JWT_REFRESH_TOKEN_EXPIRES"])
    return {
        "access": create_access_token(identity=identity, additional_claims={**claims, **access_times}),
        "refresh": create_refresh_token(
            identity=identity, additional_claims={**claims, **refresh_times, "jti": credential.refresh_jti}
        ),
    }


def _times_from_now(lifetime) -> dict:
    """A token's times by the portal's clock (flask-jwt-extended would stamp the system's; the
    claims given take precedence over its own)."""
    now = math.floor(timestamp())
    return {"iat": now, "nbf": now, "exp": now + int(lifetime.total_seconds())}


def decode_jwt(token: str) -> dict:
    """The claims of a token this portal signed: signature, algorithm, issuer and audience checked
    as configured, its times by the portal's clock. An expired token is AuthenticationFailed;
    PyJWT's other errors reach the invalid-token handler that flask-jwt-extended registers (a 401
    either way).

    One decode (flask-jwt-extended's ``decode_token`` decodes every token twice), and none for a
    token this process verified before: a client presents the same access token until it expires.
    Only time can change its verdict, so its times alone are checked again. Callers must not
    change the dict.
    """
    if not isinstance(token, str):
        raise jwt.DecodeError("Invalid token type.")
    cfg = current_app.config
    audience = cfg["JWT_DECODE_AUDIENCE"]  # PyJWT takes one name or several
    claims = _verified_claims(
        token, cfg["SECRET_KEY"], tuple(cfg["JWT_DECODE_ALGORITHMS"]),
        tuple(audience) if isinstance(audience, list) else audience, cfg["JWT_DECODE_ISSUER"],
    )
    now = timestamp()
    if claims["exp"] <= now:  # PyJWT's own tests: expired at ``exp``, not valid before ``nbf`` or ``iat``
        raise AuthenticationFailed("Token has expired.")
    if claims.get("nbf", now) > now or claims.get("iat", now) > now:
        raise jwt.ImmatureSignatureError("The token is not yet valid.")
    return claims


@functools.lru_cache(maxsize=1024)
def _verified_claims(token: str, key: str, algorithms: tuple, audience: str | tuple, issuer: str) -> dict:
    """PyJWT's verdict on a token but for its times, which ``decode_jwt`` checks by the portal's
    clock (PyJWT reads the system's); only tokens that pass are remembered (an error is not cached)."""
    claims = jwt.decode(
        token, key, algorithms=list(algorithms), audience=audience, issuer=issuer,
        options={"require": ["exp", "sub", "type"], "verify_exp": False, "verify_nbf": False, "verify_iat": False},
    )
    for name in ("exp", "iat", "nbf"):
        value = claims.get(name, 0)
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise jwt.DecodeError(f"The {name} claim must be a number.")
    return claims


def names_live_sign_in(credential, claims: dict) -> bool:
    """Whether ``credential`` (a model or a snapshot) is the live sign-in a decoded JWT names.

    For a refresh token, only the most recently issued one of its sign-in is live.
    """
    if credential is None or not credential.is_live:
        return False
    if credential.user_id is not None and str(credential.user_id) != claims.get("sub"):
        return False
    return claims.get("type") != "refresh" or claims.get("jti") == credential.refresh_jti


def live_credential_for_claims(claims: dict) -> Credential | None:
    """The live sign-in a decoded JWT belongs to, as a model, or None when it was revoked or never issued."""
    sid = claims.get("sid")
    credential = one_with_user(JWT_BY_PUBLIC_ID, sid) if isinstance(sid, str) else None
    return credential if names_live_sign_in(credential, claims) else None
