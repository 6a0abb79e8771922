"""Securing an account someone else got into: every way in ends at once, and the password must be
chosen anew.

Two doors lead here: the "This wasn't me" link of a sign-in alert, and "Secure my account" on the
Sessions page. The password, even the right one, then signs nobody in until a new one is chosen;
passkeys and emailed codes still do: they prove a device or the mailbox, not the password someone
may have learnt, and they keep the owner from being locked out.
"""

from flask import current_app
from flask_babel import lazy_gettext as _l

from ...models import SignInAlert, User, utcnow
from ...urls import public_url
from .. import audit
from ..audit import Actor
from ..mail import outbox
from ..people import verification
from ..people.users import mark_changed
from ..ways_in import credentials

# The doors an account is secured through: kept by key in the audit trail, named in the reader's language.
FROM_ALERT, FROM_SESSIONS_PAGE = "not_me_link", "sessions_page"
# A button's label is quoted through its own msgid, so the mail names it as the page shows it.
DOORS = {
    FROM_ALERT: _l("the “%(not_me)s” link of a sign-in alert", not_me=_l("This wasn't me")),
    FROM_SESSIONS_PAGE: _l("“%(secure)s” on the Sessions page", secure=_l("Secure my account")),
}


def secure_account(user: User, actor: Actor, *, how: str, not_recognised: SignInAlert | None = None) -> int:
    """End every way into the account (and every proof mailed before) and require a new password;
    audited and mailed (with a reset link). ``how``: the door (``FROM_ALERT``, ``FROM_SESSIONS_PAGE``);
    ``not_recognised``: the alert of the sign-in the person did not recognise. How many ways in ended."""
    live = len(credentials.live_credentials(user))  # as the Sessions page counts them
    credentials.revoke_all(user)
    credentials.end_outstanding_proofs(user, recovered=True)
    was_required = user.password_reset_required
    user.password_reset_required = True
    mark_changed(user)
    changes = {
        "password_reset_required": [was_required, True], "live_sessions_and_keys": [live, 0],
        "how": [None, how],
    }
    if not_recognised:
        changes["sign_in_not_recognised"] = [None, not_recognised.facts]
    audit.record(actor, "account_secured", user, changes)
    outbox.queue_mail(
        user, "account_secured",
        name=user.full_name, how=how, ended=live, not_recognised=not_recognised.told() if not_recognised else None,
        when=utcnow().isoformat(), ip=actor.ip,
        reset_url=verification.password_reset_link(user, actor.origin),
        reset_minutes=int(current_app.config["PASSWORD_RESET_TTL"].total_seconds() // 60),
        forgot_url=public_url("/password/forgot", actor.origin),
    )
    return live

