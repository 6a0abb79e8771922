"""Request ids, the per-request JSON log line, and the probes a load balancer asks."""

import io
import json
import logging
import re

import pytest
from flask_migrate import stamp
from sqlalchemy import text

from portal import create_app
from portal.extensions import db
from portal.health import migrations_head
from portal.observability import JsonFormatter, RequestIdFilter
from portal.services.audit import SYSTEM
from portal.services.people import accounts
from portal.services.ways_in import api_keys

GENERATED_ID = re.compile(r"[0-9a-f]{32}")


@pytest.fixture
def log_lines():
    """The JSON lines the portal's loggers write while the test runs."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(JsonFormatter())
    portal_logger = logging.getLogger("portal")
    level = portal_logger.level
    portal_logger.addHandler(handler)
    portal_logger.setLevel(logging.INFO)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    portal_logger.removeHandler(handler)
    portal_logger.setLevel(level)


def test_a_sane_request_id_is_taken_from_the_request_and_returned(client):
    response = client.get("/healthz", headers={"X-Request-ID": "edge-7f3a.42:1"})
    assert response.headers["X-Request-ID"] == "edge-7f3a.42:1"


@pytest.mark.parametrize("offered", [None, "", "has space", "tab\there", "x" * 129, "<script>", "ünïcode"])
def test_a_missing_or_unsafe_request_id_is_replaced_by_a_new_one(client, offered):
    headers = {} if offered is None else {"X-Request-ID": offered}
    returned = client.get("/healthz", headers=headers).headers["X-Request-ID"]
    assert GENERATED_ID.fullmatch(returned)
    assert returned != offered


def test_every_request_gets_its_own_id(client):
    ids = {client.get("/healthz").headers["X-Request-ID"] for _ in range(5)}
    assert len(ids) == 5


def test_answers_no_view_made_carry_the_request_id_too(client):
    """A 404 and a redirect come from routing, not a view; they are numbered all the same."""
    missing = client.get("/no/such/page/", headers={"X-Request-ID": "lost-1"})
    redirected = client.get("/api/users/me", headers={"X-Request-ID": "slash-1"})
    assert (missing.status_code, missing.headers["X-Request-ID"]) == (404, "lost-1")
    assert (redirected.status_code, redirected.headers["X-Request-ID"]) == (301, "slash-1")


def test_each_request_writes_one_json_line_with_its_id_and_no_credential(make_app, log_lines):
    app = make_app(LOG_REQUESTS=True)
    with app.app_context():
        account = accounts.create_user("logged@example.com", "Tr0ub4dor&3-staple", SYSTEM, email_verified=True)
        _, key = api_keys.issue_api_key(account, SYSTEM)
        db.session.commit()
    client = app.test_client()
    client.get("/healthz", headers={"X-Request-ID": "req-one", "User-Agent": "probe/1.0"})
    client.get("/api/users/me/?page=2", headers={"Authorization": f"Token {key}", "X-Request-ID": "req-two"})

    lines = [line for line in log_lines() if line["logger"] == "portal.requests"]
    assert [(line["request_id"], line["method"], line["path"], line["status"]) for line in lines] == [
        ("req-one", "GET", "/healthz", 200),
        ("req-two", "GET", "/api/users/me/", 200),
    ]
    assert lines[0]["user_agent"] == "probe/1.0"
    assert lines[0]["level"] == "INFO" and lines[0]["duration_ms"] >= 0
    assert all(key not in json.dumps(line) for line in log_lines())


def test_no_request_line_is_written_when_request_logging_is_off(make_app, log_lines):
    make_app(LOG_REQUESTS=False).test_client().get("/healthz")
    assert [line for line in log_lines() if line["logger"] == "portal.requests"] == []


def test_a_line_logged_while_a_request_is_handled_carries_that_request_id(make_app, log_lines):
    app = make_app()

    @app.get("/logs-something/")
    def logs_something():
        logging.getLogger("portal.example").warning("something happened")
        return {}

    app.test_client().get("/logs-something/", headers={"X-Request-ID": "inner-9"})
    logging.getLogger("portal.example").warning("outside any request")
    lines = {line["message"]: line for line in log_lines()}
    assert lines["something happened"]["request_id"] == "inner-9"
    assert lines["outside any request"]["request_id"] == "-"


def test_healthz_answers_json_while_the_process_runs(client):
    response = client.get("/healthz")
    assert (response.status_code, response.get_json()) == (200, {"status": "ok"})


def test_readyz_is_ready_only_when_the_schema_is_at_the_newest_migration(make_app):
    app = make_app()
    client = app.test_client()
    not_migrated = client.get("/readyz")
    assert not_migrated.status_code == 503
    assert not_migrated.get_json()["status"] == "unavailable"

    with app.app_context():
        stamp(directory=app.extensions["migrate"].directory, revision="head")
    ready = client.get("/readyz")
    head = migrations_head(app.extensions["migrate"].directory)
    assert (ready.status_code, ready.get_json()) == (200, {"status": "ok", "database": "ok", "migration": head})

    with app.app_context():
        db.session.execute(text("UPDATE alembic_version SET version_num = 'an-older-one'"))
        db.session.commit()
    behind = client.get("/readyz")
    assert behind.status_code == 503
    assert behind.get_json() == {
        "status": "unavailable", "database": "ok", "migration": "an-older-one", "expected": head}


def test_readyz_says_unavailable_when_the_database_does_not_answer(tmp_path):
    app = create_app("testing", {
        "SQLALCHEMY_DATABASE_URI": "postgresql://nobody@127.0.0.1:1/nothing",  # nothing listens on port 1
        "SQLALCHEMY_ENGINE_OPTIONS": {"connect_args": {"connect_timeout": 2}},
        "UPLOAD_FOLDER": str(tmp_path / "uploads"), "MAIL_OUTBOX_DIR": str(tmp_path / "outbox"),
    })
    client = app.test_client()
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["status"] == "unavailable"
    assert client.get("/healthz").status_code == 200  # the process itself is up
