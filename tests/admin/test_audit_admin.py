"""The audit log: every account change from every door — API, pages, admin,
command line — is one event with actor, subject, action, changed fields (old and new), time, IP and
door; no event ever holds a secret; the log page filters by subject, actor, action and dates, and
pages by fifty."""

import json
import re
from datetime import datetime
from html import unescape

import pytest
from sqlalchemy import select, update

from portal.extensions import db
from portal.models import AuditEvent, User
from portal.services import audit
from portal.services.audit import SYSTEM

from ..conftest import PASSWORD, stored_user
from .conftest import events, make_group, submit_form

NEW_PASSWORD = "Velvet-Orchard-Kettle-77"


def entries(response) -> list[str]:
    """The events shown on an audit page, each as its text (tags dropped, spaces squeezed)."""
    assert response.status_code == 200, response.status_code
    body = response.get_data(as_text=True)
    found = re.search(r'<ol class="activity">(.*?)</ol>', body, re.S)
    if not found:
        assert "Nothing recorded." in body
        return []
    items = re.findall(r"<li>(.*?)</li>", found.group(1), re.S)
    return [" ".join(unescape(re.sub(r"<[^>]+>", " ", item)).split()) for item in items]


def audit_page(client, **query):
    return client.get("/admin/audit/", query_string=query)


@pytest.fixture
def admin(signed_in, people):
    return signed_in(people.staff)


# Every door ------------------------------------------------------------------------------------


def test_a_change_from_each_door_is_one_event_with_everything_about_it(
    app, client, signed_in, runner, people, bearer, admin
):
    member = people.member
    make_group(app, "Editors")
    before = {e.id for e in events(app)}

    # the API (document 004 PATCH)
    assert client.patch("/api/users/me/", json={"first_name": "Mina"}, headers=bearer(member)).status_code == 200
    # the user's own edit page
    own = signed_in(member)
    assert submit_form(own, "/profile/edit", None, {"last_name": "Maker"}).status_code == 302
    # the admin
    url = f"/admin/users/{member.id}"
    assert submit_form(admin, url, url, {"phone": "+1 555 0199"}).status_code == 302
    # the command line
    assert runner.invoke(args=["add-to-group", member.email, "Editors"]).exit_code == 0

    changes = [e for e in events(app, subject_id=member.id) if e.id not in before and e.action != "signed_in"]
    assert [(e.action, e.via, e.actor_id, e.changes) for e in changes] == [
        ("profile_updated", "api", member.id, {"first_name": ["Mia", "Mina"]}),
        ("profile_updated", "web", member.id, {"last_name": ["Member", "Maker"]}),
        ("profile_updated", "admin", people.staff.id, {"phone": ["+1 (555) 0124", "+1 555 0199"]}),
        ("group_membership_changed", "cli", None, {"groups": [None, "Editors"]}),
    ]
    assert [e.ip for e in changes] == ["127.0.0.1", "127.0.0.1", "127.0.0.1", None]
    assert all(e.subject_label == member.email and e.created_at is not None for e in changes)

    shown = entries(audit_page(admin, subject=member.email))
    newest_first = [s for s in shown if not s.startswith("Signed in")][:4]
    assert newest_first[0].startswith("Groups changed · member@example.com")
    assert "on the command line" in newest_first[0] and "groups — Editors" in newest_first[0]
    assert newest_first[1].startswith("Profile changed · member@example.com")
    assert "by staff@example.com through the admin page from 127.0.0.1" in newest_first[1]
    assert "phone +1 (555) 0124 +1 555 0199" in newest_first[1]
    assert "by member@example.com through the website from 127.0.0.1" in newest_first[2]
    assert "last name Member Maker" in newest_first[2]
    assert "by member@example.com through the API from 127.0.0.1" in newest_first[3]
    assert "first name Mia Mina" in newest_first[3]
    body = audit_page(admin, subject=member.email).get_data(as_text=True)
    assert len(re.findall(r'<time datetime="\d{4}-\d\d-\d\dT[\d:.]+Z">', body)) == len(shown)


def test_a_flag_change_from_the_admin_shows_old_and_new_values(app, signed_in, people):
    root = signed_in(people.superuser)
    root.post(f"/admin/users/{people.member.id}/deactivate", data={"confirmed": "yes"})
    [shown] = entries(audit_page(root, action="account_flags_changed"))
    assert shown.startswith("Account settings changed · member@example.com")
    assert "by root@example.com through the admin page from 127.0.0.1" in shown
    assert "is active yes no" in shown


# Never a secret -------------------------------------------------------------------------------------


def test_no_event_ever_holds_a_password_hash_code_or_key(app, client, signed_in, people, mailbox):
    secrets = {PASSWORD, NEW_PASSWORD}

    def post(url, body, **kwargs):
        answer = client.post(url, json=body, **kwargs)
        assert answer.status_code in (200, 201, 204), (url, answer.status_code, answer.get_json())
        return answer.get_json(silent=True)

    def verify(email):
        code = mailbox.code_for(email)
        secrets.add(code)
        post("/api/v1/accounts/users/verify-otp/", {"email": email, "otp": code})

    # a sign-up and its emailed code (document 003)
    post("/api/v1/accounts/users/", {"email": "new@example.com", "password": PASSWORD, "confirm_password": PASSWORD,
                                     "first_name": "Nia", "last_name": "New", "phone": "+1 555 0777", "gender": "F"})
    verify("new@example.com")
    # JWTs and API keys, from the API and from the keys page
    member = {"email": people.member.email, "password": PASSWORD}
    secrets.update(post("/api/token/", member).values())
    key = post("/api/auth/token/login/", member)["auth_token"]
    secrets.add(key)
    page = signed_in(people.member).post("/profile/keys", data={"name": "Backup script"})
    secrets.update(re.findall(r"\b[0-9a-f]{40}\b", page.get_data(as_text=True)))
    # a password change, then an email change and its code
    secrets.add(stored_user(app, people.member.id)["password_hash"])
    post("/api/users/me/set_password/", {"current_password": PASSWORD, "new_password": NEW_PASSWORD},
         headers={"Authorization": f"Token {key}"})
    access = post("/api/token/", member | {"password": NEW_PASSWORD})["access"]
    answer = client.patch("/api/users/me/", json={"email": "mia@example.com"},
                          headers={"Authorization": f"Bearer {access}"})
    assert answer.status_code == 200
    verify("mia@example.com")
    with app.app_context():
        secrets.update(db.session.scalars(select(User.password_hash)))

    actions = {e.action for e in events(app)}
    assert {"account_created", "email_verified", "api_key_created", "password_changed", "profile_updated"} <= actions
    stored = json.dumps([e.changes for e in events(app)], ensure_ascii=False)
    for secret in secrets:
        assert secret not in stored, secret
    for e in events(app):
        assert not {"password", "password_hash", "otp", "code", "token", "auth_token"} & set(e.changes), e
    [password_event] = events(app, action="password_changed")
    assert password_event.changes == {}

    root = signed_in(people.superuser)
    log = unescape("".join(audit_page(root, page=n).get_data(as_text=True) for n in (1, 2)))
    for secret in secrets:
        assert secret not in log


# Filters --------------------------------------------------------------------------------------------


@pytest.fixture
def history(app, signed_in, people, runner):
    """Changes to the member by staff and by the superuser, and one to another member."""
    staff = signed_in(people.staff)
    root = signed_in(people.superuser)
    staff.post(f"/admin/users/{people.member.id}/verify")
    url = f"/admin/users/{people.member.id}"
    submit_form(staff, url, url, {"first_name": "Mina"})
    root.post(f"/admin/users/{people.member2.id}/deactivate", data={"confirmed": "yes"})
    make_group(app, "Editors")
    runner.invoke(args=["add-to-group", people.member2.email, "Editors"])
    return {"staff": staff, "root": root}


def test_filter_by_subject_email_or_id(app, history, people):
    admin = history["staff"]
    by_email = entries(audit_page(admin, subject="member@example.com"))
    by_id = entries(audit_page(admin, subject=str(people.member.id)))
    in_case = entries(audit_page(admin, subject="  MEMBER@Example.COM "))
    expected = events(app, subject_id=people.member.id)
    assert len(by_email) == len(expected) >= 2
    assert by_email == by_id == in_case
    assert all("· member@example.com" in shown for shown in by_email)
    assert entries(audit_page(admin, subject="nobody@example.com")) == []
    assert entries(audit_page(admin, subject="99999")) == []


def test_a_deleted_subject_is_found_by_its_email(app, history, people):
    root = history["root"]
    before = len(events(app, subject_id=people.member2.id))
    root.post(f"/admin/users/{people.member2.id}/delete", data={"confirmed": "yes"})
    assert stored_user(app, people.member2.id) is None

    shown = entries(audit_page(root, subject="other@example.com"))

    assert len(shown) == before + 1
    assert shown[0].startswith("Account deleted · other@example.com")
    assert "by root@example.com through the admin page" in shown[0]
    assert any(s.startswith("Account settings changed · other@example.com") for s in shown)
    assert any(s.startswith("Groups changed · other@example.com") for s in shown)


def test_a_deleted_subject_is_found_by_its_email_in_any_case_like_a_live_one(app, history, people):
    """Emails are matched without regard to case everywhere; a live subject is found so here too."""
    root = history["root"]
    root.post(f"/admin/users/{people.member2.id}/delete", data={"confirmed": "yes"})
    shouted = entries(audit_page(root, subject="Other@Example.com"))
    assert shouted == entries(audit_page(root, subject="other@example.com"))


def test_filter_by_actor_email_or_id(app, history, people):
    admin = history["staff"]
    by_staff = entries(audit_page(admin, actor="staff@example.com"))
    assert by_staff and all("by staff@example.com" in shown for shown in by_staff)
    assert len(by_staff) == len(events(app, actor_id=people.staff.id))
    by_root_id = entries(audit_page(admin, actor=str(people.superuser.id)))
    assert by_root_id == entries(audit_page(admin, actor="root@example.com"))
    assert all("by root@example.com" in s for s in entries(audit_page(admin, actor="root@example.com")))
    assert entries(audit_page(admin, actor="nobody@example.com")) == []


def test_filter_by_action_and_combined_filters(app, history, people):
    admin = history["staff"]
    changed = entries(audit_page(admin, action="profile_updated"))
    assert len(changed) == 1 and changed[0].startswith("Profile changed · member@example.com")
    flags = entries(audit_page(admin, action="account_flags_changed",
                               subject="other@example.com", actor="root@example.com"))
    assert len(flags) == 1 and "is active yes no" in flags[0]
    by_staff = audit_page(admin, action="account_flags_changed", actor="staff@example.com", subject="other@example.com")
    assert entries(by_staff) == []
    page = audit_page(admin, action="group_membership_changed").get_data(as_text=True)
    assert '<option value="group_membership_changed" selected>Groups changed</option>' in page


def test_filter_by_date_range_with_the_until_day_included(app, admin, people):
    with app.app_context():
        user = db.session.get(User, people.member.id)
        for day in (10, 15, 20):
            event = audit.record(SYSTEM, "profile_updated", user, {"address": [None, f"day {day}"]})
            db.session.flush()
            db.session.execute(update(AuditEvent).where(AuditEvent.id == event.id)
                               .values(created_at=datetime(2024, 1, day, 23, 59, 59)))
        db.session.commit()

    def days(**query):
        shown = entries(audit_page(admin, action="profile_updated", **query))
        return [re.search(r"day (\d+)", s).group(1) for s in shown]

    assert days() == ["20", "15", "10"]
    assert days(since="2024-01-15", until="2024-01-15") == ["15"]
    assert days(since="2024-01-11") == ["20", "15"]
    assert days(until="2024-01-14") == ["10"]
    assert days(since="2024-01-21") == []
    assert days(since="not a date", until="2024-13-45") == ["20", "15", "10"]  # nonsense is no filter
    page = audit_page(admin, since="2024-01-11", until="2024-01-20")
    assert 'name="since" type="date" value="2024-01-11"' in page.get_data(as_text=True)


# Pages ------------------------------------------------------------------------------------------------


def test_more_than_fifty_events_page_with_an_older_link(app, admin, people):
    with app.app_context():
        user = db.session.get(User, people.member.id)
        for n in range(60):
            audit.record(SYSTEM, "profile_updated", user, {"address": [None, f"street {n}"]})
        db.session.commit()
    total = len(events(app))
    assert total > 60

    first = audit_page(admin)
    body = first.get_data(as_text=True)
    assert len(entries(first)) == 50
    assert '<a href="/admin/audit/?page=2' in body and ">Older</a>" in body
    assert ">Newer</a>" not in body
    second = audit_page(admin, page=2)
    assert len(entries(second)) == total - 50
    assert ">Older</a>" not in second.get_data(as_text=True) and ">Newer</a>" in second.get_data(as_text=True)
    assert "street 59" in entries(first)[0] or "street 59" in " ".join(entries(first))

    # filters travel with the pager
    filtered = audit_page(admin, action="profile_updated", subject=people.member.email)
    older = re.search(r'href="([^"]+)" rel="next">Older', filtered.get_data(as_text=True)).group(1)
    assert "action=profile_updated" in unescape(older) and "subject=member@example.com" in unescape(older)
    assert len(entries(admin.get(unescape(older)))) == 10
    assert entries(audit_page(admin, page=99)) == []
    assert len(entries(audit_page(admin, page=-3))) == 50


def test_the_user_page_links_to_the_whole_history(admin, people):
    page = admin.get(f"/admin/users/{people.member.id}")
    assert f'href="/admin/audit/?subject={people.member.id}"' in page.get_data(as_text=True)
