"""Form pieces shared by the user pages and the admin: the profile form (its inputs made from the
registry of an account's fields), calling a service for a form, and showing the service's messages
on it. Forms only carry input to the services, which own the rules and the messages."""

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Generic, TypeVar

from flask import render_template
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import BooleanField, EmailField, HiddenField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice

from .i18n import date_error, date_hint, read_date, solar_calendar, written_date
from .services.errors import PreconditionFailed, ValidationFailed
from .services.people import accounts
from .services.people.fields import FORM_FIELDS, AccountField, local_digits
from .templating import value_options

T = TypeVar("T")

# Profile fields a posted form may leave out, which then stay as they are.
OPTIONAL_FIELDS = ("language", "time_zone")


def _as_typed(value, kind: str):
    """A stored value as its input shows it: a date in ISO 8601 (the date input's own), a phone
    number in the page's digits (stored in Latin ones, read back as the same)."""
    if value is None:
        return None
    if kind == "date":
        return value.isoformat()
    if kind == "phone":
        return local_digits(value)
    return value


# The grid a row of fields of a width is laid out in.
GRIDS = {"half": "grid-2", "third": "grid-3"}


class CalendarDateField(StringField):
    """A date as the page's reader writes it. On a Gregorian page the browser's date input, its ISO
    value passed on as typed (the services own what a date may be). On a Solar Hijri (Persian) page a
    text field taking ``۱۳۷۰/۰۶/۱۵`` and saying so, whose value is handed on as the Gregorian ISO date;
    text that is no day of that calendar is an error on the field, and is shown back to be fixed."""

    @property
    def description(self):
        return date_hint() or self._description

    @description.setter
    def description(self, value):
        self._description = value

    def process_formdata(self, valuelist):
        super().process_formdata(valuelist)
        if solar_calendar() and self.data:
            try:
                self.data = read_date(self.data).isoformat()
            except ValueError:
                self.data = None
                raise ValueError(date_error()) from None

    def _value(self):
        if self.process_errors and self.raw_data:
            return self.raw_data[0]
        if solar_calendar() and self.data:
            try:
                return written_date(date.fromisoformat(self.data))
            except ValueError:  # what a Gregorian page sent, refused by the services: shown as it came
                return self.data
        return super()._value()

    def __call__(self, **kwargs):
        if solar_calendar():
            kwargs.setdefault("type", "text")
        return super().__call__(**kwargs)


def select_options(kind: str) -> Callable[[], list[SelectChoice]]:
    """A select's options for ``kind`` values (``templating.value_options``), as a callable: the form
    asks per request, in the page's language."""
    return lambda: [SelectChoice(value, name, render_kw=attributes or None) for value, name, attributes in
                    value_options(kind)]


INPUTS = {"text": StringField, "email": EmailField, "textarea": TextAreaField, "date": CalendarDateField}


def profile_input(account_field: AccountField):
    """The form input of an account field, as its registry entry's ``widget`` describes it."""
    widget = account_field.widget
    if widget.input == "select":
        return SelectField(
            account_field.label, choices=select_options(account_field.reads_as),
            validate_choice=widget.checked_by_form, render_kw=widget.attributes() or None,
        )
    return INPUTS[widget.input](account_field.label, render_kw=widget.attributes())


# The profile's inputs, made from the registry before the form's own fields (the form keeps their order).
ProfileInputs = type(FlaskForm)("ProfileInputs", (FlaskForm,), {f.name: profile_input(f) for f in FORM_FIELDS})


class ProfileForm(ProfileInputs):
    """Every field of the registry that has a ``widget``, then the picture and the version."""

    avatar = FileField(
        _l("New picture"),
        render_kw={"accept": "image/jpeg,image/png,image/webp,image/gif", "data-preview": "avatar-preview"},
    )
    remove_avatar = BooleanField(_l("Remove the current picture"))
    # The version of the profile the form was opened with: a save never overwrites a newer change.
    version = HiddenField()

    TEXT_FIELDS = tuple(f.name for f in FORM_FIELDS)
    CONFLICT = _l("This profile was changed elsewhere since you opened this page. The form still shows "
                  "your input; save again to apply it over the newer version.")

    @classmethod
    def of(cls, user):
        """The form filled with the user's stored values and version."""
        data = {f.name: _as_typed(getattr(user, f.name), f.reads_as) for f in FORM_FIELDS}
        return cls(data={**data, "version": user.version})

    def layout(self) -> list[tuple[str, list[tuple[str | None, list]]]]:
        """The profile's inputs as the page shows them: ``(group, rows)`` in the order the registry
        first names each group, each row ``(grid, inputs)``: the fields of one group that share a row
        (``widget.width``) side by side in a ``grid-2`` or ``grid-3``, the others each on their own."""
        groups: dict[str, list[tuple[str | None, list]]] = {}
        for account_field in FORM_FIELDS:
            rows = groups.setdefault(account_field.widget.group, [])
            grid = GRIDS.get(account_field.widget.width)
            if grid is not None and rows and rows[-1][0] == grid:
                rows[-1][1].append(self[account_field.name])
            else:
                rows.append((grid, [self[account_field.name]]))
        return list(groups.items())

    def expected_versions(self) -> set[int] | None:
        value = self.version.data or ""
        return {int(value)} if value.isdigit() and len(value) < 12 else None

    def save(self, user, actor) -> bool:
        """Apply the form to ``user``'s profile as ``actor``; False when the form now shows why not.

        A profile changed since the form was opened is a conflict (409): the form keeps the input and
        takes the version now stored, so saving again goes over the newer change.
        """
        try:
            return call_for(
                self, accounts.update_profile, user, self.changes(), actor, expected_versions=self.expected_versions()
            ) is not None
        except PreconditionFailed:
            refuse(self, str(self.CONFLICT), 409)
            self.version.data = str(user.version)
            return False

    def changes(self) -> dict:
        """The submitted values as the service takes them; ``avatar`` only when it is to change, and the
        language and time zone only when the form sent them (a form of an older page did not)."""
        changes = {
            name: self[name].data for name in self.TEXT_FIELDS if name not in OPTIONAL_FIELDS or self[name].raw_data
        }
        if self.remove_avatar.data:
            changes["avatar"] = None
        elif self.avatar.data and self.avatar.data.filename:
            changes["avatar"] = self.avatar.data.stream
        return changes


@dataclass(frozen=True)
class Done(Generic[T]):
    """A service call that went through, and what it returned (true even when that is None)."""

    result: T


def call_for(
    form: FlaskForm, service: Callable[..., T], /, *args, refusals: Mapping[type[Exception], int] | None = None,
    **kwargs,
) -> Done[T] | None:
    """``service(*args, **kwargs)`` on behalf of ``form``: ``Done(result)``, or None when the service said
    no and the form now shows why, so a view reads ``if form.validate_on_submit() and call_for(...)``.

    A ValidationFailed puts its messages on the fields they name (the page then answers 400).
    ``refusals`` maps other service errors to the status the page answers with when one of them
    refuses, its message shown above the form (``{PermissionDenied: 403}``); any other error goes on up.
    """
    refusals = refusals or {}
    try:
        return Done(service(*args, **kwargs))
    except ValidationFailed as exc:
        add_service_errors(form, exc.errors)
    except tuple(refusals) as exc:
        refuse(form, str(exc), next(status for kind, status in refusals.items() if isinstance(exc, kind)))
    return None


def refuse(form: FlaskForm, message: str, status: int) -> None:
    """Show ``message`` above the form, and have its page answer ``status`` rather than 400."""
    form.form_errors.append(message)
    form.refusal_status = status


def add_service_errors(form: FlaskForm, errors: dict) -> None:
    """Show a service's field messages on the form's fields (the rest on the form itself)."""
    for field, messages in errors.items():
        target = getattr(form, field, None)
        if target is not None:
            target.errors = [*target.errors, *messages]  # a tuple until the form has been validated
        else:
            form.form_errors.extend(messages)


def form_status(form: FlaskForm) -> int:
    """400 when the form shows errors, so a failed post never looks like success; a refusal's own
    status (403, 409, …) when a service refused."""
    return getattr(form, "refusal_status", None) or (400 if form.errors else 200)


def form_page(template: str, form: FlaskForm, **context):
    """Render a form page with the status its form calls for (``form_status``)."""
    return render_template(template, form=form, **context), form_status(form)
