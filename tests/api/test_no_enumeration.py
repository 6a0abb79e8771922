"""Requests that must not tell whether an address has an account answer before any look-up or mail.

Two gates: the SMTP server here holds every message until the test opens it, and the account
look-up of these requests waits for another. The answer arrives while each is still closed, so its
timing cannot depend on whether there was an account, or anything to send.
"""

import asyncio
import threading

import pytest
from aiosmtpd.controller import Controller
from flask.testing import FlaskClient

from portal.services.people import verification
from portal.services.plumbing.background import wait_for_background
from tests.conftest import Mailbox, SmtpHandler, free_port


class GatedHandler(SmtpHandler):
    def __init__(self, box, gate: threading.Event):
        super().__init__(box)
        self.gate = gate

    async def handle_DATA(self, server, session, envelope):
        await asyncio.get_running_loop().run_in_executor(None, self.gate.wait, 10)
        return await super().handle_DATA(server, session, envelope)


@pytest.fixture
def gated(app):
    box, gate = Mailbox(), threading.Event()
    controller = Controller(GatedHandler(box, gate), hostname="127.0.0.1", port=free_port())
    controller.start()
    app.config.update(MAIL_TRANSPORT="smtp", MAIL_SERVER="127.0.0.1", MAIL_PORT=controller.port)
    yield box, gate
    gate.set()
    wait_for_background()
    controller.stop()


# (path, how the body is sent, whether the account that gets mail has verified its address)
SENDERS = [
    ("/api/v1/accounts/users/resend-otp/", "json", False),
    ("/api/users/reset_password/", "json", False),
    ("/api/auth/code/", "json", True),  # a sign-in code
    ("/login/code", "data", True),  # the page's twin (CSRF is off for these test clients)
]


@pytest.mark.parametrize(("path", "body", "verified"), SENDERS)
def test_the_answer_does_not_wait_for_the_mail_to_an_existing_account(app, make_user, gated, path, body, verified):
    box, gate = gated
    make_user("pending@example.com", verified=verified)
    plain_client = FlaskClient(app, app.response_class)  # returns as soon as the answer is ready

    response = plain_client.post(path, **{body: {"email": "pending@example.com"}})

    assert response.status_code in (200, 204, 302)
    assert box._messages == []  # the answer came back while the mail was still held
    gate.set()
    wait_for_background()
    assert [m["To"] for m in box._messages] == ["pending@example.com"]


@pytest.fixture
def held_look_up(monkeypatch):
    """The senders' account look-up waits until the test opens a gate: (gate, looked_up)."""
    gate, looked_up = threading.Event(), threading.Event()
    look_up = verification.find_user

    def held(**names):
        gate.wait(5)
        found = look_up(**names)
        looked_up.set()
        return found

    monkeypatch.setattr(verification, "find_user", held)
    yield gate, looked_up
    gate.set()
    wait_for_background()


@pytest.mark.parametrize(("path", "body", "verified"), SENDERS)
def test_the_answer_does_not_wait_for_the_account_look_up(app, make_user, mailbox, held_look_up, path, body, verified):
    gate, looked_up = held_look_up
    make_user("pending@example.com", verified=verified)
    plain_client = FlaskClient(app, app.response_class)

    response = plain_client.post(path, **{body: {"email": "pending@example.com"}})

    assert response.status_code in (200, 204, 302)
    assert not looked_up.is_set()  # answered before anyone looked for the account
    gate.set()
    wait_for_background()
    assert looked_up.is_set()
    assert [m["To"] for m in mailbox.messages] == ["pending@example.com"]
