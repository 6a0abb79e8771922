"""How values read on a page: times, browsers, countries, audit actions. Presentation only; no rule
lives here. Registered on the app, so the user pages, the admin and the mails share them."""

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import jdatetime
import pycountry
from flask_babel import get_locale, get_timezone

from .media import avatar_path
from .models import iso_utc
from .services.audit import ACTIONS, acted_by
from .user_agents import browser_and_system

# How a page writes digits in each language (Persian pages: ۰–۹).
DIGITS = {"fa": str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹")}


def _language() -> str:
    return str(get_locale() or "en")


def local_digits(text) -> str:
    """``text`` with its digits as the page's language writes them."""
    table = DIGITS.get(_language())
    return str(text).translate(table) if table else str(text)


def _in_time_zone(value: datetime, zone: str | None) -> datetime:
    """A stored (naive UTC) time in ``zone``, or the person's (a mail names its reader's)."""
    return value.replace(tzinfo=UTC).astimezone(ZoneInfo(zone or str(get_timezone() or "UTC")))


def _written(value, english: str, persian: str, zone: str | None, with_zone: bool = True) -> str:
    """A stored time in the person's zone: Gregorian in English, Solar Hijri with Persian digits in
    Persian (``english`` and ``persian`` are strftime patterns)."""
    if value is None:
        return "—"
    local = _in_time_zone(value, zone)
    zone = f" {local.tzname()}" if with_zone else ""
    if _language() == "fa":
        solar = jdatetime.datetime.fromgregorian(datetime=local, locale="fa_IR")
        return local_digits(solar.strftime(persian) + zone)
    return local.strftime(english) + zone


def when(value, zone: str | None = None) -> str:
    """A stored time as people read it, to the minute (``zone``: a mail's reader's time zone)."""
    return _written(value, "%-d %b %Y, %H:%M", "%-d %B %Y، %H:%M", zone)


def when_exactly(value, zone: str | None = None) -> str:
    """To the second: tells apart two things started in the same minute."""
    return _written(value, "%-d %b %Y, %H:%M:%S", "%-d %B %Y، %H:%M:%S", zone)


def day(value, zone: str | None = None) -> str:
    """A stored time as its date, for dense lists (the full time is in the <time> element)."""
    return _written(value, "%-d %b %Y", "%-d %B %Y", zone, with_zone=False)


def gregorian(value) -> str:
    """A stored time on the Gregorian calendar in UTC, whatever the page's language: beside or under
    a Solar Hijri date where the exact moment matters (the audit log)."""
    return value.strftime("%Y-%m-%d %H:%M:%S UTC") if value is not None else ""


def number(value) -> str:
    """A count as the page's language writes it (``۱۰`` on a Persian page)."""
    return local_digits(value)


def iso(value) -> str:
    """A stored time for a ``datetime`` attribute; nothing for no time."""
    return iso_utc(value) or ""


def browser(user_agent: str | None) -> str:
    """"Firefox on Linux" from a User-Agent header; "Unknown browser" when it says nothing known."""
    name, system = browser_and_system(user_agent)
    if name and system:
        return f"{name} on {system}"
    return name or system or "Unknown browser"


def country_name(code: str | None) -> str | None:
    country = pycountry.countries.get(alpha_2=code) if code else None
    return country.name if country is not None else code


# How a sign-in was proven ("password+totp"), part by part, as people read it.
PROOFS = {"password": "password", "totp": "app code", "recovery": "recovery code", "passkey": "passkey",
          "email_code": "emailed code"}


def sign_in_method(method: str | None) -> str:
    """"password and app code" from a credential's ``method`` ("password+totp")."""
    return " and ".join(PROOFS.get(part, part) for part in (method or "password").split("+"))


def duration(value) -> str:
    """A timedelta in the largest whole unit people say: "24 hours", "7 days", "90 seconds"."""
    seconds = int(value.total_seconds())
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            count = seconds // size
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return f"{seconds} second{'s' if seconds != 1 else ''}"


def action_label(action: str) -> str:
    return ACTIONS.get(action) or action.replace("_", " ").capitalize()


def register(app) -> None:
    app.add_template_filter(when)
    app.add_template_filter(iso)
    app.add_template_filter(day)
    app.add_template_filter(when_exactly)
    app.add_template_filter(duration)
    app.add_template_filter(gregorian)
    app.add_template_filter(number)
    app.add_template_filter(local_digits)
    app.add_template_filter(sign_in_method)
    app.add_template_filter(browser)
    app.add_template_filter(country_name)
    app.add_template_filter(action_label)
    app.add_template_filter(acted_by)
    app.add_template_global(avatar_path)
