"""axe-core on every page of the portal, in the light and the dark colour scheme, and no page scrolling
sideways on a phone.

Each page is opened in the states a person meets it in (signed in with a lived-in profile, a form
showing its errors, a new key on screen), and each state is checked as it is: every axe rule at
1280×900 in the light scheme; axe's colour rules again in the dark scheme (the same document with
prefers-color-scheme switched to dark, so a form's errors or a key shown once need not be produced
twice); and, at 390×844, that nothing makes the page wider than the screen. Only violations of impact
"serious" or "critical" fail a test; all of them are listed in its message.

The portal is served as http://localhost:PORT, so that passkeys can be made on the pages that list
them (Chromium's virtual authenticator). With PORTAL_SCREENSHOTS set to a folder, each state is also
saved there, full page, at both sizes in both schemes, for a person to look at.
"""

import os
import re
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlencode

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page, expect
from sqlalchemy import select, update

from portal.extensions import db
from portal.models import Credential, RecoveryCode, User, utcnow
from portal.services.audit import SYSTEM, Actor
from portal.services.oidc import apps, authorization
from portal.transactions import unit_of_work
from tests.conftest import PASSWORD, ManualClock
from tests.two_step import set_up_totp

from .portal_pages import (
    DESKTOP,
    PHONE,
    add_passkey_on_the_page,
    add_virtual_authenticator,
    fill_in_account,
    goto,
    load,
    sideways_overflow,
    sign_in_quickly,
    totp_secret_on,
)

BLOCKING = {"serious", "critical"}
COLOUR_RULES = ["color-contrast", "link-in-text-block"]
OWNER = "owner@example.com"

axe = Axe()
SCREENSHOTS = os.environ.get("PORTAL_SCREENSHOTS")


@dataclass
class Visit:
    page: Page
    base: str
    app: object
    make_user: object
    request: pytest.FixtureRequest

    def go(self, path: str):
        return goto(self.page, self.base + path)

    def sign_in(self, to: str = "/profile/"):
        """Sign in as an account with every profile field, a picture and a group, and open ``to``;
        returns the account."""
        account = self.make_user(OWNER)
        fill_in_account(self.app, account.id)
        sign_in_quickly(self.page, self.app, self.base, OWNER)
        self.go(to)
        return account

    @property
    def clock(self) -> ManualClock:
        """The portal's clock, which the authenticator app reads too: the same for the test and the server."""
        return self.request.getfixturevalue("clock")

    def add_passkey(self, name: str = "Work laptop") -> None:
        """Add a passkey of a virtual authenticator from the Security page (the signed-in account's first factor)."""
        add_virtual_authenticator(self.page)
        add_passkey_on_the_page(self.page, self.base, name)
        expect(self.page.get_by_role("heading", level=1)).to_have_text("Your recovery codes")

    def start_signing_in(self) -> None:
        """Sign out, and give the password on the login page: the second step is asked for."""
        self.page.context.clear_cookies()
        self.go("/login")
        self.page.get_by_label("Email or username").fill(OWNER)
        self.page.get_by_label("Password", exact=True).fill(PASSWORD)
        load(self.page, self.page.get_by_role("button", name="Sign in", exact=True))
        expect(self.page.get_by_role("heading", level=1)).to_have_text("One more step")


# ---- the pages: each yields the name of every state it leaves the page in ------------------------------


def login(visit):
    visit.go("/login")
    expect(visit.page.get_by_role("button", name="Sign in with a passkey")).to_be_enabled()
    yield "empty"
    visit.page.get_by_label("Email or username").fill("nobody@example.com")
    visit.page.get_by_label("Password", exact=True).fill("wrong-password")
    load(visit.page, visit.page.get_by_role("button", name="Sign in", exact=True))
    expect(visit.page.get_by_role("alert")).to_be_visible()
    yield "after a failed sign-in"


def register(visit):
    visit.go("/register")
    yield "empty"
    visit.page.get_by_label("Email address").fill("not an address")
    visit.page.get_by_label("Password", exact=True).fill("12345678")
    visit.page.get_by_label("Repeat the password").fill("87654321")
    load(visit.page, visit.page.get_by_role("button", name="Create the account"))
    expect(visit.page.get_by_label("Repeat the password")).to_have_attribute("aria-invalid", "true")
    yield "with field errors"


def verify(visit):
    visit.go("/verify?email=someone%40example.com")
    yield "with the address filled in"
    visit.page.get_by_label("Code").fill("000000")
    load(visit.page, visit.page.get_by_role("button", name="Verify", exact=True))
    expect(visit.page.get_by_label("Code")).to_have_attribute("aria-invalid", "true")
    yield "after a wrong code"


def forgot_password(visit):
    visit.go("/password/forgot")
    yield "empty"
    visit.page.get_by_label("Email address").fill("someone@example.com")
    load(visit.page, visit.page.get_by_role("button", name="Send the link"))
    expect(visit.page.get_by_role("heading", name="Check your inbox")).to_be_visible()
    yield "link sent"


def reset_password(visit):
    mailbox = visit.request.getfixturevalue("mailbox")
    account = visit.make_user(OWNER)
    visit.go("/password/forgot")
    visit.page.get_by_label("Email address").fill(account.email)
    load(visit.page, visit.page.get_by_role("button", name="Send the link"))
    expect(visit.page.get_by_role("heading", name="Check your inbox")).to_be_visible()
    body = mailbox.sent_to(account.email)[-1].get_body(("plain",)).get_content()
    goto(visit.page, re.search(r"(http://\S+/password/reset/\S+/)", body).group(1))
    expect(visit.page.get_by_role("heading", name="Choose a new password")).to_be_visible()
    yield "from the mailed link"


def error_404(visit):
    assert visit.go("/no-such-page").status == 404
    expect(visit.page.get_by_role("heading", name="Page not found")).to_be_visible()
    yield "signed out"


def profile(visit):
    visit.sign_in()
    expect(visit.page.get_by_role("img", name="Your picture")).to_be_visible()
    yield "filled in"


def edit(visit):
    visit.sign_in(to="/profile/edit")
    yield "filled in"
    visit.page.get_by_label("Phone number").fill("call me")
    load(visit.page, visit.page.get_by_role("button", name="Save changes"))
    expect(visit.page.get_by_label("Phone number")).to_have_attribute("aria-invalid", "true")
    yield "with field errors"


def password(visit):
    visit.sign_in(to="/profile/password")
    yield "empty"
    visit.page.get_by_label("Current password").fill("not-my-password")
    visit.page.get_by_label("New password", exact=True).fill("12345678")
    visit.page.get_by_label("Repeat the new password").fill("12345678")
    load(visit.page, visit.page.get_by_role("button", name="Change password"))
    expect(visit.page.get_by_label("Current password")).to_have_attribute("aria-invalid", "true")
    yield "with field errors"


def keys(visit):
    visit.sign_in(to="/profile/keys")
    yield "without keys"
    visit.page.get_by_label("Name").fill("Backup script")
    load(visit.page, visit.page.get_by_role("button", name="Create key"))
    expect(visit.page.get_by_label("New API key")).to_be_visible()
    yield "with a new key shown"


def security(visit):
    account = visit.sign_in(to="/profile/security")
    yield "with nothing set up"
    visit.add_passkey()
    set_up_totp(visit.app, account, visit.clock)
    visit.go("/profile/security")
    expect(visit.page.get_by_role("button", name="Turn off the authenticator app")).to_be_visible()
    yield "with an app and a passkey"
    visit.page.get_by_label("Your password").fill("not-my-password")
    visit.page.get_by_label("Code from the app, or a recovery code").fill("000000")
    load(visit.page, visit.page.get_by_role("button", name="Turn off the authenticator app"))
    expect(visit.page.get_by_label("Your password")).to_have_attribute("aria-invalid", "true")
    yield "with the turn-off form's errors"
    with visit.app.app_context():
        for code in db.session.scalars(select(RecoveryCode).limit(9)):
            code.used_at = utcnow()
        db.session.commit()
    visit.go("/profile/security")
    expect(visit.page.get_by_text("Only 1 recovery code left.")).to_be_visible()
    yield "with one recovery code left"


def totp_setup(visit):
    visit.sign_in(to="/profile/security")
    load(visit.page, visit.page.get_by_role("button", name="Set up an authenticator app"))
    expect(visit.page.get_by_role("img", name="QR code for your authenticator app")).to_be_visible()
    yield "with its QR code"
    wrong = "000000" if visit.clock.code(totp_secret_on(visit.page)) != "000000" else "111111"
    visit.page.get_by_label("Code from the app").fill(wrong)
    load(visit.page, visit.page.get_by_role("button", name="Turn on"))
    expect(visit.page.get_by_label("Code from the app")).to_have_attribute("aria-invalid", "true")
    yield "after a wrong code"


def recovery_codes(visit):
    visit.sign_in(to="/profile/security")
    load(visit.page, visit.page.get_by_role("button", name="Set up an authenticator app"))
    visit.page.get_by_label("Code from the app").fill(visit.clock.code(totp_secret_on(visit.page)))
    load(visit.page, visit.page.get_by_role("button", name="Turn on"))
    expect(visit.page.get_by_role("heading", level=1)).to_have_text("Your recovery codes")
    yield "shown once"


def second_step(visit):
    account = visit.sign_in(to="/profile/security")
    visit.add_passkey()
    set_up_totp(visit.app, account, visit.clock)
    visit.start_signing_in()
    expect(visit.page.get_by_role("button", name="Use a passkey")).to_be_enabled()
    yield "with an app and a passkey"
    visit.page.get_by_label("Code", exact=True).fill("12345")
    load(visit.page, visit.page.get_by_role("button", name="Sign in", exact=True))
    expect(visit.page.get_by_label("Code", exact=True)).to_have_attribute("aria-invalid", "true")
    yield "after a wrong code"


def second_step_passkey_only(visit):
    visit.sign_in(to="/profile/security")
    visit.add_passkey()
    visit.start_signing_in()
    expect(visit.page.get_by_role("button", name="Sign in with a recovery code")).to_be_visible()
    yield "with a passkey and recovery codes"


def reauthenticate(visit):
    account = visit.sign_in(to="/profile/keys")
    with visit.app.app_context():
        db.session.execute(
            update(Credential).where(Credential.user_id == account.id, Credential.kind == "session")
            .values(proven_at=utcnow() - timedelta(minutes=11))
        )
        db.session.commit()
    visit.page.get_by_label("Name").fill("Backup script")
    load(visit.page, visit.page.get_by_role("button", name="Create key"))
    expect(visit.page.get_by_role("heading", level=1)).to_have_text("Confirm it's you")
    yield "before making a key"
    visit.page.get_by_label("Your password").fill("not-my-password")
    load(visit.page, visit.page.get_by_role("button", name="Confirm and continue"))
    expect(visit.page.get_by_label("Your password")).to_have_attribute("aria-invalid", "true")
    yield "after a wrong password"


def passkey_rename(visit):
    visit.sign_in(to="/profile/security")
    visit.add_passkey("Work laptop")
    visit.go("/profile/security")
    load(visit.page, visit.page.get_by_role("link", name="Rename the passkey Work laptop"))
    expect(visit.page.get_by_label("New name")).to_have_value("Work laptop")
    yield "with the name filled in"
    visit.page.get_by_label("New name").fill("")
    load(visit.page, visit.page.get_by_role("button", name="Save"))
    expect(visit.page.get_by_label("New name")).to_have_attribute("aria-invalid", "true")
    yield "with an empty name"


def sessions(visit):
    visit.sign_in(to="/profile/sessions")
    # Another way in besides this browser, an API key, so that each can be ended or all others at once.
    client = visit.request.getfixturevalue("client")
    assert client.post("/api/auth/token/login/", json={"email": OWNER, "password": PASSWORD}).status_code == 200
    visit.go("/profile/sessions")
    expect(visit.page.get_by_role("button", name="Sign out everywhere else")).to_be_visible()
    yield "with a browser and a key"


def activity(visit):
    visit.sign_in(to="/profile/activity")
    expect(visit.page.get_by_role("table", name="Changed fields").first).to_be_visible()
    yield "with changes"


APP_CALLBACK = "https://reading-room.example/callback"


def register_app(visit) -> str:
    """An app registered with the portal; its client_id."""
    with visit.app.app_context(), unit_of_work():
        return apps.register_app("Reading Room", [APP_CALLBACK], SYSTEM)[0].client_id


def app_request(client_id: str, scope: str) -> str:
    """The path of the app's request for ``scope`` (PKCE and all)."""
    return "/oauth/authorize?" + urlencode({
        "response_type": "code", "client_id": client_id, "redirect_uri": APP_CALLBACK, "scope": scope,
        "state": "st-1", "nonce": "n-1", "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
        "code_challenge_method": "S256",
    })


def allow_app(visit, account, client_id: str, scope: str) -> None:
    """The person allowed the app ``scope``, as the consent page's Allow records it."""
    with visit.app.test_request_context(app_request(client_id, scope)) as context, unit_of_work():
        user = db.session.get(User, account.id)
        authorization.approve(authorization.check_request(context.request.args), user, Actor(user=user, via="web"),
                              auth_time=utcnow(), method="password", session_id=None)


def consent(visit):
    account = visit.sign_in()
    client_id = register_app(visit)
    visit.go(app_request(client_id, "openid profile email offline_access"))
    expect(visit.page.get_by_role("heading", level=1)).to_have_text("Allow Reading Room?")
    yield "first request"
    allow_app(visit, account, client_id, "openid email")
    visit.go(app_request(client_id, "openid email profile phone"))
    expect(visit.page.locator(".scopes .badge")).to_have_count(2)
    yield "with new scopes"


def connected_apps(visit):
    account = visit.sign_in(to="/profile/apps")
    yield "without apps"
    allow_app(visit, account, register_app(visit), "openid profile email offline_access")
    visit.go("/profile/apps")
    expect(visit.page.get_by_role("button", name="Take back the access of Reading Room")).to_be_visible()
    yield "with an app"


def delete(visit):
    visit.sign_in(to="/profile/delete")
    yield "empty"


PAGES = {
    "login": login,
    "register": register,
    "verify": verify,
    "forgot-password": forgot_password,
    "reset-password": reset_password,
    "error-404": error_404,
    "profile": profile,
    "edit": edit,
    "password": password,
    "keys": keys,
    "security": security,
    "totp-setup": totp_setup,
    "recovery-codes": recovery_codes,
    "second-step": second_step,
    "second-step-passkey-only": second_step_passkey_only,
    "reauthenticate": reauthenticate,
    "passkey-rename": passkey_rename,
    "sessions": sessions,
    "activity": activity,
    "consent": consent,
    "connected-apps": connected_apps,
    "delete": delete,
}


# ---- the checks -----------------------------------------------------------------------------------


def blocking_violations(page: Page, rules: list[str] | None = None) -> list[str]:
    """axe's serious and critical violations on the page as it is now, one line per failing node.

    The first run in a document injects axe-core (Axe().run); later runs in it reuse what is there.
    """
    options = {"resultTypes": ["violations"]}
    if rules:
        options["runOnly"] = {"type": "rule", "values": rules}
    if page.evaluate("typeof window.axe === 'object'"):
        violations = page.evaluate("options => axe.run(document, options)", options)["violations"]
    else:
        violations = axe.run(page, options=options).response["violations"]
    lines = []
    for violation in violations:
        if violation["impact"] not in BLOCKING:
            continue
        for node in violation["nodes"]:
            target = " ".join(map(str, node["target"]))
            detail = " ".join((node.get("failureSummary") or "").split())
            lines.append(f'{violation["id"]} ({violation["impact"]}) at {target}: {detail}')
    return lines


def problems_of(page: Page, shot: str) -> list[str]:
    """Everything wrong with the page as it is now, in both schemes and at both sizes; with
    PORTAL_SCREENSHOTS set, the page is saved there as ``{shot}-{width}-{scheme}.png`` in each."""

    def screenshot(scheme: str) -> None:
        if SCREENSHOTS:
            width = page.viewport_size["width"]
            page.screenshot(path=Path(SCREENSHOTS) / f"{shot}-{width}-{scheme}.png", full_page=True)

    problems = [f"light, desktop: {line}" for line in blocking_violations(page)]
    screenshot("light")
    page.emulate_media(color_scheme="dark")
    assert page.evaluate("matchMedia('(prefers-color-scheme: dark)').matches")
    problems += [f"dark, desktop: {line}" for line in blocking_violations(page, COLOUR_RULES)]
    screenshot("dark")
    page.set_viewport_size(PHONE)
    if overflow := sideways_overflow(page):
        problems.append(f"{PHONE['width']}×{PHONE['height']}: the page scrolls sideways: {overflow}")
    screenshot("dark")
    page.emulate_media(color_scheme="light")
    screenshot("light")
    page.set_viewport_size(DESKTOP)
    return problems


@pytest.mark.parametrize("name", PAGES)
def test_page_passes_axe_in_both_schemes_and_fits_a_phone(name, new_context, localhost_server, app, make_user, request):
    page = new_context(viewport=DESKTOP, color_scheme="light").new_page()
    report = []
    for state in PAGES[name](Visit(page, localhost_server, app, make_user, request)):
        if problems := problems_of(page, f"{name}--{re.sub(r'[^a-z0-9]+', '-', state.lower()).strip('-')}"):
            report.append(f"{name} page, {state} ({page.url}):\n  " + "\n  ".join(problems))
    assert not report, "\n".join(report)
