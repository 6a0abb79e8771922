"""Holes an outside attacker found, each attacked again through HTTP as they did it.

1. A ``HEAD`` request (a link checker, a mail previewer) to a "This wasn't me" link, or to "Secure
   my account", must change nothing: only a POST with the page's CSRF token acts.
2. An older, unused alert link must be dead once the account was recovered (a reset) or secured.
3. A sign-in code, reset link or pending second step issued before a reset, a password change,
   "This wasn't me" or a deactivation must sign nobody in after it.
4. Turning sign-in alerts off (however the form spells "off") needs a recent proof.
5. Addresses are the same only when their normalised forms are: ``strasse`` and ``straße`` are two
   domains, so moving to the other is an email change with all its guards.

The app has CSRF protection on, as a browser meets it; mail goes to an SMTP server on loopback.
"""

import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from portal.extensions import db
from portal.models import AuditEvent, Credential, EmailCode, SignInAlert, User, utcnow
from tests.conftest import PASSWORD, fresh_app, stored_user
from tests.site_tour import ANONYMOUS_PAGES, build_world, page_urls
from tests.two_step import set_up_totp
from tests.web.conftest import csrf_token, flashes, is_signed_in, signed_in, submit, text_of
from tests.webauthn_authenticator import ORIGIN

CHROME_LINUX = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36"
FIREFOX_WINDOWS = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0"
SAFARI_MAC = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15"
)
HOME, AWAY, FARTHER = "203.0.113.7", "198.51.100.23", "192.0.2.77"
NEW_PASSWORD = "Quiet-Harbour-Lantern-58"
ALERT_SUBJECT = "A new sign-in to your account"
SECURED_SUBJECT = "Your account was secured"
INVALID_CODE = {"code": ["Invalid or expired code."]}
RESET_LINK = re.compile(r"/password/reset/([^/\s]+)/([^/\s]+)/")
NOT_ME_LINK = re.compile(rf"{re.escape(ORIGIN)}(/not-me/\S+/)\n")


@pytest.fixture
def app(tmp_path):
    """CSRF on, links built for the passkey tests' origin."""
    yield from fresh_app(tmp_path, WTF_CSRF_ENABLED=True, PUBLIC_BASE_URL=ORIGIN)


def browser(app, user_agent=CHROME_LINUX, ip=HOME):
    client = app.test_client()
    client.environ_base.update(HTTP_USER_AGENT=user_agent, REMOTE_ADDR=ip)
    return client


def body(message) -> str:
    return message.get_body(("plain",)).get_content().replace("\r\n", "\n")


def mails(mailbox, address, subject=None):
    return [m for m in mailbox.sent_to(address) if subject is None or m["Subject"] == subject]


def alert_links(mailbox, account) -> list[str]:
    """The site-relative "This wasn't me" path of every alert mailed to the account, oldest first."""
    return [NOT_ME_LINK.search(body(m)).group(1) for m in mails(mailbox, account.email, ALERT_SUBJECT)]


def alerted(app, account, mailbox, *others) -> list[str]:
    """Sign in from Chrome at home (the first: no mail), then from each of ``others`` ((agent, ip)):
    the alert links, one per new browser."""
    signed_in(browser(app), account)
    for agent, ip in others or ((FIREFOX_WINDOWS, AWAY),):
        signed_in(browser(app, agent, ip), account)
    return alert_links(mailbox, account)


def confirm(client, path):
    """Press "Secure my account" on the page a link opened: POST with that page's CSRF token."""
    page = client.get(path)
    assert page.status_code == 200, page.status_code
    return client.post(path, data={"csrf_token": csrf_token(page)})


def stored(app, account) -> dict:
    return stored_user(app, account.id)


def live_credentials(app, account) -> int:
    with app.app_context():
        return len(db.session.scalars(
            select(Credential).where(Credential.user_id == account.id, Credential.revoked_at.is_(None))
        ).all())


def reset_through_api(client, mailbox, address, new_password=NEW_PASSWORD):
    """Ask for a reset link for ``address``, then use the newest one mailed there."""
    assert client.post("/api/users/reset_password/", json={"email": address}).status_code == 204
    uid, token = RESET_LINK.search(body(mails(mailbox, address)[-1])).groups()
    confirmed = client.post(
        "/api/users/reset_password_confirm/", json={"uid": uid, "token": token, "new_password": new_password}
    )
    assert confirmed.status_code == 204, confirmed.get_json()


def mailed_sign_in_code(client, mailbox, address) -> str:
    assert client.post("/api/auth/code/", json={"email": address}).status_code == 204
    return mailbox.code_for(address)


def age_every_proof(app, minutes=11):
    with app.app_context():
        db.session.execute(update(Credential).values(proven_at=utcnow() - timedelta(minutes=minutes)))
        db.session.commit()


# 1. HEAD acts like nothing ---------------------------------------------------------------------------------


def test_a_head_request_to_a_this_wasnt_me_link_secures_nothing_and_the_link_still_works(app, user, mailbox):
    [path] = alerted(app, user, mailbox)
    before = live_credentials(app, user)

    checker = browser(app, "LinkChecker/10.0", ip="192.0.2.1")
    for _ in range(2):
        answer = checker.head(path)
        assert answer.status_code == 200 and answer.get_data() == b""

    assert stored(app, user)["password_reset_required"] is False
    assert live_credentials(app, user) == before > 0
    assert mails(mailbox, user.email, SECURED_SUBJECT) == []
    # The owner's own confirmation still works afterwards.
    assert confirm(browser(app, FIREFOX_WINDOWS, AWAY), path).status_code == 200
    assert stored(app, user)["password_reset_required"] is True


def test_a_head_request_to_secure_my_account_secures_nothing(app, user, mailbox):
    client = signed_in(browser(app), user)

    assert client.head("/profile/sessions/secure").status_code == 200

    assert stored(app, user)["password_reset_required"] is False
    assert is_signed_in(client) and mails(mailbox, user.email, SECURED_SUBJECT) == []


# 2. Older alert links die with a recovery ------------------------------------------------------------------


def test_an_older_alert_link_is_dead_after_a_password_reset_and_the_new_session_lives(app, user, mailbox):
    [old_link] = alerted(app, user, mailbox)
    reset_through_api(browser(app), mailbox, user.email)
    recovered = signed_in(browser(app), user, password=NEW_PASSWORD)

    page = browser(app, FIREFOX_WINDOWS, AWAY).get(old_link)
    assert page.status_code == 410
    # Even with a CSRF token from another page of the site, the POST does nothing.
    attacker = browser(app, FIREFOX_WINDOWS, AWAY)
    token = csrf_token(attacker.get("/login"))
    assert attacker.post(old_link, data={"csrf_token": token}).status_code == 410
    assert stored(app, user)["password_reset_required"] is False
    assert is_signed_in(recovered)


def test_an_intruder_who_changes_the_password_first_cannot_disarm_the_owners_alert_link(app, user, mailbox):
    signed_in(browser(app), user)
    intruder = signed_in(browser(app, FIREFOX_WINDOWS, AWAY), user)
    [link] = alert_links(mailbox, user)
    changed = submit(intruder, "/profile/password", {
        "current_password": PASSWORD, "new_password": NEW_PASSWORD, "confirm_password": NEW_PASSWORD,
    })
    assert changed.status_code == 302

    # The owner is told of the change, and the alert's link still ends the intruder's session.
    [told] = mails(mailbox, user.email, "A change to how you sign in")
    assert "Password changed" in body(told)
    assert confirm(browser(app, CHROME_LINUX, HOME), link).status_code == 200
    assert not is_signed_in(intruder)
    assert stored(app, user)["password_reset_required"] is True


def test_securing_the_account_with_one_alert_link_spends_every_other(app, user, mailbox):
    first, second = alerted(app, user, mailbox, (FIREFOX_WINDOWS, AWAY), (SAFARI_MAC, FARTHER))

    assert confirm(browser(app, FIREFOX_WINDOWS, AWAY), first).status_code == 200
    reset_through_api(browser(app), mailbox, user.email)
    recovered = signed_in(browser(app), user, password=NEW_PASSWORD)

    assert browser(app, SAFARI_MAC, FARTHER).get(second).status_code == 410
    assert is_signed_in(recovered) and stored(app, user)["password_reset_required"] is False


def test_secure_my_account_on_the_sessions_page_spends_the_alert_links(app, user, mailbox):
    [path] = alerted(app, user, mailbox)
    client = signed_in(browser(app), user)
    assert submit(client, "/profile/sessions/secure").status_code == 200

    assert browser(app, FIREFOX_WINDOWS, AWAY).get(path).status_code == 410


# 3. Codes, links and pending second steps end with the events that recover an account ----------------------


def test_a_sign_in_code_mailed_before_a_password_reset_signs_nobody_in_after_it(app, client, user, mailbox):
    code = mailed_sign_in_code(client, mailbox, user.email)

    reset_through_api(client, mailbox, user.email)

    answer = client.post("/api/token/code/", json={"email": user.email, "code": code})
    assert answer.status_code == 400 and answer.get_json() == INVALID_CODE
    assert live_credentials(app, user) == 0


def test_a_sign_in_code_mailed_before_a_password_change_signs_nobody_in_after_it(app, client, user, mailbox, bearer):
    headers = bearer(user)
    code = mailed_sign_in_code(client, mailbox, user.email)

    changed = client.post("/api/users/me/set_password/", headers=headers,
                          json={"current_password": PASSWORD, "new_password": NEW_PASSWORD})
    assert changed.status_code == 204

    answer = client.post("/api/token/code/", json={"email": user.email, "code": code})
    assert answer.status_code == 400 and answer.get_json() == INVALID_CODE


def test_a_sign_in_code_mailed_before_this_wasnt_me_signs_nobody_in_after_it(app, client, user, mailbox):
    [path] = alerted(app, user, mailbox)
    code = mailed_sign_in_code(client, mailbox, user.email)

    assert confirm(browser(app, FIREFOX_WINDOWS, AWAY), path).status_code == 200

    answer = client.post("/api/token/code/", json={"email": user.email, "code": code})
    assert answer.status_code == 400 and answer.get_json() == INVALID_CODE
    assert live_credentials(app, user) == 0


def test_a_sign_in_code_mailed_before_a_deactivation_signs_nobody_in_after_reactivation(
    app, client, make_user, mailbox
):
    member = make_user("member@example.com")
    admin = make_user("admin@example.com", staff=True, superuser=True)
    staff = signed_in(browser(app), admin)
    code = mailed_sign_in_code(client, mailbox, member.email)

    for action in ("deactivate", "activate"):
        token = csrf_token(staff.get(f"/admin/users/{member.id}"))
        done = staff.post(f"/admin/users/{member.id}/{action}", data={"csrf_token": token, "confirmed": "yes"})
        assert done.status_code == 302, action
    assert stored(app, member)["is_active"] is True

    answer = client.post("/api/token/code/", json={"email": member.email, "code": code})
    assert answer.status_code == 400 and answer.get_json() == INVALID_CODE


def test_a_reset_link_mailed_before_the_account_was_secured_no_longer_works(app, client, user, mailbox):
    [path] = alerted(app, user, mailbox)
    assert client.post("/api/users/reset_password/", json={"email": user.email}).status_code == 204
    old_uid, old_token = RESET_LINK.search(body(mails(mailbox, user.email)[-1])).groups()

    assert confirm(browser(app, FIREFOX_WINDOWS, AWAY), path).status_code == 200

    old = client.post("/api/users/reset_password_confirm/",
                      json={"uid": old_uid, "token": old_token, "new_password": NEW_PASSWORD})
    assert old.status_code == 400 and set(old.get_json()) == {"token"}
    # The link in the "account secured" mail, made after, works.
    [secured] = mails(mailbox, user.email, SECURED_SUBJECT)
    uid, token = RESET_LINK.search(body(secured)).groups()
    new = client.post("/api/users/reset_password_confirm/",
                      json={"uid": uid, "token": token, "new_password": NEW_PASSWORD})
    assert new.status_code == 204


def test_a_second_step_begun_with_a_code_before_a_reset_cannot_be_finished_after_it(
    app, client, user, mailbox, clock
):
    secret, _ = set_up_totp(app, user, clock)
    code = mailed_sign_in_code(client, mailbox, user.email)
    first = client.post("/api/token/code/", json={"email": user.email, "code": code})
    assert first.status_code == 401 and first.get_json()["mfa_required"] is True

    reset_through_api(browser(app), mailbox, user.email)

    mfa_token = first.get_json()["mfa_token"]
    second = client.post("/api/token/mfa/", json={"mfa_token": mfa_token, "code": clock.code(secret)})
    assert second.status_code == 401 and "access" not in second.get_json()
    assert live_credentials(app, user) == 0


def test_a_verification_code_mailed_before_a_password_change_verifies_nothing_after_it(
    app, client, user, bearer, mailbox
):
    headers = bearer(user)
    assert client.patch("/api/users/me/", headers=headers, json={"email": "new@example.com"}).status_code == 200
    code = mailbox.code_for("new@example.com")

    changed = client.post("/api/users/me/set_password/", headers=headers,
                          json={"current_password": PASSWORD, "new_password": NEW_PASSWORD})
    assert changed.status_code == 204

    answer = client.post("/api/v1/accounts/users/verify-otp/", json={"email": "new@example.com", "otp": code})
    assert answer.status_code == 400 and set(answer.get_json()) == {"otp"}
    assert stored(app, user)["email_verified"] is False


# 4. Turning sign-in alerts off needs a recent proof, however "off" is spelled -----------------------------


@pytest.mark.parametrize("off", ["false", "", None])
def test_turning_sign_in_alerts_off_from_an_old_session_asks_for_the_password(app, user, off):
    client = signed_in(browser(app), user)
    age_every_proof(app)
    data = {"csrf_token": csrf_token(client.get("/profile/sessions"))}
    if off is not None:
        data["sign_in_alerts"] = off

    answer = client.post("/profile/sessions/alerts", data=data)

    assert answer.status_code == 403 and "Confirm it" in text_of(answer)
    assert stored(app, user)["sign_in_alerts"] is True


def test_turning_sign_in_alerts_on_from_an_old_session_needs_no_new_proof(app, user):
    client = signed_in(browser(app), user)
    with app.app_context():
        db.session.execute(update(User).where(User.id == user.id).values(sign_in_alerts=False))
        db.session.commit()
    age_every_proof(app)

    answer = client.post("/profile/sessions/alerts",
                         data={"csrf_token": csrf_token(client.get("/profile/sessions")), "sign_in_alerts": "y"})

    assert answer.status_code == 302 and stored(app, user)["sign_in_alerts"] is True


# 5. Two addresses are the same only when their normalised forms are ------------------------------------------

STRASSE, STRASSE_SHARP = "owner@strasse.example.com", "owner@straße.example.com"


def test_moving_the_address_to_its_case_folding_twin_with_an_old_token_is_refused(app, client, make_user, bearer,
                                                                                   mailbox):
    owner = make_user(STRASSE)
    headers = bearer(owner)
    age_every_proof(app)

    answer = client.patch(f"/api/v1/accounts/users/{owner.id}/", headers=headers, json={"email": STRASSE_SHARP})

    assert answer.status_code == 403
    assert answer.get_json()["detail"].startswith("Changing the email address needs a recent sign-in")
    assert stored(app, owner)["email"] == STRASSE and stored(app, owner)["email_verified"] is True
    # A reset asked for the twin goes nowhere.
    assert client.post("/api/users/reset_password/", json={"email": STRASSE_SHARP}).status_code == 204
    assert mailbox.messages == []


def test_moving_the_address_to_its_twin_with_a_fresh_token_is_an_email_change(app, client, make_user, bearer, mailbox):
    owner = make_user(STRASSE)

    answer = client.patch(f"/api/v1/accounts/users/{owner.id}/", headers=bearer(owner), json={"email": STRASSE_SHARP})

    assert answer.status_code == 200 and answer.get_json()["email"] == STRASSE_SHARP
    assert stored(app, owner)["email_verified"] is False
    assert len(mails(mailbox, STRASSE_SHARP, "Your verification code")) == 1
    assert len(mails(mailbox, STRASSE, "Your email address was changed")) == 1


def test_the_twins_are_two_addresses_for_sign_in_reset_codes_and_sign_up(app, client, make_user, mailbox):
    owner = make_user(STRASSE)

    assert client.post("/api/token/", json={"email": STRASSE_SHARP, "password": PASSWORD}).status_code == 401
    assert client.post("/api/users/reset_password/", json={"email": STRASSE_SHARP}).status_code == 204
    assert client.post("/api/auth/code/", json={"email": STRASSE_SHARP}).status_code == 204
    assert mailbox.messages == []
    signed_up = client.post("/api/v1/accounts/users/", json={
        "email": STRASSE_SHARP, "password": NEW_PASSWORD, "confirm_password": NEW_PASSWORD,
    })
    assert signed_up.status_code == 201, signed_up.get_json()
    assert stored(app, owner)["email"] == STRASSE


@pytest.mark.parametrize("same", [
    "OWNER@Strasse.Example.COM", "  owner@STRASSE.example.com ",
])
def test_the_same_address_in_other_letters_is_taken_and_signs_in(client, make_user, same):
    make_user(STRASSE)

    assert client.post("/api/token/", json={"email": same, "password": PASSWORD}).status_code == 200
    taken = client.post("/api/v1/accounts/users/", json={
        "email": same, "password": NEW_PASSWORD, "confirm_password": NEW_PASSWORD,
    })
    assert taken.status_code == 400 and set(taken.get_json()) == {"email"}


def test_an_address_typed_with_its_punycode_domain_is_the_same_address(client, make_user):
    make_user(STRASSE_SHARP)

    assert client.post("/api/token/", json={
        "email": "owner@xn--strae-oqa.example.com", "password": PASSWORD,
    }).status_code == 200
    taken = client.post("/api/v1/accounts/users/", json={
        "email": "OWNER@XN--STRAE-OQA.example.com", "password": NEW_PASSWORD, "confirm_password": NEW_PASSWORD,
    })
    assert taken.status_code == 400 and set(taken.get_json()) == {"email"}


def test_the_profile_page_asks_for_a_proof_before_moving_to_the_twin(app, make_user, mailbox):
    owner = make_user(STRASSE)
    client = signed_in(browser(app), owner)
    age_every_proof(app)

    answer = submit(client, "/profile/edit", {"email": STRASSE_SHARP})

    assert answer.status_code == 403 and "Confirm it" in text_of(answer)
    assert stored(app, owner)["email"] == STRASSE


def test_a_blank_address_on_the_profile_page_is_a_field_error_not_a_proof_prompt(app, user):
    client = signed_in(browser(app), user)
    age_every_proof(app)

    answer = submit(client, "/profile/edit", {"email": ""})

    assert answer.status_code == 400 and "Confirm it" not in text_of(answer)
    assert stored(app, user)["email"] == user.email


def test_the_same_address_in_other_letters_on_the_profile_page_needs_no_proof_and_no_code(app, user, mailbox):
    client = signed_in(browser(app), user)
    age_every_proof(app)

    saved = submit(client, "/profile/edit", {"email": user.email.upper(), "first_name": "Kept"},
                   follow_redirects=True)

    assert saved.status_code == 200 and "Your profile is saved." in flashes(saved)
    assert not any("We mailed a code" in message for message in flashes(saved))
    assert stored(app, user)["email_verified"] is True and stored(app, user)["first_name"] == "Kept"
    assert mails(mailbox, user.email.upper()) == [] and mails(mailbox, user.email) == []


def state_of_accounts(app) -> dict:
    """What a request that acts would change: audit events, each user's row version and flags,
    live credentials, spent alerts, outstanding codes."""
    with app.app_context():
        return {
            "audit": db.session.scalar(select(func.count()).select_from(AuditEvent)),
            "users": db.session.execute(
                select(User.id, User.version, User.security_stamp, User.password_reset_required, User.is_active)
                .order_by(User.id)
            ).all(),
            "live": db.session.scalar(
                select(func.count()).select_from(Credential).where(Credential.revoked_at.is_(None))
            ),
            "alerts_used": db.session.scalar(
                select(func.count()).select_from(SignInAlert).where(SignInAlert.used_at.is_not(None))
            ),
            "codes": db.session.scalar(select(func.count()).select_from(EmailCode)),
        }


def test_a_head_request_to_every_page_of_the_site_changes_nothing(app, client, make_user, jwt_pair, api_key):
    app.config["WTF_CSRF_ENABLED"] = False  # the tour signs in without reading tokens off pages
    world = build_world(app, client, make_user, jwt_pair, api_key)
    before = state_of_accounts(app)

    for endpoint, url in page_urls(world).items():
        visitor = world.anonymous if endpoint in ANONYMOUS_PAGES else world.browser
        # /readyz is 503 here: the test database is made by create_all, not by the migrations.
        assert visitor.head(url).status_code in ((200, 302) if endpoint != "health.readyz" else (503,)), url

    assert state_of_accounts(app) == before
    assert is_signed_in(world.browser)
