"""The portal in Persian, in real Chromium: right to left from the one stylesheet, on a phone and a
desktop, in both colour schemes, and the language switcher by keyboard alone and with JavaScript off.

A Persian-speaking superuser (the language saved on the profile) opens the profile, edit, sessions,
security and admin user-list pages. On a phone a timestamp and an address are each drawn whole (no
line breaks inside either), an ordered list counts in Persian digits, and a birthday is typed on the
Solar Hijri calendar. Each is checked at 1280×900 and 390×844 in the light and dark
scheme by the same checks as every English page (axe finds nothing serious or critical; nothing
scrolls sideways), and for what a right-to-left page must do: the section menu on the right of the
content on a desktop (above it on a phone), the admin's table read from the right. With
PORTAL_SCREENSHOTS set, every state is saved there for a person to look at.
"""

import os
from datetime import datetime
from pathlib import Path

import pytest
from PIL import Image
from playwright.sync_api import Page, expect

from portal.extensions import db
from portal.models import User
from portal.services.audit import Actor
from portal.services.signing_in import totp

from .portal_pages import (
    DESKTOP,
    FULL_NAME,
    PHONE,
    fill_in_account,
    goto,
    load,
    loaded_width,
    sideways_overflow,
    sign_in_quickly,
    tab_to,
)
from .test_accessibility import problems_of
from .test_portal_in_browser import SCREENSHOTS

PERSIAN_OWNER = "persian@example.com"
# Where the phone and desktop shots of the Persian pages go for a person to look at (when set).
LOOK_AT = os.environ.get("PORTAL_SCREENSHOTS")
PAGES = {
    "profile": ("/profile/", "نمایه"),
    "edit": ("/profile/edit", "ویرایش نمایه"),
    "sessions": ("/profile/sessions", "نشست‌ها"),
    "security": ("/profile/security", "امنیت"),
}


@pytest.fixture
def persian_page(new_context, localhost_server, app, make_user) -> Page:
    """A browser signed in as a Persian-speaking superuser with a lived-in profile."""
    account = make_user(PERSIAN_OWNER, superuser=True, language="fa")
    fill_in_account(app, account.id)
    page = new_context(viewport=DESKTOP, color_scheme="light").new_page()
    sign_in_quickly(page, app, localhost_server, PERSIAN_OWNER)
    page.base = localhost_server
    return page


def box(page: Page, selector: str) -> dict:
    return page.locator(selector).first.bounding_box()


@pytest.mark.parametrize("name", PAGES)
def test_a_settings_page_in_persian_runs_right_to_left_with_its_menu_on_the_right(name, persian_page):
    page = persian_page
    path, menu_link = PAGES[name]
    goto(page, page.base + path)

    expect(page.locator("html")).to_have_attribute("lang", "fa")
    expect(page.locator("html")).to_have_attribute("dir", "rtl")
    # The section menu names this page in Persian, and stands right of the content on a desktop.
    menu = page.get_by_role("navigation", name="بخش‌های حساب")
    expect(menu.get_by_role("link", name=menu_link, exact=True)).to_have_attribute("aria-current", "page")
    nav, main = box(page, "nav.sections"), box(page, "main")
    assert nav["x"] > main["x"] + main["width"] - 1, (nav, main)
    # Text starts at the right: the heading's words stand in the right quarter of the content.
    words = page.get_by_role("heading", level=1).first.evaluate(
        "h => { const range = document.createRange(); range.selectNodeContents(h);"
        " return range.getBoundingClientRect(); }"
    )
    assert words["x"] + words["width"] > main["x"] + main["width"] * 0.75, (words, main)

    problems = problems_of(page, f"fa-{name}")

    page.set_viewport_size(PHONE)
    nav, main = box(page, "nav.sections"), box(page, "main")
    assert nav["y"] + nav["height"] <= main["y"] + 1, (nav, main)  # on a phone: the menu above the page
    page.set_viewport_size(DESKTOP)
    assert not problems, "\n".join(problems)


def test_the_admin_user_list_in_persian_reads_from_the_right(persian_page):
    page = persian_page
    goto(page, page.base + "/admin/users/")

    expect(page.locator("html")).to_have_attribute("dir", "rtl")
    headers = page.locator("table thead th")
    first, last = headers.first.bounding_box(), headers.last.bounding_box()
    assert first["x"] > last["x"], (first, last)  # the first column is the rightmost
    # Addresses stay left to right inside the right-to-left table.
    address = page.locator("table tbody td a bdi").first
    expect(address).to_have_text(PERSIAN_OWNER)
    assert address.evaluate("el => getComputedStyle(el).direction") == "ltr"

    problems = problems_of(page, "fa-admin-users")
    assert not problems, "\n".join(problems)


def test_the_language_switcher_works_with_the_keyboard_alone(new_context, localhost_server):
    page = new_context(viewport=DESKTOP).new_page()
    goto(page, localhost_server + "/login")
    expect(page.locator("html")).to_have_attribute("lang", "en")

    persian = page.get_by_role("button", name="فارسی")
    tab_to(page, persian)
    with page.expect_navigation():
        page.keyboard.press("Enter")

    expect(page.locator("html")).to_have_attribute("dir", "rtl")
    expect(page).to_have_url(localhost_server + "/login")  # back on the page the person was on
    expect(page.get_by_role("heading", level=1)).to_have_text("ورود")
    english = page.get_by_role("button", name="English")
    tab_to(page, english)
    with page.expect_navigation():
        page.keyboard.press("Enter")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in")


def test_the_language_switcher_works_without_javascript_and_a_signed_in_choice_is_saved(
    new_context, localhost_server, app, make_user
):
    make_user("reader@example.com")
    page = new_context(viewport=PHONE, java_script_enabled=False).new_page()
    sign_in_quickly(page, app, localhost_server, "reader@example.com")
    goto(page, localhost_server + "/profile/edit")

    load(page, page.get_by_role("button", name="فارسی"))

    expect(page).to_have_url(localhost_server + "/profile/edit")
    expect(page.locator("html")).to_have_attribute("dir", "rtl")
    # Saved on the profile: a browser that never chose a language reads the account in Persian too.
    other = new_context(viewport=PHONE).new_page()
    sign_in_quickly(other, app, localhost_server, "reader@example.com")
    goto(other, localhost_server + "/profile/")
    expect(other.locator("html")).to_have_attribute("lang", "fa")


def test_screenshot_of_the_profile_in_persian_for_the_readme(persian_page):
    """docs/screenshots/profile-desktop-fa.png, beside the English profile-desktop.png."""
    page = persian_page
    goto(page, page.base + "/profile/")
    expect(page.get_by_role("heading", level=1)).to_have_text(FULL_NAME)
    assert loaded_width(page.get_by_role("img", name="تصویر نمایهٔ شما")) > 0

    page.screenshot(path=SCREENSHOTS / "profile-desktop-fa.png", full_page=True)

    with Image.open(SCREENSHOTS / "profile-desktop-fa.png") as shot:
        assert shot.width == DESKTOP["width"]


# Whether a box of text is taller than one and a half of its lines. (Counting client rectangles would
# not do: a line of Persian with Latin digits or names in it is drawn as several, one per direction.)
TALLER_THAN_A_LINE = """(box, el) => {
    const style = getComputedStyle(el);
    return box.height > 1.5 * (parseFloat(style.lineHeight) || 1.2 * parseFloat(style.fontSize));
}"""


def drawn_on_more_than_one_line(page: Page, selector: str) -> list[str]:
    """The texts of the ``selector`` elements the browser drew over more than one line."""
    return page.evaluate(
        f"""selector => {{ const taller = {TALLER_THAN_A_LINE};
               return [...document.querySelectorAll(selector)]
                   .filter(el => taller(el.getBoundingClientRect(), el)).map(el => el.textContent); }}""",
        selector,
    )


def broken_inside_a_piece(page: Page, selector: str) -> list[str]:
    """The pieces of text of the ``selector`` elements (the text between their ``<wbr>``s: an address's
    name and its "@domain") that the browser broke over more than one line."""
    return page.evaluate(
        f"""selector => {{ const taller = {TALLER_THAN_A_LINE};
               return [...document.querySelectorAll(selector)].flatMap(el =>
                   [...el.childNodes].filter(node => node.nodeType === Node.TEXT_NODE).filter(node => {{
                       const range = document.createRange(); range.selectNodeContents(node);
                       return taller(range.getBoundingClientRect(), el);
                   }}).map(node => node.textContent)); }}""",
        selector,
    )


def look_at(page: Page, name: str) -> None:
    if LOOK_AT:
        page.screenshot(path=Path(LOOK_AT) / f"fa-{name}-{page.viewport_size['width']}.png", full_page=True)


def test_on_a_phone_a_persian_timestamp_and_an_address_are_each_drawn_whole(persian_page, app):
    page = persian_page
    with app.app_context():
        user = db.session.query(User).filter_by(email=PERSIAN_OWNER).one()
        # The longest a time is written here: a two-digit day of the longest month, and a long city.
        user.time_zone = "America/Argentina/Buenos_Aires"
        user.date_joined = user.last_login = datetime(2026, 5, 19, 18, 5)  # ۲۹ اردیبهشت ۱۴۰۵
        user_id = user.id
        db.session.commit()
    pages = {"profile": "/profile/", "activity": "/profile/activity", "security": "/profile/security",
             "sessions": "/profile/sessions", "audit": "/admin/audit/", "admin-user": f"/admin/users/{user_id}"}

    for name, path in pages.items():
        for size in (PHONE, DESKTOP):
            page.set_viewport_size(size)
            goto(page, page.base + path)
            look_at(page, name)
            assert drawn_on_more_than_one_line(page, "time, .gregorian") == [], (name, size)
            assert broken_inside_a_piece(page, ".email") == [], (name, size)
            assert sideways_overflow(page) is None, (name, size)

    goto(page, page.base + "/profile/")
    expect(page.locator("dd time").first).to_contain_text("به وقت بوئنوس‌آیرس")
    expect(page.locator("dd .email")).to_have_text(PERSIAN_OWNER)


def test_an_ordered_list_on_a_persian_page_counts_in_persian_digits(persian_page, app):
    page = persian_page
    with app.app_context():
        user = db.session.query(User).filter_by(email=PERSIAN_OWNER).one()
        totp.enrol_totp(user, Actor(user=user, via="web"))  # a set-up waiting for its code: numbered steps
        db.session.commit()

    goto(page, page.base + "/profile/security/app")

    steps = page.locator("ol.steps")
    assert steps.evaluate("el => getComputedStyle(el).listStyleType") == "persian"
    look_at(page, "app-steps")
    goto(page, page.base + "/profile/activity")  # a list without numbers keeps none
    assert page.locator("ol.activity").evaluate("el => getComputedStyle(el).listStyleType") == "none"


def test_a_birthday_is_typed_on_the_solar_hijri_calendar_in_persian_digits(persian_page):
    page = persian_page
    page.set_viewport_size(PHONE)
    goto(page, page.base + "/profile/edit")
    birthday = page.get_by_label("تاریخ تولد")
    expect(birthday).to_have_value("۱۳۶۹/۰۱/۰۱")  # 1990-03-21, Nowruz
    expect(birthday).to_have_attribute("type", "text")
    birthday.fill("۱۴۰۴/۱۲/۳۰")  # 1404 is not a leap year
    load(page, page.get_by_role("button", name="ذخیرهٔ تغییرات"))
    expect(page.locator("#birthday-errors")).to_contain_text("تقویم هجری شمسی")
    expect(birthday).to_have_attribute("aria-invalid", "true")
    birthday.scroll_into_view_if_needed()
    look_at(page, "edit-birthday-error")

    birthday.fill("۱۳۷۰/۰۶/۱۵")
    load(page, page.get_by_role("button", name="ذخیرهٔ تغییرات"))

    expect(page.locator("dl.details").first).to_contain_text("۱۵ شهریور ۱۳۷۰")
