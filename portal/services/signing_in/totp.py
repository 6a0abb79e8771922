"""Authenticator apps (TOTP, RFC 6238, with ``pyotp``): set up, confirm, check a code, turn off.

The shared secret (160 random bits) is sealed with ``secret_box``: never stored in the clear, never
in an export or a log. Codes are six digits, 30-second steps, HMAC-SHA1; a phone's clock may be one
step off either way.

A code works once: a code is accepted only for a later time step than the last accepted one, in one
conditional UPDATE, so two requests racing with one code cannot both pass.

A device counts only once confirmed with a code from the app, which proves the person scanned it.
Turning it off takes the password and a current code (or a recovery code): a stolen session alone
cannot remove the second step.
"""

import logging
from dataclasses import dataclass

import pyotp
import segno
from flask import current_app
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import delete, or_, select
from sqlalchemy.exc import IntegrityError

from ... import clock
from ...extensions import db
from ...models import TotpDevice, User, utcnow
from .. import audit
from ..audit import Actor
from ..errors import ValidationFailed
from ..people.accounts import verify_current_password
from ..people.fields import latin_digits
from ..plumbing.atomic import update_where
from ..plumbing.attempts import keep_attempts
from ..plumbing.secret_box import SealedValueUnreadable, open_sealed, seal
from . import factors, recovery_codes
from .factors import ensure_owner, has_second_factor, notify_security_change

log = logging.getLogger(__name__)

SEAL_PURPOSE = "totp"
DIGITS = 6
INTERVAL = 30
DRIFT_STEPS = 1
INVALID_CODE = _l("Invalid code.")
ALREADY_ON = _l("An authenticator app is already set up. Turn it off first to set up another.")
NOT_STARTED = _l("Start setting up the authenticator app again.")
NOT_ON = _l("No authenticator app is set up.")


@dataclass(frozen=True)
class TotpEnrolment:
    """What the person needs to add the account to their app: shown once, never stored in the clear."""

    secret: str  # base32, for typing into the app
    provisioning_uri: str  # otpauth://totp/…, for the QR code

    @property
    def grouped_secret(self) -> str:
        """The secret in groups of four, as people copy it: ``ABCD EFGH …``."""
        return " ".join(self.secret[i : i + 4] for i in range(0, len(self.secret), 4))


def enrol_totp(user: User, actor: Actor) -> TotpEnrolment:
    """Start setting up an authenticator app: a new secret on an unconfirmed device."""
    ensure_owner(actor, user)
    if _device(user, confirmed=True) is not None:
        raise ValidationFailed.on("non_field_errors", ALREADY_ON)
    secret = pyotp.random_base32()
    db.session.execute(delete(TotpDevice).where(TotpDevice.user_id == user.id))
    db.session.add(TotpDevice(user_id=user.id, secret_sealed=seal(secret.encode(), SEAL_PURPOSE)))
    try:
        db.session.flush()
    except IntegrityError:  # another set-up of the same account got there first (two tabs)
        db.session.rollback()
        raise ValidationFailed.on("non_field_errors", NOT_STARTED) from None
    return _enrolment(user, secret)


def current_enrolment(user: User) -> TotpEnrolment | None:
    """The set-up still waiting for its first code (to show the QR code again), or None."""
    device = _device(user, confirmed=False)
    secret = _secret(device) if device is not None else None
    return _enrolment(user, secret) if secret is not None else None


def _enrolment(user: User, secret: str) -> TotpEnrolment:
    uri = _totp(secret).provisioning_uri(name=user.email, issuer_name=current_app.config["TOTP_ISSUER"])
    return TotpEnrolment(secret=secret, provisioning_uri=uri)


def qr_code_svg(provisioning_uri: str) -> str:
    """The provisioning URI as an inline ``<svg>`` without ``style``, so a strict CSP holds."""
    qr = segno.make(provisioning_uri, error="m", micro=False)
    title = _("QR code for your authenticator app")
    return qr.svg_inline(scale=4, dark="#000", light="#fff", title=title, svgclass="qr-code", lineclass=None)


def confirm_totp(user: User, code, actor: Actor) -> list[str] | None:
    """Turn the app on with a current code from it: the account's first recovery codes, if it had none."""
    ensure_owner(actor, user)
    device = _device(user, confirmed=False)
    if device is None:
        raise ValidationFailed.on("code", NOT_STARTED)
    if not _spend_code(device, code):
        raise ValidationFailed.on("code", INVALID_CODE)
    device.confirmed_at = utcnow()
    audit.record(actor, "totp_enabled", user)
    codes = recovery_codes.codes_for_a_new_factor(user, actor)
    notify_security_change(user, "totp_enabled", actor)
    return codes


def disable_totp(user: User, current_password, code, actor: Actor) -> None:
    """Turn the app off, with the password and a current code from the app or a recovery code; the
    recovery codes go with the last factor (they would stand in for nothing)."""
    ensure_owner(actor, user)
    verify_current_password(user, current_password)
    device = _device(user, confirmed=True)
    if device is None:
        raise ValidationFailed.on("non_field_errors", NOT_ON)
    used = factors.kind_proven(factors.SecondStepTry(user, code, actor, within_budget=True), factors.CODE)
    if used is None:
        audit.record(actor, "second_factor_failed", user, {"method": [None, "totp"]})
        keep_attempts()  # the wrong try's record stands though the answer is an error
        raise ValidationFailed.on("code", INVALID_CODE)
    db.session.delete(device)
    db.session.flush()
    if not has_second_factor(user):
        recovery_codes.void_codes(user)
    audit.record(actor, "totp_disabled", user)
    if used.used_action is not None:  # a recovery code
        notify_security_change(user, used.used_action, actor)
    notify_security_change(user, "totp_disabled", actor)


def accept_code(user: User, code) -> bool:
    """Whether ``code`` is a current, never accepted code of the user's app; from now on it is spent."""
    device = _device(user, confirmed=True)
    return device is not None and _spend_code(device, code)


def _device(user: User, *, confirmed: bool) -> TotpDevice | None:
    query = select(TotpDevice).where(TotpDevice.user_id == user.id)
    state = TotpDevice.confirmed_at.is_not(None) if confirmed else TotpDevice.confirmed_at.is_(None)
    return db.session.scalar(query.where(state))


def _secret(device: TotpDevice) -> str | None:
    """The device's secret, or None when it cannot be opened (SECRET_KEY was changed since): the
    app then accepts no code, and the person signs in with a recovery code or a passkey."""
    try:
        return open_sealed(device.secret_sealed, SEAL_PURPOSE).decode()
    except SealedValueUnreadable:
        log.error("The authenticator-app secret of user %s cannot be opened with this SECRET_KEY.", device.user_id)
        return None


def _totp(secret: str) -> pyotp.TOTP:
    return pyotp.TOTP(secret, digits=DIGITS, interval=INTERVAL)


def _matching_step(secret: str, code) -> int | None:
    """The time step (within the allowed drift) whose code ``code`` is, or None."""
    if not isinstance(code, str):
        return None
    code = "".join(latin_digits(code).split())  # apps show "123 456"; a Persian keyboard types ۱۲۳
    if len(code) != DIGITS or not code.isdigit():
        return None
    # Aware: pyotp reads a naive datetime as local time.
    try:
        return _totp(secret).verify_and_get_timecode(code, for_time=clock.now(), valid_window=DRIFT_STEPS)
    except pyotp.exceptions.OTPVerificationError:
        return None


def _spend_code(device: TotpDevice, code) -> bool:
    """Accept ``code`` when its step is later than the last accepted one (one conditional UPDATE)."""
    secret = _secret(device)
    step = _matching_step(secret, code) if secret is not None else None
    if step is None:
        return False
    return update_where(
        TotpDevice,
        TotpDevice.id == device.id, or_(TotpDevice.last_used_step.is_(None), TotpDevice.last_used_step < step),
        last_used_step=step,
    )
