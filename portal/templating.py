"""How values read on a page: times, browsers, countries, audit actions. Presentation only; no rule
lives here. Registered on the app, so the user pages, the admin and the mails share them."""

import unicodedata
from datetime import UTC, date, datetime
from functools import cache
from zoneinfo import ZoneInfo

import jdatetime
import pycountry
from babel.dates import get_timezone_location
from flask_babel import get_locale, get_timezone, ngettext
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from jinja2 import pass_context
from markupsafe import Markup, escape

from . import providers
from .i18n import direction, solar_calendar
from .media import avatar_path
from .models import iso_utc
from .services import audit
from .services.audit import ACTIONS
from .services.people.fields import DETAIL_FIELDS, FIELDS_BY_NAME, GENDERS, LANGUAGES, TIME_ZONES, digits, local_digits
from .services.signing_in import factors, securing, sign_in_alerts
from .services.signing_in.linked_identities import PROVIDER_PREFIX
from .services.ways_in.api_keys import NAMES_GIVEN_BY_THE_PORTAL
from .user_agents import browser_and_system


def _language() -> str:
    return str(get_locale() or "en")


def _in_time_zone(value: datetime, zone: str | None) -> datetime:
    """A stored (naive UTC) time in ``zone``, or the person's (a mail names its reader's)."""
    return value.replace(tzinfo=UTC).astimezone(ZoneInfo(zone or str(get_timezone() or "UTC")))


def _zone_city(zone: str) -> str:
    """The city a time zone is named after, in the page's language (the CLDR's: "Tehran", "تهران")."""
    return get_timezone_location(zone, locale=_language(), return_city=True)


def _at_the_time_of(written: str, zone: str) -> str:
    """``written`` (a date and time) followed by its zone as a person reads it: "00:00 Tehran time",
    "۰۰:۰۰ به وقت تهران". A bare offset ("+0330") reads like a sum, and an abbreviation ("CEST") is
    known only to some; UTC keeps its name, which everyone who meets it knows."""
    if zone == "UTC":
        return f"{written} UTC"
    return _("%(moment)s %(city)s time", moment=written, city=_zone_city(zone))


def _written(value, english: str, persian: str, zone: str | None, with_zone: bool = True) -> str:
    """A stored time in the person's zone: Gregorian in English, Solar Hijri with Persian digits in
    Persian (``english`` and ``persian`` are strftime patterns)."""
    if value is None:
        return "—"
    zone = zone or str(get_timezone() or "UTC")
    local = _in_time_zone(value, zone)
    if solar_calendar():
        written = local_digits(jdatetime.datetime.fromgregorian(datetime=local, locale="fa_IR").strftime(persian))
    else:
        written = local.strftime(english)
    return _at_the_time_of(written, zone) if with_zone else written


def when(value, zone: str | None = None) -> str:
    """A stored time as people read it, to the minute (``zone``: a mail's reader's time zone)."""
    return _written(value, "%-d %b %Y, %H:%M", "%-d %B %Y، %H:%M", zone)


def when_exactly(value, zone: str | None = None) -> str:
    """To the second: tells apart two things started in the same minute."""
    return _written(value, "%-d %b %Y, %H:%M:%S", "%-d %B %Y، %H:%M:%S", zone)


def moment(value, to_the_day: bool = False) -> Markup:
    """A stored time inside a sentence, as a ``<time>`` element (portal.css keeps it on one line):
    to the minute with its zone, or only its day where the day is what is said ("Joined …")."""
    if value is None:
        return Markup("—")
    return Markup('<time datetime="%s">%s</time>') % (iso_utc(value), day(value) if to_the_day else when(value))


def day(value, zone: str | None = None) -> str:
    """A stored time as its date, for dense lists (the full time is in the <time> element)."""
    return _written(value, "%-d %b %Y", "%-d %B %Y", zone, with_zone=False)


def calendar_date(value) -> str:
    """A date that has no time of day (a birthday): ISO 8601 in English, the Solar Hijri day with
    Persian digits in Persian."""
    if value is None:
        return "—"
    if solar_calendar():
        return local_digits(jdatetime.date.fromgregorian(date=value, locale="fa_IR").strftime("%-d %B %Y"))
    return value.isoformat()


def gregorian(value) -> str:
    """A stored time on the Gregorian calendar in UTC, whatever the page's language: beside or under
    a Solar Hijri date where the exact moment matters (the audit log)."""
    return value.strftime("%Y-%m-%d %H:%M:%S UTC") if value is not None else ""


def number(value) -> str:
    """A count as the page's language writes it (``۱۰`` on a Persian page)."""
    return digits(value)


def phone(value) -> Markup:
    """A stored phone number (kept in Latin digits) in the page's digits, left to right: "۰۹۱۲ ۳۴۵ ۶۷۸۹"
    on a Persian page, where Latin digits would be the only ones in the running text."""
    return Markup('<bdi dir="ltr" class="phone">%s</bdi>') % local_digits(value)


def email_address(value, breakable: bool = False) -> Markup:
    """An email address kept whole and left to right (portal.css: not broken at any letter as the
    page's ``overflow-wrap: anywhere`` lets text, which also lets a table squeeze it). ``breakable``:
    in a narrow column, where it may break before its "@" (a ``<wbr>``) and nowhere else."""
    local, at, domain = str(value).rpartition("@")
    if breakable and local and at:
        return Markup('<bdi dir="ltr" class="email">%s<wbr>@%s</bdi>') % (local, domain)
    return Markup('<bdi dir="ltr" class="email">%s</bdi>') % value


def iso(value) -> str:
    """A stored time for a ``datetime`` attribute; nothing for no time."""
    return iso_utc(value) or ""


def ltr(value) -> Markup:
    """A left-to-right value (an email address, a code, an IP address) inside a sentence: isolated
    on a right-to-left page, where the sentence around it would otherwise move its leading or
    trailing punctuation to the wrong end; as it is (escaped) on a left-to-right page."""
    if direction() == "rtl":
        return Markup('<bdi dir="ltr">%s</bdi>') % value
    return escape(value)


def isolated(value) -> Markup:
    """A name someone typed (a passkey's, a key's) inside a sentence: on a right-to-left page in a
    ``<bdi>`` that takes the direction of its own first letter; as it is (escaped) elsewhere."""
    if direction() == "rtl":
        return Markup("<bdi>%s</bdi>") % value
    return escape(value)


def key_name(name: str | None) -> str:
    """An API key's name: the person's own, or the portal's for the keys it makes (in the page's language)."""
    given = NAMES_GIVEN_BY_THE_PORTAL.get(name)
    return str(given) if given is not None else (name or _("Unnamed key"))


def acted_by(event, to_owner: bool = False) -> Markup:
    """Who made an audited change, as ``audit.acted_by`` says it, with an address isolated (escaped)."""
    return Markup(audit.acted_by(event, to_owner=to_owner, isolate=isolated))


def sentence(translated: str, **values) -> Markup:
    """A translated message with values put in it, each escaped unless it is markup already (``ltr``),
    for a flash message: ``sentence(_("Mailed to %(email)s."), email=ltr(address))``."""
    return Markup(translated) % values


def browser(user_agent: str | None) -> str:
    """"Firefox on Linux" from a User-Agent header; "Unknown browser" when it says nothing known."""
    name, system = browser_and_system(user_agent)
    if name and system:
        return _("%(browser)s on %(system)s", browser=name, system=system)
    return name or system or _("Unknown browser")


# Persian letters in their dictionary order (Unicode's puts پ چ ژ گ after the Arabic letters).
PERSIAN_ALPHABET = "آابپتثجچحخدذرزژسشصضطظعغفقکگلمنوهیئ"


def _collation_key(text: str) -> tuple[int, ...]:
    """Sorts names as a dictionary of their language would: Persian letters in Persian order, Latin
    ones without their accents ("Åland" with the A's), case ignored; marks and joiners count for nothing."""
    key = []
    for char in text.casefold():
        if char in PERSIAN_ALPHABET:
            key.append(0x110000 + PERSIAN_ALPHABET.index(char))
            continue
        base = unicodedata.normalize("NFKD", char)[0]
        if unicodedata.combining(base) or unicodedata.category(base) == "Cf":
            continue
        key.append(ord(base))
    return tuple(key)


def _territories():
    locale = get_locale()
    return locale.territories if locale is not None else {}


def country_name(code: str | None) -> str | None:
    """A country's name in the page's language (Babel's, from the CLDR), from its ISO code."""
    if not code:
        return code
    country = pycountry.countries.get(alpha_2=code)
    if country is None:
        return code
    return _territories().get(country.alpha_2) or country.name


@cache
def _countries_in(language: str) -> tuple[tuple[str, str], ...]:
    territories = _territories()
    named = ((country.alpha_2, territories.get(country.alpha_2) or country.name) for country in pycountry.countries)
    return tuple(sorted(named, key=lambda pair: _collation_key(pair[1])))


def countries() -> tuple[tuple[str, str], ...]:
    """Every country as ``(code, name)``, named and sorted for the page's language."""
    return _countries_in(_language())


@cache
def _time_zones_in(language: str) -> tuple[tuple[str, str], ...]:
    if language == "en":  # the IANA names read well in English, and are what people search for
        return tuple((zone, zone.replace("_", " ")) for zone in TIME_ZONES)
    named = ((zone, get_timezone_location(zone, locale=language)) for zone in TIME_ZONES)
    return tuple(sorted(named, key=lambda pair: _collation_key(pair[1])))


def time_zone_name(zone: str) -> str:
    """One time zone's name in the page's language (its IANA name in English)."""
    return dict(_time_zones_in(_language())).get(zone, zone)


def time_zones() -> tuple[tuple[str, str], ...]:
    """Every time zone as ``(IANA name, name)``, named (by the CLDR: "وقت آلمان (برلین)") and
    sorted for the page's language."""
    return _time_zones_in(_language())


# Each gender as a form and a profile page name it.
GENDER_NAMES = {"male": _l("Male"), "female": _l("Female"), "other": _l("Other")}


def gender_name(gender: str | None) -> str | None:
    return str(GENDER_NAMES[gender]) if gender in GENDER_NAMES else gender


def language_name(code: str | None) -> str | None:
    """A language by its own name ("فارسی"), as a person looking for theirs reads it."""
    return LANGUAGES.get(code, code)


# What "nothing chosen" reads as in a select of each kind of value (no time zone is UTC).
NOTHING_CHOSEN = {"time_zone": "UTC"}


def value_options(kind: str) -> list[tuple[str, str, dict]]:
    """The options of a select of ``kind`` values (an ``AccountField.reads_as``) as ``(value, name,
    attributes)``, "nothing chosen" first: named and sorted in the page's language; each language
    by its own name, marked with its language."""
    options = {
        "gender": lambda: [(gender, GENDER_NAMES[gender], {}) for gender in GENDERS],
        "country": lambda: [(code, name, {}) for code, name in countries()],
        "language": lambda: [(code, name, {"lang": code}) for code, name in LANGUAGES.items()],
        "time_zone": lambda: [(zone, name, {}) for zone, name in time_zones()],
    }[kind]()
    return [("", NOTHING_CHOSEN.get(kind, "—"), {}), *options]


# How a sign-in was proven ("password+totp"), part by part, as people read it: the first steps, and
# each kind of second factor by its own label.
PROOFS = {"password": _l("password"), "email_code": _l("emailed code"), "code": _l("code"),
          **{kind.key: kind.label for kind in factors.KINDS}}


def sign_in_method(method: str | None) -> str:
    """"password and app code" from a credential's ``method`` ("password+totp"); a provider's first
    step ("provider:github") by the provider's name ("GitHub")."""
    first, *others = [_proof(part) for part in (method or "password").split("+")]
    for other in others:
        first = _("%(first)s and %(second)s", first=first, second=other)
    return first


def _proof(part: str) -> str:
    if part.startswith(PROVIDER_PREFIX):
        return providers.name_of(part.removeprefix(PROVIDER_PREFIX))
    return str(PROOFS.get(part, part))


def duration(value) -> str:
    """A timedelta in the largest whole unit people say: "24 hours", "7 days", "90 seconds"."""
    seconds = int(value.total_seconds())
    if seconds >= 86400 and seconds % 86400 == 0:
        days = seconds // 86400
        return ngettext("%(count)s day", "%(count)s days", days, count=number(days))
    if seconds >= 3600 and seconds % 3600 == 0:
        hours = seconds // 3600
        return ngettext("%(count)s hour", "%(count)s hours", hours, count=number(hours))
    if seconds >= 60 and seconds % 60 == 0:
        minutes = seconds // 60
        return ngettext("%(count)s minute", "%(count)s minutes", minutes, count=number(minutes))
    return ngettext("%(count)s second", "%(count)s seconds", seconds, count=number(seconds))




def change_value(value, field: str) -> Markup:
    """One side of a changed field in an audit event, as the page's reader reads it: yes or no, a
    number in their digits, a language, gender, country or sign-in method by its name; the texts the
    portal recorded in English (how an account was secured) in the page's language; anything else a
    person or a browser typed (an address, a name, a key's id) kept in its own direction."""
    if value is None:
        return Markup("—")
    kind = FIELDS_BY_NAME[field].reads_as if field in FIELDS_BY_NAME else field
    if kind == "picture":
        return escape(_("a picture"))
    if value is True or value is False:
        return escape(_("yes") if value else _("no"))
    if isinstance(value, int | float):
        return escape(number(value))
    if kind == "phone":
        return phone(value)
    if kind == "email":
        return email_address(value, breakable=True)
    named = VALUE_NAMES.get(kind)
    if named is not None:
        return escape(named(value))
    return Markup('<bdi dir="auto">%s</bdi>') % value


# How a recorded value of each kind reads: an account field's kind (its ``reads_as``), or the name
# of another change an event records (how a sign-in was proven, how an account was secured).
VALUE_NAMES = {
    "language": language_name, "gender": gender_name, "country": country_name, "time_zone": time_zone_name,
    "date": lambda iso_date: calendar_date(date.fromisoformat(iso_date)),
    "method": sign_in_method, "how": lambda door: securing.DOORS.get(door, door),
}


def stored_value(value, kind: str) -> Markup:
    """A stored value of an account field as its profile page shows it, by its kind (``reads_as``):
    text a person typed in its own direction, an address or a phone number left to right, a gender,
    country, language or time zone by its name, a date on the page's calendar; "—" for none."""
    if kind == "text":
        return Markup('<span dir="auto">%s</span>') % (value or "—")
    if not value:
        return Markup("—")
    if kind == "email":
        return email_address(value)
    if kind == "phone":
        return phone(value)
    if kind == "date":
        return escape(calendar_date(value))
    named = VALUE_NAMES.get(kind)
    return escape(named(value) if named is not None else value)


def action_label(action: str) -> str:
    return ACTIONS.get(action) or action.replace("_", " ").capitalize()


def _per_page(function):
    """``function`` as a template filter that Jinja never works out once, when it compiles the
    template: it would for a constant argument (``"+1 555 0124" | phone``), and the answer would be
    the first page's language's for every page after it."""

    @pass_context
    def per_page(_context, *args, **kwargs):
        return function(*args, **kwargs)

    return per_page


# What reads differently on each page: every filter here depends on the page's language or zone.
FILTERS = {
    "when": when, "moment": moment, "day": day, "calendar_date": calendar_date, "when_exactly": when_exactly,
    "duration": duration, "number": number, "local_digits": local_digits, "sign_in_method": sign_in_method,
    "browser": browser, "country_name": country_name, "gender_name": gender_name, "field_label": audit.field_label,
    "change_value": change_value, "stored_value": stored_value, "key_name": key_name,
    "sign_in_source": sign_in_alerts.describe, "ltr": ltr,
    "phone": phone, "isolated": isolated, "action_label": action_label, "acted_by": acted_by,
}


def register(app) -> None:
    for name, function in FILTERS.items():
        app.add_template_filter(_per_page(function), name)
    app.add_template_filter(iso)
    app.add_template_filter(gregorian)
    app.add_template_filter(email_address)
    app.add_template_global(avatar_path)
    app.add_template_global(providers.configured, "providers")
    app.add_template_global(solar_calendar)
    app.add_template_global(DETAIL_FIELDS, "detail_fields")
