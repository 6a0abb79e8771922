"""What the browser tests share: page loads that fail fast on a server error, signing in (through the
form in the browser, or quickly with the test client), the settings menu, a filled-in account, and the
checks that read a rendered page (pictures loaded, focus drawn, nothing wider than the screen, no
word of a button broken across lines)."""

import io
import re
from urllib.parse import urlparse

from playwright.sync_api import Locator, Page, Response, expect

from portal.extensions import db
from portal.models import User
from portal.services.audit import SYSTEM
from portal.services.people import accounts, groups
from portal.transactions import unit_of_work
from tests.conftest import PASSWORD, image_bytes

FIRST_NAME = "بهروز"
LAST_NAME = "نیک\u200cنام"  # a zero-width non-joiner between نیک and نام, as Persian writes it
FULL_NAME = f"{FIRST_NAME} {LAST_NAME}"
COUNTRY = ("IR", "Iran")  # the CLDR's name, as the pages show it

DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}


def path_of(page: Page) -> str:
    return urlparse(page.url).path


def load(page: Page, control: Locator) -> Response:
    """Click a link or button that loads a page, and fail at once, naming it, if the server breaks down."""
    with page.expect_navigation() as navigation:
        control.click()
    response = navigation.value
    assert response.status < 500, f"{response.request.method} {response.url} answered {response.status}"
    return response


def goto(page: Page, url: str) -> Response:
    response = page.goto(url)
    assert response.status < 500, f"GET {url} answered {response.status}"
    return response


def sign_in(page: Page, base: str, login: str, password: str = PASSWORD) -> None:
    """Sign in through the form in the browser, and wait for the profile page it leads to."""
    goto(page, f"{base}/login")
    page.get_by_label("Email or username").fill(login)
    page.get_by_label("Password", exact=True).fill(password)
    load(page, page.get_by_role("button", name="Sign in", exact=True))
    expect(page).to_have_url(f"{base}/profile/")


def sign_in_through_the_form(app, account_email: str, password: str = PASSWORD, *, user_agent: str | None = None):
    """Sign in with the login form, sent by the Flask test client (CSRF token and all); returns the
    session cookie's value, a browser session like any other."""
    headers = {"User-Agent": user_agent} if user_agent else {}
    client = app.test_client()
    form = client.get("/login", headers=headers).get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', form).group(1)
    answer = client.post(
        "/login", headers=headers, data={"csrf_token": token, "login": account_email, "password": password}
    )
    assert answer.status_code == 302, answer.get_data(as_text=True)
    return client.get_cookie(app.config["SESSION_COOKIE_NAME"]).value


def sign_in_quickly(page: Page, app, base: str, account_email: str, password: str = PASSWORD) -> None:
    """Make ``page``'s browser signed in without driving the form in it (the form is driven in the
    journey tests); the session is started with the browser's own User-Agent."""
    cookie = sign_in_through_the_form(app, account_email, password, user_agent=page.evaluate("navigator.userAgent"))
    page.context.add_cookies([{"name": app.config["SESSION_COOKIE_NAME"], "value": cookie, "url": base}])


def section_link(page: Page, name: str) -> Locator:
    """A link of the settings pages' menu ("Account sections")."""
    return page.get_by_role("navigation", name="Account sections").get_by_role("link", name=name, exact=True)


def open_section(page: Page, name: str) -> None:
    load(page, section_link(page, name))
    expect(section_link(page, name)).to_have_attribute("aria-current", "page")


def loaded_width(image: Locator) -> int:
    """The naturalWidth of an <img> once it has loaded (0 when it failed to)."""
    return image.evaluate(
        """img => img.complete ? img.naturalWidth : new Promise(resolve => {
               img.addEventListener("load", () => resolve(img.naturalWidth), {once: true});
               img.addEventListener("error", () => resolve(0), {once: true});
           })"""
    )


def sideways_overflow(page: Page) -> dict | None:
    """None when the page does not scroll sideways; else the widths and the elements that stick out."""
    return page.evaluate(
        """() => {
            const width = window.innerWidth, scrollWidth = document.documentElement.scrollWidth;
            if (scrollWidth <= width) return null;
            const wide = [...document.body.querySelectorAll("*")]
                .filter(el => el.getBoundingClientRect().right > width + 0.5)
                .slice(0, 8)
                .map(el => el.tagName.toLowerCase() + (el.id ? "#" + el.id : "")
                           + (el.className && typeof el.className === "string"
                              ? "." + el.className.trim().split(/\\s+/).join(".") : "")
                           + " right=" + Math.round(el.getBoundingClientRect().right));
            return {innerWidth: width, scrollWidth, wide};
        }"""
    )


def focus_ring(page: Page) -> dict:
    """How the focused element is drawn: its name, outline and whether it is on screen."""
    return page.evaluate(
        """() => {
            const el = document.activeElement, style = getComputedStyle(el), box = el.getBoundingClientRect();
            return {
                tag: el.tagName.toLowerCase(),
                name: (el.labels && el.labels[0] ? el.labels[0].textContent
                       : el.getAttribute("aria-label") || el.textContent || "").trim(),
                outlineStyle: style.outlineStyle,
                outlineWidth: parseFloat(style.outlineWidth),
                onScreen: box.width > 0 && box.height > 0 && box.bottom > 0 && box.right > 0
                          && box.top < window.innerHeight && box.left < window.innerWidth,
            };
        }"""
    )


def jpeg_file(tmp_path, name="avatar.jpg", color=(46, 125, 110)):
    path = tmp_path / name
    path.write_bytes(image_bytes("JPEG", size=(640, 480), color=color))
    return path


def fill_in_account(app, account_id: int, *, group="Research team") -> None:
    """Give an account what a lived-in profile has: Persian names, every field, a picture and a group."""
    with app.app_context(), unit_of_work():
        user = db.session.get(User, account_id)
        accounts.update_profile(
            user,
            {
                "first_name": FIRST_NAME, "last_name": LAST_NAME, "username": "behrouz",
                "phone": "+98 21 5555 0124", "gender": "male", "country": COUNTRY[0],
                "address": "خیابان ولیعصر، پلاک ۱۲\nتهران", "birthday": "1990-03-21",
                "avatar": io.BytesIO(image_bytes("JPEG", size=(640, 480), color=(46, 125, 110))),
            },
            SYSTEM,
        )
        team = groups.create_group(group, SYSTEM)
        groups.set_membership(user, team, True, SYSTEM)


def split_words(page: Page) -> list[str]:
    """Words of visible buttons, button-like links and navigation links that are broken across lines."""
    return page.evaluate(
        """() => {
            const split = [];
            for (const control of document.querySelectorAll("button, a.button, nav a, .badge")) {
                if (!control.getClientRects().length) continue;
                const walker = document.createTreeWalker(control, NodeFilter.SHOW_TEXT);
                for (let node = walker.nextNode(); node; node = walker.nextNode()) {
                    for (const match of node.data.matchAll(/\\S+/g)) {
                        const range = document.createRange();
                        range.setStart(node, match.index);
                        range.setEnd(node, match.index + match[0].length);
                        const lines = new Set([...range.getClientRects()].map(rect => Math.round(rect.top)));
                        if (lines.size > 1) {
                            const label = control.getAttribute("aria-label") || control.textContent.trim();
                            const tag = control.tagName.toLowerCase();
                            split.push(`"${match[0]}" in ${tag} "${label}" spans ${lines.size} lines`);
                        }
                    }
                }
            }
            return split;
        }"""
    )


def tab_to(page: Page, target: Locator, *, limit: int = 40) -> list[dict]:
    """Press Tab until ``target`` has the focus, checking that every element on the way is on screen
    and drawn with a visible outline; returns the way focus went. Fails after ``limit`` presses."""
    visited = []
    for _ in range(limit):
        page.keyboard.press("Tab")
        ring = focus_ring(page)
        visited.append(ring)
        assert ring["onScreen"], f"the focused element is off screen: {ring}"
        assert ring["outlineStyle"] != "none" and ring["outlineWidth"] >= 2, f"no visible focus outline: {ring}"
        if target.evaluate("el => el === document.activeElement"):
            return visited
    raise AssertionError(f"Tab never reached {target}; focus went {[ring['name'] for ring in visited]}")


# ---- Two-step sign-in --------------------------------------------------------------------------------

# Chromium's virtual authenticator, as a phone's or laptop's own passkey store behaves: it keeps
# discoverable passkeys, verifies the person (fingerprint, PIN) and answers without a touch.
PLATFORM_AUTHENTICATOR = {
    "protocol": "ctap2", "transport": "internal", "hasResidentKey": True, "hasUserVerification": True,
    "isUserVerified": True, "automaticPresenceSimulation": True,
}


def add_virtual_authenticator(page: Page):
    """Give ``page``'s tab a virtual platform authenticator (over the DevTools protocol; it lasts
    across the tab's navigations). Returns a function listing the passkeys it holds."""
    cdp = page.context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    added = cdp.send("WebAuthn.addVirtualAuthenticator", {"options": PLATFORM_AUTHENTICATOR})
    authenticator_id = added["authenticatorId"]
    return lambda: cdp.send("WebAuthn.getCredentials", {"authenticatorId": authenticator_id})["credentials"]


def add_passkey_on_the_page(page: Page, base: str, name: str) -> None:
    """Name a passkey on the Security page and press "Add a passkey": the page's script runs the
    ceremony with the tab's authenticator and sends the form. The caller checks where it led (the
    account's first factor shows recovery codes, a later one the Security page)."""
    goto(page, f"{base}/profile/security")
    page.get_by_label("Name of the new passkey").fill(name)
    load(page, page.get_by_role("button", name="Add a passkey"))


def totp_secret_on(page: Page) -> str:
    """The authenticator app's secret as the set-up page shows it ("ABCD EFGH …"), without spaces."""
    return page.get_by_label("Key", exact=True).input_value().replace(" ", "")


def drawn_outside(picture: Locator) -> dict | None:
    """None when every shape drawn in ``picture`` (an inline <svg>) lies inside its content box, the
    part that shows; else that box and the shapes that are cut off."""
    return picture.evaluate(
        """svg => {
            const box = svg.getBoundingClientRect(), style = getComputedStyle(svg);
            const px = name => parseFloat(style[name]);
            const shown = {
                left: box.left + px("borderLeftWidth") + px("paddingLeft"),
                top: box.top + px("borderTopWidth") + px("paddingTop"),
                right: box.right - px("borderRightWidth") - px("paddingRight"),
                bottom: box.bottom - px("borderBottomWidth") - px("paddingBottom"),
            };
            const cut = [...svg.querySelectorAll("path, rect, circle, polygon")]
                .map(shape => shape.getBoundingClientRect())
                .filter(r => r.left < shown.left - 0.5 || r.top < shown.top - 0.5
                             || r.right > shown.right + 0.5 || r.bottom > shown.bottom + 0.5)
                .map(r => [r.left, r.top, r.right, r.bottom].map(Math.round));
            return cut.length ? {shown: [shown.left, shown.top, shown.right, shown.bottom].map(Math.round), cut} : null;
        }"""
    )
