"""Password hashing (argon2id) and the strength rules a new password must pass."""

import gzip
import re
import secrets
from difflib import SequenceMatcher
from functools import cache
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app
from flask_babel import LazyString
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from markupsafe import Markup, escape

from .fields import digits

MIN_LENGTH = 8
MAX_LENGTH = 4096  # argon2 takes any length; this only stops a multi-megabyte "password".
MAX_SIMILARITY = 0.7
PASSWORDS_DIFFER = _l("Passwords do not match.")


class DocumentedText(str):
    """A translatable text that is also documented English: as a ``str`` it is the English the API
    documents (and what ``in``, ``==`` and f-strings see); a page writes it in its own language
    (Jinja and markupsafe ask ``__html__``)."""

    def __new__(cls, translatable: LazyString):
        english = super().__new__(cls, str(translatable))  # made at import: no locale but English yet
        english.translatable = translatable
        return english

    def __html__(self) -> Markup:
        return escape(str(self.translatable))


# What a new password must be, as people read it; built from the constants that enforce it.
PASSWORD_POLICY = DocumentedText(_l(
    "At least %(min_length)s characters, not only digits, not a common password, "
    "and not close to your email, username or name.",
    min_length=LazyString(digits, MIN_LENGTH),
))
COMMON_PASSWORDS_FILE = Path(__file__).resolve().parents[2] / "data" / "common-passwords.txt.gz"


def _cost() -> tuple[int, int, int]:
    cfg = current_app.config
    return cfg["PASSWORD_HASH_TIME_COST"], cfg["PASSWORD_HASH_MEMORY_COST"], cfg["PASSWORD_HASH_PARALLELISM"]


def _hasher() -> PasswordHasher:
    return _cached_hasher(*_cost())


@cache
def _cached_hasher(time_cost: int, memory_cost: int, parallelism: int) -> PasswordHasher:
    return PasswordHasher(time_cost=time_cost, memory_cost=memory_cost, parallelism=parallelism)


@cache
def _throwaway_hash(time_cost: int, memory_cost: int, parallelism: int) -> str:
    return _cached_hasher(time_cost, memory_cost, parallelism).hash(secrets.token_hex(16))


def spend_a_password_check(password) -> None:
    """Take as long as checking a real password (else timing tells which addresses have accounts)."""
    check_password(_throwaway_hash(*_cost()), password)


def hash_password(password: str) -> str:
    return _hasher().hash(password)


def check_password(password_hash: str, password) -> bool:
    if not isinstance(password, str) or not password_hash:
        return False
    try:
        return _hasher().verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    """True when the stored hash was made with other cost settings than the current ones."""
    return _hasher().check_needs_rehash(password_hash)


@cache
def _common_passwords() -> frozenset[str]:
    with gzip.open(COMMON_PASSWORDS_FILE, "rt", encoding="utf-8") as fh:
        return frozenset(line.strip() for line in fh if line.strip())


def password_problems(password, *, related: tuple[str | None, ...] = ()) -> list[str]:
    """Every reason ``password`` is too weak (or too close to one of ``related``, the account's own values)."""
    if not isinstance(password, str) or not password:
        return [_("This field may not be blank.")]
    if len(password) > MAX_LENGTH:
        return [_("Ensure this field has no more than %(limit)s characters.", limit=digits(MAX_LENGTH))]
    problems = []
    if len(password) < MIN_LENGTH:
        problems.append(
            _("This password is too short. It must contain at least %(min_length)s characters.",
              min_length=digits(MIN_LENGTH))
        )
    if password.isdigit():
        problems.append(_("This password is entirely numeric."))
    if password.lower().strip() in _common_passwords():
        problems.append(_("This password is too common."))
    if _too_similar(password, related):
        problems.append(_("The password is too similar to your account details."))
    return problems


def _too_similar(password: str, related: tuple[str | None, ...]) -> bool:
    lowered = password.lower()
    for value in filter(None, related):
        value = value.lower()
        for part in {value, *re.split(r"\W+", value)}:
            if len(part) < 3:
                continue
            if SequenceMatcher(a=lowered, b=part).quick_ratio() >= MAX_SIMILARITY:
                return True
    return False
