"""Connected apps: the apps a person allowed to sign them in with the portal, and taking that back."""

from flask import abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import login_required

from ..services.errors import NotFound
from ..services.oidc import grants
from ..services.oidc.apps import SCOPES
from ..sessions import me, signed_in_user
from ..templating import isolated, sentence
from . import bp


@bp.get("/profile/apps")
@login_required
def connected_apps():
    return render_template("web/apps.html", apps=grants.connected_apps(signed_in_user()), scope_words=SCOPES)


@bp.post("/profile/apps/<int:grant_id>/revoke")
@login_required
def revoke_app(grant_id):
    try:
        name = grants.revoke_app(signed_in_user(), grant_id, me())
    except NotFound:
        abort(404)
    flash(sentence(_("%(app)s can no longer use your account; its sign-ins have ended."), app=isolated(name)),
          "success")
    return redirect(url_for("web.connected_apps"))
