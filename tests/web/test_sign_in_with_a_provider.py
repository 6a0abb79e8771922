"""Signing in with another account, through the pages, against a real OpenID Connect provider (npm's
oidc-provider, on loopback) and a GitHub stand-in: each linking rule, the pre-hijack cases, and
each way the trip to a provider can go wrong.

A test drives the trip as a browser would: the portal's POST answers a redirect to the provider,
the provider signs in whoever the test set and redirects back, and the test client follows that
redirect to the portal's callback with its own cookies.
"""

import re

import pytest
import requests
from sqlalchemy import select

from portal.extensions import db
from portal.http import SESSION_CREDENTIAL
from portal.models import AuditEvent, Credential, LinkedIdentity, User
from tests.conftest import PASSWORD, fresh_app
from tests.providers.fixtures import GITHUB_CLIENT_ID, GITHUB_CLIENT_SECRET
from tests.two_step import set_up_totp

PORTAL = "http://localhost"
VICTIM = "victim@example.com"


def providers_config(oidc_provider, github_stand_in):
    return {
        "idp": {
            "kind": "oidc", "name": "Example ID", "issuer": oidc_provider.issuer,
            "client_id": "portal-web", "client_secret": "portal-web-secret", "audiences": ["portal-mobile"],
        },
        "github": {
            "kind": "github", "name": "GitHub", "client_id": GITHUB_CLIENT_ID, "client_secret": GITHUB_CLIENT_SECRET,
            "authorize_url": github_stand_in.authorize_url, "token_url": github_stand_in.token_url,
            "api_url": github_stand_in.api_url,
        },
    }


@pytest.fixture
def app(tmp_path, oidc_provider, github_stand_in):
    yield from fresh_app(tmp_path, SOCIAL_PROVIDERS=providers_config(oidc_provider, github_stand_in))


def leave_for(client, path, **form):
    """POST a button's form; the redirect to the provider it answers."""
    answer = client.post(path, data=form)
    assert answer.status_code == 302, answer.get_data(as_text=True)
    return answer.location


def come_back(client, url):
    """Follow the provider's redirect back to the portal."""
    assert url.startswith(PORTAL + "/"), url
    return client.get(url.removeprefix(PORTAL))


def through_idp(client, oidc_provider, path="/login/idp", **person):
    """The whole trip to the OpenID provider and back, signed in there as ``person``."""
    oidc_provider.sign_in_as(**person)
    return come_back(client, oidc_provider.follow(leave_for(client, path)).url)


def through_github(client, github, path="/login/github"):
    location = requests.get(leave_for(client, path), allow_redirects=False, timeout=10).headers["Location"]
    return come_back(client, location)


def signed_in_as(client) -> str | None:
    """Whose live browser session this client holds, if any."""
    if client.get("/profile/").status_code != 200:
        return None
    with client.session_transaction() as session:
        public_id = session.get(SESSION_CREDENTIAL)
    with client.application.app_context():
        credential = db.session.scalar(select(Credential).where(Credential.public_id == public_id))
        return credential.user.email


def identities(app, email=None):
    with app.app_context():
        query = select(LinkedIdentity)
        if email is not None:
            query = query.join(User, User.id == LinkedIdentity.user_id).where(User.email == email)
        return [(i.provider, i.subject, i.email) for i in db.session.scalars(query)]


def account(app, email):
    with app.app_context():
        return db.session.scalar(select(User).where(User.email == email))


def actions(app, email):
    with app.app_context():
        return [e.action for e in db.session.scalars(
            select(AuditEvent).where(AuditEvent.subject_label == email).order_by(AuditEvent.id)
        )]


# The buttons -------------------------------------------------------------------------------------


def test_sign_in_and_sign_up_pages_show_a_post_button_per_provider(client):
    for path in ("/login", "/register"):
        page = client.get(path).get_data(as_text=True)
        assert '<form method="post" action="/login/idp"' in page
        assert '<form method="post" action="/login/github"' in page
        assert "Continue with Example ID" in page and "Continue with GitHub" in page


def test_without_providers_no_page_changes(tmp_path):
    for plain in fresh_app(tmp_path):
        page = plain.test_client().get("/login").get_data(as_text=True)
        assert "Continue with" not in page and "/login/idp" not in page


def test_the_trip_out_carries_state_nonce_and_a_s256_code_challenge(client):
    location = leave_for(client, "/login/idp")
    query = dict(re.findall(r"[?&]([^=&]+)=([^&]*)", location))
    assert query["code_challenge_method"] == "S256" and len(query["code_challenge"]) >= 43
    assert query["state"] and query["nonce"]
    assert query["redirect_uri"] == "http%3A%2F%2Flocalhost%2Flogin%2Fidp%2Fcallback"


def test_a_get_never_starts_a_trip(client):
    assert client.get("/login/idp").status_code == 405


def test_an_unknown_provider_is_a_404(client):
    assert client.post("/login/nobody").status_code == 404


# New accounts ------------------------------------------------------------------------------------


def test_a_vouched_address_with_no_account_makes_one_without_a_password_and_signs_in(app, client, oidc_provider):
    answer = through_idp(client, oidc_provider, sub="alice-1", email="alice@example.com",
                         given_name="Alice", family_name="Liddell")

    assert answer.status_code == 302 and answer.location.endswith("/profile/")
    assert signed_in_as(client) == "alice@example.com"
    made = account(app, "alice@example.com")
    assert made.email_verified and made.activated_at is not None
    assert (made.first_name, made.last_name) == ("Alice", "Liddell")
    assert made.password_hash == ""  # no password matches it
    assert identities(app) == [("idp", "alice-1", "alice@example.com")]
    assert actions(app, "alice@example.com") == ["account_created", "identity_linked", "signed_in"]
    with app.app_context():
        signed_in = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "signed_in"))
        assert signed_in.changes["method"] == [None, "provider:idp"]


def test_an_account_made_through_a_provider_has_no_password_to_sign_in_with(app, client, oidc_provider):
    through_idp(client, oidc_provider, sub="alice-1", email="alice@example.com")
    client.post("/logout")

    for guess in ("x", "Tr0ub4dor&3-staple", "!"):
        refused = client.post("/login", data={"login": "alice@example.com", "password": guess})
        assert "The email, username or password is not right." in refused.get_data(as_text=True)


def test_an_address_the_provider_does_not_vouch_for_makes_an_account_that_waits_for_our_code(
    app, client, oidc_provider, mailbox
):
    answer = through_idp(client, oidc_provider, sub="bob-1", email="bob@example.com", email_verified=False)

    assert answer.status_code == 302 and answer.location.endswith("/verify")
    assert signed_in_as(client) is None
    assert account(app, "bob@example.com").activated_at is None
    code = mailbox.code_for("bob@example.com")
    verified = client.post("/verify", data={"email": "bob@example.com", "otp": code})
    assert verified.status_code == 302
    assert signed_in_as(client) == "bob@example.com"


def test_a_linked_account_still_waiting_for_its_code_is_not_signed_in_by_the_provider(app, client, oidc_provider):
    through_idp(client, oidc_provider, sub="bob-1", email="bob@example.com", email_verified=False)

    again = through_idp(client, oidc_provider, sub="bob-1", email="bob@example.com", email_verified=False)

    assert again.status_code == 302 and again.location.endswith("/login")
    assert signed_in_as(client) is None


# Linked identities -------------------------------------------------------------------------------


def test_a_linked_identity_signs_in_to_its_account_whatever_address_the_provider_now_gives(
    app, client, oidc_provider
):
    through_idp(client, oidc_provider, sub="alice-1", email="alice@example.com")
    client.post("/logout")

    # The address at the provider changed since: the subject, not the address, names the account.
    through_idp(client, oidc_provider, sub="alice-1", email="alice.new@example.com")

    assert signed_in_as(client) == "alice@example.com"
    assert account(app, "alice.new@example.com") is None


def test_a_linked_account_with_a_second_factor_is_still_asked_for_it(app, client, oidc_provider, clock):
    through_idp(client, oidc_provider, sub="alice-1", email="alice@example.com")
    secret, _codes = set_up_totp(app, account(app, "alice@example.com"), clock)
    client.post("/logout")

    answer = through_idp(client, oidc_provider, sub="alice-1", email="alice@example.com")

    assert answer.location.endswith("/login/second-step")
    assert signed_in_as(client) is None
    done = client.post("/login/second-step", data={"code": clock.code(secret)})
    assert done.status_code == 302 and signed_in_as(client) == "alice@example.com"
    with app.app_context():
        last = db.session.scalar(
            select(AuditEvent).where(AuditEvent.action == "signed_in").order_by(AuditEvent.id.desc())
        )
        assert last.changes["method"] == [None, "provider:idp+totp"]


def test_a_deactivated_account_is_not_signed_in_by_its_linked_identity(app, client, oidc_provider):
    through_idp(client, oidc_provider, sub="alice-1", email="alice@example.com")
    client.post("/logout")
    with app.app_context():
        db.session.scalar(select(User).where(User.email == "alice@example.com")).is_active = False
        db.session.commit()

    answer = through_idp(client, oidc_provider, sub="alice-1", email="alice@example.com")

    assert answer.location.endswith("/login") and signed_in_as(client) is None


# An address that already has an account ---------------------------------------------------------


def test_an_existing_address_is_not_signed_in_but_linked_once_its_account_signs_in_here(
    app, client, oidc_provider, make_user, mailbox
):
    make_user(VICTIM)

    offered = through_idp(client, oidc_provider, sub="v-1", email=VICTIM)

    assert offered.status_code == 409
    assert "An account with the address" in offered.get_data(as_text=True)
    assert signed_in_as(client) is None and identities(app) == []
    client.post("/login", data={"login": VICTIM, "password": PASSWORD})
    assert identities(app, VICTIM) == [("idp", "v-1", VICTIM)]
    assert "identity_linked" in actions(app, VICTIM)
    told = [m.get_body(("plain",)).get_content() for m in mailbox.sent_to(VICTIM)]
    assert any("Account at another provider connected" in text and "Example ID" in text for text in told)
    # From now on the provider signs that account in.
    client.post("/logout")
    through_idp(client, oidc_provider, sub="v-1", email=VICTIM)
    assert signed_in_as(client) == VICTIM


def test_an_offer_is_never_applied_to_another_account_that_signs_in(app, client, oidc_provider, make_user):
    make_user(VICTIM)
    make_user("someone.else@example.com")
    through_idp(client, oidc_provider, sub="v-1", email=VICTIM)

    client.post("/login", data={"login": "someone.else@example.com", "password": PASSWORD})

    assert identities(app) == []


def test_pre_hijack_an_attackers_unvouched_address_never_reaches_the_victims_account(
    app, client, oidc_provider, make_user
):
    make_user(VICTIM)

    refused = through_idp(client, oidc_provider, sub="attacker", email=VICTIM, email_verified=False)

    assert refused.status_code == 409
    assert "did not confirm the address is yours" in refused.get_data(as_text=True)
    assert signed_in_as(client) is None
    # Even when the victim later signs in in that very browser, nothing was offered to link.
    client.post("/login", data={"login": VICTIM, "password": PASSWORD})
    assert identities(app) == []


def test_pre_hijack_an_unfinished_sign_up_by_an_attacker_is_replaced_by_the_vouched_owner(
    app, client, oidc_provider
):
    attacker = app.test_client()
    attacker.post("/register", data={
        "email": VICTIM, "password": "Attacker-chosen-9", "confirm_password": "Attacker-chosen-9",
    })
    assert account(app, VICTIM).activated_at is None

    through_idp(client, oidc_provider, sub="v-1", email=VICTIM)

    assert signed_in_as(client) == VICTIM
    assert account(app, VICTIM).password_hash == ""
    refused = attacker.post("/login", data={"login": VICTIM, "password": "Attacker-chosen-9"})
    assert "The email, username or password is not right." in refused.get_data(as_text=True)


# The trip going wrong ----------------------------------------------------------------------------


def test_a_callback_without_or_with_a_wrong_state_is_refused_with_400(client, oidc_provider):
    oidc_provider.sign_in_as(sub="alice-1", email="alice@example.com")
    back = oidc_provider.follow(leave_for(client, "/login/idp")).url

    missing = client.get(re.sub(r"state=[^&]+&?", "", back).removeprefix(PORTAL))
    wrong = client.get(re.sub(r"state=[^&]+", "state=forged", back).removeprefix(PORTAL))

    for answer in (missing, wrong):
        assert answer.status_code == 400
        assert "could not be trusted" in answer.get_data(as_text=True)
    assert signed_in_as(client) is None


def test_a_replayed_callback_is_refused(client, oidc_provider):
    oidc_provider.sign_in_as(sub="alice-1", email="alice@example.com")
    back = oidc_provider.follow(leave_for(client, "/login/idp")).url
    with client.session_transaction() as kept:
        cookie_state = dict(kept)
    come_back(client, back)
    client.post("/logout")
    with client.session_transaction() as session:  # the browser's session as it was before the callback
        session.update(cookie_state)

    replayed = come_back(client, back)

    assert replayed.status_code == 400 and signed_in_as(client) is None


def test_an_id_token_with_another_nonce_is_refused_and_logged(client, oidc_provider, caplog):
    oidc_provider.sign_in_as(sub="alice-1", email="alice@example.com")
    back = oidc_provider.follow(leave_for(client, "/login/idp")).url
    with client.session_transaction() as session:
        for key, kept in session.items():
            if key.startswith("_state_idp_"):
                kept["data"]["nonce"] = "not-the-one-sent"
                session[key] = kept

    answer = come_back(client, back)

    assert answer.status_code == 400 and signed_in_as(client) is None
    assert any("Sign-in with idp refused" in record.getMessage() for record in caplog.records)


def test_a_code_exchanged_without_its_pkce_verifier_is_refused(client, oidc_provider):
    oidc_provider.sign_in_as(sub="alice-1", email="alice@example.com")
    back = oidc_provider.follow(leave_for(client, "/login/idp")).url
    with client.session_transaction() as session:
        for key, kept in session.items():
            if key.startswith("_state_idp_"):
                kept["data"].pop("code_verifier")
                session[key] = kept

    assert come_back(client, back).status_code == 400
    assert signed_in_as(client) is None


def test_cancelling_at_the_provider_comes_back_to_login_with_a_message(client, oidc_provider):
    oidc_provider.deny_next()
    back = oidc_provider.follow(leave_for(client, "/login/idp")).url

    answer = come_back(client, back)

    assert answer.status_code == 302 and answer.location.endswith("/login")
    assert "You cancelled signing in with Example ID." in client.get("/login").get_data(as_text=True)


def test_a_provider_that_cannot_be_reached_is_a_503_page_naming_it(tmp_path, github_stand_in):
    from bench.cluster import free_port

    closed = f"http://127.0.0.1:{free_port()}"
    for app in fresh_app(tmp_path, SOCIAL_PROVIDERS={
        "idp": {"kind": "oidc", "name": "Example ID", "issuer": closed, "client_id": "x", "client_secret": "y"},
    }):
        client = app.test_client()
        assert "Continue with Example ID" in client.get("/login").get_data(as_text=True)  # the portal started

        answer = client.post("/login/idp")

        assert answer.status_code == 503
        assert "Example ID cannot be reached just now" in answer.get_data(as_text=True)


# GitHub --------------------------------------------------------------------------------------------


def test_github_vouches_only_for_a_verified_primary_address(app, client, github_stand_in, mailbox):
    github_stand_in.sign_in_as(7, "octo", "Octo Cat", emails=[
        {"email": "octo@example.com", "primary": True, "verified": True},
    ])
    answer = through_github(client, github_stand_in)
    assert answer.location.endswith("/profile/") and signed_in_as(client) == "octo@example.com"
    assert identities(app) == [("github", "7", "octo@example.com")]
    made = account(app, "octo@example.com")
    assert (made.first_name, made.last_name) == ("Octo", "Cat")

    client.post("/logout")
    github_stand_in.sign_in_as(8, "other", emails=[
        {"email": "other@example.com", "primary": True, "verified": False},
        {"email": "verified@example.com", "primary": False, "verified": True},
    ])
    waiting = through_github(client, github_stand_in)
    assert waiting.location.endswith("/verify") and signed_in_as(client) is None
    assert account(app, "other@example.com").activated_at is None
    assert account(app, "verified@example.com") is None


# The Security page -------------------------------------------------------------------------------


def test_security_page_lists_connected_accounts_and_connects_another(app, client, oidc_provider, github_stand_in):
    through_idp(client, oidc_provider, sub="alice-1", email="alice@example.com")
    page = client.get("/profile/security").get_data(as_text=True)
    assert "Connected accounts" in page and "Example ID" in page
    assert 'action="/profile/security/connect/github"' in page

    github_stand_in.sign_in_as(
        7, "alice-gh", emails=[{"email": "alice@users.example", "primary": True, "verified": True}]
    )
    answer = through_github(client, github_stand_in, path="/profile/security/connect/github")

    assert answer.location.endswith("/profile/security")
    assert sorted(identities(app, "alice@example.com")) == [
        ("github", "7", "alice@users.example"), ("idp", "alice-1", "alice@example.com"),
    ]


def test_an_identity_connected_to_one_account_cannot_be_connected_to_another(
    app, client, oidc_provider, make_user, github_stand_in
):
    through_idp(client, oidc_provider, sub="alice-1", email="alice@example.com")
    client.post("/logout")
    make_user("carol@example.com")
    client.post("/login", data={"login": "carol@example.com", "password": PASSWORD})

    answer = through_idp(client, oidc_provider, path="/profile/security/connect/idp", sub="alice-1",
                         email="alice@example.com")

    assert answer.status_code == 409
    assert identities(app, "carol@example.com") == []


def test_removing_the_last_way_in_is_refused_until_a_password_is_set(app, client, oidc_provider):
    through_idp(client, oidc_provider, sub="alice-1", email="alice@example.com")
    with app.app_context():
        linked_id = db.session.scalar(select(LinkedIdentity.id))

    refused = client.post(f"/profile/security/connected/{linked_id}/remove", follow_redirects=True)
    assert "only way to sign in" in refused.get_data(as_text=True)
    assert len(identities(app)) == 1

    set_up = client.post("/profile/security/password", data={
        "new_password": "A-new-password-42", "confirm_password": "A-new-password-42",
    })
    assert set_up.status_code == 302
    removed = client.post(f"/profile/security/connected/{linked_id}/remove")
    assert removed.status_code == 302 and identities(app) == []
    assert "identity_unlinked" in actions(app, "alice@example.com")


def test_removing_needs_a_recent_sign_in(app, client, oidc_provider, clock):
    through_idp(client, oidc_provider, sub="alice-1", email="alice@example.com")
    client.post("/profile/security/password", data={
        "new_password": "A-new-password-42", "confirm_password": "A-new-password-42",
    })
    with app.app_context():
        linked_id = db.session.scalar(select(LinkedIdentity.id))
    clock.advance(seconds=app.config["REAUTHENTICATION_AFTER"].total_seconds() + 60)

    asked = client.post(f"/profile/security/connected/{linked_id}/remove")

    assert asked.status_code == 403 and len(identities(app)) == 1


def test_someone_elses_identity_is_a_404(app, client, oidc_provider, make_user):
    through_idp(client, oidc_provider, sub="alice-1", email="alice@example.com")
    client.post("/logout")
    with app.app_context():
        linked_id = db.session.scalar(select(LinkedIdentity.id))
    make_user("carol@example.com")
    client.post("/login", data={"login": "carol@example.com", "password": PASSWORD})

    assert client.post(f"/profile/security/connected/{linked_id}/remove").status_code == 404
    assert len(identities(app)) == 1


def test_an_account_without_a_password_confirms_its_a_person_at_its_provider(app, client, oidc_provider, clock):
    through_idp(client, oidc_provider, sub="alice-1", email="alice@example.com")
    clock.advance(seconds=app.config["REAUTHENTICATION_AFTER"].total_seconds() + 60)

    asked = client.post("/profile/security/password", data={
        "new_password": "A-new-password-42", "confirm_password": "A-new-password-42",
    })
    assert asked.status_code == 403
    prompt = asked.get_data(as_text=True)
    assert 'action="/profile/confirm/idp?next=/profile/security/password"' in prompt
    assert 'name="reauth_password"' not in prompt  # there is no password to give

    location = leave_for(client, "/profile/confirm/idp?next=/profile/security/password")
    assert "prompt=login" in location
    back = come_back(client, oidc_provider.follow(location).url)

    assert back.location.endswith("/profile/security/password")
    done = client.post("/profile/security/password", data={
        "new_password": "A-new-password-42", "confirm_password": "A-new-password-42",
    })
    assert done.status_code == 302 and account(app, "alice@example.com").password_hash.startswith("$argon2")


def test_confirming_with_an_identity_not_linked_to_this_account_proves_nothing(
    app, client, oidc_provider, make_user, clock
):
    make_user("carol@example.com")
    client.post("/login", data={"login": "carol@example.com", "password": PASSWORD})
    clock.advance(seconds=app.config["REAUTHENTICATION_AFTER"].total_seconds() + 60)

    oidc_provider.sign_in_as(sub="stranger", email="stranger@example.com")
    back = come_back(client, oidc_provider.follow(leave_for(client, "/profile/confirm/idp")).url)

    assert back.location.endswith("/profile/security")
    still_asked = client.post("/profile/security/connect/github")
    assert still_asked.status_code == 403


def test_staff_see_and_disconnect_a_persons_connected_account(app, client, oidc_provider, make_user, mailbox):
    through_idp(client, oidc_provider, sub="alice-1", email="alice@example.com")
    client.post("/logout")
    make_user("admin@example.com", staff=True, superuser=True)
    client.post("/login", data={"login": "admin@example.com", "password": PASSWORD})
    alice = account(app, "alice@example.com")
    with app.app_context():
        linked_id = db.session.scalar(select(LinkedIdentity.id))

    page = client.get(f"/admin/users/{alice.id}").get_data(as_text=True)
    assert "Example ID" in page and "None: signs in through another account" in page

    confirm = client.post(f"/admin/users/{alice.id}/identities/{linked_id}/remove")
    assert confirm.status_code == 200
    assert "Disconnect this account at another provider?" in confirm.get_data(as_text=True)
    done = client.post(f"/admin/users/{alice.id}/identities/{linked_id}/remove", data={"confirmed": "yes"})

    assert done.status_code == 302 and identities(app) == []
    assert "identity_unlinked" in actions(app, "alice@example.com")
    assert any("Account at another provider disconnected" in m.get_body(("plain",)).get_content()
               for m in mailbox.sent_to("alice@example.com"))


def test_the_new_browser_mail_names_the_provider(app, client, oidc_provider, mailbox):
    through_idp(client, oidc_provider, sub="alice-1", email="alice@example.com")
    another_browser = app.test_client()
    another_browser.environ_base["HTTP_USER_AGENT"] = (
        "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
    )

    through_idp(another_browser, oidc_provider, sub="alice-1", email="alice@example.com")

    told = mailbox.sent_to("alice@example.com")[-1].get_body(("plain",)).get_content()
    assert re.search(r"Signed in with:?\s+Example ID", told), told


def test_an_answer_naming_another_issuer_is_refused(client, oidc_provider):
    oidc_provider.sign_in_as(sub="alice-1", email="alice@example.com")
    back = oidc_provider.follow(leave_for(client, "/login/idp")).url
    assert "iss=" in back  # RFC 9207: the provider names itself in its answer

    mixed_up = come_back(client, re.sub(r"iss=[^&]+", "iss=https%3A%2F%2Fevil.example", back))

    assert mixed_up.status_code == 400 and signed_in_as(client) is None


def test_a_head_to_the_callback_spends_nothing_and_the_get_still_signs_in(app, client, oidc_provider):
    oidc_provider.sign_in_as(sub="alice-1", email="alice@example.com")
    back = oidc_provider.follow(leave_for(client, "/login/idp")).url.removeprefix(PORTAL)

    assert client.head(back).status_code == 200
    assert account(app, "alice@example.com") is None and signed_in_as(client) is None

    answer = client.get(back)
    assert answer.status_code == 302 and signed_in_as(client) == "alice@example.com"


def test_the_callback_answers_carry_the_security_headers_and_are_never_stored(client, oidc_provider):
    oidc_provider.sign_in_as(sub="alice-1", email="alice@example.com")
    back = oidc_provider.follow(leave_for(client, "/login/idp")).url.removeprefix(PORTAL)
    refused = client.get("/login/idp/callback?state=forged&code=x")

    for answer in (refused, client.get(back)):
        assert "default-src 'self'" in answer.headers["Content-Security-Policy"]
        assert oidc_provider.issuer in answer.headers["Content-Security-Policy"]  # form-action may lead there
        assert answer.headers["X-Frame-Options"] == "DENY"
    assert client.get("/profile/").headers["Cache-Control"] == "no-store"


def test_the_data_export_lists_connected_accounts(client, oidc_provider):
    through_idp(client, oidc_provider, sub="alice-1", email="alice@example.com")

    data = client.get("/profile/export").get_json()

    [connected] = data["connected_accounts"]
    assert (connected["provider"], connected["subject"]) == ("idp", "alice-1")
    assert connected["email"] == "alice@example.com" and connected["linked_at"].endswith("Z")
