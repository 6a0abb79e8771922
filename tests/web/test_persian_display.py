"""What a Persian reader meets on the pages, read through HTTP: times that name the reader's city rather
than a bare offset, phone numbers in the page's digits, birthdays and the audit filter's dates typed
and shown on the Solar Hijri calendar, timestamps and addresses that do not break in the middle, ordered
lists numbered in Persian digits, and a language picked with the switcher before signing in kept on
the account by the sign-in itself."""

import re
from datetime import date, datetime
from html import unescape

import pytest
from sqlalchemy import select, update

from portal.extensions import db
from portal.models import AuditEvent, User
from portal.services import audit
from portal.services.audit import SYSTEM
from tests.two_step import set_up_totp

from ..conftest import stored_user
from .conftest import csrf_token, field_errors, post, sign_in, signed_in, submit, text_of
from .test_sign_in_alert_pages import AWAY, CHROME_LINUX, FIREFOX_WINDOWS, HOME, browser
from .test_sign_in_by_code import signed_in_with_code

TEHRAN = "Asia/Tehran"
SOLAR_HINT = "تاریخ به تقویم هجری شمسی، به صورت سال/ماه/روز، مانند ۱۳۷۰/۰۶/۱۵."
SOLAR_ERROR = "تاریخی به تقویم هجری شمسی به صورت سال/ماه/روز وارد کنید، مانند ۱۳۷۰/۰۶/۱۵."


def choose(client, language, page="/login"):
    return client.post("/language", data={"csrf_token": csrf_token(client.get(page)), "language": language,
                                           "next": page})


def html_lang(response) -> str:
    return re.search(r'<html lang="([^"]+)"', response.get_data(as_text=True)).group(1)


def set_columns(app, user_id, **values):
    with app.app_context():
        user = db.session.get(User, user_id)
        for name, value in values.items():
            setattr(user, name, value)
        db.session.commit()


def stylesheet_of(client) -> str:
    """The text of the stylesheet the pages link."""
    page = client.get("/login").get_data(as_text=True)
    with client.get(re.search(r'<link rel="stylesheet" href="([^"]*portal\.css[^"]*)"', page).group(1)) as css:
        return css.get_data(as_text=True)


def declarations_for(css: str, selector: str) -> str:
    """The declarations of every rule of ``css`` that names ``selector`` (among its comma-separated ones)."""
    css = re.sub(r"/\*.*?\*/", "", css, flags=re.S)
    return " ".join(body for selectors, body in re.findall(r"([^{}]+)\{([^{}]*)\}", css)
                    if selector in [one.strip() for one in selectors.split(",")])


def input_tag(page: str, name: str) -> str:
    return re.search(rf'<input [^>]*name="{name}"[^>]*>', page).group(0)


# 2. A time names the reader's city, not a bare offset --------------------------------------------------


def test_an_english_time_names_the_persons_city_not_a_bare_offset(app, client, user):
    set_columns(app, user.id, date_joined=datetime(2026, 3, 1, 20, 30), time_zone=TEHRAN)
    signed_in(client, user)

    page = text_of(client.get("/profile/"))

    assert "2 Mar 2026, 00:00 Tehran time" in page  # 20:30 UTC is midnight in Tehran, the next day
    assert "+0330" not in page


def test_a_persian_time_reads_at_the_time_of_the_city_in_persian_digits(app, client, user):
    set_columns(app, user.id, date_joined=datetime(2026, 3, 1, 20, 30), time_zone=TEHRAN, language="fa")
    signed_in(client, user)

    page = text_of(client.get("/profile/"))

    assert "۱۱ اسفند ۱۴۰۴، ۰۰:۰۰ به وقت تهران" in page
    assert "+۰۳۳۰" not in page and "+0330" not in page


def test_a_zone_of_many_words_is_named_by_its_city_in_the_pages_language(app, client, user):
    set_columns(app, user.id, date_joined=datetime(2026, 7, 1, 12, 0), time_zone="Europe/Berlin")
    signed_in(client, user)

    english = text_of(client.get("/profile/"))
    choose(client, "fa", "/profile/")
    persian = text_of(client.get("/profile/"))

    assert "1 Jul 2026, 14:00 Berlin time" in english and "CEST" not in english
    assert "۱۰ تیر ۱۴۰۵، ۱۴:۰۰ به وقت برلین" in persian


def test_a_time_in_utc_still_says_utc(app, client, user):
    set_columns(app, user.id, date_joined=datetime(2026, 3, 20, 12, 0), language="fa")
    signed_in(client, user)

    assert "۲۹ اسفند ۱۴۰۴، ۱۲:۰۰ UTC" in text_of(client.get("/profile/"))


def test_a_new_sign_in_mail_names_its_readers_city(app, make_user, mailbox):
    account = make_user("reza@example.com", language="fa", time_zone=TEHRAN)
    signed_in(browser(app, CHROME_LINUX, HOME), account)  # the account's first browser: no mail

    signed_in(browser(app, FIREFOX_WINDOWS, AWAY), account)

    [mail] = mailbox.sent_to("reza@example.com")
    body = mail.get_body(("plain",)).get_content()
    assert "به وقت تهران" in body and "+۰۳۳۰" not in body


# 3. Ordered lists count in Persian digits --------------------------------------------------------------


def test_persian_pages_number_their_ordered_lists_in_persian_digits_from_the_stylesheet(client):
    css = stylesheet_of(client)

    assert "list-style-type: persian" in declarations_for(css, ":where(ol:lang(fa))")


# 4. A phone number in the page's digits ----------------------------------------------------------------


def test_a_phone_typed_in_persian_digits_is_stored_normalised_and_shown_in_persian_digits(app, client, user, bearer):
    set_columns(app, user.id, language="fa")
    signed_in(client, user)

    saved = submit(client, "/profile/edit", {"phone": "۰۹۱۲ ۳۴۵ ۶۷۸۹"})

    assert saved.status_code == 302
    assert stored_user(app, user.id)["phone"] == "0912 345 6789"
    profile = client.get("/profile/").get_data(as_text=True)
    assert '<bdi dir="ltr" class="phone">۰۹۱۲ ۳۴۵ ۶۷۸۹</bdi>' in profile
    activity = client.get("/profile/activity").get_data(as_text=True)
    assert '<td><bdi dir="ltr" class="phone">۰۹۱۲ ۳۴۵ ۶۷۸۹</bdi></td>' in activity
    edit = client.get("/profile/edit").get_data(as_text=True)
    assert 'value="۰۹۱۲ ۳۴۵ ۶۷۸۹"' in input_tag(edit, "phone")
    for page in (profile, activity, edit):
        assert "0912" not in page
    assert client.get("/api/users/me/", headers=bearer(user)).get_json()["mobile_number"] == "0912 345 6789"


def test_the_phone_fields_example_is_in_the_pages_digits(app, client, user):
    signed_in(client, user)
    english = client.get("/profile/edit").get_data(as_text=True)
    choose(client, "fa", "/profile/edit")

    persian = client.get("/profile/edit").get_data(as_text=True)

    assert '<bdi dir="ltr" class="phone">+1 555 0124</bdi>' in english
    assert '<bdi dir="ltr" class="phone">+۱ ۵۵۵ ۰۱۲۴</bdi>' in persian


def test_saving_a_persian_form_again_leaves_the_phone_and_birthday_unchanged(app, client, user):
    set_columns(app, user.id, language="fa", phone="+98 912 555 0101", birthday=date(2025, 3, 20))
    signed_in(client, user)

    saved = submit(client, "/profile/edit", {"first_name": "رضا"})  # the rest as the page shows them

    assert saved.status_code == 302
    stored = stored_user(app, user.id)
    assert (stored["phone"], stored["birthday"]) == ("+98 912 555 0101", date(2025, 3, 20))
    changes = [event.changes for event in events_of(app, user.id, "profile_updated")]
    assert changes == [{"first_name": [None, "رضا"]}]


def test_an_english_page_shows_the_phone_in_latin_digits(app, client, user):
    set_columns(app, user.id, phone="0912 345 6789")
    signed_in(client, user)

    assert '<bdi dir="ltr" class="phone">0912 345 6789</bdi>' in client.get("/profile/").get_data(as_text=True)


def test_the_admin_in_persian_shows_a_persons_phone_in_persian_digits(app, client, make_user):
    staff = make_user("staff@example.com", superuser=True, language="fa")
    person = make_user("reza@example.com", phone="0912 345 6789")
    signed_in(client, staff)

    edited = submit(client, f"/admin/users/{person.id}", {"phone": "۰۹۱۲ ۳۴۵ ۰۰۰۰"}, action=f"/admin/users/{person.id}")

    assert edited.status_code == 302
    assert stored_user(app, person.id)["phone"] == "0912 345 0000"
    page = client.get(f"/admin/users/{person.id}").get_data(as_text=True)
    assert 'value="۰۹۱۲ ۳۴۵ ۰۰۰۰"' in input_tag(page, "phone")
    log = client.get("/admin/audit/?action=profile_updated").get_data(as_text=True)
    assert '<bdi dir="ltr" class="phone">۰۹۱۲ ۳۴۵ ۶۷۸۹</bdi>' in log
    assert '<bdi dir="ltr" class="phone">۰۹۱۲ ۳۴۵ ۰۰۰۰</bdi>' in log
    assert "0912" not in log


# 5. Solar Hijri dates on Persian pages -----------------------------------------------------------------


def events_of(app, user_id, action):
    with app.app_context():
        events = db.session.scalars(select(AuditEvent).where(AuditEvent.subject_id == user_id,
                                                             AuditEvent.action == action)).all()
        db.session.expunge_all()
        return events


def test_a_persian_edit_page_takes_the_birthday_as_solar_hijri_text_and_says_so(app, client, user):
    set_columns(app, user.id, language="fa", birthday=date(1990, 4, 2))
    signed_in(client, user)

    page = client.get("/profile/edit").get_data(as_text=True)

    birthday = input_tag(page, "birthday")
    assert 'type="text"' in birthday and 'type="date"' not in birthday
    assert 'value="۱۳۶۹/۰۱/۱۳"' in birthday
    assert 'aria-describedby="birthday-hint"' in birthday
    assert f'<p class="hint" id="birthday-hint">{SOLAR_HINT}</p>' in page


def test_an_english_edit_page_keeps_the_browsers_date_input(app, client, user):
    set_columns(app, user.id, birthday=date(1990, 4, 2))
    signed_in(client, user)

    birthday = input_tag(client.get("/profile/edit").get_data(as_text=True), "birthday")

    assert 'type="date"' in birthday and 'value="1990-04-02"' in birthday


@pytest.mark.parametrize("typed", ["۱۳۷۰/۰۶/۱۵", "1370-06-15", "۱۳۷۰-۶-۱۵", " 1370/6/15 ", "١٣٧٠/٠٦/١٥"])
def test_a_solar_hijri_birthday_in_persian_or_latin_digits_is_stored_gregorian(app, client, user, typed):
    set_columns(app, user.id, language="fa")
    signed_in(client, user)

    saved = submit(client, "/profile/edit", {"birthday": typed})

    assert saved.status_code == 302, field_errors(saved)
    assert stored_user(app, user.id)["birthday"] == date(1991, 9, 6)
    assert "<dd>۱۵ شهریور ۱۳۷۰</dd>" in client.get("/profile/").get_data(as_text=True)


# Around the year's turn and a leap day: a date each side of Nowruz, and Esfand 30 of a leap year.
SOLAR_EDGES = [
    ("1403/12/30", date(2025, 3, 20), "۳۰ اسفند ۱۴۰۳"),  # 1403 is a leap year
    ("1404/01/01", date(2025, 3, 21), "۱ فروردین ۱۴۰۴"),
    ("1404/12/29", date(2026, 3, 20), "۲۹ اسفند ۱۴۰۴"),
    ("1369/01/01", date(1990, 3, 21), "۱ فروردین ۱۳۶۹"),
    ("1279/01/01", date(1900, 3, 21), "۱ فروردین ۱۲۷۹"),
    ("1375/12/30", date(1997, 3, 20), "۳۰ اسفند ۱۳۷۵"),  # 1375 is a leap year
    ("1399/06/31", date(2020, 9, 21), "۳۱ شهریور ۱۳۹۹"),  # the last day of the 31-day months
    ("1399/07/01", date(2020, 9, 22), "۱ مهر ۱۳۹۹"),
]


@pytest.mark.parametrize(("typed", "gregorian", "shown"), SOLAR_EDGES)
def test_solar_hijri_birthdays_at_the_years_turn_are_converted_to_their_gregorian_day_and_back(
    app, client, user, typed, gregorian, shown
):
    set_columns(app, user.id, language="fa")
    signed_in(client, user)

    saved = submit(client, "/profile/edit", {"birthday": typed})

    assert saved.status_code == 302, field_errors(saved)
    assert stored_user(app, user.id)["birthday"] == gregorian
    assert f"<dd>{shown}</dd>" in client.get("/profile/").get_data(as_text=True)
    assert f'value="{typed.translate(str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹"))}"' in input_tag(
        client.get("/profile/edit").get_data(as_text=True), "birthday")


@pytest.mark.parametrize("typed", ["1404/12/30", "۱۳۷۰/۱۳/۰۱", "1370/07/31", "1370/06", "دیروز", "1370/06/15/1",
                                   "99999/01/01"])
def test_a_date_that_is_not_on_the_solar_hijri_calendar_is_an_error_on_the_birthday_field(
    app, client, user, typed
):
    set_columns(app, user.id, language="fa", birthday=date(1990, 4, 2))
    signed_in(client, user)

    refused = submit(client, "/profile/edit", {"birthday": typed, "first_name": "رضا"})

    assert refused.status_code == 400
    assert field_errors(refused) == {"birthday": [SOLAR_ERROR]}
    assert f'value="{typed.strip()}"' in input_tag(refused.get_data(as_text=True), "birthday")  # kept to fix
    stored = stored_user(app, user.id)
    assert (stored["birthday"], stored["first_name"]) == (date(1990, 4, 2), None)  # nothing saved


def test_the_birthday_rules_still_hold_for_a_solar_hijri_date(app, client, user):
    set_columns(app, user.id, language="fa")
    signed_in(client, user)

    refused = submit(client, "/profile/edit", {"birthday": "۱۵۰۰/۰۱/۰۱"})

    assert refused.status_code == 400
    assert list(field_errors(refused)) == ["birthday"]
    assert stored_user(app, user.id)["birthday"] is None


def test_a_staff_member_reading_persian_sets_a_birthday_on_the_solar_hijri_calendar(app, client, make_user):
    staff = make_user("staff@example.com", superuser=True, language="fa")
    person = make_user("reza@example.com")
    signed_in(client, staff)

    edited = submit(client, f"/admin/users/{person.id}", {"birthday": "۱۳۷۰/۰۶/۱۵"}, action=f"/admin/users/{person.id}")

    assert edited.status_code == 302
    assert stored_user(app, person.id)["birthday"] == date(1991, 9, 6)


def dated_events(app, user_id):
    with app.app_context():
        user = db.session.get(User, user_id)
        for day in (18, 20, 21):  # 1404/12/27, 1404/12/29 (the year's last day), 1405/01/01
            event = audit.record(SYSTEM, "profile_updated", user, {"address": [None, f"day {day}"]})
            db.session.flush()
            db.session.execute(update(AuditEvent).where(AuditEvent.id == event.id)
                               .values(created_at=datetime(2026, 3, day, 12, 0)))
        db.session.commit()


def shown_days(response) -> list[str]:
    return re.findall(r"day (\d+)", unescape(response.get_data(as_text=True)))


def test_the_persian_audit_filter_takes_solar_hijri_days_and_shows_them(app, client, make_user):
    staff = make_user("staff@example.com", superuser=True, language="fa")
    dated_events(app, staff.id)
    signed_in(client, staff)

    one_day = client.get("/admin/audit/", query_string={"action": "profile_updated", "since": "۱۴۰۴/۱۲/۲۹",
                                                         "until": "1404-12-29"})
    from_nowruz = client.get("/admin/audit/", query_string={"action": "profile_updated", "since": "1405/1/1"})

    assert shown_days(one_day) == ["20"]
    assert shown_days(from_nowruz) == ["21"]
    page = one_day.get_data(as_text=True)
    for name in ("since", "until"):
        field = input_tag(page, name)
        assert 'type="text"' in field and 'value="۱۴۰۴/۱۲/۲۹"' in field
        assert f'aria-describedby="{name}-hint"' in field
    assert SOLAR_HINT in page


def test_the_persian_audit_filters_links_ask_for_the_same_days(app, client, make_user):
    staff = make_user("staff@example.com", superuser=True, language="fa")
    signed_in(client, staff)
    with app.app_context():
        user = db.session.get(User, staff.id)
        for _ in range(51):
            audit.record(SYSTEM, "profile_updated", user, {"address": [None, "x"]})
        db.session.commit()

    page = client.get("/admin/audit/", query_string={"since": "۱۴۰۴/۱۲/۲۹"}).get_data(as_text=True)

    older = unescape(re.search(r'<a href="([^"]+)" rel="next">', page).group(1))
    assert "since=2026-03-20" in older  # written Gregorian, so the link means the same on any page
    assert 'value="۱۴۰۴/۱۲/۲۹"' in input_tag(client.get(older).get_data(as_text=True), "since")


def test_a_bad_date_in_the_persian_audit_filter_is_named_on_its_field(app, client, make_user):
    staff = make_user("staff@example.com", superuser=True, language="fa")
    dated_events(app, staff.id)
    signed_in(client, staff)

    answer = client.get("/admin/audit/", query_string={"action": "profile_updated", "since": "1404/12/30"})

    assert answer.status_code == 400
    assert field_errors(answer) == {"since": [SOLAR_ERROR]}
    field = input_tag(answer.get_data(as_text=True), "since")
    assert 'aria-invalid="true"' in field and 'value="1404/12/30"' in field
    assert shown_days(answer) == ["21", "20", "18"]  # the day it could not read filters nothing


def test_an_english_audit_filter_keeps_the_browsers_date_input(app, client, make_user):
    staff = make_user("staff@example.com", superuser=True)
    signed_in(client, staff)

    page = client.get("/admin/audit/?since=2026-03-20").get_data(as_text=True)

    assert 'type="date"' in input_tag(page, "since") and 'value="2026-03-20"' in input_tag(page, "since")


# 6. Timestamps and addresses that do not break in the middle -------------------------------------------


def test_an_address_is_isolated_in_an_element_the_stylesheet_keeps_whole(app, client, make_user):
    account = make_user("reza@example.com", language="fa")
    signed_in(client, account)

    page = client.get("/profile/").get_data(as_text=True)

    assert '<dd><bdi dir="ltr" class="email">reza@example.com</bdi>' in page


def test_in_a_narrow_column_of_changes_an_address_may_break_only_before_its_at_sign(app, client, make_user):
    staff = make_user("staff@example.com", superuser=True, language="fa")
    person = make_user("reza@example.com")
    signed_in(client, staff)

    submit(client, f"/admin/users/{person.id}", {"email": "reza.new@example.com"}, action=f"/admin/users/{person.id}")

    log = client.get("/admin/audit/?action=profile_updated").get_data(as_text=True)
    assert re.search(r'<td><bdi dir="ltr" class="email">reza<wbr>@example\.com</bdi></td>\s*'
                     r'<td><bdi dir="ltr" class="email">reza\.new<wbr>@example\.com</bdi></td>', log)


def test_a_time_in_a_sentence_is_a_time_element(app, client, user):
    set_columns(app, user.id, date_joined=datetime(2026, 3, 1, 20, 30), time_zone=TEHRAN, language="fa")
    signed_in(client, user)

    page = client.get("/profile/").get_data(as_text=True)

    assert 'ثبت‌نام در <time datetime="2026-03-01T20:30:00Z">۱۱ اسفند ۱۴۰۴</time>' in page


def test_the_stylesheet_keeps_a_time_and_an_address_whole(client):
    css = stylesheet_of(client)

    assert "white-space: nowrap" in declarations_for(css, "time")
    assert "white-space: nowrap" in declarations_for(css, ".gregorian")
    assert re.search(r"overflow-wrap: (normal|break-word)", declarations_for(css, ".email"))


# 7. The language picked before signing in is kept on the account ---------------------------------------


def test_a_language_picked_on_the_sign_in_page_is_saved_on_the_account_when_they_sign_in(app, client, user, mailbox):
    choose(client, "fa")

    signed_in(client, user)

    assert stored_user(app, user.id)["language"] == "fa"
    other_browser = app.test_client()
    submit(other_browser, "/password/forgot", {"email": user.email}, headers={"Accept-Language": "en"})
    assert mailbox.sent_to(user.email)[-1]["Subject"] == "بازنشانی رمز عبور"  # their mails follow


def test_the_sign_in_that_saves_the_picked_language_is_audited_as_the_persons_own_change(app, client, user):
    choose(client, "fa")

    signed_in(client, user)

    [event] = events_of(app, user.id, "profile_updated")
    assert event.changes == {"language": [None, "fa"]}
    assert event.actor_id == user.id


def test_english_picked_before_signing_in_replaces_a_saved_persian(app, client, make_user):
    account = make_user("reza@example.com", language="fa")
    choose(client, "en")

    signed_in(client, account)

    assert stored_user(app, account.id)["language"] == "en"
    assert html_lang(client.get("/profile/")) == "en"


def test_a_language_saved_later_on_the_edit_page_is_not_undone_by_an_older_pick_at_the_next_sign_in(
    app, client, make_user
):
    account = make_user("reza@example.com")
    choose(client, "en")  # once, long ago
    signed_in(client, account)
    assert submit(client, "/profile/edit", {"language": "fa"}).status_code == 302  # later, on the edit page
    client.get("/profile/")  # a page after the change brings the cookie up to date
    post(client, "/logout")

    signed_in(client, account)

    assert stored_user(app, account.id)["language"] == "fa"
    assert client.get_cookie("language").value == "fa"  # the pages after signing out speak it too


def test_the_browsers_guess_is_not_saved_at_sign_in(app, client, user):
    signed_in(client, user, headers={"Accept-Language": "fa-IR,fa;q=0.9"})

    assert stored_user(app, user.id)["language"] is None
    assert events_of(app, user.id, "profile_updated") == []


def test_a_failed_sign_in_saves_no_language(app, client, user):
    choose(client, "fa")

    refused = sign_in(client, user, password="not the password")

    assert refused.status_code != 302
    assert stored_user(app, user.id)["language"] is None


def test_a_language_picked_before_signing_in_with_an_emailed_code_is_saved(app, client, user, mailbox):
    choose(client, "fa", "/login/code")

    done = signed_in_with_code(client, mailbox, user)

    assert done.status_code == 302
    assert stored_user(app, user.id)["language"] == "fa"


def test_a_language_picked_before_a_two_step_sign_in_is_saved_once_the_second_step_is_done(
    app, client, user, clock
):
    secret, _ = set_up_totp(app, user, clock)
    choose(client, "fa")

    asked = sign_in(client, user)

    assert asked.headers["Location"].startswith("/login/second-step")
    assert stored_user(app, user.id)["language"] is None  # not signed in yet
    done = submit(client, "/login/second-step", {"code": clock.code(secret)})
    assert done.status_code == 302
    assert stored_user(app, user.id)["language"] == "fa"
