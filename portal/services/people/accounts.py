"""Accounts: create, update, delete, passwords, staff flags. Every door calls these.

Each operation validates all input first, then makes its change with its audit event and records
what must follow the commit (a mail, a replaced picture to delete: ``after_commit``).
"""

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError

from ...extensions import db
from ...models import User, canonical_email, canonical_phone, canonical_username, utcnow
from .. import audit
from ..audit import Actor
from ..errors import PermissionDenied, ValidationFailed
from ..mail import outbox
from ..signing_in import factors, second_step_budget
from ..ways_in import credentials
from . import avatars, breaches, verification
from .fields import ACCOUNT_FLAGS, PROFILE_FIELDS, FieldError, clean_each_field, clean_fields
from .passwords import check_password, hash_password, password_problems
from .users import lock_for_update, mark_changed

# A password may not be close to any of these values of its own account.
RELATED_FIELDS = ("email", "username", "first_name", "last_name")

UNIQUE_FIELDS = {
    "email": ("email_canonical", canonical_email, _l("A user with that email already exists.")),
    "username": ("username_canonical", canonical_username, _l("A user with that username already exists.")),
    "phone": ("phone_canonical", canonical_phone, _l("A user with that phone number already exists.")),
}

def register(email, password, actor: Actor, *, profile: dict | None = None) -> User:
    """Self-service sign-up: an unverified account, and a code mailed to its address."""
    user = create_user(email, password, actor, profile=profile)
    verification.mail_code(user, verification.issue_code(user))
    return user


def create_without_password(email, actor: Actor, *, email_verified: bool, profile: dict | None = None) -> User:
    """An account made from another provider's identity: no password (``password_hash`` empty, which
    no password matches) until the person sets one. Unless the provider vouched for the address,
    it waits for the code mailed to it, like a sign-up."""
    profile = {key: value for key, value in (profile or {}).items() if value}
    user = create_user(email, None, actor, profile=profile, email_verified=email_verified)
    if not email_verified:
        verification.mail_code(user, verification.issue_code(user))
    return user


def create_user(
    email, password, actor: Actor, *, profile: dict | None = None, email_verified: bool = False,
    is_staff: bool = False, is_superuser: bool = False,
) -> User:
    """A new active account, audited and flushed. ``profile`` holds any other field of ``PROFILE_FIELDS``;
    ``password`` None: an account without one."""
    raw = {**(profile or {}), "email": email}
    # Every message at once: a taken email is reported beside a malformed phone number.
    cleaned, errors = clean_each_field(raw, PROFILE_FIELDS)
    related = tuple(cleaned.get(field) for field in RELATED_FIELDS)
    problems = _chosen_password_problems(password, related) if password is not None else []
    if problems:
        errors["password"] = problems
    errors.update(_uniqueness_errors(cleaned, exclude_id=None))
    if errors:
        raise ValidationFailed(errors)
    now = utcnow()
    user = User(
        password_hash=hash_password(password) if password is not None else "",
        email_verified=email_verified,
        activated_at=now if email_verified else None,
        date_joined=now,
        updated_at=now,
        is_staff=is_staff or is_superuser,
        is_superuser=is_superuser,
        **cleaned,
    )
    db.session.add(user)
    created = {key: [None, audit.jsonable(value)] for key, value in cleaned.items() if value is not None}
    audit.record(actor, "account_created", user, created)
    _save()
    return user


def update_profile(user: User, changes: dict, actor: Actor, *, expected_versions: set[int] | None = None) -> User:
    """Apply a partial update of ``PROFILE_FIELDS`` and ``avatar`` (a binary stream, or None to remove it)."""
    ensure_may_manage(actor, user)
    changes = dict(changes)
    has_avatar_change = "avatar" in changes
    upload = changes.pop("avatar", None)
    cleaned, errors = clean_each_field(changes, PROFILE_FIELDS)
    processed = None
    if upload is not None:
        try:
            processed = avatars.process_avatar(upload)
        except FieldError as exc:
            errors["avatar"] = [str(exc)]
    errors.update(_uniqueness_errors(cleaned, exclude_id=user.id))
    if errors:
        raise ValidationFailed(errors)

    # Lock the row and read it afresh: of two concurrent updates, the second sees the first's
    # avatar (each replaced file is deleted exactly once) and the first's version.
    lock_for_update(user, expected_versions)
    before = {field: getattr(user, field) for field in cleaned}
    old_email, was_verified = user.email, user.email_verified
    email_changed = "email" in cleaned and changes_the_email(user, cleaned["email"])
    for field, value in cleaned.items():
        setattr(user, field, value)
    changed = audit.diff(before, cleaned)
    if has_avatar_change:
        changed.update(_replace_avatar(user, processed))
    if email_changed:
        user.email_verified = False  # the new address must answer a code; the account stays usable
        if was_verified:
            changed["email_verified"] = [True, False]
    if changed:
        user.updated_at = utcnow()
        mark_changed(user)
        audit.record(actor, "profile_updated", user, changed)
    _save()
    if email_changed:
        verification.mail_code_to_new_address(user, old_email, was_verified, actor)
    _tell_about_staff_change(user, changed, actor)
    return user


def changes_the_email(user: User, email) -> bool:
    """Whether ``email`` names another address than the account's (blank or not text: a field error)."""
    return isinstance(email, str) and bool(email.strip()) and canonical_email(email) != user.email_canonical


def _replace_avatar(user: User, processed) -> dict:
    """Store the new picture (None: none) in place of the old; the audit entry of the change."""
    old_avatar = user.avatar
    new_avatar = avatars.store_avatar(processed) if processed else None
    if old_avatar == new_avatar:
        return {}
    user.avatar = new_avatar
    avatars.discard_avatar(old_avatar)
    return {"avatar": [old_avatar, new_avatar]}


def delete_account(user: User, actor: Actor, *, expected_versions: set[int] | None = None) -> None:
    """Delete the account, its memberships and codes; its audit history stays, its avatar file goes.
    Staff never delete their own from the admin page, and nobody the last active superuser."""
    ensure_may_manage(actor, user)
    if actor.via == "admin" and actor.user is not None and actor.user.id == user.id:
        raise PermissionDenied(NOT_YOURSELF)
    _keep_a_superuser(user, {"is_active": False})
    if expected_versions is not None:
        lock_for_update(user, expected_versions)
    avatars.discard_avatar(user.avatar)
    audit.record(actor, "account_deleted", None, {"id": [user.id, None]}, label=user.email)
    db.session.delete(user)
    db.session.flush()


def verify_current_password(user: User, password) -> None:
    """ValidationFailed on ``current_password`` unless ``password`` is the user's password."""
    if problems := _current_password_problems(user, password):
        raise ValidationFailed({"current_password": problems})


def change_password(user: User, current_password, new_password, actor: Actor, *, keep=None) -> None:
    """The signed-in user's own change: checks the current password, then kills every other credential."""
    errors = {}
    if problems := _current_password_problems(user, current_password):
        errors["current_password"] = problems
    if problems := _new_password_problems(user, new_password):
        errors["new_password"] = problems
    if errors:
        raise ValidationFailed(errors)
    _store_password(user, new_password, actor, keep=keep, recovered=False)


def set_first_password(user: User, new_password, actor: Actor, *, keep=None) -> None:
    """An account made through a provider (no password yet) chooses one; as a change of password,
    it ends every other way in but ``keep`` and tells the person."""
    if user.password_hash:
        raise ValidationFailed.on("new_password", _("This account has a password: change it instead."))
    if problems := _new_password_problems(user, new_password):
        raise ValidationFailed({"new_password": problems})
    _store_password(user, new_password, actor, keep=keep, recovered=False)


def reset_password(uid, token, new_password, actor: Actor) -> User:
    """Set a new password through a reset link, which proves the mailbox; every credential stops working."""
    user = verification.user_for_reset(uid, token)
    if problems := _new_password_problems(user, new_password):  # may ask the breach service: no lock held
        raise ValidationFailed({"new_password": problems})
    verification.user_for_reset(uid, token, to_use=True)  # locked, and checked again: spent once
    verification.mark_verified(user)
    _store_password(user, new_password, actor, recovered=True)
    return user


def _current_password_problems(user: User, password) -> list[str]:
    if check_password(user.password_hash, password):
        return []
    return [_("This field is required.") if not password else _("Invalid password.")]


def _new_password_problems(user: User, password) -> list[str]:
    return _chosen_password_problems(password, tuple(getattr(user, field) for field in RELATED_FIELDS))


def _chosen_password_problems(password, related: tuple[str | None, ...]) -> list[str]:
    """Every reason a chosen password is refused: the local rules, then (a weak one costs no request) breaches."""
    return password_problems(password, related=related) or breaches.breach_problems(password)


def _store_password(user: User, new_password: str, actor: Actor, *, keep=None, recovered: bool) -> None:
    """Store a newly chosen password and end every other way in. A secured account may sign in with
    a password again: the new one was chosen by someone who proved the mailbox (a reset link) or
    opened a session without the password (a passkey, an emailed code)."""
    user.password_hash = hash_password(new_password)
    mark_changed(user)
    credentials.revoke_all(user, keep=keep)
    credentials.end_outstanding_proofs(user, recovered=recovered)
    changes = {}
    if user.password_reset_required:
        user.password_reset_required = False
        changes["password_reset_required"] = [True, False]
    user.password_breached = False  # the new one passed the breach check when it was chosen
    # Whoever chose it proved the mailbox or held a session: the app's codes are compared again.
    second_step_budget.forgive(user)
    audit.record(actor, "password_changed", user, changes)
    if not recovered:
        # Changed from a session, by whoever held it and the password: the owner hears of it (a
        # reset was asked for from the mailbox, and mails nothing more).
        factors.notify_security_change(user, "password_changed", actor)
    db.session.flush()


def update_account_flags(user: User, flags: dict, actor: Actor) -> User:
    """Staff-only switches; only a superuser (or the CLI) grants or removes staff and superuser rights."""
    cleaned = clean_fields(flags, ACCOUNT_FLAGS)
    acting = actor.user
    if acting is not None:
        if not acting.is_staff:
            raise PermissionDenied(_("Only staff change account flags."))
        ensure_may_manage(actor, user)
        privileged = {k for k in ("is_staff", "is_superuser") if k in cleaned and cleaned[k] != getattr(user, k)}
        if privileged and not acting.is_superuser:
            raise PermissionDenied(_("Only a superuser grants or removes staff or superuser rights."))
        if acting.id == user.id and any(cleaned.get(k) is False for k in ("is_active", "is_staff", "is_superuser")):
            raise PermissionDenied(NOT_YOURSELF)
    _keep_a_superuser(user, cleaned)
    before = {field: getattr(user, field) for field in cleaned}
    for field, value in cleaned.items():
        setattr(user, field, value)
    if cleaned.get("email_verified"):
        verification.mark_verified(user)
    user.is_staff = user.is_staff or user.is_superuser
    changed = audit.diff(before, {field: getattr(user, field) for field in cleaned})
    if changed:
        user.updated_at = utcnow()
        mark_changed(user)
        audit.record(actor, "account_flags_changed", user, changed)
        if changed.get("is_active") == [True, False]:
            credentials.revoke_all(user)
            credentials.end_outstanding_proofs(user, recovered=True)
    _tell_about_staff_change(user, changed, actor)
    db.session.flush()
    return user


NOT_YOURSELF = _l("You cannot remove your own rights, deactivate or delete yourself here.")
LAST_SUPERUSER = _l("This is the last active superuser: make another superuser first.")


def end_credential(user: User, public_id, actor: Actor) -> None:
    """End one of ``user``'s live sessions or keys, by its public id, for an actor who may manage the account."""
    ensure_may_manage(actor, user)
    credentials.revoke(credentials.own_live_credential(user, public_id), actor)


def ensure_may_manage(actor: Actor, user: User) -> None:
    """PermissionDenied unless ``actor`` may change ``user``'s account: it is their own, or the
    actor is staff and — when the account belongs to staff — a superuser. The command line may."""
    acting = actor.user
    if acting is None or acting.id == user.id:
        return
    if not acting.is_staff:
        raise PermissionDenied(_("Only staff change other people's accounts."))
    if (user.is_staff or user.is_superuser) and not acting.is_superuser:
        raise PermissionDenied(_("Only a superuser changes the account of a staff member."))


def _keep_a_superuser(user: User, flags: dict) -> None:
    """PermissionDenied when ``flags`` would leave no active superuser (locked: two demotions cannot both pass)."""
    if not (user.is_superuser and user.is_active):
        return
    if flags.get("is_superuser") is not False and flags.get("is_active") is not False:
        return
    others = db.session.scalars(
        select(User.id).where(User.is_superuser, User.is_active, User.id != user.id).with_for_update()
    ).first()
    if others is None:
        raise PermissionDenied(LAST_SUPERUSER)


def _tell_about_staff_change(user: User, changed: dict, actor: Actor) -> None:
    """Mail the owner which fields someone else changed (names only: never a value)."""
    if not changed or actor.user is None or actor.user.id == user.id:
        return
    outbox.queue_mail(user, "account_changed_by_staff", name=user.full_name, fields=list(changed))


def _uniqueness_errors(cleaned: dict, *, exclude_id: int | None) -> dict:
    wanted = {
        field: (column, canonical(cleaned[field]), message)
        for field, (column, canonical, message) in UNIQUE_FIELDS.items()
        if cleaned.get(field)
    }
    if not wanted:
        return {}
    conditions = [getattr(User, column) == key for column, key, _ in wanted.values()]
    query = select(User.email_canonical, User.username_canonical, User.phone_canonical).where(or_(*conditions))
    if exclude_id is not None:
        query = query.where(User.id != exclude_id)
    rows = db.session.execute(query).all()
    # Column by column: an email that equals someone's *username* does not make the email taken.
    return {
        field: [message]
        for field, (column, key, message) in wanted.items()
        if any(getattr(row, column) == key for row in rows)
    }


def _save() -> None:
    """Flush; a unique index that a concurrent write got to first becomes a 400 on its field.

    The failed flush leaves the session unusable until it rolls back, and the request is refused
    anyway (the door would roll it back): it is rolled back here, so the page that says why can still
    read the database. A SAVEPOINT would keep the rest of the request, but with SQLite's Python
    driver a SAVEPOINT opened before any write begins the transaction itself, and releasing it
    commits everything.
    """
    try:
        db.session.flush()
    except IntegrityError as exc:
        db.session.rollback()
        text = str(exc.orig)
        for field, (column, _, message) in UNIQUE_FIELDS.items():
            if column in text:
                raise ValidationFailed.on(field, message) from None
        raise
