"""Browser sign-ins: a ``Credential`` row per signed-in browser, which the session cookie names."""

import secrets
from datetime import datetime

from flask import current_app

from ...extensions import db
from ...models import Credential, User, utcnow
from ..audit import Actor
from ..signing_in.sign_in import PASSWORD, record_sign_in
from .credentials import SESSION, by_public_id, one_with_user, refusal

SESSION_BY_PUBLIC_ID = by_public_id(SESSION)


def start_browser_session(
    user: User, actor: Actor, *, user_agent: str | None, remember: bool, method: str = PASSWORD
) -> Credential:
    """A new browser sign-in, proven by ``method``; the caller puts only its ``public_id`` in the
    cookie. A fresh row per sign-in rotates the session id: nothing from before the sign-in names it."""
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
        method=method,
        proven_at=now,
    )
    db.session.add(credential)
    record_sign_in(user, actor, method, credential=credential)
    db.session.flush()  # its public id goes into the cookie, its id into what follows
    return credential


def presented_browser_session(public_id, now: datetime | None = None) -> tuple[Credential | None, str | None]:
    """The session row a cookie names, with its user, and why it may not be used (``refusal``)."""
    if not isinstance(public_id, str) or not public_id:
        return None, None
    credential = one_with_user(SESSION_BY_PUBLIC_ID, public_id)
    return (credential, refusal(credential, now)) if credential is not None else (None, None)
