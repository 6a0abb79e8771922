"""Page forms. They only carry input to the services, which own the rules and the messages."""

from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField
from wtforms.validators import EqualTo, InputRequired

from ..services.passwords import PASSWORDS_DIFFER


class ForgotPasswordForm(FlaskForm):
    email = EmailField("Email address", validators=[InputRequired()], render_kw={"autocomplete": "email"})


class ResetPasswordForm(FlaskForm):
    new_password = PasswordField(
        "New password", validators=[InputRequired()], render_kw={"autocomplete": "new-password"}
    )
    confirm_password = PasswordField(
        "Repeat the new password",
        validators=[InputRequired(), EqualTo("new_password", message=PASSWORDS_DIFFER)],
        render_kw={"autocomplete": "new-password"},
    )


def add_service_errors(form: FlaskForm, errors: dict) -> None:
    """Show a service's field messages on the form's fields (the rest on the form itself)."""
    for field, messages in errors.items():
        target = getattr(form, field, None)
        (target.errors if target is not None else form.form_errors).extend(messages)
