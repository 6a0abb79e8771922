"""A tour of the site for tests that look at every page: a small world (a superuser with an avatar
and a passkey, signed in; a member; a group; an app; API credentials; a reset link and a "This wasn't me"
link), every page a browser can GET, and the states of pages that render more (form errors, a new
key, a conflict, confirmations, flashes, every error status). The header tests scan it for headers
and inline code; the language tests read it in Persian.
"""

import io
from dataclasses import dataclass
from types import SimpleNamespace

from sqlalchemy import select

from portal.extensions import db
from portal.models import SignInAlert, User
from portal.services.audit import SYSTEM
from portal.services.oidc import apps
from portal.services.people import accounts, groups, verification
from portal.services.signing_in import sign_in_alerts
from portal.transactions import unit_of_work
from tests.conftest import image_bytes, stored_avatars
from tests.two_step import add_passkey
from tests.webauthn_authenticator import SoftwareAuthenticator


@dataclass(frozen=True)
class Cast:
    """Who lives in the world, and what their things are called."""

    root: tuple[str, str] = ("Rhea", "Root")
    member: tuple[str, str] = ("Mia", "Member")
    group: tuple[str, str] = ("Editors", "People who edit")
    new_last_name: str = "Roots"  # what the root renames themself to on the edit page
    key_name: str = "laptop"
    app_name: str = "Example shop"
    passkey_name: str = "My phone"
    language: str | None = None  # every person's saved language, and every browser's cookie


def boom():
    raise RuntimeError("internals that must not leak")


def build_world(app, client, make_user, jwt_pair, api_key, cast: Cast = Cast()) -> SimpleNamespace:
    """A superuser with an avatar signed in to the pages, a member, a group, an app and both API credentials."""
    # Routes that fail, for the 500 pages; added before the app has answered any request.
    app.add_url_rule("/boom", "boom", boom)
    app.add_url_rule("/api/boom/", "api_boom", boom)
    app.config["PROPAGATE_EXCEPTIONS"] = False
    profile = {"language": cast.language} if cast.language else {}
    root = make_user("root@example.com", superuser=True, first_name=cast.root[0], last_name=cast.root[1], **profile)
    member = make_user("member@example.com", first_name=cast.member[0], last_name=cast.member[1], **profile)
    if cast.language:
        client.set_cookie("language", cast.language)
    with app.app_context(), unit_of_work():
        group_id = groups.create_group(cast.group[0], SYSTEM, notes=cast.group[1]).id
        app_id = apps.register_app(cast.app_name, ["https://shop.example/callback"], SYSTEM)[0].id
        user = db.session.get(User, root.id)
        accounts.update_profile(user, {"avatar": io.BytesIO(image_bytes())}, SYSTEM)
        reset_path = "/" + verification.password_reset_link(db.session.get(User, member.id)).split("/", 3)[3]
    avatar = stored_avatars(app)[0]
    pair = jwt_pair(root)
    key = api_key(root)
    browser = sign_in(app.test_client(), root)
    # After the sign-ins: with a passkey, signing in asks for a second step.
    passkey_id = add_passkey(app, root, SoftwareAuthenticator(), name=cast.passkey_name).id
    with app.app_context(), unit_of_work():
        # The browser signed in after the API sign-ins from its address: a new browser, mailed.
        alert = db.session.scalar(select(SignInAlert).where(SignInAlert.user_id == root.id))
        not_me_path = "/" + sign_in_alerts.not_me_link(alert).split("/", 3)[3]
    return SimpleNamespace(
        app=app, anonymous=client, browser=browser, root=root, member=member, group_id=group_id, app_id=app_id,
        avatar=avatar,
        reset_path=reset_path, not_me_path=not_me_path, pair=pair, passkey_id=passkey_id, cast=cast,
        bearer={"Authorization": f"Bearer {pair['access']}"}, token={"Authorization": f"Token {key}"},
    )


def sign_in(client, account):
    """Sign ``client`` in through the real sign-in page (the test app has CSRF off)."""
    response = client.post("/login", data={"login": account.email, "password": account.password})
    assert response.status_code == 302, response.status_code
    assert not response.headers["Location"].startswith("/login"), response.headers["Location"]
    return client


# Every page a browser can GET, by endpoint. A new page must be added here, so that it is scanned.
def page_urls(w) -> dict:
    return {
        "web.index": "/",
        "web.login": "/login",
        "web.register": "/register",
        "web.verify": "/verify",
        "web.forgot_password": "/password/forgot",
        "web.reset_password": w.reset_path,
        "web.profile": "/profile/",
        "web.edit_profile": "/profile/edit",
        "web.change_password": "/profile/password",
        "web.api_keys": "/profile/keys",
        "web.security": "/profile/security",
        "web.set_password": "/profile/security/password",
        "web.totp_setup": "/profile/security/app",
        "web.passkey_rename": f"/profile/security/passkeys/{w.passkey_id}/rename",
        "web.second_step": "/login/second-step",
        "web.sign_in_code": "/login/code",
        "web.enter_sign_in_code": "/login/code/enter",
        "web.sessions": "/profile/sessions",
        "web.secure_account": "/profile/sessions/secure",
        "web.not_me": w.not_me_path,
        "web.activity": "/profile/activity",
        "web.export": "/profile/export",
        "web.delete_account": "/profile/delete",
        "admin.index": "/admin/",
        "admin.users": "/admin/users/",
        "admin.users_detail": f"/admin/users/{w.member.id}",
        "admin.users_export": "/admin/users/export.csv",
        "admin.groups_list": "/admin/groups/",
        "admin.groups_detail": f"/admin/groups/{w.group_id}",
        "admin.apps_list": "/admin/apps/",
        "admin.apps_detail": f"/admin/apps/{w.app_id}",
        "admin.audit": "/admin/audit/",
        "admin.mail": "/admin/mail/",
        "health.healthz": "/healthz",
        "health.readyz": "/readyz",
        "oidc.jwks": "/oauth/jwks",
        "oidc.discovery": "/.well-known/openid-configuration",
        "web.connected_apps": "/profile/apps",
    }


ANONYMOUS_PAGES = {"web.login", "web.second_step", "web.sign_in_code", "web.enter_sign_in_code", "web.register",
                   "web.verify", "web.forgot_password", "web.reset_password", "web.not_me", "health.healthz",
                   "health.readyz", "oidc.jwks", "oidc.discovery"}


def get_pages(w) -> list[tuple[str, object]]:
    """(label, response) for every page: the anonymous ones signed out, the rest signed in as the superuser."""
    answers = []
    for endpoint, url in page_urls(w).items():
        client = w.anonymous if endpoint in ANONYMOUS_PAGES else w.browser
        with client.get(url) as response:
            response.get_data()  # a streamed answer (the CSV export) is read to its end, then closed
        # /readyz is 503 here: the test database is made by create_all, not by the migrations.
        expected = (200, 302) if endpoint != "health.readyz" else (503,)
        assert response.status_code in expected, (url, response.status_code)
        answers.append((f"GET {url}", response))
    return answers


def edit_form(w, **changes) -> dict:
    """Every field of the edit form, as a browser posts it."""
    first, last = w.cast.root
    return {"first_name": first, "last_name": last, "username": "", "email": w.root.email, "phone": "",
            "gender": "", "country": "", "address": "", "birthday": "", **changes}


def member_browser(w):
    """A new browser (in the world's language) signed in as the member."""
    client = w.app.test_client()
    if w.cast.language:
        client.set_cookie("language", w.cast.language)
    return sign_in(client, w.member)


def html_answers(w) -> list[tuple[str, object, int]]:
    """(label, answer, expected status) for every page, and the states of pages that render more:
    form errors, a new key, a conflict, a confirmation, flashes and every error page."""
    answers = [(label, response, response.status_code) for label, response in get_pages(w)]
    b, anon = w.browser, w.anonymous
    answers += [
        ("sign-in with errors", anon.post("/login", data={"login": w.member.email, "password": "wrong"}), 400),
        ("sign-up with errors", anon.post("/register", data={"email": "not-an-email", "password": "1"}), 400),
        ("verify with errors", anon.post("/verify", data={"email": w.member.email, "otp": "000000"}), 400),
        ("forgot-password sent", anon.post("/password/forgot", data={"email": w.member.email}), 200),
        ("reset link invalid", anon.get("/password/reset/MQ/not-a-token/"), 400),
        ("reset with errors", anon.post(w.reset_path, data={"new_password": "1", "confirm_password": "2"}), 400),
        ("edit with errors", b.post("/profile/edit", data=edit_form(w, first_name="\u202eevil", email="x")), 400),
        ("edit with a conflict", b.post("/profile/edit", data=edit_form(w, version="1")), 409),
        ("edit saved", b.post("/profile/edit", data=edit_form(w, last_name=w.cast.new_last_name)), 302),
        ("profile with a flash", b.get("/profile/"), 200),
        ("password with errors", b.post("/profile/password", data={"current_password": "wrong"}), 400),
        ("a new API key", b.post("/profile/keys", data={"name": w.cast.key_name}), 200),
        ("delete with errors", b.post("/profile/delete", data={"current_password": "wrong"}), 400),
        ("admin user list filtered", b.get("/admin/users/?q=mia&active=1&sort=email"), 200),
        ("admin user edit with errors",
         b.post(f"/admin/users/{w.member.id}", data={"email": "bad", "first_name": "\u202e"}), 400),
        ("admin delete confirmation", b.post(f"/admin/users/{w.member.id}/delete"), 200),
        ("admin group edit with errors", b.post(f"/admin/groups/{w.group_id}", data={"name": ""}), 400),
        ("admin app registered, its secret shown",
         b.post("/admin/apps/", data={"name": w.cast.app_name, "redirect_uris": "https://shop.example/callback",
                                      "scopes": ["openid", "email"]}), 200),
        ("admin app edit with errors",
         b.post(f"/admin/apps/{w.app_id}", data={"name": w.cast.app_name, "redirect_uris": ""}), 400),
        ("admin replace app secret confirmation", b.post(f"/admin/apps/{w.app_id}/secret"), 200),
        ("admin disable app confirmation", b.post(f"/admin/apps/{w.app_id}/disable"), 200),
        ("admin audit filtered", b.get(f"/admin/audit/?subject={w.member.id}"), 200),
        ("error 404", anon.get("/nope"), 404),
        ("error 404 signed in", b.get("/nope"), 404),
        ("error 405", anon.get("/logout"), 405),
        ("error 403", member_browser(w).get("/admin/users/"), 403),
        ("error 413", anon.post("/login", data=b"x" * (w.app.config["MAX_CONTENT_LENGTH"] + 1),
                                content_type="application/x-www-form-urlencoded"), 413),
        ("error 500", anon.get("/boom"), 500),
    ]
    return answers
