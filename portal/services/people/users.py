"""Looking users up: by id, and by email or username without regard to case."""

from flask_babel import lazy_gettext as _l
from sqlalchemy import select, update

from ...extensions import db
from ...models import User, canonical_email, canonical_username
from ..errors import NotFound, PermissionDenied, PreconditionFailed

STALE = _l("The account was changed since you read it: read it again, then repeat the change.")

# The database's 32-bit integer key: larger ids cannot exist, and PostgreSQL refuses to compare them.
MAX_ID = 2**31 - 1


def get_user(user_id) -> User:
    """The stored user with that id, or NotFound (also for ids no user could have)."""
    user = db.session.get(User, user_id) if isinstance(user_id, int) and 0 < user_id <= MAX_ID else None
    if user is None:
        raise NotFound("User not found")
    return user


def user_for(caller: User, user_id, *, staff_too: bool) -> User:
    """The user ``caller`` asks for by id: NotFound when there is none, PermissionDenied unless it
    is the caller themselves, or ``staff_too`` and the caller is staff (with a required factor)."""
    user = get_user(user_id)
    if user.id != caller.id:
        if not (staff_too and caller.is_staff):
            raise PermissionDenied()
        from ..signing_in import factors

        factors.ensure_staff_factor(caller)
    return user


def find_user(*, email=None, username=None, login=None) -> User | None:
    """Case-insensitive look-up by email, else by username (``login``: either); None for anything that
    is not text, or holds a NUL (PostgreSQL could not even compare it)."""
    if any(isinstance(value, str) and "\x00" in value for value in (email, username, login)):
        return None
    if isinstance(login, str) and login.strip():
        return find_user(email=login) or find_user(username=login)
    if isinstance(email, str) and email.strip():
        return db.session.scalar(select(User).where(User.email_canonical == canonical_email(email)))
    if isinstance(username, str) and username.strip():
        return db.session.scalar(select(User).where(User.username_canonical == canonical_username(username)))
    return None


def mark_changed(user: User) -> None:
    """Bump the row's version (its ETag) in the UPDATE itself, so two writers never share a number."""
    user.version = User.version + 1


def lock_for_update(user: User, expected_versions: set[int] | None = None) -> None:
    """Lock the user's row and read it afresh, before a write that depends on what it reads. A no-op
    UPDATE takes the lock on both databases (SQLite has no SELECT ... FOR UPDATE), so concurrent
    writers queue. ``expected_versions`` (If-Match): PreconditionFailed when the row has another."""
    db.session.execute(update(User).where(User.id == user.id).values(version=User.version))
    db.session.refresh(user)
    if expected_versions is not None and user.version not in expected_versions:
        raise PreconditionFailed(STALE)  # the refused request rolls back, and lets the lock go
