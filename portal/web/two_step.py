"""How the pages render the sign-in flow's outcome, the second step of a browser sign-in, and
signing in with a passkey alone.

Every page that proves who someone is (the password, an emailed code, a passkey alone) hands the
person to the sign-in flow (``flow.sign_in``) through ``continue_sign_in``, and shows what it
decided (``render_outcome``): a browser session, or the page of the stage the sign-in waits at.
An account with a second factor gets no session yet: the sign-in waits, its token in this browser's
session only, and the person is asked for a code from their authenticator app, a recovery code, or a
passkey. The wait lasts TWO_FACTOR_PENDING_TTL and allows TWO_FACTOR_MAX_ATTEMPTS wrong codes; the
tries also count against the account's sign-in limit, and against its budget of wrong second steps
in a row (``second_step_budget``), whose refusal of the app's codes the page says before a code is
typed. Nothing here opens a session any other way:
the second-step page without a live pending sign-in sends the person back to /login.
"""

from flask import flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from ..forms import add_service_errors, form_status
from ..http import OFFERED_LINK, PENDING_SIGN_IN, acting, relying_party, safe_next
from ..limits import limited
from ..oidc.sign_in_pages import let_forms_lead_to_the_app
from ..services.errors import AuthenticationFailed, SignInExpired, ValidationFailed
from ..services.signing_in import flow, linked_identities, passkeys, two_factor
from ..services.signing_in.sign_in import PASSWORD
from ..sessions import browser_binding, sign_in_browser
from ..templating import isolated, sentence
from . import bp
from .forms import PasskeyForm, SecondStepForm

START_AGAIN = _l("That sign-in has expired or was used up. Sign in again.")
# The page of each stage a sign-in can wait at (``flow.STAGES``).
STAGE_PAGES = {flow.SecondFactor.key: "web.second_step"}


def continue_sign_in(user, *, remember: bool, next_page: str, first_step: str = PASSWORD):
    """After a first step proved who this is: the flow's outcome, rendered. Raises what the flow
    refuses with (an AuthenticationFailed, such as a secured account's PasswordResetRequired)."""
    outcome = flow.sign_in(user, first_step=first_step, door_data={"remember": bool(remember), "next": next_page})
    return render_outcome(outcome)


def render_outcome(outcome: flow.Outcome):
    """A finished sign-in starts the browser's session and goes where the person was going; a
    pending one keeps its token in this browser's session and shows its stage's page."""
    if not outcome.finished:
        session[PENDING_SIGN_IN] = outcome.token
        return redirect(url_for(STAGE_PAGES[outcome.stage]))
    session.pop(PENDING_SIGN_IN, None)
    offered = session.get(OFFERED_LINK)  # the new session starts empty: read it first
    sign_in_browser(outcome.user, remember=outcome.data.get("remember", False), method=outcome.method)
    linked = offered and linked_identities.link_offered(outcome.user, offered, acting("web", outcome.user))
    if linked:
        flash(sentence(
            _("Your account at %(provider)s is connected: it signs you in from now on."),
            provider=isolated(linked.provider_name),
        ), "success")
    return redirect(safe_next(outcome.data.get("next"), url_for("web.profile")))


@bp.route("/login/second-step", methods=["GET", "POST"])
@limited("RATELIMIT_SIGN_IN", per_account=("mfa_token",), methods=["POST"])
def second_step():
    """The code form: a code from the authenticator app, or a recovery code."""
    return _second_step(SecondStepForm(), lambda form: {"code": form.code.data})


@bp.post("/login/second-step/passkey/options")
@limited("RATELIMIT_SIGN_IN")
def second_step_passkey_options():
    pending = two_factor.pending_sign_in(session.get(PENDING_SIGN_IN))
    if pending is None:
        return {"detail": str(START_AGAIN)}, 401
    return _options(user=pending.user)


@bp.post("/login/second-step/passkey")
@limited("RATELIMIT_SIGN_IN", per_account=("mfa_token",))
def second_step_passkey():
    """The passkey form: the browser's answer to the options above."""
    return _second_step(PasskeyForm(), lambda form: {"passkey": _verified(form)})


def _second_step(form, proof):
    """Finish this browser's pending sign-in with the ``proof`` its ``form`` carries: signed in, back
    to /login when the pending sign-in is over, or the page again with the form's reason."""
    token = session.get(PENDING_SIGN_IN)
    pending = two_factor.pending_sign_in(token)
    if pending is None:
        return _start_again()
    if form.validate_on_submit():
        try:
            outcome = flow.complete_sign_in(token, acting("web"), **proof(form))
        except SignInExpired:
            return _start_again()
        except AuthenticationFailed as exc:
            form.form_errors.append(exc.detail)
        except ValidationFailed as exc:
            add_service_errors(form, exc.errors)
        else:
            return render_outcome(outcome)
        pending = two_factor.pending_sign_in(token) or pending  # one try fewer
    code_form = form if isinstance(form, SecondStepForm) else SecondStepForm(formdata=None)
    passkey_form = form if isinstance(form, PasskeyForm) else PasskeyForm(formdata=None)
    # Said before the person types a code the account's budget would refuse (second_step_budget).
    refused = next(iter(pending.refusals), None)
    page = render_template(
        "web/second_step.html", form=code_form, pending=pending, passkey_form=passkey_form, app_codes_refused=refused
    )
    # Its forms' answers go where the sign-in was going: perhaps on to an app that asked for it.
    return let_forms_lead_to_the_app((page, form_status(form)), pending.data.get("next"))


@bp.post("/login/passkey/options")
@limited("RATELIMIT_SIGN_IN")
def passkey_sign_in_options():
    return _options(user=None)


@bp.post("/login/passkey")
@limited("RATELIMIT_SIGN_IN")
def passkey_sign_in():
    """A passkey alone: the device verified the person, so this is the whole sign-in."""
    next_page = safe_next(request.args.get("next"), url_for("web.profile"))
    if current_user.is_authenticated:
        return redirect(next_page)
    form = PasskeyForm()
    if form.validate_on_submit():
        try:
            assertion = _verified(form)
        except AuthenticationFailed as exc:
            flash(exc.detail, "error")
        else:
            return continue_sign_in(assertion.user, remember=False, next_page=next_page, first_step=flow.PASSKEY)
    return redirect(url_for("web.login", next=request.args.get("next")))


def _options(*, user):
    """A WebAuthn ceremony's options for static/passkeys.js, its challenge bound to this browser."""
    try:
        return passkeys.authentication_options(rp_id=relying_party().id, binding=browser_binding(), user=user)
    except ValidationFailed as exc:
        return {"detail": " ".join(str(message) for messages in exc.errors.values() for message in messages)}, 400


def _verified(form: PasskeyForm):
    party = relying_party()
    return passkeys.verify_passkey(
        form.credential.data, rp_id=party.id, origin=party.origin, binding=browser_binding(), actor=acting("web")
    )


def _start_again():
    session.pop(PENDING_SIGN_IN, None)
    flash(str(START_AGAIN), "error")
    return redirect(url_for("web.login"))
