"""Two of the outsiders' attacks replayed against a live server over real HTTP, as they were first
seen: a mail program that sends HEAD to every link it previews, and an address moved to its
case-folding twin with a stolen, old token. (The test-client versions of every attack are in
``tests/security/test_outsider_holes.py``.)"""

import json
import urllib.request
from datetime import timedelta
from urllib.error import HTTPError

from playwright.sync_api import expect
from sqlalchemy import update

from portal.extensions import db
from portal.models import Credential, utcnow
from tests.conftest import PASSWORD, stored_user

from .portal_pages import DESKTOP, goto, sign_in
from .test_not_me_in_browser import INTRUDER, LAPTOP, not_me_link

EMAIL = "parisa@example.com"


def http(method: str, url: str, body: dict | None = None, headers: dict | None = None) -> tuple[int, dict | None]:
    """One request as a program other than a browser sends it; (status, JSON body or None)."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers={
        "Content-Type": "application/json", **(headers or {}),
    })
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            raw = answer.read()
            return answer.status, json.loads(raw) if raw else None
    except HTTPError as refused:
        raw = refused.read()
        return refused.code, json.loads(raw) if raw else None


def test_a_mail_previewer_sending_head_to_the_alert_link_leaves_the_owner_signed_in(
    new_context, live_server, app, make_user
):
    base = live_server
    app.config["PUBLIC_BASE_URL"] = base
    owner = make_user(EMAIL, first_name="Parisa")
    laptop = new_context(viewport=DESKTOP, user_agent=LAPTOP).new_page()
    sign_in(laptop, base, EMAIL)
    intruder = new_context(viewport=DESKTOP, user_agent=INTRUDER).new_page()
    sign_in(intruder, base, EMAIL)
    link = not_me_link(app, base)

    for _ in range(2):  # a previewer, then a link checker
        status, body = http("HEAD", link)
        assert (status, body) == (200, None)

    goto(laptop, f"{base}/profile/")
    expect(laptop).to_have_url(f"{base}/profile/")  # the owner is still signed in
    assert stored_user(app, owner.id)["password_reset_required"] is False
    mail_page = new_context(viewport=DESKTOP).new_page()
    goto(mail_page, link)  # and the link still asks its one question
    expect(mail_page.get_by_role("heading", level=1)).to_have_text("Wasn't this you?")
    expect(mail_page.get_by_role("button", name="Secure my account")).to_be_visible()


def test_an_old_token_cannot_move_the_address_to_its_case_folding_twin_over_http(live_server, app, make_user):
    owner = make_user("owner@strasse.example.com")
    status, pair = http("POST", f"{live_server}/api/token/", {"email": owner.email, "password": PASSWORD})
    assert status == 200
    with app.app_context():  # the token was issued longer ago than the re-authentication window
        db.session.execute(update(Credential).values(proven_at=utcnow() - timedelta(minutes=11)))
        db.session.commit()

    status, body = http(
        "PATCH", f"{live_server}/api/v1/accounts/users/{owner.id}/", {"email": "owner@straße.example.com"},
        {"Authorization": f"Bearer {pair['access']}"},
    )

    assert status == 403 and body["detail"].startswith("Changing the email address needs a recent sign-in")
    after = stored_user(app, owner.id)
    assert (after["email"], after["email_verified"]) == ("owner@strasse.example.com", True)
