"""The pages and the API give the same sign-in outcome for the same account, because both only
render what the sign-in flow decided: signed in, or held for a second step offering the same kinds
of factor (the API's ``methods``; the pages' pending sign-in). (Each stage's decision:
tests/services/test_sign_in_flow.py.)"""

import pytest
from sqlalchemy import select, update

from portal.extensions import db
from portal.http import PENDING_SIGN_IN
from portal.models import Credential, RecoveryCode, User, utcnow
from portal.services.signing_in import factors, second_step_budget, two_factor
from tests.two_step import add_passkey, set_up_totp
from tests.webauthn_authenticator import ORIGIN, SoftwareAuthenticator

from .conftest import sign_in, text_of

SECOND_STEP = "/login/second-step"


@pytest.fixture
def app(app):
    app.config["PUBLIC_BASE_URL"] = ORIGIN
    return app




@pytest.fixture(params=["pages", "api"])
def door(request, app):
    """How one door answers a right password: ("signed in", the credential's method), or
    ("pending", the kinds the second step offers). The pages' second step is shown as well."""

    def through_the_pages(account):
        browser = app.test_client()
        answer = sign_in(browser, account)
        assert answer.status_code == 302
        if answer.headers["Location"] != SECOND_STEP:
            return "signed in", latest_method(account)
        with browser.session_transaction() as session:
            token = session[PENDING_SIGN_IN]
        page = browser.get(SECOND_STEP)
        assert page.status_code == 200
        with app.app_context():
            step = two_factor.pending_sign_in(token)
        refused = "totp" in step.set_up and "totp" not in step.offered
        assert (str(second_step_budget.APP_CODES_REFUSED) in text_of(page)) == refused  # said before a try
        return "pending", step.offered

    def through_the_api(account):
        answer = app.test_client().post("/api/token/", json={"email": account.email, "password": account.password})
        if answer.status_code == 401:
            body = answer.get_json()
            assert body["mfa_required"] is True and body["mfa_token"]
            return "pending", tuple(body["methods"])
        assert answer.status_code == 200, answer.get_json()
        return "signed in", latest_method(account)

    def latest_method(account):
        with app.app_context():
            mine = select(Credential.method).where(Credential.user_id == account.id).order_by(Credential.id.desc())
            return db.session.scalars(mine).first()

    return through_the_pages if request.param == "pages" else through_the_api


def offered_by_the_registry(app, account) -> tuple[str, ...]:
    with app.app_context():
        account = db.session.get(User, account.id)
        return tuple(kind.key for kind in factors.KINDS if kind.is_offered(account))


def test_no_factor_signs_in(app, user, door):
    assert door(user) == ("signed in", "password")


def test_an_app_holds_the_sign_in_offering_the_registrys_kinds(app, user, clock, door):
    set_up_totp(app, user, clock)

    assert door(user) == ("pending", ("totp", "recovery")) == ("pending", offered_by_the_registry(app, user))


def test_a_spent_budget_leaves_the_app_out(app, user, clock, door):
    set_up_totp(app, user, clock)
    with app.app_context():
        db.session.execute(update(User).where(User.id == user.id).values(
            second_step_failures=app.config["TWO_FACTOR_FAILURE_BUDGET"]))
        db.session.commit()

    assert door(user) == ("pending", ("recovery",))


def test_recovery_codes_are_offered_only_while_some_are_left(app, user, door):
    add_passkey(app, user, SoftwareAuthenticator())
    assert door(user) == ("pending", ("recovery", "passkey"))

    with app.app_context():
        db.session.execute(update(RecoveryCode).values(used_at=utcnow()))
        db.session.commit()

    assert door(user) == ("pending", ("passkey",))
