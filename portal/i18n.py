"""Which language and time zone a person reads the pages and mails in, and which way the text runs.

English and Persian (``LANGUAGES``, each named in itself). The language of a page is the signed-in
person's saved choice, else the one a visitor picked with the switcher (a cookie), else the best
match of the browser's ``Accept-Language``, else English. Persian is laid out right to left from
the same templates and stylesheet (``direction``). Times are shown in the person's saved time zone
(UTC until they choose one).

The JSON API speaks English whatever is asked: clients parse its documented messages, and its times
are UTC by definition; the locale is settled for it before anything about the caller is read.

Every language offered needs its compiled catalogue: ``register`` makes sure of it at start
(``catalogues.ensure``) and refuses to start in production without one — a person who chose فارسی
would otherwise read every page and mail in English, and nothing would say why.
"""

import logging
from pathlib import Path

from flask import Flask, has_request_context, request
from flask_babel import Babel, get_locale
from flask_login import current_user

from . import catalogues
from .services.fields import LANGUAGES

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


def select_time_zone() -> str:
    if not has_request_context() or _answers_the_api() or not current_user.is_authenticated:
        return "UTC"
    return getattr(current_user, "time_zone", None) or "UTC"


def direction(language: str | None = None) -> str:
    """``rtl`` or ``ltr``, for ``<html dir>``: the current language's unless one is named."""
    return "rtl" if str(language or get_locale() or DEFAULT_LANGUAGE) in RIGHT_TO_LEFT else "ltr"


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
        current_language=lambda: str(get_locale() or DEFAULT_LANGUAGE),
    )
