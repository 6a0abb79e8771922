"""What the second-factor modules share: whether an account has a second factor, who may change
an account's factors, whether staff may act on other people's accounts without one
(STAFF_REQUIRE_TWO_FACTOR), and the one mail that tells a person how they sign in has changed.

A second factor is a confirmed authenticator app (``totp``) or a passkey (``passkeys``). Recovery
codes (``recovery_codes``) are a way round a lost factor, not a factor: alone they ask for nothing.
"""

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import exists, or_, select

from ...extensions import db
from ...models import Passkey, TotpDevice, User, utcnow
from ...urls import public_url
from ..audit import Actor
from ..errors import PermissionDenied, SecondFactorRequired
from ..mail import outbox

OWN_ACCOUNT_ONLY = _l("Only the account's owner sets up how they sign in.")
STAFF_FACTOR_REQUIRED = _l(
    "Staff must set up a second factor (an authenticator app or a passkey) before acting on other people's accounts."
)


def has_second_factor(user: User) -> bool:
    """Whether signing in to the account takes a second step: a confirmed authenticator app or a passkey."""
    return bool(
        db.session.scalar(
            select(
                or_(
                    exists().where(TotpDevice.user_id == user.id, TotpDevice.confirmed_at.is_not(None)),
                    exists().where(Passkey.user_id == user.id),
                )
            )
        )
    )


def lacks_required_staff_factor(user: User) -> bool:
    """Whether ``user`` (staff) may not act on other people's accounts yet: STAFF_REQUIRE_TWO_FACTOR is
    on and they have no second factor. Staff accounts open every other account, at /admin/ and
    through the API alike, so a password alone is not enough for them; their own account stays theirs."""
    return bool(current_app.config["STAFF_REQUIRE_TWO_FACTOR"]) and not has_second_factor(user)


def ensure_staff_factor(user: User) -> None:
    """PermissionDenied, saying what to do, when ``lacks_required_staff_factor``."""
    if lacks_required_staff_factor(user):
        raise SecondFactorRequired(STAFF_FACTOR_REQUIRED)


def ensure_owner(actor: Actor, user: User) -> None:
    """PermissionDenied unless the actor is the account's owner: a factor is set up by the person who
    will carry it, never for them (staff can only take factors away: ``two_factor.reset_two_factor``)."""
    if actor.user is None or actor.user.id != user.id:
        raise PermissionDenied(OWN_ACCOUNT_ONLY)


def notify_security_change(user: User, what: str, actor: Actor, *, detail: str | None = None) -> None:
    """Mail the person that how their account signs in changed, in the transaction of the change.

    ``what`` is the audit action (its label in ``audit.ACTIONS`` names the change), ``detail`` an
    optional name (a passkey's). Never a secret.
    """
    by_staff = actor.user is not None and actor.user.id != user.id
    outbox.queue_mail(
        user, "security_changed",
        name=user.full_name, what=what, detail=detail, by_staff=by_staff, when=utcnow().isoformat(),
        reset_url=public_url("/password/forgot", actor.origin),
    )
