"""The audit trail: who changed which account, how, when and from where."""

from dataclasses import dataclass

from sqlalchemy import select

from ..extensions import db
from ..models import AuditEvent, User


@dataclass(frozen=True)
class Actor:
    """Who is acting, and through which door. ``user`` is None for the system and anonymous callers."""

    user: User | None = None
    ip: str | None = None
    via: str = "api"  # api, web, admin, cli
    origin: str | None = None  # the site's address as the request reached it, for links in mails


SYSTEM = Actor(via="cli")


def record(
    actor: Actor, action: str, subject: User | None, changes: dict | None = None, *, label: str | None = None
) -> AuditEvent:
    """Add an event to the session; the caller's commit makes it permanent with the change itself.

    ``label`` names the subject when there is no row to point at (a deleted account).
    """
    event = AuditEvent(
        actor=actor.user,
        subject=subject,
        subject_label=subject.email if subject is not None else label,
        action=action,
        changes=changes or {},
        ip=actor.ip,
        via=actor.via,
    )
    db.session.add(event)
    return event


def diff(before: dict, after: dict) -> dict:
    """``{field: [old, new]}`` for every field whose value changed, in a JSON-safe form."""
    return {
        key: [jsonable(before.get(key)), jsonable(value)]
        for key, value in after.items()
        if before.get(key) != value
    }


def jsonable(value):
    return value.isoformat() if hasattr(value, "isoformat") else value


def history(user: User, *, page: int = 1, per_page: int = 20):
    """The events about ``user``, newest first, one page at a time (two queries: the count and the page)."""
    query = (
        select(AuditEvent)
        .where(AuditEvent.subject_id == user.id)
        .order_by(AuditEvent.created_at.desc(), AuditEvent.id.desc())
    )
    return db.paginate(query, page=page, per_page=per_page, max_per_page=100, error_out=False)
