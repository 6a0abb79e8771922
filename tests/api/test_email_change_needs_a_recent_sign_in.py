"""A new email address through the API needs a recent sign-in of the presented credential: with a
stolen token or key alone, an attacker could otherwise move the address and reset the password."""

from datetime import timedelta

import pytest
from sqlalchemy import update

from portal.extensions import db
from portal.models import Credential, utcnow

from ..conftest import stored_user

ROUTES = [
    ("PATCH", "/api/users/me/", "email"),
    ("PATCH", "/api/users/{id}/", "email"),
    ("PATCH", "/api/v1/accounts/users/{id}/", "email"),
]


def age_every_proof(app, minutes=11):
    with app.app_context():
        db.session.execute(update(Credential).values(proven_at=utcnow() - timedelta(minutes=minutes)))
        db.session.commit()


@pytest.mark.parametrize("method, path, field", ROUTES)
@pytest.mark.parametrize("scheme", ["bearer", "token_auth"])
def test_an_old_credential_cannot_move_the_address_and_changes_nothing(
    app, client, user, request, method, path, field, scheme
):
    headers = request.getfixturevalue(scheme)(user)
    age_every_proof(app)

    answer = client.open(path.format(id=user.id), method=method, headers=headers,
                         json={field: "thief@example.com", "first_name": "Stolen"})

    assert answer.status_code == 403
    assert answer.get_json()["detail"].startswith("Changing the email address needs a recent sign-in")
    stored = stored_user(app, user.id)
    assert stored["email"] == user.email and stored["first_name"] is None


@pytest.mark.parametrize("method, path, field", ROUTES)
def test_a_fresh_sign_in_moves_the_address(app, client, user, bearer, method, path, field):
    answer = client.open(path.format(id=user.id), method=method, headers=bearer(user), json={field: "new@example.com"})

    assert answer.status_code == 200 and stored_user(app, user.id)["email"] == "new@example.com"


def test_an_old_credential_still_changes_everything_but_the_address(app, client, user, token_auth):
    headers = token_auth(user)
    age_every_proof(app)

    same_address = {"email": user.email.upper(), "first_name": "Kept"}
    answer = client.patch("/api/users/me/", headers=headers, json=same_address)

    assert answer.status_code == 200 and stored_user(app, user.id)["first_name"] == "Kept"
