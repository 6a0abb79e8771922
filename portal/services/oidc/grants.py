"""What a person allowed apps (``AppGrant``), as they see it on "Connected apps": each app, its
scopes, when it was allowed and last used; revoking one ends every sign-in of that app for them."""

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from ...extensions import db
from ...models import AppGrant, OAuthClient, User, utcnow
from .. import audit
from ..audit import Actor
from ..errors import NotFound
from ..people.users import MAX_ID
from .issuance import end_app_sign_ins


@dataclass(frozen=True)
class ConnectedApp:
    id: int
    name: str
    scopes: list
    allowed_at: datetime
    last_used_at: datetime | None


def connected_apps(user: User) -> list[ConnectedApp]:
    rows = db.session.execute(
        select(AppGrant, OAuthClient.name)
        .join(OAuthClient, OAuthClient.id == AppGrant.client_id)
        .where(AppGrant.user_id == user.id, AppGrant.revoked_at.is_(None))
        .order_by(AppGrant.created_at)
    ).all()
    return [ConnectedApp(grant.id, name, list(grant.scopes), grant.created_at, grant.last_used_at)
            for grant, name in rows]


def revoke_app(user: User, grant_id, actor: Actor) -> str:
    """Take back what the person allowed an app (NotFound for anyone else's), ending its sign-ins; the
    app's name."""
    if not isinstance(grant_id, int) or not 0 < grant_id <= MAX_ID:
        raise NotFound("No such connected app.")
    found = db.session.execute(
        select(AppGrant, OAuthClient.name).join(OAuthClient, OAuthClient.id == AppGrant.client_id)
        .where(AppGrant.id == grant_id, AppGrant.user_id == user.id, AppGrant.revoked_at.is_(None))
    ).first()
    if found is None:
        raise NotFound("No such connected app.")
    grant, name = found
    grant.revoked_at = utcnow()
    end_app_sign_ins(user, grant.client_id)
    audit.record(actor, "app_revoked", user, {"app": [name, None]})
    return name
