"""Profile routes of documents 000 (/api/profile/), 002 (/api/users/<id>/) and 001/004 (/api/users/me/)."""

from functools import partial

from flask import request

from ..limits import limited
from ..payload import read_payload
from ..services.errors import ValidationFailed
from ..services.people import accounts, users
from ..services.signing_in import reauthentication
from . import bp
from .auth import (
    FULL,
    READ,
    WRITE,
    authenticated,
    caller,
    caller_credential,
    caller_user,
    current_actor,
    require,
    staff_rights,
)
from .documented import documented
from .errors import error_response, server_errors_as
from .etags import expected_versions, represent
from .schemas import DeleteMe, Profile000, Profile001, Update002, Update004

USER_GONE_000 = "The user cannot be found in the database."
API_EMAIL_CHANGE = (
    "Changing the email address needs a recent sign-in: sign in again (POST /api/token/ or "
    "/api/auth/token/login/) and repeat the change with the new credential."
)
# Built once: a schema holds no state of a request, and building one costs more than using it.
PROFILE_000, PROFILE_001 = Profile000(), Profile001()
UPDATE_002, UPDATE_004, DELETE_ME = Update002(), Update004(), DeleteMe()

# What every profile write of every dialect does, as the OpenAPI document says it.
PROFILE_WRITE = (
    "Partial update: only the fields sent change. JSON, or multipart/form-data to upload the avatar. "
    "Read-only and unknown fields are ignored. An optional text field sent as `\"\"` is stored as null. "
    "Changing the email takes effect at once, marks it unverified and mails a code to the new address."
)
# How the routes that take an id refuse, as the OpenAPI document says it.
NO_SUCH_USER = {404: ("ErrorMessage", "No such user.")}
READ_BY_ID_REFUSED = {403: ("Detail", "Someone else's id, and the caller is not staff."), **NO_SUCH_USER}
# Each route's summary and description are its docstring (a method that answers otherwise says its own);
# each document's routes are under its own tag of the OpenAPI document.
documented_000 = partial(documented, tag="Document 000")
documented_002 = partial(documented, tag="Document 002")
documented_001_004 = partial(documented, tag="Documents 001 and 004")


def apply_update(schema, user):
    """Map the payload through a dialect's input schema and update ``user``; errors in wire names.

    A new email address needs a full credential signed in recently: with the address, a stolen token or
    key could take the account over (a reset link goes to the new address).
    """
    changes = schema.to_changes(read_payload())
    if accounts.changes_the_email(user, changes.get("email")):
        require(FULL)
        reauthentication.ensure_recently_proven(caller_credential(), API_EMAIL_CHANGE)
    try:
        return accounts.update_profile(user, changes, current_actor(), expected_versions=expected_versions())
    except ValidationFailed as exc:
        raise schema.in_wire_names(exc) from None


# Document 000 -------------------------------------------------------------------------------


@bp.route("/profile/", methods=["GET", "POST"])
@documented_000(
    answer="Profile000",
    representation=True,
    conditional_read=True,
    errors={404: ("ErrorMessage", "The credential is valid but its user no longer exists.")},
    server_error="ErrorMessage",
)
@server_errors_as("error")
@authenticated(needs=READ, user_gone=lambda: error_response(404, {"error": USER_GONE_000}))
def profile_000():
    """The caller's profile (document 000)

    Both GET and POST answer the caller's profile in the 000 shape; `avatar` is a site-relative path.
    """
    user = caller()
    return represent(PROFILE_000.dump(user), user)


# Document 002 -------------------------------------------------------------------------------


@bp.route("/users/<int(signed=True):user_id>/", methods=["GET", "PUT", "PATCH", "DELETE"])
@documented_002("GET", answer="Profile000", representation=True, conditional_read=True, errors=READ_BY_ID_REFUSED)
@documented_002(
    "PUT", "PATCH",
    summary="Update one's own profile by id (document 002, {method})",
    description=PROFILE_WRITE + " `number_phone` has at most 10 characters in this dialect.",
    body="Update002",
    answer="Profile000",
    representation=True,
    conditional_write=True,
    errors={403: ("Detail", "Someone else's id (staff too: writes are owner-only)."), **NO_SUCH_USER},
)
@documented_002(
    "DELETE",
    summary="Delete one's own account by id (document 002)",
    description="Deletes the account and its avatar files.",
    status=204,
    conditional_write=True,
    errors={403: ("Detail", "Someone else's id, or the last active superuser."), **NO_SUCH_USER},
)
@authenticated(needs={"GET": READ, "PUT": WRITE, "PATCH": WRITE, "DELETE": FULL})
def user_002(user_id):
    """A profile by id (document 002)

    The owner, or staff, read the profile in the 000 shape.
    """
    # Staff may read anyone; writes are owner-only in this document, staff included.
    user = users.user_for(caller(), user_id, staff_too=request.method == "GET" and staff_rights())
    if request.method == "GET":
        return represent(PROFILE_000.dump(user), user)
    if request.method == "DELETE":
        accounts.delete_account(user, current_actor(), expected_versions=expected_versions())
        return "", 204
    user = apply_update(UPDATE_002, user)
    return represent(PROFILE_000.dump(user), user)


# Documents 001 and 004 ----------------------------------------------------------------------


@bp.route("/users/me/", methods=["GET", "PUT", "PATCH"])
@documented_001_004("GET", answer="Profile001", representation=True, conditional_read=True)
@documented_001_004(
    "PUT", "PATCH",
    summary="Update the caller's profile (document 004, {method})",
    description=PROFILE_WRITE + " `gender` is `male`, `female` or `other`. `avatar` as JSON null, or as the text "
    "`null` or empty in a form, removes the avatar.",
    body="Update004",
    answer="Profile001",
    representation=True,
    conditional_write=True,
)
@authenticated(needs={"GET": READ, "PUT": WRITE, "PATCH": WRITE})
def me_001():
    """The caller's profile (documents 001 and 004)

    The 001 shape: `avatar` is an absolute URL, `groups` a list of group objects.
    """
    if request.method == "GET":
        user = caller()
        return represent(PROFILE_001.dump(user), user)
    user = apply_update(UPDATE_004, caller_user())
    return represent(PROFILE_001.dump(user), user)


# A view of its own, so the password-check limit wraps only the request that checks a password:
# the profile reads above, the hottest route of the API, pass no limiter on their way.
@bp.route("/users/me/", methods=["DELETE"])
@documented_001_004(
    body="DeleteMe",
    status=204,
    conditional_write=True,
    errors={403: ("Detail", "The last active superuser cannot be deleted.")},
)
@limited("RATELIMIT_PASSWORD_CHECK", per_ip=False, per_credential=True)
@authenticated(needs=FULL)
def me_delete_004():
    """Delete the caller's account (document 004)

    Needs the current password; a missing or wrong one is a 400 on `current_password` and the
    account stays.
    """
    password = DELETE_ME.to_changes(read_payload())["current_password"]
    user = caller_user()
    accounts.verify_current_password(user, password)
    accounts.delete_account(user, current_actor(), expected_versions=expected_versions())
    return "", 204
