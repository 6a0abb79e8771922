"""Admin forms: they carry input to the services like every other form. The lists' filters are the
services' own filter objects, read from a query string and written back into one (for the links
that sort, page and export the same list)."""

from dataclasses import dataclass
from datetime import date

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, SelectField, StringField, TextAreaField
from wtforms.validators import InputRequired

from ..i18n import date_error, read_date, solar_calendar
from ..services.audit import EventFilter
from ..services.people.directory import SORTS, UserFilter
from ..services.people.fields import LANGUAGES
from ..services.people.users import MAX_ID

YES_NO = {"yes": True, "no": False}
# The language filter's values: a language, or "none" for people who chose none (their browser's).
LANGUAGE_FILTERS = {code: code for code in LANGUAGES} | {"none": ""}
AS_YES_NO = {True: "yes", False: "no"}


def _text(args, name: str, limit: int) -> str:
    """A filter's text, bounded, without NULs (they match nothing, and PostgreSQL refuses them)."""
    return args.get(name, "").replace("\x00", "").strip()[:limit]


def _date(value) -> date | None:
    """A filter's date as the page's reader types it (``i18n.read_date``: Solar Hijri on a Persian
    page); one that cannot be read filters nothing."""
    try:
        return read_date(value)
    except ValueError:
        return None


def _query(changes: dict, args: dict) -> dict:
    """``changes`` first, then the rest of ``args``, without the empty ones: a short URL that asks for the same."""
    merged = dict(changes)
    for name, value in args.items():
        merged.setdefault(name, value)
    return {name: value for name, value in merged.items() if value not in (None, "")}


@dataclass(frozen=True)
class UserQuery(UserFilter):
    """The user list's filters in its query string, both ways; anything unknown reads as "no filter"."""

    @classmethod
    def from_args(cls, args) -> "UserQuery":
        group = args.get("group", "")
        return cls(
            q=_text(args, "q", 200),
            active=YES_NO.get(args.get("active")),
            staff=YES_NO.get(args.get("staff")),
            verified=YES_NO.get(args.get("verified")),
            group_id=int(group) if group.isdigit() and int(group) <= MAX_ID else None,
            language=LANGUAGE_FILTERS.get(args.get("language")),
            sort=args.get("sort") if args.get("sort") in SORTS else "joined",
            descending=args.get("order", "desc") != "asc",
        )

    def to_args(self, **changes) -> dict:
        """The query string of this list, with ``changes`` (a page, another sort) in front."""
        return _query(changes, {
            "sort": self.sort, "order": "desc" if self.descending else "asc", "q": self.q,
            "active": AS_YES_NO.get(self.active), "staff": AS_YES_NO.get(self.staff),
            "verified": AS_YES_NO.get(self.verified), "group": str(self.group_id) if self.group_id else None,
            "language": "none" if self.language == "" else self.language,
        })


@dataclass(frozen=True)
class EventQuery(EventFilter):
    """The audit log's filters in its query string, both ways; a date that is none reads as "no filter"."""

    @classmethod
    def from_args(cls, args) -> "EventQuery":
        return cls(
            subject=_text(args, "subject", 200),
            actor=_text(args, "actor", 200),
            action=_text(args, "action", 50),
            since=_date(args.get("since")),
            until=_date(args.get("until")),
        )

    @staticmethod
    def unreadable_dates(args) -> dict[str, list[str]]:
        """``{field: [message]}`` for a date a Solar Hijri page cannot read, for the field to say why it
        filters nothing. A Gregorian page's date inputs send ISO dates or nothing, so it says nothing."""
        unreadable = {}
        for name in ("since", "until"):
            try:
                read_date(args.get(name))
            except ValueError:
                unreadable[name] = [date_error()]
        return unreadable if unreadable and solar_calendar() else {}

    def to_args(self, **changes) -> dict:
        """The query string of this log (its dates Gregorian ISO: a link means the same in any
        language), with ``changes`` (a page) in front."""
        return _query(changes, {
            "subject": self.subject, "actor": self.actor, "action": self.action,
            "since": self.since.isoformat() if self.since else None,
            "until": self.until.isoformat() if self.until else None,
        })


class AccessForm(FlaskForm):
    is_staff = BooleanField(_l("Staff: may use the admin"))
    is_superuser = BooleanField(_l("Superuser: may also grant and remove staff rights"))


class AddToGroupForm(FlaskForm):
    group_id = SelectField(_l("Group"), coerce=int, validate_choice=False)


class GroupForm(FlaskForm):
    name = StringField(_l("Name"), validators=[InputRequired()], render_kw={"maxlength": 150, "dir": "auto"})
    notes = TextAreaField(_l("Notes"), render_kw={"rows": 3, "dir": "auto"})
