"""What the token endpoint gives an app, and what it says about a token later.

An app's sign-in is a ``Credential`` of kind "app" (its user, its app, its scopes): revoking it —
the person revoking the app, a password change, "This wasn't me", a reused code or refresh token —
ends every token it issued at once, by the same database check as every other credential.

- Access tokens are JWTs by RFC 9068 (``typ: at+jwt``), signed by the portal's signing key, five
  minutes by default, and name their sign-in in ``sid``.
- ID tokens carry ``auth_time``, ``nonce``, ``amr`` (how the person signed in) and ``at_hash``.
- Refresh tokens are given only with ``offline_access``: ``<sign-in id>.<secret>``, the secret kept
  as its SHA-256, replaced at each use by one conditional UPDATE; presenting a spent one ends the
  sign-in (its whole family).
"""

import base64
import functools
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

from flask import current_app
from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import joinedload

from ...clock import timestamp
from ...extensions import db
from ...models import AppGrant, AuthorizationCode, Credential, OAuthClient, User, epoch, utcnow
from .. import audit
from ..audit import Actor
from ..plumbing.atomic import update_where
from ..plumbing.attempts import keep_attempts
from ..ways_in.credentials import APP  # the Credential kind of an app's sign-in
from . import signing_keys
from .apps import find_app, secret_matches
from .authorization import amr_of, code_hash

VERIFIER = re.compile(r"[A-Za-z0-9._~-]{43,128}")


class TokenError(Exception):
    """An OAuth error answer of the token, introspection or revocation endpoint."""

    def __init__(self, error: str, description: str, status: int = 400):
        super().__init__(f"{error}: {description}")
        self.error, self.description, self.status = error, description, status


@dataclass(frozen=True)
class ClientProof:
    """How an app proved itself at an endpoint: its id and secret, by ``client_secret_basic``,
    ``client_secret_post`` or, for a public app, ``none``."""

    client_id: str | None
    secret: str | None
    method: str


def authenticate_app(proof: ClientProof) -> OAuthClient:
    app = find_app(proof.client_id)
    if app is None:
        raise TokenError("invalid_client", "Unknown app, or a wrong secret.", 401)
    if app.public:
        if proof.secret is not None:
            raise TokenError("invalid_client", "A public app has no secret.", 401)
    elif not secret_matches(app, proof.secret):
        raise TokenError("invalid_client", "Unknown app, or a wrong secret.", 401)
    return app


def exchange_code(app: OAuthClient, code, redirect_uri, code_verifier, *, issuer: str, actor: Actor) -> dict:
    """Trade an authorization code for tokens: once, by the app it was issued to, with the redirect
    URI and the PKCE verifier of its request. A code presented again ends the sign-in it made."""
    row = db.session.scalar(select(AuthorizationCode).where(AuthorizationCode.code_hash == code_hash(str(code))))
    if row is None:
        raise TokenError("invalid_grant", "Unknown authorization code.")
    if row.used_at is not None:
        _end_sign_in_of(row)
        raise TokenError("invalid_grant", "This authorization code was used already; its sign-in is ended.")
    now = utcnow()
    if row.client_id != app.id:
        raise TokenError("invalid_grant", "This authorization code was issued to another app.")
    if row.redirect_uri != redirect_uri:
        raise TokenError("invalid_grant", "redirect_uri differs from the authorization request's.")
    if row.expires_at <= now:
        raise TokenError("invalid_grant", "The authorization code has expired.")
    if not _pkce_matches(code_verifier, row.code_challenge):
        raise TokenError("invalid_grant", "The code_verifier does not match the code_challenge.")
    if not update_where(AuthorizationCode, AuthorizationCode.id == row.id, AuthorizationCode.used_at.is_(None),
                        used_at=now):
        _end_sign_in_of(row)  # another request took it a moment ago: a replay
        raise TokenError("invalid_grant", "This authorization code was used already; its sign-in is ended.")
    user = db.session.get(User, row.user_id)
    if user is None or not user.is_active:
        raise TokenError("invalid_grant", "The account can no longer sign in.")
    offline = "offline_access" in row.scopes
    refresh_secret = secrets.token_urlsafe(32) if offline else None
    cfg = current_app.config
    credential = Credential(
        user=user, kind=APP, client_id=app.id, scopes=list(row.scopes), public_id=secrets.token_urlsafe(16),
        refresh_jti=_digest(refresh_secret) if refresh_secret else None, created_at=now,
        expires_at=now + (cfg["OIDC_REFRESH_TOKEN_EXPIRES"] if offline else cfg["OIDC_ACCESS_TOKEN_EXPIRES"]),
        created_ip=actor.ip, method=row.method, proven_at=row.auth_time, name=app.name,
    )
    db.session.add(credential)
    db.session.flush()
    row.credential_id = credential.id
    _note_grant_use(user.id, app.id, now)
    audit.record(actor, "app_signed_in", user, {"app": [None, app.name]})
    key = signing_keys.current_signer()  # one look-up for both tokens of the answer
    access = _access_token(credential, app, row.scopes, issuer=issuer, key=key)
    answer = _answer(access, row.scopes, refresh=f"{credential.public_id}.{refresh_secret}" if offline else None)
    if "openid" in row.scopes:
        answer["id_token"] = _id_token(user, app, issuer=issuer, nonce=row.nonce, auth_time=row.auth_time,
                                       method=row.method, session_id=row.session_id, access_token=access, key=key)
    return answer


def refresh(app: OAuthClient, refresh_token, scope, *, issuer: str) -> dict:
    """A new access token and refresh token for a live refresh token of this app; the presented one
    stops working. A spent one presented again ends the sign-in. ``scope`` may narrow, never widen."""
    credential, secret = _refresh_credential(refresh_token)
    if credential is None or credential.client_id != app.id:
        raise TokenError("invalid_grant", "The refresh token is invalid, expired or revoked.")
    now = utcnow()
    requested = tuple(dict.fromkeys((scope or "").split())) or tuple(credential.scopes or ())
    if not set(requested) <= set(credential.scopes or ()):
        raise TokenError("invalid_scope", "A refresh cannot widen the scopes the person allowed.")
    new_secret = secrets.token_urlsafe(32)
    swapped = credential.revoked_at is None and credential.expires_at > now and credential.user.is_active and (
        db.session.execute(
            update(Credential)
            .where(Credential.id == credential.id, Credential.refresh_jti == _digest(secret),
                   Credential.revoked_at.is_(None))
            .values(refresh_jti=_digest(new_secret), last_used_at=now,
                    expires_at=now + current_app.config["OIDC_REFRESH_TOKEN_EXPIRES"])
        ).rowcount == 1
    )
    if not swapped:
        if credential.revoked_at is None and credential.refresh_jti != _digest(secret):
            credential.revoked_at = now  # a spent refresh token: it leaked; the family ends
            keep_attempts()
        raise TokenError("invalid_grant", "The refresh token is invalid, expired or revoked.")
    _note_grant_use(credential.user_id, app.id, now)
    key = signing_keys.current_signer()  # one look-up for both tokens of the answer
    access = _access_token(credential, app, requested, issuer=issuer, key=key)
    answer = _answer(access, requested, refresh=f"{credential.public_id}.{new_secret}")
    if "openid" in requested:
        answer["id_token"] = _id_token(credential.user, app, issuer=issuer, nonce=None,
                                       auth_time=credential.proven_at, method=credential.method,
                                       session_id=None, access_token=access, key=key)
    return answer


def live_access(token, *, issuer: str) -> tuple[dict, Credential] | None:
    """The claims of a live access token this portal issued to an app, and its sign-in; or None."""
    try:
        claims = signing_keys.verify(token, typ="at+jwt")
    except signing_keys.InvalidToken:
        return None
    if claims.get("iss") != issuer or not isinstance(claims.get("exp"), int | float) or claims["exp"] <= timestamp():
        return None
    credential = _app_credential(claims.get("sid"))
    if credential is None or credential.revoked_at is not None or credential.user is None:
        return None
    if not credential.user.is_active or str(credential.user_id) != claims.get("sub"):
        return None
    return claims, credential


def access_claims(token: str, *, issuer: str) -> dict:
    """The claims of an access token the portal issued to an app, for its own API (``api.auth``);
    InvalidToken otherwise. Its signature is checked once per process (as ``ways_in.tokens`` does
    for the portal's own JWTs): only time changes the verdict, so ``exp`` alone is checked again. The
    sign-in it names is the caller's to read, every time. Callers must not change the dict."""
    claims = _verified_access_claims(token, issuer)
    if claims["exp"] <= timestamp():
        raise signing_keys.InvalidToken("The token has expired.")
    return claims


def _checked_access_claims(token: str, issuer: str) -> dict:
    claims = signing_keys.verify(token, typ="at+jwt")
    exp = claims.get("exp")
    if (claims.get("iss") != issuer or isinstance(exp, bool) or not isinstance(exp, int | float)
            or not isinstance(claims.get("sid"), str) or not isinstance(claims.get("sub"), str)):
        raise signing_keys.InvalidToken("The token was not issued here for the portal's API.")
    return claims


# Only tokens that pass are remembered (an error is not cached); they live minutes.
_verified_access_claims = functools.lru_cache(maxsize=1024)(_checked_access_claims)


def introspect(app: OAuthClient, token, *, issuer: str) -> dict:
    """RFC 7662: what a token is, for the app it was issued to; any other token is inactive."""
    found = live_access(token, issuer=issuer)
    if found is not None:
        claims, credential = found
        if credential.client_id != app.id:
            return {"active": False}
        return {"active": True, "token_type": "Bearer", **{k: claims[k] for k in
                ("scope", "client_id", "sub", "exp", "iat", "iss", "aud", "jti") if k in claims}}
    credential, secret = _refresh_credential(token)
    if (credential is None or credential.client_id != app.id or credential.revoked_at is not None
            or credential.expires_at <= utcnow() or credential.refresh_jti != _digest(secret)):
        return {"active": False}
    return {"active": True, "token_type": "refresh_token", "scope": " ".join(credential.scopes or ()),
            "client_id": app.client_id, "sub": str(credential.user_id), "iss": issuer,
            "exp": epoch(credential.expires_at)}


def revoke(app: OAuthClient, token, *, issuer: str, actor: Actor) -> None:
    """RFC 7009: end the sign-in a token of this app belongs to; anything else changes nothing."""
    found = live_access(token, issuer=issuer)
    credential = found[1] if found is not None else _refresh_credential(token)[0]
    if credential is not None and credential.client_id == app.id and credential.revoked_at is None:
        credential.revoked_at = utcnow()
        audit.record(actor, "app_sign_in_ended", credential.user, {"app": [app.name, None]})


def userinfo_claims(user: User, scopes, *, picture: str | None) -> dict:
    """The person as the scopes allow an app to see them (OpenID Connect Core 5.4)."""
    claims = {"sub": str(user.id)}
    if "profile" in scopes:
        claims.update({
            "name": user.full_name, "given_name": user.first_name, "family_name": user.last_name,
            "preferred_username": user.username, "picture": picture, "gender": user.gender,
            "birthdate": user.birthday.isoformat() if user.birthday else None, "zoneinfo": user.time_zone,
            "locale": user.language, "updated_at": epoch(user.updated_at) if user.updated_at else None,
        })
    if "email" in scopes:
        claims.update({"email": user.email, "email_verified": bool(user.email_verified)})
    if "phone" in scopes:
        claims.update({"phone_number": user.phone, "phone_number_verified": False})
    if "address" in scopes and user.country:
        claims["address"] = {"country": user.country}
    return {key: value for key, value in claims.items() if value is not None}


def end_app_sign_ins(user: User, app_id: int | None = None) -> None:
    """End every live sign-in of the person's apps (or of one app)."""
    conditions = [Credential.user_id == user.id, Credential.kind == APP, Credential.revoked_at.is_(None)]
    if app_id is not None:
        conditions.append(Credential.client_id == app_id)
    db.session.execute(update(Credential).where(*conditions).values(revoked_at=utcnow()))


def _answer(access: str, scopes, *, refresh: str | None) -> dict:
    answer = {
        "access_token": access, "token_type": "Bearer",
        "expires_in": int(current_app.config["OIDC_ACCESS_TOKEN_EXPIRES"].total_seconds()),
        "scope": " ".join(scopes),
    }
    if refresh:
        answer["refresh_token"] = refresh
    return answer


def _access_token(credential: Credential, app: OAuthClient, scopes, *, issuer: str, key=None) -> str:
    now = int(timestamp())
    return signing_keys.sign({
        "iss": issuer, "sub": str(credential.user_id), "aud": app.client_id, "client_id": app.client_id,
        "scope": " ".join(scopes), "iat": now, "exp": now + int(current_app.config["OIDC_ACCESS_TOKEN_EXPIRES"]
                                                                .total_seconds()),
        "jti": secrets.token_urlsafe(16), "sid": credential.public_id,
    }, typ="at+jwt", key=key)


def _id_token(user: User, app: OAuthClient, *, issuer: str, nonce, auth_time, method, session_id, access_token,
              key=None) -> str:
    now = int(timestamp())
    claims = {
        "iss": issuer, "sub": str(user.id), "aud": app.client_id, "iat": now,
        "exp": now + int(current_app.config["OIDC_ID_TOKEN_EXPIRES"].total_seconds()),
        "auth_time": epoch(auth_time) if auth_time else now, "amr": amr_of(method),
        "at_hash": _half_hash(access_token),
    }
    if nonce:
        claims["nonce"] = nonce
    if session_id:
        claims["sid"] = session_id
    return signing_keys.sign(claims, typ="JWT", key=key)


def _half_hash(token: str) -> str:
    digest = hashlib.sha256(token.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest[: len(digest) // 2]).rstrip(b"=").decode()


def _pkce_matches(verifier, challenge: str) -> bool:
    if not isinstance(verifier, str) or not VERIFIER.fullmatch(verifier):
        return False
    computed = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return hmac.compare_digest(computed, challenge)


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _refresh_credential(token) -> tuple[Credential | None, str | None]:
    if not isinstance(token, str) or token.count(".") != 1 or len(token) > 200:
        return None, None
    public_id, secret = token.split(".")
    return _app_credential(public_id), secret


# An app's sign-in and its person in one query (every caller looks at both); built once.
APP_CREDENTIAL = (
    select(Credential).where(Credential.public_id == bindparam("public_id"), Credential.kind == APP)
    .options(joinedload(Credential.user))
)


def _app_credential(public_id) -> Credential | None:
    if not isinstance(public_id, str) or not public_id:
        return None
    return db.session.scalar(APP_CREDENTIAL, {"public_id": public_id})


def _end_sign_in_of(row: AuthorizationCode) -> None:
    if row.credential_id is not None:
        db.session.execute(
            update(Credential).where(Credential.id == row.credential_id, Credential.revoked_at.is_(None))
            .values(revoked_at=utcnow())
        )
    keep_attempts()


def _note_grant_use(user_id: int, app_id: int, now) -> None:
    db.session.execute(
        update(AppGrant).where(AppGrant.user_id == user_id, AppGrant.client_id == app_id).values(last_used_at=now)
    )

