"""The staff's app pages in real Chromium: a staff member registers an app through the form (first
with a redirect URI the portal refuses, shown on its field), copies the secret shown once, edits the
app, and meets the confirmations of replacing its secret and disabling it. Every state passes axe in
both colour schemes and fits a phone (``problems_of``; with PORTAL_SCREENSHOTS set, each is saved)."""

from playwright.sync_api import expect

from .portal_pages import DESKTOP, goto, load, sign_in_quickly
from .test_accessibility import problems_of

STAFF = "staff@example.com"


def test_staff_register_edit_and_disable_an_app(new_context, localhost_server, app, make_user):
    base = localhost_server
    make_user(STAFF, staff=True, first_name="Stan", last_name="Staff")
    page = new_context(viewport=DESKTOP, color_scheme="light").new_page()
    sign_in_quickly(page, app, base, STAFF)
    report = []

    def check(shot):
        if problems := problems_of(page, f"apps--{shot}"):
            report.append(f"{shot} ({page.url}):\n  " + "\n  ".join(problems))

    goto(page, f"{base}/admin/apps/")
    admin_menu = page.get_by_role("navigation", name="Admin sections")
    expect(admin_menu.get_by_role("link", name="Apps")).to_have_attribute("aria-current", "page")
    expect(page.get_by_text("No apps yet.")).to_be_visible()
    check("list-empty")

    page.get_by_label("Name", exact=True).fill("Example shop")
    page.get_by_label("Redirect URIs", exact=True).fill("http://shop.example/callback")
    page.get_by_label("api:read").check()
    load(page, page.get_by_role("button", name="Register app"))
    redirect_uris = page.get_by_label("Redirect URIs", exact=True)
    expect(redirect_uris).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_text("Not a redirect URI an app may use: http://shop.example/callback")).to_be_visible()
    check("register-with-errors")

    redirect_uris.fill("https://shop.example/callback\nhttps://shop.example/second")
    page.get_by_label("Redirect URIs after signing out").fill("https://shop.example/bye")
    page.get_by_label("Back-channel logout URI").fill("https://shop.example/logout")
    load(page, page.get_by_role("button", name="Register app"))
    expect(page.get_by_role("heading", level=1)).to_have_text("App Example shop registered")
    expect(page.get_by_role("status")).to_contain_text("Copy the secret now.")
    secret = page.get_by_label("Client secret").input_value()
    assert len(secret) >= 40
    client_id = page.get_by_label("Client ID").input_value()
    check("registered-secret-shown")

    load(page, page.get_by_role("link", name="I have copied it"))
    expect(page.get_by_role("heading", level=1)).to_have_text("App Example shop")
    expect(page.get_by_text(client_id)).to_be_visible()
    assert secret not in page.content()
    check("app")

    page.get_by_label("Name", exact=True).fill("Example shop (staging)")
    page.get_by_label("Trusted: the portal's own app, which asks nobody for consent").check()
    load(page, page.get_by_role("button", name="Save app"))
    expect(page.get_by_role("status")).to_contain_text("App Example shop (staging) saved.")
    check("app-saved")

    load(page, page.get_by_role("button", name="Replace the secret…"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Replace the secret of Example shop (staging)?")
    check("replace-secret-confirmation")
    load(page, page.get_by_role("button", name="Replace the secret", exact=True))
    new_secret = page.get_by_label("Client secret").input_value()
    assert new_secret != secret
    check("new-secret-shown")

    load(page, page.get_by_role("link", name="I have copied it"))
    load(page, page.get_by_role("button", name="Disable app Example shop (staging)"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Disable the app Example shop (staging)?")
    check("disable-confirmation")
    load(page, page.get_by_role("button", name="Disable app", exact=True))
    expect(page.get_by_text("This app is disabled")).to_be_visible()
    check("app-disabled")

    goto(page, f"{base}/admin/apps/")
    expect(page.get_by_role("link", name="Example shop (staging)")).to_be_visible()
    check("list-with-a-disabled-app")
    assert not report, "\n".join(report)
