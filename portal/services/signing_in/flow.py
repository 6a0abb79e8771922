"""What happens after a first proof: one sign-in flow, as ordered stages, for every door (the
README's "One sign-in, every door, one commit" draws it).

A door proves who someone is first (a password, an emailed code, a passkey alone, an identity linked
at another provider: first step "provider:<key>") and hands the person to ``sign_in``; the first
stage of ``STAGES`` that applies decides what happens next. The outcome is a fact, never an answer:
the pages and the API render it and decide nothing.
"""

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar

from ...models import User
from ..audit import Actor
from ..errors import PasswordResetRequired
from . import factors, two_factor
from .linked_identities import PROVIDER_PREFIX
from .passkeys import PasskeyAssertion
from .sign_in import PASSWORD, RESET_REQUIRED
from .sign_in_codes import EMAIL_CODE
from .two_factor import PendingStep

PASSKEY = factors.PASSKEY.key  # a passkey alone: the device verified the person, two factors in one
FIRST_STEPS = (PASSWORD, EMAIL_CODE, PASSKEY)


@dataclass(frozen=True)
class SignInAttempt:
    """A sign-in on its way through the stages: whose, what it has proven so far, and the door's data."""

    user: User
    proofs: tuple[str, ...]
    door_data: dict

    @property
    def first_step(self) -> str:
        return self.proofs[0]

    @property
    def method(self) -> str:
        """How the sign-in was proven, as a credential keeps it: "password", "password+totp", …"""
        return "+".join(self.proofs)


@dataclass(frozen=True)
class SignedIn:
    """Finished: the door makes its credential for ``user``, proven by ``method``."""

    user: User
    method: str
    data: dict  # the door's own ``door_data``, back ("remember me", where to go next, what to issue)
    finished: ClassVar[bool] = True


@dataclass(frozen=True)
class Pending:
    """Not yet: the person must first get past ``stage``; ``token`` names the held sign-in."""

    stage: str
    token: str
    step: PendingStep
    finished: ClassVar[bool] = False


Outcome = SignedIn | Pending


class Stage(ABC):
    """One thing that may stand between a proof and a credential."""

    key: str

    @abstractmethod
    def applies(self, attempt: SignInAttempt) -> bool:
        """Whether this stage stands between this sign-in and its credential."""

    @abstractmethod
    def hold(self, attempt: SignInAttempt) -> Pending:
        """The sign-in waits here (or, for a stage that only refuses, an AuthenticationFailed)."""


class PasswordMustBeRenewed(Stage):
    """A secured account (``securing``) signs in with its password only once a new one is chosen."""

    key = "password_renewal"

    def applies(self, attempt):
        return attempt.first_step == PASSWORD and attempt.user.password_reset_required

    def hold(self, attempt):
        raise PasswordResetRequired(RESET_REQUIRED)


class SecondFactor(Stage):
    """An account with a second factor is asked for one, unless it was proven already (a passkey alone)."""

    key = "second_factor"

    def applies(self, attempt):
        proven = any(factors.BY_KEY[p].counts_as_factor for p in attempt.proofs if p in factors.BY_KEY)
        return not proven and factors.has_second_factor(attempt.user)

    def hold(self, attempt):
        token = two_factor.begin_sign_in(attempt.user, first_step=attempt.first_step, data=attempt.door_data)
        return Pending(stage=self.key, token=token, step=two_factor.pending_sign_in(token))


STAGES: tuple[Stage, ...] = (PasswordMustBeRenewed(), SecondFactor())


def sign_in(user: User, *, first_step: str = PASSWORD, door_data: dict | None = None) -> Outcome:
    """After ``first_step`` proved ``user``: signed in, or held by the first stage that applies.
    ``door_data``: JSON-safe values the door wants back with the outcome."""
    if first_step not in FIRST_STEPS and not first_step.startswith(PROVIDER_PREFIX):
        raise ValueError(f"Unknown first step {first_step!r}.")
    return _go_on(SignInAttempt(user=user, proofs=(first_step,), door_data=dict(door_data or {})), STAGES)


def complete_sign_in(token, actor: Actor, *, code=None, passkey: PasskeyAssertion | None = None) -> Outcome:
    """Finish the second step of a pending sign-in (``two_factor.pass_second_step``), and go on."""
    user, proofs, door_data = two_factor.pass_second_step(token, actor, code=code, passkey=passkey)
    after_it = STAGES[[stage.key for stage in STAGES].index(SecondFactor.key) + 1:]
    return _go_on(SignInAttempt(user, proofs, door_data), after_it)


def _go_on(attempt: SignInAttempt, stages) -> Outcome:
    for stage in stages:
        if stage.applies(attempt):
            return stage.hold(attempt)
    return SignedIn(user=attempt.user, method=attempt.method, data=attempt.door_data)
