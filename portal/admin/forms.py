"""Admin forms: they carry input to the services like every other form. Filters are read from the
query string into the services' own filter objects."""

from datetime import date

from flask_wtf import FlaskForm
from wtforms import BooleanField, SelectField, StringField, TextAreaField
from wtforms.validators import InputRequired

from ..services.audit import EventFilter
from ..services.directory import SORTS, UserFilter

YES_NO = {"yes": True, "no": False}


def _text(args, name: str, limit: int) -> str:
    """A filter's text, bounded, without NULs (they match nothing, and PostgreSQL refuses them)."""
    return args.get(name, "").replace("\x00", "").strip()[:limit]


def user_filter(args) -> UserFilter:
    """The user list's filters from its query string; anything unknown means "no filter"."""
    group = args.get("group", "")
    return UserFilter(
        q=_text(args, "q", 200),
        active=YES_NO.get(args.get("active")),
        staff=YES_NO.get(args.get("staff")),
        verified=YES_NO.get(args.get("verified")),
        group_id=int(group) if group.isdigit() and int(group) < 2**31 else None,
        sort=args.get("sort") if args.get("sort") in SORTS else "joined",
        descending=args.get("order", "desc") != "asc",
    )


def event_filter(args) -> EventFilter:
    return EventFilter(
        subject=_text(args, "subject", 200),
        actor=_text(args, "actor", 200),
        action=_text(args, "action", 50),
        since=_date(args.get("since")),
        until=_date(args.get("until")),
    )


def _date(value) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


class AccessForm(FlaskForm):
    is_staff = BooleanField("Staff: may use the admin")
    is_superuser = BooleanField("Superuser: may also grant and remove staff rights")


class AddToGroupForm(FlaskForm):
    group_id = SelectField("Group", coerce=int, validate_choice=False)


class GroupForm(FlaskForm):
    name = StringField("Name", validators=[InputRequired()], render_kw={"maxlength": 150})
    notes = TextAreaField("Notes", render_kw={"rows": 3})
