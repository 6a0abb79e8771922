"""The mail outbox: a message is kept with the change it reports, goes out after the commit and only
then, survives a mail server that is down and a deliverer that dies, and is never sent twice by two
deliverers racing for it. Every message goes to a real SMTP server on loopback (aiosmtpd).
"""

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from datetime import UTC, timedelta
from email.message import EmailMessage
from email.utils import parsedate_to_datetime
from types import SimpleNamespace

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select

from portal.extensions import db
from portal.models import OutgoingMail, User, utcnow
from portal.services.mail import courier, outbox
from portal.services.mail.courier import courier_of
from portal.services.plumbing.secret_box import open_sealed, seal
from tests.conftest import Mailbox, SmtpHandler, free_port, fresh_app, shared_database

REGISTER, VERIFY = "/api/v1/accounts/users/", "/api/v1/accounts/users/verify-otp/"
SIGN_UP = {
    "email": "newcomer@example.com", "password": "securepassword123", "confirm_password": "securepassword123",
    "first_name": "John", "last_name": "Doe",
}
QUICK_RETRIES = {
    "MAIL_RETRY_BACKOFF": timedelta(seconds=0.2), "MAIL_RETRY_MAX_INTERVAL": timedelta(seconds=0.4),
    "MAIL_POLL_INTERVAL": timedelta(seconds=0.2), "MAIL_TIMEOUT": 2,
}


class SmtpServer:
    """A real SMTP server on a fixed loopback port, which can be down and come back on that port."""

    def __init__(self, handler_class=SmtpHandler):
        self.port = free_port()
        self.box = Mailbox()
        self.handler_class = handler_class
        self.controller = None

    def start(self) -> "SmtpServer":
        self.controller = Controller(self.handler_class(self.box), hostname="127.0.0.1", port=self.port)
        self.controller.start()
        return self

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    def settings(self) -> dict:
        return {"MAIL_TRANSPORT": "smtp", "MAIL_SERVER": "127.0.0.1", "MAIL_PORT": self.port}

    def received(self, timeout: float = 0) -> list:
        """The messages delivered, waiting up to ``timeout`` seconds for the first."""
        deadline = time.monotonic() + timeout
        while not self.box._messages and time.monotonic() < deadline:
            time.sleep(0.05)
        return list(self.box._messages)


@pytest.fixture
def smtp():
    server = SmtpServer()
    yield server
    server.stop()


@pytest.fixture
def make_portal(tmp_path):
    """Apps on a database threads and processes share, mailing through ``smtp``; torn down after."""
    made = []

    def make(smtp_server, **overrides):
        folder = tmp_path / f"app{len(made)}"
        generator = fresh_app(folder, **shared_database(tmp_path), **smtp_server.settings(), **overrides)
        made.append(generator)
        return next(generator)

    yield make
    for generator in made:
        next(generator, None)


def addressee(email: str) -> SimpleNamespace:
    """Whom a mail is for, as the outbox reads a person: an address, no language or time zone chosen."""
    return SimpleNamespace(email=email, language=None, time_zone=None)


def rows(app) -> list[OutgoingMail]:
    with app.app_context():
        found = db.session.scalars(select(OutgoingMail).order_by(OutgoingMail.id)).all()
        db.session.expunge_all()
        return found


def queue(app, to="alice@example.com", code="123456", commit=True) -> None:
    with app.app_context():
        outbox.queue_mail(addressee(to), "verify_email",
                          code=code, email=to, name=None, minutes=10)
        if commit:
            db.session.commit()


# After the commit, and only then ------------------------------------------------------------------


@pytest.mark.parametrize("end", ["rollback", "close"])
def test_mail_queued_in_a_transaction_that_does_not_commit_is_never_sent(make_portal, smtp, end):
    app = make_portal(smtp.start())
    with app.app_context():
        outbox.queue_mail(addressee("alice@example.com"), "verify_email",
                          code="123456", email="alice@example.com", name=None, minutes=10)
        db.session.flush()
        getattr(db.session, end)()

    assert rows(app) == []
    courier_of(app).settle()
    assert smtp.received(timeout=0.3) == []


def test_mail_goes_out_once_its_transaction_commits_and_not_before(make_portal, smtp):
    app = make_portal(smtp.start())
    with app.app_context():
        outbox.queue_mail(addressee("alice@example.com"), "verify_email",
                          code="654321", email="alice@example.com", name=None, minutes=10)
        db.session.flush()
        courier_of(app).settle()
        assert smtp.received() == []  # written, not yet committed: nothing went
        db.session.commit()

    [message] = smtp.received(timeout=5)
    assert message["To"] == "alice@example.com" and "654321" in message.get_body(("plain",)).get_content()
    [row] = rows(app)
    assert row.status == outbox.SENT and row.attempts == 1 and row.finished_at is not None


def test_a_queued_message_is_sealed_at_rest_and_erased_once_sent(make_portal, smtp):
    app = make_portal(smtp.start(), MAIL_DELIVERY="worker")
    queue(app, code="271828")

    [waiting] = rows(app)
    assert waiting.status == outbox.PENDING
    assert b"271828" not in waiting.message and b"alice@example.com" not in waiting.message
    with app.app_context():
        assert courier.deliver_due() == outbox.DeliveryReport(sent=1)

    [sent] = rows(app)
    assert sent.status == outbox.SENT and sent.message is None
    assert "271828" in smtp.received()[0].get_body(("plain",)).get_content()


def test_the_app_tells_its_courier_to_wake_after_a_request_and_to_deliver_right_there_after_other_work(
    make_portal, smtp, monkeypatch
):
    """The courier knows nothing of requests: the app's hook (``portal.mails``) tells it which to do."""
    app = make_portal(smtp.start())
    courier = courier_of(app)
    told = []
    monkeypatch.setattr(courier, "wake", lambda: told.append("wake"))
    monkeypatch.setattr(courier, "deliver_here", lambda: told.append("deliver_here"))

    assert app.test_client().post(REGISTER, json=SIGN_UP).status_code == 201
    assert told == ["wake"]  # after the answer, on the courier's thread
    queue(app, to="bob@example.com")
    assert told == ["wake", "deliver_here"]  # a command's mail goes before it ends
    with app.app_context():
        db.session.commit()  # nothing queued: nothing to tell
    assert told == ["wake", "deliver_here"]


# Facts kept, words written when delivered -------------------------------------------------------


def test_a_mail_is_kept_as_facts_and_written_when_delivered_in_the_language_and_time_zone_queued_for(
    make_portal, smtp
):
    app = make_portal(smtp.start(), MAIL_DELIVERY="worker")
    when = utcnow().replace(microsecond=0)
    with app.app_context():
        reader = SimpleNamespace(email="sara@example.com", language="fa", time_zone="Asia/Tehran")
        outbox.queue_mail(reader, "second_step_failures", name="سارا", num=5, budget=10, when=when.isoformat(),
                          reset_url="https://portal.example/password/forgot")
        db.session.commit()

    [waiting] = rows(app)
    with app.app_context():
        kept = json.loads(open_sealed(waiting.message, outbox.SEALED_FOR))
        assert courier.deliver_due() == outbox.DeliveryReport(sent=1)
    assert kept["kind"] == "second_step_failures" and kept["facts"]["when"] == when.isoformat()
    assert waiting.subject == "کدهای نادرستی برای حساب شما وارد شده است"  # for staff, in the mail's language

    [message] = smtp.received()
    assert message["Subject"] == waiting.subject and message["Content-Language"] == "fa"
    assert message["Message-ID"] == kept["message_id"]  # fixed when queued: every try is one message
    assert parsedate_to_datetime(message["Date"]) == when.replace(tzinfo=UTC)
    plain = message.get_body(("plain",)).get_content()
    assert "سارا" in plain and "تهران" in plain and "۵" in plain


def test_a_message_queued_before_mails_were_written_on_delivery_is_delivered_as_it_was_written(make_portal, smtp):
    """A row an earlier release wrote holds the sealed message itself: a deploy must not lose it."""
    app = make_portal(smtp.start(), MAIL_DELIVERY="worker")
    written = EmailMessage()
    written["Subject"] = "Your verification code"
    written["From"] = "Account portal <no-reply@localhost>"
    written["To"] = "alice@example.com"
    written["Message-ID"] = "<earlier-release@localhost>"
    written.set_content("Your verification code is:\n\n    424242\n")
    written.add_alternative("<p>Your verification code is: <strong>424242</strong></p>", subtype="html")
    written["Content-Language"] = "en"
    with app.app_context():
        db.session.add(OutgoingMail(
            recipient="alice@example.com", subject="Your verification code",
            message=seal(bytes(written), outbox.SEALED_FOR), status=outbox.PENDING,
            created_at=utcnow(), next_attempt_at=utcnow(), attempts=0,
        ))
        db.session.commit()
        assert courier.deliver_due() == outbox.DeliveryReport(sent=1)

    [message] = smtp.received()
    assert message["Message-ID"] == "<earlier-release@localhost>"
    assert message.get_body(("plain",)).get_content().splitlines() == ["Your verification code is:", "", "    424242"]
    assert smtp.box.code_for("alice@example.com") == "424242"
    assert [row.status for row in rows(app)] == [outbox.SENT]


def test_a_mail_of_no_known_kind_or_with_facts_that_are_not_json_is_refused_when_queued(make_portal, smtp):
    app = make_portal(smtp.start(), MAIL_DELIVERY="worker")
    with app.app_context():
        with pytest.raises(KeyError):
            outbox.queue_mail(addressee("alice@example.com"), "no_such_mail", name=None)
        with pytest.raises(TypeError):
            outbox.queue_mail(addressee("alice@example.com"), "second_step_failures", name=None, num=5,
                              budget=10, when=utcnow(), reset_url="https://portal.example/")
        db.session.rollback()

    assert rows(app) == []


def test_a_kept_mail_this_release_cannot_write_is_given_up_at_once_and_logged(make_portal, smtp, caplog):
    app = make_portal(smtp.start(), MAIL_DELIVERY="worker")
    queue(app)
    with app.app_context():
        row = db.session.scalars(select(OutgoingMail)).one()
        kept = json.loads(open_sealed(row.message, outbox.SEALED_FOR))
        row.message = seal(json.dumps({**kept, "kind": "a_kind_since_removed"}).encode(), outbox.SEALED_FOR)
        db.session.commit()
        with caplog.at_level(logging.ERROR, logger="portal.services.mail.outbox"):
            assert courier.deliver_due() == outbox.DeliveryReport(failed=1)

    [given_up] = rows(app)
    assert given_up.status == outbox.FAILED and "cannot be composed" in given_up.last_error
    assert "cannot be composed" in caplog.text and smtp.received(timeout=0.3) == []


# A mail server that is down ----------------------------------------------------------------------


def test_sign_up_while_the_mail_server_is_down_keeps_the_account_and_the_code_arrives_when_it_is_back(
    make_portal, smtp, caplog
):
    app = make_portal(smtp, **QUICK_RETRIES)  # the server is not started: the port refuses
    client = app.test_client()

    with caplog.at_level(logging.WARNING, logger="portal.services.mail.messages"):
        answer = client.post(REGISTER, json=SIGN_UP)

    assert answer.status_code == 201, answer.get_json()
    assert answer.get_json()["msg"] == "Email sent successfully!"
    with app.app_context():
        assert db.session.scalars(select(User.email)).all() == ["newcomer@example.com"]
    [waiting] = rows(app)
    assert waiting.status == outbox.PENDING and waiting.attempts >= 1 and "refused" in waiting.last_error.lower()

    smtp.start()  # the mail server is back, on the same port; nobody does anything else

    [message] = smtp.received(timeout=10)
    assert message["To"] == "newcomer@example.com"
    code = smtp.box.code_for("newcomer@example.com")
    assert client.post(VERIFY, json={"email": "newcomer@example.com", "otp": code}).status_code == 200
    courier_of(app).settle()
    assert [row.status for row in rows(app)] == [outbox.SENT]


class RefusingHandler(SmtpHandler):
    async def handle_DATA(self, server, session, envelope):
        return "554 5.7.1 Message refused"


def test_a_refused_message_is_retried_with_growing_waits_then_given_up_logged_and_listed(make_portal, caplog):
    refusing = SmtpServer(RefusingHandler).start()
    try:
        app = make_portal(refusing, MAIL_DELIVERY="worker", MAIL_RETRY_BACKOFF=timedelta(seconds=30),
                          MAIL_RETRY_MAX_INTERVAL=timedelta(seconds=90), MAIL_GIVE_UP_AFTER=timedelta(hours=1))
        queue(app)
        waits = []
        with app.app_context():
            for _ in range(3):
                started = utcnow()
                assert courier.deliver_due() == outbox.DeliveryReport(retrying=1)
                assert courier.deliver_due() == outbox.DeliveryReport()  # not due again yet
                row = db.session.scalars(select(OutgoingMail)).one()
                waits.append(round((row.next_attempt_at - started).total_seconds()))
                row.next_attempt_at = utcnow()  # time passes
                db.session.commit()
            assert waits == [30, 60, 90]  # doubling, up to the maximum
            assert "554" in row.last_error

            row.created_at = utcnow() - timedelta(hours=2)  # queued longer ago than MAIL_GIVE_UP_AFTER
            db.session.commit()
            with caplog.at_level(logging.ERROR, logger="portal.services.mail.outbox"):
                assert courier.deliver_due() == outbox.DeliveryReport(failed=1)
            given_up = outbox.overview()
    finally:
        refusing.stop()

    assert given_up.counts == {"pending": 0, "failed": 1, "sent": 0}
    [listed] = given_up.undelivered
    assert listed.recipient == "alice@example.com" and listed.attempts == 4 and listed.message is None
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and "alice@example.com" in errors[0] and "given up after 4 attempts" in errors[0]
    assert refusing.box._messages == []


def test_finished_messages_are_purged_after_they_have_been_kept_long_enough(make_portal, smtp):
    app = make_portal(smtp.start(), MAIL_DELIVERY="worker", MAIL_KEEP_FINISHED=timedelta(days=7))
    queue(app, to="old@example.com")
    queue(app, to="new@example.com")
    with app.app_context():
        courier.deliver_due()
        old = db.session.scalars(select(OutgoingMail).where(OutgoingMail.recipient == "old@example.com")).one()
        old.finished_at = utcnow() - timedelta(days=8)
        db.session.commit()
        courier.deliver_due()

    assert [row.recipient for row in rows(app)] == ["new@example.com"]


# Several deliverers ------------------------------------------------------------------------------


class SlowHandler(SmtpHandler):
    """Takes a moment per message, so deliverers overlap while one is handing a message over."""

    async def handle_DATA(self, server, session, envelope):
        time.sleep(0.02)
        return await super().handle_DATA(server, session, envelope)


def test_two_deliverers_racing_over_one_outbox_send_each_message_exactly_once(make_portal):
    slow = SmtpServer(SlowHandler).start()
    try:
        app = make_portal(slow, MAIL_DELIVERY="worker")
        for n in range(20):
            queue(app, to=f"person{n}@example.com", code=f"{n:06d}")
        barrier, reports = threading.Barrier(3), []

        def deliverer():
            with app.app_context():
                barrier.wait()
                reports.append(courier.deliver_due())

        threads = [threading.Thread(target=deliverer) for _ in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        delivered = slow.received()
    finally:
        slow.stop()

    recipients = sorted(message["To"] for message in delivered)
    assert recipients == sorted(f"person{n}@example.com" for n in range(20))  # each once, none twice
    assert sum(report.sent for report in reports) == 20
    assert all(row.status == outbox.SENT and row.attempts == 1 for row in rows(app))


def test_the_deliver_mail_command_drains_what_a_separate_worker_is_left(make_portal, smtp):
    app = make_portal(smtp.start(), MAIL_DELIVERY="worker")
    assert app.test_client().post(REGISTER, json=SIGN_UP).status_code == 201
    assert courier_of(app) is None and smtp.received(timeout=0.3) == []  # the app process sends nothing

    result = app.test_cli_runner().invoke(args=["deliver-mail"])

    assert result.exit_code == 0, result.output
    assert result.output.strip() == "sent 1, to retry 0, given up 0"
    assert [message["To"] for message in smtp.received()] == ["newcomer@example.com"]


# A deliverer that dies ---------------------------------------------------------------------------


def black_hole() -> socket.socket:
    """A port that accepts a connection and never says a word: a mail server that hangs."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    return listener


CHILD = textwrap.dedent(
    """
    import json, sys, time
    from portal import create_app
    settings = json.loads(sys.argv[1])
    app = create_app("testing", settings)
    client = app.test_client()
    answer = client.post("/api/v1/accounts/users/", json=json.loads(sys.argv[2]))
    print(answer.status_code, flush=True)
    time.sleep(60)  # the courier is stuck handing the code over; the parent kills this process
    """
)


def test_a_worker_killed_while_delivering_loses_no_message(make_portal, smtp, tmp_path):
    app = make_portal(smtp, MAIL_CLAIM_LEASE=timedelta(seconds=1))
    hanging = black_hole()
    settings = {
        "SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"],
        "MAIL_TRANSPORT": "smtp", "MAIL_SERVER": "127.0.0.1", "MAIL_PORT": hanging.getsockname()[1],
        "MAIL_TIMEOUT": 60, "MAIL_CLAIM_LEASE": 1, "MAIL_OUTBOX_DIR": str(tmp_path / "child-outbox"),
    }
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, json.dumps(settings), json.dumps(SIGN_UP)],
        stdout=subprocess.PIPE, text=True, cwd=os.getcwd(),
        env={**os.environ, "PYTHONPATH": os.getcwd()},
    )
    try:
        assert child.stdout.readline().strip() == "201"  # answered, committed
        deadline = time.monotonic() + 20
        while not (rows(app) and rows(app)[0].claim_token) and time.monotonic() < deadline:
            time.sleep(0.05)
        [claimed] = rows(app)
        assert claimed.status == outbox.PENDING and claimed.claim_token is not None  # mid-delivery
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=10)
        child.stdout.close()
        hanging.close()

    smtp.start()
    time.sleep(1.1)  # the dead worker's claim lapses
    result = app.test_cli_runner().invoke(args=["deliver-mail"])

    assert result.output.strip() == "sent 1, to retry 0, given up 0"
    [message] = smtp.received()
    assert message["To"] == "newcomer@example.com"
    [row] = rows(app)
    assert row.status == outbox.SENT and row.attempts == 2
