"""The account portal in real Chromium: one person's whole life with an account; the confirmation after
sign-up; the pages without JavaScript; signing in with the keyboard alone; the Sessions page of a busy
account (readable buttons, each with its own name); and the screenshots in docs/screenshots/."""

import json
import re
from pathlib import Path

from PIL import Image
from playwright.sync_api import expect

from portal.extensions import db
from portal.models import User
from portal.services.audit import Actor
from portal.services.ways_in import api_keys
from portal.transactions import unit_of_work
from tests.conftest import PASSWORD

from .portal_pages import (
    COUNTRY,
    DESKTOP,
    FIRST_NAME,
    FULL_NAME,
    LAST_NAME,
    PHONE,
    fill_in_account,
    focus_ring,
    goto,
    jpeg_file,
    load,
    loaded_width,
    open_section,
    path_of,
    section_link,
    sign_in,
    sign_in_quickly,
    sign_in_through_the_form,
    split_words,
)

EMAIL = "behrouz@example.com"


def keys_in(value) -> set:
    """Every key of a JSON document, at any depth."""
    if isinstance(value, dict):
        return set(value) | {key for item in value.values() for key in keys_in(item)}
    if isinstance(value, list):
        return {key for item in value for key in keys_in(item)}
    return set()


def test_a_person_signs_up_runs_the_account_and_deletes_it(new_context, live_server, mailbox, client, tmp_path):
    base = live_server
    page = new_context(viewport=DESKTOP).new_page()

    # Sign up, read the code from the mail, enter it: signed in on the profile page.
    goto(page, f"{base}/register")
    page.get_by_label("Email address").fill(EMAIL)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Repeat the password").fill(PASSWORD)
    page.get_by_label("First name").fill("Behrouz")
    page.get_by_label("Last name").fill("Nikname")
    load(page, page.get_by_role("button", name="Create the account"))
    expect(page).to_have_url(f"{base}/verify")
    expect(page.get_by_role("status")).to_contain_text(f"We mailed a 6-digit code to {EMAIL}")
    expect(page.get_by_label("Email address")).to_have_value(EMAIL)

    assert len(mailbox.sent_to(EMAIL)) == 1
    code = mailbox.code_for(EMAIL)
    page.get_by_label("Code").fill(code)
    load(page, page.get_by_role("button", name="Verify", exact=True))
    expect(page).to_have_url(f"{base}/profile/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Behrouz Nikname")
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    expect(page.get_by_role("definition").filter(has_text=EMAIL)).to_have_text(f"{EMAIL} verified")

    # Edit: Persian names, a country from the list, and a picture previewed before it is sent.
    open_section(page, "Edit profile")
    expect(page).to_have_url(f"{base}/profile/edit")
    page.get_by_label("First name").fill(FIRST_NAME)
    page.get_by_label("Last name").fill(LAST_NAME)
    page.get_by_label("Country").select_option(label=COUNTRY[1])
    preview = page.locator("#avatar-preview")
    expect(preview).to_be_hidden()
    page.get_by_label("New picture").set_input_files(jpeg_file(tmp_path))
    expect(preview).to_be_visible()
    expect(preview).to_have_attribute("src", re.compile(r"^blob:"))
    expect(preview).to_have_accessible_name("Preview of the chosen picture")
    assert loaded_width(preview) == 640
    load(page, page.get_by_role("button", name="Save changes"))

    expect(page).to_have_url(f"{base}/profile/")
    expect(page.get_by_role("status")).to_contain_text("Your profile is saved.")
    expect(page.get_by_role("heading", level=1)).to_have_text(FULL_NAME)
    expect(page.get_by_role("definition").filter(has_text=LAST_NAME)).to_have_text(LAST_NAME)
    expect(page.get_by_role("definition").filter(has_text=COUNTRY[1])).to_have_text(COUNTRY[1])
    avatar = page.get_by_role("img", name="Your picture")
    expect(avatar).to_be_visible()
    assert loaded_width(avatar) > 0, f"the profile picture {avatar.get_attribute('src')} did not load"

    # An API key, shown once, works with the API.
    open_section(page, "API keys")
    page.get_by_label("Name").fill("Backup script")
    load(page, page.get_by_role("button", name="Create key"))
    new_key = page.get_by_label("New API key")
    expect(new_key).to_have_attribute("readonly", "")
    key = new_key.input_value()
    assert len(key) >= 20
    expect(page.get_by_role("button", name="Revoke Backup script")).to_be_visible()
    answer = client.get("/api/users/me/", headers={"Authorization": f"Token {key}"})
    assert answer.status_code == 200, answer.get_data(as_text=True)
    assert (answer.get_json()["first_name"], answer.get_json()["last_name"]) == (FIRST_NAME, LAST_NAME)
    goto(page, f"{base}/profile/keys")
    expect(page.get_by_role("button", name="Revoke Backup script")).to_be_visible()
    expect(page.get_by_label("New API key")).to_have_count(0)  # shown only once

    # A second browser signs in; the first ends that session and the second is sent to sign in.
    other = new_context(viewport=DESKTOP).new_page()
    sign_in(other, base, EMAIL)
    open_section(page, "Sessions")
    expect(page.get_by_role("button", name="Sign out of this browser")).to_have_count(1)
    expect(page.get_by_role("button", name=re.compile(r"^End API key .* started "))).to_have_count(1)
    end_other = page.get_by_role("button", name=re.compile(r"^End .* browser session started "))
    expect(end_other).to_have_count(1)
    load(page, end_other)
    expect(page.get_by_role("status")).to_contain_text("That session is ended.")
    expect(page.get_by_role("button", name=re.compile(r"^End .* browser session started "))).to_have_count(0)
    expect(page.get_by_role("button", name="Sign out of this browser")).to_have_count(1)

    assert other.reload().status == 200
    assert path_of(other) == "/login", other.url
    expect(other.get_by_role("heading", name="Sign in")).to_be_visible()
    expect(other.get_by_role("button", name="Sign out")).to_have_count(0)

    # The activity page shows what changed, old → new.
    open_section(page, "Activity")
    change = page.get_by_role("listitem").filter(has_text="Profile changed")
    expect(change).to_have_count(1)
    for field, before, after in (
        ("first name", "Behrouz", FIRST_NAME),
        ("last name", "Nikname", LAST_NAME),
        ("country", "—", COUNTRY[1]),
        ("avatar", "—", "a picture"),
    ):
        row = change.get_by_role("row").filter(has=page.get_by_role("rowheader", name=field, exact=True))
        expect(row.get_by_role("cell")).to_have_text([before, after])
    expect(page.get_by_role("listitem").filter(has_text="API key created")).to_have_count(1)

    # Export: a JSON download with the profile and no secret.
    with page.expect_download() as download_info:
        section_link(page, "Export your data").click()
    download = download_info.value
    text = download.path().read_text(encoding="utf-8")
    exported = json.loads(text)
    assert exported["profile"]["email"] == EMAIL
    assert (exported["profile"]["first_name"], exported["profile"]["last_name"]) == (FIRST_NAME, LAST_NAME)
    assert exported["profile"]["country"] == COUNTRY[0]
    assert "password_hash" not in keys_in(exported) and "password_hash" not in text
    assert key not in text and code not in text
    assert re.fullmatch(r"account-\d+\.json", download.suggested_filename)

    # Sign out, sign in again, delete the account (a wrong password first).
    load(page, page.get_by_role("button", name="Sign out"))
    expect(page).to_have_url(f"{base}/login")
    expect(page.get_by_role("status")).to_contain_text("You are signed out.")
    goto(page, f"{base}/profile/")
    assert path_of(page) == "/login"

    sign_in(page, base, EMAIL)
    open_section(page, "Delete account")
    password_field = page.get_by_label("Your password")
    password_field.fill("not-my-password")
    load(page, page.get_by_role("button", name="Delete my account"))
    expect(password_field).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#" + password_field.get_attribute("aria-describedby").split()[-1])).to_be_visible()
    password_field.fill(PASSWORD)
    load(page, page.get_by_role("button", name="Delete my account"))
    expect(page).to_have_url(f"{base}/login")
    expect(page.get_by_role("status")).to_contain_text("Your account and everything in it are deleted.")

    # Afterwards nothing lets them in: neither the password nor the key.
    page.get_by_label("Email or username").fill(EMAIL)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    load(page, page.get_by_role("button", name="Sign in", exact=True))
    expect(page.get_by_role("alert")).to_have_text("The email, username or password is not right.")
    assert path_of(page) == "/login"
    assert client.get("/api/users/me/", headers={"Authorization": f"Token {key}"}).status_code == 401


def test_the_browser_that_signed_up_is_told_its_address_is_verified(new_context, live_server, mailbox):
    """The code page flashes "Your email address is verified." and then signs the browser in."""
    base = live_server
    page = new_context().new_page()
    goto(page, f"{base}/register")
    page.get_by_label("Email address").fill(EMAIL)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Repeat the password").fill(PASSWORD)
    load(page, page.get_by_role("button", name="Create the account"))
    expect(page).to_have_url(f"{base}/verify")
    page.get_by_label("Code").fill(mailbox.code_for(EMAIL))
    load(page, page.get_by_role("button", name="Verify", exact=True))
    expect(page).to_have_url(f"{base}/profile/")
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    # The page has loaded: the message is there now or never.
    expect(page.get_by_role("status")).to_contain_text("Your email address is verified.", timeout=1000)


def test_sign_in_and_profile_edit_work_without_javascript(new_context, live_server, user, tmp_path):
    base = live_server
    page = new_context(java_script_enabled=False).new_page()
    sign_in(page, base, user.email)

    open_section(page, "Edit profile")
    page.get_by_label("First name").fill(FIRST_NAME)
    page.get_by_label("Last name").fill(LAST_NAME)
    page.get_by_label("Country").select_option(label=COUNTRY[1])
    page.get_by_label("New picture").set_input_files(jpeg_file(tmp_path))
    expect(page.locator("#avatar-preview")).to_be_hidden()  # no script, no preview; the upload still works
    load(page, page.get_by_role("button", name="Save changes"))

    expect(page).to_have_url(f"{base}/profile/")
    expect(page.get_by_role("status")).to_contain_text("Your profile is saved.")
    expect(page.get_by_role("heading", level=1)).to_have_text(FULL_NAME)
    expect(page.get_by_role("definition").filter(has_text=COUNTRY[1])).to_have_text(COUNTRY[1])
    assert loaded_width(page.get_by_role("img", name="Your picture")) > 0

    load(page, page.get_by_role("button", name="Sign out"))
    expect(page).to_have_url(f"{base}/login")
    goto(page, f"{base}/profile/edit")
    assert path_of(page) == "/login"


def test_sign_in_with_the_keyboard_alone(new_context, live_server, user):
    base = live_server
    page = new_context(viewport=DESKTOP).new_page()
    goto(page, f"{base}/login")
    login_field = page.get_by_label("Email or username")

    visited = []
    for _ in range(10):  # the skip link and the header come first
        page.keyboard.press("Tab")
        ring = focus_ring(page)
        visited.append(ring)
        assert ring["onScreen"], f"the focused element is off screen: {ring}"
        assert ring["outlineStyle"] != "none" and ring["outlineWidth"] >= 2, f"no visible focus outline: {ring}"
        if login_field.evaluate("el => el === document.activeElement"):
            break
    else:
        raise AssertionError(f"Tab never reached the email field; focus went {visited}")
    assert visited[0]["name"] == "Skip to the content", visited

    def assert_focus_drawn_on(locator):
        expect(locator).to_be_focused()
        ring = focus_ring(page)
        assert ring["onScreen"], f"the focused element is off screen: {ring}"
        assert ring["outlineStyle"] != "none" and ring["outlineWidth"] >= 2, f"no visible focus outline: {ring}"

    page.keyboard.type(user.email)
    page.keyboard.press("Tab")
    assert_focus_drawn_on(page.get_by_label("Password", exact=True))
    page.keyboard.type(user.password)
    page.keyboard.press("Tab")
    remember = page.get_by_label("Keep me signed in on this device")
    assert_focus_drawn_on(remember)
    page.keyboard.press("Space")
    expect(remember).to_be_checked()
    page.keyboard.press("Tab")
    assert_focus_drawn_on(page.get_by_role("button", name="Sign in", exact=True))
    page.keyboard.press("Enter")

    expect(page).to_have_url(f"{base}/profile/")
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()


FIREFOX_ON_WINDOWS = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0"
IPHONE_SAFARI = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.4 Mobile/15E148 Safari/604.1"
)


def open_ways_in(app, account) -> None:
    """What a busy account has: two other browsers signed in (through the login form, with the test
    client), an app signed in through the API, and two named API keys, all started within a minute."""
    for user_agent in (FIREFOX_ON_WINDOWS, IPHONE_SAFARI):
        sign_in_through_the_form(app, account.email, account.password, user_agent=user_agent)
    assert app.test_client().post(
        "/api/token/", json={"email": account.email, "password": account.password}
    ).status_code == 200
    with app.app_context(), unit_of_work():
        user = db.session.get(User, account.id)
        for name in ("Backup script", "Calendar sync"):
            api_keys.issue_api_key(user, Actor(user=user, via="web"), name=name)


def test_buttons_beside_long_descriptions_keep_their_words_whole(new_context, live_server, app, make_user):
    """On the Sessions and API keys pages a row's "End", "Sign out" or "Revoke" button sits beside text
    that can be long; the button must keep its label readable, not break it between letters."""
    base = live_server
    account = make_user("behrouz@example.com")
    open_ways_in(app, account)
    page = new_context(viewport=DESKTOP).new_page()
    sign_in_quickly(page, app, base, account.email)

    broken = {}
    for path in ("/profile/sessions", "/profile/keys"):
        goto(page, base + path)
        for width in (DESKTOP["width"], 800, PHONE["width"]):
            page.set_viewport_size({"width": width, "height": 900})
            if found := split_words(page):
                broken[f"{path} at {width} px"] = found
    assert not broken, "button labels broken inside a word:\n" + "\n".join(f"{k}: {v}" for k, v in broken.items())


def test_every_end_button_on_the_sessions_page_has_its_own_name(new_context, live_server, app, make_user):
    """A screen reader lists the buttons by name: each must say which session, sign-in or key it ends,
    also when several of one kind started in the same minute (a phone and a laptop, two keys)."""
    base = live_server
    account = make_user("behrouz@example.com")
    open_ways_in(app, account)
    page = new_context(viewport=DESKTOP).new_page()
    sign_in_quickly(page, app, base, account.email)
    goto(page, f"{base}/profile/sessions")

    buttons = page.get_by_role("region", name="Signed in").get_by_role("button")
    expect(buttons).to_have_count(6)  # this browser, two other browsers, an app sign-in, two keys
    names = [button.get_attribute("aria-label") or button.inner_text() for button in buttons.all()]
    repeated = sorted({name for name in names if names.count(name) > 1})
    assert not repeated, f"buttons with the same accessible name: {repeated}; all: {names}"


SCREENSHOTS = Path(__file__).parents[2] / "docs" / "screenshots"


def test_screenshots_of_a_filled_in_profile(new_context, live_server, app, make_user, client):
    """docs/screenshots/: the profile on a desktop and a phone, the edit page on a phone, the sessions page."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    base = live_server
    account = make_user("behrouz@example.com")
    fill_in_account(app, account.id, group="Research team")
    # More ways in than this browser: a phone's browser, an app signed in through the API, and a key.
    sign_in_through_the_form(app, account.email, account.password, user_agent=IPHONE_SAFARI)
    for door in ("/api/token/", "/api/auth/token/login/"):
        assert client.post(door, json={"email": account.email, "password": account.password}).status_code == 200

    page = new_context(viewport=DESKTOP, color_scheme="light").new_page()
    sign_in(page, base, account.email)
    expect(page.get_by_role("heading", level=1)).to_have_text(FULL_NAME)
    expect(page.get_by_role("definition").filter(has_text="Research team")).to_be_visible()
    expect(page.get_by_role("definition").filter(has_text=account.email)).to_have_text(f"{account.email} verified")
    assert loaded_width(page.get_by_role("img", name="Your picture")) > 0
    page.screenshot(path=SCREENSHOTS / "profile-desktop.png", full_page=True)

    page.set_viewport_size(PHONE)
    page.screenshot(path=SCREENSHOTS / "profile-phone.png", full_page=True)

    open_section(page, "Edit profile")
    expect(page.get_by_label("First name")).to_have_value(FIRST_NAME)
    assert loaded_width(page.get_by_role("img", name="Your current picture")) > 0
    page.screenshot(path=SCREENSHOTS / "edit-phone.png", full_page=True)

    page.set_viewport_size(DESKTOP)
    open_section(page, "Sessions")
    expect(page.get_by_role("button", name=re.compile(r"^End "))).to_have_count(3)
    expect(page.get_by_text("Safari on iOS")).to_be_visible()
    page.screenshot(path=SCREENSHOTS / "sessions-desktop.png", full_page=True)

    for name in ("profile-desktop", "profile-phone", "edit-phone", "sessions-desktop"):
        with Image.open(SCREENSHOTS / f"{name}.png") as shot:
            width = shot.width
        assert width == (PHONE if name.endswith("phone") else DESKTOP)["width"], (name, width)
