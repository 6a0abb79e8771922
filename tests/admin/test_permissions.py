"""The permission matrix of the staff admin: every admin URL × every method it
answers × {stranger, signed-in user, staff, superuser}.

- a stranger is sent to ``/login?next=<that path>`` (GET, HEAD, OPTIONS and POST alike) and nothing changes;
- anyone signed in without staff rights gets the HTML 403 page and nothing changes;
- staff and superusers get the page or the action, each URL's answer written out in CASES: 200 for a
  page, 200 with the confirmation page for a first POST of a destructive or bulk action, a 302 back
  into the admin (never to /login) for an action that is done, and 200 for one whose page shows what it
  made (a new app's secret); and never a 403.

Every admin POST also needs the CSRF token of a page of the site (CSRF switched on as in production).

The target of every action is an ordinary member, whom a plain staff member may manage too.
"""

from dataclasses import dataclass
from types import SimpleNamespace
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.models import LinkedIdentity, OAuthClient, User
from portal.services.audit import SYSTEM
from portal.services.oidc import apps
from portal.services.ways_in import api_keys
from portal.transactions import unit_of_work

from ..conftest import stored_user
from .conftest import (
    add_member,
    confirm,
    create_people,
    csrf_on,
    csrf_token,
    events,
    group_row,
    is_403_page,
    is_confirmation,
    live_credentials,
    login_redirect,
    make_group,
    own_app,
    sign_in,
    text,
)


@dataclass(frozen=True)
class Case:
    method: str
    path: str  # {user}, {group}, {key}, {identity} and {app} are filled in from the fixture
    data: dict | None
    staff: tuple  # ("page", status) | ("redirect", location) | ("confirm", title) | ("made", status)


GET_PAGE = ("page", 200)
APP_FORM = {"name": "Example app", "redirect_uris": "https://app.example/callback", "scopes": "openid"}
# The user page's profile form as a browser sends it (every field; the selects send "" for none).
PROFILE_FORM = {"email": "member@example.com", "first_name": "Mira", "last_name": "Member", "username": "mia",
                "phone": "", "gender": "", "country": "", "address": "", "birthday": ""}
TO_USER = ("redirect", "/admin/users/{user}")
CASES = [
    Case("GET", "/admin/", None, ("redirect", "/admin/users/")),
    Case("GET", "/admin/users/", None, GET_PAGE),
    Case("GET", "/admin/users/?q=member&active=yes&sort=email&order=asc", None, GET_PAGE),
    Case("GET", "/admin/users/export.csv", None, GET_PAGE),
    Case("POST", "/admin/users/bulk", {"action": "deactivate", "ids": "{user}"}, ("confirm", "Deactivate 1 user")),
    Case("GET", "/admin/users/{user}", None, GET_PAGE),
    Case("POST", "/admin/users/{user}", PROFILE_FORM, TO_USER),
    Case("POST", "/admin/users/{user}/access", {}, TO_USER),
    Case("POST", "/admin/users/{user}/activate", {}, TO_USER),
    Case("POST", "/admin/users/{user}/deactivate", {}, ("confirm", "Deactivate this account?")),
    Case("POST", "/admin/users/{user}/verify", {}, TO_USER),
    Case("POST", "/admin/users/{user}/avatar/remove", {}, ("confirm", "Remove this picture?")),
    Case("POST", "/admin/users/{user}/delete", {}, ("confirm", "Delete this account?")),
    Case("POST", "/admin/users/{user}/two-factor/reset", {}, ("confirm", "Reset two-step sign-in?")),
    Case("POST", "/admin/users/{user}/groups", {"group_id": "{other_group}"}, TO_USER),
    Case("POST", "/admin/users/{user}/groups/{group}/remove", {}, TO_USER),
    Case("POST", "/admin/users/{user}/credentials/{key}/end", {}, TO_USER),
    Case("POST", "/admin/users/{user}/identities/{identity}/remove", {},
         ("confirm", "Disconnect this account at another provider?")),
    Case("GET", "/admin/groups/", None, GET_PAGE),
    Case("POST", "/admin/groups/", {"name": "Brand new", "notes": ""}, ("redirect", "/admin/groups/")),
    Case("GET", "/admin/groups/{group}", None, GET_PAGE),
    Case("POST", "/admin/groups/{group}", {"name": "Renamed", "notes": "n"}, ("redirect", "/admin/groups/")),
    Case("POST", "/admin/groups/{group}/delete", {}, ("confirm", "Delete the group Editors?")),
    Case("GET", "/admin/apps/", None, GET_PAGE),
    Case("POST", "/admin/apps/", APP_FORM | {"name": "Brand new app"}, ("made", 200)),
    Case("GET", "/admin/apps/{app}", None, GET_PAGE),
    Case("POST", "/admin/apps/{app}", APP_FORM | {"name": "Renamed app"}, ("redirect", "/admin/apps/{app}")),
    Case("POST", "/admin/apps/{app}/secret", {}, ("confirm", "Replace the secret of Example app?")),
    Case("POST", "/admin/apps/{app}/disable", {}, ("confirm", "Disable the app Example app?")),
    Case("GET", "/admin/audit/", None, GET_PAGE),
    Case("GET", "/admin/audit/?subject=member@example.com&action=signed_in&since=2020-01-01", None, GET_PAGE),
    Case("GET", "/admin/mail/", None, GET_PAGE),
]

# Every method each URL answers: Flask answers HEAD and OPTIONS on its own, and they must be guarded too.
MATRIX = list(CASES)
MATRIX += [Case("HEAD", c.path, None, c.staff) for c in CASES if c.method == "GET"]
MATRIX += [Case("OPTIONS", path, None, ("page", 200))
           for path in dict.fromkeys(c.path for c in CASES if "?" not in c.path)]


def create_world(app, people) -> dict:
    """The member every action is aimed at, a group they are in, another group, a live API key, an
    account at another provider connected to theirs, and an app."""
    group = make_group(app, "Editors")
    other = make_group(app, "Readers")
    add_member(app, people.member.id, group)
    with app.app_context(), unit_of_work():
        api_keys.issue_api_key(db.session.get(User, people.member.id), SYSTEM, name="script")
        identity = LinkedIdentity(user_id=people.member.id, provider="idp", provider_name="Example ID",
                                  issuer="https://id.example", subject="member-1", email="member@id.example")
        db.session.add(identity)
        db.session.flush()
        identity_id = identity.id
        app_id = apps.register_app("Example app", ["https://app.example/callback"], SYSTEM)[0].id
    [key] = live_credentials(app, people.member.id, kind="key")
    return {"user": people.member.id, "group": group, "other_group": other, "key": key["public_id"],
            "identity": identity_id, "app": app_id}


@pytest.fixture
def world(app, people):
    return create_world(app, people)


def fill(value: str, world: dict) -> str:
    return value.format(**world)


def request(client, case, world):
    data = {k: fill(v, world) for k, v in case.data.items()} if case.data is not None else None
    return client.open(fill(case.path, world), method=case.method, data=data)


def snapshot(app, world) -> tuple:
    """What a refused request must leave as it was: the member, their keys, the groups, the audit log,
    the accounts connected to theirs and the apps."""
    with app.app_context():
        connected = db.session.scalars(select(LinkedIdentity.id).where(LinkedIdentity.user_id == world["user"])).all()
        registered = [(a.id, a.name, a.secret_hash, a.disabled_at)
                      for a in db.session.scalars(select(OAuthClient).order_by(OAuthClient.id))]
    return (
        connected,
        registered,
        stored_user(app, world["user"]),
        live_credentials(app, world["user"]),
        group_row(app, world["group"]),
        group_row(app, world["other_group"]),
        len(events(app)),
    )


def changes_state(case) -> bool:
    """Whether the request, allowed, changes something (the actions that redirect when done, or show
    what they made)."""
    return case.method == "POST" and case.staff[0] in ("redirect", "made")


ROLES = ["stranger", "user", "staff", "superuser"]
# Every request that must change nothing: all of a stranger's and a user's, and staff's pages,
# HEAD/OPTIONS answers and first (unconfirmed) POSTs. They share one app; the rest get their own.
SHARED = [(c, r) for c in MATRIX for r in ROLES if r in ("stranger", "user") or not changes_state(c)]
OWN_APP = [(c, r) for c in MATRIX for r in ROLES if (c, r) not in SHARED]
POSTS = [c for c in CASES if c.method == "POST"]


def ids(pairs):
    return [f"{c.method} {c.path}-{r}" for c, r in pairs]


@pytest.fixture(scope="class")
def shared_world(tmp_path_factory):
    """One app for the requests that must change nothing (each test checks that they did not), so
    the matrix does not build an app per request. Class-scoped: it is gone before the tests that
    build their own app (on PostgreSQL every app uses the same database)."""
    with own_app(tmp_path_factory.mktemp("shared")) as app:
        people = create_people(app)
        world = create_world(app, people)
        clients = {
            "stranger": app.test_client(),
            "user": sign_in(app.test_client(), people.member2),
            "staff": sign_in(app.test_client(), people.staff),
            "superuser": sign_in(app.test_client(), people.superuser),
        }
        yield SimpleNamespace(app=app, world=world, clients=clients)


def check(response, case, role, world):
    """The answer ``role`` must get to ``case``."""
    if role == "stranger":
        assert login_redirect(response) == fill(case.path, world), (
            response.status_code, response.headers.get("Location"))
        return
    if role == "user":
        if case.method == "HEAD":
            assert response.status_code == 403 and response.mimetype == "text/html" and not response.data
        else:
            assert is_403_page(response), response.status_code
        return
    kind, expected = case.staff
    if kind in ("page", "made"):
        assert response.status_code == expected, text(response)[-600:]
        if case.method == "OPTIONS":
            assert "OPTIONS" in response.headers["Allow"]
    elif kind == "redirect":
        assert response.status_code == 302, text(response)[-600:]
        assert urlsplit(response.headers["Location"]).path == fill(expected, world)
    else:  # a confirmation page first
        assert response.status_code == 200, text(response)[-600:]
        if case.method != "HEAD":
            assert is_confirmation(response, expected), text(response)[-1500:]


class TestRequestsThatChangeNothing:
    @pytest.mark.parametrize("case, role", SHARED, ids=ids(SHARED))
    def test_permission_matrix(self, shared_world, case, role):
        app, world = shared_world.app, shared_world.world
        before = snapshot(app, world)

        response = request(shared_world.clients[role], case, world)

        check(response, case, role, world)
        assert snapshot(app, world) == before

    @pytest.mark.parametrize("case", POSTS, ids=[f"POST {c.path}" for c in POSTS])
    def test_every_admin_post_without_the_csrf_token_is_refused_and_changes_nothing(self, shared_world, case):
        app, world = shared_world.app, shared_world.world
        data = {k: fill(v, world) for k, v in (case.data or {}).items()} | {"confirmed": "yes"}
        before = snapshot(app, world)
        csrf_on(app)
        try:
            answer = shared_world.clients["superuser"].post(fill(case.path, world), data=data)
            forged = shared_world.clients["superuser"].post(fill(case.path, world),
                                                            data=data | {"csrf_token": "forged"})
        finally:
            app.config["WTF_CSRF_ENABLED"] = False
        assert answer.status_code == 400, answer.status_code
        assert "The form had expired or was not sent from this site." in text(answer)
        assert forged.status_code == 400
        assert snapshot(app, world) == before


@pytest.mark.parametrize("case, role", OWN_APP, ids=ids(OWN_APP))
def test_permission_matrix(app, signed_in, people, world, case, role):
    """Staff actions that change something, each on an app of its own."""
    response = request(signed_in(getattr(people, role)), case, world)
    check(response, case, role, world)


def test_the_matrix_covers_every_admin_route(app):
    """A new admin route must be added to the matrix above (each route and each method it answers)."""
    placeholders = {"user_id": "{user}", "group_id": "{group}", "public_id": "{key}", "identity_id": "{identity}",
                    "app_id": "{app}"}
    routes = set()
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith("admin."):
            path = rule.rule
            for name in rule.arguments:
                path = path.replace(f"<int:{name}>", placeholders[name]).replace(f"<{name}>", placeholders[name])
            for method in rule.methods:
                routes.add((method, path))
    covered = {(c.method, c.path.split("?")[0]) for c in MATRIX}
    assert routes <= covered, routes - covered


# CSRF: every admin POST needs the token of a page of the site ---------------------------------------


def test_with_the_token_of_the_page_the_confirmed_action_goes_through(app, signed_in, people, world):
    root = signed_in(people.superuser)
    csrf_on(app)
    url = f"/admin/users/{world['user']}/deactivate"
    token = csrf_token(root.get(f"/admin/users/{world['user']}"))

    asked = root.post(url, data={"csrf_token": token})
    assert is_confirmation(asked, "Deactivate this account?")
    assert confirm(root, url, asked).status_code == 302  # the confirmation form carries its own token
    assert stored_user(app, world["user"])["is_active"] is False
