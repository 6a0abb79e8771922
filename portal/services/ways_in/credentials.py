"""Ways in, whatever their kind: the rule for a usable credential, listing, revoking and noting use.

Every way in is one ``Credential`` row (a browser session, a JWT sign-in or an API key): revoking
it is seen at once by every process that shares the database.
"""

from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import bindparam, delete, or_, select, update
from sqlalchemy.orm import joinedload

from ...extensions import db
from ...models import AuthorizationCode, Credential, CredentialSnapshot, EmailCode, PendingSignIn, User, utcnow
from .. import audit
from ..audit import Actor
from ..errors import AuthenticationFailed, NotFound

SESSION, JWT, KEY, APP = "session", "jwt", "key", "app"  # APP: an app's sign-in (``oidc.issuance``)
# Why a presented credential is refused.
USER_NOT_FOUND, USER_INACTIVE, REVOKED = "User not found.", "User inactive or deleted.", "Token has been revoked."
IDLE = "The credential went unused for longer than its idle limit: sign in again."
STAFF_LIFETIME = "A staff sign-in ends 12 hours after it began: sign in again."


def by_public_id(kind: str):
    """The look-up of one credential of ``kind`` by its public id, with its user and groups, as models.
    Built once: a statement made afresh per request costs SQLAlchemy as much again as running it."""
    return (
        select(Credential)
        .options(joinedload(Credential.user).joinedload(User.groups))
        .where(Credential.public_id == bindparam("value"), Credential.kind == kind)
    )


def one_with_user(query, value) -> Credential | None:
    return db.session.scalars(query, {"value": value}).unique().first()


def live_sign_in(claims: dict, find):
    """The live JWT sign-in a decoded token names, as ``find(sid)`` reads it (a model or a snapshot),
    or None; for a refresh token, only the latest of its sign-in."""
    sid = claims.get("sid")
    credential = find(sid) if isinstance(sid, str) else None
    if credential is None or not credential.is_live:
        return None
    if credential.user_id is not None and str(credential.user_id) != claims.get("sub"):
        return None
    return credential if claims.get("type") != "refresh" or claims.get("jti") == credential.refresh_jti else None


def refusal(credential: Credential | CredentialSnapshot, now: datetime | None = None) -> str | None:
    """Why a presented credential (a model or a snapshot) may not be used, or None when it may."""
    if credential.user is None:
        return USER_NOT_FOUND
    if not credential.is_live:
        return REVOKED
    if has_idled(credential, now):
        return IDLE
    if _outlived_a_staff_day(credential, now):
        return STAFF_LIFETIME
    if not credential.user.is_active:
        return USER_INACTIVE
    return None


def idle_limit(credential: Credential | CredentialSnapshot) -> timedelta | None:
    """How long a credential may go unused before it stops working, or None. An API key has the limit
    chosen when it was made (a script may run once a month); a session or a JWT sign-in its person's,
    read at each use, so a person made staff gets the short one at once."""
    if credential.kind == KEY:
        return timedelta(seconds=credential.idle_timeout) if credential.idle_timeout else None
    staff = _holds_staff_rights(credential.user)
    return current_app.config["STAFF_SESSION_IDLE_TIMEOUT" if staff else "SESSION_IDLE_TIMEOUT"]


def _holds_staff_rights(user) -> bool:
    return user is not None and bool(user.is_staff or user.is_superuser)


def _outlived_a_staff_day(credential: Credential | CredentialSnapshot, now: datetime | None = None) -> bool:
    """Whether a staff member's session or JWT sign-in began longer ago than BROWSER_SESSION_LIFETIME:
    their sign-ins open other people's accounts, so "remember me" and endless refreshes do not
    stretch them (SP 800-63B's AAL2 absolute limit)."""
    if credential.kind == KEY or not _holds_staff_rights(credential.user) or credential.created_at is None:
        return False
    return (now or utcnow()) - credential.created_at >= current_app.config["BROWSER_SESSION_LIFETIME"]


def has_idled(credential: Credential | CredentialSnapshot, now: datetime | None = None) -> bool:
    """Whether the credential went unused for its idle limit (known to within CREDENTIAL_TOUCH_INTERVAL)."""
    limit = idle_limit(credential)
    last_use = credential.last_used_at or credential.created_at  # a key never used: since it was made
    return limit is not None and last_use is not None and (now or utcnow()) - last_use >= limit


def check_usable(credential: Credential | CredentialSnapshot, now: datetime | None = None) -> None:
    """AuthenticationFailed, saying why, unless the credential may be used (``refusal``)."""
    reason = refusal(credential, now)
    if reason is not None:
        raise AuthenticationFailed(reason)


def model_of(credential: CredentialSnapshot) -> Credential:
    """The model of a presented credential, for a request that changes it; refused if it changed since."""
    model = db.session.get(Credential, credential.id)
    if model is None:
        raise AuthenticationFailed(USER_NOT_FOUND)
    check_usable(model)
    return model


def note_use(credential: Credential | CredentialSnapshot, ip: str | None, now: datetime | None = None) -> None:
    """Remember when and from where a credential was last used, at most once per touch interval."""
    now = now or utcnow()
    interval = current_app.config["CREDENTIAL_TOUCH_INTERVAL"]
    if credential.last_used_at is not None and now - credential.last_used_at < interval:
        return
    db.session.execute(update(Credential).where(Credential.id == credential.id).values(last_used_at=now, last_ip=ip))


def live_credentials(user: User, kind: str | None = None) -> list[Credential]:
    """Every way into the account that works now (or those of one ``kind``), newest first, in one query."""
    query = select(Credential).where(
        Credential.user_id == user.id,
        Credential.revoked_at.is_(None),
        or_(Credential.expires_at.is_(None), Credential.expires_at > utcnow()),
    )
    if kind is not None:
        query = query.where(Credential.kind == kind)
    found = db.session.scalars(query.order_by(Credential.created_at.desc(), Credential.id.desc()))
    return [credential for credential in found if not has_idled(credential) and not _outlived_a_staff_day(credential)]


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
    """End one way in (sign-out, "End" on the sessions page); ending one that has ended changes nothing."""
    if credential.revoked_at is None:
        credential.revoked_at = utcnow()
        if credential.kind == KEY and credential.user is not None:
            audit.record(actor, "api_key_revoked", credential.user, {"key": [credential.public_id, None]})
    db.session.flush()


def end_other_sessions(user: User, actor: Actor, *, keep: Credential | None) -> None:
    """"Sign out everywhere else": every live credential of the user but ``keep`` stops working."""
    revoke_all(user, keep=keep)
    audit.record(actor, "signed_out_elsewhere", user)
    db.session.flush()


def revoke_all(user: User, *, keep: Credential | None = None) -> None:
    """Revoke every live credential of the user except ``keep``, and end their pending sign-ins."""
    query = update(Credential).where(Credential.user_id == user.id, Credential.revoked_at.is_(None))
    if keep is not None:
        query = query.where(Credential.id != keep.id)
    db.session.execute(query.values(revoked_at=utcnow()))
    end_pending_sign_ins(user)


def end_outstanding_proofs(user: User, *, recovered: bool) -> None:
    """Whatever was issued to the account and not used yet stops working: emailed codes, pending
    sign-ins and apps' authorization codes go; reset links are bound to the password hash. A
    *recovery* (``recovered``: a reset link, a securing, a deactivation) also moves the
    ``security_stamp`` that "This wasn't me" links and device cookies carry. A change of password
    from a session does not: whoever made it may be the intruder an alert is about, and must not
    disarm the owner's link by changing it first."""
    if recovered:
        # Raised in the UPDATE itself, so two events at once both count; flushed so the row is read
        # afresh (a link made later in the same transaction, the "account secured" mail's, is signed
        # with the new value).
        user.security_stamp = User.security_stamp + 1
    db.session.execute(delete(EmailCode).where(EmailCode.user_id == user.id))
    db.session.execute(delete(AuthorizationCode).where(AuthorizationCode.user_id == user.id))
    end_pending_sign_ins(user)
    db.session.flush()


def end_pending_sign_ins(user: User) -> None:
    """End every sign-in of the user that waits for its second step: whoever holds one starts again."""
    db.session.execute(delete(PendingSignIn).where(PendingSignIn.user_id == user.id))
