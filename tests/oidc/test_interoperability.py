"""The portal as an OpenID provider, driven by an independent relying party from another ecosystem:
npm's openid-client (``tests/providers/rp.py``) against the portal served over real HTTP. It discovers
the portal, sends the person through sign-in and consent (driven here with plain HTTP and the pages'
CSRF tokens, as a browser would), and checks with its own rules the code exchange, the ID token, the
userinfo, a refresh, introspection and revocation.
"""

import re
from urllib.parse import parse_qs, urljoin, urlsplit

import pytest
import requests

from portal.services.audit import SYSTEM
from portal.services.oidc import apps
from portal.transactions import unit_of_work
from tests.browser.conftest import served
from tests.conftest import PASSWORD, free_port, fresh_app
from tests.providers.rp import RelyingPartyError

CALLBACK = "https://rp.example/callback"


@pytest.fixture
def portal(tmp_path):
    """The portal served at http://127.0.0.1:PORT, its own issuer; an app registered with it."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    for app in fresh_app(tmp_path, PUBLIC_BASE_URL=base):
        with app.app_context(), unit_of_work():
            from portal.services.people import accounts

            accounts.create_user("ada@example.com", PASSWORD, SYSTEM, email_verified=True,
                                 profile={"first_name": "Ada", "last_name": "Lovelace"})
            registered, secret = apps.register_app("Analytical Engine", [CALLBACK], SYSTEM)
            client_id = registered.client_id
        with served(app, port):
            yield base, client_id, secret


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html).group(1)


def through_the_pages(base: str, authorization_url: str) -> str:
    """Sign in and allow the app as a person in a browser would; the URL the portal sends them back to."""
    browser = requests.Session()
    to_login = browser.get(authorization_url, allow_redirects=False)
    assert to_login.status_code == 302 and urlsplit(to_login.headers["Location"]).path == "/login"
    login_url = urljoin(base, to_login.headers["Location"])
    login_page = browser.get(login_url)
    signed_in = browser.post(login_url, data={
        "csrf_token": csrf_of(login_page.text), "login": "ada@example.com", "password": PASSWORD,
    }, allow_redirects=False)
    assert signed_in.status_code == 302, signed_in.text[:300]
    consent_page = browser.get(urljoin(base, signed_in.headers["Location"]), allow_redirects=False)
    assert consent_page.status_code == 200 and 'value="allow"' in consent_page.text
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', consent_page.text))
    fields = {name: value.replace("&amp;", "&").replace("&#34;", '"') for name, value in fields.items()}
    allowed = browser.post(f"{base}/oauth/authorize", data={**fields, "consent": "allow"}, allow_redirects=False)
    assert allowed.status_code == 302, allowed.text[:300]
    return allowed.headers["Location"]


def test_openid_client_signs_in_and_checks_every_token_itself(portal, node_rp):
    base, client_id, secret = portal
    rp = node_rp(base, client_id, secret, CALLBACK)
    assert rp.metadata["issuer"] == base

    started = rp.authorization_url("openid profile email offline_access")
    back = through_the_pages(base, started["url"])
    assert back.startswith(CALLBACK)
    tokens = rp.callback(back)  # state, iss (RFC 9207), ID token signature, iss, aud, exp, nonce, at_hash

    assert tokens["claims"]["sub"] and tokens["claims"]["nonce"] == started["nonce"]
    assert tokens["claims"]["amr"] == ["pwd"] and tokens["refresh_token"]
    info = rp.userinfo(tokens["access_token"], tokens["claims"]["sub"])
    assert (info["email"], info["given_name"], info["family_name"]) == ("ada@example.com", "Ada", "Lovelace")

    refreshed = rp.refresh(tokens["refresh_token"])
    assert refreshed["access_token"] != tokens["access_token"]
    assert rp.introspect(refreshed["access_token"])["active"] is True
    with pytest.raises(RelyingPartyError) as reused:
        rp.refresh(tokens["refresh_token"])
    assert reused.value.oauth_error == "invalid_grant"
    # A spent refresh token presented again ended the whole sign-in: its newest tokens too.
    assert rp.introspect(refreshed["access_token"])["active"] is False


def test_openid_client_revokes_and_the_token_stops_at_once(portal, node_rp):
    base, client_id, secret = portal
    rp = node_rp(base, client_id, secret, CALLBACK)
    tokens = rp.callback(through_the_pages(base, rp.authorization_url("openid offline_access")["url"]))

    assert rp.introspect(tokens["refresh_token"], "refresh_token")["active"] is True
    rp.revoke(tokens["refresh_token"], "refresh_token")

    assert rp.introspect(tokens["access_token"])["active"] is False
    with pytest.raises(RelyingPartyError):
        rp.userinfo(tokens["access_token"], tokens["claims"]["sub"])


def test_openid_client_refuses_a_forged_state_and_a_replayed_code(portal, node_rp):
    base, client_id, secret = portal
    rp = node_rp(base, client_id, secret, CALLBACK)
    started = rp.authorization_url("openid email")
    back = through_the_pages(base, started["url"])

    with pytest.raises(RelyingPartyError):
        rp.callback(re.sub(r"state=[^&]+", "state=forged", back))
    first = rp.callback(back)
    with pytest.raises(RelyingPartyError) as replayed:
        rp.callback(back)
    assert replayed.value.oauth_error == "invalid_grant"
    with pytest.raises(RelyingPartyError):  # the replay ended what the first exchange gave
        rp.userinfo(first["access_token"], first["claims"]["sub"])


def test_a_denied_consent_reaches_openid_client_as_access_denied(portal, node_rp):
    base, client_id, secret = portal
    rp = node_rp(base, client_id, secret, CALLBACK)
    started = rp.authorization_url("openid")
    browser = requests.Session()
    login_url = urljoin(base, browser.get(started["url"], allow_redirects=False).headers["Location"])
    signed_in = browser.post(login_url, data={"csrf_token": csrf_of(browser.get(login_url).text),
                                              "login": "ada@example.com", "password": PASSWORD},
                             allow_redirects=False)
    consent_page = browser.get(urljoin(base, signed_in.headers["Location"])).text
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', consent_page))
    denied = browser.post(f"{base}/oauth/authorize", data={**fields, "consent": "deny"}, allow_redirects=False)

    with pytest.raises(RelyingPartyError) as refused:
        rp.callback(denied.headers["Location"])
    assert refused.value.oauth_error == "access_denied"
    assert parse_qs(urlsplit(denied.headers["Location"]).query)["iss"] == [base]
