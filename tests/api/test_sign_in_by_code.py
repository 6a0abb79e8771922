"""Signing in with an emailed code through the API: POST /api/auth/code/ mails it (204 for every
well-formed address), POST /api/token/code/ trades it for a JWT pair. The code is read from a real
SMTP conversation."""

import re

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.models import Credential, User
from portal.services.audit import SYSTEM
from portal.services.people import accounts, verification
from portal.transactions import unit_of_work
from tests.conftest import PASSWORD, written_mail
from tests.two_step import set_up_totp

ASK = "/api/auth/code/"
TOKEN = "/api/token/code/"
INVALID_CODE = {"code": ["Invalid or expired code."]}
REQUIRED = ["This field is required."]


def ask(client, email, **kwargs):
    return client.post(ASK, json={"email": email}, **kwargs)


def trade(client, email, code, **kwargs):
    return client.post(TOKEN, json={"email": email, "code": code}, **kwargs)


def mailed_code(client, mailbox, account) -> str:
    response = ask(client, account.email)
    assert response.status_code == 204
    return mailbox.code_for(account.email)


def other_code(code: str) -> str:
    return f"{(int(code) + 1) % 10**6:06d}"


def credentials_of(app, user_id) -> list[tuple[str, str]]:
    with app.app_context():
        rows = db.session.scalars(select(Credential).where(Credential.user_id == user_id))
        return [(row.kind, row.method) for row in rows]


# The whole way in ---------------------------------------------------------------------------------


def test_a_mailed_code_is_traded_for_a_jwt_pair_that_works(app, client, user, mailbox):
    asked = ask(client, "USER@example.com")

    assert asked.status_code == 204 and asked.data == b""
    [mail] = mailbox.sent_to(user.email)
    assert mail["Subject"] == "Your sign-in code"

    response = trade(client, user.email, mailbox.code_for(user.email))

    assert response.status_code == 200
    pair = response.get_json()
    assert set(pair) == {"access", "refresh"}
    me = client.get("/api/users/me/", headers={"Authorization": f"Bearer {pair['access']}"})
    assert me.status_code == 200 and me.get_json()["email"] == user.email
    assert me.get_json()["last_login"] is not None
    assert credentials_of(app, user.id) == [("jwt", "email_code")]
    refreshed = client.post("/api/token/refresh/", json={"refresh": pair["refresh"]})
    assert refreshed.status_code == 200


def test_the_code_may_be_sent_as_a_number(client, user, mailbox):
    code = mailed_code(client, mailbox, user)
    while code.startswith("0"):  # a number cannot carry a leading zero: ask for another code
        code = mailed_code(client, mailbox, user)

    assert trade(client, user.email, int(code)).status_code == 200


# The same answer for every address ------------------------------------------------------------------


@pytest.mark.parametrize("case", ["unknown", "never verified", "deactivated"])
def test_asking_is_the_same_204_and_mails_nothing_for_an_address_that_cannot_sign_in(
    app, client, user, make_user, mailbox, case
):
    email = "someone@example.com"
    if case == "never verified":
        make_user(email, verified=False)
    elif case == "deactivated":
        account = make_user(email)
        with app.app_context(), unit_of_work():
            accounts.update_account_flags(db.session.get(User, account.id), {"is_active": False}, SYSTEM)

    response = ask(client, email)
    for_an_account = ask(client, user.email)

    assert response.status_code == for_an_account.status_code == 204
    assert response.data == for_an_account.data == b""
    assert headers_of(response) == headers_of(for_an_account)  # no header tells either
    assert mailbox.sent_to(email) == []
    assert len(mailbox.sent_to(user.email)) == 1


def headers_of(response) -> dict:
    return {name: value for name, value in response.headers.items() if name != "X-Request-ID"}


@pytest.mark.parametrize(
    ("body", "errors"),
    [
        ({"email": "not-an-email"}, {"email": ["Enter a valid email address."]}),
        ({"email": "two@@example.com"}, {"email": ["Enter a valid email address."]}),
        ({}, {"email": REQUIRED}),
        ({"email": ""}, {"email": REQUIRED}),
        ({"email": None}, {"email": REQUIRED}),
    ],
)
def test_asking_with_a_malformed_address_is_400_on_email(client, mailbox, body, errors):
    response = client.post(ASK, json=body)

    assert response.status_code == 400
    assert response.get_json() == errors
    assert mailbox.messages == []


# What a code is worth -------------------------------------------------------------------------------


def test_a_wrong_code_is_400_on_code_and_issues_nothing(app, client, user, mailbox):
    code = mailed_code(client, mailbox, user)

    response = trade(client, user.email, other_code(code))

    assert response.status_code == 400
    assert response.get_json() == INVALID_CODE
    assert credentials_of(app, user.id) == []


@pytest.mark.parametrize(
    ("body", "errors"),
    [
        ({"email": "user@example.com"}, {"code": REQUIRED}),
        ({"code": "123456"}, {"email": REQUIRED}),
        ({"email": "user@example.com", "code": ""}, {"code": REQUIRED}),
        ({"email": "nobody@example.com", "code": "123456"}, INVALID_CODE),
        ({"email": "not-an-email", "code": "123456"}, INVALID_CODE),
    ],
)
def test_a_missing_field_or_an_unknown_address_is_400(client, user, mailbox, body, errors):
    response = client.post(TOKEN, json=body)

    assert response.status_code == 400
    assert response.get_json() == errors


def test_five_wrong_codes_kill_the_code_and_the_right_one_then_fails(client, user, mailbox):
    code = mailed_code(client, mailbox, user)
    for _ in range(5):
        assert trade(client, user.email, other_code(code)).get_json() == INVALID_CODE

    late = trade(client, user.email, code)

    assert late.status_code == 400 and late.get_json() == INVALID_CODE


def test_a_code_expires_after_ten_minutes(client, user, mailbox, clock):
    code = mailed_code(client, mailbox, user)
    clock.advance(minutes=10, seconds=1)

    assert trade(client, user.email, code).get_json() == INVALID_CODE


def test_a_used_code_cannot_be_traded_again(client, user, mailbox):
    code = mailed_code(client, mailbox, user)
    assert trade(client, user.email, code).status_code == 200

    again = trade(client, user.email, code)

    assert again.status_code == 400 and again.get_json() == INVALID_CODE


def test_a_new_code_replaces_the_old_one(client, user, mailbox):
    old = mailed_code(client, mailbox, user)
    new = old
    while new == old:  # codes are random: a repeat would prove nothing
        new = mailed_code(client, mailbox, user)

    assert trade(client, user.email, old).get_json() == INVALID_CODE
    assert trade(client, user.email, new).status_code == 200


def test_a_verification_code_does_not_sign_in_and_a_sign_in_code_does_not_verify(app, client, user, mailbox):
    sign_in_code = mailed_code(client, mailbox, user)
    verification_code = sign_in_code
    with app.app_context():
        while verification_code == sign_in_code:  # one in a million: equal codes would prove nothing
            verification_code = verification.issue_code(db.session.get(User, user.id), verification.VERIFY_EMAIL)
            db.session.commit()

    assert trade(client, user.email, verification_code).get_json() == INVALID_CODE
    verified = client.post("/api/v1/accounts/users/verify-otp/", json={"email": user.email, "otp": sign_in_code})
    assert verified.status_code == 400 and verified.get_json() == {"otp": ["Invalid or expired code."]}
    assert trade(client, user.email, sign_in_code).status_code == 200  # still good for what it is for


# A second factor ----------------------------------------------------------------------------------


def test_without_a_second_factor_the_code_alone_gives_the_pair(client, user, mailbox):
    response = trade(client, user.email, mailed_code(client, mailbox, user))

    assert response.status_code == 200 and set(response.get_json()) == {"access", "refresh"}


def test_with_a_second_factor_the_code_gets_the_two_step_answer_and_no_pair(app, client, user, mailbox, clock):
    set_up_totp(app, user, clock)

    response = trade(client, user.email, mailed_code(client, mailbox, user))

    assert response.status_code == 401
    body = response.get_json()
    assert body["mfa_required"] is True and isinstance(body["mfa_token"], str)
    assert "access" not in body and "refresh" not in body
    assert credentials_of(app, user.id) == []


# Rate limits: shared with the pages and the other code routes ---------------------------------


@pytest.fixture
def make_limited(make_app):
    def make(**limits):
        app = make_app(RATELIMIT_ENABLED=True, **limits)
        with app.app_context(), unit_of_work():
            accounts.create_user("limited@example.com", PASSWORD, SYSTEM, email_verified=True)
        return app

    return make


def last_code(app) -> str:
    return re.search(r"\b(\d{6})\b", written_mail(app)[-1].get_body(("plain",)).get_content()).group(1)


def assert_throttled(response):
    assert response.status_code == 429
    assert response.is_json and set(response.get_json()) == {"detail"}
    assert int(response.headers["Retry-After"]) > 0


def test_asking_over_the_limit_is_429_per_address_and_per_account_and_the_page_shares_it(make_limited):
    app = make_limited(RATELIMIT_CODE="1 per minute")
    client = app.test_client()
    assert ask(client, "limited@example.com").status_code == 204

    assert_throttled(ask(client, "other@example.com"))  # the same client address
    assert_throttled(ask(client, "LIMITED@example.com", environ_base={"REMOTE_ADDR": "10.0.0.2"}))  # the same account
    page = client.post("/login/code", data={"email": "limited@example.com"}, environ_base={"REMOTE_ADDR": "10.0.0.3"})
    assert page.status_code == 429
    resend = client.post("/api/v1/accounts/users/resend-otp/", json={"email": "limited@example.com"},
                         environ_base={"REMOTE_ADDR": "10.0.0.4"})
    assert resend.status_code == 429
    assert len(written_mail(app)) == 1


def test_trading_codes_over_the_limit_is_429_and_issues_nothing(make_limited):
    app = make_limited(RATELIMIT_VERIFY="2 per minute")
    client = app.test_client()
    assert ask(client, "limited@example.com").status_code == 204
    code = last_code(app)
    assert trade(client, "limited@example.com", other_code(code)).status_code == 400
    page = client.post("/login/code/enter", data={"email": "limited@example.com", "code": other_code(code)},
                       environ_base={"REMOTE_ADDR": "10.0.0.2"})
    assert page.status_code == 400  # the page's try counts against the same account

    third = trade(client, "limited@example.com", code, environ_base={"REMOTE_ADDR": "10.0.0.3"})

    assert_throttled(third)
    with app.app_context(), unit_of_work():
        assert db.session.scalars(select(Credential)).all() == []


def test_a_code_draws_on_the_accounts_sign_in_allowance(make_limited):
    app = make_limited(RATELIMIT_SIGN_IN="2 per minute")
    client = app.test_client()
    for n in range(2):
        wrong = client.post("/api/token/", json={"email": "limited@example.com", "password": "wrong-password-1"},
                            environ_base={"REMOTE_ADDR": f"10.0.0.{n + 1}"})
        assert wrong.status_code == 401
    assert ask(client, "limited@example.com").status_code == 204

    throttled = trade(client, "limited@example.com", last_code(app), environ_base={"REMOTE_ADDR": "10.0.1.1"})

    assert_throttled(throttled)
