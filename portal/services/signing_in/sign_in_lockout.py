"""Sign-in lockouts that hold back guessers, never the owner.

Failed sign-in tries are counted per *subject*: the unknown sources of one account together, or one
known device (``device_cookies``). When a subject's failures reach the RATELIMIT_SIGN_IN allowance,
that subject alone is locked out for SIGN_IN_LOCKOUT, doubling for each lockout within
SIGN_IN_LOCKOUT_RESET of the last, up to SIGN_IN_LOCKOUT_MAX. A locked-out subject's tries are
refused before any password is looked at. When a lockout of an account's unknown sources starts, the
owner is mailed once: only the request whose failure began it sees the count reach the allowance
(the storage's increment is atomic). The state lives in the rate limiter's storage.
"""

import logging
import math
from dataclasses import dataclass

from flask import current_app
from limits import parse

from ...clock import timestamp
from ...extensions import db, limiter
from ...models import User
from ...urls import public_url
from ..mail import outbox
from ..plumbing.attempts import keep_attempts

PREFIX = "sign-in-lockout"
log = logging.getLogger(__name__)


def _key(kind: str, subject: str) -> str:
    return f"{PREFIX}:{kind}:{subject}"


def held_back_for(subject: str) -> int | None:
    """Seconds until ``subject`` may try again, or None when it is not locked out."""
    until_ms = limiter.storage.get(_key("until", subject))
    left = until_ms / 1000 - timestamp()
    return max(1, math.ceil(left)) if until_ms and left > 0 else None


@dataclass(frozen=True)
class Try:
    """A sign-in try that took a place in its subject's allowance: the ``number``-th under ``counted``."""

    subject: str
    counted: str
    number: int
    window: int

    @property
    def allowed(self) -> bool:
        return self.number <= parse(current_app.config["RATELIMIT_SIGN_IN"]).amount


def take_a_try(subject: str) -> Try:
    """Take a place in ``subject``'s allowance *before* anything is checked, in one atomic increment:
    tries sent at once cannot all read "9 so far" and all go ahead. One beyond the allowance is not
    made (``Try.allowed``); one that does not fail gives its place back (``give_back``)."""
    window = parse(current_app.config["RATELIMIT_SIGN_IN"]).get_expiry()
    # A fixed window named by the portal's clock, so the count starts afresh each window.
    counted = f"{_key('failures', subject)}:{int(timestamp() // window)}"
    return Try(subject, counted, limiter.storage.incr(counted, window), window)


def give_back(attempt: Try) -> None:
    """A try that did not fail counts nothing: its place goes back to the allowance."""
    limiter.storage.incr(attempt.counted, attempt.window, amount=-1)


def seconds_left_in_window(attempt: Try) -> int:
    """How long a try beyond the allowance waits: until its window ends."""
    return max(1, math.ceil(attempt.window - timestamp() % attempt.window))


def note_failure(attempt: Try) -> int | None:
    """A counted try failed: the seconds of the lockout it began, if it spent the allowance (else None)."""
    cfg = current_app.config
    if attempt.number != parse(cfg["RATELIMIT_SIGN_IN"]).amount:
        return None
    until_key, level_key = _key("until", attempt.subject), _key("level", attempt.subject)
    storage = limiter.storage
    counted = attempt.counted
    base, longest = cfg["SIGN_IN_LOCKOUT"].total_seconds(), cfg["SIGN_IN_LOCKOUT_MAX"].total_seconds()
    level = storage.get(level_key) + 1
    # The doubling stops growing once past the longest wait (and long before a float overflows).
    seconds = math.ceil(min(base * 2 ** min(level - 1, 64), longest))
    remember = math.ceil(seconds + cfg["SIGN_IN_LOCKOUT_RESET"].total_seconds())
    until_ms = math.floor((timestamp() + seconds) * 1000)
    for key, value, expiry in ((until_key, until_ms, seconds), (level_key, level, remember)):
        # A counter set afresh (the storage keeps counters only), with the expiry that key needs.
        storage.clear(key)
        storage.incr(key, expiry, amount=value)
    storage.clear(counted)  # after the lockout, a new allowance
    return seconds


def tell_owner(user: User, lockout_seconds: int, origin: str | None = None) -> None:
    """Mail the owner that unknown sources of their account are held back (once per episode), kept at
    once though the failed try is refused; a mail that cannot be written is logged, never an error."""
    db.session.rollback()  # whatever the failed request left unsaved is dropped first
    try:
        outbox.queue_mail(
            user, "sign_in_lockout",
            name=user.full_name, lockout_seconds=lockout_seconds, forgot_url=public_url("/password/forgot", origin),
        )
        keep_attempts()
    except Exception:
        db.session.rollback()
        log.exception("The sign-in lockout mail to user %s could not be queued.", user.id)
