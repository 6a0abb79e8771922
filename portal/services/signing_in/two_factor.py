"""Two-step sign-in: the pending second step of a sign-in, what an account can sign in with, and
the staff reset.

Every door (the pages, the API) signs in the same way:

1. The first step proves the password (``sign_in.authenticate``) or, later, an emailed code.
2. An account with a second factor (``has_second_factor``) gets no credential yet:
   ``begin_sign_in`` stores only the hash of a random token and returns the token, which the
   browser's session or the API client (as ``mfa_token``) keeps. It lives TWO_FACTOR_PENDING_TTL.
3. ``complete_sign_in`` takes the token and a code from the authenticator app, a recovery code,
   or a verified passkey (``passkeys.verify_passkey``) of the same user, and returns the user and
   how the sign-in was proven ("password+totp"), for the door to start the session or issue the
   tokens with (their ``method=``). The pending sign-in then cannot be used again.

Each try at the second step is counted before the code is compared, in one conditional UPDATE,
so guesses sent in parallel cannot get more than TWO_FACTOR_MAX_ATTEMPTS comparisons between
them; after that (or once used, expired or ended) the person signs in again from the start. Each
try also counts against the account's budget of wrong second steps in a row
(``second_step_budget``): past it, codes from the app are refused until a recovery code or a
passkey signs in.

Staff reset (``reset_two_factor``), for the person who lost their phone: it removes the
authenticator app and the recovery codes, and ends pending sign-ins. Passkeys stay unless staff
ask for them to go too (``remove_passkeys=True``): a passkey lives on a device the person may
still have, and it is a way in of its own; a single passkey can also be removed with
``passkeys.remove_passkey``. Staff use it on other people's accounts only (their own goes through
the Security page, with their password and a code), under the rule of ``accounts.ensure_may_manage``:
only a superuser resets a staff member's account. The person is mailed.
"""

import hashlib
import secrets
from dataclasses import dataclass, field
from datetime import datetime

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import delete, select

from ...extensions import db
from ...models import PendingSignIn, User, utcnow
from .. import audit
from ..audit import Actor
from ..errors import PermissionDenied, SignInExpired, ValidationFailed
from ..people.accounts import NOT_YOURSELF, ensure_may_manage
from ..plumbing.atomic import update_where
from ..ways_in.credentials import end_pending_sign_ins
from . import passkeys, recovery_codes, second_step_budget, totp
from .factors import has_second_factor, notify_security_change
from .passkeys import PasskeyAssertion

__all__ = [
    "begin_sign_in", "pending_sign_in", "complete_sign_in", "account_of", "end_pending_sign_ins", "has_second_factor",
    "sign_in_methods", "reset_two_factor", "PendingStep", "CompletedSignIn", "SignInMethods", "PasskeySummary",
]

FIRST_STEPS = ("password", "email_code")
TOTP, RECOVERY, PASSKEY = "totp", "recovery", "passkey"
PASSKEY_REFUSED = _l("This passkey does not belong to the account signing in.")
EXPIRED = _l("This sign-in has expired. Sign in again.")
STAFF_ONLY = _l("Only staff reset another person's two-step sign-in.")


@dataclass(frozen=True)
class PendingStep:
    """A live pending sign-in, as the second-step page or answer shows it."""

    user: User
    first_step: str
    data: dict
    has_totp: bool
    has_passkeys: bool
    recovery_codes_left: int
    attempts_left: int
    expires_at: datetime
    app_codes_refused: bool = False  # the account's budget of wrong tries is spent


@dataclass(frozen=True)
class CompletedSignIn:
    """A finished two-step sign-in: start the session (or issue tokens) for ``user`` with ``method``."""

    user: User
    method: str  # "password+totp", "password+recovery", "password+passkey", "email_code+totp", …
    data: dict  # what ``begin_sign_in`` was given ("remember me", the door)


@dataclass(frozen=True)
class PasskeySummary:
    id: int
    name: str
    created_at: datetime
    last_used_at: datetime | None


@dataclass(frozen=True)
class SignInMethods:
    """How an account can sign in, for the Security page and the API."""

    has_password: bool
    totp_confirmed: bool
    recovery_codes_left: int
    passkeys: list[PasskeySummary] = field(default_factory=list)

    @property
    def has_second_factor(self) -> bool:
        return self.totp_confirmed or bool(self.passkeys)


# The pending second step ---------------------------------------------------------------------------


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def begin_sign_in(user: User, *, first_step: str = "password", data: dict | None = None) -> str:
    """Hold a sign-in whose first step passed until its second step: the token to give the client
    (only its hash is stored). ``data``: JSON-safe values the door needs to finish ("remember")."""
    if first_step not in FIRST_STEPS:
        raise ValueError(f"Unknown first step {first_step!r}.")
    now = utcnow()
    db.session.execute(delete(PendingSignIn).where(PendingSignIn.expires_at < now))  # clear the long dead
    token = secrets.token_urlsafe(32)
    db.session.add(
        PendingSignIn(
            token_hash=_token_hash(token),
            user_id=user.id,
            first_step=first_step,
            data=dict(data or {}),
            created_at=now,
            expires_at=now + current_app.config["TWO_FACTOR_PENDING_TTL"],
        )
    )
    db.session.commit()
    return token


def pending_sign_in(token) -> PendingStep | None:
    """The live pending sign-in a token names (not expired, used or out of tries), or None."""
    pending = _find(token)
    if pending is None or not _is_live(pending):
        return None
    user = db.session.get(User, pending.user_id)
    return PendingStep(
        user=user,
        first_step=pending.first_step,
        data=dict(pending.data or {}),
        has_totp=totp.has_confirmed_totp(user),
        has_passkeys=passkeys.has_passkeys(user),
        recovery_codes_left=recovery_codes.codes_left(user),
        attempts_left=current_app.config["TWO_FACTOR_MAX_ATTEMPTS"] - pending.attempts,
        expires_at=pending.expires_at,
        app_codes_refused=not second_step_budget.within_budget(user),
    )


def complete_sign_in(token, actor: Actor, *, code=None, passkey: PasskeyAssertion | None = None) -> CompletedSignIn:
    """Finish a pending sign-in with a code (from the authenticator app, or a recovery code) or a
    verified passkey of the same user.

    ValidationFailed on ``code`` (or ``passkey``) for a wrong one, which spends one of the tries
    and one of the account's budget (past it, a code from the app is refused with
    ``second_step_budget.APP_CODES_REFUSED`` whether right or not); SignInExpired when the pending
    sign-in is over (expired, used, ended, out of tries, or its account deactivated): the person
    signs in again.
    """
    attempt_field = "passkey" if passkey is not None else "code"
    pending = _find(token)
    now = utcnow()
    # Spend a try before comparing, in one conditional UPDATE (see the module's docstring).
    try_granted = pending is not None and update_where(
        PendingSignIn,
        PendingSignIn.id == pending.id,
        PendingSignIn.used_at.is_(None),
        PendingSignIn.expires_at > now,
        PendingSignIn.attempts < current_app.config["TWO_FACTOR_MAX_ATTEMPTS"],
        attempts=PendingSignIn.attempts + 1,
    )
    if not try_granted:
        db.session.commit()
        raise SignInExpired(EXPIRED)
    user = db.session.get(User, pending.user_id)
    if not user.is_active or user.activated_at is None:
        end_pending_sign_ins(user)
        db.session.commit()
        raise SignInExpired(EXPIRED)

    # The account's budget, taken before comparing too; spent, it bars only the app's six digits.
    app_codes_compared = second_step_budget.take_a_try(user)
    if passkey is not None:
        method = PASSKEY if passkey.user_id == user.id else None
    elif app_codes_compared and totp.accept_code(user, code):
        method = TOTP
    elif recovery_codes.spend_code(user, code, actor):
        method = RECOVERY
    else:
        method = None
    if method is None:
        audit.record(actor, "second_factor_failed", user, {"method": [None, attempt_field]})
        second_step_budget.failed(user, actor)
        db.session.commit()  # the spent try counts even though the answer is an error
        if passkey is not None:
            raise ValidationFailed.on(attempt_field, PASSKEY_REFUSED)
        raise ValidationFailed.on(
            attempt_field, totp.INVALID_CODE if app_codes_compared else second_step_budget.APP_CODES_REFUSED
        )

    finished = update_where(PendingSignIn, PendingSignIn.id == pending.id, PendingSignIn.used_at.is_(None), used_at=now)
    if not finished:
        db.session.rollback()  # un-spends the code: this request did not sign anyone in
        raise SignInExpired(EXPIRED)
    second_step_budget.forgive(user)
    completed = CompletedSignIn(user=user, method=f"{pending.first_step}+{method}", data=dict(pending.data or {}))
    if method == RECOVERY:
        notify_security_change(user, "recovery_code_used", actor)
    db.session.commit()
    return completed


def account_of(token) -> User | None:
    """Whose sign-in a token holds, live or not (for counting tries against the account's limit)."""
    pending = _find(token)
    return db.session.get(User, pending.user_id) if pending is not None else None


def _find(token) -> PendingSignIn | None:
    if not isinstance(token, str) or not token or len(token) > 200:
        return None
    return db.session.scalar(select(PendingSignIn).where(PendingSignIn.token_hash == _token_hash(token)))


def _is_live(pending: PendingSignIn) -> bool:
    return (
        pending.used_at is None
        and pending.expires_at > utcnow()
        and pending.attempts < current_app.config["TWO_FACTOR_MAX_ATTEMPTS"]
    )


# What an account signs in with ----------------------------------------------------------------------


def sign_in_methods(user: User) -> SignInMethods:
    """The password (always), the authenticator app, the recovery codes left and the passkeys."""
    return SignInMethods(
        has_password=True,
        totp_confirmed=totp.has_confirmed_totp(user),
        recovery_codes_left=recovery_codes.codes_left(user),
        passkeys=[
            PasskeySummary(id=p.id, name=p.name, created_at=p.created_at, last_used_at=p.last_used_at)
            for p in passkeys.list_passkeys(user)
        ],
    )


# Staff reset ----------------------------------------------------------------------------------------


def reset_two_factor(user: User, actor: Actor, *, remove_passkeys: bool = False) -> None:
    """Staff (or the command line) take away the user's authenticator app and recovery codes, and
    their passkeys too when asked; pending sign-ins end. Audited, and the person is mailed."""
    acting = actor.user
    if acting is not None:
        if not acting.is_staff:
            raise PermissionDenied(STAFF_ONLY)
        if acting.id == user.id:
            raise PermissionDenied(NOT_YOURSELF)
    ensure_may_manage(actor, user)
    had_totp = totp.remove_device(user)
    codes_left = recovery_codes.codes_left(user)
    recovery_codes.void_codes(user)
    removed = passkeys.remove_all_passkeys(user, actor) if remove_passkeys else []
    end_pending_sign_ins(user)
    second_step_budget.forgive(user)  # a new app, once set up, must not start out refused
    changes = {"authenticator_app": [had_totp, False], "recovery_codes_left": [codes_left, 0]}
    if removed:
        changes["passkeys"] = [len(removed), 0]
    audit.record(actor, "two_factor_reset", user, changes)
    notify_security_change(user, "two_factor_reset", actor)
    db.session.commit()
