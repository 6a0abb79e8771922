"""Securing an account: the "This wasn't me" link of a sign-in alert (once, for 7 days) ends every way
in and asks for a new password; the password then signs nobody in until the reset flow is done,
while a passkey still does. (Across two app processes, and the pages: tests/web/test_sign_in_alert_pages.py.)"""

from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from portal.extensions import db
from portal.models import AuditEvent, Credential, PendingSignIn, SignInAlert, User, utcnow
from portal.services.audit import Actor
from portal.services.errors import AuthenticationFailed, LinkExpired, PasswordResetRequired, ValidationFailed
from portal.services.people import accounts, verification
from portal.services.signing_in import flow, securing, sign_in, sign_in_alerts, two_factor
from portal.services.ways_in import api_keys, browser_sessions, tokens
from portal.transactions import unit_of_work
from tests.conftest import PASSWORD
from tests.two_step import add_passkey, passkey_sign_in
from tests.webauthn_authenticator import SoftwareAuthenticator

from .test_sign_in_alerts import CHROME_LINUX, FIREFOX_WINDOWS, browser_sign_in, text

NEW_PASSWORD = "Quiet-Harbour-Lantern-58"
STRANGER = Actor(ip="192.0.2.66", via="web")


@pytest.fixture
def alerted(app, user, mailbox):
    """The user signed in from Chrome, then from a new Firefox (an alert), with a JWT and a key too:
    the alert's link token."""
    browser_sign_in(app, user, CHROME_LINUX)
    browser_sign_in(app, user, FIREFOX_WINDOWS, ip="198.51.100.23")
    with app.app_context(), unit_of_work():
        account = db.session.get(User, user.id)
        tokens.issue_token_pair(account, Actor(user=account, ip="203.0.113.7", via="api"))
        api_keys.issue_api_key(account, Actor(user=account, ip="203.0.113.7", via="api"), name="script")
        alert = db.session.scalar(select(SignInAlert))
        return link_token(alert)


def link_token(alert) -> str:
    return sign_in_alerts.not_me_link(alert).rstrip("/").rsplit("/", 1)[1]


def live_credentials(app, account) -> list[str]:
    with app.app_context(), unit_of_work():
        account = db.session.get(User, account.id)
        theirs = select(Credential).where(Credential.user_id == account.id)
        return [c.kind for c in db.session.scalars(theirs) if c.is_live]


def stored(app, account) -> User:
    with app.app_context(), unit_of_work():
        user = db.session.get(User, account.id)
        db.session.expunge(user)
        return user


def events(app, action) -> list[dict]:
    with app.app_context(), unit_of_work():
        return [e.changes for e in db.session.scalars(select(AuditEvent).where(AuditEvent.action == action))]


def secure(app, token, actor=STRANGER):
    with app.app_context(), unit_of_work():
        return sign_in_alerts.secure_with_link(token, actor).id


def password_sign_in(app, account, password=None):
    """The password proves who this is, and the sign-in flow lets the account in (or refuses it)."""
    with app.app_context(), unit_of_work():
        user = sign_in.authenticate(password or account.password, email=account.email)
        return flow.sign_in(user).user.id


# The link ------------------------------------------------------------------------------------------------


def test_the_link_ends_every_way_in_requires_a_new_password_and_is_audited_and_mailed(app, user, alerted, mailbox):
    with app.app_context():
        two_factor.begin_sign_in(db.session.get(User, user.id))  # a sign-in waiting for its second step
        db.session.commit()
    assert sorted(live_credentials(app, user)) == ["jwt", "key", "session", "session"]

    assert secure(app, alerted) == user.id

    assert live_credentials(app, user) == []
    assert stored(app, user).password_reset_required is True
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(PendingSignIn)) == 0
        assert db.session.scalar(select(SignInAlert)).used_at is not None
    [changes] = events(app, "account_secured")
    assert changes["password_reset_required"] == [False, True]
    assert changes["live_sessions_and_keys"] == [4, 0]
    assert changes["how"] == [None, securing.FROM_ALERT]
    assert changes["sign_in_not_recognised"] == [None, "Firefox · Windows · 198.51.100.23"]
    [mail] = [m for m in mailbox.sent_to(user.email) if m["Subject"] == "Your account was secured"]
    body = text(mail)
    assert "Every browser, app and API key signed in to your account was signed out (4 in all)." in body
    assert "Firefox on Windows from 198.51.100.23" in body
    assert "/password/reset/" in body and "/password/forgot" in body


def test_the_link_works_once(app, user, alerted):
    secure(app, alerted)

    with pytest.raises(LinkExpired, match="already used or has expired"):
        secure(app, alerted)
    with app.app_context(), pytest.raises(LinkExpired):
        sign_in_alerts.alert_for_link(alerted)
    assert len(events(app, "account_secured")) == 1


def test_the_link_expires_after_7_days_by_its_alert(app, user, alerted):
    with app.app_context():
        db.session.execute(update(SignInAlert).values(created_at=utcnow() - timedelta(days=7, minutes=1)))
        db.session.commit()

    with pytest.raises(LinkExpired):
        secure(app, alerted)
    assert stored(app, user).password_reset_required is False
    assert len(live_credentials(app, user)) == 4


def test_the_link_expires_after_7_days_by_its_signature(app, user, alerted, clock):
    with app.app_context():
        alert = db.session.scalar(select(SignInAlert))
        clock.advance(-timedelta(days=7, minutes=1).total_seconds())
        old_token = link_token(alert)  # signed 7 days and a minute ago
        clock.advance(days=7, minutes=1)

    with pytest.raises(LinkExpired):
        secure(app, old_token)
    assert secure(app, alerted) == user.id  # the same alert's fresh link still works


def test_a_forged_or_cut_link_is_not_valid(app, user, alerted):
    forged = sign_in_alerts.URLSafeTimedSerializer("another key", salt=sign_in_alerts.LINK_SALT)
    with app.app_context():
        reset_token = verification.password_reset_link(db.session.get(User, user.id)).rstrip("/").rsplit("/", 1)[1]
    for token in (alerted[:-3], forged.dumps({"a": 1, "u": user.id}), reset_token, "", "x" * 1000):
        with pytest.raises(ValidationFailed):
            secure(app, token)
    assert stored(app, user).password_reset_required is False


def test_a_link_names_the_alert_of_its_own_account_only(app, user, alerted, make_user):
    other = make_user("other@example.com")
    with app.app_context():
        alert = db.session.scalar(select(SignInAlert))
        mixed = sign_in_alerts._serializer().dumps({"a": alert.id, "u": other.id})

    with pytest.raises(LinkExpired):
        secure(app, mixed)
    assert stored(app, other).password_reset_required is False


# After it ------------------------------------------------------------------------------------------------


def test_the_password_is_refused_with_the_reset_message_until_the_reset_flow_is_done(app, user, alerted):
    secure(app, alerted)

    with pytest.raises(PasswordResetRequired, match="Forgot your password"):
        password_sign_in(app, user)
    # A wrong password hears what it always hears: the state is told only to who knows the password.
    with pytest.raises(AuthenticationFailed) as wrong:
        password_sign_in(app, user, "not-the-password")
    assert not isinstance(wrong.value, PasswordResetRequired) and wrong.value.detail == sign_in.BAD_CREDENTIALS

    with app.app_context(), unit_of_work():
        link = verification.password_reset_link(db.session.get(User, user.id))
        uid, token = link.rstrip("/").split("/")[-2:]
        accounts.reset_password(uid, token, NEW_PASSWORD, STRANGER)

    assert password_sign_in(app, user, NEW_PASSWORD) == user.id
    assert stored(app, user).password_reset_required is False
    [changes] = events(app, "password_changed")
    assert changes == {"password_reset_required": [True, False]}


def test_a_passkey_still_signs_in(app, user, mailbox):
    authenticator = SoftwareAuthenticator()
    browser_sign_in(app, user, CHROME_LINUX)
    add_passkey(app, user, authenticator)
    with app.app_context():
        securing.secure_account(db.session.get(User, user.id), STRANGER, how=securing.FROM_SESSIONS_PAGE)

    assertion = passkey_sign_in(app, authenticator)
    with app.app_context():
        session = browser_sessions.start_browser_session(
            db.session.get(User, assertion.user.id), STRANGER, user_agent=CHROME_LINUX, remember=False, method="passkey"
        )
        assert session.is_live and session.user_id == user.id


def test_a_new_password_chosen_from_a_passkey_session_lifts_the_requirement_too(app, user):
    with app.app_context(), unit_of_work():
        account = db.session.get(User, user.id)
        securing.secure_account(account, STRANGER, how=securing.FROM_SESSIONS_PAGE)
        accounts.change_password(account, PASSWORD, NEW_PASSWORD, Actor(user=account, via="web"))

    assert password_sign_in(app, user, NEW_PASSWORD) == user.id


def test_securing_twice_keeps_the_account_secured(app, user):
    with app.app_context(), unit_of_work():
        account = db.session.get(User, user.id)
        securing.secure_account(account, STRANGER, how=securing.FROM_SESSIONS_PAGE)
        assert securing.secure_account(account, STRANGER, how=securing.FROM_SESSIONS_PAGE) == 0

    assert [c["password_reset_required"] for c in events(app, "account_secured")] == [[False, True], [True, True]]
