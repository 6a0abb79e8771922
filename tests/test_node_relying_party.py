"""The independent relying party (npm's openid-client, tests/providers/rp.py) against the test OpenID
provider (npm's oidc-provider): it discovers, signs in with PKCE S256, state and nonce, checks what
openid-client checks and refuses what it refuses, and speaks userinfo, refresh, introspection,
revocation, RP-initiated logout and the device flow. The portal's own provider is to pass the same."""

import base64
import hashlib
import re
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import pytest
import requests

from tests.providers.fixtures import WEB_CALLBACK
from tests.providers.oidc import Client, OidcProvider
from tests.providers.rp import NodeRelyingParty, RelyingPartyError, RelyingPartyUnavailable

CALLBACK = "http://localhost/cb"
LOGGED_OUT = "http://localhost/logged-out"
DEVICE_CODE = "urn:ietf:params:oauth:grant-type:device_code"
EXTRA_CLIENTS = (
    Client(
        "rp-web", (CALLBACK,), client_secret="rp-web-secret",
        grant_types=("authorization_code", "refresh_token"), post_logout_redirect_uris=(LOGGED_OUT,),
    ),
    Client("rp-post", (CALLBACK,), client_secret="rp-post-secret", token_endpoint_auth_method="client_secret_post"),
    Client("rp-device", (CALLBACK,), client_secret="rp-device-secret", grant_types=(DEVICE_CODE,)),
)


@pytest.fixture(scope="module")
def provider():
    """The test OpenID provider with clients for refresh tokens, logout and the device flow."""
    with OidcProvider(EXTRA_CLIENTS) as started:
        yield started


@pytest.fixture
def op(provider):
    provider.reset()
    provider.sign_in_as("ada-1815", "ada@example.com", given_name="Ada", family_name="Lovelace")
    return provider


@pytest.fixture
def web_rp(op, node_rp):
    return node_rp(op.issuer, "rp-web", "rp-web-secret", CALLBACK)


def query(url: str) -> dict[str, str]:
    return {name: values[-1] for name, values in parse_qs(urlsplit(url).query).items()}


def with_query(url: str, **changes) -> str:
    """``url`` with some query parameters changed (a value of None drops the parameter)."""
    params = query(url) | changes
    return urlunsplit(urlsplit(url)._replace(query=urlencode({k: v for k, v in params.items() if v is not None})))


def signed_in(op, rp, scope="openid email profile", **options):
    """The authorization made by ``rp``, the flow it led to, and the tokens of its callback."""
    authorization = rp.authorization_url(scope, **options)
    flow = op.follow(authorization["url"])
    return authorization, flow, rp.callback(flow.url)


# -- discovery and the authorization request ------------------------------------------------------


def test_the_relying_party_discovers_the_provider(oidc_provider, node_rp):
    rp = node_rp(oidc_provider.issuer, "portal-web", "portal-web-secret", WEB_CALLBACK)

    assert rp.metadata["issuer"] == oidc_provider.issuer
    assert rp.metadata["token_endpoint"] == f"{oidc_provider.issuer}/token"
    assert rp.metadata["jwks_uri"] == f"{oidc_provider.issuer}/jwks"
    assert rp.metadata["authorization_response_iss_parameter_supported"] is True
    assert rp.started_in < 5


def test_an_issuer_that_differs_from_the_discovered_one_is_refused(oidc_provider, node_rp):
    rp = NodeRelyingParty().start()
    try:
        other_spelling = oidc_provider.issuer.replace("127.0.0.1", "localhost")
        with pytest.raises(RelyingPartyError) as refused:
            rp.discover(other_spelling, "portal-web", "portal-web-secret", WEB_CALLBACK)
    finally:
        rp.stop()

    assert (refused.value.name, refused.value.code) == ("ClientError", "OAUTH_JSON_ATTRIBUTE_COMPARISON_FAILED")
    assert refused.value.message == "discovered metadata issuer does not match the expected issuer"


def test_the_authorization_url_carries_an_s256_challenge_state_and_nonce(oidc_provider, node_rp):
    rp = node_rp(oidc_provider.issuer, "portal-web", "portal-web-secret", WEB_CALLBACK)

    authorization = rp.authorization_url("openid email", prompt="login", max_age=300, login_hint="ada@example.com")

    params = query(authorization["url"])
    assert authorization["url"].startswith(f"{oidc_provider.issuer}/auth?")
    challenge = base64.urlsafe_b64encode(hashlib.sha256(authorization["code_verifier"].encode()).digest())
    assert params["code_challenge"] == challenge.rstrip(b"=").decode()
    assert params["code_challenge_method"] == "S256"
    assert params["state"] == authorization["state"] and len(authorization["state"]) >= 32
    assert params["nonce"] == authorization["nonce"] and len(authorization["nonce"]) >= 32
    assert (params["client_id"], params["redirect_uri"], params["response_type"]) == (
        "portal-web", WEB_CALLBACK, "code"
    )
    assert (params["scope"], params["prompt"], params["max_age"], params["login_hint"]) == (
        "openid email", "login", "300", "ada@example.com"
    )
    assert rp.authorization_url("email")["nonce"] is None


# -- the code flow --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("client_id", "secret"), [("portal-web", "portal-web-secret"), ("portal-mobile", None)], ids=["basic", "public"]
)
def test_a_sign_in_reaches_the_callback_and_the_code_exchange_validates_the_id_token(
    oidc_provider, node_rp, client_id, secret
):
    rp = node_rp(oidc_provider.issuer, client_id, secret, WEB_CALLBACK)
    oidc_provider.sign_in_as("grace", "grace@example.com", given_name="Grace")

    authorization, flow, tokens = signed_in(oidc_provider, rp)

    assert flow.url.startswith(WEB_CALLBACK + "?")
    assert flow.params["state"] == authorization["state"]
    assert flow.params["iss"] == oidc_provider.issuer
    assert "code" in flow.params
    assert tokens["token_type"] == "bearer"
    assert tokens["access_token"] and tokens["id_token"] and tokens["expires_in"] > 0
    assert tokens["refresh_token"] is None
    assert tokens["scope"] == "openid email profile"
    claims = tokens["claims"]
    assert (claims["iss"], claims["aud"], claims["sub"], claims["nonce"]) == (
        oidc_provider.issuer, client_id, "grace", authorization["nonce"]
    )
    assert (claims["email"], claims["given_name"]) == ("grace@example.com", "Grace")


def test_client_secret_post_works_too(op, node_rp):
    rp = node_rp(op.issuer, "rp-post", "rp-post-secret", CALLBACK, "client_secret_post")

    assert signed_in(op, rp)[2]["claims"]["sub"] == "ada-1815"


def test_a_tampered_state_is_refused(op, web_rp):
    authorization = web_rp.authorization_url()
    flow = op.follow(authorization["url"])

    with pytest.raises(RelyingPartyError) as refused:
        web_rp.callback(with_query(flow.url, state="x" + authorization["state"][1:]))

    assert (refused.value.name, refused.value.code) == ("ClientError", "OAUTH_INVALID_RESPONSE")
    assert refused.value.cause_message == 'unexpected "state" response parameter value'


@pytest.mark.parametrize(
    ("iss", "message"),
    [("http://evil.example", 'unexpected "iss" (issuer) response parameter value'),
     (None, 'response parameter "iss" (issuer) missing')],
    ids=["other", "missing"],
)
def test_the_iss_of_the_authorization_response_is_checked(op, web_rp, iss, message):
    flow = op.follow(web_rp.authorization_url()["url"])

    with pytest.raises(RelyingPartyError) as refused:
        web_rp.callback(with_query(flow.url, iss=iss))

    assert (refused.value.name, refused.value.code) == ("ClientError", "OAUTH_INVALID_RESPONSE")
    assert refused.value.cause_message == message


def test_a_replayed_callback_is_refused_and_the_first_tokens_are_revoked(op, web_rp):
    _, flow, tokens = signed_in(op, web_rp)

    with pytest.raises(RelyingPartyError) as refused:
        web_rp.callback(flow.url)

    assert (refused.value.name, refused.value.code) == ("ResponseBodyError", "OAUTH_RESPONSE_BODY_ERROR")
    assert (refused.value.oauth_error, refused.value.status) == ("invalid_grant", 400)
    with pytest.raises(RelyingPartyError) as revoked:
        web_rp.userinfo(tokens["access_token"], "ada-1815")
    assert (revoked.value.name, revoked.value.oauth_error, revoked.value.status) == (
        "WWWAuthenticateChallengeError", "invalid_token", 401
    )


def test_an_id_token_for_another_nonce_is_refused(op, web_rp):
    flow = op.follow(web_rp.authorization_url()["url"])

    with pytest.raises(RelyingPartyError) as refused:
        web_rp.callback(flow.url, nonce="not-the-nonce-that-was-sent")

    assert (refused.value.name, refused.value.code) == ("ClientError", "OAUTH_JWT_CLAIM_COMPARISON_FAILED")
    assert refused.value.cause_message == 'unexpected ID Token "nonce" claim value'


def test_a_cancelled_sign_in_is_an_authorization_response_error(op, web_rp):
    op.deny_next()
    flow = op.follow(web_rp.authorization_url()["url"])

    with pytest.raises(RelyingPartyError) as refused:
        web_rp.callback(flow.url)

    assert (refused.value.name, refused.value.oauth_error) == ("AuthorizationResponseError", "access_denied")


# -- after the sign-in ----------------------------------------------------------------------------


def test_userinfo_gives_the_claims_of_the_expected_subject_only(op, web_rp):
    tokens = signed_in(op, web_rp)[2]

    claims = web_rp.userinfo(tokens["access_token"], "ada-1815")
    assert claims == {
        "sub": "ada-1815", "email": "ada@example.com", "email_verified": True,
        "given_name": "Ada", "family_name": "Lovelace", "name": "Ada Lovelace",
    }
    with pytest.raises(RelyingPartyError) as refused:
        web_rp.userinfo(tokens["access_token"], "someone-else")
    assert (refused.value.name, refused.value.code) == ("ClientError", "OAUTH_JSON_ATTRIBUTE_COMPARISON_FAILED")


def test_offline_access_gives_a_refresh_token_that_refreshes(op, web_rp):
    tokens = signed_in(op, web_rp, "openid email offline_access", prompt="consent")[2]
    assert tokens["refresh_token"]

    refreshed = web_rp.refresh(tokens["refresh_token"])

    assert refreshed["access_token"] != tokens["access_token"]
    assert refreshed["claims"]["sub"] == "ada-1815"
    assert refreshed["claims"]["aud"] == "rp-web"
    assert web_rp.userinfo(refreshed["access_token"], "ada-1815")["email"] == "ada@example.com"


def test_introspection_and_revocation(op, web_rp):
    tokens = signed_in(op, web_rp)[2]

    active = web_rp.introspect(tokens["access_token"], "access_token")
    assert (active["active"], active["client_id"], active["sub"]) == (True, "rp-web", "ada-1815")
    assert active["scope"] == "openid email profile"

    assert web_rp.revoke(tokens["access_token"], "access_token") == {"revoked": True}

    assert web_rp.introspect(tokens["access_token"]) == {"active": False}
    with pytest.raises(RelyingPartyError) as refused:
        web_rp.userinfo(tokens["access_token"], "ada-1815")
    assert refused.value.oauth_error == "invalid_token"


def test_the_end_session_url_is_accepted_and_leads_back_with_the_state(op, web_rp):
    tokens = signed_in(op, web_rp)[2]

    url = web_rp.end_session_url(tokens["id_token"], LOGGED_OUT, "bye-1")["url"]

    params = query(url)
    assert url.startswith(f"{op.issuer}/session/end?")
    assert (params["id_token_hint"], params["post_logout_redirect_uri"], params["state"], params["client_id"]) == (
        tokens["id_token"], LOGGED_OUT, "bye-1", "rp-web"
    )
    browser = requests.Session()
    page = browser.get(url, timeout=10)
    assert page.status_code == 200
    form = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', page.text))
    action = re.search(r'<form[^>]*action="([^"]+)"', page.text).group(1)
    answer = browser.post(action, data=form | {"logout": "yes"}, allow_redirects=False, timeout=10)
    assert answer.status_code in (302, 303)
    assert answer.headers["Location"] == f"{LOGGED_OUT}?state=bye-1"


# -- the device flow (RFC 8628) -------------------------------------------------------------------


@pytest.fixture
def device_rp(op, node_rp):
    return node_rp(op.issuer, "rp-device", "rp-device-secret", CALLBACK)


def test_the_device_flow_is_pending_until_the_person_approves(op, device_rp):
    device = device_rp.device_authorization("openid email")
    assert device["verification_uri"] == f"{op.issuer}/device"
    assert device["verification_uri_complete"] == f"{op.issuer}/device?user_code={device['user_code']}"
    assert device["interval"] > 0 and device["expires_in"] > 0
    assert device_rp.device_poll()["oauth_error"] == "authorization_pending"

    assert op.approve_device(device["verification_uri_complete"]).params["status"] == 200

    tokens = device_rp.device_poll(device["device_code"])
    assert (tokens["claims"]["sub"], tokens["claims"]["aud"]) == ("ada-1815", "rp-device")
    assert device_rp.userinfo(tokens["access_token"], "ada-1815")["email"] == "ada@example.com"


def test_a_cancelled_device_sign_in_is_access_denied(op, device_rp):
    device = device_rp.device_authorization("openid")
    op.deny_next()

    op.approve_device(device["verification_uri_complete"])

    assert device_rp.device_poll()["oauth_error"] == "access_denied"


# -- the process ----------------------------------------------------------------------------------


def test_a_bad_command_is_an_error_and_the_process_goes_on(oidc_provider, node_rp):
    rp = node_rp(oidc_provider.issuer, "portal-web", "portal-web-secret", WEB_CALLBACK)

    with pytest.raises(RelyingPartyError) as unknown:
        rp.command("no_such_command")
    assert (unknown.value.name, unknown.value.code) == ("RelyingPartyError", "UNKNOWN_COMMAND")
    with pytest.raises(RelyingPartyError) as early:
        rp.callback(f"{WEB_CALLBACK}?code=c&state=s")
    assert (early.value.name, early.value.code) == ("RelyingPartyError", "NO_AUTHORIZATION")
    rp.authorization_url()
    with pytest.raises(RelyingPartyError) as malformed:
        rp.callback("not a url")
    assert (malformed.value.name, malformed.value.code) == ("TypeError", "ERR_INVALID_URL")

    assert rp.authorization_url()["url"].startswith(oidc_provider.issuer)


def test_the_relying_party_fails_plainly_without_node(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")

    with pytest.raises(RelyingPartyUnavailable, match="make providers"):
        NodeRelyingParty().start()
