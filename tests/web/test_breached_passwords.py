"""Breached passwords refused on the pages where a password is chosen — sign-up, the password
change and the reset link — with the message beside the field; a real range API on loopback."""

import re

from sqlalchemy import func, select

from portal.extensions import db
from portal.models import OutgoingMail, User
from portal.services.people import verification

from ..conftest import BREACHED_MESSAGE, BREACHED_PASSWORD, PASSWORD, stored_user
from .conftest import field_errors, is_signed_in, sign_in, signed_in, submit, text_of

CLEAN_PASSWORD = "Quiet-Meadow-Kettle-31"


def count(app, model) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model))


def signs_in(client, email, password) -> bool:
    return client.post("/api/token/", json={"email": email, "password": password}).status_code == 200


def register(client, password):
    return submit(client, "/register", {
        "email": "shirin@example.com", "password": password, "confirm_password": password,
        "first_name": "Shirin", "last_name": "Ahmadi",
    })


def test_sign_up_page_shows_a_breached_password_beside_its_field_and_stores_nothing(app, client, pwned):
    page = register(client, BREACHED_PASSWORD)

    assert page.status_code == 400
    assert field_errors(page) == {"password": [BREACHED_MESSAGE]}
    [field] = re.findall(r'<input[^>]*name="password"[^>]*>', text_of(page))
    assert re.search(r'aria-describedby="[^"]*\bpassword-errors\b', field) and 'aria-invalid="true"' in field
    assert BREACHED_PASSWORD not in page.get_data(as_text=True)
    assert (count(app, User), count(app, OutgoingMail)) == (0, 0)
    assert len(pwned.requests) == 1


def test_sign_up_page_takes_a_password_not_in_the_data(app, client, pwned):
    page = register(client, CLEAN_PASSWORD)

    assert page.status_code == 302, field_errors(page)
    assert count(app, User) == 1


def test_password_page_shows_a_breached_new_password_beside_its_field_and_keeps_the_old(app, client, user, pwned):
    signed_in(client, user)
    before = stored_user(app, user.id)["password_hash"]

    page = submit(client, "/profile/password", {
        "current_password": PASSWORD, "new_password": BREACHED_PASSWORD, "confirm_password": BREACHED_PASSWORD,
    })

    assert page.status_code == 400
    assert field_errors(page) == {"new_password": [BREACHED_MESSAGE]}
    assert stored_user(app, user.id)["password_hash"] == before
    assert is_signed_in(client)


def test_reset_page_shows_a_breached_new_password_beside_its_field_and_the_link_still_works(app, client, user, pwned):
    with app.app_context():
        link = verification.password_reset_link(db.session.get(User, user.id))
    path = link[link.index("/password/reset/"):]

    page = submit(client, path, {"new_password": BREACHED_PASSWORD, "confirm_password": BREACHED_PASSWORD})

    assert page.status_code == 400
    assert field_errors(page) == {"new_password": [BREACHED_MESSAGE]}
    assert signs_in(client, user.email, PASSWORD)
    done = submit(client, path, {"new_password": CLEAN_PASSWORD, "confirm_password": CLEAN_PASSWORD})
    assert done.status_code == 200
    assert signs_in(client, user.email, CLEAN_PASSWORD)


def test_a_wrong_password_on_the_sign_in_page_asks_nothing(client, user, pwned):
    assert sign_in(client, user, password=BREACHED_PASSWORD).status_code == 400
    assert sign_in(client, user, login="nobody@example.com").status_code == 400

    assert pwned.requests == []


def test_a_breached_password_signs_in_and_every_page_asks_to_change_it_until_it_is(app, client, make_user, breach_api):
    account = make_user("breached@example.com", BREACHED_PASSWORD)  # chosen before the check was on
    breach_api({BREACHED_PASSWORD: 3})
    signed_in(client, account)
    banner = "Your password has appeared in a data breach, so others may try it."

    for url in ("/profile/", "/profile/edit", "/profile/security"):
        assert banner in text_of(client.get(url)), url
    changed = submit(client, "/profile/password", {
        "current_password": BREACHED_PASSWORD, "new_password": "Quiet-Meadow-Kettle-31",
        "confirm_password": "Quiet-Meadow-Kettle-31",
    })

    assert changed.status_code == 302
    assert banner not in text_of(client.get("/profile/"))
