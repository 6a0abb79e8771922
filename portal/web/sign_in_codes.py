"""Signing in with a code mailed to the address: ask for it (/login/code), then enter it (/login/code/enter).

Asking answers the same whether or not the address has an account that may sign in this way; the
right code then counts as the first step of a sign-in (``continue_sign_in``), so an account with a
second factor is still asked for it. Asking draws on the code-resend allowances, entering on the
code-entry ones and on the account's sign-in allowance, shared with the API's twins of these pages.
"""

from flask import flash, redirect, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user

from ..forms import call_for, form_page
from ..http import safe_next
from ..limits import limited
from ..oidc.sign_in_pages import let_forms_lead_to_the_app
from ..services.signing_in import sign_in_codes
from ..templating import ltr, sentence
from . import bp
from .forms import SignInCodeForm, SignInCodeRequestForm
from .two_step import continue_sign_in

# The address this browser asked a sign-in code for, so the code page has it filled in.
CODE_EMAIL = "sign_in_code_email"


@bp.route("/login/code", methods=["GET", "POST"])
@limited("RATELIMIT_CODE", per_account=("email",), methods=["POST"])
def sign_in_code():
    if current_user.is_authenticated:
        return redirect(_next_page())
    form = SignInCodeRequestForm()
    if form.validate_on_submit() and call_for(form, sign_in_codes.request_sign_in_code, form.email.data):
        session[CODE_EMAIL] = form.email.data
        # The same answer whether or not the address has an account that may sign in with a code.
        flash(sentence(
            _("If %(email)s belongs to an account, a sign-in code is on its way."),
            email=ltr(form.email.data),
        ), "success")
        return redirect(url_for("web.enter_sign_in_code", next=request.args.get("next")))
    return let_forms_lead_to_the_app(form_page("web/sign_in_code.html", form), _next_page())


@bp.route("/login/code/enter", methods=["GET", "POST"])
@limited("RATELIMIT_VERIFY", per_account=("email",), methods=["POST"])
@limited("RATELIMIT_SIGN_IN", per_ip=False, per_account=("email",), methods=["POST"])  # a code is a sign-in try
def enter_sign_in_code():
    next_page = _next_page()
    if current_user.is_authenticated:
        return redirect(next_page)
    form = SignInCodeForm()
    if request.method == "GET":
        form.email.data = session.get(CODE_EMAIL)
    if form.validate_on_submit() and (proven := call_for(
        form, sign_in_codes.authenticate_with_code, form.email.data, form.code.data
    )):
        session.pop(CODE_EMAIL, None)
        return continue_sign_in(
            proven.result, remember=form.remember.data, next_page=next_page, first_step=sign_in_codes.EMAIL_CODE
        )
    return let_forms_lead_to_the_app(form_page("web/sign_in_code_enter.html", form), next_page)


def _next_page() -> str:
    return safe_next(request.args.get("next"), url_for("web.profile"))
