"""Document 003: /api/v1/accounts/users/ — sign-up with an emailed code, and the 003 profile."""

from flask import request

from ..limits import limited
from ..services import accounts, users, verification
from ..services.errors import ValidationFailed
from ..services.passwords import PASSWORD_POLICY, PASSWORDS_DIFFER
from . import bp
from .auth import authenticated, caller, current_actor
from .documented import documented
from .etags import represent
from ..payload import read_payload
from .profiles import IF_MATCH_WRITE, PROFILE_WRITE, apply_update
from .schemas import Profile003, Register003, Registered003, ResendOtp003, Update003, VerifyOtp003

EMAIL_SENT = "Email sent successfully!"
EMAIL_VERIFIED = "Email verified successfully!"
PROFILE_003, REGISTER_003, UPDATE_003 = Profile003(), Register003(), Update003()


@bp.post("/v1/accounts/users/")
@documented(
    summary="Sign up (document 003)",
    tag="Document 003",
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
@documented(
    summary="Confirm an address with its emailed code (document 003)",
    tag="Document 003",
    description="Also confirms a changed address. A wrong or expired code is a 400 on `otp`.",
    body="VerifyOtp003",
    answer="Message",
)
@limited("RATELIMIT_VERIFY", per_account=("email",))
def verify_otp_003():
    body = VerifyOtp003().to_changes(read_payload())
    verification.verify_email(body["email"], body["otp"], current_actor())
    return {"msg": EMAIL_VERIFIED}


@bp.post("/v1/accounts/users/resend-otp/")
@documented(
    summary="Mail a new code (document 003)",
    tag="Document 003",
    description="Answers alike whether or not the address has an account.",
    body="ResendOtp003",
    answer="Message",
)
@limited("RATELIMIT_CODE", per_account=("email",))
def resend_otp_003():
    verification.resend_verification_code(ResendOtp003().to_changes(read_payload())["email"])
    return {"msg": EMAIL_SENT}


@bp.route("/v1/accounts/users/<int(signed=True):user_id>/", methods=["GET", "PATCH"])
@documented(
    "GET",
    summary="A profile by id (document 003)",
    tag="Document 003",
    description="The owner, or staff, read the 003 shape: `photo` is an absolute URL, `gender` is `M`, `F` or `O`.",
    answer="Profile003",
    representation=True,
    conditional_read=True,
    errors={403: ("Detail", "Someone else's id, and the caller is not staff."), 404: ("ErrorMessage", "No such user.")},
)
@documented(
    "PATCH",
    summary="Update a profile by id (document 003)",
    tag="Document 003",
    description=PROFILE_WRITE + " The owner or staff may write; `photo` is the avatar. " + IF_MATCH_WRITE,
    body="Update003",
    answer="Profile003",
    representation=True,
    conditional_write=True,
    errors={
        403: ("Detail", "Someone else's id, and the caller may not manage that account."),
        404: ("ErrorMessage", "No such user."),
    },
)
@authenticated
def user_003(user_id):
    user = users.user_for(caller(), user_id, staff_too=True)
    if request.method == "PATCH":
        user = apply_update(UPDATE_003, user)
    return represent(PROFILE_003.dump(user), user)
