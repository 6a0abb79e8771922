"""The pending second step of a sign-in, and the staff reset.

A sign-in whose first step passed is held under a random token (only its hash is stored) for
TWO_FACTOR_PENDING_TTL. Each try at the second step is counted before the proof is compared, in one
conditional UPDATE, so guesses sent in parallel cannot get more than TWO_FACTOR_MAX_ATTEMPTS
comparisons between them; each also counts against the account's budget (``second_step_budget``).
The staff reset is for the person who lost their phone, on other people's accounts only.
"""

import hashlib
import secrets
from dataclasses import dataclass
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
from ..plumbing.attempts import keep_attempts
from ..ways_in.credentials import end_pending_sign_ins
from . import factors, second_step_budget, totp
from .factors import KINDS, notify_security_change
from .passkeys import PasskeyAssertion

PASSKEY_REFUSED = _l("This passkey does not belong to the account signing in.")
EXPIRED = _l("This sign-in has expired. Sign in again.")
STAFF_ONLY = _l("Only staff reset another person's two-step sign-in.")


@dataclass(frozen=True)
class PendingStep:
    """A live pending sign-in, as the second-step page or answer shows it."""

    user: User
    first_step: str
    data: dict
    attempts_left: int
    expires_at: datetime
    set_up: tuple[str, ...]  # the keys of the kinds the account has set up, in ``factors.KINDS`` order
    offered: tuple[str, ...]  # of those, the ones the step takes now: the API's ``methods``

    @property
    def refusals(self) -> list:
        """Why a kind that is set up is not taken now (the app's codes past the budget), to say first."""
        return [kind.refused for kind in KINDS if kind.key in self.set_up and kind.key not in self.offered
                and kind.refused is not None]


# The pending second step ---------------------------------------------------------------------------


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def begin_sign_in(user: User, *, first_step: str = "password", data: dict | None = None) -> str:
    """Hold a sign-in whose first step passed until its second step: the token for the client."""
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
    db.session.flush()
    return token


def pending_sign_in(token) -> PendingStep | None:
    """The live pending sign-in a token names (not expired, used or out of tries), or None."""
    pending = _find(token, *_live(utcnow()))
    if pending is None:
        return None
    user = db.session.get(User, pending.user_id)
    return PendingStep(
        user=user,
        first_step=pending.first_step,
        data=dict(pending.data or {}),
        attempts_left=current_app.config["TWO_FACTOR_MAX_ATTEMPTS"] - pending.attempts,
        expires_at=pending.expires_at,
        set_up=tuple(kind.key for kind in KINDS if kind.is_set_up(user)),
        offered=tuple(kind.key for kind in KINDS if kind.is_offered(user)),
    )


def pass_second_step(token, actor: Actor, *, code=None, passkey: PasskeyAssertion | None = None) -> tuple:
    """Check a code or a verified passkey against each kind whose proof it is: the account, its proofs
    (``("password", "totp")``) and what ``begin_sign_in`` was given. ValidationFailed on ``code`` (or
    ``passkey``) for a wrong one, which spends a try; SignInExpired when the pending sign-in is over."""
    proof_field, proof = (factors.PASSKEY_ANSWER, passkey) if passkey is not None else (factors.CODE, code)
    pending = _find(token)
    now = utcnow()
    # Spend a try before comparing, in one conditional UPDATE (see the module's docstring).
    try_granted = pending is not None and update_where(
        PendingSignIn,
        PendingSignIn.id == pending.id,
        *_live(now),
        attempts=PendingSignIn.attempts + 1,
    )
    user = db.session.get(User, pending.user_id) if try_granted else None
    usable = user is not None and user.is_active and user.activated_at is not None
    if user is not None and not usable:
        end_pending_sign_ins(user)
    # The account's budget, taken before comparing too; spent, it bars only the app's six digits.
    within_budget = usable and second_step_budget.take_a_try(user)
    keep_attempts()  # both tries count whatever follows
    if not usable:
        raise SignInExpired(EXPIRED)

    attempt = factors.SecondStepTry(user=user, proof=proof, actor=actor, within_budget=within_budget)
    kind = factors.kind_proven(attempt, proof_field)
    if kind is None:
        audit.record(actor, "second_factor_failed", user, {"method": [None, proof_field]})
        second_step_budget.failed(user, actor)
        keep_attempts()  # the wrong try's record, and the warning mail, stand though the answer is an error
        if passkey is not None:
            raise ValidationFailed.on(proof_field, PASSKEY_REFUSED)
        raise ValidationFailed.on(
            proof_field, totp.INVALID_CODE if within_budget else second_step_budget.APP_CODES_REFUSED
        )

    finished = update_where(PendingSignIn, PendingSignIn.id == pending.id, PendingSignIn.used_at.is_(None), used_at=now)
    if not finished:
        raise SignInExpired(EXPIRED)  # the door's roll-back un-spends the code: nobody was signed in
    second_step_budget.forgive(user)
    if kind.used_action is not None:
        notify_security_change(user, kind.used_action, actor)
    return user, (pending.first_step, kind.key), dict(pending.data or {})


def account_of(token) -> User | None:
    """Whose sign-in a token holds, live or not (for counting tries against the account's limit)."""
    pending = _find(token)
    return db.session.get(User, pending.user_id) if pending is not None else None


def _find(token, *conditions) -> PendingSignIn | None:
    if not isinstance(token, str) or not token or len(token) > 200:
        return None
    return db.session.scalar(select(PendingSignIn).where(PendingSignIn.token_hash == _token_hash(token), *conditions))


def _live(now) -> tuple:
    """A pending sign-in that is not used, expired or out of tries, in SQL."""
    max_attempts = current_app.config["TWO_FACTOR_MAX_ATTEMPTS"]
    return PendingSignIn.used_at.is_(None), PendingSignIn.expires_at > now, PendingSignIn.attempts < max_attempts


# Staff reset ----------------------------------------------------------------------------------------


def reset_two_factor(user: User, actor: Actor, *, remove_passkeys: bool = False) -> None:
    """Staff take away every kind a reset removes (passkeys too when asked); audited and mailed."""
    acting = actor.user
    if acting is not None:
        if not acting.is_staff:
            raise PermissionDenied(STAFF_ONLY)
        if acting.id == user.id:
            raise PermissionDenied(NOT_YOURSELF)
    ensure_may_manage(actor, user)
    changes = {}
    for kind in KINDS:
        if kind.kept_by_reset and not remove_passkeys:
            continue
        change = kind.reset(user, actor)
        if change is not None:
            changes[kind.reset_change] = change
    end_pending_sign_ins(user)
    second_step_budget.forgive(user)  # a new app, once set up, must not start out refused
    audit.record(actor, "two_factor_reset", user, changes)
    notify_security_change(user, "two_factor_reset", actor)
