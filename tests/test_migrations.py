"""The migrations build exactly the schema the models describe."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import upgrade
from sqlalchemy import inspect

from portal.extensions import db
from portal.models import exists_on


def test_upgrade_from_nothing_matches_the_models(app):
    with app.app_context():
        db.drop_all()
        with db.engine.begin() as connection:  # "nothing" includes no record of earlier migrations
            connection.exec_driver_sql("DROP TABLE IF EXISTS alembic_version")
        upgrade()
        with db.engine.connect() as connection:
            def made_here(item, name, type_, reflected, compare_to):
                return reflected or exists_on(connection.dialect.name, item)

            context = MigrationContext.configure(connection, opts={"include_object": made_here})
            differences = compare_metadata(context, db.metadata)
            tables = set(inspect(connection).get_table_names())
        assert differences == []
        assert {"users", "groups", "user_groups", "credentials", "email_codes", "audit_events"} <= tables
        db.session.remove()
        with db.engine.begin() as connection:
            connection.exec_driver_sql("DROP TABLE alembic_version")
