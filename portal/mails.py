"""The portal's mails in words: for each kind of mail the services queue (``outbox.queue_mail``), its
subject and its templates (``templates/email/<kind>.txt`` and ``.html``), and the message they make
from the facts the outbox kept; and when the app process hands its outbox to the mail server.

Services queue what happened, in facts of no language (a time as ISO 8601 text, a length in
seconds, an audit action by its key); the words are chosen here, when the outbox delivers the mail,
in the language and time zone it was queued for. Every message says who sends it and in which
language: the display name of MAIL_FROM as the catalogue translates it (the default, "Account
portal", is the site's name on every page) and a ``Content-Language`` header.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from types import SimpleNamespace

from flask import Flask, current_app, g, has_request_context, render_template
from flask_babel import force_locale, get_locale, gettext
from flask_babel import lazy_gettext as _l

from .services.audit import ACTIONS
from .services.mail import courier, outbox
from .services.signing_in.securing import DOORS

# In ``g``: a transaction of this app context committed mail; True when it answered a request.
COMMITTED_KEY = "portal_mail_committed"


def _moment(iso: str) -> datetime:
    return datetime.fromisoformat(iso)


def _sign_in(told: dict | None) -> SimpleNamespace | None:
    """A sign-in as a mail tells it (``SignInAlert.told``), read as the alert it was: what the
    ``sign_in_source`` filter and the templates read."""
    return SimpleNamespace(**{**told, "created_at": _moment(told["created_at"])}) if told else None


def _as_told(facts: dict) -> dict:
    return facts


@dataclass(frozen=True)
class MailKind:
    """One kind of mail: its subject (translatable) and how its templates read the facts queued."""

    subject: str
    read: Callable[[dict], dict] = _as_told


KINDS = {
    # A code is in the body only: subjects end up in mail logs.
    "verify_email": MailKind(_l("Your verification code")),
    "sign_in_code": MailKind(_l("Your sign-in code")),
    "password_reset": MailKind(_l("Reset your password")),
    "email_changed": MailKind(_l("Your email address was changed")),
    "account_changed_by_staff": MailKind(_l("Your account was changed")),
    "security_changed": MailKind(
        _l("A change to how you sign in"),
        lambda facts: {**facts, "what": ACTIONS.get(facts["what"], facts["what"]), "when": _moment(facts["when"])},
    ),
    "second_step_failures": MailKind(
        _l("Wrong codes were entered for your account"), lambda facts: {**facts, "when": _moment(facts["when"])}
    ),
    "new_sign_in": MailKind(
        _l("A new sign-in to your account"),
        lambda facts: {
            **facts, "alert": _sign_in(facts["alert"]),
            "link_ttl": timedelta(seconds=facts["link_ttl_seconds"]),
            "window": timedelta(seconds=facts["window_seconds"]),
        },
    ),
    "account_secured": MailKind(
        _l("Your account was secured"),
        lambda facts: {
            **facts, "how": DOORS[facts["how"]], "when": _moment(facts["when"]),
            "not_recognised": _sign_in(facts["not_recognised"]),
        },
    ),
    "sign_in_lockout": MailKind(
        _l("Someone is trying to sign in to your account"),
        lambda facts: {**facts, "lockout": timedelta(seconds=facts["lockout_seconds"])},
    ),
}


def subject(kind: str, language: str) -> str:
    """The subject of a mail of ``kind`` in ``language``; KeyError for a kind there is no mail for."""
    with force_locale(language):
        return str(KINDS[kind].subject)


def compose(mail: outbox.QueuedMail) -> EmailMessage:
    """The message a queued mail makes: its kind's templates read its facts, in its language, its
    times in its reader's time zone (``{{ at | when(time_zone) }}``)."""
    kind = KINDS[mail.kind]
    with force_locale(mail.language):
        title = str(kind.subject)
        message = EmailMessage()
        message["Subject"] = title
        message["From"] = sender()
        message["To"] = mail.to
        message["Date"] = format_datetime(_moment(mail.queued_at).replace(tzinfo=UTC))
        message["Message-ID"] = mail.message_id
        context = {"subject": title, "time_zone": mail.time_zone, **kind.read(mail.facts)}
        message.set_content(render_template(f"email/{mail.kind}.txt", **context))
        message.add_alternative(render_template(f"email/{mail.kind}.html", **context), subtype="html")
        # After the parts: setting content clears (and turning multipart moves) a message's Content-* headers.
        message["Content-Language"] = language()
    return message


def sender() -> Address:
    """MAIL_FROM with its display name in the current language: "پورتال حساب" in a Persian mail.

    A name the catalogue does not know (an operator's own brand) is kept as written. A non-ASCII
    name goes out encoded (RFC 2047) by the message's policy.
    """
    name, address = parseaddr(current_app.config["MAIL_FROM"])
    return Address(display_name=gettext(name) if name else "", addr_spec=address)


def language() -> str:
    """The language the message is written in, as a language tag (``fa``, ``en``) for Content-Language."""
    return str(get_locale() or "en").replace("_", "-")


COMPOSER = SimpleNamespace(subject=subject, compose=compose)  # what ``outbox.Composer`` asks for


def register(app: Flask) -> None:
    """Compose the app's mails here; and, unless a separate worker delivers them (MAIL_DELIVERY =
    "worker"), deliver them from this process once the work that committed them is done.

    Registered before the database extension, so this teardown runs after the request's database
    session is closed: the courier's thread never shares the request's connection.
    """
    app.extensions[outbox.COMPOSER_KEY] = COMPOSER
    if app.config["MAIL_DELIVERY"] != "app":
        return
    the_courier = app.extensions[courier.COURIER_KEY] = courier.Courier(app)

    def mail_committed() -> None:
        # Inside the session's commit event: noted only, and delivered when the app context ends.
        g.setdefault(COMMITTED_KEY, has_request_context())

    def deliver_committed(_exc=None) -> None:
        if COMMITTED_KEY not in g:
            return
        if g.pop(COMMITTED_KEY):
            the_courier.wake()  # a request: its answer never waits for the mail server
        else:
            the_courier.deliver_here()  # a command or a task after the answer: before it ends

    app.extensions[outbox.COMMITTED_HOOK] = mail_committed
    app.teardown_appcontext(deliver_committed)
