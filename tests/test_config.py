"""Configuration from classes and the environment; production refuses to start half configured."""

import os
import stat
from datetime import timedelta

import pytest

import portal.config
from portal import create_app
from portal.extensions import db
from portal.services.audit import SYSTEM
from portal.services.people import accounts
from portal.transactions import unit_of_work

from .conftest import PASSWORD

SECRET = "0123456789abcdef0123456789abcdef-from-the-environment"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    """No configuration leaks in from the shell that runs the tests."""
    for name in list(os.environ):
        if name.startswith("FLASK_") or name in ("SECRET_KEY", "DATABASE_URL", "TEST_DATABASE_URL", "PORTAL_ENV"):
            monkeypatch.delenv(name)


@pytest.fixture
def no_instance_secret(monkeypatch):
    """Fail loudly if a config would fall back to the instance-folder secret."""

    def refuse(instance):
        raise AssertionError(f"_instance_secret({instance}) was called")

    monkeypatch.setattr(portal.config, "_instance_secret", refuse)


def dev_app(monkeypatch, overrides=None):
    """A development app that touches neither the real instance folder nor a file database."""
    monkeypatch.setenv("SECRET_KEY", SECRET)
    monkeypatch.setenv("DATABASE_URL", "sqlite://")
    return create_app("development", overrides)


# FLASK_<KEY> ------------------------------------------------------------------------------------


def test_flask_prefixed_false_switches_rate_limits_off(monkeypatch):
    monkeypatch.setenv("FLASK_RATELIMIT_ENABLED", "false")

    app = dev_app(monkeypatch)

    assert app.config["RATELIMIT_ENABLED"] is False


def test_flask_prefixed_true_switches_rate_limits_on_over_the_testing_class(monkeypatch):
    monkeypatch.setenv("FLASK_RATELIMIT_ENABLED", "true")

    app = create_app("testing")

    assert app.config["RATELIMIT_ENABLED"] is True


def test_flask_prefixed_values_are_parsed_as_json_or_kept_as_text(monkeypatch):
    monkeypatch.setenv("FLASK_AVATAR_SIZE", "256")
    monkeypatch.setenv("FLASK_MAX_CONTENT_LENGTH", "1048576")
    monkeypatch.setenv("FLASK_PUBLIC_BASE_URL", "https://accounts.example.com")
    monkeypatch.setenv("FLASK_RATELIMIT_SIGN_IN", "3 per minute")

    app = create_app("testing")

    assert app.config["AVATAR_SIZE"] == 256
    assert app.config["MAX_CONTENT_LENGTH"] == 1048576
    assert app.config["PUBLIC_BASE_URL"] == "https://accounts.example.com"
    assert app.config["RATELIMIT_SIGN_IN"] == "3 per minute"


@pytest.mark.parametrize(
    "value, expected",
    [
        ("accounts.example.com", ["accounts.example.com"]),
        ("a.example, b.example ,", ["a.example", "b.example"]),
        ('["a.example", "b.example"]', ["a.example", "b.example"]),
    ],
)
def test_flask_trusted_hosts_from_env_becomes_a_list(monkeypatch, value, expected):
    monkeypatch.setenv("FLASK_TRUSTED_HOSTS", value)

    app = create_app("testing")

    assert app.config["TRUSTED_HOSTS"] == expected


def test_flask_trusted_hosts_from_env_is_enforced_on_requests(monkeypatch):
    monkeypatch.setenv("FLASK_TRUSTED_HOSTS", "accounts.example.com")
    app = create_app("testing")
    client = app.test_client()

    trusted = client.get("/api/users/me/", headers={"Host": "accounts.example.com"})
    untrusted = client.get("/api/users/me/", headers={"Host": "localhost"})

    assert trusted.status_code == 401
    assert trusted.get_json() == {"detail": "Authentication credentials were not provided."}
    assert untrusted.status_code == 400
    assert set(untrusted.get_json()) == {"detail"}


def test_create_app_overrides_beat_the_environment(monkeypatch):
    monkeypatch.setenv("FLASK_AVATAR_SIZE", "256")

    app = create_app("testing", {"AVATAR_SIZE": 128})

    assert app.config["AVATAR_SIZE"] == 128


def test_flask_ratelimit_enabled_false_really_lets_every_attempt_through(monkeypatch, tmp_path):
    monkeypatch.setenv("FLASK_RATELIMIT_ENABLED", "false")
    cheap_hashing = {"PASSWORD_HASH_TIME_COST": 1, "PASSWORD_HASH_MEMORY_COST": 1024, "PASSWORD_HASH_PARALLELISM": 1}
    app = dev_app(monkeypatch, {"UPLOAD_FOLDER": str(tmp_path / "u"), "MAIL_OUTBOX_DIR": str(tmp_path / "o"),
                                **cheap_hashing})
    with app.app_context(), unit_of_work():
        db.create_all()
        accounts.create_user("many@example.com", PASSWORD, SYSTEM, email_verified=True)
    client = app.test_client()
    try:
        statuses = [
            client.post("/api/token/", json={"email": "many@example.com", "password": "wrong-password-1"}).status_code
            for _ in range(12)
        ]
        final = client.post("/api/token/", json={"email": "many@example.com", "password": PASSWORD})
    finally:
        with app.app_context(), unit_of_work():
            db.session.remove()
            db.engine.dispose()

    assert statuses == [401] * 12
    assert final.status_code == 200 and set(final.get_json()) == {"access", "refresh"}


# SECRET_KEY and DATABASE_URL -----------------------------------------------------------------------


def test_secret_key_is_read_from_the_environment(monkeypatch):
    monkeypatch.setenv("SECRET_KEY", SECRET)

    app = create_app("testing")

    assert app.config["SECRET_KEY"] == SECRET


def test_flask_secret_key_is_read_too(monkeypatch, no_instance_secret):
    monkeypatch.setenv("FLASK_SECRET_KEY", SECRET)
    monkeypatch.setenv("DATABASE_URL", "sqlite://")

    app = create_app("development")

    assert app.config["SECRET_KEY"] == SECRET


@pytest.mark.parametrize(
    "url, expected",
    [
        ("postgres://u:p@h/db", "postgresql+psycopg://u:p@h/db"),
        ("postgresql://u:p@h:5433/db", "postgresql+psycopg://u:p@h:5433/db"),
        ("postgresql+psycopg://u:p@h/db", "postgresql+psycopg://u:p@h/db"),
        ("sqlite:////tmp/portal-test.sqlite", "sqlite:////tmp/portal-test.sqlite"),
    ],
)
def test_database_url_is_read_and_postgres_urls_use_psycopg_3(monkeypatch, url, expected):
    monkeypatch.setenv("SECRET_KEY", SECRET)
    monkeypatch.setenv("DATABASE_URL", url)

    app = create_app("development")

    assert app.config["SQLALCHEMY_DATABASE_URI"] == expected


def test_tests_ignore_database_url_and_read_test_database_url(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgres://u:p@production/db")
    assert create_app("testing").config["SQLALCHEMY_DATABASE_URI"] == "sqlite://"

    monkeypatch.setenv("TEST_DATABASE_URL", "postgres://u:p@h/test")
    assert create_app("testing").config["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg://u:p@h/test"


def test_database_url_beats_flask_sqlalchemy_database_uri(monkeypatch):
    monkeypatch.setenv("FLASK_SQLALCHEMY_DATABASE_URI", "sqlite:////tmp/from-flask-prefix.sqlite")
    monkeypatch.setenv("DATABASE_URL", "postgres://u:p@h/db")
    monkeypatch.setenv("SECRET_KEY", SECRET)

    app = create_app("development")

    assert app.config["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg://u:p@h/db"


def test_portal_env_chooses_the_config_class(monkeypatch):
    monkeypatch.setenv("PORTAL_ENV", "testing")

    app = create_app()

    assert app.config["TESTING"] is True
    assert app.config["SQLALCHEMY_DATABASE_URI"] == "sqlite://"


def test_unknown_portal_env_refuses_to_start(monkeypatch):
    monkeypatch.setenv("PORTAL_ENV", "staging")

    with pytest.raises(RuntimeError, match="Unknown PORTAL_ENV 'staging'"):
        create_app()


# Production ------------------------------------------------------------------------------------


def test_production_without_secret_key_refuses_to_start(monkeypatch, no_instance_secret):
    monkeypatch.setenv("FLASK_PUBLIC_BASE_URL", "https://accounts.example.com")
    monkeypatch.setenv("DATABASE_URL", "sqlite://")

    with pytest.raises(RuntimeError, match="SECRET_KEY is not set"):
        create_app("production")


def test_production_with_empty_secret_key_refuses_to_start(monkeypatch, no_instance_secret):
    monkeypatch.setenv("SECRET_KEY", "")
    monkeypatch.setenv("FLASK_PUBLIC_BASE_URL", "https://accounts.example.com")
    monkeypatch.setenv("DATABASE_URL", "sqlite://")

    with pytest.raises(RuntimeError, match="SECRET_KEY"):
        create_app("production")


def test_production_without_public_base_url_or_trusted_hosts_refuses_to_start(monkeypatch, no_instance_secret):
    monkeypatch.setenv("SECRET_KEY", SECRET)
    monkeypatch.setenv("DATABASE_URL", "sqlite://")

    with pytest.raises(RuntimeError, match="PUBLIC_BASE_URL.*TRUSTED_HOSTS"):
        create_app("production")


@pytest.mark.parametrize(
    "name, value",
    [("FLASK_PUBLIC_BASE_URL", "https://accounts.example.com"), ("FLASK_TRUSTED_HOSTS", "accounts.example.com")],
)
def test_production_starts_with_secret_key_and_a_public_origin(monkeypatch, no_instance_secret, name, value):
    monkeypatch.setenv("SECRET_KEY", SECRET)
    monkeypatch.setenv("DATABASE_URL", "postgres://u:p@db.internal/portal")
    monkeypatch.setenv(name, value)

    app = create_app("production")

    assert app.config["SECRET_KEY"] == SECRET
    assert app.config["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg://u:p@db.internal/portal"
    assert app.config["SESSION_COOKIE_SECURE"] is True
    assert app.config.get("TESTING") is False
    assert app.config["MAIL_TRANSPORT"] == "smtp"


# The password breach check ---------------------------------------------------------------------


def test_the_breach_check_is_on_in_production_and_off_in_development_and_tests(monkeypatch):
    monkeypatch.setenv("SECRET_KEY", SECRET)
    monkeypatch.setenv("DATABASE_URL", "sqlite://")
    monkeypatch.setenv("FLASK_TRUSTED_HOSTS", "accounts.example.com")

    checks = {env: create_app(env).config["PASSWORD_BREACH_CHECK"] for env in ("production", "development", "testing")}

    assert checks == {"production": True, "development": False, "testing": False}
    production = create_app("production").config
    assert production["PASSWORD_BREACH_API_URL"] == "https://api.pwnedpasswords.com"
    assert 0 < production["PASSWORD_BREACH_TIMEOUT"] <= 3


def test_the_breach_check_is_set_from_the_environment(monkeypatch):
    monkeypatch.setenv("FLASK_PASSWORD_BREACH_CHECK", "true")
    monkeypatch.setenv("FLASK_PASSWORD_BREACH_API_URL", "https://pwned.internal.example")
    monkeypatch.setenv("FLASK_PASSWORD_BREACH_TIMEOUT", "1.5")

    config = dev_app(monkeypatch).config

    assert (config["PASSWORD_BREACH_CHECK"], config["PASSWORD_BREACH_API_URL"], config["PASSWORD_BREACH_TIMEOUT"]) == (
        True, "https://pwned.internal.example", 1.5,
    )


@pytest.mark.parametrize("url", ["file:///etc/passwd", "api.pwnedpasswords.com", "https://", ""])
def test_a_breach_check_against_anything_but_an_http_url_refuses_to_start(monkeypatch, url):
    with pytest.raises(RuntimeError, match="PASSWORD_BREACH_API_URL"):
        dev_app(monkeypatch, {"PASSWORD_BREACH_CHECK": True, "PASSWORD_BREACH_API_URL": url})


# The development secret ------------------------------------------------------------------------


def test_instance_secret_is_made_once_and_readable_by_its_owner_only(tmp_path):
    instance = tmp_path / "not-yet" / "instance"

    first = portal.config._instance_secret(instance)
    second = portal.config._instance_secret(instance)

    assert first == second
    assert len(first) == 64 and int(first, 16) >= 0
    path = instance / "secret_key"
    assert path.read_text().strip() == first
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_instance_secret_differs_between_instance_folders(tmp_path):
    assert portal.config._instance_secret(tmp_path / "a") != portal.config._instance_secret(tmp_path / "b")


def test_development_without_secret_key_uses_the_instance_secret_and_keeps_it(monkeypatch, tmp_path):
    real = portal.config._instance_secret
    seen = []

    def in_tmp(instance):
        seen.append(instance)
        return real(tmp_path / "instance")

    monkeypatch.setattr(portal.config, "_instance_secret", in_tmp)
    monkeypatch.setenv("DATABASE_URL", "sqlite://")

    first = create_app("development")
    second = create_app("development")

    assert len(seen) == 2
    assert first.config["SECRET_KEY"] == second.config["SECRET_KEY"]
    assert first.config["SECRET_KEY"] == (tmp_path / "instance" / "secret_key").read_text().strip()


def test_development_with_secret_key_does_not_touch_the_instance_secret(monkeypatch, no_instance_secret):
    app = dev_app(monkeypatch)

    assert app.config["SECRET_KEY"] == SECRET


# Connection pool ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url, expected",
    [
        ("sqlite://", {}),
        ("sqlite:////tmp/portal-pool.sqlite", {"pool_size": 16, "max_overflow": 8}),
        ("postgres://u:p@h/db", {"pool_size": 16, "max_overflow": 8, "pool_use_lifo": True}),
    ],
)
def test_the_pool_keeps_a_connection_per_server_thread(monkeypatch, url, expected):
    """A server's connections are tested when they sat idle (tests/test_pool_liveness.py), not by
    ``pool_pre_ping`` at every check-out, and the one returned last is handed out first."""
    monkeypatch.setenv("SECRET_KEY", SECRET)
    monkeypatch.setenv("DATABASE_URL", url)

    app = create_app("development")

    assert app.config["SQLALCHEMY_ENGINE_OPTIONS"] == expected


def test_pool_settings_and_explicit_engine_options_are_honoured(monkeypatch):
    monkeypatch.setenv("SECRET_KEY", SECRET)
    monkeypatch.setenv("DATABASE_URL", "postgres://u:p@h/db")
    monkeypatch.setenv("FLASK_DATABASE_POOL_SIZE", "4")

    app = create_app("development", {"SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": False, "echo": True}})

    assert app.config["SQLALCHEMY_ENGINE_OPTIONS"] == {
        "pool_size": 4, "max_overflow": 8, "pool_use_lifo": True, "pool_pre_ping": False, "echo": True,
    }


def test_durations_from_the_environment_are_seconds(monkeypatch, make_app):
    monkeypatch.setenv("FLASK_MAIL_GIVE_UP_AFTER", "3600")
    monkeypatch.setenv("FLASK_EMAIL_CODE_TTL", "90.5")

    app = make_app()

    assert app.config["MAIL_GIVE_UP_AFTER"] == timedelta(hours=1)
    assert app.config["EMAIL_CODE_TTL"] == timedelta(seconds=90.5)
