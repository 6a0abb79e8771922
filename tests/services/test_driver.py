"""services.driver: a statement run straight on the driver reads the same rows, with the same
Python values, as SQLAlchemy reads through a session (on SQLite and on PostgreSQL)."""

from datetime import datetime

from sqlalchemy import bindparam, select

from portal.extensions import db
from portal.models import Credential, User
from portal.services import accounts, credentials
from portal.services.audit import SYSTEM
from portal.services.driver import DriverQuery

from ..conftest import PASSWORD


def test_rows_match_sqlalchemys_for_every_column_type_of_users_and_credentials(app):
    with app.app_context():
        user = accounts.create_user("Ada@Example.com", PASSWORD, SYSTEM, email_verified=True,
                                    profile={"first_name": "Ada", "gender": "female"})
        credentials.issue_api_key(user, SYSTEM, name="laptop")
        statement = (
            select(User.__table__, Credential.__table__)
            .join(Credential.__table__, Credential.user_id == User.id)
            .where(User.id == bindparam("value"))
        )
        through_sqlalchemy = [tuple(row) for row in db.session.execute(statement, {"value": user.id})]

        driven = DriverQuery(statement).rows(db.engine, value=user.id)

    assert driven == through_sqlalchemy and len(driven) == 1
    values = dict(zip(statement.selected_columns.keys(), driven[0]))
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
        with each.app_context():
            accounts.create_user(f"{each.name}-{id(each)}@example.com", PASSWORD, SYSTEM)

    for each in (app, other):
        with each.app_context():
            assert query.rows(db.engine, value=f"{each.name}-{id(each)}@example.com") == [
                (f"{each.name}-{id(each)}@example.com",)
            ]
