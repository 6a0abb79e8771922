"""The API's hot path: ``GET /api/users/me/`` reads the credential, its user and every one of the
user's groups in one statement, writes nothing on a read, and keeps answering correctly when what
it remembers between requests (verified JWTs) goes stale. A token refresh reads the same way and
writes one row."""

import re
import sqlite3
import tempfile
from contextlib import contextmanager

import pytest
from sqlalchemy import event
from sqlalchemy.orm import Session

from portal.extensions import db
from portal.models import Credential, User
from portal.services.audit import SYSTEM
from portal.services.errors import AuthenticationFailed
from portal.services.people import accounts, groups
from portal.services.ways_in import api_keys, callers, credentials
from portal.transactions import unit_of_work

from ..conftest import PASSWORD

ME = "/api/users/me/"
WRITES = ("INSERT", "UPDATE", "DELETE")


@contextmanager
def statements_sent(app):
    """Every statement the database itself is sent while the block runs, however it was sent.

    The read path hands its SELECT straight to the driver, past SQLAlchemy's events, so this asks
    the database's own client library: SQLite's trace hook, or libpq's protocol trace on each
    PostgreSQL connection the pool hands out meanwhile.
    """
    with app.app_context():
        engine = db.engine
    if engine.dialect.name == "sqlite":
        with sqlite_statements(engine) as sent:
            yield sent
    else:
        with postgresql_statements(engine) as sent:
            yield sent


@contextmanager
def sqlite_statements(engine):
    """The in-memory test database is one shared connection, so hooking it sees everything."""
    connection = engine.raw_connection()
    driver = connection.driver_connection
    assert isinstance(driver, sqlite3.Connection)
    sent = []
    driver.set_trace_callback(sent.append)
    try:
        yield sent
    finally:
        driver.set_trace_callback(None)
        connection.close()


# What the client sends in libpq's trace: a simple query, or the parse step of a parameterised one.
# The SQL is printed as it is, line breaks included, so the trace is read whole.
PROTOCOL_STATEMENT = re.compile(
    r'^F\t\d+\t(?:Query\t "(?P<query>.*?)"|Parse\t "[^"]*" "(?P<parsed>.*?)"(?: \d+)+)$', re.MULTILINE | re.DOTALL
)


@contextmanager
def postgresql_statements(engine):
    import psycopg

    traces = {}

    def trace(dbapi_connection, _record, _proxy):
        if id(dbapi_connection) not in traces:
            # A prepared statement is sent by name only (the read path prepares its own at once):
            # while traced, each statement goes with its text.
            file = tempfile.TemporaryFile()
            traces[id(dbapi_connection)] = (dbapi_connection, file, dbapi_connection.prepare_threshold)
            dbapi_connection.prepare_threshold = None
            dbapi_connection.pgconn.trace(file.fileno())
            dbapi_connection.pgconn.set_trace_flags(psycopg.pq.Trace.SUPPRESS_TIMESTAMPS)

    sent = []
    event.listen(engine, "checkout", trace)
    try:
        yield sent
    finally:
        event.remove(engine, "checkout", trace)
        for dbapi_connection, file, prepare_threshold in traces.values():
            dbapi_connection.prepare_threshold = prepare_threshold
            dbapi_connection.pgconn.untrace()
            file.seek(0)
            for match in PROTOCOL_STATEMENT.finditer(file.read().decode(errors="replace")):
                statement = match["query"] or match["parsed"]
                if statement != "SELECT 1":  # the pool's liveness ping, at check-out
                    sent.append(statement)
            file.close()


def data_statements(sent) -> list[str]:
    """The statements that read or change rows (not BEGIN, COMMIT or SAVEPOINT)."""
    return [s for s in sent if s.lstrip().upper().startswith(("SELECT", *WRITES))]


@pytest.fixture
def member_of_three(app, make_user):
    account = make_user(first_name="Ada", last_name="Lovelace")
    with app.app_context(), unit_of_work():
        user = db.session.get(User, account.id)
        for name in ("Zeta", "Alpha", "Mu"):
            groups.set_membership(user, groups.create_group(name, SYSTEM), True, SYSTEM)
    return account


@pytest.mark.parametrize("scheme", ["token", "bearer"])
def test_a_profile_read_is_one_select_for_credential_user_and_every_group_and_writes_nothing(
    app, client, member_of_three, token_auth, bearer, scheme
):
    headers = (token_auth if scheme == "token" else bearer)(member_of_three)
    client.get(ME, headers=headers)  # the first use stamps "last used"; later reads within minutes do not

    with statements_sent(app) as sent:
        response = client.get(ME, headers=headers)

    assert response.status_code == 200
    assert [g["name"] for g in response.get_json()["groups"]] == ["Alpha", "Mu", "Zeta"]
    statements = data_statements(sent)
    assert len(statements) == 1, statements
    assert statements[0].lstrip().upper().startswith("SELECT")
    assert "groups" in statements[0] and "users" in statements[0] and "credentials" in statements[0]


def test_a_profile_read_opens_no_orm_transaction_not_even_an_empty_one_at_the_door(app, client, user, token_auth):
    """The door commits what a request wrote; a read wrote nothing and read past the ORM, and
    committing an empty session would cost it more than its query."""
    headers = token_auth(user)
    client.get(ME, headers=headers)  # the first use stamps "last used"
    opened = []
    listener = lambda session, transaction: opened.append(transaction)  # noqa: E731
    event.listen(Session, "after_transaction_create", listener)
    try:
        response = client.get(ME, headers=headers)
    finally:
        event.remove(Session, "after_transaction_create", listener)

    assert response.status_code == 200
    assert opened == []


def test_the_statement_trace_sees_a_write_when_there_is_one(app, client, user, token_auth):
    """The trace above would catch a write: a profile change is one."""
    headers = token_auth(user)
    with statements_sent(app) as sent:
        response = client.patch(ME, json={"first_name": "Grace"}, headers=headers)

    assert response.status_code == 200
    assert any(s.lstrip().upper().startswith("UPDATE USERS") for s in data_statements(sent))


def test_a_refresh_reads_its_sign_in_once_and_writes_only_its_row(app, client, member_of_three, jwt_pair):
    refresh = jwt_pair(member_of_three)["refresh"]

    with statements_sent(app) as sent:
        response = client.post("/api/token/refresh/", json={"refresh": refresh})

    assert response.status_code == 200
    statements = data_statements(sent)
    assert len(statements) == 2, statements
    read, write = statements
    assert read.lstrip().upper().startswith("SELECT") and "credentials" in read and "users" in read
    assert write.lstrip().upper().startswith("UPDATE CREDENTIALS")
    assert [s for s in sent if s.strip().upper() == "COMMIT"] == ["COMMIT"]


def test_a_profile_read_answers_the_users_stored_values_and_never_its_password_hash(
    app, client, member_of_three, bearer
):
    response = client.get(ME, headers=bearer(member_of_three))

    body = response.get_json()
    assert (body["first_name"], body["last_name"], body["full_name"]) == ("Ada", "Lovelace", "Ada Lovelace")
    assert body["is_profile_completed"] is False
    assert [g["users_count"] for g in body["groups"]] == [1, 1, 1]
    assert "password" not in response.get_data(as_text=True)


def test_a_user_in_no_group_reads_an_empty_group_list(client, user, token_auth):
    response = client.get(ME, headers=token_auth(user))

    assert response.status_code == 200 and response.get_json()["groups"] == []


def test_a_jwt_verified_before_is_refused_once_it_expires(client, user, jwt_pair, clock):
    access = jwt_pair(user)["access"]
    headers = {"Authorization": f"Bearer {access}"}
    assert client.get(ME, headers=headers).status_code == 200  # verified, and remembered

    clock.advance(hours=24)
    response = client.get(ME, headers=headers)

    assert response.status_code == 401
    assert response.get_json()["detail"] == "Token has expired."


def test_an_access_token_lives_its_configured_lifetime_on_the_portals_clock(app, client, user, jwt_pair, clock):
    """The portal stamps its tokens' times and checks them by its own clock, not the system's."""
    headers = {"Authorization": f"Bearer {jwt_pair(user)['access']}"}
    lifetime = app.config["JWT_ACCESS_TOKEN_EXPIRES"].total_seconds()

    clock.advance(lifetime - 1)
    assert client.get(ME, headers=headers).status_code == 200
    clock.advance(1)
    response = client.get(ME, headers=headers)

    assert response.status_code == 401
    assert response.get_json()["detail"] == "Token has expired."


def test_a_token_stamped_ahead_of_the_portals_clock_is_not_yet_valid(app, client, user, jwt_pair, clock):
    headers = {"Authorization": f"Bearer {jwt_pair(user)['access']}"}
    clock.advance(-60)  # the same token, read by a server whose clock is a minute behind

    response = client.get(ME, headers=headers)

    assert response.status_code == 401
    assert response.get_json() == {"detail": "Token is invalid or expired."}


def test_a_jwt_verified_before_is_refused_once_its_sign_in_is_revoked_elsewhere(client, user, jwt_pair):
    remembered, other = jwt_pair(user), jwt_pair(user)
    headers = {"Authorization": f"Bearer {remembered['access']}"}
    assert client.get(ME, headers=headers).status_code == 200
    revoked = client.post(
        "/api/logout/", headers={"Authorization": f"Bearer {other['access']}"}, json={"refresh": remembered["refresh"]}
    )
    assert revoked.status_code == 204

    response = client.get(ME, headers=headers)

    assert response.status_code == 401
    assert response.get_json() == {"detail": "Token has been revoked."}


def test_a_token_verified_under_another_secret_is_not_taken_from_memory(make_app):
    """What a process remembers of a token is keyed by the key that verified it: after the key
    changes, the same token, on the same database with its sign-in still live, is refused."""
    app = make_app(SECRET_KEY="a" * 40)
    with app.app_context(), unit_of_work():
        accounts.create_user("same@example.com", PASSWORD, SYSTEM, email_verified=True)
    client = app.test_client()
    pair = client.post("/api/token/", json={"email": "same@example.com", "password": PASSWORD})
    headers = {"Authorization": f"Bearer {pair.get_json()['access']}"}
    assert client.get(ME, headers=headers).status_code == 200  # verified, and remembered

    app.config["SECRET_KEY"] = "b" * 40
    response = client.get(ME, headers=headers)

    assert response.status_code == 401
    assert response.get_json() == {"detail": "Token is invalid or expired."}  # the signature no longer matches


def vary(response) -> set[str]:
    return {v.strip() for value in response.headers.get_all("Vary") for v in value.split(",")}


def test_an_api_answer_to_a_request_without_a_cookie_neither_sets_nor_varies_on_one(client, user, token_auth):
    """The API reads no cookie, so its answer says nothing about one (and is never stored anyway)."""
    response = client.get(ME, headers=token_auth(user))

    assert response.status_code == 200
    assert "Set-Cookie" not in response.headers
    assert "Cookie" not in vary(response)
    assert response.headers["Cache-Control"] == "no-store"


def test_a_page_that_looked_for_a_session_varies_on_cookie_though_none_came(client):
    response = client.get("/")

    assert response.status_code == 302
    assert "Set-Cookie" not in response.headers
    assert "Cookie" in vary(response)


def test_a_token_checked_against_several_audiences_is_accepted(make_app):
    """PyJWT takes one audience or several; a list in the settings must not break what is remembered."""
    app = make_app(JWT_DECODE_AUDIENCE=["account-portal-api", "another-api"])
    with app.app_context(), unit_of_work():
        accounts.create_user("aud@example.com", PASSWORD, SYSTEM, email_verified=True)
    client = app.test_client()
    pair = client.post("/api/token/", json={"email": "aud@example.com", "password": PASSWORD})

    response = client.get(ME, headers={"Authorization": f"Bearer {pair.get_json()['access']}"})

    assert response.status_code == 200 and response.get_json()["email"] == "aud@example.com"


@pytest.mark.parametrize("change, reason", [
    (lambda credential, user: credentials.revoke(credential, SYSTEM), "Token has been revoked."),
    (lambda credential, user: setattr(user, "is_active", False), "User inactive or deleted."),
])
def test_a_change_is_refused_when_the_caller_lost_its_way_in_after_the_read(app, change, reason):
    """Between reading the caller and changing something on its behalf the credential may be
    revoked or the user deactivated: the model the change needs is then refused."""
    with app.app_context(), unit_of_work():
        user = accounts.create_user("late@example.com", PASSWORD, SYSTEM, email_verified=True)
        _, key = api_keys.issue_api_key(user, SYSTEM)
        db.session.commit()
        snapshot = callers.caller_for_key(key)
        model = db.session.get(Credential, snapshot.id)
        change(model, model.user)
        db.session.commit()
        db.session.expire_all()

        with pytest.raises(AuthenticationFailed) as refused:
            credentials.model_of(snapshot)

    assert refused.value.args[0] == reason
