"""Ways in: password sign-in, browser sessions, JWT pairs with rotation and revocation, and API keys.

Every way in is one ``Credential`` row: a browser session (its cookie names the row), a JWT sign-in
(its ``sid`` claim) or an API key (kept only as a SHA-256 of the key). Revoking a row is seen at once by every process that shares the
database, which is what makes logout and "sign out everywhere else" hold.
"""

import hashlib
import secrets
import uuid

from flask import current_app
import jwt
from flask_jwt_extended import create_access_token, create_refresh_token
from sqlalchemy import bindparam, or_, select, update
from sqlalchemy.orm import joinedload

from ..extensions import db
from ..models import Credential, User, utcnow
from . import audit
from .audit import Actor
from .errors import AuthenticationFailed, EmailNotVerified, NotFound
from .passwords import check_password, hash_password, needs_rehash, spend_a_password_check
from .users import find_user, mark_changed

BAD_CREDENTIALS = "No active account found with the given credentials"
UNVERIFIED = "E-mail address is not verified. Enter the code we mailed you, or ask for a new one."
SESSION, JWT, KEY = "session", "jwt", "key"


def authenticate(password, *, email=None, username=None, login=None) -> User:
    """The active, verified user with these credentials, or AuthenticationFailed.

    ``login`` (the sign-in page's one field) is an email or a username.
    """
    user = find_user(email=email, username=username, login=login)
    if user is None:
        spend_a_password_check(password)
        raise AuthenticationFailed(BAD_CREDENTIALS)
    if not check_password(user.password_hash, password) or not user.is_active:
        raise AuthenticationFailed(BAD_CREDENTIALS)
    if user.activated_at is None:
        raise EmailNotVerified(UNVERIFIED)
    if needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    return user


def record_sign_in(user: User, actor: Actor) -> None:
    """Stamp ``last_login`` and note the sign-in; the caller's commit keeps both."""
    user.last_login = utcnow()
    mark_changed(user)
    audit.record(actor, "signed_in", user)


def issue_token_pair(user: User, actor: Actor) -> dict:
    """A new sign-in: a Credential row and its first access/refresh pair."""
    credential = Credential(
        user=user,
        kind=JWT,
        public_id=secrets.token_urlsafe(16),
        refresh_jti=uuid.uuid4().hex,
        expires_at=utcnow() + current_app.config["JWT_REFRESH_TOKEN_EXPIRES"],
        created_ip=actor.ip,
    )
    db.session.add(credential)
    tokens = _mint_pair(credential)
    record_sign_in(user, actor)
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
    if credential is not None and (credential.user is None or not credential.user.is_active):
        raise AuthenticationFailed("User inactive or deleted.")
    new_jti = uuid.uuid4().hex
    swapped = credential is not None and db.session.execute(
        update(Credential)
        .where(Credential.id == credential.id, Credential.refresh_jti == claims.get("jti"))
        .values(refresh_jti=new_jti, expires_at=utcnow() + current_app.config["JWT_REFRESH_TOKEN_EXPIRES"])
    ).rowcount == 1
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


def revoke_refresh_token(user: User, refresh_token, actor: Actor) -> None:
    """Revoke the sign-in of one of the user's own refresh tokens (logout)."""
    claims = decode_jwt(refresh_token) if isinstance(refresh_token, str) else {}
    credential = live_credential_for_claims(claims)
    if claims.get("type") != "refresh" or credential is None or credential.user_id != user.id:
        raise AuthenticationFailed("Token is invalid or expired")
    revoke(credential, actor)


def _mint_pair(credential: Credential) -> dict:
    """An access token and the refresh token whose jti the row holds."""
    identity = str(credential.user.id)
    claims = {"sid": credential.public_id}
    return {
        "access": create_access_token(identity=identity, additional_claims=claims),
        "refresh": create_refresh_token(identity=identity, additional_claims={**claims, "jti": credential.refresh_jti}),
    }


def _by(column, kind: str):
    """The look-up of one credential of ``kind`` by ``column``, with its user and the user's groups
    in the same query: every authenticated request needs the user next, and most answer its groups.

    Built once: a statement made afresh per request costs SQLAlchemy as much again as running it.
    """
    return (
        select(Credential)
        .options(joinedload(Credential.user).joinedload(User.groups))
        .where(column == bindparam("value"), Credential.kind == kind)
    )


SESSION_BY_PUBLIC_ID = _by(Credential.public_id, SESSION)
JWT_BY_PUBLIC_ID = _by(Credential.public_id, JWT)
KEY_BY_HASH = _by(Credential.secret_hash, KEY)


def _one_with_user(query, value) -> Credential | None:
    return db.session.scalars(query, {"value": value}).unique().first()


def decode_jwt(token: str) -> dict:
    """The claims of a token this portal signed: signature, expiry, algorithm, issuer and audience
    checked as configured. An expired token is AuthenticationFailed; PyJWT's other errors reach
    the invalid-token handler that flask-jwt-extended registers (a 401 either way).

    One decode; flask-jwt-extended's ``decode_token`` decodes every token twice.
    """
    cfg = current_app.config
    try:
        return jwt.decode(
            token,
            cfg["SECRET_KEY"],
            algorithms=cfg["JWT_DECODE_ALGORITHMS"],
            audience=cfg["JWT_DECODE_AUDIENCE"],
            issuer=cfg["JWT_DECODE_ISSUER"],
            options={"require": ["exp", "sub", "type"]},
        )
    except jwt.ExpiredSignatureError:
        raise AuthenticationFailed("Token has expired.") from None


def _credential_by_sid(sid) -> Credential | None:
    if not isinstance(sid, str):
        return None
    return _one_with_user(JWT_BY_PUBLIC_ID, sid)


def live_credential_for_claims(claims: dict) -> Credential | None:
    """The live sign-in a decoded JWT belongs to, or None when it was revoked or never issued.

    For a refresh token, only the most recently issued one of its sign-in is live.
    """
    credential = _credential_by_sid(claims.get("sid"))
    if credential is None or not credential.is_live:
        return None
    if credential.user_id is not None and str(credential.user_id) != claims.get("sub"):
        return None
    if claims.get("type") == "refresh" and claims.get("jti") != credential.refresh_jti:
        return None
    return credential


def _hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def issue_api_key(user: User, actor: Actor, name: str | None = None) -> tuple[Credential, str]:
    """A new API key for an active account whose sign-up is complete; the key is returned once, never stored."""
    if not user.is_active:
        raise AuthenticationFailed(BAD_CREDENTIALS)
    if user.activated_at is None:
        raise EmailNotVerified(UNVERIFIED)
    key = secrets.token_hex(20)
    credential = Credential(
        user=user,
        kind=KEY,
        public_id=secrets.token_urlsafe(12),  # names the key in lists and the audit log; not part of it
        secret_hash=_hash_key(key),
        name=(name or "").strip()[:100] or None,
        created_ip=actor.ip,
    )
    db.session.add(credential)
    audit.record(actor, "api_key_created", user, {"key": [None, credential.public_id]})
    record_sign_in(user, actor)
    db.session.commit()
    return credential, key


def live_credential_for_key(key) -> Credential | None:
    if not isinstance(key, str) or not key or len(key) > 200:
        return None
    credential = _one_with_user(KEY_BY_HASH, _hash_key(key))
    return credential if credential is not None and credential.is_live else None


def start_browser_session(user: User, actor: Actor, *, user_agent: str | None, remember: bool) -> Credential:
    """A new browser sign-in for an authenticated user; the caller puts only its ``public_id`` in the cookie.

    A fresh row per sign-in is what rotates the session id: nothing from before the sign-in names it.
    """
    cfg = current_app.config
    now = utcnow()
    lifetime = cfg["PERMANENT_SESSION_LIFETIME"] if remember else cfg["BROWSER_SESSION_LIFETIME"]
    credential = Credential(
        user=user,
        kind=SESSION,
        public_id=secrets.token_urlsafe(24),
        created_at=now,
        expires_at=now + lifetime,
        created_ip=actor.ip,
        last_used_at=now,
        last_ip=actor.ip,
        user_agent=(user_agent or "")[:200] or None,
    )
    db.session.add(credential)
    record_sign_in(user, actor)
    db.session.commit()
    return credential


def live_browser_session(public_id) -> Credential | None:
    """The live session row a cookie names, with its user loaded in the same query."""
    if not isinstance(public_id, str) or not public_id:
        return None
    credential = _one_with_user(SESSION_BY_PUBLIC_ID, public_id)
    return credential if credential is not None and credential.is_live else None


def note_use(credential: Credential, ip: str | None) -> None:
    """Remember when and from where a credential was last used, at most once per touch interval.

    Most authenticated requests write nothing; the one that does commits a single UPDATE.
    """
    now = utcnow()
    interval = current_app.config["CREDENTIAL_TOUCH_INTERVAL"]
    if credential.last_used_at is not None and now - credential.last_used_at < interval:
        return
    db.session.execute(update(Credential).where(Credential.id == credential.id).values(last_used_at=now, last_ip=ip))
    db.session.commit()


def live_credentials(user: User, kind: str | None = None) -> list[Credential]:
    """Every way into the account that works now (or those of one ``kind``), newest first, in one query."""
    query = select(Credential).where(
        Credential.user_id == user.id,
        Credential.revoked_at.is_(None),
        or_(Credential.expires_at.is_(None), Credential.expires_at > utcnow()),
    )
    if kind is not None:
        query = query.where(Credential.kind == kind)
    return list(db.session.scalars(query.order_by(Credential.created_at.desc(), Credential.id.desc())))


def own_live_credential(user: User, public_id) -> Credential:
    """One of the user's own live credentials, by public id; NotFound for anyone else's or a dead one."""
    if not isinstance(public_id, str) or "\x00" in public_id or len(public_id) > 32:
        raise NotFound("No such session or key.")
    credential = db.session.scalar(
        select(Credential).where(Credential.public_id == str(public_id), Credential.user_id == user.id)
    )
    if credential is None or not credential.is_live:
        raise NotFound("No such session or key.")
    return credential


def revoke(credential: Credential, actor: Actor) -> None:
    if credential.revoked_at is None:
        credential.revoked_at = utcnow()
        if credential.kind == KEY and credential.user is not None:
            audit.record(actor, "api_key_revoked", credential.user, {"key": [credential.public_id, None]})
        db.session.commit()


def end_other_sessions(user: User, actor: Actor, *, keep: Credential | None) -> None:
    """"Sign out everywhere else": every live credential of the user but ``keep`` stops working."""
    revoke_all(user, keep=keep)
    audit.record(actor, "signed_out_elsewhere", user)
    db.session.commit()


def revoke_all(user: User, *, keep: Credential | None = None) -> None:
    """Revoke every live credential of the user except ``keep``; the caller commits."""
    query = update(Credential).where(Credential.user_id == user.id, Credential.revoked_at.is_(None))
    if keep is not None:
        query = query.where(Credential.id != keep.id)
    db.session.execute(query.values(revoked_at=utcnow()))
