"""Admin forms: they carry input to the services like every other form. The lists' filters are the
services' own filter objects, read from a query string and written back into one (for the links
that sort, page and export the same list)."""

from dataclasses import dataclass
from datetime import date

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, SelectField, SelectMultipleField, StringField, TextAreaField
from wtforms.validators import InputRequired

from ..i18n import date_error, read_date, solar_calendar
from ..services.audit import EventFilter
from ..services.oidc.apps import SCOPES
from ..services.people.directory import SORTS, UserFilter
from ..services.people.fields import ACCOUNT_FIELDS, AccountField
from ..services.people.users import MAX_ID
from ..templating import value_options

YES_NO = {"yes": True, "no": False}
AS_YES_NO = {True: "yes", False: "no"}
# The account fields the user list filters on (the registry's): the flags by yes or no, shown first;
# the others by one of their values, or "none" for people who chose none.
FLAG_FILTERS = tuple(f for f in ACCOUNT_FIELDS if f.admin_filter and f.reads_as == "flag")
VALUE_FILTERS = tuple(f for f in ACCOUNT_FIELDS if f.admin_filter and f.reads_as != "flag")
NONE_CHOSEN = "none"


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


def _wanted(account_field: AccountField, args) -> bool | str | None:
    """What the query string asks of a filtered field: a flag's True or False, one of a field's
    values or "" (none chosen); None, when it asks nothing that can be read."""
    given = args.get(account_field.admin_filter)
    if given is None or account_field.reads_as == "flag":
        return YES_NO.get(given)
    if given == NONE_CHOSEN:
        return ""
    return given if given in {value for value, _name, _attributes in value_options(account_field.reads_as)} else None


def _written(account_field: AccountField, value) -> str | None:
    if account_field.reads_as == "flag":
        return AS_YES_NO.get(value)
    return NONE_CHOSEN if value == "" else value


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
        wanted = ((f.name, _wanted(f, args)) for f in FLAG_FILTERS + VALUE_FILTERS)
        return cls(
            q=_text(args, "q", 200),
            fields=tuple((name, value) for name, value in wanted if value is not None),
            group_id=int(group) if group.isdigit() and int(group) <= MAX_ID else None,
            sort=args.get("sort") if args.get("sort") in SORTS else "joined",
            descending=args.get("order", "desc") != "asc",
        )

    def to_args(self, **changes) -> dict:
        """The query string of this list, with ``changes`` (a page, another sort) in front."""
        return _query(changes, {
            "sort": self.sort, "order": "desc" if self.descending else "asc", "q": self.q,
            **{f.admin_filter: _written(f, self.wanted(f.name)) for f in FLAG_FILTERS},
            "group": str(self.group_id) if self.group_id else None,
            **{f.admin_filter: _written(f, self.wanted(f.name)) for f in VALUE_FILTERS},
        })

    def flag_filters(self) -> list[tuple[str, str, bool | None]]:
        """The yes-or-no filters as the page shows them: ``(query name, label, wanted)``."""
        return [(f.admin_filter, f.label, self.wanted(f.name)) for f in FLAG_FILTERS]

    def value_filters(self) -> list[tuple[str, str, list, str | None]]:
        """The filters by value as the page shows them: ``(query name, label, options, wanted)``, the
        options ``(value, name, attributes)`` without "nothing chosen" (the page offers "none")."""
        return [(f.admin_filter, f.label, value_options(f.reads_as)[1:], self.wanted(f.name)) for f in VALUE_FILTERS]


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


def _stripped(value):
    return value.strip() if isinstance(value, str) else value


def _lines(uris) -> str:
    """A list of URIs as a text area shows them, one a line."""
    return "\n".join(uris or ())


class AppForm(FlaskForm):
    """An app's settings as staff edit them; the service checks every URI and scope (an unknown scope
    is its message on the field, not the form's)."""

    name = StringField(_l("Name"), validators=[InputRequired()], filters=[_stripped],
                       render_kw={"maxlength": 100, "dir": "auto"})
    redirect_uris = TextAreaField(
        _l("Redirect URIs"),
        description=_l("One a line, each compared exactly: an https address, an http one only on this computer, "
                       "or an address in the app's own scheme."),
        render_kw={"rows": 3, "dir": "ltr", "spellcheck": "false", "autocapitalize": "off"},
    )
    scopes = SelectMultipleField(_l("Scopes it may ask for"), choices=lambda: [(s, s) for s in SCOPES],
                                 validate_choice=False)
    post_logout_redirect_uris = TextAreaField(
        _l("Redirect URIs after signing out"), description=_l("Optional; one a line."),
        render_kw={"rows": 2, "dir": "ltr", "spellcheck": "false", "autocapitalize": "off"},
    )
    backchannel_logout_uri = StringField(
        _l("Back-channel logout URI"),
        description=_l("Optional: where the portal tells the app that a sign-in made through it has ended."),
        filters=[_stripped], render_kw={"dir": "ltr", "spellcheck": "false", "autocapitalize": "off", "type": "url"},
    )
    trusted = BooleanField(
        _l("Trusted: the portal's own app, which asks nobody for consent"),
    )

    @classmethod
    def of(cls, app):
        """The form filled with the app's stored settings."""
        return cls(data={
            "name": app.name, "redirect_uris": _lines(app.redirect_uris), "scopes": list(app.scopes or ()),
            "post_logout_redirect_uris": _lines(app.post_logout_redirect_uris),
            "backchannel_logout_uri": app.backchannel_logout_uri or "", "trusted": app.trusted,
        })

    def changes(self) -> dict:
        """The settings as the service takes them."""
        return {
            "name": self.name.data, "redirect_uris": self.redirect_uris.data, "scopes": self.scopes.data or [],
            "post_logout_redirect_uris": self.post_logout_redirect_uris.data,
            "backchannel_logout_uri": self.backchannel_logout_uri.data or None, "trusted": self.trusted.data,
        }


class NewAppForm(AppForm):
    """A new app: its settings, and whether it is public (chosen once: a public app has no secret)."""

    public = BooleanField(_l("Public: a mobile or single-page app, which cannot keep a secret"))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if not self.is_submitted():
            self.scopes.data = ["openid", "profile", "email"]
