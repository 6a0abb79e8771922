"""Requests that must not tell whether an address has an account answer before any look-up or mail.

The SMTP server here holds every message until the test opens a gate; the answer arrives while
the mail is still held, so its timing cannot depend on whether there was anything to send.
"""

import asyncio
import threading

import pytest
from aiosmtpd.controller import Controller
from flask.testing import FlaskClient

from portal.services.background import wait_for_background
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


@pytest.mark.parametrize(
    "path",
    ["/api/v1/accounts/users/resend-otp/", "/api/users/reset_password/"],
)
def test_the_answer_does_not_wait_for_the_mail_to_an_existing_account(app, make_user, gated, path):
    box, gate = gated
    make_user("pending@example.com", verified=False)
    plain_client = FlaskClient(app, app.response_class)  # returns as soon as the answer is ready

    response = plain_client.post(path, json={"email": "pending@example.com"})

    assert response.status_code in (200, 204)
    assert box._messages == []  # the answer came back while the mail was still held
    gate.set()
    wait_for_background()
    assert [m["To"] for m in box._messages] == ["pending@example.com"]
