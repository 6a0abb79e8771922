"""Scoped credentials on the portal's own API, through HTTP: an app's access tokens and API keys
made with scopes (personal access tokens) are held to one rule (``ways_in.scopes``), declared once
per route (``api.auth.authenticated(needs=…)``).

Reads of the profile need ``api:read``, profile writes ``api:write`` (which implies it); every other
route refuses a scoped credential with 403 ``insufficient_scope``; a revoked app sign-in or an expired
key is a 401 at once; a full key works everywhere as before.
"""

import base64
import re

import pytest

from portal.api import auth
from portal.extensions import db
from portal.models import Credential
from portal.services.audit import SYSTEM
from portal.services.oidc import apps, issuance
from portal.services.people import accounts
from portal.services.ways_in import api_keys
from portal.transactions import unit_of_work
from tests.api.test_read_path import data_statements, statements_sent
from tests.conftest import PASSWORD
from tests.oidc.test_authorization_code_flow import code_for, exchange, registered, sign_in  # noqa: F401

ME = "/api/users/me/"
READ_SCOPES = "openid api:read"
WRITE_SCOPES = "openid api:write"

# Every route of the API that takes a credential, by method, and what a scoped credential needs for
# it. A new route fails test_every_api_route_is_classified until it is written here.
CLASSIFIED = {
    ("/api/profile/", "GET"): "api:read",
    ("/api/profile/", "HEAD"): "api:read",
    ("/api/profile/", "POST"): "api:read",  # document 000 answers the profile to a POST too
    ("/api/users/me/", "GET"): "api:read",
    ("/api/users/me/", "HEAD"): "api:read",
    ("/api/users/me/", "PUT"): "api:write",
    ("/api/users/me/", "PATCH"): "api:write",
    ("/api/users/me/", "DELETE"): "full",
    ("/api/users/<int(signed=True):user_id>/", "GET"): "api:read",
    ("/api/users/<int(signed=True):user_id>/", "HEAD"): "api:read",
    ("/api/users/<int(signed=True):user_id>/", "PUT"): "api:write",
    ("/api/users/<int(signed=True):user_id>/", "PATCH"): "api:write",
    ("/api/users/<int(signed=True):user_id>/", "DELETE"): "full",
    ("/api/v1/accounts/users/<int(signed=True):user_id>/", "GET"): "api:read",
    ("/api/v1/accounts/users/<int(signed=True):user_id>/", "HEAD"): "api:read",
    ("/api/v1/accounts/users/<int(signed=True):user_id>/", "PATCH"): "api:write",
    ("/api/users/me/set_password/", "POST"): "full",
    ("/api/logout/", "POST"): "full",
    ("/api/auth/token/logout/", "POST"): "any",
    ("/api/users/me/apps/", "GET"): "full",
    ("/api/users/me/apps/", "HEAD"): "full",
    ("/api/users/me/apps/<int:grant_id>/", "DELETE"): "full",
    ("/api/users/me/providers/", "GET"): "full",
    ("/api/users/me/providers/", "HEAD"): "full",
    ("/api/users/me/providers/", "POST"): "full",
    ("/api/users/me/providers/<int:identity_id>/", "DELETE"): "full",
}

# Each route a scoped credential may never use, as a request that would otherwise do something.
SENSITIVE = [
    ("POST", "/api/users/me/set_password/", {"current_password": PASSWORD, "new_password": "An0ther-long-passw0rd"}),
    ("DELETE", ME, {"current_password": PASSWORD}),
    ("DELETE", "/api/users/{id}/", None),
    ("GET", "/api/users/me/apps/", None),
    ("DELETE", "/api/users/me/apps/1/", None),
    ("GET", "/api/users/me/providers/", None),
    ("POST", "/api/users/me/providers/", {"provider": "example", "id_token": "x"}),
    ("DELETE", "/api/users/me/providers/1/", None),
    ("POST", "/api/logout/", None),
    ("PATCH", ME, {"email": "new-address@example.com"}),
    ("PATCH", "/api/users/{id}/", {"email": "new-address@example.com"}),
    ("PATCH", "/api/v1/accounts/users/{id}/", {"email": "new-address@example.com"}),
]


@pytest.fixture
def app_token(app, client, user, registered):  # noqa: F811
    """``app_token(scope)``: an access token an app got for ``user`` with ``scope``, by the code flow."""
    client_id, secret = registered()
    sign_in(client)

    def obtain(scope=READ_SCOPES, *, with_client_id=False):
        code, verifier = code_for(client, client_id, scope=scope)
        answer = exchange(client, client_id, secret, code, verifier)
        assert answer.status_code == 200, answer.get_json()
        token = answer.get_json()["access_token"]
        return (token, client_id) if with_client_id else token

    return obtain


@pytest.fixture
def scoped_key(client, user):
    """``scoped_key(scopes, expires_in=None)``: an API key of ``user`` made through the API with scopes."""

    def obtain(scopes, **extra):
        answer = client.post("/api/auth/token/login/", json={
            "email": user.email, "password": PASSWORD, "scopes": scopes, **extra,
        })
        assert answer.status_code == 200, answer.get_json()
        return answer.get_json()["auth_token"]

    return obtain


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


def token(key):
    return {"Authorization": f"Token {key}"}


def assert_insufficient_scope(answer, needed):
    assert answer.status_code == 403, (answer.status_code, answer.get_json())
    assert answer.headers["WWW-Authenticate"] == f'Bearer error="insufficient_scope", scope="{needed}"'
    assert needed.removeprefix("api:") in answer.get_json()["detail"] or "Scoped" in answer.get_json()["detail"]


# Every route is classified, and an unmarked one refuses scoped credentials ----------------------------


def test_every_api_route_is_classified(app):
    found = {}
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/"):
            continue
        view = app.view_functions[rule.endpoint]
        for method in rule.methods - {"OPTIONS"}:
            need = auth.needs_of(view, method)
            if need is not None:
                found[(rule.rule, method)] = need
    assert found == CLASSIFIED


def test_a_route_that_declares_nothing_refuses_scoped_credentials(make_app):
    new_app = make_app()
    new_app.add_url_rule("/api/a-new-route/", "a_new_route", auth.authenticated(lambda: {"ok": True}),
                         methods=["GET", "POST"])
    with new_app.app_context(), unit_of_work():
        person = accounts.create_user("new@example.com", PASSWORD, SYSTEM, email_verified=True)
        _, read_key = api_keys.issue_api_key(person, SYSTEM, scopes=["api:read", "api:write"])
        _, full_key = api_keys.issue_api_key(person, SYSTEM)
    client = new_app.test_client()

    for method in ("GET", "POST"):
        assert_insufficient_scope(client.open("/api/a-new-route/", method=method, headers=token(read_key)), "full")
        assert client.open("/api/a-new-route/", method=method, headers=token(full_key)).status_code == 200


# An app's access token ---------------------------------------------------------------------------------


def test_an_app_token_with_api_read_reads_the_profile_in_every_dialect(client, user, app_token):
    access = app_token(READ_SCOPES)

    for path in (ME, "/api/profile/", f"/api/users/{user.id}/", f"/api/v1/accounts/users/{user.id}/"):
        answer = client.get(path, headers=bearer(access))
        assert answer.status_code == 200, (path, answer.get_json())
        assert answer.get_json()["email"] == user.email
    assert client.head(ME, headers=bearer(access)).status_code == 200
    assert client.post("/api/profile/", headers=bearer(access)).status_code == 200


def test_an_app_token_read_is_the_one_select_of_every_read(app, client, user, app_token):
    access = app_token(READ_SCOPES)
    client.get(ME, headers=bearer(access))  # the first use verifies the signature and stamps "last used"

    with statements_sent(app) as sent:
        answer = client.get(ME, headers=bearer(access))

    assert answer.status_code == 200
    statements = data_statements(sent)
    assert len(statements) == 1 and statements[0].lstrip().upper().startswith("SELECT"), statements
    assert "credentials" in statements[0] and "users" in statements[0]


def test_an_app_token_without_api_read_is_insufficient_scope(client, user, app_token):
    access = app_token("openid profile email")

    for path in (ME, "/api/profile/", f"/api/users/{user.id}/", f"/api/v1/accounts/users/{user.id}/"):
        assert_insufficient_scope(client.get(path, headers=bearer(access)), "api:read")


def test_api_read_cannot_write_and_api_write_can(client, user, app_token):
    reader, writer = app_token(READ_SCOPES), app_token(WRITE_SCOPES)

    for method, path in (("PATCH", ME), ("PUT", ME), ("PATCH", f"/api/users/{user.id}/"),
                         ("PATCH", f"/api/v1/accounts/users/{user.id}/")):
        answer = client.open(path, method=method, json={"first_name": "Reader"}, headers=bearer(reader))
        assert_insufficient_scope(answer, "api:write")

    answer = client.patch(ME, json={"first_name": "Written"}, headers=bearer(writer))
    assert answer.status_code == 200 and answer.get_json()["first_name"] == "Written"
    assert client.get(ME, headers=bearer(writer)).status_code == 200  # api:write implies api:read
    answer = client.patch(f"/api/v1/accounts/users/{user.id}/", json={"last_name": "Too"}, headers=bearer(writer))
    assert answer.status_code == 200


@pytest.mark.parametrize(("method", "path", "body"), SENSITIVE)
def test_every_sensitive_route_refuses_an_app_token_and_a_scoped_key(client, user, app_token, scoped_key,
                                                                      method, path, body):
    path = path.format(id=user.id)
    for headers in (bearer(app_token("openid api:read api:write")), token(scoped_key(["api:read", "api:write"]))):
        answer = client.open(path, method=method, json=body, headers=headers)
        assert_insufficient_scope(answer, "full")
    assert client.get(ME, headers=headers).get_json()["email"] == user.email  # nothing changed


def test_staff_rights_need_a_full_credential(app, client, make_user, user):
    staff = make_user("staff@example.com", staff=True)
    answer = client.post("/api/auth/token/login/", json={
        "email": staff.email, "password": PASSWORD, "scopes": ["api:read", "api:write"],
    })
    key = answer.get_json()["auth_token"]

    assert client.get(f"/api/users/{user.id}/", headers=token(key)).status_code == 403
    assert client.get(f"/api/v1/accounts/users/{user.id}/", headers=token(key)).status_code == 403
    assert client.get(f"/api/users/{staff.id}/", headers=token(key)).status_code == 200


def test_a_revoked_grant_ends_its_unexpired_token_at_once(client, user, app_token, bearer):  # noqa: F811
    access = app_token(READ_SCOPES)
    assert client.get(ME, headers={"Authorization": f"Bearer {access}"}).status_code == 200
    full = bearer(user)
    grant = client.get("/api/users/me/apps/", headers=full).get_json()[0]

    assert client.delete(f"/api/users/me/apps/{grant['id']}/", headers=full).status_code == 204

    answer = client.get(ME, headers={"Authorization": f"Bearer {access}"})
    assert answer.status_code == 401 and answer.get_json() == {"detail": "Token has been revoked."}
    assert "WWW-Authenticate" in answer.headers


def test_a_token_revoked_at_the_revocation_endpoint_is_refused_at_once(client, user, app_token):
    access, client_id = app_token(READ_SCOPES, with_client_id=True)
    assert client.get(ME, headers=bearer(access)).status_code == 200

    with client.application.app_context(), unit_of_work():
        issuance.revoke(apps.find_app(client_id), access, issuer="http://localhost", actor=SYSTEM)

    assert client.get(ME, headers=bearer(access)).status_code == 401


def test_a_token_of_a_disabled_app_is_refused(client, user, app_token):
    access, client_id = app_token(READ_SCOPES, with_client_id=True)
    assert client.get(ME, headers=bearer(access)).status_code == 200

    with client.application.app_context(), unit_of_work():
        apps.disable_app(apps.find_app(client_id), SYSTEM)

    assert client.get(ME, headers=bearer(access)).status_code == 401


def test_an_expired_or_forged_app_token_is_refused(client, user, app_token, clock):
    access = app_token(READ_SCOPES)
    assert client.get(ME, headers=bearer(access)).status_code == 200
    forged = access[:-4] + ("AAAA" if not access.endswith("AAAA") else "BBBB")
    assert client.get(ME, headers=bearer(forged)).status_code == 401

    clock.advance(301)

    answer = client.get(ME, headers=bearer(access))
    assert answer.status_code == 401 and answer.get_json() == {"detail": "Token is invalid or expired."}


def test_a_narrowing_refresh_narrows_what_the_token_may_do(client, user, registered):  # noqa: F811
    client_id, secret = registered()
    sign_in(client)
    code, verifier = code_for(client, client_id, scope="openid offline_access api:read api:write")
    first = exchange(client, client_id, secret, code, verifier).get_json()
    basic = {"Authorization": "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()}
    narrowed = client.post("/oauth/token", headers=basic, data={
        "grant_type": "refresh_token", "refresh_token": first["refresh_token"], "scope": "openid api:read",
    }).get_json()

    assert client.patch(ME, json={"first_name": "A"}, headers=bearer(first["access_token"])).status_code == 200
    assert_insufficient_scope(client.patch(ME, json={"first_name": "B"}, headers=bearer(narrowed["access_token"])),
                              "api:write")
    assert client.get(ME, headers=bearer(narrowed["access_token"])).status_code == 200


# API keys as personal access tokens ---------------------------------------------------------------------


def test_a_read_only_key_reads_and_cannot_write(client, user, scoped_key):
    key = scoped_key(["api:read"])

    assert client.get(ME, headers=token(key)).status_code == 200
    assert_insufficient_scope(client.patch(ME, json={"first_name": "X"}, headers=token(key)), "api:write")
    assert client.post("/api/auth/token/logout/", headers=token(key)).status_code == 204  # itself, any scope
    assert client.get(ME, headers=token(key)).status_code == 401


def test_an_expired_key_is_refused(client, user, scoped_key, clock):
    key = scoped_key(None, expires_in=60)
    assert client.get(ME, headers=token(key)).status_code == 200

    clock.advance(61)

    assert client.get(ME, headers=token(key)).status_code == 401


def test_bad_scopes_or_lifetimes_are_refused_before_the_password(client, user):
    for extra, field in (({"scopes": []}, "scopes"), ({"scopes": ["openid"]}, "scopes"),
                         ({"scopes": "api:read"}, "scopes"), ({"expires_in": 59}, "expires_in"),
                         ({"expires_in": 31536001}, "expires_in"), ({"expires_in": "60"}, "expires_in")):
        answer = client.post("/api/auth/token/login/", json={"email": user.email, "password": "wrong", **extra})
        assert answer.status_code == 400 and field in answer.get_json(), (extra, answer.get_json())


def test_a_full_key_works_everywhere_as_before(app, client, user, token_auth):
    headers = token_auth(user)

    assert client.get(ME, headers=headers).status_code == 200
    assert client.patch(ME, json={"first_name": "Full"}, headers=headers).status_code == 200
    assert client.get("/api/users/me/apps/", headers=headers).status_code == 200
    assert client.get("/api/users/me/providers/", headers=headers).status_code == 200
    answer = client.post("/api/users/me/set_password/", headers=headers,
                         json={"current_password": PASSWORD, "new_password": "An0ther-long-passw0rd"})
    assert answer.status_code == 204
    with app.app_context():
        stored = db.session.scalars(db.select(Credential).where(Credential.kind == "key")).all()
        assert [key.scopes for key in stored] == [None] and stored[0].expires_at is None


# The keys page ------------------------------------------------------------------------------------------


def test_the_keys_page_makes_a_read_only_key_that_expires(app, client, user, clock):
    sign_in(client)
    answer = client.post("/profile/keys", data={
        "name": "Backup script", "idle_timeout": "", "scopes": "read", "expires_in": str(7 * 86400),
    })
    page = answer.get_data(as_text=True)
    assert answer.status_code == 200, page
    key = re.search(r'id="new-key" class="mono" value="([0-9a-f]{40})"', page).group(1)
    listed = page[page.index('id="keys-heading"'):]
    assert "Read the profile" in listed and "Backup script" in listed
    assert "Never" in listed  # last used, idle limit
    with app.app_context():
        stored = db.session.scalar(db.select(Credential).where(Credential.name == "Backup script"))
        assert stored.scopes == ["api:read"]
        assert (stored.expires_at - stored.created_at).total_seconds() == 7 * 86400

    assert client.get(ME, headers=token(key)).status_code == 200
    assert_insufficient_scope(client.patch(ME, json={"first_name": "X"}, headers=token(key)), "api:write")
    clock.advance(7 * 86400 + 1)
    assert client.get(ME, headers=token(key)).status_code == 401


# The OpenAPI document ------------------------------------------------------------------------------------


def test_the_openapi_document_describes_scopes(client):
    document = client.get("/api/openapi.json").get_json()
    key_sign_in = document["components"]["schemas"]["KeySignIn"]["properties"]
    assert key_sign_in["scopes"]["items"]["enum"] == ["api:read", "api:write"]
    assert "expires_in" in key_sign_in
    me = document["paths"]["/api/users/me/"]
    assert me["get"]["x-scope-needed"] == "api:read" and me["patch"]["x-scope-needed"] == "api:write"
    assert me["delete"]["x-scope-needed"] == "full"
    assert "insufficient_scope" in me["patch"]["responses"]["403"]["description"]
    assert "InsufficientScope" in me["get"]["responses"]["403"]["headers"]["WWW-Authenticate"]["$ref"]
    assert "insufficient_scope" in document["info"]["description"]


def test_a_bad_scope_list_is_one_flat_field_error_before_any_password_is_checked(client, user):
    for scopes in (["AAA"], [None], [{}], ["api:read", 7]):
        body = {"email": user.email, "password": "wrong", "scopes": scopes}
        answer = client.post("/api/auth/token/login/", json=body)
        assert (answer.status_code, answer.get_json()) == (
            400, {"scopes": ["Each scope is one of: api:read, api:write."]}
        ), scopes
