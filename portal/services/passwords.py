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

MIN_LENGTH = 8
MAX_LENGTH = 4096  # argon2 takes any length; this only stops a multi-megabyte "password".
MAX_SIMILARITY = 0.7
PASSWORDS_DIFFER = "Passwords do not match."
# What a new password must be, as people read it; built from the constants that enforce it.
PASSWORD_POLICY = (
    f"At least {MIN_LENGTH} characters, not only digits, not a common password, "
    "and not close to your email, username or name."
)
COMMON_PASSWORDS_FILE = Path(__file__).resolve().parent.parent / "data" / "common-passwords.txt.gz"


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
    """Take as long as checking a real password, for an account that does not exist.

    Without it a wrong email answers faster than a wrong password, and timing tells which
    addresses have accounts.
    """
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
    """Every reason ``password`` is too weak; empty when it is acceptable.

    ``related`` holds the account's own values (email, username, names): a password too close to
    one of them, or to a part of one, is refused.
    """
    if not isinstance(password, str) or not password:
        return ["This field may not be blank."]
    if len(password) > MAX_LENGTH:
        return [f"Ensure this field has no more than {MAX_LENGTH} characters."]
    problems = []
    if len(password) < MIN_LENGTH:
        problems.append(f"This password is too short. It must contain at least {MIN_LENGTH} characters.")
    if password.isdigit():
        problems.append("This password is entirely numeric.")
    if password.lower().strip() in _common_passwords():
        problems.append("This password is too common.")
    if _too_similar(password, related):
        problems.append("The password is too similar to your account details.")
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
