"""The profile field rules of ``portal.services.people.fields``: what each field accepts, stores and refuses."""

from datetime import date, timedelta

import pytest

from portal.services.errors import ValidationFailed
from portal.services.people.fields import (
    ACCOUNT_FLAGS,
    PROFILE_FIELDS,
    FieldError,
    clean_address,
    clean_birthday,
    clean_country,
    clean_email,
    clean_fields,
    clean_flag,
    clean_gender,
    clean_name,
    clean_phone,
    clean_username,
)

USERNAME_MESSAGE = (
    "Enter a valid username. This value may contain only letters, numbers, and @/./+/-/_ characters."
)
PHONE_MESSAGE = (
    "Enter a valid phone number: 4 to 20 characters of digits, spaces, '-', '(' and ')', "
    "with at least 4 digits and an optional leading '+'."
)
CONTROL_MESSAGE = "Control characters are not allowed."
ZWNJ = "\u200c"


def refusal(rule, value) -> str:
    with pytest.raises(FieldError) as excinfo:
        rule(value)
    return str(excinfo.value)


def email_of_length(n: int) -> str:
    """A syntactically valid address of exactly ``n`` characters (labels kept under 64)."""
    local = "user@"
    domain_len = n - len(local) - len(".com")
    labels, left = [], domain_len
    while left > 0:
        take = min(50, left)
        if left - take == 1:  # never leave a dangling one-character remainder for a separator
            take -= 2
        labels.append("a" * take)
        left -= take + 1  # the dot after the label
    domain = ".".join(labels)
    address = local + domain + ".com"
    address = address[: len(local)] + "b" * (n - len(address)) + address[len(local):]
    assert len(address) == n
    return address


# --- email -------------------------------------------------------------------------------------


def test_email_is_trimmed_and_its_domain_lower_cased():
    assert clean_email("  Alice.Smith@Example.COM ") == "Alice.Smith@example.com"


@pytest.mark.parametrize("value", ["not-an-email", "alice@", "@example.com", "alice@@example.com", "a b@example.com"])
def test_email_that_is_not_an_address_is_refused(value):
    assert refusal(clean_email, value) == "Enter a valid email address."


def test_email_is_required():
    assert refusal(clean_email, None) == "This field may not be null."
    assert refusal(clean_email, "") == "This field may not be blank."
    assert refusal(clean_email, "   ") == "This field may not be blank."


def test_email_of_200_characters_is_accepted_and_201_refused():
    assert clean_email(email_of_length(200)) == email_of_length(200)
    assert refusal(clean_email, email_of_length(201)) == "Ensure this field has no more than 200 characters."


def test_email_with_a_control_character_is_refused():
    assert refusal(clean_email, "ali\x00ce@example.com") == CONTROL_MESSAGE


def test_email_is_not_looked_up_in_dns():
    # A syntactically fine domain that cannot exist: no deliverability check is made.
    assert clean_email("someone@no-such-domain.invalid-tld-zz") == "someone@no-such-domain.invalid-tld-zz"


# --- username ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    ["alice", "alice_wonder", "a.l+i-c@e", "Žofia", "محمد", "علی۱۲۳", "用户名", "User42", "ÉLODIE"],
)
def test_username_of_unicode_letters_digits_and_allowed_signs_is_kept(value):
    assert clean_username(value) == value


@pytest.mark.parametrize(
    "value",
    ["alice smith", "alice!", "bob#1", "a/b", "<script>", "o'neil", "semi;colon", "tab\there", "ali" + ZWNJ + "ce"],
)
def test_username_with_a_forbidden_character_is_refused(value):
    assert refusal(clean_username, value) in (USERNAME_MESSAGE, CONTROL_MESSAGE)


def test_username_with_a_forbidden_character_gets_the_username_message():
    assert refusal(clean_username, "alice smith") == USERNAME_MESSAGE


def test_username_is_trimmed_and_blank_means_none():
    assert clean_username("  alice  ") == "alice"
    assert clean_username("") is None
    assert clean_username("   ") is None
    assert clean_username(None) is None


def test_username_of_150_characters_is_accepted_and_151_refused():
    assert clean_username("u" * 150) == "u" * 150
    assert refusal(clean_username, "u" * 151) == "Ensure this field has no more than 150 characters."


def test_username_that_is_not_text_is_refused():
    assert refusal(clean_username, 12345) == "Not a valid string."


# --- first and last names ----------------------------------------------------------------------


@pytest.mark.parametrize("value", ["علی", "محمد" + ZWNJ + "رضا", "رضایی", "Ñoño", "José María", "O'Brien-Smith", "李"])
def test_name_in_any_script_is_kept_as_written(value):
    assert clean_name(value) == value


def test_name_keeps_a_zero_width_non_joiner():
    assert clean_name("می" + ZWNJ + "خواهم") == "می\u200cخواهم"


def test_name_is_trimmed_and_blank_means_none():
    assert clean_name("  سارا  ") == "سارا"
    assert clean_name("") is None
    assert clean_name(" \t ") is None
    assert clean_name(None) is None


@pytest.mark.parametrize("control", ["\x00", "\n", "\r", "\t", "\x1b", "\x7f", "\x85"])
def test_name_containing_a_control_character_is_refused(control):
    assert refusal(clean_name, f"Ali{control}ce") == CONTROL_MESSAGE


def test_name_of_200_characters_is_accepted_and_201_refused():
    assert clean_name("ن" * 200) == "ن" * 200
    assert refusal(clean_name, "ن" * 201) == "Ensure this field has no more than 200 characters."


def test_name_that_is_not_text_is_refused():
    assert refusal(clean_name, ["Ali"]) == "Not a valid string."


# --- phone -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    ["1234", "+15550124", "+1 (555) 0124", "0912-345-6789", "(021) 8888 7777", "+" + "1" * 19],
)
def test_phone_of_digits_and_allowed_signs_is_echoed_as_entered(value):
    assert clean_phone(value) == value


@pytest.mark.parametrize("typed", ["۰۹۱۲ ۳۴۵ ۶۷۸۹", "٠٩١٢ ٣٤٥ ٦٧٨٩", "0912 345 6789"])
def test_phone_typed_in_persian_or_arabic_indic_digits_is_stored_in_latin_digits(typed):
    assert clean_phone(typed) == "0912 345 6789"


def test_phone_is_trimmed_and_blank_means_none():
    assert clean_phone("  +1 555 0124 ") == "+1 555 0124"
    assert clean_phone("") is None
    assert clean_phone(None) is None


@pytest.mark.parametrize(
    "value",
    ["123", "12a4", "555-CALL-NOW", "12+34", "++1234", "1234#", "1234x56", "+1.555.0124", "۰۹۱۲x۳۴۵۶"],
)
def test_phone_outside_the_allowed_form_is_refused(value):
    assert refusal(clean_phone, value) == PHONE_MESSAGE


def test_phone_of_20_characters_is_accepted_and_21_refused():
    assert clean_phone("1" * 20) == "1" * 20
    message = refusal(clean_phone, "1" * 21)
    assert "20" in message


def test_phone_with_a_control_character_is_refused():
    assert refusal(clean_phone, "555\x000124") == CONTROL_MESSAGE


# --- gender ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "stored"),
    [("male", "male"), ("female", "female"), ("other", "other"), ("Female", "female"), (" OTHER ", "other")],
)
def test_gender_choice_is_stored_in_lower_case(value, stored):
    assert clean_gender(value) == stored


@pytest.mark.parametrize("value", ["unknown", "man", "x", "males"])
def test_gender_outside_the_choices_is_refused(value):
    assert refusal(clean_gender, value) == f'"{value}" is not a valid choice.'


def test_gender_blank_means_none():
    assert clean_gender("") is None
    assert clean_gender(None) is None


# --- country -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "stored"), [("IR", "IR"), ("ir", "IR"), ("De", "DE"), (" us ", "US")])
def test_country_code_is_stored_upper_case(value, stored):
    assert clean_country(value) == stored


@pytest.mark.parametrize("value", ["XX", "ZZ", "AA", "EU", "UK", "QQ"])
def test_country_code_that_is_not_an_assigned_country_is_refused(value):
    assert refusal(clean_country, value) == f'"{value}" is not a valid ISO 3166-1 alpha-2 country code.'


def test_country_longer_than_two_letters_is_refused():
    assert refusal(clean_country, "IRN") == "Ensure this field has no more than 2 characters."


def test_country_blank_means_none():
    assert clean_country("") is None
    assert clean_country(None) is None


# --- address -----------------------------------------------------------------------------------


def test_address_keeps_its_line_breaks():
    assert clean_address("No. 12, Valiasr St.\nTehran\n1234567890") == "No. 12, Valiasr St.\nTehran\n1234567890"


def test_address_with_windows_line_breaks_is_stored_with_plain_newlines():
    assert clean_address("Line one\r\nLine two") == "Line one\nLine two"


@pytest.mark.parametrize("control", ["\x00", "\x07", "\x1b", "\x7f", "\x0b", "\x0c"])
def test_address_containing_another_control_character_is_refused(control):
    assert refusal(clean_address, f"Line one{control}Line two") == CONTROL_MESSAGE


def test_address_in_persian_is_kept():
    assert clean_address("تهران،\nخیابان ولیعصر") == "تهران،\nخیابان ولیعصر"


def test_address_of_500_characters_is_accepted_and_501_refused():
    assert clean_address("a" * 500) == "a" * 500
    assert refusal(clean_address, "a" * 501) == "Ensure this field has no more than 500 characters."


def test_address_is_trimmed_and_blank_means_none():
    assert clean_address("  Main St 1 \n") == "Main St 1"
    assert clean_address("") is None
    assert clean_address(None) is None


# --- birthday ----------------------------------------------------------------------------------

DATE_FORMAT_MESSAGE = "Date has wrong format. Use one of these formats instead: YYYY-MM-DD."


def test_birthday_iso_date_is_stored_as_a_date():
    assert clean_birthday("1990-05-17") == date(1990, 5, 17)
    assert clean_birthday(" 1990-05-17 ") == date(1990, 5, 17)
    assert clean_birthday(date(1990, 5, 17)) == date(1990, 5, 17)


@pytest.mark.parametrize("value", ["17/05/1990", "May 17, 1990", "1990-02-30", "1990-13-01", "yesterday", "1990-5-17"])
def test_birthday_that_is_not_an_iso_date_is_refused(value):
    assert refusal(clean_birthday, value) == DATE_FORMAT_MESSAGE


def test_birthday_that_is_not_text_or_date_is_refused():
    assert refusal(clean_birthday, 19900517) == DATE_FORMAT_MESSAGE


def test_birthday_today_is_accepted_and_tomorrow_refused():
    today = date.today()
    assert clean_birthday(today.isoformat()) == today
    assert refusal(clean_birthday, (today + timedelta(days=1)).isoformat()) == "Birthday cannot be in the future."


def test_birthday_on_1900_01_01_is_accepted_and_the_day_before_refused():
    assert clean_birthday("1900-01-01") == date(1900, 1, 1)
    assert refusal(clean_birthday, "1899-12-31") == "Birthday cannot be before 1900-01-01."


def test_birthday_blank_means_none():
    assert clean_birthday("") is None
    assert clean_birthday(None) is None


# --- flags and the whole-form cleaner ----------------------------------------------------------


def test_flag_accepts_only_real_booleans():
    assert clean_flag(True) is True
    assert clean_flag(False) is False
    for value in ("true", 1, 0, None):
        assert refusal(clean_flag, value) == "Must be a valid boolean."


def test_clean_fields_reports_every_bad_field_at_once():
    with pytest.raises(ValidationFailed) as excinfo:
        clean_fields(
            {"email": "nope", "phone": "12", "country": "XX", "first_name": "Ok", "birthday": "2999-01-01"},
            PROFILE_FIELDS,
        )
    assert excinfo.value.errors == {
        "email": ["Enter a valid email address."],
        "phone": [PHONE_MESSAGE],
        "country": ['"XX" is not a valid ISO 3166-1 alpha-2 country code.'],
        "birthday": ["Birthday cannot be in the future."],
    }


def test_clean_fields_returns_stored_values_and_ignores_fields_it_has_no_rule_for():
    cleaned = clean_fields(
        {
            "email": " Bob@Example.com ",
            "first_name": " رضا ",
            "last_name": "",
            "country": "ir",
            "gender": "Male",
            "is_staff": True,
            "password": "secret",
            "id": 99,
        },
        PROFILE_FIELDS,
    )
    assert cleaned == {
        "email": "Bob@example.com",
        "first_name": "رضا",
        "last_name": None,
        "country": "IR",
        "gender": "male",
    }


def test_account_flags_are_not_profile_fields():
    assert set(ACCOUNT_FLAGS) == {"is_active", "is_staff", "is_superuser", "email_verified"}
    assert not set(ACCOUNT_FLAGS) & set(PROFILE_FIELDS)
