"""services.driver: a statement run straight on the driver reads the same rows, with the same
Python values, as SQLAlchemy reads through a session (on SQLite and on PostgreSQL)."""

import sqlite3
from datetime import datetime

import pytest
from sqlalchemy import String, bindparam, column, event, select, table
from sqlalchemy.types import TypeDecorator

from portal.extensions import db
from portal.models import Credential, User
from portal.services.audit import SYSTEM
from portal.services.people import accounts
from portal.services.plumbing.driver import DriverQuery
from portal.services.ways_in import api_keys
from portal.transactions import unit_of_work

from ..conftest import PASSWORD


def test_rows_match_sqlalchemys_for_every_column_type_of_users_and_credentials(app):
    with app.app_context():
        user = accounts.create_user("Ada@Example.com", PASSWORD, SYSTEM, email_verified=True,
                                    profile={"first_name": "Ada", "gender": "female"})
        api_keys.issue_api_key(user, SYSTEM, name="laptop")
        db.session.commit()  # the driver reads on a connection of its own
        statement = (
            select(User.__table__, Credential.__table__)
            .join(Credential.__table__, Credential.user_id == User.id)
            .where(User.id == bindparam("value"))
        )
        through_sqlalchemy = [tuple(row) for row in db.session.execute(statement, {"value": user.id})]

        driven = DriverQuery(statement).rows(db.engine, value=user.id)

    assert driven == through_sqlalchemy and len(driven) == 1
    values = dict(zip(statement.selected_columns.keys(), driven[0], strict=True))
    assert isinstance(values["date_joined"], datetime) and values["date_joined"].tzinfo is None
    assert values["is_active"] is True and values["email_verified"] is True


def test_a_query_without_matches_reads_no_rows(app):
    with app.app_context():
        query = DriverQuery(select(User.id).where(User.email == bindparam("value")))

        assert query.rows(db.engine, value="nobody@example.com") == []


def test_a_query_compiled_for_one_engine_runs_on_another(app, make_app):
    """Each engine gets the SQL of its own dialect and connections of its own pool."""
    query = DriverQuery(select(User.email).where(User.email == bindparam("value")))
    other = make_app()
    for each in (app, other):
        with each.app_context(), unit_of_work():
            accounts.create_user(f"{each.name}-{id(each)}@example.com", PASSWORD, SYSTEM)

    for each in (app, other):
        with each.app_context(), unit_of_work():
            assert query.rows(db.engine, value=f"{each.name}-{id(each)}@example.com") == [
                (f"{each.name}-{id(each)}@example.com",)
            ]


def driver_state(dbapi_connection) -> tuple[bool, bool]:
    """(inside a transaction, in autocommit mode) of a SQLite or psycopg connection."""
    if isinstance(dbapi_connection, sqlite3.Connection):
        return dbapi_connection.in_transaction, dbapi_connection.isolation_level is None
    import psycopg

    return dbapi_connection.info.transaction_status != psycopg.pq.TransactionStatus.IDLE, dbapi_connection.autocommit


def test_a_read_opens_no_transaction_and_leaves_the_connection_as_it_found_it(app):
    """The read runs outside a transaction (on PostgreSQL no BEGIN, and no ROLLBACK when the pool
    takes the connection back), and the connection returns in the mode the ORM expects — after a
    read the database refused too."""
    with app.app_context():
        engine = db.engine
        left_open, modes = [], []

        def note_transaction(dbapi_connection, _record, _state):  # before the pool's rollback
            left_open.append(driver_state(dbapi_connection)[0])

        def note_mode(dbapi_connection, _record):  # as the pool takes it back
            modes.append(driver_state(dbapi_connection)[1])

        event.listen(engine, "reset", note_transaction)
        event.listen(engine, "checkin", note_mode)
        try:
            DriverQuery(select(User.id).where(User.email == bindparam("value"))).rows(engine, value="x@example.com")
            with pytest.raises(engine.dialect.loaded_dbapi.Error):
                DriverQuery(
                    select(column("id")).select_from(table("no_such_table")).where(column("id") == bindparam("value"))
                ).rows(engine, value=1)
        finally:
            event.remove(engine, "reset", note_transaction)
            event.remove(engine, "checkin", note_mode)

    assert left_open == [False, False]  # nothing was left open to roll back
    assert modes == [False, False]


class Lowered(TypeDecorator):
    """A parameter type that converts what it binds."""

    impl = String
    cache_ok = True

    def process_bind_param(self, value, dialect):
        return value.lower()


def test_parameters_are_converted_by_their_type_as_sqlalchemy_does(app):
    with app.app_context():
        accounts.create_user("early@example.com", PASSWORD, SYSTEM)
        db.session.commit()  # the driver reads on a connection of its own
        statement = select(User.email).where(User.email == bindparam("value", type_=Lowered))
        through_sqlalchemy = [tuple(row) for row in db.session.execute(statement, {"value": "EARLY@Example.com"})]

        driven = DriverQuery(statement).rows(db.engine, value="EARLY@Example.com")

    assert driven == through_sqlalchemy == [("early@example.com",)]


def test_reads_before_and_after_one_the_database_refused_read_the_same(app):
    """The driver keeps a cursor per pooled connection; a refused read leaves none behind that
    could answer the next one wrongly."""
    with app.app_context():
        accounts.create_user("kept@example.com", PASSWORD, SYSTEM)
        db.session.commit()  # the driver reads on a connection of its own
        engine = db.engine
        query = DriverQuery(select(User.email).where(User.email == bindparam("value")))
        missing = DriverQuery(
            select(column("id")).select_from(table("no_such_table")).where(column("id") == bindparam("value"))
        )

        before = [query.rows(engine, value="kept@example.com") for _ in range(3)]
        with pytest.raises(engine.dialect.loaded_dbapi.Error):
            missing.rows(engine, value=1)
        after = [query.rows(engine, value=value) for value in ("kept@example.com", "nobody@example.com")]

    assert before == [[("kept@example.com",)]] * 3
    assert after == [[("kept@example.com",)], []]
