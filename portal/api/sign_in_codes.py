"""Signing in with an emailed code: ``POST /api/auth/code/`` mails the code, ``POST /api/token/code/``
trades it for a JWT pair. The pages' twins (/login/code) draw on the same allowances.
"""

from ..limits import limited
from ..payload import read_payload
from ..services import sign_in_codes, tokens
from . import bp
from .auth import current_actor
from .documented import documented
from .schemas import SignInCodeRequest, SignInWithCode


@bp.post("/auth/code/")
@documented(
    summary="Ask for a sign-in code",
    tag="Credentials",
    description="204 whether or not the address has an account; when it names an active account whose "
    "address is verified, a six-digit code is mailed to it, for `POST /api/token/code/`. It works once, "
    "for 10 minutes and 5 tries; a new code replaces the old one. 400 only for a malformed address.",
    body="SignInCodeRequest",
    status=204,
)
@limited("RATELIMIT_CODE", per_account=("email",))
def request_sign_in_code():
    """Always 204 for a well-formed address, so the answer tells nobody whether it has an account."""
    sign_in_codes.request_sign_in_code(SignInCodeRequest().to_changes(read_payload())["email"])
    return "", 204


@bp.post("/token/code/")
@documented(
    summary="Sign in with an emailed code: a JWT pair",
    tag="Credentials",
    description="`email` and the `code` mailed by `POST /api/auth/code/`. A wrong, expired or used code "
    'is a 400 `{"code": ["Invalid or expired code."]}`. Each try counts against the account\'s sign-in '
    "allowance too.",
    body="SignInWithCode",
    answer="TokenPair",
)
@limited("RATELIMIT_VERIFY", per_account=("email",))
@limited("RATELIMIT_SIGN_IN", per_ip=False, per_account=("email",))  # a code is a sign-in try
def token_with_code():
    body = SignInWithCode().to_changes(read_payload())
    user = sign_in_codes.authenticate_with_code(body["email"], body["code"])
    return finish_first_step(user, sign_in_codes.EMAIL_CODE)


def finish_first_step(user, first_step: str):
    """The answer once the first step of a sign-in is proven: for now, a JWT pair.

    Placeholder for the two-step answer of ``/api/token/`` (portal/api/credentials.py), which
    takes over at the merge: an account with a second factor then gets that answer instead.
    """
    return tokens.issue_token_pair(user, current_actor(), method=first_step)
