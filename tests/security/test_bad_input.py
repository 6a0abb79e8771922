"""Issue 9, "Bad input": what an attacker sends instead of a profile. Each test names the attack,
expects a clear 4xx (on the field when there is one) or the safe behaviour, and proves that
nothing was stored: the row is unchanged, no avatar file was left, no row was added."""

import io
import json
import re
import struct
import zlib
from functools import cache
from urllib.parse import quote, urlencode, urljoin, urlsplit

import pytest
from PIL import Image

from ..conftest import PASSWORD, image_bytes, stored_avatars, stored_user
from .conftest import (
    connect,
    multipart_body,
    sign_in_page,
    table_counts,
    users_with_email,
)

# Every profile write of every dialect: (dialect, method, path, text fields, file field).
DIALECTS = {
    "004": ("PATCH", "/api/users/me/",
            ("first_name", "last_name", "username", "mobile_number", "email", "gender"), "avatar"),
    "002": ("PATCH", "/api/users/{id}/", ("username", "email", "first_name", "last_name", "number_phone"), "avatar"),
    "003": ("PATCH", "/api/v1/accounts/users/{id}/",
            ("email", "first_name", "last_name", "phone", "gender", "country", "address", "birthday"), "photo"),
}
TEXT_CASES = [(dialect, field) for dialect, (_, _, fields, _) in DIALECTS.items() for field in fields]
FILE_CASES = [(dialect, spec[3]) for dialect, spec in DIALECTS.items()]

REGISTER = "/api/v1/accounts/users/"
NEW_EMAIL = "newcomer@example.com"
REGISTRATION = {
    "email": NEW_EMAIL, "password": "Vivid-orchard-2719", "confirm_password": "Vivid-orchard-2719",
    "first_name": "Neda", "last_name": "Karimi", "phone": "+98 912 000 0000", "gender": "F", "country": "IR",
}
REGISTER_FIELDS = tuple(REGISTRATION)

BIDI_CONTROLS = ["\u202a", "\u202b", "\u202c", "\u202d", "\u202e", "\u2066", "\u2067", "\u2068", "\u2069"]


def case_id(case):
    return "-".join(case)


def write(client, dialect, user, headers, **kwargs):
    method, path, _, _ = DIALECTS[dialect]
    return client.open(path.format(id=user.id), method=method, headers=headers, **kwargs)


def assert_field_error(response, field):
    assert response.status_code == 400, (response.status_code, response.get_data(as_text=True)[:300])
    body = response.get_json()
    assert field in body, body
    assert isinstance(body[field], list) and body[field] and all(isinstance(m, str) for m in body[field]), body


def edit_form(user, **changes) -> dict:
    """Every field of the profile edit page, as a browser posts it, with ``changes`` on top."""
    return {"first_name": "", "last_name": "", "username": "", "email": user.email, "phone": "", "gender": "",
            "country": "", "address": "", "birthday": "", **changes}


@pytest.fixture
def auth(user, token_auth):
    return token_auth(user)


@pytest.fixture
def unchanged(app, user):
    """Call after the attack: asserts the user's row, the table sizes and the avatar folder are as before."""
    row, counts = stored_user(app, user.id), table_counts(app)

    def check():
        assert stored_user(app, user.id) == row
        assert table_counts(app) == counts
        assert stored_avatars(app) == []

    return check


# Malformed JSON, JSON that is not an object -----------------------------------------------------


MALFORMED = {
    "truncated": b'{"first_name": ',
    "single-quotes": b"{'first_name': 'x'}",
    "trailing-comma": b'{"first_name": "x",}',
    "bare-word": b"first_name",
    "two-documents": b'{"first_name": "x"} {"first_name": "y"}',
    "invalid-utf8": b'{"first_name": "\xff\xfe"}',
    "lone-surrogate": b'{"first_name": "\\ud800"}',
    "nul-outside-string": b'{"first_name": "x"}\x00',
}


def parse_error_problem(response):
    """None when the answer is a 400 JSON parse error; else what it was instead."""
    body = response.get_json(silent=True)
    if response.status_code == 400 and isinstance(body, dict) and set(body) == {"detail"} \
            and body["detail"].startswith("JSON parse error"):
        return None
    return f"{response.status_code} {response.get_data(as_text=True)[:200]}"


def field_error_problem(response, field):
    """None when the answer is a 400 whose body names ``field`` with a list of messages."""
    body = response.get_json(silent=True)
    if response.status_code == 400 and isinstance(body, dict) and isinstance(body.get(field), list) \
            and body[field] and all(isinstance(m, str) for m in body[field]):
        return None
    return f"{response.status_code} {response.get_data(as_text=True)[:200]}"


def problems_of(results: dict) -> dict:
    return {name: problem for name, problem in results.items() if problem is not None}


@pytest.mark.parametrize("name", MALFORMED)
def test_malformed_json_is_a_400_parse_error_and_changes_nothing(client, user, auth, unchanged, name):
    results = {
        dialect: parse_error_problem(
            write(client, dialect, user, auth, data=MALFORMED[name], content_type="application/json"))
        for dialect in DIALECTS
    }

    assert problems_of(results) == {}
    unchanged()


@pytest.mark.parametrize("name", MALFORMED)
def test_malformed_json_on_sign_in_and_sign_up_stores_nothing(app, client, name):
    counts = table_counts(app)

    results = {
        path: parse_error_problem(client.post(path, data=MALFORMED[name], content_type="application/json"))
        for path in (REGISTER, "/api/token/", "/api/auth/token/login/", "/api/token/refresh/")
    }

    assert problems_of(results) == {}
    assert table_counts(app) == counts


NOT_OBJECTS = {"list": b'["first_name"]', "string": b'"first_name"', "number": b"42", "null": b"null",
               "true": b"true", "nan": b"NaN", "empty-list": b"[]"}


@pytest.mark.parametrize("name", NOT_OBJECTS)
def test_json_that_is_not_an_object_is_a_400_non_field_error_and_changes_nothing(client, user, auth, unchanged, name):
    results = {
        dialect: field_error_problem(
            write(client, dialect, user, auth, data=NOT_OBJECTS[name], content_type="application/json"),
            "non_field_errors",
        )
        for dialect in DIALECTS
    }

    assert problems_of(results) == {}
    unchanged()


@pytest.mark.parametrize("name", NOT_OBJECTS)
def test_json_that_is_not_an_object_on_sign_in_and_sign_up_stores_nothing(app, client, name):
    counts = table_counts(app)

    results = {
        path: field_error_problem(
            client.post(path, data=NOT_OBJECTS[name], content_type="application/json"), "non_field_errors")
        for path in (REGISTER, "/api/token/", "/api/auth/token/login/", "/api/token/refresh/")
    }

    assert problems_of(results) == {}
    assert table_counts(app) == counts


# Wrong types --------------------------------------------------------------------------------------


WRONG_TYPES = {"number": 42, "float": 4.2, "boolean": True, "list": ["Ann"], "object": {"first": "Ann"}}


@pytest.mark.parametrize("case", TEXT_CASES, ids=case_id)
def test_a_wrong_json_type_is_a_400_on_that_field_and_changes_nothing(client, user, auth, unchanged, case):
    dialect, field = case

    results = {
        kind: field_error_problem(write(client, dialect, user, auth, json={field: value}), field)
        for kind, value in WRONG_TYPES.items()
    }

    assert problems_of(results) == {}
    unchanged()


AVATAR_JSON_VALUES = {"string": "a string", "number": 42, "object": {"name": "x.jpg"}, "list": [], "boolean": True}


@pytest.mark.parametrize("case", FILE_CASES, ids=case_id)
def test_a_json_value_for_the_avatar_is_a_400_on_that_field_and_changes_nothing(client, user, auth, unchanged, case):
    dialect, field = case

    results = {
        kind: field_error_problem(write(client, dialect, user, auth, json={field: value}), field)
        for kind, value in AVATAR_JSON_VALUES.items()
    }

    assert problems_of(results) == {}
    unchanged()


@pytest.mark.parametrize("field", REGISTER_FIELDS)
def test_a_wrong_json_type_on_sign_up_is_a_400_on_that_field_and_creates_nobody(app, client, field):
    counts = table_counts(app)
    results = {}
    for kind, value in WRONG_TYPES.items():
        body = {**REGISTRATION, field: value}
        if field == "password":
            body["confirm_password"] = value
        results[kind] = field_error_problem(client.post(REGISTER, json=body), field)

    assert problems_of(results) == {}
    assert table_counts(app) == counts


@pytest.mark.parametrize("path, field", [
    ("/api/token/", "email"), ("/api/token/", "password"), ("/api/auth/token/login/", "username"),
    ("/api/token/refresh/", "refresh"), ("/api/v1/accounts/users/verify-otp/", "otp"),
    ("/api/v1/accounts/users/verify-otp/", "email"), ("/api/users/reset_password/", "email"),
    ("/api/users/reset_password_confirm/", "uid"), ("/api/users/reset_password_confirm/", "token"),
])
def test_a_wrong_json_type_on_a_public_route_is_a_4xx_and_stores_nothing(app, client, user, path, field):
    body = {"email": user.email, "password": PASSWORD, "username": "someone", "refresh": "x", "otp": "123456",
            "uid": "MQ", "token": "x", "new_password": "Another-long-passphrase-42"}
    counts, row = table_counts(app), stored_user(app, user.id)

    statuses = {kind: client.post(path, json={**body, field: value}) for kind, value in WRONG_TYPES.items()}

    assert {k: r.status_code for k, r in statuses.items() if not (400 <= r.status_code < 500 and r.is_json)} == {}
    assert table_counts(app) == counts
    assert stored_user(app, user.id) == row


# 1 MB strings -------------------------------------------------------------------------------------


MEGABYTE = "a" * 1_048_576


@pytest.mark.parametrize("case", TEXT_CASES, ids=case_id)
def test_a_1_mb_string_is_a_400_on_that_field_and_changes_nothing(client, user, auth, unchanged, case):
    dialect, field = case

    response = write(client, dialect, user, auth, json={field: MEGABYTE})

    assert_field_error(response, field)
    unchanged()


@pytest.mark.parametrize("field", REGISTER_FIELDS)
def test_a_1_mb_string_on_sign_up_is_a_400_on_that_field_and_creates_nobody(app, client, field):
    counts = table_counts(app)
    body = {**REGISTRATION, field: MEGABYTE}
    if field == "password":
        body["confirm_password"] = MEGABYTE

    response = client.post(REGISTER, json=body)

    assert_field_error(response, field)
    assert table_counts(app) == counts


@pytest.mark.parametrize("path", ["/api/token/", "/api/auth/token/login/"])
def test_a_1_mb_sign_in_field_is_refused_and_issues_nothing(app, client, user, path):
    counts = table_counts(app)

    for field in ("email", "password"):
        response = client.post(path, json={"email": user.email, "password": PASSWORD, field: MEGABYTE})
        assert response.status_code == 401, field
        assert response.get_json() == {"detail": "No active account found with the given credentials"}
    assert table_counts(app) == counts


def test_a_1_mb_field_in_a_form_is_a_400_on_that_field(client, user, auth, unchanged):
    response = client.patch("/api/users/me/", headers=auth, data={"first_name": MEGABYTE})

    assert_field_error(response, "first_name")
    unchanged()


# NUL bytes ----------------------------------------------------------------------------------------


NUL_VALUES = {
    "email": "us\x00er@example.com", "username": "ann\x00", "first_name": "Ann\x00e", "last_name": "\x00",
    "mobile_number": "+1 555\x00 0100", "number_phone": "555\x000100", "phone": "+1 555\x00 0100",
    "gender": "male\x00", "country": "I\x00", "address": "1 Main St\x00", "birthday": "1990-01-01\x00",
}


@pytest.mark.parametrize("case", TEXT_CASES, ids=case_id)
def test_a_nul_byte_in_a_field_is_a_400_on_that_field_and_changes_nothing(client, user, auth, unchanged, case):
    dialect, field = case
    body, content_type = multipart_body([(field, NUL_VALUES[field])])

    results = {
        "json": field_error_problem(write(client, dialect, user, auth, json={field: NUL_VALUES[field]}), field),
        "multipart": field_error_problem(
            write(client, dialect, user, auth, data=body, content_type=content_type), field),
        "urlencoded": field_error_problem(write(client, dialect, user, auth, data={field: NUL_VALUES[field]}), field),
    }

    assert problems_of(results) == {}
    unchanged()


@pytest.mark.parametrize("field", ["email", "first_name", "last_name", "phone", "country"])
def test_a_nul_byte_on_sign_up_is_a_400_on_that_field_and_creates_nobody(app, client, field):
    counts = table_counts(app)

    response = client.post(REGISTER, json={**REGISTRATION, field: NUL_VALUES[field]})

    assert_field_error(response, field)
    assert table_counts(app) == counts


@pytest.mark.parametrize("path, body", [
    ("/api/token/", {"email": "user\x00@example.com", "password": PASSWORD}),
    ("/api/token/", {"username": "user\x00", "password": PASSWORD}),
    ("/api/auth/token/login/", {"email": "user@example.com\x00", "password": PASSWORD}),
    ("/api/v1/accounts/users/verify-otp/", {"email": "user\x00@example.com", "otp": "123456"}),
    ("/api/v1/accounts/users/verify-otp/", {"email": "user@example.com", "otp": "12\x003456"}),
    ("/api/users/reset_password/", {"email": "user\x00@example.com"}),
    ("/api/users/reset_password_confirm/",
     {"uid": "M\x00Q", "token": "x\x00", "new_password": "Another-long-passphrase-42"}),
], ids=["token-email", "token-username", "key-email", "otp-email", "otp-code", "reset-email", "reset-confirm"])
def test_a_nul_byte_on_a_public_route_is_a_4xx_never_a_server_error(app, client, user, path, body):
    counts, row = table_counts(app), stored_user(app, user.id)

    response = client.post(path, json=body)

    assert 400 <= response.status_code < 500, response.status_code
    assert response.is_json
    assert table_counts(app) == counts
    assert stored_user(app, user.id) == row


def test_a_nul_byte_in_the_sign_in_page_is_refused_never_a_server_error(app, client, user):
    counts = table_counts(app)

    response = client.post("/login", data={"login": "user\x00@example.com", "password": PASSWORD})

    assert response.status_code == 400
    assert table_counts(app) == counts


def test_a_nul_byte_in_the_admin_search_is_never_a_server_error(app, make_user):
    staff = make_user("staff@example.com", staff=True)
    browser = sign_in_page(app.test_client(), staff)

    response = browser.get("/admin/users/?q=a%00b")

    assert response.status_code in (200, 400), response.status_code


# Deeply nested JSON -------------------------------------------------------------------------------


NESTED = {
    "open-lists": b"[" * 100_000,
    "closed-lists": b"[" * 100_000 + b"]" * 100_000,
    "objects": b'{"a":' * 100_000 + b"1" + b"}" * 100_000,
    "inside-a-field": b'{"first_name": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
}


@pytest.mark.parametrize("name", NESTED)
def test_deeply_nested_json_is_a_400_parse_error_and_changes_nothing(client, user, auth, unchanged, name):
    results = {
        dialect: parse_error_problem(
            write(client, dialect, user, auth, data=NESTED[name], content_type="application/json"))
        for dialect in DIALECTS
    }

    assert problems_of(results) == {}
    unchanged()


@pytest.mark.parametrize("name", NESTED)
def test_deeply_nested_json_on_a_public_route_is_a_400_and_stores_nothing(app, client, name):
    counts = table_counts(app)

    results = {
        path: parse_error_problem(client.post(path, data=NESTED[name], content_type="application/json"))
        for path in (REGISTER, "/api/token/", "/api/token/refresh/", "/api/v1/accounts/users/verify-otp/")
    }

    assert problems_of(results) == {}
    assert table_counts(app) == counts


def test_nesting_that_parses_is_still_a_400_on_the_field(client, user, auth, unchanged):
    body = b'{"first_name": ' + b"[" * 500 + b'"Ann"' + b"]" * 500 + b"}"

    response = client.patch("/api/users/me/", headers=auth, data=body, content_type="application/json")

    assert_field_error(response, "first_name")
    unchanged()


# Forms with thousands of parts ----------------------------------------------------------------------


def many_parts(count=5000, first=()):
    return list(first) + [(f"field{i}", "x") for i in range(count)]


def test_a_multipart_form_with_thousands_of_parts_is_413_json_on_the_api(client, user, auth, unchanged):
    body, content_type = multipart_body(many_parts(first=[("first_name", "Flood")]))

    response = client.patch("/api/users/me/", headers=auth, data=body, content_type=content_type)

    assert response.status_code == 413
    assert response.get_json() == {"detail": "Request body is too large."}
    unchanged()


def test_a_multipart_sign_up_with_thousands_of_parts_is_413_and_creates_nobody(app, client):
    counts = table_counts(app)
    body, content_type = multipart_body(many_parts(first=list(REGISTRATION.items())))

    response = client.post(REGISTER, data=body, content_type=content_type)

    assert response.status_code == 413
    assert response.is_json
    assert table_counts(app) == counts


def test_a_multipart_edit_page_post_with_thousands_of_parts_is_a_413_page(app, user):
    browser = sign_in_page(app.test_client(), user)
    row = stored_user(app, user.id)
    body, content_type = multipart_body(many_parts(first=list(edit_form(user, first_name="Flood").items())))

    response = browser.post("/profile/edit", data=body, content_type=content_type)

    assert response.status_code == 413
    assert response.mimetype == "text/html"
    assert stored_user(app, user.id)["first_name"] == row["first_name"]
    assert stored_avatars(app) == []


def test_an_urlencoded_api_form_with_thousands_of_parts_is_413(client, user, auth, unchanged):
    """werkzeug's max_form_parts guards multipart bodies only; an urlencoded body of MAX_CONTENT_LENGTH
    holds ~800,000 fields (seconds of CPU and ~200 MB of memory to parse). The same limit must hold."""
    body = urlencode(many_parts(first=[("first_name", "Flood")]))

    response = client.patch("/api/users/me/", headers=auth, data=body, content_type="application/x-www-form-urlencoded")

    assert response.status_code == 413
    assert response.get_json() == {"detail": "Request body is too large."}
    unchanged()


def test_an_urlencoded_sign_in_page_post_with_thousands_of_parts_is_a_413_page(app, client, user):
    counts = table_counts(app)
    body = urlencode(many_parts(first=[("login", user.email), ("password", PASSWORD)]))

    response = client.post("/login", data=body, content_type="application/x-www-form-urlencoded")

    assert response.status_code == 413
    assert response.mimetype == "text/html"
    assert table_counts(app) == counts


# Bodies over the limit ------------------------------------------------------------------------------


@pytest.fixture
def small_limit(app):
    app.config["MAX_CONTENT_LENGTH"] = 20_000
    return 20_000


def test_a_json_body_over_the_limit_is_413_json_and_changes_nothing(client, user, auth, unchanged, small_limit):
    response = client.patch("/api/users/me/", headers=auth, json={"first_name": "a" * small_limit})

    assert response.status_code == 413
    assert response.get_json() == {"detail": "Request body is too large."}
    unchanged()


@pytest.mark.parametrize("case", FILE_CASES, ids=case_id)
def test_an_upload_over_the_limit_is_413_json_and_leaves_no_file(client, user, auth, unchanged, small_limit, case):
    dialect, field = case
    big = image_bytes("PNG", size=(300, 300), mode="RGB", color=(1, 2, 3), compress_level=0)
    assert len(big) > small_limit
    body, content_type = multipart_body([("first_name", "Big"), (field, (big, "big.png", "image/png"))])

    response = write(client, dialect, user, auth, data=body, content_type=content_type)

    assert response.status_code == 413
    assert response.get_json() == {"detail": "Request body is too large."}
    unchanged()


@pytest.mark.parametrize("path", [REGISTER, "/api/token/", "/api/auth/token/login/", "/api/users/reset_password/"])
def test_a_public_body_over_the_limit_is_413_json_and_stores_nothing(app, client, user, small_limit, path):
    counts = table_counts(app)

    response = client.post(path,
                           json={**REGISTRATION, "email": user.email, "password": PASSWORD, "x": "a" * small_limit})

    assert response.status_code == 413
    assert response.get_json() == {"detail": "Request body is too large."}
    assert table_counts(app) == counts


@pytest.mark.parametrize("shape", ["padded-valid-json", "long-string"])
def test_a_chunked_body_over_the_limit_without_content_length_is_413_json(
    app, live_server, user, auth, unchanged, small_limit, shape
):
    """No Content-Length to check up front: the limit must hold while the body streams in, and a
    body cut at the limit must never be taken for the whole request."""
    conn = connect(live_server)
    conn.putrequest("PATCH", "/api/users/me/")
    conn.putheader("Authorization", auth["Authorization"])
    conn.putheader("Content-Type", "application/json")
    conn.putheader("Transfer-Encoding", "chunked")
    conn.endheaders()
    payload = {
        "padded-valid-json": b'{"first_name": "Truncated"}' + b" " * (small_limit * 2),
        "long-string": b'{"first_name": "' + b"a" * (small_limit * 2) + b'"}',
    }[shape]
    try:
        for start in range(0, len(payload), 4096):
            piece = payload[start:start + 4096]
            conn.send(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
        conn.send(b"0\r\n\r\n")
    except (BrokenPipeError, ConnectionResetError):
        pass  # the server may answer and close before the whole body is sent
    response = conn.getresponse()
    status, body = response.status, response.read()
    conn.close()

    assert status == 413
    assert json.loads(body) == {"detail": "Request body is too large."}
    unchanged()


def test_a_declared_length_over_the_limit_is_refused_before_the_body_is_read(
    live_server, user, auth, unchanged, small_limit
):
    conn = connect(live_server)
    conn.putrequest("PATCH", "/api/users/me/")
    conn.putheader("Authorization", auth["Authorization"])
    conn.putheader("Content-Type", "application/json")
    conn.putheader("Content-Length", str(small_limit * 1000))
    conn.endheaders()
    conn.send(b'{"first_name": "Early"}')  # far less than declared: the server must not wait for the rest
    response = conn.getresponse()
    status = response.status
    conn.close()

    assert status == 413
    unchanged()


# Pixel floods ---------------------------------------------------------------------------------------


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png(width, height, *, depth=8, color_type=2, idat=None) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, depth, color_type, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr)
            + png_chunk(b"IDAT", idat if idat is not None else zlib.compress(b"\x00" * 64)) + png_chunk(b"IEND", b""))


@cache
def real_png_flood() -> bytes:
    """A complete, valid 30000×30000 black-and-white PNG: 900 megapixels in about 110 KB."""
    row = b"\x00" * (1 + 30000 // 8)
    packer = zlib.compressobj(6)
    data = b"".join(packer.compress(row * 1000) for _ in range(30)) + packer.flush()
    return png(30000, 30000, depth=1, color_type=0, idat=data)


def gif_header(width, height) -> bytes:
    screen = struct.pack("<HHBBB", width, height, 0, 0, 0)
    descriptor = b"," + struct.pack("<HHHHB", 0, 0, width, height, 0)
    return b"GIF89a" + screen + descriptor + b"\x02\x02\x44\x01\x00;"


def jpeg_header(width, height) -> bytes:
    sof = b"\xff\xc0" + struct.pack(">HBHHB", 17, 8, height, width, 3) + b"\x01\x11\x00\x02\x11\x00\x03\x11\x00"
    sos = b"\xff\xda" + struct.pack(">H", 12) + b"\x03\x01\x00\x02\x11\x03\x11\x00\x3f\x00"
    return b"\xff\xd8" + sof + sos + b"\x00" * 100 + b"\xff\xd9"


FLOODS = {
    "png-header-30000x30000": lambda: (png(30000, 30000), "tiny.png", "image/png"),
    "png-real-1bit-30000x30000": lambda: (real_png_flood(), "flood.png", "image/png"),
    "png-header-1x2147483647": lambda: (png(1, 2**31 - 1), "tall.png", "image/png"),
    "gif-header-30000x30000": lambda: (gif_header(30000, 30000), "tiny.gif", "image/gif"),
    "jpeg-header-30000x30000": lambda: (jpeg_header(30000, 30000), "tiny.jpg", "image/jpeg"),
    "png-header-65535x65535": lambda: (png(65535, 65535), "huge.png", "image/png"),
}


@pytest.mark.parametrize("flood", FLOODS)
def test_a_pixel_flood_is_a_400_on_the_avatar_and_leaves_no_file(client, user, auth, unchanged, flood):
    results = {}
    for dialect, field in FILE_CASES:
        body, content_type = multipart_body([("first_name", "Flood"), (field, FLOODS[flood]())])
        response = write(client, dialect, user, auth, data=body, content_type=content_type)
        problem = field_error_problem(response, field)
        if problem is None and "megapixels" not in response.get_json()[field][0]:
            problem = f"refused for another reason: {response.get_json()}"
        results[dialect] = problem

    assert problems_of(results) == {}
    unchanged()


def test_the_pixel_limit_is_the_configured_one(app, client, user, auth, unchanged):
    app.config["AVATAR_MAX_PIXELS"] = 100_000
    body, content_type = multipart_body([("avatar", (image_bytes(size=(400, 300)), "ok.jpg", "image/jpeg"))])

    response = client.patch("/api/users/me/", headers=auth, data=body, content_type=content_type)

    assert_field_error(response, "avatar")
    assert "0.1 megapixels" in response.get_json()["avatar"][0]
    unchanged()


def test_a_pixel_flood_on_the_edit_page_is_a_400_on_the_avatar_and_leaves_no_file(app, user):
    browser = sign_in_page(app.test_client(), user)
    row = stored_user(app, user.id)
    form = edit_form(user, first_name="Flood", avatar=(io.BytesIO(png(30000, 30000)), "tiny.png"))

    response = browser.post("/profile/edit", data=form, content_type="multipart/form-data")

    assert response.status_code == 400
    assert re.search(r'id="avatar-errors".*megapixels', response.get_data(as_text=True), re.S)
    assert stored_user(app, user.id)["first_name"] == row["first_name"]
    assert stored_avatars(app) == []


# Polyglots and renamed files -------------------------------------------------------------------------


def other_format(fmt) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), (10, 200, 10)).save(buffer, fmt)
    return buffer.getvalue()


NOT_IMAGES = {
    "html-named-jpg": lambda: (b"<!doctype html><html><body><script>alert(document.cookie)</script></body></html>",
                               "avatar.jpg", "image/jpeg"),
    "javascript-named-png": lambda: (b"alert(document.domain)//", "avatar.png", "image/png"),
    "gif-javascript-polyglot": lambda: (b"GIF89a/*\x0a\x00\x0a\x00\x00\x00\x00*/=alert(document.domain);//"
                                        + b"\x00" * 32,
                                        "avatar.gif", "image/gif"),
    "pdf-named-png": lambda: (b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n",
                              "avatar.png", "image/png"),
    "svg-with-script": lambda: (b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
                                "avatar.png", "image/svg+xml"),
    "bmp-named-png": lambda: (other_format("BMP"), "avatar.png", "image/png"),
    "tiff-named-jpg": lambda: (other_format("TIFF"), "avatar.jpg", "image/jpeg"),
    "ico-named-png": lambda: (other_format("ICO"), "avatar.png", "image/png"),
    "truncated-jpeg": lambda: (image_bytes()[:2000], "avatar.jpg", "image/jpeg"),
    "empty-file": lambda: (b"", "avatar.jpg", "image/jpeg"),
    "zip-named-jpg": lambda: (b"PK\x03\x04" + b"\x00" * 60, "avatar.jpg", "image/jpeg"),
}


@pytest.mark.parametrize("kind", NOT_IMAGES)
def test_a_file_that_is_not_an_allowed_image_is_a_400_on_the_avatar_and_leaves_no_file(
    client, user, auth, unchanged, kind
):
    results = {}
    for dialect, field in FILE_CASES:
        body, content_type = multipart_body([("first_name", "Poly"), (field, NOT_IMAGES[kind]())])
        results[dialect] = field_error_problem(
            write(client, dialect, user, auth, data=body, content_type=content_type), field)

    assert problems_of(results) == {}
    unchanged()


@pytest.mark.parametrize("kind", ["html-named-jpg", "gif-javascript-polyglot", "pdf-named-png"])
def test_a_file_that_is_not_an_image_is_a_400_on_the_edit_page_and_leaves_no_file(app, user, kind):
    browser = sign_in_page(app.test_client(), user)
    row = stored_user(app, user.id)
    data, filename, _ = NOT_IMAGES[kind]()

    response = browser.post("/profile/edit",
                            data=edit_form(user, first_name="Poly", avatar=(io.BytesIO(data), filename)),
                            content_type="multipart/form-data")

    assert response.status_code == 400
    assert 'id="avatar-errors"' in response.get_data(as_text=True)
    assert stored_user(app, user.id)["first_name"] == row["first_name"]
    assert stored_avatars(app) == []


def gif_with_script_comment() -> bytes:
    buffer = io.BytesIO()
    Image.new("P", (48, 48), 3).save(buffer, "GIF", comment=b"<script>alert(document.cookie)</script>")
    return buffer.getvalue()


DECODABLE_POLYGLOTS = {
    "jpeg-with-html-appended": lambda: (image_bytes() + b"<html><script>alert(document.cookie)</script></html>",
                                        "avatar.jpg", "image/jpeg"),
    "gif-with-script-in-a-comment": lambda: (gif_with_script_comment(), "avatar.gif", "image/gif"),
    "jpeg-named-html": lambda: (image_bytes() + b"<script>alert(1)</script>", "avatar.html", "text/html"),
    "png-named-php": lambda: (image_bytes("PNG") + b"<?php system($_GET['c']); ?>", "shell.php", "application/x-php"),
}


@pytest.mark.parametrize("kind", DECODABLE_POLYGLOTS)
def test_a_real_image_carrying_script_is_stored_only_as_re_encoded_pixels(app, client, user, auth, kind):
    """Safe behaviour for an image that decodes: its pixels are kept, everything else is dropped,
    the stored name is the app's own, and the file is served as an image that no browser sniffs."""
    for dialect, field in FILE_CASES:
        body, content_type = multipart_body([(field, DECODABLE_POLYGLOTS[kind]())])

        response = write(client, dialect, user, auth, data=body, content_type=content_type)

        assert response.status_code == 200, dialect
        [name] = stored_avatars(app)  # the upload before this one was removed
        assert stored_user(app, user.id)["avatar"] == name
        assert re.fullmatch(r"[A-Za-z0-9_-]{32}\.(jpg|png)", name)
        with open(f"{app.config['UPLOAD_FOLDER']}/avatars/{name}", "rb") as fh:
            stored = fh.read()
        assert stored.startswith((b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n"))
        for marker in (b"<script", b"<html", b"alert", b"<?php", b"system("):
            assert marker not in stored, (dialect, marker)
        with client.get(f"/media/avatars/{name}") as served:
            assert served.status_code == 200
            assert served.mimetype in ("image/jpeg", "image/png")
            assert served.headers["X-Content-Type-Options"] == "nosniff"


# Open redirects ----------------------------------------------------------------------------------------


# Values of ?next= as the application receives them.
EVIL_NEXT = [
    "//evil.example", "//evil.example/profile/", "///evil.example", "////evil.example",
    "/\\evil.example", "\\\\evil.example", "\\/evil.example", "/\\/evil.example",
    "https:evil.example", "https:/evil.example", "https://evil.example", "http://localhost.evil.example/",
    "https://localhost@evil.example/", "evil.example", "@evil.example",
    "/%2F%2Fevil.example", "/%2F/evil.example", "/%5Cevil.example",
    "javascript:alert(document.cookie)", "JaVaScRiPt:alert(1)", "java\tscript:alert(1)", " javascript:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "/\t/evil.example", "/\n/evil.example", "/\r\n/evil.example", " //evil.example", "\x00//evil.example",
    "/.//evil.example", "/..//evil.example",
]
# Raw query strings, decoded by the server before the application sees them.
EVIL_RAW_QUERIES = [
    "next=/%2F%2Fevil.example", "next=%2F%2Fevil.example", "next=%5C%5Cevil.example", "next=/%5Cevil.example",
    "next=%2F%09%2Fevil.example", "next=https%3A%2F%2Fevil.example", "next=//evil%2Eexample",
    "next=%E3%80%82//evil.example", "next=/profile/&next=//evil.example",
]


def lands_on_the_site(location: str) -> bool:
    """Where a browser goes with this Location: it strips surrounding spaces and C0 controls, drops
    tabs and line breaks, and reads backslashes as slashes in http(s) URLs (WHATWG URL)."""
    cleaned = location.strip("".join(map(chr, range(0x21))))
    cleaned = re.sub(r"[\t\n\r]", "", cleaned).replace("\\", "/")
    target = urlsplit(urljoin("http://localhost/login", cleaned))
    return target.scheme == "http" and target.netloc == "localhost"


def test_the_redirect_check_of_these_tests_sees_an_escape():
    for escape in ("//evil.example", "/\\evil.example", "https:evil.example", "javascript:alert(1)",
                   "/\t/evil.example"):
        assert not lands_on_the_site(escape), escape
    assert lands_on_the_site("/profile/") and lands_on_the_site("/%2F%2Fevil.example")


def test_next_after_sign_in_never_leaves_the_site(app, user):
    escapes = {}
    for target in EVIL_NEXT:
        client = app.test_client()
        response = client.post(f"/login?next={quote(target, safe='')}",
                               data={"login": user.email, "password": PASSWORD})
        assert response.status_code == 302, target
        if not lands_on_the_site(response.headers["Location"]):
            escapes[target] = response.headers["Location"]

    assert escapes == {}


def test_next_from_a_raw_query_never_leaves_the_site(app, user):
    escapes = {}
    for query in EVIL_RAW_QUERIES:
        client = app.test_client()
        response = client.post(f"/login?{query}", data={"login": user.email, "password": PASSWORD})
        assert response.status_code == 302, query
        if not lands_on_the_site(response.headers["Location"]):
            escapes[query] = response.headers["Location"]

    assert escapes == {}


def test_next_for_a_signed_in_visitor_never_leaves_the_site(app, user):
    browser = sign_in_page(app.test_client(), user)
    escapes = {}
    for target in EVIL_NEXT:
        response = browser.get(f"/login?next={quote(target, safe='')}")
        assert response.status_code == 302, target
        if not lands_on_the_site(response.headers["Location"]):
            escapes[target] = response.headers["Location"]

    assert escapes == {}


def test_next_within_the_site_is_still_followed(app, client, user):
    """The control of the tests above: a plain path of the site is where sign-in goes next."""
    response = client.post(f"/login?next={quote('/profile/sessions?x=1', safe='')}",
                           data={"login": user.email, "password": PASSWORD})

    assert response.headers["Location"] == "/profile/sessions?x=1"


def test_a_failed_sign_in_keeps_no_redirect_off_the_site(app, client, user):
    response = client.post(f"/login?next={quote('//evil.example', safe='')}",
                           data={"login": user.email, "password": "wrong"})

    assert response.status_code == 400
    assert "Location" not in response.headers
    assert 'action="//evil.example' not in response.get_data(as_text=True)


# A poisoned Host, forwarded hosts --------------------------------------------------------------------


EVIL_HOSTS = ["evil.example", "localhost.evil.example", "evil.example:80", "localhost@evil.example",
              "evil.example#localhost", "127.0.0.1.evil.example"]


def nothing_echoed(response, needle="evil"):
    assert needle not in response.get_data(as_text=True).lower()
    for name, value in response.headers.items():
        assert needle not in value.lower(), (name, value)


def test_a_poisoned_host_is_400_and_never_echoed(app, client, user, auth):
    problems = {}
    for host in EVIL_HOSTS:
        h = {"Host": host}
        answers = {
            "page": client.get("/login", headers=h),
            "page without slash": client.get("/profile", headers=h),
            "api": client.get("/api/users/me/", headers={**auth, **h}),
            "api without slash": client.get("/api/users/me", headers={**auth, **h}),
            "api 404": client.get("/api/nope/", headers=h),
        }
        for label, response in answers.items():
            echoed = [name for name, value in response.headers.items() if "evil" in value.lower()]
            if "evil" in response.get_data(as_text=True).lower():
                echoed.append("body: " + response.get_data(as_text=True)[:100])
            if response.status_code != 400 or echoed:
                problems[f"{host} {label}"] = (response.status_code, echoed)

    assert problems == {}


def test_a_poisoned_host_on_password_reset_mails_nothing(app, client, user, mailbox):
    for host in EVIL_HOSTS:
        api = client.post("/api/users/reset_password/", json={"email": user.email}, headers={"Host": host})
        page = client.post("/password/forgot", data={"email": user.email}, headers={"Host": host})
        assert (api.status_code, page.status_code) == (400, 400), host

    assert mailbox.messages == []


FORWARDED = {
    "X-Forwarded-Host": "evil.example", "X-Forwarded-Proto": "https", "X-Forwarded-Port": "8443",
    "X-Forwarded-Server": "evil.example", "X-Host": "evil.example", "X-Original-Host": "evil.example",
    "Forwarded": "for=203.0.113.9;host=evil.example;proto=https",
}


@pytest.fixture
def pictured(app, client, user, auth):
    body, content_type = multipart_body([("avatar", (image_bytes(), "me.jpg", "image/jpeg"))])
    assert client.patch("/api/users/me/", headers=auth, data=body, content_type=content_type).status_code == 200
    return stored_user(app, user.id)["avatar"]


def test_forwarded_host_headers_are_ignored_for_avatar_urls_without_a_trusted_proxy(client, user, auth, pictured):
    me = client.get("/api/users/me/", headers={**auth, **FORWARDED})
    v1 = client.get(f"/api/v1/accounts/users/{user.id}/", headers={**auth, **FORWARDED})

    assert me.get_json()["avatar"] == f"http://localhost/media/avatars/{pictured}"
    assert v1.get_json()["photo"] == f"http://localhost/media/avatars/{pictured}"


def test_forwarded_host_headers_are_ignored_for_mail_links_without_a_trusted_proxy(client, user, auth, mailbox):
    client.post("/api/users/reset_password/", json={"email": user.email}, headers=FORWARDED)
    client.patch("/api/users/me/", headers={**auth, **FORWARDED}, json={"email": "moved@example.com"})

    bodies = [m.get_body(("plain",)).get_content() for m in mailbox.messages]
    links = [link for body in bodies for link in re.findall(r"https?://\S+", body)]
    assert len(bodies) >= 2 and links
    assert all(link.startswith("http://localhost/") for link in links), links
    assert not any("evil" in body for body in bodies)


def test_with_a_public_base_url_neither_host_nor_forwarded_headers_shape_urls(
    app, client, user, auth, pictured, mailbox
):
    app.config["PUBLIC_BASE_URL"] = "https://accounts.example.com"

    me = client.get("/api/users/me/", headers={**auth, **FORWARDED, "Host": "127.0.0.1"})
    client.post("/api/users/reset_password/", json={"email": user.email}, headers={**FORWARDED, "Host": "127.0.0.1"})

    assert me.get_json()["avatar"] == f"https://accounts.example.com/media/avatars/{pictured}"
    [mail] = mailbox.messages
    assert re.search(r"https://accounts\.example\.com/password/reset/\S+", mail.get_body(("plain",)).get_content())


def test_behind_a_trusted_proxy_a_forwarded_host_outside_trusted_hosts_is_still_400(make_app):
    app = make_app(TRUSTED_PROXY_COUNT=1)
    client = app.test_client()

    response = client.get("/login", headers={"X-Forwarded-Host": "evil.example"})

    assert response.status_code == 400
    nothing_echoed(response)


# Bidirectional overrides, Persian joiners ------------------------------------------------------------


BIDI_ROUTES = {
    "004-first_name": ("PATCH", "/api/users/me/", "first_name"),
    "004-last_name": ("PATCH", "/api/users/me/", "last_name"),
    "002-first_name": ("PUT", "/api/users/{id}/", "first_name"),
    "002-last_name": ("PATCH", "/api/users/{id}/", "last_name"),
    "003-first_name": ("PATCH", "/api/v1/accounts/users/{id}/", "first_name"),
    "003-last_name": ("PATCH", "/api/v1/accounts/users/{id}/", "last_name"),
    "003-address": ("PATCH", "/api/v1/accounts/users/{id}/", "address"),
}


@pytest.mark.parametrize("char", BIDI_CONTROLS, ids=lambda c: f"U+{ord(c):04X}")
def test_a_bidirectional_control_in_a_name_or_address_is_a_400_on_that_field(client, user, auth, unchanged, char):
    results = {}
    for route, (method, path, field) in BIDI_ROUTES.items():
        response = client.open(path.format(id=user.id), method=method, headers=auth, json={field: f"Ann{char}gpj.exe"})
        results[route] = field_error_problem(response, field)

    assert problems_of(results) == {}
    unchanged()


@pytest.mark.parametrize("char", BIDI_CONTROLS, ids=lambda c: f"U+{ord(c):04X}")
def test_a_bidirectional_control_on_sign_up_is_a_400_on_that_field_and_creates_nobody(app, client, char):
    counts = table_counts(app)

    results = {
        field: field_error_problem(client.post(REGISTER, json={**REGISTRATION, field: f"Neda{char}"}), field)
        for field in ("first_name", "last_name")
    }

    assert problems_of(results) == {}
    assert table_counts(app) == counts
    assert users_with_email(app, NEW_EMAIL) == 0


@pytest.mark.parametrize("char", ["\u202e", "\u2067"], ids=["U+202E", "U+2067"])
@pytest.mark.parametrize("field", ["first_name", "last_name", "address"])
def test_a_bidirectional_control_on_the_edit_page_is_a_400_on_that_field(app, user, char, field):
    browser = sign_in_page(app.test_client(), user)
    row = stored_user(app, user.id)
    response = browser.post("/profile/edit", data=edit_form(user, **{field: f"Ann{char}e"}))

    assert response.status_code == 400
    assert re.search(rf'<ul class="errors" id="{field}-errors">\s*<li>', response.get_data(as_text=True))
    assert stored_user(app, user.id) == row


PERSIAN = {
    "first_name": "نیک\u200cنام",
    "last_name": "علی\u200cپور",
    "address": "خیابان\u200cولیعصر، کوچه\u200dی ۱۲",
}


def test_persian_names_with_zero_width_joiners_are_stored_and_returned_unchanged(app, client, user, auth):
    response = client.patch(f"/api/v1/accounts/users/{user.id}/", headers=auth, json=PERSIAN)

    assert response.status_code == 200
    body = response.get_json()
    row = stored_user(app, user.id)
    for field, value in PERSIAN.items():
        assert body[field] == value
        assert row[field] == value
    full_name = client.get("/api/users/me/", headers=auth).get_json()["full_name"]
    assert full_name == f"{PERSIAN['first_name']} {PERSIAN['last_name']}"


def test_persian_names_with_zero_width_joiners_pass_sign_up_and_the_edit_page(app, client, user):
    signed_up = client.post(
        REGISTER, json={**REGISTRATION, "first_name": PERSIAN["first_name"], "last_name": PERSIAN["last_name"]})
    assert signed_up.status_code == 201
    assert signed_up.get_json()["data"]["first_name"] == PERSIAN["first_name"]

    browser = sign_in_page(app.test_client(), user)
    edited = browser.post("/profile/edit", data=edit_form(user, **PERSIAN))

    assert edited.status_code == 302
    row = stored_user(app, user.id)
    assert (row["first_name"], row["last_name"], row["address"]) == tuple(PERSIAN.values())


# Session fixation ------------------------------------------------------------------------------------


SESSION_COOKIE = "portal_session"


def cookie_value(client):
    cookie = client.get_cookie(SESSION_COOKIE)
    return cookie.value if cookie else None


def csrf_of(response) -> str:
    return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', response.get_data(as_text=True)).group(1)


def test_a_session_cookie_set_before_sign_in_does_not_survive_sign_in(app, user):
    app.config["WTF_CSRF_ENABLED"] = True  # the sign-in page then starts a session before anyone signs in
    attacker = app.test_client()
    attacker.get("/login")
    planted = cookie_value(attacker)
    assert planted, "the sign-in page set no session cookie to fix"
    with attacker.session_transaction() as session:
        csrf_before = dict(session).get("csrf_token")

    victim = app.test_client()
    victim.set_cookie(SESSION_COOKIE, planted)
    signed_in = victim.post("/login", data={"login": user.email, "password": PASSWORD,
                                            "csrf_token": csrf_of(victim.get("/login"))})

    assert signed_in.status_code == 302 and not signed_in.headers["Location"].startswith("/login")
    assert cookie_value(victim) != planted
    assert victim.get("/profile/").status_code == 200
    # The attacker still holds the old cookie: it is not signed in, and its CSRF token is not the victim's.
    attacker_view = attacker.get("/profile/")
    assert attacker_view.status_code == 302 and attacker_view.headers["Location"].startswith("/login")
    with victim.session_transaction() as session:
        assert dict(session).get("csrf_token") != csrf_before


def test_data_planted_in_the_session_before_sign_in_is_dropped(app, client, user):
    with client.session_transaction() as session:
        session["credential"] = "attacker-chosen-id"
        session["_user_id"] = str(user.id)
        session["planted"] = "by the attacker"

    assert client.get("/profile/").status_code == 302  # names no live row: not signed in
    sign_in_page(client, user)

    with client.session_transaction() as session:
        data = dict(session)
    assert "planted" not in data and "_user_id" not in data
    assert data["credential"] != "attacker-chosen-id"


def test_a_captured_signed_in_cookie_is_dead_after_sign_out(app, user):
    browser = sign_in_page(app.test_client(), user)
    captured = cookie_value(browser)
    assert browser.post("/logout").status_code == 302

    replay = app.test_client()
    replay.set_cookie(SESSION_COOKIE, captured)
    response = replay.get("/profile/")

    assert response.status_code == 302 and response.headers["Location"].startswith("/login")
