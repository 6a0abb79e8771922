"""The operator commands under ``flask --app portal``; each leaves an audit event via "cli"."""

import os
import re
import subprocess

from sqlalchemy import select

from bench.cluster import BIN, ROOT
from portal import create_app
from portal.extensions import db
from portal.models import AuditEvent, Credential, Group, User
from portal.services.people.passwords import check_password

from .conftest import BREACHED_MESSAGE, BREACHED_PASSWORD, PASSWORD
from .pwned import sha1_hex

STRONG = "Quiet-Meadow-Lantern-42"


def find_user(app, email) -> User | None:
    with app.app_context():
        user = db.session.scalar(select(User).where(User.email_canonical == email.lower()))
        if user is not None:
            db.session.expunge(user)
        return user


def cli_events(app, action) -> list[AuditEvent]:
    with app.app_context():
        events = db.session.scalars(select(AuditEvent).where(AuditEvent.action == action)).all()
        for event in events:
            db.session.expunge(event)
        return events


def user_count(app) -> int:
    with app.app_context():
        return db.session.query(User).count()


# create-user ---------------------------------------------------------------------------------


def test_create_user_makes_a_verified_active_user_who_can_sign_in(app, client, runner):
    result = runner.invoke(args=["create-user", "ops@example.com", "--password", STRONG])

    assert result.exit_code == 0, result.output
    assert "ops@example.com" in result.output
    user = find_user(app, "ops@example.com")
    assert user.is_active and user.email_verified
    assert not user.is_staff and not user.is_superuser and user.username is None
    assert STRONG not in user.password_hash
    with app.app_context():
        assert check_password(user.password_hash, STRONG)
    response = client.post("/api/token/", json={"email": "ops@example.com", "password": STRONG})
    assert response.status_code == 200 and set(response.get_json()) == {"access", "refresh"}
    [event] = cli_events(app, "account_created")
    assert (event.via, event.subject_id, event.actor_id) == ("cli", user.id, None)
    assert STRONG not in str(event.changes)


def test_create_user_with_username_staff_and_superuser_flags(app, runner):
    staff = runner.invoke(args=["create-user", "staff@example.com", "--password", STRONG,
                                "--username", "Staffer", "--staff"])
    root = runner.invoke(args=["create-user", "root@example.com", "--password", STRONG, "--superuser"])

    assert staff.exit_code == 0, staff.output
    assert root.exit_code == 0, root.output
    staff_user, root_user = find_user(app, "staff@example.com"), find_user(app, "root@example.com")
    assert (staff_user.username, staff_user.is_staff, staff_user.is_superuser) == ("Staffer", True, False)
    assert (root_user.is_staff, root_user.is_superuser) == (True, True)
    assert [e.via for e in cli_events(app, "account_created")] == ["cli", "cli"]


def test_create_user_with_weak_password_fails_with_a_message_and_creates_nothing(app, runner):
    result = runner.invoke(args=["create-user", "weak@example.com", "--password", "12345"])

    assert result.exit_code != 0
    assert "password" in result.output and "too short" in result.output
    assert user_count(app) == 0
    assert cli_events(app, "account_created") == []


def test_create_user_with_a_breached_password_fails_with_its_count_and_creates_nothing(app, runner, pwned):
    result = runner.invoke(args=["create-user", "ops@example.com", "--password", BREACHED_PASSWORD])

    assert result.exit_code != 0
    assert f"password: {BREACHED_MESSAGE}" in result.output
    assert user_count(app) == 0
    assert cli_events(app, "account_created") == []
    assert len(pwned.requests) == 1


def test_in_production_flask_create_user_asks_the_breach_api_and_refuses_a_breached_password(tmp_path, pwned):
    """The real command in its own process, configured as in production, where the check is on."""
    database = tmp_path / "production.sqlite"
    schema = create_app("testing", {"SQLALCHEMY_DATABASE_URI": f"sqlite:///{database}"})
    with schema.app_context():
        db.create_all()
        db.engine.dispose()
    env = {name: value for name, value in os.environ.items() if not name.startswith("FLASK_")}
    env.pop("TEST_DATABASE_URL", None)
    env.update(
        PORTAL_ENV="production", SECRET_KEY="production-secret-key-for-the-cli-test-0123456789",
        DATABASE_URL=f"sqlite:///{database}", FLASK_TRUSTED_HOSTS="localhost", FLASK_LOG_JSON="false",
        FLASK_PASSWORD_BREACH_API_URL=pwned.url, FLASK_PASSWORD_HASH_MEMORY_COST="1024",
    )

    def create_user(email, password):
        return subprocess.run(
            [str(BIN / "flask"), "--app", "portal", "create-user", email, "--password", password],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
        )

    refused = create_user("ops@example.com", BREACHED_PASSWORD)
    created = create_user("ops@example.com", STRONG)

    assert refused.returncode != 0
    assert f"password: {BREACHED_MESSAGE}" in refused.stderr
    assert created.returncode == 0, created.stderr
    assert [r.path[len("/range/"):] for r in pwned.requests] == [sha1_hex(BREACHED_PASSWORD)[:5], sha1_hex(STRONG)[:5]]


def test_create_user_with_invalid_email_fails_and_creates_nothing(app, runner):
    result = runner.invoke(args=["create-user", "not-an-email", "--password", STRONG])

    assert result.exit_code != 0
    assert "email" in result.output
    assert user_count(app) == 0


def test_create_user_refuses_a_duplicate_email_case_insensitively(app, runner, user):
    result = runner.invoke(args=["create-user", user.email.upper(), "--password", STRONG])

    assert result.exit_code != 0
    assert "already exists" in result.output
    assert user_count(app) == 1
    assert len(cli_events(app, "account_created")) == 1  # the fixture's own user only


def test_create_user_prompts_for_the_password_twice_when_it_is_left_out(app, client, runner):
    result = runner.invoke(args=["create-user", "prompted@example.com"], input=f"{STRONG}\n{STRONG}\n")

    assert result.exit_code == 0, result.output
    assert "Password" in result.output
    assert STRONG not in result.output  # the prompt hides what is typed
    response = client.post("/api/token/", json={"email": "prompted@example.com", "password": STRONG})
    assert response.status_code == 200


def test_create_user_prompt_asks_again_when_the_two_entries_differ(app, runner):
    result = runner.invoke(
        args=["create-user", "prompted@example.com"], input=f"{STRONG}\nsomething-else-9\n{STRONG}\n{STRONG}\n"
    )

    assert result.exit_code == 0, result.output
    assert "do not match" in result.output
    with app.app_context():
        assert check_password(find_user(app, "prompted@example.com").password_hash, STRONG)


# create-token --------------------------------------------------------------------------------


def test_create_token_prints_a_40_hex_key_that_authenticates(app, client, runner, user):
    result = runner.invoke(args=["create-token", user.email])

    assert result.exit_code == 0, result.output
    key = result.output.strip()
    assert re.fullmatch(r"[0-9a-f]{40}", key)
    response = client.get("/api/users/me/", headers={"Authorization": f"Token {key}"})
    assert response.status_code == 200 and response.get_json()["email"] == user.email
    with app.app_context():
        [row] = db.session.scalars(select(Credential)).all()
        assert (row.kind, row.user_id, row.revoked_at) == ("key", user.id, None)
        assert key not in (row.secret_hash, row.public_id)
    [event] = cli_events(app, "api_key_created")
    assert (event.via, event.subject_id) == ("cli", user.id)
    assert key not in str(event.changes)


def test_create_token_for_an_unknown_email_fails_and_issues_nothing(app, runner):
    result = runner.invoke(args=["create-token", "ghost@example.com"])

    assert result.exit_code != 0
    assert "ghost@example.com" in result.output
    with app.app_context():
        assert db.session.query(Credential).count() == 0


# create-group / add-to-group -------------------------------------------------------------------


def test_create_group_with_notes(app, runner):
    result = runner.invoke(args=["create-group", "Editors", "--notes", "May edit articles"])

    assert result.exit_code == 0, result.output
    assert "Editors" in result.output
    with app.app_context():
        [group] = db.session.scalars(select(Group)).all()
        assert (group.name, group.notes) == ("Editors", "May edit articles")
    [event] = cli_events(app, "group_created")
    assert event.via == "cli" and event.changes == {"name": [None, "Editors"]}


def test_create_group_without_notes(app, runner):
    result = runner.invoke(args=["create-group", "Readers"])

    assert result.exit_code == 0, result.output
    with app.app_context():
        [group] = db.session.scalars(select(Group)).all()
        assert (group.name, group.notes) == ("Readers", None)


def test_create_group_refuses_a_duplicate_name(app, runner):
    runner.invoke(args=["create-group", "Editors"])

    result = runner.invoke(args=["create-group", "editors"])

    assert result.exit_code != 0
    assert "already exists" in result.output
    with app.app_context():
        assert db.session.scalars(select(Group.name)).all() == ["Editors"]
    assert len(cli_events(app, "group_created")) == 1


def test_add_to_group_makes_the_user_a_member(app, client, runner, user, token_auth):
    runner.invoke(args=["create-group", "Editors", "--notes", "n"])

    result = runner.invoke(args=["add-to-group", user.email, "Editors"])

    assert result.exit_code == 0, result.output
    with app.app_context():
        assert [g.name for g in db.session.get(User, user.id).groups] == ["Editors"]
    groups = client.get("/api/users/me/", headers=token_auth(user)).get_json()["groups"]
    assert [(g["name"], g["users_count"]) for g in groups] == [("Editors", 1)]
    [event] = cli_events(app, "group_membership_changed")
    assert (event.via, event.subject_id, event.changes) == ("cli", user.id, {"groups": [None, "Editors"]})


def test_add_to_unknown_group_or_unknown_user_fails(app, runner, user):
    runner.invoke(args=["create-group", "Editors"])

    no_group = runner.invoke(args=["add-to-group", user.email, "Nope"])
    no_user = runner.invoke(args=["add-to-group", "ghost@example.com", "Editors"])

    assert no_group.exit_code != 0 and "Nope" in no_group.output
    assert no_user.exit_code != 0 and "ghost@example.com" in no_user.output
    with app.app_context():
        assert db.session.get(User, user.id).groups == []
    assert cli_events(app, "group_membership_changed") == []


# deactivate ------------------------------------------------------------------------------------


def test_deactivate_disables_the_account_and_its_credentials(app, client, runner, user, token_auth, bearer):
    key_headers, jwt_headers = token_auth(user), bearer(user)

    result = runner.invoke(args=["deactivate", user.email])

    assert result.exit_code == 0, result.output
    assert user.email in result.output
    assert find_user(app, user.email).is_active is False
    for headers in (key_headers, jwt_headers):
        response = client.get("/api/users/me/", headers=headers)
        assert response.status_code == 401
        assert set(response.get_json()) == {"detail"}
    sign_in = client.post("/api/token/", json={"email": user.email, "password": PASSWORD})
    assert sign_in.status_code == 401
    [event] = cli_events(app, "account_flags_changed")
    assert (event.via, event.subject_id, event.changes) == ("cli", user.id, {"is_active": [True, False]})


def test_deactivate_unknown_email_fails(runner):
    result = runner.invoke(args=["deactivate", "ghost@example.com"])

    assert result.exit_code != 0
    assert "ghost@example.com" in result.output


# ensure-superuser ----------------------------------------------------------------------------


def test_ensure_superuser_creates_one_whose_printed_credentials_work(app, client, runner):
    result = runner.invoke(args=["ensure-superuser"])

    assert result.exit_code == 0, result.output
    email = re.search(r"email:\s*(\S+)", result.output).group(1)
    password = re.search(r"password:\s*(\S+)", result.output).group(1)
    assert email == "admin@example.com"
    user = find_user(app, email)
    assert user.is_superuser and user.is_staff and user.is_active and user.email_verified
    response = client.post("/api/token/", json={"email": email, "password": password})
    assert response.status_code == 200 and set(response.get_json()) == {"access", "refresh"}
    [event] = cli_events(app, "account_created")
    assert (event.via, event.subject_id) == ("cli", user.id)
    assert password not in str(event.changes)


def test_ensure_superuser_second_run_says_one_exists_and_creates_nothing(app, runner):
    runner.invoke(args=["ensure-superuser", "--email", "boss@example.com"])

    again = runner.invoke(args=["ensure-superuser", "--email", "other@example.com"])

    assert again.exit_code == 0
    assert "exists" in again.output
    assert "password" not in again.output
    assert find_user(app, "other@example.com") is None
    assert find_user(app, "boss@example.com").is_superuser
    assert user_count(app) == 1


def test_ensure_superuser_respects_one_made_with_create_user(app, runner):
    runner.invoke(args=["create-user", "root@example.com", "--password", STRONG, "--superuser"])

    result = runner.invoke(args=["ensure-superuser"])

    assert result.exit_code == 0
    assert "exists" in result.output
    assert find_user(app, "admin@example.com") is None


def test_ensure_superuser_prints_a_sign_in_request_that_works(runner, client):
    output = runner.invoke(args=["ensure-superuser"]).output
    body = re.search(r"-d '(\{.*\})'", output).group(1)

    response = client.post("/api/token/", data=body, content_type="application/json")

    assert "curl -s -X POST http://127.0.0.1:5000/api/token/" in output
    assert response.status_code == 200
    assert set(response.get_json()) == {"access", "refresh"}
