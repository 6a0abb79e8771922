"""The pending second step of a sign-in: finished once with a code, a recovery code or the same
user's passkey, within five minutes and five tries; what an
account signs in with; the staff reset. (Parallel requests: test_two_step_races.)"""

import hashlib
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from portal.extensions import db
from portal.models import AuditEvent, Passkey, PendingSignIn, RecoveryCode, TotpDevice, User
from portal.services.audit import SYSTEM, Actor
from portal.services.errors import PermissionDenied, SignInExpired, ValidationFailed
from portal.services.people import accounts, export
from portal.services.signing_in import factors, flow, sign_in, two_factor
from portal.services.ways_in import browser_sessions
from tests.conftest import PASSWORD
from tests.two_step import IP, actor_for, add_passkey, door, passkey_sign_in, set_up_totp, user_of
from tests.webauthn_authenticator import SoftwareAuthenticator

ANONYMOUS = Actor(ip=IP, via="web")


def begin(app, account, **options) -> str:
    """The first step (the password) passed: a pending sign-in's token."""
    with door(app):
        user = sign_in.authenticate(account.password, email=account.email)
        assert factors.has_second_factor(user)
        return two_factor.begin_sign_in(user, **options)


def complete(app, token, **proof):
    with door(app):
        done = flow.complete_sign_in(token, ANONYMOUS, **proof)
        return done.user.id, done.method, done.data


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 10**6:06d}"


def count(app, model, *where) -> int:
    with door(app):
        return db.session.scalar(select(func.count()).select_from(model).where(*where))


# Completing ---------------------------------------------------------------------------------------


def test_a_code_from_the_app_completes_the_sign_in_with_its_data(app, user, clock):
    secret, _ = set_up_totp(app, user, clock)
    token = begin(app, user, data={"remember": True, "door": "web"})

    assert complete(app, token, code=clock.code(secret)) == (
        user.id, "password+totp", {"remember": True, "door": "web"})


def test_only_a_hash_of_the_token_is_stored(app, user, clock):
    set_up_totp(app, user, clock)
    token = begin(app, user)

    with door(app):
        [row] = db.session.scalars(select(PendingSignIn)).all()
        assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
        assert token not in str({c.key: getattr(row, c.key) for c in PendingSignIn.__table__.columns})
        assert (row.user_id, row.first_step, row.attempts, row.used_at) == (user.id, "password", 0, None)
        assert row.expires_at - row.created_at == timedelta(minutes=5)


def test_a_recovery_code_completes_it_once_and_the_person_is_mailed(app, user, clock, mailbox):
    _, codes = set_up_totp(app, user, clock)

    assert complete(app, begin(app, user), code=codes[3])[1] == "password+recovery"
    with pytest.raises(ValidationFailed):
        complete(app, begin(app, user), code=codes[3])
    assert "Recovery code used" in mailbox.sent_to(user.email)[-1].get_body(("plain",)).get_content()


def test_the_same_users_passkey_completes_it(app, user):
    phone = SoftwareAuthenticator()
    add_passkey(app, user, phone)
    token = begin(app, user, first_step="email_code")

    assertion = passkey_sign_in(app, phone, account=user)

    assert complete(app, token, passkey=assertion)[:2] == (user.id, "email_code+passkey")


def test_another_users_passkey_cannot_complete_someone_elses_sign_in(app, make_user, clock):
    alice, mallory = make_user("alice@example.com"), make_user("mallory@example.com")
    alice_secret, _ = set_up_totp(app, alice, clock)
    mallorys_key = SoftwareAuthenticator()
    add_passkey(app, mallory, mallorys_key)
    token = begin(app, alice)
    mallorys_assertion = passkey_sign_in(app, mallorys_key)  # a real, verified passkey sign-in — of Mallory

    with pytest.raises(ValidationFailed) as raised:
        complete(app, token, passkey=mallorys_assertion)

    assert list(raised.value.errors) == ["passkey"]
    with door(app):
        [failure] = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "second_factor_failed")).all()
        assert failure.subject_id == alice.id
    assert complete(app, token, code=clock.code(alice_secret))[0] == alice.id  # a try was spent, not the sign-in


def test_a_completed_sign_in_cannot_be_completed_again(app, user, clock):
    secret, codes = set_up_totp(app, user, clock)
    token = begin(app, user)
    complete(app, token, code=clock.code(secret))
    clock.advance(30)

    with pytest.raises(SignInExpired):
        complete(app, token, code=clock.code(secret))
    with pytest.raises(SignInExpired):
        complete(app, token, code=codes[0])
    with door(app):
        assert two_factor.pending_sign_in(token) is None


def test_a_pending_sign_in_expires_after_five_minutes(app, user, clock):
    secret, _ = set_up_totp(app, user, clock)
    token = begin(app, user)
    clock.advance(minutes=5, seconds=1)

    with pytest.raises(SignInExpired):
        complete(app, token, code=clock.code(secret))


def test_four_wrong_codes_still_leave_the_right_one_working(app, user, clock):
    secret, _ = set_up_totp(app, user, clock)
    token = begin(app, user)
    for _ in range(4):
        with pytest.raises(ValidationFailed) as raised:
            complete(app, token, code=wrong(clock.code(secret)))
        assert raised.value.errors == {"code": ["Invalid code."]}

    assert complete(app, token, code=clock.code(secret))[0] == user.id


def test_after_five_wrong_codes_the_sixth_try_fails_even_with_the_right_code(app, user, clock):
    secret, codes = set_up_totp(app, user, clock)
    token = begin(app, user)
    for _ in range(5):
        with pytest.raises(ValidationFailed):
            complete(app, token, code=wrong(clock.code(secret)))

    with pytest.raises(SignInExpired):
        complete(app, token, code=clock.code(secret))
    with pytest.raises(SignInExpired):
        complete(app, token, code=codes[0])
    assert count(app, RecoveryCode, RecoveryCode.used_at.is_(None)) == 10  # nothing spent on a dead sign-in
    assert count(app, AuditEvent, AuditEvent.action == "second_factor_failed") == 5
    with door(app):
        assert db.session.scalar(select(PendingSignIn.attempts)) == 5


def test_unknown_or_malformed_tokens_are_expired_sign_ins(app, user, clock):
    secret, _ = set_up_totp(app, user, clock)
    begin(app, user)

    for token in ("", None, 42, "x" * 1000, "not-a-token"):
        with pytest.raises(SignInExpired):
            complete(app, token, code=clock.code(secret))


def test_a_pending_sign_in_shows_what_the_second_step_can_use(app, user, clock):
    secret, _ = set_up_totp(app, user, clock)
    token = begin(app, user, data={"remember": False})
    with pytest.raises(ValidationFailed):
        complete(app, token, code=wrong(clock.code(secret)))

    with door(app):
        step = two_factor.pending_sign_in(token)
        assert step.user.id == user.id
        assert (step.first_step, step.data, step.attempts_left) == ("password", {"remember": False}, 4)
        assert (step.set_up, step.offered) == (("totp", "recovery"), ("totp", "recovery"))
        assert step.refusals == []


def test_ending_a_users_pending_sign_ins_stops_them(app, user, clock):
    secret, _ = set_up_totp(app, user, clock)
    token = begin(app, user)

    with door(app):
        two_factor.end_pending_sign_ins(user_of(user))
        db.session.commit()

    with pytest.raises(SignInExpired):
        complete(app, token, code=clock.code(secret))


def test_a_password_change_or_deactivation_ends_pending_sign_ins(app, user, clock):
    secret, _ = set_up_totp(app, user, clock)
    changed = begin(app, user)
    with door(app):
        accounts.change_password(user_of(user), PASSWORD, "a-Fresh-passphrase-42", actor_for(user))
    with pytest.raises(SignInExpired):
        complete(app, changed, code=clock.code(secret))

    user.password = "a-Fresh-passphrase-42"
    deactivated = begin(app, user)
    with door(app):
        user_of(user).is_active = False  # behind the services' back: completing checks it too
        db.session.commit()
    with pytest.raises(SignInExpired):
        complete(app, deactivated, code=clock.code(secret))


def test_the_method_becomes_the_credentials_method(app, user, clock):
    secret, _ = set_up_totp(app, user, clock)
    token = begin(app, user, data={"remember": True})

    with door(app):
        done = flow.complete_sign_in(token, ANONYMOUS, code=clock.code(secret))
        session = browser_sessions.start_browser_session(
            done.user, actor_for(user), user_agent="Firefox", remember=done.data["remember"], method=done.method
        )
        assert (session.method, session.proven_at) == ("password+totp", session.created_at)
        event = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "signed_in")).one()
        assert event.changes == {"method": [None, "password+totp"]}


# What an account signs in with -------------------------------------------------------------------


def test_the_summary_of_how_an_account_signs_in(app, user, clock):
    with door(app):
        bare = factors.listed(user_of(user))
        assert not factors.has_second_factor(user_of(user))
    assert (bare["totp"].set_up, bare["recovery"].left, bare["passkey"].items) == (False, 0, [])

    _, codes = set_up_totp(app, user, clock)
    add_passkey(app, user, SoftwareAuthenticator(), name="Phone")
    with door(app):
        flow.complete_sign_in(begin(app, user), ANONYMOUS, code=codes[0])
        methods = factors.listed(user_of(user))
        assert factors.has_second_factor(user_of(user))
    assert (methods["totp"].set_up, methods["recovery"].left) == (True, 9)
    [passkey] = methods["passkey"].items
    assert (passkey.name, passkey.last_used_at) == ("Phone", None)
    assert passkey.created_at is not None


# Staff reset --------------------------------------------------------------------------------------


@pytest.fixture
def people(make_user):
    class People:
        member = make_user("member@example.com")
        clerk = make_user("clerk@example.com", staff=True)
        other_clerk = make_user("other-clerk@example.com", staff=True)
        root = make_user("root@example.com", superuser=True)

    return People


def test_staff_reset_removes_the_app_and_recovery_codes_keeps_passkeys_and_mails(app, people, clock, mailbox):
    set_up_totp(app, people.member, clock)
    add_passkey(app, people.member, SoftwareAuthenticator())
    token = begin(app, people.member)

    with door(app):
        two_factor.reset_two_factor(user_of(people.member), actor_for(people.clerk, via="admin"))
        [event] = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "two_factor_reset")).all()
        assert (event.actor_id, event.subject_id) == (people.clerk.id, people.member.id)
        assert event.changes == {"authenticator_app": [True, False], "recovery_codes_left": [10, 0]}
    assert count(app, TotpDevice) == 0 and count(app, RecoveryCode) == 0
    assert count(app, Passkey) == 1
    with pytest.raises(SignInExpired):
        complete(app, token, code="123456")
    body = mailbox.sent_to(people.member.email)[-1].get_body(("plain",)).get_content()
    assert "Two-step sign-in reset by staff" in body and "by a member of staff" in body


def test_staff_reset_can_remove_the_passkeys_too(app, people, clock):
    set_up_totp(app, people.member, clock)
    add_passkey(app, people.member, SoftwareAuthenticator(), name="Lost phone")

    with door(app):
        two_factor.reset_two_factor(user_of(people.member), SYSTEM, remove_passkeys=True)
        assert not factors.has_second_factor(user_of(people.member))
        removed = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "passkey_removed")).one()
        assert removed.changes == {"passkey": ["Lost phone", None]}
    with door(app):
        assert sign_in.authenticate(PASSWORD, email=people.member.email).id == people.member.id


def test_only_staff_reset_and_only_a_superuser_for_a_staff_account_never_their_own(app, people, clock):
    for account in (people.member, people.clerk, people.root):
        set_up_totp(app, account, clock)

    with door(app):
        with pytest.raises(PermissionDenied):
            two_factor.reset_two_factor(user_of(people.clerk), actor_for(people.member))
        with pytest.raises(PermissionDenied):
            two_factor.reset_two_factor(user_of(people.clerk), actor_for(people.other_clerk, via="admin"))
        with pytest.raises(PermissionDenied):
            two_factor.reset_two_factor(user_of(people.clerk), actor_for(people.clerk, via="admin"))
        with pytest.raises(PermissionDenied):
            two_factor.reset_two_factor(user_of(people.root), actor_for(people.root, via="admin"))
        assert count(app, TotpDevice) == 3
        two_factor.reset_two_factor(user_of(people.clerk), actor_for(people.root, via="admin"))
        assert not factors.has_second_factor(user_of(people.clerk))


def test_a_deleted_account_takes_its_factors_and_pending_sign_ins_with_it(app, user, clock):
    set_up_totp(app, user, clock)
    add_passkey(app, user, SoftwareAuthenticator())
    begin(app, user)

    with door(app):
        accounts.delete_account(user_of(user), actor_for(user))

    for model in (TotpDevice, RecoveryCode, Passkey, PendingSignIn):
        assert count(app, model) == 0, model
    assert count(app, User) == 0


# Export -------------------------------------------------------------------------------------------


def test_the_export_lists_factors_and_passkeys_by_name_and_dates_never_a_secret(app, user, clock):
    secret, codes = set_up_totp(app, user, clock)
    phone = SoftwareAuthenticator()
    add_passkey(app, user, phone, name="Phone")
    token = begin(app, user)
    complete(app, token, code=codes[0])

    with door(app):
        data = export.account_export(user_of(user))
        held = [
            *(row.code_hash for row in db.session.scalars(select(RecoveryCode))),
            *(row.secret_sealed for row in db.session.scalars(select(TotpDevice))),
            *(value for p in db.session.scalars(select(Passkey))
              for value in (p.credential_id, p.public_key, p.user_handle)),
        ]

    factors = data["second_factors"]
    assert set(factors["authenticator_app"]) == {"created_at", "confirmed_at"}
    assert factors["authenticator_app"]["confirmed_at"].endswith("Z")
    assert (factors["recovery_codes"]["unused"], factors["recovery_codes"]["used"]) == (9, 1)
    [passkey] = factors["passkeys"]
    assert set(passkey) == {"name", "created_at", "last_used_at", "backed_up"}
    assert passkey["name"] == "Phone"
    text = repr(data)
    for value in [secret, token, *codes, *(c.replace("-", "") for c in codes)]:
        assert value not in text
    for value in held:
        assert (value.hex() if isinstance(value, bytes) else value) not in text
        if isinstance(value, bytes):
            assert repr(value)[2:-1] not in text


def test_a_staff_reset_starts_the_second_steps_count_again_so_a_new_app_is_not_refused(app, people, clock):
    lost, _ = set_up_totp(app, people.member, clock)
    with door(app):  # someone with the password spent the account's budget
        db.session.execute(update(User).where(User.id == people.member.id).values(second_step_failures=100))
        db.session.commit()
    with pytest.raises(ValidationFailed):
        complete(app, begin(app, people.member), code=clock.code(lost))

    with door(app):
        two_factor.reset_two_factor(user_of(people.member), actor_for(people.clerk, via="admin"))
    secret, _ = set_up_totp(app, people.member, clock)

    assert complete(app, begin(app, people.member), code=clock.code(secret))[1] == "password+totp"
