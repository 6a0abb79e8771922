"""Signing in with an emailed code: ``POST /api/auth/code/`` mails the code, ``POST /api/token/code/``
trades it for a JWT pair (or, for an account with a second factor, the two-step answer). The pages'
twins (/login/code) draw on the same allowances.
"""

from ..limits import limited
from ..payload import read_payload
from ..services.signing_in import sign_in_codes
from . import bp
from .schemas import SignInCodeRequest, SignInWithCode
from .two_step import JWT_PAIR, documented_credentials, signed_in


@bp.post("/auth/code/")
@documented_credentials(body="SignInCodeRequest", status=204)
@limited("RATELIMIT_CODE", per_account=("email",))
def request_sign_in_code():
    """Ask for a sign-in code

    204 whether or not the address has an account; when it names an active account whose address is
    verified, a six-digit code is mailed to it, for `POST /api/token/code/`. It works once, for 10
    minutes and 5 tries; a new code replaces the old one. 400 only for a malformed address.
    """
    # Always 204 for a well-formed address, so the answer tells nobody whether it has an account.
    sign_in_codes.request_sign_in_code(SignInCodeRequest().to_changes(read_payload())["email"])
    return "", 204


@bp.post("/token/code/")
@documented_credentials(
    body="SignInWithCode", answer="TokenPair",
    errors={401: ("TwoStepRequired", "The account has a second factor: finish with `POST /api/token/mfa/`.")},
)
@limited("RATELIMIT_VERIFY", per_account=("email",))
@limited("RATELIMIT_SIGN_IN", per_ip=False, per_account=("email",))  # a code is a sign-in try
def token_with_code():
    """Sign in with an emailed code: a JWT pair

    `email` and the `code` mailed by `POST /api/auth/code/`. A wrong, expired or used code is a 400
    `{"code": ["Invalid or expired code."]}`. Each wrong code counts against the account's sign-in
    allowance too. An account with a second factor gets the two-step answer of `POST /api/token/`.
    """
    body = SignInWithCode().to_changes(read_payload())
    user = sign_in_codes.authenticate_with_code(body["email"], body["code"])
    return signed_in(user, issue=JWT_PAIR, first_step=sign_in_codes.EMAIL_CODE)
