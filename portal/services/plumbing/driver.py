"""Reads sent straight to the database driver, for the one query every API request makes.

SQLAlchemy builds and compiles the statement (once per engine), and its types' bind and result
processors convert every value, so rows read as they would through SQLAlchemy; this module only
skips the machinery around running it (an execution context, a result object, events), which cost
three times the query itself on the hottest path. Errors are the driver's own, not wrapped.

What it saves: 25 to 40 µs of CPU on each authenticated API read of about 170–200 µs — measured with
``python -m bench.request_cpu`` against the same statement run through ``Connection.execute`` — the
largest single part of the read path the portal itself can remove.

A database server's connections are tested before use only when they sat idle in the pool
(``test_when_idle``): testing each one at every check-out, as SQLAlchemy's ``pool_pre_ping`` does,
made every read on PostgreSQL two round trips to the server instead of one.
"""

import contextlib
import time
import weakref
from dataclasses import dataclass

from sqlalchemy import Select, event, exc
from sqlalchemy.engine import Engine

# A connection back in the pool for less than this was in use a moment ago, answering: a server that
# restarted or dropped it since would be a coincidence, which the read below survives by asking again.
IDLE_BEFORE_TEST = 1.0  # seconds


@dataclass(frozen=True)
class _Compiled:
    sql: str
    compiled: object
    processors: tuple  # (column index, converter) pairs for the values read
    bind_processors: tuple  # (parameter name, converter) pairs for the values sent
    autocommit_driver: bool  # the driver opens a transaction for a SELECT unless told not to


class DriverQuery:
    """A SELECT built once, run on a pooled driver connection: ``rows(engine, name=value, …)``."""

    def __init__(self, statement: Select):
        self.statement = statement
        self._per_engine = weakref.WeakKeyDictionary()

    def rows(self, engine: Engine, **parameters) -> list[tuple]:
        plan = self._per_engine.get(engine) or self._compile(engine)
        bound = plan.compiled.construct_params(parameters)
        for name, convert in plan.bind_processors:
            bound[name] = convert(bound[name])
        if plan.compiled.positional:
            bound = tuple(bound[name] for name in plan.compiled.positiontup)
        try:
            fetched = _fetch(engine, plan, bound)
        except _LostConnection:
            fetched = _fetch(engine, plan, bound, again=True)  # a SELECT may be sent again, on a new connection
        if not plan.processors:
            return fetched
        rows = []
        for row in fetched:
            row = list(row)
            for index, convert in plan.processors:
                row[index] = convert(row[index])
            rows.append(tuple(row))
        return rows

    def _compile(self, engine: Engine) -> _Compiled:
        dialect = engine.dialect
        compiled = self.statement.compile(dialect=dialect)
        # Only the columns whose values need converting (a date stored as text, a boolean as 0/1).
        processors = tuple(
            (index, convert)
            for index, column in enumerate(self.statement.selected_columns)
            if (convert := column.type.dialect_impl(dialect).result_processor(dialect, None)) is not None
        )
        bind_processors = tuple(
            (name, convert)
            for name, parameter in compiled.binds.items()
            if (convert := parameter.type.dialect_impl(dialect).bind_processor(dialect)) is not None
        )
        autocommit_driver = dialect.driver == "psycopg"
        plan = _Compiled(str(compiled), compiled, processors, bind_processors, autocommit_driver)
        self._per_engine[engine] = plan
        return plan


class _LostConnection(Exception):
    """The server was found gone: the connection, and the pool's older ones, are replaced."""


def _fetch(engine: Engine, plan: _Compiled, bound, *, again: bool = False) -> list[tuple]:
    """The rows the driver returns for ``plan``. A connection found dead is invalidated with every
    connection the pool made before it, as SQLAlchemy does on a lost server, and the first time
    the caller is told so (``_LostConnection``) to ask again; the second time, the driver's error."""
    connection = engine.raw_connection()  # checked out of the engine's pool, and back on close
    # One SELECT needs no transaction. psycopg would open one (a BEGIN) and the pool close it
    # (a ROLLBACK): two round trips to the server, as many as the query itself. A connection
    # comes out of the pool idle, so switching to autocommit for the read is allowed.
    outside_transaction = plan.autocommit_driver
    try:
        if outside_transaction:
            driver_connection = connection.driver_connection
            driver_connection.autocommit = True
            cursor = _kept_cursor(connection, driver_connection)
            # Prepared at once, not at psycopg's fifth use: until then the server plans the
            # statement anew on every run, which costs it several times the run itself, and a
            # ROLLBACK on the connection (an ORM session that only read) makes psycopg forget
            # what it had prepared.
            cursor.execute(plan.sql, bound, prepare=True)
            fetched = cursor.fetchall()
        else:
            cursor = connection.cursor()
            cursor.execute(plan.sql, bound)
            fetched = cursor.fetchall()
            cursor.close()
    except engine.dialect.loaded_dbapi.Error as error:
        _drop_kept_cursor(connection)
        if not engine.dialect.is_disconnect(error, connection.driver_connection, None):
            raise
        engine.pool._invalidate(connection, error)  # SQLAlchemy's own step when a server is lost
        if again:
            raise
        raise _LostConnection() from error
    finally:
        try:
            driver_connection = connection.driver_connection
            if outside_transaction and driver_connection is not None and not driver_connection.closed:
                driver_connection.autocommit = False  # as the pool and the ORM expect it
        finally:
            connection.close()
    return fetched


_CURSOR = "portal.driver.cursor"


def _kept_cursor(connection, driver_connection):
    """The cursor this pooled connection keeps for the reads here. A psycopg cursor set up once
    reads every next result with the loaders it already looked up; a new cursor per read cost a
    quarter of the driver's own time. It belongs to the DBAPI connection: the pool empties
    ``info`` when it closes or replaces that connection, and a cursor of another is never used."""
    cursor = connection.info.get(_CURSOR)
    if cursor is None or cursor.closed or cursor.connection is not driver_connection:
        cursor = connection.info[_CURSOR] = driver_connection.cursor()
    return cursor


def _drop_kept_cursor(connection) -> None:
    """After an error the next read starts on a fresh cursor."""
    cursor = connection.info.pop(_CURSOR, None)
    if cursor is not None:
        with contextlib.suppress(Exception):  # the connection may be gone, and the cursor with it
            cursor.close()


def test_when_idle(engine: Engine) -> None:
    """Test a connection before it is handed out when it sat idle in the pool for IDLE_BEFORE_TEST or
    longer (a restart, a failover or a firewall may have ended it); one found dead is replaced, with
    every connection the pool made before it. A connection busy a moment ago is not tested: under
    load none is, which saves every request a round trip."""

    @event.listens_for(engine, "checkin")
    def note_return(_dbapi_connection, record):
        record.info["returned_at"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def test_if_idle(dbapi_connection, record, _proxy):
        returned_at = record.info.pop("returned_at", None)  # None: made for this check-out
        if returned_at is None or time.monotonic() - returned_at < IDLE_BEFORE_TEST:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as error:
            if engine.dialect.is_disconnect(error, dbapi_connection, None):
                raise exc.InvalidatePoolError() from error  # the pool replaces it, and the older ones
            raise
