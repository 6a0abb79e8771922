"""Helpers for tests of two-step sign-in and passkeys, for the services now and the API and pages later.

The authenticator app's clock is the portal's one clock: tests take the ``clock`` fixture
(``tests.conftest.ManualClock``), which stands still until moved and gives the app's code at its
time (``clock.code(secret)``), so a code "from the previous step" is exactly that, whatever second
the test runs at.
"""

from contextlib import contextmanager
from dataclasses import dataclass

from portal.extensions import db
from portal.models import User
from portal.services.audit import Actor
from portal.services.plumbing.background import wait_for_background
from portal.services.signing_in import passkeys, totp
from portal.transactions import unit_of_work

from .webauthn_authenticator import ORIGIN, RP_ID, SoftwareAuthenticator

BINDING = "nonce-held-by-this-browser"
IP = "203.0.113.7"


@contextmanager
def door(app):
    """An app context that ends as a request does (``portal.transactions.unit_of_work``): what the
    block wrote is committed when it finishes, and rolled back when it raises — all but the tries a
    service kept on its own (``attempts.keep_attempts``), which is what a test of a refused try looks at."""
    with app.app_context(), unit_of_work():
        db.session().expire_on_commit = False  # what the block returns stays readable, as it was
        yield


def user_of(account) -> User:
    """The account's model, in the current app context."""
    return db.session.get(User, account.id)


def actor_for(account, via: str = "web") -> Actor:
    """The account acting for itself through a door (in the current app context)."""
    return Actor(user=user_of(account), ip=IP, via=via)


def set_up_totp(app, account, clock) -> tuple[str, list[str] | None]:
    """Enrol and confirm an authenticator app for the account: its secret and the recovery codes shown.

    The confirming code spends the current step: the clock moves on one step, so the next code works.
    Mail a live server's last request queued is delivered first: on in-memory SQLite the courier's
    thread shares the one connection, and its statements must not interleave with these.
    """
    wait_for_background()
    with door(app):
        enrolment = totp.enrol_totp(user_of(account), actor_for(account))
        codes = totp.confirm_totp(user_of(account), clock.code(enrolment.secret), actor_for(account))
    clock.advance(30)
    return enrolment.secret, codes


@dataclass
class AddedPasskey:
    id: int
    recovery_codes: list[str] | None


def add_passkey(
    app, account, authenticator: SoftwareAuthenticator, *, name="My phone", binding=BINDING
) -> AddedPasskey:
    """Register a passkey of ``authenticator`` for the account: its id and the recovery codes shown."""
    with door(app):
        options = passkeys.registration_options(user_of(account), rp_id=RP_ID, binding=binding,
                                                actor=actor_for(account))
        response = authenticator.create(options)
        added = passkeys.register_passkey(
            user_of(account), response, rp_id=RP_ID, origin=ORIGIN, binding=binding, name=name,
            actor=actor_for(account),
        )
        return AddedPasskey(added.passkey.id, added.recovery_codes)


def passkey_sign_in(app, authenticator: SoftwareAuthenticator, *, account=None, binding=BINDING, **tamper):
    """Ask for authentication options (for ``account``, or for a passkey alone), answer them with
    ``authenticator`` (``tamper``: what to get wrong) and verify: the ``PasskeyAssertion``, its user
    loaded (committed as a door would, for the caller to use after)."""
    with door(app):
        user = user_of(account) if account is not None else None
        options = passkeys.authentication_options(rp_id=RP_ID, binding=binding, user=user)
        response = authenticator.get(options, **tamper)
        assertion = passkeys.verify_passkey(response, rp_id=RP_ID, origin=ORIGIN, binding=binding, actor=Actor(ip=IP))
        db.session.commit()
        db.session.refresh(assertion.user)
        return assertion
