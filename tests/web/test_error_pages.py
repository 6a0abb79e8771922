"""Error answers: an HTML page in the site's layout everywhere but /api/, where they stay JSON."""

import re

import pytest
from flask import abort
from flask_babel import force_locale
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import BadRequest

import portal.services.audit
from portal.errors import EXPLANATIONS
from portal.services import audit

from ..conftest import PASSWORD, stored_user
from .conftest import credentials_of, csrf_token, signed_in, submit

LAYOUT_MARKS = (
    '<link rel="stylesheet" href="/static/portal.css?v=',
    '<header class="site-header">',
    '<a href="/" class="brand">Account portal</a>',
    '<main id="main"',
    '<a href="/">Go to the start page</a>',
)


def assert_error_page(response, code, heading):
    assert response.status_code == code
    assert response.mimetype == "text/html"
    body = response.get_data(as_text=True)
    assert body.lstrip().startswith("<!doctype html>")
    for mark in LAYOUT_MARKS:
        assert mark in body, mark
    assert f"<title>{heading} · Account portal</title>" in body
    assert f"<h1>{heading}</h1>" in body
    assert f'<p class="muted">Error {code}</p>' in body
    assert "Traceback" not in body
    return body


@pytest.fixture
def failing(app, monkeypatch):
    """Make a service raise from inside a request, as a bug would; the 500 handler must answer."""
    app.config["PROPAGATE_EXCEPTIONS"] = False

    def fail(module, name):
        def boom(*args, **kwargs):
            raise RuntimeError("database exploded: secret internals")

        monkeypatch.setattr(module, name, boom)

    return fail


def test_a_form_post_with_a_bad_csrf_token_is_a_400_page(app, client, user):
    signed_in(client, user)

    response = client.post("/profile/edit", data={"first_name": "Changed", "csrf_token": "forged"})

    body = assert_error_page(response, 400, "This request could not be handled")
    assert "The form had expired or was not sent from this site." in body
    assert stored_user(app, user.id)["first_name"] is None


def test_a_csrf_token_from_another_browser_is_refused(app, client, user, make_user):
    attacker = app.test_client()
    signed_in(attacker, make_user("attacker@example.com"))
    foreign_token = csrf_token(attacker.get("/profile/keys"))
    signed_in(client, user)

    response = client.post("/profile/sessions/end-others", data={"csrf_token": foreign_token})

    assert_error_page(response, 400, "This request could not be handled")


def test_an_expired_form_is_recognised_by_its_error_not_by_words_in_another_400(make_app):
    """Only a CSRF error says the form had expired: a bad request whose text happens to name CSRF does not."""
    app = make_app()
    app.config["PROPAGATE_EXCEPTIONS"] = False

    @app.route("/test/csrf-expired")
    def csrf_expired():
        raise CSRFError("The CSRF token has expired.")

    @app.route("/test/bad-request")
    def bad_request():
        raise BadRequest("Nothing to do with CSRF tokens.")

    client = app.test_client()
    expired = assert_error_page(client.get("/test/csrf-expired"), 400, "This request could not be handled")
    other = assert_error_page(client.get("/test/bad-request"), 400, "This request could not be handled")

    assert "The form had expired or was not sent from this site." in expired
    assert "The form had expired" not in other
    client.set_cookie("language", "fa")
    persian = client.get("/test/csrf-expired").get_data(as_text=True)
    assert "<h1>رسیدگی به این درخواست ممکن نبود</h1>" in persian
    assert "فرم منقضی شده بود یا از این سایت فرستاده نشده بود." in persian


@pytest.mark.parametrize("code", sorted(EXPLANATIONS))
def test_every_explained_status_has_its_title_and_explanation_in_both_languages(make_app, code):
    app = make_app()
    app.config["PROPAGATE_EXCEPTIONS"] = False

    @app.route("/test/status")
    def status():
        abort(code)

    client = app.test_client()
    english = client.get("/test/status")
    client.set_cookie("language", "fa")
    persian = client.get("/test/status")

    with app.test_request_context():
        with force_locale("en"):
            title, text = EXPLANATIONS[code].written()
        with force_locale("fa"):
            persian_title, persian_text = EXPLANATIONS[code].written()
    assert persian_title != title and persian_text != text  # translated
    for page, (heading, explanation) in ((english, (title, text)), (persian, (persian_title, persian_text))):
        assert page.status_code == code
        body = page.get_data(as_text=True)
        assert f"<h1>{heading}</h1>" in body and f"<p>{explanation}</p>" in body


def test_a_status_not_explained_says_which_side_the_trouble_is_on_in_persian(make_app):
    app = make_app()
    app.config["PROPAGATE_EXCEPTIONS"] = False

    @app.route("/test/<int:code>")
    def status(code):
        abort(code)

    client = app.test_client()
    assert_error_page(client.get("/test/410"), 410, "Gone")
    client.set_cookie("language", "fa")
    ours, yours = client.get("/test/503").get_data(as_text=True), client.get("/test/410").get_data(as_text=True)
    assert "<h1>مشکلی در سمت ما پیش آمد</h1>" in ours
    assert "<h1>رسیدگی به این درخواست ممکن نبود</h1>" in yours


def test_an_unknown_page_is_a_404_page_in_the_layout(client):
    body = assert_error_page(client.get("/no/such/page"), 404, "Page not found")
    assert "Sign out" not in body


def test_a_404_page_for_a_signed_in_person_keeps_their_header(client, user):
    signed_in(client, user)

    body = assert_error_page(client.get("/profile/nothing-here"), 404, "Page not found")

    assert '<span class="who" dir="auto">user@example.com</span>' in body


def test_a_wrong_method_is_a_405_page_with_allow(client):
    for method, path in [("GET", "/logout"), ("PUT", "/profile/"), ("DELETE", "/login"), ("GET", "/verify/resend")]:
        response = client.open(path, method=method)
        assert_error_page(response, 405, "That does not work here")
        assert response.headers["Allow"], path


def test_a_page_address_without_its_slash_is_redirected_not_a_404(client, user):
    signed_in(client, user)

    response = client.get("/profile")

    assert response.status_code == 301
    assert response.headers["Location"] == "/profile/"


def test_a_request_over_the_size_limit_is_a_413_page(app, client):
    app.config["MAX_CONTENT_LENGTH"] = 1024 * 1024

    response = client.post("/register", data={"email": "a@example.com", "first_name": "x" * (1024 * 1024 + 1)})

    body = assert_error_page(response, 413, "That upload is too large")
    assert "The whole request may be at most 1 MB." in body


def test_too_many_attempts_is_a_429_page_in_the_layout(make_app):
    limited = make_app(RATELIMIT_ENABLED=True, RATELIMIT_PASSWORD_RESET="1 per minute")
    client = limited.test_client()
    assert submit(client, "/password/forgot", {"email": "someone@example.com"}).status_code == 200

    response = submit(client, "/password/forgot", {"email": "someone@example.com"})

    body = assert_error_page(response, 429, "Too many attempts")
    retry_after = int(response.headers["Retry-After"])
    assert 0 < retry_after <= 61  # the window's end is a whole second, and the wait is rounded up
    shown = int(re.search(r"You can try again in (\d+) seconds\.", body).group(1))
    assert retry_after == shown


def test_a_server_error_is_a_bare_500_page_without_internals(app, client, user, failing):
    signed_in(client, user)
    failing(audit, "history")

    response = client.get("/profile/activity")

    assert response.status_code == 500
    assert response.mimetype == "text/html"
    body = response.get_data(as_text=True)
    assert "<h1>Something went wrong on our side</h1>" in body
    assert "Nothing you sent was kept." in body
    assert '<link rel="stylesheet" href="/static/portal.css?v=' in body
    assert "RuntimeError" not in body and "secret internals" not in body and "Traceback" not in body
    assert "Sign out" not in body  # the bare page does not touch the account (or the database)


def test_a_server_error_in_the_middle_of_a_change_keeps_nothing(app, client, user, failing):
    signed_in(client, user)
    page = client.get("/profile/keys")
    failing(portal.services.audit, "record")

    response = client.post("/profile/keys", data={"csrf_token": csrf_token(page), "name": "Half made"})

    assert response.status_code == 500
    assert "<h1>Something went wrong on our side</h1>" in response.get_data(as_text=True)
    assert [row["kind"] for row in credentials_of(app, user.id)] == ["session"]


# /api/ keeps answering JSON ----------------------------------------------------------------------


def test_api_paths_answer_404_and_405_as_json(client):
    missing = client.get("/api/no/such/thing/")
    wrong_method = client.get("/api/token/")

    assert missing.status_code == 404 and missing.is_json
    assert missing.get_json() == {"detail": "Not found."}
    assert wrong_method.status_code == 405 and wrong_method.is_json
    assert wrong_method.get_json() == {"detail": 'Method "GET" not allowed.'}


def test_api_paths_answer_413_as_json(app, client, bearer, user):
    app.config["MAX_CONTENT_LENGTH"] = 1024

    response = client.patch("/api/users/me/", headers=bearer(user), data={"first_name": "x" * 4096})

    assert response.status_code == 413 and response.is_json
    assert response.get_json() == {"detail": "Request body is too large."}


def test_api_paths_answer_500_as_json_while_pages_answer_html(app, client, user, token_auth, failing):
    headers = token_auth(user)
    failing(portal.services.audit, "record")

    response = client.patch("/api/users/me/", headers=headers, json={"first_name": "Half"})

    assert response.status_code == 500 and response.is_json
    assert response.get_json() == {"detail": "A server error occurred."}
    assert stored_user(app, user.id)["first_name"] is None
    page = client.post("/login", data={"login": user.email, "password": PASSWORD})
    assert page.status_code == 400 and page.mimetype == "text/html"  # no CSRF token: a page answer
