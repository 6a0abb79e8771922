"""Breached passwords refused at every API door where a password is chosen: sign-up (document 003),
set_password/ and reset_password_confirm/. The breach data comes from a real range API on loopback."""

from sqlalchemy import func, select

from portal.extensions import db
from portal.models import Credential, EmailCode, OutgoingMail, User
from portal.services.people import verification
from portal.services.people.passwords import check_password
from tests.conftest import BREACHED_MESSAGE, BREACHED_PASSWORD, PASSWORD
from tests.pwned import sha1_hex

SIGN_UP = "/api/v1/accounts/users/"
SET_PASSWORD = "/api/users/me/set_password/"
CONFIRM = "/api/users/reset_password_confirm/"
CLEAN_PASSWORD = "Quiet-Meadow-Kettle-31"
NEWCOMER = {
    "email": "newcomer@example.com", "first_name": "John", "last_name": "Doe", "phone": "+1234567890",
    "gender": "M", "country": "US",
}


def count(app, model) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model))


def signs_in(client, email, password) -> bool:
    return client.post("/api/token/", json={"email": email, "password": password}).status_code == 200


def reset_link(app, user_id) -> tuple[str, str]:
    """(uid, token) of a reset link for the user, as the mail would carry it."""
    with app.app_context():
        return tuple(verification.password_reset_link(db.session.get(User, user_id)).rstrip("/").split("/")[-2:])


def test_sign_up_with_a_breached_password_is_400_on_password_with_its_count_and_stores_nothing(app, client, pwned):
    response = client.post(
        SIGN_UP, json={**NEWCOMER, "password": BREACHED_PASSWORD, "confirm_password": BREACHED_PASSWORD}
    )

    assert response.status_code == 400
    assert response.get_json() == {"password": [BREACHED_MESSAGE]}
    assert (count(app, User), count(app, EmailCode), count(app, OutgoingMail)) == (0, 0, 0)
    [request] = pwned.requests
    assert request.path == f"/range/{sha1_hex(BREACHED_PASSWORD)[:5]}"


def test_sign_up_with_a_password_not_in_the_data_is_201(app, client, pwned):
    response = client.post(SIGN_UP, json={**NEWCOMER, "password": CLEAN_PASSWORD, "confirm_password": CLEAN_PASSWORD})

    assert response.status_code == 201, response.get_json()
    assert count(app, User) == 1 and len(pwned.requests) == 1


def test_sign_up_with_a_weak_password_asks_nothing(app, client, pwned):
    response = client.post(SIGN_UP, json={**NEWCOMER, "password": "password123", "confirm_password": "password123"})

    assert response.status_code == 400
    assert response.get_json() == {"password": ["This password is too common."]}
    assert pwned.requests == []


def test_set_password_to_a_breached_one_is_400_on_new_password_and_changes_nothing(app, client, user, bearer, pwned):
    headers = bearer(user)
    live_before = count(app, Credential)

    response = client.post(
        SET_PASSWORD, headers=headers, json={"current_password": PASSWORD, "new_password": BREACHED_PASSWORD}
    )

    assert response.status_code == 400
    assert response.get_json() == {"new_password": [BREACHED_MESSAGE]}
    assert client.get("/api/users/me/", headers=headers).status_code == 200  # nothing was revoked
    assert count(app, Credential) == live_before
    with app.app_context():
        assert check_password(db.session.get(User, user.id).password_hash, PASSWORD)
    assert not signs_in(client, user.email, BREACHED_PASSWORD)


def test_set_password_to_one_not_in_the_data_is_204(client, user, token_auth, pwned):
    response = client.post(
        SET_PASSWORD, headers=token_auth(user), json={"current_password": PASSWORD, "new_password": CLEAN_PASSWORD}
    )

    assert response.status_code == 204
    assert signs_in(client, user.email, CLEAN_PASSWORD)


def test_reset_confirm_with_a_breached_password_is_400_on_new_password_and_the_link_still_works(
    app, client, user, pwned
):
    uid, token = reset_link(app, user.id)

    refused = client.post(CONFIRM, json={"uid": uid, "token": token, "new_password": BREACHED_PASSWORD})

    assert refused.status_code == 400
    assert refused.get_json() == {"new_password": [BREACHED_MESSAGE]}
    assert signs_in(client, user.email, PASSWORD) and not signs_in(client, user.email, BREACHED_PASSWORD)
    done = client.post(CONFIRM, json={"uid": uid, "token": token, "new_password": CLEAN_PASSWORD})
    assert done.status_code == 204
    assert signs_in(client, user.email, CLEAN_PASSWORD)


def test_reset_confirm_with_a_bad_link_asks_nothing(client, user, pwned):
    refused = client.post(CONFIRM, json={"uid": "MQ", "token": "forged", "new_password": BREACHED_PASSWORD})

    assert refused.status_code == 400
    assert "new_password" not in refused.get_json()
    assert pwned.requests == []


def test_a_wrong_password_at_sign_in_asks_nothing(client, user, pwned):
    wrong = [
        {"email": user.email, "password": BREACHED_PASSWORD},
        {"email": "nobody@example.com", "password": PASSWORD},
    ]
    for body in wrong:
        assert client.post("/api/token/", json=body).status_code == 401
        assert client.post("/api/auth/token/login/", json=body).status_code == 401

    assert pwned.requests == []


# A breached password that still signs in -----------------------------------------------------------


def test_a_breached_password_signs_in_and_every_answer_says_so_until_it_is_changed(app, client, make_user, breach_api):
    account = make_user("breached@example.com", BREACHED_PASSWORD)  # chosen before the check was on
    breach_api({BREACHED_PASSWORD: 3})

    signed = client.post("/api/token/", json={"email": account.email, "password": BREACHED_PASSWORD})

    assert signed.status_code == 200 and signed.headers["X-Password-Breached"] == "true"
    headers = {"Authorization": f"Bearer {signed.get_json()['access']}"}
    assert client.get("/api/users/me/", headers=headers).headers["X-Password-Breached"] == "true"
    changed = client.post(SET_PASSWORD, headers=headers,
                          json={"current_password": BREACHED_PASSWORD, "new_password": CLEAN_PASSWORD})
    assert changed.status_code == 204
    assert "X-Password-Breached" not in client.get("/api/users/me/", headers=headers).headers


def test_a_clean_password_carries_no_such_header(client, user, token_auth, pwned):
    assert "X-Password-Breached" not in client.get("/api/users/me/", headers=token_auth(user)).headers
