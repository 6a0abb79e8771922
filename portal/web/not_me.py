"""The page a sign-in alert's "This wasn't me" link opens.

Opening it changes nothing (mail scanners follow links): it shows the sign-in the mail was about and
asks for one confirmation, a POST with the page's CSRF token (a HEAD is answered by the page's own
view, as a GET). Confirmed, the account is secured
(``sign_in_alerts.secure_with_link``) and, if this browser is signed in to it, it is signed out too.
A link used before or too old is a page that says so (410), a broken one too (400): never an error.
"""

from flask import render_template, session
from flask_login import current_user, logout_user

from ..http import acting
from ..limits import limited
from ..services.errors import LinkExpired, ValidationFailed
from ..services.signing_in import sign_in_alerts
from . import bp


# Two views, not one that branches on the method: Flask answers HEAD with the GET view, so a
# view that treated "anything but GET" as the confirmation let link checkers secure accounts.
@bp.get("/not-me/<token>/")
def not_me(token):
    try:
        alert = sign_in_alerts.alert_for_link(token)
    except LinkExpired:
        return render_template("web/not_me_gone.html"), 410
    except ValidationFailed:
        return render_template("web/not_me_gone.html"), 400
    return render_template("web/not_me.html", alert=alert, described=sign_in_alerts.describe(alert))


@bp.post("/not-me/<token>/")
@limited("RATELIMIT_PASSWORD_RESET_CONFIRM")
def not_me_confirmed(token):
    try:
        user = sign_in_alerts.secure_with_link(token, acting("web"))
    except LinkExpired:
        return render_template("web/not_me_gone.html"), 410
    except ValidationFailed:
        return render_template("web/not_me_gone.html"), 400
    if current_user.is_authenticated and current_user.id == user.id:
        logout_user()  # its session row was revoked with every other
        session.clear()
    return render_template("web/secured.html")
