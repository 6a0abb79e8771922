"""The forgot-password and reset-password pages, with CSRF protection switched on as in production."""

import re
from html import unescape

import pytest

from portal.extensions import db
from portal.models import User
from portal.services.people import verification
from portal.services.people.passwords import PASSWORD_POLICY

from .conftest import signed_in

NEW_PASSWORD = "Fresh-lantern-42"


@pytest.fixture
def app(app):
    app.config["WTF_CSRF_ENABLED"] = True
    return app


def csrf_token(page) -> str:
    return re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page.get_data(as_text=True)).group(1)


def errors_of(page) -> list[str]:
    return [unescape(m) for m in re.findall(r"<li>(.*?)</li>", page.get_data(as_text=True))]


def reset_path(mailbox, address) -> str:
    body = mailbox.sent_to(address)[-1].get_body(("plain",)).get_content()
    return re.search(r"http://localhost(/password/reset/\S+/)", body).group(1)


def ask_for_link(client, email):
    form = client.get("/password/forgot")
    return client.post("/password/forgot", data={"email": email, "csrf_token": csrf_token(form)})


def test_forgot_page_mails_a_link_that_opens_the_reset_form(client, user, mailbox):
    sent = ask_for_link(client, user.email)
    assert sent.status_code == 200
    assert "Check your inbox" in sent.get_data(as_text=True)
    page = client.get(reset_path(mailbox, user.email))
    assert page.status_code == 200
    assert 'name="new_password"' in page.get_data(as_text=True)


def test_forgot_page_answers_alike_for_an_unknown_address_and_sends_nothing(client, mailbox):
    sent = ask_for_link(client, "nobody@example.com")
    assert sent.status_code == 200
    assert "Check your inbox" in sent.get_data(as_text=True)
    assert mailbox.messages == []


def test_forgot_page_shows_a_malformed_address_on_its_field(client, mailbox):
    page = ask_for_link(client, "not-an-address")
    assert page.status_code == 400
    assert errors_of(page) == ["Enter a valid email address."]
    assert 'aria-describedby="email-errors"' in page.get_data(as_text=True)


def test_a_form_post_without_csrf_token_is_refused(client, user, mailbox):
    response = client.post("/password/forgot", data={"email": user.email})
    assert response.status_code == 400
    assert mailbox.messages == []


def test_reset_form_sets_the_password_once_and_signs_out_everywhere(client, user, mailbox, token_auth):
    old_key = token_auth(user)
    ask_for_link(client, user.email)
    path = reset_path(mailbox, user.email)
    form = client.get(path)
    done = client.post(path, data={"new_password": NEW_PASSWORD, "confirm_password": NEW_PASSWORD,
                                   "csrf_token": csrf_token(form)})
    assert done.status_code == 200
    assert "Password changed" in done.get_data(as_text=True)
    assert client.get("/api/users/me/", headers=old_key).status_code == 401
    signed_in = client.post("/api/token/", json={"email": user.email, "password": NEW_PASSWORD})
    assert signed_in.status_code == 200
    used_again = client.get(path)
    assert used_again.status_code == 400
    assert "This link is not valid" in used_again.get_data(as_text=True)


def test_reset_form_shows_weak_and_mismatched_passwords_on_their_fields(client, user, mailbox):
    ask_for_link(client, user.email)
    path = reset_path(mailbox, user.email)
    weak = client.post(path, data={"new_password": "12345678", "confirm_password": "12345678",
                                   "csrf_token": csrf_token(client.get(path))})
    assert weak.status_code == 400
    assert "This password is entirely numeric." in errors_of(weak)
    mismatch = client.post(path, data={"new_password": NEW_PASSWORD, "confirm_password": NEW_PASSWORD + "x",
                                       "csrf_token": csrf_token(client.get(path))})
    assert mismatch.status_code == 400
    assert errors_of(mismatch) == ["Passwords do not match."]
    assert client.post("/api/token/", json={"email": user.email, "password": user.password}).status_code == 200


def test_reset_link_with_a_tampered_token_shows_the_invalid_link_page(client, user, mailbox):
    ask_for_link(client, user.email)
    path = reset_path(mailbox, user.email)
    tampered = path[:-3] + ("A" if path[-3] != "A" else "B") + path[-2:]
    page = client.get(tampered)
    assert page.status_code == 400
    assert "This link is not valid" in page.get_data(as_text=True)


def test_reset_through_the_page_verifies_a_never_verified_address(client, make_user, mailbox, app):
    pending = make_user("pending@example.com", verified=False)
    ask_for_link(client, pending.email)
    path = reset_path(mailbox, pending.email)
    client.post(path, data={"new_password": NEW_PASSWORD, "confirm_password": NEW_PASSWORD,
                            "csrf_token": csrf_token(client.get(path))})
    with app.app_context():
        row = db.session.get(User, pending.id)
        assert row.email_verified is True
        assert row.activated_at is not None


def test_every_page_that_chooses_a_password_shows_the_policy_the_services_enforce_on_its_field(app, client, user):
    with app.app_context():
        reset = "/" + verification.password_reset_link(db.session.get(User, user.id)).split("/", 3)[3]
    pages = {"/register": "password", reset: "new_password"}
    for url, field in pages.items():
        body = client.get(url).get_data(as_text=True)
        assert f'<p class="hint" id="{field}-hint">{PASSWORD_POLICY}</p>' in body, url
        assert re.search(rf'<input aria-describedby="{field}-hint"[^>]* name="{field}"', body), url
    body = signed_in(client, user).get("/profile/password").get_data(as_text=True)
    assert f'<p class="hint" id="new_password-hint">{PASSWORD_POLICY}</p>' in body
    assert body.count(PASSWORD_POLICY) == 1
