"""Document 001 — ``GET /api/users/me/``: the signed-in user's profile in the 001 shape."""

import re
from pathlib import Path

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.models import Group, User
from portal.services.audit import SYSTEM
from portal.services.people import accounts, groups
from portal.transactions import unit_of_work
from tests.api.conftest import ApiSession
from tests.conftest import image_bytes, stored_user, upload

ME = "/api/users/me/"
NOT_PROVIDED = "Authentication credentials were not provided."
SHAPE_001 = {
    "id", "username", "mobile_number", "email", "avatar", "first_name", "last_name", "full_name",
    "gender", "is_profile_completed", "groups", "last_login", "created_at",
}
GROUP_SHAPE = {"id", "name", "notes", "users_count", "created_at", "updated_at"}
ISO_Z = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z$")


def cli_token(runner, email):
    result = runner.invoke(args=["create-token", email])
    assert result.exit_code == 0, result.output
    return result.output.strip().splitlines()[-1]


def set_avatar(app, account, data=None):
    """Give the account a stored avatar through the service every door uses; return its file name."""
    with app.app_context(), unit_of_work():
        user = db.session.get(User, account.id)
        accounts.update_profile(user, {"avatar": upload(data or image_bytes())[0]}, SYSTEM)
        return user.avatar


def db_user(app, user_id):
    """The stored user with timestamps written as the API writes them."""
    row = stored_user(app, user_id)
    return row and row | {
        key: row[key].isoformat() + "Z" if row[key] else None for key in ("date_joined", "last_login")
    }


# The document's example --------------------------------------------------------------------


def test_document_example_with_token_header_returns_the_001_shape_with_every_value(app, client, runner, make_user):
    account = make_user(
        "jackdonavan@hotmail.com", username="MasterAdmin", phone="09123456798",
        first_name="بهروز", last_name="قربانی", gender="male",
    )
    result = runner.invoke(args=["create-group", "Administrators",
                                 "--notes", "All system administrators with full permissions"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(args=["add-to-group", "jackdonavan@hotmail.com", "Administrators"])
    assert result.exit_code == 0, result.output
    avatar_name = set_avatar(app, account)
    key = cli_token(runner, "jackdonavan@hotmail.com")

    api = ApiSession(client)
    api.headers.update({"Authorization": f"Token {key}"})
    response = api.get("http://localhost/api/users/me/")

    assert response.status_code == 200
    body = response.json()
    assert set(body) == SHAPE_001
    row = db_user(app, account.id)
    with app.app_context(), unit_of_work():
        group = db.session.scalar(select(Group).where(Group.name == "Administrators"))
        group_row = {
            "id": group.id,
            "created_at": group.created_at.isoformat() + "Z",
            "updated_at": group.updated_at.isoformat() + "Z",
        }
    assert body == {
        "id": account.id,
        "username": "MasterAdmin",
        "mobile_number": "09123456798",
        "email": "jackdonavan@hotmail.com",
        "avatar": f"http://localhost/media/avatars/{avatar_name}",
        "first_name": "بهروز",
        "last_name": "قربانی",
        "full_name": "بهروز قربانی",
        "gender": "male",
        "is_profile_completed": True,
        "groups": [
            {
                "id": group_row["id"],
                "name": "Administrators",
                "notes": "All system administrators with full permissions",
                "users_count": 1,
                "created_at": group_row["created_at"],
                "updated_at": group_row["updated_at"],
            }
        ],
        "last_login": row["last_login"],
        "created_at": row["date_joined"],
    }
    assert ISO_Z.match(body["created_at"]) and ISO_Z.match(body["last_login"])
    assert ISO_Z.match(body["groups"][0]["created_at"]) and ISO_Z.match(body["groups"][0]["updated_at"])


def test_cli_create_token_counts_as_credential_issue_and_sets_last_login(app, client, runner, user):
    assert db_user(app, user.id)["last_login"] is None
    key = cli_token(runner, user.email)

    response = client.get(ME, headers={"Authorization": f"Token {key}"})

    assert response.status_code == 200
    last_login = response.get_json()["last_login"]
    assert last_login is not None and ISO_Z.match(last_login)
    assert last_login == db_user(app, user.id)["last_login"]


def test_bearer_access_token_gets_the_same_profile_as_a_token_key(app, client, make_user, bearer, token_auth):
    account = make_user(username="ada", first_name="Ada", last_name="Lovelace")
    by_key = client.get(ME, headers=token_auth(account))
    by_jwt = client.get(ME, headers=bearer(account))

    assert by_key.status_code == 200 and by_jwt.status_code == 200
    key_body, jwt_body = by_key.get_json(), by_jwt.get_json()
    assert set(jwt_body) == SHAPE_001
    assert jwt_body["id"] == account.id and jwt_body["username"] == "ada" and jwt_body["full_name"] == "Ada Lovelace"
    # only last_login moves between the two sign-ins
    key_body.pop("last_login"), jwt_body.pop("last_login")
    assert jwt_body == key_body


def test_plain_user_without_staff_rights_reads_their_own_profile(app, client, make_user, token_auth):
    account = make_user("plain@example.com")

    response = client.get(ME, headers=token_auth(account))

    assert response.status_code == 200
    assert response.get_json()["id"] == account.id
    assert response.get_json()["email"] == "plain@example.com"


# Unset values and derived fields ------------------------------------------------------------


def test_a_bare_account_has_every_field_present_with_null_for_unset_values(app, client, user, token_auth):
    response = client.get(ME, headers=token_auth(user))

    assert response.status_code == 200
    body = response.get_json()
    assert set(body) == SHAPE_001
    row = db_user(app, user.id)
    assert body == {
        "id": user.id,
        "username": None,
        "mobile_number": None,
        "email": user.email,
        "avatar": None,
        "first_name": None,
        "last_name": None,
        "full_name": None,
        "gender": None,
        "is_profile_completed": False,
        "groups": [],
        "last_login": row["last_login"],
        "created_at": row["date_joined"],
    }
    assert ISO_Z.match(body["created_at"])


@pytest.mark.parametrize(
    "names, full_name",
    [
        ({"first_name": "Ada", "last_name": "Lovelace"}, "Ada Lovelace"),
        ({"first_name": "Ada"}, "Ada"),
        ({"last_name": "Lovelace"}, "Lovelace"),
        ({}, None),
        ({"first_name": "", "last_name": ""}, None),
    ],
    ids=["both", "first-only", "last-only", "none", "empty-strings"],
)
def test_full_name_joins_the_set_names_with_one_space_or_is_null(app, client, make_user, token_auth, names, full_name):
    account = make_user(**names)

    response = client.get(ME, headers=token_auth(account))

    assert response.status_code == 200
    body = response.get_json()
    assert body["full_name"] == full_name
    assert body["first_name"] == (names.get("first_name") or None)
    assert body["last_name"] == (names.get("last_name") or None)


COMPLETE = {"first_name": "Ada", "last_name": "Lovelace", "phone": "+44 20 7946 0000", "gender": "female"}


@pytest.mark.parametrize("missing", [None, "first_name", "last_name", "phone", "gender"])
def test_is_profile_completed_only_when_first_last_phone_and_gender_are_all_set(
    app, client, make_user, token_auth, missing
):
    profile = {k: v for k, v in COMPLETE.items() if k != missing}
    account = make_user(**profile)

    response = client.get(ME, headers=token_auth(account))

    assert response.status_code == 200
    body = response.get_json()
    assert body["is_profile_completed"] is (missing is None)
    assert body["mobile_number"] == profile.get("phone")
    assert body["gender"] == profile.get("gender")


def test_persian_names_round_trip_through_patch_and_get(app, client, user, token_auth):
    headers = token_auth(user)

    patched = client.patch(ME, json={"first_name": "بهروز", "last_name": "قربانی"}, headers=headers)
    response = client.get(ME, headers=headers)

    assert patched.status_code == 200
    assert response.status_code == 200
    body = response.get_json()
    assert (body["first_name"], body["last_name"], body["full_name"]) == ("بهروز", "قربانی", "بهروز قربانی")
    row = db_user(app, user.id)
    assert (row["first_name"], row["last_name"]) == ("بهروز", "قربانی")


# Groups -------------------------------------------------------------------------------------


def test_groups_are_objects_with_current_member_counts(app, client, runner, make_user, token_auth):
    me = make_user("me@example.com")
    make_user("second@example.com")
    make_user("third@example.com")
    for args in (
        ["create-group", "Editors", "--notes", "People who edit"],
        ["create-group", "Readers"],
        ["create-group", "Unrelated"],
        ["add-to-group", "me@example.com", "Editors"],
        ["add-to-group", "second@example.com", "Editors"],
        ["add-to-group", "third@example.com", "Editors"],
        ["add-to-group", "me@example.com", "Readers"],
        ["add-to-group", "second@example.com", "Unrelated"],
    ):
        result = runner.invoke(args=args)
        assert result.exit_code == 0, result.output
    with app.app_context(), unit_of_work():  # one member leaves again: the count is the current one
        editors = groups.find_group("Editors")
        third = db.session.scalar(select(User).where(User.email == "third@example.com"))
        groups.set_membership(third, editors, False, SYSTEM)
        ids = {g.name: g.id for g in db.session.scalars(select(Group))}

    response = client.get(ME, headers=token_auth(me))

    assert response.status_code == 200
    listed = response.get_json()["groups"]
    assert all(set(group) == GROUP_SHAPE for group in listed)
    assert all(ISO_Z.match(group["created_at"]) and ISO_Z.match(group["updated_at"]) for group in listed)
    by_name = {group["name"]: group for group in listed}
    assert set(by_name) == {"Editors", "Readers"}
    assert by_name["Editors"]["id"] == ids["Editors"]
    assert by_name["Editors"]["notes"] == "People who edit"
    assert by_name["Editors"]["users_count"] == 2
    assert by_name["Readers"]["id"] == ids["Readers"]
    assert by_name["Readers"]["notes"] is None
    assert by_name["Readers"]["users_count"] == 1


# Avatar URL ---------------------------------------------------------------------------------


def test_avatar_is_an_absolute_url_on_the_trusted_request_host_and_the_file_exists(app, client, user, token_auth):
    name = set_avatar(app, user)

    response = client.get(ME, headers=token_auth(user))

    assert response.status_code == 200
    assert response.get_json()["avatar"] == f"http://localhost/media/avatars/{name}"
    assert (Path(app.config["UPLOAD_FOLDER"]) / "avatars" / name).is_file()


def test_avatar_url_is_built_from_public_base_url_when_configured(app, client, user, token_auth):
    name = set_avatar(app, user)
    app.config["PUBLIC_BASE_URL"] = "https://accounts.example.com"

    response = client.get(ME, headers=token_auth(user))

    assert response.status_code == 200
    assert response.get_json()["avatar"] == f"https://accounts.example.com/media/avatars/{name}"


def test_public_base_url_wins_over_the_request_host(app, client, user, token_auth):
    name = set_avatar(app, user)
    app.config["PUBLIC_BASE_URL"] = "https://accounts.example.com/"

    response = client.get(ME, headers={**token_auth(user), "Host": "127.0.0.1"})

    assert response.status_code == 200
    assert response.get_json()["avatar"] == f"https://accounts.example.com/media/avatars/{name}"


def test_untrusted_host_header_is_refused_and_never_yields_a_url_on_that_host(app, client, user, token_auth):
    set_avatar(app, user)
    headers = {**token_auth(user), "Host": "evil.example"}

    response = client.get(ME, headers=headers)

    assert response.status_code == 400
    assert "//evil.example" not in response.get_data(as_text=True)
    assert response.is_json and set(response.get_json()) == {"detail"}


# Trailing slash -----------------------------------------------------------------------------


def test_get_without_trailing_slash_redirects_with_301_to_the_slashed_url(app, client, user, token_auth):
    headers = token_auth(user)

    response = client.get("/api/users/me", headers=headers)
    followed = client.get("/api/users/me", headers=headers, follow_redirects=True)

    assert response.status_code == 301
    assert response.headers["Location"].endswith("/api/users/me/")
    assert followed.status_code == 200
    assert followed.get_json()["id"] == user.id


# Authentication failures --------------------------------------------------------------------


def test_missing_credentials_answer_401_not_provided(client, user):
    response = client.get(ME)

    assert response.status_code == 401
    assert response.get_json() == {"detail": NOT_PROVIDED}
    assert response.headers.get("WWW-Authenticate")


def test_unknown_token_key_answers_401_with_a_reason(client, user, token_auth):
    token_auth(user)  # a real key exists, just not this one

    response = client.get(ME, headers={"Authorization": "Token f4e75eab6e0f663a972d145478d6fc4b81762070"})

    assert response.status_code == 401
    body = response.get_json()
    assert set(body) == {"detail"} and isinstance(body["detail"], str) and body["detail"]
    assert body["detail"] != NOT_PROVIDED
    assert response.headers.get("WWW-Authenticate")


def test_deactivated_users_key_answers_401(app, client, runner, user, api_key):
    key = api_key(user)
    assert client.get(ME, headers={"Authorization": f"Token {key}"}).status_code == 200

    result = runner.invoke(args=["deactivate", user.email])
    response = client.get(ME, headers={"Authorization": f"Token {key}"})

    assert result.exit_code == 0, result.output
    assert db_user(app, user.id)["is_active"] is False
    assert response.status_code == 401
    assert set(response.get_json()) == {"detail"}
    assert "id" not in response.get_json()


def test_persian_names_go_out_as_utf8_text_not_escapes(client, make_user, token_auth):
    account = make_user("persian@example.com", first_name="بهروز", last_name="قربانی")

    response = client.get("/api/users/me/", headers=token_auth(account))

    assert response.status_code == 200
    assert "بهروز قربانی".encode() in response.data
    assert b"\\u" not in response.data
    assert response.get_json()["full_name"] == "بهروز قربانی"
