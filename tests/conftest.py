"""Shared fixtures: a fresh app per test, its client and CLI runner, users, credentials and images.

The database is in-memory SQLite, or the PostgreSQL server named by $DATABASE_URL (CI runs the
suite both ways). No fixture holds an app or request context open for the whole test: code that
touches the database directly opens ``with app.app_context():`` for just that.
"""

import io
from dataclasses import dataclass
from pathlib import Path

import pytest
from PIL import Image

from portal import create_app
from portal.extensions import db
from portal.services import accounts
from portal.services.audit import SYSTEM

PASSWORD = "Tr0ub4dor&3-staple"


@pytest.fixture
def app(tmp_path):
    app = create_app(
        "testing",
        {"UPLOAD_FOLDER": str(tmp_path / "uploads"), "MAIL_OUTBOX_DIR": str(tmp_path / "outbox")},
    )
    with app.app_context():
        db.drop_all()  # a PostgreSQL database may hold tables from an interrupted run
        db.create_all()
    yield app
    with app.app_context():
        db.session.remove()
        db.drop_all()
        db.engine.dispose()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@dataclass
class Account:
    """A user as the tests know it: plain values that outlive any app context."""

    id: int
    email: str
    password: str


@pytest.fixture
def make_user(app):
    """Create a verified, active user; keyword arguments are profile fields or staff flags."""

    def make(email="user@example.com", password=PASSWORD, *, verified=True, staff=False, superuser=False, **profile):
        with app.app_context():
            user = accounts.create_user(
                email, password, SYSTEM, profile=profile, email_verified=verified,
                is_staff=staff, is_superuser=superuser,
            )
            return Account(user.id, user.email, password)

    return make


@pytest.fixture
def user(make_user):
    return make_user()


@pytest.fixture
def jwt_pair(client):
    """``{"access", "refresh"}`` for an account, obtained through POST /api/token/."""

    def obtain(account):
        response = client.post("/api/token/", json={"email": account.email, "password": account.password})
        assert response.status_code == 200, response.get_json()
        return response.get_json()

    return obtain


@pytest.fixture
def bearer(jwt_pair):
    """Headers with a fresh JWT access token for an account."""
    return lambda account: {"Authorization": f"Bearer {jwt_pair(account)['access']}"}


@pytest.fixture
def api_key(client):
    """A new API key for an account, obtained through POST /api/auth/token/login/."""

    def obtain(account):
        response = client.post("/api/auth/token/login/", json={"email": account.email, "password": account.password})
        assert response.status_code == 200, response.get_json()
        return response.get_json()["auth_token"]

    return obtain


@pytest.fixture
def token_auth(api_key):
    """Headers with a new API key for an account."""
    return lambda account: {"Authorization": f"Token {api_key(account)}"}


def image_bytes(fmt="JPEG", size=(800, 600), color=(200, 30, 30), mode="RGB", **save_options) -> bytes:
    """An image made in memory, encoded in ``fmt``."""
    buffer = io.BytesIO()
    Image.new(mode, size, color).save(buffer, fmt, **save_options)
    return buffer.getvalue()


def upload(data: bytes, filename="avatar.jpg"):
    """A multipart file value for the test client."""
    return (io.BytesIO(data), filename)


def stored_avatars(app) -> list[str]:
    folder = Path(app.config["UPLOAD_FOLDER"]) / "avatars"
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []
