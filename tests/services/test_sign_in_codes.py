"""Signing in with an emailed code, tested through the services without HTTP: who gets a code, and
what a code is worth (once, for ten minutes, five tries, the newest only, for signing in only)."""

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.models import EmailCode, User, utcnow
from portal.services.audit import SYSTEM
from portal.services.errors import ValidationFailed
from portal.services.people import accounts, verification
from portal.services.plumbing.background import wait_for_background
from portal.services.signing_in import sign_in_codes
from portal.transactions import unit_of_work

INVALID_CODE = {"code": ["Invalid or expired code."]}


def request_code(app, email):
    with app.app_context():
        sign_in_codes.request_sign_in_code(email)
    wait_for_background()


def send_code(app, mailbox, account) -> str:
    """Ask for a sign-in code for the account and return it as read from the delivered mail."""
    request_code(app, account.email)
    return mailbox.code_for(account.email)


def send_different_code(app, mailbox, account, other: str) -> str:
    """A new code that differs from ``other`` (codes are random; a repeat would prove nothing)."""
    code = send_code(app, mailbox, account)
    while code == other:
        code = send_code(app, mailbox, account)
    return code


def sign_in_with(app, email, code) -> int:
    with app.app_context():
        return sign_in_codes.authenticate_with_code(email, code).id


def refused(app, email, code) -> dict:
    with app.app_context(), pytest.raises(ValidationFailed) as raised:
        sign_in_codes.authenticate_with_code(email, code)
    return raised.value.errors


def other_code(code: str) -> str:
    return f"{(int(code) + 1) % 10**6:06d}"


def stored_codes(app) -> list[tuple[int, str, int]]:
    with app.app_context():
        return [(row.user_id, row.purpose, row.attempts) for row in db.session.scalars(select(EmailCode))]


# Who gets a code --------------------------------------------------------------------------------


def test_a_verified_account_is_mailed_a_six_digit_code_in_the_body_and_no_link(app, mailbox, user):
    request_code(app, "User@Example.com")

    [message] = mailbox.sent_to(user.email)
    assert message["Subject"] == "Your sign-in code"
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    code = mailbox.code_for(user.email)
    assert re.fullmatch(r"\d{6}", code)
    assert code not in message["Subject"]
    assert code in html
    assert "expires in 10 minutes" in text
    assert "http" not in text and "href" not in html  # a code, not a link: opening the mail signs nobody in
    assert stored_codes(app) == [(user.id, verification.SIGN_IN, 0)]


@pytest.mark.parametrize("case", ["unknown", "never verified", "deactivated", "changed address not confirmed"])
def test_nobody_else_is_mailed_anything_and_no_code_is_stored(app, mailbox, make_user, case):
    email = "someone@example.com"
    if case == "never verified":
        make_user(email, verified=False)
    elif case == "deactivated":
        account = make_user(email)
        with app.app_context(), unit_of_work():
            accounts.update_account_flags(db.session.get(User, account.id), {"is_active": False}, SYSTEM)
    elif case == "changed address not confirmed":
        account = make_user("before@example.com")
        with app.app_context(), unit_of_work():
            accounts.update_profile(db.session.get(User, account.id), {"email": email}, SYSTEM)
        mailbox.messages.clear()  # the change's own code and notice

    request_code(app, email)

    assert mailbox.messages == []
    assert [purpose for _, purpose, _ in stored_codes(app)] in ([], [verification.VERIFY_EMAIL])


@pytest.mark.parametrize("email", ["not-an-address", "", None, 42, "a@b@example.com"])
def test_a_malformed_address_is_an_error_on_email(app, mailbox, email):
    with app.app_context(), pytest.raises(ValidationFailed) as raised:
        sign_in_codes.request_sign_in_code(email)

    assert list(raised.value.errors) == ["email"]
    assert mailbox.messages == []


# What a code is worth -----------------------------------------------------------------------------


def test_the_right_code_names_the_account_and_is_used_up(app, mailbox, user):
    code = send_code(app, mailbox, user)

    assert sign_in_with(app, " USER@example.com ", f" {code} ") == user.id

    assert stored_codes(app) == []
    assert refused(app, user.email, code) == INVALID_CODE  # a used code cannot be used again


def test_the_code_still_works_after_nine_minutes_and_not_after_ten(app, mailbox, user, monkeypatch):
    code = send_code(app, mailbox, user)
    now = utcnow()
    monkeypatch.setattr(verification, "utcnow", lambda: now + timedelta(minutes=10, seconds=1))
    assert refused(app, user.email, code) == INVALID_CODE

    monkeypatch.setattr(verification, "utcnow", lambda: now + timedelta(minutes=9))
    assert sign_in_with(app, user.email, code) == user.id


def test_five_wrong_tries_kill_the_code_even_for_the_right_code_afterwards(app, mailbox, user):
    code = send_code(app, mailbox, user)
    for _ in range(5):
        assert refused(app, user.email, other_code(code)) == INVALID_CODE

    assert refused(app, user.email, code) == INVALID_CODE
    assert stored_codes(app) == [(user.id, verification.SIGN_IN, 5)]


def test_four_wrong_tries_still_leave_the_right_code_working(app, mailbox, user):
    code = send_code(app, mailbox, user)
    for _ in range(4):
        refused(app, user.email, other_code(code))

    assert sign_in_with(app, user.email, code) == user.id


def test_a_new_code_replaces_the_old_one(app, mailbox, user):
    old = send_code(app, mailbox, user)
    new = send_different_code(app, mailbox, user, old)

    assert refused(app, user.email, old) == INVALID_CODE
    assert sign_in_with(app, user.email, new) == user.id


def test_a_code_signs_in_only_the_account_it_was_mailed_to(app, mailbox, make_user):
    alice = make_user("alice@example.com")
    bob = make_user("bob@example.com")
    alice_code = send_code(app, mailbox, alice)
    bob_code = send_different_code(app, mailbox, bob, alice_code)

    assert refused(app, bob.email, alice_code) == INVALID_CODE
    assert refused(app, "nobody@example.com", alice_code) == INVALID_CODE
    assert sign_in_with(app, alice.email, alice_code) == alice.id
    assert sign_in_with(app, bob.email, bob_code) == bob.id


@pytest.mark.parametrize("code", [None, 123456, "", "12345", "1234567", "abcdef", "\x00" * 6])
def test_anything_but_the_code_is_refused_on_the_code_field(app, mailbox, user, code):
    send_code(app, mailbox, user)

    assert refused(app, user.email, code) == INVALID_CODE


def test_the_code_dies_when_the_account_is_deactivated_or_its_address_changes(app, mailbox, make_user):
    leaving = make_user("leaving@example.com")
    moving = make_user("moving@example.com")
    leaving_code = send_code(app, mailbox, leaving)
    moving_code = send_code(app, mailbox, moving)
    with app.app_context(), unit_of_work():
        accounts.update_account_flags(db.session.get(User, leaving.id), {"is_active": False}, SYSTEM)
        accounts.update_profile(db.session.get(User, moving.id), {"email": "moved@example.com"}, SYSTEM)

    assert refused(app, leaving.email, leaving_code) == INVALID_CODE
    assert refused(app, "moved@example.com", moving_code) == INVALID_CODE


def test_only_a_hash_of_the_code_is_stored(app, mailbox, user):
    code = send_code(app, mailbox, user)

    with app.app_context():
        [row] = db.session.scalars(select(EmailCode)).all()
        stored = {column.key: getattr(row, column.key) for column in EmailCode.__table__.columns}
    assert re.fullmatch(r"[0-9a-f]{64}", stored["code_hash"])
    assert all(code not in str(value) for key, value in stored.items() if key not in ("created_at", "expires_at"))


# Purposes are separate ----------------------------------------------------------------------------


def test_a_verification_code_does_not_sign_in_and_a_sign_in_code_does_not_verify(app, mailbox, user):
    sign_in_code = send_code(app, mailbox, user)
    with app.app_context(), unit_of_work():
        account = db.session.get(User, user.id)
        verify_code = sign_in_code
        while verify_code == sign_in_code:  # one in a million: equal codes would prove nothing
            verify_code = verification.issue_code(account, verification.VERIFY_EMAIL)
            db.session.commit()
    assert sorted(purpose for _, purpose, _ in stored_codes(app)) == [verification.SIGN_IN, verification.VERIFY_EMAIL]

    assert refused(app, user.email, verify_code) == INVALID_CODE
    with app.app_context(), pytest.raises(ValidationFailed) as raised:
        verification.verify_email(user.email, sign_in_code, SYSTEM)
    assert raised.value.errors == {"otp": ["Invalid or expired code."]}

    # Each still works for its own purpose (one wrong try spent on each).
    assert sign_in_with(app, user.email, sign_in_code) == user.id
    with app.app_context(), unit_of_work():
        verification.verify_email(user.email, verify_code, SYSTEM)
    assert stored_codes(app) == []


def test_asking_for_a_sign_in_code_leaves_a_pending_verification_code_alone(app, mailbox, make_user):
    """An account that changed its address has a verification code waiting; it gets no sign-in code,
    and asking for one does not replace the verification code."""
    account = make_user("before@example.com")
    with app.app_context(), unit_of_work():
        accounts.update_profile(db.session.get(User, account.id), {"email": "after@example.com"}, SYSTEM)
    verify_code = mailbox.code_for("after@example.com")

    request_code(app, "after@example.com")

    with app.app_context(), unit_of_work():
        verification.verify_email("after@example.com", verify_code, SYSTEM)
        assert db.session.get(User, account.id).email_verified is True
