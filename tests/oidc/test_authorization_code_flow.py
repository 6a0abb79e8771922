"""The portal as an OpenID provider, through HTTP as an app and a person meet it: the authorization
code flow with PKCE, consent, tokens, userinfo, introspection and revocation, and each refusal.

Test names follow the OpenID Foundation's Basic OP conformance profile where one matches
(``oidcc-…`` in the docstring).
"""

import base64
import hashlib
import json
import secrets
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet

from portal.services.audit import SYSTEM
from portal.services.oidc import apps
from portal.transactions import unit_of_work
from tests.conftest import PASSWORD
from tests.two_step import set_up_totp

CALLBACK = "https://app.example/callback"
ISSUER = "http://localhost"


@pytest.fixture
def registered(app):
    """Register an app: ``registered(public=False, trusted=False, scopes=None)`` → (client_id, secret)."""

    def register(name="Example app", *, public=False, trusted=False, scopes=None, redirect_uris=(CALLBACK,)):
        with app.app_context(), unit_of_work():
            made, secret = apps.register_app(name, list(redirect_uris), SYSTEM, public=public, trusted=trusted,
                                             scopes=scopes)
            return made.client_id, secret

    return register


def pkce():
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def authorize_url(client_id, challenge, *, scope="openid profile email", state="st-1", nonce="n-1", **extra):
    params = {"response_type": "code", "client_id": client_id, "redirect_uri": CALLBACK, "scope": scope,
              "state": state, "nonce": nonce, "code_challenge": challenge, "code_challenge_method": "S256", **extra}
    return "/oauth/authorize?" + urlencode({k: v for k, v in params.items() if v is not None})


def back_at_app(answer) -> dict:
    assert answer.status_code == 302, answer.get_data(as_text=True)[:500]
    location = answer.headers["Location"]
    assert location.startswith(CALLBACK), location
    return {k: v[-1] for k, v in parse_qs(urlsplit(location).query).items()}


def sign_in(client, email=None):
    answer = client.post("/login", data={"login": email or "user@example.com", "password": PASSWORD})
    assert answer.status_code == 302
    return answer


def consent(client, url, choice="allow"):
    page = client.get(url)
    assert page.status_code == 200 and 'name="consent" value="allow"' in page.get_data(as_text=True)
    fields = {k: v[-1] for k, v in parse_qs(urlsplit(url).query).items()}
    return client.post("/oauth/authorize", data={**fields, "consent": choice})


def code_for(client, client_id, *, scope="openid profile email", **extra):
    verifier, challenge = pkce()
    url = authorize_url(client_id, challenge, scope=scope, **extra)
    answer = client.get(url)
    if answer.status_code == 200:
        answer = consent(client, url)
    return back_at_app(answer)["code"], verifier


def exchange(client, client_id, secret, code, verifier, redirect_uri=CALLBACK):
    headers = {"Authorization": "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()}
    return client.post("/oauth/token", headers=headers, data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri, "code_verifier": verifier,
    })


def verified(client, token, audience):
    keys = KeySet.import_key_set(client.get("/oauth/jwks").get_json())
    decoded = jwt.decode(token, keys, algorithms=["RS256"])
    assert decoded.claims["iss"] == ISSUER and decoded.claims["aud"] == audience
    return decoded


# Discovery ------------------------------------------------------------------------------------------


def test_discovery_names_every_endpoint_at_the_issuer(client):
    """oidcc-discovery-endpoint-verification: the issuer and every endpoint the Basic OP uses."""
    document = client.get("/.well-known/openid-configuration").get_json()

    assert document["issuer"] == ISSUER
    for name in ("authorization_endpoint", "token_endpoint", "userinfo_endpoint", "jwks_uri",
                 "introspection_endpoint", "revocation_endpoint"):
        assert document[name].startswith(ISSUER + "/"), name
    assert document["code_challenge_methods_supported"] == ["S256"]
    assert "openid" in document["scopes_supported"] and "api:read" in document["scopes_supported"]
    assert document["id_token_signing_alg_values_supported"] == ["RS256"]


def test_the_issuer_is_public_base_url_when_set(make_app):
    app = make_app(PUBLIC_BASE_URL="https://accounts.example.com")
    document = app.test_client().get("/.well-known/openid-configuration").get_json()
    assert document["issuer"] == "https://accounts.example.com"
    assert document["token_endpoint"] == "https://accounts.example.com/oauth/token"


# The code flow --------------------------------------------------------------------------------------


def test_code_flow_with_consent_gives_verified_tokens_and_userinfo_by_scope(client, user, registered):
    """oidcc-server, oidcc-id-token-signature, oidcc-userinfo-get, oidcc-scope-email, oidcc-ensure-request-
    with-nonce: sign in, consent, code, tokens; the ID token's claims; userinfo by scope."""
    client_id, secret = registered()
    sign_in(client)

    code, verifier = code_for(client, client_id)
    tokens = exchange(client, client_id, secret, code, verifier)

    assert tokens.status_code == 200, tokens.get_json()
    body = tokens.get_json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 300 and "refresh_token" not in body
    id_token = verified(client, body["id_token"], client_id)
    assert id_token.header["alg"] == "RS256"
    assert id_token.claims["nonce"] == "n-1" and id_token.claims["amr"] == ["pwd"]
    assert id_token.claims["sub"] != "user@example.com" and "auth_time" in id_token.claims
    access = verified(client, body["access_token"], client_id)
    assert access.header["typ"] == "at+jwt"
    assert access.claims["scope"] == "openid profile email" and access.claims["client_id"] == client_id
    info = client.get("/oauth/userinfo", headers={"Authorization": f"Bearer {body['access_token']}"}).get_json()
    assert info["sub"] == id_token.claims["sub"] and info["email"] == "user@example.com"
    assert info["email_verified"] is True and "phone_number" not in info


def test_the_answer_carries_state_and_iss_unchanged(client, user, registered):
    """state returned exactly as sent, and RFC 9207's iss beside it."""
    client_id, _secret = registered(trusted=True)
    sign_in(client)
    verifier, challenge = pkce()

    answer = back_at_app(client.get(authorize_url(client_id, challenge, state="a b&c=d")))

    assert answer["state"] == "a b&c=d" and answer["iss"] == ISSUER


def test_consent_is_remembered_and_a_trusted_app_skips_it(client, user, registered):
    client_id, _secret = registered()
    trusted_id, _ = registered("First party", trusted=True)
    sign_in(client)
    code_for(client, client_id)  # consents

    _verifier, challenge = pkce()
    assert "code" in back_at_app(client.get(authorize_url(client_id, challenge)))
    assert "code" in back_at_app(client.get(authorize_url(trusted_id, challenge)))


def form_action(answer) -> list[str]:
    """The sources of the answer's Content-Security-Policy ``form-action``."""
    directives = (d.split() for d in answer.headers["Content-Security-Policy"].split(";"))
    return next(sources for name, *sources in directives if name == "form-action")


def test_the_consent_page_lets_its_answer_redirect_to_the_app_and_no_other_page_does(app, client, user, registered):
    """Chromium checks every redirect a form's answer leads through against the form's page's
    ``form-action``: the consent page names the origin (or the app's own scheme) of this request's
    redirect URI, and only that; every other page keeps the standing policy."""
    native = "com.example.app:/callback"
    client_id, _secret = registered(redirect_uris=(CALLBACK, native))
    sign_in(client)
    _verifier, challenge = pkce()
    standing = app.extensions["content_security_policy"]

    web = client.get(authorize_url(client_id, challenge))
    on_the_phone = client.get(authorize_url(client_id, challenge, redirect_uri=native))

    assert web.status_code == on_the_phone.status_code == 200
    assert web.headers["Content-Security-Policy"] == f"{standing} https://app.example"
    assert form_action(web) == ["'self'", "https://app.example"]
    assert form_action(on_the_phone) == ["'self'", "com.example.app:"]
    elsewhere = authorize_url(client_id, challenge, redirect_uri="https://evil.example/cb")
    for path in ("/profile/", "/profile/apps", elsewhere):
        assert client.get(path).headers["Content-Security-Policy"] == standing, path


def login_page(next_page: str) -> str:
    return "/login?" + urlencode({"next": next_page})


def test_the_sign_in_pages_let_their_forms_lead_to_the_app_their_next_returns_to(app, client, user, registered):
    """A person the app sent to sign in first is sent on to the app by the sign-in's answer (through
    ``/oauth/authorize``, for an app allowed before or trusted): the login page and the emailed-code
    pages name the origin of the request's redirect URI in their form-action, re-rendered too, and
    only for a request the authorization endpoint accepts."""
    client_id, _secret = registered()
    _verifier, challenge = pkce()
    standing = app.extensions["content_security_policy"]
    with_app = f"{standing} https://app.example"
    to_app = authorize_url(client_id, challenge)

    for path in (login_page(to_app), "/login/code?" + urlencode({"next": to_app}),
                 "/login/code/enter?" + urlencode({"next": to_app})):
        answer = client.get(path)
        assert answer.status_code == 200 and answer.headers["Content-Security-Policy"] == with_app, path
    wrong = client.post(login_page(to_app), data={"login": user.email, "password": "not the password"})
    assert wrong.status_code == 400 and wrong.headers["Content-Security-Policy"] == with_app

    elsewhere = (
        authorize_url(client_id, challenge, redirect_uri="https://evil.example/cb"),  # not registered
        authorize_url(client_id, challenge, redirect_uri=CALLBACK + "/more"),
        authorize_url("nobody", challenge),  # no such app
        authorize_url(client_id, None),  # refused (no PKCE): the sign-in does not lead there
        "/profile/",
        "https://app.example/callback",
        "//app.example/oauth/authorize?" + to_app.partition("?")[2],
        "/oauth/authorize/more?" + to_app.partition("?")[2],
    )
    for next_page in elsewhere:
        assert client.get(login_page(next_page)).headers["Content-Security-Policy"] == standing, next_page
    assert client.get("/login").headers["Content-Security-Policy"] == standing


def test_the_second_step_page_lets_its_forms_lead_to_the_app_the_sign_in_returns_to(
    app, client, user, registered, clock
):
    """The second step carries ``next`` in the pending sign-in: its page names the app's origin when
    that is an authorization request the endpoint accepts, the page after a wrong code too."""
    client_id, _secret = registered()
    set_up_totp(app, user, clock)
    _verifier, challenge = pkce()
    standing = app.extensions["content_security_policy"]

    def second_step_after_password(next_page):
        first = client.post(login_page(next_page), data={"login": user.email, "password": PASSWORD})
        assert urlsplit(first.location).path == "/login/second-step", first.location
        return client.get("/login/second-step")

    page = second_step_after_password(authorize_url(client_id, challenge))
    assert page.status_code == 200
    assert page.headers["Content-Security-Policy"] == f"{standing} https://app.example"
    wrong = client.post("/login/second-step", data={"code": "000000"})
    assert wrong.status_code == 400 and wrong.headers["Content-Security-Policy"] == f"{standing} https://app.example"

    for next_page in (authorize_url(client_id, challenge, redirect_uri="https://evil.example/cb"),
                      authorize_url("nobody", challenge), "/profile/"):
        assert second_step_after_password(next_page).headers["Content-Security-Policy"] == standing, next_page


def test_a_person_who_denies_sends_access_denied(client, user, registered):
    """The consent page's deny: access_denied, with state."""
    client_id, _secret = registered()
    sign_in(client)
    _verifier, challenge = pkce()

    answer = back_at_app(consent(client, authorize_url(client_id, challenge), choice="deny"))

    assert answer["error"] == "access_denied" and answer["state"] == "st-1"


def test_signing_in_goes_through_every_factor_before_the_app_gets_a_code(app, client, user, registered, clock):
    """The portal's own sign-in flow: an account with an authenticator app is asked for it."""
    client_id, secret = registered(trusted=True)
    totp_secret, _codes = set_up_totp(app, user, clock)
    verifier, challenge = pkce()
    url = authorize_url(client_id, challenge)

    to_login = client.get(url)
    assert to_login.status_code == 302 and urlsplit(to_login.location).path == "/login"
    next_page = parse_qs(urlsplit(to_login.location).query)["next"][0]
    first = client.post(f"/login?{urlencode({'next': next_page})}", data={"login": user.email, "password": PASSWORD})
    assert urlsplit(first.location).path == "/login/second-step"
    assert client.get(url).status_code == 302 and urlsplit(client.get(url).location).path == "/login"
    second = client.post("/login/second-step", data={"code": clock.code(totp_secret)})
    code = back_at_app(client.get(second.location))["code"]

    id_token = verified(client, exchange(client, client_id, secret, code, verifier).get_json()["id_token"], client_id)
    assert id_token.claims["amr"] == ["pwd", "otp", "mfa"]


# Refusals at the authorization endpoint ----------------------------------------------------------------


def test_an_unknown_app_or_unregistered_redirect_is_a_page_never_a_redirect(client, user, registered):
    """oidcc-ensure-registered-redirect-uri."""
    client_id, _secret = registered()
    _verifier, challenge = pkce()
    unknown = client.get(authorize_url("nobody", challenge))
    elsewhere = client.get(authorize_url(client_id, challenge).replace(
        urlencode({"redirect_uri": CALLBACK}), urlencode({"redirect_uri": "https://evil.example/cb"})))
    prefix = client.get(authorize_url(client_id, challenge).replace(
        urlencode({"redirect_uri": CALLBACK}), urlencode({"redirect_uri": CALLBACK + "/more"})))

    for answer in (unknown, elsewhere, prefix):
        assert answer.status_code == 400 and "Location" not in answer.headers


def test_pkce_is_required_and_plain_is_refused(client, user, registered):
    client_id, _secret = registered()
    without = back_at_app(client.get(authorize_url(client_id, None)))
    plain = back_at_app(client.get(authorize_url(client_id, "x" * 43, code_challenge_method="plain")))

    for answer in (without, plain):
        assert answer["error"] == "invalid_request" and answer["state"] == "st-1" and answer["iss"] == ISSUER


def test_a_scope_the_app_may_not_ask_for_is_invalid_scope(client, user, registered):
    client_id, _secret = registered(scopes=["openid", "email"])
    _verifier, challenge = pkce()
    assert back_at_app(client.get(authorize_url(client_id, challenge, scope="openid api:write")))["error"] == (
        "invalid_scope"
    )


def test_prompt_none_without_a_session_or_consent(client, user, registered):
    """oidcc-prompt-none-not-logged-in; consent_required once signed in."""
    client_id, _secret = registered()
    _verifier, challenge = pkce()
    assert back_at_app(client.get(authorize_url(client_id, challenge, prompt="none")))["error"] == "login_required"
    sign_in(client)
    assert back_at_app(client.get(authorize_url(client_id, challenge, prompt="none")))["error"] == "consent_required"


def test_prompt_login_and_max_age_make_the_person_sign_in_again(client, user, registered, clock):
    """oidcc-prompt-login, oidcc-max-age-1."""
    client_id, _secret = registered(trusted=True)
    sign_in(client)
    _verifier, challenge = pkce()

    again = client.get(authorize_url(client_id, challenge, prompt="login"))
    assert urlsplit(again.location).path == "/login"
    clock.advance(seconds=5)
    sign_in(client)
    back = parse_qs(urlsplit(again.location).query)["next"][0]
    assert "code" in back_at_app(client.get(back))

    clock.advance(seconds=120)
    stale = client.get(authorize_url(client_id, challenge, max_age="60"))
    assert urlsplit(stale.location).path == "/login"


# The token endpoint --------------------------------------------------------------------------------


def test_a_wrong_verifier_another_apps_code_and_an_expired_code_are_invalid_grant(client, user, registered, clock):
    client_id, secret = registered(trusted=True)
    other_id, other_secret = registered("Other", trusted=True)
    sign_in(client)

    code, verifier = code_for(client, client_id)
    assert exchange(client, client_id, secret, code, pkce()[0]).get_json()["error"] == "invalid_grant"
    assert exchange(client, other_id, other_secret, code, verifier).get_json()["error"] == "invalid_grant"
    assert exchange(client, client_id, secret, code, verifier, redirect_uri=CALLBACK + "x").status_code == 400
    late, late_verifier = code_for(client, client_id)
    clock.advance(seconds=61)
    assert exchange(client, client_id, secret, late, late_verifier).get_json()["error"] == "invalid_grant"


def test_a_code_used_twice_ends_the_tokens_it_gave(client, user, registered):
    """oidcc-codereuse."""
    client_id, secret = registered(trusted=True)
    sign_in(client)
    code, verifier = code_for(client, client_id)
    first = exchange(client, client_id, secret, code, verifier).get_json()

    again = exchange(client, client_id, secret, code, verifier)

    assert again.status_code == 400 and again.get_json()["error"] == "invalid_grant"
    answer = client.get("/oauth/userinfo", headers={"Authorization": f"Bearer {first['access_token']}"})
    assert answer.status_code == 401


def test_a_wrong_secret_is_invalid_client(client, user, registered):
    """oidcc-client-secret-basic (negative): a wrong secret."""
    client_id, _secret = registered(trusted=True)
    sign_in(client)
    code, verifier = code_for(client, client_id)

    answer = exchange(client, client_id, "not-the-secret", code, verifier)

    assert answer.status_code == 401 and answer.get_json()["error"] == "invalid_client"


def test_refresh_rotates_a_reused_one_ends_the_family_and_scope_cannot_grow(client, user, registered):
    """oidcc-refresh-token: rotation; a reused token ends the family; no scope escalation."""
    client_id, secret = registered(trusted=True)
    sign_in(client)
    code, verifier = code_for(client, client_id, scope="openid email offline_access")
    first = exchange(client, client_id, secret, code, verifier).get_json()
    auth = {"Authorization": "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()}

    def refreshed(token, **extra):
        return client.post("/oauth/token", headers=auth, data={"grant_type": "refresh_token", "refresh_token": token,
                                                                 **extra})

    wider = refreshed(first["refresh_token"], scope="openid email profile")
    assert wider.get_json()["error"] == "invalid_scope"
    second = refreshed(first["refresh_token"])
    assert second.status_code == 200 and second.get_json()["refresh_token"] != first["refresh_token"]
    reused = refreshed(first["refresh_token"])
    assert reused.get_json()["error"] == "invalid_grant"
    assert refreshed(second.get_json()["refresh_token"]).get_json()["error"] == "invalid_grant"  # the family ended


def test_without_offline_access_there_is_no_refresh_token(client, user, registered):
    client_id, secret = registered(trusted=True)
    sign_in(client)
    code, verifier = code_for(client, client_id, scope="openid")
    assert "refresh_token" not in exchange(client, client_id, secret, code, verifier).get_json()


def test_introspection_and_revocation_with_basic_and_post(client, user, registered):
    client_id, secret = registered(trusted=True)
    other_id, other_secret = registered("Other", trusted=True)
    sign_in(client)
    code, verifier = code_for(client, client_id, scope="openid offline_access")
    tokens = exchange(client, client_id, secret, code, verifier).get_json()
    basic = {"Authorization": "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()}

    active = client.post("/oauth/introspect", headers=basic, data={"token": tokens["access_token"]}).get_json()
    assert active["active"] is True and active["client_id"] == client_id
    posted = client.post("/oauth/introspect", data={"token": tokens["refresh_token"], "client_id": client_id,
                                                    "client_secret": secret}).get_json()
    assert posted["active"] is True and posted["token_type"] == "refresh_token"
    foreign = client.post("/oauth/introspect", data={"token": tokens["access_token"], "client_id": other_id,
                                                     "client_secret": other_secret}).get_json()
    assert foreign == {"active": False}

    assert client.post("/oauth/revoke", headers=basic, data={"token": tokens["refresh_token"]}).status_code == 200
    after = client.post("/oauth/introspect", headers=basic, data={"token": tokens["access_token"]}).get_json()
    assert after == {"active": False}


def test_create_client_prints_json_and_stores_only_a_hash(app, runner):
    result = runner.invoke(args=["create-client", "CLI app", "--redirect-uri", CALLBACK, "--json"])
    assert result.exit_code == 0, result.output
    printed = json.loads(result.output)
    public = json.loads(runner.invoke(args=["create-client", "Mobile", "--redirect-uri", "com.example.app:/cb",
                                            "--public", "--json"]).output)

    assert len(printed["client_secret"]) >= 40 and public["client_secret"] is None
    with app.app_context():
        from portal.extensions import db
        from portal.models import OAuthClient

        stored = db.session.query(OAuthClient).filter_by(client_id=printed["client_id"]).one()
        assert printed["client_secret"] not in (stored.secret_hash or "")
    refused = runner.invoke(args=["create-client", "Bad", "--redirect-uri", "http://example.com/cb"])
    assert refused.exit_code != 0 and "redirect_uris" in refused.output


# Attacks --------------------------------------------------------------------------------------------


def test_a_head_to_the_authorization_endpoint_issues_no_code_and_records_no_consent(app, client, user, registered):
    from sqlalchemy import func, select

    from portal.extensions import db
    from portal.models import AppGrant, AuthorizationCode

    client_id, _secret = registered(trusted=True)
    other_id, _ = registered("Asks consent")
    sign_in(client)
    _verifier, challenge = pkce()

    for asked in (client_id, other_id):
        assert client.head(authorize_url(asked, challenge)).status_code == 200

    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(AuthorizationCode)) == 0
        assert db.session.scalar(select(func.count()).select_from(AppGrant)) == 0


def test_a_code_issued_before_a_password_change_is_dead_after_it(client, user, registered):
    client_id, secret = registered(trusted=True)
    sign_in(client)
    code, verifier = code_for(client, client_id)

    changed = client.post("/profile/password", data={
        "current_password": PASSWORD, "new_password": "A-whole-new-password-77",
        "confirm_password": "A-whole-new-password-77",
    })
    assert changed.status_code == 302

    answer = exchange(client, client_id, secret, code, verifier)
    assert answer.status_code == 400 and answer.get_json()["error"] == "invalid_grant"
