"""API keys: made for a signed-in or operator request, shown once, stored only as a SHA-256.

A key may be a personal access token: limited to scopes (``ways_in.scopes``: ``api:read``, and
``api:write`` which implies it) and given a lifetime, after which it is refused. A key without
scopes (every key made before scopes) may do whatever its owner may, until it is revoked.
"""

import hashlib
import secrets
from datetime import timedelta

from flask_babel import lazy_gettext as _l

from ...extensions import db
from ...models import Credential, User, utcnow
from .. import audit
from ..audit import Actor
from ..errors import AuthenticationFailed, EmailNotVerified, ValidationFailed
from ..signing_in.sign_in import BAD_CREDENTIALS, PASSWORD, UNVERIFIED, record_sign_in
from .credentials import KEY
from .scopes import key_scopes_of

# The names of the keys the portal makes itself; stored in English, shown in the reader's language.
SIGNED_IN_THROUGH_THE_API = "API sign-in"
MADE_ON_THE_COMMAND_LINE = "created on the command line"
NAMES_GIVEN_BY_THE_PORTAL = {
    SIGNED_IN_THROUGH_THE_API: _l("API sign-in"), MADE_ON_THE_COMMAND_LINE: _l("created on the command line"),
}

# The idle limit a key may be given: a minute at least (the last use is known to within
# CREDENTIAL_TOUCH_INTERVAL), a year at most.
SHORTEST_IDLE_LIMIT, LONGEST_IDLE_LIMIT = timedelta(minutes=1), timedelta(days=365)
BAD_IDLE_LIMIT = _l("Give a whole number of seconds from 60 to 31536000, or null for no idle limit.")
# The lifetime a key may be given, within the same bounds.
BAD_LIFETIME = _l("Give a whole number of seconds from 60 to 31536000, or null for a key that does not expire.")


def idle_limit_of(value) -> int | None:
    """The idle limit asked for a new key, in whole seconds, or None; else ValidationFailed."""
    if value is None:
        return None
    shortest, longest = (int(limit.total_seconds()) for limit in (SHORTEST_IDLE_LIMIT, LONGEST_IDLE_LIMIT))
    if isinstance(value, bool) or not isinstance(value, int) or not shortest <= value <= longest:
        raise ValidationFailed.on("idle_timeout", BAD_IDLE_LIMIT)
    return value


def lifetime_of(value) -> int | None:
    """The lifetime asked for a new key, in whole seconds, or None; else ValidationFailed."""
    if value is None:
        return None
    shortest, longest = (int(limit.total_seconds()) for limit in (SHORTEST_IDLE_LIMIT, LONGEST_IDLE_LIMIT))
    if isinstance(value, bool) or not isinstance(value, int) or not shortest <= value <= longest:
        raise ValidationFailed.on("expires_in", BAD_LIFETIME)
    return value


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def issue_api_key(
    user: User, actor: Actor, name: str | None = None, *, method: str = PASSWORD, idle_timeout: int | None = None,
    scopes=None, expires_in: int | None = None,
) -> tuple[Credential, str]:
    """A new API key for an active, activated account; the key is returned once, never stored.
    ``scopes``: a list of ``api:read``/``api:write`` (None: full); ``expires_in``: seconds it works."""
    idle_timeout = idle_limit_of(idle_timeout)
    scopes = key_scopes_of(scopes)
    expires_in = lifetime_of(expires_in)
    if not user.is_active:
        raise AuthenticationFailed(BAD_CREDENTIALS)
    if user.activated_at is None:
        raise EmailNotVerified(UNVERIFIED)
    key = secrets.token_hex(20)
    now = utcnow()
    credential = Credential(
        user=user,
        kind=KEY,
        public_id=secrets.token_urlsafe(12),  # names the key in lists and the audit log; not part of it
        secret_hash=hash_key(key),
        name=(name or "").strip()[:100] or None,
        created_at=now,
        created_ip=actor.ip,
        method=method,
        proven_at=now,
        idle_timeout=idle_timeout,
        scopes=scopes,
        expires_at=now + timedelta(seconds=expires_in) if expires_in is not None else None,
    )
    db.session.add(credential)
    audit.record(actor, "api_key_created", user, {"key": [None, credential.public_id]})
    record_sign_in(user, actor, method, credential=credential)
    db.session.flush()
    return credential, key
