"""The inactivity timeout through the API: an API key's optional idle limit, chosen when it is made,
and the idle limits of JWT sign-ins (30 minutes for staff, 7 days for people)."""

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import Credential
from tests.two_step import set_up_totp

from ..idle import IDLE_DETAIL, time_passes

KEY_LOGIN, TOKEN, REFRESH, MFA, ME = (
    "/api/auth/token/login/", "/api/token/", "/api/token/refresh/", "/api/token/mfa/", "/api/users/me/",
)


def new_key(client, account, **extra) -> str:
    answer = client.post(KEY_LOGIN, json={"email": account.email, "password": account.password, **extra})
    assert answer.status_code == 200, answer.get_json()
    return answer.get_json()["auth_token"]


def read_with(client, key):
    return client.get(ME, headers={"Authorization": f"Token {key}"})


def keys_made(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(Credential).where(Credential.kind == "key"))


def test_an_api_key_with_an_idle_limit_is_refused_once_left_unused_past_it(app, client, user):
    key = new_key(client, user, idle_timeout=3600)

    time_passes(app, timedelta(minutes=50))
    assert read_with(client, key).status_code == 200
    time_passes(app, timedelta(minutes=50))
    assert read_with(client, key).status_code == 200  # 100 minutes old, used 50 minutes ago
    time_passes(app, timedelta(minutes=61))

    refused = read_with(client, key)
    assert refused.status_code == 401 and refused.get_json() == {"detail": IDLE_DETAIL}
    assert refused.headers["WWW-Authenticate"]


def test_an_api_key_without_an_idle_limit_keeps_working(app, client, user):
    key = new_key(client, user)
    assert read_with(client, key).status_code == 200

    time_passes(app, timedelta(days=400))

    assert read_with(client, key).status_code == 200


def test_an_api_key_never_used_counts_its_idle_time_from_when_it_was_made(app, client, user):
    key = new_key(client, user, idle_timeout=600)

    time_passes(app, timedelta(minutes=11))

    assert read_with(client, key).get_json() == {"detail": IDLE_DETAIL}


@pytest.mark.parametrize("value", ["3600", 59, 31_536_001, 1.5, True, [60], {"seconds": 60}])
def test_an_idle_limit_that_is_not_whole_seconds_from_a_minute_to_a_year_is_a_400_naming_the_field(
    app, client, user, value
):
    answer = client.post(KEY_LOGIN, json={"email": user.email, "password": user.password, "idle_timeout": value})

    assert answer.status_code == 400 and list(answer.get_json()) == ["idle_timeout"]
    assert keys_made(app) == 0


def test_null_asks_for_no_idle_limit(app, client, user):
    key = new_key(client, user, idle_timeout=None)

    time_passes(app, timedelta(days=30))

    assert read_with(client, key).status_code == 200


def test_the_idle_limit_chosen_at_the_first_step_holds_for_a_two_step_sign_ins_key(app, client, user, clock):
    secret, _ = set_up_totp(app, user, clock)
    first = client.post(KEY_LOGIN, json={"email": user.email, "password": user.password, "idle_timeout": 120})
    assert first.status_code == 401

    done = client.post(MFA, json={"mfa_token": first.get_json()["mfa_token"], "code": clock.code(secret)})
    key = done.get_json()["auth_token"]
    assert read_with(client, key).status_code == 200
    time_passes(app, timedelta(minutes=3))

    assert read_with(client, key).get_json() == {"detail": IDLE_DETAIL}


# JWT sign-ins ------------------------------------------------------------------------------------


def test_a_staff_jwt_sign_in_idle_past_30_minutes_is_refused_and_cannot_be_refreshed(app, client, make_user):
    staff = make_user("staff@example.com", staff=True)
    pair = client.post(TOKEN, json={"email": staff.email, "password": staff.password}).get_json()

    time_passes(app, timedelta(minutes=31))

    refused = client.get(ME, headers={"Authorization": f"Bearer {pair['access']}"})
    assert refused.status_code == 401 and refused.get_json() == {"detail": IDLE_DETAIL}
    refreshed = client.post(REFRESH, json={"refresh": pair["refresh"]})
    assert refreshed.status_code == 401 and refreshed.get_json() == {"detail": IDLE_DETAIL}


def test_a_refresh_counts_as_use_of_a_jwt_sign_in(app, client, make_user):
    staff = make_user("staff@example.com", staff=True)
    pair = client.post(TOKEN, json={"email": staff.email, "password": staff.password}).get_json()

    for _ in range(3):  # an hour in all, refreshed every 20 minutes
        time_passes(app, timedelta(minutes=20))
        answer = client.post(REFRESH, json={"refresh": pair["refresh"]})
        assert answer.status_code == 200, answer.get_json()
        pair = answer.get_json()

    assert client.get(ME, headers={"Authorization": f"Bearer {pair['access']}"}).status_code == 200


def test_a_staff_jwt_sign_in_ends_12_hours_after_it_began_however_often_it_is_refreshed(app, client, make_user):
    staff = make_user("staff@example.com", staff=True)
    person = make_user("person@example.com")
    pairs = {who.email: client.post(TOKEN, json={"email": who.email, "password": who.password}).get_json()
             for who in (staff, person)}

    for _ in range(25):  # 12 h 30 min in all, each refreshed every half hour (within the idle limits)
        time_passes(app, timedelta(minutes=29, seconds=50))
        for email, pair in pairs.items():
            answer = client.post(REFRESH, json={"refresh": pair["refresh"]})
            if answer.status_code == 200:
                pairs[email] = answer.get_json()

    refused = client.get(ME, headers={"Authorization": f"Bearer {pairs[staff.email]['access']}"})
    assert refused.status_code == 401
    assert refused.get_json() == {"detail": "A staff sign-in ends 12 hours after it began: sign in again."}
    assert client.get(ME, headers={"Authorization": f"Bearer {pairs[person.email]['access']}"}).status_code == 200


def test_a_persons_jwt_sign_in_is_not_held_to_the_staff_limit(app, client, user):
    pair = client.post(TOKEN, json={"email": user.email, "password": user.password}).get_json()

    time_passes(app, timedelta(hours=5))

    assert client.post(REFRESH, json={"refresh": pair["refresh"]}).status_code == 200
