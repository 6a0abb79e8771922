"""The credential routes (JWT pairs, API keys, password change) and the Authorization header forms."""

import re
from datetime import timedelta

import jwt as pyjwt
import pytest
from flask_jwt_extended import create_access_token, create_refresh_token, decode_token
from sqlalchemy import select, update

from portal import create_app
from portal.extensions import db
from portal.models import AuditEvent, Credential, User, utcnow
from portal.services.audit import SYSTEM
from portal.services.people import accounts
from portal.services.people.users import find_user
from portal.services.ways_in import callers
from portal.transactions import unit_of_work

from ..conftest import PASSWORD

BAD_CREDENTIALS = {"detail": "No active account found with the given credentials"}
NOT_PROVIDED = {"detail": "Authentication credentials were not provided."}
NEW_PASSWORD = "Correct-Horse-Battery-9"


def me(client, headers):
    return client.get("/api/users/me/", headers=headers)


def assert_401(response, detail=None):
    assert response.status_code == 401
    assert response.is_json
    body = response.get_json()
    assert set(body) == {"detail"}
    if detail is not None:
        assert body["detail"] == detail
    assert response.headers.get("WWW-Authenticate")


def user_row(app, user_id) -> User:
    with app.app_context():
        user = db.session.get(User, user_id)
        db.session.expunge(user)
        return user


def credential_rows(app, user_id) -> list[Credential]:
    with app.app_context():
        rows = db.session.scalars(select(Credential).where(Credential.user_id == user_id).order_by(Credential.id)).all()
        for row in rows:
            db.session.expunge(row)
        return rows


def sid_of(app, token) -> str:
    with app.app_context():
        return decode_token(token)["sid"]


# POST /api/token/ ------------------------------------------------------------------------------


def test_token_obtain_with_email_returns_access_and_refresh_and_stamps_last_login(app, client, user):
    assert user_row(app, user.id).last_login is None
    before = utcnow()

    response = client.post("/api/token/", json={"email": user.email, "password": PASSWORD})

    assert response.status_code == 200
    body = response.get_json()
    assert set(body) == {"access", "refresh"}
    assert me(client, {"Authorization": f"Bearer {body['access']}"}).get_json()["email"] == user.email
    last_login = user_row(app, user.id).last_login
    assert last_login is not None and before - timedelta(seconds=1) <= last_login <= utcnow()
    rows = credential_rows(app, user.id)
    assert [(r.kind, r.revoked_at) for r in rows] == [("jwt", None)]


def test_token_obtain_matches_email_case_insensitively(client, make_user):
    account = make_user("Mixed.Case@Example.com")

    response = client.post("/api/token/", json={"email": "  mixed.CASE@example.COM", "password": account.password})

    assert response.status_code == 200
    assert set(response.get_json()) == {"access", "refresh"}


def test_token_obtain_matches_username_case_insensitively(app, client, make_user):
    account = make_user("named@example.com", username="Alice_01")

    response = client.post("/api/token/", json={"username": "aLICE_01", "password": account.password})

    assert response.status_code == 200
    access = response.get_json()["access"]
    assert me(client, {"Authorization": f"Bearer {access}"}).get_json()["username"] == "Alice_01"
    assert user_row(app, account.id).last_login is not None


@pytest.mark.parametrize(
    "payload",
    [
        {"email": "user@example.com", "password": "wrong-password-123"},
        {"email": "nobody@example.com", "password": PASSWORD},
        {"username": "nobody", "password": PASSWORD},
    ],
    ids=["wrong-password", "unknown-email", "unknown-username"],
)
def test_token_obtain_with_bad_credentials_is_401_no_active_account(app, client, user, payload):
    response = client.post("/api/token/", json=payload)

    assert response.status_code == 401
    assert response.get_json() == BAD_CREDENTIALS
    assert user_row(app, user.id).last_login is None
    assert credential_rows(app, user.id) == []


def test_token_obtain_for_inactive_user_is_401_no_active_account(app, client, user):
    with app.app_context(), unit_of_work():
        accounts.update_account_flags(db.session.get(User, user.id), {"is_active": False}, SYSTEM)

    response = client.post("/api/token/", json={"email": user.email, "password": PASSWORD})

    assert response.status_code == 401
    assert response.get_json() == BAD_CREDENTIALS
    assert credential_rows(app, user.id) == []


def test_token_obtain_for_unverified_email_is_403_with_detail_and_issues_nothing(app, client, make_user):
    account = make_user("fresh@example.com", verified=False)

    response = client.post("/api/token/", json={"email": account.email, "password": PASSWORD})

    assert response.status_code == 403
    body = response.get_json()
    assert set(body) == {"detail"} and "verified" in body["detail"]
    assert credential_rows(app, account.id) == []
    assert user_row(app, account.id).last_login is None


def test_token_obtain_for_unverified_email_with_wrong_password_is_401_not_403(client, make_user):
    account = make_user("fresh@example.com", verified=False)

    response = client.post("/api/token/", json={"email": account.email, "password": "not-the-password-1"})

    assert response.status_code == 401
    assert response.get_json() == BAD_CREDENTIALS


def test_token_obtain_with_empty_body_is_400_password_required(client):
    response = client.post("/api/token/", json={})

    assert response.status_code == 400
    body = response.get_json()
    assert body["password"] == ["This field is required."]
    assert set(body) <= {"password", "email", "username", "non_field_errors"}


def test_token_obtain_without_email_or_username_is_400_non_field_error(app, client, user):
    response = client.post("/api/token/", json={"password": PASSWORD})

    assert response.status_code == 400
    assert response.get_json() == {"non_field_errors": ['Must include "email" or "username".']}
    assert credential_rows(app, user.id) == []


def test_token_obtain_without_password_is_400_on_password(app, client, user):
    response = client.post("/api/token/", json={"email": user.email})

    assert response.status_code == 400
    assert response.get_json() == {"password": ["This field is required."]}
    assert credential_rows(app, user.id) == []


def test_token_obtain_accepts_a_form_body(client, user):
    response = client.post("/api/token/", data={"email": user.email, "password": PASSWORD})

    assert response.status_code == 200
    assert set(response.get_json()) == {"access", "refresh"}


# POST /api/token/refresh/ ----------------------------------------------------------------------


def test_refresh_returns_a_new_working_pair_and_rotates_the_sign_in_alone(app, client, user, jwt_pair):
    """A refresh is not a sign-in: the sign-in's row moves on to the new refresh token and notes the
    use, while the user's row (last sign-in, version, hence the profile's ETag) stays as it was."""
    pair = jwt_pair(user)
    signed_in_at = utcnow() - timedelta(days=2)
    with app.app_context():
        db.session.execute(update(User).where(User.id == user.id).values(last_login=signed_in_at))
        db.session.execute(update(Credential).where(Credential.user_id == user.id).values(last_used_at=None))
        db.session.commit()
    before = user_row(app, user.id)
    etag = me(client, {"Authorization": f"Bearer {pair['access']}"}).headers["ETag"]
    refreshed_at = utcnow()

    response = client.post("/api/token/refresh/", json={"refresh": pair["refresh"]})

    assert response.status_code == 200
    new = response.get_json()
    assert set(new) == {"access", "refresh"}
    assert new["refresh"] != pair["refresh"]
    reading = me(client, {"Authorization": f"Bearer {new['access']}"})
    assert reading.status_code == 200
    [row] = credential_rows(app, user.id)
    assert row.refresh_jti == sid_and_jti(app, new["refresh"])[1] != sid_and_jti(app, pair["refresh"])[1]
    assert row.public_id == sid_and_jti(app, new["refresh"])[0] == sid_and_jti(app, pair["refresh"])[0]
    assert row.last_used_at >= refreshed_at - timedelta(seconds=1)
    after = user_row(app, user.id)
    assert (after.last_login, after.version, after.updated_at) == (signed_in_at, before.version, before.updated_at)
    assert reading.headers["ETag"] == etag


def sid_and_jti(app, token) -> tuple[str, str]:
    with app.app_context():
        claims = decode_token(token)
        return claims["sid"], claims["jti"]


def test_a_refresh_racing_a_sign_out_swaps_nothing(app, client, user, jwt_pair, monkeypatch):
    """Revocation is immediate even for a refresh that judged its sign-in live a moment before it
    was revoked: the swap itself asks that the row is still live."""
    pair = jwt_pair(user)
    read = callers.caller_for_claims

    def read_then_signed_out_elsewhere(claims):
        sign_in = read(claims)
        db.session.execute(update(Credential).where(Credential.id == sign_in.id).values(revoked_at=utcnow()))
        db.session.commit()
        return sign_in

    monkeypatch.setattr(callers, "caller_for_claims", read_then_signed_out_elsewhere)

    assert_401(client.post("/api/token/refresh/", json={"refresh": pair["refresh"]}))
    [row] = credential_rows(app, user.id)
    assert row.revoked_at is not None and row.refresh_jti == sid_and_jti(app, pair["refresh"])[1]


def test_refresh_token_works_only_once(client, user, jwt_pair):
    pair = jwt_pair(user)
    assert client.post("/api/token/refresh/", json={"refresh": pair["refresh"]}).status_code == 200

    again = client.post("/api/token/refresh/", json={"refresh": pair["refresh"]})

    assert_401(again)


def test_reusing_an_old_refresh_token_revokes_the_whole_sign_in(app, client, user, jwt_pair):
    old = jwt_pair(user)
    new = client.post("/api/token/refresh/", json={"refresh": old["refresh"]}).get_json()
    assert me(client, {"Authorization": f"Bearer {new['access']}"}).status_code == 200

    reuse = client.post("/api/token/refresh/", json={"refresh": old["refresh"]})

    assert_401(reuse)
    assert_401(me(client, {"Authorization": f"Bearer {new['access']}"}), "Token has been revoked.")
    assert_401(client.post("/api/token/refresh/", json={"refresh": new["refresh"]}))
    [row] = credential_rows(app, user.id)
    assert row.revoked_at is not None


def test_reusing_an_old_refresh_token_leaves_other_sign_ins_alone(client, user, jwt_pair):
    stolen, other = jwt_pair(user), jwt_pair(user)
    client.post("/api/token/refresh/", json={"refresh": stolen["refresh"]})
    client.post("/api/token/refresh/", json={"refresh": stolen["refresh"]})

    assert me(client, {"Authorization": f"Bearer {other['access']}"}).status_code == 200


def test_refresh_with_an_access_token_is_401_and_keeps_the_sign_in(client, user, jwt_pair):
    pair = jwt_pair(user)

    response = client.post("/api/token/refresh/", json={"refresh": pair["access"]})

    assert_401(response)
    assert me(client, {"Authorization": f"Bearer {pair['access']}"}).status_code == 200


@pytest.mark.parametrize("garbage", ["garbage", "a.b.c", "eyJhbGciOiJIUzI1NiJ9.e30.x"])
def test_refresh_with_garbage_is_401_json_never_422_or_msg(client, garbage):
    response = client.post("/api/token/refresh/", json={"refresh": garbage})

    assert_401(response)
    assert "msg" not in response.get_json()


def test_expired_refresh_token_is_401_token_has_expired(app, client, user, jwt_pair):
    refresh = jwt_pair(user)["refresh"]
    with app.app_context():
        claims = decode_token(refresh)
        expired = create_refresh_token(
            identity=str(user.id),
            expires_delta=timedelta(seconds=-5),
            additional_claims={"sid": claims["sid"], "jti": claims["jti"]},
        )

    response = client.post("/api/token/refresh/", json={"refresh": expired})

    assert_401(response, "Token has expired.")


def test_refresh_without_the_field_is_400_on_refresh(client):
    response = client.post("/api/token/refresh/", json={})

    assert response.status_code == 400
    assert response.get_json() == {"refresh": ["This field is required."]}


def test_refresh_for_a_deactivated_user_is_401(app, client, user, jwt_pair):
    pair = jwt_pair(user)
    with app.app_context(), unit_of_work():
        accounts.update_account_flags(db.session.get(User, user.id), {"is_active": False}, SYSTEM)

    assert_401(client.post("/api/token/refresh/", json={"refresh": pair["refresh"]}))


def test_refresh_is_refused_for_an_inactive_user_even_while_the_sign_in_row_is_live(app, client, user, jwt_pair):
    """The sign-in is not revoked (the account was switched off behind the services' back): the
    user's own state still refuses it, and nothing is minted."""
    pair = jwt_pair(user)
    with app.app_context():
        db.session.execute(update(User).where(User.id == user.id).values(is_active=False))
        db.session.commit()

    assert_401(client.post("/api/token/refresh/", json={"refresh": pair["refresh"]}), "User inactive or deleted.")
    with app.app_context():
        sign_in = db.session.scalar(select(Credential).where(Credential.user_id == user.id, Credential.kind == "jwt"))
        assert sign_in.revoked_at is None and sign_in.refresh_jti == decode_token(pair["refresh"])["jti"]


# POST /api/logout/ ----------------------------------------------------------------------------


def test_logout_revokes_the_presented_access_token_at_once_and_in_the_database(app, client, user, jwt_pair):
    pair = jwt_pair(user)
    headers = {"Authorization": f"Bearer {pair['access']}"}

    response = client.post("/api/logout/", headers=headers)

    assert response.status_code == 204
    assert response.data == b""
    assert_401(me(client, headers), "Token has been revoked.")
    assert_401(client.post("/api/token/refresh/", json={"refresh": pair["refresh"]}))
    [row] = credential_rows(app, user.id)
    assert row.revoked_at is not None


def test_logout_revokes_the_given_refresh_token_of_another_sign_in_too(app, client, user, jwt_pair):
    first, second, third = jwt_pair(user), jwt_pair(user), jwt_pair(user)

    response = client.post(
        "/api/logout/", headers={"Authorization": f"Bearer {first['access']}"}, json={"refresh": second["refresh"]}
    )

    assert response.status_code == 204
    assert_401(me(client, {"Authorization": f"Bearer {first['access']}"}))
    assert_401(me(client, {"Authorization": f"Bearer {second['access']}"}))
    assert_401(client.post("/api/token/refresh/", json={"refresh": second["refresh"]}))
    assert me(client, {"Authorization": f"Bearer {third['access']}"}).status_code == 200
    revoked = {row.public_id: row.revoked_at is not None for row in credential_rows(app, user.id)}
    assert revoked == {
        sid_of(app, first["access"]): True,
        sid_of(app, second["access"]): True,
        sid_of(app, third["access"]): False,
    }


def test_logout_with_an_api_key_revokes_that_key(app, client, user, api_key):
    key = api_key(user)
    headers = {"Authorization": f"Token {key}"}

    assert client.post("/api/logout/", headers=headers).status_code == 204

    assert_401(me(client, headers), "Invalid token.")
    assert all(row.revoked_at is not None for row in credential_rows(app, user.id))


def test_logout_without_credentials_is_401_not_provided(client):
    response = client.post("/api/logout/")

    assert response.status_code == 401
    assert response.get_json() == NOT_PROVIDED
    assert response.headers.get("WWW-Authenticate")


def test_logout_with_someone_elses_refresh_token_is_401_and_revokes_nothing(app, client, make_user, jwt_pair):
    mine, theirs = make_user("me@example.com"), make_user("them@example.com")
    my_pair, their_pair = jwt_pair(mine), jwt_pair(theirs)

    response = client.post(
        "/api/logout/",
        headers={"Authorization": f"Bearer {my_pair['access']}"},
        json={"refresh": their_pair["refresh"]},
    )

    assert_401(response)
    assert me(client, {"Authorization": f"Bearer {their_pair['access']}"}).status_code == 200
    assert [row.revoked_at for row in credential_rows(app, theirs.id)] == [None]


# API keys ------------------------------------------------------------------------------------


def test_api_key_login_returns_a_new_40_hex_key_each_call(app, client, user):
    keys = []
    for _ in range(2):
        response = client.post("/api/auth/token/login/", json={"email": user.email, "password": PASSWORD})
        assert response.status_code == 200
        body = response.get_json()
        assert set(body) == {"auth_token"}
        assert re.fullmatch(r"[0-9a-f]{40}", body["auth_token"])
        keys.append(body["auth_token"])

    assert keys[0] != keys[1]
    for key in keys:
        assert me(client, {"Authorization": f"Token {key}"}).get_json()["email"] == user.email
    assert [row.kind for row in credential_rows(app, user.id)] == ["key", "key"]
    assert user_row(app, user.id).last_login is not None


def test_api_key_login_with_username_case_insensitively(client, make_user):
    account = make_user("keyed@example.com", username="KeyUser")

    response = client.post("/api/auth/token/login/", json={"username": "keyuser", "password": PASSWORD})

    assert response.status_code == 200
    key = response.get_json()["auth_token"]
    assert re.fullmatch(r"[0-9a-f]{40}", key)
    assert me(client, {"Authorization": f"Token {key}"}).get_json()["email"] == account.email


def test_api_key_is_stored_only_as_a_hash(app, user, api_key):
    key = api_key(user)

    with app.app_context():
        rows = db.session.execute(select(Credential.__table__)).all()
    assert len(rows) == 1
    assert key not in [value for row in rows for value in row]
    assert all(key not in str(value) for row in rows for value in row)


def test_api_key_login_failures_match_token_obtain(app, client, make_user):
    make_user("user@example.com")
    unverified = make_user("fresh@example.com", verified=False)

    wrong = client.post("/api/auth/token/login/", json={"email": "user@example.com", "password": "nope-nope-123"})
    missing = client.post("/api/auth/token/login/", json={})
    blocked = client.post("/api/auth/token/login/", json={"email": unverified.email, "password": PASSWORD})

    assert wrong.status_code == 401 and wrong.get_json() == BAD_CREDENTIALS
    assert missing.status_code == 400 and missing.get_json()["password"] == ["This field is required."]
    assert blocked.status_code == 403 and set(blocked.get_json()) == {"detail"}
    with app.app_context():
        assert db.session.scalars(select(Credential)).all() == []


def test_api_key_logout_kills_that_key_only(app, client, user, api_key):
    doomed, kept = api_key(user), api_key(user)

    response = client.post("/api/auth/token/logout/", headers={"Authorization": f"Token {doomed}"})

    assert response.status_code == 204
    assert response.data == b""
    assert_401(me(client, {"Authorization": f"Token {doomed}"}), "Invalid token.")
    assert me(client, {"Authorization": f"Token {kept}"}).status_code == 200
    assert [row.revoked_at is not None for row in credential_rows(app, user.id)] == [True, False]


def test_api_key_logout_without_credentials_is_401(client):
    response = client.post("/api/auth/token/logout/")

    assert response.status_code == 401
    assert response.get_json() == NOT_PROVIDED


def test_unknown_api_key_is_401_invalid_token(client, user):
    assert_401(me(client, {"Authorization": "Token " + "0" * 40}), "Invalid token.")


# POST /api/users/me/set_password/ -----------------------------------------------------------------


@pytest.mark.parametrize("presented", ["jwt", "key"])
def test_set_password_keeps_the_presented_credential_and_kills_every_other(
    app, client, user, jwt_pair, api_key, presented
):
    pairs = [jwt_pair(user), jwt_pair(user)]
    keys = [api_key(user), api_key(user)]
    if presented == "jwt":
        kept = {"Authorization": f"Bearer {pairs[0]['access']}"}
        others = [{"Authorization": f"Bearer {pairs[1]['access']}"}] + [{"Authorization": f"Token {k}"} for k in keys]
        dead_refresh = [pairs[1]["refresh"]]
    else:
        kept = {"Authorization": f"Token {keys[0]}"}
        others = [{"Authorization": f"Bearer {p['access']}"} for p in pairs] + [{"Authorization": f"Token {keys[1]}"}]
        dead_refresh = [p["refresh"] for p in pairs]

    response = client.post(
        "/api/users/me/set_password/", headers=kept, json={"current_password": PASSWORD, "new_password": NEW_PASSWORD}
    )

    assert response.status_code == 204
    assert response.data == b""
    assert me(client, kept).status_code == 200
    for headers in others:
        assert_401(me(client, headers))
    for refresh in dead_refresh:
        assert_401(client.post("/api/token/refresh/", json={"refresh": refresh}))
    live = [row for row in credential_rows(app, user.id) if row.revoked_at is None]
    assert len(live) == 1


def test_set_password_makes_the_new_password_the_only_one_that_signs_in_and_audits_no_secret(app, client, user, bearer):
    headers = bearer(user)
    client.post(
        "/api/users/me/set_password/",
        headers=headers,
        json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
    )

    old = client.post("/api/token/", json={"email": user.email, "password": PASSWORD})
    new = client.post("/api/token/", json={"email": user.email, "password": NEW_PASSWORD})

    assert old.status_code == 401 and old.get_json() == BAD_CREDENTIALS
    assert new.status_code == 200 and set(new.get_json()) == {"access", "refresh"}
    with app.app_context():
        events = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "password_changed")).all()
        assert [(e.subject_id, e.via) for e in events] == [(user.id, "api")]
        password_hash = db.session.get(User, user.id).password_hash
        for event in events:
            assert NEW_PASSWORD not in str(event.changes) and PASSWORD not in str(event.changes)
            assert password_hash not in str(event.changes)


def test_set_password_with_wrong_current_password_is_400_and_changes_nothing(app, client, user, bearer, token_auth):
    other = token_auth(user)
    hash_before = user_row(app, user.id).password_hash

    response = client.post(
        "/api/users/me/set_password/",
        headers=bearer(user),
        json={"current_password": "not-my-password-1", "new_password": NEW_PASSWORD},
    )

    assert response.status_code == 400
    body = response.get_json()
    assert set(body) == {"current_password"}
    assert body["current_password"] and all(isinstance(m, str) for m in body["current_password"])
    assert user_row(app, user.id).password_hash == hash_before
    assert me(client, other).status_code == 200


def test_set_password_without_fields_is_400_on_both(client, user, bearer):
    response = client.post("/api/users/me/set_password/", headers=bearer(user), json={})

    assert response.status_code == 400
    assert set(response.get_json()) == {"current_password", "new_password"}


@pytest.mark.parametrize(
    "weak, reason",
    [
        ("Ab1!xyz", "too short"),
        ("8405719362014", "entirely numeric"),
        ("password123", "too common"),
        ("user@example.com", "too similar"),
        ("example.com1", "too similar"),
    ],
    ids=["short", "all-digits", "common", "the-email", "close-to-email"],
)
def test_set_password_with_weak_new_password_is_400_on_new_password(app, client, user, bearer, weak, reason):
    hash_before = user_row(app, user.id).password_hash

    response = client.post(
        "/api/users/me/set_password/", headers=bearer(user), json={"current_password": PASSWORD, "new_password": weak}
    )

    assert response.status_code == 400
    body = response.get_json()
    assert set(body) == {"new_password"}
    assert any(reason in message for message in body["new_password"])
    assert user_row(app, user.id).password_hash == hash_before
    assert client.post("/api/token/", json={"email": user.email, "password": weak}).status_code == 401


def test_set_password_without_credentials_is_401(app, client, user):
    hash_before = user_row(app, user.id).password_hash

    response = client.post(
        "/api/users/me/set_password/", json={"current_password": PASSWORD, "new_password": NEW_PASSWORD}
    )

    assert response.status_code == 401
    assert response.get_json() == NOT_PROVIDED
    assert user_row(app, user.id).password_hash == hash_before


# Authorization header forms ------------------------------------------------------------------------


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER", "bEaReR"])
def test_bearer_scheme_is_case_insensitive(client, user, jwt_pair, scheme):
    access = jwt_pair(user)["access"]

    response = me(client, {"Authorization": f"{scheme} {access}"})

    assert response.status_code == 200
    assert response.get_json()["email"] == user.email


@pytest.mark.parametrize("scheme", ["Token", "token", "TOKEN"])
def test_token_scheme_is_case_insensitive(client, user, api_key, scheme):
    key = api_key(user)

    response = me(client, {"Authorization": f"{scheme} {key}"})

    assert response.status_code == 200
    assert response.get_json()["email"] == user.email


@pytest.mark.parametrize("header", [None, "", "Basic dXNlckBleGFtcGxlLmNvbTpwYXNz", "JWT abc", "Digest x"])
def test_missing_or_foreign_scheme_is_401_not_provided(client, user, header):
    headers = {} if header is None else {"Authorization": header}

    response = me(client, headers)

    assert response.status_code == 401
    assert response.get_json() == NOT_PROVIDED
    assert response.headers.get("WWW-Authenticate")


@pytest.mark.parametrize(
    "header, detail",
    [
        ("Token", "Invalid token header. No credentials provided."),
        ("Bearer", "Invalid token header. No credentials provided."),
        ("Token abc def", "Invalid token header. Token string should not contain spaces."),
        ("Bearer abc def", "Invalid token header. Token string should not contain spaces."),
    ],
)
def test_malformed_token_header_is_401_with_reason(client, header, detail):
    assert_401(me(client, {"Authorization": header}), detail)


def test_expired_access_token_is_401_token_has_expired(app, client, user, jwt_pair):
    sid = sid_of(app, jwt_pair(user)["access"])
    with app.app_context():
        expired = create_access_token(
            identity=str(user.id), expires_delta=timedelta(seconds=-5), additional_claims={"sid": sid}
        )

    response = me(client, {"Authorization": f"Bearer {expired}"})

    assert_401(response, "Token has expired.")


def test_access_token_signed_with_another_key_is_401(app, client, user, jwt_pair):
    access = jwt_pair(user)["access"]
    with app.app_context():
        claims = decode_token(access)
    forged = pyjwt.encode(claims, "another-secret-key-that-is-long-enough-for-hs256", algorithm="HS256")

    response = me(client, {"Authorization": f"Bearer {forged}"})

    assert_401(response)
    assert "msg" not in response.get_json()


def test_unsigned_alg_none_token_is_401(app, client, user, jwt_pair):
    access = jwt_pair(user)["access"]
    with app.app_context():
        claims = decode_token(access)
    unsigned = pyjwt.encode(claims, None, algorithm="none")

    response = me(client, {"Authorization": f"Bearer {unsigned}"})

    assert_401(response)
    assert "msg" not in response.get_json()


def test_garbage_bearer_token_is_401_json_never_422(client):
    response = me(client, {"Authorization": "Bearer not-a-jwt"})

    assert_401(response)
    assert "msg" not in response.get_json()


def test_refresh_token_used_as_access_token_is_401(client, user, jwt_pair):
    refresh = jwt_pair(user)["refresh"]

    assert_401(me(client, {"Authorization": f"Bearer {refresh}"}))


def test_access_token_of_a_deactivated_user_is_401(app, client, user, bearer, token_auth):
    jwt_headers, key_headers = bearer(user), token_auth(user)
    with app.app_context(), unit_of_work():
        accounts.update_account_flags(db.session.get(User, user.id), {"is_active": False}, SYSTEM)

    assert_401(me(client, jwt_headers))
    assert_401(me(client, key_headers))


# Secrets never leave ------------------------------------------------------------------------------


def test_no_response_contains_the_password_or_its_hash(app, client, user):
    responses = [
        client.post("/api/token/", json={"email": user.email, "password": PASSWORD}),
        client.post("/api/token/", json={"email": user.email, "password": PASSWORD + "x"}),
        client.post("/api/auth/token/login/", json={"email": user.email, "password": PASSWORD}),
    ]
    access = responses[0].get_json()["access"]
    key = responses[2].get_json()["auth_token"]
    for headers in ({"Authorization": f"Bearer {access}"}, {"Authorization": f"Token {key}"}):
        responses += [
            client.get("/api/users/me/", headers=headers),
            client.post("/api/profile/", headers=headers),
            client.get(f"/api/users/{user.id}/", headers=headers),
            client.post("/api/users/me/set_password/", headers=headers,
                        json={"current_password": PASSWORD, "new_password": "123"}),
        ]
    password_hash = user_row(app, user.id).password_hash

    assert [r.status_code for r in responses] == [200, 401, 200, 200, 200, 200, 400, 200, 200, 200, 400]
    for response in responses:
        text = response.get_data(as_text=True)
        assert PASSWORD not in text
        assert password_hash not in text
        assert "password_hash" not in text


# Rate limits ----------------------------------------------------------------------------------


@pytest.fixture
def limited_app(tmp_path):
    app = create_app(
        "testing",
        {
            "RATELIMIT_ENABLED": True,
            "UPLOAD_FOLDER": str(tmp_path / "uploads"),
            "MAIL_OUTBOX_DIR": str(tmp_path / "outbox"),
        },
    )
    with app.app_context(), unit_of_work():
        db.create_all()
        accounts.create_user("limited@example.com", PASSWORD, SYSTEM, email_verified=True)
    yield app
    with app.app_context():
        db.session.remove()
        db.drop_all()
        db.engine.dispose()


def assert_throttled(response):
    assert response.status_code == 429
    assert response.is_json
    body = response.get_json()
    assert set(body) == {"detail"}
    match = re.fullmatch(r"Request was throttled\. Expected available in (\d+) seconds\.", body["detail"])
    assert match, body["detail"]
    retry_after = int(response.headers["Retry-After"])
    assert retry_after > 0
    assert int(match.group(1)) == retry_after


@pytest.mark.parametrize("path", ["/api/token/", "/api/auth/token/login/"])
def test_eleventh_sign_in_attempt_from_one_address_within_a_minute_is_429(limited_app, path):
    client = limited_app.test_client()
    for n in range(10):
        response = client.post(path, json={"email": f"guess{n}@example.com", "password": "wrong-password-1"})
        assert response.status_code == 401

    eleventh = client.post(path, json={"email": "limited@example.com", "password": PASSWORD})

    assert_throttled(eleventh)
    with limited_app.app_context():
        assert db.session.scalars(select(Credential)).all() == []


def fail_ten_sign_ins_from_ten_addresses(client, email):
    """Use up one account's allowance of failures from unknown sources with wrong passwords, each
    from its own address."""
    for n in range(10):
        response = client.post(
            "/api/token/",
            json={"email": email, "password": "wrong-password-1"},
            environ_base={"REMOTE_ADDR": f"10.0.0.{n + 1}"},
        )
        assert response.status_code == 401


def test_after_ten_failures_on_one_account_from_many_addresses_an_unknown_source_is_held_back(limited_app):
    """API clients are unknown sources: once those failed the account's allowance, one with the right
    password waits out the lockout too (a browser that signed in before does not: tests/web/test_device_cookies.py)."""
    client = limited_app.test_client()
    fail_ten_sign_ins_from_ten_addresses(client, "limited@example.com")

    eleventh = client.post(
        "/api/token/",
        json={"email": "LIMITED@example.com", "password": PASSWORD},
        environ_base={"REMOTE_ADDR": "10.0.1.1"},
    )

    assert_throttled(eleventh)
    assert int(eleventh.headers["Retry-After"]) == 60  # SIGN_IN_LOCKOUT, the first lockout
    with limited_app.app_context():
        assert db.session.scalars(select(Credential)).all() == []
    other_account = client.post(
        "/api/token/",
        json={"email": "someone@example.com", "password": PASSWORD},
        environ_base={"REMOTE_ADDR": "10.0.2.1"},
    )
    assert other_account.status_code == 401
    assert other_account.get_json() == BAD_CREDENTIALS


def test_right_passwords_from_many_addresses_spend_no_allowance_of_the_account(limited_app):
    """Only failures count per account: an owner signing in often from many places is never held back."""
    client = limited_app.test_client()
    for n in range(15):
        answer = client.post(
            "/api/token/",
            json={"email": "limited@example.com", "password": PASSWORD},
            environ_base={"REMOTE_ADDR": f"10.0.3.{n + 1}"},
        )
        assert answer.status_code == 200, n


def test_email_and_username_of_one_account_share_the_per_account_limit(limited_app):
    with limited_app.app_context(), unit_of_work():
        user = db.session.scalar(select(User).where(User.email_canonical == "limited@example.com"))
        accounts.update_profile(user, {"username": "limited_user"}, SYSTEM)
    client = limited_app.test_client()
    fail_ten_sign_ins_from_ten_addresses(client, "limited@example.com")

    by_username = client.post(
        "/api/token/",
        json={"username": "limited_user", "password": "wrong-password-1"},
        environ_base={"REMOTE_ADDR": "10.0.1.1"},
    )

    assert_throttled(by_username)


def test_token_refreshes_of_different_accounts_from_different_addresses_are_not_throttled_together(limited_app):
    """The per-account limit must key on the refresh token's account, not on one bucket shared by everybody."""
    client = limited_app.test_client()
    with limited_app.app_context(), unit_of_work():
        for n in range(11):
            accounts.create_user(f"member{n}@example.com", PASSWORD, SYSTEM, email_verified=True)
    pairs = [
        client.post(
            "/api/token/",
            json={"email": f"member{n}@example.com", "password": PASSWORD},
            environ_base={"REMOTE_ADDR": f"10.1.0.{n + 1}"},
        ).get_json()
        for n in range(11)
    ]

    statuses = [
        client.post(
            "/api/token/refresh/", json={"refresh": pair["refresh"]}, environ_base={"REMOTE_ADDR": f"10.2.0.{n + 1}"}
        ).status_code
        for n, pair in enumerate(pairs)
    ]

    assert statuses == [200] * 11


def test_guessing_the_current_password_with_a_stolen_token_is_limited(limited_app):
    client = limited_app.test_client()
    pair = client.post("/api/token/", json={"email": "limited@example.com", "password": PASSWORD}).get_json()
    access = pair["access"]
    headers = {"Authorization": f"Bearer {access}"}
    for n in range(10):
        guess = client.delete("/api/users/me/", json={"current_password": f"guess-{n}"}, headers=headers)
        assert guess.status_code == 400
        assert guess.get_json() == {"current_password": ["Invalid password."]}

    eleventh = client.delete("/api/users/me/", json={"current_password": PASSWORD}, headers=headers)

    assert_throttled(eleventh)
    with limited_app.app_context(), unit_of_work():
        assert find_user(email="limited@example.com") is not None
    assert client.get("/api/users/me/", headers=headers).status_code == 200  # reading is not limited


def test_ipv6_clients_share_one_allowance_per_64_block(limited_app):
    client = limited_app.test_client()
    for n in range(10):
        response = client.post(
            "/api/token/",
            json={"email": f"guess{n}@example.com", "password": "wrong-password-1"},
            environ_base={"REMOTE_ADDR": f"2001:db8:0:1::{n + 1:x}"},
        )
        assert response.status_code == 401

    same_block = client.post(
        "/api/token/",
        json={"email": "other@example.com", "password": "wrong-password-1"},
        environ_base={"REMOTE_ADDR": "2001:db8:0:1:ffff::1"},
    )
    other_block = client.post(
        "/api/token/",
        json={"email": "other@example.com", "password": "wrong-password-1"},
        environ_base={"REMOTE_ADDR": "2001:db8:0:2::1"},
    )

    assert_throttled(same_block)
    assert other_block.status_code == 401


def test_asking_for_reset_links_does_not_use_up_the_confirmations(limited_app):
    client = limited_app.test_client()
    for _ in range(5):
        assert client.post("/api/users/reset_password/", json={"email": "nobody@example.com"}).status_code == 204
    assert_throttled(client.post("/api/users/reset_password/", json={"email": "nobody@example.com"}))

    confirm = client.post("/api/users/reset_password_confirm/", json={"uid": "MQ", "token": "bad", "new_password": "x"})

    assert confirm.status_code == 400
    assert confirm.get_json() == {"token": ["Invalid or expired token."]}
