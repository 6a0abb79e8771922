"""The mail outbox: every message the portal sends is a row written in the transaction of the change
it reports, and delivered once that change has committed.

``queue_mail`` composes a message and adds it to the caller's transaction, so an account and the
code mailed to it are kept together or not at all, and a rolled-back change sends nothing. After
the commit a deliverer hands the message to the mail server (``courier.deliver_due``, which commits
each of its steps here): the app process itself (``courier``, the default), or a separate
``flask deliver-mail --watch`` worker.

A deliverer claims a due row with one conditional UPDATE, so of two deliverers racing for a row
only one gets it; it hands the message over outside any transaction and then marks the row sent.
A refused or unreachable mail server schedules another try — after MAIL_RETRY_BACKOFF, doubling
each time up to MAIL_RETRY_MAX_INTERVAL — until MAIL_GIVE_UP_AFTER has passed since the message was
queued: then the row is marked failed, logged as an error, and listed for staff. A deliverer that
dies holding a claim loses nothing: the claim lapses after MAIL_CLAIM_LEASE and another deliverer
takes the row. (Had it already handed the message over, the message then goes twice, with the same
Message-ID: SMTP cannot be told "exactly once".)

The message is kept sealed (``secret_box``: it may hold a code or a reset link) and erased when the
row is finished; finished rows are deleted after MAIL_KEEP_FINISHED.
"""

import logging
import secrets
from dataclasses import dataclass
from datetime import datetime
from email import message_from_bytes, policy

from flask import current_app
from flask_babel import force_locale
from sqlalchemy import case, delete, func, or_, select, update

from ...extensions import db
from ...models import OutgoingMail, utcnow
from ..errors import DeliveryFailed
from ..people.fields import page_language
from ..plumbing.after_commit import after_commit
from ..plumbing.atomic import update_where
from ..plumbing.secret_box import SealedValueUnreadable, open_sealed, seal
from . import messages

log = logging.getLogger(__name__)

PENDING, SENT, FAILED = "pending", "sent", "failed"
SEALED_FOR = "mail"
# The app extension that delivers after a commit, when the app process delivers its own mail.
DELIVERER_KEY = "portal.courier"


def queue_mail(user, subject, template: str, *, to: str | None = None, language: str | None = None, **context):
    """Compose ``email/<template>`` for ``user`` (at ``to``, or their address) and add it to the outbox
    in the caller's transaction.

    It is written in the person's saved language, else ``language`` (the language of the page that
    caused it, for work done after the answer), else the current page's. Nothing is sent unless and
    until that transaction commits; the caller commits.
    """
    to = to or user.email
    with force_locale(user.language or language or page_language()):
        subject = str(subject)  # a translatable subject, in the mail's language
        # Times in the mail are the reader's (``{{ at | when(time_zone) }}``).
        message = messages.compose(to, subject, template, time_zone=user.time_zone or "UTC", **context)
    now = utcnow()
    row = OutgoingMail(
        recipient=to, subject=subject[:200], message=seal(bytes(message), SEALED_FOR),
        status=PENDING, created_at=now, next_attempt_at=now, attempts=0,
    )
    db.session.add(row)
    after_commit(_tell_the_deliverer)
    return row


def _tell_the_deliverer() -> None:
    deliverer = current_app.extensions.get(DELIVERER_KEY)
    if deliverer is not None:
        deliverer.mail_committed()


@dataclass(frozen=True)
class DeliveryReport:
    sent: int = 0
    retrying: int = 0
    failed: int = 0

    def __add__(self, other: "DeliveryReport") -> "DeliveryReport":
        return DeliveryReport(self.sent + other.sent, self.retrying + other.retrying, self.failed + other.failed)


# Delivering: the steps of a deliverer (``courier.deliver_due``), which commits after each one — no
# request's door is there to do it — so a claim stands before its message is handed over, and no
# transaction stays open while the mail server answers.


@dataclass(frozen=True)
class ClaimedMail:
    """A row this deliverer holds, and what handing its message over needs (read while it was claimed)."""

    id: int
    claim: str
    sealed: bytes
    recipient: str
    subject: str
    attempts: int
    created_at: datetime


def due_mail(limit: int = 100) -> list[int]:
    """The ids of pending messages that are due and that no deliverer holds, the longest waiting first."""
    now = utcnow()
    return list(db.session.scalars(
        select(OutgoingMail.id)
        .where(OutgoingMail.status == PENDING, OutgoingMail.next_attempt_at <= now, _unclaimed(now))
        .order_by(OutgoingMail.next_attempt_at, OutgoingMail.id)
        .limit(limit)
    ))


def next_due_at() -> datetime | None:
    """When the next pending message may be tried (a claim held elsewhere counts until it lapses)."""
    now = utcnow()
    when = case((OutgoingMail.claimed_until > now, OutgoingMail.claimed_until), else_=OutgoingMail.next_attempt_at)
    return db.session.scalar(select(func.min(when)).where(OutgoingMail.status == PENDING))


def _unclaimed(now: datetime):
    return or_(OutgoingMail.claimed_until.is_(None), OutgoingMail.claimed_until <= now)


def claim(row_id: int) -> ClaimedMail | None:
    """Take a due row for MAIL_CLAIM_LEASE, counting the try (one conditional UPDATE): None when
    another deliverer has it. The deliverer commits the claim before it hands the message over."""
    token = secrets.token_hex(16)
    now = utcnow()
    claimed = update_where(
        OutgoingMail, OutgoingMail.id == row_id, OutgoingMail.status == PENDING, _unclaimed(now),
        claimed_until=now + current_app.config["MAIL_CLAIM_LEASE"], claim_token=token,
        attempts=OutgoingMail.attempts + 1,
    )
    if not claimed:
        return None  # another deliverer has it
    row = db.session.get(OutgoingMail, row_id, populate_existing=True)
    return ClaimedMail(row_id, token, row.message, row.recipient, row.subject, row.attempts, row.created_at)


def hand_over(mail: ClaimedMail) -> DeliveryReport:
    """Give a claimed message to the mail server, then record how it went: sent, to be tried again
    later, or given up. Nothing touches the database until the server has answered; the deliverer
    commits the outcome."""
    row_id, claim = mail.id, mail.claim
    try:
        message = message_from_bytes(open_sealed(mail.sealed, SEALED_FOR), policy=policy.default)
    except SealedValueUnreadable:
        # Sealed under another SECRET_KEY: no try will ever open it.
        return _finish(row_id, claim, FAILED, "The message cannot be read with the current SECRET_KEY.")
    try:
        messages.deliver(message)
    except DeliveryFailed as exc:
        if utcnow() >= mail.created_at + current_app.config["MAIL_GIVE_UP_AFTER"]:
            log.error(
                "Mail %r to %s given up after %d attempts since %s; last error: %s",
                mail.subject, mail.recipient, mail.attempts, mail.created_at.isoformat(timespec="seconds"), exc,
            )
            return _finish(row_id, claim, FAILED, str(exc))
        return _retry_later(row_id, claim, mail.attempts, str(exc))
    return _finish(row_id, claim, SENT)


def _finish(row_id: int, claim: str, status: str, error: str | None = None) -> DeliveryReport:
    values = {"status": status, "finished_at": utcnow(), "message": None, "claimed_until": None, "claim_token": None}
    if error is not None:
        values["last_error"] = error[:500]
    _update_claimed(row_id, claim, values)
    return DeliveryReport(sent=1) if status == SENT else DeliveryReport(failed=1)


def _retry_later(row_id: int, claim: str, attempts: int, error: str) -> DeliveryReport:
    cfg = current_app.config
    wait = min(cfg["MAIL_RETRY_BACKOFF"] * 2 ** (attempts - 1), cfg["MAIL_RETRY_MAX_INTERVAL"])
    _update_claimed(row_id, claim, {
        "next_attempt_at": utcnow() + wait, "last_error": error[:500], "claimed_until": None, "claim_token": None,
    })
    return DeliveryReport(retrying=1)


def _update_claimed(row_id: int, claim: str, values: dict) -> None:
    """Change a row this deliverer still holds (a lapsed claim taken over by another is not ours)."""
    db.session.execute(
        update(OutgoingMail).where(OutgoingMail.id == row_id, OutgoingMail.claim_token == claim).values(**values)
    )


def purge_finished() -> None:
    """Delete the rows finished (sent or given up) longer than MAIL_KEEP_FINISHED ago."""
    cutoff = utcnow() - current_app.config["MAIL_KEEP_FINISHED"]
    db.session.execute(delete(OutgoingMail).where(OutgoingMail.status != PENDING, OutgoingMail.finished_at < cutoff))


@dataclass(frozen=True)
class OutboxOverview:
    """What staff see of the outbox: counts by status, and the messages not sent (newest first)."""

    counts: dict
    undelivered: list


def overview(limit: int = 100) -> OutboxOverview:
    counts = dict(db.session.execute(select(OutgoingMail.status, func.count()).group_by(OutgoingMail.status)).all())
    undelivered = db.session.scalars(
        select(OutgoingMail)
        .where(OutgoingMail.status != SENT)
        .order_by(OutgoingMail.created_at.desc(), OutgoingMail.id.desc())
        .limit(limit)
    ).all()
    return OutboxOverview({status: counts.get(status, 0) for status in (PENDING, FAILED, SENT)}, list(undelivered))
