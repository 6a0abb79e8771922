"""Two-step sign-in under concurrency: each single-use thing (a recovery code, an app's code, a
pending sign-in, its tries, a WebAuthn challenge) is taken by one conditional UPDATE, so requests
that race cannot both pass.

Each thread opens its own app context, so its own database connection and transaction, on a
database several connections share (a SQLite file, or $TEST_DATABASE_URL's PostgreSQL; in-memory
SQLite is one connection and could show no race). Two kinds of test:

- *interleaved*: the first request has spent the thing and holds its transaction open while the
  second tries. A check that reads and then writes would let the second through (it reads before
  the first commits); the conditional UPDATE waits for the first and then finds nothing to take.
- *together*: many requests released by one barrier, as a burst of real requests would arrive.
"""

import os
import threading

import pytest
from sqlalchemy import func, select, update

from portal.extensions import db
from portal.models import AuditEvent, PendingSignIn, RecoveryCode, User
from portal.services.audit import SYSTEM, Actor
from portal.services.errors import AuthenticationFailed, SignInExpired, ValidationFailed
from portal.services.people import accounts
from portal.services.signing_in import flow, passkeys, recovery_codes, second_step_budget, sign_in, totp, two_factor
from tests.conftest import PASSWORD, Account, fresh_app
from tests.security.conftest import run_together
from tests.two_step import BINDING, IP, actor_for, add_passkey, door, set_up_totp, user_of
from tests.webauthn_authenticator import ORIGIN, RP_ID, SoftwareAuthenticator


@pytest.fixture
def app(tmp_path):
    """The shared fixtures' app, on a database that several connections can share at once."""
    shared = ({} if os.environ.get("TEST_DATABASE_URL")
              else {"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'race.sqlite'}"})
    yield from fresh_app(tmp_path, **shared)


@pytest.fixture
def racer(app) -> Account:
    with door(app):
        user = accounts.create_user("racer@example.com", PASSWORD, SYSTEM, email_verified=True)
        db.session.commit()
        return Account(user.id, user.email, PASSWORD)


def interleaved(app, take) -> tuple:
    """``take()`` in two connections: the first takes and keeps its transaction open while the
    second takes and commits; then the first commits. Both results, first's first."""
    first_took, second_started = threading.Event(), threading.Event()
    results = {}

    def first():
        with door(app):
            results["first"] = take()
            first_took.set()
            second_started.wait(10)
            threading.Event().wait(0.3)  # the second is now waiting for the row (or the file's write lock)
            db.session.commit()

    def second():
        first_took.wait(10)
        with door(app):
            second_started.set()
            results["second"] = take()
            db.session.commit()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not any(thread.is_alive() for thread in threads)
    return results.get("first"), results.get("second")


def begin(app, account) -> str:
    with door(app):
        return two_factor.begin_sign_in(sign_in.authenticate(account.password, email=account.email))


def attempt(app, token, **proof) -> str:
    """One request's outcome, by name (a thread reports, never raises)."""
    try:
        with door(app):
            flow.complete_sign_in(token, Actor(ip=IP), **proof)
        return "signed in"
    except SignInExpired:
        return "expired"
    except ValidationFailed:
        return "wrong"


def count(app, model, *where) -> int:
    with door(app):
        return db.session.scalar(select(func.count()).select_from(model).where(*where))


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 10**6:06d}"


def test_the_race_database_is_one_several_connections_share(app):
    uri = app.config["SQLALCHEMY_DATABASE_URI"]

    assert uri.startswith("postgresql") or (uri.startswith("sqlite:///") and uri != "sqlite://")


# Interleaved --------------------------------------------------------------------------------------


def test_a_recovery_code_taken_by_an_open_transaction_is_not_taken_again(app, racer, clock):
    _, codes = set_up_totp(app, racer, clock)

    results = interleaved(app, lambda: recovery_codes.spend_code(user_of(racer), codes[0], actor_for(racer)))

    assert results == (True, False)
    assert count(app, RecoveryCode, RecoveryCode.used_at.is_(None)) == 9
    assert count(app, AuditEvent, AuditEvent.action == "recovery_code_used") == 1


def test_an_apps_code_taken_by_an_open_transaction_is_not_taken_again(app, racer, clock):
    secret, _ = set_up_totp(app, racer, clock)
    code = clock.code(secret)

    assert interleaved(app, lambda: totp.accept_code(user_of(racer), code)) == (True, False)


# Together -----------------------------------------------------------------------------------------


def test_ten_parallel_wrong_guesses_get_five_comparisons(app, racer, clock):
    secret, _ = set_up_totp(app, racer, clock)
    token = begin(app, racer)
    guess = wrong(clock.code(secret))

    outcomes = run_together(10, lambda i: None, lambda i, _: attempt(app, token, code=guess))

    assert sorted(outcomes) == ["expired"] * 5 + ["wrong"] * 5
    with door(app):
        assert db.session.scalar(select(PendingSignIn.attempts)) == 5
    assert attempt(app, token, code=clock.code(secret)) == "expired"


def test_one_pending_sign_in_completed_by_parallel_requests_signs_in_once(app, racer, clock):
    _, codes = set_up_totp(app, racer, clock)
    token = begin(app, racer)

    outcomes = run_together(4, lambda i: None, lambda i, _: attempt(app, token, code=codes[i]))

    assert sorted(outcomes) == ["expired"] * 3 + ["signed in"]
    assert count(app, RecoveryCode, RecoveryCode.used_at.is_not(None)) == 1  # the losers' codes were not spent


@pytest.mark.parametrize("kind", ["app", "recovery"])
def test_one_code_used_for_six_pending_sign_ins_at_once_passes_once(app, racer, clock, kind):
    secret, codes = set_up_totp(app, racer, clock)
    code = clock.code(secret) if kind == "app" else codes[0]
    tokens = [begin(app, racer) for _ in range(6)]

    outcomes = run_together(6, lambda i: None, lambda i, _: attempt(app, tokens[i], code=code))

    assert sorted(outcomes) == ["signed in"] + ["wrong"] * 5


def test_one_passkey_answer_sent_six_times_at_once_passes_once(app, racer):
    synced = SoftwareAuthenticator(counter_step=0)  # no counter: only the single-use challenge stops a replay
    add_passkey(app, racer, synced)
    with door(app):
        response = synced.get(passkeys.authentication_options(rp_id=RP_ID, binding=BINDING))

    def verify(i, _):
        try:
            with door(app):
                passkeys.verify_passkey(response, rp_id=RP_ID, origin=ORIGIN, binding=BINDING, actor=Actor(ip=IP))
            return "signed in"
        except AuthenticationFailed:
            return "refused"

    assert sorted(run_together(6, lambda i: None, verify)) == ["refused"] * 5 + ["signed in"]


def test_ten_wrong_codes_at_once_on_an_account_five_short_of_its_budget_get_five_comparisons(app, racer, clock):
    secret, _ = set_up_totp(app, racer, clock)
    with door(app):
        db.session.execute(update(User).where(User.id == racer.id).values(second_step_failures=95))
        db.session.commit()
    tokens = [begin(app, racer) for _ in range(10)]

    def guess(i, _):
        try:
            with door(app):
                flow.complete_sign_in(tokens[i], Actor(ip=IP), code=wrong(clock.code(secret)))
        except ValidationFailed as exc:
            return str(exc.errors["code"][0])

    answers = run_together(10, lambda i: None, guess)

    assert sorted(answers) == sorted([str(second_step_budget.APP_CODES_REFUSED)] * 5 + [str(totp.INVALID_CODE)] * 5)
    with door(app):
        assert db.session.get(User, racer.id).second_step_failures == 100
