"""The admin's list pages answer with a fixed number of SQL statements, whatever the number of rows
(at scale: no query per row).

Each page is asked once to warm up (the sign-in's row is read, nothing is written afterwards), then
counted with a ``before_cursor_execute`` listener on the engine, once with few rows and once with
many. The counts must be equal and at most:

- user list (filtered, searched, sorted, with groups): 5 — the browser session, the count, the page,
  the page's group memberships, and the groups of the filter and bulk forms;
- audit log: 2 — the browser session and the page with its actors and subjects (no count); 3 when
  the subject or actor is given by email (one look-up of that email);
- group list: 2 — the browser session and the groups with their member counts.
"""

import pytest

from portal.extensions import db
from portal.models import Group, User
from portal.services import audit
from portal.services.audit import SYSTEM
from portal.services.people.passwords import hash_password

from ..conftest import recorded_statements, stored_user
from .conftest import emails_in_list

USER_LIST_LIMIT = 5
AUDIT_LIMIT = 2  # one more when the subject or actor is given by email
GROUP_LIST_LIMIT = 2




def statements_of(app, client, url) -> list[str]:
    assert client.get(url).status_code == 200  # warm-up
    with recorded_statements(app) as statements:
        response = client.get(url)
    assert response.status_code == 200
    return statements


def seed_users(app, count, *, groups=3):
    """``count`` more users named "Seeded …", each in one or two groups "Team …" (made when there are
    none yet); rows are written directly, with one password hash for all."""
    with app.app_context():
        teams = list(db.session.scalars(db.select(Group).where(Group.name.like("Team %")).order_by(Group.id)))
        if not teams:
            teams = [Group(name=f"Team {n}") for n in range(groups)]
            db.session.add_all(teams)
        password_hash = hash_password("Seeded-password-123")
        start = db.session.scalar(db.select(db.func.count(User.id)))
        for n in range(start, start + count):
            user = User(email=f"seeded{n:04d}@example.com", password_hash=password_hash, first_name="Seeded",
                        last_name=f"Person {n:04d}", username=f"seeded{n:04d}", email_verified=True,
                        is_active=n % 7 != 0)
            user.groups = [teams[n % len(teams)]] + ([teams[(n + 1) % len(teams)]] if n % 2 else [])
            db.session.add(user)
        db.session.commit()


def seed_events(app, count):
    with app.app_context():
        subject = db.session.scalar(db.select(User).limit(1))
        for n in range(count):
            audit.record(SYSTEM, "profile_updated", subject, {"address": [None, f"street {n}"]})
        db.session.commit()


@pytest.fixture
def admin(signed_in, people):
    return signed_in(people.superuser)


USER_LIST = "/admin/users/?q=seeded+person&active=yes&sort=name&order=asc"


@pytest.mark.parametrize("url", [USER_LIST, "/admin/users/?sort=last_login&order=desc",
                                 "/admin/users/?group=1&staff=no&sort=email&verified=yes"])
def test_the_user_list_takes_the_same_few_statements_for_5_or_120_users(app, make_user, signed_in, url):
    root = signed_in(make_user("root@example.com", superuser=True))
    seed_users(app, 4)  # 5 users in all
    few = statements_of(app, root, url)
    page = root.get(url)
    assert 0 < len(emails_in_list(page)) <= 5

    seed_users(app, 115)  # 120 users in all
    many = statements_of(app, root, url)
    assert len(emails_in_list(root.get(url))) >= 50 or "group=1" in url

    assert len(few) == len(many) <= USER_LIST_LIMIT, "\n".join(many)


def test_the_user_list_shows_each_users_groups_from_the_one_membership_query(app, admin, people):
    seed_users(app, 30)
    page = admin.get("/admin/users/?q=seeded&sort=email&order=asc").get_data(as_text=True)
    assert page.count('<span class="badge" dir="auto">Team') == sum(1 + (n % 2) for n in range(5, 35))
    assert stored_user(app, people.member.id)["groups"] == []


@pytest.mark.parametrize("url, limit", [
    ("/admin/audit/", AUDIT_LIMIT),
    ("/admin/audit/?action=profile_updated&since=2020-01-01&until=2999-12-31", AUDIT_LIMIT),
    ("/admin/audit/?page=2", AUDIT_LIMIT),
    ("/admin/audit/?subject=root@example.com&actor=", AUDIT_LIMIT + 1),
    ("/admin/audit/?actor=root@example.com&action=signed_in", AUDIT_LIMIT + 1),
])
def test_the_audit_log_takes_the_same_few_statements_for_10_or_300_events(app, make_user, signed_in, url, limit):
    root = signed_in(make_user("root@example.com", superuser=True))
    seed_events(app, 10)
    few = statements_of(app, root, url)

    seed_events(app, 290)
    many = statements_of(app, root, url)

    assert len(few) == len(many) <= limit, "\n".join(many)


def test_the_group_list_takes_the_same_few_statements_for_3_or_40_groups(app, make_user, signed_in):
    root = signed_in(make_user("root@example.com", superuser=True))
    seed_users(app, 10, groups=3)
    few = statements_of(app, root, "/admin/groups/")
    with app.app_context():
        db.session.add_all(Group(name=f"More {n}") for n in range(37))
        db.session.commit()
    many = statements_of(app, root, "/admin/groups/")
    assert len(few) == len(many) <= GROUP_LIST_LIMIT, "\n".join(many)
