"""Signing in with another account in real Chromium, against the OpenID provider (npm's oidc-provider)
and the GitHub stand-in on loopback: sign up through the provider, sign out, sign in again, connect a
second provider, remove one; each page met on the way passes axe in both schemes and fits a phone.

The portal is served as http://localhost:PORT and the provider as http://127.0.0.1:PORT2: two sites,
with their own cookies, as in life. The provider's client is registered with the portal's callback
on that port, so the port is chosen before either starts.
"""

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from portal.extensions import db
from portal.models import LinkedIdentity, User
from tests.conftest import free_port, fresh_app
from tests.providers.fixtures import GITHUB_CLIENT_ID, GITHUB_CLIENT_SECRET
from tests.providers.oidc import Client, OidcProvider

from .conftest import served
from .portal_pages import DESKTOP, goto, load
from .test_accessibility import problems_of

EMAIL = "shirin@example.com"


@pytest.fixture
def journey(tmp_path, github_stand_in):
    """The portal's base URL, with an OpenID provider and GitHub configured, and the app."""
    port = free_port()
    base = f"http://localhost:{port}"
    provider = OidcProvider([Client("portal-web", (f"{base}/login/idp/callback",), client_secret="web-secret")])
    provider.start()
    config = {
        "idp": {"kind": "oidc", "name": "Example ID", "issuer": provider.issuer,
                "client_id": "portal-web", "client_secret": "web-secret"},
        "github": {"kind": "github", "name": "GitHub", "client_id": GITHUB_CLIENT_ID,
                   "client_secret": GITHUB_CLIENT_SECRET, "authorize_url": github_stand_in.authorize_url,
                   "token_url": github_stand_in.token_url, "api_url": github_stand_in.api_url},
    }
    try:
        for app in fresh_app(tmp_path, SOCIAL_PROVIDERS=config, PUBLIC_BASE_URL=base):
            with served(app, port):
                yield base, app, provider
    finally:
        provider.stop()


def test_sign_up_sign_in_connect_and_remove_in_chromium(journey, github_stand_in, new_context):
    base, app, provider = journey
    page = new_context(viewport=DESKTOP, color_scheme="light").new_page()
    report = []

    def check(shot):
        if problems := problems_of(page, f"providers--{shot}"):
            report.append(f"{shot} ({page.url}):\n  " + "\n  ".join(problems))

    goto(page, f"{base}/register")
    check("register-with-buttons")
    provider.sign_in_as(sub="shirin-1", email=EMAIL, given_name="Shirin", family_name="Ebadi")
    load(page, page.get_by_role("button", name="Continue with Example ID"))
    expect(page).to_have_url(f"{base}/profile/")

    load(page, page.get_by_role("button", name="Sign out", exact=True))
    goto(page, f"{base}/login")
    check("login-with-buttons")
    load(page, page.get_by_role("button", name="Continue with Example ID"))
    expect(page).to_have_url(f"{base}/profile/")

    goto(page, f"{base}/profile/security")
    github_stand_in.sign_in_as(42, "shirin", "Shirin Ebadi", emails=[
        {"email": "shirin@users.example", "primary": True, "verified": True},
    ])
    load(page, page.get_by_role("button", name="Connect GitHub"))
    expect(page).to_have_url(f"{base}/profile/security")
    expect(page.get_by_role("status")).to_contain_text("GitHub is connected")
    table = page.get_by_role("table").last
    expect(table).to_contain_text("Example ID")
    expect(table).to_contain_text("shirin@users.example")
    check("security-two-connected")

    load(page, page.get_by_role("button", name="Disconnect your account at Example ID"))
    expect(page.get_by_role("table").last).not_to_contain_text("Example ID")
    with app.app_context():
        user = db.session.scalar(select(User).where(User.email == EMAIL))
        left = db.session.scalars(select(LinkedIdentity.provider).where(LinkedIdentity.user_id == user.id)).all()
    assert left == ["github"]

    # The last way in stays: the page says why, and a password can be set.
    load(page, page.get_by_role("button", name="Disconnect your account at GitHub"))
    expect(page.get_by_role("status")).to_contain_text("only way to sign in")
    load(page, page.get_by_role("link", name="Set a password"))
    check("set-password")

    # Someone else's account at the provider with the same address: offered, not signed in.
    other = new_context(viewport=DESKTOP).new_page()
    goto(other, f"{base}/login")
    provider.sign_in_as(sub="someone-else", email=EMAIL)
    load(other, other.get_by_role("button", name="Continue with Example ID"))
    expect(other.get_by_role("heading", level=1)).to_have_text("You already have an account here")
    page = other
    check("link-offered")

    assert not report, "\n".join(report)


def test_a_provider_that_is_down_gets_a_page_naming_it(tmp_path, new_context):
    port = free_port()
    closed = f"http://127.0.0.1:{free_port()}"
    config = {"idp": {"kind": "oidc", "name": "Example ID", "issuer": closed, "client_id": "x", "client_secret": "y"}}
    for app in fresh_app(tmp_path, SOCIAL_PROVIDERS=config, PUBLIC_BASE_URL=f"http://localhost:{port}"):
        with served(app, port):
            page = new_context(viewport=DESKTOP, color_scheme="light").new_page()
            goto(page, f"http://localhost:{port}/login")
            with page.expect_navigation() as navigation:
                page.get_by_role("button", name="Continue with Example ID").click()
            assert navigation.value.status == 503
            expect(page.get_by_role("heading", level=1)).to_have_text("Signing in with Example ID did not work")
            problems = problems_of(page, "providers--provider-down")
            assert not problems, "\n".join(problems)
