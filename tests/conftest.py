"""Shared fixtures: a fresh app per test, its client and CLI runner, users, credentials and images.

The database is in-memory SQLite, or the PostgreSQL server named by $TEST_DATABASE_URL (CI runs the
suite both ways). No fixture holds an app or request context open for the whole test: code that
touches the database directly opens ``with app.app_context():`` for just that.
"""

import io
import os
import re
import time
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import pyotp
import pytest
from flask import Flask
from flask.testing import FlaskClient
from PIL import Image
from sqlalchemy import event

from bench.cluster import free_port
from portal import clock as portal_clock
from portal import create_app
from portal.extensions import db
from portal.models import User
from portal.services.audit import SYSTEM
from portal.services.mail.courier import courier_of
from portal.services.people import accounts
from portal.services.plumbing.background import wait_for_background
from portal.transactions import unit_of_work
from tests.providers.fixtures import _oidc_provider_fresh, github_stand_in, node_rp, oidc_provider  # noqa: F401
from tests.pwned import PwnedPasswords

PASSWORD = "Tr0ub4dor&3-staple"
# A password every local rule accepts, which the loopback Pwned Passwords API (``pwned``) lists.
BREACHED_PASSWORD = "Correct-Horse-Battery-9"
BREACH_COUNT = 3_861_493
BREACHED_MESSAGE = (
    "This password has appeared in a data breach 3,861,493 times and must not be used. Choose another."
)


class SettledClient(FlaskClient):
    """A test client that returns only once the work a request left in the background is done,
    so a test sees its mails and rows as deterministically as if it had been done inline."""

    def open(self, *args, **kwargs):
        response = super().open(*args, **kwargs)
        wait_for_background()
        return response


@pytest.fixture(autouse=True)
def settled_test_clients(monkeypatch):
    monkeypatch.setattr(Flask, "test_client_class", SettledClient)


def fresh_app(tmp_path, **overrides):
    """A testing app on empty tables, its files under ``tmp_path``; the tables go when it is done."""
    app = create_app(
        "testing",
        {"UPLOAD_FOLDER": str(tmp_path / "uploads"), "MAIL_OUTBOX_DIR": str(tmp_path / "outbox"), **overrides},
    )
    with app.app_context():
        db.drop_all()  # a PostgreSQL database may hold tables from an interrupted run
        db.create_all()
    yield app
    stop_delivering(app)
    with app.app_context():
        db.session.remove()
        db.drop_all()
        db.engine.dispose()


def stop_delivering(app) -> None:
    """Stop the app's mail courier, which may be waiting to retry a delivery, before its tables go."""
    courier = courier_of(app)
    if courier is not None:
        courier.stop()


def shared_database(tmp_path) -> dict:
    """Overrides for a database several connections, threads and processes can use at once: a SQLite
    file (in-memory SQLite is one connection for every thread), or the PostgreSQL test database."""
    if os.environ.get("TEST_DATABASE_URL"):
        return {"SQLALCHEMY_DATABASE_URI": os.environ["TEST_DATABASE_URL"]}
    return {"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'shared.sqlite'}"}


class ManualClock(portal_clock.Clock):
    """The portal's clock in a test: it stands still until the test moves it.

    It starts 5 s into the next 30-second step, so that an authenticator app's code "of the previous
    step" (``code``) is exactly that, whatever second the test runs at; and a little ahead of the
    system's time, never behind it, so what was made before it was set (a token stamped by the
    system's time) is not from its future.
    """

    def __init__(self):
        started = time.time()
        self._now = datetime.fromtimestamp(started - started % 30 + 35, UTC)

    def now(self) -> datetime:
        return self._now

    def timestamp(self) -> float:
        return self._now.timestamp()

    def advance(self, seconds: float = 0, **later) -> None:
        """Move on by ``seconds`` (and/or ``timedelta`` keywords: ``minutes=10``)."""
        self._now += timedelta(seconds=seconds, **later)

    def set(self, when: datetime) -> None:
        """Move to ``when`` (naive: UTC, as the tables store it)."""
        self._now = when if when.tzinfo else when.replace(tzinfo=UTC)

    def code(self, secret: str, steps: int = 0) -> str:
        """What an authenticator app set up with ``secret`` shows now, or ``steps`` steps after (before)."""
        return pyotp.TOTP(secret).at(self._now, counter_offset=steps)


@pytest.fixture
def clock():
    """The portal's one clock, standing still for the test to move (``advance``, ``set``); the
    system's again afterwards."""
    moved = ManualClock()
    previous = portal_clock.use(moved)
    yield moved
    portal_clock.use(previous)


@pytest.fixture
def app(tmp_path):
    yield from fresh_app(tmp_path)


@pytest.fixture
def make_app(tmp_path):
    """Build a separate app with its own in-memory database: ``make_app("production", CORS_ORIGINS=[…])``.

    For settings that are read once when an app is built, or a second app beside ``app``. Every
    app made is torn down after the test. A production app's breach check is off unless a test
    turns it on: no test asks the real Have I Been Pwned.
    """
    made = []

    def make(config="testing", **overrides):
        folder = tmp_path / f"app{len(made)}"
        app = create_app(
            config,
            {
                "UPLOAD_FOLDER": str(folder / "uploads"),
                "MAIL_OUTBOX_DIR": str(folder / "outbox"),
                "SQLALCHEMY_DATABASE_URI": "sqlite://",
                "PASSWORD_BREACH_CHECK": False,
                **overrides,
            },
        )
        with app.app_context():
            db.create_all()
        made.append(app)
        return app

    yield make
    for app in made:
        stop_delivering(app)
        with app.app_context():
            db.session.remove()
            db.drop_all()
            db.engine.dispose()


@contextmanager
def recorded_statements(app):
    """Every SQL statement the app sends while the block runs, as text (``before_cursor_execute``)."""
    statements = []

    def record(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", record)


@pytest.fixture
def breach_api(app):
    """Start a Pwned Passwords range API on loopback (``tests/pwned.py``) and turn the app's breach
    check on against it: ``breach_api({password: count}, delay=…, status=…)``."""
    started = []

    def start(breached=None, **behaviour) -> PwnedPasswords:
        server = PwnedPasswords(breached, **behaviour).start()
        started.append(server)
        app.config.update(PASSWORD_BREACH_CHECK=True, PASSWORD_BREACH_API_URL=server.url)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def pwned(breach_api):
    """The app's breach check on, against a loopback range API that lists ``BREACHED_PASSWORD``."""
    return breach_api({BREACHED_PASSWORD: BREACH_COUNT})


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
        with app.app_context(), unit_of_work():
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


def stored_user(app, user_id) -> dict | None:
    """Every stored column of a user (and its group names), read in a short app context; None when gone."""
    with app.app_context():
        user = db.session.get(User, user_id)
        if user is None:
            return None
        return {column.key: getattr(user, column.key) for column in User.__table__.columns} | {
            "groups": [group.name for group in user.groups]
        }


def image_bytes(fmt="JPEG", size=(800, 600), color=(200, 30, 30), mode="RGB", **save_options) -> bytes:
    """An image made in memory, encoded in ``fmt``."""
    buffer = io.BytesIO()
    Image.new(mode, size, color).save(buffer, fmt, **save_options)
    return buffer.getvalue()


def upload(data: bytes, filename="avatar.jpg"):
    """A multipart file value for the test client."""
    return (io.BytesIO(data), filename)


def written_mail(app) -> list[EmailMessage]:
    """The mail an app with the development ``outbox`` transport wrote (``.eml`` files in
    MAIL_OUTBOX_DIR), oldest first."""
    folder = Path(app.config["MAIL_OUTBOX_DIR"])
    files = sorted(folder.glob("*.eml")) if folder.is_dir() else []
    return [message_from_bytes(file.read_bytes(), policy=policy.default) for file in files]


def stored_avatars(app) -> list[str]:
    folder = Path(app.config["UPLOAD_FOLDER"]) / "avatars"
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


class Mailbox:
    """What a real SMTP server on loopback received, parsed."""

    def __init__(self):
        self._messages: list[EmailMessage] = []
        self.envelopes = []

    @property
    def messages(self) -> list[EmailMessage]:
        """Everything delivered, once mail still being sent in the background has gone out."""
        wait_for_background()
        return self._messages

    def sent_to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.messages if m["To"] == address]

    def code_for(self, address: str) -> str:
        """The six-digit code of the newest message to ``address``, read from its plain-text body."""
        body = self.sent_to(address)[-1].get_body(("plain",)).get_content()
        return re.search(r"\b(\d{6})\b", body).group(1)


class SmtpHandler:
    """aiosmtpd's side: files each delivered message in the mailbox.

    Kept apart from Mailbox because aiosmtpd inspects every member of its handler, and reading
    ``Mailbox.messages`` waits for the very mail the server is about to receive.
    """

    def __init__(self, box: Mailbox):
        self.box = box

    async def handle_DATA(self, server, session, envelope):
        self.box.envelopes.append(envelope)
        self.box._messages.append(message_from_bytes(envelope.content, policy=policy.default))
        return "250 Message accepted for delivery"


@pytest.fixture
def mailbox(app):
    """Start an SMTP server on loopback and point the app's SMTP transport at it."""
    from aiosmtpd.controller import Controller

    box = Mailbox()
    controller = Controller(SmtpHandler(box), hostname="127.0.0.1", port=free_port())
    controller.start()
    app.config.update(MAIL_TRANSPORT="smtp", MAIL_SERVER="127.0.0.1", MAIL_PORT=controller.port)
    yield box
    controller.stop()
