"""Proving control of a mailbox: one-time email codes, email changes, and password-reset links.

A code is six digits; only an HMAC of it (keyed with the app secret, so a leaked table cannot be
brute-forced offline) is stored. It lives EMAIL_CODE_TTL, works once, dies after
EMAIL_CODE_MAX_ATTEMPTS wrong tries, and a new code replaces the old one; a code of one purpose
(VERIFY_EMAIL, SIGN_IN) is no code for another. A reset link is bound to the password hash and the
account's security stamp, so it stops working once used, and once the account was secured.
"""

import base64
import hashlib
import hmac
import secrets
from collections.abc import Callable

from flask import current_app
from flask_babel import lazy_gettext as _l
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import delete, select

from ...clock import ClockSigner
from ...extensions import db
from ...models import EmailCode, User, canonical_email, utcnow
from ...urls import public_url
from .. import audit
from ..audit import Actor
from ..errors import ValidationFailed
from ..mail import outbox
from ..plumbing.atomic import update_where
from ..plumbing.attempts import keep_attempts
from ..plumbing.background import run_in_background
from .fields import clean_email, clean_fields, latin_digits, page_language
from .users import MAX_ID, find_user, lock_for_update, mark_changed

VERIFY_EMAIL = "verify_email"
SIGN_IN = "sign_in"
INVALID_CODE = _l("Invalid or expired code.")
INVALID_UID = _l("Invalid user id or user doesn't exist.")
INVALID_TOKEN = _l("Invalid or expired token.")


# The kind of mail (``outbox.queue_mail``) that carries a code of each purpose.
CODE_MAILS = {VERIFY_EMAIL: "verify_email", SIGN_IN: "sign_in_code"}


# Codes ---------------------------------------------------------------------------------------


def _code_hash(user_id: int, purpose: str, code: str) -> str:
    key = current_app.config["SECRET_KEY"].encode()
    return hmac.new(key, f"{user_id}:{purpose}:{code}".encode(), hashlib.sha256).hexdigest()


def issue_code(user: User, purpose: str = VERIFY_EMAIL) -> str:
    """A fresh ``purpose`` code for the user's current address, replacing any earlier one (the row is
    locked first, so two requests at once cannot both insert a code)."""
    if purpose not in CODE_MAILS:
        raise ValueError(f"Unknown code purpose {purpose!r}.")
    db.session.execute(select(User.id).where(User.id == user.id).with_for_update())
    code = f"{secrets.randbelow(10**6):06d}"
    db.session.execute(delete(EmailCode).where(EmailCode.user_id == user.id, EmailCode.purpose == purpose))
    db.session.add(
        EmailCode(
            user_id=user.id,
            purpose=purpose,
            email=user.email,
            code_hash=_code_hash(user.id, purpose, code),
            expires_at=utcnow() + current_app.config["EMAIL_CODE_TTL"],
        )
    )
    db.session.flush()
    return code


def mail_code(user: User, code: str, purpose: str = VERIFY_EMAIL, *, language: str | None = None) -> None:
    """Put ``code`` in the outbox for the user's current address, in its purpose's mail."""
    minutes = int(current_app.config["EMAIL_CODE_TTL"].total_seconds() // 60)
    outbox.queue_mail(
        user, CODE_MAILS[purpose], language=language,
        code=code, email=user.email, name=user.full_name, minutes=minutes,
    )


def send_code_later(email, purpose: str, wanted: Callable[[User], bool]) -> None:
    """Mail a ``purpose`` code if ``wanted(account)``, after the answer: nobody learns who has an account."""
    run_in_background(_send_code, email, purpose, wanted, page_language())


def _send_code(email, purpose: str, wanted: Callable[[User], bool], language: str) -> None:
    user = find_user(email=email)
    if user is None or not wanted(user):
        return
    mail_code(user, issue_code(user, purpose), purpose, language=language)


def use_code(user: User | None, code, purpose: str, *, field: str) -> None:
    """Use up ``user``'s live ``purpose`` code when ``code`` is it; otherwise (``user`` None too)
    ValidationFailed on ``field``, with the spent try kept though the request is refused."""
    row = None
    if user is not None:
        row = db.session.scalar(select(EmailCode).where(EmailCode.user_id == user.id, EmailCode.purpose == purpose))
    live = row is not None and canonical_email(row.email) == user.email_canonical and row.expires_at > utcnow()
    # Spend one of the code's tries before comparing, in one conditional UPDATE: guesses sent in
    # parallel cannot get more than EMAIL_CODE_MAX_ATTEMPTS comparisons between them.
    try_granted = live and update_where(
        EmailCode, EmailCode.id == row.id, EmailCode.attempts < current_app.config["EMAIL_CODE_MAX_ATTEMPTS"],
        attempts=EmailCode.attempts + 1,
    )
    matches = (
        try_granted
        and isinstance(code, str)
        and hmac.compare_digest(row.code_hash, _code_hash(user.id, purpose, latin_digits(code).strip()))
    )
    if not matches:
        keep_attempts()  # the spent try counts even though the answer is an error
        raise ValidationFailed.on(field, INVALID_CODE)
    db.session.delete(row)


def resend_verification_code(email) -> None:
    """Send a new code when ``email`` belongs to an active account whose address is unverified."""
    send_code_later(email, VERIFY_EMAIL, lambda user: user.is_active and not user.email_verified)


def verify_email(email, code, actor: Actor) -> User:
    """Mark the address verified (and complete sign-up) when ``code`` is the live code sent to it."""
    user = find_user(email=email)
    use_code(user, code, VERIFY_EMAIL, field="otp")
    mark_verified(user)
    user.updated_at = utcnow()
    audit.record(actor, "email_verified", user, {"email_verified": [False, True]})
    return user


def mark_verified(user: User) -> None:
    """The current address is proven; the first proof also completes sign-up."""
    mark_changed(user)
    user.email_verified = True
    if user.activated_at is None:
        user.activated_at = utcnow()


def mail_code_to_new_address(user: User, old_email: str, was_verified: bool, actor: Actor) -> None:
    """After an email change: a code for the new address and, if the old one was verified, a notice to it."""
    mail_code(user, issue_code(user))
    if was_verified:
        outbox.queue_mail(
            user, "email_changed", to=old_email,
            old_email=old_email, new_email=user.email, name=user.full_name,
            reset_url=public_url("/password/forgot", actor.origin),
        )


# Password reset ------------------------------------------------------------------------------


def _reset_serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="password-reset", signer=ClockSigner)


def _password_fingerprint(user: User) -> str:
    # Changes whenever the password (or the address the link went to) changes, so the link works once,
    # and whenever every outstanding proof of the account ends (``security_stamp``).
    stamped = f"{user.password_hash}|{user.email_canonical}|{user.security_stamp}"
    return hashlib.sha256(stamped.encode()).hexdigest()[:32]


def encode_uid(user_id: int) -> str:
    return base64.urlsafe_b64encode(str(user_id).encode()).decode().rstrip("=")


def decode_uid(uid) -> int | None:
    if not isinstance(uid, str) or not uid or len(uid) > 16:
        return None
    try:
        value = int(base64.urlsafe_b64decode(uid + "=" * (-len(uid) % 4)).decode())
    except (ValueError, UnicodeDecodeError):
        return None
    return value if 0 < value <= MAX_ID else None


def password_reset_link(user: User, origin: str | None = None) -> str:
    token = _reset_serializer().dumps({"u": user.id, "f": _password_fingerprint(user)})
    return public_url(f"/password/reset/{encode_uid(user.id)}/{token}/", origin)


def request_password_reset(email, actor: Actor) -> None:
    """Mail a reset link to an active account, after the answer (only a malformed address is an error)."""
    clean_fields({"email": email}, {"email": clean_email})
    run_in_background(_send_password_reset_link, email, actor.origin, page_language())


def _send_password_reset_link(email, origin: str | None, language: str) -> None:
    user = find_user(email=email)
    if user is None or not user.is_active:
        return
    minutes = int(current_app.config["PASSWORD_RESET_TTL"].total_seconds() // 60)
    outbox.queue_mail(
        user, "password_reset", language=language,
        reset_url=password_reset_link(user, origin), name=user.full_name, minutes=minutes,
    )


def user_for_reset(uid, token, *, to_use: bool = False) -> User:
    """The user a reset link is for, while the link is valid; ValidationFailed otherwise. ``to_use``:
    the row is locked and read afresh first, so of two confirmations of one link (or one racing a
    securing) the second finds the link spent."""
    user_id = decode_uid(uid)
    user = db.session.get(User, user_id) if user_id else None
    if user is not None and to_use:
        lock_for_update(user)
    if user is None or not user.is_active:
        raise ValidationFailed.on("uid", INVALID_UID)
    max_age = current_app.config["PASSWORD_RESET_TTL"].total_seconds()
    try:
        data = _reset_serializer().loads(token, max_age=max_age) if isinstance(token, str) else None
    except BadSignature:
        data = None
    valid = (
        isinstance(data, dict)
        and data.get("u") == user.id
        and hmac.compare_digest(str(data.get("f")), _password_fingerprint(user))
    )
    if not valid:
        raise ValidationFailed.on("token", INVALID_TOKEN)
    return user
