"""Staff pages for the apps that sign people in with the portal: the list, registering one, editing
it, replacing its secret and disabling it. The rules and the audit trail are the service's
(``services.oidc.apps``); a secret is shown once, on a page no cache may keep."""

from flask import flash, make_response, redirect, render_template, url_for
from flask_babel import gettext as _

from ..forms import call_for, form_page
from ..services.errors import ValidationFailed
from ..services.oidc import apps
from ..sessions import me
from . import bp
from .confirm import confirmation_page
from .forms import AppForm, NewAppForm


@bp.route("/apps/", methods=["GET", "POST"])
def apps_list():
    form = NewAppForm()
    if form.validate_on_submit() and (registered := call_for(
        form, apps.register_app, form.name.data, form.redirect_uris.data, me("admin"), public=form.public.data,
        **{key: value for key, value in form.changes().items() if key not in ("name", "redirect_uris")},
    )):
        app, secret = registered.result
        return _secret_page(app, secret, registered=True)
    return form_page("admin/apps.html", form, apps=apps.all_apps(), scopes=apps.SCOPES)


@bp.route("/apps/<int:app_id>", methods=["GET", "POST"])
def apps_detail(app_id):
    app = apps.get_app(app_id)
    form = AppForm.of(app)
    if form.validate_on_submit() and call_for(form, apps.update_app, app, form.changes(), me("admin")):
        flash(_("App %(name)s saved.", name=app.name), "success")
        return redirect(url_for("admin.apps_detail", app_id=app.id))
    return form_page("admin/app.html", form, app=app, scopes=apps.SCOPES)


@bp.post("/apps/<int:app_id>/secret")
def apps_secret(app_id):
    app = apps.get_app(app_id)
    page = confirmation_page(
        _("Replace the secret of %(name)s?", name=app.name),
        _("The current secret stops working at once: the app cannot sign anyone in until it is given the new "
          "one. The new secret is shown only once."),
        _("Replace the secret"),
    )
    if page is not None:
        return page
    try:
        secret = apps.rotate_secret(app, me("admin"))
    except ValidationFailed as exc:
        for messages in exc.errors.values():
            for message in messages:
                flash(str(message), "error")
        return redirect(url_for("admin.apps_detail", app_id=app.id))
    return _secret_page(app, secret, registered=False)


@bp.post("/apps/<int:app_id>/disable")
def apps_disable(app_id):
    app = apps.get_app(app_id)
    page = confirmation_page(
        _("Disable the app %(name)s?", name=app.name),
        _("It signs nobody in any more, and every sign-in made through it ends now: its tokens stop working. "
          "An app cannot be enabled again; register it anew instead."),
        _("Disable app"),
    )
    if page is not None:
        return page
    apps.disable_app(app, me("admin"))
    flash(_("App %(name)s is disabled; every sign-in made through it has ended.", name=app.name), "success")
    return redirect(url_for("admin.apps_detail", app_id=app.id))


def _secret_page(app, secret, *, registered: bool):
    """The app's client id and its new secret (None for a public app), shown this once: no cache,
    shared or the browser's own, may keep a copy."""
    response = make_response(render_template("admin/app_secret.html", app=app, secret=secret, registered=registered))
    response.headers["Cache-Control"] = "no-store"
    return response
