"""Document 003: /api/v1/accounts/users/ — sign-up with an emailed code, and the 003 profile."""

from functools import partial

from flask import request

from ..limits import limited
from ..payload import read_payload
from ..services.errors import ValidationFailed
from ..services.people import accounts, users, verification
from ..services.people.passwords import PASSWORD_POLICY, PASSWORDS_DIFFER
from . import bp
from .auth import READ, WRITE, authenticated, caller, current_actor, staff_rights
from .documented import documented
from .etags import represent
from .profiles import NO_SUCH_USER, PROFILE_WRITE, READ_BY_ID_REFUSED, apply_update
from .schemas import Profile003, Register003, Registered003, ResendOtp003, Update003, VerifyOtp003

EMAIL_SENT = "Email sent successfully!"
EMAIL_VERIFIED = "Email verified successfully!"
PROFILE_003, REGISTER_003, UPDATE_003 = Profile003(), Register003(), Update003()
# Each route's summary and description are its docstring; all are under this tag of the OpenAPI document.
documented_003 = partial(documented, tag="Document 003")


@bp.post("/v1/accounts/users/")
@documented_003(
    # Not the docstring: the password rules are the policy's own words, built from its constants.
    description="Creates an unverified account and mails a six-digit code to confirm the address "
    "(`verify-otp/`); while the mail server is down the account is kept and the code goes out when it is "
    f"back. Password rules: {PASSWORD_POLICY} `gender` is `M`, `F` or `O` (the full words are "
    "accepted too); `country` an ISO 3166-1 alpha-2 code.",
    body="Register003",
    status=201,
    answer="SignedUp",
)
@limited("RATELIMIT_REGISTER", per_account=("email",))
def register_003():
    """Sign up (document 003)"""
    schema = REGISTER_003
    fields = schema.to_changes(read_payload())
    password, confirm = fields.pop("password"), fields.pop("confirm_password")
    if password != confirm:
        raise ValidationFailed.on("confirm_password", PASSWORDS_DIFFER)
    email = fields.pop("email")
    try:
        user = accounts.register(email, password, current_actor(), profile=fields)
    except ValidationFailed as exc:
        raise schema.in_wire_names(exc) from None
    return {"msg": EMAIL_SENT, "data": Registered003.dump(user)}, 201


@bp.post("/v1/accounts/users/verify-otp/")
@documented_003(body="VerifyOtp003", answer="Message")
@limited("RATELIMIT_VERIFY", per_account=("email",))
def verify_otp_003():
    """Confirm an address with its emailed code (document 003)

    Also confirms a changed address. A wrong or expired code is a 400 on `otp`.
    """
    body = VerifyOtp003().to_changes(read_payload())
    verification.verify_email(body["email"], body["otp"], current_actor())
    return {"msg": EMAIL_VERIFIED}


@bp.post("/v1/accounts/users/resend-otp/")
@documented_003(body="ResendOtp003", answer="Message")
@limited("RATELIMIT_CODE", per_account=("email",))
def resend_otp_003():
    """Mail a new code (document 003)

    Answers alike whether or not the address has an account.
    """
    verification.resend_verification_code(ResendOtp003().to_changes(read_payload())["email"])
    return {"msg": EMAIL_SENT}


@bp.route("/v1/accounts/users/<int(signed=True):user_id>/", methods=["GET", "PATCH"])
@documented_003("GET", answer="Profile003", representation=True, conditional_read=True, errors=READ_BY_ID_REFUSED)
@documented_003(
    "PATCH",
    summary="Update a profile by id (document 003)",
    description=PROFILE_WRITE + " The owner or staff may write; `photo` is the avatar.",
    body="Update003",
    answer="Profile003",
    representation=True,
    conditional_write=True,
    errors={403: ("Detail", "Someone else's id, and the caller may not manage that account."), **NO_SUCH_USER},
)
@authenticated(needs={"GET": READ, "PATCH": WRITE})
def user_003(user_id):
    """A profile by id (document 003)

    The owner, or staff, read the 003 shape: `photo` is an absolute URL, `gender` is `M`, `F` or `O`.
    """
    user = users.user_for(caller(), user_id, staff_too=staff_rights())
    if request.method == "PATCH":
        user = apply_update(UPDATE_003, user)
    return represent(PROFILE_003.dump(user), user)
