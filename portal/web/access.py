"""Ways in, as their owner manages them: API keys, every live session, sign-in and key, the mails
about sign-ins from somewhere new, and "Secure my account"."""

from flask import abort, flash, make_response, redirect, render_template, session, url_for
from flask_babel import gettext as _
from flask_login import login_required, logout_user

from ..forms import call_for, form_page
from ..services.errors import AuthenticationFailed, NotFound
from ..services.signing_in import securing, sign_in_alerts
from ..services.ways_in import credentials
from ..services.ways_in.api_keys import issue_api_key
from ..sessions import current_credential, me, sign_out, signed_in_user
from . import bp
from .forms import ApiKeyForm, SignInAlertsForm
from .reauth import recent_proof_required


@bp.route("/profile/keys", methods=["GET", "POST"])
@login_required
@recent_proof_required
def api_keys():
    user = signed_in_user()
    form = ApiKeyForm()
    new_key = None
    # An account whose sign-up is unfinished gets no key: the service's reason shows above the form.
    if form.validate_on_submit() and (issued := call_for(
        form, issue_api_key, user, me(), name=form.name.data, idle_timeout=form.idle_timeout.data,
        scopes=form.scopes.data, expires_in=form.expires_in.data, refusals={AuthenticationFailed: 400},
    )):
        _, new_key = issued.result
        form = ApiKeyForm(formdata=None)
    keys = credentials.live_credentials(user, kind=credentials.KEY)
    idle_limits = {key.id: credentials.idle_limit(key) for key in keys}
    response = make_response(form_page("web/keys.html", form, keys=keys, idle_limits=idle_limits, new_key=new_key))
    # The new key is in this answer only: no cache may keep a copy of it.
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/profile/keys/<public_id>/revoke")
@login_required
@recent_proof_required
def revoke_api_key(public_id):
    return _end(public_id, "web.api_keys", _("The key is revoked; it no longer works."))


@bp.get("/profile/sessions")
@login_required
def sessions():
    user = signed_in_user()
    return render_template(
        "web/sessions.html",
        ways_in=credentials.live_credentials(user),
        this_session=current_credential(),
        alerts_form=SignInAlertsForm(data={"sign_in_alerts": user.sign_in_alerts}),
    )


def _turning_alerts_off() -> bool:
    # Decided on the value the form will act on (its checkbox reads "false", "" and absence as off),
    # never on the raw field: "false" is not empty, yet it turns the mails off.
    return sign_in_alerts.needs_recent_proof(SignInAlertsForm().sign_in_alerts.data)


@bp.post("/profile/sessions/alerts")
@login_required
@recent_proof_required(when=_turning_alerts_off)  # an intruder would turn them off first: that needs a recent proof
def sign_in_alerts_setting():
    form = SignInAlertsForm()
    if form.validate_on_submit():
        sign_in_alerts.set_sign_in_alerts(signed_in_user(), form.sign_in_alerts.data, me())
        flash(_("You will get a mail when a new browser or app signs in.") if form.sign_in_alerts.data
              else _("You will no longer get a mail when a new browser or app signs in."), "success")
    return redirect(url_for("web.sessions"))


@bp.get("/profile/sessions/secure")
@login_required
def secure_account():
    """"Secure my account": a page that says what it does, and its button."""
    return render_template("web/secure_account.html")


# The button's own view: HEAD goes to the page's view above (as GET), never here.
@bp.post("/profile/sessions/secure")
@login_required
def secure_account_confirmed():
    """The button, CSRF-checked as every POST: every way in ends."""
    securing.secure_account(signed_in_user(), me(), how=securing.FROM_SESSIONS_PAGE)
    # This browser's session row was revoked with the rest; the cookie goes too.
    logout_user()
    session.clear()
    return render_template("web/secured.html")


@bp.post("/profile/sessions/<public_id>/end")
@login_required
def end_session(public_id):
    return _end(public_id, "web.sessions", _("That session is ended."))


@bp.post("/profile/sessions/end-others")
@login_required
def end_other_sessions():
    credentials.end_other_sessions(signed_in_user(), me(), keep=current_credential())
    flash(_("Every other session, sign-in and key of yours is ended."), "success")
    return redirect(url_for("web.sessions"))


def _end(public_id, back_to: str, done: str):
    """Revoke one of the signed-in user's own credentials; anyone else's is a 404.

    The CSRF check of every POST has run before this (CSRFProtect), so no form is validated here.
    """
    try:
        credential = credentials.own_live_credential(signed_in_user(), public_id)
    except NotFound:
        abort(404)
    if credential is current_credential():
        sign_out()
        flash(_("You are signed out."), "success")
        return redirect(url_for("web.login"))
    credentials.revoke(credential, me())
    flash(done, "success")
    return redirect(url_for(back_to))
