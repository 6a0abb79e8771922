"""Which language and time zone a page speaks: the person's saved choice, else the switcher's cookie,
else the browser's Accept-Language, else English; Persian laid out right to left; times in the
person's zone. The JSON API stays English and UTC whatever is asked."""

import re
from datetime import datetime

from sqlalchemy import select

from portal.extensions import db
from portal.models import User

from ..conftest import stored_user
from .conftest import csrf_token, field_errors, signed_in, submit


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

    assert "2 Mar 2026, 00:00 +0330" in page  # 20:30 UTC is midnight in Tehran, the next day


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
