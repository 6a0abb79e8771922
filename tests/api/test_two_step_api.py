"""Two-step sign-in through the API: both sign-in routes answer an account with a second factor
with an ``mfa_token``, and ``POST /api/token/mfa/`` gives what they would have given. The attacks:
a replayed token, guessed codes, an expired wait, a passkey answer bound to another sign-in, and a
credential obtained without the second step."""

from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from portal.extensions import db
from portal.models import Credential, PendingSignIn, utcnow
from tests.admin.conftest import add_user
from tests.two_step import add_passkey, set_up_totp
from tests.webauthn_authenticator import ORIGIN, SoftwareAuthenticator

TOKEN, KEY_LOGIN, ME = "/api/token/", "/api/auth/token/login/", "/api/users/me/"
MFA, MFA_PASSKEY = "/api/token/mfa/", "/api/token/mfa/passkey/"
EXPIRED = "This sign-in has expired. Sign in again."


@pytest.fixture
def app(app):
    app.config["PUBLIC_BASE_URL"] = ORIGIN  # the origin the software authenticator signs for
    return app


def credentials_of(app, account) -> list[tuple[str, str]]:
    with app.app_context():
        theirs = select(Credential).where(Credential.user_id == account.id)
        return [(c.kind, c.method) for c in db.session.scalars(theirs)]


def first_step(client, account, route=TOKEN):
    answer = client.post(route, json={"email": account.email, "password": account.password})
    assert answer.status_code == 401, answer.get_json()
    return answer


def test_an_account_without_a_second_factor_signs_in_as_the_documents_say(client, user):
    answer = client.post(TOKEN, json={"email": user.email, "password": user.password})

    assert answer.status_code == 200 and set(answer.get_json()) == {"access", "refresh"}


def test_a_password_alone_gets_an_mfa_token_and_no_credential(app, client, user, clock):
    set_up_totp(app, user, clock)

    answer = first_step(client, user)

    body = answer.get_json()
    assert set(body) == {"detail", "mfa_required", "mfa_token", "methods"}
    assert body["mfa_required"] is True and body["methods"] == ["totp", "recovery"]
    assert answer.headers["WWW-Authenticate"] and answer.headers["Cache-Control"] == "no-store"
    assert credentials_of(app, user) == []


def test_the_code_gives_the_jwt_pair_the_first_route_would_have_given(app, client, user, clock):
    secret, _ = set_up_totp(app, user, clock)
    token = first_step(client, user).get_json()["mfa_token"]

    done = client.post(MFA, json={"mfa_token": token, "code": clock.code(secret)})

    assert done.status_code == 200 and set(done.get_json()) == {"access", "refresh"}
    assert client.get(ME, headers={"Authorization": f"Bearer {done.get_json()['access']}"}).status_code == 200
    assert credentials_of(app, user) == [("jwt", "password+totp")]


def test_the_api_key_route_finishes_with_an_api_key(app, client, user, clock):
    secret, _ = set_up_totp(app, user, clock)
    token = first_step(client, user, KEY_LOGIN).get_json()["mfa_token"]

    done = client.post(MFA, json={"mfa_token": token, "code": clock.code(secret)})

    assert done.status_code == 200 and set(done.get_json()) == {"auth_token"}
    assert client.get(ME, headers={"Authorization": f"Token {done.get_json()['auth_token']}"}).status_code == 200
    assert credentials_of(app, user) == [("key", "password+totp")]


def test_an_mfa_token_works_once(app, client, user, clock):
    secret, _ = set_up_totp(app, user, clock)
    token = first_step(client, user).get_json()["mfa_token"]
    assert client.post(MFA, json={"mfa_token": token, "code": clock.code(secret)}).status_code == 200
    clock.advance(30)

    replayed = client.post(MFA, json={"mfa_token": token, "code": clock.code(secret)})

    assert replayed.status_code == 401 and replayed.get_json() == {"detail": EXPIRED}


def test_a_wrong_code_is_a_400_and_five_of_them_end_the_sign_in(app, client, user, clock):
    secret, _ = set_up_totp(app, user, clock)
    token = first_step(client, user).get_json()["mfa_token"]
    right = clock.code(secret)
    wrong = f"{(int(right) + 1) % 10**6:06d}"

    answers = [client.post(MFA, json={"mfa_token": token, "code": wrong}) for _ in range(5)]
    last = client.post(MFA, json={"mfa_token": token, "code": right})

    assert {a.status_code for a in answers} == {400} and answers[0].get_json() == {"code": ["Invalid code."]}
    assert last.status_code == 401 and last.get_json() == {"detail": EXPIRED}
    assert credentials_of(app, user) == []


def test_an_mfa_token_lives_five_minutes(app, client, user, clock):
    secret, _ = set_up_totp(app, user, clock)
    token = first_step(client, user).get_json()["mfa_token"]
    with app.app_context():
        db.session.execute(update(PendingSignIn).values(expires_at=utcnow() - timedelta(seconds=1)))
        db.session.commit()

    late = client.post(MFA, json={"mfa_token": token, "code": clock.code(secret)})

    assert late.status_code == 401 and late.get_json() == {"detail": EXPIRED}


@pytest.mark.parametrize("token", ["made-up", "", None, 12, "x" * 500])
def test_a_made_up_mfa_token_opens_nothing(client, token):
    answer = client.post(MFA, json={"mfa_token": token, "code": "123456"})

    assert answer.status_code in (400, 401)
    assert "access" not in (answer.get_json() or {})


def test_a_code_or_a_passkey_is_required(client):
    answer = client.post(MFA, json={"mfa_token": "anything"})

    assert answer.status_code == 400 and answer.get_json() == {"non_field_errors": ['Send "code" or "passkey".']}


def test_a_recovery_code_finishes_the_sign_in_once(app, client, user, clock, mailbox):
    _, codes = set_up_totp(app, user, clock)
    token = first_step(client, user).get_json()["mfa_token"]

    done = client.post(MFA, json={"mfa_token": token, "code": codes[0].upper()})

    assert done.status_code == 200 and credentials_of(app, user) == [("jwt", "password+recovery")]
    again = client.post(MFA, json={"mfa_token": first_step(client, user).get_json()["mfa_token"], "code": codes[0]})
    assert again.status_code == 400
    assert "A change to how you sign in" in [m["Subject"] for m in mailbox.sent_to(user.email)]


def test_a_passkey_finishes_the_sign_in(app, client, user):
    authenticator = SoftwareAuthenticator()
    add_passkey(app, user, authenticator)
    body = first_step(client, user).get_json()
    assert body["methods"] == ["recovery", "passkey"]
    options = client.post(MFA_PASSKEY, json={"mfa_token": body["mfa_token"]})
    assert options.status_code == 200 and len(options.get_json()["allowCredentials"]) == 1

    done = client.post(MFA, json={"mfa_token": body["mfa_token"], "passkey": authenticator.get(options.get_json())})

    assert done.status_code == 200 and credentials_of(app, user) == [("jwt", "password+passkey")]


def test_a_passkey_answer_bound_to_another_sign_in_is_refused(app, client, user):
    authenticator = SoftwareAuthenticator()
    add_passkey(app, user, authenticator)
    first, second = (first_step(client, user).get_json()["mfa_token"] for _ in range(2))
    answer = authenticator.get(client.post(MFA_PASSKEY, json={"mfa_token": first}).get_json())

    stolen = client.post(MFA, json={"mfa_token": second, "passkey": answer})

    assert stolen.status_code == 401 and credentials_of(app, user) == []


def test_the_second_step_counts_against_the_accounts_sign_in_limit(make_app, clock):
    limited = make_app(RATELIMIT_ENABLED=True, RATELIMIT_SIGN_IN="3 per minute", PUBLIC_BASE_URL=ORIGIN)
    account = add_user(limited, "limited@example.com")
    set_up_totp(limited, account, clock)
    client = limited.test_client()
    token = first_step(client, account).get_json()["mfa_token"]  # one try

    answers = [client.post(MFA, json={"mfa_token": token, "code": "000001"}).status_code for _ in range(3)]

    assert answers == [400, 400, 429]
    with limited.app_context():
        assert db.session.scalar(select(func.count()).select_from(Credential)) == 0
