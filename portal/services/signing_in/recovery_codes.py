"""Recovery codes: ten single-use codes that stand in for a lost second factor.

A code is ten characters of an alphabet without look-alikes, about 49 bits, shown as
``abcde-fghij``. A set is made with the account's first factor and on request (voiding the old
set); using a code is one conditional UPDATE, so two requests racing with one code cannot both pass.

Each code is stored as an argon2id hash with a salt of its own (ASVS 6.5.2), so a leaked table, even
with SECRET_KEY, must be searched code by code at argon2's price. The cost is low on purpose
(HASH_MEMORY_COST, t=1): the secret is 49 random bits, and a typed code is compared with each unused
code in turn. Measured on the 2-core test machine: one comparison takes about 2.6 ms on an idle
core, so a wrong code against a full set of ten costs 26 ms (34-48 ms with the machine loaded), and
making a set as much again. Only what looks like a recovery code is compared.

Sets made before revision 0010 are HMAC-SHA256s keyed with SECRET_KEY (the codes are not known, so
they cannot be hashed again), checked as such until the person makes a new set.
"""

import hashlib
import hmac
import secrets

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import delete, func, select

from ...extensions import db
from ...models import RecoveryCode, User, utcnow
from .. import audit
from ..audit import Actor
from ..errors import ValidationFailed
from ..people.fields import latin_digits
from ..plumbing.atomic import update_where
from .factors import ensure_owner, has_second_factor, notify_security_change

ALPHABET = "23456789abcdefghjkmnpqrstuvwxyz"
LENGTH = 10
COUNT = 10
NO_FACTOR = _l("Set up an authenticator app or a passkey first.")
# argon2id at 4 MiB and one pass: ten comparisons stay in tens of milliseconds (see above).
HASH_MEMORY_COST = 4096  # KiB
HASH_TIME_COST = 1
_HASHER = PasswordHasher(
    time_cost=HASH_TIME_COST, memory_cost=HASH_MEMORY_COST, parallelism=1, hash_len=32, salt_len=16, type=Type.ID
)
ARGON2_PREFIX = "$argon2"


def _matches(stored: str, user_id: int, code: str) -> bool:
    if stored.startswith(ARGON2_PREFIX):
        try:
            return _HASHER.verify(stored, code)
        except (VerificationError, InvalidHashError):
            return False
    legacy = hmac.new(current_app.config["SECRET_KEY"].encode(), f"{user_id}:recovery:{code}".encode(), hashlib.sha256)
    return hmac.compare_digest(stored, legacy.hexdigest())  # a set made before revision 0010


def normalise(code) -> str | None:
    """A typed code as stored (lower case, no spaces or dashes), or None when it cannot be one."""
    if not isinstance(code, str) or len(code) > 4 * LENGTH:
        return None
    code = "".join(ch for ch in latin_digits(code).strip().lower() if ch not in " -")
    return code if len(code) == LENGTH and all(ch in ALPHABET for ch in code) else None


def _new_code() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))


def replace_codes(user: User, actor: Actor) -> list[str]:
    """A fresh set for the user, voiding any earlier one, audited: returned once, as shown, never stored."""
    void_codes(user)
    codes = [_new_code() for _ in range(COUNT)]
    now = utcnow()
    db.session.add_all(
        RecoveryCode(user_id=user.id, code_hash=_HASHER.hash(code), created_at=now) for code in codes
    )
    audit.record(actor, "recovery_codes_generated", user)
    return [f"{code[:LENGTH // 2]}-{code[LENGTH // 2:]}" for code in codes]


def codes_for_a_new_factor(user: User, actor: Actor) -> list[str] | None:
    """A first set when the account has no unused codes (its first factor), else None."""
    return replace_codes(user, actor) if codes_left(user) == 0 else None


def regenerate_recovery_codes(user: User, actor: Actor) -> list[str]:
    """The owner's new set of codes (the old set stops working), for an account with a second factor."""
    ensure_owner(actor, user)
    if not has_second_factor(user):
        raise ValidationFailed.on("non_field_errors", NO_FACTOR)
    codes = replace_codes(user, actor)
    notify_security_change(user, "recovery_codes_generated", actor)
    return codes


def codes_left(user: User) -> int:
    return db.session.scalar(
        select(func.count())
        .select_from(RecoveryCode)
        .where(RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None))
    )


def spend_code(user: User, code, actor: Actor) -> bool:
    """Use one of the user's codes: True when it was unused, and it is used from now on; audited.
    Each unused code's hash is salted, so the typed code is compared with each in turn; marking the
    one it matches used is one conditional UPDATE: of two requests with the same code, one gets True."""
    normalised = normalise(code)
    if normalised is None:
        return False
    unused = db.session.execute(
        select(RecoveryCode.id, RecoveryCode.code_hash)
        .where(RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None))
        .order_by(RecoveryCode.id)
    ).all()
    match = next((row_id for row_id, stored in unused if _matches(stored, user.id, normalised)), None)
    spent = match is not None and update_where(
        RecoveryCode, RecoveryCode.id == match, RecoveryCode.used_at.is_(None), used_at=utcnow()
    )
    if spent:
        left = codes_left(user)
        audit.record(actor, "recovery_code_used", user, {"recovery_codes_left": [left + 1, left]})
    return spent


def void_codes(user: User) -> None:
    """Delete every recovery code of the user (their last factor is gone)."""
    db.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
