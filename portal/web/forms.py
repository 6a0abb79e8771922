"""Page forms. They only carry input to the services, which own the rules and the messages.

A form checks no more than that something was typed and that a repeated password matches; every
rule about what a value may be (a valid email, a free username, a strong password, an image) is
the services', shown next to the field it concerns.
"""

import pycountry
from flask import render_template
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import BooleanField, EmailField, PasswordField, SelectField, StringField, TextAreaField
from wtforms.validators import EqualTo, InputRequired

from ..services.fields import GENDERS
from ..services.passwords import PASSWORDS_DIFFER

COUNTRY_CHOICES = [("", "—")] + sorted(
    ((country.alpha_2, country.name) for country in pycountry.countries), key=lambda choice: choice[1]
)
GENDER_CHOICES = [("", "—")] + [(gender, gender.capitalize()) for gender in GENDERS]


def _password(label, autocomplete):
    return PasswordField(label, validators=[InputRequired()], render_kw={"autocomplete": autocomplete})


def _repeat(of):
    return PasswordField(
        "Repeat the new password",
        validators=[InputRequired(), EqualTo(of, message=PASSWORDS_DIFFER)],
        render_kw={"autocomplete": "new-password"},
    )


class EmailMixin:
    email = EmailField("Email address", validators=[InputRequired()], render_kw={"autocomplete": "email"})


class ForgotPasswordForm(EmailMixin, FlaskForm):
    pass


class ResetPasswordForm(FlaskForm):
    new_password = _password("New password", "new-password")
    confirm_password = _repeat("new_password")


class RegisterForm(EmailMixin, FlaskForm):
    password = _password("Password", "new-password")
    confirm_password = PasswordField(
        "Repeat the password",
        validators=[InputRequired(), EqualTo("password", message=PASSWORDS_DIFFER)],
        render_kw={"autocomplete": "new-password"},
    )
    first_name = StringField("First name", render_kw={"autocomplete": "given-name", "dir": "auto"})
    last_name = StringField("Last name", render_kw={"autocomplete": "family-name", "dir": "auto"})


class VerifyForm(EmailMixin, FlaskForm):
    otp = StringField(
        "Code", validators=[InputRequired()],
        render_kw={"autocomplete": "one-time-code", "inputmode": "numeric", "maxlength": 6},
    )


class ResendCodeForm(EmailMixin, FlaskForm):
    pass


class LoginForm(FlaskForm):
    login = StringField(
        "Email or username", validators=[InputRequired()], render_kw={"autocomplete": "username"}
    )
    password = _password("Password", "current-password")
    remember = BooleanField("Keep me signed in on this device")


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

    TEXT_FIELDS = ("first_name", "last_name", "username", "email", "phone", "gender", "country", "address", "birthday")

    def changes(self) -> dict:
        """The submitted values as the service takes them; ``avatar`` only when it is to change."""
        changes = {name: self[name].data for name in self.TEXT_FIELDS}
        if self.remove_avatar.data:
            changes["avatar"] = None
        elif self.avatar.data and self.avatar.data.filename:
            changes["avatar"] = self.avatar.data.stream
        return changes


class ChangePasswordForm(FlaskForm):
    current_password = _password("Current password", "current-password")
    new_password = _password("New password", "new-password")
    confirm_password = _repeat("new_password")


class ApiKeyForm(FlaskForm):
    name = StringField(
        "Name", validators=[InputRequired()], description="What the key is for, e.g. “Backup script”.",
        render_kw={"maxlength": 100},
    )


class DeleteAccountForm(FlaskForm):
    current_password = _password("Your password", "current-password")


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
