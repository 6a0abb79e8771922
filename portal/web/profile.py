"""The signed-in person's own pages: profile, edit, password, activity, export and deletion."""

import json

from flask import Response, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import login_required

from ..forms import ProfileForm, call_for, form_page
from ..limits import limited
from ..media import avatar_url
from ..services import audit
from ..services.errors import PermissionDenied
from ..services.people import accounts
from ..services.people.export import account_export
from ..sessions import current_credential, me, sign_out, signed_in_user
from ..templating import ltr, sentence
from . import bp
from .forms import ChangePasswordForm, DeleteAccountForm
from .reauth import recent_proof_required

ACTIVITY_PAGE_SIZE = 20


@bp.get("/profile/")
@login_required
def profile():
    return render_template("web/profile.html", user=signed_in_user())


def _changes_the_email() -> bool:
    """Whether this post of the edit page asks for another address (which signs in, and gets resets):
    the service's own rule, so a blank field or the same address in other letters asks for nothing."""
    return accounts.changes_the_email(signed_in_user(), request.form.get("email"))


@bp.route("/profile/edit", methods=["GET", "POST"])
@login_required
@recent_proof_required(when=_changes_the_email)
def edit_profile():
    user = signed_in_user()
    form = ProfileForm() if request.method == "POST" else ProfileForm.of(user)
    new_address = _changes_the_email()  # asked before the save: afterwards the address is the new one
    if form.validate_on_submit() and form.save(user, me()):
        flash(_("Your profile is saved."), "success")
        if new_address:
            flash(sentence(
                _("We mailed a code to %(email)s. Enter it to verify the new address."),
                email=ltr(user.email),
            ), "info")
            return redirect(url_for("web.verify"))
        return redirect(url_for("web.profile"))
    return form_page("web/edit.html", form, user=user)


@bp.route("/profile/password", methods=["GET", "POST"])
@login_required
@limited("RATELIMIT_PASSWORD_CHECK", per_ip=False, per_credential=True, methods=["POST"])
def change_password():
    form = ChangePasswordForm()
    if form.validate_on_submit() and call_for(
        form, accounts.change_password, signed_in_user(), form.current_password.data, form.new_password.data, me(),
        keep=current_credential(),
    ):
        flash(_("Your password is changed. Every other session and key of yours was signed out."), "success")
        return redirect(url_for("web.profile"))
    return form_page("web/password.html", form)


@bp.get("/profile/activity")
@login_required
def activity():
    user = signed_in_user()
    page = audit.history(user, page=request.args.get("page", 1, type=int), per_page=ACTIVITY_PAGE_SIZE)
    return render_template("web/activity.html", page=page)


@bp.get("/profile/export")
@login_required
def export():
    user = signed_in_user()
    data = account_export(user)
    data["profile"]["avatar"] = avatar_url(user.avatar)
    body = json.dumps(data, ensure_ascii=False, indent=2)
    return Response(
        body,
        mimetype="application/json",
        headers={"Content-Disposition": f'attachment; filename="account-{user.id}.json"'},
    )


@bp.route("/profile/delete", methods=["GET", "POST"])
@login_required
@limited("RATELIMIT_PASSWORD_CHECK", per_ip=False, per_credential=True, methods=["POST"])
def delete_account():
    form = DeleteAccountForm()
    user = signed_in_user()
    if (
        form.validate_on_submit()
        and call_for(form, accounts.verify_current_password, user, form.current_password.data)
        # The last active superuser stays: that refusal is a 403.
        and call_for(form, accounts.delete_account, user, me(), refusals={PermissionDenied: 403})
    ):
        sign_out()
        flash(_("Your account and everything in it are deleted."), "success")
        return redirect(url_for("web.login"))
    return form_page("web/delete.html", form)
