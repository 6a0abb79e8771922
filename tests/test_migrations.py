"""The migrations build exactly the schema the models describe."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect, text

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


def test_the_two_factor_migration_goes_down_to_0005_and_up_again(app):
    two_factor_tables = {"totp_devices", "recovery_codes", "passkeys", "webauthn_challenges", "pending_sign_ins"}
    with app.app_context():
        db.drop_all()
        with db.engine.begin() as connection:
            connection.exec_driver_sql("DROP TABLE IF EXISTS alembic_version")
        upgrade()
        with db.engine.begin() as connection:  # a row made before the downgrade survives it
            connection.exec_driver_sql(
                "INSERT INTO credentials (kind, public_id, created_at, method)"
                " VALUES ('key', 'k1', '2025-01-01', 'passkey')"
            )

        downgrade(revision="0005")
        with db.engine.connect() as connection:
            inspector = inspect(connection)
            assert not two_factor_tables & set(inspector.get_table_names())
            assert {"method", "proven_at"}.isdisjoint(c["name"] for c in inspector.get_columns("credentials"))

        upgrade()
        with db.engine.connect() as connection:
            assert two_factor_tables <= set(inspect(connection).get_table_names())
            # A credential from before the migration counts as a password sign-in.
            assert connection.exec_driver_sql("SELECT method, proven_at FROM credentials").all() == [("password", None)]
        db.session.remove()
        with db.engine.begin() as connection:
            connection.exec_driver_sql("DELETE FROM credentials")
            connection.exec_driver_sql("DROP TABLE alembic_version")


def test_the_sign_in_alerts_migration_goes_down_to_0007_and_up_again(app):
    alert_tables = {"sign_in_sources", "sign_in_alerts"}
    with app.app_context():
        db.drop_all()
        with db.engine.begin() as connection:
            connection.exec_driver_sql("DROP TABLE IF EXISTS alembic_version")
        upgrade(revision="0007")
        with db.engine.begin() as connection:  # an account made before sign-in alerts existed
            connection.exec_driver_sql(
                "INSERT INTO users (email, email_canonical, password_hash, is_active, is_staff, is_superuser,"
                " email_verified, date_joined, updated_at) VALUES ('a@example.com', 'a@example.com', 'x',"
                " true, false, false, true, '2025-01-01', '2025-01-01')"
            )

        upgrade()
        with db.engine.connect() as connection:
            assert alert_tables <= set(inspect(connection).get_table_names())
            # It gets the mails, and its password still signs in.
            assert connection.exec_driver_sql(
                "SELECT sign_in_alerts, password_reset_required FROM users"
            ).all() in ([(True, False)], [(1, 0)])

        downgrade(revision="0007")
        with db.engine.connect() as connection:
            inspector = inspect(connection)
            assert not alert_tables & set(inspector.get_table_names())
            assert {"sign_in_alerts", "password_reset_required"}.isdisjoint(
                c["name"] for c in inspector.get_columns("users"))
            assert connection.exec_driver_sql("SELECT email FROM users").all() == [("a@example.com",)]
        db.session.remove()
        with db.engine.begin() as connection:
            connection.exec_driver_sql("DELETE FROM users")
            connection.exec_driver_sql("DROP TABLE alembic_version")


def test_the_security_stamp_migration_keys_addresses_by_their_normalised_form_and_goes_back(app):
    with app.app_context():
        db.drop_all()
        with db.engine.begin() as connection:
            connection.exec_driver_sql("DROP TABLE IF EXISTS alembic_version")
        upgrade(revision="0010")
        with db.engine.begin() as connection:  # keys as they were made: case-folded ("ß" became "ss")
            for email in ("owner@straße.example.com", "Other@Example.com"):
                connection.execute(text(
                    "INSERT INTO users (email, email_canonical, password_hash, is_active, is_staff, is_superuser,"
                    " email_verified, date_joined, updated_at) VALUES (:email, :key, 'x', true, false, false, true,"
                    " '2025-01-01', '2025-01-01')"
                ), {"email": email, "key": email.casefold()})

        upgrade()
        with db.engine.connect() as connection:
            keys = connection.exec_driver_sql("SELECT email_canonical, security_stamp FROM users ORDER BY id").all()
        # The sharp-s domain is no longer keyed as its "ss" twin, whose owner could now sign up.
        assert keys == [("owner@straße.example.com", 0), ("other@example.com", 0)]

        downgrade(revision="0010")
        with db.engine.connect() as connection:
            assert "security_stamp" not in {c["name"] for c in inspect(connection).get_columns("users")}
            keys = connection.exec_driver_sql("SELECT email_canonical FROM users ORDER BY id").all()
        assert keys == [("owner@strasse.example.com",), ("other@example.com",)]
        db.session.remove()
        with db.engine.begin() as connection:
            connection.exec_driver_sql("DELETE FROM users")
            connection.exec_driver_sql("DROP TABLE alembic_version")
