"""The staff admin: find, edit and protect accounts, groups, the apps that sign people in, and the audit log.

Every URL under /admin/ is for staff only: a stranger is sent to sign in, anyone else gets 403,
whatever the method. The views use the same services as every other door, so a staff edit obeys
the same rules and leaves the same audit trail.
"""

from flask import Blueprint, abort, flash, redirect, url_for
from flask_babel import gettext as _
from flask_login import current_user

from ..errors import error_page
from ..extensions import login_manager
from ..services.errors import NotFound, PermissionDenied
from ..services.signing_in import factors

bp = Blueprint("admin", __name__, url_prefix="/admin")


@bp.before_request
def staff_only():
    if not current_user.is_authenticated:
        return login_manager.unauthorized()
    if not current_user.is_staff:
        abort(403)
    if factors.lacks_required_staff_factor(current_user):
        flash(_("Set up an authenticator app or a passkey to use the admin."), "info")
        return redirect(url_for("web.security"))
    return None


@bp.errorhandler(PermissionDenied)
def refused(exc: PermissionDenied):
    """A rule of the services said no (rights, the last superuser): 403 with its reason."""
    return error_page(403, reason=str(exc) or None), 403


@bp.errorhandler(NotFound)
def not_found(_exc: NotFound):
    return error_page(404), 404


from . import apps, audit_log, groups, mail, users  # noqa: E402,F401  (routes attach themselves to bp)
