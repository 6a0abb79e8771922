"""Profile field rules, each written once, shared by every API dialect, the pages, the admin and the CLI.

``clean_each_field`` turns raw input (already mapped to model attribute names) into stored values,
collecting DRF-style messages per field; ``clean_fields`` does the same and raises them at once.
Uniqueness is checked by the account service, which owns the database.
"""

import re
import unicodedata
import zoneinfo
from datetime import date

import pycountry
from email_validator import EmailNotValidError, validate_email
from flask import has_request_context
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from ... import clock
from ..errors import ValidationFailed

GENDERS = ("male", "female", "other")
MIN_BIRTHDAY = date(1900, 1, 1)
USERNAME_PATTERN = re.compile(r"[\w.@+-]+")
PHONE_PATTERN = re.compile(r"\+?[0-9() -]+")
COUNTRY_CODES = frozenset(country.alpha_2 for country in pycountry.countries)


# Bidirectional embeddings, overrides and isolates reorder what a reader sees ("Trojan Source"):
# a name could show as someone else's. The joiners U+200C/U+200D that Persian needs are kept.
BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


class FieldError(ValueError):
    """One message about one field."""


def clean_text(value, *, max_length: int, required: bool = False, allowed_controls: str = "") -> str | None:
    """Trimmed text; ``""`` becomes None for optional fields; control characters are refused."""
    if value is None:
        if required:
            raise FieldError(_("This field may not be null."))
        return None
    if not isinstance(value, str):
        raise FieldError(_("Not a valid string."))
    value = value.strip()
    if not value:
        if required:
            raise FieldError(_("This field may not be blank."))
        return None
    if any(unicodedata.category(ch) == "Cc" and ch not in allowed_controls for ch in value):
        raise FieldError(_("Control characters are not allowed."))
    if any(unicodedata.category(ch) == "Cs" for ch in value):
        raise FieldError(_("Invalid Unicode text."))
    if any(ch in BIDI_CONTROLS for ch in value):
        raise FieldError(_("Bidirectional control characters are not allowed."))
    if len(value) > max_length:
        raise FieldError(_("Ensure this field has no more than %(limit)s characters.", limit=digits(max_length)))
    return value


def clean_email(value) -> str:
    value = clean_text(value, max_length=200, required=True)
    try:
        return validate_email(value, check_deliverability=False).normalized
    except EmailNotValidError:
        raise FieldError(_("Enter a valid email address.")) from None


def clean_username(value) -> str | None:
    value = clean_text(value, max_length=150)
    if value is not None and not USERNAME_PATTERN.fullmatch(value):
        raise FieldError(
            _("Enter a valid username. This value may contain only letters, numbers, and @/./+/-/_ characters.")
        )
    return value


def clean_name(value) -> str | None:
    return clean_text(value, max_length=200)


# Persian (U+06F0–06F9) and Arabic-Indic (U+0660–0669) digits, as a Persian keyboard types them.
LATIN_DIGITS = str.maketrans("۰۱۲۳۴۵۶۷۸۹٠١٢٣٤٥٦٧٨٩", "01234567890123456789")
# The languages pages and mails are written in, each named in itself.
LANGUAGES = {"en": "English", "fa": "فارسی"}


def page_language() -> str:
    """The language of the page being answered (English outside a request): what a mail caused by it
    is written in when the person has chosen none."""
    return str(get_locale() or "en") if has_request_context() else "en"


# How a language writes digits (Persian: ۰–۹), and a number's decimal and thousands separators.
NATIVE_DIGITS = {"fa": "۰۱۲۳۴۵۶۷۸۹"}
NATIVE_SEPARATORS = {"fa": "٫٬"}


def local_digits(text) -> str:
    """``text`` (a date, a time) with its digits as the current language writes them."""
    native = NATIVE_DIGITS.get(str(get_locale() or "en"))
    return str(text).translate(str.maketrans("0123456789", native)) if native else str(text)


def digits(number) -> str:
    """A number (or the text of one, ``f"{size:g}"``, ``f"{count:,}"``) as the current language
    writes it in a message: ``"3,861,493"`` in English, ``"۳٬۸۶۱٬۴۹۳"`` in Persian."""
    language = str(get_locale() or "en")
    native = NATIVE_DIGITS.get(language)
    if not native:
        return str(number)
    return str(number).translate(str.maketrans("0123456789.,", native + NATIVE_SEPARATORS[language]))


def latin_digits(value):
    """``value`` with Persian and Arabic-Indic digits written as 0–9 (anything but text as it is):
    a phone number or a code typed on a Persian keyboard means the same as one typed in Latin digits."""
    return value.translate(LATIN_DIGITS) if isinstance(value, str) else value


def clean_phone(value) -> str | None:
    value = clean_text(latin_digits(value), max_length=20)
    if value is None:
        return None
    digits = sum(ch.isdigit() for ch in value)
    if len(value) < 4 or not PHONE_PATTERN.fullmatch(value) or digits < 4:
        raise FieldError(
            _(
                "Enter a valid phone number: 4 to 20 characters of digits, spaces, '-', '(' and ')', "
                "with at least 4 digits and an optional leading '+'."
            )
        )
    return value


def _clean_choice(value, *, choices, case, max_length: int, refusal) -> str | None:
    """Optional text that is one of ``choices`` in any case, stored in the case they are written in
    (``case``: ``str.lower`` or ``str.upper``); else ``refusal`` (translatable), where ``%(value)s``
    is what was sent."""
    value = clean_text(value, max_length=max_length)
    if value is None:
        return None
    if case(value) not in choices:
        raise FieldError(str(refusal) % {"value": value})
    return case(value)


def clean_gender(value) -> str | None:
    return _clean_choice(
        value, choices=GENDERS, case=str.lower, max_length=10, refusal=_l('"%(value)s" is not a valid choice.')
    )


def clean_country(value) -> str | None:
    return _clean_choice(
        value, choices=COUNTRY_CODES, case=str.upper, max_length=2,
        refusal=_l('"%(value)s" is not a valid ISO 3166-1 alpha-2 country code.'),
    )


def clean_address(value) -> str | None:
    # An address spans lines: line breaks and tabs are the only control characters it may hold.
    if isinstance(value, str):
        value = value.replace("\r\n", "\n")
    return clean_text(value, max_length=500, allowed_controls="\n\t")


def clean_birthday(value) -> date | None:
    if value is None or value == "":
        return None
    if isinstance(value, date):
        parsed = value
    elif isinstance(value, str):
        try:
            parsed = date.fromisoformat(value.strip())
        except ValueError:
            raise FieldError(_("Date has wrong format. Use one of these formats instead: YYYY-MM-DD.")) from None
    else:
        raise FieldError(_("Date has wrong format. Use one of these formats instead: YYYY-MM-DD."))
    if parsed > clock.now().date():
        raise FieldError(_("Birthday cannot be in the future."))
    if parsed < MIN_BIRTHDAY:
        raise FieldError(_("Birthday cannot be before 1900-01-01."))
    return parsed


def clean_flag(value) -> bool:
    if isinstance(value, bool):
        return value
    raise FieldError(_("Must be a valid boolean."))


def clean_language(value) -> str | None:
    return _clean_choice(
        value, choices=LANGUAGES, case=str.lower, max_length=8,
        refusal=_l('"%(value)s" is not a language of this site.'),
    )


# Every IANA time zone name, sorted (the zones of the region/city kind, as people choose them).
TIME_ZONES = tuple(
    sorted(zone for zone in zoneinfo.available_timezones() if "/" in zone and not zone.startswith("Etc/"))
)


def clean_time_zone(value) -> str | None:
    """An IANA time zone name as written there (``Asia/Tehran``); None: UTC."""
    value = clean_text(value, max_length=64)
    if value is not None and value not in TIME_ZONES and value != "UTC":
        raise FieldError(_('"%(value)s" is not a time zone name such as Europe/Berlin or Asia/Tehran.', value=value))
    return value


PROFILE_FIELDS = {
    "email": clean_email,
    "username": clean_username,
    "first_name": clean_name,
    "last_name": clean_name,
    "phone": clean_phone,
    "gender": clean_gender,
    "country": clean_country,
    "address": clean_address,
    "birthday": clean_birthday,
    "language": clean_language,
    "time_zone": clean_time_zone,
}

# Fields only staff may set, and only through the admin page or the CLI.
ACCOUNT_FLAGS = {
    "is_active": clean_flag,
    "is_staff": clean_flag,
    "is_superuser": clean_flag,
    "email_verified": clean_flag,
}


def clean_each_field(raw: dict, rules: dict) -> tuple[dict, dict]:
    """``(cleaned, errors)``: every field of ``raw`` that ``rules`` names, cleaned or with its message."""
    cleaned, errors = {}, {}
    for field, value in raw.items():
        if field not in rules:
            continue
        try:
            cleaned[field] = rules[field](value)
        except FieldError as exc:
            errors[field] = [str(exc)]
    return cleaned, errors


def clean_fields(raw: dict, rules: dict) -> dict:
    """Clean every field of ``raw`` that ``rules`` names; raise once with all messages."""
    cleaned, errors = clean_each_field(raw, rules)
    if errors:
        raise ValidationFailed(errors)
    return cleaned
