"""Groups and memberships. Each change is flushed with its audit event."""

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from ...extensions import db
from ...models import Group, User
from .. import audit
from ..audit import Actor
from ..errors import NotFound, ValidationFailed
from .accounts import ensure_may_manage
from .fields import clean_each_field, clean_text
from .users import MAX_ID, mark_changed

NAME_TAKEN = _l("A group with that name already exists.")


def all_groups() -> list[Group]:
    """Every group by name, member counts included (one query)."""
    return list(db.session.scalars(select(Group).order_by(Group.name)))


def get_group(group_id) -> Group:
    group = db.session.get(Group, group_id) if isinstance(group_id, int) and 0 < group_id <= MAX_ID else None
    if group is None:
        raise NotFound("Group not found")
    return group


def find_group(name) -> Group | None:
    if not isinstance(name, str):
        return None
    return db.session.scalar(select(Group).where(func.lower(Group.name) == name.strip().lower()))


RULES = {
    "name": lambda value: clean_text(value, max_length=150, required=True),
    "notes": lambda value: clean_text(value, max_length=2000, allowed_controls="\n\t"),
}


def _clean(name, notes, *, exclude_id=None) -> dict:
    cleaned, errors = clean_each_field({"name": name, "notes": notes}, RULES)
    existing = find_group(cleaned.get("name"))
    if existing is not None and existing.id != exclude_id:
        errors["name"] = [str(NAME_TAKEN)]
    if errors:
        raise ValidationFailed(errors)
    return cleaned


def _save() -> None:
    """Flush; a name a concurrent write took first becomes a 400 on ``name`` (as ``accounts._save``)."""
    try:
        db.session.flush()
    except IntegrityError:
        db.session.rollback()
        raise ValidationFailed.on("name", NAME_TAKEN) from None


def create_group(name, actor: Actor, notes=None) -> Group:
    group = Group(**_clean(name, notes))
    db.session.add(group)
    audit.record(actor, "group_created", None, {"name": [None, group.name]})
    _save()
    return group


def update_group(group: Group, actor: Actor, *, name, notes=None) -> Group:
    cleaned = _clean(name, notes, exclude_id=group.id)
    before = {"name": group.name, "notes": group.notes}
    group.name, group.notes = cleaned["name"], cleaned["notes"]
    if changed := audit.diff(before, cleaned):
        audit.record(actor, "group_updated", None, changed)
    _save()
    return group


def delete_group(group: Group, actor: Actor) -> None:
    audit.record(actor, "group_deleted", None, {"name": [group.name, None]})
    db.session.delete(group)
    db.session.flush()


def set_membership(user: User, group: Group, member: bool, actor: Actor) -> None:
    """Add ``user`` to ``group`` (or take them out); doing what is already so changes nothing."""
    ensure_may_manage(actor, user)
    if (group in user.groups) == member:
        return
    if member:
        user.groups.append(group)
    else:
        user.groups.remove(group)
    mark_changed(user)
    change = [None, group.name] if member else [group.name, None]
    audit.record(actor, "group_membership_changed", user, {"groups": change})
    db.session.flush()
