"""Document 002: ``/api/users/<id>/`` — owner-only PUT/PATCH/DELETE, GET for the owner and staff."""

import io
import random
import re
from pathlib import Path

import pytest
from PIL import Image

from tests.conftest import PASSWORD, image_bytes, stored_avatars, stored_user, upload, written_mail

PROFILE_KEYS = [
    "id", "username", "email", "first_name", "last_name", "number_phone", "avatar",
    "date_joined", "last_login", "is_active", "is_staff", "is_superuser",
]
NO_PERMISSION = {"detail": "You do not have permission to perform this action."}
NOT_FOUND = {"error": "User not found"}
AVATAR_PATH = re.compile(r"^/media/avatars/([A-Za-z0-9_-]+\.(?:jpg|png))$")


# Columns a request moves without changing the profile: the sign-in time and the change stamp.
BOOKKEEPING = ("last_login", "updated_at", "version")


def profile_row(app, user_id):
    """The stored user without its bookkeeping columns, for before/after comparisons."""
    row = stored_user(app, user_id)
    return row and {key: value for key, value in row.items() if key not in BOOKKEEPING}


def avatar_name(body):
    match = AVATAR_PATH.match(body["avatar"] or "")
    assert match, body["avatar"]
    return match.group(1)


def multipart(**fields):
    return {"data": fields, "content_type": "multipart/form-data"}


# Partial updates ------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["PUT", "PATCH"])
def test_json_update_of_every_writable_field_is_applied_and_echoed_in_the_000_shape(
    client, app, user, bearer, method
):
    changes = {
        "username": "new_name",
        "first_name": "Alice",
        "last_name": "Wonder",
        "number_phone": "5551234567",
    }

    response = client.open(f"/api/users/{user.id}/", method=method, headers=bearer(user), json=changes)

    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert list(body) == PROFILE_KEYS
    assert {k: body[k] for k in changes} == changes
    assert body["id"] == user.id and body["email"] == user.email and body["avatar"] is None
    stored = stored_user(app, user.id)
    assert (stored["username"], stored["first_name"], stored["last_name"], stored["phone"]) == (
        "new_name", "Alice", "Wonder", "5551234567",
    )
    assert stored["email"] == user.email


@pytest.mark.parametrize("method", ["PUT", "PATCH"])
def test_a_single_field_update_leaves_the_other_fields_untouched(client, app, make_user, bearer, method):
    account = make_user("solo@example.com", username="solo", first_name="Old", last_name="Name", phone="5550000")

    response = client.open(f"/api/users/{account.id}/", method=method, headers=bearer(account),
                           json={"last_name": "New"})

    assert response.status_code == 200
    body = response.get_json()
    assert (body["username"], body["first_name"], body["last_name"], body["number_phone"]) == (
        "solo", "Old", "New", "5550000",
    )
    stored = stored_user(app, account.id)
    assert (stored["username"], stored["first_name"], stored["last_name"], stored["phone"]) == (
        "solo", "Old", "New", "5550000",
    )


def test_email_update_is_applied_and_echoed(client, app, user, bearer):
    response = client.patch(f"/api/users/{user.id}/", headers=bearer(user), json={"email": "Renamed@Example.com"})

    assert response.status_code == 200, response.get_json()
    echoed = response.get_json()["email"]
    assert echoed.casefold() == "renamed@example.com"  # email-validator lower-cases the domain
    assert stored_user(app, user.id)["email"] == echoed


def test_email_change_of_a_verified_account_marks_it_unverified_and_mails_a_code(client, app, user, bearer):
    """An email change takes effect at once, the address becomes unverified, a code goes to it."""
    response = client.patch(f"/api/users/{user.id}/", headers=bearer(user), json={"email": "moved@example.com"})

    assert response.status_code == 200
    assert response.get_json()["email"] == "moved@example.com"
    stored = stored_user(app, user.id)
    assert stored["email"] == "moved@example.com"
    assert stored["email_verified"] is False
    assert "moved@example.com" in [mail["To"] for mail in written_mail(app)]


def test_empty_optional_text_is_stored_and_returned_as_null(client, app, make_user, bearer):
    account = make_user("blank@example.com", first_name="Alice", phone="5550000")

    response = client.patch(
        f"/api/users/{account.id}/", headers=bearer(account), json={"first_name": "", "number_phone": "  "}
    )

    assert response.status_code == 200
    assert (response.get_json()["first_name"], response.get_json()["number_phone"]) == (None, None)
    stored = stored_user(app, account.id)
    assert (stored["first_name"], stored["phone"]) == (None, None)


def test_names_are_trimmed(client, app, user, bearer):
    response = client.patch(f"/api/users/{user.id}/", headers=bearer(user), json={"first_name": "  Alice  "})

    assert response.status_code == 200
    assert response.get_json()["first_name"] == "Alice"
    assert stored_user(app, user.id)["first_name"] == "Alice"


def test_persian_names_are_stored_and_echoed(client, app, user, bearer):
    names = {"first_name": "علی", "last_name": "رضایی"}

    response = client.put(f"/api/users/{user.id}/", headers=bearer(user), json=names)

    assert response.status_code == 200
    assert {k: response.get_json()[k] for k in names} == names
    stored = stored_user(app, user.id)
    assert (stored["first_name"], stored["last_name"]) == ("علی", "رضایی")
    again = client.get(f"/api/users/{user.id}/", headers=bearer(user)).get_json()
    assert {k: again[k] for k in names} == names


def test_multipart_update_of_text_fields_and_avatar_is_applied(client, app, user, bearer):
    response = client.put(
        f"/api/users/{user.id}/",
        headers=bearer(user),
        **multipart(first_name="مریم", username="maryam", avatar=upload(image_bytes("JPEG"), "photo.jpg")),
    )

    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert list(body) == PROFILE_KEYS
    assert (body["first_name"], body["username"]) == ("مریم", "maryam")
    name = avatar_name(body)
    assert stored_avatars(app) == [name]
    stored = stored_user(app, user.id)
    assert (stored["first_name"], stored["username"], stored["avatar"]) == ("مریم", "maryam", name)


@pytest.mark.parametrize(
    ("fmt", "filename", "extension", "mode", "color"),
    [("JPEG", "a.jpg", ".jpg", "RGB", (10, 200, 10)), ("PNG", "a.png", ".png", "RGBA", (10, 20, 200, 128))],
)
def test_avatar_upload_stores_a_square_reencoded_image_served_under_media(
    client, app, user, bearer, fmt, filename, extension, mode, color
):
    data = image_bytes(fmt, size=(900, 600), mode=mode, color=color)

    response = client.patch(f"/api/users/{user.id}/", headers=bearer(user), **multipart(avatar=upload(data, filename)))

    assert response.status_code == 200, response.get_json()
    name = avatar_name(response.get_json())
    assert name.endswith(extension)
    path = Path(app.config["UPLOAD_FOLDER"]) / "avatars" / name
    with Image.open(path) as stored_image:
        assert stored_image.width == stored_image.height <= 512
    assert stored_user(app, user.id)["avatar"] == name
    media = client.get(response.get_json()["avatar"])
    try:
        assert media.status_code == 200
        assert media.mimetype == ("image/jpeg" if extension == ".jpg" else "image/png")
        assert media.headers["X-Content-Type-Options"] == "nosniff"
        assert media.get_data() == path.read_bytes()
    finally:
        media.close()


def test_avatar_format_is_decided_by_content_not_file_name(client, app, user, bearer):
    response = client.patch(
        f"/api/users/{user.id}/",
        headers=bearer(user),
        **multipart(avatar=upload(image_bytes("PNG"), "not-an-image.txt")),
    )

    assert response.status_code == 200, response.get_json()
    assert stored_user(app, user.id)["avatar"] == avatar_name(response.get_json())


def test_replaced_avatar_file_is_deleted(client, app, user, bearer):
    headers = bearer(user)
    first = client.patch(f"/api/users/{user.id}/", headers=headers, **multipart(avatar=upload(image_bytes("JPEG"))))
    old = avatar_name(first.get_json())
    assert stored_avatars(app) == [old]

    second = client.put(
        f"/api/users/{user.id}/", headers=headers, **multipart(avatar=upload(image_bytes("PNG"), "b.png"))
    )

    assert second.status_code == 200
    new = avatar_name(second.get_json())
    assert new != old
    assert stored_avatars(app) == [new]
    assert stored_user(app, user.id)["avatar"] == new


def test_two_users_uploading_the_same_image_get_different_files(client, app, make_user, bearer):
    one, two = make_user("one@example.com"), make_user("two@example.com")
    data = image_bytes("JPEG")

    a = client.patch(f"/api/users/{one.id}/", headers=bearer(one), **multipart(avatar=upload(data)))
    b = client.patch(f"/api/users/{two.id}/", headers=bearer(two), **multipart(avatar=upload(data)))

    assert avatar_name(a.get_json()) != avatar_name(b.get_json())
    assert len(stored_avatars(app)) == 2


def test_bad_avatar_is_a_400_on_avatar_leaving_no_file_and_applying_no_field(client, app, make_user, bearer):
    account = make_user("bad@example.com", first_name="Kept")

    response = client.patch(
        f"/api/users/{account.id}/",
        headers=bearer(account),
        **multipart(first_name="Changed", username="changed", avatar=upload(b"this is not an image at all", "a.jpg")),
    )

    assert response.status_code == 400
    body = response.get_json()
    assert list(body) == ["avatar"]
    assert isinstance(body["avatar"], list) and body["avatar"] and all(isinstance(m, str) for m in body["avatar"])
    assert stored_avatars(app) == []
    stored = stored_user(app, account.id)
    assert (stored["first_name"], stored["username"], stored["avatar"]) == ("Kept", None, None)


def test_truncated_image_is_a_400_on_avatar_and_keeps_the_previous_avatar(client, app, user, bearer):
    headers = bearer(user)
    kept = avatar_name(
        client.patch(f"/api/users/{user.id}/", headers=headers,
                     **multipart(avatar=upload(image_bytes("PNG"), "a.png"))).get_json()
    )
    truncated = image_bytes("JPEG")[:200]

    response = client.patch(f"/api/users/{user.id}/", headers=headers, **multipart(avatar=upload(truncated)))

    assert response.status_code == 400
    assert list(response.get_json()) == ["avatar"]
    assert stored_avatars(app) == [kept]
    assert stored_user(app, user.id)["avatar"] == kept


def test_avatar_sent_as_json_text_is_a_400_on_avatar(client, app, user, bearer):
    response = client.patch(f"/api/users/{user.id}/", headers=bearer(user), json={"avatar": "/media/avatars/x.jpg"})

    assert response.status_code == 400
    assert list(response.get_json()) == ["avatar"]
    assert stored_user(app, user.id)["avatar"] is None
    assert stored_avatars(app) == []


# Read-only and unknown fields -----------------------------------------------------------------


@pytest.mark.parametrize("method", ["PUT", "PATCH"])
def test_read_only_and_unknown_json_fields_are_ignored_and_not_applied(client, app, make_user, bearer, method):
    account = make_user("ro@example.com")
    other = make_user("other@example.com")
    before = profile_row(app, account.id)
    payload = {
        "id": other.id,
        "is_staff": True,
        "is_superuser": True,
        "is_active": False,
        "email_verified": False,
        "groups": [1, 2],
        "date_joined": "2000-01-01T00:00:00Z",
        "last_login": "2000-01-01T00:00:00Z",
        "password": "An0ther-Secret-pass!",
        "favourite_colour": "blue",
        "first_name": "Applied",
    }
    headers = bearer(account)

    response = client.open(f"/api/users/{account.id}/", method=method, headers=headers, json=payload)

    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert list(body) == PROFILE_KEYS
    assert body["id"] == account.id and body["first_name"] == "Applied"
    assert (body["is_staff"], body["is_superuser"], body["is_active"]) == (False, False, True)
    assert body["date_joined"] == before["date_joined"].isoformat() + "Z"
    after = profile_row(app, account.id)
    assert after == before | {"first_name": "Applied"}
    assert profile_row(app, other.id)["first_name"] is None
    assert client.get(f"/api/users/{account.id}/", headers=headers).get_json()["is_staff"] is False
    old_password = client.post("/api/token/", json={"email": account.email, "password": PASSWORD})
    new_password = client.post("/api/token/", json={"email": account.email, "password": "An0ther-Secret-pass!"})
    assert old_password.status_code == 200
    assert new_password.status_code == 401


def test_read_only_multipart_fields_are_ignored_and_not_applied(client, app, user, bearer):
    before = profile_row(app, user.id)

    response = client.patch(
        f"/api/users/{user.id}/",
        headers=bearer(user),
        **multipart(is_staff="true", is_superuser="true", is_active="false", email_verified="false", last_name="Form"),
    )

    assert response.status_code == 200
    assert (response.get_json()["is_staff"], response.get_json()["last_name"]) == (False, "Form")
    assert profile_row(app, user.id) == before | {"last_name": "Form"}


# Reading --------------------------------------------------------------------------------------


def test_owner_reads_their_profile_in_the_000_shape(client, app, make_user, bearer):
    account = make_user("reader@example.com", username="reader", first_name="Read", phone="5551112222")

    response = client.get(f"/api/users/{account.id}/", headers=bearer(account))

    assert response.status_code == 200
    body = response.get_json()
    assert list(body) == PROFILE_KEYS
    stored = stored_user(app, account.id)
    assert body["id"] == account.id
    assert (body["email"], body["username"], body["first_name"], body["number_phone"]) == (
        "reader@example.com", "reader", "Read", "5551112222",
    )
    assert body["date_joined"] == stored["date_joined"].isoformat() + "Z"


def test_staff_reads_another_users_profile_in_the_000_shape(client, make_user, bearer):
    target = make_user("target@example.com", first_name="Target")
    staff = make_user("staff@example.com", staff=True)

    response = client.get(f"/api/users/{target.id}/", headers=bearer(staff))

    assert response.status_code == 200
    body = response.get_json()
    assert list(body) == PROFILE_KEYS
    assert (body["id"], body["email"], body["first_name"]) == (target.id, "target@example.com", "Target")


def test_get_works_with_an_api_key_too(client, user, token_auth):
    response = client.get(f"/api/users/{user.id}/", headers=token_auth(user))

    assert response.status_code == 200
    assert response.get_json()["id"] == user.id


def test_non_owner_non_staff_read_is_a_403(client, make_user, bearer):
    target = make_user("target@example.com")
    other = make_user("other@example.com")

    response = client.get(f"/api/users/{target.id}/", headers=bearer(other))

    assert response.status_code == 403
    assert response.get_json() == NO_PERMISSION


def test_missing_credentials_on_users_id_is_a_401(client, user):
    response = client.get(f"/api/users/{user.id}/")

    assert response.status_code == 401
    assert response.get_json() == {"detail": "Authentication credentials were not provided."}
    assert response.headers.get("WWW-Authenticate")


# Writes and deletes by someone else -----------------------------------------------------------


@pytest.mark.parametrize("staff", [False, True], ids=["other-user", "staff"])
@pytest.mark.parametrize("method", ["PUT", "PATCH"])
def test_update_of_another_users_profile_is_a_403_and_not_applied(client, app, make_user, bearer, method, staff):
    target = make_user("target@example.com", first_name="Original")
    actor = make_user("actor@example.com", staff=staff, superuser=staff)

    response = client.open(
        f"/api/users/{target.id}/", method=method, headers=bearer(actor), json={"first_name": "Hijacked"}
    )

    assert response.status_code == 403
    assert response.get_json() == NO_PERMISSION
    assert stored_user(app, target.id)["first_name"] == "Original"
    assert stored_user(app, actor.id)["first_name"] is None


def test_multipart_avatar_upload_to_another_users_profile_is_a_403_leaving_no_file(client, app, make_user, bearer):
    target = make_user("target@example.com")
    staff = make_user("staff@example.com", staff=True)

    response = client.patch(
        f"/api/users/{target.id}/", headers=bearer(staff), **multipart(avatar=upload(image_bytes("JPEG")))
    )

    assert response.status_code == 403
    assert response.get_json() == NO_PERMISSION
    assert stored_avatars(app) == []
    assert stored_user(app, target.id)["avatar"] is None


@pytest.mark.parametrize("staff", [False, True], ids=["other-user", "staff"])
def test_delete_of_another_users_account_is_a_403_and_the_account_stays(client, app, make_user, bearer, staff):
    target = make_user("target@example.com")
    actor = make_user("actor@example.com", staff=staff, superuser=staff)

    response = client.delete(f"/api/users/{target.id}/", headers=bearer(actor))

    assert response.status_code == 403
    assert response.get_json() == NO_PERMISSION
    assert stored_user(app, target.id) is not None


# Unknown ids ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "user_id",
    ["12345", "0", "-1", "-99999999999999999999", str(2**31), str(2**63), "99999999999999999999"],
)
@pytest.mark.parametrize("method", ["GET", "PUT", "PATCH", "DELETE"])
def test_id_that_is_not_a_stored_user_is_a_404_user_not_found(client, app, user, bearer, method, user_id):
    response = client.open(f"/api/users/{user_id}/", method=method, headers=bearer(user), json={"first_name": "X"})

    assert response.status_code == 404
    assert response.get_json() == NOT_FOUND
    assert stored_user(app, user.id)["first_name"] is None


def test_id_of_a_deleted_user_is_a_404_for_staff(client, app, make_user, bearer):
    gone = make_user("gone@example.com")
    staff = make_user("staff@example.com", staff=True)
    assert client.delete(f"/api/users/{gone.id}/", headers=bearer(gone)).status_code == 204

    response = client.get(f"/api/users/{gone.id}/", headers=bearer(staff))

    assert response.status_code == 404
    assert response.get_json() == NOT_FOUND


# Delete ---------------------------------------------------------------------------------------


def test_owner_delete_is_a_204_removing_the_row_and_the_avatar_file(client, app, user, bearer):
    headers = bearer(user)
    name = avatar_name(
        client.patch(f"/api/users/{user.id}/", headers=headers,
                     **multipart(avatar=upload(image_bytes("JPEG")))).get_json()
    )
    assert stored_avatars(app) == [name]

    response = client.delete(f"/api/users/{user.id}/", headers=headers)

    assert response.status_code == 204
    assert response.get_data() == b""
    assert stored_user(app, user.id) is None
    assert stored_avatars(app) == []
    media = client.get(f"/media/avatars/{name}")
    try:
        assert media.status_code == 404
    finally:
        media.close()


def test_owner_delete_without_avatar_is_a_204_and_the_old_password_no_longer_signs_in(client, app, user, bearer):
    response = client.delete(f"/api/users/{user.id}/", headers=bearer(user))

    assert response.status_code == 204
    assert stored_user(app, user.id) is None
    sign_in = client.post("/api/token/", json={"email": user.email, "password": PASSWORD})
    assert sign_in.status_code == 401
    assert sign_in.get_json() == {"detail": "No active account found with the given credentials"}


# Validation -----------------------------------------------------------------------------------


def test_number_phone_longer_than_10_chars_is_a_400_on_number_phone(client, app, user, bearer):
    response = client.patch(
        f"/api/users/{user.id}/", headers=bearer(user), json={"number_phone": "+1 555 0123", "first_name": "No"}
    )

    assert response.status_code == 400
    body = response.get_json()
    assert list(body) == ["number_phone"]
    assert body["number_phone"] == ["Ensure this field has no more than 10 characters."]
    stored = stored_user(app, user.id)
    assert (stored["phone"], stored["first_name"]) == (None, None)


def test_number_phone_of_exactly_10_chars_is_accepted_and_echoed_as_entered(client, app, user, bearer):
    response = client.patch(f"/api/users/{user.id}/", headers=bearer(user), json={"number_phone": "(555) 0124"})

    assert response.status_code == 200, response.get_json()
    assert response.get_json()["number_phone"] == "(555) 0124"
    assert stored_user(app, user.id)["phone"] == "(555) 0124"


def test_number_phone_length_limit_applies_after_trimming(client, app, user, bearer):
    """Input is trimmed (as DRF's CharField does before max_length): 10 chars plus padding fit."""
    response = client.patch(f"/api/users/{user.id}/", headers=bearer(user), json={"number_phone": "  5551234567 "})

    assert response.status_code == 200, response.get_json()
    assert response.get_json()["number_phone"] == "5551234567"
    assert stored_user(app, user.id)["phone"] == "5551234567"


def test_invalid_number_phone_is_a_400_on_number_phone(client, app, user, bearer):
    response = client.patch(f"/api/users/{user.id}/", headers=bearer(user), json={"number_phone": "call-me"})

    assert response.status_code == 400
    assert list(response.get_json()) == ["number_phone"]
    assert stored_user(app, user.id)["phone"] is None


@pytest.mark.parametrize(
    ("field", "mine", "theirs", "message"),
    [
        ("email", "Taken@Example.COM", "taken@example.com", "A user with that email already exists."),
        ("username", "ALICE", "alice", "A user with that username already exists."),
        ("number_phone", "555-0124", "(555) 0124", "A user with that phone number already exists."),
    ],
)
def test_uniqueness_conflict_is_a_400_on_that_field(client, app, make_user, bearer, field, mine, theirs, message):
    attribute = "phone" if field == "number_phone" else field
    if field == "email":
        make_user(theirs)
    else:
        make_user("taken@example.com", **{attribute: theirs})
    account = make_user("me@example.com")
    before = profile_row(app, account.id)

    response = client.patch(f"/api/users/{account.id}/", headers=bearer(account), json={field: mine, "last_name": "X"})

    assert response.status_code == 400
    assert response.get_json() == {field: [message]}
    assert profile_row(app, account.id) == before


def test_keeping_ones_own_email_in_another_case_is_not_a_conflict(client, app, user, bearer):
    response = client.patch(f"/api/users/{user.id}/", headers=bearer(user), json={"email": user.email.upper()})

    assert response.status_code == 200
    assert stored_user(app, user.id)["email"].casefold() == user.email.casefold()


@pytest.mark.parametrize("value", ["Ali\x00ce", "Ali\x07ce", "Ali\nce", "Ali\x1bce", "Ali\x7fce"])
def test_control_characters_in_a_name_are_a_400(client, app, user, bearer, value):
    response = client.patch(f"/api/users/{user.id}/", headers=bearer(user),
                            json={"first_name": value, "last_name": "OK"})

    assert response.status_code == 400
    assert response.get_json() == {"first_name": ["Control characters are not allowed."]}
    stored = stored_user(app, user.id)
    assert (stored["first_name"], stored["last_name"]) == (None, None)


def test_control_characters_in_a_multipart_name_are_a_400(client, app, user, bearer):
    response = client.patch(f"/api/users/{user.id}/", headers=bearer(user), **multipart(last_name="Wo\x00nder"))

    assert response.status_code == 400
    assert response.get_json() == {"last_name": ["Control characters are not allowed."]}
    assert stored_user(app, user.id)["last_name"] is None


def test_name_over_200_chars_is_a_400(client, app, user, bearer):
    response = client.patch(f"/api/users/{user.id}/", headers=bearer(user), json={"last_name": "x" * 201})

    assert response.status_code == 400
    assert response.get_json() == {"last_name": ["Ensure this field has no more than 200 characters."]}
    assert stored_user(app, user.id)["last_name"] is None


def test_invalid_email_and_username_are_400s_on_their_fields(client, app, user, bearer):
    response = client.patch(
        f"/api/users/{user.id}/", headers=bearer(user), json={"email": "not-an-email", "username": "bad name!"}
    )

    assert response.status_code == 400
    body = response.get_json()
    assert set(body) == {"email", "username"}
    assert body["email"] == ["Enter a valid email address."]
    stored = stored_user(app, user.id)
    assert (stored["email"], stored["username"]) == (user.email, None)


def test_non_string_field_value_is_a_400_on_that_field(client, app, user, bearer):
    response = client.patch(f"/api/users/{user.id}/", headers=bearer(user), json={"first_name": 42})

    assert response.status_code == 400
    assert list(response.get_json()) == ["first_name"]
    assert stored_user(app, user.id)["first_name"] is None


@pytest.mark.parametrize("document", ["[1, 2]", '"text"', "42", "null"])
def test_json_that_is_not_an_object_is_a_400(client, app, user, bearer, document):
    response = client.patch(
        f"/api/users/{user.id}/", headers=bearer(user), data=document, content_type="application/json"
    )

    assert response.status_code == 400
    body = response.get_json()
    assert list(body) == ["non_field_errors"]
    assert body["non_field_errors"][0].startswith("Invalid data. Expected a dictionary")


def test_malformed_json_is_a_400_json_body(client, app, user, bearer):
    response = client.patch(
        f"/api/users/{user.id}/", headers=bearer(user), data='{"first_name": "A",', content_type="application/json"
    )

    assert response.status_code == 400
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert list(body) == ["detail"]
    assert body["detail"].startswith("JSON parse error")
    assert stored_user(app, user.id)["first_name"] is None


def test_unsupported_content_type_with_a_body_is_a_415_json(client, app, user, bearer):
    response = client.patch(
        f"/api/users/{user.id}/", headers=bearer(user), data="first_name=Alice", content_type="text/plain"
    )

    assert response.status_code == 415
    assert response.get_json() == {"detail": 'Unsupported media type "text/plain" in request.'}
    assert stored_user(app, user.id)["first_name"] is None


def test_request_larger_than_max_content_length_is_a_413_json_leaving_no_file(client, app, user, bearer):
    too_big = b"\xff" * (app.config["MAX_CONTENT_LENGTH"] + 1)

    response = client.patch(
        f"/api/users/{user.id}/", headers=bearer(user), **multipart(first_name="Big", avatar=upload(too_big))
    )
    # The test client spools a body this large to a temporary file and, without follow_redirects, never closes it.
    response.request.input_stream.close()

    assert response.status_code == 413
    assert response.get_json() == {"detail": "Request body is too large."}
    assert stored_avatars(app) == []
    assert stored_user(app, user.id)["first_name"] is None


def test_json_body_larger_than_max_content_length_is_a_413_json(client, app, user, bearer):
    app.config["MAX_CONTENT_LENGTH"] = 1024
    body = '{"first_name": "' + "a" * 2048 + '"}'

    response = client.patch(f"/api/users/{user.id}/", headers=bearer(user), data=body, content_type="application/json")

    assert response.status_code == 413
    assert response.get_json() == {"detail": "Request body is too large."}
    assert stored_user(app, user.id)["first_name"] is None


def test_avatar_over_the_avatar_byte_limit_is_a_400_on_avatar(client, app, user, bearer):
    app.config["AVATAR_MAX_BYTES"] = 2048
    data = _noisy_png()
    assert len(data) > 2048

    response = client.patch(f"/api/users/{user.id}/", headers=bearer(user), **multipart(avatar=upload(data, "a.png")))

    assert response.status_code == 400
    assert list(response.get_json()) == ["avatar"]
    assert stored_avatars(app) == []


def _noisy_png() -> bytes:
    image = Image.frombytes("RGB", (64, 64), random.Random(0).randbytes(64 * 64 * 3))
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


# Trailing slash -------------------------------------------------------------------------------


def test_patch_without_trailing_slash_is_a_308_and_the_follow_up_works(client, app, user, bearer):
    headers = bearer(user)

    redirect = client.patch(f"/api/users/{user.id}", headers=headers, json={"first_name": "Slash"})

    assert redirect.status_code == 308
    assert redirect.headers["Location"].endswith(f"/api/users/{user.id}/")
    assert stored_user(app, user.id)["first_name"] is None
    follow = client.patch(redirect.headers["Location"], headers=headers, json={"first_name": "Slash"})
    assert follow.status_code == 200
    assert follow.get_json()["first_name"] == "Slash"
    assert stored_user(app, user.id)["first_name"] == "Slash"


def test_following_the_308_redirect_automatically_keeps_the_body(client, app, user, bearer):
    response = client.patch(
        f"/api/users/{user.id}", headers=bearer(user), json={"last_name": "Kept"}, follow_redirects=True
    )

    assert response.status_code == 200
    assert [r.status_code for r in response.history] == [308]
    assert response.get_json()["last_name"] == "Kept"
    assert stored_user(app, user.id)["last_name"] == "Kept"


def test_get_without_trailing_slash_is_a_301(client, user, bearer):
    response = client.get(f"/api/users/{user.id}", headers=bearer(user))

    assert response.status_code == 301
    assert response.headers["Location"].endswith(f"/api/users/{user.id}/")


def test_unsupported_method_is_a_405_json(client, user, bearer):
    response = client.post(f"/api/users/{user.id}/", headers=bearer(user), json={})

    assert response.status_code == 405
    assert response.get_json() == {"detail": 'Method "POST" not allowed.'}
