"""JWT sign-ins: an access/refresh pair per sign-in, refresh-token rotation, revocation, and decoding.

A pair belongs to one ``Credential`` row, named by the tokens' ``sid`` claim; the row holds the
jti of the one refresh token that is live, so a token presented twice is recognised.
"""

import functools
import secrets
import time
import uuid

import jwt
from flask import current_app
from flask_jwt_extended import create_access_token, create_refresh_token
from sqlalchemy import update

from ...extensions import db
from ...models import Credential, User, utcnow
from ..audit import Actor
from ..errors import AuthenticationFailed
from ..people.users import mark_changed
from ..plumbing.atomic import update_where
from ..plumbing.attempts import keep_attempts
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
    return tokens


def rotate_refresh_token(refresh_token) -> dict:
    """Trade a live refresh token for a new pair; the presented one stops working.

    A refresh token presented a second time means it leaked: the whole sign-in is revoked, and
    stays revoked though the request is refused (``keep_attempts``). The swap is one conditional
    UPDATE, so of two requests racing with the same token only one wins.
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
        db.session.execute(
            update(Credential)
            .where(Credential.public_id == str(claims.get("sid")), Credential.revoked_at.is_(None))
            .values(revoked_at=utcnow())
        )
        keep_attempts()
        raise AuthenticationFailed("Token is invalid or expired")
    db.session.refresh(credential)
    tokens = _mint_pair(credential)
    credential.user.last_login = utcnow()
    mark_changed(credential.user)
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


def _mint_pair(credential: Credential) -> dict:
    """An access token and the refresh token whose jti the row holds."""
    identity = str(credential.user.id)
    claims = {"sid": credential.public_id}
    return {
        "access": create_access_token(identity=identity, additional_claims=claims),
        "refresh": create_refresh_token(identity=identity, additional_claims={**claims, "jti": credential.refresh_jti}),
    }


def decode_jwt(token: str) -> dict:
    """The claims of a token this portal signed: signature, expiry, algorithm, issuer and audience
    checked as configured. An expired token is AuthenticationFailed; PyJWT's other errors reach
    the invalid-token handler that flask-jwt-extended registers (a 401 either way).

    One decode (flask-jwt-extended's ``decode_token`` decodes every token twice), and none for a
    token this process verified before: a client presents the same access token until it expires.
    Only expiry can change its verdict, so that alone is checked again. Callers must not change
    the dict.
    """
    if not isinstance(token, str):
        raise jwt.DecodeError("Invalid token type.")
    cfg = current_app.config
    try:
        audience = cfg["JWT_DECODE_AUDIENCE"]  # PyJWT takes one name or several
        claims = _verified_claims(
            token, cfg["SECRET_KEY"], tuple(cfg["JWT_DECODE_ALGORITHMS"]),
            tuple(audience) if isinstance(audience, list) else audience, cfg["JWT_DECODE_ISSUER"],
        )
    except jwt.ExpiredSignatureError:
        claims = None
    if claims is None or claims["exp"] <= time.time():  # PyJWT's own test: expired at ``exp``
        raise AuthenticationFailed("Token has expired.")
    return claims


@functools.lru_cache(maxsize=1024)
def _verified_claims(token: str, key: str, algorithms: tuple, audience: str | tuple, issuer: str) -> dict:
    """PyJWT's verdict on a token; only tokens that pass are remembered (an error is not cached)."""
    return jwt.decode(
        token, key, algorithms=list(algorithms), audience=audience, issuer=issuer,
        options={"require": ["exp", "sub", "type"]},
    )


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
