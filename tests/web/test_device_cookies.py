"""Nobody can lock the owner out (ASVS 6.1.1): device cookies.

An attacker anywhere can fail to sign in to an account as often as they like. A browser that signed
in to the account before carries a device cookie and signs in at once all the same, with the
password or an emailed code; every other browser and every API client (unknown sources) is held
back, for a time that doubles while the failures go on, and the owner is mailed once per lockout.
Time is moved on the portal's clock (the ``clock`` fixture), which the lockouts read; the per-address
limits keep Flask-Limiter's real time, so each step of an attack comes from new addresses.
"""

import re
import shutil
import subprocess

import pytest
from itsdangerous import URLSafeTimedSerializer

from bench.cluster import free_port, stop, wait_for_port
from portal.extensions import db
from portal.models import User
from portal.services.audit import SYSTEM
from portal.services.people import accounts, verification
from portal.services.signing_in import device_cookies, sign_in_lockout
from portal.transactions import unit_of_work
from tests.two_step import set_up_totp

from ..conftest import PASSWORD, Account, fresh_app, shared_database, written_mail
from .conftest import field_errors, is_signed_in, post, set_cookie_header, sign_in, signed_in, submit
from .test_sign_up_and_sign_in import assert_throttled_page

OWNER = "owner@example.com"
WRONG = "wrong-password-1"
OWNER_ADDRESS = {"environ_base": {"REMOTE_ADDR": "192.0.2.10"}}
SECOND_STEP = "/login/second-step"


@pytest.fixture
def app(tmp_path):
    """Limits on, as in production, and CSRF on, as everywhere in the page tests."""
    # A database each connection sees (a file): a code is mailed on a thread of its own.
    yield from fresh_app(tmp_path, RATELIMIT_ENABLED=True, WTF_CSRF_ENABLED=True, **shared_database(tmp_path))


@pytest.fixture
def owner(make_user):
    return make_user(OWNER)


def known_browser(app, owner):
    """The owner's browser, which signed in to the account once and signed out again."""
    browser = app.test_client()
    signed_in(browser, owner, **OWNER_ADDRESS)
    assert post(browser, "/logout", **OWNER_ADDRESS).status_code == 302
    assert browser.get_cookie(device_cookies.COOKIE_NAME) is not None
    return browser


def attack(app, email, tries, *, network="198.51.100", addresses=50) -> list[int]:
    """Wrong passwords for ``email`` through the API, spread over ``addresses`` addresses; their answers."""
    attacker = app.test_client()
    statuses = []
    for n in range(tries):
        response = attacker.post(
            "/api/token/", json={"email": email, "password": WRONG},
            environ_base={"REMOTE_ADDR": f"{network}.{n % addresses + 1}"},
        )
        statuses.append(response.status_code)
    return statuses


def lockout_mails(app) -> list:
    return [m for m in written_mail(app) if m["Subject"] == "Someone is trying to sign in to your account"]


def test_an_attack_from_50_addresses_does_not_hold_back_the_owners_known_browser_but_holds_back_an_unknown_one(
    app, owner, clock
):
    browser = known_browser(app, owner)

    statuses = attack(app, OWNER, 1000)

    assert statuses.count(401) == 10  # the allowance of unknown sources, then they are held back
    assert set(statuses[10:]) == {429}
    answer = sign_in(browser, owner, **OWNER_ADDRESS)
    assert answer.status_code == 302
    assert is_signed_in(browser)
    unknown = app.test_client()
    assert_throttled_page(sign_in(unknown, owner, environ_base={"REMOTE_ADDR": "203.0.113.4"}))


def test_during_an_attack_an_unknown_browser_and_an_api_client_are_held_back_even_with_the_right_password(
    app, owner, clock
):
    attack(app, OWNER, 1000)

    stranger = app.test_client()
    page = sign_in(stranger, owner, environ_base={"REMOTE_ADDR": "203.0.113.5"})
    assert_throttled_page(page)
    assert 0 < int(page.headers["Retry-After"]) <= 60
    assert not is_signed_in(stranger)
    api = app.test_client().post(
        "/api/token/", json={"email": OWNER, "password": PASSWORD}, environ_base={"REMOTE_ADDR": "203.0.113.6"}
    )
    assert api.status_code == 429
    assert "access" not in api.get_json()


def test_the_known_browser_signs_in_with_an_emailed_code_while_others_spent_the_accounts_allowances(
    app, owner, clock
):
    browser = known_browser(app, owner)
    attack(app, OWNER, 100)
    attacker = app.test_client()
    for n in range(10):  # the account's code allowance (5 per 10 minutes) and then some, from anywhere
        attacker.post("/api/auth/code/", json={"email": OWNER}, environ_base={"REMOTE_ADDR": f"198.51.100.{n + 1}"})
    for n in range(20):
        attacker.post("/api/token/code/", json={"email": OWNER, "code": f"{n:06d}"},
                      environ_base={"REMOTE_ADDR": f"198.51.101.{n + 1}"})

    asked = submit(browser, "/login/code", {"email": OWNER}, **OWNER_ADDRESS)
    assert asked.status_code == 302
    code = re.search(r"\b(\d{6})\b", written_mail(app)[-1].get_body(("plain",)).get_content()).group(1)
    entered = submit(browser, "/login/code/enter", {"email": OWNER, "code": code}, **OWNER_ADDRESS)

    assert entered.status_code == 302, field_errors(entered)
    assert is_signed_in(browser)


def test_the_owner_is_mailed_once_per_lockout_and_again_when_another_begins(app, owner, clock):
    attack(app, OWNER, 1000)

    first = lockout_mails(app)
    assert len(first) == 1
    assert first[0]["To"] == OWNER
    body = first[0].get_body(("plain",)).get_content()
    assert "cannot try again for 1 minute" in body
    assert "a browser where you have signed in to your account before signs in as usual" in body

    clock.advance(61)  # the first lockout lapses: the episode is over
    attack(app, OWNER, 30, network="198.51.102")

    second = lockout_mails(app)
    assert len(second) == 2
    assert "cannot try again for 2 minutes" in second[1].get_body(("plain",)).get_content()


def test_a_lockout_mail_that_cannot_be_written_is_logged_and_the_try_still_answered_as_refused(
    app, owner, clock, monkeypatch, caplog
):
    def broken(*args, **kwargs):
        raise RuntimeError("the mail template is missing")

    monkeypatch.setattr(sign_in_lockout.outbox, "queue_mail", broken)

    statuses = attack(app, OWNER, 11)

    assert statuses == [401] * 10 + [429]  # the tenth, which began the lockout, is a 401, not a 500
    assert "The sign-in lockout mail to user" in caplog.text
    assert lockout_mails(app) == []


def test_lockouts_of_unknown_sources_double_while_the_failures_go_on_and_lapse_after_the_wait(app, owner, clock):
    waits = []
    for step in range(4):
        statuses = attack(app, OWNER, 11, network=f"198.51.{110 + step}")
        assert statuses[:10] == [401] * 10 and statuses[10] == 429
        held = app.test_client().post(
            "/api/token/", json={"email": OWNER, "password": PASSWORD},
            environ_base={"REMOTE_ADDR": f"203.0.113.{step + 1}"},
        )
        assert held.status_code == 429
        waits.append(int(held.headers["Retry-After"]))
        clock.advance(waits[-1] + 1)

    assert waits == [60, 120, 240, 480]
    after = app.test_client().post(
        "/api/token/", json={"email": OWNER, "password": PASSWORD}, environ_base={"REMOTE_ADDR": "203.0.113.99"}
    )
    assert after.status_code == 200
    assert "access" in after.get_json()


def test_a_lockout_of_one_account_holds_back_nobody_signing_in_to_another(app, owner, make_user, clock):
    other = make_user("other@example.com")
    attack(app, OWNER, 100)

    answer = app.test_client().post(
        "/api/token/", json={"email": other.email, "password": PASSWORD}, environ_base={"REMOTE_ADDR": "203.0.113.7"}
    )

    assert answer.status_code == 200


def test_a_known_browser_that_fails_is_held_back_alone(app, owner, clock):
    browser = known_browser(app, owner)
    for n in range(10):  # wherever the browser goes, its failures count against it
        wrong = sign_in(browser, owner, password=WRONG, environ_base={"REMOTE_ADDR": f"192.0.2.{20 + n}"})
        assert wrong.status_code == 400

    assert_throttled_page(sign_in(browser, owner, environ_base={"REMOTE_ADDR": "192.0.2.40"}))
    elsewhere = app.test_client()
    assert sign_in(elsewhere, owner, environ_base={"REMOTE_ADDR": "203.0.113.8"}).status_code == 302
    assert lockout_mails(app) == []  # the owner's own browser: nobody to warn about


def test_a_forged_device_cookie_or_one_of_another_account_exempts_nobody(app, owner, make_user, clock):
    other = make_user("other@example.com")
    others_browser = known_browser(app, other)
    attack(app, OWNER, 100)

    forged = app.test_client()
    forged.set_cookie(
        device_cookies.COOKIE_NAME,
        f"{owner.id}:" + URLSafeTimedSerializer("not-the-secret-key", salt="device-cookie").dumps([owner.id, "n"]),
    )
    assert_throttled_page(sign_in(forged, owner, environ_base={"REMOTE_ADDR": "203.0.113.9"}))
    assert_throttled_page(sign_in(others_browser, owner, environ_base={"REMOTE_ADDR": "203.0.113.10"}))


def test_a_recovery_retires_every_device_cookie_issued_before_it_and_the_owners_own_change_does_not(
    app, owner, clock
):
    browser = known_browser(app, owner)
    with app.app_context(), unit_of_work():  # the owner changes the password from a session: still the owner's browser
        accounts.change_password(db.session.get(User, owner.id), PASSWORD, "An0ther-long-passphrase!", SYSTEM)
    attack(app, OWNER, 100)
    assert sign_in(browser, owner, password="An0ther-long-passphrase!", **OWNER_ADDRESS).status_code == 302
    post(browser, "/logout", **OWNER_ADDRESS)

    with app.app_context(), unit_of_work():  # a reset link (as after "This wasn't me") recovers the account
        link = verification.password_reset_link(db.session.get(User, owner.id))
        uid, token = re.search(r"/password/reset/([^/]+)/([^/]+)/", link).groups()
        accounts.reset_password(uid, token, "A-third-long-passphrase!", SYSTEM)

    assert_throttled_page(sign_in(browser, owner, password="A-third-long-passphrase!", **OWNER_ADDRESS))


def test_the_api_treats_a_browsers_device_cookie_as_an_unknown_source(app, owner, clock):
    browser = known_browser(app, owner)
    attack(app, OWNER, 100)

    answer = browser.post("/api/token/", json={"email": OWNER, "password": PASSWORD}, **OWNER_ADDRESS)

    assert answer.status_code == 429


def test_the_device_cookie_is_http_only_lax_and_renewed_by_each_sign_in(app, owner):
    browser = app.test_client()
    first = sign_in(browser, owner, **OWNER_ADDRESS)
    header = set_cookie_header(first, device_cookies.COOKIE_NAME)
    assert "HttpOnly" in header and "SameSite=Lax" in header and "Max-Age=31536000" in header
    old = browser.get_cookie(device_cookies.COOKIE_NAME).value
    post(browser, "/logout", **OWNER_ADDRESS)

    sign_in(browser, owner, **OWNER_ADDRESS)

    new = browser.get_cookie(device_cookies.COOKIE_NAME).value
    assert new != old and new.count("~") == 0  # a fresh token for this account, not a second one


def test_the_lockout_mail_is_written_in_the_owners_language(app, make_user, clock):
    make_user("farsi@example.com", language="fa")

    attack(app, "farsi@example.com", 20)

    [mail] = [m for m in written_mail(app) if m["To"] == "farsi@example.com"]
    assert mail["Subject"] == "کسی در تلاش برای ورود به حساب شماست"
    assert 'dir="rtl"' in mail.get_body(("html",)).get_content()



def test_in_production_the_device_cookie_is_secure_too(make_app, monkeypatch):
    monkeypatch.setenv("SECRET_KEY", "a-production-secret-of-enough-length-0123456789")
    prod = make_app("production", TRUSTED_HOSTS=["localhost"], RATELIMIT_ENABLED=False, PASSWORD_HASH_MEMORY_COST=1024)
    with prod.app_context(), unit_of_work():
        accounts.create_user("prod@example.com", PASSWORD, SYSTEM, email_verified=True)
    https = {"base_url": "https://localhost", "headers": {"Referer": "https://localhost/login"}}

    answer = submit(prod.test_client(), "/login", {"login": "prod@example.com", "password": PASSWORD}, **https)

    assert answer.status_code == 302
    assert "Secure" in [part.strip() for part in set_cookie_header(answer, device_cookies.COOKIE_NAME).split(";")]


@pytest.fixture
def redis_uri():
    """A Redis of the test's own on loopback, as every server of a deployment shares one."""
    port = free_port()
    server = subprocess.Popen(
        [shutil.which("redis-server") or "/usr/bin/redis-server", "--port", str(port), "--bind", "127.0.0.1",
         "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port, server)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        stop([server])


def test_a_lockout_begun_through_one_server_holds_on_another_sharing_its_redis(make_app, tmp_path, redis_uri, clock):
    """The lockout lives in the limiter's storage, not in a process: a second app, with its own
    connection to the same Redis and database, holds unknown sources back and lets the known browser in."""
    shared = {"RATELIMIT_ENABLED": True, "RATELIMIT_STORAGE_URI": redis_uri, **shared_database(tmp_path)}
    first = make_app(**shared)
    with first.app_context(), unit_of_work():
        account = accounts.create_user(OWNER, PASSWORD, SYSTEM, email_verified=True)
        owner = Account(account.id, OWNER, PASSWORD)
    browser = known_browser(first, owner)
    assert attack(first, OWNER, 11) == [401] * 10 + [429]

    second = make_app(**shared)

    held = second.test_client().post(
        "/api/token/", json={"email": OWNER, "password": PASSWORD}, environ_base={"REMOTE_ADDR": "203.0.113.11"}
    )
    assert held.status_code == 429
    assert int(held.headers["Retry-After"]) == 60
    browser.application = second
    assert sign_in(browser, owner, **OWNER_ADDRESS).status_code == 302


def test_a_known_browser_passes_both_steps_of_an_account_with_an_authenticator_app_during_an_attack(
    app, owner, clock
):
    secret, _ = set_up_totp(app, owner, clock)
    browser = app.test_client()
    assert sign_in(browser, owner, **OWNER_ADDRESS).headers["Location"] == SECOND_STEP
    assert browser.get_cookie(device_cookies.COOKIE_NAME) is None  # a first step alone makes no browser known
    assert submit(browser, SECOND_STEP, {"code": clock.code(secret)}, **OWNER_ADDRESS).status_code == 302
    post(browser, "/logout", **OWNER_ADDRESS)
    clock.advance(30)
    attack(app, OWNER, 100)

    first = sign_in(browser, owner, **OWNER_ADDRESS)
    second = submit(browser, SECOND_STEP, {"code": clock.code(secret)}, **OWNER_ADDRESS)

    assert first.headers["Location"] == SECOND_STEP
    assert second.status_code == 302
    assert is_signed_in(browser)
