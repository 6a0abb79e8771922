"""Signing up, entering the emailed code, signing in and out."""

from flask import flash, redirect, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user

from ..forms import add_service_errors, call_for, form_page
from ..http import acting, safe_next
from ..i18n import picked_language
from ..limits import limited
from ..oidc.sign_in_pages import let_forms_lead_to_the_app
from ..services.errors import AuthenticationFailed, EmailNotVerified, PasswordResetRequired
from ..services.people import accounts, verification
from ..services.people.users import find_user
from ..services.signing_in import sign_in
from ..sessions import sign_out
from ..templating import ltr, sentence
from . import bp
from .forms import LoginForm, PasskeyForm, RegisterForm, ResendCodeForm, VerifyForm
from .two_step import continue_sign_in

# The address a browser signed up with, so /verify knows it and the right code signs that browser in.
PENDING_EMAIL = "pending_email"


@bp.get("/")
def index():
    return redirect(url_for("web.profile" if current_user.is_authenticated else "web.login"))


@bp.route("/register", methods=["GET", "POST"])
@limited("RATELIMIT_REGISTER", per_account=("email",), methods=["POST"])
def register():
    if current_user.is_authenticated:
        return redirect(url_for("web.profile"))
    form = RegisterForm()
    if form.validate_on_submit() and (signed_up := call_for(
        form, accounts.register, form.email.data, form.password.data, acting("web"),
        profile={"first_name": form.first_name.data, "last_name": form.last_name.data, "language": picked_language()},
    )):
        user = signed_up.result
        session[PENDING_EMAIL] = user.email
        flash(sentence(
            _("We mailed a 6-digit code to %(email)s. Enter it below to finish signing up."),
            email=ltr(user.email),
        ), "success")
        return redirect(url_for("web.verify"))
    return form_page("web/register.html", form)


@bp.route("/verify", methods=["GET", "POST"])
@limited("RATELIMIT_VERIFY", per_account=("email",), methods=["POST"])
def verify():
    form = VerifyForm()
    if request.method == "GET":
        form.email.data = request.args.get("email") or session.get(PENDING_EMAIL) or (
            current_user.email if current_user.is_authenticated else None
        )
    if form.validate_on_submit() and (verified := call_for(
        form, verification.verify_email, form.email.data, form.otp.data, acting("web")
    )):
        user = verified.result
        if not current_user.is_authenticated and session.pop(PENDING_EMAIL, None) == user.email:
            # The browser that signed up proved the mailbox: sign-up is complete, and it signs in —
            # through a second factor, should the account have one by now. (Signing in starts the
            # session afresh, so the message comes after it.)
            answer = continue_sign_in(
                user, remember=False, next_page=url_for("web.profile"), first_step="email_code"
            )
            flash(_("Your email address is verified."), "success")
            return answer
        flash(_("Your email address is verified."), "success")
        return redirect(url_for("web.profile" if current_user.is_authenticated else "web.login"))
    return form_page("web/verify.html", form)


@bp.post("/verify/resend")
@limited("RATELIMIT_CODE", per_account=("email",))
def resend_code():
    """The code page's second button: only the email of its form counts here."""
    form = ResendCodeForm()
    if form.validate_on_submit():
        verification.resend_verification_code(form.email.data)
        # The same answer whether or not the address has an account waiting for a code.
        flash(sentence(
            _("If %(email)s is waiting for a code, a new one is on its way."),
            email=ltr(form.email.data),
        ), "success")
        return redirect(url_for("web.verify", email=form.email.data))
    page_form = VerifyForm(formdata=None, email=form.email.data)
    add_service_errors(page_form, form.errors)
    return form_page("web/verify.html", page_form)


@bp.route("/login", methods=["GET", "POST"])
@limited("RATELIMIT_SIGN_IN", per_account=("login",), methods=["POST"])
def login():
    next_page = safe_next(request.args.get("next"), url_for("web.profile"))
    if current_user.is_authenticated:
        return redirect(next_page)
    form = LoginForm()
    if request.method == "GET" and isinstance(request.args.get("login_hint"), str):
        form.login.data = request.args["login_hint"][:254]  # an app that signs people in knows who it expects
    unverified_email = None
    if form.validate_on_submit():
        try:
            user = sign_in.authenticate(form.password.data, login=form.login.data)
            answer = continue_sign_in(user, remember=form.remember.data, next_page=next_page)
        except EmailNotVerified:
            unverified_email = find_user(login=form.login.data).email
            form.form_errors.append(_("Your email address is not verified yet."))
        except PasswordResetRequired as exc:
            form.form_errors.append(exc.detail)
        except AuthenticationFailed:
            form.form_errors.append(_("The email, username or password is not right."))
        else:
            return answer
    # Its forms (the password, a passkey, a provider's button) may end at the app that asked for the sign-in.
    page = form_page("web/login.html", form, unverified_email=unverified_email, passkey_form=PasskeyForm(formdata=None))
    return let_forms_lead_to_the_app(page, next_page)


@bp.post("/logout")
def logout():
    sign_out()
    flash(_("You are signed out."), "success")
    return redirect(url_for("web.login"))
