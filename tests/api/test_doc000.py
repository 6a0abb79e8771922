"""Document 000: ``POST /api/profile/`` (GET accepted too) returns the caller's profile in the 000 shape."""

import re
from datetime import timedelta

from flask_jwt_extended import create_access_token

from portal.extensions import db
from portal.models import User
from tests.conftest import image_bytes, stored_avatars, upload

PROFILE_KEYS = [
    "id", "username", "email", "first_name", "last_name", "number_phone", "avatar",
    "date_joined", "last_login", "is_active", "is_staff", "is_superuser",
]
ISO_UTC_Z = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z$")
AVATAR_PATH = re.compile(r"^/media/avatars/[A-Za-z0-9_-]+\.(jpg|png)$")
NOT_PROVIDED = {"detail": "Authentication credentials were not provided."}
USER_GONE = {"error": "The user cannot be found in the database."}


def test_post_profile_returns_exactly_the_000_fields_with_the_stored_values(client, app, make_user, bearer):
    account = make_user(
        "alice@example.com", username="alice_wonder", first_name="Alice", last_name="Wonder", phone="5551234567"
    )

    response = client.post("/api/profile/", headers=bearer(account))

    assert response.status_code == 200
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert list(body) == PROFILE_KEYS
    with app.app_context():
        row = db.session.get(User, account.id)
        assert body == {
            "id": row.id,
            "username": "alice_wonder",
            "email": "alice@example.com",
            "first_name": "Alice",
            "last_name": "Wonder",
            "number_phone": "5551234567",
            "avatar": None,
            "date_joined": row.date_joined.isoformat() + "Z",
            "last_login": row.last_login.isoformat() + "Z",
            "is_active": True,
            "is_staff": False,
            "is_superuser": False,
        }
    assert ISO_UTC_Z.match(body["date_joined"])
    assert ISO_UTC_Z.match(body["last_login"])


def test_profile_of_a_bare_account_has_every_field_present_with_nulls_for_unset_values(client, make_user, bearer):
    account = make_user("bare@example.com")

    body = client.post("/api/profile/", headers=bearer(account)).get_json()

    assert list(body) == PROFILE_KEYS
    assert body["email"] == "bare@example.com"
    for field in ("username", "first_name", "last_name", "number_phone", "avatar"):
        assert body[field] is None, field


def test_profile_reports_staff_and_superuser_flags(client, make_user, bearer):
    account = make_user("root@example.com", superuser=True)

    body = client.post("/api/profile/", headers=bearer(account)).get_json()

    assert (body["is_staff"], body["is_superuser"], body["is_active"]) == (True, True, True)


def test_replaying_the_documents_curl_example_with_bearer_and_json_content_type_and_no_body_works(
    client, user, jwt_pair
):
    access = jwt_pair(user)["access"]

    response = client.open(
        "/api/profile/",
        method="POST",
        headers={"Authorization": f"Bearer {access}", "Content-Type": "application/json"},
    )

    assert response.status_code == 200
    body = response.get_json()
    assert list(body) == PROFILE_KEYS
    assert (body["id"], body["email"]) == (user.id, user.email)


def test_get_on_profile_is_accepted_and_answers_like_post(client, user, bearer):
    headers = bearer(user)

    got = client.get("/api/profile/", headers=headers)
    posted = client.post("/api/profile/", headers=headers)

    assert got.status_code == 200
    assert got.get_json() == posted.get_json()
    assert got.get_json()["id"] == user.id


def test_profile_accepts_an_api_key_with_the_token_scheme(client, user, token_auth):
    response = client.post("/api/profile/", headers=token_auth(user))

    assert response.status_code == 200
    body = response.get_json()
    assert list(body) == PROFILE_KEYS
    assert (body["id"], body["email"]) == (user.id, user.email)


def test_profile_avatar_is_a_site_relative_media_path_that_serves_the_image(client, app, user, bearer):
    headers = bearer(user)
    put = client.patch(
        f"/api/users/{user.id}/", headers=headers,
        data={"avatar": upload(image_bytes("PNG"), "me.png")}, content_type="multipart/form-data",
    )
    assert put.status_code == 200, put.get_json()

    body = client.post("/api/profile/", headers=headers).get_json()

    assert AVATAR_PATH.match(body["avatar"]), body["avatar"]
    name = body["avatar"].rsplit("/", 1)[1]
    assert stored_avatars(app) == [name]
    with app.app_context():
        assert db.session.get(User, user.id).avatar == name
    media = client.get(body["avatar"])
    try:
        assert media.status_code == 200
        assert media.mimetype in ("image/jpeg", "image/png")
    finally:
        media.close()


def test_missing_credentials_answer_401_not_provided_with_www_authenticate(client, user):
    response = client.post("/api/profile/", headers={"Content-Type": "application/json"})

    assert response.status_code == 401
    assert response.get_json() == NOT_PROVIDED
    assert response.headers.get("WWW-Authenticate")


def test_get_without_credentials_also_answers_401_not_provided(client, user):
    response = client.get("/api/profile/")

    assert response.status_code == 401
    assert response.get_json() == NOT_PROVIDED
    assert response.headers.get("WWW-Authenticate")


def _assert_rejected(response):
    assert response.status_code == 401
    body = response.get_json()
    assert list(body) == ["detail"] and isinstance(body["detail"], str) and body["detail"]
    assert response.headers.get("WWW-Authenticate")
    return body["detail"]


def test_malformed_bearer_token_is_a_401_with_a_reason(client, user):
    for value in ("Bearer not-a-jwt", "Bearer a.b.c", "Bearer ", "Bearer two words", "Token "):
        response = client.post("/api/profile/", headers={"Authorization": value})
        detail = _assert_rejected(response)
        assert "Traceback" not in detail, value


def test_unknown_api_key_is_a_401(client, user):
    detail = _assert_rejected(client.post("/api/profile/", headers={"Authorization": "Token " + "0" * 40}))

    assert detail == "Invalid token."


def test_expired_access_token_is_a_401_token_has_expired(client, app, user, jwt_pair):
    jwt_pair(user)  # a real sign-in exists; the token below is still refused on its expiry alone
    with app.app_context():
        token = create_access_token(identity=str(user.id), expires_delta=timedelta(seconds=-10))

    response = client.post("/api/profile/", headers={"Authorization": f"Bearer {token}"})

    assert _assert_rejected(response) == "Token has expired."


def test_token_signed_with_another_key_is_a_401(client, app, user):
    app.config["JWT_SECRET_KEY"] = "some-other-secret-key-that-is-long-enough"
    with app.app_context():
        forged = create_access_token(identity=str(user.id))
    app.config["JWT_SECRET_KEY"] = app.config["SECRET_KEY"]

    response = client.post("/api/profile/", headers={"Authorization": f"Bearer {forged}"})

    _assert_rejected(response)


def test_refresh_token_is_not_accepted_as_an_access_token(client, user, jwt_pair):
    refresh = jwt_pair(user)["refresh"]

    response = client.post("/api/profile/", headers={"Authorization": f"Bearer {refresh}"})

    _assert_rejected(response)


def test_access_token_revoked_by_logout_is_a_401(client, user, jwt_pair):
    pair = jwt_pair(user)
    headers = {"Authorization": f"Bearer {pair['access']}"}
    assert client.post("/api/logout/", headers=headers, json={"refresh": pair["refresh"]}).status_code == 204

    response = client.post("/api/profile/", headers=headers)

    assert _assert_rejected(response) == "Token has been revoked."


def test_api_key_revoked_by_token_logout_is_a_401(client, user, token_auth):
    headers = token_auth(user)
    assert client.post("/api/auth/token/logout/", headers=headers).status_code == 204

    response = client.post("/api/profile/", headers=headers)

    _assert_rejected(response)


def test_credentials_of_a_deactivated_user_are_a_401(client, app, user, bearer):
    headers = bearer(user)
    with app.app_context():
        db.session.get(User, user.id).is_active = False
        db.session.commit()

    response = client.post("/api/profile/", headers=headers)

    _assert_rejected(response)


def test_valid_token_of_a_deleted_user_is_a_404_on_profile_but_a_401_elsewhere(client, app, user, bearer):
    headers = bearer(user)
    assert client.delete(f"/api/users/{user.id}/", headers=headers).status_code == 204
    with app.app_context():
        assert db.session.get(User, user.id) is None

    gone = client.post("/api/profile/", headers=headers)
    gone_get = client.get("/api/profile/", headers=headers)
    elsewhere = client.get("/api/users/me/", headers=headers)

    assert gone.status_code == 404
    assert gone.get_json() == USER_GONE
    assert gone_get.status_code == 404
    assert gone_get.get_json() == USER_GONE
    _assert_rejected(elsewhere)


def test_api_key_of_a_deleted_user_is_a_404_on_profile_but_a_401_elsewhere(client, app, user, bearer, api_key):
    key_headers = {"Authorization": f"Token {api_key(user)}"}
    assert client.delete(f"/api/users/{user.id}/", headers=bearer(user)).status_code == 204

    gone = client.post("/api/profile/", headers=key_headers)
    elsewhere = client.get("/api/users/me/", headers=key_headers)

    assert gone.status_code == 404
    assert gone.get_json() == USER_GONE
    _assert_rejected(elsewhere)


def test_server_error_on_profile_answers_500_error_json_without_internals(client, app, user, bearer, monkeypatch):
    headers = bearer(user)
    app.config["PROPAGATE_EXCEPTIONS"] = False

    def explode(self, obj, **kwargs):
        raise RuntimeError("secret internal detail /srv/portal/db.sqlite")

    monkeypatch.setattr("portal.api.schemas.Profile000.dump", explode)

    response = client.post("/api/profile/", headers=headers)

    assert response.status_code == 500
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert list(body) == ["error"]
    assert isinstance(body["error"], str) and body["error"]
    text = response.get_data(as_text=True)
    for leak in ("secret internal detail", "RuntimeError", "Traceback", "/srv/portal"):
        assert leak not in text


def test_post_without_trailing_slash_is_redirected_308_to_the_slashed_url(client, user, bearer):
    response = client.post("/api/profile", headers=bearer(user))

    assert response.status_code == 308
    assert response.headers["Location"].endswith("/api/profile/")


def test_get_without_trailing_slash_is_redirected_301_to_the_slashed_url(client, user, bearer):
    response = client.get("/api/profile", headers=bearer(user))

    assert response.status_code == 301
    assert response.headers["Location"].endswith("/api/profile/")


def test_following_the_308_redirect_keeps_method_and_credentials(client, user, bearer):
    response = client.post("/api/profile", headers=bearer(user), follow_redirects=True)

    assert response.status_code == 200
    assert [r.status_code for r in response.history] == [308]
    assert response.get_json()["id"] == user.id


def test_unsupported_method_on_profile_is_a_405_json(client, user, bearer):
    response = client.delete("/api/profile/", headers=bearer(user))

    assert response.status_code == 405
    assert response.get_json() == {"detail": 'Method "DELETE" not allowed.'}
    assert "POST" in response.headers["Allow"]
