"""Signing up, entering the mailed code, signing in and out: the pages a visitor meets first."""

import re
import time
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from urllib.parse import quote

import flask_limiter._extension as flask_limiter_extension
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import OutgoingMail, User
from portal.services.audit import SYSTEM
from portal.services.people import accounts
from portal.transactions import unit_of_work

from ..conftest import PASSWORD, free_port, stored_user, written_mail
from .conftest import (
    SESSION_COOKIE,
    credential_in_cookie,
    credential_row,
    credentials_of,
    field_errors,
    flashes,
    form_errors,
    is_signed_in,
    post,
    session_cookie,
    set_cookie_header,
    sign_in,
    signed_in,
    submit,
    text_of,
)

NEW_PASSWORD = "Quiet-harbour-1987"
NEW_EMAIL = "shirin@example.com"
BAD_CREDENTIALS = "The email, username or password is not right."


def user_count(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(User))


def user_id_by_email(app, email) -> int | None:
    with app.app_context():
        return db.session.scalar(select(User.id).where(User.email_canonical == email.lower()))


def register(client, **changes):
    form = {
        "email": NEW_EMAIL, "password": NEW_PASSWORD, "confirm_password": NEW_PASSWORD,
        "first_name": "شیرین", "last_name": "Ahmadi",
    }
    return submit(client, "/register", form | changes)


# Sign-up -----------------------------------------------------------------------------------------


def test_every_page_describes_itself_and_only_the_ways_in_ask_to_be_indexed(client, user):
    def head_of(url) -> str:
        return client.get(url).get_data(as_text=True).split("</head>")[0]

    def described(head) -> bool:
        return len(re.findall(r'<meta name="description" content="[^"]{40,160}">', head)) == 1

    for url in ("/login", "/register", "/login/code"):
        head = head_of(url)
        assert described(head), url
        assert 'name="robots"' not in head, url
    signed_in(client, user)
    for url in ("/verify", "/password/forgot", "/profile/", "/profile/edit", "/profile/activity", "/nope"):
        head = head_of(url)
        assert '<meta name="robots" content="noindex">' in head, url
        assert described(head), url


def test_sign_up_mails_a_code_and_entering_it_signs_this_browser_in(app, client, mailbox):
    registered = register(client)

    assert registered.status_code == 302
    assert registered.headers["Location"] == "/verify"
    assert not is_signed_in(client)
    code_page = client.get("/verify")
    assert 'value="shirin@example.com"' in code_page.get_data(as_text=True)  # the address is filled in
    assert [m["Subject"] for m in mailbox.sent_to(NEW_EMAIL)] == ["Your verification code"]

    verified = submit(client, "/verify", {"otp": mailbox.code_for(NEW_EMAIL)})

    assert verified.status_code == 302
    assert verified.headers["Location"] == "/profile/"
    profile = client.get("/profile/")
    assert profile.status_code == 200
    assert "شیرین Ahmadi" in text_of(profile)
    assert '<span class="badge badge-ok">verified</span>' in profile.get_data(as_text=True)
    row = stored_user(app, user_id_by_email(app, NEW_EMAIL))
    assert row["email_verified"] is True and row["activated_at"] is not None
    assert row["first_name"] == "شیرین"


def test_sign_up_with_a_taken_email_shows_it_on_the_email_field_and_writes_no_user(app, client, user, mailbox):
    before = user_count(app)

    page = register(client, email=user.email.upper())

    assert page.status_code == 400
    assert field_errors(page) == {"email": ["A user with that email already exists."]}
    assert 'aria-describedby="email-hint email-errors"' in page.get_data(as_text=True)
    assert user_count(app) == before
    assert mailbox.messages == []


WEAK_PASSWORDS = {
    "12345678901": "This password is entirely numeric.",
    "short1!": "This password is too short. It must contain at least 8 characters.",
    "password": "This password is too common.",
    "shirin@example": "The password is too similar to your account details.",
}


def test_sign_up_with_a_weak_password_shows_why_on_the_password_field_and_writes_no_user(app, client, mailbox):
    shown = {}
    for password in WEAK_PASSWORDS:
        page = register(client, password=password, confirm_password=password)
        assert page.status_code == 400
        assert set(field_errors(page)) == {"password"}
        shown[password] = field_errors(page)["password"]

    assert {password: WEAK_PASSWORDS[password] in messages for password, messages in shown.items()} == dict.fromkeys(
        WEAK_PASSWORDS, True
    ), shown
    assert user_count(app) == 0
    assert mailbox.messages == []


def test_sign_up_with_a_mismatched_repeat_shows_it_on_the_repeat_field_and_writes_no_user(app, client, mailbox):
    page = register(client, confirm_password=NEW_PASSWORD + "x")

    assert page.status_code == 400
    assert field_errors(page) == {"confirm_password": ["Passwords do not match."]}
    assert user_count(app) == 0
    assert mailbox.messages == []
    # What was typed stays, except the passwords.
    body = page.get_data(as_text=True)
    assert 'value="shirin@example.com"' in body
    assert NEW_PASSWORD not in body


def test_sign_up_while_the_mail_server_is_down_keeps_the_account_and_its_code_waits_in_the_outbox(app, client):
    app.config.update(MAIL_TRANSPORT="smtp", MAIL_SERVER="127.0.0.1", MAIL_PORT=free_port())  # nobody listens

    page = register(client)

    assert page.status_code == 302 and page.headers["Location"] == "/verify"
    assert user_count(app) == 1
    with app.app_context():
        [waiting] = db.session.scalars(select(OutgoingMail)).all()
        assert (waiting.recipient, waiting.status) == ("shirin@example.com", "pending")
        assert waiting.attempts == 1 and waiting.last_error  # tried at once, to be tried again


def test_signed_in_visitors_are_sent_from_the_sign_up_page_to_their_profile(app, client, user):
    signed_in(client, user)

    response = client.get("/register")

    assert response.status_code == 302 and response.headers["Location"] == "/profile/"


def test_the_code_page_escapes_an_address_from_the_query_string(client):
    page = client.get('/verify?email="><script>alert(1)</script>')

    assert page.status_code == 200
    assert "<script>alert(1)</script>" not in page.get_data(as_text=True)
    assert "&lt;script&gt;" in page.get_data(as_text=True)


def test_a_wrong_code_is_shown_on_the_code_field_and_signs_nobody_in(app, client, mailbox):
    register(client)
    right = mailbox.code_for(NEW_EMAIL)
    wrong = f"{(int(right) + 1) % 10**6:06d}"

    page = submit(client, "/verify", {"otp": wrong})

    assert page.status_code == 400
    assert field_errors(page) == {"otp": ["Invalid or expired code."]}
    assert not is_signed_in(client)
    assert stored_user(app, user_id_by_email(app, NEW_EMAIL))["email_verified"] is False


def test_an_expired_code_is_refused(app, client, mailbox):
    app.config["EMAIL_CODE_TTL"] = timedelta(0)
    register(client)

    page = submit(client, "/verify", {"otp": mailbox.code_for(NEW_EMAIL)})

    assert page.status_code == 400
    assert field_errors(page) == {"otp": ["Invalid or expired code."]}
    assert not is_signed_in(client)


def test_a_code_dies_after_five_wrong_tries(app, client, mailbox):
    register(client)
    right = mailbox.code_for(NEW_EMAIL)
    wrong = f"{(int(right) + 1) % 10**6:06d}"
    for _ in range(app.config["EMAIL_CODE_MAX_ATTEMPTS"]):
        assert submit(client, "/verify", {"otp": wrong}).status_code == 400

    page = submit(client, "/verify", {"otp": right})

    assert page.status_code == 400
    assert field_errors(page) == {"otp": ["Invalid or expired code."]}
    assert stored_user(app, user_id_by_email(app, NEW_EMAIL))["email_verified"] is False


def test_resend_mails_a_new_code_and_the_old_one_stops_working(app, client, mailbox):
    register(client)
    old = mailbox.code_for(NEW_EMAIL)

    resent = submit(client, "/verify", {"otp": ""}, button="Send a new code")

    assert resent.status_code == 302
    assert resent.headers["Location"] == "/verify?email=shirin@example.com"
    assert len(mailbox.sent_to(NEW_EMAIL)) == 2
    new = mailbox.code_for(NEW_EMAIL)
    assert new != old
    refused = submit(client, "/verify", {"otp": old})
    assert refused.status_code == 400
    assert field_errors(refused) == {"otp": ["Invalid or expired code."]}
    accepted = submit(client, "/verify", {"otp": new})
    assert accepted.status_code == 302 and accepted.headers["Location"] == "/profile/"
    assert is_signed_in(client)


def test_resend_for_an_unknown_address_answers_like_a_known_one_and_sends_nothing(app, client, mailbox, make_user):
    make_user("pending@example.com", verified=False)
    known = submit(client, "/verify", {"email": "pending@example.com", "otp": ""}, button="Send a new code")
    known_page = client.get(known.headers["Location"])
    assert len(mailbox.sent_to("pending@example.com")) == 1

    unknown = submit(client, "/verify", {"email": "nobody@example.com", "otp": ""}, button="Send a new code")
    unknown_page = client.get(unknown.headers["Location"])

    assert (unknown.status_code, known.status_code) == (302, 302)
    assert unknown.headers["Location"] == known.headers["Location"].replace("pending@", "nobody@")
    assert unknown_page.status_code == known_page.status_code == 200
    assert flashes(unknown_page) == [m.replace("pending@", "nobody@") for m in flashes(known_page)]
    assert flashes(unknown_page) == ["If nobody@example.com is waiting for a code, a new one is on its way."]
    assert [m["To"] for m in mailbox.messages] == ["pending@example.com"]


def test_resend_for_an_already_verified_address_answers_alike_and_sends_nothing(app, client, user, mailbox):
    response = submit(client, "/verify", {"email": user.email, "otp": ""}, button="Send a new code")

    assert response.status_code == 302
    assert flashes(client.get(response.headers["Location"])) == [
        f"If {user.email} is waiting for a code, a new one is on its way."
    ]
    assert mailbox.messages == []


def test_a_code_entered_in_another_browser_verifies_but_signs_only_the_sign_up_browser_in(app, client, mailbox):
    register(client)
    elsewhere = app.test_client()

    response = submit(elsewhere, "/verify", {"email": NEW_EMAIL, "otp": mailbox.code_for(NEW_EMAIL)})

    assert response.status_code == 302 and response.headers["Location"] == "/login"
    assert "Your email address is verified." in flashes(elsewhere.get("/login"))
    assert not is_signed_in(elsewhere)
    assert not is_signed_in(client)
    assert stored_user(app, user_id_by_email(app, NEW_EMAIL))["email_verified"] is True


# Sign-in -----------------------------------------------------------------------------------------


def test_an_unverified_account_cannot_sign_in_and_the_page_links_to_the_code_page(app, client, make_user):
    pending = make_user("pending@example.com", verified=False)

    page = sign_in(client, pending)

    assert page.status_code == 400
    assert form_errors(page) == ["Your email address is not verified yet."]
    assert 'href="/verify?email=pending@example.com"' in page.get_data(as_text=True)
    assert not is_signed_in(client)
    assert credentials_of(app, pending.id) == []


def test_an_unverified_account_with_a_wrong_password_learns_nothing_about_its_state(app, client, make_user):
    pending = make_user("pending@example.com", verified=False)

    page = sign_in(client, pending, password="wrong-password-9")

    assert page.status_code == 400
    assert form_errors(page) == [BAD_CREDENTIALS]
    assert "/verify" not in page.get_data(as_text=True)


def test_sign_in_with_the_username_in_another_case(app, client, make_user):
    darius = make_user("darius@example.com", username="Darius_K")

    response = sign_in(client, darius, login="dARIUS_k")

    assert response.status_code == 302
    assert response.headers["Location"] == "/profile/"
    assert is_signed_in(client)
    assert stored_user(app, darius.id)["last_login"] is not None


def test_sign_in_with_the_email_in_another_case(app, client, user):
    assert sign_in(client, user, login=user.email.upper()).status_code == 302
    assert is_signed_in(client)


def test_a_wrong_password_is_refused_without_saying_which_part_was_wrong(app, client, user):
    page = sign_in(client, user, password=PASSWORD + "x")

    assert page.status_code == 400
    assert form_errors(page) == [BAD_CREDENTIALS]
    assert credential_in_cookie(client) is None
    assert credentials_of(app, user.id) == []
    unknown = sign_in(client, user, login="nobody@example.com")
    assert unknown.status_code == 400 and form_errors(unknown) == [BAD_CREDENTIALS]


def test_an_inactive_user_cannot_sign_in(app, client, user):
    with app.app_context(), unit_of_work():
        accounts.update_account_flags(db.session.get(User, user.id), {"is_active": False}, SYSTEM)

    page = sign_in(client, user)

    assert page.status_code == 400
    assert form_errors(page) == [BAD_CREDENTIALS]
    assert not is_signed_in(client)
    assert credentials_of(app, user.id) == []


def test_remember_me_sets_a_persistent_cookie_that_ends_within_the_session_lifetime(app, client, user):
    lifetime = app.config["PERMANENT_SESSION_LIFETIME"]
    before = datetime.now(UTC).replace(microsecond=0)

    response = sign_in(client, user, remember=True)

    cookie = set_cookie_header(response)
    expires = parsedate_to_datetime(re.search(r"Expires=([^;]+)", cookie).group(1))
    assert before + lifetime - timedelta(seconds=5) <= expires <= datetime.now(UTC) + lifetime
    row = credential_row(app, credential_in_cookie(client))
    assert row["kind"] == "session"
    assert row["expires_at"] <= datetime.now(UTC).replace(tzinfo=None) + lifetime
    assert row["expires_at"] > datetime.now(UTC).replace(tzinfo=None) + lifetime - timedelta(minutes=1)


def test_without_remember_me_the_cookie_ends_with_the_browser(app, client, user):
    response = sign_in(client, user)

    cookie = set_cookie_header(response)
    assert "Expires=" not in cookie and "Max-Age=" not in cookie
    row = credential_row(app, credential_in_cookie(client))
    assert row["expires_at"] <= datetime.now(UTC).replace(tzinfo=None) + app.config["BROWSER_SESSION_LIFETIME"]


def test_the_session_cookie_is_http_only_and_same_site_lax(app, client, user):
    cookie = set_cookie_header(sign_in(client, user))

    attributes = {part.strip().split("=")[0].lower(): part for part in cookie.split(";")[1:]}
    assert "httponly" in attributes
    assert attributes["samesite"].strip() == "SameSite=Lax"
    assert "secure" not in attributes  # plain-HTTP development and tests
    assert cookie.startswith(f"{SESSION_COOKIE}=")


def test_in_production_the_session_cookie_is_also_secure(make_app, monkeypatch):
    monkeypatch.setenv("SECRET_KEY", "a-production-secret-of-enough-length-0123456789")
    prod = make_app(
        "production", TRUSTED_HOSTS=["localhost"], RATELIMIT_ENABLED=False,
        PASSWORD_HASH_MEMORY_COST=1024,
    )
    with prod.app_context(), unit_of_work():
        account = accounts.create_user("prod@example.com", PASSWORD, SYSTEM, email_verified=True)
        email = account.email
    client = prod.test_client()
    https = {"base_url": "https://localhost", "headers": {"Referer": "https://localhost/login"}}

    response = submit(client, "/login", {"login": email, "password": PASSWORD}, **https)

    assert response.status_code == 302, form_errors(response)
    cookie = set_cookie_header(response)
    assert "Secure" in [part.strip() for part in cookie.split(";")]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_each_sign_in_gets_a_new_session_and_an_old_cookie_replayed_after_sign_out_is_dead(app, client, user):
    client.get("/login")
    with client.session_transaction() as session:
        anonymous = dict(session)
    assert anonymous.get("csrf_token")

    signed_in(client, user)
    first_cookie, first = session_cookie(client).value, credential_in_cookie(client)
    with client.session_transaction() as session:
        after = dict(session)
    # Nothing from before the sign-in names this session, and no user id rides in the cookie.
    assert after.get("csrf_token") != anonymous["csrf_token"]
    assert "_user_id" not in after
    assert first is not None

    assert post(client, "/logout").headers["Location"] == "/login"
    assert credential_row(app, first)["is_live"] is False
    signed_in(client, user)
    second = credential_in_cookie(client)

    assert second != first
    client.set_cookie(SESSION_COOKIE, first_cookie)
    assert credential_in_cookie(client) == first
    assert not is_signed_in(client)


OFF_SITE_TARGETS = [
    "//evil.example", "/\\evil.example", "https:evil.example", "http://evil.example", "https://evil.example/profile/",
    "/\t/evil.example", "javascript:alert(1)", "///evil.example", "/\r\nLocation: http://evil.example",
]


def test_next_never_leads_off_the_site(app, client, user):
    landed = {}
    for target in OFF_SITE_TARGETS:
        response = sign_in(client, user, next=quote(target, safe=""))
        # Once signed in, the sign-in page itself sends the browser on: the same rule applies.
        again = client.get(f"/login?next={quote(target, safe='')}")
        landed[target] = (response.status_code, response.headers.get("Location"), again.headers.get("Location"))
        post(client, "/logout")

    assert landed == dict.fromkeys(OFF_SITE_TARGETS, (302, "/profile/", "/profile/"))


def test_next_within_the_site_is_followed(app, client, user):
    response = sign_in(client, user, next=quote("/profile/keys", safe=""))

    assert response.status_code == 302
    assert response.headers["Location"] == "/profile/keys"


def test_a_protected_page_sends_to_sign_in_and_back_after_it(app, client, user):
    bounced = client.get("/profile/sessions")
    assert bounced.status_code == 302
    assert bounced.headers["Location"] == "/login?next=%2Fprofile%2Fsessions"

    response = submit(client, bounced.headers["Location"], {"login": user.email, "password": user.password})

    assert response.headers["Location"] == "/profile/sessions"


def test_get_logout_is_405_with_an_html_page(app, client, user):
    signed_in(client, user)

    response = client.get("/logout")

    assert response.status_code == 405
    assert response.mimetype == "text/html"
    assert "POST" in response.headers["Allow"]
    assert "<h1>That does not work here</h1>" in response.get_data(as_text=True)
    assert is_signed_in(client)


def test_logout_without_a_csrf_token_is_400_and_the_session_stays(app, client, user):
    signed_in(client, user)
    credential = credential_in_cookie(client)

    response = client.post("/logout")

    assert response.status_code == 400
    assert response.mimetype == "text/html"
    assert "The form had expired or was not sent from this site." in response.get_data(as_text=True)
    assert is_signed_in(client)
    assert credential_row(app, credential)["revoked_at"] is None


def test_logout_with_the_pages_token_signs_out_and_ends_the_row(app, client, user):
    signed_in(client, user)
    credential = credential_in_cookie(client)

    response = post(client, "/logout")

    assert response.status_code == 302 and response.headers["Location"] == "/login"
    assert "You are signed out." in flashes(client.get("/login"))
    assert credential_row(app, credential)["revoked_at"] is not None
    assert not is_signed_in(client)


def test_the_start_page_sends_each_visitor_where_they_belong(app, client, user):
    anonymous = client.get("/")
    assert anonymous.status_code == 302 and anonymous.headers["Location"] == "/login"

    signed_in(client, user)
    member = client.get("/")

    assert member.status_code == 302 and member.headers["Location"] == "/profile/"


# Rate limits ----------------------------------------------------------------------------------------


def assert_throttled_page(response):
    assert response.status_code == 429
    assert response.mimetype == "text/html"
    body = response.get_data(as_text=True)
    assert "<h1>Too many attempts</h1>" in body
    retry_after = int(response.headers["Retry-After"])
    assert retry_after > 0
    seconds = int(re.search(r"You can try again in (\d+) seconds", body).group(1))
    assert seconds == retry_after


def test_sign_in_over_the_limit_is_a_429_page_with_retry_after_and_signs_nobody_in(make_app):
    limited = make_app(RATELIMIT_ENABLED=True, RATELIMIT_SIGN_IN="2 per minute")
    with limited.app_context(), unit_of_work():
        account = accounts.create_user("limited@example.com", PASSWORD, SYSTEM, email_verified=True)
        user_id = account.id
    client = limited.test_client()
    for _ in range(2):
        wrong = submit(client, "/login", {"login": "limited@example.com", "password": "wrong-password-1"})
        assert wrong.status_code == 400

    third = submit(client, "/login", {"login": "limited@example.com", "password": PASSWORD})

    assert_throttled_page(third)
    assert credentials_of(limited, user_id) == []
    assert client.get("/login").status_code == 200  # showing the form is not counted


def test_sign_in_to_one_account_over_the_limit_from_many_addresses_is_429(make_app):
    limited = make_app(RATELIMIT_ENABLED=True, RATELIMIT_SIGN_IN="2 per minute")
    with limited.app_context(), unit_of_work():
        accounts.create_user("limited@example.com", PASSWORD, SYSTEM, email_verified=True, profile={"username": "lim"})
    client = limited.test_client()
    for n, login in enumerate(["limited@example.com", "LIM"]):  # the email and the username share one allowance
        address = {"environ_base": {"REMOTE_ADDR": f"10.0.0.{n + 1}"}}
        assert submit(client, "/login", {"login": login, "password": "wrong-password-1"}, **address).status_code == 400

    third = submit(client, "/login", {"login": "Limited@Example.com", "password": PASSWORD},
                   environ_base={"REMOTE_ADDR": "10.0.1.1"})

    assert_throttled_page(third)
    other = submit(client, "/login", {"login": "someone@example.com", "password": PASSWORD},
                   environ_base={"REMOTE_ADDR": "10.0.2.1"})
    assert other.status_code == 400


def test_sign_up_over_the_limit_is_a_429_page_and_creates_nothing(make_app):
    limited = make_app(RATELIMIT_ENABLED=True, RATELIMIT_REGISTER="1 per minute")
    client = limited.test_client()
    assert register(client).status_code == 302

    second = register(client.application.test_client(), email="second@example.com")

    assert_throttled_page(second)
    assert user_id_by_email(limited, "second@example.com") is None
    assert [m["To"] for m in written_mail(limited)] == [NEW_EMAIL]


def test_code_entry_over_the_limit_is_a_429_page_and_verifies_nothing(make_app):
    limited = make_app(RATELIMIT_ENABLED=True, RATELIMIT_VERIFY="2 per minute")
    client = limited.test_client()
    register(client)
    code = re.search(r"\b(\d{6})\b", written_mail(limited)[-1].get_body(("plain",)).get_content()).group(1)
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    for _ in range(2):
        assert submit(client, "/verify", {"otp": wrong}).status_code == 400

    third = submit(client, "/verify", {"otp": code})

    assert_throttled_page(third)
    assert stored_user(limited, user_id_by_email(limited, NEW_EMAIL))["email_verified"] is False
    assert not is_signed_in(client)


def test_code_resend_over_the_limit_is_a_429_page_and_sends_nothing_more(make_app):
    limited = make_app(RATELIMIT_ENABLED=True, RATELIMIT_CODE="1 per minute")
    client = limited.test_client()
    register(client)
    assert submit(client, "/verify", {"otp": ""}, button="Send a new code").status_code == 302

    second = submit(client, "/verify", {"otp": ""}, button="Send a new code")

    assert_throttled_page(second)
    assert len(written_mail(limited)) == 2  # the sign-up's code and one resend


def test_retry_after_is_the_wait_the_page_names_even_when_the_limiter_reckons_otherwise(make_app, monkeypatch):
    """Flask-Limiter computes its own Retry-After, rounded down; the page and the header must agree."""
    limited = make_app(RATELIMIT_ENABLED=True, RATELIMIT_SIGN_IN="1 per minute")
    with limited.app_context(), unit_of_work():
        accounts.create_user("limited@example.com", PASSWORD, SYSTEM, email_verified=True)
    client = limited.test_client()
    submit(client, "/login", {"login": "limited@example.com", "password": "wrong-password-1"})

    class LimiterClock:  # the limiter's header arithmetic only, 59.5 s later: it would say 0
        @staticmethod
        def time():
            return time.time() + 59.5

    monkeypatch.setattr(flask_limiter_extension, "time", LimiterClock)
    throttled = submit(client, "/login", {"login": "limited@example.com", "password": PASSWORD})

    assert throttled.status_code == 429
    seconds = int(re.search(r"You can try again in (\d+) seconds", throttled.get_data(as_text=True)).group(1))
    assert seconds > 50
    assert int(throttled.headers["Retry-After"]) == seconds
