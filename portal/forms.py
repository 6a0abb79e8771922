"""Form pieces shared by the user pages and the admin: the profile form, and showing a service's
messages on a form. Forms only carry input to the services, which own the rules and the messages."""

import pycountry
from flask import render_template
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import BooleanField, EmailField, HiddenField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice

from .services.fields import GENDERS

NONE_CHOSEN = SelectChoice("", "—")
COUNTRY_CHOICES = [NONE_CHOSEN] + sorted(
    (SelectChoice(country.alpha_2, country.name) for country in pycountry.countries), key=lambda choice: choice.label
)
GENDER_CHOICES = [NONE_CHOSEN] + [SelectChoice(gender, gender.capitalize()) for gender in GENDERS]


class ProfileForm(FlaskForm):
    first_name = StringField("First name", render_kw={"autocomplete": "given-name", "dir": "auto"})
    last_name = StringField("Last name", render_kw={"autocomplete": "family-name", "dir": "auto"})
    username = StringField("Username", render_kw={"autocomplete": "username"})
    email = EmailField("Email address", render_kw={"autocomplete": "email"})
    phone = StringField("Phone number", render_kw={"autocomplete": "tel", "inputmode": "tel"})
    gender = SelectField("Gender", choices=GENDER_CHOICES)
    country = SelectField("Country", choices=COUNTRY_CHOICES, render_kw={"autocomplete": "country"})
    address = TextAreaField("Address", render_kw={"autocomplete": "street-address", "rows": 3, "dir": "auto"})
    birthday = StringField("Birthday", render_kw={"type": "date", "autocomplete": "bday"})
    avatar = FileField(
        "New picture", render_kw={"accept": "image/jpeg,image/png,image/webp,image/gif", "data-preview": "avatar-preview"}
    )
    remove_avatar = BooleanField("Remove the current picture")
    # The version of the profile the form was opened with: a save never overwrites a newer change.
    version = HiddenField()

    TEXT_FIELDS = ("first_name", "last_name", "username", "email", "phone", "gender", "country", "address", "birthday")
    CONFLICT = ("This profile was changed elsewhere since you opened this page. The form still shows "
                "your input; save again to apply it over the newer version.")

    @classmethod
    def of(cls, user):
        """The form filled with the user's stored values and version."""
        data = {name: getattr(user, name) for name in cls.TEXT_FIELDS}
        if data["birthday"] is not None:
            data["birthday"] = data["birthday"].isoformat()
        return cls(data={**data, "version": user.version})

    def expected_versions(self) -> set[int] | None:
        value = self.version.data or ""
        return {int(value)} if value.isdigit() and len(value) < 12 else None

    def conflict(self, user) -> None:
        """Say that the profile moved on, and let the next save go over the version now stored."""
        self.form_errors.append(self.CONFLICT)
        self.version.data = str(user.version)

    def changes(self) -> dict:
        """The submitted values as the service takes them; ``avatar`` only when it is to change."""
        changes = {name: self[name].data for name in self.TEXT_FIELDS}
        if self.remove_avatar.data:
            changes["avatar"] = None
        elif self.avatar.data and self.avatar.data.filename:
            changes["avatar"] = self.avatar.data.stream
        return changes


def add_service_errors(form: FlaskForm, errors: dict) -> None:
    """Show a service's field messages on the form's fields (the rest on the form itself)."""
    for field, messages in errors.items():
        target = getattr(form, field, None)
        if target is not None:
            target.errors = [*target.errors, *messages]  # a tuple until the form has been validated
        else:
            form.form_errors.extend(messages)


def form_page(template: str, form: FlaskForm, **context):
    """Render a form page: 400 when it shows errors, so a failed post never looks like success."""
    return render_template(template, form=form, **context), 400 if form.errors else 200
