"""Forgotten password, end to end in Chromium: ask, open the mailed link, choose, sign in."""

import re

NEW_PASSWORD = "Fresh-lantern-42"


def mailed_link(mailbox, address) -> str:
    body = mailbox.sent_to(address)[-1].get_body(("plain",)).get_content()
    return re.search(r"(http://\S+/password/reset/\S+/)", body).group(1)


def test_reset_password_with_the_keyboard_from_the_mailed_link(page, live_server, user, mailbox, client):
    page.goto(f"{live_server}/password/forgot")
    page.get_by_label("Email address").fill(user.email)
    page.keyboard.press("Enter")
    page.get_by_role("heading", name="Check your inbox").wait_for()

    link = mailed_link(mailbox, user.email)
    assert link.startswith(live_server + "/password/reset/")
    page.goto(link)
    page.get_by_label("New password", exact=True).fill("12345678")
    page.get_by_label("Repeat the new password").fill("12345678")
    page.get_by_role("button", name="Save the new password").click()
    error = page.locator("#new_password-errors")
    assert "This password is entirely numeric." in error.inner_text()
    # The policy (the field's hint) and the error both describe the field.
    assert page.get_by_label("New password", exact=True).get_attribute("aria-describedby") == (
        "new_password-hint new_password-errors"
    )

    page.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    page.get_by_label("Repeat the new password").fill(NEW_PASSWORD)
    page.get_by_label("Repeat the new password").press("Enter")
    page.get_by_role("heading", name="Password changed").wait_for()

    signed_in = client.post("/api/token/", json={"email": user.email, "password": NEW_PASSWORD})
    assert signed_in.status_code == 200
    assert set(signed_in.get_json()) == {"access", "refresh"}

    page.goto(link)
    assert page.get_by_role("heading", name="This link is not valid").is_visible()
