"""The signed-in person's own pages: profile, edit, avatar, password, activity, export and deletion."""

import io
import json
import random
import re
from datetime import date, timedelta
from html import unescape

import pytest
from PIL import Image
from sqlalchemy import select

from portal.extensions import db
from portal.models import Credential, User
from portal.services.audit import SYSTEM, Actor
from portal.services.people import accounts, groups
from portal.transactions import unit_of_work

from ..conftest import PASSWORD, image_bytes, stored_avatars, stored_user, upload
from .conftest import (
    credential_in_cookie,
    credential_row,
    credentials_of,
    field_errors,
    find_form,
    flashes,
    form_errors,
    is_signed_in,
    sign_in,
    signed_in,
    submit,
    submit_page,
    text_of,
)

NEW_PASSWORD = "Quiet-harbour-1987"
ZWNJ = "\u200c"
PERSIAN_FIRST = f"مهر{ZWNJ}ناز"  # Mehrnaz, written with the zero-width non-joiner Persian needs
PERSIAN_LAST = f"علی{ZWNJ}پور"


@pytest.fixture
def darius(make_user):
    return make_user(
        "darius@example.com", username="Darius_K", first_name="Darius", last_name="Kamali",
        phone="+98 912 555 0101", gender="male", country="IR", address="12 Vali-Asr St\nTehran",
        birthday="1990-04-02",
    )


def edit(client, changes=None, **kwargs):
    return submit(client, "/profile/edit", changes, **kwargs)


def avatar_of(app, user_id):
    return stored_user(app, user_id)["avatar"]


# The profile page --------------------------------------------------------------------------------


def test_profile_page_shows_every_field_groups_verified_state_and_times(app, client, darius):
    with app.app_context(), unit_of_work():
        row = db.session.get(User, darius.id)
        for name in ("Editors", "Beta testers"):
            groups.set_membership(row, groups.create_group(name, SYSTEM), True, SYSTEM)
    signed_in(client, darius)
    stored = stored_user(app, darius.id)

    page = client.get("/profile/")

    assert page.status_code == 200
    text = text_of(page)
    for shown in ("Darius Kamali", "Darius_K", "darius@example.com", "+98 912 555 0101", "Male",
                  "<dt>Country</dt><dd>Iran</dd>", "12 Vali-Asr St\nTehran", "1990-04-02"):
        assert shown in text, shown
    assert re.search(r'<span class="badge">Beta testers</span>\s*<span class="badge">Editors</span>', text)
    assert '<span class="badge badge-ok">verified</span>' in text
    assert "not verified" not in text
    assert f'<time datetime="{stored["date_joined"].isoformat()}Z">' in text
    assert f'<time datetime="{stored["last_login"].isoformat()}Z">' in text
    assert "Profile complete</dt><dd>Yes" in text


def test_profile_page_of_a_bare_account_shows_dashes_and_no_groups(app, client, user):
    signed_in(client, user)

    text = text_of(client.get("/profile/"))

    assert "<dt>Groups</dt><dd>None</dd>" in text
    assert "<dt>Phone number</dt><dd>—</dd>" in text
    assert "Not yet: add your names, phone and gender" in text


SIGNED_IN_PAGES = ["/profile/", "/profile/edit", "/profile/password", "/profile/keys", "/profile/sessions",
                   "/profile/activity", "/profile/export", "/profile/delete"]


def test_every_profile_page_sends_a_visitor_to_sign_in_and_back(client):
    answers = {path: client.get(path) for path in SIGNED_IN_PAGES}

    assert {path: (r.status_code, r.headers.get("Location")) for path, r in answers.items()} == {
        path: (302, "/login?next=" + path.replace("/", "%2F")) for path in SIGNED_IN_PAGES
    }


# Editing -----------------------------------------------------------------------------------------


def test_the_edit_page_opens_with_every_field_and_no_deprecated_form_api(app, client, darius):
    """Warnings are errors here: a form built on a deprecated WTForms API breaks this page first."""
    signed_in(client, darius)

    page = client.get("/profile/edit")

    assert page.status_code == 200
    form = find_form(page)
    assert form.enctype == "multipart/form-data"
    names = ("first_name", "username", "gender", "country", "birthday", "address")
    assert {name: form.fields[name] for name in names} == {
        "first_name": "Darius", "username": "Darius_K", "gender": "male", "country": "IR", "birthday": "1990-04-02",
        "address": "12 Vali-Asr St\r\nTehran",
    }


def test_edit_saves_persian_names_with_their_joiners_and_shows_them_isolated(app, client, user):
    signed_in(client, user)

    response = edit(client, {"first_name": f"  {PERSIAN_FIRST} ", "last_name": PERSIAN_LAST})

    assert response.status_code == 302 and response.headers["Location"] == "/profile/"
    stored = stored_user(app, user.id)
    assert (stored["first_name"], stored["last_name"]) == (PERSIAN_FIRST, PERSIAN_LAST)
    assert ZWNJ in stored["first_name"]
    profile = client.get("/profile/").get_data(as_text=True)
    assert f'<span dir="auto">{PERSIAN_FIRST}</span>' in profile
    assert f'<span dir="auto">{PERSIAN_FIRST} {PERSIAN_LAST}</span>' in profile
    assert f'<span class="who" dir="auto">{PERSIAN_FIRST} {PERSIAN_LAST}</span>' in profile
    form = client.get("/profile/edit").get_data(as_text=True)
    assert re.search(rf'<input [^>]*dir="auto"[^>]*name="first_name"[^>]*value="{PERSIAN_FIRST}"', form)


def test_edit_saves_every_field_and_the_form_shows_them_back(app, client, user):
    signed_in(client, user)
    changes = {
        "first_name": "Roya", "last_name": "Nazari", "username": "roya.n", "phone": "+1 (555) 0124",
        "gender": "female", "country": "CA", "address": "1 Main St\nToronto", "birthday": "1985-12-31",
    }

    assert edit(client, changes).status_code == 302

    stored = stored_user(app, user.id)
    assert {key: stored[key] for key in changes} == changes | {"birthday": date(1985, 12, 31)}
    # Submitting the unchanged form again changes nothing: every field shows its stored value.
    again = edit(client)
    assert again.status_code == 302
    assert stored_user(app, user.id) | {"updated_at": None} == stored | {"updated_at": None}


def test_a_taken_username_is_shown_on_its_field_and_nothing_changes(app, client, user, make_user):
    make_user("other@example.com", username="taken_name")
    signed_in(client, user)
    before = stored_user(app, user.id)

    page = edit(client, {"username": "TAKEN_NAME", "first_name": "Changed"})

    assert page.status_code == 400
    assert field_errors(page) == {"username": ["A user with that username already exists."]}
    assert 'aria-describedby="username-hint username-errors"' in page.get_data(as_text=True)
    assert stored_user(app, user.id) == before


BIDI_CONTROLS = ["\u202a", "\u202b", "\u202c", "\u202d", "\u202e", "\u2066", "\u2067", "\u2068", "\u2069"]


def test_a_bidirectional_override_or_isolate_in_a_name_is_refused(app, client, user):
    """Bidirectional controls (U+202A–202E, U+2066–2069) in a name are a 400 on the field; nothing is stored."""
    signed_in(client, user)
    before = stored_user(app, user.id)

    answers = {}
    for character in BIDI_CONTROLS:
        page = edit(client, {"first_name": f"Ali{character}evil"})
        answers[f"U+{ord(character):04X}"] = (page.status_code, list(field_errors(page)))

    assert answers == {f"U+{ord(c):04X}": (400, ["first_name"]) for c in BIDI_CONTROLS}
    assert stored_user(app, user.id)["first_name"] == before["first_name"]


def test_a_control_character_in_a_name_is_refused(app, client, user):
    signed_in(client, user)

    page = edit(client, {"last_name": "Ali\x07"})

    assert page.status_code == 400
    assert field_errors(page) == {"last_name": ["Control characters are not allowed."]}


INVALID_VALUES = [
    ({"phone": "call me"}, "phone", "Enter a valid phone number"),
    ({"phone": "12"}, "phone", "Enter a valid phone number"),
    ({"birthday": (date.today() + timedelta(days=2)).isoformat()}, "birthday", "Birthday cannot be in the future."),
    ({"birthday": "1899-12-31"}, "birthday", "Birthday cannot be before 1900-01-01."),
    ({"birthday": "02/04/1990"}, "birthday", "Date has wrong format. Use one of these formats instead: YYYY-MM-DD."),
    ({"country": "XX"}, "country", "Not a valid choice."),
    ({"gender": "robot"}, "gender", "Not a valid choice."),
    ({"email": "not-an-address"}, "email", "Enter a valid email address."),
    ({"username": "no spaces"}, "username", "Enter a valid username."),
]


def test_an_invalid_value_is_shown_on_its_field_and_nothing_is_saved(app, client, darius):
    signed_in(client, darius)
    before = stored_user(app, darius.id)

    for changes, field, message in INVALID_VALUES:
        page = edit(client, changes | {"first_name": "Changed"})
        assert page.status_code == 400, changes
        errors = field_errors(page)
        assert list(errors) == [field], (changes, errors)
        assert errors[field][0].startswith(message), (changes, errors)
        assert stored_user(app, darius.id) == before, changes


def test_an_email_or_phone_taken_by_another_account_in_another_spelling_is_refused(app, client, user, make_user):
    make_user("other@example.com", phone="+1 555 0124")
    signed_in(client, user)
    before = stored_user(app, user.id)

    phone = edit(client, {"phone": "+1 (555) 0124"})
    email = edit(client, {"email": "OTHER@example.com"})

    assert phone.status_code == 400
    assert field_errors(phone) == {"phone": ["A user with that phone number already exists."]}
    assert email.status_code == 400
    assert field_errors(email) == {"email": ["A user with that email already exists."]}
    assert stored_user(app, user.id) == before


def test_a_stale_edit_form_does_not_overwrite_a_newer_change_until_saved_again(app, client, user, bearer):
    signed_in(client, user)
    stale = client.get("/profile/edit")
    changed_elsewhere = client.patch("/api/users/me/", headers=bearer(user), json={"last_name": "FromTheApi"})
    assert changed_elsewhere.status_code == 200

    conflict = submit_page(client, stale, "/profile/edit", {"first_name": "FromThePage"})

    assert conflict.status_code == 409
    assert form_errors(conflict) == [
        "This profile was changed elsewhere since you opened this page. The form still shows "
        "your input; save again to apply it over the newer version."
    ]
    assert 'value="FromThePage"' in conflict.get_data(as_text=True)
    stored = stored_user(app, user.id)
    assert (stored["first_name"], stored["last_name"]) == (None, "FromTheApi")

    saved_again = submit_page(client, conflict, "/profile/edit")

    assert saved_again.status_code == 302
    assert stored_user(app, user.id)["first_name"] == "FromThePage"


def test_changing_the_email_unverifies_it_mails_both_addresses_and_the_code_verifies_it(app, client, user, mailbox):
    signed_in(client, user)

    response = edit(client, {"email": "new.address@example.com"})

    assert response.status_code == 302 and response.headers["Location"] == "/verify"
    stored = stored_user(app, user.id)
    assert stored["email"] == "new.address@example.com" and stored["email_verified"] is False
    assert [m["Subject"] for m in mailbox.sent_to("new.address@example.com")] == ["Your verification code"]
    notice = mailbox.sent_to("user@example.com")
    assert [m["Subject"] for m in notice] == ["Your email address was changed"]
    assert "new.address@example.com" in notice[0].get_body(("plain",)).get_content()
    profile = text_of(client.get("/profile/"))
    assert '<span class="badge badge-warn">not verified</span>' in profile
    assert "Your address new.address@example.com is not verified yet." in profile
    code_page = client.get("/verify")
    assert 'value="new.address@example.com"' in code_page.get_data(as_text=True)

    verified = submit(client, "/verify", {"otp": mailbox.code_for("new.address@example.com")})

    assert verified.status_code == 302 and verified.headers["Location"] == "/profile/"
    assert stored_user(app, user.id)["email_verified"] is True
    assert '<span class="badge badge-ok">verified</span>' in client.get("/profile/").get_data(as_text=True)
    assert is_signed_in(client)


# Avatars -----------------------------------------------------------------------------------------


def test_an_uploaded_jpeg_is_stored_square_and_shown_on_the_profile(app, client, user):
    signed_in(client, user)

    response = edit(client, files={"avatar": upload(image_bytes("JPEG", size=(800, 600)), "me.jpg")})

    assert response.status_code == 302
    [name] = stored_avatars(app)
    assert avatar_of(app, user.id) == name
    profile = client.get("/profile/").get_data(as_text=True)
    assert f'<img class="avatar" src="/media/avatars/{name}"' in profile
    with client.get(f"/media/avatars/{name}") as served:
        assert served.status_code == 200 and served.mimetype == "image/jpeg"
        assert Image.open(io.BytesIO(served.data)).size == (512, 512)
    edit_page = client.get("/profile/edit").get_data(as_text=True)
    assert 'name="remove_avatar"' in edit_page
    exported = client.get("/profile/export").get_json()
    assert exported["profile"]["avatar"] == f"http://localhost/media/avatars/{name}"


def test_a_file_that_is_not_an_image_is_refused_on_the_avatar_field_and_leaves_no_file(app, client, user):
    signed_in(client, user)

    page = edit(client, {"first_name": "Changed"}, files={"avatar": upload(b"%PDF-1.7 not an image", "photo.jpg")})

    assert page.status_code == 400
    assert field_errors(page) == {
        "avatar": ["Upload a valid image. The file you uploaded was either not an image or a corrupted image."]
    }
    assert stored_avatars(app) == []
    assert stored_user(app, user.id)["first_name"] is None


def noise_jpeg(side: int) -> bytes:
    """A JPEG that does not compress: random pixels (seeded, so the size is the same every run)."""
    pixels = random.Random(side).randbytes(side * side * 3)
    buffer = io.BytesIO()
    Image.frombytes("RGB", (side, side), pixels).save(buffer, "JPEG", quality=95)
    return buffer.getvalue()


@pytest.fixture
def small_uploads(app):
    app.config.update(AVATAR_MAX_BYTES=1024 * 1024, MAX_CONTENT_LENGTH=2 * 1024 * 1024)
    return app


def test_an_image_above_the_avatar_limit_but_within_the_request_limit_is_a_field_error(small_uploads, client, user):
    app = small_uploads
    data = noise_jpeg(1000)
    assert app.config["AVATAR_MAX_BYTES"] < len(data) < app.config["MAX_CONTENT_LENGTH"] - 10_000
    signed_in(client, user)

    page = edit(client, files={"avatar": upload(data, "big.jpg")})

    assert page.status_code == 400
    assert field_errors(page) == {"avatar": ["The image is too large: at most 1 MB."]}
    assert stored_avatars(app) == []
    assert avatar_of(app, user.id) is None


def test_a_request_above_the_size_limit_is_a_413_page_and_changes_nothing(small_uploads, client, user):
    app = small_uploads
    signed_in(client, user)
    before = stored_user(app, user.id)

    response = edit(client, {"first_name": "Changed"},
                    files={"avatar": upload(b"\xff" * (3 * 1024 * 1024), "huge.jpg")})

    assert response.status_code == 413
    assert response.mimetype == "text/html"
    body = response.get_data(as_text=True)
    assert "<h1>That upload is too large</h1>" in body
    assert "at most 2 MB" in body
    assert stored_avatars(app) == []
    assert stored_user(app, user.id) == before


def test_removing_the_avatar_deletes_its_file(app, client, user):
    signed_in(client, user)
    transparent = image_bytes("PNG", size=(300, 300), mode="RGBA", color=(0, 0, 0, 0))
    edit(client, files={"avatar": upload(transparent, "a.png")})
    [name] = stored_avatars(app)
    assert name.endswith(".png")

    response = edit(client, {"remove_avatar": "y"})

    assert response.status_code == 302
    assert stored_avatars(app) == []
    assert avatar_of(app, user.id) is None
    assert client.get(f"/media/avatars/{name}").status_code == 404
    assert "/media/avatars/" not in client.get("/profile/").get_data(as_text=True)


def test_a_new_avatar_replaces_the_old_file(app, client, user):
    signed_in(client, user)
    edit(client, files={"avatar": upload(image_bytes(), "one.jpg")})
    [first] = stored_avatars(app)

    edit(client, files={"avatar": upload(image_bytes(color=(0, 90, 200)), "two.jpg")})

    [second] = stored_avatars(app)
    assert second != first
    assert avatar_of(app, user.id) == second


# Password ----------------------------------------------------------------------------------------


def change_password(client, current=PASSWORD, new=NEW_PASSWORD, repeat=None):
    return submit(client, "/profile/password", {
        "current_password": current, "new_password": new, "confirm_password": new if repeat is None else repeat,
    })


PASSWORD_PROBLEMS = [
    ({"current": "wrong-password-9"}, {"current_password": ["Invalid password."]}),
    ({"new": "90817263544"}, {"new_password": ["This password is entirely numeric."]}),
    ({"new": "user@example"}, {"new_password": ["The password is too similar to your account details."]}),
    ({"repeat": NEW_PASSWORD + "!"}, {"confirm_password": ["Passwords do not match."]}),
    ({"current": ""}, {"current_password": ["This field is required."]}),
]


def test_change_password_shows_each_problem_on_its_field_and_keeps_the_password(app, client, user):
    signed_in(client, user)
    before = stored_user(app, user.id)["password_hash"]

    for fields, expected in PASSWORD_PROBLEMS:
        page = change_password(client, **fields)
        assert page.status_code == 400, fields
        assert field_errors(page) == expected
        assert NEW_PASSWORD not in page.get_data(as_text=True)

    assert stored_user(app, user.id)["password_hash"] == before


def test_a_name_with_markup_is_shown_as_text(app, client, make_user):
    account = make_user("markup@example.com", first_name="<b>Bold</b>", last_name="<script>x()</script>")
    signed_in(client, account)

    for path in ("/profile/", "/profile/edit", "/profile/activity"):
        body = client.get(path).get_data(as_text=True)
        assert "<b>Bold</b>" not in body and "<script>x()" not in body, path
    assert "&lt;b&gt;Bold&lt;/b&gt;" in client.get("/profile/").get_data(as_text=True)


def test_password_checks_over_the_limit_are_a_429_page_for_change_and_delete_alike(make_app):
    limited = make_app(RATELIMIT_ENABLED=True, RATELIMIT_PASSWORD_CHECK="2 per minute")
    with limited.app_context(), unit_of_work():
        account = accounts.create_user("limited@example.com", PASSWORD, SYSTEM, email_verified=True)
        user_id = account.id
    client = limited.test_client()
    submit(client, "/login", {"login": "limited@example.com", "password": PASSWORD})
    assert change_password(client, current="wrong-password-9").status_code == 400
    assert submit(client, "/profile/delete", {"current_password": "wrong-password-9"}).status_code == 400

    third = submit(client, "/profile/delete", {"current_password": PASSWORD})

    assert third.status_code == 429 and third.mimetype == "text/html"
    assert int(third.headers["Retry-After"]) > 0
    assert stored_user(limited, user_id) is not None
    assert client.get("/profile/password").status_code == 200  # showing the forms is not counted


def test_change_password_keeps_this_browser_and_ends_other_browsers_and_keys(app, client, user, token_auth):
    other_browser = app.test_client()
    signed_in(other_browser, user)
    key_headers = token_auth(user)
    assert client.get("/api/users/me/", headers=key_headers).status_code == 200
    signed_in(client, user)
    this_session = credential_in_cookie(client)

    response = change_password(client)

    assert response.status_code == 302 and response.headers["Location"] == "/profile/"
    assert is_signed_in(client)
    assert not is_signed_in(other_browser)
    assert client.get("/api/users/me/", headers=key_headers).status_code == 401
    assert [row["public_id"] for row in credentials_of(app, user.id)] == [this_session]
    assert sign_in(app.test_client(), user, password=NEW_PASSWORD).status_code == 302
    assert sign_in(app.test_client(), user).status_code == 400


# Activity ----------------------------------------------------------------------------------------


def activity_items(page) -> list[dict]:
    """Each event of the activity page: its title and its changes as (field, before, after)."""
    body = page.get_data(as_text=True)
    listing = re.search(r'<ol class="activity">(.*?)</ol>', body, re.S)
    items = []
    for chunk in re.split(r"<li>", listing.group(1))[1:]:
        title = re.search(r'<p class="way-title">(.*?)</p>', chunk, re.S).group(1).strip()
        rows = []
        for row in re.findall(r'<tr><th scope="row">(.*?)</th>(.*?)</tr>', chunk, re.S):
            cells = [unescape(re.sub(r"<[^>]+>", "", cell)).strip()
                     for cell in re.findall(r"<td>(.*?)</td>", row[1], re.S)]
            rows.append((row[0], *cells))
        items.append({"title": unescape(title), "changes": rows})
    return items


def test_activity_lists_changes_old_to_new_newest_first(app, client, user):
    signed_in(client, user)
    edit(client, {"first_name": "Ali"})
    edit(client, {"first_name": "Reza", "country": "IR"})

    page = client.get("/profile/activity")

    assert page.status_code == 200
    items = activity_items(page)
    assert [item["title"] for item in items] == ["Profile changed", "Profile changed", "Signed in", "Account created"]
    assert items[0]["changes"] == [("first name", "Ali", "Reza"), ("country", "—", "Iran")]
    assert items[1]["changes"] == [("first name", "—", "Ali")]
    assert "by you through the website" in text_of(page)
    assert "by the system through" not in text_of(page)  # make_user is an operator's doing
    assert "Page 1 of 1" in text_of(page)


def test_activity_tells_the_owners_own_changes_from_staff_changes(app, client, user, make_user):
    staff = make_user("staff@example.com", staff=True)
    with app.app_context(), unit_of_work():
        acting_staff = Actor(user=db.session.get(User, staff.id), ip="10.9.8.7", via="admin")
        accounts.update_profile(db.session.get(User, user.id), {"last_name": "Renamed"}, acting_staff)
    signed_in(client, user)

    page = client.get("/profile/activity")

    items = activity_items(page)
    assert [item["title"] for item in items][:2] == ["Signed in", "Profile changed"]
    assert items[1]["changes"] == [("last name", "—", "Renamed")]
    text = re.sub(r"\s+", " ", text_of(page))
    assert "by staff through the admin page from 10.9.8.7" in text
    assert "by you through the website from 127.0.0.1" in text


def test_activity_is_paginated_twenty_to_a_page(app, client, user):
    with app.app_context(), unit_of_work():
        row = db.session.get(User, user.id)
        for n in range(25):
            accounts.update_profile(row, {"last_name": f"Name{n}"}, SYSTEM)
    signed_in(client, user)  # 1 account_created + 25 changes + 1 sign-in = 27 events

    first = client.get("/profile/activity")
    second = client.get("/profile/activity?page=2")

    first_items, second_items = activity_items(first), activity_items(second)
    assert len(first_items) == 20 and len(second_items) == 7
    assert first_items[0]["title"] == "Signed in"
    assert first_items[1]["changes"] == [("last name", "Name23", "Name24")]
    assert second_items[-1]["title"] == "Account created"
    assert second_items[-2]["changes"] == [("last name", "—", "Name0")]
    assert '<a href="/profile/activity?page=2" rel="next">Older</a>' in first.get_data(as_text=True)
    assert '<a href="/profile/activity?page=1" rel="prev">Newer</a>' in second.get_data(as_text=True)
    assert "Page 2 of 2" in text_of(second)
    beyond = client.get("/profile/activity?page=9")
    assert beyond.status_code in (200, 404)


# Export ------------------------------------------------------------------------------------------


def test_export_is_a_json_attachment_of_everything_held_and_no_secret(app, client, darius, token_auth, bearer):
    with app.app_context(), unit_of_work():
        row = db.session.get(User, darius.id)
        groups.set_membership(row, groups.create_group("Editors", SYSTEM, notes="Writes things"), True, SYSTEM)
    api_key = token_auth(darius)["Authorization"].split()[1]
    bearer(darius)
    signed_in(client, darius)

    response = client.get("/profile/export")

    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert response.headers["Content-Disposition"] == f'attachment; filename="account-{darius.id}.json"'
    data = json.loads(response.get_data(as_text=True))
    assert set(data) >= {"profile", "groups", "credentials", "activity"}
    assert data["profile"]["email"] == "darius@example.com"
    assert data["profile"]["phone"] == "+98 912 555 0101"
    assert data["profile"]["birthday"] == "1990-04-02"
    assert data["groups"] == [{"id": data["groups"][0]["id"], "name": "Editors", "notes": "Writes things"}]
    assert sorted(c["kind"] for c in data["credentials"]) == ["jwt", "key", "session"]
    assert {"account_created", "group_membership_changed", "signed_in", "api_key_created"} <= {
        e["action"] for e in data["activity"]
    }
    body = response.get_data(as_text=True)
    with app.app_context(), unit_of_work():
        secrets_held = [db.session.get(User, darius.id).password_hash] + [
            value
            for c in db.session.scalars(select(Credential).where(Credential.user_id == darius.id))
            for value in (c.secret_hash, c.refresh_jti)
            if value
        ]
    assert len(secrets_held) == 3  # the password hash, the key's hash and the sign-in's refresh id
    for secret in [*secrets_held, api_key, PASSWORD]:
        assert secret not in body
    for name in ("password", "secret_hash", "refresh_jti", "code_hash", "secret_sealed"):
        # No such field ("password" is a sign-in method; "password_reset_required" and "password_breached" flags).
        assert not re.search(rf'"{name}(?!_reset_required|_breached)\w*":', body)


# Deleting the account ----------------------------------------------------------------------------


def test_delete_with_a_wrong_password_keeps_the_account(app, client, user):
    signed_in(client, user)

    page = submit(client, "/profile/delete", {"current_password": "wrong-password-9"})

    assert page.status_code == 400
    assert field_errors(page) == {"current_password": ["Invalid password."]}
    assert stored_user(app, user.id) is not None
    assert is_signed_in(client)


def test_delete_with_the_password_deletes_the_account_signs_out_and_removes_the_avatar(app, client, user):
    signed_in(client, user)
    edit(client, files={"avatar": upload(image_bytes())})
    assert len(stored_avatars(app)) == 1
    old_cookie_credential = credential_in_cookie(client)

    response = submit(client, "/profile/delete", {"current_password": PASSWORD})

    assert response.status_code == 302 and response.headers["Location"] == "/login"
    assert "Your account and everything in it are deleted." in flashes(client.get("/login"))
    assert stored_user(app, user.id) is None
    assert stored_avatars(app) == []
    assert not is_signed_in(client)
    assert credential_row(app, old_cookie_credential)["is_live"] is False
    assert sign_in(app.test_client(), user).status_code == 400
