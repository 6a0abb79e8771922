"""Helpers for the page tests: CSRF on as in production, forms filled in the way a browser fills them.

Every test in ``tests/web`` runs with CSRF protection switched on: a form is posted with the token
scraped from the page that shows it, so a page that lost its token field, or a route that lost its
protection, fails here. ``submit`` reads the form off the page (inputs, selected options, checked
boxes, text areas) and posts what a browser would post, with the test's changes on top.
"""

import mimetypes
import re
from dataclasses import dataclass, field
from html import unescape
from html.parser import HTMLParser

import pytest
from sqlalchemy import select
from werkzeug.datastructures import FileStorage, MultiDict
from werkzeug.test import encode_multipart

from portal.extensions import db
from portal.models import Credential

from ..conftest import recorded_statements  # noqa: F401  (the page tests take it from here)

SESSION_COOKIE = "portal_session"
# The forms every page's header carries (the language buttons, "Sign out"), which are no page's own.
HEADER_FORM_ACTIONS = ("/language", "/logout")


@pytest.fixture
def app(app):
    """The shared test app with CSRF protection on, as every browser meets it."""
    app.config["WTF_CSRF_ENABLED"] = True
    return app


@pytest.fixture
def make_app(make_app):
    """The shared ``make_app``, with CSRF on as everywhere in these tests."""
    return lambda config="testing", **overrides: make_app(config, **{"WTF_CSRF_ENABLED": True, **overrides})


# Reading pages ----------------------------------------------------------------------------------


@dataclass
class Form:
    action: str | None
    method: str
    enctype: str | None
    fields: dict = field(default_factory=dict)  # name -> value, as a browser would send them
    buttons: list = field(default_factory=list)  # (formaction or None, label)


class _PageParser(HTMLParser):
    """Forms (with the values a browser would submit) and error lists of one page."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.forms: list[Form] = []
        self.error_lists: dict[str, list[str]] = {}
        self.alerts: list[list[str]] = []
        self._form = None
        self._select = None  # (name, first option value, selected value)
        self._option = None
        self._textarea = None
        self._list_id = None
        self._in_alert = 0
        self._alert = None
        self._li = None
        self._button = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self._form = Form(a.get("action"), (a.get("method") or "get").lower(), a.get("enctype"))
            self.forms.append(self._form)
        elif tag == "input" and self._form is not None and a.get("name"):
            kind = (a.get("type") or "text").lower()
            if kind in ("checkbox", "radio"):
                if "checked" in a:
                    self._form.fields[a["name"]] = a.get("value", "on")
            elif kind not in ("file", "submit", "button", "image", "reset"):
                self._form.fields[a["name"]] = a.get("value", "")
        elif tag == "select" and self._form is not None:
            self._select = [a.get("name"), None, None]
        elif tag == "option" and self._select is not None:
            value = a.get("value", "")
            if self._select[1] is None:
                self._select[1] = value
            if "selected" in a:
                self._select[2] = value
        elif tag == "textarea" and self._form is not None:
            self._textarea = [a.get("name"), ""]
        elif tag == "button" and self._form is not None:
            self._button = [a.get("formaction"), ""]
        elif tag == "ul" and a.get("class") == "errors" and (a.get("id") or "").endswith("-errors"):
            self._list_id = a["id"][: -len("-errors")]
            self.error_lists[self._list_id] = []
        elif tag == "div" and "alert-error" in (a.get("class") or "").split():
            self._in_alert = 1
            self._alert = []
            self.alerts.append(self._alert)
        elif tag == "div" and self._in_alert:
            self._in_alert += 1
        elif tag == "li" and (self._list_id is not None or self._in_alert):
            self._li = ""

    def handle_endtag(self, tag):
        if tag == "form":
            self._form = None
        elif tag == "select" and self._select is not None:
            name, first, selected = self._select
            if name:
                self._form.fields[name] = selected if selected is not None else (first or "")
            self._select = None
        elif tag == "textarea" and self._textarea is not None:
            name, text = self._textarea
            if name:
                # A browser drops the one line break that follows <textarea>.
                for newline in ("\r\n", "\n"):
                    if text.startswith(newline):
                        text = text[len(newline):]
                        break
                # ... and sends its line breaks as CR LF.
                self._form.fields[name] = text.replace("\r\n", "\n").replace("\n", "\r\n")
            self._textarea = None
        elif tag == "button" and self._button is not None:
            self._form.buttons.append((self._button[0], self._button[1].strip()))
            self._button = None
        elif tag == "li" and self._li is not None:
            if self._list_id is not None:
                self.error_lists[self._list_id].append(self._li.strip())
            elif self._alert is not None:
                self._alert.append(self._li.strip())
            self._li = None
        elif tag == "ul" and self._list_id is not None:
            self._list_id = None
        elif tag == "div" and self._in_alert:
            self._in_alert -= 1
            if not self._in_alert:
                self._alert = None

    def handle_data(self, data):
        if self._textarea is not None:
            self._textarea[1] += data
        if self._li is not None:
            self._li += data
        if self._button is not None:
            self._button[1] += data


def parse(response) -> _PageParser:
    """The page's forms and error lists, parsed once per response."""
    parsed = getattr(response, "_parsed_page", None)
    if parsed is None:
        parsed = _PageParser()
        parsed.feed(response.get_data(as_text=True))
        parsed.close()
        response._parsed_page = parsed
    return parsed


def text_of(response) -> str:
    return unescape(response.get_data(as_text=True))


def forms(response) -> list[Form]:
    return parse(response).forms


def find_form(response, action=None) -> Form:
    """The page's form posting to ``action``; by default the page's own form (the one with no
    action, or else the first one that is not in the header: the language buttons, "Sign out")."""
    candidates = [f for f in forms(response) if f.method == "post"]
    if action is not None:
        matching = [f for f in candidates if f.action == action]
    else:
        matching = [f for f in candidates if not f.action] or [
            f for f in candidates if f.action not in HEADER_FORM_ACTIONS
        ]
    assert matching, f"no form posting to {action!r} on the page"
    return matching[0]


def csrf_token(response) -> str:
    """The CSRF token of a page (any form of it carries the same one)."""
    for form in forms(response):
        if form.fields.get("csrf_token"):
            return form.fields["csrf_token"]
    raise AssertionError("no CSRF token on the page")


def field_errors(response) -> dict[str, list[str]]:
    """``{field: [message, …]}`` from each ``<ul class="errors" id="<field>-errors">`` of the page."""
    return parse(response).error_lists


def form_errors(response) -> list[str]:
    """The messages of the form-level error box (``role="alert"``), not tied to one field."""
    return [message for alert in parse(response).alerts for message in alert]


def flashes(response) -> list[str]:
    """The flashed messages (and other alert paragraphs) a page shows."""
    found = re.findall(r'<p class="alert alert-\w+">(.*?)</p>', response.get_data(as_text=True), re.S)
    return [unescape(message).strip() for message in found]


# Acting like a browser -------------------------------------------------------------------------


def submit(client, url, changes=None, *, action=None, files=None, button=None, **kwargs):
    """GET ``url``, fill its form as a browser would with ``changes`` on top, and POST it.

    ``action`` picks the form by where it posts; ``files`` are file fields (``{"avatar": upload(...)}``);
    ``button`` is the label of a submit button whose ``formaction`` sends the form elsewhere.
    """
    page = client.get(url, **kwargs)
    assert page.status_code == 200, (url, page.status_code)
    return submit_page(client, page, url, changes, action=action, files=files, button=button, **kwargs)


def submit_page(client, page, url, changes=None, *, action=None, files=None, button=None, **kwargs):
    """POST the form of an already fetched ``page`` (shown at ``url``), as ``submit`` does."""
    form = find_form(page, action)
    data = dict(form.fields)
    data.update(changes or {})
    data.update(files or {})
    target = form.action or url
    if button is not None:
        formactions = [formaction for formaction, label in form.buttons if label == button]
        assert formactions, f"no button {button!r} in the form"
        target = formactions[0] or target
    if form.enctype == "multipart/form-data":
        boundary, body = multipart(data)
        return client.post(target, data=body, content_type=f"multipart/form-data; boundary={boundary}", **kwargs)
    return client.post(target, data=data, **kwargs)


def multipart(data: dict) -> tuple[str, bytes]:
    """A multipart body built in memory, as a browser sends it (the test client would spool a large
    body to a temporary file that nothing closes when the app refuses to read it)."""
    values = MultiDict()
    for name, value in data.items():
        if isinstance(value, tuple):
            stream, filename = value
            kind = mimetypes.guess_type(filename)[0] or "application/octet-stream"
            value = FileStorage(stream=stream, filename=filename, name=name, content_type=kind)
        values.add(name, value)
    return encode_multipart(values)


def sign_in(client, account, remember=False, *, login=None, password=None, next=None, **kwargs):
    """A real sign-in: GET /login for the form and its token, then POST it. Returns the POST's answer."""
    url = "/login" + (f"?next={next}" if next is not None else "")
    changes = {"login": login or account.email, "password": password or account.password}
    if remember:
        changes["remember"] = "y"
    return submit(client, url, changes, **kwargs)


def signed_in(client, account, remember=False, **kwargs):
    response = sign_in(client, account, remember, **kwargs)
    assert response.status_code == 302, field_errors(response) or form_errors(response)
    return client


def credential_in_cookie(client) -> str | None:
    """The credential public id the signed session cookie names."""
    with client.session_transaction() as session:
        return session.get("credential")


def session_cookie(client):
    return client.get_cookie(SESSION_COOKIE)


def set_cookie_header(response, name=SESSION_COOKIE) -> str:
    headers = [h for h in response.headers.getlist("Set-Cookie") if h.startswith(f"{name}=")]
    assert len(headers) == 1, response.headers.getlist("Set-Cookie")
    return headers[0]


def post(client, url, data=None, *, token_from="/profile/", **kwargs):
    """POST to an action URL (revoke, end, sign out) with the CSRF token of the page it sits on."""
    token = csrf_token(client.get(token_from))
    return client.post(url, data={"csrf_token": token, **(data or {})}, **kwargs)


def is_signed_in(client) -> bool:
    """Whether the browser's next request is a signed-in one (the profile page, or a bounce to sign-in)."""
    response = client.get("/profile/")
    if response.status_code == 200:
        return True
    assert response.status_code == 302 and response.headers["Location"].startswith("/login"), response.status_code
    return False


# Reading the database ----------------------------------------------------------------------------


def credentials_of(app, user_id, *, live_only=True) -> list[dict]:
    """The user's credential rows as plain dicts, oldest first."""
    with app.app_context():
        rows = db.session.scalars(select(Credential).where(Credential.user_id == user_id).order_by(Credential.id))
        found = [
            {c.key: getattr(row, c.key) for c in Credential.__table__.columns} | {"is_live": row.is_live}
            for row in rows
        ]
    return [row for row in found if row["is_live"]] if live_only else found


def credential_row(app, public_id) -> dict | None:
    """One credential row by public id, as a plain dict (None when there is none)."""
    with app.app_context():
        row = db.session.scalar(select(Credential).where(Credential.public_id == public_id))
        if row is None:
            return None
        return {c.key: getattr(row, c.key) for c in Credential.__table__.columns} | {"is_live": row.is_live}


def updates_of(statements, table="credentials") -> list[str]:
    return [s for s in statements if s.lstrip().upper().startswith(f"UPDATE {table.upper()}")]
