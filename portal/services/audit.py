"""The audit trail: who changed which account, how, when and from where."""

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import lazy_pgettext
from sqlalchemy import false, func, select
from sqlalchemy.orm import joinedload

from ..extensions import db
from ..models import AuditEvent, User
from .people.fields import ACCOUNT_FIELDS
from .people.users import MAX_ID, find_user

# Every action the services record, as people read it.
ACTIONS = {
    "account_created": _l("Account created"),
    "profile_updated": _l("Profile changed"),
    "email_verified": _l("Email address verified"),
    "password_changed": _l("Password changed"),
    # "Signed in" is also a heading (the Sessions page's list): a context keeps the two translations apart.
    "signed_in": lazy_pgettext("audit event", "Signed in"),
    "signed_out_elsewhere": _l("Signed out everywhere else"),
    "api_key_created": _l("API key created"),
    "api_key_revoked": _l("API key revoked"),
    "account_flags_changed": _l("Account settings changed"),
    "group_membership_changed": _l("Groups changed"),
    "account_deleted": _l("Account deleted"),
    "group_created": _l("Group created"),
    "group_updated": _l("Group changed"),
    "group_deleted": _l("Group deleted"),
    "totp_enabled": _l("Authenticator app turned on"),
    "totp_disabled": _l("Authenticator app turned off"),
    "recovery_codes_generated": _l("New recovery codes made"),
    "recovery_code_used": _l("Recovery code used"),
    "passkey_added": _l("Passkey added"),
    "passkey_renamed": _l("Passkey renamed"),
    "passkey_removed": _l("Passkey removed"),
    "passkey_counter_regressed": _l("Passkey refused: its counter went backwards (a copy may exist)"),
    "second_factor_failed": _l("Wrong code or passkey at sign-in"),
    "reauthentication_failed": _l("Identity check failed"),
    "two_factor_reset": _l("Two-step sign-in reset by staff"),
    "sign_in_alerts_turned_on": _l("Sign-in alerts turned on"),
    "sign_in_alerts_turned_off": _l("Sign-in alerts turned off"),
    "account_secured": _l("Account secured: signed out everywhere, new password required"),
    "identity_linked": _l("Account at another provider connected"),
    "identity_unlinked": _l("Account at another provider disconnected"),
    "signing_key_rotated": _l("Signing key replaced"),
    "app_registered": _l("App registered"),
    "app_changed": _l("App changed"),
    "app_secret_rotated": _l("App secret replaced"),
    "app_disabled": _l("App disabled"),
    "app_allowed": _l("App allowed"),
    "app_denied": _l("App refused"),
    "app_signed_in": _l("Signed in to an app"),
    "app_sign_in_ended": _l("Sign-in to an app ended"),
    "app_revoked": _l("App's access taken back"),
}
# Every door an action comes through, as people read it.
DOORS = {"web": _l("the website"), "api": _l("the API"), "admin": _l("the admin page"), "cli": _l("the command line")}


@dataclass(frozen=True)
class Actor:
    """Who is acting, and through which door. ``user`` is None for the system and anonymous callers."""

    user: User | None = None
    ip: str | None = None
    via: str = "api"  # api, web, admin, cli
    origin: str | None = None  # the site's address as the request reached it, for links in mails


SYSTEM = Actor(via="cli")


def record(
    actor: Actor,
    action: str, subject: User | None, changes: dict | None = None, *, label: str | None = None
) -> AuditEvent:
    """Add an event to the session. ``label`` names a subject with no row to point at (a deleted account)."""
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


def actor_role(event: AuditEvent) -> str:
    """Who made a change, as the account's owner sees it: "you", "staff" or "system". Signed-out
    steps (sign-up, a code, a reset link) were the owner's own, unless run on the command line."""
    if event.actor_id is None:
        return "system" if event.via == "cli" else "you"
    return "you" if event.actor_id == event.subject_id else "staff"


# Who acted, as the account's owner reads it (``actor_role``), with the door it came through.
BY_ROLE = {
    "you": _l("by you through %(door)s"),
    "staff": _l("by staff through %(door)s"),
    "system": _l("by system through %(door)s"),
}


def acted_by(event: AuditEvent, *, to_owner: bool, isolate) -> str:
    """Who made a change and through which door, as a list of events says it to its reader ("by you
    through the website"; to staff, "by ann@example.com through the admin page"). ``isolate`` must
    escape the address for the page."""
    door = str(DOORS.get(event.via, event.via))
    if to_owner:
        return str(BY_ROLE[actor_role(event)]) % {"door": door}
    if event.actor is not None:
        return _("by %(email)s through %(door)s", email=isolate(event.actor.email), door=door)
    if event.via == "cli":
        return _("on the command line")
    return _("by the account's owner, signed out, through %(door)s", door=door)


# What an audit event may list as changed beside the account's fields (``ACCOUNT_FIELDS``, which
# name themselves), as its table and a mail about a change name them.
OTHER_LABELS = {
    "groups": _l("groups"), "key": _l("key"), "passkey": _l("passkey"), "passkeys": _l("passkeys"),
    "method": _l("method"), "recovery_codes_left": _l("recovery codes left"),
    "sign_in_not_recognised": _l("sign in not recognised"), "new_browser_mailed": _l("new browser mailed"),
    "new_address_mailed": _l("new address mailed"), "name": _l("name"), "how": _l("how"),
    "live_sessions_and_keys": _l("live sessions and keys"), "sign_count": _l("signature counter"),
    "authenticator_app": _l("authenticator app"), "provider": _l("provider"),
    "unfinished": _l("sign-up never finished"), "kid": _l("key ID"), "app": _l("app"), "scopes": _l("scopes"),
    "client_id": _l("client id"),
}
FIELD_LABELS = {f.name: f.audit_label for f in ACCOUNT_FIELDS if f.audit_label is not None} | OTHER_LABELS


def field_label(field: str) -> str:
    """A changed field's name ("first_name": "first name"), in the current language when it is known."""
    label = FIELD_LABELS.get(field)
    return str(label) if label is not None else field.replace("_", " ")


def jsonable(value):
    """A value as JSON (and a CSV cell) holds it: dates and times in ISO 8601, the rest as it is."""
    return value.isoformat() if hasattr(value, "isoformat") else value


def history(user: User, *, page: int = 1, per_page: int = 20):
    """The events about ``user``, newest first, a page at a time, with their actors (two queries)."""
    query = (
        select(AuditEvent)
        .options(joinedload(AuditEvent.actor))
        .where(AuditEvent.subject_id == user.id)
        .order_by(AuditEvent.created_at.desc(), AuditEvent.id.desc())
    )
    return db.paginate(query, page=page, per_page=per_page, max_per_page=100, error_out=False)


@dataclass(frozen=True)
class EventFilter:
    """What staff asked the audit log for. ``subject`` and ``actor`` are an email or a user id."""

    subject: str = ""
    actor: str = ""
    action: str = ""
    since: date | None = None
    until: date | None = None  # inclusive


def search(wanted: EventFilter, *, page: int = 1, per_page: int = 50) -> tuple[list[AuditEvent], bool]:
    """One page of the log, newest first, with actor and subject loaded in the same query, and
    whether an older page exists. No count: a million events need none to page through."""
    query = select(AuditEvent).options(joinedload(AuditEvent.actor), joinedload(AuditEvent.subject))
    if wanted.subject:
        subject_id = _user_id(wanted.subject)
        # A deleted subject is still found by the email the event kept.
        query = query.where(
            AuditEvent.subject_id == subject_id
            if subject_id
            else func.lower(AuditEvent.subject_label) == wanted.subject.strip().lower()
        )
    if wanted.actor:
        actor_id = _user_id(wanted.actor)
        query = query.where(AuditEvent.actor_id == actor_id if actor_id else false())
    if wanted.action:
        query = query.where(AuditEvent.action == wanted.action)
    if wanted.since:
        query = query.where(AuditEvent.created_at >= datetime.combine(wanted.since, time.min))
    if wanted.until:
        query = query.where(AuditEvent.created_at < datetime.combine(wanted.until + timedelta(days=1), time.min))
    page = max(page, 1)
    rows = db.session.scalars(
        query.order_by(AuditEvent.created_at.desc(), AuditEvent.id.desc())
        .offset((page - 1) * per_page)
        .limit(per_page + 1)
    ).all()
    return rows[:per_page], len(rows) > per_page


def _user_id(value: str) -> int | None:
    """A user id from an id or an email (None when neither names a user)."""
    value = value.strip()
    if value.isdigit():
        return int(value) if 0 < int(value) <= MAX_ID else None
    user = find_user(email=value)
    return user.id if user is not None else None
