"""The second step's budget on the pages (NIST SP 800-63B 5.2.2): someone who knows the password
guesses app codes, five per sign-in, each sign-in from a new browser and a new address. After 100
wrong codes in a row the account refuses codes from the app, even the right one, until a recovery
code or a passkey signs in; a second step that passes starts the count again; the person is mailed
once, at the fifth wrong code in a row."""

import json

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.models import AuditEvent
from tests.two_step import add_passkey, set_up_totp
from tests.webauthn_authenticator import ORIGIN, SoftwareAuthenticator

from .conftest import csrf_token, field_errors, is_signed_in, sign_in, submit, text_of

SECOND_STEP = "/login/second-step"
INVALID = "Invalid code."
REFUSED = (
    "Too many wrong codes were entered for this account. Codes from the authenticator app are refused "
    "until you sign in with a recovery code or a passkey, or reset your password."
)
WARNING = "Wrong codes were entered for your account"


@pytest.fixture
def app(app):
    app.config["PUBLIC_BASE_URL"] = ORIGIN  # the origin the software authenticator signs for
    return app


class Guesser:
    """Someone who knows the account's password and guesses app codes at its second step: five per
    sign-in (all one pending sign-in allows), every sign-in from a new browser and a new address."""

    def __init__(self, app, account, clock, secret):
        self.app, self.account = app, account
        right = {clock.code(secret, steps) for steps in (-1, 0, 1)}
        self.wrong = (f"{n:06d}" for n in range(10**6) if f"{n:06d}" not in right)
        self.sign_ins = 0

    def guess(self, count: int) -> list[int]:
        """``count`` wrong codes: the status of each answer (asserting each says "Invalid code.")."""
        statuses = []
        for n in range(count):
            if n % 5 == 0:
                self.sign_ins += 1
                self.address = {"environ_base": {"REMOTE_ADDR": f"198.51.100.{self.sign_ins}"}}
                self.browser = self.app.test_client()
                assert sign_in(self.browser, self.account, **self.address).headers["Location"] == SECOND_STEP
            answer = submit(self.browser, SECOND_STEP, {"code": next(self.wrong)}, **self.address)
            assert field_errors(answer) == {"code": [INVALID]}
            statuses.append(answer.status_code)
        return statuses


def addresses_of_failures(app) -> set[str]:
    with app.app_context():
        failed = select(AuditEvent.ip).where(AuditEvent.action == "second_factor_failed")
        return set(db.session.scalars(failed))


def at_second_step(app, account):
    browser = app.test_client()
    assert sign_in(browser, account).headers["Location"] == SECOND_STEP
    return browser


def test_after_100_wrong_codes_from_rotating_addresses_the_right_app_code_is_refused_until_a_recovery_code(
    app, user, clock
):
    secret, codes = set_up_totp(app, user, clock)

    assert Guesser(app, user, clock, secret).guess(100) == [400] * 100
    assert len(addresses_of_failures(app)) == 20  # no address tried more than one sign-in's five

    browser = at_second_step(app, user)
    assert REFUSED in text_of(browser.get(SECOND_STEP))  # said before a code is typed
    right = submit(browser, SECOND_STEP, {"code": clock.code(secret)})
    assert right.status_code == 400 and field_errors(right) == {"code": [REFUSED]}
    assert not is_signed_in(browser)

    recovered = submit(browser, SECOND_STEP, {"code": codes[0]})

    assert recovered.status_code == 302 and is_signed_in(browser)
    # The recovery code started the count again: the app's codes sign in once more.
    clock.advance(30)
    again = at_second_step(app, user)
    assert REFUSED not in text_of(again.get(SECOND_STEP))
    assert submit(again, SECOND_STEP, {"code": clock.code(secret)}).status_code == 302 and is_signed_in(again)


def test_a_passkey_at_the_second_step_still_signs_in_past_the_budget_and_starts_the_count_again(
    app, user, clock
):
    authenticator = SoftwareAuthenticator()
    secret, _ = set_up_totp(app, user, clock)
    add_passkey(app, user, authenticator)
    Guesser(app, user, clock, secret).guess(100)
    browser = at_second_step(app, user)
    token = csrf_token(browser.get(SECOND_STEP))
    options = browser.post("/login/second-step/passkey/options", headers={"X-CSRFToken": token}).get_json()

    done = browser.post("/login/second-step/passkey", data={
        "csrf_token": token, "credential": json.dumps(authenticator.get(options)),
    })

    assert done.status_code == 302 and is_signed_in(browser)
    clock.advance(30)
    assert submit(at_second_step(app, user), SECOND_STEP, {"code": clock.code(secret)}).status_code == 302


def test_a_right_app_code_starts_the_count_again(app, user, clock):
    secret, _ = set_up_totp(app, user, clock)
    guesser = Guesser(app, user, clock, secret)
    guesser.guess(99)
    assert submit(at_second_step(app, user), SECOND_STEP, {"code": clock.code(secret)}).status_code == 302
    clock.advance(30)

    guesser.guess(99)  # without the new start, the 100th would have been the last compared

    browser = at_second_step(app, user)
    assert submit(browser, SECOND_STEP, {"code": clock.code(secret)}).status_code == 302 and is_signed_in(browser)


def test_the_person_is_mailed_once_at_the_fifth_wrong_code_in_a_row(app, user, clock, mailbox):
    secret, _ = set_up_totp(app, user, clock)
    guesser = Guesser(app, user, clock, secret)

    guesser.guess(4)
    assert [m for m in mailbox.sent_to(user.email) if m["Subject"] == WARNING] == []
    guesser.guess(1)
    [warning] = [m for m in mailbox.sent_to(user.email) if m["Subject"] == WARNING]
    guesser.guess(20)

    assert [m["Subject"] for m in mailbox.sent_to(user.email)].count(WARNING) == 1
    body = warning.get_body(("plain",)).get_content()
    assert "5 wrong codes in a row were entered at the second step of signing in to your account" in body
    assert f"change your password at once: {ORIGIN}/password/forgot" in body
    assert "After 100 wrong codes in a row, codes from your authenticator app are refused" in body
