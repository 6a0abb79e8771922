"""Groups in the admin: create, rename, notes, member counts equal to the
API's ``users_count``, and delete after a confirmation (members stay, memberships go). Last, that every
form control of the admin pages has a label."""

import re
from html.parser import HTMLParser

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.models import Group

from ..conftest import stored_user
from .conftest import (
    add_member,
    confirm,
    events,
    field_errors,
    flashes,
    form_fields,
    group_row,
    is_confirmation,
    make_group,
    text,
)


@pytest.fixture
def admin(signed_in, people):
    return signed_in(people.staff)  # groups are staff work: no superuser needed


def group_names(app) -> list[str]:
    with app.app_context():
        return list(db.session.scalars(select(Group.name).order_by(Group.name)))


def group_id(app, name) -> int:
    with app.app_context():
        return db.session.scalar(select(Group.id).where(Group.name == name))


def test_create_a_group_with_notes(app, admin, people):
    answer = admin.post("/admin/groups/", data={"name": "  Editors ", "notes": "People who edit.\nAnd review."})

    assert answer.status_code == 302 and answer.headers["Location"] == "/admin/groups/"
    listing = admin.get("/admin/groups/")
    assert "Group Editors created." in flashes(listing)
    assert group_row(app, group_id(app, "Editors")) == {
        "name": "Editors", "notes": "People who edit.\nAnd review.", "users_count": 0, "members": []}
    assert f'href="/admin/groups/{group_id(app, "Editors")}" dir="auto">Editors</a>' in listing.get_data(as_text=True)
    [event] = events(app, action="group_created")
    assert (event.actor_id, event.via, event.changes) == (people.staff.id, "admin", {"name": [None, "Editors"]})


@pytest.mark.parametrize("name", ["Editors", "editors", " EDITORS "])
def test_a_duplicate_name_is_a_400_on_the_name_field(app, admin, name):
    make_group(app, "Editors")

    answer = admin.post("/admin/groups/", data={"name": name, "notes": ""})

    assert answer.status_code == 400
    assert field_errors(answer, "name") == ["A group with that name already exists."]
    assert 'aria-describedby="name-errors"' in answer.get_data(as_text=True)
    assert group_names(app) == ["Editors"]
    assert form_fields(answer, None)["name"] == name  # the input is kept for correcting


@pytest.mark.parametrize(
    "name, message",
    [("", None), ("   ", None), ("x" * 151, "Ensure this field has no more than 150 characters.")],
    ids=["empty", "blank", "too long"],
)
def test_a_bad_name_is_a_400_on_the_name_field(app, admin, name, message):
    answer = admin.post("/admin/groups/", data={"name": name, "notes": ""})
    assert answer.status_code == 400
    errors = field_errors(answer, "name")
    assert errors and (message is None or errors == [message])
    assert group_names(app) == []


def test_rename_a_group_and_edit_its_notes(app, admin, people):
    editors = make_group(app, "Editors", notes="old notes")
    add_member(app, people.member.id, editors)
    page = admin.get(f"/admin/groups/{editors}")
    assert page.status_code == 200
    fields = form_fields(page, None)
    assert (fields["name"], fields["notes"]) == ("Editors", "old notes")

    answer = admin.post(f"/admin/groups/{editors}", data={"name": "Writers", "notes": "old notes"})
    assert answer.status_code == 302
    assert group_row(app, editors)["name"] == "Writers"
    assert stored_user(app, people.member.id)["groups"] == ["Writers"]

    answer = admin.post(f"/admin/groups/{editors}", data={"name": "Writers", "notes": "new notes"})
    assert answer.status_code == 302
    assert group_row(app, editors)["notes"] == "new notes"

    changes = [e.changes for e in events(app, action="group_updated")]
    assert changes == [{"name": ["Editors", "Writers"]}, {"notes": ["old notes", "new notes"]}]
    assert all(e.via == "admin" and e.actor_id == people.staff.id for e in events(app, action="group_updated"))


def test_renaming_to_a_taken_name_is_a_400_and_changes_nothing(app, admin):
    editors = make_group(app, "Editors")
    make_group(app, "Readers")
    answer = admin.post(f"/admin/groups/{editors}", data={"name": "readers", "notes": "x"})
    assert answer.status_code == 400
    assert field_errors(answer, "name") == ["A group with that name already exists."]
    assert group_row(app, editors)["name"] == "Editors" and group_row(app, editors)["notes"] is None
    # its own name in another case is not a clash
    assert admin.post(f"/admin/groups/{editors}", data={"name": "EDITORS", "notes": ""}).status_code == 302
    assert group_row(app, editors)["name"] == "EDITORS"


def test_member_counts_equal_the_apis_users_count(app, admin, people, client, bearer):
    editors = make_group(app, "Editors")
    readers = make_group(app, "Readers")
    make_group(app, "Empty")
    for account in (people.member, people.member2, people.staff):
        add_member(app, account.id, editors)
    add_member(app, people.member.id, readers)

    mine = client.get("/api/users/me/", headers=bearer(people.member)).get_json()["groups"]
    api_counts = {group["name"]: group["users_count"] for group in mine}
    assert api_counts == {"Editors": 3, "Readers": 1}

    listing = admin.get("/admin/groups/").get_data(as_text=True)
    counts = (r'<a href="/admin/groups/\d+" dir="auto">([^<]+)</a></td>\s*'
              r'<td data-label="Members"><a href="/admin/users/\?group=\d+">(\d+)</a>')
    shown = dict(re.findall(counts, listing))
    assert shown == {"Editors": "3", "Readers": "1", "Empty": "0"}
    assert {name: int(count) for name, count in shown.items() if name in api_counts} == api_counts
    assert "3 members" in text(admin.get(f"/admin/groups/{editors}"))
    assert "1 member<" in admin.get(f"/admin/groups/{readers}").get_data(as_text=True)

    # the count follows membership changes made in the admin
    admin.post(f"/admin/users/{people.member2.id}/groups/{editors}/remove")
    mine = client.get("/api/users/me/", headers=bearer(people.member)).get_json()["groups"]
    assert {g["name"]: g["users_count"] for g in mine}["Editors"] == 2 == group_row(app, editors)["users_count"]


def test_deleting_a_group_asks_first_then_keeps_the_members_and_drops_the_memberships(app, admin, people):
    editors = make_group(app, "Editors")
    readers = make_group(app, "Readers")
    for account in (people.member, people.member2):
        add_member(app, account.id, editors)
    add_member(app, people.member.id, readers)
    url = f"/admin/groups/{editors}/delete"

    asked = admin.post(url)
    assert is_confirmation(asked, "Delete the group Editors?")
    assert "Its 2 members stay; only the memberships go." in text(asked)
    assert group_row(app, editors) is not None

    done = confirm(admin, url, asked)
    assert done.status_code == 302 and done.headers["Location"] == "/admin/groups/"
    assert group_row(app, editors) is None
    assert group_names(app) == ["Readers"]
    assert stored_user(app, people.member.id)["groups"] == ["Readers"]
    assert stored_user(app, people.member2.id)["groups"] == []
    assert stored_user(app, people.member2.id)["is_active"]
    [event] = events(app, action="group_deleted")
    assert (event.actor_id, event.via, event.changes) == (people.staff.id, "admin", {"name": ["Editors", None]})
    assert admin.get(f"/admin/users/?group={editors}").status_code == 200


@pytest.mark.parametrize("method, path", [("GET", "/admin/groups/4242"), ("POST", "/admin/groups/4242"),
                                          ("POST", "/admin/groups/4242/delete"),
                                          ("GET", "/admin/groups/99999999999999999999")])
def test_an_unknown_group_is_a_404_page(admin, method, path):
    answer = admin.open(path, method=method, data={"name": "x", "confirmed": "yes"})
    assert answer.status_code == 404 and "Page not found" in text(answer)


# Accessible forms on every admin page ------------------------------------------------------------------


class _Controls(HTMLParser):
    """Form controls a person fills in, and the labels of the page."""

    def __init__(self):
        super().__init__()
        self.controls, self.labelled = [], set()

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "label" and a.get("for"):
            self.labelled.add(a["for"])
        elif tag in ("input", "select", "textarea") and (a.get("type") or "").lower() not in ("hidden", "submit"):
            self.controls.append(a)


@pytest.mark.parametrize("page", ["/admin/users/", "/admin/users/{member}", "/admin/groups/", "/admin/groups/{group}",
                                  "/admin/audit/", "confirm:/admin/users/{member}/delete"])
def test_every_control_of_the_admin_pages_has_a_label(app, people, signed_in, page):
    admin = signed_in(people.superuser)
    values = {"member": people.member.id, "group": make_group(app, "Editors")}
    if page.startswith("confirm:"):
        response = admin.post(page.removeprefix("confirm:").format(**values))
    else:
        response = admin.get(page.format(**values))
    assert response.status_code == 200
    parser = _Controls()
    parser.feed(response.get_data(as_text=True))
    for control in parser.controls:
        assert control.get("id") in parser.labelled or control.get("aria-label"), control
