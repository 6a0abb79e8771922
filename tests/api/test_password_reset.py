"""Password reset by email: POST /api/users/reset_password/ and /api/users/reset_password_confirm/."""

import re

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.models import Credential, User
from portal.services.people.passwords import check_password
from tests.conftest import PASSWORD

RESET = "/api/users/reset_password/"
CONFIRM = "/api/users/reset_password_confirm/"
ME = "/api/users/me/"
NEW_PASSWORD = "a-Fresh-passphrase-42"
LINK = re.compile(r"(https?://[^/\s]+)/password/reset/([^/\s]+)/([^/\s]+)/")
REQUIRED = ["This field is required."]


def mailed_link(mailbox, address):
    """(base, uid, token) of the reset link in the newest mail to ``address``."""
    messages = mailbox.sent_to(address)
    assert messages, f"no mail to {address}"
    body = messages[-1].get_body(("plain",)).get_content()
    match = LINK.search(body)
    assert match, body
    return match.groups()


def request_link(client, mailbox, address):
    response = client.post(RESET, json={"email": address})
    assert response.status_code == 204
    _, uid, token = mailed_link(mailbox, address)
    return uid, token


def token_status(client, email, password):
    return client.post("/api/token/", json={"email": email, "password": password}).status_code


def test_reset_request_for_an_existing_address_is_204_and_mails_a_link_to_the_site(app, client, mailbox, user):
    app.config["PUBLIC_BASE_URL"] = "https://accounts.example.com"

    response = client.post(RESET, json={"email": "USER@example.com"})

    assert response.status_code == 204
    assert response.data == b""
    [message] = mailbox.messages
    assert message["To"] == user.email
    base, uid, token = mailed_link(mailbox, user.email)
    assert base == "https://accounts.example.com"
    assert uid and token
    html = message.get_body(("html",)).get_content()
    assert f"https://accounts.example.com/password/reset/{uid}/{token}/" in html


def test_reset_link_without_public_base_url_uses_the_trusted_request_host(client, mailbox, user):
    response = client.post(RESET, json={"email": user.email})

    assert response.status_code == 204
    base, _, _ = mailed_link(mailbox, user.email)
    assert base == "http://localhost"


def test_reset_request_for_an_unknown_address_is_the_same_204_and_mails_nothing(client, mailbox, user):
    response = client.post(RESET, json={"email": "nobody@example.com"})

    assert response.status_code == 204
    assert response.data == b""
    assert mailbox.messages == []


@pytest.mark.parametrize("email", ["not-an-email", "a@", "@example.com", "two@@example.com"])
def test_reset_request_with_a_malformed_address_is_400_on_email(client, mailbox, email):
    response = client.post(RESET, json={"email": email})

    assert response.status_code == 400
    body = response.get_json()
    assert list(body) == ["email"]
    assert body["email"] and all(isinstance(m, str) for m in body["email"])
    assert mailbox.messages == []


def test_reset_request_without_email_is_400_field_required(client, mailbox):
    response = client.post(RESET, json={})

    assert response.status_code == 400
    assert response.get_json() == {"email": REQUIRED}
    assert mailbox.messages == []


def test_reset_confirm_with_the_mailed_uid_and_token_sets_the_new_password(app, client, mailbox, user):
    uid, token = request_link(client, mailbox, user.email)

    response = client.post(CONFIRM, json={"uid": uid, "token": token, "new_password": NEW_PASSWORD})

    assert response.status_code == 204
    assert response.data == b""
    assert token_status(client, user.email, NEW_PASSWORD) == 200
    old = client.post("/api/token/", json={"email": user.email, "password": PASSWORD})
    assert old.status_code == 401
    assert old.get_json() == {"detail": "No active account found with the given credentials"}
    with app.app_context():
        assert check_password(db.session.get(User, user.id).password_hash, NEW_PASSWORD)


def test_reset_confirm_revokes_every_jwt_and_api_key_issued_before(
    app, client, mailbox, user, bearer, token_auth
):
    jwt_headers, key_headers = bearer(user), token_auth(user)
    assert client.get(ME, headers=jwt_headers).status_code == 200
    assert client.get(ME, headers=key_headers).status_code == 200
    uid, token = request_link(client, mailbox, user.email)

    response = client.post(CONFIRM, json={"uid": uid, "token": token, "new_password": NEW_PASSWORD})

    assert response.status_code == 204
    for headers in (jwt_headers, key_headers):
        denied = client.get(ME, headers=headers)
        assert denied.status_code == 401
        assert "detail" in denied.get_json()
        assert "WWW-Authenticate" in denied.headers
    with app.app_context():
        credentials = db.session.scalars(select(Credential).where(Credential.user_id == user.id)).all()
        assert len(credentials) == 2
        assert all(c.revoked_at is not None for c in credentials)


def test_reset_link_works_only_once(client, mailbox, user):
    uid, token = request_link(client, mailbox, user.email)
    first = client.post(CONFIRM, json={"uid": uid, "token": token, "new_password": NEW_PASSWORD})
    assert first.status_code == 204

    second = client.post(CONFIRM, json={"uid": uid, "token": token, "new_password": "yet-another-Passphrase-7"})

    assert second.status_code == 400
    body = second.get_json()
    assert list(body) == ["token"] and body["token"]
    assert token_status(client, user.email, NEW_PASSWORD) == 200
    assert token_status(client, user.email, "yet-another-Passphrase-7") == 401


@pytest.mark.parametrize(
    "weak, reason",
    [("short1!", "short"), ("1234567890", "numeric"), ("password123", "common"), ("user.example", "similar")],
)
def test_reset_confirm_with_a_weak_password_is_400_on_new_password_and_the_link_still_works(
    client, mailbox, user, weak, reason
):
    uid, token = request_link(client, mailbox, user.email)

    response = client.post(CONFIRM, json={"uid": uid, "token": token, "new_password": weak})

    assert response.status_code == 400
    body = response.get_json()
    assert list(body) == ["new_password"]
    assert any(reason in message for message in body["new_password"]), body
    assert token_status(client, user.email, PASSWORD) == 200
    retry = client.post(CONFIRM, json={"uid": uid, "token": token, "new_password": NEW_PASSWORD})
    assert retry.status_code == 204
    assert token_status(client, user.email, NEW_PASSWORD) == 200


def test_reset_confirm_without_fields_is_400_field_required_on_each(client):
    response = client.post(CONFIRM, json={})

    assert response.status_code == 400
    assert response.get_json() == {"uid": REQUIRED, "token": REQUIRED, "new_password": REQUIRED}


def test_reset_confirm_without_new_password_is_400_and_changes_nothing(client, mailbox, user):
    uid, token = request_link(client, mailbox, user.email)

    response = client.post(CONFIRM, json={"uid": uid, "token": token})

    assert response.status_code == 400
    assert response.get_json() == {"new_password": REQUIRED}
    assert token_status(client, user.email, PASSWORD) == 200


def test_reset_confirm_with_a_garbage_uid_is_400_on_uid(client, mailbox, user):
    _, token = request_link(client, mailbox, user.email)

    response = client.post(CONFIRM, json={"uid": "garbage!", "token": token, "new_password": NEW_PASSWORD})

    assert response.status_code == 400
    body = response.get_json()
    assert list(body) == ["uid"] and body["uid"]
    assert token_status(client, user.email, PASSWORD) == 200


def test_reset_confirm_with_another_users_uid_is_400_and_changes_neither_password(client, mailbox, make_user):
    alice = make_user("alice@example.com")
    bob = make_user("bob@example.com")
    _, alice_token = request_link(client, mailbox, alice.email)
    bob_uid, _ = request_link(client, mailbox, bob.email)

    response = client.post(CONFIRM, json={"uid": bob_uid, "token": alice_token, "new_password": NEW_PASSWORD})

    assert response.status_code == 400
    assert list(response.get_json()) == ["token"]
    assert token_status(client, alice.email, PASSWORD) == 200
    assert token_status(client, bob.email, PASSWORD) == 200


def test_reset_of_a_never_verified_account_verifies_its_address(app, client, mailbox, make_user):
    newcomer = make_user("newcomer@example.com", verified=False)
    assert token_status(client, newcomer.email, PASSWORD) == 403
    uid, token = request_link(client, mailbox, newcomer.email)

    response = client.post(CONFIRM, json={"uid": uid, "token": token, "new_password": NEW_PASSWORD})

    assert response.status_code == 204
    assert token_status(client, newcomer.email, NEW_PASSWORD) == 200
    with app.app_context():
        assert db.session.get(User, newcomer.id).email_verified is True
