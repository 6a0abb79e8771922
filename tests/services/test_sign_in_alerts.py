"""Sign-ins from somewhere new: a browser (or, through the API, an address) the account has not
signed in from in 90 days is mailed to the person, once; the first sign-in of an account, a known
browser, the person's "off" and the operator's switch are not. (The "This wasn't me" link:
test_securing.py; the pages: tests/web/test_sign_in_alert_pages.py.)"""

import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from portal.extensions import db
from portal.models import AuditEvent, SignInAlert, SignInSource, User, utcnow
from portal.services.audit import SYSTEM, Actor
from portal.services.people import accounts, export
from portal.services.signing_in import sign_in_alerts
from portal.services.ways_in import api_keys, browser_sessions, tokens
from portal.transactions import unit_of_work

CHROME_LINUX = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36"
CHROME_LINUX_NEXT_VERSION = CHROME_LINUX.replace("Chrome/126.0.0.0", "Chrome/127.0.6533.72")
FIREFOX_WINDOWS = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0"
HOME, CAFE, ELSEWHERE = "203.0.113.7", "198.51.100.23", "2001:db8::42"


def browser_sign_in(app, account, user_agent, ip=HOME, method="password"):
    with app.app_context(), unit_of_work():
        user = db.session.get(User, account.id)
        browser_sessions.start_browser_session(
            user, Actor(user=user, ip=ip, via="web"), user_agent=user_agent, remember=False, method=method
        )


def api_sign_in(app, account, ip, *, key=False):
    with app.app_context(), unit_of_work():
        user = db.session.get(User, account.id)
        actor = Actor(user=user, ip=ip, via="api")
        if key:
            api_keys.issue_api_key(user, actor, name="API sign-in")
        else:
            tokens.issue_token_pair(user, actor)


def sources(app, account) -> dict:
    with app.app_context(), unit_of_work():
        rows = db.session.scalars(select(SignInSource).where(SignInSource.user_id == account.id))
        return {(row.kind, row.value): (row.first_seen_at, row.last_seen_at) for row in rows}


def unseen_for(app, account, days):
    """Every source of the account was last seen ``days`` ago."""
    with app.app_context(), unit_of_work():
        db.session.execute(
            update(SignInSource).where(SignInSource.user_id == account.id)
            .values(first_seen_at=utcnow() - timedelta(days=days + 30), last_seen_at=utcnow() - timedelta(days=days))
        )
        db.session.commit()


def alerts_mailed(mailbox, account):
    return [m for m in mailbox.sent_to(account.email) if m["Subject"] == "A new sign-in to your account"]


def text(message) -> str:
    return message.get_body(("plain",)).get_content().replace("\r\n", "\n")


def html(message) -> str:
    return message.get_body(("html",)).get_content().replace("\r\n", "\n")


def audit_count(app, action) -> int:
    with app.app_context(), unit_of_work():
        return db.session.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.action == action))


# New browsers ---------------------------------------------------------------------------------------


def test_the_first_sign_in_of_an_account_is_remembered_without_a_mail(app, user, mailbox):
    browser_sign_in(app, user, CHROME_LINUX)

    assert set(sources(app, user)) == {("browser", "Chrome|Linux"), ("address", HOME)}
    assert alerts_mailed(mailbox, user) == []


def test_the_same_browser_again_is_no_news_even_a_newer_version_from_another_address(app, user, mailbox):
    browser_sign_in(app, user, CHROME_LINUX)
    browser_sign_in(app, user, CHROME_LINUX)
    browser_sign_in(app, user, CHROME_LINUX_NEXT_VERSION, ip=CAFE)

    assert alerts_mailed(mailbox, user) == []
    assert set(sources(app, user)) == {("browser", "Chrome|Linux"), ("address", HOME), ("address", CAFE)}


def test_a_new_browser_is_mailed_once_with_browser_system_address_time_and_method(app, user, mailbox):
    browser_sign_in(app, user, CHROME_LINUX)
    before = utcnow()

    browser_sign_in(app, user, FIREFOX_WINDOWS, ip=CAFE, method="password+totp")
    browser_sign_in(app, user, FIREFOX_WINDOWS, ip=CAFE)

    [mail] = alerts_mailed(mailbox, user)
    body = text(mail)
    assert re.search(r"Browser: +Firefox\n", body)
    assert re.search(r"Operating system: +Windows\n", body)
    assert re.search(rf"Address: +{re.escape(CAFE)}\n", body)
    assert re.search(r"Signed in with: +password and app code\n", body)
    with app.app_context():
        alert = db.session.scalar(select(SignInAlert))
        assert (alert.browser, alert.system, alert.ip, alert.method) == ("Firefox", "Windows", CAFE, "password+totp")
        assert alert.created_at >= before
    assert re.search(r"Time: +" + re.escape(alert.created_at.strftime("%-d %b %Y, %H:%M UTC")) + r"\n", body)
    assert "in the last 90 days" in body
    assert re.search(r"http://\S+/not-me/\S+/\n", body)
    for shown in ("<strong>Firefox</strong>", "<strong>Windows</strong>", f"<strong><bdi>{CAFE}</bdi></strong>",
                  "<strong>password and app code</strong>", ">This wasn't me</a>"):
        assert shown in html(mail).replace("&#39;", "'")
    # A mail about a sign-in does not tell the reader to ignore what was not them.
    assert "you can ignore it" not in html(mail)
    with app.app_context():
        sign_ins = db.session.scalars(
            select(AuditEvent).where(AuditEvent.action == "signed_in").order_by(AuditEvent.id))
        assert [event.changes for event in sign_ins] == [
            {"method": [None, "password"]},
            {"method": [None, "password+totp"], "new_browser_mailed": [None, "Firefox · Windows · 198.51.100.23"]},
            {"method": [None, "password"]},
        ]


def test_a_browser_unseen_for_90_days_is_new_again(app, user, mailbox):
    browser_sign_in(app, user, CHROME_LINUX)
    unseen_for(app, user, 89)
    browser_sign_in(app, user, CHROME_LINUX)
    assert alerts_mailed(mailbox, user) == []

    unseen_for(app, user, 91)
    browser_sign_in(app, user, CHROME_LINUX)

    [mail] = alerts_mailed(mailbox, user)
    assert re.search(r"Browser: +Chrome\n", text(mail))
    # Seen afresh: first seen now, and nothing older than the window is kept.
    (first_seen, last_seen), = [times for (kind, _), times in sources(app, user).items() if kind == "browser"]
    assert utcnow() - first_seen < timedelta(minutes=1) and first_seen == last_seen


def test_sources_unseen_for_the_window_are_forgotten_at_the_next_sign_in(app, user, mailbox):
    browser_sign_in(app, user, FIREFOX_WINDOWS, ip=CAFE)
    unseen_for(app, user, 91)

    browser_sign_in(app, user, CHROME_LINUX)

    assert set(sources(app, user)) == {("browser", "Chrome|Linux"), ("address", HOME)}
    assert len(alerts_mailed(mailbox, user)) == 1


def test_a_browser_whose_user_agent_says_nothing_known_is_one_browser_too(app, user, mailbox):
    browser_sign_in(app, user, CHROME_LINUX)
    browser_sign_in(app, user, None)
    browser_sign_in(app, user, "")

    [mail] = alerts_mailed(mailbox, user)
    assert re.search(r"Browser: +Unknown\n", text(mail)) and re.search(r"Operating system: +Unknown\n", text(mail))
    assert ("browser", "|") in sources(app, user)


def test_what_is_remembered_is_names_and_addresses_never_the_user_agent(app, user, mailbox):
    browser_sign_in(app, user, CHROME_LINUX)
    browser_sign_in(app, user, FIREFOX_WINDOWS)

    assert {value for _, value in sources(app, user)} == {"Chrome|Linux", "Firefox|Windows", HOME}


# API sign-ins -----------------------------------------------------------------------------------------


def test_an_api_sign_in_from_a_new_address_is_mailed(app, user, mailbox):
    api_sign_in(app, user, HOME)
    api_sign_in(app, user, HOME)
    assert alerts_mailed(mailbox, user) == []

    api_sign_in(app, user, ELSEWHERE)
    api_sign_in(app, user, ELSEWHERE)

    [mail] = alerts_mailed(mailbox, user)
    body = text(mail)
    assert ("An app signed in to your account through the API"
            " from an address your account has not signed in from") in body
    assert re.search(rf"Address: +{re.escape(ELSEWHERE)}\n", body)
    assert re.search(r"Through: +the API \(an access token\)\n", body)
    assert re.search(r"Signed in with: +password\n", body)


def test_an_api_key_from_a_new_address_is_mailed_too(app, user, mailbox):
    api_sign_in(app, user, HOME, key=True)
    api_sign_in(app, user, CAFE, key=True)

    [mail] = alerts_mailed(mailbox, user)
    assert "An API key was made for your account from an address" in text(mail)
    assert re.search(r"Through: +the API \(an API key\)\n", text(mail))


def test_an_api_sign_in_from_the_address_of_a_browser_in_use_is_no_news(app, user, mailbox):
    browser_sign_in(app, user, CHROME_LINUX, ip=HOME)
    api_sign_in(app, user, HOME)

    assert alerts_mailed(mailbox, user) == []


def test_a_key_made_on_the_keys_page_or_the_command_line_is_no_sign_in_from_anywhere_new(app, user, mailbox):
    browser_sign_in(app, user, CHROME_LINUX)
    with app.app_context(), unit_of_work():
        account = db.session.get(User, user.id)
        api_keys.issue_api_key(account, Actor(user=account, ip=CAFE, via="web"), name="From the keys page")
        api_keys.issue_api_key(account, SYSTEM, name="created on the command line")

    assert alerts_mailed(mailbox, user) == []
    assert set(sources(app, user)) == {("browser", "Chrome|Linux"), ("address", HOME)}


# Turning it off -----------------------------------------------------------------------------------------


def test_a_person_who_turned_the_mails_off_gets_none_but_sources_are_still_remembered(app, user, mailbox):
    browser_sign_in(app, user, CHROME_LINUX)
    with app.app_context(), unit_of_work():
        account = db.session.get(User, user.id)
        sign_in_alerts.set_sign_in_alerts(account, False, Actor(user=account, ip=HOME, via="web"))

    browser_sign_in(app, user, FIREFOX_WINDOWS, ip=CAFE)
    api_sign_in(app, user, ELSEWHERE)

    assert alerts_mailed(mailbox, user) == []
    assert ("browser", "Firefox|Windows") in sources(app, user)
    with app.app_context(), unit_of_work():
        assert db.session.get(User, user.id).sign_in_alerts is False
        assert db.session.scalar(select(func.count()).select_from(SignInAlert)) == 0
    # Turning them off is what an intruder would do: the person is told, and it is in the log.
    [notice] = [m for m in mailbox.sent_to(user.email) if m["Subject"] == "A change to how you sign in"]
    assert "Sign-in alerts turned off" in text(notice)
    assert audit_count(app, "sign_in_alerts_turned_off") == 1

    with app.app_context(), unit_of_work():
        account = db.session.get(User, user.id)
        sign_in_alerts.set_sign_in_alerts(account, True, Actor(user=account, ip=HOME, via="web"))
    browser_sign_in(app, user, FIREFOX_WINDOWS, ip=CAFE)  # seen while they were off: still known
    assert alerts_mailed(mailbox, user) == []
    assert audit_count(app, "sign_in_alerts_turned_on") == 1


def test_the_operators_switch_turns_it_all_off(app, user, mailbox):
    app.config["SIGN_IN_ALERTS"] = False
    browser_sign_in(app, user, CHROME_LINUX)
    browser_sign_in(app, user, FIREFOX_WINDOWS, ip=CAFE)
    api_sign_in(app, user, ELSEWHERE)

    assert alerts_mailed(mailbox, user) == []
    assert sources(app, user) == {}


def test_an_old_alert_is_forgotten_when_the_next_one_is_made(app, user, mailbox):
    browser_sign_in(app, user, CHROME_LINUX)
    browser_sign_in(app, user, FIREFOX_WINDOWS)
    with app.app_context(), unit_of_work():
        db.session.execute(update(SignInAlert).values(created_at=utcnow() - timedelta(days=8)))
        db.session.commit()

    api_sign_in(app, user, ELSEWHERE)

    with app.app_context(), unit_of_work():
        assert [a.ip for a in db.session.scalars(select(SignInAlert))] == [ELSEWHERE]


@pytest.mark.parametrize("credential_kind, expected", [("session", "Firefox on Windows from 198.51.100.23"),
                                                       ("jwt", "An API sign-in from 198.51.100.23"),
                                                       ("key", "An API key from 198.51.100.23")])
def test_an_alert_is_described_in_one_line(credential_kind, expected):
    alert = SignInAlert(credential_kind=credential_kind, browser="Firefox", system="Windows", ip=CAFE)

    assert sign_in_alerts.describe(alert) == expected


def test_the_export_holds_where_the_account_signed_in_from_and_the_mails_about_it(app, user, mailbox):
    browser_sign_in(app, user, CHROME_LINUX)
    browser_sign_in(app, user, FIREFOX_WINDOWS, ip=CAFE)
    with app.app_context(), unit_of_work():
        data = export.account_export(db.session.get(User, user.id))

    assert data["profile"]["sign_in_alerts"] is True and data["profile"]["password_reset_required"] is False
    assert [(s["kind"], s["value"]) for s in data["sign_in_sources"]] == [
        ("browser", "Chrome|Linux"), ("address", HOME), ("browser", "Firefox|Windows"), ("address", CAFE),
    ]
    [alert] = data["sign_in_alerts"]
    assert (alert["kind"], alert["browser"], alert["system"], alert["ip"], alert["used_at"]) == (
        "browser", "Firefox", "Windows", CAFE, None,
    )


def test_a_deleted_account_takes_its_sources_and_alerts_with_it(app, user, mailbox):
    browser_sign_in(app, user, CHROME_LINUX)
    browser_sign_in(app, user, FIREFOX_WINDOWS, ip=CAFE)
    with app.app_context(), unit_of_work():
        accounts.delete_account(db.session.get(User, user.id), SYSTEM)

    with app.app_context(), unit_of_work():
        assert db.session.scalar(select(func.count()).select_from(SignInSource)) == 0
        assert db.session.scalar(select(func.count()).select_from(SignInAlert)) == 0
