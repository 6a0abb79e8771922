"""Handing a message over: a real SMTP conversation (plain, login, STARTTLS), its failures, and the
development transport that writes files. (What is queued and when it goes: test_outbox.py.)"""

import logging
import re
import ssl
from email import policy
from email.parser import BytesParser
from email.utils import parsedate_to_datetime
from pathlib import Path
from types import SimpleNamespace

import pytest
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from portal import mails
from portal.services.errors import DeliveryFailed
from portal.services.mail import messages, outbox
from tests.conftest import Mailbox, SmtpHandler, free_port


def send_code_mail(app, to="alice@example.com", code="123456"):
    """Compose a code mail and hand it to the configured transport at once (no outbox)."""
    with app.app_context():
        addressee = SimpleNamespace(email=to, language=None, time_zone=None)
        mail = outbox.mail_for(addressee, "verify_email", code=code, email=to, name="Alice", minutes=10)
        message = mails.compose(mail)
        messages.deliver(message)
        return message


class RecordingMailbox(Mailbox):
    """A mailbox that also notes whether each message came over TLS and after which login."""

    def __init__(self):
        super().__init__()
        self.sessions = []


class RecordingHandler(SmtpHandler):
    async def handle_DATA(self, server, session, envelope):
        self.box.sessions.append({"tls": session.ssl is not None, "authenticated": session.authenticated})
        return await super().handle_DATA(server, session, envelope)


@pytest.fixture
def smtp_server():
    """Start an aiosmtpd Controller with the given options; stopped after the test."""
    started = []

    def start(box, **options):
        controller = Controller(RecordingHandler(box), hostname="127.0.0.1", port=free_port(), **options)
        controller.start()
        started.append(controller)
        return controller

    yield start
    for controller in started:
        controller.stop()


def point_app_at(app, controller, **settings):
    app.config.update(MAIL_TRANSPORT="smtp", MAIL_SERVER="127.0.0.1", MAIL_PORT=controller.port, **settings)


# SMTP -------------------------------------------------------------------------------------------


def test_smtp_delivers_one_message_with_from_to_subject_date_and_message_id_headers(app, mailbox):
    sent = send_code_mail(app, to="alice@example.com")

    assert len(mailbox.messages) == 1
    received = mailbox.messages[0]
    assert received["From"] == app.config["MAIL_FROM"]
    assert received["To"] == "alice@example.com"
    assert received["Subject"] == "Your verification code"
    assert parsedate_to_datetime(received["Date"]).tzinfo is not None
    assert re.fullmatch(r"<[^<>@\s]+@localhost>", received["Message-ID"])
    assert received["Message-ID"] == sent["Message-ID"]
    envelope = mailbox.envelopes[0]
    assert envelope.mail_from == "no-reply@localhost"
    assert envelope.rcpt_tos == ["alice@example.com"]


def test_smtp_message_has_a_plain_text_and_an_html_part_with_the_same_content(app, mailbox):
    send_code_mail(app, to="alice@example.com", code="654321")

    received = mailbox.messages[0]
    assert received.get_content_type() == "multipart/alternative"
    types = [part.get_content_type() for part in received.iter_parts()]
    assert types == ["text/plain", "text/html"]
    plain = received.get_body(("plain",)).get_content()
    html = received.get_body(("html",)).get_content()
    assert "654321" in plain and "alice@example.com" in plain and "10 minutes" in plain
    assert "654321" in html and "<" in html
    assert mailbox.code_for("alice@example.com") == "654321"


def test_smtp_logs_in_with_mail_username_and_password(app, smtp_server):
    logins = []

    def authenticator(server, session, envelope, mechanism, auth_data):
        logins.append((mechanism, auth_data))
        ok = isinstance(auth_data, LoginPassword) and auth_data == (b"mailer", b"s3cret-pass")
        return AuthResult(success=ok, handled=False)

    box = RecordingMailbox()
    controller = smtp_server(box, authenticator=authenticator, auth_require_tls=False)
    point_app_at(app, controller, MAIL_USERNAME="mailer", MAIL_PASSWORD="s3cret-pass")

    send_code_mail(app, to="alice@example.com")

    assert len(logins) == 1
    assert logins[0][1] == LoginPassword(b"mailer", b"s3cret-pass")
    assert [m["To"] for m in box.messages] == ["alice@example.com"]
    assert box.sessions == [{"tls": False, "authenticated": True}]


def test_smtp_login_refused_by_the_server_raises_delivery_failed_and_nothing_is_delivered(
    app, smtp_server, caplog
):
    box = RecordingMailbox()
    controller = smtp_server(
        box, authenticator=lambda *args: AuthResult(success=False, handled=False), auth_require_tls=False
    )
    point_app_at(app, controller, MAIL_USERNAME="mailer", MAIL_PASSWORD="wrong")

    with caplog.at_level(logging.WARNING, logger="portal.services.mail.messages"):
        with pytest.raises(DeliveryFailed):
            send_code_mail(app)

    assert box.messages == []
    assert any(r.levelno == logging.WARNING and r.name == "portal.services.mail.messages" for r in caplog.records)
    assert "wrong" not in caplog.text  # the password is never logged


@pytest.fixture
def tls_server(tmp_path, smtp_server):
    """A server that demands STARTTLS, with a certificate for 127.0.0.1 from a private CA."""
    ca = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_context)
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    box = RecordingMailbox()
    controller = smtp_server(box, tls_context=server_context, require_starttls=True)
    return controller, box, ca_file


def test_smtp_starttls_verifies_the_server_against_mail_ca_file_and_delivers_encrypted(app, tls_server):
    controller, box, ca_file = tls_server
    point_app_at(app, controller, MAIL_USE_TLS=True, MAIL_CA_FILE=str(ca_file))

    send_code_mail(app, to="alice@example.com")

    assert [m["To"] for m in box.messages] == ["alice@example.com"]
    assert len(box.sessions) == 1
    assert box.sessions[0]["tls"] is True and not box.sessions[0]["authenticated"]


def test_smtp_starttls_against_an_untrusted_certificate_raises_delivery_failed(app, tls_server, caplog):
    controller, box, _ = tls_server
    point_app_at(app, controller, MAIL_USE_TLS=True, MAIL_CA_FILE=None)

    with caplog.at_level(logging.WARNING, logger="portal.services.mail.messages"):
        with pytest.raises(DeliveryFailed):
            send_code_mail(app)

    assert box.messages == []
    assert "certificate" in caplog.text.lower()


def test_smtp_without_starttls_to_a_server_that_requires_it_raises_delivery_failed(app, tls_server):
    controller, box, ca_file = tls_server
    point_app_at(app, controller, MAIL_USE_TLS=False, MAIL_CA_FILE=str(ca_file))

    with pytest.raises(DeliveryFailed):
        send_code_mail(app)

    assert box.messages == []


def test_smtp_server_down_raises_delivery_failed_and_logs_a_warning(app, caplog):
    app.config.update(MAIL_TRANSPORT="smtp", MAIL_SERVER="127.0.0.1", MAIL_PORT=free_port(), MAIL_TIMEOUT=2)

    with caplog.at_level(logging.WARNING, logger="portal.services.mail.messages"):
        with pytest.raises(DeliveryFailed) as raised:
            send_code_mail(app, to="alice@example.com")

    assert "refused" in str(raised.value).lower()
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING and r.name == "portal.services.mail.messages"]
    assert len(warnings) == 1
    assert "alice@example.com" in warnings[0].getMessage()


# Files (the development transport) --------------------------------------------------------------


def outbox_files(app) -> list[Path]:
    folder = Path(app.config["MAIL_OUTBOX_DIR"])
    return sorted(folder.glob("*.eml")) if folder.is_dir() else []


def test_files_is_the_test_default_and_writes_one_eml_file_per_message(app, tmp_path):
    assert app.config["MAIL_TRANSPORT"] == "files"
    assert Path(app.config["MAIL_OUTBOX_DIR"]).is_relative_to(tmp_path)

    send_code_mail(app, to="alice@example.com", code="111111")
    send_code_mail(app, to="bob@example.com", code="222222")

    files = outbox_files(app)
    assert len(files) == 2
    recipients = sorted(BytesParser(policy=policy.default).parsebytes(f.read_bytes())["To"] for f in files)
    assert recipients == ["alice@example.com", "bob@example.com"]


def test_the_eml_file_parses_as_rfc5322_with_headers_and_both_parts(app):
    sent = send_code_mail(app, to="alice@example.com", code="314159")

    [path] = outbox_files(app)
    message = BytesParser(policy=policy.default).parsebytes(path.read_bytes())
    assert message.defects == []
    assert message["To"] == "alice@example.com"
    assert message["From"] == app.config["MAIL_FROM"]
    assert message["Subject"] == "Your verification code"
    assert message["Message-ID"] == sent["Message-ID"]
    assert parsedate_to_datetime(message["Date"]).tzinfo is not None
    assert [p.get_content_type() for p in message.iter_parts()] == ["text/plain", "text/html"]
    assert "314159" in message.get_body(("plain",)).get_content()
    assert "314159" in message.get_body(("html",)).get_content()


def test_the_files_transport_prints_the_message_to_stdout(app, capsys):
    send_code_mail(app, to="alice@example.com", code="271828")

    out = capsys.readouterr().out
    assert "alice@example.com" in out
    assert "Your verification code" in out
    assert "271828" in out
    assert str(outbox_files(app)[0]) in out


def test_the_earlier_name_of_the_files_transport_still_works(make_app):
    assert make_app(MAIL_TRANSPORT="outbox").config["MAIL_TRANSPORT"] == "files"
