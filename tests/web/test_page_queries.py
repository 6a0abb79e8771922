"""Signed-in pages cost a few SQL statements, the same few however many rows they show; static files
are versioned by content and cached for good."""

import hashlib
import re
from pathlib import Path

import pytest

from portal.extensions import db
from portal.models import User
from portal.services.audit import SYSTEM
from portal.services.people import accounts, groups
from portal.services.ways_in import api_keys, browser_sessions, tokens
from portal.transactions import unit_of_work

from .conftest import recorded_statements, signed_in, updates_of

# Statements for one signed-in page view, as measured: one joined SELECT for the session row and its
# user, plus one per kind of row the page shows (groups; keys; sign-ins; a count and a page of
# events; credentials, events, groups, the authenticator app, recovery codes, passkeys, sign-in
# sources and sign-in alerts for the export). Never more, however many rows there are.
STATEMENT_BUDGET = {
    "/profile/": 2,
    "/profile/edit": 1,
    "/profile/password": 1,
    "/profile/keys": 2,
    "/profile/sessions": 2,
    "/profile/activity": 3,
    "/profile/export": 9,
    "/profile/delete": 1,
}


def statements_for(app, client, path) -> list[str]:
    """The statements of one GET of ``path`` (after a first GET, so nothing one-off is counted)."""
    assert client.get(path).status_code == 200
    with recorded_statements(app) as statements:
        response = client.get(path)
    assert response.status_code == 200
    return statements


def with_user(app, account, action):
    with app.app_context(), unit_of_work():
        action(db.session.get(User, account.id))


def add_keys(app, account, count):
    def add(user):
        for n in range(count):
            api_keys.issue_api_key(user, SYSTEM, name=f"Key {n}")

    with_user(app, account, add)


def add_sign_ins(app, account, count):
    def add(user):
        for n in range(count):
            if n % 2:
                tokens.issue_token_pair(user, SYSTEM)
            else:
                browser_sessions.start_browser_session(user, SYSTEM, user_agent="curl/8.0", remember=False)

    with_user(app, account, add)


def add_events(app, account, count):
    def add(user):
        for n in range(count):
            accounts.update_profile(user, {"first_name": f"Name {n}"}, SYSTEM)

    with_user(app, account, add)


def add_groups(app, account, count, start=0):
    def add(user):
        for n in range(start, start + count):
            groups.set_membership(user, groups.create_group(f"Group {n:02d}", SYSTEM), True, SYSTEM)

    with_user(app, account, add)


@pytest.mark.parametrize(
    "path, add_rows, few, many",
    [
        ("/profile/keys", add_keys, 1, 15),
        ("/profile/sessions", add_sign_ins, 1, 15),
        ("/profile/activity", add_events, 2, 45),
        ("/profile/", add_groups, 1, 10),
        ("/profile/export", add_keys, 1, 15),
    ],
)
def test_a_page_costs_the_same_few_statements_for_few_and_many_rows(app, client, user, path, add_rows, few, many):
    signed_in(client, user)
    add_rows(app, user, few)
    with_few = statements_for(app, client, path)

    if add_rows is add_groups:
        add_groups(app, user, many - few, start=few)
    else:
        add_rows(app, user, many - few)
    with_many = statements_for(app, client, path)

    assert len(with_many) == len(with_few), "\n".join(with_many)
    assert len(with_few) <= STATEMENT_BUDGET[path], "\n".join(with_few)
    assert updates_of(with_many) == []


def test_every_settings_page_stays_within_its_statement_budget_and_only_reads(app, client, user):
    signed_in(client, user)

    counted = {path: statements_for(app, client, path) for path in STATEMENT_BUDGET}

    over = {path: statements for path, statements in counted.items() if len(statements) > STATEMENT_BUDGET[path]}
    assert over == {}
    writes = [s for statements in counted.values() for s in statements if not s.lstrip().upper().startswith("SELECT")]
    assert writes == []


def test_the_pages_really_show_the_many_rows_they_were_counted_with(app, client, user):
    signed_in(client, user)
    add_keys(app, user, 15)
    add_groups(app, user, 10)

    keys = client.get("/profile/keys").get_data(as_text=True)
    profile = client.get("/profile/").get_data(as_text=True)
    sessions = client.get("/profile/sessions").get_data(as_text=True)

    assert all(f'<td dir="auto">Key {n}</td>' in keys for n in range(15))
    assert all(f'<span class="badge">Group {n:02d}</span>' in profile for n in range(10))
    assert sessions.count('<span class="badge">API key</span>') == 15


# Static files --------------------------------------------------------------------------------------


def test_static_urls_carry_a_content_hash_and_are_served_immutable(app, client, user):
    signed_in(client, user)
    page = client.get("/profile/").get_data(as_text=True)
    urls = re.findall(r'(?:href|src)="(/static/[^"]+)"', page)
    assert {url.split("?")[0] for url in urls} == {
        "/static/palette.css", "/static/portal.css", "/static/portal.js", "/static/favicon.svg"
    }

    for url in urls:
        path, _, query = url.partition("?")
        version = re.fullmatch(r"v=([0-9a-f]{12})", query).group(1)
        content = (Path(app.static_folder) / path.removeprefix("/static/")).read_bytes()
        assert version == hashlib.sha256(content).hexdigest()[:12], url
        with client.get(url) as response:
            assert response.status_code == 200
            assert response.data == content
            cache_control = {part.strip() for part in response.headers["Cache-Control"].split(",")}
            assert {"immutable", "public", "max-age=31536000"} <= cache_control


def test_a_static_file_without_its_version_is_not_cached_for_good(client):
    with client.get("/static/portal.css") as response:
        assert response.status_code == 200
        assert "immutable" not in response.headers.get("Cache-Control", "")


# What every page carries -------------------------------------------------------------------------------


def test_pages_hold_no_inline_code_so_their_content_security_policy_needs_none(app, client, user):
    """The policy forbids inline script and style; a page that used either would break in browsers."""
    pages = {path: client.get(path) for path in ("/login", "/register", "/verify", "/password/forgot")}
    signed_in(client, user)
    pages |= {path: client.get(path) for path in STATEMENT_BUDGET if path != "/profile/export"}

    for path, page in pages.items():
        assert page.status_code == 200, path
        policy = page.headers["Content-Security-Policy"]
        assert "default-src 'self'" in policy and "'unsafe-inline'" not in policy
        body = page.get_data(as_text=True)
        assert re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", body) == [], path
        assert re.findall(r"<style\b", body) == [], path
        assert re.findall(r"\sstyle=", body) == [], path
        assert re.findall(r"\son[a-z]+=", body) == [], path
