"""JSON errors on every /api/ path, HTML elsewhere, the trailing-slash rule and trusted hosts."""

import io

import pytest

import portal.services.audit
from portal.api import profiles
from portal.extensions import db
from portal.models import AuditEvent, Credential, User

from ..conftest import PASSWORD

SERVER_ERROR = {"detail": "A server error occurred."}


def first_name_of(app, user_id):
    with app.app_context():
        return db.session.get(User, user_id).first_name


# 404 / 405 -------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/api/nope/", "/api/", "/api/users/me/extra/", "/api/users/abc/", "/api/v9/things/"])
def test_unknown_api_path_is_404_json_not_found(client, path):
    response = client.get(path)

    assert response.status_code == 404
    assert response.is_json
    assert response.get_json() == {"detail": "Not found."}


def test_unknown_api_path_is_404_json_for_post_with_a_body_too(client):
    response = client.post("/api/nope/", json={"a": 1})

    assert response.status_code == 404
    assert response.get_json() == {"detail": "Not found."}


@pytest.mark.parametrize(
    "method, path, allowed",
    [
        ("DELETE", "/api/token/", {"POST"}),
        ("GET", "/api/token/", {"POST"}),
        ("PUT", "/api/token/refresh/", {"POST"}),
        ("GET", "/api/auth/token/login/", {"POST"}),
        ("PATCH", "/api/logout/", {"POST"}),
        ("POST", "/api/users/me/", {"GET", "PUT", "PATCH", "DELETE"}),
        ("DELETE", "/api/profile/", {"GET", "POST"}),
    ],
)
def test_wrong_method_is_405_json_with_allow_header(client, method, path, allowed):
    response = client.open(path, method=method)

    assert response.status_code == 405
    assert response.is_json
    assert response.get_json() == {"detail": f'Method "{method}" not allowed.'}
    allow = {m.strip() for m in response.headers["Allow"].split(",")}
    assert allowed <= allow


# 413 / 415 -------------------------------------------------------------------------------------


def test_body_over_max_content_length_is_413_json(app, client):
    body = b'{"email": "' + b"a" * app.config["MAX_CONTENT_LENGTH"] + b'"}'

    response = client.post("/api/token/", data=body, content_type="application/json")

    assert response.status_code == 413
    assert response.is_json
    assert response.get_json() == {"detail": "Request body is too large."}


def test_authenticated_upload_over_max_content_length_is_413_json_and_changes_nothing(app, client, user, token_auth):
    app.config["MAX_CONTENT_LENGTH"] = 10_000
    data = {"first_name": "Changed", "avatar": (io.BytesIO(b"x" * 20_000), "big.jpg")}

    response = client.patch("/api/users/me/", headers=token_auth(user), data=data, content_type="multipart/form-data")

    assert response.status_code == 413
    assert response.get_json() == {"detail": "Request body is too large."}
    assert first_name_of(app, user.id) is None


def test_text_plain_body_on_patch_me_is_415_json_and_changes_nothing(app, client, user, token_auth):
    response = client.patch(
        "/api/users/me/", headers=token_auth(user), data="first_name=Changed", content_type="text/plain"
    )

    assert response.status_code == 415
    assert response.is_json
    body = response.get_json()
    assert set(body) == {"detail"} and "text/plain" in body["detail"]
    assert first_name_of(app, user.id) is None


def test_malformed_json_is_400_json_detail(app, client, user, token_auth):
    response = client.patch(
        "/api/users/me/", headers=token_auth(user), data='{"first_name": ', content_type="application/json"
    )

    assert response.status_code == 400
    body = response.get_json()
    assert set(body) == {"detail"} and body["detail"].startswith("JSON parse error")
    assert first_name_of(app, user.id) is None


def test_json_body_that_is_not_an_object_is_400_non_field_errors(client, user, token_auth):
    response = client.patch("/api/users/me/", headers=token_auth(user), json=["first_name"])

    assert response.status_code == 400
    assert response.get_json() == {"non_field_errors": ["Invalid data. Expected a dictionary, but got list."]}


# 500 ------------------------------------------------------------------------------------------


@pytest.fixture
def failing_audit(app, monkeypatch):
    """Make the audit step of every service blow up after the service has changed the row in the session."""
    app.config["PROPAGATE_EXCEPTIONS"] = False

    def boom(*args, **kwargs):
        raise RuntimeError("secret internals: /srv/portal/db.sqlite password=hunter2")

    return lambda: monkeypatch.setattr(portal.services.audit, "record", boom)


def test_server_error_is_500_json_without_traceback_and_rolls_back(app, client, user, token_auth, failing_audit):
    headers = token_auth(user)
    with app.app_context():
        events_before = db.session.query(AuditEvent).count()
    failing_audit()

    response = client.patch("/api/users/me/", headers=headers, json={"first_name": "Half", "last_name": "Made"})

    assert response.status_code == 500
    assert response.is_json
    assert response.get_json() == SERVER_ERROR
    text = response.get_data(as_text=True)
    assert "Traceback" not in text and "secret internals" not in text and "RuntimeError" not in text
    assert first_name_of(app, user.id) is None
    with app.app_context():
        assert db.session.get(User, user.id).last_name is None
        assert db.session.query(AuditEvent).count() == events_before
    assert client.get("/api/users/me/", headers=headers).get_json()["first_name"] is None


def test_server_error_on_a_sign_in_route_is_500_json_and_issues_nothing(app, client, user, failing_audit):
    failing_audit()

    response = client.post("/api/token/", json={"email": user.email, "password": PASSWORD})

    assert response.status_code == 500
    assert response.get_json() == SERVER_ERROR
    with app.app_context():
        assert db.session.get(User, user.id).last_login is None
        assert db.session.query(Credential).count() == 0


def test_server_error_on_document_000_route_is_500_error_key(app, client, user, token_auth, monkeypatch):
    headers = token_auth(user)
    app.config["PROPAGATE_EXCEPTIONS"] = False

    def boom(self, obj):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(profiles.Profile000, "dump", boom)

    response = client.post("/api/profile/", headers=headers)

    assert response.status_code == 500
    assert response.is_json
    body = response.get_json()
    assert set(body) == {"error"} and body["error"]
    assert "secret internals" not in response.get_data(as_text=True)


# HTML outside /api/ --------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/nope", "/nope/", "/apix/nope/", "/media/avatars/missing.jpg"])
def test_non_api_paths_get_html_404_pages(client, path):
    response = client.get(path)

    assert response.status_code == 404
    assert response.mimetype == "text/html"
    assert not response.is_json
    assert "404" in response.get_data(as_text=True)


def test_non_api_server_error_is_html_without_traceback(app, client, monkeypatch):
    app.config["PROPAGATE_EXCEPTIONS"] = False
    from portal import media

    def boom(*args, **kwargs):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(media, "send_from_directory", boom)

    response = client.get("/media/avatars/abc.jpg")

    assert response.status_code == 500
    assert response.mimetype == "text/html"
    text = response.get_data(as_text=True)
    assert "secret internals" not in text and "Traceback" not in text


# Trailing slashes --------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["GET", "HEAD"])
@pytest.mark.parametrize("path", ["/api/users/me", "/api/profile", "/api/users/1"])
def test_missing_trailing_slash_on_get_or_head_is_301_to_slashed_url(client, method, path):
    response = client.open(path, method=method)

    assert response.status_code == 301
    assert response.headers["Location"].endswith(path + "/")


def test_slash_redirect_keeps_the_query_string(client):
    response = client.get("/api/users/me?fields=email")

    assert response.status_code == 301
    assert response.headers["Location"].endswith("/api/users/me/?fields=email")


@pytest.mark.parametrize(
    "method, path",
    [
        ("POST", "/api/token"),
        ("POST", "/api/token/refresh"),
        ("POST", "/api/logout"),
        ("POST", "/api/auth/token/login"),
        ("POST", "/api/users/me/set_password"),
        ("POST", "/api/profile"),
        ("PATCH", "/api/users/me"),
        ("PUT", "/api/users/me"),
        ("DELETE", "/api/users/me"),
        ("PATCH", "/api/users/1"),
        ("PUT", "/api/users/1"),
        ("DELETE", "/api/users/1"),
    ],
)
def test_missing_trailing_slash_on_other_methods_is_308_to_slashed_url(client, method, path):
    response = client.open(path, method=method, json={"first_name": "x"})

    assert response.status_code == 308
    assert response.headers["Location"].endswith(path + "/")


def test_308_redirect_keeps_the_body_so_sign_in_succeeds(client, user):
    response = client.post("/api/token", json={"email": user.email, "password": PASSWORD}, follow_redirects=True)

    assert response.status_code == 200
    assert set(response.get_json()) == {"access", "refresh"}
    assert len(response.history) == 1 and response.history[0].status_code == 308


def test_308_redirect_keeps_the_body_of_a_patch(app, client, user, token_auth):
    response = client.patch(
        "/api/users/me", headers=token_auth(user), json={"first_name": "Slashless"}, follow_redirects=True
    )

    assert response.status_code == 200
    assert response.get_json()["first_name"] == "Slashless"
    assert first_name_of(app, user.id) == "Slashless"


def test_missing_trailing_slash_with_a_form_post_is_308_never_500(client):
    response = client.post("/api/token", data={"email": "a@example.com", "password": "x"})

    assert response.status_code == 308
    assert response.headers["Location"].endswith("/api/token/")


# Trusted hosts ---------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/api/users/me/", "/api/token/", "/api/users/me", "/nope"])
def test_host_outside_trusted_hosts_is_400_never_a_redirect_to_it(client, path):
    response = client.get(path, headers={"Host": "evil.example"})

    assert response.status_code == 400
    if path.startswith("/api/"):
        assert response.is_json
        assert set(response.get_json()) == {"detail"}
    assert "evil.example" not in response.headers.get("Location", "")


def test_trusted_host_is_served(client, user, token_auth):
    response = client.get("/api/users/me/", headers={**token_auth(user), "Host": "127.0.0.1"})

    assert response.status_code == 200
    assert response.get_json()["email"] == user.email


@pytest.mark.parametrize(
    "body",
    [
        b'{"email": "a@example.com", "password": "\\ud800"}',
        b'{"email": "\\udfff@example.com", "password": "x"}',
        b"[" * 100_000,
    ],
    ids=["lone-surrogate-password", "lone-surrogate-email", "nested-100000-deep"],
)
def test_json_no_server_could_store_is_a_400_json_parse_error_not_a_500(client, body):
    response = client.post("/api/token/", data=body, content_type="application/json")

    assert response.status_code == 400
    assert response.get_json()["detail"].startswith("JSON parse error - ")


def test_a_lone_surrogate_in_a_profile_field_is_refused_and_nothing_changes(client, user, bearer, app):
    response = client.patch(
        "/api/users/me/", data=b'{"first_name": "A\\ud800"}', content_type="application/json", headers=bearer(user)
    )

    assert response.status_code == 400
    with app.app_context():
        assert db.session.get(User, user.id).first_name is None


def test_slash_redirect_location_never_repeats_the_host_header(app, client):
    # Production may run with PUBLIC_BASE_URL alone, so Flask does not refuse unknown hosts there.
    app.config.update(TRUSTED_HOSTS=None, PUBLIC_BASE_URL="https://accounts.example.com")

    response = client.get("/api/users/me?x=1", headers={"Host": "evil.example"})

    assert response.status_code == 301
    assert response.headers["Location"] == "/api/users/me/?x=1"
