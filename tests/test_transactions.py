"""One commit per request, at the door (``portal.transactions``): what a request wrote stands when its
answer is not an error, and is rolled back when it is; a try that must count is kept though the
request is refused; a file written for a change that does not commit goes with it."""

import pytest
from sqlalchemy import func, select, text

from portal.extensions import db
from portal.models import AuditEvent, Credential, EmailCode, Group, OutgoingMail, User
from portal.services.audit import SYSTEM
from portal.services.errors import ValidationFailed
from portal.services.people import accounts, groups, verification
from portal.transactions import keep_though_refused, unit_of_work
from tests.conftest import image_bytes, stored_avatars, stored_user, upload

REFUSED = "/api/test-door/refused/"
DONE = "/api/test-door/done/"
KEPT = "/api/test-door/kept/"


@pytest.fixture
def door_app(app):
    """The app with three views that each make a group through the service, then answer in their own way."""

    def refused():
        groups.create_group("Written then refused", SYSTEM)
        raise ValidationFailed.on("name", "Refused after the write.")

    def done():
        group = groups.create_group("Written and done", SYSTEM)
        return {"id": group.id}, 201

    def kept():
        groups.create_group("Written and handed out", SYSTEM)
        keep_though_refused()
        return {"detail": "Refused, but what was written is handed out."}, 401

    for rule, view in ((REFUSED, refused), (DONE, done), (KEPT, kept)):
        app.add_url_rule(rule, view.__name__, view, methods=["POST"])
    return app


def group_names(app) -> list[str]:
    with app.app_context():
        return list(db.session.scalars(select(Group.name).order_by(Group.name)))


def test_a_view_whose_service_raises_after_writing_leaves_no_row(door_app):
    response = door_app.test_client().post(REFUSED)

    assert response.status_code == 400
    assert response.get_json() == {"name": ["Refused after the write."]}
    assert group_names(door_app) == []
    with door_app.app_context():
        assert db.session.scalar(select(func.count()).select_from(AuditEvent)) == 0  # nor its audit event


def test_a_successful_requests_writes_stand(door_app):
    response = door_app.test_client().post(DONE)

    assert response.status_code == 201
    assert group_names(door_app) == ["Written and done"]


def test_an_answer_that_hands_out_what_it_wrote_keeps_it_though_it_is_an_error(door_app):
    client = door_app.test_client()

    assert client.post(KEPT).status_code == 401
    assert client.post(REFUSED).status_code == 400  # the mark is the one request's, not the next one's

    assert group_names(door_app) == ["Written and handed out"]


def test_two_services_in_one_request_stand_or_fall_together(app, client, make_user, bearer):
    """A sign-up writes the account, its code and the code's mail: all of them, once."""
    passphrase = "a-Fresh-passphrase-42"
    response = client.post(
        "/api/v1/accounts/users/",
        json={"email": "new@example.com", "password": passphrase, "confirm_password": passphrase},
    )

    assert response.status_code == 201, response.get_json()
    with app.app_context():
        user = db.session.scalar(select(User).where(User.email == "new@example.com"))
        assert db.session.scalar(select(func.count()).select_from(EmailCode).where(EmailCode.user_id == user.id)) == 1
        assert db.session.scalar(select(func.count()).select_from(OutgoingMail)) == 1


# Tries that count though the request is refused ---------------------------------------------------


def test_a_wrong_code_is_refused_and_its_try_still_counts(app, client, make_user):
    account = make_user("new@example.com", verified=False)
    with app.app_context(), unit_of_work():
        code = verification.issue_code(db.session.get(User, account.id))
    wrong = f"{(int(code) + 1) % 10**6:06d}"

    response = client.post("/api/v1/accounts/users/verify-otp/", json={"email": account.email, "otp": wrong})

    assert response.status_code == 400
    with app.app_context():
        assert db.session.scalar(select(EmailCode.attempts)) == 1


def test_a_reused_refresh_token_is_refused_and_its_sign_in_stays_ended(app, client, user, jwt_pair):
    pair = jwt_pair(user)
    assert client.post("/api/token/refresh/", json={"refresh": pair["refresh"]}).status_code == 200

    again = client.post("/api/token/refresh/", json={"refresh": pair["refresh"]})

    assert again.status_code == 401
    with app.app_context():
        assert db.session.scalar(select(Credential.revoked_at)) is not None


# A file written for a change that does not commit ------------------------------------------------


def test_a_new_avatar_file_goes_when_the_doors_commit_fails_and_the_old_one_stays(door_app, user):
    """The door's own commit is the one that fails: the view leaves a row unflushed that the database
    refuses when the commit writes it."""
    door_app.config["PROPAGATE_EXCEPTIONS"] = False  # as in production: a 500 page, not a test error

    def change_avatar_then_break_the_commit():
        me = db.session.get(User, user.id)
        accounts.update_profile(me, {"avatar": upload(image_bytes("PNG"), "new.png")[0]}, SYSTEM)
        assert len(stored_avatars(door_app)) == 2  # written before the commit, so the commit can name it
        db.session.add(Group(name="Readers"))  # the unique index refuses it as the commit flushes it
        return {}, 200

    door_app.add_url_rule("/api/test-door/avatar/", "avatar", change_avatar_then_break_the_commit, methods=["POST"])
    with door_app.app_context(), unit_of_work():
        me = db.session.get(User, user.id)
        accounts.update_profile(me, {"avatar": upload(image_bytes("JPEG"))[0]}, SYSTEM)
        groups.create_group("Readers", SYSTEM)
    old = stored_user(door_app, user.id)["avatar"]

    response = door_app.test_client().post("/api/test-door/avatar/")

    assert response.status_code == 500
    assert stored_avatars(door_app) == [old]
    assert stored_user(door_app, user.id)["avatar"] == old


# A trigger that makes the database refuse every queued mail, in each database's own words (it goes
# with the table when the next test's database is made afresh).
REFUSE_MAIL = {
    "sqlite": ["CREATE TRIGGER refuse_mail BEFORE INSERT ON outgoing_mail BEGIN SELECT RAISE(ABORT, 'no mail'); END"],
    "postgresql": [
        "CREATE OR REPLACE FUNCTION refuse_mail() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN RAISE EXCEPTION 'no mail'; END $$",
        "CREATE TRIGGER refuse_mail BEFORE INSERT ON outgoing_mail FOR EACH ROW EXECUTE FUNCTION refuse_mail()",
    ],
}


def test_a_new_avatar_file_goes_when_the_database_refuses_the_change(app, client, user, bearer):
    """Through the API: the change of address queues a mail the database refuses; the new picture goes."""
    app.config["PROPAGATE_EXCEPTIONS"] = False
    headers = bearer(user)
    first = client.patch(f"/api/users/{user.id}/", headers=headers, data={"avatar": upload(image_bytes("JPEG"))},
                         content_type="multipart/form-data")
    assert first.status_code == 200, first.get_json()
    old = stored_user(app, user.id)["avatar"]
    with app.app_context():
        for statement in REFUSE_MAIL[db.engine.dialect.name]:
            db.session.execute(text(statement))
        db.session.commit()

    response = client.patch(
        f"/api/users/{user.id}/", headers=headers, content_type="multipart/form-data",
        data={"avatar": upload(image_bytes("PNG"), "new.png"), "email": "moved@example.com"},
    )

    assert response.status_code == 500
    assert stored_avatars(app) == [old]
    stored = stored_user(app, user.id)
    assert (stored["avatar"], stored["email"]) == (old, user.email)


def test_a_command_is_one_unit_of_work(app):
    """Outside a request no door commits: a unit of work keeps what it wrote, or nothing if it fails."""
    with app.app_context(), unit_of_work():
        accounts.create_user("kept@example.com", "a-Fresh-passphrase-42", SYSTEM)
    with pytest.raises(ValidationFailed), app.app_context(), unit_of_work():
        groups.create_group("Dropped", SYSTEM)
        groups.create_group("dropped", SYSTEM)  # taken in another case: refused, and the first goes too

    with app.app_context():
        assert db.session.scalars(select(User.email)).all() == ["kept@example.com"]
    assert group_names(app) == []
