"""The mail outbox: every message the portal sends is a row written in the transaction of the change
it reports, and delivered once that change has committed.

``queue_mail`` adds a mail to the caller's transaction as facts: its kind, the JSON-safe facts it
tells, and whom it is for, in which language and time zone; so a rolled-back change sends nothing.
The app's composer (``portal.mails``) writes the words when it is delivered (``courier``).

A deliverer claims a due row with one conditional UPDATE, so of two deliverers only one gets it,
and hands the message over outside any transaction. A refused or unreachable mail server schedules
another try (backing off, doubling) until MAIL_GIVE_UP_AFTER: then the row is marked failed, logged
and listed for staff. A claim lapses after MAIL_CLAIM_LEASE, so a deliverer that dies holding one
loses nothing (a message it had handed over then goes twice, with the same Message-ID: SMTP cannot
be told "exactly once"). The facts are kept sealed (they may hold a code or a reset link) and erased
when the row is finished. A row queued by an older release holds the sealed message itself.
"""

import json
import logging
import secrets
from dataclasses import asdict, dataclass
from datetime import datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Protocol

from flask import current_app
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
# What the app does once a transaction that queued mail has committed (``portal.mails`` registers it).
COMMITTED_HOOK = "portal.mail_committed"
COMPOSER_KEY = "portal.mail_composer"


@dataclass(frozen=True)
class QueuedMail:
    """A mail as the outbox keeps it: what happened, in facts of no language, and for whom. ``facts``
    are JSON values only, readable by whichever release delivers it; ``message_id`` and ``queued_at``
    are fixed when it is queued, so every try hands over one message, recognisably the same."""

    kind: str
    to: str
    language: str
    time_zone: str
    message_id: str
    queued_at: str  # ISO 8601, naive UTC (``utcnow``)
    facts: dict


class Composer(Protocol):
    """Who turns a queued mail into words: the subject staff see in the outbox, and the message."""

    def subject(self, kind: str, language: str) -> str: ...

    def compose(self, mail: QueuedMail) -> EmailMessage: ...


def composer() -> Composer:
    return current_app.extensions[COMPOSER_KEY]


def queue_mail(user, kind: str, *, to: str | None = None, language: str | None = None, **facts) -> OutgoingMail:
    """Add a mail of ``kind`` telling ``facts`` to ``user`` (``mail_for``) to the caller's transaction."""
    mail = mail_for(user, kind, to=to, language=language, **facts)
    # The subject is written now, for staff reading the outbox; an unknown kind fails here, in the change.
    subject = composer().subject(kind, mail.language)
    now = utcnow()
    sealed = seal(json.dumps(asdict(mail), ensure_ascii=False).encode(), SEALED_FOR)
    row = OutgoingMail(
        recipient=mail.to, subject=subject[:200], message=sealed,
        status=PENDING, created_at=now, next_attempt_at=now, attempts=0,
    )
    db.session.add(row)
    after_commit(_tell_the_deliverer)
    return row


def mail_for(user, kind: str, *, to: str | None = None, language: str | None = None, **facts) -> QueuedMail:
    """A mail of ``kind`` telling ``facts`` to ``user``, in their language, else ``language``, else the page's."""
    domain = current_app.config["MAIL_FROM"].rpartition("@")[2].strip(">") or None
    return QueuedMail(
        kind=kind, to=to or user.email, language=user.language or language or page_language(),
        time_zone=user.time_zone or "UTC", message_id=make_msgid(domain=domain), queued_at=utcnow().isoformat(),
        facts=facts,
    )


def _tell_the_deliverer() -> None:
    hook = current_app.extensions.get(COMMITTED_HOOK)
    if hook is not None:
        hook()


@dataclass(frozen=True)
class DeliveryReport:
    sent: int = 0
    retrying: int = 0
    failed: int = 0

    def __add__(self, other: "DeliveryReport") -> "DeliveryReport":
        return DeliveryReport(self.sent + other.sent, self.retrying + other.retrying, self.failed + other.failed)


# Delivering: the steps of a deliverer (``courier.deliver_due``, which commits after each one).


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
    """Take a due row for MAIL_CLAIM_LEASE, counting the try: None when another deliverer has it."""
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
    later, or given up. Nothing touches the database until the server has answered."""
    row_id, claim = mail.id, mail.claim
    try:
        opened = open_sealed(mail.sealed, SEALED_FOR)
    except SealedValueUnreadable:
        # Sealed under another SECRET_KEY: no try will ever open it.
        return _finish(row_id, claim, FAILED, "The message cannot be read with the current SECRET_KEY.")
    try:
        # Composed now from its facts, or (queued by an earlier release) as written: an RFC 5322
        # message starts with a header's name, never a brace.
        if opened.startswith(b"{"):
            message = composer().compose(QueuedMail(**json.loads(opened)))
        else:
            message = message_from_bytes(opened, policy=policy.default)
    except Exception as exc:
        # A kind or template this release does not know: composing again will not help.
        log.exception("Mail %r to %s cannot be composed; given up.", mail.subject, mail.recipient)
        return _finish(row_id, claim, FAILED, f"The message cannot be composed: {exc}")
    try:
        messages.deliver(message)
    except DeliveryFailed as exc:
        if utcnow() >= mail.created_at + current_app.config["MAIL_GIVE_UP_AFTER"]:
            log.error(
                "Mail %r to %s given up after %d attempts since %s; last error: %s",
                mail.subject, mail.recipient, mail.attempts, mail.created_at.isoformat(timespec="seconds"), exc,
            )
            return _finish(row_id, claim, FAILED, str(exc))
        cfg = current_app.config
        wait = min(cfg["MAIL_RETRY_BACKOFF"] * 2 ** (mail.attempts - 1), cfg["MAIL_RETRY_MAX_INTERVAL"])
        _let_go(row_id, claim, next_attempt_at=utcnow() + wait, last_error=str(exc)[:500])
        return DeliveryReport(retrying=1)
    return _finish(row_id, claim, SENT)


def _finish(row_id: int, claim: str, status: str, error: str | None = None) -> DeliveryReport:
    error_kept = {"last_error": error[:500]} if error is not None else {}
    _let_go(row_id, claim, status=status, finished_at=utcnow(), message=None, **error_kept)
    return DeliveryReport(sent=1) if status == SENT else DeliveryReport(failed=1)


def _let_go(row_id: int, claim: str, **values) -> None:
    """Change a row this deliverer still holds (a lapsed claim is not ours), giving up the claim."""
    db.session.execute(
        update(OutgoingMail).where(OutgoingMail.id == row_id, OutgoingMail.claim_token == claim)
        .values(claimed_until=None, claim_token=None, **values)
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
