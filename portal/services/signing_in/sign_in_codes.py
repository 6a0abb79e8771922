"""Signing in with a six-digit code mailed to the account's address, instead of the password.

The code is ``verification``'s, with its own purpose (SIGN_IN) and mail: stored only as an HMAC,
valid EMAIL_CODE_TTL, single use, dead after EMAIL_CODE_MAX_ATTEMPTS wrong tries, replaced by the
next one; a verification code signs nobody in, and a sign-in code verifies no address. The mail
holds the code and no link: nothing signs anyone in by being opened.

Only an account that could sign in with its password gets a code — active, its sign-up complete —
and only at an address it has proven: an address changed and not yet confirmed gets none, so a
mistyped new address cannot become a way in for whoever owns it. Every other address (no account,
one that never verified, a deactivated one) gets nothing, and the answer, and its timing, is the
same (``verification.send_code_later``).

The code proves the first step only: the door hands the person to the sign-in flow
(``flow.sign_in``) with ``first_step=EMAIL_CODE``, so an account with a second factor is still
asked for it. The code is used up with the request that signs in (or holds the sign-in).
"""

from ...models import User
from ..errors import ValidationFailed
from ..people import verification
from ..people.fields import FieldError, clean_email
from ..people.users import find_user

EMAIL_CODE = "email_code"  # the first step, as ``flow.sign_in`` and a credential's method name it


def may_sign_in_by_code(user: User) -> bool:
    """Whether the account may be sent, and sign in with, a sign-in code."""
    return user.is_active and user.activated_at is not None and user.email_verified


def request_sign_in_code(email) -> None:
    """Mail a sign-in code when ``email`` names an account that may sign in with one; otherwise do nothing.

    Only a malformed address is an error (ValidationFailed on ``email``). The look-up and the mail
    happen after the answer, so the answer does not tell whether the account exists.
    """
    try:
        clean_email(email)
    except FieldError as exc:
        raise ValidationFailed.on("email", str(exc)) from None
    verification.send_code_later(email, verification.SIGN_IN, may_sign_in_by_code)


def authenticate_with_code(email, code) -> User:
    """The account whose live sign-in code ``code`` is, mailed to ``email``; the code is then used up.

    A wrong, expired, used or replaced code — or an address of no account that may sign in this
    way — is ValidationFailed on ``code``, and spends one of the code's tries. The caller goes on
    with the first step proven (``EMAIL_CODE``), and its commit uses the code up.
    """
    user = find_user(email=email)
    if user is not None and not may_sign_in_by_code(user):
        user = None
    verification.use_code(user, code, verification.SIGN_IN, field="code")
    return user
