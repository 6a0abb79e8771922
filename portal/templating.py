"""How values read on a page: times, browsers, countries, audit actions. Presentation only; no rule
lives here. Registered on the app, so the user pages, the admin and the mails share them."""

import pycountry

from .media import avatar_path
from .models import iso_utc
from .services.audit import ACTIONS, acted_by
from .user_agents import browser_and_system


def when(value) -> str:
    """A stored (naive UTC) time as people read it."""
    return value.strftime("%-d %b %Y, %H:%M UTC") if value is not None else "—"


def when_exactly(value) -> str:
    """To the second: tells apart two things started in the same minute."""
    return value.strftime("%-d %b %Y, %H:%M:%S UTC") if value is not None else "—"


def day(value) -> str:
    """A stored time as its date, for dense lists (the full time is in the <time> element)."""
    return value.strftime("%-d %b %Y") if value is not None else "—"


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
    app.add_template_filter(sign_in_method)
    app.add_template_filter(browser)
    app.add_template_filter(country_name)
    app.add_template_filter(action_label)
    app.add_template_filter(acted_by)
    app.add_template_global(avatar_path)
