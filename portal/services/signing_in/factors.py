"""The kinds of second factor, each declared once in ``KINDS`` (its store in ``totp``,
``recovery_codes`` or ``passkeys``), which listing, the second step, the staff reset and the API's
``methods`` iterate; and what the kinds share: who may change them, the staff rule of
STAFF_REQUIRE_TWO_FACTOR, and the mail that tells a person how they sign in has changed.

Recovery codes are a way round a lost factor, not a factor: alone they ask for nothing.
"""

from abc import ABC, abstractmethod
from dataclasses import dataclass, field

from flask import current_app
from flask_babel import LazyString
from flask_babel import lazy_gettext as _l
from sqlalchemy import ColumnElement, delete, exists, false, or_, select

from ...extensions import db
from ...models import Passkey, RecoveryCode, TotpDevice, User, utcnow
from ...urls import public_url
from .. import audit
from ..audit import Actor
from ..errors import PermissionDenied, SecondFactorRequired
from ..mail import outbox
from . import second_step_budget

# A kind's store is imported in the kind's methods: the stores import this module for the rules below.

OWN_ACCOUNT_ONLY = _l("Only the account's owner sets up how they sign in.")
STAFF_FACTOR_REQUIRED = _l(
    "Staff must set up a second factor (an authenticator app or a passkey) before acting on other people's accounts."
)
CODE, PASSKEY_ANSWER = "code", "passkey"  # the field a proof of a kind comes in, at the second step


@dataclass(frozen=True)
class SecondStepTry:
    """One try at a factor, as a kind's ``verify`` sees it: the proof is a typed code or a verified
    ``passkeys.PasskeyAssertion``; ``within_budget``: of the account's wrong second steps."""

    user: User
    proof: object
    actor: Actor
    within_budget: bool


@dataclass(frozen=True)
class Listed:
    """A kind as the Security page and the staff's view of an account list it."""

    set_up: bool
    left: int | None = None  # for codes: how many are unused
    items: list = field(default_factory=list)  # for passkeys: each one


class FactorKind(ABC):
    """One kind of second factor: the class attributes declare it; the methods ask its store."""

    key: str  # "totp": the API's ``methods`` name, and a credential's method part ("password+totp")
    label: LazyString  # how people read it, in a credential's method ("password and app code")
    proof: str  # the field its proof comes in at the second step: CODE or PASSKEY_ANSWER
    counts_as_factor: bool = True  # False: a way round a lost factor, which alone asks for nothing
    kept_by_reset: bool = False  # True: a staff reset removes it only when asked to
    reset_change: str  # its key in the audit changes of a staff reset ("authenticator_app")
    used_action: str | None = None  # audited by its store and mailed when it finishes a sign-in
    refused: LazyString | None = None  # why it is set up but not offered, said before a try

    @abstractmethod
    def set_up_clause(self, user_id: int) -> ColumnElement[bool]:
        """SQL true when the account has this kind set up (so several kinds are one query)."""

    def is_set_up(self, user: User) -> bool:
        return bool(db.session.scalar(select(self.set_up_clause(user.id))))

    def is_offered(self, user: User) -> bool:
        """Whether the second step takes it for the account now."""
        return self.is_set_up(user)

    def listed(self, user: User) -> Listed:
        return Listed(self.is_set_up(user))

    @abstractmethod
    def verify(self, attempt: SecondStepTry) -> bool:
        """Whether the proof is a right one of this kind for the account; a code is spent by it."""

    @abstractmethod
    def reset(self, user: User, actor: Actor) -> list | None:
        """Remove it from the account (a staff reset): ``[before, after]`` for the audit, or None
        when there is nothing to tell."""

    def __repr__(self) -> str:
        return f"<FactorKind {self.key}>"


class AuthenticatorApp(FactorKind):
    key, label, proof = "totp", _l("app code"), CODE
    reset_change = "authenticator_app"
    refused = second_step_budget.APP_CODES_REFUSED

    def set_up_clause(self, user_id):
        return exists().where(TotpDevice.user_id == user_id, TotpDevice.confirmed_at.is_not(None))

    def is_offered(self, user):
        return self.is_set_up(user) and second_step_budget.within_budget(user)

    def verify(self, attempt):
        from . import totp

        # Past the budget the six digits are not even compared: they could be guessed.
        return attempt.within_budget and totp.accept_code(attempt.user, attempt.proof)

    def reset(self, user, actor):
        removed = db.session.execute(delete(TotpDevice).where(TotpDevice.user_id == user.id)).rowcount > 0
        return [removed, False]  # confirmed or not


class RecoveryCodes(FactorKind):
    key, label, proof = "recovery", _l("recovery code"), CODE
    counts_as_factor = False
    reset_change = "recovery_codes_left"
    used_action = "recovery_code_used"

    def set_up_clause(self, user_id):
        return exists().where(RecoveryCode.user_id == user_id, RecoveryCode.used_at.is_(None))

    def listed(self, user):
        from . import recovery_codes

        left = recovery_codes.codes_left(user)
        return Listed(left > 0, left=left)

    def verify(self, attempt):
        from . import recovery_codes

        return recovery_codes.spend_code(attempt.user, attempt.proof, attempt.actor)

    def reset(self, user, actor):
        from . import recovery_codes

        left = recovery_codes.codes_left(user)
        recovery_codes.void_codes(user)
        return [left, 0]


class Passkeys(FactorKind):
    key, label, proof = "passkey", _l("passkey"), PASSKEY_ANSWER
    kept_by_reset = True  # it lives on a device the person may still have, and is a way in of its own
    reset_change = "passkeys"

    def set_up_clause(self, user_id):
        return exists().where(Passkey.user_id == user_id)

    def listed(self, user):
        from . import passkeys

        items = passkeys.list_passkeys(user)
        return Listed(bool(items), items=items)

    def verify(self, attempt):
        # The signature was checked by ``passkeys.verify_passkey``; here only whose passkey it is.
        return attempt.proof.user_id == attempt.user.id

    def reset(self, user, actor):
        from . import passkeys

        removed = passkeys.list_passkeys(user)
        for passkey in removed:
            audit.record(actor, "passkey_removed", user, {"passkey": [passkey.name, None]})
        db.session.execute(delete(Passkey).where(Passkey.user_id == user.id))
        return [len(removed), 0] if removed else None


TOTP, RECOVERY, PASSKEY = AuthenticatorApp(), RecoveryCodes(), Passkeys()
# Every kind, in the order the second step tries a code against them and lists them.
KINDS: tuple[FactorKind, ...] = (TOTP, RECOVERY, PASSKEY)
BY_KEY = {kind.key: kind for kind in KINDS}


def has_second_factor(user: User) -> bool:
    """Whether signing in to the account takes a second step: a kind that counts is set up."""
    counting = [kind.set_up_clause(user.id) for kind in KINDS if kind.counts_as_factor]
    return bool(db.session.scalar(select(or_(false(), *counting))))


def kind_proven(attempt: SecondStepTry, proof_field: str) -> FactorKind | None:
    """The first kind, in ``KINDS`` order, whose proof comes in ``proof_field`` and accepts the attempt's."""
    return next((kind for kind in KINDS if kind.proof == proof_field and kind.verify(attempt)), None)


def listed(user: User) -> dict[str, Listed]:
    """Each kind as it lists itself, by key: how the account signs in, for the Security page and staff."""
    return {kind.key: kind.listed(user) for kind in KINDS}


def lacks_required_staff_factor(user: User) -> bool:
    """Whether ``user`` (staff) may not act on other people's accounts yet: STAFF_REQUIRE_TWO_FACTOR is
    on and they have no second factor (staff accounts open every other account, so a password alone
    is not enough). Asked on every such request, not once at sign-in: a factor removed later must
    stop them at once."""
    return bool(current_app.config["STAFF_REQUIRE_TWO_FACTOR"]) and not has_second_factor(user)


def ensure_staff_factor(user: User) -> None:
    """PermissionDenied, saying what to do, when ``lacks_required_staff_factor``."""
    if lacks_required_staff_factor(user):
        raise SecondFactorRequired(STAFF_FACTOR_REQUIRED)


def ensure_owner(actor: Actor, user: User) -> None:
    """PermissionDenied unless the actor is the account's owner: a factor is set up by the person who
    will carry it, never for them (staff can only take factors away: ``two_factor.reset_two_factor``)."""
    if actor.user is None or actor.user.id != user.id:
        raise PermissionDenied(OWN_ACCOUNT_ONLY)


def notify_security_change(user: User, what: str, actor: Actor, *, detail: str | None = None) -> None:
    """Mail the person that how their account signs in changed: ``what`` is the audit action,
    ``detail`` an optional name (a passkey's). Never a secret."""
    by_staff = actor.user is not None and actor.user.id != user.id
    outbox.queue_mail(
        user, "security_changed",
        name=user.full_name, what=what, detail=detail, by_staff=by_staff, when=utcnow().isoformat(),
        reset_url=public_url("/password/forgot", actor.origin),
    )
