"""Every refusal of the rights rules, through the admin and through the services,
the command line and the API where they apply:

- only a superuser grants or removes staff or superuser rights;
- a staff member changes no account of another staff member or of a superuser;
- nobody removes their own rights, or deactivates or deletes themselves, from the admin;
- the last active superuser is never demoted, deactivated or deleted, by any door;

and, with a second active superuser, each of those changes works.
"""

from types import SimpleNamespace

import pytest

from portal.extensions import db
from portal.models import User
from portal.services.audit import SYSTEM, Actor
from portal.services.errors import PermissionDenied
from portal.services.people import accounts
from portal.services.people import groups as group_service
from portal.services.people.accounts import LAST_SUPERUSER, NOT_YOURSELF
from portal.services.ways_in import api_keys
from portal.transactions import unit_of_work

from ..conftest import PASSWORD, stored_user
from .conftest import (
    add_user,
    create_people,
    events,
    flags,
    flashes,
    is_403_page,
    live_credentials,
    make_group,
    own_app,
    sign_in,
    text,
)

ME = "/api/users/me/"


def admin_actor(app, account) -> Actor:
    with app.app_context():
        return Actor(user=db.session.get(User, account.id), ip="127.0.0.1", via="admin")


def in_context(app, call):
    """Run ``call(get)`` in an app context as one unit of work, ``get(account)`` giving the stored User
    of an account."""
    with app.app_context(), unit_of_work():
        return call(lambda account: db.session.get(User, account.id))


def refused_in_service(app, call) -> str:
    """The message of the PermissionDenied that ``call(get)`` raises (and nothing was committed)."""
    with app.app_context():
        with pytest.raises(PermissionDenied) as refusal:
            call(lambda account: db.session.get(User, account.id))
        db.session.rollback()
        return str(refusal.value)


# Refusals in the admin: they must change nothing, so they share one app -------------------------------


@pytest.fixture(scope="class")
def refusing(tmp_path_factory):
    """The people and a second active superuser (so that only the rule under test can refuse), an API
    key each for staff2 and the superuser, a group, and signed-in clients of staff and the superuser."""
    with own_app(tmp_path_factory.mktemp("refusals")) as app:
        people = create_people(app)
        add_user(app, "root2@example.com", superuser=True)
        keys = {}
        with app.app_context(), unit_of_work():
            for name in ("staff2", "superuser"):
                credential, _ = api_keys.issue_api_key(db.session.get(User, getattr(people, name).id), SYSTEM)
                keys[name] = credential.public_id
        group = make_group(app, "Editors")
        clients = {name: sign_in(app.test_client(), getattr(people, name)) for name in ("staff", "superuser")}
        yield SimpleNamespace(app=app, people=people, keys=keys, group=group, clients=clients)


def everything(app, people) -> tuple:
    """The people's rows and live credentials, and the number of audit events."""
    return [(stored_user(app, a.id), live_credentials(app, a.id)) for a in vars(people).values()], len(events(app))


OTHER_STAFF_ACTIONS = [
    ("edit the profile", "", {"email": "{email}", "first_name": "Hacked", "last_name": "", "username": "",
                              "phone": "", "gender": "", "country": "", "address": "", "birthday": ""}),
    ("deactivate", "/deactivate", {"confirmed": "yes"}),
    ("delete", "/delete", {"confirmed": "yes"}),
    ("mark verified", "/verify", {}),
    ("remove the avatar", "/avatar/remove", {"confirmed": "yes"}),
    ("add to a group", "/groups", {"group_id": "{group}"}),
    ("end a key", "/credentials/{key}/end", {}),
]
SELF_ACTIONS = [
    ("remove own superuser right", "/access", {"is_staff": "y"}),
    ("remove own staff right", "/access", {}),
    ("deactivate", "/deactivate", {"confirmed": "yes"}),
    ("deactivate in bulk", None, {"action": "deactivate", "confirmed": "yes"}),
    ("delete", "/delete", {"confirmed": "yes"}),
]


class TestRefusedInTheAdmin:
    @pytest.mark.parametrize(
        "form, target",
        [
            ({"is_staff": "y"}, "member"),
            ({"is_staff": "y", "is_superuser": "y"}, "member"),
            ({"is_superuser": "y"}, "member"),
            ({}, "staff2"),
            ({"is_staff": "y"}, "superuser"),
        ],
        ids=["grant staff", "grant staff and superuser", "grant superuser", "remove staff from staff",
             "remove superuser from a superuser"],
    )
    def test_only_a_superuser_grants_or_removes_rights(self, refusing, form, target):
        app, people = refusing.app, refusing.people
        before = everything(app, people)

        answer = refusing.clients["staff"].post(f"/admin/users/{getattr(people, target).id}/access", data=form)

        assert is_403_page(answer), answer.status_code
        assert everything(app, people) == before

    @pytest.mark.parametrize("target", ["staff2", "superuser"])
    @pytest.mark.parametrize("action, suffix, form", OTHER_STAFF_ACTIONS, ids=[a[0] for a in OTHER_STAFF_ACTIONS])
    def test_a_staff_member_cannot_change_another_staff_member_or_a_superuser(
        self, refusing, target, action, suffix, form
    ):
        app, people = refusing.app, refusing.people
        account = getattr(people, target)
        values = {"email": account.email, "group": refusing.group, "key": refusing.keys[target]}
        before = everything(app, people)

        answer = refusing.clients["staff"].post(f"/admin/users/{account.id}" + suffix.format(**values),
                                                data={k: v.format(**values) for k, v in form.items()})

        assert is_403_page(answer), answer.status_code
        assert everything(app, people) == before

    @pytest.mark.parametrize("who", ["superuser", "staff"])
    @pytest.mark.parametrize("action, suffix, form", SELF_ACTIONS, ids=[a[0] for a in SELF_ACTIONS])
    def test_nobody_removes_their_own_rights_or_deactivates_or_deletes_themselves(
        self, refusing, who, action, suffix, form
    ):
        """A second active superuser exists, so only the rule about oneself can refuse."""
        app, people = refusing.app, refusing.people
        account, me = getattr(people, who), refusing.clients[who]
        before = everything(app, people)

        if suffix is None:
            answer = me.post("/admin/users/bulk", data={**form, "ids": [account.id]})
            assert answer.status_code == 302
            assert "0 of 1 accounts deactivated." in flashes(me.get(answer.headers["Location"]))
        else:
            answer = me.post(f"/admin/users/{account.id}{suffix}", data=form)
            assert is_403_page(answer), answer.status_code
        assert everything(app, people) == before
        assert me.get("/admin/users/").status_code == 200  # still signed in, still staff

    def test_the_403_page_of_a_refused_action_says_which_rule_refused_it(self, refusing):
        """The admin's PermissionDenied handler promises "403 with its reason": the page must show it."""
        people = refusing.people
        answer = refusing.clients["staff"].post(f"/admin/users/{people.superuser.id}/delete", data={"confirmed": "yes"})
        assert is_403_page(answer)
        assert "Only a superuser changes the account of a staff member." in text(answer)
        answer = refusing.clients["superuser"].post(f"/admin/users/{people.superuser.id}/deactivate",
                                                    data={"confirmed": "yes"})
        assert is_403_page(answer)
        assert str(NOT_YOURSELF) in text(answer)


# Only a superuser grants or removes rights; staff change no staff account -------------------------------


def test_the_rights_form_says_only_a_superuser_may_use_it(signed_in, people):
    page = signed_in(people.staff).get(f"/admin/users/{people.member.id}")
    assert "Only a superuser grants or removes these." in text(page)
    page = signed_in(people.superuser).get(f"/admin/users/{people.member.id}")
    assert "Only a superuser grants or removes these." not in text(page)


def test_a_staff_member_cannot_grant_rights_through_the_service_either(app, people):
    staff, member = admin_actor(app, people.staff), admin_actor(app, people.member2)
    message = refused_in_service(
        app, lambda get: accounts.update_account_flags(get(people.member), {"is_staff": True}, staff))
    assert message == "Only a superuser grants or removes staff or superuser rights."
    message = refused_in_service(
        app, lambda get: accounts.update_account_flags(get(people.member), {"is_active": False}, member))
    assert message == "Only staff change account flags."
    assert flags(app, people.member.id) == (True, False, False)


def test_the_api_cannot_grant_rights(app, client, people, bearer):
    headers = bearer(people.member)
    for url in (ME, f"/api/users/{people.member.id}/", f"/api/v1/accounts/users/{people.member.id}/"):
        client.patch(url, json={"is_staff": True, "is_superuser": True, "is_active": False}, headers=headers)
    assert flags(app, people.member.id) == (True, False, False)


def test_a_superuser_grants_and_removes_staff_and_superuser_rights(app, signed_in, people, mailbox):
    root = signed_in(people.superuser)
    member = people.member.id

    assert root.post(f"/admin/users/{member}/access", data={"is_staff": "y"}).status_code == 302
    assert flags(app, member) == (True, True, False)
    assert root.post(f"/admin/users/{member}/access", data={"is_staff": "y", "is_superuser": "y"}).status_code == 302
    assert flags(app, member) == (True, True, True)
    assert root.post(f"/admin/users/{member}/access", data={}).status_code == 302
    assert flags(app, member) == (True, False, False)
    assert root.post(f"/admin/users/{people.staff.id}/access", data={}).status_code == 302
    assert flags(app, people.staff.id) == (True, False, False)

    changes = [e.changes for e in events(app, action="account_flags_changed", subject_id=member)]
    assert changes == [
        {"is_staff": [False, True]},
        {"is_superuser": [False, True]},
        {"is_staff": [True, False], "is_superuser": [True, False]},
    ]
    notices = [m for m in mailbox.sent_to(people.member.email) if m["Subject"] == "Your account was changed"]
    assert len(notices) == 3 and "is staff" in notices[0].get_body(("plain",)).get_content()


def test_a_superuser_is_always_staff(app, signed_in, people):
    root = signed_in(people.superuser)
    root.post(f"/admin/users/{people.member.id}/access", data={"is_superuser": "y"})
    assert flags(app, people.member.id) == (True, True, True)


def test_a_staff_member_cannot_change_staff_accounts_through_the_services_either(app, people):
    actor = admin_actor(app, people.staff)
    calls = {
        "profile": lambda get: accounts.update_profile(get(people.staff2), {"first_name": "Hacked"}, actor),
        "flags": lambda get: accounts.update_account_flags(get(people.superuser), {"is_active": False}, actor),
        "delete": lambda get: accounts.delete_account(get(people.staff2), actor),
        "group": lambda get: group_service.set_membership(
            get(people.superuser), group_service.get_group(make_group(app, "Editors")), True, actor),
    }
    for name, call in calls.items():
        assert refused_in_service(app, call) == "Only a superuser changes the account of a staff member.", name
    assert stored_user(app, people.staff2.id)["first_name"] == "Sue"
    assert flags(app, people.superuser.id) == (True, True, True)


def test_bulk_actions_skip_the_accounts_a_staff_member_may_not_change(app, signed_in, people):
    staff = signed_in(people.staff)
    ids = [people.member.id, people.staff2.id, people.superuser.id, people.staff.id]

    done = staff.post("/admin/users/bulk", data={"action": "deactivate", "ids": ids, "confirmed": "yes"})

    assert done.status_code == 302
    messages = flashes(staff.get(done.headers["Location"]))
    assert "1 of 4 accounts deactivated." in messages
    assert f"{people.staff2.email}: Only a superuser changes the account of a staff member." in messages
    assert f"{people.superuser.email}: Only a superuser changes the account of a staff member." in messages
    assert f"{people.staff.email}: {NOT_YOURSELF}" in messages
    assert [flags(app, i)[0] for i in ids] == [False, True, True, True]


def test_a_superuser_changes_staff_accounts(app, signed_in, people):
    root = signed_in(people.superuser)
    url = f"/admin/users/{people.staff2.id}"
    assert root.post(url + "/deactivate", data={"confirmed": "yes"}).status_code == 302
    assert flags(app, people.staff2.id) == (False, True, False)
    assert root.post(url + "/delete", data={"confirmed": "yes"}).status_code == 302
    assert stored_user(app, people.staff2.id) is None


# Nobody removes their own rights, deactivates or deletes themselves ----------------------------------------


def test_the_service_refuses_self_removal_from_the_admin(app, people, second_superuser):
    actor = admin_actor(app, people.superuser)
    for change in ({"is_superuser": False}, {"is_staff": False}, {"is_active": False}):
        message = refused_in_service(
            app, lambda get, change=change: accounts.update_account_flags(get(people.superuser), change, actor))
        assert message == NOT_YOURSELF
    assert refused_in_service(app, lambda get: accounts.delete_account(get(people.superuser), actor)) == NOT_YOURSELF
    assert flags(app, people.superuser.id) == (True, True, True)


def test_own_profile_fields_may_be_edited_from_the_admin(app, signed_in, people):
    me = signed_in(people.staff)
    url = f"/admin/users/{people.staff.id}"
    form = {"email": people.staff.email, "first_name": "Stanley", "last_name": "Staff", "username": "",
            "phone": "", "gender": "", "country": "", "address": "", "birthday": ""}
    assert me.post(url, data=form).status_code == 302
    assert stored_user(app, people.staff.id)["first_name"] == "Stanley"


# The last active superuser ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "suffix, form",
    [("/access", {"is_staff": "y"}), ("/access", {}), ("/deactivate", {"confirmed": "yes"}),
     ("/delete", {"confirmed": "yes"})],
    ids=["demote to staff", "remove every right", "deactivate", "delete"],
)
def test_the_last_active_superuser_cannot_be_demoted_deactivated_or_deleted_from_the_admin(
    app, signed_in, people, suffix, form
):
    """From the admin only the superuser themselves could try (staff may not touch a superuser)."""
    root = signed_in(people.superuser)
    answer = root.post(f"/admin/users/{people.superuser.id}{suffix}", data=form)
    assert is_403_page(answer)
    assert flags(app, people.superuser.id) == (True, True, True)


def test_the_last_active_superuser_rule_in_the_service(app, people, make_user):
    retired = make_user("retired@example.com", superuser=True)  # a superuser who is not active does not count
    in_context(app, lambda get: accounts.update_account_flags(get(retired), {"is_active": False}, SYSTEM))
    for change in ({"is_superuser": False}, {"is_active": False}, {"is_active": False, "is_superuser": False}):
        message = refused_in_service(
            app, lambda get, change=change: accounts.update_account_flags(get(people.superuser), change, SYSTEM))
        assert message == LAST_SUPERUSER
    assert refused_in_service(app, lambda get: accounts.delete_account(get(people.superuser), SYSTEM)) == LAST_SUPERUSER
    assert flags(app, people.superuser.id) == (True, True, True)


def test_the_cli_does_not_deactivate_the_last_active_superuser(app, runner, people, token_auth, client):
    key = token_auth(people.superuser)
    result = runner.invoke(args=["deactivate", people.superuser.email])
    assert result.exit_code != 0
    assert str(LAST_SUPERUSER) in result.output
    assert flags(app, people.superuser.id) == (True, True, True)
    assert client.get(ME, headers=key).status_code == 200


def test_the_api_does_not_delete_the_last_active_superuser(app, client, people, bearer, token_auth):
    headers = bearer(people.superuser)
    answer = client.delete(ME, json={"current_password": PASSWORD}, headers=headers)
    assert answer.status_code == 403
    assert answer.get_json() == {"detail": "You do not have permission to perform this action."}
    assert stored_user(app, people.superuser.id) is not None
    doc002 = client.delete(f"/api/users/{people.superuser.id}/", headers=token_auth(people.superuser))
    assert doc002.status_code == 403
    assert stored_user(app, people.superuser.id) is not None and client.get(ME, headers=headers).status_code == 200


def test_the_profile_page_does_not_delete_the_last_active_superuser(app, signed_in, people):
    """The same rule from the browser's own delete page: refused with 403, and the person stays signed in."""
    app.config["PROPAGATE_EXCEPTIONS"] = False  # answer as in production instead of raising into the test
    root = signed_in(people.superuser)

    answer = root.post("/profile/delete", data={"current_password": PASSWORD})

    assert answer.status_code == 403, answer.status_code
    assert stored_user(app, people.superuser.id) is not None
    assert root.get("/profile/").status_code == 200


def test_with_a_second_active_superuser_each_of_those_works(app, signed_in, people, second_superuser):
    other = signed_in(second_superuser)
    root_id = people.superuser.id

    assert other.post(f"/admin/users/{root_id}/access", data={"is_staff": "y"}).status_code == 302
    assert flags(app, root_id) == (True, True, False)
    assert other.post(f"/admin/users/{root_id}/access", data={"is_staff": "y", "is_superuser": "y"}).status_code == 302
    assert other.post(f"/admin/users/{root_id}/deactivate", data={"confirmed": "yes"}).status_code == 302
    assert flags(app, root_id) == (False, True, True)
    assert other.post(f"/admin/users/{root_id}/activate").status_code == 302
    assert other.post(f"/admin/users/{root_id}/delete", data={"confirmed": "yes"}).status_code == 302
    assert stored_user(app, root_id) is None


def test_with_a_second_active_superuser_the_cli_deactivates_one(app, runner, people, second_superuser):
    result = runner.invoke(args=["deactivate", people.superuser.email])
    assert result.exit_code == 0, result.output
    assert flags(app, people.superuser.id) == (False, True, True)
    [event] = events(app, action="account_flags_changed", subject_id=people.superuser.id)
    assert (event.via, event.actor_id, event.changes) == ("cli", None, {"is_active": [True, False]})
    again = runner.invoke(args=["deactivate", second_superuser.email])  # now the last active one
    assert again.exit_code != 0 and str(LAST_SUPERUSER) in again.output
    assert flags(app, second_superuser.id) == (True, True, True)


def test_with_a_second_active_superuser_the_api_deletes_one(app, client, people, second_superuser, bearer):
    answer = client.delete(ME, json={"current_password": PASSWORD}, headers=bearer(people.superuser))
    assert answer.status_code == 204
    assert stored_user(app, people.superuser.id) is None
    last = client.delete(ME, json={"current_password": PASSWORD}, headers=bearer(second_superuser))
    assert last.status_code == 403 and stored_user(app, second_superuser.id) is not None


def test_the_last_superuser_rule_counts_only_active_superusers(app, runner, people, second_superuser):
    assert runner.invoke(args=["deactivate", second_superuser.email]).exit_code == 0
    result = runner.invoke(args=["deactivate", people.superuser.email])
    assert result.exit_code != 0 and str(LAST_SUPERUSER) in result.output
    assert flags(app, people.superuser.id) == (True, True, True)
