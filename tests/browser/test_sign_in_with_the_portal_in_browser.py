"""Signing in to an app with the portal, in real Chromium: the app (a small site of its own on another
loopback port, npm's openid-client its relying party) sends the person to the portal's authorization
endpoint; they sign in with their password and authenticator app, read the consent page naming the app
and what it may do, and allow it; the browser lands on the app's callback, and the app's page greets
them by the name userinfo gave it. Then, under Connected apps, they take the app's access back, and
the app's token is refused at once.

The portal is served as http://localhost:PORT and the app as http://127.0.0.1:PORT2: two origins, so
the consent form's POST must be let through the portal's CSP (``form-action``) to the app's redirect
URI. A person who allowed the app before, or signs in to a trusted one, is sent on to the app by
the sign-in's own answer (the password form's, the second step's): those pages let their forms end
there too. The consent page and Connected apps pass axe in both schemes and fit a phone, in English and in
Persian; with PORTAL_SCREENSHOTS set, each is saved there for a person to look at.
"""

from contextlib import contextmanager
from dataclasses import dataclass

import pytest
from flask import Flask, redirect, request
from markupsafe import escape
from playwright.sync_api import Page, expect

from portal.services.audit import SYSTEM
from portal.services.oidc import apps
from portal.transactions import unit_of_work
from tests.conftest import PASSWORD, free_port
from tests.providers.rp import NodeRelyingParty, RelyingPartyError
from tests.two_step import set_up_totp

from .conftest import served
from .portal_pages import DESKTOP, FULL_NAME, fill_in_account, goto, load, sign_in_quickly
from .test_accessibility import problems_of

APP_NAME = "Reading Room"
SCOPE = "openid profile email offline_access"
# What the consent page and Connected apps say each scope lets the app do, in the order asked.
SCOPE_WORDS = [
    "Know who you are on this portal",
    "See your name, picture, gender, birthday, time zone and language",
    "See your email address and whether it is verified",
    "Stay connected when you are not using it",
]
EMAIL = "ada@example.com"


@dataclass
class ReadingRoom:
    """The app: its home page's URL, its relying party, and the tokens of its last sign-in."""

    url: str
    rp: NodeRelyingParty
    tokens: dict | None = None


def app_site(room: ReadingRoom) -> Flask:
    """The app's own pages: a home page with a sign-in link, and the callback the portal sends the
    browser back to, where openid-client checks the answer, exchanges the code and asks userinfo."""
    site = Flask("reading_room")

    def page(title: str, body: str) -> str:
        return f'<!doctype html><html lang="en"><title>{title}</title><main>{body}</main></html>'

    @site.get("/")
    def home():
        return page(APP_NAME, f'<h1>{APP_NAME}</h1><a href="/sign-in">Sign in with the account portal</a>')

    @site.get("/sign-in")
    def sign_in():
        return redirect(room.rp.authorization_url(SCOPE)["url"])

    @site.get("/callback")
    def callback():
        room.tokens = room.rp.callback(request.url)
        info = room.rp.userinfo(room.tokens["access_token"], room.tokens["claims"]["sub"])
        return page(APP_NAME, f"<h1>Welcome, {escape(info['name'])}</h1><p>{escape(info['email'])}</p>")

    return site


@contextmanager
def open_reading_room(app, node_rp, issuer: str, *, trusted: bool = False):
    """The app registered with the portal (its redirect URI on its own port) and served; its relying
    party has discovered the portal. A trusted app is not asked about on a consent page."""
    port = free_port()
    callback = f"http://127.0.0.1:{port}/callback"
    with app.app_context(), unit_of_work():
        registered, secret = apps.register_app(APP_NAME, [callback], SYSTEM, trusted=trusted)
        client_id = registered.client_id
    room = ReadingRoom(f"http://127.0.0.1:{port}/", node_rp(issuer, client_id, secret, callback))
    with served(app_site(room), port):
        yield room


@pytest.fixture
def reading_room(localhost_server, app, node_rp):
    with open_reading_room(app, node_rp, localhost_server) as room:
        yield room


@pytest.fixture
def trusted_reading_room(localhost_server, app, node_rp):
    with open_reading_room(app, node_rp, localhost_server, trusted=True) as room:
        yield room


def start_at_the_app(page: Page, room: ReadingRoom) -> None:
    goto(page, room.url)
    load(page, page.get_by_role("link", name="Sign in with the account portal"))


def watch_for_blocked_forms(page: Page) -> list[str]:
    """The Content Security Policy complaints ``page``'s console will log (a form's answer blocked)."""
    blocked = []
    page.on("console", lambda message: blocked.append(message.text) if "Content Security Policy" in message.text
            else None)
    return blocked


def sign_in_with_password(page: Page, email: str) -> None:
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in")
    page.get_by_label("Email or username").fill(email)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    load(page, page.get_by_role("button", name="Sign in", exact=True))


def test_an_app_signs_a_person_in_with_the_portal_and_loses_access_when_they_take_it_back(
    reading_room, localhost_server, app, make_user, clock, new_context
):
    base, room = localhost_server, reading_room
    account = make_user(EMAIL, first_name="Ada", last_name="Lovelace")
    secret, _ = set_up_totp(app, account, clock)
    page = new_context(viewport=DESKTOP, color_scheme="light").new_page()
    blocked = watch_for_blocked_forms(page)
    report = []

    def check(shot):
        if problems := problems_of(page, f"oidc--{shot}"):
            report.append(f"{shot} ({page.url}):\n  " + "\n  ".join(problems))

    # The app sends the person to the portal, which asks them to sign in first: password, then the app's code.
    start_at_the_app(page, room)
    sign_in_with_password(page, EMAIL)
    expect(page.get_by_role("heading", level=1)).to_have_text("One more step")
    page.get_by_label("Code", exact=True).fill(clock.code(secret))
    load(page, page.get_by_role("button", name="Sign in", exact=True))

    # The consent page names the app, the account, and each thing it may do in words.
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Allow {APP_NAME}?")
    expect(page.get_by_role("main")).to_contain_text(f"{APP_NAME} asks to use your account {EMAIL}")
    expect(page.get_by_role("main").get_by_role("listitem")).to_have_text(SCOPE_WORDS)
    expect(page.get_by_role("button", name="Deny")).to_be_visible()
    check("consent")

    # Allowed: the browser lands on the app, which greets the person by the name the portal gave it.
    load(page, page.get_by_role("button", name="Allow", exact=True))
    assert page.url.startswith(room.url + "callback?"), page.url
    expect(page.get_by_role("heading", level=1)).to_have_text("Welcome, Ada Lovelace")
    assert room.tokens["claims"]["amr"] == ["pwd", "otp", "mfa"]
    assert not blocked, blocked

    # Connected apps lists the app and what it may do; taking its access back ends its sign-in.
    goto(page, f"{base}/profile/apps")
    section = page.get_by_role("region", name=APP_NAME)
    expect(section.get_by_role("listitem")).to_have_text(SCOPE_WORDS)
    check("connected-apps")
    load(page, page.get_by_role("button", name=f"Take back the access of {APP_NAME}"))
    expect(page.get_by_role("status")).to_contain_text(f"{APP_NAME} can no longer use your account")
    expect(page.get_by_role("region", name=APP_NAME)).to_have_count(0)
    check("connected-apps-none")

    with pytest.raises(RelyingPartyError) as refused:
        room.rp.userinfo(room.tokens["access_token"], room.tokens["claims"]["sub"])
    assert refused.value.status == 401, refused.value.answer
    assert not report, "\n".join(report)


def test_the_consent_page_and_connected_apps_in_persian(reading_room, localhost_server, app, make_user, new_context):
    base, room = localhost_server, reading_room
    account = make_user(EMAIL)
    fill_in_account(app, account.id)
    page = new_context(viewport=DESKTOP, color_scheme="light").new_page()
    sign_in_quickly(page, app, base, EMAIL)
    report = []

    def check(shot):
        if problems := problems_of(page, f"oidc-fa--{shot}"):
            report.append(f"{shot} ({page.url}):\n  " + "\n  ".join(problems))

    # Signed in already: the app's request goes straight to the consent page, where they switch to Persian.
    start_at_the_app(page, room)
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Allow {APP_NAME}?")
    load(page, page.get_by_role("button", name="فارسی"))
    expect(page.locator("html")).to_have_attribute("dir", "rtl")
    expect(page.get_by_role("heading", level=1)).to_have_text(f"به {APP_NAME} اجازه می‌دهید؟")
    expect(page.get_by_role("main").get_by_role("listitem")).to_have_count(len(SCOPE_WORDS))
    expect(page.get_by_role("main").get_by_role("listitem").first).to_have_text("بداند شما در این درگاه چه کسی هستید")
    check("consent")

    load(page, page.get_by_role("button", name="اجازه می‌دهم"))
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Welcome, {FULL_NAME}")

    goto(page, f"{base}/profile/apps")
    expect(page.get_by_role("heading", level=1)).to_have_text("برنامه‌های وصل‌شده")
    expect(page.get_by_role("region", name=APP_NAME).get_by_role("listitem")).to_have_count(len(SCOPE_WORDS))
    check("connected-apps")
    load(page, page.get_by_role("button", name=f"پس گرفتن دسترسی {APP_NAME}"))
    expect(page.get_by_role("region", name=APP_NAME)).to_have_count(0)
    with pytest.raises(RelyingPartyError):
        room.rp.userinfo(room.tokens["access_token"], room.tokens["claims"]["sub"])
    assert not report, "\n".join(report)


def test_a_returning_person_who_allowed_the_app_signs_in_with_the_password_and_lands_on_the_app(
    reading_room, localhost_server, app, make_user, new_context
):
    """The app was allowed before, so the password form's answer leads through the authorization
    endpoint straight on to the app's callback on another origin: the login page's form-action lets it."""
    base, room = localhost_server, reading_room
    make_user(EMAIL, first_name="Ada", last_name="Lovelace")
    earlier = new_context(viewport=DESKTOP, color_scheme="light").new_page()
    sign_in_quickly(earlier, app, base, EMAIL)
    start_at_the_app(earlier, room)
    load(earlier, earlier.get_by_role("button", name="Allow", exact=True))
    expect(earlier.get_by_role("heading", level=1)).to_have_text("Welcome, Ada Lovelace")

    # Another day, another browser: not signed in to the portal.
    page = new_context(viewport=DESKTOP, color_scheme="light").new_page()
    blocked = watch_for_blocked_forms(page)
    start_at_the_app(page, room)
    sign_in_with_password(page, EMAIL)

    assert page.url.startswith(room.url + "callback?"), page.url
    expect(page.get_by_role("heading", level=1)).to_have_text("Welcome, Ada Lovelace")
    assert room.tokens["claims"]["amr"] == ["pwd"]
    assert not blocked, blocked


def test_a_person_with_an_authenticator_app_goes_through_the_second_step_and_lands_on_a_trusted_app(
    trusted_reading_room, localhost_server, app, make_user, clock, new_context
):
    """A trusted app asks no consent: the second step's answer leads on to the app's callback, which
    the second-step page's form-action lets through (its next travels in the pending sign-in)."""
    room = trusted_reading_room
    account = make_user(EMAIL, first_name="Ada", last_name="Lovelace")
    secret, _ = set_up_totp(app, account, clock)
    page = new_context(viewport=DESKTOP, color_scheme="light").new_page()
    blocked = watch_for_blocked_forms(page)

    start_at_the_app(page, room)
    sign_in_with_password(page, EMAIL)
    expect(page.get_by_role("heading", level=1)).to_have_text("One more step")
    page.get_by_label("Code", exact=True).fill(clock.code(secret))
    load(page, page.get_by_role("button", name="Sign in", exact=True))

    assert page.url.startswith(room.url + "callback?"), page.url
    expect(page.get_by_role("heading", level=1)).to_have_text("Welcome, Ada Lovelace")
    assert room.tokens["claims"]["amr"] == ["pwd", "otp", "mfa"]
    assert not blocked, blocked
