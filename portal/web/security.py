"""How the account signs in, as its owner manages it: the authenticator app, recovery codes and passkeys.

Every change here asks for a recent proof first (``reauth.recent_proof_required``). Recovery codes
are shown once, on the page that made them, and can be downloaded from there as a text file; the
answer that holds them is never stored by a cache.
"""

from flask import Response, abort, flash, make_response, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import login_required

from .. import providers
from ..forms import call_for, form_page
from ..http import relying_party
from ..services.signing_in import factors, linked_identities, passkeys, recovery_codes, totp
from ..sessions import browser_binding, me, signed_in_user
from ..templating import isolated, sentence
from . import bp
from .forms import AddPasskeyForm, ConfirmTotpForm, DisableTotpForm, RenamePasskeyForm
from .reauth import recent_proof_required

FEW_CODES_LEFT = 2  # at or below this, the page warns that the codes are running out


@bp.get("/profile/security")
@login_required
def security():
    return _security_page(signed_in_user())


def _security_page(user, *, disable_form=None, add_passkey_form=None):
    """The page, with the form that was just sent (and its messages) where there is one."""
    disable_form = disable_form or DisableTotpForm(formdata=None)
    add_passkey_form = add_passkey_form or AddPasskeyForm(formdata=None)
    page = render_template(
        "web/security.html", methods=factors.listed(user), has_factor=factors.has_second_factor(user),
        setting_up=totp.current_enrolment(user), few_codes_left=FEW_CODES_LEFT, disable_form=disable_form,
        add_passkey_form=add_passkey_form,
        connected=linked_identities.identities_of(user), has_password=linked_identities.has_password(user),
        providers=providers.configured(),
    )
    return page, 400 if disable_form.errors or add_passkey_form.errors else 200


# The authenticator app ------------------------------------------------------------------------------


@bp.route("/profile/security/app", methods=["GET", "POST"])
@login_required
@recent_proof_required
def totp_setup():
    """POST starts setting the app up (a new secret); GET shows a set-up that is still waiting."""
    user = signed_in_user()
    form = ConfirmTotpForm(formdata=None)
    if request.method == "POST":
        started = call_for(form, totp.enrol_totp, user, me())
        enrolment = started.result if started else None
    else:
        enrolment = totp.current_enrolment(user)
    if enrolment is None:
        flash(" ".join(form.form_errors) or _("Start setting up the authenticator app here."), "info")
        return redirect(url_for("web.security"))
    return _setup_page(form, enrolment)


@bp.post("/profile/security/app/confirm")
@login_required
@recent_proof_required
def totp_confirm():
    user = signed_in_user()
    form = ConfirmTotpForm()
    if form.validate_on_submit() and (confirmed := call_for(form, totp.confirm_totp, user, form.code.data, me())):
        flash(_("The authenticator app is on: signing in now asks for its code."), "success")
        return _codes_page(confirmed.result) if confirmed.result else redirect(url_for("web.security"))
    enrolment = totp.current_enrolment(user)
    if enrolment is None:
        return redirect(url_for("web.security"))
    return _setup_page(form, enrolment)


@bp.post("/profile/security/app/off")
@login_required
def totp_disable():
    """Turning the app off asks for the password and a code itself: that is the proof."""
    user = signed_in_user()
    form = DisableTotpForm()
    if form.validate_on_submit() and call_for(
        form, totp.disable_totp, user, form.current_password.data, form.code.data, me()
    ):
        flash(_("The authenticator app is off."), "success")
        return redirect(url_for("web.security"))
    return _security_page(user, disable_form=form)


def _setup_page(form, enrolment):
    page = form_page(
        "web/totp_setup.html", form, enrolment=enrolment, qr_code=totp.qr_code_svg(enrolment.provisioning_uri)
    )
    return _not_stored(make_response(page))


# Recovery codes -------------------------------------------------------------------------------------


@bp.post("/profile/security/recovery-codes")
@login_required
@recent_proof_required
def recovery_codes_new():
    codes = recovery_codes.regenerate_recovery_codes(signed_in_user(), me())
    flash(_("New recovery codes are made; the old ones no longer work."), "success")
    return _codes_page(codes)


@bp.post("/profile/security/recovery-codes.txt")
@login_required
def recovery_codes_download():
    """The codes just shown, as a text file: the page posts them back (they are stored only as hashes)."""
    codes = [code for code in request.form.getlist("code") if recovery_codes.normalise(code) is not None]
    if not codes:
        return redirect(url_for("web.security"))
    text = _("Recovery codes for your account. Each works once.") + "\n\n" + "\n".join(codes) + "\n"
    answer = Response(
        text, mimetype="text/plain", headers={"Content-Disposition": 'attachment; filename="recovery-codes.txt"'}
    )
    return _not_stored(answer)


def _codes_page(codes: list[str]):
    return _not_stored(make_response(render_template("web/recovery_codes.html", codes=codes)))


def _not_stored(response):
    # A secret shown once: no cache, shared or the browser's own, may keep a copy.
    response.headers["Cache-Control"] = "no-store"
    return response


# Passkeys ---------------------------------------------------------------------------------------


@bp.post("/profile/security/passkeys/options")
@login_required
@recent_proof_required
def passkey_options():
    form = AddPasskeyForm(formdata=None)
    made = call_for(
        form, passkeys.registration_options, signed_in_user(), rp_id=relying_party().id, binding=browser_binding(),
        actor=me(),
    )
    return made.result if made else ({"detail": " ".join(form.form_errors)}, 400)


@bp.post("/profile/security/passkeys")
@login_required
@recent_proof_required
def passkey_add():
    user = signed_in_user()
    form = AddPasskeyForm()
    if not form.credential.data:
        # Confirmed it's you (or no script ran): the ceremony itself starts from the page.
        flash(_("Now choose “Add a passkey” again and follow your browser."), "info")
        return redirect(url_for("web.security"))
    party = relying_party()
    if form.validate_on_submit() and (added := call_for(
        form, passkeys.register_passkey, user, form.credential.data, rp_id=party.id, origin=party.origin,
        binding=browser_binding(), name=form.name.data, actor=me(),
    )):
        flash(sentence(
            _("The passkey “%(name)s” is added."),
            name=isolated(added.result.passkey.name),
        ), "success")
        if added.result.recovery_codes:
            return _codes_page(added.result.recovery_codes)
        return redirect(url_for("web.security"))
    return _security_page(user, add_passkey_form=form)


@bp.route("/profile/security/passkeys/<int:passkey_id>/rename", methods=["GET", "POST"])
@login_required
@recent_proof_required
def passkey_rename(passkey_id):
    user = signed_in_user()
    passkey = _own(user, passkey_id)
    form = RenamePasskeyForm() if request.method == "POST" else RenamePasskeyForm(name=passkey.name)
    if form.validate_on_submit() and call_for(form, passkeys.rename_passkey, user, passkey_id, form.name.data, me()):
        flash(_("The passkey is renamed."), "success")
        return redirect(url_for("web.security"))
    return form_page("web/passkey_rename.html", form, passkey=passkey)


@bp.post("/profile/security/passkeys/<int:passkey_id>/remove")
@login_required
@recent_proof_required
def passkey_remove(passkey_id):
    user = signed_in_user()
    passkey = _own(user, passkey_id)
    passkeys.remove_passkey(user, passkey.id, me())
    flash(sentence(
        _("The passkey “%(name)s” is removed; it no longer signs you in."),
        name=isolated(passkey.name),
    ), "success")
    return redirect(url_for("web.security"))


def _own(user, passkey_id):
    """One of the signed-in person's passkeys; anyone else's is a 404, as if it did not exist."""
    found = next((passkey for passkey in passkeys.list_passkeys(user) if passkey.id == passkey_id), None)
    if found is None:
        abort(404)
    return found
