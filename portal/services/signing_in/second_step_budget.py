"""The second step's budget of wrong tries per account (NIST SP 800-63B 5.2.2).

A pending sign-in allows TWO_FACTOR_MAX_ATTEMPTS wrong codes, but whoever knows the password can
start another one as often as the sign-in limits let them: about 11,500 comparisons a day. So the
account counts its wrong second steps in a row, and after TWO_FACTOR_FAILURE_BUDGET of them codes
from the app are refused without being compared. Recovery codes and passkeys cannot be guessed, so
they still sign in, and reset the count (as does a new password or a staff reset). The person is
mailed at the TWO_FACTOR_FAILURE_MAIL_AT-th: someone who got past the first step is guessing.

Each try takes its place in the budget before the code is compared, in one conditional UPDATE, so
guesses sent in parallel cannot get more than the budget of comparisons between them.
"""

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from ...extensions import db
from ...models import User, utcnow
from ...urls import public_url
from ..audit import Actor
from ..mail import outbox
from ..plumbing.atomic import update_where

APP_CODES_REFUSED = _l(
    "Too many wrong codes were entered for this account. Codes from the authenticator app are "
    "refused until you sign in with a recovery code or a passkey, or reset your password."
)


def take_a_try(user: User) -> bool:
    """Count a try against the account's budget, before its code is compared: whether it was within it."""
    return update_where(
        User,
        User.id == user.id,
        User.second_step_failures < current_app.config["TWO_FACTOR_FAILURE_BUDGET"],
        second_step_failures=User.second_step_failures + 1,
    )


def within_budget(user: User) -> bool:
    """Whether codes from the app are still compared for the account (for the pages to say so first)."""
    return failures(user) < current_app.config["TWO_FACTOR_FAILURE_BUDGET"]


def failures(user: User) -> int:
    """The account's wrong second steps in a row, as the database holds it now."""
    return db.session.scalar(select(User.second_step_failures).where(User.id == user.id))


def failed(user: User, actor: Actor) -> None:
    """A counted try was wrong: at the TWO_FACTOR_FAILURE_MAIL_AT-th in a row the person is mailed, once."""
    if failures(user) == current_app.config["TWO_FACTOR_FAILURE_MAIL_AT"]:
        outbox.queue_mail(
            user, "second_step_failures",
            name=user.full_name, num=current_app.config["TWO_FACTOR_FAILURE_MAIL_AT"],
            budget=current_app.config["TWO_FACTOR_FAILURE_BUDGET"], when=utcnow().isoformat(),
            reset_url=public_url("/password/forgot", actor.origin),
        )


def forgive(user: User) -> None:
    """The person proved themselves: the count starts again."""
    update_where(User, User.id == user.id, User.second_step_failures != 0, second_step_failures=0)
