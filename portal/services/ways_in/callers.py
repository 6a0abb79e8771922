"""Who an API request is, read as snapshots: the read path every authenticated API call takes.

The credential, its user and the user's groups, one row per group, in one query sent straight to
the driver (``driver``). Most API requests only read the caller; loading the same rows as models
through an ORM session cost four times as much. A request that changes something loads the models
it changes (``credentials.model_of``).
"""

from sqlalchemy import LABEL_STYLE_TABLENAME_PLUS_COL, bindparam, select

from ...extensions import db
from ...models import Credential, CredentialSnapshot, Group, Snapshot, User, UserSnapshot, user_groups
from ..plumbing.driver import DriverQuery
from .api_keys import hash_key
from .credentials import APP, JWT, KEY, live_sign_in

_CREDENTIAL_FIELDS = (
    "id", "kind", "user_id", "public_id", "refresh_jti", "created_at", "expires_at", "revoked_at", "last_used_at",
    "idle_timeout", "scopes", "client_id",
)
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
APP_SNAPSHOT_BY_PUBLIC_ID = _snapshot_by(Credential.public_id, APP)


def _snapshot(query: DriverQuery, value) -> CredentialSnapshot | None:
    rows = query.rows(db.engine, value=value)
    if not rows:
        return None
    user_start = len(_CREDENTIAL_FIELDS)
    group_start = user_start + len(_USER_FIELDS)
    first = rows[0]
    credential = CredentialSnapshot(**dict(zip(_CREDENTIAL_FIELDS, first[:user_start], strict=True)), user=None)
    if first[user_start] is not None:
        groups = [
            Snapshot(**dict(zip(_GROUP_FIELDS, row[group_start:], strict=True)))
            for row in rows
            if row[group_start] is not None
        ]
        user = dict(zip(_USER_FIELDS, first[user_start:group_start], strict=True))
        credential.user = UserSnapshot(**user, groups=groups)
    return credential


def caller_for_claims(claims: dict) -> CredentialSnapshot | None:
    """The live sign-in a decoded JWT belongs to, as a snapshot, for authenticating a request."""
    return live_sign_in(claims, lambda sid: _snapshot(JWT_SNAPSHOT_BY_PUBLIC_ID, sid))


def caller_for_key(key) -> CredentialSnapshot | None:
    """The live API key ``key`` is, as a snapshot with its user, or None."""
    if not isinstance(key, str) or not key or len(key) > 200:
        return None
    credential = _snapshot(KEY_SNAPSHOT_BY_HASH, hash_key(key))
    return credential if credential is not None and credential.is_live else None


def caller_for_app_claims(claims: dict) -> CredentialSnapshot | None:
    """The live app sign-in a verified access token names (``sid``, for its ``sub``), as a snapshot
    whose scopes are those the token carries: a refresh may have narrowed them."""
    credential = live_sign_in(claims, lambda sid: _snapshot(APP_SNAPSHOT_BY_PUBLIC_ID, sid))
    if credential is not None:
        carried = str(claims.get("scope", "")).split()
        credential.scopes = [scope for scope in credential.scopes or () if scope in carried]
    return credential
