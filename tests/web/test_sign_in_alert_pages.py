"""The person told, and in control, when someone else gets in: the mail about a new browser, its
"This wasn't me" page (one confirmation; once; 7 days; in every process at once), "Secure my
account" on the Sessions page, the setting, and what signing in looks like afterwards.

The app runs on a database that a second app (another process, as far as the database can tell)
shares: a SQLite file, or the PostgreSQL test database.
"""

import json
import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from portal import create_app
from portal.extensions import db
from portal.models import AuditEvent, Credential, SignInAlert, SignInSource, User, utcnow
from portal.services.signing_in import securing, sign_in
from tests.two_step import add_passkey
from tests.webauthn_authenticator import ORIGIN, SoftwareAuthenticator

from ..conftest import PASSWORD, fresh_app, shared_database, stop_delivering
from .conftest import (
    credential_in_cookie,
    credentials_of,
    csrf_token,
    flashes,
    form_errors,
    is_signed_in,
    recorded_statements,
    signed_in,
    submit,
    text_of,
)
from .conftest import sign_in as sign_in_page

CHROME_LINUX = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36"
FIREFOX_WINDOWS = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0"
HOME, AWAY = "203.0.113.7", "198.51.100.23"
NEW_PASSWORD = "Quiet-Harbour-Lantern-58"
ALERT_SUBJECT = "A new sign-in to your account"
SECURED_SUBJECT = "Your account was secured"


@pytest.fixture
def app(tmp_path):
    """The page tests' app (CSRF on), on a database a second app can share."""
    yield from fresh_app(tmp_path, WTF_CSRF_ENABLED=True, PUBLIC_BASE_URL=ORIGIN, **shared_database(tmp_path))


@pytest.fixture
def other_process(app, tmp_path):
    """A second app on the same database, with its own memory (caches, mail courier) and mail folder."""
    other = create_app("testing", {
        "SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"], "WTF_CSRF_ENABLED": True,
        "PUBLIC_BASE_URL": ORIGIN, "UPLOAD_FOLDER": str(tmp_path / "other" / "uploads"),
        "MAIL_OUTBOX_DIR": str(tmp_path / "other" / "outbox"),
    })
    yield other
    stop_delivering(other)
    with other.app_context():
        db.session.remove()
        db.engine.dispose()


def browser(app, user_agent, ip=HOME):
    client = app.test_client()
    client.environ_base.update(HTTP_USER_AGENT=user_agent, REMOTE_ADDR=ip)
    return client


def age_the_proof(app, client, minutes=11):
    """The browser proved who it is ``minutes`` ago (its sign-in)."""
    with app.app_context():
        db.session.execute(
            update(Credential).where(Credential.public_id == credential_in_cookie(client))
            .values(proven_at=utcnow() - timedelta(minutes=minutes))
        )
        db.session.commit()


def mails(mailbox, account, subject):
    return [m for m in mailbox.sent_to(account.email) if m["Subject"] == subject]


def body(message) -> str:
    return message.get_body(("plain",)).get_content().replace("\r\n", "\n")


def link_path(message, kind="not-me") -> str:
    """The site-relative path of the mail's link of ``kind`` ("not-me", "password/reset")."""
    url = re.search(rf"{re.escape(ORIGIN)}(/{kind}/\S+/)\n", body(message)).group(1)
    return url


def alerted(app, account, mailbox) -> str:
    """Sign in from Chrome (the account's first: no mail), then from Firefox elsewhere: the alert's link."""
    signed_in(browser(app, CHROME_LINUX), account)
    assert mails(mailbox, account, ALERT_SUBJECT) == []
    signed_in(browser(app, FIREFOX_WINDOWS, ip=AWAY), account)
    [mail] = mails(mailbox, account, ALERT_SUBJECT)
    return link_path(mail)


def api_credentials(client, account) -> dict:
    """A JWT and an API key, signed in through the API from the address the browser used."""
    pair = client.post("/api/token/", json={"email": account.email, "password": account.password}).get_json()
    key = client.post("/api/auth/token/login/", json={"email": account.email, "password": account.password}).get_json()
    return {"Bearer": pair["access"], "Token": key["auth_token"]}


def me_status(client, scheme, value) -> int:
    return client.get("/api/users/me/", headers={"Authorization": f"{scheme} {value}"}).status_code


def confirm(client, path, **kwargs):
    """Press the page's button: POST with the CSRF token of the page the link opened."""
    page = client.get(path)
    assert page.status_code == 200, page.status_code
    return client.post(path, data={"csrf_token": csrf_token(page)}, **kwargs)


def stored(app, account) -> dict:
    with app.app_context():
        user = db.session.get(User, account.id)
        return {"password_reset_required": user.password_reset_required, "sign_in_alerts": user.sign_in_alerts}


def audited(app, action) -> list[AuditEvent]:
    with app.app_context():
        found = db.session.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)).all()
        db.session.expunge_all()
        return found


# The mail ------------------------------------------------------------------------------------------------


def test_a_new_browser_signing_in_on_the_page_is_mailed_with_what_where_when_and_how(app, user, mailbox):
    path = alerted(app, user, mailbox)

    [mail] = mails(mailbox, user, ALERT_SUBJECT)
    text = body(mail)
    for line in (r"Browser: +Firefox", r"Operating system: +Windows", rf"Address: +{re.escape(AWAY)}",
                 r"Time: +\d{1,2} \w{3} \d{4}, \d\d:\d\d UTC", r"Signed in with: +password"):
        assert re.search(line + "\n", text), line
    assert path.startswith("/not-me/")
    assert f"{ORIGIN}/profile/sessions" in text
    # The same browser again, and the first one again: nothing more.
    signed_in(browser(app, FIREFOX_WINDOWS, ip=AWAY), user)
    signed_in(browser(app, CHROME_LINUX), user)
    assert len(mails(mailbox, user, ALERT_SUBJECT)) == 1


def test_an_api_sign_in_from_a_new_address_is_mailed_and_reading_the_profile_does_no_such_work(app, user, mailbox):
    signed_in(browser(app, CHROME_LINUX), user)
    away = browser(app, "curl/8.5.0", ip=AWAY)
    credentials = api_credentials(away, user)

    [mail] = mails(mailbox, user, ALERT_SUBJECT)  # the key came from the same new address: known by then
    assert re.search(rf"Address: +{re.escape(AWAY)}\n", body(mail))
    assert "An app signed in to your account through the API" in body(mail)

    elsewhere = browser(app, "curl/8.5.0", ip="192.0.2.200")
    with recorded_statements(app) as statements:
        assert me_status(elsewhere, "Token", credentials["Token"]) == 200
        assert me_status(elsewhere, "Bearer", credentials["Bearer"]) == 200
    assert not [s for s in statements if "sign_in_sources" in s or "sign_in_alerts" in s]
    assert len(mails(mailbox, user, ALERT_SUBJECT)) == 1


# "This wasn't me" ------------------------------------------------------------------------------------------


def test_opening_the_link_shows_the_sign_in_and_changes_nothing(app, user, mailbox):
    path = alerted(app, user, mailbox)
    live_before = credentials_of(app, user.id)

    for _ in range(3):  # a mail scanner, a preview, the person
        anonymous = browser(app, FIREFOX_WINDOWS, ip="192.0.2.1")
        page = anonymous.get(path)
        assert page.status_code == 200
    shown = text_of(page)
    assert "Wasn't this you?" in shown
    for detail in ("Firefox", "Windows", AWAY, "password"):
        assert f"<dd>{detail}</dd>" in shown
    assert "Secure my account</button>" in shown
    assert credentials_of(app, user.id) == live_before
    assert stored(app, user)["password_reset_required"] is False
    assert audited(app, "account_secured") == []
    # Nor does a POST without the page's CSRF token.
    assert anonymous.post(path).status_code == 400
    assert credentials_of(app, user.id) == live_before


def test_the_link_ends_every_session_sign_in_and_key_in_every_process(app, other_process, user, mailbox):
    chrome = signed_in(browser(app, CHROME_LINUX), user)
    credentials = api_credentials(browser(app, "curl/8.5.0"), user)
    signed_in(browser(app, FIREFOX_WINDOWS, ip=AWAY), user)
    [alert_mail] = mails(mailbox, user, ALERT_SUBJECT)
    mail_path = link_path(alert_mail)
    reader = browser(other_process, "curl/8.5.0", ip="192.0.2.9")
    for scheme, value in credentials.items():  # the other process honours them first
        assert me_status(reader, scheme, value) == 200

    secured = confirm(browser(other_process, FIREFOX_WINDOWS, ip="192.0.2.1"), mail_path)

    assert secured.status_code == 200 and "Your account is secured" in text_of(secured)
    for process in (app, other_process):
        client = browser(process, "curl/8.5.0", ip="192.0.2.9")
        for scheme, value in credentials.items():
            assert me_status(client, scheme, value) == 401, (process, scheme)
    assert not is_signed_in(chrome)
    assert credentials_of(app, user.id) == []
    [event] = audited(app, "account_secured")
    assert event.changes["how"] == [None, securing.FROM_ALERT]
    assert event.changes["live_sessions_and_keys"] == [4, 0]
    assert event.via == "web" and event.ip == "192.0.2.1" and event.actor_id is None


def test_the_link_works_once_then_says_so_and_never_errs(app, user, mailbox):
    path = alerted(app, user, mailbox)
    assert confirm(browser(app, FIREFOX_WINDOWS), path).status_code == 200

    again = browser(app, FIREFOX_WINDOWS)
    spent_page = again.get(path)
    assert spent_page.status_code == 410
    assert "This link was already used or has expired" in text_of(spent_page)
    second = again.post(path, data={"csrf_token": csrf_token(again.get("/login"))})
    assert second.status_code == 410 and "already used or has expired" in text_of(second)
    assert len(audited(app, "account_secured")) == 1


def test_the_link_lasts_7_days(app, user, mailbox):
    path = alerted(app, user, mailbox)
    with app.app_context():
        db.session.execute(update(SignInAlert).values(created_at=utcnow() - timedelta(days=7, seconds=1)))
        db.session.commit()

    client = browser(app, FIREFOX_WINDOWS)
    assert client.get(path).status_code == 410
    assert client.post(path, data={"csrf_token": csrf_token(client.get("/login"))}).status_code == 410
    assert stored(app, user)["password_reset_required"] is False
    assert len(credentials_of(app, user.id)) == 2


@pytest.mark.parametrize("path", ["/not-me/nonsense/", "/not-me/eyJhIjoxLCJ1IjoxfQ.axXO_g.AAAAAAAAAAAAAAAAAAAAAAAAAAA/",
                                  "/not-me/" + "x" * 2000 + "/"])
def test_a_broken_link_is_a_page_that_says_so(app, user, mailbox, path):
    alerted(app, user, mailbox)
    client = browser(app, FIREFOX_WINDOWS)

    page = client.get(path)
    assert page.status_code == 400 and "already used or has expired" in text_of(page)
    assert client.post(path, data={"csrf_token": csrf_token(client.get("/login"))}).status_code == 400


def test_after_the_link_the_password_waits_for_the_reset_a_passkey_does_not(app, user, mailbox):
    authenticator = SoftwareAuthenticator()
    path = alerted(app, user, mailbox)
    add_passkey(app, user, authenticator)
    confirm(browser(app, FIREFOX_WINDOWS), path)

    # The mail about it, with a link to choose the new password.
    [secured_mail] = mails(mailbox, user, SECURED_SUBJECT)
    assert "Every browser, app and API key signed in to your account was signed out" in body(secured_mail)
    assert "Firefox on Windows from 198.51.100.23" in body(secured_mail)

    # The password: refused on the page, pointing at "Forgot your password?", and on the API.
    refused = sign_in_page(browser(app, CHROME_LINUX), user)
    assert refused.status_code == 400
    assert form_errors(refused) == [sign_in.RESET_REQUIRED]
    assert 'href="/password/forgot"' in refused.get_data(as_text=True)
    api = browser(app, "curl/8.5.0").post("/api/token/", json={"email": user.email, "password": PASSWORD})
    assert api.status_code == 401 and api.get_json() == {"detail": sign_in.RESET_REQUIRED}

    # A passkey: signs in.
    passkey_browser = browser(app, CHROME_LINUX)
    token = csrf_token(passkey_browser.get("/login"))
    options = passkey_browser.post("/login/passkey/options",
                                   headers={"X-CSRFToken": token, "Accept": "application/json"})
    answer = authenticator.get(options.get_json())
    done = passkey_browser.post("/login/passkey", data={"csrf_token": token, "credential": json.dumps(answer)})
    assert done.status_code == 302 and is_signed_in(passkey_browser)
    assert "New password needed" in text_of(passkey_browser.get("/profile/security"))

    # The reset link in the mail: then the password (the new one) signs in again.
    reset = submit(browser(app, CHROME_LINUX), link_path(secured_mail, "password/reset"),
                   {"new_password": NEW_PASSWORD, "confirm_password": NEW_PASSWORD})
    assert reset.status_code == 200 and "Password changed" in text_of(reset)
    assert stored(app, user)["password_reset_required"] is False
    assert sign_in_page(browser(app, CHROME_LINUX), user, password=NEW_PASSWORD).status_code == 302


def test_staff_see_that_the_password_must_be_reset(app, user, mailbox, make_user):
    superuser = make_user("root@example.com", superuser=True)
    admin = signed_in(browser(app, CHROME_LINUX), superuser)
    assert "must be reset" not in text_of(admin.get(f"/admin/users/{user.id}"))
    confirm(browser(app, FIREFOX_WINDOWS), alerted(app, user, mailbox))

    page = text_of(admin.get(f"/admin/users/{user.id}"))
    sign_in_section = page[page.index('id="signin-heading"'):page.index('id="ways-heading"')]
    assert "must be reset" in sign_in_section
    assert "Account secured: signed out everywhere, new password required" in page


# "Secure my account" on the Sessions page ------------------------------------------------------------------


def test_secure_my_account_asks_once_then_does_the_same_and_signs_this_browser_out(app, user, mailbox):
    elsewhere = signed_in(browser(app, FIREFOX_WINDOWS, ip=AWAY), user)
    client = signed_in(browser(app, CHROME_LINUX), user)
    credentials = api_credentials(browser(app, "curl/8.5.0"), user)
    sessions = client.get("/profile/sessions")
    assert 'href="/profile/sessions/secure"' in sessions.get_data(as_text=True)

    asked = client.get("/profile/sessions/secure")
    assert asked.status_code == 200 and "this browser included" in text_of(asked)
    assert len(credentials_of(app, user.id)) == 4  # asking changed nothing
    done = submit(client, "/profile/sessions/secure")

    assert done.status_code == 200 and "Your account is secured" in text_of(done)
    assert not is_signed_in(client) and not is_signed_in(elsewhere)
    for scheme, value in credentials.items():
        assert me_status(client, scheme, value) == 401
    assert credentials_of(app, user.id) == []
    assert stored(app, user)["password_reset_required"] is True
    [event] = audited(app, "account_secured")
    assert event.changes["how"] == [None, securing.FROM_SESSIONS_PAGE] and event.actor_id == user.id
    assert len(mails(mailbox, user, SECURED_SUBJECT)) == 1
    assert form_errors(sign_in_page(browser(app, CHROME_LINUX), user)) == [sign_in.RESET_REQUIRED]


def test_secure_my_account_needs_the_pages_csrf_token(app, user):
    client = signed_in(browser(app, CHROME_LINUX), user)

    assert client.post("/profile/sessions/secure").status_code == 400
    assert is_signed_in(client) and stored(app, user)["password_reset_required"] is False


# The setting --------------------------------------------------------------------------------------------------


def test_the_mails_are_on_by_default_and_turned_off_on_the_sessions_page(app, user, mailbox):
    client = signed_in(browser(app, CHROME_LINUX), user)
    page = client.get("/profile/sessions").get_data(as_text=True)
    assert re.search(r'<input aria-describedby="sign_in_alerts-hint" checked id="sign_in_alerts"', page)
    assert "Email me when a new browser or app signs in" in page

    saved = submit(client, "/profile/sessions", {"sign_in_alerts": ""}, action="/profile/sessions/alerts",
                   follow_redirects=True)

    assert "You will no longer get a mail when a new browser or app signs in." in flashes(saved)
    assert stored(app, user)["sign_in_alerts"] is False
    assert 'checked id="sign_in_alerts"' not in saved.get_data(as_text=True)
    signed_in(browser(app, FIREFOX_WINDOWS, ip=AWAY), user)
    assert mails(mailbox, user, ALERT_SUBJECT) == []
    with app.app_context():  # still remembered, so turning the mails on again brings no flood
        assert db.session.scalar(select(func.count()).select_from(SignInSource).where(
            SignInSource.value == "Firefox|Windows")) == 1


def test_turning_the_mails_off_from_an_old_session_asks_for_the_password_turning_them_on_does_not(app, user):
    client = signed_in(browser(app, CHROME_LINUX), user)

    age_the_proof(app, client)
    prompt = submit(client, "/profile/sessions", {"sign_in_alerts": ""}, action="/profile/sessions/alerts")
    assert prompt.status_code == 403 and stored(app, user)["sign_in_alerts"] is True
    confirmed = client.post("/profile/sessions/alerts",
                            data={"csrf_token": csrf_token(prompt), "reauth_password": PASSWORD})
    assert confirmed.status_code == 302 and stored(app, user)["sign_in_alerts"] is False

    age_the_proof(app, client)
    on = submit(client, "/profile/sessions", {"sign_in_alerts": "y"}, action="/profile/sessions/alerts")
    assert on.status_code == 302 and stored(app, user)["sign_in_alerts"] is True


def test_with_the_operators_switch_off_the_setting_is_not_offered(app, user):
    app.config["SIGN_IN_ALERTS"] = False
    client = signed_in(browser(app, CHROME_LINUX), user)

    page = text_of(client.get("/profile/sessions"))
    assert "This site sends no mails about new sign-ins." in page and 'id="sign_in_alerts"' not in page
