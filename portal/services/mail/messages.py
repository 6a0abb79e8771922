"""Handing a written message to the mail server, for the outbox (services never do it themselves).

Two transports, chosen by MAIL_TRANSPORT: ``smtp`` (a real SMTP conversation, STARTTLS or TLS,
optional login) and ``files`` for development (the message on the console and one RFC 5322
``.eml`` file per message in MAIL_OUTBOX_DIR).
"""

import logging
import secrets
import smtplib
import ssl
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

from flask import current_app

from ..errors import DeliveryFailed

log = logging.getLogger(__name__)


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
