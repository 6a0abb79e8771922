"""Two-step sign-in and passkeys on the pages: the second step after the password, a passkey alone,
the Security page (authenticator app, recovery codes, passkeys), and "is it still you?" before a
change to how the account signs in. CSRF is on, as everywhere in these tests; passkeys are made
and used by a software authenticator that speaks real WebAuthn.
"""

import json
import re
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from portal.extensions import db
from portal.models import AuditEvent, Credential, PendingSignIn, RecoveryCode, TotpDevice, User, utcnow
from portal.services.plumbing.secret_box import open_sealed
from portal.services.signing_in import factors
from tests.admin.conftest import add_user
from tests.conftest import Account
from tests.two_step import add_passkey, set_up_totp
from tests.webauthn_authenticator import ORIGIN, SoftwareAuthenticator

from .conftest import (
    credential_in_cookie,
    csrf_token,
    field_errors,
    find_form,
    flashes,
    is_signed_in,
    sign_in,
    signed_in,
    submit,
    text_of,
)

SECOND_STEP = "/login/second-step"


@pytest.fixture
def app(app):
    """Pages served as https://portal.example, the origin the software authenticator signs for."""
    app.config["PUBLIC_BASE_URL"] = ORIGIN
    return app


@pytest.fixture
def authenticator():
    return SoftwareAuthenticator()


def session_of(app, client) -> dict:
    public_id = credential_in_cookie(client)
    with app.app_context():
        row = db.session.scalar(select(Credential).where(Credential.public_id == public_id))
        return {"method": row.method, "proven_at": row.proven_at}


def age_the_proof(app, client, minutes=11):
    """The browser signed in ``minutes`` ago: its last proof is that old."""
    with app.app_context():
        db.session.execute(
            update(Credential).where(Credential.public_id == credential_in_cookie(client))
            .values(proven_at=utcnow() - timedelta(minutes=minutes))
        )
        db.session.commit()


def json_post(client, url, *, token_page):
    """POST from the page's script: the CSRF token in a header, JSON asked for."""
    token = csrf_token(client.get(token_page))
    return client.post(url, headers={"X-CSRFToken": token, "Accept": "application/json"})


# The second step ------------------------------------------------------------------------------------


def test_a_password_alone_does_not_sign_in_an_account_with_an_app_the_code_does(app, client, user, clock):
    secret, _ = set_up_totp(app, user, clock)

    first = sign_in(client, user, next="/profile/keys")

    assert first.status_code == 302 and first.headers["Location"] == SECOND_STEP
    assert not is_signed_in(client)  # no session exists before the second step
    wrong = submit(client, SECOND_STEP, {"code": "000000" if clock.code(secret) != "000000" else "111111"})
    assert wrong.status_code == 400 and field_errors(wrong) == {"code": ["Invalid code."]}
    assert "4 tries left" in text_of(wrong)
    assert not is_signed_in(client)

    right = submit(client, SECOND_STEP, {"code": clock.code(secret)})

    assert right.status_code == 302 and right.headers["Location"] == "/profile/keys"
    assert is_signed_in(client)
    assert session_of(app, client)["method"] == "password+totp"
    assert "Signed in with password and app code" in text_of(client.get("/profile/sessions"))


def test_the_second_step_cannot_be_skipped_by_calling_the_next_page(app, client, user, clock):
    set_up_totp(app, user, clock)
    sign_in(client, user)

    assert client.get("/profile/").status_code == 302  # to /login: nothing is signed in
    token = csrf_token(client.get("/login"))
    assert client.post("/login/passkey", data={"csrf_token": token, "credential": "{}"}).status_code == 302
    assert client.post(SECOND_STEP, data={"csrf_token": token}).status_code == 400  # a code is required
    assert not is_signed_in(client)
    with app.app_context():
        assert db.session.scalars(select(Credential).where(Credential.kind == "session")).all() == []


def test_a_code_works_once_a_second_sign_in_cannot_replay_it(app, client, user, clock, make_user):
    secret, _ = set_up_totp(app, user, clock)
    sign_in(client, user)
    code = clock.code(secret)
    assert submit(client, SECOND_STEP, {"code": code}).status_code == 302

    other = app.test_client()
    sign_in(other, user)
    replayed = submit(other, SECOND_STEP, {"code": code})

    assert replayed.status_code == 400 and field_errors(replayed) == {"code": ["Invalid code."]}
    assert not is_signed_in(other)


def test_five_wrong_codes_end_the_pending_sign_in_even_for_the_right_code_after(app, client, user, clock):
    secret, _ = set_up_totp(app, user, clock)
    sign_in(client, user)
    right = clock.code(secret)
    for _ in range(5):
        assert submit(client, SECOND_STEP, {"code": "12345" + str((int(right[-1]) + 1) % 10)}).status_code == 400

    page = client.get(SECOND_STEP)

    assert page.status_code == 302 and page.headers["Location"] == "/login"
    assert "That sign-in has expired or was used up. Sign in again." in flashes(client.get("/login"))
    token = csrf_token(client.get("/login"))
    assert client.post(SECOND_STEP, data={"csrf_token": token, "code": right}).status_code == 302
    assert not is_signed_in(client)


def test_a_pending_sign_in_lives_five_minutes(app, client, user, clock):
    secret, _ = set_up_totp(app, user, clock)
    sign_in(client, user)
    with app.app_context():
        db.session.execute(update(PendingSignIn).values(expires_at=utcnow() - timedelta(seconds=1)))
        db.session.commit()

    late = client.post(SECOND_STEP, data={"csrf_token": csrf_token(client.get("/login")), "code": clock.code(secret)})

    assert late.status_code == 302 and late.headers["Location"] == "/login"
    assert not is_signed_in(client)


def test_a_recovery_code_signs_in_once_and_the_person_is_told(app, client, user, clock, mailbox):
    _, codes = set_up_totp(app, user, clock)
    sign_in(client, user)

    done = submit(client, SECOND_STEP, {"code": codes[0]})

    assert done.status_code == 302 and session_of(app, client)["method"] == "password+recovery"
    assert "A change to how you sign in" in [m["Subject"] for m in mailbox.sent_to(user.email)]
    again = app.test_client()
    sign_in(again, user)
    assert submit(again, SECOND_STEP, {"code": codes[0]}).status_code == 400


def test_the_second_step_counts_against_the_accounts_sign_in_limit(make_app, make_user, clock):
    limited = make_app(RATELIMIT_ENABLED=True, RATELIMIT_SIGN_IN="3 per minute", PUBLIC_BASE_URL=ORIGIN)
    account = add_user(limited, "limited@example.com")
    set_up_totp(limited, account, clock)
    client = limited.test_client()
    sign_in(client, account)  # the password: one try
    answers = [submit(client, SECOND_STEP, {"code": "000001"}).status_code for _ in range(3)]

    assert answers == [400, 400, 429]


def test_the_browser_that_signed_up_is_asked_for_a_factor_the_account_has_by_the_time_it_enters_the_code(
    app, client, clock, mailbox
):
    email = "newcomer@example.com"
    password = "Quiet-Meadow-Kettle-31"
    signed_up = submit(client, "/register", {"email": email, "password": password, "confirm_password": password})
    assert signed_up.status_code == 302
    code = mailbox.code_for(email)
    with app.app_context():
        account = db.session.scalar(select(User).where(User.email == email))
        account.activated_at = utcnow()  # as if its sign-up had been finished elsewhere meanwhile
        db.session.commit()
        newcomer = Account(account.id, email, password)
    set_up_totp(app, newcomer, clock)

    entered = submit(client, "/verify", {"email": email, "otp": code})

    assert entered.status_code == 302 and entered.headers["Location"] == SECOND_STEP
    assert not is_signed_in(client)


# A passkey ------------------------------------------------------------------------------------------


def test_a_passkey_alone_signs_in_without_email_or_password(app, client, user, authenticator):
    add_passkey(app, user, authenticator)
    options = json_post(client, "/login/passkey/options", token_page="/login")
    assert options.status_code == 200 and options.get_json()["allowCredentials"] == []

    answer = authenticator.get(options.get_json())
    done = client.post("/login/passkey?next=/profile/security",
                       data={"csrf_token": csrf_token(client.get("/login")), "credential": _json(answer)})

    assert done.status_code == 302 and done.headers["Location"] == "/profile/security"
    assert session_of(app, client)["method"] == "passkey"


def test_a_passkey_answer_cannot_be_used_twice(app, client, user, authenticator):
    add_passkey(app, user, authenticator)
    answer = authenticator.get(json_post(client, "/login/passkey/options", token_page="/login").get_json())
    token = csrf_token(client.get("/login"))
    assert client.post("/login/passkey", data={"csrf_token": token, "credential": _json(answer)}).status_code == 302
    client.post("/logout", data={"csrf_token": csrf_token(client.get("/profile/"))})

    replayed = client.post("/login/passkey",
                           data={"csrf_token": csrf_token(client.get("/login")), "credential": _json(answer)})

    assert replayed.status_code == 302 and replayed.headers["Location"].startswith("/login")
    assert "The passkey was not accepted. Try again." in flashes(client.get("/login"))
    assert not is_signed_in(client)


def test_a_challenge_asked_for_by_another_browser_does_not_sign_this_one_in(app, user, authenticator):
    add_passkey(app, user, authenticator)
    asker, thief = app.test_client(), app.test_client()
    answer = authenticator.get(json_post(asker, "/login/passkey/options", token_page="/login").get_json())

    stolen = thief.post("/login/passkey",
                        data={"csrf_token": csrf_token(thief.get("/login")), "credential": _json(answer)})

    assert stolen.status_code == 302 and not is_signed_in(thief)


def test_a_passkey_completes_the_second_step_after_a_password(app, client, user, clock, authenticator):
    set_up_totp(app, user, clock)
    add_passkey(app, user, authenticator)
    sign_in(client, user)
    options = json_post(client, "/login/second-step/passkey/options", token_page=SECOND_STEP).get_json()
    assert len(options["allowCredentials"]) == 1  # only this account's passkeys

    done = client.post("/login/second-step/passkey",
                       data={"csrf_token": csrf_token(client.get(SECOND_STEP)),
                             "credential": _json(authenticator.get(options))})

    assert done.status_code == 302 and session_of(app, client)["method"] == "password+passkey"


def test_the_passkey_buttons_say_they_need_javascript(app, client):
    page = text_of(client.get("/login"))

    assert "Passkeys need JavaScript, which is off in this browser." in page
    assert re.search(r'<button type="submit" class="secondary" disabled>Sign in with a passkey</button>',
                     client.get("/login").get_data(as_text=True))


# The Security page -----------------------------------------------------------------------------------


def test_setting_up_the_app_shows_a_qr_code_and_the_key_then_recovery_codes_once(app, client, user, clock):
    signed_in(client, user)
    assert "Set up an authenticator app" in text_of(client.get("/profile/security"))

    setup = submit(client, "/profile/security", action="/profile/security/app")

    assert setup.status_code == 200 and setup.headers["Cache-Control"] == "no-store"
    body = setup.get_data(as_text=True)
    assert "<svg" in body and "<script" not in body.split("<svg", 1)[1].split("</svg>", 1)[0]
    key = re.search(r'id="totp-key" class="mono" dir="ltr" value="([A-Z2-7 ]+)"', body).group(1)
    assert re.fullmatch(r"([A-Z2-7]{4} )+[A-Z2-7]{1,4}", key)
    secret = key.replace(" ", "")

    shown = submit(client, "/profile/security/app", {"code": clock.code(secret)},
                   action="/profile/security/app/confirm")

    assert shown.status_code == 200 and shown.headers["Cache-Control"] == "no-store"
    codes = re.findall(r'<li><code dir="ltr">([^<]+)</code></li>', shown.get_data(as_text=True))
    assert len(codes) == 10 and len(set(codes)) == 10
    download = client.post("/profile/security/recovery-codes.txt",
                           data={"csrf_token": csrf_token(shown), "code": codes})
    assert download.headers["Content-Disposition"] == 'attachment; filename="recovery-codes.txt"'
    assert all(code in download.get_data(as_text=True) for code in codes)
    page = text_of(client.get("/profile/security"))
    assert "10 left" in page and "Turn off the authenticator app" in page
    assert secret not in client.get("/profile/security").get_data(as_text=True)  # never shown again
    assert "Set up an authenticator app" not in client.get("/profile/security/app").get_data(as_text=True)


def test_turning_the_app_off_needs_the_password_and_a_code(app, client, user, clock):
    secret, _ = set_up_totp(app, user, clock)
    signed_in(client, user)
    assert submit(client, SECOND_STEP, {"code": clock.code(secret)}).status_code == 302
    clock.advance(30)

    wrong_password = submit(client, "/profile/security", {"current_password": "not-it", "code": clock.code(secret)},
                            action="/profile/security/app/off")
    assert wrong_password.status_code == 400 and field_errors(wrong_password) == {
        "current_password": ["Invalid password."]}

    off = submit(client, "/profile/security", {"current_password": user.password, "code": clock.code(secret)},
                 action="/profile/security/app/off")

    assert off.status_code == 302 and "The authenticator app is off." in flashes(client.get("/profile/security"))
    assert not _has_second_factor(app, user)


def test_few_recovery_codes_left_are_warned_about(app, user, clock):
    set_up_totp(app, user, clock)
    with app.app_context():
        for code in db.session.scalars(select(RecoveryCode).limit(8)):
            code.used_at = utcnow()
        db.session.commit()
    client, _ = signed_in_with_app(app, user, clock)

    assert "Only 2 recovery codes left. Make new ones before you run out." in text_of(client.get("/profile/security"))


def test_adding_renaming_and_removing_a_passkey_from_the_page(app, client, user, authenticator, mailbox):
    signed_in(client, user)
    options = json_post(client, "/profile/security/passkeys/options", token_page="/profile/security")
    assert options.status_code == 200 and options.get_json()["rp"]["id"] == "portal.example"

    added = client.post("/profile/security/passkeys", data={
        "csrf_token": csrf_token(client.get("/profile/security")), "name": "Laptop",
        "credential": _json(authenticator.create(options.get_json())),
    })

    assert added.status_code == 200 and len(re.findall(r"<li><code", added.get_data(as_text=True))) == 10
    page = client.get("/profile/security")
    assert "Laptop" in text_of(page)
    passkey_id = int(re.search(r"/profile/security/passkeys/(\d+)/rename", page.get_data(as_text=True)).group(1))
    renamed = submit(client, f"/profile/security/passkeys/{passkey_id}/rename", {"name": "Work laptop"})
    assert renamed.status_code == 302 and "Work laptop" in text_of(client.get("/profile/security"))
    removed = client.post(f"/profile/security/passkeys/{passkey_id}/remove",
                          data={"csrf_token": csrf_token(client.get("/profile/security"))})
    assert removed.status_code == 302
    assert '<td dir="auto">Work laptop</td>' not in client.get("/profile/security").get_data(as_text=True)
    subjects = [m["Subject"] for m in mailbox.sent_to(user.email)]
    assert subjects.count("A change to how you sign in") == 2  # added, removed


def test_someone_elses_passkey_is_not_found(app, client, user, make_user, authenticator):
    other = make_user("other@example.com")
    theirs = add_passkey(app, other, authenticator)
    signed_in(client, user)

    assert client.post(f"/profile/security/passkeys/{theirs.id}/remove",
                       data={"csrf_token": csrf_token(client.get("/profile/security"))}).status_code == 404
    assert client.get(f"/profile/security/passkeys/{theirs.id}/rename").status_code == 404


# Is it still you? -----------------------------------------------------------------------------------


def test_an_old_session_confirms_with_the_password_before_making_a_key_and_nothing_typed_is_lost(app, client, user):
    signed_in(client, user)
    age_the_proof(app, client)

    prompt = submit(client, "/profile/keys", {"name": "Backup script"})

    assert prompt.status_code == 403 and "Confirm it's you" in text_of(prompt)
    assert 'name="name" value="Backup script"' in prompt.get_data(as_text=True)
    assert _key_names(app, user) == []
    wrong = submit(client, "/profile/keys", {"name": "Backup script", "reauth_password": "not-my-password"})
    assert wrong.status_code == 400 and field_errors(wrong) == {"reauth_password": ["Invalid password."]}

    confirmed = _submit_prompt(client, prompt, {"reauth_password": user.password})

    assert confirmed.status_code == 200 and "Your new key." in text_of(confirmed)
    assert _key_names(app, user) == ["Backup script"]
    assert session_of(app, client)["proven_at"] > utcnow() - timedelta(minutes=1)
    with app.app_context():
        actions = db.session.scalars(select(AuditEvent.action).where(AuditEvent.subject_id == user.id)).all()
        assert "reauthentication_failed" in actions


def test_a_fresh_session_is_not_asked_again(app, client, user):
    signed_in(client, user)

    made = submit(client, "/profile/keys", {"name": "Fresh"})

    assert made.status_code == 200 and _key_names(app, user) == ["Fresh"]


def test_an_old_session_is_asked_before_an_email_change_but_not_before_a_name_change(app, client, user):
    signed_in(client, user)
    age_the_proof(app, client)

    assert submit(client, "/profile/edit", {"first_name": "Renamed"}).status_code == 302
    asked = submit(client, "/profile/edit", {"email": "new-address@example.com"})

    assert asked.status_code == 403 and "Confirm it's you" in text_of(asked)
    done = _submit_prompt(client, asked, {"reauth_password": user.password})
    assert done.status_code == 302 and done.headers["Location"] == "/verify"


def test_the_passkey_ceremony_of_an_old_session_answers_401_for_the_script(app, client, user):
    signed_in(client, user)
    age_the_proof(app, client)

    options = json_post(client, "/profile/security/passkeys/options", token_page="/profile/security")

    assert options.status_code == 401 and options.get_json()["reauthenticate"] is True


def test_a_code_from_the_app_confirms_too(app, user, clock):
    set_up_totp(app, user, clock)
    client, secret = signed_in_with_app(app, user, clock)
    age_the_proof(app, client)
    prompt = submit(client, "/profile/keys", {"name": "By code"})

    done = _submit_prompt(client, prompt, {"reauth_code": clock.code(secret)})

    assert done.status_code == 200 and _key_names(app, user) == ["By code"]


# Helpers ---------------------------------------------------------------------------------------------


def signed_in_with_app(app, user, clock):
    """A new browser signed in with the password and a code from the app: (the browser, the app's secret)."""
    with app.app_context():
        device = db.session.scalar(select(TotpDevice).where(TotpDevice.user_id == user.id))
        secret = open_sealed(device.secret_sealed, "totp").decode()
    client = app.test_client()
    sign_in(client, user)
    clock.advance(30)
    assert submit(client, SECOND_STEP, {"code": clock.code(secret)}).status_code == 302
    clock.advance(30)
    return client, secret


def _submit_prompt(client, prompt, changes):
    """Send the "Confirm it's you" form as the browser would: every carried field, and the proof."""
    form = find_form(prompt)
    return client.post(form.action, data={**form.fields, **changes})


def _key_names(app, user) -> list[str]:
    with app.app_context():
        return db.session.scalars(
            select(Credential.name).where(Credential.user_id == user.id, Credential.kind == "key")
        ).all()


def _has_second_factor(app, user) -> bool:
    with app.app_context():
        return factors.has_second_factor(db.session.get(User, user.id))


def _json(answer: dict) -> str:
    return json.dumps(answer)
