"""Sign-in alerts under concurrency: sign-ins of one account from one new browser at the same moment
remember it once and mail once (each waits for the row of the user the one before updated); a "This
wasn't me" link confirmed by several requests at once secures the account once (one conditional
UPDATE spends it).

Each thread has its own app context, so its own connection and transaction, on a database several
connections share (a SQLite file, or $TEST_DATABASE_URL's PostgreSQL).
"""

import pytest
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import AuditEvent, OutgoingMail, SignInAlert, SignInSource, User
from portal.services.audit import Actor
from portal.services.errors import LinkExpired
from portal.services.signing_in import sign_in_alerts
from portal.services.ways_in import browser_sessions
from portal.transactions import unit_of_work
from tests.conftest import fresh_app, shared_database
from tests.security.conftest import run_together

from .test_sign_in_alerts import CHROME_LINUX, FIREFOX_WINDOWS, browser_sign_in


@pytest.fixture
def app(tmp_path):
    yield from fresh_app(tmp_path, **shared_database(tmp_path))


def count(app, model, *where) -> int:
    with app.app_context(), unit_of_work():
        return db.session.scalar(select(func.count()).select_from(model).where(*where))


def test_six_sign_ins_from_one_new_browser_at_once_remember_it_once_and_mail_once(app, user):
    browser_sign_in(app, user, CHROME_LINUX)

    def sign_in(i, _):
        with app.app_context(), unit_of_work():
            account = db.session.get(User, user.id)
            browser_sessions.start_browser_session(
                account, Actor(user=account, ip="198.51.100.23", via="web"), user_agent=FIREFOX_WINDOWS, remember=False
            )
        return "signed in"

    assert run_together(6, lambda i: None, sign_in) == ["signed in"] * 6
    assert count(app, SignInSource, SignInSource.value == "Firefox|Windows") == 1
    assert count(app, SignInAlert) == 1
    assert count(app, OutgoingMail, OutgoingMail.subject == "A new sign-in to your account") == 1


def test_a_link_confirmed_six_times_at_once_secures_the_account_once(app, user):
    browser_sign_in(app, user, CHROME_LINUX)
    browser_sign_in(app, user, FIREFOX_WINDOWS, ip="198.51.100.23")
    with app.app_context(), unit_of_work():
        token = sign_in_alerts.not_me_link(db.session.scalar(select(SignInAlert))).rstrip("/").rsplit("/", 1)[1]

    def confirm(i, _):
        with app.app_context(), unit_of_work():
            try:
                sign_in_alerts.secure_with_link(token, Actor(ip="192.0.2.1", via="web"))
            except LinkExpired:
                return "refused"
            return "secured"

    assert sorted(run_together(6, lambda i: None, confirm)) == ["refused"] * 5 + ["secured"]
    assert count(app, AuditEvent, AuditEvent.action == "account_secured") == 1
    assert count(app, OutgoingMail, OutgoingMail.subject == "Your account was secured") == 1
