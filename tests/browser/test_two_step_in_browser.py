"""Two-step sign-in and passkeys in real Chromium: an authenticator app set up from the Security page
and asked for at the next sign-in; a passkey made with Chromium's virtual authenticator that then
signs in alone, or answers the second step; "Confirm it's you" before revoking an API key in an old
session; the same journeys with the keyboard alone and without JavaScript.

The app is served as http://localhost:PORT (``localhost_server``), the origin it knows itself by, so
the page is a secure context and the passkeys' relying party is "localhost". The authenticator
app's codes come from ``pyotp``: on the wall clock in the journey that sets the app up on the page
(as a phone would make them), on the ``clock`` fixture elsewhere, so that no test waits for a step to pass.
"""

import re
import time
from datetime import timedelta

import pyotp
from playwright.sync_api import Page, expect
from sqlalchemy import update

from portal.extensions import db
from portal.models import Credential, User, utcnow
from portal.services.audit import Actor
from portal.services.ways_in import api_keys
from portal.transactions import unit_of_work
from tests.conftest import PASSWORD
from tests.two_step import set_up_totp

from .portal_pages import (
    DESKTOP,
    PHONE,
    add_passkey_on_the_page,
    add_virtual_authenticator,
    drawn_outside,
    goto,
    load,
    open_section,
    section_link,
    sign_in,
    sign_in_quickly,
    tab_to,
    totp_secret_on,
)

EMAIL = "behrouz@example.com"
STEP = 30  # seconds: every authenticator app's time step


def current_step() -> int:
    return int(time.time() // STEP)


def code_at(secret: str, step: int) -> str:
    """The code an authenticator app shows during time step ``step``."""
    return pyotp.TOTP(secret).at(step * STEP)


def sign_out(page: Page, base: str) -> None:
    load(page, page.get_by_role("button", name="Sign out", exact=True))
    expect(page).to_have_url(f"{base}/login")


def give_password(page: Page, base: str, email: str, password: str = PASSWORD) -> None:
    """The first step of a sign-in, for an account that then asks for a second one."""
    goto(page, f"{base}/login")
    page.get_by_label("Email or username").fill(email)
    page.get_by_label("Password", exact=True).fill(password)
    load(page, page.get_by_role("button", name="Sign in", exact=True))
    expect(page).to_have_url(f"{base}/login/second-step")
    expect(page.get_by_role("heading", level=1)).to_have_text("One more step")


def expect_signed_in_with(page: Page, base: str, method: str) -> None:
    """The browser is on the profile, signed in, and the Sessions page names how it signed in."""
    expect(page).to_have_url(f"{base}/profile/")
    expect(page.get_by_role("button", name="Sign out", exact=True)).to_be_visible()
    open_section(page, "Sessions")
    this_browser = page.get_by_role("listitem").filter(has_text="This browser")
    expect(this_browser).to_contain_text(f"Signed in with {method} ·")


def age_the_proof(app, account, minutes=11) -> None:
    """The account's browser sessions were last proven ``minutes`` ago (as tests/web's helper of that name)."""
    with app.app_context():
        db.session.execute(
            update(Credential).where(Credential.user_id == account.id, Credential.kind == "session")
            .values(proven_at=utcnow() - timedelta(minutes=minutes))
        )
        db.session.commit()


# The authenticator app ---------------------------------------------------------------------------


def test_an_app_set_up_on_the_security_page_is_asked_for_at_the_next_sign_in(new_context, localhost_server, make_user):
    base = localhost_server
    account = make_user(EMAIL)
    page = new_context(viewport=DESKTOP).new_page()
    sign_in(page, base, account.email)
    open_section(page, "Security")
    app_panel = page.get_by_role("region", name="Authenticator app")
    expect(app_panel.locator(".badge")).to_have_text("Off")

    # Set up: a QR code and the key; the test, like a person typing it into their app, reads the key.
    load(page, app_panel.get_by_role("button", name="Set up an authenticator app"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Set up an authenticator app")
    expect(section_link(page, "Security")).to_have_attribute("aria-current", "page")
    qr_code = page.get_by_role("img", name="QR code for your authenticator app")
    key = page.get_by_label("Key", exact=True)
    for viewport in (DESKTOP, PHONE):  # a code a phone's camera can read, and a key a person can copy
        page.set_viewport_size(viewport)
        expect(qr_code).to_be_visible()
        assert not (cut := drawn_outside(qr_code)), f"the QR code is cut off at {viewport['width']} px: {cut}"
        assert 160 <= qr_code.bounding_box()["width"] <= 360, qr_code.bounding_box()
        assert key.evaluate("field => field.scrollWidth <= field.clientWidth"), (
            f"the key is cut off at {viewport['width']} px")
    page.set_viewport_size(DESKTOP)
    secret = totp_secret_on(page)
    assert re.fullmatch(r"[A-Z2-7]{32}", secret), secret
    set_up_step = current_step()
    set_up_code = code_at(secret, set_up_step)
    page.get_by_label("Code from the app").fill(set_up_code)
    load(page, page.get_by_role("button", name="Turn on"))

    # Ten recovery codes, shown once, and the same ten in the downloaded file.
    expect(page.get_by_role("heading", level=1)).to_have_text("Your recovery codes")
    expect(page.get_by_text("The authenticator app is on: signing in now asks for its code.")).to_be_visible()
    expect(section_link(page, "Security")).to_have_attribute("aria-current", "page")
    codes = page.locator(".codes code").all_inner_texts()
    assert len(codes) == 10 and len(set(codes)) == 10, codes
    with page.expect_download() as download_info:
        page.get_by_role("button", name="Download as a text file").click()
    download = download_info.value
    assert download.suggested_filename == "recovery-codes.txt"
    assert download.path().read_text(encoding="utf-8").splitlines() == [
        "Recovery codes for your account. Each works once.", "", *codes,
    ]
    load(page, page.get_by_role("link", name="I have saved them"))
    expect(app_panel.locator(".badge")).to_have_text("On")
    expect(page.get_by_role("region", name="Recovery codes").locator(".badge")).to_have_text("10 left")

    # Signing in again: the password is not enough, the set-up code is spent, a fresh code signs in.
    sign_out(page, base)
    give_password(page, base, account.email)
    expect(page.get_by_role("button", name="Use a passkey")).to_have_count(0)  # the account has none
    code_field = page.get_by_label("Code", exact=True)
    code_field.fill(set_up_code)
    load(page, page.get_by_role("button", name="Sign in", exact=True))
    expect(code_field).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#code-errors")).to_have_text("Invalid code.")
    expect(page.get_by_text("4 tries left")).to_be_visible()
    # The next step's code: the app shows it within 30 seconds, and the server allows one step of drift.
    code_field.fill(code_at(secret, max(set_up_step + 1, current_step())))
    load(page, page.get_by_role("button", name="Sign in", exact=True))

    expect_signed_in_with(page, base, "password and app code")


# Passkeys -----------------------------------------------------------------------------------------


def test_a_passkey_added_on_the_security_page_signs_in_alone(new_context, localhost_server, make_user):
    base = localhost_server
    account = make_user(EMAIL)
    page = new_context(viewport=DESKTOP).new_page()
    passkeys_held = add_virtual_authenticator(page)
    sign_in(page, base, account.email)

    add_passkey_on_the_page(page, base, "Work laptop")

    # The account's first factor: its recovery codes come with it.
    expect(page.get_by_role("heading", level=1)).to_have_text("Your recovery codes")
    expect(page.get_by_text("The passkey “Work laptop” is added.")).to_be_visible()
    [held] = passkeys_held()
    assert (held["rpId"], held["isResidentCredential"], held["userName"]) == ("localhost", True, EMAIL)
    load(page, page.get_by_role("link", name="I have saved them"))
    listed = page.get_by_role("region", name="Passkeys").get_by_role("row").filter(has_text="Work laptop")
    expect(listed.get_by_role("cell")).to_have_text(["Work laptop", re.compile(r"\d"), "Never", "Rename Remove"])

    # Signed out, no email and no password: the passkey alone signs in.
    sign_out(page, base)
    expect(page.get_by_label("Email or username")).to_have_value("")
    load(page, page.get_by_role("button", name="Sign in with a passkey"))

    expect_signed_in_with(page, base, "passkey")
    open_section(page, "Security")
    expect(listed.get_by_role("cell").nth(2)).not_to_have_text("Never")  # last used: just now


def test_a_passkey_answers_the_second_step_for_an_account_with_an_app_and_a_passkey(
    new_context, localhost_server, app, make_user, clock
):
    base = localhost_server
    account = make_user(EMAIL)
    page = new_context(viewport=DESKTOP).new_page()
    add_virtual_authenticator(page)
    sign_in(page, base, account.email)
    add_passkey_on_the_page(page, base, "Phone")
    expect(page.get_by_role("heading", level=1)).to_have_text("Your recovery codes")
    set_up_totp(app, account, clock)  # and an authenticator app, set up as tests/web set it up
    sign_out(page, base)

    give_password(page, base, account.email)
    expect(page.get_by_label("Code", exact=True)).to_be_visible()  # the app's code would do too
    passkey_section = page.get_by_role("region", name="Use a passkey")
    load(page, passkey_section.get_by_role("button", name="Use a passkey"))

    expect_signed_in_with(page, base, "password and passkey")


def test_adding_a_passkey_in_an_old_session_asks_for_the_password_first(new_context, localhost_server, app, make_user):
    base = localhost_server
    account = make_user(EMAIL)
    page = new_context(viewport=DESKTOP).new_page()
    passkeys_held = add_virtual_authenticator(page)
    sign_in_quickly(page, app, base, account.email)
    age_the_proof(app, account)
    goto(page, f"{base}/profile/security")
    page.get_by_label("Name of the new passkey").fill("Work laptop")
    page.get_by_role("button", name="Add a passkey").click()

    expect(page.get_by_role("heading", name="Confirm it's you")).to_be_visible()
    page.get_by_label("Your password").fill(PASSWORD)
    load(page, page.get_by_role("button", name="Confirm and continue"))
    expect(page.get_by_text("Now choose “Add a passkey” again and follow your browser.")).to_be_visible()
    add_passkey_on_the_page(page, base, "Work laptop")
    expect(page.get_by_role("heading", level=1)).to_have_text("Your recovery codes")
    assert len(passkeys_held()) == 1


# Is it still you? ----------------------------------------------------------------------------------


def test_revoking_an_api_key_in_an_old_session_asks_for_the_password_then_revokes_it(
    new_context, localhost_server, app, make_user, client
):
    base = localhost_server
    account = make_user(EMAIL)
    with app.app_context(), unit_of_work():
        user = db.session.get(User, account.id)
        _, key = api_keys.issue_api_key(user, Actor(user=user, via="web"), name="Backup script")

    def api_key_works() -> int:
        return client.get("/api/users/me/", headers={"Authorization": f"Token {key}"}).status_code

    page = new_context(viewport=DESKTOP).new_page()
    sign_in_quickly(page, app, base, account.email)
    age_the_proof(app, account)

    goto(page, f"{base}/profile/keys")
    asked = load(page, page.get_by_role("button", name="Revoke Backup script"))

    assert asked.status == 403
    expect(page.get_by_role("heading", level=1)).to_have_text("Confirm it's you")
    assert api_key_works() == 200  # nothing is revoked yet
    page.get_by_label("Your password").fill(PASSWORD)
    load(page, page.get_by_role("button", name="Confirm and continue"))

    expect(page).to_have_url(f"{base}/profile/keys")
    expect(page.get_by_role("status")).to_contain_text("The key is revoked; it no longer works.")
    expect(page.get_by_role("button", name="Revoke Backup script")).to_have_count(0)
    expect(page.get_by_text("You have no API keys.")).to_be_visible()
    assert api_key_works() == 401


# The keyboard alone --------------------------------------------------------------------------------


def test_password_and_app_code_sign_in_with_the_keyboard_alone(new_context, localhost_server, app, make_user, clock):
    base = localhost_server
    account = make_user(EMAIL)
    secret, _ = set_up_totp(app, account, clock)
    page = new_context(viewport=DESKTOP).new_page()
    goto(page, f"{base}/login")

    tab_to(page, page.get_by_label("Email or username"))
    page.keyboard.type(account.email)
    tab_to(page, page.get_by_label("Password", exact=True), limit=1)
    page.keyboard.type(PASSWORD)
    tab_to(page, page.get_by_role("button", name="Sign in", exact=True), limit=2)  # past "Keep me signed in"
    page.keyboard.press("Enter")

    expect(page).to_have_url(f"{base}/login/second-step")
    expect(page.get_by_role("heading", level=1)).to_have_text("One more step")
    code_field = page.get_by_label("Code", exact=True)
    tab_to(page, code_field)
    page.keyboard.type(clock.code(secret))
    page.keyboard.press("Enter")

    expect_signed_in_with(page, base, "password and app code")


def test_the_app_is_set_up_from_the_security_page_with_the_keyboard_alone(
    new_context, localhost_server, app, make_user, clock
):
    base = localhost_server
    account = make_user(EMAIL)
    page = new_context(viewport=DESKTOP).new_page()
    sign_in_quickly(page, app, base, account.email)
    goto(page, f"{base}/profile/")

    tab_to(page, section_link(page, "Security"))  # past the header and the sections before it
    page.keyboard.press("Enter")
    expect(page).to_have_url(f"{base}/profile/security")
    expect(page.get_by_role("heading", level=1)).to_have_text("Security")
    set_up = page.get_by_role("button", name="Set up an authenticator app")
    tab_to(page, set_up)
    page.keyboard.press("Enter")

    expect(page.get_by_role("heading", level=1)).to_have_text("Set up an authenticator app")
    tab_to(page, page.get_by_label("Key", exact=True))  # the key can be reached to copy it
    tab_to(page, page.get_by_label("Code from the app"), limit=1)
    page.keyboard.type(clock.code(totp_secret_on(page)))
    page.keyboard.press("Enter")

    expect(page.get_by_role("heading", level=1)).to_have_text("Your recovery codes")
    tab_to(page, page.get_by_role("link", name="I have saved them"))
    page.keyboard.press("Enter")
    expect(page).to_have_url(f"{base}/profile/security")
    expect(page.get_by_role("region", name="Authenticator app").locator(".badge")).to_have_text("On")


# Without JavaScript --------------------------------------------------------------------------------


def test_without_javascript_the_password_and_code_sign_in_and_passkey_buttons_say_why_they_cannot(
    new_context, localhost_server, app, make_user, clock
):
    base = localhost_server
    account = make_user(EMAIL)
    secret, _ = set_up_totp(app, account, clock)
    page = new_context(viewport=DESKTOP, java_script_enabled=False).new_page()
    goto(page, f"{base}/login")

    passkey_button = page.get_by_role("button", name="Sign in with a passkey")
    expect(passkey_button).to_be_disabled()
    expect(page.get_by_text("Passkeys need JavaScript, which is off in this browser.")).to_be_visible()
    give_password(page, base, account.email)
    page.get_by_label("Code", exact=True).fill(clock.code(secret))
    load(page, page.get_by_role("button", name="Sign in", exact=True))
    expect_signed_in_with(page, base, "password and app code")

    open_section(page, "Security")
    expect(page.get_by_role("button", name="Add a passkey")).to_be_disabled()
    expect(page.get_by_role("region", name="Passkeys").get_by_text(
        "Passkeys need JavaScript, which is off in this browser.")).to_be_visible()
