"""Document 003: /api/v1/accounts/users/ — sign-up with an emailed code, and the 003 profile."""

from flask import request

from ..limits import limited
from ..services import accounts, users, verification
from ..services.errors import ValidationFailed
from ..services.passwords import PASSWORDS_DIFFER
from . import bp
from .auth import authenticated, caller, current_actor
from .etags import represent
from ..payload import read_payload
from .profiles import apply_update
from .schemas import Profile003, Register003, Registered003, ResendOtp003, Update003, VerifyOtp003

EMAIL_SENT = "Email sent successfully!"
EMAIL_VERIFIED = "Email verified successfully!"
PROFILE_003, REGISTER_003, UPDATE_003 = Profile003(), Register003(), Update003()


@bp.post("/v1/accounts/users/")
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
@limited("RATELIMIT_VERIFY", per_account=("email",))
def verify_otp_003():
    body = VerifyOtp003().to_changes(read_payload())
    verification.verify_email(body["email"], body["otp"], current_actor())
    return {"msg": EMAIL_VERIFIED}


@bp.post("/v1/accounts/users/resend-otp/")
@limited("RATELIMIT_CODE", per_account=("email",))
def resend_otp_003():
    verification.resend_verification_code(ResendOtp003().to_changes(read_payload())["email"])
    return {"msg": EMAIL_SENT}


@bp.route("/v1/accounts/users/<int(signed=True):user_id>/", methods=["GET", "PATCH"])
@authenticated
def user_003(user_id):
    user = users.user_for(caller(), user_id, staff_too=True)
    if request.method == "PATCH":
        user = apply_update(UPDATE_003, user)
    return represent(PROFILE_003.dump(user), user)
