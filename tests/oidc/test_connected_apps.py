"""Connected apps, as the person sees and ends them: the page, its API twin, and the app's tokens
refused from the next request once its access is taken back."""

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.models import AppGrant, AuditEvent
from tests.conftest import PASSWORD

from .test_authorization_code_flow import code_for, exchange, sign_in

pytestmark = pytest.mark.usefixtures("user")


def signed_in_to_app(client, registered_app):
    client_id, secret = registered_app
    code, verifier = code_for(client, client_id, scope="openid email api:read offline_access")
    return exchange(client, client_id, secret, code, verifier).get_json()


def test_the_page_lists_each_allowed_app_with_its_scopes_in_words(client, registered):
    sign_in(client)
    signed_in_to_app(client, registered("Analytics dashboard"))

    page = client.get("/profile/apps").get_data(as_text=True)

    assert "Analytics dashboard" in page
    assert "See your email address and whether it is verified" in page
    assert "Read your profile through the portal" in page
    assert "Take back access" in page


def test_taking_access_back_refuses_the_apps_live_tokens_at_once(app, client, registered):
    sign_in(client)
    tokens = signed_in_to_app(client, registered("Analytics dashboard"))
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    assert client.get("/oauth/userinfo", headers=bearer).status_code == 200
    with app.app_context():
        grant_id = db.session.scalar(select(AppGrant.id))

    answer = client.post(f"/profile/apps/{grant_id}/revoke")

    assert answer.status_code == 302
    assert client.get("/oauth/userinfo", headers=bearer).status_code == 401
    with app.app_context():
        actions = [e.action for e in db.session.scalars(select(AuditEvent).order_by(AuditEvent.id))]
    assert "app_revoked" in actions
    assert "No app can use your account." in client.get("/profile/apps").get_data(as_text=True)


def test_someone_elses_grant_is_a_404(app, client, registered, make_user):
    sign_in(client)
    signed_in_to_app(client, registered("Analytics dashboard"))
    with app.app_context():
        grant_id = db.session.scalar(select(AppGrant.id))
    make_user("carol@example.com")
    other = app.test_client()
    other.post("/login", data={"login": "carol@example.com", "password": PASSWORD})

    assert other.post(f"/profile/apps/{grant_id}/revoke").status_code == 404
    with app.app_context():
        assert db.session.scalar(select(AppGrant.revoked_at)) is None


def test_the_api_twin_lists_and_revokes(app, client, registered, user, bearer):
    sign_in(client)
    tokens = signed_in_to_app(client, registered("Analytics dashboard"))
    headers = bearer(user)

    listed = client.get("/api/users/me/apps/", headers=headers).get_json()
    assert [(entry["name"], "email" in entry["scopes"]) for entry in listed] == [("Analytics dashboard", True)]

    assert client.delete(f"/api/users/me/apps/{listed[0]['id']}/", headers=headers).status_code == 204
    assert client.get("/api/users/me/apps/", headers=headers).get_json() == []
    app_bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    assert client.get("/oauth/userinfo", headers=app_bearer).status_code == 401


def test_the_sessions_page_names_an_apps_sign_in(client, registered):
    sign_in(client)
    signed_in_to_app(client, registered("Analytics dashboard"))

    page = client.get("/profile/sessions").get_data(as_text=True)

    assert "Analytics dashboard" in page and "Signed in with password" in page


def test_an_id_no_row_could_have_is_a_404_not_a_crash(client, user, bearer):
    sign_in(client)
    huge = 2**63

    assert client.post(f"/profile/apps/{huge}/revoke").status_code == 404
    assert client.post(f"/profile/security/connected/{huge}/remove").status_code == 404
    assert client.delete(f"/api/users/me/apps/{huge}/", headers=bearer(user)).status_code == 404
    assert client.delete(f"/api/users/me/providers/{huge}/", headers=bearer(user)).status_code == 404
