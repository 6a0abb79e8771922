"""The staff admin in real Chromium: a superuser finds a user by part of their email,
deactivates them after the confirmation page, and at once that user's open browser session and API
key stop working; the audit log then shows the deactivation."""

from playwright.sync_api import expect

from tests.conftest import PASSWORD

TIMEOUT = 10_000


def sign_in(page, base, email, password=PASSWORD):
    page.goto(f"{base}/login")
    page.get_by_label("Email or username").fill(email)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Sign in", exact=True).click()
    expect(page).to_have_url(f"{base}/profile/")


def test_staff_find_a_user_deactivate_them_and_every_way_in_stops(browser, live_server, make_user, client):
    base = live_server
    make_user("root@example.com", superuser=True, first_name="Rhea", last_name="Root")
    member = make_user("mia.member@example.com", first_name="Mia", last_name="Member")
    make_user("otto@example.com", first_name="Otto", last_name="Other")

    # The member is signed in in their own browser, and has an API key.
    key = client.post("/api/auth/token/login/",
                      json={"email": member.email, "password": PASSWORD}).get_json()["auth_token"]
    assert client.get("/api/users/me/", headers={"Authorization": f"Token {key}"}).status_code == 200
    members_context = browser.new_context()
    staff_context = browser.new_context()
    try:
        members_context.set_default_timeout(TIMEOUT)
        staff_context.set_default_timeout(TIMEOUT)
        members_page = members_context.new_page()
        sign_in(members_page, base, member.email)
        expect(members_page.get_by_role("heading", level=1)).to_have_text("Mia Member")

        # A superuser signs in and finds the member by part of their email.
        page = staff_context.new_page()
        sign_in(page, base, "root@example.com")
        page.goto(f"{base}/admin/")
        expect(page).to_have_url(f"{base}/admin/users/")
        page.get_by_role("searchbox", name="Search").fill("MIA.MEM")
        page.get_by_role("button", name="Search").click()
        expect(page.get_by_role("status")).to_have_text("1 user found.")
        users = page.get_by_role("region", name="Users found")
        expect(users.get_by_role("link", name="otto@example.com")).to_have_count(0)
        users.get_by_role("link", name=member.email).click()
        expect(page).to_have_url(f"{base}/admin/users/{member.id}")
        expect(page.get_by_role("heading", level=1)).to_have_text("Mia Member")

        # Deactivate: a confirmation page first, and nothing happens until it is confirmed.
        page.get_by_role("button", name="Deactivate…").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Deactivate this account?")
        expect(page.get_by_role("listitem").filter(has_text=member.email)).to_be_visible()
        assert client.get("/api/users/me/", headers={"Authorization": f"Token {key}"}).status_code == 200
        page.get_by_role("button", name="Deactivate", exact=True).click()
        expect(page).to_have_url(f"{base}/admin/users/{member.id}")
        deactivated = "The account is deactivated; every session, sign-in and key of it has ended."
        expect(page.get_by_text(deactivated)).to_be_visible()
        expect(page.get_by_role("button", name="Activate")).to_be_visible()

        # The member's open session is sent to sign in at its next page load, and the key is refused.
        members_page.reload()
        expect(members_page).to_have_url(f"{base}/login?next=%2Fprofile%2F")
        expect(members_page.get_by_role("heading", level=1)).to_have_text("Sign in")
        refused = client.get("/api/users/me/", headers={"Authorization": f"Token {key}"})
        assert refused.status_code == 401

        # The audit log shows the deactivation: who, whom, and is active True → False.
        page.get_by_role("navigation", name="Admin sections").get_by_role("link", name="Audit log").click()
        expect(page).to_have_url(f"{base}/admin/audit/")
        page.get_by_label("Action").select_option(label="Account settings changed")
        page.get_by_role("button", name="Filter").click()
        events = page.get_by_role("region", name="Events").get_by_role("listitem")
        expect(events).to_have_count(1)
        event = events.first
        expect(event).to_contain_text(f"Account settings changed · {member.email}")
        expect(event).to_contain_text("by root@example.com through the admin page")
        change = event.get_by_role("row", name="is active")
        expect(change.get_by_role("cell")).to_have_text(["yes", "no"])
    finally:
        members_context.close()
        staff_context.close()
