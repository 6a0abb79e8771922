"""The person in control, in real Chromium: the owner is signed in on their laptop; someone signs in
from a browser the account has never used; the owner gets a mail about it, opens its "This wasn't
me" link, confirms — and the laptop's session, the intruder's and every other way in end at once,
and the password no longer signs in until it is reset."""

import re

from playwright.sync_api import expect

from tests.conftest import PASSWORD, written_mail

from .portal_pages import DESKTOP, goto, load, sign_in

EMAIL = "behrouz@example.com"
LAPTOP = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0 Safari/537.36"
INTRUDER = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:140.0) Gecko/20100101 Firefox/140.0"


def not_me_link(app, base: str) -> str:
    """The link of the newest "new sign-in" mail, as the person would click it."""
    [mail] = [m for m in written_mail(app) if m["Subject"] == "A new sign-in to your account"]
    link = re.search(r"(https?://\S+/not-me/\S+/)", mail.get_body(("plain",)).get_content()).group(1)
    return base + "/" + link.split("/", 3)[3]


def test_a_new_browser_is_mailed_and_its_link_ends_every_session_including_the_owners(
    new_context, live_server, app, make_user
):
    base = live_server
    app.config["PUBLIC_BASE_URL"] = base
    make_user(EMAIL, first_name="Behrouz")
    laptop = new_context(viewport=DESKTOP, user_agent=LAPTOP).new_page()
    sign_in(laptop, base, EMAIL)  # the account's first browser: remembered, not mailed
    assert [m for m in written_mail(app) if m["Subject"] == "A new sign-in to your account"] == []

    intruder = new_context(viewport=DESKTOP, user_agent=INTRUDER).new_page()
    sign_in(intruder, base, EMAIL)
    mail_page = new_context(viewport=DESKTOP).new_page()  # the owner opens the mail on their phone, say
    goto(mail_page, not_me_link(app, base))

    expect(mail_page.get_by_role("heading", level=1)).to_have_text("Wasn't this you?")
    expect(mail_page.get_by_text("Firefox", exact=True)).to_be_visible()
    expect(mail_page.get_by_text("Windows", exact=True)).to_be_visible()
    goto(laptop, f"{base}/profile/")  # opening the link changed nothing yet
    expect(laptop).to_have_url(f"{base}/profile/")

    load(mail_page, mail_page.get_by_role("button", name="Secure my account"))

    for browser in (laptop, intruder):
        goto(browser, f"{base}/profile/")
        expect(browser).to_have_url(re.compile(r"/login\?next="))
    goto(intruder, f"{base}/login")
    intruder.get_by_label("Email or username").fill(EMAIL)
    intruder.get_by_label("Password", exact=True).fill(PASSWORD)
    load(intruder, intruder.get_by_role("button", name="Sign in", exact=True))
    expect(intruder.get_by_text("This account was secured and needs a new password")).to_be_visible()
    goto(mail_page, not_me_link(app, base))  # the link works once
    expect(mail_page.get_by_text("This link was already used or has expired")).to_be_visible()
