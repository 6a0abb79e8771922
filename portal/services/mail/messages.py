"""Mail messages: composing one (a plain-text and an HTML part rendered from ``templates/email/``) and
handing one to the mail server.

Services never hand a message over themselves: they put it in the outbox (``outbox.queue_mail``),
which delivers it through ``deliver`` once the change it reports has committed.

Every message says who sends it and in which language, in the language it is written in (the one
``outbox.queue_mail`` puts it in): the display name of MAIL_FROM as the catalogue translates it (the
default, "Account portal", is the site's name on every page) and a ``Content-Language`` header.

Two transports, chosen by MAIL_TRANSPORT: ``smtp`` (a real SMTP conversation, STARTTLS or TLS,
optional login) and ``files`` for development (the message on the console and one RFC 5322
``.eml`` file per message in MAIL_OUTBOX_DIR).
"""

import logging
import secrets
import smtplib
import ssl
from datetime import UTC, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr
from pathlib import Path

from flask import current_app, render_template
from flask_babel import get_locale, gettext

from ... import clock
from ..errors import DeliveryFailed

log = logging.getLogger(__name__)


def compose(to: str, subject: str, template: str, **context) -> EmailMessage:
    """The message ``email/<template>.txt`` and ``.html`` make for ``to``, with its headers.

    Its Message-ID is fixed here, so a message delivered twice (a deliverer that died between
    handing it over and noting so) is recognisably one message.
    """
    cfg = current_app.config
    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = sender()
    message["To"] = to
    message["Date"] = format_datetime(clock.now())
    message["Message-ID"] = make_msgid(domain=cfg["MAIL_FROM"].rpartition("@")[2].strip(">") or None)
    context = {"subject": subject, **context}
    message.set_content(render_template(f"email/{template}.txt", **context))
    message.add_alternative(render_template(f"email/{template}.html", **context), subtype="html")
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


def deliver(message: EmailMessage) -> None:
    """Hand ``message`` to the configured transport; DeliveryFailed (after logging why) if it was not taken."""
    transport = _smtp if current_app.config["MAIL_TRANSPORT"] == "smtp" else _files
    try:
        transport(message)
    except (OSError, smtplib.SMTPException) as exc:
        # The recipient may be personal data, but operators need it to answer "where is my mail".
        log.warning("Mail %r to %s not taken by the mail server: %s", message["Subject"], message["To"], exc)
        raise DeliveryFailed(str(exc) or type(exc).__name__) from exc
    log.info("Mail %r sent to %s", message["Subject"], message["To"])


def _smtp(message: EmailMessage) -> None:
    cfg = current_app.config
    host, port, timeout = cfg["MAIL_SERVER"], int(cfg["MAIL_PORT"]), cfg["MAIL_TIMEOUT"]
    context = ssl.create_default_context(cafile=cfg["MAIL_CA_FILE"])
    if cfg["MAIL_USE_SSL"]:
        connection = smtplib.SMTP_SSL(host, port, timeout=timeout, context=context)
    else:
        connection = smtplib.SMTP(host, port, timeout=timeout)
    with connection as smtp:
        if cfg["MAIL_USE_TLS"] and not cfg["MAIL_USE_SSL"]:
            smtp.starttls(context=context)
        if cfg["MAIL_USERNAME"]:
            smtp.login(cfg["MAIL_USERNAME"], cfg["MAIL_PASSWORD"] or "")
        smtp.send_message(message)


def _files(message: EmailMessage) -> None:
    folder = Path(current_app.config["MAIL_OUTBOX_DIR"])
    folder.mkdir(parents=True, exist_ok=True)
    # The system time, not the portal's clock: the name only orders the files as they were written.
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
    path = folder / f"{stamp}-{secrets.token_hex(4)}.eml"
    path.write_bytes(bytes(message))
    body = message.get_body(("plain",)).get_content()
    print(f"--- mail to {message['To']}: {message['Subject']} ({path})\n{body}--- end of mail", flush=True)
