"""Document 004 — ``PATCH``/``PUT /api/users/me/`` (partial update) and ``DELETE /api/users/me/``."""

import io
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import select

from portal.extensions import db
from portal.models import User
from portal.services.audit import SYSTEM
from portal.services.people import accounts, groups
from portal.transactions import unit_of_work
from tests.api.conftest import ApiSession
from tests.conftest import PASSWORD, image_bytes, stored_avatars, stored_user, upload, written_mail

ME = "/api/users/me/"
NOT_A_FILE = "The submitted data was not a file. Check the encoding type on the form."
DOCUMENT_PAYLOAD = {
    "first_name": "Alexandra",
    "last_name": "Thompson",
    "username": "alex_thompson",
    "mobile_number": "+1-555-0124",
    "email": "alexandra.thompson@techcorp.com",
    "gender": "female",
}
SHAPE_001 = {
    "id", "username", "mobile_number", "email", "avatar", "first_name", "last_name", "full_name",
    "gender", "is_profile_completed", "groups", "last_login", "created_at",
}


def avatar_file(app, name) -> Path:
    return Path(app.config["UPLOAD_FOLDER"]) / "avatars" / name


def give_avatar(app, account):
    with app.app_context(), unit_of_work():
        user = db.session.get(User, account.id)
        accounts.update_profile(user, {"avatar": upload(image_bytes())[0]}, SYSTEM)
        return user.avatar


# The document's example --------------------------------------------------------------------


@pytest.mark.parametrize("method", ["put", "patch"])
def test_document_payload_updates_every_field_and_answers_the_001_shape(app, client, user, api_key, method):
    api = ApiSession(client)
    api.headers.update({"Authorization": f"Token {api_key(user)}"})

    response = getattr(api, method)("http://localhost/api/users/me/", json=DOCUMENT_PAYLOAD)

    assert response.status_code == 200
    body = response.json()
    assert set(body) == SHAPE_001
    assert {k: body[k] for k in DOCUMENT_PAYLOAD} == DOCUMENT_PAYLOAD  # mobile_number echoed as entered
    assert body["id"] == user.id
    assert body["full_name"] == "Alexandra Thompson"
    assert body["is_profile_completed"] is True
    assert body["avatar"] is None and body["groups"] == []
    row = stored_user(app, user.id)
    assert (row["first_name"], row["last_name"], row["username"], row["phone"], row["email"], row["gender"]) == (
        "Alexandra", "Thompson", "alex_thompson", "+1-555-0124", "alexandra.thompson@techcorp.com", "female",
    )


@pytest.mark.parametrize("method", ["put", "patch"])
def test_document_payload_with_the_avatar_file_sent_as_multipart_sets_fields_and_avatar(
    app, client, user, api_key, method
):
    api = ApiSession(client)
    api.headers.update({"Authorization": f"Token {api_key(user)}"})

    response = getattr(api, method)(
        "http://localhost/api/users/me/", data=DOCUMENT_PAYLOAD, files={"avatar": upload(image_bytes())}
    )

    assert response.status_code == 200
    body = response.json()
    assert {k: body[k] for k in DOCUMENT_PAYLOAD} == DOCUMENT_PAYLOAD
    row = stored_user(app, user.id)
    assert row["avatar"] and body["avatar"] == f"http://localhost/media/avatars/{row['avatar']}"
    assert stored_avatars(app) == [row["avatar"]]


@pytest.mark.parametrize("method", ["put", "patch"])
def test_partial_update_leaves_fields_that_were_not_sent_alone(app, client, make_user, token_auth, method):
    account = make_user(first_name="Ada", last_name="Lovelace", phone="020 7946 0000", gender="female", username="ada")

    response = getattr(client, method)(ME, json={"last_name": "King"}, headers=token_auth(account))

    assert response.status_code == 200
    body = response.get_json()
    assert (body["first_name"], body["last_name"], body["mobile_number"], body["gender"], body["username"]) == (
        "Ada", "King", "020 7946 0000", "female", "ada",
    )
    row = stored_user(app, account.id)
    assert (row["first_name"], row["last_name"], row["phone"]) == ("Ada", "King", "020 7946 0000")


def test_patch_works_with_a_bearer_access_token(app, client, user, bearer):
    response = client.patch(ME, json={"first_name": "Bea"}, headers=bearer(user))

    assert response.status_code == 200
    assert response.get_json()["first_name"] == "Bea"
    assert stored_user(app, user.id)["first_name"] == "Bea"


def test_patch_without_credentials_answers_401_and_changes_nothing(app, client, user):
    response = client.patch(ME, json={"first_name": "Mallory"})

    assert response.status_code == 401
    assert response.get_json() == {"detail": "Authentication credentials were not provided."}
    assert stored_user(app, user.id)["first_name"] is None


def test_changing_the_email_marks_it_unverified_and_keeps_the_account_usable(app, client, user, token_auth):
    headers = token_auth(user)

    response = client.patch(ME, json={"email": "new.address@example.com"}, headers=headers)
    again = client.get(ME, headers=headers)

    assert response.status_code == 200
    assert response.get_json()["email"] == "new.address@example.com"
    assert again.status_code == 200 and again.get_json()["email"] == "new.address@example.com"
    row = stored_user(app, user.id)
    assert row["email"] == "new.address@example.com"
    assert row["email_verified"] is False  # a changed address is unverified until its code is entered
    recipients = [mail["To"] for mail in written_mail(app)]
    # a code to the new, a notice to the old
    assert sorted(recipients) == sorted(["new.address@example.com", user.email])


# Avatar in JSON ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "avatar",
    ["path/to/avatar.jpg", {"name": "avatar.jpg"}, 42, True, ["avatar.jpg"], "", "null"],
    ids=["path-string", "object", "number", "bool", "list", "empty-string", "null-string"],
)
@pytest.mark.parametrize("method", ["put", "patch"])
def test_json_avatar_that_is_not_null_or_a_file_answers_400_not_a_file_and_applies_nothing(
    app, client, user, token_auth, method, avatar
):
    kept = give_avatar(app, user)

    response = getattr(client, method)(ME, json={**DOCUMENT_PAYLOAD, "avatar": avatar}, headers=token_auth(user))

    assert response.status_code == 400
    assert response.get_json() == {"avatar": [NOT_A_FILE]}
    row = stored_user(app, user.id)
    assert row["first_name"] is None and row["email"] == user.email
    assert row["avatar"] == kept and avatar_file(app, kept).is_file()


# Avatar upload -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data, filename, media_type",
    [
        (image_bytes("JPEG", (800, 600)), "me.jpg", "image/jpeg"),
        (image_bytes("PNG", (300, 900), mode="RGBA", color=(0, 0, 255, 128)), "me.png", "image/png"),
    ],
    ids=["jpeg", "png-with-alpha"],
)
def test_multipart_avatar_upload_is_stored_and_served_with_safe_headers(
    app, client, user, token_auth, data, filename, media_type
):
    response = client.patch(ME, data={"avatar": upload(data, filename)}, headers=token_auth(user))

    assert response.status_code == 200
    name = stored_user(app, user.id)["avatar"]
    assert name and response.get_json()["avatar"] == f"http://localhost/media/avatars/{name}"
    assert avatar_file(app, name).is_file()
    assert stored_avatars(app) == [name]

    served = client.get(f"/media/avatars/{name}")
    try:
        assert served.status_code == 200
        assert served.mimetype == media_type
        assert served.headers["X-Content-Type-Options"] == "nosniff"
        cache = served.headers["Cache-Control"]
        assert "immutable" in cache and "max-age=31536000" in cache
        content = served.get_data()
    finally:
        served.close()
    assert content == avatar_file(app, name).read_bytes()
    image = Image.open(io.BytesIO(content))
    assert image.width == image.height <= 512


def test_uploading_a_new_avatar_deletes_the_old_file(app, client, user, token_auth):
    old = give_avatar(app, user)

    response = client.put(ME, data={"avatar": upload(image_bytes("PNG"), "new.png")}, headers=token_auth(user))

    assert response.status_code == 200
    new = stored_user(app, user.id)["avatar"]
    assert new != old
    assert response.get_json()["avatar"].endswith(f"/media/avatars/{new}")
    assert not avatar_file(app, old).exists()
    assert stored_avatars(app) == [new]


def test_upload_that_is_not_an_image_answers_400_on_avatar_and_leaves_no_file(app, client, user, token_auth):
    response = client.patch(
        ME, data={"first_name": "Eve", "avatar": upload(b"<?php echo 1; ?>", "avatar.jpg")}, headers=token_auth(user)
    )

    assert response.status_code == 400
    body = response.get_json()
    assert set(body) == {"avatar"} and body["avatar"] and all(isinstance(m, str) for m in body["avatar"])
    assert stored_avatars(app) == []
    row = stored_user(app, user.id)
    assert row["avatar"] is None and row["first_name"] is None


# Avatar removal ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs",
    [{"json": {"avatar": None}}, {"data": {"avatar": "null"}}, {"data": {"avatar": ""}}],
    ids=["json-null", "form-text-null", "form-empty"],
)
@pytest.mark.parametrize("method", ["put", "patch"])
def test_avatar_removal_clears_the_field_and_deletes_the_file(app, client, user, token_auth, method, kwargs):
    old = give_avatar(app, user)
    assert avatar_file(app, old).is_file()

    response = getattr(client, method)(ME, headers=token_auth(user), **kwargs)

    assert response.status_code == 200
    assert response.get_json()["avatar"] is None
    assert stored_user(app, user.id)["avatar"] is None
    assert not avatar_file(app, old).exists()
    assert stored_avatars(app) == []


def test_form_field_null_next_to_other_fields_removes_avatar_and_applies_them(app, client, user, token_auth):
    old = give_avatar(app, user)

    response = client.patch(ME, data={"avatar": "null", "first_name": "Zoe"}, headers=token_auth(user))

    assert response.status_code == 200
    assert response.get_json()["avatar"] is None and response.get_json()["first_name"] == "Zoe"
    row = stored_user(app, user.id)
    assert row["avatar"] is None and row["first_name"] == "Zoe"
    assert not avatar_file(app, old).exists()


# Gender ------------------------------------------------------------------------------------


@pytest.mark.parametrize("gender", ["male", "female", "other"])
def test_each_documented_gender_is_accepted(app, client, user, token_auth, gender):
    response = client.patch(ME, json={"gender": gender}, headers=token_auth(user))

    assert response.status_code == 200
    assert response.get_json()["gender"] == gender
    assert stored_user(app, user.id)["gender"] == gender


@pytest.mark.parametrize("gender", ["unknown", "M", "f", "robot", 1])
@pytest.mark.parametrize("method", ["put", "patch"])
def test_gender_outside_male_female_other_answers_400_on_gender(app, client, make_user, token_auth, method, gender):
    account = make_user(gender="male")

    response = getattr(client, method)(ME, json={"gender": gender, "first_name": "Kim"}, headers=token_auth(account))

    assert response.status_code == 400
    body = response.get_json()
    assert set(body) == {"gender"}
    assert isinstance(body["gender"], list) and body["gender"] and all(isinstance(m, str) for m in body["gender"])
    row = stored_user(app, account.id)
    assert row["gender"] == "male" and row["first_name"] is None


# Read-only and unknown fields --------------------------------------------------------------


@pytest.mark.parametrize("method", ["put", "patch"])
def test_read_only_and_unknown_fields_are_ignored_and_never_applied(app, client, user, token_auth, method):
    headers = token_auth(user)
    with app.app_context(), unit_of_work():
        group = groups.create_group("Administrators", SYSTEM)
        group_id = group.id
    before = stored_user(app, user.id)

    response = getattr(client, method)(
        ME,
        json={
            "first_name": "Changed",
            "id": user.id + 1000,
            "is_staff": True,
            "is_superuser": True,
            "is_active": False,
            "email_verified": False,
            "groups": [group_id],
            "created_at": "2000-01-01T00:00:00Z",
            "date_joined": "2000-01-01T00:00:00Z",
            "last_login": "2000-01-01T00:00:00Z",
            "full_name": "Somebody Else",
            "is_profile_completed": True,
            "password": "hunter2-hunter2",
            "favourite_colour": "green",
        },
        headers=headers,
    )

    assert response.status_code == 200
    body = response.get_json()
    assert set(body) == SHAPE_001
    assert body["id"] == user.id
    assert body["first_name"] == "Changed" and body["full_name"] == "Changed"
    assert body["groups"] == [] and body["is_profile_completed"] is False
    assert not body["created_at"].startswith("2000") and not body["last_login"].startswith("2000")
    after = stored_user(app, user.id)
    assert after["first_name"] == "Changed"
    assert (after["is_staff"], after["is_superuser"], after["is_active"], after["email_verified"]) == (
        False, False, True, True)
    assert after["groups"] == []
    assert after["date_joined"] == before["date_joined"] and after["last_login"] == before["last_login"]
    with app.app_context():
        assert db.session.get(User, user.id + 1000) is None
    assert client.get(ME, headers=headers).status_code == 200  # still active
    signed_in = client.post("/api/auth/token/login/", json={"email": user.email, "password": PASSWORD})
    assert signed_in.status_code == 200  # the password was not changed


# Uniqueness --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "theirs, mine, wire_field",
    [
        ({"phone": "+1-555-0124"}, {"mobile_number": "+1 (555) 0124"}, "mobile_number"),
        ({"phone": "+1-555-0124"}, {"mobile_number": "+1-555-0124"}, "mobile_number"),
        ({"username": "Alex_Thompson"}, {"username": "alex_thompson"}, "username"),
        ({}, {"email": "OTHER@Example.COM"}, "email"),
    ],
    ids=["phone-normalised", "phone-exact", "username-case", "email-case"],
)
@pytest.mark.parametrize("method", ["put", "patch"])
def test_taken_value_answers_400_on_the_wire_field_name(
    app, client, make_user, token_auth, method, theirs, mine, wire_field
):
    make_user("other@example.com", **theirs)
    me = make_user("me@example.com", first_name="Me")

    response = getattr(client, method)(ME, json={**mine, "first_name": "Changed"}, headers=token_auth(me))

    assert response.status_code == 400
    body = response.get_json()
    assert set(body) == {wire_field}
    assert "phone" not in body
    assert body[wire_field] and all(isinstance(m, str) for m in body[wire_field])
    row = stored_user(app, me.id)
    assert (row["email"], row["username"], row["phone"], row["first_name"]) == ("me@example.com", None, None, "Me")


def test_resending_ones_own_unique_values_in_other_case_is_not_a_conflict(app, client, make_user, token_auth):
    me = make_user("me@example.com", username="Alex", phone="+1-555-0124")

    response = client.patch(
        ME, json={"email": "ME@example.com", "username": "alex", "mobile_number": "+1 555 0124"}, headers=token_auth(me)
    )

    assert response.status_code == 200
    body = response.get_json()
    assert (body["username"], body["mobile_number"]) == ("alex", "+1 555 0124")
    row = stored_user(app, me.id)
    assert (row["username"], row["phone"]) == ("alex", "+1 555 0124")


# Trailing slash ----------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["PATCH", "PUT"])
def test_write_without_trailing_slash_redirects_308_and_the_resent_body_is_applied(
    app, client, user, token_auth, method
):
    headers = token_auth(user)

    redirected = client.open("/api/users/me", method=method, json={"first_name": "Slash"}, headers=headers)

    assert redirected.status_code == 308
    assert redirected.headers["Location"].endswith("/api/users/me/")
    assert stored_user(app, user.id)["first_name"] is None

    followed = client.open(
        "/api/users/me", method=method, json={"first_name": "Slash"}, headers=headers, follow_redirects=True
    )

    assert followed.status_code == 200
    assert followed.request.path == ME and followed.request.method == method
    assert followed.get_json()["first_name"] == "Slash"
    assert stored_user(app, user.id)["first_name"] == "Slash"


# DELETE ------------------------------------------------------------------------------------


def test_delete_with_the_correct_password_removes_the_account_its_avatar_and_its_keys(app, client, user, token_auth):
    headers = token_auth(user)
    avatar = give_avatar(app, user)

    response = client.delete(ME, json={"current_password": PASSWORD}, headers=headers)

    assert response.status_code == 204
    assert response.get_data() == b""
    assert stored_user(app, user.id) is None
    with app.app_context():
        assert db.session.scalar(select(User).where(User.email == user.email)) is None
    assert not avatar_file(app, avatar).exists()
    after = client.get(ME, headers=headers)
    assert after.status_code == 401 and set(after.get_json()) == {"detail"}


@pytest.mark.parametrize(
    "kwargs", [{"json": {}}, {"json": {"current_password": ""}}, {"json": {"current_password": None}}, {}],
    ids=["empty-json", "blank", "null", "no-body"],
)
def test_delete_without_current_password_answers_400_and_keeps_the_account(app, client, user, token_auth, kwargs):
    headers = token_auth(user)

    response = client.delete(ME, headers=headers, **kwargs)

    assert response.status_code == 400
    body = response.get_json()
    assert set(body) == {"current_password"}
    assert body["current_password"] and all(isinstance(m, str) for m in body["current_password"])
    assert stored_user(app, user.id) is not None
    assert client.get(ME, headers=headers).status_code == 200


def test_delete_with_a_wrong_password_answers_400_and_the_account_still_works(app, client, user, token_auth):
    headers = token_auth(user)

    response = client.delete(ME, json={"current_password": "not-the-password"}, headers=headers)

    assert response.status_code == 400
    body = response.get_json()
    assert set(body) == {"current_password"}
    assert body["current_password"] and all(isinstance(m, str) for m in body["current_password"])
    row = stored_user(app, user.id)
    assert row is not None and row["is_active"] is True
    still = client.get(ME, headers=headers)
    assert still.status_code == 200 and still.get_json()["id"] == user.id
    signed_in = client.post("/api/auth/token/login/", json={"email": user.email, "password": PASSWORD})
    assert signed_in.status_code == 200 and signed_in.get_json()["auth_token"]
