"""Issue 9, "Races": requests that start at one moment against a live, threaded server, on the
database the suite runs on (a SQLite file by default, PostgreSQL with $TEST_DATABASE_URL).

Each test opens every connection first, then a barrier lets all threads send at once; each is
bounded (connections time out, threads are joined with a deadline). In-memory SQLite shares one
connection between threads, so these tests use a SQLite *file*, as the embedded default does.
"""

import json
import re

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.models import AuditEvent, Credential, EmailCode, User

from ..conftest import fresh_app, image_bytes, shared_database, stored_avatars, stored_user, written_mail
from .conftest import audit_actions, connect, count_rows, exchange, multipart_body, run_together, users_with_email

pytestmark = pytest.mark.race


@pytest.fixture
def app(tmp_path):
    """The shared fixtures' app, on a database that several connections can share at once
    (in-memory SQLite is one connection for every thread, so it could show no race)."""
    yield from fresh_app(tmp_path, **shared_database(tmp_path))


def json_request(server, method, path, body=None, headers=None):
    """Prepare one request: its connection is open before the barrier, so all start together."""
    data = json.dumps(body).encode() if body is not None else None
    return connect(server), method, path, data, {"Content-Type": "application/json", **(headers or {})}


def send(_i, prepared):
    conn, method, path, data, headers = prepared
    return exchange(conn, method, path, body=data, headers=headers)


def statuses(answers) -> list[int]:
    return sorted(answer.status for answer in answers)


def test_the_race_database_is_one_several_connections_share(app):
    uri = app.config["SQLALCHEMY_DATABASE_URI"]

    assert uri.startswith("postgresql") or (uri.startswith("sqlite:///") and uri != "sqlite://")


def test_50_parallel_patches_with_one_etag_have_exactly_one_winner(app, client, live_server, user, token_auth):
    headers = token_auth(user)
    read = client.get("/api/users/me/", headers=headers)
    etag, version = read.headers["ETag"], stored_user(app, user.id)["version"]
    updates = audit_actions(app, "profile_updated")

    answers = run_together(
        50,
        lambda i: json_request(live_server, "PATCH", "/api/users/me/", {"first_name": f"Racer {i:02d}"},
                               {**headers, "If-Match": etag}),
        send,
    )

    assert statuses(answers) == [200] + [412] * 49, [a.body[:200] for a in answers if a.status not in (200, 412)]
    [winner] = [answer for answer in answers if answer.status == 200]
    row = stored_user(app, user.id)
    assert row["first_name"] == winner.json()["first_name"]
    assert row["version"] == version + 1
    assert winner.headers["ETag"] == f'"{version + 1}"'
    for loser in answers:
        if loser.status == 412:
            assert set(loser.json()) == {"detail"}
    assert audit_actions(app, "profile_updated") == updates + 1


def test_50_parallel_patches_without_if_match_lose_no_update(app, client, live_server, user, token_auth):
    """Without If-Match every write goes ahead, one after another: each bumps the version once."""
    headers = token_auth(user)
    client.get("/api/users/me/", headers=headers)  # the key's first use is noted before the race
    version = stored_user(app, user.id)["version"]
    updates = audit_actions(app, "profile_updated")

    answers = run_together(
        50,
        lambda i: json_request(live_server, "PATCH", "/api/users/me/", {"first_name": f"Racer {i:02d}"}, headers),
        send,
    )

    assert statuses(answers) == [200] * 50, [a.body[:200] for a in answers if a.status != 200]
    row = stored_user(app, user.id)
    assert row["version"] == version + 50
    assert row["first_name"] in {f"Racer {i:02d}" for i in range(50)}
    assert audit_actions(app, "profile_updated") == updates + 50
    for answer in answers:  # each answer shows the row as it was read back, with that row's version
        assert version < int(answer.headers["ETag"].strip('"')) <= version + 50


def test_20_parallel_verifications_of_one_code_have_exactly_one_success(app, client, live_server, mailbox):
    email = "racer@example.com"
    signed_up = client.post("/api/v1/accounts/users/", json={
        "email": email, "password": "Vivid-orchard-2719", "confirm_password": "Vivid-orchard-2719",
        "first_name": "Rana", "last_name": "Racer",
    })
    assert signed_up.status_code == 201, signed_up.get_json()
    code = mailbox.code_for(email)
    user_id = signed_up.get_json()["data"]["id"]

    answers = run_together(
        20,
        lambda i: json_request(live_server, "POST", "/api/v1/accounts/users/verify-otp/",
                               {"email": email, "otp": code}),
        send,
    )

    assert statuses(answers) == [200] + [400] * 19, [a.body[:200] for a in answers if a.status not in (200, 400)]
    for answer in answers:
        expected = ({"msg": "Email verified successfully!"} if answer.status == 200
                    else {"otp": ["Invalid or expired code."]})
        assert answer.json() == expected
    row = stored_user(app, user_id)
    assert row["email_verified"] is True and row["activated_at"] is not None
    assert count_rows(app, EmailCode) == 0
    assert count_rows(app, AuditEvent, AuditEvent.action == "email_verified") == 1


def test_20_parallel_sign_ins_with_one_emailed_code_have_exactly_one_success(app, client, live_server, user, mailbox):
    assert client.post("/api/auth/code/", json={"email": user.email}).status_code == 204
    code = mailbox.code_for(user.email)

    answers = run_together(
        20,
        lambda i: json_request(live_server, "POST", "/api/token/code/", {"email": user.email, "code": code}),
        send,
    )

    assert statuses(answers) == [200] + [400] * 19, [a.body[:200] for a in answers if a.status not in (200, 400)]
    for answer in answers:
        if answer.status == 400:
            assert answer.json() == {"code": ["Invalid or expired code."]}
    assert count_rows(app, Credential, Credential.user_id == user.id) == 1
    assert count_rows(app, EmailCode) == 0


def test_20_parallel_sign_ups_with_one_email_make_one_account(app, live_server):
    email = "twin@example.com"
    body = {"email": email, "password": "Vivid-orchard-2719", "confirm_password": "Vivid-orchard-2719"}

    answers = run_together(20, lambda i: json_request(live_server, "POST", "/api/v1/accounts/users/", body), send)

    assert statuses(answers) == [201] + [400] * 19, [a.body[:200] for a in answers if a.status not in (201, 400)]
    for answer in answers:
        if answer.status == 400:
            assert answer.json() == {"email": ["A user with that email already exists."]}
    assert users_with_email(app, email) == 1
    assert count_rows(app, User) == 1
    assert count_rows(app, EmailCode) == 1
    assert count_rows(app, AuditEvent, AuditEvent.action == "account_created") == 1
    assert len(written_mail(app)) == 1  # one code mailed, to the one account


def test_20_parallel_sign_ups_with_one_email_in_different_cases_make_one_account(app, live_server):
    variants = ["Twin@Example.com", "twin@example.com", "TWIN@EXAMPLE.COM", "tWiN@example.COM"]

    answers = run_together(20, lambda i: json_request(live_server, "POST", "/api/v1/accounts/users/", {
        "email": variants[i % 4], "password": "Vivid-orchard-2719", "confirm_password": "Vivid-orchard-2719",
    }), send)

    assert statuses(answers) == [201] + [400] * 19, [a.body[:200] for a in answers if a.status not in (201, 400)]
    assert users_with_email(app, "twin@example.com") == 1
    assert count_rows(app, User) == 1


def test_10_parallel_avatar_uploads_by_one_user_leave_one_file_the_row_names(
    app, client, live_server, user, token_auth
):
    headers = token_auth(user)
    client.get("/api/users/me/", headers=headers)
    colours = [(25 * i, 255 - 25 * i, 90) for i in range(10)]

    def prepare(i):
        body, content_type = multipart_body([("avatar", (image_bytes(color=colours[i]), f"me{i}.jpg", "image/jpeg"))])
        return connect(live_server), body, {**headers, "Content-Type": content_type}

    answers = run_together(10, prepare, lambda i, p: exchange(p[0], "PATCH", "/api/users/me/", body=p[1], headers=p[2]))

    assert statuses(answers) == [200] * 10, [a.body[:200] for a in answers if a.status != 200]
    files = stored_avatars(app)
    assert len(files) == 1, files
    assert stored_user(app, user.id)["avatar"] == files[0]
    assert client.get("/api/users/me/", headers=headers).get_json()["avatar"].endswith(f"/media/avatars/{files[0]}")


def test_10_parallel_refreshes_of_one_refresh_token_have_exactly_one_winner(app, live_server, user, jwt_pair):
    pair = jwt_pair(user)

    answers = run_together(
        10, lambda i: json_request(live_server, "POST", "/api/token/refresh/", {"refresh": pair["refresh"]}), send
    )

    assert statuses(answers) == [200] + [401] * 9, [a.body[:200] for a in answers if a.status not in (200, 401)]
    [winner] = [answer for answer in answers if answer.status == 200]
    assert set(winner.json()) == {"access", "refresh"}
    for answer in answers:
        if answer.status == 401:
            assert set(answer.json()) == {"detail"}
    with app.app_context():
        sign_ins = db.session.scalars(select(Credential).where(Credential.user_id == user.id)).all()
        assert len(sign_ins) == 1


def test_10_parallel_confirmations_of_one_reset_link_have_exactly_one_winner(app, live_server, user, mailbox):
    """A reset link is spent by the password it sets: of confirmations sent at once, one sets it and
    the others find the link spent, so no second password is set by the same link."""
    client = app.test_client()
    assert client.post("/api/users/reset_password/", json={"email": user.email}).status_code == 204
    body = mailbox.sent_to(user.email)[-1].get_body(("plain",)).get_content()
    uid, token = re.search(r"/password/reset/([^/\s]+)/([^/\s]+)/", body).groups()

    answers = run_together(
        10,
        lambda i: json_request(live_server, "POST", "/api/users/reset_password_confirm/",
                               {"uid": uid, "token": token, "new_password": f"Racing-passphrase-{i:02d}!"}),
        send,
    )

    assert statuses(answers) == [204] + [400] * 9, [a.body[:200] for a in answers]
    assert audit_actions(app, "password_changed") == 1
