"""Signing in with a six-digit code mailed to the account's address, instead of the password.

The code is ``verification``'s, with its own purpose (SIGN_IN): a verification code signs nobody
in, and a sign-in code verifies no address. The mail holds no link: nothing signs anyone in by
being opened. Only an account that could sign in with its password gets a code, and only at an
address it has proven, so a mistyped new address cannot become a way in for whoever owns it. The
code proves the first step only: an account with a second factor is still asked for it.
"""

from ...models import User
from ..people import verification
from ..people.fields import clean_email, clean_fields
from ..people.users import find_user

EMAIL_CODE = "email_code"  # the first step, as ``flow.sign_in`` and a credential's method name it


def may_sign_in_by_code(user: User) -> bool:
    """Whether the account may be sent, and sign in with, a sign-in code."""
    return user.is_active and user.activated_at is not None and user.email_verified


def request_sign_in_code(email) -> None:
    """Mail a sign-in code to an account that may use one, after the answer, which tells nobody whether it does."""
    clean_fields({"email": email}, {"email": clean_email})
    verification.send_code_later(email, verification.SIGN_IN, may_sign_in_by_code)


def authenticate_with_code(email, code) -> User:
    """The account whose live sign-in code ``code`` is, mailed to ``email``; a wrong one spends a try."""
    user = find_user(email=email)
    if user is not None and not may_sign_in_by_code(user):
        user = None
    verification.use_code(user, code, verification.SIGN_IN, field="code")
    return user
