"""The inactivity timeout of browser sessions, and the idle limit a key is given on the keys page.

Time passes the way it does for the rows (``tests.idle.time_passes``).
"""

import re
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from sqlalchemy import select

from portal.extensions import db
from portal.models import Credential, User
from portal.services.audit import SYSTEM
from portal.services.people import accounts
from portal.transactions import unit_of_work

from ..conftest import PASSWORD, Account
from ..idle import IDLE_DETAIL, time_passes
from .conftest import credential_in_cookie, field_errors, flashes, is_signed_in, signed_in, submit, text_of

IDLE_MESSAGE = "You were signed out after a while without activity. Sign in again to go on."


def test_a_browser_session_idle_past_the_limit_lands_on_sign_in_with_a_message_and_next_kept(app, make_user):
    person = make_user()
    browser = signed_in(app.test_client(), person, remember=True)
    assert browser.get("/profile/edit").status_code == 200

    time_passes(app, app.config["SESSION_IDLE_TIMEOUT"] + timedelta(minutes=1))
    refused = browser.get("/profile/edit")

    assert refused.status_code == 302
    location = urlsplit(refused.headers["Location"])
    assert location.path == "/login" and parse_qs(location.query)["next"] == ["/profile/edit"]
    login_page = browser.get(refused.headers["Location"])
    assert flashes(login_page) == [IDLE_MESSAGE]
    assert not is_signed_in(browser)


def test_a_browser_session_used_within_the_idle_limit_keeps_going(app, make_user):
    staff = make_user("staff@example.com", staff=True)
    browser = signed_in(app.test_client(), staff)
    limit = app.config["STAFF_SESSION_IDLE_TIMEOUT"]

    for _ in range(3):  # 3 × 20 minutes: longer than the limit in all, never idle that long
        time_passes(app, limit * 2 / 3)
        assert browser.get("/profile/").status_code == 200

    assert is_signed_in(browser)


def test_staff_and_people_each_get_their_own_idle_limit(app, make_user):
    staff = signed_in(app.test_client(), make_user("staff@example.com", staff=True), remember=True)
    person = signed_in(app.test_client(), make_user("person@example.com"), remember=True)
    assert app.config["STAFF_SESSION_IDLE_TIMEOUT"] == timedelta(minutes=30)
    assert app.config["SESSION_IDLE_TIMEOUT"] == timedelta(days=7)

    time_passes(app, timedelta(minutes=31))
    assert not is_signed_in(staff)
    assert is_signed_in(person)

    time_passes(app, timedelta(days=6, hours=23, minutes=59))
    assert is_signed_in(person)  # used a minute ago
    time_passes(app, timedelta(days=7, minutes=1))
    assert not is_signed_in(person)


def test_a_superuser_has_the_staff_idle_limit(app, make_user):
    root = signed_in(app.test_client(), make_user("root@example.com", superuser=True))

    time_passes(app, app.config["STAFF_SESSION_IDLE_TIMEOUT"] + timedelta(seconds=30))

    assert not is_signed_in(root)


def test_a_person_made_staff_gets_the_staff_limit_at_once(app, make_user):
    person = make_user()
    browser = signed_in(app.test_client(), person, remember=True)
    with app.app_context():
        db.session.get(User, person.id).is_staff = True
        db.session.commit()

    time_passes(app, app.config["STAFF_SESSION_IDLE_TIMEOUT"] + timedelta(minutes=1))

    assert not is_signed_in(browser)


def test_the_idle_limits_are_settings(make_app):
    strict = make_app(SESSION_IDLE_TIMEOUT=timedelta(minutes=5))
    with strict.app_context(), unit_of_work():
        user = accounts.create_user("person@example.com", PASSWORD, SYSTEM, email_verified=True)
        person = Account(user.id, user.email, PASSWORD)
    browser = signed_in(strict.test_client(), person, remember=True)

    time_passes(strict, timedelta(minutes=4))
    assert is_signed_in(browser)
    time_passes(strict, timedelta(minutes=6))
    assert not is_signed_in(browser)


def test_the_absolute_lifetime_still_ends_a_session_in_constant_use(app, make_user):
    browser = signed_in(app.test_client(), make_user())  # without "remember me": 12 hours at most
    for _ in range(5):
        time_passes(app, timedelta(hours=2, minutes=20))  # 11 h 40 min in all, used all along
        assert browser.get("/profile/").status_code == 200

    time_passes(app, timedelta(minutes=21))

    assert not is_signed_in(browser)


def test_staff_are_never_remembered_past_the_twelve_hours_of_a_session_in_constant_use(app, make_user):
    staff = signed_in(app.test_client(), make_user("staff@example.com", staff=True), remember=True)
    promoted_account = make_user("promoted@example.com")
    promoted = signed_in(app.test_client(), promoted_account, remember=True)
    person = signed_in(app.test_client(), make_user("person@example.com"), remember=True)
    with app.app_context(), unit_of_work():  # made staff after signing in with "remember me"
        accounts.update_account_flags(db.session.get(User, promoted_account.id), {"is_staff": True}, SYSTEM)
    for _ in range(25):  # 12 h 30 min in all, each browser used every half hour
        time_passes(app, timedelta(minutes=29))
        for browser in (staff, promoted, person):
            browser.get("/profile/")

    assert not is_signed_in(staff) and not is_signed_in(promoted)
    assert is_signed_in(person)  # "remember me" still keeps a person for 30 days


def test_an_idle_session_is_no_longer_listed_among_the_live_ones(app, make_user):
    person = make_user()
    idle = signed_in(app.test_client(), person, remember=True)
    idle_id = credential_in_cookie(idle)
    time_passes(app, timedelta(days=7, minutes=1))
    current = signed_in(app.test_client(), person)

    page = text_of(current.get("/profile/sessions"))

    assert f"/profile/sessions/{credential_in_cookie(current)}/end" in page
    assert f"/profile/sessions/{idle_id}/end" not in page


# API keys made on the keys page -------------------------------------------------------------------


def _new_key(page) -> str:
    return re.search(r'<input id="new-key" class="mono" value="([^"]+)" readonly>', text_of(page)).group(1)


def test_a_key_made_on_the_page_with_an_idle_limit_stops_working_when_left_unused(app, make_user):
    browser = signed_in(app.test_client(), make_user(), remember=True)
    limited = _new_key(submit(browser, "/profile/keys", {"name": "Backup script", "idle_timeout": "86400"}))
    unlimited = _new_key(submit(browser, "/profile/keys", {"name": "Dashboard", "idle_timeout": ""}))

    def read_with(key):
        return app.test_client().get("/api/users/me/", headers={"Authorization": f"Token {key}"})

    time_passes(app, timedelta(hours=23))
    assert read_with(limited).status_code == 200
    time_passes(app, timedelta(hours=23))
    assert read_with(limited).status_code == 200  # 46 hours old, but used 23 hours ago
    time_passes(app, timedelta(days=1, minutes=1))

    refused = read_with(limited)
    assert refused.status_code == 401 and refused.get_json() == {"detail": IDLE_DETAIL}
    assert read_with(unlimited).status_code == 200
    listed = text_of(browser.get("/profile/sessions"))
    assert "Backup script" not in listed and "Dashboard" in listed


def test_an_idle_limit_no_key_may_have_is_refused_on_its_field_and_makes_no_key(app, make_user):
    browser = signed_in(app.test_client(), make_user())

    refused = submit(browser, "/profile/keys", {"name": "Odd", "idle_timeout": "5"})

    assert refused.status_code == 400 and "idle_timeout" in field_errors(refused)
    with app.app_context():
        assert db.session.scalars(select(Credential).where(Credential.kind == "key")).all() == []


def test_the_readme_states_the_idle_limits_the_settings_have(app):
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    row = re.search(r"^\| `SESSION_IDLE_TIMEOUT`, `STAFF_SESSION_IDLE_TIMEOUT` \| ([^|]+) \|", readme, re.M)

    assert row is not None and row.group(1).strip() == "7 days, 30 min"
    assert (app.config["SESSION_IDLE_TIMEOUT"], app.config["STAFF_SESSION_IDLE_TIMEOUT"]) == (
        timedelta(days=7), timedelta(minutes=30),
    )
    assert "**Inactivity timeout.**" in readme and "NIST SP 800-63B" in readme


def test_the_keys_page_lists_each_keys_idle_limit(app, make_user):
    browser = signed_in(app.test_client(), make_user())
    submit(browser, "/profile/keys", {"name": "Backup script", "idle_timeout": "604800"})
    page = submit(browser, "/profile/keys", {"name": "Dashboard", "idle_timeout": ""})

    row = r'<td dir="auto">([^<]*)</td>.*?<td data-label="Stops working when unused for">([^<]*)</td>'
    limits = dict(re.findall(row, text_of(page), re.S))

    assert limits == {"Backup script": "7 days", "Dashboard": "Never"}


def test_an_idle_staff_session_at_the_admin_lands_on_sign_in_with_the_message(app, make_user):
    browser = signed_in(app.test_client(), make_user("staff@example.com", staff=True))
    assert browser.get("/admin/users/").status_code == 200

    time_passes(app, timedelta(minutes=31))
    refused = browser.get("/admin/users/")

    assert refused.status_code == 302
    assert parse_qs(urlsplit(refused.headers["Location"]).query)["next"] == ["/admin/users/"]
    assert flashes(browser.get(refused.headers["Location"])) == [IDLE_MESSAGE]
