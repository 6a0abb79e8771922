"""Breached passwords (Have I Been Pwned by k-anonymity), asked of a real range API on loopback.

What leaves the server, found and not found, padding, the service down in every way (slow, trickling,
refused, failing, talking nonsense), the check off, the cache, the account services that refuse a
breached password, and the sign-in check.
"""

import logging
import re
import time

import pytest
from sqlalchemy import func, select

from bench.cluster import free_port
from portal.extensions import db
from portal.models import AuditEvent, User
from portal.services.audit import SYSTEM
from portal.services.errors import AuthenticationFailed, ValidationFailed
from portal.services.people import accounts, breaches
from portal.services.signing_in import sign_in
from tests.conftest import BREACH_COUNT, BREACHED_MESSAGE, BREACHED_PASSWORD, PASSWORD
from tests.pwned import sha1_hex

CLEAN_PASSWORD = "Quiet-Meadow-Kettle-31"  # passes the local rules; the loopback API does not list it
PADDED_PASSWORD = "Amber-Window-Ladder-58"  # its suffix is served only as padding, count 0
TIMEOUT = 0.5


def user_count() -> int:
    return db.session.scalar(select(func.count(User.id)))


def warnings_in(caplog) -> list[str]:
    return [
        r.getMessage() for r in caplog.records
        if r.name == "portal.services.people.breaches" and r.levelno == logging.WARNING
    ]


@pytest.fixture
def caplog(caplog):
    """Warnings of the breach check, captured."""
    with caplog.at_level(logging.WARNING, logger="portal.services.people.breaches"):
        yield caplog


# What leaves the server --------------------------------------------------------------------------


def test_only_the_first_five_hex_characters_of_the_sha1_leave_the_server_and_padding_is_asked_for(app, pwned):
    digest = sha1_hex(BREACHED_PASSWORD)

    with app.app_context():
        assert breaches.times_seen(BREACHED_PASSWORD) == BREACH_COUNT

    [request] = pwned.requests
    assert re.fullmatch(r"/range/[0-9A-F]{5}", request.path)
    assert request.path == f"/range/{digest[:5]}"
    assert request.headers["Add-Padding"] == "true"
    assert "account-portal" in request.headers["User-Agent"]
    sent = (request.path + "".join(f"\n{name}: {value}" for name, value in request.headers.items())).upper()
    assert BREACHED_PASSWORD.upper() not in sent
    # No six characters in a row of the hash: nothing beyond the five-character prefix.
    assert not [digest[at:at + 6] for at in range(len(digest) - 5) if digest[at:at + 6] in sent]


def test_a_password_not_in_the_data_passes_and_padding_entries_do_not_count(app, breach_api):
    api = breach_api({BREACHED_PASSWORD: BREACH_COUNT}, padded=[PADDED_PASSWORD])
    padded_digest = sha1_hex(PADDED_PASSWORD)
    assert f"{padded_digest[5:]}:0" in api.answer(f"/range/{padded_digest[:5]}", padded=True)

    with app.app_context():
        assert breaches.times_seen(CLEAN_PASSWORD) == 0
        assert breaches.times_seen(PADDED_PASSWORD) == 0
        assert breaches.breach_problems(CLEAN_PASSWORD) == []
        assert breaches.breach_problems(PADDED_PASSWORD) == []
        assert breaches.breach_problems(BREACHED_PASSWORD) == [BREACHED_MESSAGE]

    assert len(api.requests) == 3 and all(r.headers["Add-Padding"] == "true" for r in api.requests)


def test_the_message_names_the_count_with_thousands_separators():
    assert breaches.breached_message(3_861_493) == BREACHED_MESSAGE
    assert breaches.breached_message(1) == (
        "This password has appeared in a data breach 1 time and must not be used. Choose another."
    )
    assert "1,000 times" in breaches.breached_message(1000)


def test_a_lower_case_answer_is_read_as_well(app, breach_api):
    digest = sha1_hex(BREACHED_PASSWORD)
    breach_api(body=f"{digest[5:].lower()}:12\r\n{'0' * 35}:0")

    with app.app_context():
        assert breaches.times_seen(BREACHED_PASSWORD) == 12


# The service down ----------------------------------------------------------------------------------


def accept_while_down(app, caplog, password=BREACHED_PASSWORD) -> float:
    """Create a user with ``password`` while the service misbehaves; the seconds it took."""
    app.config["PASSWORD_BREACH_TIMEOUT"] = TIMEOUT
    with app.app_context():
        started = time.monotonic()
        user = accounts.create_user("down@example.com", password, SYSTEM)
        elapsed = time.monotonic() - started
        assert user.id is not None and user_count() == 1
    [warning] = warnings_in(caplog)
    assert "the password was accepted" in warning
    digest = sha1_hex(password)
    assert password not in caplog.text and digest[:5] not in caplog.text.upper()
    return elapsed


def test_a_service_slower_than_the_timeout_accepts_the_password_within_the_timeout_and_warns(app, breach_api, caplog):
    api = breach_api({BREACHED_PASSWORD: BREACH_COUNT}, delay=10)

    elapsed = accept_while_down(app, caplog)

    assert elapsed < TIMEOUT + 1
    assert len(api.requests) == 1  # it was asked; it did not answer in time
    assert "no answer within 0.5 s" in warnings_in(caplog)[0]


def test_an_answer_trickled_a_byte_at_a_time_is_given_up_at_the_timeout(app, breach_api, caplog):
    api = breach_api({BREACHED_PASSWORD: BREACH_COUNT}, trickle=0.05)

    elapsed = accept_while_down(app, caplog)

    assert elapsed < TIMEOUT + 1
    # A socket timeout never fires on such an answer; the request itself gives up at its deadline too.
    assert api.client_gave_up.wait(TIMEOUT + 1)


def test_a_refused_connection_accepts_the_password_and_warns(app, caplog):
    app.config.update(PASSWORD_BREACH_CHECK=True, PASSWORD_BREACH_API_URL=f"http://127.0.0.1:{free_port()}")

    accept_while_down(app, caplog)

    assert "ConnectionRefusedError" in warnings_in(caplog)[0]


@pytest.mark.parametrize("status", [500, 503, 429])
def test_an_error_answer_accepts_the_password_and_warns(app, breach_api, caplog, status):
    api = breach_api({BREACHED_PASSWORD: BREACH_COUNT}, status=status)

    accept_while_down(app, caplog)

    assert len(api.requests) == 1
    assert f"answer {status}" in warnings_in(caplog)[0]


@pytest.mark.parametrize("body", ["<html>Service Unavailable</html>", "", "ABCDEF:12", f"{'A' * 35}:many"])
def test_an_answer_that_is_not_a_range_accepts_the_password_and_warns(app, breach_api, caplog, body):
    breach_api(body=body)

    accept_while_down(app, caplog)


def test_a_failure_is_not_remembered_the_next_check_asks_again(app, breach_api, caplog):
    api = breach_api({BREACHED_PASSWORD: BREACH_COUNT}, status=500)
    with app.app_context():
        assert breaches.times_seen(BREACHED_PASSWORD) is None
        api.status = 200
        assert breaches.times_seen(BREACHED_PASSWORD) == BREACH_COUNT
    assert len(api.requests) == 2


# The check off, and local rules first ----------------------------------------------------------------


def test_with_the_check_off_no_request_is_made_and_a_breached_password_is_accepted(app, pwned):
    app.config["PASSWORD_BREACH_CHECK"] = False

    with app.app_context():
        assert breaches.times_seen(BREACHED_PASSWORD) is None
        accounts.create_user("off@example.com", BREACHED_PASSWORD, SYSTEM)
        assert user_count() == 1

    assert pwned.requests == []


def test_the_check_is_off_in_tests_unless_turned_on(app):
    assert app.config["PASSWORD_BREACH_CHECK"] is False


@pytest.mark.parametrize("weak", ["Sh0rt!", "83920174651", "password123", "weakling@example.com"])
def test_a_password_that_fails_the_local_rules_is_refused_without_asking_the_service(app, pwned, weak):
    with app.app_context():
        with pytest.raises(ValidationFailed) as refused:
            accounts.create_user("weakling@example.com", weak, SYSTEM)
    assert BREACHED_MESSAGE not in refused.value.errors["password"]
    assert pwned.requests == []


# The doors in the services ------------------------------------------------------------------------


def test_create_user_refuses_a_breached_password_with_its_count_and_stores_nothing(app, pwned):
    with app.app_context():
        with pytest.raises(ValidationFailed) as refused:
            accounts.create_user("breached@example.com", BREACHED_PASSWORD, SYSTEM, profile={"phone": "12"})
        assert refused.value.errors["password"] == [BREACHED_MESSAGE]
        assert set(refused.value.errors) == {"password", "phone"}  # every message at once
        assert user_count() == 0
        assert db.session.scalar(select(func.count(AuditEvent.id))) == 0


def test_change_and_reset_refuse_a_breached_password_and_keep_the_old_one(app, make_user, pwned):
    from portal.services.people import verification
    from portal.services.people.passwords import check_password

    account = make_user()
    with app.app_context():
        user = db.session.get(User, account.id)
        with pytest.raises(ValidationFailed) as changed:
            accounts.change_password(user, PASSWORD, BREACHED_PASSWORD, SYSTEM)
        assert changed.value.errors == {"new_password": [BREACHED_MESSAGE]}
        uid, token = verification.password_reset_link(user).rstrip("/").split("/")[-2:]
        with pytest.raises(ValidationFailed) as reset:
            accounts.reset_password(uid, token, BREACHED_PASSWORD, SYSTEM)
        assert reset.value.errors == {"new_password": [BREACHED_MESSAGE]}
    with app.app_context():
        assert check_password(db.session.get(User, account.id).password_hash, PASSWORD)


# The cache -----------------------------------------------------------------------------------------


def passwords_of_distinct_prefixes(count: int) -> list[str]:
    found, prefixes = [], set()
    n = 0
    while len(found) < count:
        candidate = f"Distinct-Prefix-Candidate-{n}"
        n += 1
        if sha1_hex(candidate)[:5] not in prefixes:
            prefixes.add(sha1_hex(candidate)[:5])
            found.append(candidate)
    return found


def test_a_range_answer_is_kept_for_a_while_and_then_asked_again(app, pwned, clock):
    with app.app_context():
        assert breaches.times_seen(BREACHED_PASSWORD) == BREACH_COUNT
        clock.advance(breaches.RANGE_TTL_SECONDS - 1)
        assert breaches.times_seen(BREACHED_PASSWORD) == BREACH_COUNT
        assert len(pwned.requests) == 1
        clock.advance(1)
        assert breaches.times_seen(BREACHED_PASSWORD) == BREACH_COUNT
        assert len(pwned.requests) == 2


def test_the_cache_keeps_only_the_most_recently_used_ranges(app, breach_api, monkeypatch):
    first, second, third = passwords_of_distinct_prefixes(3)
    api = breach_api({first: 1, second: 2, third: 3})
    monkeypatch.setattr(breaches, "RANGE_CACHE_SIZE", 2)

    def asked(password) -> bool:
        before = len(api.requests)
        breaches.times_seen(password)
        return len(api.requests) > before

    with app.app_context():
        assert [asked(first), asked(second), asked(third)] == [True, True, True]
        assert asked(third) is False and asked(second) is False
        assert asked(first) is True  # the least recently used went first
        assert [breaches.times_seen(p) for p in (first, second, third)] == [1, 2, 3]


def test_the_cache_belongs_to_one_app_and_one_api_url(app, make_app, breach_api):
    first = breach_api({BREACHED_PASSWORD: BREACH_COUNT})
    with app.app_context():
        breaches.times_seen(BREACHED_PASSWORD)
    second = breach_api({BREACHED_PASSWORD: 7})  # the app now points at another server
    with app.app_context():
        assert breaches.times_seen(BREACHED_PASSWORD) == 7
    other = make_app(PASSWORD_BREACH_CHECK=True, PASSWORD_BREACH_API_URL=first.url)
    with other.app_context():
        assert breaches.times_seen(BREACHED_PASSWORD) == BREACH_COUNT
    assert (len(first.requests), len(second.requests)) == (2, 1)


# Sign-in ---------------------------------------------------------------------------------------------


def test_at_sign_in_a_breached_correct_password_signs_in_and_marks_the_account(app, make_user, breach_api):
    breached = make_user("breached@example.com", BREACHED_PASSWORD)  # chosen before the check was on
    clean = make_user("clean@example.com", CLEAN_PASSWORD)
    api = breach_api({BREACHED_PASSWORD: BREACH_COUNT})

    with app.app_context():
        assert sign_in.authenticate(BREACHED_PASSWORD, email=breached.email).password_breached is True
        assert sign_in.authenticate(CLEAN_PASSWORD, email=clean.email).password_breached is False
    assert len(api.requests) == 2


def test_a_wrong_password_costs_no_request(app, make_user, pwned):
    account = make_user("breached@example.com", PASSWORD)
    pwned.requests.clear()

    with app.app_context():
        for password, login in [(BREACHED_PASSWORD, account.email), (BREACHED_PASSWORD, "nobody@example.com")]:
            with pytest.raises(AuthenticationFailed):
                sign_in.authenticate(password, login=login)

    assert pwned.requests == []


def test_at_sign_in_the_check_off_or_the_service_down_changes_nothing(app, make_user, caplog):
    account = make_user("breached@example.com", BREACHED_PASSWORD)
    with app.app_context():
        assert sign_in.authenticate(BREACHED_PASSWORD, email=account.email).password_breached is False  # off
        app.config.update(PASSWORD_BREACH_CHECK=True, PASSWORD_BREACH_API_URL=f"http://127.0.0.1:{free_port()}")
        assert sign_in.authenticate(BREACHED_PASSWORD, email=account.email).password_breached is False  # unreachable
    assert len(warnings_in(caplog)) == 1
