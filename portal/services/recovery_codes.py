"""Recovery codes: ten single-use codes that stand in for a lost second factor.

A code is ten characters of an alphabet without look-alikes (no 0/o, 1/l/i), about 49 bits,
shown as ``abcde-fghij``; case, spaces and dashes do not matter when one is typed back. Only an
HMAC-SHA256 of each (keyed with the app secret, like the emailed codes) is stored, so a leaked
table cannot be searched offline. A set is made when the account gets its first factor and on
request (which voids the old set); using a code marks it used in one conditional UPDATE, so two
requests racing with one code cannot both pass.
"""

import hashlib
import hmac
import secrets

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import delete, func, select

from ..extensions import db
from ..models import RecoveryCode, User, utcnow
from . import audit
from .atomic import update_where
from .audit import Actor
from .errors import ValidationFailed
from .factors import ensure_owner, has_second_factor, notify_security_change
from .fields import latin_digits

ALPHABET = "23456789abcdefghjkmnpqrstuvwxyz"
LENGTH = 10
COUNT = 10
NO_FACTOR = _l("Set up an authenticator app or a passkey first.")


def _code_hash(user_id: int, code: str) -> str:
    key = current_app.config["SECRET_KEY"].encode()
    return hmac.new(key, f"{user_id}:recovery:{code}".encode(), hashlib.sha256).hexdigest()


def normalise(code) -> str | None:
    """A typed code as stored (lower case, no spaces or dashes), or None when it cannot be one."""
    if not isinstance(code, str) or len(code) > 4 * LENGTH:
        return None
    code = "".join(ch for ch in latin_digits(code).strip().lower() if ch not in " -")
    return code if len(code) == LENGTH and all(ch in ALPHABET for ch in code) else None


def _new_code() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))


def _shown(code: str) -> str:
    half = LENGTH // 2
    return f"{code[:half]}-{code[half:]}"


def replace_codes(user: User, actor: Actor) -> list[str]:
    """A fresh set for the user, voiding any earlier one, audited; the caller commits.

    Returned once, as shown to the person (``abcde-fghij``); never stored.
    """
    db.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    codes = [_new_code() for _ in range(COUNT)]
    now = utcnow()
    db.session.add_all(
        RecoveryCode(user_id=user.id, code_hash=_code_hash(user.id, code), created_at=now) for code in codes
    )
    audit.record(actor, "recovery_codes_generated", user)
    return [_shown(code) for code in codes]


def codes_for_a_new_factor(user: User, actor: Actor) -> list[str] | None:
    """A first set when the account has no unused codes (its first factor), else None; the caller commits."""
    return replace_codes(user, actor) if codes_left(user) == 0 else None


def regenerate_recovery_codes(user: User, actor: Actor) -> list[str]:
    """The owner's new set of codes (the old set stops working), for an account with a second factor."""
    ensure_owner(actor, user)
    if not has_second_factor(user):
        raise ValidationFailed.on("non_field_errors", NO_FACTOR)
    codes = replace_codes(user, actor)
    notify_security_change(user, "recovery_codes_generated", actor)
    db.session.commit()
    return codes


def codes_left(user: User) -> int:
    """How many of the user's recovery codes are still unused."""
    return db.session.scalar(
        select(func.count())
        .select_from(RecoveryCode)
        .where(RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None))
    )


def spend_code(user: User, code, actor: Actor) -> bool:
    """Use one of the user's codes: True when it was unused, and it is used from now on; audited.

    The caller tells the person (``notify_security_change(user, "recovery_code_used", …)``) and commits.
    Marking it used is one conditional UPDATE: of two requests with the same code, one gets True.
    """
    normalised = normalise(code)
    if normalised is None:
        return False
    spent = update_where(
        RecoveryCode,
        RecoveryCode.user_id == user.id,
        RecoveryCode.code_hash == _code_hash(user.id, normalised),
        RecoveryCode.used_at.is_(None),
        used_at=utcnow(),
    )
    if spent:
        left = codes_left(user)
        audit.record(actor, "recovery_code_used", user, {"recovery_codes_left": [left + 1, left]})
    return spent


def void_codes(user: User) -> None:
    """Delete every recovery code of the user (their last factor is gone); the caller commits."""
    db.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
