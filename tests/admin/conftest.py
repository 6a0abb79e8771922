"""Helpers for the staff admin tests: real sign-ins through /login, the people of a small company,
reading forms off admin pages, and reading the audit log and the database in short app contexts.

The shared test app has CSRF protection off (TestConfig), so a plain POST works; tests about CSRF
switch it on for their app with ``csrf_on(app)`` and post the token scraped from a page.

Most tests get a fresh app (the ``app`` fixture). Classes of tests that only read, and check that
they changed nothing, share one class-scoped app built with ``own_app``: building an app and
compiling its SQL is most of a test's time.
"""

import re
from contextlib import contextmanager
from dataclasses import dataclass
from html import unescape
from html.parser import HTMLParser
from types import SimpleNamespace
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select

from portal import create_app
from portal.extensions import db
from portal.models import AuditEvent, Credential, Group, User
from portal.services.audit import SYSTEM
from portal.services.people import accounts
from portal.services.people import groups as group_service
from portal.transactions import unit_of_work

from ..conftest import PASSWORD, Account, stored_user

# Signing in -------------------------------------------------------------------------------------


def sign_in(client, account, *, password=None):
    """Sign ``client`` in through the real sign-in page (POST /login with ``login`` and ``password``)."""
    response = client.post("/login", data={"login": account.email, "password": password or account.password})
    assert response.status_code == 302, f"sign-in of {account.email} failed: {response.status_code}"
    assert not response.headers["Location"].startswith("/login"), response.headers["Location"]
    return client


@pytest.fixture
def signed_in(app):
    """``signed_in(account)``: a new test client (its own cookie jar) signed in as ``account``."""

    def make(account):
        return sign_in(app.test_client(), account)

    return make


def csrf_on(app):
    """Switch CSRF protection on for this app, as in production (CSRFProtect reads it per request)."""
    app.config["WTF_CSRF_ENABLED"] = True
    return app


# People -------------------------------------------------------------------------------------------


PEOPLE = {
    "superuser": ("root@example.com", {"superuser": True, "first_name": "Rhea", "last_name": "Root"}),
    "staff": ("staff@example.com", {"staff": True, "first_name": "Stan", "last_name": "Staff"}),
    "staff2": ("staff2@example.com", {"staff": True, "first_name": "Sue", "last_name": "Second"}),
    "member": ("member@example.com", {"first_name": "Mia", "last_name": "Member", "username": "mia",
                                      "phone": "+1 (555) 0124"}),
    "member2": ("other@example.com", {"first_name": "Otto", "last_name": "Other"}),
}


def add_user(app, email, password=PASSWORD, *, verified=True, staff=False, superuser=False, **profile) -> Account:
    """What the ``make_user`` fixture does, for any app (also one shared by a class of tests)."""
    with app.app_context(), unit_of_work():
        user = accounts.create_user(email, password, SYSTEM, profile=profile, email_verified=verified,
                                    is_staff=staff, is_superuser=superuser)
        return Account(user.id, user.email, password)


def create_people(app) -> SimpleNamespace:
    """A superuser, two staff members and two ordinary members (verified, active), as Account values."""
    return SimpleNamespace(**{name: add_user(app, email, **options) for name, (email, options) in PEOPLE.items()})


@pytest.fixture
def people(app):
    return create_people(app)


@pytest.fixture
def second_superuser(make_user):
    return make_user("root2@example.com", superuser=True, first_name="Ray", last_name="Root")


# An app shared by a class of tests ----------------------------------------------------------------


@contextmanager
def own_app(folder):
    """An app of its own with an empty database, for a class of tests that only read (and check that
    they changed nothing) and so may share it. On PostgreSQL every app uses the same database: a
    class-scoped one is gone before the next test builds the usual per-test app."""
    app = create_app("testing", {"UPLOAD_FOLDER": str(folder / "uploads"), "MAIL_OUTBOX_DIR": str(folder / "outbox")})
    with app.app_context():
        db.drop_all()
        db.create_all()
    try:
        yield app
    finally:
        with app.app_context():
            db.session.remove()
            db.drop_all()
            db.engine.dispose()


# Reading the database -----------------------------------------------------------------------------


def flags(app, user_id) -> tuple:
    found = stored_user(app, user_id)
    return (found["is_active"], found["is_staff"], found["is_superuser"]) if found else None


@dataclass
class Event:
    id: int
    created_at: object
    actor_id: int | None
    actor_email: str | None
    subject_id: int | None
    subject_label: str | None
    action: str
    changes: dict
    ip: str | None
    via: str


def events(app, **where) -> list[Event]:
    """The audit events (oldest first) whose columns equal ``where``, as plain values."""
    with app.app_context():
        query = select(AuditEvent).order_by(AuditEvent.id)
        for column, value in where.items():
            query = query.where(getattr(AuditEvent, column) == value)
        return [
            Event(e.id, e.created_at, e.actor_id, e.actor.email if e.actor else None, e.subject_id,
                  e.subject_label, e.action, dict(e.changes or {}), e.ip, e.via)
            for e in db.session.scalars(query)
        ]


def live_credentials(app, user_id, kind=None) -> list[dict]:
    with app.app_context():
        query = select(Credential).where(Credential.user_id == user_id).order_by(Credential.id)
        if kind:
            query = query.where(Credential.kind == kind)
        return [
            {"public_id": c.public_id, "kind": c.kind}
            for c in db.session.scalars(query) if c.is_live
        ]


def make_group(app, name, notes=None) -> int:
    with app.app_context(), unit_of_work():
        return group_service.create_group(name, SYSTEM, notes=notes).id


def add_member(app, user_id, group_id) -> None:
    with app.app_context(), unit_of_work():
        group_service.set_membership(db.session.get(User, user_id), db.session.get(Group, group_id), True, SYSTEM)


def group_row(app, group_id) -> dict | None:
    with app.app_context():
        group = db.session.get(Group, group_id)
        if group is None:
            return None
        return {"name": group.name, "notes": group.notes, "users_count": group.users_count,
                "members": sorted(u.email for u in group.users)}


# Reading pages ------------------------------------------------------------------------------------


def text(response) -> str:
    return unescape(response.get_data(as_text=True))


def login_redirect(response) -> str | None:
    """The ``next`` of a redirect to /login, or None when the answer is not one."""
    if response.status_code != 302:
        return None
    location = urlsplit(response.headers["Location"])
    if location.path != "/login":
        return None
    return parse_qs(location.query).get("next", [None])[0]


def is_403_page(response) -> bool:
    return (
        response.status_code == 403
        and response.mimetype == "text/html"
        and "You may not open this page" in text(response)
    )


def is_confirmation(response, title: str) -> bool:
    """The confirmation page of a destructive or bulk action: its title and a form with confirmed=yes."""
    body = text(response)
    return (
        response.status_code == 200
        and f"<h1>{title}</h1>" in body
        and '<input type="hidden" name="confirmed" value="yes">' in body
    )


def field_errors(response, field: str) -> list[str]:
    """The messages of ``<ul class="errors" id="<field>-errors">``, which the input names in aria-describedby."""
    body = response.get_data(as_text=True)
    found = re.search(rf'<ul class="errors" id="{field}-errors">(.*?)</ul>', body, re.S)
    if not found:
        return []
    return [unescape(m).strip() for m in re.findall(r"<li>(.*?)</li>", found.group(1), re.S)]


def flashes(response) -> list[str]:
    found = re.findall(r'<p class="alert alert-\w+">(.*?)</p>', response.get_data(as_text=True), re.S)
    return [unescape(m).strip() for m in found]


def csrf_token(response) -> str:
    found = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', response.get_data(as_text=True))
    assert found, "no CSRF token on the page"
    return found.group(1)


class _Forms(HTMLParser):
    """Each form of a page with the values a browser would submit (checked boxes, selected options)."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.forms = []
        self._form = self._select = self._textarea = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self._form = {"action": a.get("action"), "method": (a.get("method") or "get").lower(), "fields": []}
            self.forms.append(self._form)
        elif self._form is None:
            return
        elif tag == "input" and a.get("name"):
            kind = (a.get("type") or "text").lower()
            if kind in ("checkbox", "radio"):
                if "checked" in a:
                    self._form["fields"].append((a["name"], a.get("value", "on")))
            elif kind not in ("file", "submit", "button", "reset", "image"):
                self._form["fields"].append((a["name"], a.get("value", "")))
        elif tag == "select":
            self._select = [a.get("name"), None, None]
        elif tag == "option" and self._select is not None:
            if self._select[1] is None:
                self._select[1] = a.get("value", "")
            if "selected" in a:
                self._select[2] = a.get("value", "")
        elif tag == "textarea":
            self._textarea = [a.get("name"), ""]

    def handle_endtag(self, tag):
        if tag == "form":
            self._form = None
        elif tag == "select" and self._select is not None:
            name, first, chosen = self._select
            self._form["fields"].append((name, chosen if chosen is not None else (first or "")))
            self._select = None
        elif tag == "textarea" and self._textarea is not None:
            name, value = self._textarea
            for newline in ("\r\n", "\n"):  # a browser drops the one line break that follows <textarea>
                if value.startswith(newline):
                    value = value[len(newline):]
                    break
            self._form["fields"].append((name, value))
            self._textarea = None

    def handle_data(self, data):
        if self._textarea is not None:
            self._textarea[1] += data


def form_fields(response, action: str | None) -> dict:
    """The fields a browser would post with the page's form whose action is ``action`` (None: a form
    without an action, which posts to the page's own URL); a name sent more than once maps to a list."""
    parser = _Forms()
    parser.feed(response.get_data(as_text=True))
    matching = [f for f in parser.forms if f["action"] == action and f["method"] == "post"]
    assert matching, f"no form posting to {action} on the page"
    fields = {}
    for name, value in matching[0]["fields"]:
        if name in fields:
            fields[name] = [*fields[name], value] if isinstance(fields[name], list) else [fields[name], value]
        else:
            fields[name] = value
    return fields


def confirm(client, url: str, response):
    """Press the confirmation page's button: post its form (confirmed=yes and the hidden values) to ``url``."""
    data = form_fields(response, None)
    assert data.get("confirmed") == "yes", data
    return client.post(url, data=data)


def submit_form(client, page_url: str, action: str | None, changes: dict | None = None, **kwargs):
    """GET ``page_url``, fill its form that posts to ``action`` (None: to the page itself) as a browser
    would, with ``changes`` on top, and POST it."""
    page = client.get(page_url)
    assert page.status_code == 200, (page_url, page.status_code)
    data = form_fields(page, action) | (changes or {})
    return client.post(action or page_url, data=data, **kwargs)


def emails_in_list(response) -> list[str]:
    """The emails of the rows of the admin user list, in the order shown."""
    # Each address kept left to right in a <bdi> (a right-to-left page would reorder "_ann@…").
    found = re.findall(r'<td><a href="/admin/users/\d+"><bdi>([^<]+)</bdi></a></td>', response.get_data(as_text=True))
    return [unescape(m) for m in found]
