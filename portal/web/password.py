"""Forgotten passwords: ask for a link, and the page the mailed link opens."""

from flask import render_template

from ..forms import call_for, form_page
from ..http import acting
from ..limits import limited
from ..services.errors import ValidationFailed
from ..services.people import accounts, verification
from . import bp
from .forms import ForgotPasswordForm, ResetPasswordForm


@bp.route("/password/forgot", methods=["GET", "POST"])
@limited("RATELIMIT_PASSWORD_RESET", per_account=("email",), methods=["POST"])
def forgot_password():
    form = ForgotPasswordForm()
    if form.validate_on_submit() and call_for(
        form, verification.request_password_reset, form.email.data, acting("web")
    ):
        return render_template("password/forgot_sent.html", email=form.email.data)
    return form_page("password/forgot.html", form)


@bp.route("/password/reset/<uid>/<token>/", methods=["GET", "POST"])
@limited("RATELIMIT_PASSWORD_RESET_CONFIRM", methods=["POST"])
def reset_password(uid, token):
    try:
        verification.user_for_reset(uid, token)
    except ValidationFailed:
        return render_template("password/reset_invalid.html"), 400
    form = ResetPasswordForm()
    if form.validate_on_submit() and call_for(
        form, accounts.reset_password, uid, token, form.new_password.data, acting("web")
    ):
        return render_template("password/reset_done.html")
    return form_page("password/reset.html", form)
