"""Headers on every response: CSP without inline code, nosniff, no framing, a referrer
policy, HSTS in production only, no-store on everything answered to a credential (while versioned
static files and avatars stay cacheable), and CORS only for named origins, never with cookies."""

import re
from types import SimpleNamespace

import pytest

from portal.services.audit import SYSTEM
from portal.services.people import accounts
from portal.transactions import unit_of_work
from tests.site_tour import ANONYMOUS_PAGES, build_world, get_pages, html_answers, page_urls

from ..conftest import PASSWORD
from .conftest import EXPECTED_CSP, SAFE_REFERRER_POLICIES, inline_code, parse_csp, sign_in_page

EVIL_ORIGIN = "https://evil.example"
ALLOWED_ORIGIN = "https://app.example"


@pytest.fixture
def world(app, client, make_user, jwt_pair, api_key):
    return build_world(app, client, make_user, jwt_pair, api_key)


def schemes(w):
    return {"bearer": w.bearer, "token": w.token}


def test_the_page_list_of_these_tests_covers_every_page_of_the_app(world):
    endpoints = {
        rule.endpoint
        for rule in world.app.url_map.iter_rules()
        if "GET" in rule.methods and not rule.rule.startswith(("/api/", "/static/", "/media/"))
    } - {"boom", "web.provider_callback", "oidc.authorize", "oidc.userinfo"}
    # (these need a provider on loopback, an app or an app's token: tests/web/test_sign_in_with_a_provider.py
    # and tests/oidc/ check their answers)

    assert endpoints - set(page_urls(world)) == set(), "pages these tests do not scan"


# Every answer carries the headers ------------------------------------------------------------


ANSWERS = {
    "page /login": lambda w: w.anonymous.get("/login"),
    "page /register": lambda w: w.anonymous.get("/register"),
    "signed-in page /profile/": lambda w: w.browser.get("/profile/"),
    "signed-in page /profile/edit": lambda w: w.browser.get("/profile/edit"),
    "admin page /admin/users/": lambda w: w.browser.get("/admin/users/"),
    "redirect /": lambda w: w.anonymous.get("/"),
    "sign-in POST /login (302)": lambda w: w.app.test_client().post(
        "/login", data={"login": w.member.email, "password": PASSWORD}
    ),
    "API GET /api/users/me/ (Token)": lambda w: w.anonymous.get("/api/users/me/", headers=w.token),
    "API GET /api/profile/ (Bearer)": lambda w: w.anonymous.get("/api/profile/", headers=w.bearer),
    "API PATCH /api/v1/accounts/users/<pk>/": lambda w: w.anonymous.patch(
        f"/api/v1/accounts/users/{w.root.id}/", headers=w.bearer, json={"first_name": "Rhea"}
    ),
    "API POST /api/token/": lambda w: w.anonymous.post(
        "/api/token/", json={"email": w.member.email, "password": PASSWORD}
    ),
    "API 304": lambda w: w.anonymous.get(
        "/api/users/me/",
        headers={**w.token, "If-None-Match": w.anonymous.get("/api/users/me/", headers=w.token).headers["ETag"]},
    ),
    "API 401": lambda w: w.anonymous.get("/api/users/me/"),
    "API 403": lambda w: w.anonymous.patch(f"/api/users/{w.member.id}/", headers=w.token, json={"first_name": "X"}),
    "API 404": lambda w: w.anonymous.get("/api/nope/"),
    "API 405": lambda w: w.anonymous.delete("/api/token/"),
    "API 400 bad JSON": lambda w: w.anonymous.post("/api/token/", data="{", content_type="application/json"),
    "API 412": lambda w: w.anonymous.patch("/api/users/me/", headers={**w.token, "If-Match": '"0"'}, json={}),
    "API 413": lambda w: w.anonymous.post(
        "/api/token/", data=b"x" * (w.app.config["MAX_CONTENT_LENGTH"] + 1), content_type="application/json"
    ),
    "API 415": lambda w: w.anonymous.patch("/api/users/me/", headers=w.token, data="x", content_type="text/plain"),
    "API 400 untrusted Host": lambda w: w.anonymous.get("/api/users/me/", headers={"Host": "evil.example"}),
    "API 500": lambda w: w.anonymous.get("/api/boom/"),
    "error page 404": lambda w: w.anonymous.get("/nope"),
    "error page 404 signed in": lambda w: w.browser.get("/nope"),
    "error page 405": lambda w: w.anonymous.get("/logout"),
    "error page 413": lambda w: w.anonymous.post(
        "/login", data=b"x" * (w.app.config["MAX_CONTENT_LENGTH"] + 1), content_type="application/x-www-form-urlencoded"
    ),
    "error page 400 untrusted Host": lambda w: w.anonymous.get("/login", headers={"Host": "evil.example"}),
    "error page 500": lambda w: w.anonymous.get("/boom"),
    "static file": lambda w: w.anonymous.get("/static/portal.css"),
    "avatar file": lambda w: w.anonymous.get(f"/media/avatars/{w.avatar}"),
}


@pytest.mark.parametrize("label", list(ANSWERS))
def test_every_answer_carries_csp_nosniff_no_framing_and_a_referrer_policy(world, label):
    with ANSWERS[label](world) as response:  # closes the files of static and avatar answers
        headers = response.headers

    assert parse_csp(headers.get("Content-Security-Policy", "")) == EXPECTED_CSP, headers.get("Content-Security-Policy")
    assert len(headers.getlist("Content-Security-Policy")) == 1
    assert headers.get("X-Content-Type-Options") == "nosniff"
    assert headers.get("X-Frame-Options") == "DENY"
    assert headers.get("Referrer-Policy") in SAFE_REFERRER_POLICIES


def test_the_answers_above_are_the_statuses_they_are_named_after(world):
    """The parametrised header test above is only worth something if each request is what it says."""
    expected = {
        "redirect /": 302, "sign-in POST /login (302)": 302, "API 304": 304, "API 401": 401, "API 403": 403,
        "API 404": 404, "API 405": 405, "API 400 bad JSON": 400, "API 412": 412, "API 413": 413, "API 415": 415,
        "API 400 untrusted Host": 400, "API 500": 500, "error page 404": 404, "error page 404 signed in": 404,
        "error page 405": 405, "error page 413": 413, "error page 400 untrusted Host": 400, "error page 500": 500,
    }
    for label, status in expected.items():
        with ANSWERS[label](world) as response:
            assert response.status_code == status, label


def test_every_page_carries_the_security_headers(world):
    for label, response in get_pages(world):
        assert parse_csp(response.headers.get("Content-Security-Policy", "")) == EXPECTED_CSP, label
        assert response.headers.get("X-Content-Type-Options") == "nosniff", label
        assert response.headers.get("X-Frame-Options") == "DENY", label
        assert response.headers.get("Referrer-Policy") in SAFE_REFERRER_POLICIES, label


# HSTS -----------------------------------------------------------------------------------------


@pytest.fixture
def production_app(make_app, monkeypatch):
    monkeypatch.setenv("SECRET_KEY", "production-secret-key-for-the-hsts-tests-0123456789")
    monkeypatch.setenv("FLASK_TRUSTED_HOSTS", "localhost")
    app = make_app("production")
    with app.app_context(), unit_of_work():
        accounts.create_user("prod@example.com", PASSWORD, SYSTEM, email_verified=True)
    return app


def test_a_production_app_sends_hsts_of_at_least_a_year_on_pages_api_and_errors(production_app):
    client = production_app.test_client()
    token = client.post("/api/auth/token/login/", json={"email": "prod@example.com", "password": PASSWORD})
    assert token.status_code == 200
    answers = {
        "page": client.get("/login"),
        "API": client.get("/api/users/me/", headers={"Authorization": f"Token {token.get_json()['auth_token']}"}),
        "API error": client.get("/api/users/me/"),
        "error page": client.get("/nope"),
        "static": client.get("/static/portal.css"),
    }

    for label, response in answers.items():
        response.close()
        hsts = response.headers.get("Strict-Transport-Security", "")
        found = re.fullmatch(r"max-age=(\d+)(; includeSubDomains)?(; preload)?", hsts)
        assert found, (label, hsts)
        assert int(found.group(1)) >= 31536000, (label, hsts)


def test_a_development_or_test_app_sends_no_hsts(app, client, user, token_auth):
    for response in (client.get("/login"), client.get("/api/users/me/", headers=token_auth(user)), client.get("/nope")):
        assert "Strict-Transport-Security" not in response.headers


# Cache-Control ---------------------------------------------------------------------------------


API_READS_AND_WRITES = {
    "GET /api/profile/": lambda w, h: w.anonymous.get("/api/profile/", headers=h),
    "POST /api/profile/": lambda w, h: w.anonymous.post("/api/profile/", headers=h),
    "GET /api/users/<id>/": lambda w, h: w.anonymous.get(f"/api/users/{w.root.id}/", headers=h),
    "PATCH /api/users/<id>/": lambda w, h: w.anonymous.patch(
        f"/api/users/{w.root.id}/", headers=h, json={"last_name": "Root"}
    ),
    "GET /api/users/me/": lambda w, h: w.anonymous.get("/api/users/me/", headers=h),
    "PUT /api/users/me/": lambda w, h: w.anonymous.put("/api/users/me/", headers=h, json={"first_name": "Rhea"}),
    "GET /api/v1/accounts/users/<pk>/": lambda w, h: w.anonymous.get(f"/api/v1/accounts/users/{w.root.id}/", headers=h),
    "GET 304": lambda w, h: w.anonymous.get(
        "/api/users/me/", headers={**h, "If-None-Match": w.anonymous.get("/api/users/me/", headers=h).headers["ETag"]}
    ),
    "PATCH 412": lambda w, h: w.anonymous.patch("/api/users/me/", headers={**h, "If-Match": '"0"'}, json={}),
    "GET another's profile (staff)": lambda w, h: w.anonymous.get(f"/api/users/{w.member.id}/", headers=h),
    "404 with credentials": lambda w, h: w.anonymous.get("/api/users/999999/", headers=h),
    "400 with credentials": lambda w, h: w.anonymous.patch("/api/users/me/", headers=h, json={"first_name": 5}),
}


@pytest.mark.parametrize("scheme", ["bearer", "token"])
@pytest.mark.parametrize("label", list(API_READS_AND_WRITES))
def test_every_api_answer_to_a_credential_is_no_store(world, scheme, label):
    response = API_READS_AND_WRITES[label](world, schemes(world)[scheme])

    assert response.status_code < 500, response.status_code
    assert response.headers.get("Cache-Control") == "no-store", response.headers.get("Cache-Control")


@pytest.mark.parametrize(
    "label",
    ["POST /api/token/", "POST /api/token/refresh/", "POST /api/auth/token/login/"],
)
def test_answers_that_hand_out_tokens_are_no_store(world, label):
    """RFC 6749 §5.1: an answer holding tokens must never be kept by a cache (ASVS: sensitive data
    not cached). These answers carry new credentials although the request carried none."""
    login = {"email": world.member.email, "password": PASSWORD}
    response = {
        "POST /api/token/": lambda: world.anonymous.post("/api/token/", json=login),
        "POST /api/token/refresh/": lambda: world.anonymous.post(
            "/api/token/refresh/", json={"refresh": world.pair["refresh"]}
        ),
        "POST /api/auth/token/login/": lambda: world.anonymous.post("/api/auth/token/login/", json=login),
    }[label]()

    assert response.status_code == 200
    assert response.headers.get("Cache-Control") == "no-store", response.headers.get("Cache-Control")


def test_every_signed_in_page_is_no_store(world):
    for label, response in get_pages(world):
        if label.split()[1] in {page_urls(world)[e] for e in ANONYMOUS_PAGES}:
            continue
        assert response.headers.get("Cache-Control") == "no-store", (label, response.headers.get("Cache-Control"))


def test_a_signed_in_error_page_is_no_store(world):
    response = world.browser.get("/nope")

    assert response.status_code == 404
    assert response.headers.get("Cache-Control") == "no-store"


def test_versioned_static_files_stay_cacheable_for_a_year_for_signed_in_browsers(world):
    page = world.browser.get("/profile/").get_data(as_text=True)
    urls = re.findall(r'(?:href|src)="(/static/[^"]+\?v=[0-9a-f]+)"', page)
    assert urls, "no versioned static URL on the page"

    for url in urls:
        with world.browser.get(url) as response:
            pass
        cache = response.headers.get("Cache-Control", "")
        assert response.status_code == 200, url
        assert "no-store" not in cache, (url, cache)
        assert "max-age=31536000" in cache and "immutable" in cache, (url, cache)


@pytest.mark.parametrize("who", ["browser", "bearer", "token"])
def test_avatar_files_stay_cacheable_for_a_year_for_signed_in_callers(world, who):
    url = f"/media/avatars/{world.avatar}"
    with (world.browser.get(url) if who == "browser"
          else world.anonymous.get(url, headers=schemes(world)[who])) as response:
        pass

    cache = response.headers.get("Cache-Control", "")
    assert response.status_code == 200
    assert response.mimetype == "image/jpeg"
    assert response.headers.get("X-Content-Type-Options") == "nosniff"
    assert "no-store" not in cache
    assert "max-age=31536000" in cache and "immutable" in cache


def keeps_out_of_shared_caches(response) -> bool:
    directives = {part.strip().split("=")[0] for part in response.headers.get("Cache-Control", "").split(",")}
    return bool(directives & {"no-store", "private"}) and "public" not in directives


@pytest.mark.parametrize("path", ["/login", "/register", "/password/forgot"])
def test_a_page_that_gives_a_stranger_a_cookie_is_kept_by_no_cache(app, client, path):
    """The cookie holds the visitor's CSRF secret: a shared cache that kept the answer would hand one
    visitor's cookie (and the form's token) to the next."""
    app.config["WTF_CSRF_ENABLED"] = True  # as in production: the form's secret goes in the cookie
    response = client.get(path)

    assert response.status_code == 200
    assert response.headers.getlist("Set-Cookie"), "no cookie set"
    assert response.headers.get("Cache-Control") == "no-store"


def test_every_answer_that_writes_a_cookie_keeps_it_from_shared_caches(world):
    answers = [(label, call(world)) for label, call in ANSWERS.items()] + get_pages(world)
    with_cookies = [(label, response) for label, response in answers if response.headers.getlist("Set-Cookie")]
    for _, response in answers:
        response.close()

    assert "sign-in POST /login (302)" in dict(with_cookies)
    for label, response in with_cookies:
        assert keeps_out_of_shared_caches(response), (label, response.headers.get("Cache-Control"))


def test_a_remembered_browser_gets_static_files_and_avatars_cacheable_by_itself_only(world):
    """A remembered sign-in's cookie is written afresh on every answer, files included: those stay
    cacheable for a year, in the browser but no shared cache."""
    remembered = world.app.test_client()
    signed = remembered.post("/login", data={"login": world.member.email, "password": PASSWORD, "remember": "y"})
    assert signed.status_code == 302
    page = remembered.get("/profile/").get_data(as_text=True)
    urls = re.findall(r'(?:href|src)="(/static/[^"]+\?v=[0-9a-f]+)"', page) + [f"/media/avatars/{world.avatar}"]

    for url in urls:
        with remembered.get(url) as response:
            pass
        cache = response.headers.get("Cache-Control", "")
        assert response.status_code == 200, url
        assert response.headers.getlist("Set-Cookie"), url
        assert keeps_out_of_shared_caches(response), (url, cache)
        assert "max-age=31536000" in cache and "immutable" in cache, (url, cache)


# CORS -----------------------------------------------------------------------------------------


def cors_headers(response) -> dict:
    return {name: value for name, value in response.headers.items() if name.lower().startswith("access-control-")}


@pytest.mark.parametrize("origin", [EVIL_ORIGIN, ALLOWED_ORIGIN, "null", "http://localhost"])
def test_no_cors_headers_by_default_for_any_origin(world, origin):
    h = {"Origin": origin}
    answers = {
        "API GET": world.anonymous.get("/api/users/me/", headers={**world.bearer, **h}),
        "API POST token": world.anonymous.post(
            "/api/token/", headers=h, json={"email": world.member.email, "password": PASSWORD}
        ),
        "API preflight": world.anonymous.options(
            "/api/users/me/",
            headers={**h, "Access-Control-Request-Method": "PATCH", "Access-Control-Request-Headers": "authorization"},
        ),
        "API error": world.anonymous.get("/api/nope/", headers=h),
        "page": world.browser.get("/profile/", headers=h),
    }

    for label, response in answers.items():
        assert cors_headers(response) == {}, (label, cors_headers(response))


@pytest.fixture
def cors_app(make_app):
    app = make_app(CORS_ORIGINS=[ALLOWED_ORIGIN])
    with app.app_context(), unit_of_work():
        accounts.create_user("cors@example.com", PASSWORD, SYSTEM, email_verified=True)
    return app


@pytest.fixture
def cors_bearer(cors_app):
    response = cors_app.test_client().post("/api/token/", json={"email": "cors@example.com", "password": PASSWORD})
    return {"Authorization": f"Bearer {response.get_json()['access']}"}


def test_a_named_origin_is_echoed_on_the_api_without_credentials(cors_app, cors_bearer):
    client = cors_app.test_client()
    h = {"Origin": ALLOWED_ORIGIN}
    answers = {
        "GET": client.get("/api/users/me/", headers={**cors_bearer, **h}),
        "preflight": client.options(
            "/api/users/me/",
            headers={**h, "Access-Control-Request-Method": "PATCH", "Access-Control-Request-Headers": "authorization"},
        ),
        "error": client.get("/api/users/me/", headers=h),
    }

    for label, response in answers.items():
        assert response.headers.get("Access-Control-Allow-Origin") == ALLOWED_ORIGIN, label
        assert len(response.headers.getlist("Access-Control-Allow-Origin")) == 1, label
        assert "Access-Control-Allow-Credentials" not in response.headers, label
        assert "Origin" in {v.strip() for v in ",".join(response.headers.getlist("Vary")).split(",")}, label


@pytest.mark.parametrize(
    "origin",
    [EVIL_ORIGIN, "null", "http://app.example", "https://app.example.evil.example", "https://evilapp.example",
     "https://app.example:8443", "HTTPS://APP.EXAMPLE.evil.example"],
)
def test_a_configured_app_echoes_no_other_origin(cors_app, cors_bearer, origin):
    client = cors_app.test_client()
    h = {"Origin": origin}
    answers = {
        "GET": client.get("/api/users/me/", headers={**cors_bearer, **h}),
        "preflight": client.options("/api/users/me/", headers={**h, "Access-Control-Request-Method": "PATCH"}),
    }

    for label, response in answers.items():
        assert cors_headers(response) == {}, (label, cors_headers(response))


def test_a_configured_origin_gets_no_cors_headers_on_the_cookie_signed_pages(cors_app):
    client = cors_app.test_client()
    sign_in_page(client, SimpleNamespace(email="cors@example.com", password=PASSWORD))

    for path in ("/login", "/profile/", "/profile/export"):
        response = client.get(path, headers={"Origin": ALLOWED_ORIGIN})
        assert cors_headers(response) == {}, path


# No inline code --------------------------------------------------------------------------------


def test_no_page_has_inline_script_or_style(world):
    answers = html_answers(world)

    assert {label: r.status_code for label, r, _ in answers} == {label: status for label, _, status in answers}
    scanned = [(label, r) for label, r, _ in answers if r.mimetype == "text/html"]
    assert len(scanned) >= 38
    for label, response in scanned:
        assert inline_code(response.get_data(as_text=True)) == [], label
    assert "profile is saved" in dict(scanned)["profile with a flash"].get_data(as_text=True)
    assert "changed elsewhere" in dict(scanned)["edit with a conflict"].get_data(as_text=True)


def test_the_inline_code_scanner_finds_what_it_looks_for():
    page = (
        '<script>alert(1)</script><script src="/static/portal.js"></script><style>p{}</style>'
        '<p style="color:red" onclick="x()"><a href="javascript:alert(1)">a</a>'
        '<script src="https://cdn.example/x.js"></script><link rel="stylesheet" href="//cdn.example/x.css">'
    )

    assert len(inline_code(page)) == 7
