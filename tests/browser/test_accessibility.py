"""axe-core on every page of the portal, in the light and the dark colour scheme, and no page scrolling
sideways on a phone.

Each page is opened in the states a person meets it in (signed in with a lived-in profile, a form
showing its errors, a new key on screen), and each state is checked as it is: every axe rule at
1280×900 in the light scheme; axe's colour rules again in the dark scheme (the same document with
prefers-color-scheme switched to dark, so a form's errors or a key shown once need not be produced
twice); and, at 390×844, that nothing makes the page wider than the screen. Only violations of impact
"serious" or "critical" fail a test; all of them are listed in its message.
"""

import re
from dataclasses import dataclass

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page, expect

from tests.conftest import PASSWORD

from .portal_pages import DESKTOP, PHONE, fill_in_account, goto, load, sideways_overflow, sign_in_quickly

BLOCKING = {"serious", "critical"}
COLOUR_RULES = ["color-contrast", "link-in-text-block"]
OWNER = "owner@example.com"

axe = Axe()


@dataclass
class Visit:
    page: Page
    base: str
    app: object
    make_user: object
    request: pytest.FixtureRequest

    def go(self, path: str):
        return goto(self.page, self.base + path)

    def sign_in(self, to: str = "/profile/") -> None:
        """Sign in as an account with every profile field, a picture and a group, and open ``to``."""
        account = self.make_user(OWNER)
        fill_in_account(self.app, account.id)
        sign_in_quickly(self.page, self.app, self.base, OWNER)
        self.go(to)


# ---- the pages: each yields the name of every state it leaves the page in ------------------------------


def login(visit):
    visit.go("/login")
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
    "sessions": sessions,
    "activity": activity,
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


def problems_of(page: Page) -> list[str]:
    """Everything wrong with the page as it is now, in both schemes and at both sizes."""
    problems = [f"light, desktop: {line}" for line in blocking_violations(page)]
    page.emulate_media(color_scheme="dark")
    assert page.evaluate("matchMedia('(prefers-color-scheme: dark)').matches")
    problems += [f"dark, desktop: {line}" for line in blocking_violations(page, COLOUR_RULES)]
    page.set_viewport_size(PHONE)
    if overflow := sideways_overflow(page):
        problems.append(f"{PHONE['width']}×{PHONE['height']}: the page scrolls sideways: {overflow}")
    page.set_viewport_size(DESKTOP)
    page.emulate_media(color_scheme="light")
    return problems


@pytest.mark.parametrize("name", PAGES)
def test_page_passes_axe_in_both_schemes_and_fits_a_phone(name, new_context, live_server, app, make_user, request):
    page = new_context(viewport=DESKTOP, color_scheme="light").new_page()
    report = []
    for state in PAGES[name](Visit(page, live_server, app, make_user, request)):
        if problems := problems_of(page):
            report.append(f"{name} page, {state} ({page.url}):\n  " + "\n  ".join(problems))
    assert not report, "\n".join(report)
