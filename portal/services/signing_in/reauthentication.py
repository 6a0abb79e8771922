"""Proving again who is behind a signed-in session, before a change to how the account signs in.

Each credential keeps ``proven_at``: when its sign-in was proven, or last proven again here. A
change to the account's factors asks for a proof again when that is older than
REAUTHENTICATION_AFTER, so a stolen session left open cannot quietly add the thief's authenticator.
"""

from datetime import timedelta

from flask import current_app
from flask_babel import lazy_gettext as _l

from ...extensions import db
from ...models import Credential, utcnow
from .. import audit
from ..audit import Actor
from ..errors import ReauthenticationRequired, ValidationFailed
from ..people.accounts import verify_current_password
from ..plumbing.attempts import keep_attempts
from ..ways_in.credentials import check_usable
from . import factors, totp
from .factors import notify_security_change
from .passkeys import PasskeyAssertion

ONE_PROOF = _l("Give your password, a code from your authenticator app, or use a passkey.")
NOT_YOUR_PASSKEY = _l("This passkey does not belong to your account.")
TOO_OLD = _l("Confirm it's you: enter your password again.")


def needs_reauthentication(credential: Credential) -> bool:
    """Whether the credential's last proof is older than REAUTHENTICATION_AFTER (or unknown)."""
    after: timedelta = current_app.config["REAUTHENTICATION_AFTER"]
    return credential.proven_at is None or utcnow() - credential.proven_at > after


def ensure_recently_proven(credential: Credential, message: str = TOO_OLD) -> None:
    """ReauthenticationRequired, saying ``message``, unless the credential was proven lately."""
    if needs_reauthentication(credential):
        raise ReauthenticationRequired(message)


def reauthenticate(
    credential: Credential, actor: Actor, *, password=None, code=None, passkey: PasskeyAssertion | None = None
) -> None:
    """Stamp ``proven_at`` on a live credential once its user gives one proof: the password, a code
    or a verified passkey; else ValidationFailed, audited (the entry is kept though the request is
    refused). A good proof is kept before the change it was asked for runs: that change may still be
    refused, and the person is not asked to prove it again."""
    check_usable(credential)
    user = credential.user
    proofs = {"password": password, "code": code, "passkey": passkey}
    given = [name for name, value in proofs.items() if value is not None]
    if len(given) != 1:
        raise ValidationFailed.on("non_field_errors", ONE_PROOF)
    used = None
    try:
        if password is not None:
            verify_current_password(user, password)
        else:
            field = given[0]  # "code" or "passkey": the fields kinds' proofs come in (``factors.CODE``, …)
            attempt = factors.SecondStepTry(user=user, proof=proofs[field], actor=actor, within_budget=True)
            used = factors.kind_proven(attempt, field)
            if used is None:
                raise ValidationFailed.on(field, NOT_YOUR_PASSKEY if passkey is not None else totp.INVALID_CODE)
    except ValidationFailed:
        db.session.rollback()
        audit.record(actor, "reauthentication_failed", user, {"method": [None, given[0]]})
        keep_attempts()
        raise
    credential.proven_at = utcnow()
    if used is not None and used.used_action is not None:  # a recovery code
        notify_security_change(user, used.used_action, actor)
    keep_attempts()


def stamp(credential: Credential) -> None:
    """The person proved it again another way (signing in again at a connected provider)."""
    check_usable(credential)
    credential.proven_at = utcnow()
