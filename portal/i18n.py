"""Which language and time zone a person reads the pages and mails in, and which way the text runs.

English and Persian (``LANGUAGES``, each named in itself). The language of a page is the signed-in
person's saved choice, else the one a visitor picked with the switcher (a cookie), else the best
match of the browser's ``Accept-Language``, else English. A pick made before signing in (or up) is
saved on the account when they do (``keep_picked_language``), so their mails are in it too. Persian
is laid out right to left from the same templates and stylesheet (``direction``), and reads and
writes dates on the Solar Hijri calendar (``solar_calendar``, ``read_date``, ``written_date``). Times
are shown in the person's saved time zone (UTC until they choose one), named by its city.

The JSON API speaks English whatever is asked: clients parse its documented messages, and its times
are UTC by definition; the locale is settled for it before anything about the caller is read.

Every language offered needs its compiled catalogue: ``register`` makes sure of it at start
(``catalogues.ensure``) and refuses to start in production without one — a person who chose فارسی
would otherwise read every page and mail in English, and nothing would say why.
"""

import logging
import re
from datetime import date
from pathlib import Path

import jdatetime
from flask import Flask, has_request_context, request
from flask_babel import Babel, get_locale
from flask_babel import gettext as _
from flask_login import current_user

from . import catalogues
from .services.people import accounts
from .services.people.fields import LANGUAGES, latin_digits, local_digits

DEFAULT_LANGUAGE = "en"
RIGHT_TO_LEFT = frozenset({"fa"})
LANGUAGE_COOKIE = "language"
TRANSLATIONS = Path(__file__).parent / "translations"
# The API's one page for people (its documentation): in their language, like every other page.
API_PAGES = frozenset({"/api/docs/"})

babel = Babel()
log = logging.getLogger(__name__)


def _answers_the_api() -> bool:
    return request.path.startswith("/api/") and request.path not in API_PAGES


def select_language() -> str:
    if not has_request_context() or _answers_the_api():
        return DEFAULT_LANGUAGE
    saved = getattr(current_user, "language", None) if current_user.is_authenticated else None
    if saved in LANGUAGES:
        return saved
    return picked_language() or request.accept_languages.best_match(LANGUAGES) or DEFAULT_LANGUAGE


def picked_language() -> str | None:
    """The language a visitor picked with the switcher, if one: what a sign-up saves on the new
    account (a browser's Accept-Language is a guess, and is not saved)."""
    picked = request.cookies.get(LANGUAGE_COOKIE)
    return picked if picked in LANGUAGES else None


def keep_picked_language(user, actor) -> None:
    """At a browser sign-in, save on the account the language this visitor picked with the switcher
    before signing in, so their mails follow it as their pages do. Only an explicit pick counts:
    the browser's Accept-Language is a guess, and a saved choice is not overwritten by one."""
    picked = picked_language()
    if picked is not None and picked != user.language:
        accounts.update_profile(user, {"language": picked}, actor)


def select_time_zone() -> str:
    if not has_request_context() or _answers_the_api() or not current_user.is_authenticated:
        return "UTC"
    return getattr(current_user, "time_zone", None) or "UTC"


def direction(language: str | None = None) -> str:
    """``rtl`` or ``ltr``, for ``<html dir>``: the current language's unless one is named."""
    return "rtl" if str(language or get_locale() or DEFAULT_LANGUAGE) in RIGHT_TO_LEFT else "ltr"


def solar_calendar() -> bool:
    """Whether the page reads and writes dates on the Solar Hijri calendar (Persian) rather than the
    Gregorian (English, and anything outside a request)."""
    return str(get_locale() or DEFAULT_LANGUAGE) == "fa"


# A date as a person types it: year, month and day, between slashes, hyphens or dots.
TYPED_DATE = re.compile(r"(\d{1,4})\s*[/.-]\s*(\d{1,2})\s*[/.-]\s*(\d{1,2})")
# A typed year from this one on is a Gregorian year (1700 AP is 2321 AD): a link, which always
# carries the Gregorian ISO date, means the same on a Persian page as on an English one.
FIRST_GREGORIAN_YEAR = 1700
SOLAR_EXAMPLE = "1370/06/15"


def read_date(text) -> date | None:
    """A date typed on a page, as the Gregorian date the portal keeps; None when nothing was typed.

    On a Gregorian page: an ISO date (what the browser's date input sends). On a Solar Hijri page:
    ``۱۳۷۰/۰۶/۱۵`` or ``1370-06-15`` (Persian, Arabic-Indic or Latin digits), converted with
    jdatetime; a Gregorian ISO date (a link's) is read as one. ValueError for anything else, a day
    the calendar has not (Esfand 30 of a common year) included.
    """
    text = latin_digits(text or "").strip() if isinstance(text, str) else ""
    if not text:
        return None
    if not solar_calendar():
        return date.fromisoformat(text)
    typed = TYPED_DATE.fullmatch(text)
    if typed is None:
        raise ValueError(text)
    year, month, day = map(int, typed.groups())
    if year >= FIRST_GREGORIAN_YEAR:
        return date(year, month, day)
    return jdatetime.date(year, month, day).togregorian()


def written_date(value: date | None) -> str:
    """A date as a date field of the page shows it: ``۱۳۷۰/۰۶/۱۵`` on a Solar Hijri page, the ISO
    date (a browser's date input's value) elsewhere; nothing for no date."""
    if value is None:
        return ""
    if not solar_calendar():
        return value.isoformat()
    solar = jdatetime.date.fromgregorian(date=value)
    return local_digits(f"{solar.year:04d}/{solar.month:02d}/{solar.day:02d}")


def date_hint() -> str | None:
    """What a date field of a Solar Hijri page says it takes (the calendar and the format); None on a
    Gregorian page, whose date input speaks for itself."""
    if not solar_calendar():
        return None
    return _("A date on the Solar Hijri calendar, year/month/day, e.g. %(example)s.",
             example=local_digits(SOLAR_EXAMPLE))


def date_error() -> str:
    """The message for a date a Solar Hijri page cannot read."""
    return _("Enter a date on the Solar Hijri calendar as year/month/day, e.g. %(example)s.",
             example=local_digits(SOLAR_EXAMPLE))


def forward_arrow() -> str:
    """An arrow that points the way the text runs: "old → new" reads "new ← old" right to left."""
    return "←" if direction() == "rtl" else "→"


def offered_catalogues(app: Flask) -> Path:
    """The folder every offered language's current catalogue is read from; refuses (production) or
    warns (elsewhere) when a language has none."""
    outcome = catalogues.ensure(
        TRANSLATIONS, [language for language in LANGUAGES if language != DEFAULT_LANGUAGE], Path(app.instance_path),
    )
    for note in outcome.notes:
        log.info("Catalogues: %s", note)
    if outcome.problems:
        message = (
            "A language offered has no usable catalogue — " + "; ".join(outcome.problems) + ". Install the "
            "package with pip (which compiles the catalogues), or run `pybabel compile -d " + str(TRANSLATIONS) +
            "`, or let the app write to " + str(Path(app.instance_path) / catalogues.CACHE_FOLDER) + "."
        )
        if app.config.get("PRODUCTION"):
            raise RuntimeError(message)
        log.warning("%s Its pages and mails are in English until then.", message)
    return outcome.folder


def register(app: Flask) -> None:
    babel.init_app(
        app, locale_selector=select_language, timezone_selector=select_time_zone,
        default_translation_directories=str(offered_catalogues(app)),
    )
    app.jinja_env.globals.update(
        languages=LANGUAGES, text_direction=direction, forward_arrow=forward_arrow,
        current_language=lambda: str(get_locale() or DEFAULT_LANGUAGE), written_date=written_date, date_hint=date_hint,
    )
