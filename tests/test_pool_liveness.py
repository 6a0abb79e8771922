"""A database server's pooled connections are tested before use only when they sat idle
(``plumbing.driver.test_when_idle``), and the driver's read survives a connection that died in use.

Shown on a SQLite file, whose dialect knows a closed connection as a lost one, as psycopg's knows a
server that went away: the pool and the driver act on the dialect's verdict, not on the database.
"""

import sqlite3

import pytest
from sqlalchemy import create_engine, select, text
from sqlalchemy.pool import QueuePool

from portal.services.plumbing import driver


@pytest.fixture
def engine(tmp_path, monkeypatch):
    engine = create_engine(f"sqlite:///{tmp_path / 'pool.sqlite'}", poolclass=QueuePool, pool_size=1, max_overflow=0)
    driver.test_when_idle(engine)
    pings = []
    real_ping = engine.dialect.do_ping

    def counted_ping(dbapi_connection):
        pings.append(dbapi_connection)
        return real_ping(dbapi_connection)

    monkeypatch.setattr(engine.dialect, "do_ping", counted_ping)
    engine.pings = pings
    yield engine
    engine.dispose()


def use_once(engine) -> sqlite3.Connection:
    connection = engine.raw_connection()
    dbapi_connection = connection.driver_connection
    connection.close()
    return dbapi_connection


def test_a_connection_in_steady_use_is_not_tested_again(engine):
    first = use_once(engine)  # made for this check-out: nothing to test

    assert use_once(engine) is first and use_once(engine) is first
    assert engine.pings == []


def test_a_connection_that_sat_idle_is_tested_before_use(engine, monkeypatch):
    first = use_once(engine)
    monkeypatch.setattr(driver, "IDLE_BEFORE_TEST", 0.0)

    assert use_once(engine) is first
    assert engine.pings == [first]


def test_a_connection_found_dead_after_sitting_idle_is_replaced_before_anyone_uses_it(engine, monkeypatch):
    first = use_once(engine)
    first.close()  # the server ended it while it sat in the pool
    monkeypatch.setattr(driver, "IDLE_BEFORE_TEST", 0.0)

    connection = engine.raw_connection()
    try:
        assert connection.driver_connection is not first
        assert connection.driver_connection.execute("SELECT 1").fetchone() == (1,)
    finally:
        connection.close()


def test_the_drivers_read_asks_again_on_a_new_connection_when_its_connection_died_in_use(engine):
    query = driver.DriverQuery(select(text("42")))
    assert query.rows(engine) == [(42,)]
    use_once(engine).close()  # lost a moment after its last use: not tested at check-out

    assert query.rows(engine) == [(42,)]
    assert engine.pings == []


def test_the_drivers_read_does_not_hide_an_error_that_is_not_a_lost_connection(engine):
    query = driver.DriverQuery(select(text("no_such_column")))

    with pytest.raises(sqlite3.OperationalError):
        query.rows(engine)
