"""Profile field rules, each written once, shared by every API dialect, the pages, the admin and the CLI;
and the one registry of an account's fields (``ACCOUNT_FIELDS``) that everything listing them reads
(the profile form, the audit's labels, the export, the admin's CSV and filters), so adding a field
is one entry here (and a migration for its column).
"""

import re
import unicodedata
import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

import pycountry
from email_validator import EmailNotValidError, validate_email
from flask_babel import LazyString, get_locale
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
    """The language of what is being answered (the i18n layer decides; English outside a request)."""
    return str(get_locale() or "en")


# How a language writes digits (Persian: ۰–۹), and a number's decimal and thousands separators.
NATIVE_DIGITS = {"fa": "۰۱۲۳۴۵۶۷۸۹"}
NATIVE_SEPARATORS = {"fa": "٫٬"}


def local_digits(text) -> str:
    """``text`` (a date, a time) with its digits as the current language writes them."""
    native = NATIVE_DIGITS.get(page_language())
    return str(text).translate(str.maketrans("0123456789", native)) if native else str(text)


def digits(number) -> str:
    """A number (or the text of one, ``f"{size:g}"``, ``f"{count:,}"``) as the current language
    writes it in a message: ``"3,861,493"`` in English, ``"۳٬۸۶۱٬۴۹۳"`` in Persian."""
    language = page_language()
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
    """Optional text that is one of ``choices`` in any case, stored in ``case`` (``str.lower`` or
    ``str.upper``); else ``refusal``, where ``%(value)s`` is what was sent."""
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
    try:
        parsed = value if isinstance(value, date) else date.fromisoformat(value.strip())
    except (AttributeError, TypeError, ValueError):
        raise FieldError(_("Date has wrong format. Use one of these formats instead: YYYY-MM-DD.")) from None
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


@dataclass(frozen=True)
class Widget:
    """How the profile form asks for a field. ``input``: "text", "email", "textarea", "date" or
    "select" (its options: the names of the field's ``reads_as`` values); ``group``: the part of the
    form; ``width``: "full", "half" or "third" of a row; ``checked_by_form``: a select whose value the
    form itself refuses when it is none of the options (else the service's rule says)."""

    input: str = "text"
    group: str = "about"
    width: str = "full"
    autocomplete: str | None = None
    inputmode: str | None = None
    direction: str | None = None
    rows: int | None = None
    checked_by_form: bool = True

    def attributes(self) -> dict:
        """The input's HTML attributes (``render_kw``)."""
        attributes = {
            "autocomplete": self.autocomplete, "inputmode": self.inputmode, "dir": self.direction,
            "rows": self.rows, "type": "date" if self.input == "date" else None,
        }
        return {name: value for name, value in attributes.items() if value is not None}


# Who may set a field: the person (and staff) on the profile, staff alone, or nobody (the portal).
PROFILE, STAFF, PORTAL = "profile", "staff", "portal"


@dataclass(frozen=True)
class AccountField:
    """One field of an account, and how each part of the portal treats it. ``clean``: the rule for
    input (None: no input sets it); ``audit_label``: its name in a list of changes (None: never
    audited); ``reads_as``: the kind of value, which says how a page names it; ``widget``: its input
    on the profile form; ``in_details``: shown on the person's profile page; ``in_csv``: a column of
    the admin's CSV; ``admin_filter``: the query-string name of the admin's filter on it. Every field
    is in "download my data"."""

    name: str
    set_by: str = PORTAL
    clean: Callable[[object], object] | None = None
    label: LazyString | None = None
    audit_label: LazyString | None = None
    reads_as: str = "text"
    widget: Widget | None = None
    in_details: bool = False
    in_csv: bool = False
    admin_filter: str | None = None


# Every field of an account, in the order a person reads their profile (the form, a list of
# changes); the data lists (export, CSV) put the fields an account is known by first (``DATA_ORDER``).
ACCOUNT_FIELDS = (
    AccountField("id", audit_label=_l("id"), reads_as="number", in_csv=True),
    AccountField(
        "first_name", PROFILE, clean_name, _l("First name"), _l("first name"), in_csv=True, in_details=True,
        widget=Widget(group="name", width="half", autocomplete="given-name", direction="auto"),
    ),
    AccountField(
        "last_name", PROFILE, clean_name, _l("Last name"), _l("last name"), in_csv=True, in_details=True,
        widget=Widget(group="name", width="half", autocomplete="family-name", direction="auto"),
    ),
    AccountField("full_name"),  # first and last name as one, as pages and mails address the person
    AccountField(
        "username", PROFILE, clean_username, _l("Username"), _l("username"), in_csv=True, in_details=True,
        widget=Widget(group="name", autocomplete="username", direction="auto"),
    ),
    AccountField(
        "email", PROFILE, clean_email, _l("Email address"), _l("email"), reads_as="email", in_csv=True, in_details=True,
        widget=Widget(input="email", group="contact", autocomplete="email", direction="ltr"),
    ),
    AccountField(
        "phone", PROFILE, clean_phone, _l("Phone number"), _l("phone"), reads_as="phone", in_csv=True, in_details=True,
        widget=Widget(group="contact", autocomplete="tel", inputmode="tel", direction="ltr"),
    ),
    AccountField(
        "gender", PROFILE, clean_gender, _l("Gender"), _l("gender"), reads_as="gender", in_csv=True, in_details=True,
        widget=Widget(input="select", width="third"),
    ),
    AccountField(
        "country", PROFILE, clean_country, _l("Country"), _l("country"), reads_as="country", in_csv=True,
        in_details=True,
        widget=Widget(input="select", width="third", autocomplete="country"),
    ),
    AccountField(
        "address", PROFILE, clean_address, _l("Address"), _l("address"), in_details=True,
        widget=Widget(input="textarea", group="contact", autocomplete="street-address", direction="auto", rows=3),
    ),
    AccountField(
        "birthday", PROFILE, clean_birthday, _l("Birthday"), _l("birthday"), reads_as="date", in_details=True,
        widget=Widget(input="date", width="third", autocomplete="bday"),
    ),
    # Set on the profile, but stored by the avatar service from an upload: no rule of this kind.
    AccountField("avatar", PROFILE, audit_label=_l("avatar"), reads_as="picture"),
    AccountField(
        "is_active", STAFF, clean_flag, _l("Active"), _l("is active"), reads_as="flag", in_csv=True,
        admin_filter="active",
    ),
    AccountField(
        "is_staff", STAFF, clean_flag, _l("Staff"), _l("is staff"), reads_as="flag", in_csv=True,
        admin_filter="staff",
    ),
    AccountField("is_superuser", STAFF, clean_flag, audit_label=_l("is superuser"), reads_as="flag", in_csv=True),
    AccountField(
        "email_verified", STAFF, clean_flag, _l("Verified"), _l("email verified"), reads_as="flag", in_csv=True,
        admin_filter="verified",
    ),
    AccountField("date_joined", reads_as="time", in_csv=True),
    AccountField("updated_at", reads_as="time"),
    AccountField("last_login", reads_as="time", in_csv=True),
    AccountField("sign_in_alerts", audit_label=_l("sign in alerts"), reads_as="flag"),
    AccountField("password_reset_required", audit_label=_l("password reset required"), reads_as="flag"),
    AccountField("password_breached", reads_as="flag"),
    AccountField(
        "language", PROFILE, clean_language, _l("Language"), _l("language"), reads_as="language",
        widget=Widget(input="select", group="language_and_time", width="half", checked_by_form=False),
        admin_filter="language",
    ),
    AccountField(
        "time_zone", PROFILE, clean_time_zone, _l("Time zone"), _l("time zone"), reads_as="time_zone",
        widget=Widget(input="select", group="language_and_time", width="half", checked_by_form=False),
    ),
)
FIELDS_BY_NAME = {account_field.name: account_field for account_field in ACCOUNT_FIELDS}
# What an account is known by, first in every data list (a row is looked up by them).
KNOWN_BY = ("id", "email", "username")
DATA_ORDER = tuple(FIELDS_BY_NAME[name] for name in KNOWN_BY) + tuple(
    account_field for account_field in ACCOUNT_FIELDS if account_field.name not in KNOWN_BY
)

# The rules of what the person (or staff) may change on a profile; ``avatar`` is an upload, kept apart.
PROFILE_FIELDS = {f.name: f.clean for f in ACCOUNT_FIELDS if f.set_by == PROFILE and f.clean is not None}
# Fields only staff may set, and only through the admin page or the CLI.
ACCOUNT_FLAGS = {f.name: f.clean for f in ACCOUNT_FIELDS if f.set_by == STAFF}
# The fields of the profile form, in the order they are read.
FORM_FIELDS = tuple(f for f in ACCOUNT_FIELDS if f.widget is not None)
# The fields the person's profile page shows back, in the order they are read.
DETAIL_FIELDS = tuple(f for f in ACCOUNT_FIELDS if f.in_details)
# The account's fields in "download my data", and the columns of the admin's CSV of accounts.
EXPORTED_FIELDS = tuple(f.name for f in DATA_ORDER)
CSV_FIELDS = tuple(f.name for f in DATA_ORDER if f.in_csv)


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
