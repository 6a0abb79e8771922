"""One-time email codes and password-reset links, tested through the services without HTTP."""

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.models import EmailCode, User
from portal.services.audit import SYSTEM
from portal.services.errors import ValidationFailed
from portal.services.people import accounts, verification
from portal.services.people.passwords import check_password
from portal.transactions import unit_of_work
from tests.conftest import PASSWORD

INVALID_CODE = {"otp": ["Invalid or expired code."]}
NEW_PASSWORD = "a-Fresh-passphrase-42"
LINK = re.compile(r"^(https?://[^/]+)/password/reset/([^/]+)/([^/]+)/$")


def send_code(app, mailbox, account) -> str:
    """Mail a new code to the account's address and return it as read from the delivered mail."""
    with app.app_context(), unit_of_work():
        user = db.session.get(User, account.id)
        verification.mail_code(user, verification.issue_code(user))
        db.session.commit()
    return mailbox.code_for(account.email)


def send_different_code(app, mailbox, account, other: str) -> str:
    """A new code that differs from ``other`` (codes are random; a repeat would prove nothing)."""
    code = send_code(app, mailbox, account)
    while code == other:
        code = send_code(app, mailbox, account)
    return code


def verify(app, account_email, code):
    with app.app_context(), unit_of_work():
        verification.verify_email(account_email, code, SYSTEM)


def is_verified(app, account) -> bool:
    with app.app_context(), unit_of_work():
        user = db.session.get(User, account.id)
        return user.email_verified and user.activated_at is not None


def other_code(code: str) -> str:
    return f"{(int(code) + 1) % 10**6:06d}"


@pytest.fixture
def newcomer(make_user):
    return make_user("newcomer@example.com", verified=False)


# Codes ------------------------------------------------------------------------------------------


def test_code_is_six_digits_and_mailed_to_the_account_address(app, mailbox, newcomer):
    codes = [send_code(app, mailbox, newcomer) for _ in range(5)]

    assert all(re.fullmatch(r"\d{6}", code) for code in codes)
    assert len(mailbox.sent_to("newcomer@example.com")) == 5


def test_right_code_verifies_the_address_and_completes_sign_up(app, mailbox, newcomer):
    code = send_code(app, mailbox, newcomer)
    assert not is_verified(app, newcomer)

    verify(app, "NewComer@Example.com", code)

    assert is_verified(app, newcomer)
    with app.app_context(), unit_of_work():
        assert db.session.scalars(select(EmailCode)).all() == []


def test_code_still_works_nine_minutes_after_it_was_sent(app, mailbox, newcomer, clock):
    code = send_code(app, mailbox, newcomer)
    clock.advance(minutes=9)

    verify(app, newcomer.email, code)

    assert is_verified(app, newcomer)


def test_code_expires_after_ten_minutes(app, mailbox, newcomer, clock):
    code = send_code(app, mailbox, newcomer)
    clock.advance(minutes=11)

    with pytest.raises(ValidationFailed) as raised:
        verify(app, newcomer.email, code)

    assert raised.value.errors == INVALID_CODE
    assert not is_verified(app, newcomer)


def test_five_wrong_tries_kill_the_code_even_for_the_right_code_afterwards(app, mailbox, newcomer):
    code = send_code(app, mailbox, newcomer)
    wrong = other_code(code)
    for _ in range(5):
        with pytest.raises(ValidationFailed) as raised:
            verify(app, newcomer.email, wrong)
        assert raised.value.errors == INVALID_CODE

    with pytest.raises(ValidationFailed) as raised:
        verify(app, newcomer.email, code)

    assert raised.value.errors == INVALID_CODE
    assert not is_verified(app, newcomer)
    with app.app_context():
        assert db.session.scalar(select(EmailCode.attempts)) == 5


def test_four_wrong_tries_still_leave_the_right_code_working(app, mailbox, newcomer):
    code = send_code(app, mailbox, newcomer)
    for _ in range(4):
        with pytest.raises(ValidationFailed):
            verify(app, newcomer.email, other_code(code))

    verify(app, newcomer.email, code)

    assert is_verified(app, newcomer)


def test_a_used_code_cannot_be_used_again(app, mailbox, newcomer):
    code = send_code(app, mailbox, newcomer)
    verify(app, newcomer.email, code)

    with pytest.raises(ValidationFailed) as raised:
        verify(app, newcomer.email, code)

    assert raised.value.errors == INVALID_CODE


def test_another_users_code_does_not_verify_this_user(app, mailbox, make_user):
    alice = make_user("alice@example.com", verified=False)
    bob = make_user("bob@example.com", verified=False)
    alice_code = send_code(app, mailbox, alice)
    bob_code = send_different_code(app, mailbox, bob, alice_code)

    with pytest.raises(ValidationFailed) as raised:
        verify(app, bob.email, alice_code)

    assert raised.value.errors == INVALID_CODE
    assert not is_verified(app, bob)
    assert not is_verified(app, alice)
    verify(app, bob.email, bob_code)
    assert is_verified(app, bob)


def test_a_resend_replaces_the_old_code(app, mailbox, newcomer):
    old = send_code(app, mailbox, newcomer)
    new = send_different_code(app, mailbox, newcomer, old)

    with pytest.raises(ValidationFailed) as raised:
        verify(app, newcomer.email, old)
    assert raised.value.errors == INVALID_CODE

    verify(app, newcomer.email, new)
    assert is_verified(app, newcomer)
    with app.app_context(), unit_of_work():
        assert db.session.scalars(select(EmailCode)).all() == []


def test_resend_sends_nothing_for_verified_or_unknown_addresses(app, mailbox, make_user):
    make_user("verified@example.com")

    with app.app_context():
        verification.resend_verification_code("verified@example.com")
        verification.resend_verification_code("nobody@example.com")
        assert db.session.scalars(select(EmailCode)).all() == []

    assert mailbox.messages == []


def test_only_a_hash_of_the_code_is_stored(app, mailbox, newcomer):
    code = send_code(app, mailbox, newcomer)

    with app.app_context():
        [row] = db.session.scalars(select(EmailCode)).all()
        assert row.user_id == newcomer.id
        assert row.code_hash != code
        assert re.fullmatch(r"[0-9a-f]{64}", row.code_hash)
        stored = {column.key: getattr(row, column.key) for column in EmailCode.__table__.columns}
    assert all(code not in str(value) for key, value in stored.items() if key not in ("created_at", "expires_at"))


def test_code_for_an_unknown_address_is_invalid_without_saying_so(app, mailbox, newcomer):
    code = send_code(app, mailbox, newcomer)

    with pytest.raises(ValidationFailed) as raised:
        verify(app, "nobody@example.com", code)

    assert raised.value.errors == INVALID_CODE


# Password-reset links ---------------------------------------------------------------------------


def reset_link(app, account):
    with app.app_context(), unit_of_work():
        link = verification.password_reset_link(db.session.get(User, account.id))
    match = LINK.match(link)
    assert match, link
    return match.group(2), match.group(3)


def reset(app, uid, token, password=NEW_PASSWORD):
    with app.app_context(), unit_of_work():
        accounts.reset_password(uid, token, password, SYSTEM)


def password_is(app, account, password) -> bool:
    with app.app_context(), unit_of_work():
        return check_password(db.session.get(User, account.id).password_hash, password)


def test_reset_link_sets_the_new_password(app, user):
    uid, token = reset_link(app, user)

    reset(app, uid, token)

    assert password_is(app, user, NEW_PASSWORD)
    assert not password_is(app, user, PASSWORD)


def test_reset_link_works_only_once(app, user):
    uid, token = reset_link(app, user)
    reset(app, uid, token)

    with pytest.raises(ValidationFailed) as raised:
        reset(app, uid, token, "yet-another-Passphrase-7")

    assert list(raised.value.errors) == ["token"]
    assert password_is(app, user, NEW_PASSWORD)


def test_reset_link_expires_after_password_reset_ttl(app, user):
    uid, token = reset_link(app, user)
    app.config["PASSWORD_RESET_TTL"] = timedelta(seconds=-1)

    with pytest.raises(ValidationFailed) as raised:
        reset(app, uid, token)

    assert list(raised.value.errors) == ["token"]
    assert password_is(app, user, PASSWORD)


def test_reset_link_is_bound_to_its_user(app, make_user):
    alice = make_user("alice@example.com")
    bob = make_user("bob@example.com")
    _, alice_token = reset_link(app, alice)
    bob_uid, _ = reset_link(app, bob)

    with pytest.raises(ValidationFailed) as raised:
        reset(app, bob_uid, alice_token)

    assert list(raised.value.errors) == ["token"]
    assert password_is(app, alice, PASSWORD)
    assert password_is(app, bob, PASSWORD)


@pytest.mark.parametrize("uid", ["", "!!!", "not-base64-at-all", "MA", "OTk5OTk", "x" * 40, None, 12])
def test_reset_with_a_garbage_or_unknown_uid_is_an_error_on_uid(app, user, uid):
    _, token = reset_link(app, user)

    with pytest.raises(ValidationFailed) as raised:
        reset(app, uid, token)

    assert list(raised.value.errors) == ["uid"]
    assert password_is(app, user, PASSWORD)


def test_reset_with_a_tampered_token_is_an_error_on_token(app, user):
    uid, token = reset_link(app, user)

    with pytest.raises(ValidationFailed) as raised:
        reset(app, uid, token[:-2] + ("AA" if token[-2:] != "AA" else "BB"))

    assert list(raised.value.errors) == ["token"]
    assert password_is(app, user, PASSWORD)
