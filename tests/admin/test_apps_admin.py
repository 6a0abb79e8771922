"""Apps in the admin, through HTTP as staff meet them: the list, registering an app (its secret shown
once and stored only as a hash), the service's refusals on their fields, editing, replacing the
secret (the old one stops working at the token endpoint) and disabling (its authorize requests get
the error page, its sign-ins end); each change audited."""

import hashlib
import re

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.models import Credential, OAuthClient
from portal.services.audit import SYSTEM
from portal.services.oidc import apps
from portal.transactions import unit_of_work
from tests.oidc.test_authorization_code_flow import CALLBACK, authorize_url, code_for, exchange, pkce
from tests.oidc.test_authorization_code_flow import sign_in as sign_in_at_the_portal

from .conftest import (
    confirm,
    csrf_on,
    events,
    field_errors,
    flashes,
    form_fields,
    is_confirmation,
    submit_form,
    text,
)
from .test_groups_admin import _Controls


@pytest.fixture
def admin(signed_in, people):
    return signed_in(people.staff)  # apps are staff work: no superuser needed


def register(app, name="Example app", *, public=False, trusted=False, scopes=None, redirect_uris=(CALLBACK,)):
    """An app registered by the command line's service: (row id, client id, secret)."""
    with app.app_context(), unit_of_work():
        made, secret = apps.register_app(name, list(redirect_uris), SYSTEM, public=public, trusted=trusted,
                                         scopes=scopes)
        return made.id, made.client_id, secret


def stored(app, app_id=None) -> dict | None:
    """The app's row as plain values (the only one, when no id is given)."""
    with app.app_context():
        query = select(OAuthClient) if app_id is None else select(OAuthClient).where(OAuthClient.id == app_id)
        row = db.session.scalar(query)
        if row is None:
            return None
        return {column.name: getattr(row, column.name) for column in OAuthClient.__table__.columns}


def app_count(app) -> int:
    with app.app_context():
        return len(db.session.scalars(select(OAuthClient.id)).all())


def shown_value(response, input_id: str) -> str:
    """The value of the read-only input or text area ``input_id`` on the page."""
    body = response.get_data(as_text=True)
    found = (re.search(rf'<input id="{input_id}"[^>]*value="([^"]*)"', body)
             or re.search(rf'<textarea id="{input_id}"[^>]*>([^<]*)</textarea>', body))
    assert found, f"no #{input_id} on the page"
    return found.group(1)


NEW_APP = {"name": "Shop", "redirect_uris": "https://shop.example/callback\r\nhttps://shop.example/other",
           "scopes": ["openid", "email"], "post_logout_redirect_uris": "https://shop.example/bye",
           "backchannel_logout_uri": "https://shop.example/logout"}


# The list ---------------------------------------------------------------------------------------------


def test_the_list_shows_each_apps_settings_and_the_section_is_in_the_navigation(app, admin):
    shop, shop_id, _secret = register(app, "Shop", scopes=["openid", "email"],
                                      redirect_uris=(CALLBACK, "https://app.example/two"))
    _mobile, mobile_id, _none = register(app, "Mobile", public=True, trusted=True, scopes=["openid"],
                                         redirect_uris=("com.example.app:/cb",))
    old, _old_id, _ = register(app, "Old")
    with app.app_context(), unit_of_work():
        apps.disable_app(db.session.get(OAuthClient, old), SYSTEM)

    listing = admin.get("/admin/apps/")

    assert listing.status_code == 200
    body = listing.get_data(as_text=True)
    rows = re.findall(r"<tr[^>]*>\s*<td><a href=\"/admin/apps/\d+\" dir=\"auto\">(.*?)</a></td>(.*?)</tr>", body, re.S)
    assert [name for name, _cells in rows] == ["Mobile", "Shop", "Old"]  # enabled ones first, by name
    assert mobile_id in body and shop_id in body
    shop_row = dict(rows)["Shop"]
    assert "Confidential" in shop_row and ">No<" in shop_row and '<code dir="ltr">email</code>' in shop_row
    assert '<td data-label="Redirect URIs">2</td>' in shop_row and '<td data-label="Disabled">—</td>' in shop_row
    mobile_row = dict(rows)["Mobile"]
    assert "Public" in mobile_row and ">Yes<" in mobile_row
    assert "badge badge-warn" in dict(rows)["Old"]
    assert '<a href="/admin/apps/" aria-current="page">Apps</a>' in body
    assert '<a href="/admin/apps/" aria-current="page">Apps</a>' in admin.get(f"/admin/apps/{shop}").get_data(
        as_text=True)


def test_the_register_form_offers_every_scope_with_what_it_lets_an_app_do(admin):
    page = admin.get("/admin/apps/")
    body = text(page)
    for scope, description in apps.SCOPES.items():
        assert f'value="{scope}"' in body and str(description) in body
    assert form_fields(page, None)["scopes"] == ["openid", "profile", "email"]  # checked for a new app
    assert "No apps yet." in body


# Registering ------------------------------------------------------------------------------------------


def test_registering_shows_the_secret_once_and_stores_only_its_hash(app, admin, people):
    answer = submit_form(admin, "/admin/apps/", None, NEW_APP | {"trusted": "y"})

    assert answer.status_code == 200, text(answer)[-1500:]
    assert answer.headers["Cache-Control"] == "no-store"
    assert "<h1>App <bdi>Shop</bdi> registered</h1>" in text(answer)
    assert "Copy the secret now." in text(answer) and "It is shown only this once" in text(answer)
    client_id, secret = shown_value(answer, "client-id"), shown_value(answer, "client-secret")
    row = stored(app)
    assert row["client_id"] == client_id and len(secret) >= 40
    assert row["secret_hash"] == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in repr(row)
    assert (row["name"], row["redirect_uris"], row["scopes"], row["public"], row["trusted"]) == (
        "Shop", ["https://shop.example/callback", "https://shop.example/other"], ["openid", "email"], False, True)
    assert row["post_logout_redirect_uris"] == ["https://shop.example/bye"]
    assert row["backchannel_logout_uri"] == "https://shop.example/logout"
    with app.app_context():
        assert apps.secret_matches(db.session.get(OAuthClient, row["id"]), secret)

    # Never again: not on the app's page nor in the list.
    assert secret not in admin.get(f"/admin/apps/{row['id']}").get_data(as_text=True)
    assert secret not in admin.get("/admin/apps/").get_data(as_text=True)
    [event] = events(app, action="app_registered")
    assert (event.actor_id, event.via, event.subject_label) == (people.staff.id, "admin", "Shop")
    assert event.changes == {"client_id": [None, client_id], "name": [None, "Shop"]}
    assert secret not in repr(event)


def test_a_public_app_gets_a_client_id_and_no_secret(app, admin):
    answer = admin.post("/admin/apps/", data={"name": "Mobile", "redirect_uris": "com.example.app:/cb",
                                              "public": "y", "scopes": ["openid"]})

    assert answer.status_code == 200 and answer.headers["Cache-Control"] == "no-store"
    assert 'id="client-secret"' not in answer.get_data(as_text=True)
    assert "A public app has no secret" in text(answer)
    row = stored(app)
    assert row["public"] is True and row["secret_hash"] is None and shown_value(answer, "client-id") == row["client_id"]
    page = admin.get(f"/admin/apps/{row['id']}").get_data(as_text=True)
    assert f'action="/admin/apps/{row["id"]}/secret"' not in page  # no secret to replace


def test_registering_with_the_csrf_token_of_the_page(app, admin):
    csrf_on(app)
    assert admin.post("/admin/apps/", data=NEW_APP).status_code == 400  # no token
    answer = submit_form(admin, "/admin/apps/", None, NEW_APP)  # the page's token
    assert answer.status_code == 200 and app_count(app) == 1


@pytest.mark.parametrize("changes, field, message", [
    ({"redirect_uris": "https://shop.example/cb\nhttp://shop.example/cb"}, "redirect_uris",
     "Not a redirect URI an app may use: http://shop.example/cb"),
    ({"redirect_uris": "https://shop.example/cb#top"}, "redirect_uris",
     "Not a redirect URI an app may use: https://shop.example/cb#top"),
    ({"redirect_uris": ""}, "redirect_uris", "Give at least one redirect URI."),
    ({"scopes": ["openid", "admin"]}, "scopes", "Unknown scopes: admin"),
    ({"backchannel_logout_uri": "com.example.app:/logout"}, "backchannel_logout_uri",
     "Give an https URL (http only on this computer)."),
    ({"post_logout_redirect_uris": "javascript:alert(1)"}, "post_logout_redirect_uris",
     "Not a URI an app may use: javascript:alert(1)"),
], ids=["http redirect", "fragment", "no redirect", "unknown scope", "custom scheme back-channel", "javascript"])
def test_a_refusal_of_the_service_is_a_400_on_its_field_and_nothing_is_stored(app, admin, changes, field, message):
    answer = admin.post("/admin/apps/", data=NEW_APP | changes)

    assert answer.status_code == 400
    assert field_errors(answer, field) == [message]
    assert re.search(rf'aria-describedby="([^"]* )?{field}-errors"', answer.get_data(as_text=True))
    assert app_count(app) == 0 and events(app, action="app_registered") == []
    kept = form_fields(answer, None)
    assert kept["name"] == "Shop"  # the input is kept for correcting
    if field == "scopes":
        assert kept["scopes"] == "openid"  # the known one stays checked


# Editing ----------------------------------------------------------------------------------------------


def test_editing_an_app_saves_its_settings_and_audits_the_change(app, admin, people):
    app_id, client_id, _secret = register(app, "Shop", trusted=True, scopes=["openid", "email"])
    page = admin.get(f"/admin/apps/{app_id}")
    assert page.status_code == 200
    fields = form_fields(page, None)
    assert (fields["name"], fields["redirect_uris"], fields["scopes"], fields["trusted"]) == (
        "Shop", CALLBACK, ["openid", "email"], "y")
    assert client_id in page.get_data(as_text=True)

    changes = {"name": "Shop 2", "redirect_uris": f"{CALLBACK}\nhttps://app.example/second",
               "scopes": ["openid", "profile"]}
    del fields["trusted"]  # unchecked
    answer = admin.post(f"/admin/apps/{app_id}", data=fields | changes)

    assert answer.status_code == 302 and answer.headers["Location"] == f"/admin/apps/{app_id}"
    assert "App Shop 2 saved." in flashes(admin.get(f"/admin/apps/{app_id}"))
    row = stored(app, app_id)
    assert (row["name"], row["redirect_uris"], row["scopes"], row["trusted"]) == (
        "Shop 2", [CALLBACK, "https://app.example/second"], ["openid", "profile"], False)
    [event] = events(app, action="app_changed")
    assert (event.actor_id, event.via, event.subject_label) == (people.staff.id, "admin", "Shop 2")
    assert event.changes["name"] == ["Shop", "Shop 2"] and event.changes["trusted"] == [True, False]
    assert set(event.changes) == {"name", "redirect_uris", "scopes", "trusted"}

    # Saved again unchanged: nothing to audit.
    assert submit_form(admin, f"/admin/apps/{app_id}", None).status_code == 302
    assert len(events(app, action="app_changed")) == 1


def test_a_bad_edit_is_a_400_on_its_field_and_changes_nothing(app, admin):
    app_id, _client_id, _secret = register(app, "Shop", scopes=["openid"])
    before = stored(app, app_id)

    answer = submit_form(admin, f"/admin/apps/{app_id}", None,
                         {"name": "Renamed", "redirect_uris": "ftp://shop.example/cb", "scopes": ["openid", "x"]})

    assert answer.status_code == 400
    assert field_errors(answer, "redirect_uris") == ["Not a redirect URI an app may use: ftp://shop.example/cb"]
    assert field_errors(answer, "scopes") == ["Unknown scopes: x"]
    assert stored(app, app_id) == before and events(app, action="app_changed") == []
    assert form_fields(answer, None)["redirect_uris"] == "ftp://shop.example/cb"


# The secret -------------------------------------------------------------------------------------------


def test_replacing_the_secret_asks_first_then_shows_the_new_one_once_and_the_old_one_stops_working(
    app, admin, people, client
):
    app_id, client_id, old_secret = register(app, "Shop", trusted=True)
    url = f"/admin/apps/{app_id}/secret"

    asked = admin.post(url)
    assert is_confirmation(asked, "Replace the secret of Shop?")
    assert "The current secret stops working at once" in text(asked)
    assert events(app, action="app_secret_rotated") == []

    done = confirm(admin, url, asked)

    assert done.status_code == 200 and done.headers["Cache-Control"] == "no-store"
    assert "<h1>New secret of <bdi>Shop</bdi></h1>" in text(done) and "Copy the secret now." in text(done)
    new_secret = shown_value(done, "client-secret")
    assert new_secret != old_secret and shown_value(done, "client-id") == client_id
    assert stored(app, app_id)["secret_hash"] == hashlib.sha256(new_secret.encode()).hexdigest()
    assert new_secret not in admin.get(f"/admin/apps/{app_id}").get_data(as_text=True)

    # At the token endpoint: the old secret is refused, the new one exchanges a code.
    sign_in_at_the_portal(client, people.member.email)
    code, verifier = code_for(client, client_id)
    refused = exchange(client, client_id, old_secret, code, verifier)
    assert refused.status_code == 401 and refused.get_json()["error"] == "invalid_client"
    tokens = exchange(client, client_id, new_secret, code, verifier)
    assert tokens.status_code == 200 and "access_token" in tokens.get_json()

    [event] = events(app, action="app_secret_rotated")
    assert (event.actor_id, event.via, event.subject_label) == (people.staff.id, "admin", "Shop")
    assert new_secret not in repr(event) and old_secret not in repr(event)


def test_a_public_app_has_no_secret_to_replace(app, admin):
    app_id, _client_id, _none = register(app, "Mobile", public=True, redirect_uris=("com.example.app:/cb",))

    answer = admin.post(f"/admin/apps/{app_id}/secret", data={"confirmed": "yes"})

    assert answer.status_code == 302 and answer.headers["Location"] == f"/admin/apps/{app_id}"
    assert "A public app has no secret." in text(admin.get(f"/admin/apps/{app_id}"))
    assert stored(app, app_id)["secret_hash"] is None and events(app, action="app_secret_rotated") == []


# Disabling --------------------------------------------------------------------------------------------


def live_app_credentials(app, app_id) -> int:
    with app.app_context():
        rows = db.session.scalars(select(Credential).where(Credential.client_id == app_id)).all()
        return sum(1 for row in rows if row.revoked_at is None)


def test_disabling_asks_first_then_ends_every_sign_in_and_refuses_its_authorize_requests(app, admin, people, client):
    app_id, client_id, secret = register(app, "Shop", trusted=True)
    sign_in_at_the_portal(client, people.member.email)
    code, verifier = code_for(client, client_id)
    tokens = exchange(client, client_id, secret, code, verifier).get_json()
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    assert client.get("/oauth/userinfo", headers=bearer).status_code == 200
    assert live_app_credentials(app, app_id) >= 1
    url = f"/admin/apps/{app_id}/disable"

    asked = admin.post(url)
    assert is_confirmation(asked, "Disable the app Shop?")
    assert "every sign-in made through it ends now" in text(asked)
    assert stored(app, app_id)["disabled_at"] is None

    done = confirm(admin, url, asked)

    assert done.status_code == 302 and done.headers["Location"] == f"/admin/apps/{app_id}"
    page = admin.get(f"/admin/apps/{app_id}")
    assert "App Shop is disabled; every sign-in made through it has ended." in flashes(page)
    assert "This app is disabled" in text(page) and f'action="{url}"' not in page.get_data(as_text=True)
    assert stored(app, app_id)["disabled_at"] is not None
    assert live_app_credentials(app, app_id) == 0
    assert client.get("/oauth/userinfo", headers=bearer).status_code == 401
    _verifier, challenge = pkce()
    refused = client.get(authorize_url(client_id, challenge))
    assert refused.status_code == 400 and "Location" not in refused.headers and refused.mimetype == "text/html"
    [event] = events(app, action="app_disabled")
    assert (event.actor_id, event.via, event.subject_label) == (people.staff.id, "admin", "Shop")


# Unknown apps, and labels -----------------------------------------------------------------------------


@pytest.mark.parametrize("method, path", [("GET", "/admin/apps/4242"), ("POST", "/admin/apps/4242"),
                                          ("POST", "/admin/apps/4242/secret"), ("POST", "/admin/apps/4242/disable"),
                                          ("GET", "/admin/apps/99999999999999999999")])
def test_an_unknown_app_is_a_404_page(admin, method, path):
    answer = admin.open(path, method=method, data={"name": "x", "confirmed": "yes"})
    assert answer.status_code == 404 and "Page not found" in text(answer)


@pytest.mark.parametrize("page", ["/admin/apps/", "/admin/apps/{app}", "secret:/admin/apps/{app}/secret"])
def test_every_control_of_the_app_pages_has_a_label(app, admin, page):
    app_id, _client_id, _secret = register(app)
    if page.startswith("secret:"):
        url = page.removeprefix("secret:").format(app=app_id)
        response = admin.post(url, data={"confirmed": "yes"})
    else:
        response = admin.get(page.format(app=app_id))
    assert response.status_code == 200
    parser = _Controls()
    parser.feed(response.get_data(as_text=True))
    assert parser.controls
    for control in parser.controls:
        assert control.get("id") in parser.labelled or control.get("aria-label"), control
