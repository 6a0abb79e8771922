"""The sign-in flow after a first proof: each stage's decision, in order, and the second step going
on with the stages after it; the registry of second-factor kinds it asks. (The same outcome through
the pages and the API: tests/web/test_sign_in_doors.py.)"""

import pytest
from sqlalchemy import delete, func, select, update

from portal.extensions import db
from portal.models import PendingSignIn, RecoveryCode, TotpDevice, User, utcnow
from portal.services.audit import Actor
from portal.services.errors import PasswordResetRequired
from portal.services.signing_in import factors, flow, sign_in
from tests.two_step import IP, add_passkey, door, set_up_totp, user_of
from tests.webauthn_authenticator import SoftwareAuthenticator

STRANGER = Actor(ip=IP, via="web")




def through_the_flow(app, account, first_step="password", door_data=None):
    """The flow's outcome after ``first_step`` proved the account, as a door gets it."""
    with door(app):
        return flow.sign_in(user_of(account), first_step=first_step, door_data=door_data)


def secure(app, account):
    with door(app):
        db.session.execute(update(User).where(User.id == account.id).values(password_reset_required=True))


def pending_rows(app) -> int:
    with door(app):
        return db.session.scalar(select(func.count()).select_from(PendingSignIn))


# The registry --------------------------------------------------------------------------------------


def test_the_kinds_of_second_factor_are_the_app_recovery_codes_and_passkeys_and_only_two_count():
    assert [kind.key for kind in factors.KINDS] == ["totp", "recovery", "passkey"]
    assert [kind.key for kind in factors.KINDS if kind.counts_as_factor] == ["totp", "passkey"]
    assert {kind.proof for kind in factors.KINDS} == {factors.CODE, factors.PASSKEY_ANSWER}
    assert [kind.key for kind in factors.KINDS if kind.kept_by_reset] == ["passkey"]


def test_recovery_codes_alone_are_no_second_factor(app, user, clock):
    set_up_totp(app, user, clock)
    with door(app):
        db.session.execute(delete(TotpDevice))  # behind the services' back: the codes stay

    with door(app):
        assert [kind.key for kind in factors.KINDS if kind.is_set_up(user_of(user))] == ["recovery"]
        assert not factors.has_second_factor(user_of(user))
    assert through_the_flow(app, user).finished


# Each stage's decision -----------------------------------------------------------------------------


def test_an_account_without_a_factor_is_signed_in_with_its_first_step_and_the_doors_data(app, user):
    outcome = through_the_flow(app, user, "email_code", {"remember": True})

    assert outcome.finished
    assert (outcome.user.id, outcome.method, outcome.data) == (user.id, "email_code", {"remember": True})
    assert pending_rows(app) == 0


@pytest.mark.parametrize("first_step", ["password", "email_code"])
def test_an_account_with_a_factor_is_held_for_it_with_the_kinds_it_offers(app, user, clock, first_step):
    set_up_totp(app, user, clock)

    outcome = through_the_flow(app, user, first_step, {"issue": "jwt"})

    assert not outcome.finished and outcome.stage == flow.SecondFactor.key
    assert (outcome.step.first_step, outcome.step.data, outcome.step.offered) == (
        first_step, {"issue": "jwt"}, ("totp", "recovery"))
    assert pending_rows(app) == 1


def test_a_passkey_alone_is_not_asked_for_a_second_factor(app, user, clock):
    set_up_totp(app, user, clock)
    add_passkey(app, user, SoftwareAuthenticator())

    outcome = through_the_flow(app, user, flow.PASSKEY)

    assert outcome.finished and outcome.method == "passkey"
    assert pending_rows(app) == 0


def test_a_secured_accounts_password_is_refused_before_any_second_step(app, user, clock):
    set_up_totp(app, user, clock)
    secure(app, user)

    with pytest.raises(PasswordResetRequired) as refused:
        through_the_flow(app, user)

    assert refused.value.detail == sign_in.RESET_REQUIRED
    assert pending_rows(app) == 0


@pytest.mark.parametrize("first_step", ["email_code", "passkey"])
def test_a_secured_account_still_signs_in_with_a_code_or_a_passkey(app, user, first_step):
    secure(app, user)

    assert through_the_flow(app, user, first_step).method == first_step


def test_an_unknown_first_step_is_a_mistake_of_the_door(app, user):
    with pytest.raises(ValueError):
        through_the_flow(app, user, "telepathy")


# The second step goes on with the flow -------------------------------------------------------------


def test_the_second_step_finishes_the_flow_with_how_it_was_proven_and_the_doors_data(app, user, clock):
    secret, _ = set_up_totp(app, user, clock)
    held = through_the_flow(app, user, "email_code", {"remember": True, "next": "/profile/"})

    with door(app):
        done = flow.complete_sign_in(held.token, STRANGER, code=clock.code(secret))

    assert done.finished
    assert (done.user.id, done.method) == (user.id, "email_code+totp")
    assert done.data == {"remember": True, "next": "/profile/"}


def test_a_recovery_code_finishes_it_as_a_recovery_code(app, user, clock):
    _, codes = set_up_totp(app, user, clock)
    held = through_the_flow(app, user)

    with door(app):
        assert flow.complete_sign_in(held.token, STRANGER, code=codes[0]).method == "password+recovery"


class Refused(Exception):
    pass


class EveryoneWaits(flow.Stage):
    """A later stage (an app's consent, say), here refusing everyone it applies to."""

    key = "everyone_waits"

    def applies(self, attempt):
        return True

    def hold(self, attempt):
        raise Refused(attempt.method)


def test_stages_are_asked_in_order_and_the_second_step_goes_on_with_the_ones_after_it(app, make_user, clock,
                                                                                      monkeypatch):
    plain, guarded = make_user("plain@example.com"), make_user("guarded@example.com")
    secret, _ = set_up_totp(app, guarded, clock)
    monkeypatch.setattr(flow, "STAGES", (*flow.STAGES, EveryoneWaits()))

    with pytest.raises(Refused, match="^password$"):
        through_the_flow(app, plain)
    held = through_the_flow(app, guarded)  # the second factor comes first
    assert held.stage == flow.SecondFactor.key
    with door(app), pytest.raises(Refused, match=r"^password\+totp$"):
        flow.complete_sign_in(held.token, STRANGER, code=clock.code(secret))


# What the second step offers -----------------------------------------------------------------------


def test_app_codes_are_not_offered_once_the_accounts_budget_is_spent(app, user, clock):
    set_up_totp(app, user, clock)
    with door(app):
        db.session.execute(update(User).where(User.id == user.id).values(
            second_step_failures=app.config["TWO_FACTOR_FAILURE_BUDGET"]))

    step = through_the_flow(app, user).step

    assert (step.set_up, step.offered) == (("totp", "recovery"), ("recovery",))
    assert step.refusals == [factors.TOTP.refused]


def test_recovery_codes_are_offered_only_while_some_are_left(app, user, clock):
    set_up_totp(app, user, clock)
    with door(app):
        db.session.execute(update(RecoveryCode).values(used_at=utcnow()))

    step = through_the_flow(app, user).step

    assert (step.set_up, step.offered) == (("totp",), ("totp",))
