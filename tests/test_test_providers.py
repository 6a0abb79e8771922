"""The identity providers the sign-in tests run against are real and strict: the OpenID Connect
provider (Node.js, tests/providers/oidc_provider) issues ID tokens that verify against its JWKS and
refuses a relying party that skips PKCE or asks for ``plain``; the GitHub stand-in
(tests/providers/github.py) refuses a wrong code_verifier, a reused code and a wrong secret."""

import base64
import hashlib
import secrets
import time
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests
from joserfc import jwt
from joserfc.jwk import KeySet

from tests.providers.fixtures import GITHUB_CLIENT_ID, GITHUB_CLIENT_SECRET, WEB_CALLBACK
from tests.providers.oidc import OidcProvider, ProviderUnavailable, pkce_pair


def verified_claims(provider, id_token, audience):
    metadata = provider.metadata()
    keys = KeySet.import_key_set(requests.get(metadata["jwks_uri"], timeout=10).json())
    token = jwt.decode(id_token, keys, algorithms=["RS256"])
    jwt.JWTClaimsRegistry(
        iss={"essential": True, "value": provider.issuer},
        aud={"essential": True, "value": audience},
        exp={"essential": True},
        sub={"essential": True},
    ).validate(token.claims)
    assert token.header["alg"] == "RS256"
    return token.claims


# -- the OpenID Connect provider -----------------------------------------------------------------


def test_the_provider_serves_its_discovery_document(oidc_provider):
    metadata = oidc_provider.metadata()

    assert metadata["issuer"] == oidc_provider.issuer
    assert metadata["authorization_endpoint"] == f"{oidc_provider.issuer}/auth"
    assert metadata["token_endpoint"] == f"{oidc_provider.issuer}/token"
    assert metadata["code_challenge_methods_supported"] == ["S256"]
    assert metadata["id_token_signing_alg_values_supported"] == ["RS256"]
    assert {"openid", "email", "profile"} <= set(metadata["scopes_supported"])
    assert {"email", "email_verified", "given_name", "family_name", "name"} <= set(metadata["claims_supported"])
    assert metadata["response_types_supported"] == ["code"]


def test_an_id_token_from_a_real_flow_verifies_against_the_jwks(oidc_provider):
    id_token = oidc_provider.id_token_for(
        "portal-mobile", "ada-1815", "ada@example.com", given_name="Ada", family_name="Lovelace", nonce="n-0451"
    )

    claims = verified_claims(oidc_provider, id_token, "portal-mobile")
    assert claims["sub"] == "ada-1815"
    assert claims["email"] == "ada@example.com"
    assert claims["email_verified"] is True
    assert (claims["given_name"], claims["family_name"], claims["name"]) == ("Ada", "Lovelace", "Ada Lovelace")
    assert claims["nonce"] == "n-0451"
    assert claims["iat"] <= time.time() < claims["exp"]


def test_a_tampered_id_token_does_not_verify(oidc_provider):
    header, payload, signature = oidc_provider.id_token_for("portal-mobile", "eve", "eve@example.com").split(".")
    forged = base64.urlsafe_b64encode(
        base64.urlsafe_b64decode(payload + "==").replace(b'"eve"', b'"ada"')
    ).rstrip(b"=").decode()

    with pytest.raises(Exception, match="signature"):
        verified_claims(oidc_provider, f"{header}.{forged}.{signature}", "portal-mobile")


def test_the_confidential_client_gets_tokens_and_the_userinfo_carries_the_claims(oidc_provider):
    tokens = oidc_provider.tokens_for("portal-web", "grace", "grace@example.com", email_verified=False)

    assert verified_claims(oidc_provider, tokens["id_token"], "portal-web")["email_verified"] is False
    assert "refresh_token" not in tokens
    userinfo = requests.get(
        oidc_provider.metadata()["userinfo_endpoint"],
        headers={"Authorization": f"Bearer {tokens['access_token']}"},
        timeout=10,
    ).json()
    assert userinfo == {"sub": "grace", "email": "grace@example.com", "email_verified": False}


def test_the_confidential_client_needs_its_secret(oidc_provider):
    oidc_provider.sign_in_as("grace", "grace@example.com")
    verifier, challenge = pkce_pair()
    flow = oidc_provider.follow(oidc_provider.authorization_url("portal-web", state="s1", code_challenge=challenge))
    answer = requests.post(
        f"{oidc_provider.issuer}/token",
        data={"grant_type": "authorization_code", "code": flow.params["code"], "redirect_uri": WEB_CALLBACK,
              "code_verifier": verifier},
        auth=("portal-web", "not-the-secret"),
        timeout=10,
    )

    assert answer.status_code == 401
    assert answer.json()["error"] == "invalid_client"


def test_an_authorization_request_without_pkce_is_refused(oidc_provider):
    oidc_provider.sign_in_as("ada-1815", "ada@example.com")

    for client_id in ("portal-web", "portal-mobile"):
        flow = oidc_provider.follow(oidc_provider.authorization_url(client_id, state="s2"))
        assert flow.url.startswith(WEB_CALLBACK + "?")
        assert "code" not in flow.params
        assert flow.params["error"] == "invalid_request"
        assert "PKCE" in flow.params["error_description"]
        assert flow.params["state"] == "s2"


def test_the_plain_pkce_method_is_refused(oidc_provider):
    oidc_provider.sign_in_as("ada-1815", "ada@example.com")
    verifier = secrets.token_urlsafe(48)

    flow = oidc_provider.follow(
        oidc_provider.authorization_url(
            "portal-web", state="s3", code_challenge=verifier, code_challenge_method="plain"
        )
    )

    assert "code" not in flow.params
    assert flow.params["error"] == "invalid_request"
    assert "code_challenge_method" in flow.params["error_description"]


def test_a_wrong_code_verifier_is_refused_at_the_token_endpoint(oidc_provider):
    oidc_provider.sign_in_as("ada-1815", "ada@example.com")
    _, challenge = pkce_pair()
    flow = oidc_provider.follow(oidc_provider.authorization_url("portal-mobile", state="s4", code_challenge=challenge))
    other_verifier, _ = pkce_pair()

    answer = requests.post(
        f"{oidc_provider.issuer}/token",
        data={"grant_type": "authorization_code", "code": flow.params["code"], "redirect_uri": WEB_CALLBACK,
              "code_verifier": other_verifier, "client_id": "portal-mobile"},
        timeout=10,
    )

    assert answer.status_code == 400
    assert answer.json()["error"] == "invalid_grant"


def test_an_unregistered_redirect_uri_is_not_redirected_to(oidc_provider):
    oidc_provider.sign_in_as("ada-1815", "ada@example.com")
    _, challenge = pkce_pair()

    flow = oidc_provider.follow(
        oidc_provider.authorization_url(
            "portal-web", "http://evil.example/callback", state="s5", code_challenge=challenge
        )
    )

    assert flow.url.startswith(oidc_provider.issuer)
    assert flow.params["error"] == "invalid_redirect_uri"


def test_a_cancelled_sign_in_comes_back_as_access_denied_once(oidc_provider):
    oidc_provider.sign_in_as("ada-1815", "ada@example.com")
    oidc_provider.deny_next()
    _, challenge = pkce_pair()
    request = oidc_provider.authorization_url("portal-web", state="s6", code_challenge=challenge)

    denied = oidc_provider.follow(request)
    assert denied.url.startswith(WEB_CALLBACK + "?")
    assert (denied.params["error"], denied.params["state"]) == ("access_denied", "s6")
    assert "code" not in denied.params

    assert "code" in oidc_provider.follow(request).params


def test_every_authorization_signs_in_the_person_set_last_even_in_the_same_browser(oidc_provider):
    browser = requests.Session()
    subjects = []
    for sub in ("first-person", "second-person"):
        oidc_provider.sign_in_as(sub, f"{sub}@example.com")
        verifier, challenge = pkce_pair()
        flow = oidc_provider.follow(
            oidc_provider.authorization_url("portal-mobile", state=sub, code_challenge=challenge), browser
        )
        tokens = requests.post(
            f"{oidc_provider.issuer}/token",
            data={"grant_type": "authorization_code", "code": flow.params["code"], "redirect_uri": WEB_CALLBACK,
                  "code_verifier": verifier, "client_id": "portal-mobile"},
            timeout=10,
        ).json()
        subjects.append(verified_claims(oidc_provider, tokens["id_token"], "portal-mobile")["sub"])

    assert subjects == ["first-person", "second-person"]


def test_nobody_signs_in_until_the_test_says_who(oidc_provider):
    _, challenge = pkce_pair()

    flow = oidc_provider.follow(oidc_provider.authorization_url("portal-web", state="s7", code_challenge=challenge))

    assert flow.params["error"] == "login_required"


def test_an_authlib_relying_party_signs_in_with_pkce(oidc_provider):
    from authlib.integrations.requests_client import OAuth2Session

    metadata = oidc_provider.metadata()
    client = oidc_provider.client("portal-web")
    oidc_provider.sign_in_as("lin", "lin@example.com", given_name="Lin")
    session = OAuth2Session(
        client.client_id, client.client_secret, scope="openid email profile", redirect_uri=WEB_CALLBACK,
        code_challenge_method="S256",
    )
    verifier = secrets.token_urlsafe(48)
    url, state = session.create_authorization_url(
        metadata["authorization_endpoint"], code_verifier=verifier, nonce="n-lin"
    )

    flow = oidc_provider.follow(url)
    tokens = session.fetch_token(metadata["token_endpoint"], authorization_response=flow.url, code_verifier=verifier)

    claims = verified_claims(oidc_provider, tokens["id_token"], "portal-web")
    assert (claims["sub"], claims["email"], claims["given_name"]) == ("lin", "lin@example.com", "Lin")
    assert claims["nonce"] == "n-lin"
    assert flow.params["state"] == state


def test_the_provider_fails_plainly_without_node(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")

    with pytest.raises(ProviderUnavailable, match="make providers"):
        OidcProvider([]).start()


# -- the GitHub stand-in -------------------------------------------------------------------------


CALLBACK = "http://localhost/login/github/callback"


def github_authorize(github, verifier, *, state="st", scope="read:user user:email", **overrides):
    params = {
        "client_id": GITHUB_CLIENT_ID,
        "redirect_uri": CALLBACK,
        "state": state,
        "scope": scope,
        "code_challenge": base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode(),
        "code_challenge_method": "S256",
        **overrides,
    }
    answer = requests.get(
        f"{github.authorize_url}?" + urlencode({k: v for k, v in params.items() if v is not None}),
        allow_redirects=False,
        timeout=10,
    )
    assert answer.status_code == 302, answer.text
    location = answer.headers["Location"]
    assert location.startswith(CALLBACK + "?")
    return {k: v[-1] for k, v in parse_qs(urlsplit(location).query).items()}


def github_exchange(github, code, verifier, *, secret=GITHUB_CLIENT_SECRET, json=True):
    form = {"client_id": GITHUB_CLIENT_ID, "client_secret": secret, "code": code, "redirect_uri": CALLBACK}
    if verifier is not None:
        form["code_verifier"] = verifier
    answer = requests.post(
        github.token_url, data=form, headers={"Accept": "application/json"} if json else {}, timeout=10
    )
    assert answer.status_code == 200
    return answer.json() if json else {k: v[-1] for k, v in parse_qs(answer.text).items()}


@pytest.fixture
def octocat(github_stand_in):
    github_stand_in.sign_in_as(
        583231,
        "octocat",
        "The Octocat",
        emails=[
            {"email": "octocat@example.com", "primary": True, "verified": True},
            {"email": "old@example.com", "primary": False, "verified": False},
        ],
    )
    return github_stand_in


def test_the_github_flow_gives_the_user_and_their_emails(octocat):
    verifier = secrets.token_urlsafe(48)
    back = github_authorize(octocat, verifier, state="xyz")
    assert back["state"] == "xyz"

    token = github_exchange(octocat, back["code"], verifier)
    assert token["token_type"] == "bearer"
    assert token["scope"] == "read:user user:email"

    user = requests.get(
        f"{octocat.api_url}/user", headers={"Authorization": f"Bearer {token['access_token']}"}, timeout=10
    ).json()
    assert (user["id"], user["login"], user["name"], user["email"]) == (
        583231, "octocat", "The Octocat", "octocat@example.com"
    )
    emails = requests.get(
        f"{octocat.api_url}/user/emails", headers={"Authorization": f"token {token['access_token']}"}, timeout=10
    ).json()
    assert emails == [
        {"email": "octocat@example.com", "primary": True, "verified": True, "visibility": "public"},
        {"email": "old@example.com", "primary": False, "verified": False, "visibility": None},
    ]
    assert [(r.method, urlsplit(r.path).path) for r in octocat.requests] == [
        ("GET", "/login/oauth/authorize"),
        ("POST", "/login/oauth/access_token"),
        ("GET", "/api/user"),
        ("GET", "/api/user/emails"),
    ]
    assert octocat.requests[1].form["code_verifier"] == verifier


def test_github_answers_a_form_unless_json_is_asked_for(octocat):
    verifier = secrets.token_urlsafe(48)
    token = github_exchange(octocat, github_authorize(octocat, verifier)["code"], verifier, json=False)

    assert token["token_type"] == "bearer"
    assert token["access_token"].startswith("gho_")


def test_github_refuses_a_wrong_code_verifier(octocat):
    back = github_authorize(octocat, secrets.token_urlsafe(48))

    answer = github_exchange(octocat, back["code"], secrets.token_urlsafe(48))

    assert answer["error"] == "bad_verification_code"
    assert "access_token" not in answer


def test_github_refuses_a_missing_code_verifier(octocat):
    back = github_authorize(octocat, secrets.token_urlsafe(48))

    assert github_exchange(octocat, back["code"], None)["error"] == "bad_verification_code"


def test_github_refuses_a_reused_code(octocat):
    verifier = secrets.token_urlsafe(48)
    code = github_authorize(octocat, verifier)["code"]
    assert "access_token" in github_exchange(octocat, code, verifier)

    assert github_exchange(octocat, code, verifier)["error"] == "bad_verification_code"


def test_github_refuses_a_wrong_secret(octocat):
    verifier = secrets.token_urlsafe(48)
    code = github_authorize(octocat, verifier)["code"]

    assert github_exchange(octocat, code, verifier, secret="not-the-secret")["error"] == "incorrect_client_credentials"


def test_github_refuses_an_authorization_without_pkce(octocat):
    back = github_authorize(octocat, "unused", code_challenge=None, code_challenge_method=None)
    assert back["error"] == "invalid_request"
    assert "code" not in back

    plain = github_authorize(octocat, "unused", code_challenge="a" * 43, code_challenge_method="plain")
    assert plain["error"] == "invalid_request"


def test_a_cancelled_github_sign_in_comes_back_as_access_denied(octocat):
    octocat.deny_next()

    back = github_authorize(octocat, secrets.token_urlsafe(48), state="st9")

    assert (back["error"], back["state"]) == ("access_denied", "st9")
    assert "code" not in back
    assert "code" in github_authorize(octocat, secrets.token_urlsafe(48))


def test_the_github_api_needs_a_token_it_gave(octocat):
    assert requests.get(f"{octocat.api_url}/user", timeout=10).status_code == 401
    answer = requests.get(f"{octocat.api_url}/user", headers={"Authorization": "Bearer gho_made-up"}, timeout=10)
    assert answer.status_code == 401
    assert answer.json()["message"] == "Bad credentials"


def test_the_github_emails_need_the_email_scope(octocat):
    verifier = secrets.token_urlsafe(48)
    token = github_exchange(octocat, github_authorize(octocat, verifier, scope="read:user")["code"], verifier)
    headers = {"Authorization": f"Bearer {token['access_token']}"}

    assert requests.get(f"{octocat.api_url}/user", headers=headers, timeout=10).status_code == 200
    assert requests.get(f"{octocat.api_url}/user/emails", headers=headers, timeout=10).status_code == 404
