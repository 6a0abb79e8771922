"""Ways in: password sign-in, browser sessions, JWT pairs with rotation and revocation, and API keys.

Every way in is one ``Credential`` row: a browser session (its cookie names the row), a JWT sign-in
(its ``sid`` claim) or an API key (kept only as a SHA-256 of the key). Revoking a row is seen at once by every process that shares the
database, which is what makes logout and "sign out everywhere else" hold.
"""

import functools
import hashlib
import secrets
import time
import uuid

from flask import current_app
import jwt
from flask_jwt_extended import create_access_token, create_refresh_token
from sqlalchemy import LABEL_STYLE_TABLENAME_PLUS_COL, bindparam, or_, select, update
from sqlalchemy.orm import joinedload

from ..extensions import db
from ..models import Credential, CredentialSnapshot, Group, Snapshot, User, UserSnapshot, user_groups, utcnow
from . import audit
from .audit import Actor
from .driver import DriverQuery
from .errors import AuthenticationFailed, EmailNotVerified, NotFound
from .passwords import check_password, hash_password, needs_rehash, spend_a_password_check
from .users import find_user, mark_changed

BAD_CREDENTIALS = "No active account found with the given credentials"
UNVERIFIED = "E-mail address is not verified. Enter the code we mailed you, or ask for a new one."
SESSION, JWT, KEY = "session", "jwt", "key"
# Why a presented credential is refused.
USER_NOT_FOUND, USER_INACTIVE, REVOKED = "User not found.", "User inactive or deleted.", "Token has been revoked."


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
    if credential is not None:
        check_usable(credential)
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
    in the same query, as models: for pages (whose signed-in user the services change) and for
    refresh tokens. Built once: a statement made afresh per request costs SQLAlchemy as much again
    as running it.
    """
    return (
        select(Credential)
        .options(joinedload(Credential.user).joinedload(User.groups))
        .where(column == bindparam("value"), Credential.kind == kind)
    )


SESSION_BY_PUBLIC_ID = _by(Credential.public_id, SESSION)
JWT_BY_PUBLIC_ID = _by(Credential.public_id, JWT)


def _one_with_user(query, value) -> Credential | None:
    return db.session.scalars(query, {"value": value}).unique().first()


# What an API request presents is read as snapshots (plain rows, see models.Snapshot): the
# credential, its user and the user's groups, one row per group, in one query sent straight to the
# driver (services.driver). Most API requests only read the caller; loading the same rows as models
# through an ORM session cost four times as much. A request that changes something loads the
# models it changes (``model_of``).
_CREDENTIAL_FIELDS = ("id", "kind", "user_id", "public_id", "refresh_jti", "expires_at", "revoked_at", "last_used_at")
_USER_FIELDS = tuple(column.key for column in User.__table__.columns if column.key != "password_hash")
_GROUP_FIELDS = ("id", "name", "notes", "created_at", "updated_at", "users_count")


def _snapshot_by(column, kind: str) -> DriverQuery:
    credentials, users, groups = Credential.__table__, User.__table__, Group.__table__
    return DriverQuery(
        select(
            *(credentials.c[name] for name in _CREDENTIAL_FIELDS),
            *(users.c[name] for name in _USER_FIELDS),
            *(groups.c[name] for name in _GROUP_FIELDS[:-1]),
            Group.users_count.expression,
        )
        .set_label_style(LABEL_STYLE_TABLENAME_PLUS_COL)
        .select_from(credentials)
        .outerjoin(users, users.c.id == credentials.c.user_id)
        .outerjoin(user_groups, user_groups.c.user_id == users.c.id)
        .outerjoin(groups, groups.c.id == user_groups.c.group_id)
        .where(column == bindparam("value"), credentials.c.kind == kind)
        .order_by(groups.c.name)
    )


JWT_SNAPSHOT_BY_PUBLIC_ID = _snapshot_by(Credential.public_id, JWT)
KEY_SNAPSHOT_BY_HASH = _snapshot_by(Credential.secret_hash, KEY)


def _snapshot(query: DriverQuery, value) -> CredentialSnapshot | None:
    rows = query.rows(db.engine, value=value)
    if not rows:
        return None
    user_start = len(_CREDENTIAL_FIELDS)
    group_start = user_start + len(_USER_FIELDS)
    first = rows[0]
    credential = CredentialSnapshot(**dict(zip(_CREDENTIAL_FIELDS, first[:user_start])), user=None)
    if first[user_start] is not None:
        groups = [Snapshot(**dict(zip(_GROUP_FIELDS, row[group_start:]))) for row in rows if row[group_start] is not None]
        credential.user = UserSnapshot(**dict(zip(_USER_FIELDS, first[user_start:group_start])), groups=groups)
    return credential


def refusal(credential: Credential | CredentialSnapshot) -> str | None:
    """Why a presented credential (a model or a snapshot) may not be used — it is not live, or its
    user is gone or inactive — or None when it may: the rule for answering a request, and again for
    acting on its behalf."""
    if credential.user is None:
        return USER_NOT_FOUND
    if not credential.is_live:
        return REVOKED
    if not credential.user.is_active:
        return USER_INACTIVE
    return None


def check_usable(credential: Credential | CredentialSnapshot) -> None:
    """AuthenticationFailed, saying why, unless the credential may be used (``refusal``)."""
    reason = refusal(credential)
    if reason is not None:
        raise AuthenticationFailed(reason)


def model_of(credential: CredentialSnapshot) -> Credential:
    """The model of a presented credential, for a request that changes it or its user; refused as
    ``check_usable`` says if the row changed since the request began (nothing is done then)."""
    model = db.session.get(Credential, credential.id)
    if model is None:
        raise AuthenticationFailed(USER_NOT_FOUND)
    check_usable(model)
    return model


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


def _names_live_sign_in(credential, claims: dict) -> bool:
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
    credential = _one_with_user(JWT_BY_PUBLIC_ID, sid) if isinstance(sid, str) else None
    return credential if _names_live_sign_in(credential, claims) else None


def caller_for_claims(claims: dict) -> CredentialSnapshot | None:
    """``live_credential_for_claims`` as a snapshot, for authenticating a request."""
    sid = claims.get("sid")
    credential = _snapshot(JWT_SNAPSHOT_BY_PUBLIC_ID, sid) if isinstance(sid, str) else None
    return credential if _names_live_sign_in(credential, claims) else None


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


def caller_for_key(key) -> CredentialSnapshot | None:
    """The live API key ``key`` is, as a snapshot with its user, or None."""
    if not isinstance(key, str) or not key or len(key) > 200:
        return None
    credential = _snapshot(KEY_SNAPSHOT_BY_HASH, _hash_key(key))
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


def usable_browser_session(public_id) -> Credential | None:
    """The session row a cookie names, with its user loaded in the same query, when it may be used
    (``refusal``); None otherwise."""
    if not isinstance(public_id, str) or not public_id:
        return None
    credential = _one_with_user(SESSION_BY_PUBLIC_ID, public_id)
    return credential if credential is not None and refusal(credential) is None else None


def note_use(credential: Credential | CredentialSnapshot, ip: str | None) -> None:
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
