"""The portal's signing keys as an OpenID provider: made on first use, kept sealed, published at
/oauth/jwks, rotated on the command line — a rotation reaching every process at once — and the
tokens they sign checked against what is published."""

import base64
import hashlib
import hmac
import json
import logging
from types import SimpleNamespace

import pytest
from joserfc import jwt
from joserfc.jwk import RSAKey
from sqlalchemy import func, select

from portal import create_app
from portal.extensions import db
from portal.models import AuditEvent, SigningKey, utcnow
from portal.services.oidc import signing_keys
from portal.services.oidc.signing_keys import InvalidToken
from portal.services.plumbing.secret_box import open_sealed, seal
from portal.transactions import unit_of_work
from tests.conftest import fresh_app, shared_database
from tests.site_tour import sign_in

PUBLIC_MEMBERS = {"kty", "kid", "use", "alg", "n", "e"}


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def header_of(token: str) -> dict:
    return json.loads(unb64url(token.split(".")[0]))


def sign(app, claims=None, **options) -> str:
    """A token signed by ``app`` as a request would: the signing's writes committed."""
    with app.app_context(), unit_of_work():
        return signing_keys.sign(claims or {"sub": "42"}, **options)


def verify(app, token, **options) -> dict:
    with app.app_context(), unit_of_work():
        return signing_keys.verify(token, **options)


def refused(app, token, **options) -> bool:
    try:
        verify(app, token, **options)
    except InvalidToken:
        return True
    return False


def published_kids(client) -> list[str]:
    response = client.get("/oauth/jwks")
    assert response.status_code == 200
    return [key["kid"] for key in response.get_json()["keys"]]


def rows(app) -> list[SigningKey]:
    with app.app_context():
        found = db.session.scalars(select(SigningKey).order_by(SigningKey.id)).all()
        db.session.expunge_all()
        return found


def rotate(runner) -> str:
    result = runner.invoke(args=["rotate-signing-key"])
    assert result.exit_code == 0, result.output
    return result.output.splitlines()[0].removeprefix("New signing key: ")


# First use, and what is stored ------------------------------------------------------------------


def test_first_use_makes_one_key_that_is_published_and_signs(app, client):
    assert rows(app) == []

    kids = published_kids(client)
    token = sign(app)

    assert len(kids) == 1 and published_kids(client) == kids
    assert [key.kid for key in rows(app)] == kids
    assert header_of(token) == {"alg": "RS256", "kid": kids[0], "typ": "JWT"}
    assert verify(app, token) == {"sub": "42"}


def test_the_row_holds_the_private_key_only_sealed(app):
    sign(app)
    (row,) = rows(app)
    with app.app_context():
        private = RSAKey.import_key(open_sealed(row.private_sealed, "signing-key"))
    secrets = private.as_dict(private=True)
    in_the_clear = [
        private.as_pem(private=True),
        private.as_der(private=True),
        *(unb64url(secrets[name]) for name in ("d", "p", "q", "dp", "dq", "qi")),
        *(secrets[name].encode() for name in ("d", "p", "q", "dp", "dq", "qi")),
    ]

    assert not any(part in row.private_sealed for part in in_the_clear)
    assert set(row.public_jwk) == PUBLIC_MEMBERS
    assert row.public_jwk["n"] == secrets["n"] and row.algorithm == "RS256" and row.retired_at is None


def test_the_jwks_shows_only_public_members_and_may_be_cached_by_anyone(app, client, user):
    response = client.get("/oauth/jwks")

    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert response.headers["Cache-Control"] == "public, max-age=300"
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    (key,) = response.get_json()["keys"]
    assert set(key) == PUBLIC_MEMBERS
    assert key["kty"] == "RSA" and key["alg"] == "RS256" and key["use"] == "sig"

    # Whatever the caller brings, the answer is the same public set and stays cacheable.
    with_credential = client.get("/oauth/jwks", headers={"Authorization": "Bearer whatever"})
    browser = sign_in(app.test_client(), user).get("/oauth/jwks")
    for answer in (with_credential, browser):
        assert answer.get_json() == response.get_json()
        assert "no-store" not in answer.headers["Cache-Control"]
        assert "max-age=300" in answer.headers["Cache-Control"]


# Rotation ----------------------------------------------------------------------------------------


def test_a_token_signed_before_a_rotation_verifies_after_it(app, client, runner):
    before = sign(app)
    old = header_of(before)["kid"]

    new = rotate(runner)
    after = sign(app)

    assert new != old and header_of(after)["kid"] == new
    assert published_kids(client) == [new, old]
    assert verify(app, before) == verify(app, after) == {"sub": "42"}


def test_after_its_retirement_the_old_key_leaves_the_jwks_and_its_tokens_are_refused(app, client, runner, clock):
    before = sign(app)
    old = header_of(before)["kid"]
    assert verify(app, before)  # its public key is now cached in this process
    new = rotate(runner)
    retirement = app.config["SIGNING_KEY_RETIREMENT"]

    clock.advance(retirement.total_seconds() - 1)
    assert published_kids(client) == [new, old]
    assert verify(app, before) == {"sub": "42"}

    clock.advance(2)
    assert published_kids(client) == [new]
    assert refused(app, before)
    assert verify(app, sign(app)) == {"sub": "42"}


def test_the_command_prints_the_new_kid_and_until_when_the_old_one_is_published(app, client, runner, clock):
    old = published_kids(client)[0]

    result = runner.invoke(args=["rotate-signing-key"])

    assert result.exit_code == 0, result.output
    new = published_kids(client)[0]
    until = (utcnow() + app.config["SIGNING_KEY_RETIREMENT"]).strftime("%Y-%m-%d %H:%M:%S")
    assert result.output == (
        f"New signing key: {new}\nThe key it replaced, {old}, stays published until {until} UTC.\n"
    )
    with app.app_context():
        (event,) = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "signing_key_rotated")).all()
        assert event.changes == {"kid": [old, new]}
        assert event.subject_label == "signing keys" and event.via == "cli" and event.actor_id is None


# Two processes -----------------------------------------------------------------------------------


@pytest.fixture
def deployment(tmp_path):
    """The first app on one database file (or the PostgreSQL test database), and ``another(**settings)``
    to start one more process of the deployment on the same database."""
    first = fresh_app(tmp_path / "first", **shared_database(tmp_path))
    started = []

    def another(**settings):
        folder = tmp_path / f"process{len(started)}"
        files = {"UPLOAD_FOLDER": str(folder / "uploads"), "MAIL_OUTBOX_DIR": str(folder / "outbox")}
        app = create_app("testing", {**files, **shared_database(tmp_path), **settings})
        started.append(app)
        return app

    yield SimpleNamespace(first=next(first), another=another)
    for app in started:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
    next(first, None)


def test_a_rotation_in_one_process_makes_the_other_sign_with_the_new_key_at_once(deployment, clock):
    one, two = deployment.first, deployment.another()
    early = sign(two)  # two caches the first key's private and public halves
    assert verify(two, early)
    old = header_of(early)["kid"]

    new = rotate(one.test_cli_runner())

    signed_by_two = sign(two)
    assert header_of(signed_by_two)["kid"] == new
    assert verify(one, signed_by_two) == verify(two, sign(one)) == {"sub": "42"}  # a kid two had not seen
    assert verify(one, early) == {"sub": "42"}

    # Two read the old key while it was current; it learns it was retired when the retirement ends.
    clock.advance(one.config["SIGNING_KEY_RETIREMENT"].total_seconds() + 1)
    assert refused(two, early) and refused(one, early)
    assert published_kids(two.test_client()) == [new]
    assert [key.kid for key in rows(one)] == [old, new]


def test_two_keys_made_at_once_end_with_the_newest_signing_and_the_other_retired(app, client, clock):
    # What two processes making the first key at once leave behind: two unretired keys.
    first = sign(app)
    clock.advance(1)
    with app.app_context(), unit_of_work():
        private = RSAKey.generate_key(2048, parameters={"kid": "made-at-once", "alg": "RS256", "use": "sig"})
        db.session.add(SigningKey(
            kid="made-at-once", algorithm="RS256", private_sealed=seal(private.as_pem(private=True), "signing-key"),
            public_jwk={"kty": "RSA", "use": "sig", "alg": "RS256", **private.as_dict(private=False)},
        ))

    second = sign(app)

    assert header_of(second)["kid"] == "made-at-once"
    assert published_kids(client) == ["made-at-once", header_of(first)["kid"]]
    with app.app_context():
        assert db.session.scalar(select(func.count()).where(SigningKey.retired_at.is_(None))) == 1
    assert verify(app, first) == verify(app, second) == {"sub": "42"}


# Refused tokens ----------------------------------------------------------------------------------


def test_altered_unsigned_hmac_and_unknown_key_tokens_are_refused(app, client, clock):
    token = sign(app, {"sub": "42", "exp": int(clock.timestamp()) + 60}, typ="logout+jwt")
    head, body, signature = token.split(".")
    kid = header_of(token)["kid"]
    public_pem = RSAKey.import_key(client.get("/oauth/jwks").get_json()["keys"][0]).as_pem(private=False)

    def forged(header, claims=None, key=None) -> str:
        signing_input = f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(claims or {'sub': '1'}).encode())}"
        mac = hmac.new(key, signing_input.encode(), hashlib.sha256).digest() if key else b""
        return f"{signing_input}.{b64url(mac)}"

    stranger = RSAKey.generate_key(2048, parameters={"kid": kid})
    stranger_unknown = RSAKey.generate_key(2048, parameters={"kid": "nobody-knows"})
    cases = {
        "altered claims": f"{head}.{b64url(json.dumps({'sub': '1'}).encode())}.{signature}",
        "altered signature": f"{head}.{body}.{signature[:-4]}AAAA",
        "alg none": forged({"alg": "none", "kid": kid, "typ": "logout+jwt"}),
        "HS256 with the public key": forged({"alg": "HS256", "kid": kid, "typ": "logout+jwt"}, key=public_pem),
        "unknown kid": jwt.encode({"alg": "RS256", "kid": "nobody-knows"}, {"sub": "1"}, stranger_unknown),
        "known kid, another key": jwt.encode({"alg": "RS256", "kid": kid}, {"sub": "1"}, stranger),
        "no kid": jwt.encode({"alg": "RS256"}, {"sub": "1"}, stranger),
        "not a token": "not.a.token",
        "empty": "",
    }

    assert verify(app, token, typ="logout+jwt") == {"sub": "42", "exp": int(clock.timestamp()) + 60}
    assert {name for name, forgery in cases.items() if not refused(app, forgery)} == set()
    assert refused(app, token, typ="JWT")  # another kind of token
    clock.advance(61)
    assert refused(app, token)  # expired


# A key that cannot be opened ---------------------------------------------------------------------


def test_a_key_sealed_under_another_secret_key_is_replaced_and_withdrawn(deployment, caplog):
    before = sign(deployment.first)
    old = header_of(before)["kid"]
    # The portal started again with another SECRET_KEY.
    app = deployment.another(SECRET_KEY="another secret key, as after a change of it")
    client = app.test_client()

    with caplog.at_level(logging.ERROR, logger="portal.services.oidc.signing_keys"):
        after = sign(app)

    assert header_of(after)["kid"] != old
    assert any(old in record.getMessage() and "cannot be opened" in record.getMessage() for record in caplog.records)
    assert published_kids(client) == [header_of(after)["kid"]]
    assert refused(app, before)
    assert verify(app, after) == {"sub": "42"}
    old_row, new_row = rows(app)
    assert old_row.retired_at is not None and new_row.retired_at is None
