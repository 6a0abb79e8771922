"""Everything the portal holds about one account, as JSON-ready data: the "download my data" right.

Secrets never leave: no password hash, no key hash, no refresh-token id, no code, no authenticator
secret, no recovery code or its hash; second factors and passkeys appear by name and dates only.
"""

from datetime import datetime

from sqlalchemy import select

from ...extensions import db
from ...models import (
    AuditEvent,
    Credential,
    LinkedIdentity,
    Passkey,
    RecoveryCode,
    SignInAlert,
    SignInSource,
    TotpDevice,
    User,
    iso_utc,
    utcnow,
)
from ..audit import actor_role, jsonable
from .fields import EXPORTED_FIELDS

CREDENTIAL_ATTRIBUTES = (
    "kind", "public_id", "name", "created_at", "expires_at", "revoked_at", "last_used_at",
    "created_ip", "last_ip", "user_agent", "method", "proven_at",
)
PASSKEY_ATTRIBUTES = ("name", "created_at", "last_used_at", "backed_up")
EVENT_ATTRIBUTES = ("created_at", "action", "changes", "ip", "via")
LINKED_ATTRIBUTES = ("provider", "provider_name", "issuer", "subject", "email", "linked_at", "last_used_at")
SOURCE_ATTRIBUTES = ("kind", "value", "first_seen_at", "last_seen_at")
ALERT_ATTRIBUTES = ("created_at", "kind", "credential_kind", "browser", "system", "ip", "method", "used_at")


def account_export(user: User) -> dict:
    """The profile, groups, every credential ever issued (without secrets), where the account signed
    in from and the mails about it, and the whole audit history."""
    credentials = db.session.scalars(
        select(Credential).where(Credential.user_id == user.id).order_by(Credential.created_at, Credential.id)
    )
    events = db.session.scalars(
        select(AuditEvent).where(AuditEvent.subject_id == user.id).order_by(AuditEvent.created_at, AuditEvent.id)
    )
    return {
        "exported_at": _plain(utcnow()),
        "profile": _pick(user, EXPORTED_FIELDS),  # every field of the registry, in its data order
        "groups": [_pick(group, ("id", "name", "notes")) for group in user.groups],
        "credentials": [_pick(credential, CREDENTIAL_ATTRIBUTES) for credential in credentials],
        "second_factors": _second_factors(user),
        "connected_accounts": [_pick(linked, LINKED_ATTRIBUTES) for linked in db.session.scalars(
            select(LinkedIdentity).where(LinkedIdentity.user_id == user.id).order_by(LinkedIdentity.linked_at)
        )],
        "sign_in_sources": [_pick(source, SOURCE_ATTRIBUTES) for source in db.session.scalars(
            select(SignInSource)
            .where(SignInSource.user_id == user.id)
            .order_by(SignInSource.first_seen_at, SignInSource.id)
        )],
        "sign_in_alerts": [_pick(alert, ALERT_ATTRIBUTES) for alert in db.session.scalars(
            select(SignInAlert).where(SignInAlert.user_id == user.id).order_by(SignInAlert.created_at, SignInAlert.id)
        )],
        "activity": [
            _pick(event, EVENT_ATTRIBUTES) | {"by": actor_role(event)} for event in events
        ],
    }


def _second_factors(user: User) -> dict:
    """The authenticator app and recovery codes by their dates, and the passkeys by name and dates."""
    device = db.session.scalar(select(TotpDevice).where(TotpDevice.user_id == user.id))
    codes = db.session.scalars(select(RecoveryCode).where(RecoveryCode.user_id == user.id)).all()
    passkeys = db.session.scalars(
        select(Passkey).where(Passkey.user_id == user.id).order_by(Passkey.created_at, Passkey.id)
    )
    return {
        "authenticator_app": _pick(device, ("created_at", "confirmed_at")) if device is not None else None,
        "recovery_codes": {
            "created_at": _plain(min(code.created_at for code in codes)),
            "unused": sum(code.used_at is None for code in codes),
            "used": sum(code.used_at is not None for code in codes),
        } if codes else None,
        "passkeys": [_pick(passkey, PASSKEY_ATTRIBUTES) for passkey in passkeys],
    }


def _pick(obj, attributes) -> dict:
    return {attribute: _plain(getattr(obj, attribute)) for attribute in attributes}


def _plain(value):
    return iso_utc(value) if isinstance(value, datetime) else jsonable(value)
