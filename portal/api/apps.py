"""``/api/users/me/apps/``: the apps the person allowed to sign them in with the portal, and taking
that back (the twin of the "Connected apps" page)."""

from functools import partial

from ..services.oidc import grants
from . import bp
from .auth import authenticated, caller_user, current_actor
from .documented import documented
from .schemas import ConnectedAppOut

documented_apps = partial(documented, tag="Credentials")
LISTED = ConnectedAppOut()


@bp.get("/users/me/apps/")
@documented_apps(answer="ConnectedAppOutList")
@authenticated
def my_apps():
    """The apps you allowed"""
    return LISTED.dump(grants.connected_apps(caller_user()), many=True)


@bp.delete("/users/me/apps/<int:grant_id>/")
@documented_apps(status=204, errors={404: ("ErrorMessage", "No such connected app of yours.")})
@authenticated
def revoke_my_app(grant_id):
    """Take back an app's access

    Every sign-in of that app for you ends at once.
    """
    grants.revoke_app(caller_user(), grant_id, current_actor())
    return "", 204
