"""Issue 9, "JWT": the algorithm is pinned, ``aud`` and ``iss`` are set and checked, a refresh token
is no access token, tokens travel only in the Authorization header, and revoked ones are dead.

Forged tokens start from the claims of a real, live token (its ``sid`` names a live sign-in) and
change one thing, so each refusal is for that one thing; the first test proves that re-signing
the claims unchanged, as the app does, is accepted.
"""

import base64
import hashlib
import hmac
import json
import time

import jwt
import pytest

from ..conftest import stored_user
from .conftest import NOT_PROVIDED, table_counts

OTHER_KEY = "another-secret-key-that-is-long-enough-for-hs256!"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def signed_by_hand(header: dict, claims: dict, key: str | None, digest=hashlib.sha256) -> str:
    """A JWT with any header at all: the HMAC (or no signature when ``key`` is None) is made here."""
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}"
    signature = b"" if key is None else hmac.new(key.encode(), signing_input.encode(), digest).digest()
    return f"{signing_input}.{b64(signature)}"


@pytest.fixture
def secret(app):
    return app.config.get("JWT_SECRET_KEY") or app.config["SECRET_KEY"]


@pytest.fixture
def pair(user, jwt_pair):
    return jwt_pair(user)


@pytest.fixture
def claims(pair):
    """The claims of the user's live access token."""
    return jwt.decode(pair["access"], options={"verify_signature": False})


def attempt(app, client, user, token: str):
    """Use ``token`` to change the profile; the caller checks the answer. Returns (answer, row before)."""
    row, counts = stored_user(app, user.id), table_counts(app)
    response = client.patch("/api/users/me/", headers={"Authorization": f"Bearer {token}"},
                            json={"first_name": "Mallory"})
    return response, row, counts


def assert_refused(app, user, response, row, counts):
    assert response.status_code == 401, response.get_json()
    assert set(response.get_json()) == {"detail"}
    assert "WWW-Authenticate" in response.headers
    assert stored_user(app, user.id) == row
    assert table_counts(app) == counts


def test_claims_re_signed_with_the_apps_key_and_algorithm_are_accepted(app, client, user, claims, secret):
    token = jwt.encode(claims, secret, algorithm="HS256")

    response = client.patch("/api/users/me/", headers={"Authorization": f"Bearer {token}"}, json={"first_name": "Me"})

    assert response.status_code == 200
    assert stored_user(app, user.id)["first_name"] == "Me"


# The algorithm --------------------------------------------------------------------------------


@pytest.mark.parametrize("alg", ["none", "None", "NONE", "nOnE"])
def test_an_unsigned_alg_none_token_is_refused(app, client, user, claims, alg):
    token = signed_by_hand({"alg": alg, "typ": "JWT"}, claims, key=None)

    assert_refused(app, user, *attempt(app, client, user, token))


def test_an_alg_none_token_that_keeps_the_real_signature_is_refused(app, client, user, claims, pair):
    signature = pair["access"].rsplit(".", 1)[1]
    unsigned = signed_by_hand({"alg": "none", "typ": "JWT"}, claims, key=None)
    token = unsigned.rsplit(".", 1)[0] + "." + signature

    assert_refused(app, user, *attempt(app, client, user, token))


def test_an_alg_none_token_made_by_pyjwt_is_refused(app, client, user, claims):
    token = jwt.encode(claims, None, algorithm="none")

    assert_refused(app, user, *attempt(app, client, user, token))


@pytest.mark.parametrize(
    "header",
    [
        {"alg": "HS256", "typ": "JWT"},
        {"alg": "HS256", "typ": "JWT", "kid": "../../../../dev/null"},
        {"alg": "HS256", "typ": "JWT", "jwk": {"kty": "oct", "k": b64(OTHER_KEY.encode())}},
        {"alg": "HS256", "typ": "JWT", "jku": "https://evil.example/keys.json"},
    ],
    ids=["plain", "kid-path", "embedded-jwk", "jku"],
)
def test_a_token_re_signed_with_another_key_is_refused(app, client, user, claims, header):
    token = signed_by_hand(header, claims, key=OTHER_KEY)

    assert_refused(app, user, *attempt(app, client, user, token))


@pytest.mark.parametrize("alg, digest", [("HS384", hashlib.sha384), ("HS512", hashlib.sha512)])
def test_another_hmac_algorithm_with_the_right_key_is_refused(app, client, user, claims, secret, alg, digest):
    """The algorithm is pinned to HS256: a token the app did not make is refused even when its
    signature is valid for the app's own key."""
    token = signed_by_hand({"alg": alg, "typ": "JWT"}, claims, key=secret, digest=digest)
    with pytest.warns(jwt.warnings.InsecureKeyLengthWarning):  # PyJWT would rather have a longer key
        assert jwt.decode(token, secret, algorithms=[alg], audience=claims["aud"], issuer=claims["iss"]) == claims

    assert_refused(app, user, *attempt(app, client, user, token))


@pytest.mark.parametrize("alg", ["RS256", "ES256", "PS256", "EdDSA"])
def test_an_asymmetric_alg_header_with_an_hmac_of_the_right_key_is_refused(app, client, user, claims, secret, alg):
    """Algorithm confusion: a public-key algorithm named in the header, the signature an HMAC made
    with the app's secret (what a verifier that trusts the header would check against)."""
    token = signed_by_hand({"alg": alg, "typ": "JWT"}, claims, key=secret)

    assert_refused(app, user, *attempt(app, client, user, token))


def test_a_token_with_a_changed_claim_and_the_old_signature_is_refused(app, client, user, claims, pair):
    forged = signed_by_hand({"alg": "HS256", "typ": "JWT"}, {**claims, "sub": "999"}, key=None)
    token = forged.rsplit(".", 1)[0] + "." + pair["access"].rsplit(".", 1)[1]

    assert_refused(app, user, *attempt(app, client, user, token))


# Audience and issuer ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "change",
    [
        {"aud": "another-api"},
        {"aud": ["another-api"]},
        {"aud": ""},
        {"iss": "https://evil.example"},
        {"iss": ""},
        {"iss": "account-portal ", "aud": "account-portal-api"},
    ],
    ids=["aud-other", "aud-other-list", "aud-empty", "iss-other", "iss-empty", "iss-near-miss"],
)
def test_a_token_for_another_audience_or_from_another_issuer_is_refused(app, client, user, claims, secret, change):
    token = jwt.encode({**claims, **change}, secret, algorithm="HS256")

    assert_refused(app, user, *attempt(app, client, user, token))


@pytest.mark.parametrize("missing", ["aud", "iss", "sid", "sub"])
def test_a_token_missing_a_required_claim_is_refused(app, client, user, claims, secret, missing):
    token = jwt.encode({k: v for k, v in claims.items() if k != missing}, secret, algorithm="HS256")

    assert_refused(app, user, *attempt(app, client, user, token))


def test_an_expired_token_is_refused(app, client, user, claims, secret):
    now = int(time.time())
    token = jwt.encode({**claims, "iat": now - 7200, "nbf": now - 7200, "exp": now - 3600}, secret, algorithm="HS256")

    response, row, counts = attempt(app, client, user, token)

    assert_refused(app, user, response, row, counts)
    assert response.get_json() == {"detail": "Token has expired."}


def test_a_token_not_valid_yet_is_refused(app, client, user, claims, secret):
    now = int(time.time())
    token = jwt.encode({**claims, "nbf": now + 3600, "exp": now + 7200}, secret, algorithm="HS256")

    assert_refused(app, user, *attempt(app, client, user, token))


# Token types ----------------------------------------------------------------------------------


def test_a_refresh_token_used_as_an_access_token_is_refused(app, client, user, pair):
    response, row, counts = attempt(app, client, user, pair["refresh"])

    assert_refused(app, user, response, row, counts)


@pytest.mark.parametrize("path", ["/api/profile/", "/api/users/me/", "/api/logout/"])
def test_a_refresh_token_opens_no_other_route_either(client, user, pair, path):
    response = client.post(path, headers={"Authorization": f"Bearer {pair['refresh']}"}) if path != "/api/users/me/" \
        else client.get(path, headers={"Authorization": f"Bearer {pair['refresh']}"})

    assert response.status_code == 401


def test_an_access_token_presented_for_refresh_is_refused_and_issues_nothing(app, client, user, pair):
    counts = table_counts(app)

    response = client.post("/api/token/refresh/", json={"refresh": pair["access"]})

    assert response.status_code == 401
    assert set(response.get_json()) == {"detail"}
    assert table_counts(app) == counts
    # Nothing was revoked either: the real refresh token still works once.
    assert client.post("/api/token/refresh/", json={"refresh": pair["refresh"]}).status_code == 200


# Where the token travels ------------------------------------------------------------------------


@pytest.mark.parametrize("parameter", ["access_token", "token", "jwt", "auth_token", "Authorization"])
def test_a_token_in_the_query_string_is_not_read(app, client, user, pair, parameter):
    row = stored_user(app, user.id)

    read = client.get(f"/api/users/me/?{parameter}={pair['access']}")
    write = client.patch(f"/api/users/me/?{parameter}={pair['access']}", json={"first_name": "Mallory"})

    for response in (read, write):
        assert response.status_code == 401
        assert response.get_json() == NOT_PROVIDED
        assert "WWW-Authenticate" in response.headers
    assert stored_user(app, user.id) == row


def test_an_api_key_in_the_query_string_is_not_read(app, client, user, api_key):
    key = api_key(user)

    for parameter in ("token", "auth_token", "key", "api_key"):
        response = client.get(f"/api/users/me/?{parameter}={key}")
        assert response.status_code == 401
        assert response.get_json() == NOT_PROVIDED


@pytest.mark.parametrize("field", ["access_token", "token", "access", "jwt", "auth_token"])
def test_a_token_in_a_json_body_is_not_read(app, client, user, pair, field):
    row = stored_user(app, user.id)

    response = client.patch("/api/users/me/", json={field: pair["access"], "first_name": "Mallory"})

    assert response.status_code == 401
    assert response.get_json() == NOT_PROVIDED
    assert stored_user(app, user.id) == row


def test_a_token_in_a_form_body_is_not_read(app, client, user, pair):
    row = stored_user(app, user.id)

    response = client.patch("/api/users/me/", data={"access_token": pair["access"], "first_name": "Mallory"})

    assert response.status_code == 401
    assert response.get_json() == NOT_PROVIDED
    assert stored_user(app, user.id) == row


def test_a_token_in_a_cookie_is_not_read(app, client, user, pair):
    row = stored_user(app, user.id)
    for name in ("access_token_cookie", "access_token", "jwt"):
        client.set_cookie(name, pair["access"])

    response = client.patch("/api/users/me/", json={"first_name": "Mallory"})

    assert response.status_code == 401
    assert response.get_json() == NOT_PROVIDED
    assert stored_user(app, user.id) == row


# Revocation -----------------------------------------------------------------------------------


def test_an_access_token_revoked_by_logout_is_refused(app, client, user, pair):
    assert client.post("/api/logout/", headers={"Authorization": f"Bearer {pair['access']}"}).status_code == 204

    response, row, counts = attempt(app, client, user, pair["access"])

    assert_refused(app, user, response, row, counts)


def test_a_refresh_token_revoked_by_logout_is_refused(app, client, user, jwt_pair):
    first, second = jwt_pair(user), jwt_pair(user)
    logout = client.post(
        "/api/logout/", headers={"Authorization": f"Bearer {first['access']}"}, json={"refresh": second["refresh"]}
    )
    assert logout.status_code == 204
    counts = table_counts(app)

    response = client.post("/api/token/refresh/", json={"refresh": second["refresh"]})

    assert response.status_code == 401
    assert table_counts(app) == counts
    assert_refused(app, user, *attempt(app, client, user, second["access"]))


def test_a_refresh_token_used_twice_is_refused_and_ends_its_sign_in(app, client, user, pair):
    renewed = client.post("/api/token/refresh/", json={"refresh": pair["refresh"]})
    assert renewed.status_code == 200

    replayed = client.post("/api/token/refresh/", json={"refresh": pair["refresh"]})

    assert replayed.status_code == 401
    assert_refused(app, user, *attempt(app, client, user, renewed.get_json()["access"]))


def test_an_api_key_revoked_by_its_logout_is_refused(app, client, user, api_key):
    key = api_key(user)
    assert client.post("/api/auth/token/logout/", headers={"Authorization": f"Token {key}"}).status_code == 204
    row = stored_user(app, user.id)

    response = client.patch("/api/users/me/", headers={"Authorization": f"Token {key}"}, json={"first_name": "Mallory"})

    assert response.status_code == 401
    assert response.get_json() == {"detail": "Invalid token."}
    assert stored_user(app, user.id) == row


def test_tokens_of_other_sign_ins_are_revoked_by_a_password_change(app, client, user, jwt_pair):
    kept, other = jwt_pair(user), jwt_pair(user)
    changed = client.post(
        "/api/users/me/set_password/",
        headers={"Authorization": f"Bearer {kept['access']}"},
        json={"current_password": user.password, "new_password": "Another-long-passphrase-42"},
    )
    assert changed.status_code == 204

    assert_refused(app, user, *attempt(app, client, user, other["access"]))
    assert client.post("/api/token/refresh/", json={"refresh": other["refresh"]}).status_code == 401
