"""The account and group services without HTTP: creation, profile updates, races, deletion, staff flags."""

import io
import json

import pytest
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import AuditEvent, Credential, Group, User
from portal.services.audit import SYSTEM, Actor
from portal.services.errors import PermissionDenied, ValidationFailed
from portal.services.people import accounts, groups
from portal.services.people.passwords import check_password
from portal.services.ways_in import api_keys, tokens
from portal.transactions import unit_of_work
from tests.conftest import PASSWORD, image_bytes, stored_avatars

EMAIL_TAKEN = "A user with that email already exists."
USERNAME_TAKEN = "A user with that username already exists."
PHONE_TAKEN = "A user with that phone number already exists."
GROUP_TAKEN = "A group with that name already exists."


def events(action=None) -> list[AuditEvent]:
    query = select(AuditEvent).order_by(AuditEvent.id)
    if action:
        query = query.where(AuditEvent.action == action)
    return list(db.session.scalars(query))


def user_count() -> int:
    return db.session.scalar(select(func.count(User.id)))


def as_actor(user: User, via="api") -> Actor:
    return Actor(user=user, ip="198.51.100.7", via=via)


# --- create_user -------------------------------------------------------------------------------


def test_create_user_stores_cleaned_values_and_only_a_password_hash(app):
    with app.app_context(), unit_of_work():
        user = accounts.create_user(
            " Sara@Example.COM ", PASSWORD, SYSTEM,
            profile={"first_name": " سارا ", "last_name": "", "country": "ir", "gender": "Female",
                     "phone": " +98 912 000 1122 "},
        )
        user_id = user.id

    with app.app_context(), unit_of_work():
        row = db.session.get(User, user_id)
        assert (row.email, row.first_name, row.last_name, row.country, row.gender, row.phone) == (
            "Sara@example.com", "سارا", None, "IR", "female", "+98 912 000 1122",
        )
        assert row.is_active and not row.is_staff and not row.is_superuser and not row.email_verified
        assert PASSWORD not in row.password_hash and row.password_hash.startswith("$argon2id$")
        assert check_password(row.password_hash, PASSWORD)
        [event] = events("account_created")
        assert event.subject_id == user_id and event.subject_label == "Sara@example.com"
        assert event.changes["email"] == [None, "Sara@example.com"]
        assert "password" not in event.changes and PASSWORD not in json.dumps(event.changes)


def test_create_superuser_is_also_staff(app):
    with app.app_context():
        user = accounts.create_user("root@example.com", PASSWORD, SYSTEM, is_superuser=True)
        assert (user.is_staff, user.is_superuser) == (True, True)


@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("Sh0rt!", "This password is too short. It must contain at least 8 characters."),
        ("83920174651", "This password is entirely numeric."),
        ("password123", "This password is too common."),
        ("QWERTYUIOP", "This password is too common."),
        ("johnsmith1", "The password is too similar to your account details."),
        ("", "This field may not be blank."),
    ],
)
def test_create_user_refuses_a_weak_password(app, password, message):
    with app.app_context():
        with pytest.raises(ValidationFailed) as excinfo:
            accounts.create_user("johnsmith@example.com", password, SYSTEM)
        assert message in excinfo.value.errors["password"]
        assert list(excinfo.value.errors) == ["password"]
        assert user_count() == 0


def test_create_user_reports_every_problem_at_once(app):
    with app.app_context():
        with pytest.raises(ValidationFailed) as excinfo:
            accounts.create_user("not-an-email", "1234", SYSTEM, profile={"phone": "12", "country": "XX"})
        assert set(excinfo.value.errors) == {"email", "password", "phone", "country"}
        assert excinfo.value.errors["password"] == [
            "This password is too short. It must contain at least 8 characters.",
            "This password is entirely numeric.",
            "This password is too common.",
        ]


@pytest.mark.parametrize(
    ("existing", "duplicate", "field", "message"),
    [
        ({"email": "alice@example.com"}, {"email": "ALICE@Example.com"}, "email", EMAIL_TAKEN),
        ({"username": "Alice_W"}, {"username": "alice_w"}, "username", USERNAME_TAKEN),
        ({"username": "Straße"}, {"username": "STRASSE"}, "username", USERNAME_TAKEN),
        ({"phone": "+15550124"}, {"phone": "+1 (555) 0124"}, "phone", PHONE_TAKEN),
        ({"phone": "0912-345-6789"}, {"phone": "(0912) 345 6789"}, "phone", PHONE_TAKEN),
    ],
)
def test_create_user_refuses_a_duplicate(app, make_user, existing, duplicate, field, message):
    make_user(existing.pop("email", "first@example.com"), **existing)
    with app.app_context():
        with pytest.raises(ValidationFailed) as excinfo:
            accounts.create_user(duplicate.pop("email", "second@example.com"), PASSWORD, SYSTEM, profile=duplicate)
        assert excinfo.value.errors == {field: [message]}
        assert user_count() == 1


def test_phone_with_and_without_a_leading_plus_are_different_numbers(app, make_user):
    make_user("first@example.com", phone="+15550124")
    second = make_user("second@example.com", phone="15550124")
    with app.app_context():
        assert db.session.get(User, second.id).phone == "15550124"


def test_create_user_race_on_email_is_a_field_error_and_the_session_stays_usable(app, make_user, monkeypatch):
    make_user("alice@example.com")
    monkeypatch.setattr(accounts, "_uniqueness_errors", lambda cleaned, exclude_id: {})
    with app.app_context():
        with pytest.raises(ValidationFailed) as excinfo:
            accounts.create_user("Alice@example.com", PASSWORD, SYSTEM)
        assert excinfo.value.errors == {"email": [EMAIL_TAKEN]}
        assert user_count() == 1
        assert events("account_created")[-1].subject_label == "alice@example.com"
        accounts.create_user("carol@example.com", PASSWORD, SYSTEM)
        assert user_count() == 2


# --- update_profile ----------------------------------------------------------------------------


def test_update_profile_applies_changes_and_audits_old_and_new_values(app, make_user):
    account = make_user("me@example.com", first_name="Ali", phone="5550100")
    with app.app_context(), unit_of_work():
        me = db.session.get(User, account.id)
        accounts.update_profile(
            me,
            {"first_name": "علی", "last_name": " رضایی ", "phone": "+98 (21) 555",
             "birthday": "1990-05-17", "country": "de"},
            as_actor(me, via="web"),
        )

    with app.app_context(), unit_of_work():
        me = db.session.get(User, account.id)
        assert (me.first_name, me.last_name, me.phone, me.country, str(me.birthday)) == (
            "علی", "رضایی", "+98 (21) 555", "DE", "1990-05-17",
        )
        assert me.full_name == "علی رضایی"
        [event] = events("profile_updated")
        assert event.changes == {
            "first_name": ["Ali", "علی"],
            "last_name": [None, "رضایی"],
            "phone": ["5550100", "+98 (21) 555"],
            "birthday": [None, "1990-05-17"],
            "country": [None, "DE"],
        }
        assert (event.actor_id, event.subject_id, event.ip, event.via) == (
            account.id, account.id, "198.51.100.7", "web")


def test_update_profile_blank_text_clears_the_field(app, make_user):
    account = make_user("me@example.com", last_name="Smith")
    with app.app_context():
        me = db.session.get(User, account.id)
        accounts.update_profile(me, {"last_name": "   "}, as_actor(me))
        assert db.session.get(User, account.id).last_name is None
        assert events("profile_updated")[-1].changes == {"last_name": ["Smith", None]}


def test_update_profile_never_applies_a_password_or_read_only_fields(app, user):
    with app.app_context(), unit_of_work():
        me = db.session.get(User, user.id)
        old_hash = me.password_hash
        accounts.update_profile(
            me,
            {
                "first_name": "Neo",
                "password": "N3w-Passw0rd-xyz!",
                "password_hash": "x",
                "is_staff": True,
                "is_superuser": True,
                "is_active": False,
                "email_verified": False,
                "id": 999,
            },
            as_actor(me),
        )

    with app.app_context(), unit_of_work():
        me = db.session.get(User, user.id)
        assert me.password_hash == old_hash and check_password(me.password_hash, PASSWORD)
        assert (me.id, me.is_staff, me.is_superuser, me.is_active, me.email_verified) == (
            user.id, False, False, True, True)
        assert events("profile_updated")[-1].changes == {"first_name": [None, "Neo"]}
        every_change = json.dumps([event.changes for event in events()])
        assert "N3w-Passw0rd-xyz!" not in every_change and PASSWORD not in every_change
        assert "$argon2" not in every_change


def test_update_profile_with_nothing_changed_writes_no_audit_event(app, make_user):
    account = make_user("me@example.com", first_name="Ali", phone="5550100")
    with app.app_context():
        me = db.session.get(User, account.id)
        updated_at = me.updated_at
        accounts.update_profile(
            me, {"email": "me@example.com", "first_name": " Ali ", "phone": "5550100", "last_name": ""}, as_actor(me)
        )
        accounts.update_profile(me, {}, as_actor(me))
        accounts.update_profile(me, {"avatar": None}, as_actor(me))  # no avatar to remove

    with app.app_context():
        assert events("profile_updated") == []
        assert db.session.get(User, account.id).updated_at == updated_at


@pytest.mark.parametrize(
    ("theirs", "mine", "field", "message"),
    [
        ({"email": "bob@example.com"}, {"email": "BOB@Example.COM"}, "email", EMAIL_TAKEN),
        ({"username": "Bobby"}, {"username": "bOBBY"}, "username", USERNAME_TAKEN),
        ({"phone": "+15550124"}, {"phone": "+1 (555) 0124"}, "phone", PHONE_TAKEN),
        ({"phone": "+1 (555) 0124"}, {"phone": "+15550124"}, "phone", PHONE_TAKEN),
    ],
)
def test_update_profile_refuses_a_value_another_user_has(app, make_user, theirs, mine, field, message):
    make_user(theirs.pop("email", "bob@example.com"), **theirs)
    account = make_user("me@example.com")
    with app.app_context():
        me = db.session.get(User, account.id)
        with pytest.raises(ValidationFailed) as excinfo:
            accounts.update_profile(me, {**mine, "first_name": "Changed"}, as_actor(me))
        assert excinfo.value.errors == {field: [message]}

    with app.app_context():
        me = db.session.get(User, account.id)
        assert (me.email, me.username, me.phone, me.first_name) == ("me@example.com", None, None, None)
        assert events("profile_updated") == []


def test_update_profile_accepts_the_users_own_values_in_another_case_or_format(app, make_user):
    account = make_user("me@example.com", username="Me_Myself", phone="+15550124")
    with app.app_context(), unit_of_work():
        me = db.session.get(User, account.id)
        accounts.update_profile(me, {"email": "ME@example.com", "username": "me_myself", "phone": "+1 555 0124"},
                                as_actor(me))

    with app.app_context(), unit_of_work():
        me = db.session.get(User, account.id)
        assert (me.email, me.username, me.phone) == ("ME@example.com", "me_myself", "+1 555 0124")


@pytest.mark.parametrize(
    ("theirs", "mine", "field", "message"),
    [
        ({"email": "bob@example.com"}, {"email": "Bob@example.com"}, "email", EMAIL_TAKEN),
        ({"username": "bobby"}, {"username": "BOBBY"}, "username", USERNAME_TAKEN),
        ({"phone": "+15550124"}, {"phone": "+1 (555) 0124"}, "phone", PHONE_TAKEN),
    ],
)
def test_update_profile_race_is_a_field_error_leaves_no_file_and_keeps_the_session_usable(
    app, make_user, monkeypatch, theirs, mine, field, message
):
    make_user(theirs.pop("email", "bob@example.com"), **theirs)
    account = make_user("me@example.com")
    # As if the other write committed between our check and our commit: only the index sees it.
    monkeypatch.setattr(accounts, "_uniqueness_errors", lambda cleaned, exclude_id: {})

    with app.app_context(), unit_of_work():
        me = db.session.get(User, account.id)
        with pytest.raises(ValidationFailed) as excinfo:
            accounts.update_profile(
                me, {**mine, "first_name": "Racer", "avatar": io.BytesIO(image_bytes("JPEG", (64, 64)))}, as_actor(me)
            )
        assert excinfo.value.errors == {field: [message]}
        assert stored_avatars(app) == []

        # The same session goes on working: the row is as before, and a good update commits.
        assert (me.first_name, me.avatar, me.email) == (None, None, "me@example.com")
        accounts.update_profile(me, {"first_name": "Calm"}, as_actor(me))

    with app.app_context(), unit_of_work():
        me = db.session.get(User, account.id)
        assert (me.first_name, me.avatar) == ("Calm", None)
        assert [e.changes for e in events("profile_updated")] == [{"first_name": [None, "Calm"]}]


def test_update_profile_race_keeps_the_previous_avatar_file(app, make_user, monkeypatch):
    make_user("bob@example.com")
    account = make_user("me@example.com")
    with app.app_context(), unit_of_work():
        me = db.session.get(User, account.id)
        accounts.update_profile(me, {"avatar": io.BytesIO(image_bytes("PNG", (64, 64)))}, as_actor(me))
        old = me.avatar
    monkeypatch.setattr(accounts, "_uniqueness_errors", lambda cleaned, exclude_id: {})

    with app.app_context(), unit_of_work():
        me = db.session.get(User, account.id)
        with pytest.raises(ValidationFailed):
            accounts.update_profile(
                me, {"email": "bob@example.com", "avatar": io.BytesIO(image_bytes("JPEG", (64, 64)))}, as_actor(me)
            )

    assert stored_avatars(app) == [old]
    with app.app_context(), unit_of_work():
        assert db.session.get(User, account.id).avatar == old


# --- delete_account ----------------------------------------------------------------------------


def test_delete_account_removes_row_avatar_and_memberships_but_keeps_the_audit_trail(app, make_user):
    account = make_user("leaving@example.com")
    with app.app_context(), unit_of_work():
        me = db.session.get(User, account.id)
        accounts.update_profile(me, {"avatar": io.BytesIO(image_bytes())}, as_actor(me))
        group = groups.create_group("Readers", SYSTEM)
        groups.set_membership(me, group, True, SYSTEM)
        group_id = group.id
    assert len(stored_avatars(app)) == 1

    with app.app_context(), unit_of_work():
        me = db.session.get(User, account.id)
        accounts.delete_account(me, as_actor(me))

    assert stored_avatars(app) == []
    with app.app_context(), unit_of_work():
        assert db.session.get(User, account.id) is None
        assert db.session.get(Group, group_id).users_count == 0
        [deleted] = events("account_deleted")
        assert (deleted.subject_id, deleted.subject_label, deleted.ip) == (None, "leaving@example.com", "198.51.100.7")
        assert deleted.changes == {"id": [account.id, None]}
        created = events("account_created")[0]
        assert (created.subject_id, created.subject_label) == (None, "leaving@example.com")


# --- update_account_flags ----------------------------------------------------------------------


@pytest.fixture
def people(make_user):
    return {
        "root": make_user("root@example.com", superuser=True),
        "staff": make_user("staff@example.com", staff=True),
        "other_staff": make_user("staff2@example.com", staff=True),
        "member": make_user("member@example.com"),
    }


def flags_of(account) -> tuple:
    row = db.session.get(User, account.id)
    return row.is_active, row.is_staff, row.is_superuser


def change_flags(app, actor_account, target_account, flags):
    with app.app_context(), unit_of_work():
        actor = db.session.get(User, actor_account.id) if actor_account else None
        target = db.session.get(User, target_account.id)
        accounts.update_account_flags(target, flags, Actor(user=actor, via="admin") if actor else SYSTEM)


@pytest.mark.parametrize(
    ("actor", "target", "flags"),
    [
        ("staff", "member", {"is_staff": True}),
        ("staff", "member", {"is_superuser": True}),
        ("staff", "other_staff", {"is_staff": False}),
        ("staff", "root", {"is_superuser": False}),
        ("member", "member", {"email_verified": False}),
        ("member", "staff", {"is_active": False}),
    ],
)
def test_only_a_superuser_changes_staff_rights_and_only_staff_change_flags(app, people, actor, target, flags):
    with app.app_context():
        before = flags_of(people[target])
    with pytest.raises(PermissionDenied):
        change_flags(app, people[actor], people[target], flags)
    with app.app_context():
        assert flags_of(people[target]) == before
        assert events("account_flags_changed") == []


@pytest.mark.parametrize(
    ("actor", "flags"),
    [
        ("root", {"is_superuser": False}),
        ("root", {"is_staff": False}),
        ("root", {"is_active": False}),
        ("staff", {"is_staff": False}),
        ("staff", {"is_active": False}),
    ],
)
def test_nobody_removes_their_own_rights_or_deactivates_themselves(app, people, actor, flags):
    with app.app_context():
        before = flags_of(people[actor])
    with pytest.raises(PermissionDenied):
        change_flags(app, people[actor], people[actor], flags)
    with app.app_context():
        assert flags_of(people[actor]) == before


def test_superuser_grants_staff_and_superuser_rights(app, people):
    change_flags(app, people["root"], people["member"], {"is_staff": True})
    with app.app_context(), unit_of_work():
        assert flags_of(people["member"]) == (True, True, False)
    change_flags(app, people["root"], people["staff"], {"is_superuser": True})
    with app.app_context(), unit_of_work():
        assert flags_of(people["staff"]) == (True, True, True)
        changes = [(e.actor_id, e.subject_id, e.changes) for e in events("account_flags_changed")]
        assert changes == [
            (people["root"].id, people["member"].id, {"is_staff": [False, True]}),
            (people["root"].id, people["staff"].id, {"is_superuser": [False, True]}),
        ]


def test_superuser_removes_staff_rights_of_someone_else(app, people):
    change_flags(app, people["root"], people["staff"], {"is_staff": False})
    with app.app_context(), unit_of_work():
        assert flags_of(people["staff"]) == (True, False, False)


def test_audit_event_never_claims_a_flag_value_the_account_does_not_have(app, make_user, people):
    other_root = make_user("root2@example.com", superuser=True)

    change_flags(app, people["root"], other_root, {"is_staff": False})

    with app.app_context():
        row = db.session.get(User, other_root.id)
        for event in events("account_flags_changed"):
            for field, (_, new) in event.changes.items():
                assert getattr(row, field) == new, f"audit says {field} became {new}"


def test_staff_deactivates_a_member_and_every_credential_of_theirs_is_revoked(app, people):
    with app.app_context(), unit_of_work():
        member = db.session.get(User, people["member"].id)
        api_keys.issue_api_key(member, as_actor(member))
        tokens.issue_token_pair(member, as_actor(member))

    change_flags(app, people["staff"], people["member"], {"is_active": False})

    with app.app_context(), unit_of_work():
        assert flags_of(people["member"]) == (False, False, False)
        rows = db.session.scalars(select(Credential).where(Credential.user_id == people["member"].id)).all()
        assert len(rows) == 2 and all(row.revoked_at is not None for row in rows)
        [event] = events("account_flags_changed")
        assert (event.actor_id, event.changes) == (people["staff"].id, {"is_active": [True, False]})


def test_deactivating_someone_leaves_other_users_credentials_alone(app, people):
    with app.app_context(), unit_of_work():
        staff = db.session.get(User, people["staff"].id)
        api_keys.issue_api_key(staff, as_actor(staff))

    change_flags(app, people["root"], people["member"], {"is_active": False})

    with app.app_context(), unit_of_work():
        row = db.session.scalars(select(Credential).where(Credential.user_id == people["staff"].id)).one()
        assert row.revoked_at is None


def test_system_actor_changes_any_flag_of_a_superuser_who_is_not_the_last(app, people, make_user):
    make_user("second-root@example.com", superuser=True)
    change_flags(app, None, people["root"], {"is_superuser": False, "is_staff": False, "is_active": False})
    with app.app_context(), unit_of_work():
        assert flags_of(people["root"]) == (False, False, False)


@pytest.mark.parametrize("flags", [{"is_superuser": False}, {"is_active": False}])
def test_not_even_the_command_line_demotes_or_deactivates_the_last_active_superuser(app, people, flags):
    with pytest.raises(PermissionDenied, match="last active superuser"):
        change_flags(app, None, people["root"], flags)
    with app.app_context():
        assert flags_of(people["root"]) == (True, True, True)


def test_flag_change_that_changes_nothing_writes_no_audit_event(app, people):
    change_flags(app, people["root"], people["member"], {"is_active": True, "is_staff": False})
    with app.app_context():
        assert events("account_flags_changed") == []


def test_flag_that_is_not_a_boolean_is_refused(app, people):
    with pytest.raises(ValidationFailed) as excinfo:
        change_flags(app, people["root"], people["member"], {"is_active": "false"})
    assert excinfo.value.errors == {"is_active": ["Must be a valid boolean."]}
    with app.app_context():
        assert flags_of(people["member"]) == (True, False, False)


# --- groups ------------------------------------------------------------------------------------


def test_create_group_trims_its_name_and_records_it(app):
    with app.app_context():
        group = groups.create_group("  Editors ", SYSTEM, notes="People who edit.\nAnd review.")
        assert (group.name, group.notes, group.users_count) == ("Editors", "People who edit.\nAnd review.", 0)
        assert events("group_created")[0].changes == {"name": [None, "Editors"]}


@pytest.mark.parametrize("duplicate", ["Editors", "editors", " EDITORS "])
def test_create_group_refuses_a_name_taken_in_any_case(app, duplicate):
    with app.app_context():
        groups.create_group("Editors", SYSTEM)
        with pytest.raises(ValidationFailed) as excinfo:
            groups.create_group(duplicate, SYSTEM)
        assert excinfo.value.errors == {"name": [GROUP_TAKEN]}
        assert db.session.scalar(select(func.count(Group.id))) == 1


def test_create_group_needs_a_name(app):
    with app.app_context():
        with pytest.raises(ValidationFailed) as excinfo:
            groups.create_group("   ", SYSTEM)
        assert excinfo.value.errors == {"name": ["This field may not be blank."]}


def test_create_group_race_is_a_name_error_and_the_session_stays_usable(app, monkeypatch):
    with app.app_context(), unit_of_work():
        groups.create_group("Editors", SYSTEM)
    monkeypatch.setattr(groups, "find_group", lambda name: None)
    with app.app_context(), unit_of_work():
        with pytest.raises(ValidationFailed) as excinfo:
            groups.create_group("Editors", SYSTEM)
        assert excinfo.value.errors == {"name": [GROUP_TAKEN]}
        groups.create_group("Writers", SYSTEM)
        assert sorted(db.session.scalars(select(Group.name))) == ["Editors", "Writers"]


def test_rename_group_to_another_groups_name_is_refused_but_recasing_its_own_is_fine(app):
    with app.app_context():
        groups.create_group("Editors", SYSTEM)
        writers = groups.create_group("Writers", SYSTEM)
        with pytest.raises(ValidationFailed) as excinfo:
            groups.update_group(writers, SYSTEM, name="EDITORS")
        assert excinfo.value.errors == {"name": [GROUP_TAKEN]}
        groups.update_group(writers, SYSTEM, name="WRITERS", notes="Loud ones")
        assert (writers.name, writers.notes) == ("WRITERS", "Loud ones")


def test_membership_changes_users_count_and_is_audited_once(app, make_user):
    alice, bob = make_user("alice@example.com"), make_user("bob@example.com")
    with app.app_context(), unit_of_work():
        group = groups.create_group("Editors", SYSTEM)
        group_id = group.id
        for account in (alice, bob):
            groups.set_membership(db.session.get(User, account.id), group, True, SYSTEM)
        groups.set_membership(db.session.get(User, alice.id), group, True, SYSTEM)  # already a member

    with app.app_context(), unit_of_work():
        group = db.session.get(Group, group_id)
        assert group.users_count == 2
        assert [g.name for g in db.session.get(User, alice.id).groups] == ["Editors"]
        assert len(events("group_membership_changed")) == 2
        groups.set_membership(db.session.get(User, bob.id), group, False, SYSTEM)

    with app.app_context(), unit_of_work():
        assert db.session.get(Group, group_id).users_count == 1
        assert db.session.get(User, bob.id).groups == []
        last = events("group_membership_changed")[-1]
        assert (last.subject_id, last.changes) == (bob.id, {"groups": ["Editors", None]})


def test_deleting_a_group_keeps_its_members(app, user):
    with app.app_context(), unit_of_work():
        group = groups.create_group("Temp", SYSTEM)
        groups.set_membership(db.session.get(User, user.id), group, True, SYSTEM)
        groups.delete_group(group, SYSTEM)

    with app.app_context(), unit_of_work():
        member = db.session.get(User, user.id)
        assert member is not None and member.groups == []
        assert db.session.scalar(select(func.count(Group.id))) == 0
        assert events("group_deleted")[0].changes == {"name": ["Temp", None]}


def test_an_email_equal_to_someone_elses_username_is_not_reported_as_a_taken_email(app):
    with app.app_context():
        accounts.create_user("first@example.com", PASSWORD, SYSTEM, profile={"username": "same@example.com"})
        with pytest.raises(ValidationFailed) as refused:
            accounts.create_user("same@example.com", PASSWORD, SYSTEM, profile={"username": "same@example.com"})
        assert refused.value.errors == {"username": ["A user with that username already exists."]}

        created = accounts.create_user("same@example.com", PASSWORD, SYSTEM, profile={"username": "other"})
        assert created.email == "same@example.com"
