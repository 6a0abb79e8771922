"""Document 003 — /api/v1/accounts/users/: sign-up with an emailed code, verify-otp, resend-otp,
and GET/PATCH of the 003 profile shape."""

import re
from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import EmailCode, User
from portal.services.audit import SYSTEM
from portal.services.people import accounts
from portal.transactions import unit_of_work
from tests.conftest import PASSWORD, fresh_app, image_bytes, stored_avatars, upload, written_mail

USERS = "/api/v1/accounts/users/"
VERIFY = "/api/v1/accounts/users/verify-otp/"
RESEND = "/api/v1/accounts/users/resend-otp/"
DOCUMENT_SIGN_UP = {
    "email": "user@example.com",
    "password": "securepassword123",
    "confirm_password": "securepassword123",
    "first_name": "John",
    "last_name": "Doe",
    "phone": "+1234567890",
    "gender": "M",
    "country": "US",
}
DOCUMENT_UPDATE = {
    "email": "new-email@example.com",
    "first_name": "John",
    "last_name": "Doe",
    "phone": "+1234567890",
    "gender": "M",
    "country": "US",
}
REGISTERED_KEYS = ["id", "email", "first_name", "last_name", "phone", "gender", "country", "created_at", "updated_at"]
SHAPE_003 = [
    "id", "email", "first_name", "last_name", "phone", "photo", "address", "gender", "country", "birthday",
    "has_initial_profile", "created_at", "updated_at",
]
EMAIL_SENT = {"msg": "Email sent successfully!"}
EMAIL_VERIFIED = {"msg": "Email verified successfully!"}
INVALID_CODE = {"otp": ["Invalid or expired code."]}
REQUIRED = ["This field is required."]
NO_PERMISSION = {"detail": "You do not have permission to perform this action."}
CODE = re.compile(r"\b(\d{6})\b")


def is_utc_timestamp(value) -> bool:
    return isinstance(value, str) and value.endswith("Z") and datetime.fromisoformat(value[:-1]) is not None


def db_user(app, email=None, user_id=None):
    with app.app_context():
        if user_id is not None:
            user = db.session.get(User, user_id)
        else:
            user = db.session.scalar(select(User).where(User.email_canonical == email.casefold()))
        if user is None:
            return None
        return {
            "id": user.id, "email": user.email, "first_name": user.first_name, "last_name": user.last_name,
            "phone": user.phone, "gender": user.gender, "country": user.country, "address": user.address,
            "birthday": user.birthday, "avatar": user.avatar, "email_verified": user.email_verified,
            "activated": user.activated_at is not None, "is_staff": user.is_staff,
            "is_superuser": user.is_superuser, "is_active": user.is_active,
        }


def user_count(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(User))


def sign_up(client, **changes):
    payload = {**DOCUMENT_SIGN_UP, **changes}
    return client.post(USERS, json={k: v for k, v in payload.items() if v is not None})


def token_response(client, email, password):
    return client.post("/api/token/", json={"email": email, "password": password})


def other_code(code: str) -> str:
    return f"{(int(code) + 1) % 10**6:06d}"


# Sign-up ----------------------------------------------------------------------------------------


def test_document_sign_up_payload_is_201_with_msg_and_exactly_the_documented_data(app, client, mailbox):
    response = client.post(USERS, json=DOCUMENT_SIGN_UP)

    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert list(body) == ["msg", "data"]
    assert body["msg"] == "Email sent successfully!"
    data = body["data"]
    assert sorted(data) == sorted(REGISTERED_KEYS)
    stored = db_user(app, "user@example.com")
    assert data == {
        "id": stored["id"], "email": "user@example.com", "first_name": "John", "last_name": "Doe",
        "phone": "+1234567890", "gender": "M", "country": "US",
        "created_at": data["created_at"], "updated_at": data["updated_at"],
    }
    assert is_utc_timestamp(data["created_at"]) and is_utc_timestamp(data["updated_at"])
    assert stored["gender"] == "male" and stored["country"] == "US"
    assert stored["email_verified"] is False and stored["activated"] is False
    assert "password" not in response.get_data(as_text=True)


def test_sign_up_mails_a_six_digit_code_to_the_new_address(client, mailbox):
    sign_up(client)

    [message] = mailbox.messages
    assert message["To"] == "user@example.com"
    assert re.fullmatch(r"\d{6}", mailbox.code_for("user@example.com"))


@pytest.mark.parametrize("path", ["/api/token/", "/api/auth/token/login/"])
def test_unverified_sign_up_cannot_obtain_tokens_403_with_detail(app, client, mailbox, path):
    sign_up(client)

    response = client.post(path, json={"email": "user@example.com", "password": "securepassword123"})

    assert response.status_code == 403
    body = response.get_json()
    assert list(body) == ["detail"] and body["detail"]
    assert db_user(app, "user@example.com")["activated"] is False


def test_code_from_the_mail_verifies_the_address_and_then_tokens_work(app, client, mailbox):
    sign_up(client)
    code = mailbox.code_for("user@example.com")

    response = client.post(VERIFY, json={"email": "user@example.com", "otp": code})

    assert response.status_code == 200
    assert response.get_json() == EMAIL_VERIFIED
    stored = db_user(app, "user@example.com")
    assert stored["email_verified"] is True and stored["activated"] is True
    tokens = token_response(client, "user@example.com", "securepassword123")
    assert tokens.status_code == 200 and set(tokens.get_json()) == {"access", "refresh"}
    key = client.post("/api/auth/token/login/", json={"email": "user@example.com", "password": "securepassword123"})
    assert key.status_code == 200 and set(key.get_json()) == {"auth_token"}
    profile = client.get(
        f"{USERS}{stored['id']}/", headers={"Authorization": f"Bearer {tokens.get_json()['access']}"}
    )
    assert profile.status_code == 200
    assert profile.get_json()["email"] == "user@example.com"


def test_sign_up_ignores_read_only_fields(app, client, mailbox):
    response = sign_up(client, is_staff=True, is_superuser=True, email_verified=True, id=999, is_active=False)

    assert response.status_code == 201
    assert response.get_json()["data"]["id"] != 999
    stored = db_user(app, "user@example.com")
    assert stored["is_staff"] is False and stored["is_superuser"] is False
    assert stored["email_verified"] is False and stored["is_active"] is True


def test_sign_up_without_email_is_400_email_required(app, client, mailbox):
    payload = {k: v for k, v in DOCUMENT_SIGN_UP.items() if k != "email"}

    response = client.post(USERS, json=payload)

    assert response.status_code == 400
    assert response.get_json() == {"email": REQUIRED}
    assert user_count(app) == 0
    assert mailbox.messages == []


def test_sign_up_without_password_and_confirmation_is_400_required_on_both(app, client, mailbox):
    response = sign_up(client, password=None, confirm_password=None)

    assert response.status_code == 400
    assert response.get_json() == {"password": REQUIRED, "confirm_password": REQUIRED}
    assert user_count(app) == 0


def test_sign_up_without_confirmation_is_400_on_confirm_password(app, client, mailbox):
    response = sign_up(client, confirm_password=None)

    assert response.status_code == 400
    assert response.get_json() == {"confirm_password": REQUIRED}
    assert user_count(app) == 0


def test_sign_up_with_an_empty_body_is_400_required_on_every_required_field(app, client):
    response = client.post(USERS, json={})

    assert response.status_code == 400
    assert response.get_json() == {"email": REQUIRED, "password": REQUIRED, "confirm_password": REQUIRED}
    assert user_count(app) == 0


def test_sign_up_with_mismatched_passwords_is_400_passwords_do_not_match(app, client, mailbox):
    response = sign_up(client, confirm_password="securepassword124")

    assert response.status_code == 400
    assert response.get_json() == {"confirm_password": ["Passwords do not match."]}
    assert user_count(app) == 0
    assert mailbox.messages == []


def test_sign_up_with_a_taken_email_in_other_case_is_400_on_email(app, client, mailbox, make_user):
    existing = make_user("user@example.com")

    response = sign_up(client, email="USER@Example.COM")

    assert response.status_code == 400
    body = response.get_json()
    assert list(body) == ["email"] and body["email"]
    assert user_count(app) == 1
    assert db_user(app, user_id=existing.id)["email"] == "user@example.com"
    assert mailbox.messages == []


@pytest.mark.parametrize(
    "email, password, reason",
    [
        ("user@example.com", "Sh0rt!", "short"),
        ("user@example.com", "8453920176", "numeric"),
        ("user@example.com", "password123", "common"),
        ("user@example.com", "qwertyuiop", "common"),
        ("johnsmith@example.com", "johnsmith1", "similar"),
    ],
)
def test_sign_up_with_a_weak_password_is_400_on_password(app, client, mailbox, email, password, reason):
    response = sign_up(client, email=email, password=password, confirm_password=password)

    assert response.status_code == 400
    body = response.get_json()
    assert list(body) == ["password"]
    assert any(reason in message for message in body["password"]), body
    assert user_count(app) == 0
    assert mailbox.messages == []


@pytest.mark.parametrize(
    "field, value",
    [("gender", "X"), ("gender", "unknown"), ("country", "ZZ"), ("country", "USA"), ("country", "12")],
)
def test_sign_up_with_an_invalid_gender_or_country_is_400_on_that_field(app, client, mailbox, field, value):
    response = sign_up(client, **{field: value})

    assert response.status_code == 400
    body = response.get_json()
    assert list(body) == [field] and body[field]
    assert user_count(app) == 0


@pytest.mark.parametrize(
    "given, code, stored",
    [("female", "F", "female"), ("Other", "O", "other"), ("f", "F", "female")],
)
def test_sign_up_accepts_the_full_gender_word_and_echoes_the_code(app, client, mailbox, given, code, stored):
    response = sign_up(client, gender=given)

    assert response.status_code == 201, response.get_json()
    assert response.get_json()["data"]["gender"] == code
    assert db_user(app, "user@example.com")["gender"] == stored


def test_sign_up_with_a_lower_case_country_stores_it_upper_case(app, client, mailbox):
    response = sign_up(client, country="de")

    assert response.status_code == 201
    assert response.get_json()["data"]["country"] == "DE"
    assert db_user(app, "user@example.com")["country"] == "DE"


def test_sign_up_with_only_the_required_fields_returns_nulls_for_the_rest(app, client, mailbox):
    response = client.post(
        USERS,
        json={"email": "min@example.com", "password": "securepassword123", "confirm_password": "securepassword123"},
    )

    assert response.status_code == 201
    data = response.get_json()["data"]
    assert sorted(data) == sorted(REGISTERED_KEYS)
    assert {k: data[k] for k in ("first_name", "last_name", "phone", "gender", "country")} == dict.fromkeys(
        ("first_name", "last_name", "phone", "gender", "country")
    )


# verify-otp -------------------------------------------------------------------------------------


def test_verify_with_a_wrong_code_is_400_invalid_and_leaves_the_account_unverified(app, client, mailbox):
    sign_up(client)
    code = mailbox.code_for("user@example.com")

    response = client.post(VERIFY, json={"email": "user@example.com", "otp": other_code(code)})

    assert response.status_code == 400
    assert response.get_json() == INVALID_CODE
    assert db_user(app, "user@example.com")["email_verified"] is False
    assert token_response(client, "user@example.com", "securepassword123").status_code == 403


def test_verify_with_an_expired_code_is_400_invalid(app, client, mailbox, clock):
    sign_up(client)
    code = mailbox.code_for("user@example.com")
    clock.advance(minutes=11)

    response = client.post(VERIFY, json={"email": "user@example.com", "otp": code})

    assert response.status_code == 400
    assert response.get_json() == INVALID_CODE
    assert db_user(app, "user@example.com")["email_verified"] is False


def test_verify_for_an_unknown_email_is_the_same_400(client, mailbox):
    sign_up(client)
    code = mailbox.code_for("user@example.com")

    response = client.post(VERIFY, json={"email": "nobody@example.com", "otp": code})

    assert response.status_code == 400
    assert response.get_json() == INVALID_CODE


def test_verify_accepts_the_email_in_other_case_and_the_code_as_a_number(app, client, mailbox):
    sign_up(client)
    code = mailbox.code_for("user@example.com")
    if code.startswith("0"):  # a JSON number cannot keep a leading zero; send the text then
        otp = code
    else:
        otp = int(code)

    response = client.post(VERIFY, json={"email": "User@Example.com", "otp": otp})

    assert response.status_code == 200
    assert response.get_json() == EMAIL_VERIFIED
    assert db_user(app, "user@example.com")["email_verified"] is True


def test_verify_without_fields_is_400_required(client):
    response = client.post(VERIFY, json={})

    assert response.status_code == 400
    assert response.get_json() == {"email": REQUIRED, "otp": REQUIRED}


def test_a_code_works_only_once(client, mailbox):
    sign_up(client)
    code = mailbox.code_for("user@example.com")
    assert client.post(VERIFY, json={"email": "user@example.com", "otp": code}).status_code == 200

    again = client.post(VERIFY, json={"email": "user@example.com", "otp": code})

    assert again.status_code == 400
    assert again.get_json() == INVALID_CODE


# resend-otp -------------------------------------------------------------------------------------


def test_resend_for_an_unverified_account_mails_a_new_code_and_the_old_one_dies(app, client, mailbox):
    sign_up(client)
    old = mailbox.code_for("user@example.com")

    response = client.post(RESEND, json={"email": "user@example.com"})

    assert response.status_code == 200
    assert response.get_json() == EMAIL_SENT
    assert len(mailbox.sent_to("user@example.com")) == 2
    new = mailbox.code_for("user@example.com")
    while new == old:  # codes are random; a repeat would prove nothing
        client.post(RESEND, json={"email": "user@example.com"})
        new = mailbox.code_for("user@example.com")
    stale = client.post(VERIFY, json={"email": "user@example.com", "otp": old})
    assert stale.status_code == 400 and stale.get_json() == INVALID_CODE
    fresh = client.post(VERIFY, json={"email": "user@example.com", "otp": new})
    assert fresh.status_code == 200 and fresh.get_json() == EMAIL_VERIFIED
    assert db_user(app, "user@example.com")["email_verified"] is True


def test_resend_for_a_verified_account_is_the_same_200_and_mails_nothing(app, client, mailbox, user):
    response = client.post(RESEND, json={"email": user.email})

    assert response.status_code == 200
    assert response.get_json() == EMAIL_SENT
    assert mailbox.messages == []
    with app.app_context():
        assert db.session.scalars(select(EmailCode)).all() == []


def test_resend_for_an_unknown_address_is_the_same_200_and_mails_nothing(client, mailbox):
    response = client.post(RESEND, json={"email": "nobody@example.com"})

    assert response.status_code == 200
    assert response.get_json() == EMAIL_SENT
    assert mailbox.messages == []


def test_resend_without_email_is_400_required(client, mailbox):
    response = client.post(RESEND, json={})

    assert response.status_code == 400
    assert response.get_json() == {"email": REQUIRED}
    assert mailbox.messages == []


# GET /api/v1/accounts/users/<pk>/ -------------------------------------------------------------


@pytest.fixture
def john(make_user):
    return make_user(
        "john@example.com", first_name="John", last_name="Doe", phone="+1234567890", gender="male",
        country="US", address="123 Main Street, Some City, Some Country", birthday="1990-01-01",
    )


def test_owner_gets_the_003_shape_exactly(app, client, john, bearer):
    response = client.get(f"{USERS}{john.id}/", headers=bearer(john))

    assert response.status_code == 200
    body = response.get_json()
    assert list(body) == SHAPE_003
    assert body == {
        "id": john.id, "email": "john@example.com", "first_name": "John", "last_name": "Doe",
        "phone": "+1234567890", "photo": None, "address": "123 Main Street, Some City, Some Country",
        "gender": "M", "country": "US", "birthday": "1990-01-01", "has_initial_profile": True,
        "created_at": body["created_at"], "updated_at": body["updated_at"],
    }
    assert is_utc_timestamp(body["created_at"]) and is_utc_timestamp(body["updated_at"])


def test_get_of_a_bare_profile_has_every_field_with_nulls_and_no_initial_profile(client, user, token_auth):
    response = client.get(f"{USERS}{user.id}/", headers=token_auth(user))

    assert response.status_code == 200
    body = response.get_json()
    assert list(body) == SHAPE_003
    profile_fields = ("first_name", "last_name", "phone", "photo", "address", "gender", "country", "birthday")
    assert {k: body[k] for k in profile_fields} == dict.fromkeys(profile_fields)
    assert body["has_initial_profile"] is False


def test_staff_gets_someone_elses_003_profile(client, john, make_user, bearer):
    staff = make_user("staff@example.com", staff=True)

    response = client.get(f"{USERS}{john.id}/", headers=bearer(staff))

    assert response.status_code == 200
    assert response.get_json()["email"] == "john@example.com"
    assert list(response.get_json()) == SHAPE_003


def test_non_staff_get_of_someone_elses_pk_is_403(client, john, make_user, bearer):
    other = make_user("other@example.com")

    response = client.get(f"{USERS}{john.id}/", headers=bearer(other))

    assert response.status_code == 403
    assert response.get_json() == NO_PERMISSION


def test_get_of_an_unknown_pk_is_404_user_not_found(client, user, bearer):
    headers = bearer(user)
    for pk in (user.id + 1000, 2**31, 10**20):
        response = client.get(f"{USERS}{pk}/", headers=headers)
        assert response.status_code == 404
        assert response.get_json() == {"error": "User not found"}


def test_get_without_credentials_is_401(client, john):
    response = client.get(f"{USERS}{john.id}/")

    assert response.status_code == 401
    assert response.get_json() == {"detail": "Authentication credentials were not provided."}


def test_put_is_405_json(client, john, bearer):
    response = client.put(f"{USERS}{john.id}/", json=DOCUMENT_UPDATE, headers=bearer(john))

    assert response.status_code == 405
    assert response.is_json
    assert response.get_json() == {"detail": 'Method "PUT" not allowed.'}
    assert {"GET", "PATCH"} <= {m.strip() for m in response.headers["Allow"].split(",")}


# PATCH /api/v1/accounts/users/<pk>/ -----------------------------------------------------------


def test_patch_with_the_document_payload_is_200_in_the_003_shape(app, client, mailbox, john, bearer):
    response = client.patch(f"{USERS}{john.id}/", json=DOCUMENT_UPDATE, headers=bearer(john))

    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert list(body) == SHAPE_003
    assert {k: body[k] for k in DOCUMENT_UPDATE} == DOCUMENT_UPDATE
    assert body["address"] == "123 Main Street, Some City, Some Country"
    assert body["birthday"] == "1990-01-01" and body["has_initial_profile"] is True
    stored = db_user(app, user_id=john.id)
    assert stored["email"] == "new-email@example.com" and stored["gender"] == "male"


def test_patch_address_birthday_country_and_gender(app, client, user, bearer):
    response = client.patch(
        f"{USERS}{user.id}/",
        json={"address": "  Hauptstraße 5\n10115 Berlin ", "birthday": "1990-01-01", "country": "de", "gender": "O"},
        headers=bearer(user),
    )

    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["address"] == "Hauptstraße 5\n10115 Berlin"
    assert body["birthday"] == "1990-01-01"
    assert body["country"] == "DE"
    assert body["gender"] == "O"
    stored = db_user(app, user_id=user.id)
    assert stored["country"] == "DE" and stored["gender"] == "other"
    assert stored["birthday"] == date(1990, 1, 1)
    assert stored["address"] == "Hauptstraße 5\n10115 Berlin"


@pytest.mark.parametrize(
    "birthday",
    [(date.today() + timedelta(days=1)).isoformat(), "1899-12-31", "01/01/1990", "1990-02-30"],
)
def test_patch_with_a_future_too_old_or_malformed_birthday_is_400_on_birthday(app, client, john, bearer, birthday):
    response = client.patch(f"{USERS}{john.id}/", json={"birthday": birthday}, headers=bearer(john))

    assert response.status_code == 400
    body = response.get_json()
    assert list(body) == ["birthday"] and body["birthday"]
    assert db_user(app, user_id=john.id)["birthday"] == date(1990, 1, 1)


@pytest.mark.parametrize("field, value", [("gender", "Z"), ("country", "XX"), ("phone", "call me")])
def test_patch_with_an_invalid_value_is_400_on_that_field_and_changes_nothing(app, client, john, bearer, field, value):
    before = db_user(app, user_id=john.id)

    response = client.patch(f"{USERS}{john.id}/", json={field: value, "first_name": "Changed"}, headers=bearer(john))

    assert response.status_code == 400
    body = response.get_json()
    assert list(body) == [field] and body[field]
    assert db_user(app, user_id=john.id) == before


def test_patch_photo_as_a_multipart_image_upload_returns_an_absolute_photo_url(app, client, john, bearer):
    response = client.patch(
        f"{USERS}{john.id}/",
        data={"photo": upload(image_bytes("PNG", size=(300, 200)), "me.png"), "first_name": "Johnny"},
        headers=bearer(john),
        content_type="multipart/form-data",
    )

    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["first_name"] == "Johnny"
    [name] = stored_avatars(app)
    assert body["photo"] == f"http://localhost/media/avatars/{name}"
    assert db_user(app, user_id=john.id)["avatar"] == name
    served = client.get(body["photo"].removeprefix("http://localhost"))
    try:
        assert served.status_code == 200
        assert served.mimetype.startswith("image/")
    finally:
        served.close()
    again = client.get(f"{USERS}{john.id}/", headers=bearer(john))
    assert again.get_json()["photo"] == body["photo"]


def test_patch_photo_that_is_not_an_image_is_400_on_photo_and_stores_nothing(app, client, john, bearer):
    response = client.patch(
        f"{USERS}{john.id}/",
        data={"photo": upload(b"not an image at all", "me.jpg")},
        headers=bearer(john),
        content_type="multipart/form-data",
    )

    assert response.status_code == 400
    body = response.get_json()
    assert list(body) == ["photo"] and body["photo"]
    assert stored_avatars(app) == []


def test_staff_can_patch_someone_elses_profile(app, client, john, make_user, bearer):
    staff = make_user("staff@example.com", staff=True)

    response = client.patch(f"{USERS}{john.id}/", json={"first_name": "Jonathan", "country": "gb"},
                            headers=bearer(staff))

    assert response.status_code == 200
    body = response.get_json()
    assert body["id"] == john.id and body["first_name"] == "Jonathan" and body["country"] == "GB"
    stored = db_user(app, user_id=john.id)
    assert stored["first_name"] == "Jonathan" and stored["country"] == "GB"
    assert db_user(app, user_id=staff.id)["first_name"] is None


def test_non_staff_patch_of_someone_elses_pk_is_403_and_changes_nothing(app, client, john, make_user, bearer):
    other = make_user("other@example.com")
    before = db_user(app, user_id=john.id)

    response = client.patch(f"{USERS}{john.id}/", json={"first_name": "Hacked"}, headers=bearer(other))

    assert response.status_code == 403
    assert response.get_json() == NO_PERMISSION
    assert db_user(app, user_id=john.id) == before


def test_patch_of_an_unknown_pk_is_404_user_not_found(client, user, bearer):
    response = client.patch(f"{USERS}{user.id + 1000}/", json={"first_name": "X"}, headers=bearer(user))

    assert response.status_code == 404
    assert response.get_json() == {"error": "User not found"}


def test_patch_ignores_read_only_fields(app, client, user, bearer):
    response = client.patch(
        f"{USERS}{user.id}/",
        json={"is_staff": True, "is_superuser": True, "id": 999, "email_verified": False, "first_name": "Ann"},
        headers=bearer(user),
    )

    assert response.status_code == 200
    assert response.get_json()["id"] == user.id
    stored = db_user(app, user_id=user.id)
    assert stored["is_staff"] is False and stored["is_superuser"] is False
    assert stored["email_verified"] is True and stored["first_name"] == "Ann"


def test_patch_to_an_email_taken_in_other_case_is_400_on_email(app, client, make_user, bearer):
    owner = make_user("owner@example.com")
    make_user("taken@example.com")

    response = client.patch(f"{USERS}{owner.id}/", json={"email": "TAKEN@example.com"}, headers=bearer(owner))

    assert response.status_code == 400
    assert list(response.get_json()) == ["email"]
    assert db_user(app, user_id=owner.id)["email"] == "owner@example.com"


# Email change of a verified account -----------------------------------------------------------


def assert_email_change_flow(app, client, mailbox, account, new_email, response):
    """What the spec requires after a verified account changed its address to ``new_email``."""
    assert response.status_code == 200, response.get_json()
    stored = db_user(app, user_id=account.id)
    assert stored["email"] == new_email
    assert stored["email_verified"] is False
    # A code goes to the new address, a notice without a code to the old one.
    [to_new] = mailbox.sent_to(new_email)
    assert CODE.search(to_new.get_body(("plain",)).get_content())
    [to_old] = mailbox.sent_to(account.email)
    notice = to_old.get_body(("plain",)).get_content()
    assert new_email in notice
    assert not CODE.search(notice) and not CODE.search(to_old["Subject"])
    # The account stays usable under the new address, not the old one.
    assert token_response(client, new_email, account.password).status_code == 200
    assert token_response(client, account.email, account.password).status_code == 401
    # Entering the code proves the new address.
    verified = client.post(VERIFY, json={"email": new_email, "otp": mailbox.code_for(new_email)})
    assert verified.status_code == 200
    assert verified.get_json() == EMAIL_VERIFIED
    assert db_user(app, user_id=account.id)["email_verified"] is True


def test_email_change_through_003_patch_marks_it_unverified_mails_both_and_the_code_verifies(
    app, client, mailbox, john, bearer
):
    response = client.patch(f"{USERS}{john.id}/", json=DOCUMENT_UPDATE, headers=bearer(john))

    assert response.get_json()["email"] == "new-email@example.com"
    assert_email_change_flow(app, client, mailbox, john, "new-email@example.com", response)


def test_email_change_through_004_patch_me_marks_it_unverified_mails_both_and_the_code_verifies(
    app, client, mailbox, user, token_auth
):
    response = client.patch(
        "/api/users/me/",
        json={"email": "Alexandra.Thompson@techcorp.com", "mobile_number": "+1-555-0124", "first_name": "Alexandra"},
        headers=token_auth(user),
    )

    body = response.get_json()
    assert body["email"] == "Alexandra.Thompson@techcorp.com"
    assert body["mobile_number"] == "+1-555-0124"
    assert_email_change_flow(app, client, mailbox, user, "Alexandra.Thompson@techcorp.com", response)


def test_email_change_keeps_the_caller_credentials_working(client, mailbox, john, bearer):
    headers = bearer(john)
    client.patch(f"{USERS}{john.id}/", json={"email": "renamed@example.com"}, headers=headers)

    response = client.get(f"{USERS}{john.id}/", headers=headers)

    assert response.status_code == 200
    assert response.get_json()["email"] == "renamed@example.com"


def test_after_an_email_change_resend_otp_mails_a_new_code_to_the_new_address(app, client, mailbox, john, bearer):
    client.patch(f"{USERS}{john.id}/", json={"email": "renamed@example.com"}, headers=bearer(john))
    first = mailbox.code_for("renamed@example.com")

    response = client.post(RESEND, json={"email": "renamed@example.com"})

    assert response.status_code == 200
    assert response.get_json() == EMAIL_SENT
    assert len(mailbox.sent_to("renamed@example.com")) == 2
    assert len(mailbox.sent_to("john@example.com")) == 1  # only the change notice
    latest = mailbox.code_for("renamed@example.com")
    if latest != first:
        stale = client.post(VERIFY, json={"email": "renamed@example.com", "otp": first})
        assert stale.get_json() == INVALID_CODE
    verified = client.post(VERIFY, json={"email": "renamed@example.com", "otp": latest})
    assert verified.status_code == 200
    assert db_user(app, user_id=john.id)["email_verified"] is True


def test_patch_with_the_same_email_in_other_case_sends_no_mail_and_stays_verified(app, client, mailbox, john, bearer):
    response = client.patch(f"{USERS}{john.id}/", json={"email": "JOHN@example.com"}, headers=bearer(john))

    assert response.status_code == 200
    assert db_user(app, user_id=john.id)["email_verified"] is True
    assert mailbox.messages == []


# Rate limits ------------------------------------------------------------------------------------


@pytest.fixture
def limited_app(tmp_path):
    for app in fresh_app(tmp_path, RATELIMIT_ENABLED=True):  # its tables go when the test is done
        with app.app_context(), unit_of_work():
            accounts.create_user("pending@example.com", PASSWORD, SYSTEM)
        yield app


def assert_throttled(response):
    assert response.status_code == 429
    assert response.is_json
    body = response.get_json()
    assert list(body) == ["detail"] and body["detail"].startswith("Request was throttled.")
    assert int(response.headers["Retry-After"]) > 0


def test_resend_otp_beyond_its_limit_from_one_address_is_429_with_retry_after(limited_app):
    client = limited_app.test_client()
    for _ in range(5):
        response = client.post(RESEND, json={"email": "pending@example.com"})
        assert response.status_code == 200 and response.get_json() == EMAIL_SENT

    sixth = client.post(RESEND, json={"email": "pending@example.com"})

    assert_throttled(sixth)
    assert len(written_mail(limited_app)) == 5


def test_resend_otp_beyond_its_limit_for_one_email_from_many_ips_is_429(limited_app):
    client = limited_app.test_client()
    for n in range(5):
        response = client.post(
            RESEND, json={"email": "pending@example.com"}, environ_base={"REMOTE_ADDR": f"10.0.0.{n + 1}"}
        )
        assert response.status_code == 200

    sixth = client.post(RESEND, json={"email": "PENDING@example.com"}, environ_base={"REMOTE_ADDR": "10.0.1.1"})

    assert_throttled(sixth)
    assert len(written_mail(limited_app)) == 5


def test_registration_beyond_its_limit_from_one_address_is_429_and_creates_nothing(limited_app):
    client = limited_app.test_client()
    for n in range(10):
        response = sign_up(client, email=f"person{n}@example.com", phone=None)
        assert response.status_code == 201, response.get_json()

    eleventh = sign_up(client, email="person10@example.com", phone=None)

    assert_throttled(eleventh)
    assert db_user(limited_app, "person10@example.com") is None
    assert user_count(limited_app) == 11  # the ten sign-ups and the fixture's pending user
    assert "person10@example.com" not in [m["To"] for m in written_mail(limited_app)]


def test_registration_beyond_its_limit_for_one_email_from_many_ips_is_429(limited_app):
    client = limited_app.test_client()
    first = sign_up(client, email="target@example.com", phone=None)
    assert first.status_code == 201
    for n in range(9):
        response = client.post(
            USERS, json={**DOCUMENT_SIGN_UP, "email": "target@example.com", "phone": None},
            environ_base={"REMOTE_ADDR": f"10.0.0.{n + 1}"},
        )
        assert response.status_code == 400 and list(response.get_json()) == ["email"]

    eleventh = client.post(
        USERS, json={**DOCUMENT_SIGN_UP, "email": "TARGET@example.com", "phone": None},
        environ_base={"REMOTE_ADDR": "10.0.1.1"},
    )

    assert_throttled(eleventh)
    other = client.post(
        USERS, json={**DOCUMENT_SIGN_UP, "email": "someone-else@example.com", "phone": None},
        environ_base={"REMOTE_ADDR": "10.0.2.1"},
    )
    assert other.status_code == 201


def test_a_new_accounts_created_at_and_updated_at_are_the_same_instant(client, mailbox):
    response = client.post(
        "/api/v1/accounts/users/",
        json={"email": "same@example.com", "password": "securepassword123", "confirm_password": "securepassword123"},
    )

    data = response.get_json()["data"]
    assert response.status_code == 201
    assert data["created_at"] == data["updated_at"]
