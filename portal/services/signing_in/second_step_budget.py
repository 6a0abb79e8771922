"""The second step's budget of wrong tries per account (NIST SP 800-63B 5.2.2).

A pending sign-in allows TWO_FACTOR_MAX_ATTEMPTS wrong codes, but whoever knows the password can
start another one, from another address, as often as the sign-in limits let them: about 11,500
comparisons a day. So the account itself counts its wrong second steps in a row
(``User.second_step_failures``), and after TWO_FACTOR_FAILURE_BUDGET of them codes from the
authenticator app are refused without being compared. Recovery codes (49 random bits) and passkeys
(a signature) cannot be guessed, so they still sign in, and reset the count. So does any second
step that passes, a passkey sign-in, a new password (a reset link proves the mailbox) and a staff
reset of the factors. The person is mailed at the TWO_FACTOR_FAILURE_MAIL_AT-th wrong try in a row:
someone who got past the first step is guessing.

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
    """Count one try at the second step against the account's budget, before its code is compared:
    whether it was within the budget (else codes from the app must be refused). The caller keeps it
    before comparing (``attempts.keep_attempts``)."""
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
    """The account's wrong second steps in a row, as the database holds it now (after this
    transaction's own UPDATE, whose row lock keeps other requests from changing it meanwhile)."""
    return db.session.scalar(select(User.second_step_failures).where(User.id == user.id))


def failed(user: User, actor: Actor) -> None:
    """A counted try was wrong: it stays counted; at the TWO_FACTOR_FAILURE_MAIL_AT-th in a row the
    person is mailed, once, since the count only moves one at a time. The caller keeps both, though
    its answer is an error."""
    if failures(user) == current_app.config["TWO_FACTOR_FAILURE_MAIL_AT"]:
        outbox.queue_mail(
            user, "second_step_failures",
            name=user.full_name, num=current_app.config["TWO_FACTOR_FAILURE_MAIL_AT"],
            budget=current_app.config["TWO_FACTOR_FAILURE_BUDGET"], when=utcnow().isoformat(),
            reset_url=public_url("/password/forgot", actor.origin),
        )


def forgive(user: User) -> None:
    """The person proved themselves (a second step, a passkey, a new password, a staff reset):
    the count starts again, with the request that proved it."""
    update_where(User, User.id == user.id, User.second_step_failures != 0, second_step_failures=0)
