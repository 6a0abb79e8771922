"""Profile routes of documents 000 (/api/profile/), 002 (/api/users/<id>/) and 001/004 (/api/users/me/)."""

from flask import request

from ..limits import limited
from ..services import accounts, users
from ..services.errors import ValidationFailed
from . import bp
from .auth import authenticated, caller, caller_user, current_actor
from .errors import error_response, server_errors_as
from .etags import expected_versions, represent
from ..payload import read_payload
from .schemas import DeleteMe, Profile000, Profile001, Update002, Update004

USER_GONE_000 = "The user cannot be found in the database."
# Built once: a schema holds no state of a request, and building one costs more than using it.
PROFILE_000, PROFILE_001 = Profile000(), Profile001()
UPDATE_002, UPDATE_004, DELETE_ME = Update002(), Update004(), DeleteMe()


def apply_update(schema, user):
    """Map the payload through a dialect's input schema and update ``user``; errors in wire names."""
    changes = schema.to_changes(read_payload())
    try:
        return accounts.update_profile(user, changes, current_actor(), expected_versions=expected_versions())
    except ValidationFailed as exc:
        raise schema.in_wire_names(exc) from None


# Document 000 -------------------------------------------------------------------------------


@bp.route("/profile/", methods=["GET", "POST"])
@server_errors_as("error")
@authenticated(user_gone=lambda: error_response(404, {"error": USER_GONE_000}))
def profile_000():
    user = caller()
    return represent(PROFILE_000.dump(user), user)


# Document 002 -------------------------------------------------------------------------------


@bp.route("/users/<int(signed=True):user_id>/", methods=["GET", "PUT", "PATCH", "DELETE"])
@authenticated
def user_002(user_id):
    # Staff may read anyone; writes are owner-only in this document, staff included.
    user = users.user_for(caller(), user_id, staff_too=request.method == "GET")
    if request.method == "GET":
        return represent(PROFILE_000.dump(user), user)
    if request.method == "DELETE":
        accounts.delete_account(user, current_actor(), expected_versions=expected_versions())
        return "", 204
    user = apply_update(UPDATE_002, user)
    return represent(PROFILE_000.dump(user), user)


# Documents 001 and 004 ----------------------------------------------------------------------


@bp.route("/users/me/", methods=["GET", "PUT", "PATCH"])
@authenticated
def me_001():
    if request.method == "GET":
        user = caller()
        return represent(PROFILE_001.dump(user), user)
    user = apply_update(UPDATE_004, caller_user())
    return represent(PROFILE_001.dump(user), user)


# A view of its own, so the password-check limit wraps only the request that checks a password:
# the profile reads above, the hottest route of the API, pass no limiter on their way.
@bp.route("/users/me/", methods=["DELETE"])
@limited("RATELIMIT_PASSWORD_CHECK", per_ip=False, per_credential=True)
@authenticated
def me_delete_004():
    password = DELETE_ME.to_changes(read_payload())["current_password"]
    user = caller_user()
    accounts.verify_current_password(user, password)
    accounts.delete_account(user, current_actor(), expected_versions=expected_versions())
    return "", 204
