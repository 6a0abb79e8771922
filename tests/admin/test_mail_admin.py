"""Outgoing mail for staff: what waits, what was given up and why, and nothing of what a message said."""

import re
from datetime import timedelta
from types import SimpleNamespace

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.models import OutgoingMail, utcnow
from portal.services.mail import courier, outbox

from ..conftest import free_port, fresh_app
from .conftest import text


def visible(page) -> str:
    """The page's words as a person reads them: tags gone, white space folded."""
    return " ".join(re.sub(r"<[^>]+>", " ", text(page)).split())


@pytest.fixture
def app(tmp_path):
    """Only the test delivers the outbox here, as a separate mail worker would."""
    yield from fresh_app(tmp_path, MAIL_DELIVERY="worker")


def queue_code(app, to, code):
    with app.app_context():
        recipient = SimpleNamespace(email=to, language=None, time_zone=None)
        outbox.queue_mail(
            recipient, "verify_email", code=code, email=to, name=None, minutes=10
        )
        db.session.commit()


def test_staff_see_waiting_and_given_up_mail_with_the_last_error_and_never_its_content(app, people, signed_in):
    app.config.update(MAIL_TRANSPORT="smtp", MAIL_SERVER="127.0.0.1", MAIL_PORT=free_port())  # nobody listens
    queue_code(app, "waiting@example.com", "111111")
    queue_code(app, "lost@example.com", "222222")
    with app.app_context():
        lost = db.session.scalars(select(OutgoingMail).where(OutgoingMail.recipient == "lost@example.com")).one()
        lost.created_at = utcnow() - timedelta(days=2)  # older than MAIL_GIVE_UP_AFTER
        lost.next_attempt_at = utcnow()
        db.session.commit()
        courier.deliver_due()

    page = signed_in(people.staff).get("/admin/mail/")

    assert page.status_code == 200
    body = visible(page)
    assert "1 waiting 1 given up 0 sent" in body
    assert "waiting@example.com" in body and "lost@example.com" in body
    assert "given up" in body and "Connection refused" in body
    assert "111111" not in page.get_data(as_text=True) and "222222" not in page.get_data(as_text=True)


def test_an_empty_outbox_says_everything_was_delivered(app, people, signed_in):
    page = signed_in(people.staff).get("/admin/mail/")

    assert "0 waiting 0 given up 0 sent" in visible(page)
    assert "Everything written has been delivered." in visible(page)


def test_the_outbox_page_is_for_staff_only(app, people, signed_in):
    assert signed_in(people.member).get("/admin/mail/").status_code == 403
