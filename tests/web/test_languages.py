"""Which language and time zone a page speaks: the person's saved choice, else the switcher's cookie,
else the browser's Accept-Language, else English; Persian laid out right to left; times in the
person's zone. The JSON API stays English and UTC whatever is asked."""

import re
from datetime import datetime

from sqlalchemy import select

from portal.extensions import db
from portal.models import AuditEvent, User
from tests.two_step import set_up_totp

from ..conftest import stored_user
from .conftest import csrf_token, field_errors, sign_in, signed_in, submit


def user_id_by_email(app, email) -> int:
    with app.app_context():
        return db.session.scalar(select(User.id).where(User.email == email))


def html_lang_and_dir(response) -> tuple[str, str]:
    return re.search(r'<html lang="([^"]+)" dir="([^"]+)">', response.get_data(as_text=True)).groups()


def choose(client, language, next_page="/login"):
    return client.post("/language", data={"csrf_token": csrf_token(client.get(next_page)), "language": language,
                                           "next": next_page})


def test_english_is_the_default_left_to_right(client):
    assert html_lang_and_dir(client.get("/login")) == ("en", "ltr")


def test_the_browsers_language_is_followed_when_nothing_was_chosen(client):
    page = client.get("/login", headers={"Accept-Language": "fa-IR,fa;q=0.9,en;q=0.5"})

    assert html_lang_and_dir(page) == ("fa", "rtl")


def test_a_visitor_chooses_a_language_with_the_header_buttons_and_keeps_it(client):
    answer = choose(client, "fa", "/password/forgot")

    assert answer.status_code == 302 and answer.headers["Location"] == "/password/forgot"
    assert "language=fa" in answer.headers["Set-Cookie"] and "HttpOnly" in answer.headers["Set-Cookie"]
    assert html_lang_and_dir(client.get("/login", headers={"Accept-Language": "en"})) == ("fa", "rtl")
    assert 'value="en" lang="en" class="link-button">English</button>' in client.get("/login").get_data(as_text=True)


def test_a_language_that_is_not_offered_changes_nothing(client):
    answer = choose(client, "xx")

    assert answer.status_code == 302 and "language=" not in answer.headers.get("Set-Cookie", "")
    assert html_lang_and_dir(client.get("/login")) == ("en", "ltr")


def test_the_switcher_never_leads_away_from_the_site(client):
    answer = client.post("/language", data={"csrf_token": csrf_token(client.get("/login")), "language": "fa",
                                            "next": "https://evil.example/"})

    assert answer.headers["Location"] == "/"


def test_a_signed_in_persons_choice_is_saved_and_wins_over_the_browser(app, client, user):
    signed_in(client, user)

    choose(client, "fa", "/profile/")

    assert stored_user(app, user.id)["language"] == "fa"
    other_browser = app.test_client()
    signed_in(other_browser, user)
    assert html_lang_and_dir(other_browser.get("/profile/", headers={"Accept-Language": "en"})) == ("fa", "rtl")


def test_language_and_time_zone_are_chosen_on_the_edit_page(app, client, user):
    signed_in(client, user)

    saved = submit(client, "/profile/edit", {"language": "fa", "time_zone": "Asia/Tehran"})

    assert saved.status_code == 302
    stored = stored_user(app, user.id)
    assert (stored["language"], stored["time_zone"]) == ("fa", "Asia/Tehran")


def test_an_unknown_time_zone_is_an_error_on_its_field(app, client, user):
    signed_in(client, user)

    refused = submit(client, "/profile/edit", {"time_zone": "Mars/Olympus_Mons"})

    assert refused.status_code == 400
    assert field_errors(refused)["time_zone"] == [
        '"Mars/Olympus_Mons" is not a time zone name such as Europe/Berlin or Asia/Tehran.'
    ]


def test_times_are_shown_in_the_persons_time_zone(app, client, user):
    with app.app_context():
        stored = db.session.get(User, user.id)
        stored.date_joined, stored.time_zone = datetime(2026, 3, 1, 20, 30), "Asia/Tehran"
        db.session.commit()
    signed_in(client, user)

    page = client.get("/profile/").get_data(as_text=True)

    assert "2 Mar 2026, 00:00 Tehran time" in page  # 20:30 UTC is midnight in Tehran, the next day


def test_persian_pages_write_dates_on_the_solar_hijri_calendar_in_persian_digits(app, client, user):
    with app.app_context():
        stored = db.session.get(User, user.id)
        stored.date_joined, stored.language = datetime(2026, 3, 20, 12, 0), "fa"
        db.session.commit()
    signed_in(client, user)

    page = client.get("/profile/").get_data(as_text=True)

    assert "۲۹ اسفند ۱۴۰۴، ۱۲:۰۰ UTC" in page  # the last day of the Solar Hijri year 1404


def test_the_api_stays_english_whatever_the_browser_asks(client):
    answer = client.get("/api/users/me/", headers={"Accept-Language": "fa"})

    assert answer.get_json() == {"detail": "Authentication credentials were not provided."}


def test_document_003_may_carry_the_language_and_time_zone_and_its_answer_keeps_its_shape(app, client, user, bearer):
    answer = client.patch(f"/api/v1/accounts/users/{user.id}/", headers=bearer(user),
                          json={"language": "fa", "time_zone": "Asia/Tehran"})

    assert answer.status_code == 200 and "language" not in answer.get_json() and "time_zone" not in answer.get_json()
    assert (stored_user(app, user.id)["language"], stored_user(app, user.id)["time_zone"]) == ("fa", "Asia/Tehran")


def test_the_other_dialects_ignore_a_language(app, client, user, bearer):
    answer = client.patch("/api/users/me/", headers=bearer(user), json={"language": "fa"})

    assert answer.status_code == 200 and stored_user(app, user.id)["language"] is None


def test_staff_filter_the_user_list_by_language(app, client, make_user):
    staff = make_user("staff@example.com", staff=True)
    make_user("persian@example.com")
    with app.app_context():
        db.session.scalar(select(User).where(User.email == "persian@example.com")).language = "fa"
        db.session.commit()
    signed_in(client, staff)

    def listed(language) -> set[str]:
        page = client.get(f"/admin/users/?language={language}").get_data(as_text=True)
        return set(re.findall(r'<a href="/admin/users/\d+"><bdi>([^<]+)</bdi></a>', page))

    assert listed("fa") == {"persian@example.com"}
    assert listed("none") == {"staff@example.com"}


# A Persian-speaking person's journey, and what the pages write in Persian ---------------------------

PERSIAN_DIGITS = str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹")


def test_a_persian_visitor_signs_up_gets_the_code_in_persian_and_it_works_typed_in_persian_digits(
    app, client, mailbox
):
    choose(client, "fa", "/register")

    registered = submit(client, "/register", {"email": "shirin@example.com", "password": "a long pass phrase 41",
                                              "confirm_password": "a long pass phrase 41", "first_name": "شیرین"})

    assert registered.status_code == 302
    [mail] = mailbox.sent_to("shirin@example.com")
    assert mail["Subject"] == "کد تأیید شما"
    assert '<html lang="fa" dir="rtl">' in mail.get_body(("html",)).get_content()
    code = re.search(r"\b(\d{6})\b", mail.get_body(("plain",)).get_content()).group(1)
    typed = code.translate(PERSIAN_DIGITS)  # as a Persian keyboard types it
    assert typed != code and typed.isdigit()

    verified = submit(client, "/verify", {"otp": typed})

    assert verified.status_code == 302 and verified.headers["Location"] == "/profile/"
    stored = stored_user(app, user_id_by_email(app, "shirin@example.com"))
    assert stored["email_verified"] is True
    assert stored["language"] == "fa"  # picked with the switcher before signing up: kept on the account


def test_a_visitor_who_picked_no_language_signs_up_without_one_saved(app, client, mailbox):
    registered = submit(client, "/register", {"email": "sam@example.com", "password": "a long pass phrase 41",
                                              "confirm_password": "a long pass phrase 41"},
                        headers={"Accept-Language": "fa"})

    assert registered.status_code == 302
    assert [m["Subject"] for m in mailbox.sent_to("sam@example.com")] == ["کد تأیید شما"]  # the page's language
    assert stored_user(app, user_id_by_email(app, "sam@example.com"))["language"] is None  # a guess is not saved


def test_an_authenticator_code_typed_in_persian_digits_signs_in(app, client, user, clock):
    secret, _ = set_up_totp(app, user, clock)
    asked = sign_in(client, user)
    assert asked.headers["Location"].startswith("/login/second-step")

    done = submit(client, "/login/second-step", {"code": clock.code(secret).translate(PERSIAN_DIGITS)})

    assert done.status_code == 302 and done.headers["Location"] == "/profile/"


def test_time_zones_are_named_in_the_pages_language_and_kept_by_their_iana_name(app, client, user):
    signed_in(client, user)

    english = client.get("/profile/edit").get_data(as_text=True)
    choose(client, "fa", "/profile/edit")
    persian = client.get("/profile/edit").get_data(as_text=True)

    assert '<option value="Europe/Berlin">Europe/Berlin</option>' in english
    assert '<option value="Europe/Berlin">وقت آلمان (برلین)</option>' in persian
    assert '<option value="Asia/Tehran">وقت ایران</option>' in persian


def test_the_audit_log_in_persian_writes_the_gregorian_moment_beside_the_solar_hijri_date(app, client, make_user):
    staff = make_user("staff@example.com", superuser=True, language="fa")
    signed_in(client, staff)
    with app.app_context():
        [event] = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "signed_in")).all()
        event.created_at = datetime(2026, 3, 20, 12, 0, 0)
        db.session.commit()

    page = client.get("/admin/audit/?action=signed_in").get_data(as_text=True)

    assert re.search(r'>۲۹ اسفند ۱۴۰۴، ۱۲:۰۰ UTC</time> <bdi dir="ltr" lang="en" class="gregorian">'
                     r"\(2026-03-20 12:00:00 UTC\)</bdi>", page)


def test_an_english_audit_log_has_no_second_calendar(app, client, make_user):
    staff = make_user("staff@example.com", superuser=True)
    signed_in(client, staff)

    page = client.get("/admin/audit/").get_data(as_text=True)

    assert 'class="gregorian"' not in page and "UTC</time>" in page


def test_the_activity_page_names_changed_values_in_the_readers_words(app, client, user):
    signed_in(client, user)
    submit(client, "/profile/edit", {"gender": "female", "time_zone": "Asia/Tehran", "birthday": "1990-03-21",
                                     "username": "shirin_1"})
    choose(client, "fa", "/profile/activity")  # saved on the profile: an audited change too

    page = client.get("/profile/activity").get_data(as_text=True)

    assert re.search(r'<th scope="row">زبان</th>\s*<td>—</td><td>فارسی</td>', page)
    assert re.search(r'<th scope="row">جنسیت</th>\s*<td>—</td><td>زن</td>', page)
    assert re.search(r'<th scope="row">منطقهٔ زمانی</th>\s*<td>—</td><td>وقت ایران</td>', page)
    assert re.search(r'<th scope="row">تاریخ تولد</th>\s*<td>—</td><td>۱ فروردین ۱۳۶۹</td>', page)
    assert '<td><bdi dir="auto">shirin_1</bdi></td>' in page  # a typed value, kept as it is and isolated


def test_the_export_carries_the_chosen_language_and_time_zone(app, client, user):
    signed_in(client, user)
    submit(client, "/profile/edit", {"language": "fa", "time_zone": "Asia/Tehran"})

    exported = client.get("/profile/export").get_json()

    assert (exported["profile"]["language"], exported["profile"]["time_zone"]) == ("fa", "Asia/Tehran")
