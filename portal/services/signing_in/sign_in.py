"""Signing in with a password: who the email or username and password name, and noting the sign-in."""
from flask_babel import lazy_gettext as _l

from ...extensions import db
from ...models import Credential, User, utcnow
from .. import audit
from ..audit import Actor
from ..errors import AuthenticationFailed, EmailNotVerified
from ..people import breaches
from ..people.passwords import check_password, hash_password, needs_rehash, spend_a_password_check
from ..people.users import find_user, mark_changed
from . import sign_in_alerts

BAD_CREDENTIALS = _l("No active account found with the given credentials")
UNVERIFIED = _l("E-mail address is not verified. Enter the code we mailed you, or ask for a new one.")
# Why a secured account's password does not sign it in (``flow.PasswordMustBeRenewed``). The sign-in
# page's link, quoted by its own label (one msgid), so the message never names a link the page does
# not show; the mails about a secured account quote it the same way.
RESET_REQUIRED = _l(
    "This account was secured and needs a new password before it signs in with one. "
    "Use “%(forgot)s” to get a link by mail and choose a new password.",
    forgot=_l("Forgot your password?"),
)


def authenticate(password, *, email=None, username=None, login=None) -> User:
    """The active, verified user with these credentials, or AuthenticationFailed. ``login``: an email
    or a username. The first step only: what the account needs next the flow decides, once the
    password was found right, so what it says tells nothing to someone who does not know it."""
    user = find_user(email=email, username=username, login=login)
    if user is None:
        spend_a_password_check(password)
        raise AuthenticationFailed(BAD_CREDENTIALS)
    if not check_password(user.password_hash, password) or not user.is_active:
        raise AuthenticationFailed(BAD_CREDENTIALS)
    if user.activated_at is None:
        raise EmailNotVerified(UNVERIFIED)
    if needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    # Is the right password in breach data (a banner, an API header)? Asked only now, so a wrong one
    # costs no request and the timing tells nothing; when nobody could tell, what was known stays.
    seen = breaches.times_seen(password)
    if seen is not None and bool(seen) != user.password_breached:
        user.password_breached = bool(seen)
    return user


PASSWORD = "password"  # how a credential was proven when nothing else is said


def record_sign_in(user: User, actor: Actor, method: str, *, credential: Credential) -> None:
    """Stamp ``last_login``, audit the sign-in, and note where ``credential`` came from (``sign_in_alerts``)."""
    user.last_login = utcnow()
    mark_changed(user)
    changes = {"method": [None, method]}
    # The UPDATE of the user's row goes first: it queues two sign-ins of one account, so the second
    # sees the sources the first remembered.
    db.session.flush()
    alert = sign_in_alerts.note_sign_in(user, actor, method, credential)
    if alert is not None:
        changes[f"new_{alert.kind}_mailed"] = [None, alert.facts]
    audit.record(actor, "signed_in", user, changes)
