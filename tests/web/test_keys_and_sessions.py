"""API keys and sessions as their owner manages them, and every way a browser session ends."""

import re
from datetime import timedelta
from html import unescape

import pytest
from sqlalchemy import update

from portal.extensions import db
from portal.models import Credential, User
from portal.services.audit import SYSTEM
from portal.services.people import accounts
from portal.transactions import unit_of_work

from ..conftest import PASSWORD
from .conftest import (
    credential_in_cookie,
    credential_row,
    credentials_of,
    field_errors,
    flashes,
    is_signed_in,
    post,
    recorded_statements,
    signed_in,
    submit,
    text_of,
    updates_of,
)

FIREFOX_ON_LINUX = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
CHROME_ON_WINDOWS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36"
)
NEVER = "Never"


def browser(app, user_agent=None):
    client = app.test_client()
    if user_agent:
        client.environ_base["HTTP_USER_AGENT"] = user_agent
    return client


def create_key(client, name="Backup script"):
    return submit(client, "/profile/keys", {"name": name})


def new_key_on(page) -> str | None:
    match = re.search(r'<input id="new-key" class="mono" value="([^"]+)" readonly>', page.get_data(as_text=True))
    return match.group(1) if match else None


def key_rows(page) -> list[dict]:
    """The keys table: name, created and last used of each row."""
    body = page.get_data(as_text=True)
    rows = []
    for row in re.findall(r"<tr>\s*<td dir=\"auto\">(.*?)</td>(.*?)</tr>", body, re.S):
        created = re.search(r'<td data-label="Created">(.*?)</td>', row[1]).group(1)
        last_used = re.search(r'<td data-label="Last used">(.*?)</td>', row[1]).group(1)
        rows.append({"name": unescape(row[0]), "created": created, "last_used": last_used})
    return rows


def me_with(client, key):
    return client.get("/api/users/me/", headers={"Authorization": f"Token {key}"})


def key_id(app, user_id, name):
    return next(row["public_id"] for row in credentials_of(app, user_id) if row["name"] == name)


# API keys ----------------------------------------------------------------------------------------


def test_a_new_key_is_shown_once_uncached_and_works_against_the_api(app, client, user):
    signed_in(client, user)

    page = create_key(client)

    assert page.status_code == 200
    assert page.headers["Cache-Control"] == "no-store"
    key = new_key_on(page)
    assert key is not None and re.fullmatch(r"[0-9a-f]{40}", key)
    assert "Copy it now: it is shown only this once" in page.get_data(as_text=True)
    again = client.get("/profile/keys")
    assert again.headers["Cache-Control"] == "no-store"
    assert key not in again.get_data(as_text=True)
    assert new_key_on(again) is None
    response = me_with(client, key)
    assert response.status_code == 200
    assert response.get_json()["email"] == user.email
    # Only a hash of it is kept.
    row = credential_row(app, key_id(app, user.id, "Backup script"))
    assert row["kind"] == "key" and key not in str(row)


def test_a_key_needs_a_name(app, client, user):
    signed_in(client, user)

    page = create_key(client, name="")

    assert page.status_code == 400
    assert field_errors(page) == {"name": ["This field is required."]}
    assert [row["kind"] for row in credentials_of(app, user.id)] == ["session"]


def test_the_key_list_shows_name_created_and_last_used_after_a_use(app, client, user):
    signed_in(client, user)
    key = new_key_on(create_key(client, name="کلید پشتیبان"))

    [row] = key_rows(client.get("/profile/keys"))

    assert row["name"] == "کلید پشتیبان"
    assert re.fullmatch(r"\d{1,2} \w{3} \d{4}, \d{2}:\d{2} UTC", row["created"])
    assert row["last_used"] == NEVER

    assert me_with(client, key).status_code == 200

    [row] = key_rows(client.get("/profile/keys"))
    assert re.fullmatch(r"\d{1,2} \w{3} \d{4}, \d{2}:\d{2} UTC", row["last_used"])


def test_revoking_a_key_makes_it_401_and_takes_it_off_the_list(app, client, user):
    signed_in(client, user)
    key = new_key_on(create_key(client))
    public_id = key_id(app, user.id, "Backup script")

    response = post(client, f"/profile/keys/{public_id}/revoke", token_from="/profile/keys")

    assert response.status_code == 302 and response.headers["Location"] == "/profile/keys"
    page = client.get("/profile/keys")
    assert "The key is revoked; it no longer works." in flashes(page)
    assert key_rows(page) == []
    assert me_with(client, key).status_code == 401
    assert credential_row(app, public_id)["revoked_at"] is not None
    assert is_signed_in(client)
    again = post(client, f"/profile/keys/{public_id}/revoke", token_from="/profile/keys")
    assert again.status_code == 404


def test_revoking_another_users_key_is_404_and_the_key_still_works(app, client, user, make_user, api_key):
    other = make_user("other@example.com")
    their_key = api_key(other)
    their_id = credentials_of(app, other.id)[0]["public_id"]
    signed_in(client, user)

    response = post(client, f"/profile/keys/{their_id}/revoke", token_from="/profile/keys")

    assert response.status_code == 404
    assert response.mimetype == "text/html"
    assert me_with(client, their_key).status_code == 200
    assert credential_row(app, their_id)["revoked_at"] is None
    ending = post(client, f"/profile/sessions/{their_id}/end", token_from="/profile/sessions")
    assert ending.status_code == 404
    assert me_with(client, their_key).status_code == 200


def test_revoking_without_a_csrf_token_is_refused(app, client, user):
    signed_in(client, user)
    key = new_key_on(create_key(client))

    response = client.post(f"/profile/keys/{key_id(app, user.id, 'Backup script')}/revoke")

    assert response.status_code == 400
    assert me_with(client, key).status_code == 200


# The sessions page -------------------------------------------------------------------------------


def test_sessions_page_lists_browsers_by_name_api_sign_ins_and_keys(app, user, bearer, api_key):
    other = signed_in(browser(app, CHROME_ON_WINDOWS), user)
    this = signed_in(browser(app, FIREFOX_ON_LINUX), user)
    bearer(user)
    api_key(user)

    page = this.get("/profile/sessions")

    assert page.status_code == 200
    items = re.findall(r'<p class="way-title">(.*?)</p>', page.get_data(as_text=True), re.S)
    titles = [re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", item)).strip() for item in items]
    assert sorted(titles) == sorted([
        "Firefox on Linux Browser This browser",
        "Chrome on Windows Browser",
        "Signed in through the API App sign-in",
        "API sign-in API key",  # keys from POST /api/auth/token/login/ are named so
    ])
    assert 'aria-label="Sign out of this browser"' in page.get_data(as_text=True)
    assert "Sign out everywhere else" in text_of(page)
    assert is_signed_in(other)


def test_ending_another_browsers_session_signs_it_out_at_its_next_request(app, user):
    other = signed_in(browser(app, CHROME_ON_WINDOWS), user)
    other_id = credential_in_cookie(other)
    this = signed_in(browser(app, FIREFOX_ON_LINUX), user)

    response = post(this, f"/profile/sessions/{other_id}/end", token_from="/profile/sessions")

    assert response.status_code == 302 and response.headers["Location"] == "/profile/sessions"
    assert "That session is ended." in flashes(this.get("/profile/sessions"))
    assert not is_signed_in(other)
    assert is_signed_in(this)
    assert "Chrome on Windows" not in text_of(this.get("/profile/sessions"))


@pytest.mark.parametrize("kind", ["jwt", "key"])
def test_ending_an_api_sign_in_or_key_from_the_sessions_page_makes_it_401(app, client, user, bearer, token_auth, kind):
    headers = bearer(user) if kind == "jwt" else token_auth(user)
    signed_in(client, user)
    public_id = next(row["public_id"] for row in credentials_of(app, user.id) if row["kind"] == kind)

    response = post(client, f"/profile/sessions/{public_id}/end", token_from="/profile/sessions")

    assert response.status_code == 302 and response.headers["Location"] == "/profile/sessions"
    assert client.get("/api/users/me/", headers=headers).status_code == 401
    assert is_signed_in(client)


def test_names_on_the_keys_and_sessions_pages_are_escaped(app, client, user):
    signed_in(client, user)
    create_key(client, name='<img src=x onerror="alert(1)">')

    for path in ("/profile/keys", "/profile/sessions", "/profile/activity"):
        body = client.get(path).get_data(as_text=True)
        assert "<img src=x" not in body, path
    assert "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;" in client.get("/profile/keys").get_data(as_text=True)


def test_ending_this_browsers_own_session_signs_it_out(app, client, user):
    signed_in(client, user)
    own = credential_in_cookie(client)

    response = post(client, f"/profile/sessions/{own}/end", token_from="/profile/sessions")

    assert response.status_code == 302 and response.headers["Location"] == "/login"
    assert not is_signed_in(client)
    assert credential_row(app, own)["revoked_at"] is not None


def test_sign_out_everywhere_else_ends_api_sign_ins_keys_and_other_browsers_but_not_this_one(
    app, client, user, bearer, token_auth
):
    other = signed_in(browser(app), user)
    jwt_headers = bearer(user)
    key_headers = token_auth(user)
    this = signed_in(browser(app, FIREFOX_ON_LINUX), user)
    this_id = credential_in_cookie(this)

    response = post(this, "/profile/sessions/end-others", token_from="/profile/sessions")

    assert response.status_code == 302 and response.headers["Location"] == "/profile/sessions"
    page = this.get("/profile/sessions")
    assert "Every other session, sign-in and key of yours is ended." in flashes(page)
    assert "Sign out everywhere else</button>" not in page.get_data(as_text=True)  # nothing else left to end
    assert is_signed_in(this)
    assert not is_signed_in(other)
    assert client.get("/api/users/me/", headers=jwt_headers).status_code == 401
    assert client.get("/api/users/me/", headers=key_headers).status_code == 401
    assert [row["public_id"] for row in credentials_of(app, user.id)] == [this_id]


def test_a_deactivated_user_is_signed_out_at_the_next_request(app, client, user):
    signed_in(client, user)
    with app.app_context(), unit_of_work():
        accounts.update_account_flags(db.session.get(User, user.id), {"is_active": False}, SYSTEM)

    response = client.get("/profile/")

    assert response.status_code == 302 and response.headers["Location"].startswith("/login")
    assert credentials_of(app, user.id) == []


def test_a_user_deactivated_without_revoking_rows_is_still_refused(app, client, user):
    signed_in(client, user)
    with app.app_context():
        db.session.execute(update(User).where(User.id == user.id).values(is_active=False))
        db.session.commit()

    assert not is_signed_in(client)


def test_a_password_reset_through_the_api_ends_browser_sessions(app, client, user, mailbox):
    signed_in(client, user)
    assert client.post("/api/users/reset_password/", json={"email": user.email}).status_code == 204
    body = mailbox.sent_to(user.email)[-1].get_body(("plain",)).get_content()
    uid, token = re.search(r"/password/reset/([^/\s]+)/([^/\s]+)/", body).groups()

    confirmed = client.post(
        "/api/users/reset_password_confirm/", json={"uid": uid, "token": token, "new_password": "Fresh-lantern-42"}
    )

    assert confirmed.status_code == 204
    assert not is_signed_in(client)


def test_a_password_change_through_the_api_ends_browser_sessions(app, client, user, bearer):
    signed_in(client, user)

    changed = client.post(
        "/api/users/me/set_password/", headers=bearer(user),
        json={"current_password": PASSWORD, "new_password": "Fresh-lantern-42"},
    )

    assert changed.status_code == 204
    assert not is_signed_in(client)


def test_deleting_the_account_through_the_api_ends_the_browser_session(app, client, user, token_auth):
    signed_in(client, user)

    deleted = client.delete("/api/users/me/", headers=token_auth(user), json={"current_password": PASSWORD})

    assert deleted.status_code == 204
    assert not is_signed_in(client)
    assert client.get("/profile/sessions").status_code == 302


# "Last used" is written at most once per CREDENTIAL_TOUCH_INTERVAL -------------------------------


def age_last_use(app, public_id, by: timedelta):
    with app.app_context():
        row = db.session.scalar(db.select(Credential).where(Credential.public_id == public_id))
        db.session.execute(
            update(Credential).where(Credential.id == row.id).values(last_used_at=row.last_used_at - by)
        )
        db.session.commit()


def test_a_keys_last_use_is_written_once_per_interval(app, client, user):
    signed_in(client, user)
    key = new_key_on(create_key(client))
    public_id = key_id(app, user.id, "Backup script")
    interval = app.config["CREDENTIAL_TOUCH_INTERVAL"]

    with recorded_statements(app) as first:
        assert me_with(client, key).status_code == 200
    stamped = credential_row(app, public_id)["last_used_at"]
    with recorded_statements(app) as second:
        assert me_with(client, key).status_code == 200
        assert me_with(client, key).status_code == 200

    assert len(updates_of(first)) == 1 and stamped is not None
    assert updates_of(second) == []
    assert credential_row(app, public_id)["last_used_at"] == stamped

    age_last_use(app, public_id, interval + timedelta(seconds=1))
    with recorded_statements(app) as later:
        assert me_with(client, key).status_code == 200
    assert len(updates_of(later)) == 1
    assert credential_row(app, public_id)["last_used_at"] > stamped - interval


def test_a_browser_sessions_last_use_is_written_once_per_interval(app, client, user):
    signed_in(client, user)
    public_id = credential_in_cookie(client)
    stamped = credential_row(app, public_id)["last_used_at"]
    interval = app.config["CREDENTIAL_TOUCH_INTERVAL"]

    with recorded_statements(app) as reads:
        for path in ("/profile/", "/profile/keys", "/profile/sessions", "/profile/activity"):
            assert client.get(path).status_code == 200

    assert updates_of(reads) == []
    assert [s for s in reads if not s.lstrip().upper().startswith("SELECT")] == []
    assert credential_row(app, public_id)["last_used_at"] == stamped

    age_last_use(app, public_id, interval + timedelta(seconds=1))
    with recorded_statements(app) as later:
        assert client.get("/profile/").status_code == 200
        assert client.get("/profile/").status_code == 200
    assert len(updates_of(later)) == 1
    assert credential_row(app, public_id)["last_used_at"] > stamped - interval
