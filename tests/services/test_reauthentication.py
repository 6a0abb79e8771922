"""Each credential says how its sign-in was proven and when it was last proven; proving it again
(password, a code, or a passkey of the same person) renews that, and a stale proof is refused."""

from datetime import timedelta

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.models import AuditEvent, Credential, utcnow
from portal.services.errors import AuthenticationFailed, ReauthenticationRequired, ValidationFailed
from portal.services.signing_in import reauthentication
from portal.services.ways_in import api_keys, browser_sessions, tokens
from portal.transactions import unit_of_work
from tests.conftest import PASSWORD
from tests.two_step import actor_for, add_passkey, passkey_sign_in, set_up_totp, user_of
from tests.webauthn_authenticator import SoftwareAuthenticator


def start_session(app, account, **options) -> int:
    with app.app_context(), unit_of_work():
        return browser_sessions.start_browser_session(
            user_of(account), actor_for(account), user_agent="Firefox", remember=False, **options
        ).id


def age(app, credential_id, minutes) -> None:
    """Make the credential's last proof ``minutes`` old."""
    with app.app_context():
        db.session.get(Credential, credential_id).proven_at = utcnow() - timedelta(minutes=minutes)
        db.session.commit()


def reauthenticate(app, account, credential_id, **proof) -> None:
    with app.app_context():
        reauthentication.reauthenticate(db.session.get(Credential, credential_id), actor_for(account), **proof)


def needs_it(app, credential_id) -> bool:
    with app.app_context():
        return reauthentication.needs_reauthentication(db.session.get(Credential, credential_id))


# How and when a credential was proven -------------------------------------------------------------


def test_every_kind_of_credential_says_how_it_was_proven_and_when(app, user):
    with app.app_context():
        me = user_of(user)
        session = browser_sessions.start_browser_session(me, actor_for(user), user_agent=None, remember=True)
        tokens.issue_token_pair(me, actor_for(user, via="api"), method="password+passkey")
        key, _ = api_keys.issue_api_key(me, actor_for(user, via="api"), "CI", method="passkey")
        rows = {c.kind: c for c in db.session.scalars(select(Credential))}

        assert {kind: row.method for kind, row in rows.items()} == {
            "session": "password", "jwt": "password+passkey", "key": "passkey"
        }
        for row in rows.values():
            assert row.proven_at == row.created_at
        assert session.proven_at is not None and key.proven_at is not None
        methods = [e.changes for e in db.session.scalars(select(AuditEvent).where(AuditEvent.action == "signed_in"))]
        assert sorted(m["method"][1] for m in methods) == ["passkey", "password", "password+passkey"]


def test_a_fresh_sign_in_needs_no_reauthentication_a_ten_minute_old_one_does(app, user):
    session = start_session(app, user)
    assert not needs_it(app, session)

    age(app, session, 9)
    assert not needs_it(app, session)
    with app.app_context(), unit_of_work():
        reauthentication.ensure_recently_proven(db.session.get(Credential, session))

    age(app, session, 11)
    assert needs_it(app, session)
    with app.app_context(), pytest.raises(ReauthenticationRequired):
        reauthentication.ensure_recently_proven(db.session.get(Credential, session))


def test_a_credential_from_before_proofs_were_kept_needs_reauthentication(app, user):
    session = start_session(app, user)
    with app.app_context(), unit_of_work():
        db.session.get(Credential, session).proven_at = None
        db.session.commit()

    assert needs_it(app, session)


# Proving it again ---------------------------------------------------------------------------------


def test_the_password_proves_it_again(app, user):
    session = start_session(app, user)
    age(app, session, 30)

    reauthenticate(app, user, session, password=PASSWORD)

    assert not needs_it(app, session)


def test_a_code_from_the_app_or_a_recovery_code_proves_it_again(app, user, clock):
    secret, codes = set_up_totp(app, user, clock)
    session = start_session(app, user)

    for proof in (clock.code(secret), codes[0]):
        age(app, session, 30)
        reauthenticate(app, user, session, code=proof)
        assert not needs_it(app, session)


def test_the_same_persons_passkey_proves_it_again(app, user):
    phone = SoftwareAuthenticator()
    add_passkey(app, user, phone)
    session = start_session(app, user)
    age(app, session, 30)

    reauthenticate(app, user, session, passkey=passkey_sign_in(app, phone, account=user))

    assert not needs_it(app, session)


def test_a_wrong_proof_is_refused_audited_and_leaves_the_proof_stale(app, make_user, clock):
    alice, mallory = make_user("alice@example.com"), make_user("mallory@example.com")
    secret, _ = set_up_totp(app, alice, clock)
    mallorys_key = SoftwareAuthenticator()
    add_passkey(app, mallory, mallorys_key)
    session = start_session(app, alice)
    age(app, session, 30)

    for proof, field in [
        ({"password": "not-it"}, "current_password"),
        ({"code": f"{(int(clock.code(secret)) + 1) % 10**6:06d}"}, "code"),
        ({"passkey": passkey_sign_in(app, mallorys_key)}, "passkey"),
    ]:
        with pytest.raises(ValidationFailed) as raised:
            reauthenticate(app, alice, session, **proof)
        assert list(raised.value.errors) == [field]

    assert needs_it(app, session)
    with app.app_context(), unit_of_work():
        failures = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "reauthentication_failed")).all()
        assert [(e.subject_id, e.changes["method"][1]) for e in failures] == [
            (alice.id, "password"), (alice.id, "code"), (alice.id, "passkey")
        ]


def test_exactly_one_proof_is_given(app, user):
    session = start_session(app, user)

    for proofs in ({}, {"password": PASSWORD, "code": "123456"}):
        with pytest.raises(ValidationFailed) as raised:
            reauthenticate(app, user, session, **proofs)
        assert list(raised.value.errors) == ["non_field_errors"]


def test_a_revoked_credential_cannot_be_proven_again(app, user):
    session = start_session(app, user)
    with app.app_context(), unit_of_work():
        db.session.get(Credential, session).revoked_at = utcnow()
        db.session.commit()

    with pytest.raises(AuthenticationFailed):
        reauthenticate(app, user, session, password=PASSWORD)
