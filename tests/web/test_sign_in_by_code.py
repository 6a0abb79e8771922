"""Signing in with an emailed code on the pages: /login links to /login/code, which mails a code to
the address (the same answer for every address), and /login/code/enter takes it. The code is read
from a real SMTP conversation; CSRF is on, as everywhere in these tests."""

import re

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.models import Credential, User
from portal.services.audit import SYSTEM
from portal.services.people import accounts, verification
from portal.transactions import unit_of_work
from tests.two_step import set_up_totp

from ..conftest import PASSWORD, written_mail
from .conftest import (
    credential_in_cookie,
    field_errors,
    find_form,
    flashes,
    is_signed_in,
    set_cookie_header,
    sign_in,
    submit,
    text_of,
)

ASK = "/login/code"
ENTER = "/login/code/enter"
INVALID_CODE = {"code": ["Invalid or expired code."]}


def ask_for_code(client, email, *, next=None, **kwargs):
    return submit(client, ASK + (f"?next={next}" if next else ""), {"email": email}, **kwargs)


def enter_code(client, code, *, email=None, remember=False, next=None, **kwargs):
    changes = {"code": code}
    if email is not None:
        changes["email"] = email
    if remember:
        changes["remember"] = "y"
    return submit(client, ENTER + (f"?next={next}" if next else ""), changes, **kwargs)


def signed_in_with_code(client, mailbox, account, **kwargs):
    assert ask_for_code(client, account.email).status_code == 302
    return enter_code(client, mailbox.code_for(account.email), **kwargs)


def method_of_this_session(app, client) -> str:
    with app.app_context():
        return db.session.scalar(select(Credential.method).where(Credential.public_id == credential_in_cookie(client)))


def other_code(code: str) -> str:
    return f"{(int(code) + 1) % 10**6:06d}"


# The whole way in ---------------------------------------------------------------------------------


def test_the_sign_in_page_offers_a_code_and_the_mailed_code_signs_this_browser_in(app, client, user, mailbox):
    login = client.get("/login")
    assert re.search(r'<a class="button secondary" href="/login/code">Email me a sign-in code</a>',
                     login.get_data(as_text=True))

    asked = ask_for_code(client, user.email)

    assert asked.status_code == 302 and asked.headers["Location"] == ENTER
    page = client.get(ENTER)
    assert find_form(page).fields["email"] == user.email  # the address is filled in
    assert flashes(page) == [f"If {user.email} belongs to an account, a sign-in code is on its way."]
    assert not is_signed_in(client)
    [mail] = mailbox.sent_to(user.email)
    assert mail["Subject"] == "Your sign-in code"

    entered = enter_code(client, mailbox.code_for(user.email))

    assert entered.status_code == 302 and entered.headers["Location"] == "/profile/"
    assert is_signed_in(client)
    assert method_of_this_session(app, client) == "email_code"
    assert "Signed in with emailed code" in text_of(client.get("/profile/sessions"))
    assert stored_last_login(app, user) is not None


def stored_last_login(app, account):
    with app.app_context():
        return db.session.get(User, account.id).last_login


def test_next_is_carried_from_the_sign_in_page_to_the_code_and_stays_on_the_site(client, user, mailbox):
    login = client.get("/login?next=/profile/keys")
    assert 'href="/login/code?next=/profile/keys"' in login.get_data(as_text=True)

    asked = ask_for_code(client, user.email, next="/profile/keys")
    assert asked.headers["Location"] == f"{ENTER}?next=/profile/keys"
    entered = enter_code(client, mailbox.code_for(user.email), next="/profile/keys")
    assert entered.headers["Location"] == "/profile/keys"

    elsewhere = client.application.test_client()
    ask_for_code(elsewhere, user.email)
    evil_next = enter_code(elsewhere, mailbox.code_for(user.email), next="https://evil.example/")
    assert evil_next.headers["Location"] == "/profile/"


def test_keep_me_signed_in_is_offered_and_makes_the_cookie_persistent(client, user, mailbox):
    ask_for_code(client, user.email)

    response = enter_code(client, mailbox.code_for(user.email), remember=True)

    assert response.status_code == 302
    assert "Expires=" in set_cookie_header(response)


def test_a_signed_in_visitor_is_sent_on(client, user, mailbox):
    signed_in_with_code(client, mailbox, user)

    assert client.get(ASK).headers["Location"] == "/profile/"
    assert client.get(f"{ENTER}?next=/profile/keys").headers["Location"] == "/profile/keys"


# The same answer for every address ------------------------------------------------------------------


def visible_answer(client, email):
    """What asking for a code shows: the redirect and the next page, with the address taken out."""
    asked = ask_for_code(client, email)
    page = client.get(asked.headers["Location"])
    return asked.status_code, asked.headers["Location"], page.status_code, text_of(page).replace(email, "EMAIL")


@pytest.mark.parametrize("case", ["unknown", "never verified", "deactivated"])
def test_asking_answers_alike_and_mails_nothing_for_an_address_that_cannot_sign_in(app, user, make_user, mailbox, case):
    email = "someone@example.com"
    if case == "never verified":
        make_user(email, verified=False)
    elif case == "deactivated":
        account = make_user(email)
        with app.app_context(), unit_of_work():
            accounts.update_account_flags(db.session.get(User, account.id), {"is_active": False}, SYSTEM)
    # Different CSRF tokens would differ anyway: compare each page less its token.
    token = re.compile(r'name="csrf_token"( type="hidden")? value="[^"]+"')

    for_an_account = visible_answer(app.test_client(), user.email)
    for_this_address = visible_answer(app.test_client(), email)

    assert for_this_address[:3] == for_an_account[:3] == (302, ENTER, 200)
    assert token.sub("", for_this_address[3]) == token.sub("", for_an_account[3])
    assert mailbox.sent_to(email) == []
    assert len(mailbox.sent_to(user.email)) == 1


def test_a_malformed_address_is_an_error_on_the_email_field(client, mailbox):
    response = ask_for_code(client, "not-an-address")

    assert response.status_code == 400
    assert field_errors(response) == {"email": ["Enter a valid email address."]}
    assert mailbox.messages == []


def test_asking_and_entering_need_the_pages_csrf_token(client, user, mailbox):
    assert client.post(ASK, data={"email": user.email}).status_code == 400
    assert client.post(ENTER, data={"email": user.email, "code": "123456"}).status_code == 400
    assert mailbox.messages == []


# What a code is worth -------------------------------------------------------------------------------


def test_a_wrong_code_is_an_error_on_the_code_field_and_signs_nobody_in(client, user, mailbox):
    ask_for_code(client, user.email)
    code = mailbox.code_for(user.email)

    wrong = enter_code(client, other_code(code))

    assert wrong.status_code == 400
    assert field_errors(wrong) == INVALID_CODE
    assert find_form(wrong).fields["email"] == user.email
    assert not is_signed_in(client)
    assert enter_code(client, code, email=user.email).status_code == 302  # the right one still works


def test_five_wrong_codes_kill_the_code_and_the_right_one_then_fails(client, user, mailbox):
    ask_for_code(client, user.email)
    code = mailbox.code_for(user.email)
    for _ in range(5):
        assert field_errors(enter_code(client, other_code(code))) == INVALID_CODE

    late = enter_code(client, code)

    assert late.status_code == 400 and field_errors(late) == INVALID_CODE
    assert not is_signed_in(client)


def test_a_code_expires_after_ten_minutes(client, user, mailbox, clock):
    ask_for_code(client, user.email)
    clock.advance(minutes=10, seconds=1)

    response = enter_code(client, mailbox.code_for(user.email))

    assert field_errors(response) == INVALID_CODE
    assert not is_signed_in(client)


def test_a_used_code_cannot_sign_in_again(app, client, user, mailbox):
    signed_in_with_code(client, mailbox, user)
    other = app.test_client()

    again = enter_code(other, mailbox.code_for(user.email), email=user.email)

    assert again.status_code == 400 and field_errors(again) == INVALID_CODE
    assert not is_signed_in(other)


def test_a_new_code_replaces_the_old_one(client, user, mailbox):
    ask_for_code(client, user.email)
    old = mailbox.code_for(user.email)
    new = old
    while new == old:  # codes are random: a repeat would prove nothing
        again = submit(client, ENTER, {"code": ""}, button="Send a new code")
        assert again.status_code == 302 and again.headers["Location"] == ENTER
        new = mailbox.code_for(user.email)

    assert field_errors(enter_code(client, old)) == INVALID_CODE
    assert enter_code(client, new).status_code == 302
    assert is_signed_in(client)


def test_a_verification_code_does_not_sign_in_and_a_sign_in_code_does_not_verify(app, client, user, mailbox):
    ask_for_code(client, user.email)
    sign_in_code = mailbox.code_for(user.email)
    verification_code = sign_in_code
    with app.app_context():
        while verification_code == sign_in_code:  # one in a million: equal codes would prove nothing
            verification_code = verification.issue_code(db.session.get(User, user.id), verification.VERIFY_EMAIL)
            db.session.commit()

    assert field_errors(enter_code(client, verification_code)) == INVALID_CODE
    verified = submit(client, "/verify", {"email": user.email, "otp": sign_in_code})
    assert verified.status_code == 400 and field_errors(verified) == {"otp": ["Invalid or expired code."]}
    assert not is_signed_in(client)


def test_a_sign_up_that_was_never_finished_cannot_sign_in_with_a_code(app, client, make_user, mailbox):
    pending = make_user("pending@example.com", verified=False)
    ask_for_code(client, pending.email)
    with app.app_context():  # even a code put in place by hand
        code = verification.issue_code(db.session.get(User, pending.id), verification.SIGN_IN)
        db.session.commit()

    response = enter_code(client, code, email=pending.email)

    assert mailbox.messages == []
    assert field_errors(response) == INVALID_CODE
    assert not is_signed_in(client)


# A second factor is still asked for -----------------------------------------------------------------


def test_an_account_with_an_authenticator_app_is_asked_for_it_after_the_code(app, client, user, mailbox, clock):
    secret, _ = set_up_totp(app, user, clock)

    entered = signed_in_with_code(client, mailbox, user, next="/profile/keys")

    assert entered.status_code == 302 and entered.headers["Location"] == "/login/second-step"
    assert not is_signed_in(client)
    step = client.get("/login/second-step")
    assert "Your emailed code was right." in text_of(step)
    done = submit(client, "/login/second-step", {"code": clock.code(secret)})
    assert done.status_code == 302 and done.headers["Location"] == "/profile/keys"
    assert method_of_this_session(app, client) == "email_code+totp"
    assert "Signed in with emailed code and app code" in text_of(client.get("/profile/sessions"))


def test_a_password_sign_in_still_says_the_password_was_right(app, client, user, clock):
    set_up_totp(app, user, clock)
    sign_in(client, user)

    assert "Your password was right." in text_of(client.get("/login/second-step"))


# Rate limits -------------------------------------------------------------------------------------------


def limited_app(make_app, **limits):
    app = make_app(RATELIMIT_ENABLED=True, **limits)
    with app.app_context(), unit_of_work():
        account = accounts.create_user("limited@example.com", PASSWORD, SYSTEM, email_verified=True)
        return app, account.id


def mailed_code(app) -> str:
    return re.search(r"\b(\d{6})\b", written_mail(app)[-1].get_body(("plain",)).get_content()).group(1)


def test_asking_over_the_limit_is_a_429_page_and_mails_nothing_more(make_app):
    app, _ = limited_app(make_app, RATELIMIT_CODE="1 per minute")
    client = app.test_client()
    assert ask_for_code(client, "limited@example.com").status_code == 302

    # Another address (the per-address allowance), and the same account from elsewhere (the per-account one).
    assert ask_for_code(client, "other@example.com").status_code == 429
    again = ask_for_code(app.test_client(), "Limited@Example.com", environ_base={"REMOTE_ADDR": "10.0.0.9"})

    assert again.status_code == 429 and "<h1>Too many attempts</h1>" in again.get_data(as_text=True)
    assert len(written_mail(app)) == 1
    assert client.get(ASK).status_code == 200  # showing the form is not counted


def test_entering_codes_over_the_limit_is_a_429_page_and_signs_nobody_in(make_app):
    app, user_id = limited_app(make_app, RATELIMIT_VERIFY="2 per minute")
    client = app.test_client()
    ask_for_code(client, "limited@example.com")
    code = mailed_code(app)
    for _ in range(2):
        assert enter_code(client, other_code(code)).status_code == 400

    third = enter_code(client, code)

    assert third.status_code == 429
    assert not is_signed_in(client)
    with app.app_context(), unit_of_work():
        assert db.session.scalars(select(Credential).where(Credential.user_id == user_id)).all() == []


def test_a_code_draws_on_the_accounts_sign_in_allowance(make_app):
    app, _ = limited_app(make_app, RATELIMIT_SIGN_IN="2 per minute")
    client = app.test_client()
    for n in range(2):  # wrong passwords, from other addresses
        wrong = submit(client, "/login", {"login": "limited@example.com", "password": "wrong-password-1"},
                       environ_base={"REMOTE_ADDR": f"10.0.0.{n + 1}"})
        assert wrong.status_code == 400
    ask_for_code(client, "limited@example.com")

    throttled = enter_code(client, mailed_code(app))

    assert throttled.status_code == 429
    assert not is_signed_in(client)
