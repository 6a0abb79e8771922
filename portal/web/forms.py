"""Page forms. They only carry input to the services, which own the rules and the messages.

A form checks no more than that something was typed and that a repeated password matches; every
rule about what a value may be (a valid email, a free username, a strong password, an image) is
the services', shown next to the field it concerns.
"""

from datetime import timedelta

from flask_babel import LazyString
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, HiddenField, PasswordField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import EqualTo, InputRequired

from ..forms import profile_input
from ..services.people.fields import FIELDS_BY_NAME
from ..services.people.passwords import PASSWORD_POLICY, PASSWORDS_DIFFER
from ..templating import duration


def _password(label, autocomplete):
    return PasswordField(label, validators=[InputRequired()], render_kw={"autocomplete": autocomplete})


def _new_password(label):
    """A password being chosen: its hint is the policy the services enforce, in their words."""
    return PasswordField(
        label, validators=[InputRequired()], description=PASSWORD_POLICY, render_kw={"autocomplete": "new-password"}
    )


REPEAT_NEW_PASSWORD = _l("Repeat the new password")


def _repeat(of, label=REPEAT_NEW_PASSWORD):
    return PasswordField(
        label,
        validators=[InputRequired(), EqualTo(of, message=PASSWORDS_DIFFER)],
        render_kw={"autocomplete": "new-password"},
    )


class EmailMixin:
    email = EmailField(
        _l("Email address"), validators=[InputRequired()], render_kw={"autocomplete": "email", "dir": "ltr"}
    )


class ForgotPasswordForm(EmailMixin, FlaskForm):
    pass


class ResetPasswordForm(FlaskForm):
    new_password = _new_password(_l("New password"))
    confirm_password = _repeat("new_password")


class RegisterForm(EmailMixin, FlaskForm):
    password = _new_password(_l("Password"))
    confirm_password = _repeat("password", _l("Repeat the password"))
    first_name = profile_input(FIELDS_BY_NAME["first_name"])
    last_name = profile_input(FIELDS_BY_NAME["last_name"])


class VerifyForm(EmailMixin, FlaskForm):
    otp = StringField(
        _l("Code"), validators=[InputRequired()],
        render_kw={"autocomplete": "one-time-code", "inputmode": "numeric", "maxlength": 6, "dir": "ltr"},
    )


class ResendCodeForm(EmailMixin, FlaskForm):
    pass


class SignInCodeRequestForm(EmailMixin, FlaskForm):
    pass


class SignInCodeForm(EmailMixin, FlaskForm):
    code = StringField(
        _l("Code"), validators=[InputRequired()], description=_l("The 6-digit code from the mail we sent you."),
        render_kw={"autocomplete": "one-time-code", "inputmode": "numeric", "maxlength": 6, "dir": "ltr"},
    )
    remember = BooleanField(_l("Keep me signed in on this device"))


class LoginForm(FlaskForm):
    login = StringField(
        _l("Email or username"), validators=[InputRequired()], render_kw={"autocomplete": "username", "dir": "auto"}
    )
    password = _password(_l("Password"), "current-password")
    remember = BooleanField(_l("Keep me signed in on this device"))


class ChangePasswordForm(FlaskForm):
    current_password = _password(_l("Current password"), "current-password")
    new_password = _new_password(_l("New password"))
    confirm_password = _repeat("new_password")


class SetPasswordForm(FlaskForm):
    """An account made through another provider chooses its first password."""

    new_password = _new_password(_l("New password"))
    confirm_password = _repeat("new_password")


# The idle limits the keys page offers (the service takes any from a minute to a year).
KEY_IDLE_LIMITS = [timedelta(hours=1), timedelta(days=1), timedelta(days=7), timedelta(days=30), timedelta(days=90)]


# The lifetimes the keys page offers a key (the service takes any from a minute to a year).
KEY_LIFETIMES = [timedelta(days=7), timedelta(days=30), timedelta(days=90), timedelta(days=365)]
# What a key may do, as the keys page offers it: the stored scopes by the choice's value.
KEY_ACCESS = {"": None, "read": ["api:read"], "write": ["api:read", "api:write"]}


def _scopes_or_none(value):
    """A choice's value as the service takes it: the scopes, or None for full access; anything else
    is handed on as it came, for the service to refuse on the field."""
    return KEY_ACCESS.get(value, value) if isinstance(value, str) or value is None else value


def _after(limit: timedelta) -> str:
    return _("In %(duration)s", duration=duration(limit))


def _seconds_or_none(value):
    """A choice's value as the service takes it: whole seconds, or None for "never"; anything else
    is handed on as it came, for the service to refuse on the field."""
    if value in ("", None):
        return None
    return int(value) if isinstance(value, str) and value.isdigit() else value


class ApiKeyForm(FlaskForm):
    name = StringField(
        _l("Name"), validators=[InputRequired()], description=_l("What the key is for, e.g. “Backup script”."),
        render_kw={"maxlength": 100, "dir": "auto"},
    )
    idle_timeout = SelectField(
        _l("Stops working when unused for"),
        choices=[SelectChoice("", _l("Never: it works until you revoke it"))] + [
            SelectChoice(str(int(limit.total_seconds())), LazyString(duration, limit)) for limit in KEY_IDLE_LIMITS
        ],
        coerce=_seconds_or_none,
        validate_choice=False,
        description=_l("A key left unused that long stops working, in case it was forgotten somewhere."),
    )
    scopes = SelectField(
        _l("What it may do"),
        choices=[
            SelectChoice("", _l("Everything you can do through the API")),
            SelectChoice("read", _l("Read your profile only")),
            SelectChoice("write", _l("Read and change your profile")),
        ],
        coerce=_scopes_or_none,
        validate_choice=False,
        description=_l("A key that may only read or change your profile cannot change your password, email "
                       "address or keys, nor delete the account."),
    )
    expires_in = SelectField(
        _l("Expires"),
        choices=[SelectChoice("", _l("Never: it works until you revoke it"))] + [
            SelectChoice(str(int(limit.total_seconds())), LazyString(_after, limit)) for limit in KEY_LIFETIMES
        ],
        coerce=_seconds_or_none,
        validate_choice=False,
        description=_l("The key stops working at that time, used or not."),
    )


class DeleteAccountForm(FlaskForm):
    current_password = _password(_l("Your password"), "current-password")


class SecondStepForm(FlaskForm):
    code = StringField(
        _l("Code"), validators=[InputRequired()],
        description=_l("The 6-digit code your authenticator app shows now, or one of your recovery codes."),
        render_kw={
            "autocomplete": "one-time-code", "autocapitalize": "none", "spellcheck": "false", "maxlength": 32,
            "dir": "ltr",
        },
    )


class PasskeyForm(FlaskForm):
    """A WebAuthn ceremony's answer, put in ``credential`` by static/passkeys.js."""

    credential = HiddenField()


class AddPasskeyForm(PasskeyForm):
    name = StringField(
        _l("Name of the new passkey"), description=_l("Which device or password manager holds it, e.g. “Work laptop”."),
        render_kw={"maxlength": 100, "dir": "auto"},
    )


class RenamePasskeyForm(FlaskForm):
    name = StringField(_l("New name"), validators=[InputRequired()], render_kw={"maxlength": 100, "dir": "auto"})


class ConfirmTotpForm(FlaskForm):
    code = StringField(
        _l("Code from the app"), validators=[InputRequired()],
        render_kw={"autocomplete": "one-time-code", "inputmode": "numeric", "maxlength": 6, "dir": "ltr"},
    )


class DisableTotpForm(FlaskForm):
    current_password = _password(_l("Your password"), "current-password")
    code = StringField(
        _l("Code from the app, or a recovery code"), validators=[InputRequired()],
        render_kw={"autocomplete": "one-time-code", "autocapitalize": "none", "maxlength": 32, "dir": "ltr"},
    )


class ReauthenticateForm(FlaskForm):
    """Proof before a change to how the account signs in: the password, or a code."""

    reauth_password = PasswordField(_l("Your password"), render_kw={"autocomplete": "current-password"})
    reauth_code = StringField(
        _l("Or a code from your authenticator app"),
        render_kw={"autocomplete": "one-time-code", "maxlength": 32, "dir": "ltr"},
    )

    def proof(self) -> dict:
        """The one proof given, as ``reauthentication.reauthenticate`` takes it."""
        if self.reauth_password.data:
            return {"password": self.reauth_password.data}
        return {"code": self.reauth_code.data or ""}


class SignInAlertsForm(FlaskForm):
    sign_in_alerts = BooleanField(_l("Email me when a new browser or app signs in"))
