"""Nobody can lock the owner out, against a live server with limits on: an attacker at 50 addresses
fails 1,000 times over real HTTP; the owner's Chromium, which signed in to the account before,
signs in at once; a Chromium the account has never seen is held back even with the right password.
(The test-client version, with the doubling delay and the owner's mail: ``tests/web/test_device_cookies.py``.)"""

import json
import urllib.request
from urllib.error import HTTPError

import pytest
from playwright.sync_api import expect

from portal.services.signing_in import device_cookies
from tests.conftest import PASSWORD, fresh_app, shared_database

from .portal_pages import DESKTOP, goto, load, sign_in

OWNER = "owner@example.com"


@pytest.fixture
def app(tmp_path):
    """Limits on, as in production, behind one trusted proxy, so each side brings its own address."""
    yield from fresh_app(tmp_path, RATELIMIT_ENABLED=True, TRUSTED_PROXY_COUNT=1, **shared_database(tmp_path))


def wrong_password_from(base: str, address: str) -> int:
    request = urllib.request.Request(
        f"{base}/api/token/", method="POST", data=json.dumps({"email": OWNER, "password": "wrong-password-1"}).encode(),
        headers={"Content-Type": "application/json", "X-Forwarded-For": address},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status
    except HTTPError as refused:
        refused.read()
        return refused.code


def test_an_attack_from_50_addresses_leaves_the_owners_browser_signing_in_and_holds_back_a_new_one(
    new_context, live_server, app, make_user
):
    base = live_server
    make_user(OWNER)
    laptop = new_context(viewport=DESKTOP, extra_http_headers={"X-Forwarded-For": "192.0.2.10"})
    owner = laptop.new_page()
    sign_in(owner, base, OWNER)  # the browser becomes known to the account ...
    laptop.clear_cookies(name=app.config["SESSION_COOKIE_NAME"])  # ... and its session ends
    assert [c["name"] for c in laptop.cookies()].count(device_cookies.COOKIE_NAME) == 1

    statuses = [wrong_password_from(base, f"198.51.100.{n % 50 + 1}") for n in range(1000)]

    assert statuses.count(401) == 10 and statuses.count(429) == 990
    sign_in(owner, base, OWNER)  # lands on the profile page at once
    expect(owner.get_by_role("heading", level=1)).to_be_visible()
    stranger = new_context(viewport=DESKTOP, extra_http_headers={"X-Forwarded-For": "203.0.113.4"}).new_page()
    goto(stranger, f"{base}/login")
    stranger.get_by_label("Email or username").fill(OWNER)
    stranger.get_by_label("Password", exact=True).fill(PASSWORD)
    load(stranger, stranger.get_by_role("button", name="Sign in", exact=True))
    expect(stranger.get_by_role("heading", level=1)).to_have_text("Too many attempts")
    expect(stranger).to_have_url(f"{base}/login")
