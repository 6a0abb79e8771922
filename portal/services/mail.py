"""Sending mail: a plain-text and an HTML part rendered from ``templates/email/``.

Two transports, chosen by MAIL_TRANSPORT: ``smtp`` (a real SMTP conversation, STARTTLS or TLS,
optional login) and ``outbox`` for development (the message on the console and one RFC 5322
``.eml`` file per message in MAIL_OUTBOX_DIR).
"""

import logging
import secrets
import smtplib
import ssl
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path

from flask import current_app, render_template

from .errors import DeliveryFailed

log = logging.getLogger(__name__)


def send_mail(to: str, subject: str, template: str, **context) -> EmailMessage:
    """Render ``email/<template>.txt`` and ``.html`` and deliver them to ``to``.

    Raises DeliveryFailed (after logging why) when the message could not be handed over.
    """
    cfg = current_app.config
    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = cfg["MAIL_FROM"]
    message["To"] = to
    message["Date"] = format_datetime(datetime.now(UTC))
    message["Message-ID"] = make_msgid(domain=cfg["MAIL_FROM"].rpartition("@")[2].strip(">") or None)
    context = {"subject": subject, **context}
    message.set_content(render_template(f"email/{template}.txt", **context))
    message.add_alternative(render_template(f"email/{template}.html", **context), subtype="html")
    transport = _smtp if cfg["MAIL_TRANSPORT"] == "smtp" else _outbox
    try:
        transport(message)
    except (OSError, smtplib.SMTPException) as exc:
        # The recipient may be personal data, but operators need it to answer "where is my mail".
        log.error("Mail %r to %s could not be sent: %s", subject, to, exc)
        raise DeliveryFailed("The email could not be sent. Please try again in a few minutes.") from exc
    log.info("Mail %r sent to %s", subject, to)
    return message


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


def _outbox(message: EmailMessage) -> None:
    folder = Path(current_app.config["MAIL_OUTBOX_DIR"])
    folder.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
    path = folder / f"{stamp}-{secrets.token_hex(4)}.eml"
    path.write_bytes(bytes(message))
    body = message.get_body(("plain",)).get_content()
    print(f"--- mail to {message['To']}: {message['Subject']} ({path})\n{body}--- end of mail", flush=True)
