"""The API twin of signing in with another provider: ``POST /api/token/provider/`` with an ID token
a mobile app got from the provider itself (a real one, from the OpenID provider on loopback), and
``/api/users/me/providers/``. Same account rules as the pages; every refused ID token the same 401.
"""

import base64
import json

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.models import LinkedIdentity, User
from tests.conftest import PASSWORD, fresh_app
from tests.providers.fixtures import OIDC_CLIENTS
from tests.providers.oidc import OidcProvider
from tests.two_step import set_up_totp
from tests.web.test_sign_in_with_a_provider import providers_config

ALICE = {"sub": "alice-1", "email": "alice@example.com", "given_name": "Alice", "family_name": "Liddell"}
REFUSED = {"detail": "The ID token was not accepted."}


@pytest.fixture
def app(tmp_path, oidc_provider, github_stand_in):
    yield from fresh_app(tmp_path, SOCIAL_PROVIDERS=providers_config(oidc_provider, github_stand_in))


def id_token(oidc_provider, client_id="portal-mobile", **person):
    return oidc_provider.id_token_for(client_id, **{**ALICE, **person})


def sign_in(client, token, provider="idp"):
    return client.post("/api/token/provider/", json={"provider": provider, "id_token": token})


def linked(app):
    with app.app_context():
        return [(i.provider, i.subject, i.user_id) for i in db.session.scalars(select(LinkedIdentity))]


def test_an_id_token_for_the_mobile_app_signs_in_with_a_jwt_pair(app, client, oidc_provider):
    answer = sign_in(client, id_token(oidc_provider))

    assert answer.status_code == 200, answer.json
    assert set(answer.json) == {"access", "refresh"}
    me = client.get("/api/users/me/", headers={"Authorization": f"Bearer {answer.json['access']}"})
    assert me.json["email"] == "alice@example.com"
    assert [(p, s) for p, s, _ in linked(app)] == [("idp", "alice-1")]


def test_an_id_token_for_the_web_client_is_taken_too(client, oidc_provider):
    assert sign_in(client, id_token(oidc_provider, client_id="portal-web")).status_code == 200


def tampered(token: str) -> str:
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["sub"] = "someone-else"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{header}.{forged}.{signature}"


def test_every_refused_id_token_gets_the_same_401(app, client, oidc_provider, clock):
    good = id_token(oidc_provider)
    other_issuer = OidcProvider(
        [{"client_id": "portal-mobile", "redirect_uris": OIDC_CLIENTS[1].redirect_uris}]
    ).start()
    try:
        foreign = other_issuer.id_token_for("portal-mobile", **ALICE)
    finally:
        other_issuer.stop()
    header, payload, _signature = good.split(".")

    refusals = {
        "bad signature": tampered(good),
        "no signature": f"{header}.{payload}.",
        "another issuer's key": foreign,
        "not a token": "not-a-jwt",
    }
    for why, token in refusals.items():
        answer = sign_in(client, token)
        assert (answer.status_code, answer.json) == (401, REFUSED), why
    assert linked(app) == []


def test_an_expired_id_token_is_refused(client, oidc_provider, clock):
    token = id_token(oidc_provider)
    clock.advance(hours=2)  # the provider's tokens last an hour; leeway is a minute

    assert (sign_in(client, token).status_code, sign_in(client, token).json) == (401, REFUSED)


def test_an_id_token_for_an_app_not_in_audiences_is_refused(tmp_path, oidc_provider, github_stand_in):
    config = providers_config(oidc_provider, github_stand_in)
    config["idp"]["audiences"] = []
    for app in fresh_app(tmp_path, SOCIAL_PROVIDERS=config):
        answer = sign_in(app.test_client(), id_token(oidc_provider, client_id="portal-mobile"))
        assert (answer.status_code, answer.json) == (401, REFUSED)


def test_an_unknown_provider_or_a_missing_token_is_a_400_naming_the_field(client):
    unknown = sign_in(client, "x", provider="nobody")
    missing = client.post("/api/token/provider/", json={"provider": "idp"})

    assert unknown.status_code == 400 and "provider" in unknown.json
    assert missing.status_code == 400 and "id_token" in missing.json


def test_an_existing_address_not_linked_is_a_409_and_links_nothing(app, client, oidc_provider, make_user):
    make_user("alice@example.com")

    answer = sign_in(client, id_token(oidc_provider))

    assert answer.status_code == 409 and "Sign in to it" in answer.json["detail"]
    assert linked(app) == []


def test_an_unvouched_address_makes_an_account_that_must_verify_first(app, client, oidc_provider, mailbox):
    answer = sign_in(client, id_token(oidc_provider, email_verified=False))

    assert answer.status_code == 403
    with app.app_context():
        made = db.session.scalar(select(User).where(User.email == "alice@example.com"))
        assert made.activated_at is None
    assert mailbox.code_for("alice@example.com")


def test_a_second_factor_is_still_asked_through_the_api(app, client, oidc_provider, clock):
    sign_in(client, id_token(oidc_provider))
    with app.app_context():
        account = db.session.scalar(select(User).where(User.email == "alice@example.com"))
    secret, _codes = set_up_totp(app, account, clock)

    answer = sign_in(client, id_token(oidc_provider))

    assert answer.status_code == 401 and answer.json["mfa_required"] is True
    done = client.post("/api/token/mfa/", json={"mfa_token": answer.json["mfa_token"], "code": clock.code(secret)})
    assert done.status_code == 200 and set(done.json) == {"access", "refresh"}


def test_my_providers_lists_connects_and_removes(app, client, oidc_provider, user, bearer):
    headers = bearer(user)  # signed in with a password just now
    assert client.get("/api/users/me/providers/", headers=headers).json == []

    connected = client.post(
        "/api/users/me/providers/",
        json={"provider": "idp", "id_token": id_token(oidc_provider, email="x@elsewhere.example")},
        headers=headers,
    )
    assert connected.status_code == 201, connected.json
    assert connected.json["provider"] == "idp" and connected.json["email"] == "x@elsewhere.example"
    listed = client.get("/api/users/me/providers/", headers=headers).json
    assert [entry["id"] for entry in listed] == [connected.json["id"]]

    removed = client.delete(f"/api/users/me/providers/{connected.json['id']}/", headers=headers)
    assert removed.status_code == 204
    assert client.get("/api/users/me/providers/", headers=headers).json == []


def test_connecting_or_removing_needs_a_recent_sign_in(app, client, oidc_provider, user, bearer, clock):
    headers = bearer(user)
    clock.advance(seconds=app.config["REAUTHENTICATION_AFTER"].total_seconds() + 60)

    answer = client.post("/api/users/me/providers/", json={"provider": "idp", "id_token": id_token(oidc_provider)},
                         headers=headers)

    assert answer.status_code == 403 and linked(app) == []


def test_the_last_way_in_cannot_be_removed_and_anothers_is_a_404(app, client, oidc_provider, make_user):
    pair = sign_in(client, id_token(oidc_provider)).json
    headers = {"Authorization": f"Bearer {pair['access']}"}
    mine = client.get("/api/users/me/providers/", headers=headers).json[0]["id"]

    last = client.delete(f"/api/users/me/providers/{mine}/", headers=headers)
    assert last.status_code == 400 and "only way to sign in" in last.json["non_field_errors"][0]

    make_user("carol@example.com")
    carol = client.post("/api/token/", json={"email": "carol@example.com", "password": PASSWORD}).json
    stranger = client.delete(f"/api/users/me/providers/{mine}/", headers={"Authorization": f"Bearer {carol['access']}"})
    assert stranger.status_code == 404
    assert len(linked(app)) == 1
