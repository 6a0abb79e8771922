"""With STAFF_REQUIRE_TWO_FACTOR, staff without a second factor act on nobody else's account through
the API either (documents 002 and 003), while their own profile stays theirs to read and change."""

import pytest

from tests.admin.conftest import add_user
from tests.two_step import add_passkey
from tests.webauthn_authenticator import SoftwareAuthenticator

from ..conftest import stored_user

FACTOR_NEEDED = (
    "Staff must set up a second factor (an authenticator app or a passkey) before acting on other people's accounts."
)


@pytest.fixture
def strict(make_app):
    return make_app(STAFF_REQUIRE_TWO_FACTOR=True)


def people(app):
    staff = add_user(app, "staff@example.com", staff=True, first_name="Stan")
    member = add_user(app, "member@example.com", first_name="Mia")
    return staff, member


def with_key(app, account) -> dict:
    client = app.test_client()
    answer = client.post("/api/auth/token/login/", json={"email": account.email, "password": account.password})
    assert answer.status_code == 200, answer.get_json()
    return {"Authorization": f"Token {answer.get_json()['auth_token']}"}


def with_jwt(app, account) -> dict:
    answer = app.test_client().post("/api/token/", json={"email": account.email, "password": account.password})
    assert answer.status_code == 200, answer.get_json()
    return {"Authorization": f"Bearer {answer.get_json()['access']}"}


def attempts(member_id):
    """Staff acting on someone else's account: read (002, 003) and change (003)."""
    return [
        ("GET", f"/api/users/{member_id}/", None),
        ("GET", f"/api/v1/accounts/users/{member_id}/", None),
        ("PATCH", f"/api/v1/accounts/users/{member_id}/", {"first_name": "Changed"}),
    ]


@pytest.mark.parametrize("credential", [with_key, with_jwt])
def test_staff_without_a_factor_are_refused_on_other_peoples_accounts_with_the_setting_on(strict, credential):
    staff, member = people(strict)
    headers = credential(strict, staff)
    client = strict.test_client()

    for method, url, body in attempts(member.id):
        answer = client.open(url, method=method, json=body, headers=headers)
        assert answer.status_code == 403, (method, url)
        assert answer.get_json() == {"detail": FACTOR_NEEDED}, (method, url)

    assert stored_user(strict, member.id)["first_name"] == "Mia"


def test_staff_without_a_factor_still_reach_their_own_profile(strict):
    staff, _ = people(strict)
    headers = with_key(strict, staff)
    client = strict.test_client()

    assert client.get(f"/api/users/{staff.id}/", headers=headers).status_code == 200
    assert client.get("/api/users/me/", headers=headers).status_code == 200
    changed = client.patch(f"/api/v1/accounts/users/{staff.id}/", json={"first_name": "Stanley"}, headers=headers)
    assert changed.status_code == 200 and changed.get_json()["first_name"] == "Stanley"


def test_staff_act_on_other_peoples_accounts_once_they_enrol_a_factor(strict):
    staff, member = people(strict)
    headers = with_key(strict, staff)
    client = strict.test_client()
    assert client.get(f"/api/users/{member.id}/", headers=headers).status_code == 403

    add_passkey(strict, staff, SoftwareAuthenticator())

    for method, url, body in attempts(member.id):
        assert client.open(url, method=method, json=body, headers=headers).status_code == 200, (method, url)
    assert stored_user(strict, member.id)["first_name"] == "Changed"


def test_staff_without_a_factor_act_on_other_peoples_accounts_with_the_setting_off(app, client, make_user):
    assert app.config["STAFF_REQUIRE_TWO_FACTOR"] is False
    staff, member = people(app)
    headers = with_key(app, staff)

    for method, url, body in attempts(member.id):
        assert client.open(url, method=method, json=body, headers=headers).status_code == 200, (method, url)


def test_people_without_a_factor_are_refused_as_before_not_told_to_set_one_up(strict):
    _, member = people(strict)
    other = add_user(strict, "other@example.com")
    answer = strict.test_client().get(f"/api/users/{other.id}/", headers=with_key(strict, member))

    assert answer.status_code == 403 and answer.get_json() != {"detail": FACTOR_NEEDED}
