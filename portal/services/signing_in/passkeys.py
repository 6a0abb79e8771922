"""Passkeys (WebAuthn, with py_webauthn): registering, signing in, naming, listing and removing them.

The views pass the relying-party id, the expected origin, and a *binding*: a random value the asking
client keeps (a nonce in the browser's session, or an API client's ``mfa_token``).

A challenge is stored as a SHA-256, with a hash of the binding: it is answered once, within
WEBAUTHN_CHALLENGE_TTL, by the client that asked for it (found by the challenge the authenticator
signed, so a browser may have several ceremonies open).

Registration asks for a discoverable credential and accepts "none" attestation (the portal trusts
no vendor list). Sign-in with a passkey alone demands user verification (a PIN or biometric on the
device), so it is two factors in one; a passkey as a second step does not need it.

A signature counter that goes backwards (when either side is non-zero) means a copied
authenticator: the sign-in is refused, audited and mailed.
"""

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from flask import current_app
from flask_babel import LazyString
from flask_babel import lazy_gettext as _l
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import (
    options_to_json_dict,
    parse_authentication_credential_json,
    parse_client_data_json,
    parse_registration_credential_json,
)
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import (
    AttestationConveyancePreference,
    AuthenticatorSelectionCriteria,
    AuthenticatorTransport,
    CredentialDeviceType,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from ...extensions import db
from ...models import Passkey, User, WebAuthnChallenge, utcnow
from .. import audit
from ..audit import Actor
from ..errors import AuthenticationFailed, NotFound, ValidationFailed
from ..people.accounts import ensure_may_manage
from ..people.fields import FieldError, clean_text, digits
from ..plumbing.atomic import update_where
from ..plumbing.attempts import keep_attempts
from . import recovery_codes, second_step_budget
from .factors import ensure_owner, has_second_factor, notify_security_change
from .sign_in import BAD_CREDENTIALS

REGISTER, AUTHENTICATE = "register", "authenticate"
USER_HANDLE_BYTES = 32
MAX_PASSKEYS = 20
NAME_MAX_LENGTH = 100
DEFAULT_NAME = _l("Passkey")  # the name of a passkey given none, in the language of the page that added it

REGISTRATION_FAILED = _l("The passkey could not be added. Try again.")
ALREADY_REGISTERED = _l("This passkey is already registered.")
TOO_MANY = _l(
    "An account can have at most %(count)s passkeys. Remove one first.", count=LazyString(digits, MAX_PASSKEYS)
)
SIGN_IN_FAILED = _l("The passkey was not accepted. Try again.")
NO_PASSKEYS = _l("No passkey is registered for this account.")
NOT_FOUND = "No such passkey."


@dataclass(frozen=True)
class PasskeyAssertion:
    """A verified passkey sign-in: whose passkey, which one, and whether the device verified the person."""

    user_id: int
    user: User
    passkey_id: int
    user_verified: bool


@dataclass(frozen=True)
class PasskeyAdded:
    passkey: Passkey
    recovery_codes: list[str] | None  # the account's first recovery codes, shown once; None when it had some


# Registration ------------------------------------------------------------------------------------


def registration_options(user: User, *, rp_id: str, binding: str, actor: Actor) -> dict:
    """The options for ``navigator.credentials.create()``, JSON-ready; the challenge is stored."""
    ensure_owner(actor, user)
    existing = list_passkeys(user)
    if len(existing) >= MAX_PASSKEYS:
        raise ValidationFailed.on("passkey", TOO_MANY)
    # One user handle per account, so an authenticator replaces its passkey for the account
    # instead of keeping two; random, so it says nothing about the account.
    user_handle = existing[0].user_handle if existing else secrets.token_bytes(USER_HANDLE_BYTES)
    options = generate_registration_options(
        rp_id=rp_id,
        rp_name=current_app.config["WEBAUTHN_RP_NAME"],
        user_name=user.email,
        user_id=user_handle,
        user_display_name=user.display_name,
        timeout=_timeout_ms(),
        attestation=AttestationConveyancePreference.NONE,
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.REQUIRED,
            user_verification=UserVerificationRequirement.PREFERRED,
        ),
        exclude_credentials=[_descriptor(passkey) for passkey in existing],
    )
    _store_challenge(options.challenge, REGISTER, binding, user_id=user.id, user_handle=user_handle)
    return options_to_json_dict(options)


def register_passkey(
    user: User, response, *, rp_id: str, origin: str, binding: str, name, actor: Actor
) -> PasskeyAdded:
    """Verify the browser's answer to ``registration_options`` and keep the new passkey under ``name``."""
    ensure_owner(actor, user)
    name = _clean_name(name)
    try:
        credential = parse_registration_credential_json(response)
    except (WebAuthnException, ValueError, TypeError):
        raise ValidationFailed.on("passkey", REGISTRATION_FAILED) from None
    challenge = _consume_challenge(credential.response.client_data_json, REGISTER, binding, user_id=user.id)
    keep_attempts()  # the challenge stays used, whatever the answer turns out to be
    try:
        if challenge is None:
            raise ValueError("no live challenge")
        verified = _verify_answer(verify_registration_response, credential, rp_id=rp_id, origin=origin)
    except (WebAuthnException, ValueError, TypeError):
        raise ValidationFailed.on("passkey", REGISTRATION_FAILED) from None
    if db.session.scalar(select(Passkey.id).where(Passkey.credential_id == verified.credential_id)) is not None:
        raise ValidationFailed.on("passkey", ALREADY_REGISTERED)
    passkey = Passkey(
        user_id=user.id,
        credential_id=verified.credential_id,
        public_key=verified.credential_public_key,
        sign_count=verified.sign_count,
        user_handle=challenge.user_handle,
        name=name,
        transports=[transport.value for transport in credential.response.transports or []],
        aaguid=verified.aaguid,
        backup_eligible=verified.credential_device_type == CredentialDeviceType.MULTI_DEVICE,
        backed_up=verified.credential_backed_up,
    )
    db.session.add(passkey)
    audit.record(actor, "passkey_added", user, {"passkey": [None, name]})
    codes = recovery_codes.codes_for_a_new_factor(user, actor)
    notify_security_change(user, "passkey_added", actor, detail=name)
    try:
        db.session.flush()
    except IntegrityError:  # the same authenticator registered twice at once
        db.session.rollback()
        raise ValidationFailed.on("passkey", ALREADY_REGISTERED) from None
    return PasskeyAdded(passkey=passkey, recovery_codes=codes)


# Signing in --------------------------------------------------------------------------------------


def authentication_options(*, rp_id: str, binding: str, user: User | None = None) -> dict:
    """The options for ``navigator.credentials.get()``, JSON-ready: for a known user (a second step,
    re-authentication) only their passkeys; without one (a passkey alone), any the browser holds."""
    allowed = []
    if user is not None:
        allowed = [_descriptor(passkey) for passkey in list_passkeys(user)]
        if not allowed:
            raise ValidationFailed.on("passkey", NO_PASSKEYS)
    options = generate_authentication_options(
        rp_id=rp_id,
        timeout=_timeout_ms(),
        allow_credentials=allowed,
        user_verification=UserVerificationRequirement.PREFERRED,
    )
    _store_challenge(options.challenge, AUTHENTICATE, binding, user_id=user.id if user is not None else None)
    return options_to_json_dict(options)


def verify_passkey(response, *, rp_id: str, origin: str, binding: str, actor: Actor) -> PasskeyAssertion:
    """Whose passkey signed the live challenge this client asked for; the challenge is spent either way."""
    try:
        credential = parse_authentication_credential_json(response)
    except (WebAuthnException, ValueError, TypeError):
        raise AuthenticationFailed(SIGN_IN_FAILED) from None
    challenge = _consume_challenge(credential.response.client_data_json, AUTHENTICATE, binding)
    keep_attempts()  # the challenge is spent, whatever the answer turns out to be
    passkey = db.session.scalar(select(Passkey).where(Passkey.credential_id == credential.raw_id))
    expected_user = challenge.user_id if challenge is not None else None
    refused = (
        challenge is None
        or passkey is None
        or (expected_user is not None and passkey.user_id != expected_user)
        or (credential.response.user_handle is not None and credential.response.user_handle != passkey.user_handle)
    )
    try:
        if refused:
            raise ValueError("not a live challenge of this client, or not a passkey it may use")
        verified = _verify_answer(
            verify_authentication_response,
            credential,
            rp_id=rp_id,
            origin=origin,
            credential_public_key=passkey.public_key,
            # The counter is compared below instead, after the signature is known to be good: the
            # library would refuse a low counter before checking the signature, so anyone could
            # make a passkey look copied; here only a signed assertion can, and it is audited.
            credential_current_sign_count=0,
            # A passkey alone is the whole sign-in: the device must have verified the person.
            require_user_verification=expected_user is None,
        )
    except (WebAuthnException, ValueError, TypeError):
        subject_id = expected_user or (passkey.user_id if passkey is not None else None)
        if subject_id is not None:
            audit.record(actor, "second_factor_failed", db.session.get(User, subject_id), {"method": [None, "passkey"]})
            keep_attempts()  # the refusal's record stands though the answer is an error
        raise AuthenticationFailed(SIGN_IN_FAILED) from None
    user = db.session.get(User, passkey.user_id)
    if not user.is_active or user.activated_at is None:
        raise AuthenticationFailed(BAD_CREDENTIALS)
    if not _advance_counter(passkey, verified):
        audit.record(
            actor, "passkey_counter_regressed", user,
            {"passkey": [passkey.name, passkey.name], "sign_count": [passkey.sign_count, verified.new_sign_count]},
        )
        notify_security_change(user, "passkey_counter_regressed", actor, detail=passkey.name)
        keep_attempts()  # the record and the mail of a copied passkey stand though the answer is an error
        raise AuthenticationFailed(SIGN_IN_FAILED)
    second_step_budget.forgive(user)  # a passkey cannot be guessed: the person is here
    return PasskeyAssertion(user_id=user.id, user=user, passkey_id=passkey.id, user_verified=verified.user_verified)


def _advance_counter(passkey: Passkey, verified) -> bool:
    """Store the new counter and the use, unless the counter went backwards: one conditional UPDATE.
    Authenticators that keep no counter (most synced passkeys) always say 0, allowed while the stored one is."""
    new = verified.new_sign_count
    moved_on = Passkey.sign_count == 0 if new == 0 else Passkey.sign_count < new
    return update_where(
        Passkey, Passkey.id == passkey.id, moved_on,
        sign_count=new, last_used_at=utcnow(), backed_up=verified.credential_backed_up,
    )


# Managing ----------------------------------------------------------------------------------------


def list_passkeys(user: User) -> list[Passkey]:
    """The user's passkeys, oldest first."""
    return list(
        db.session.scalars(select(Passkey).where(Passkey.user_id == user.id).order_by(Passkey.created_at, Passkey.id))
    )


def rename_passkey(user: User, passkey_id, name, actor: Actor) -> Passkey:
    ensure_owner(actor, user)
    passkey = _own_passkey(user, passkey_id)
    name = _clean_name(name)
    if name != passkey.name:
        audit.record(actor, "passkey_renamed", user, {"passkey": [passkey.name, name]})
        passkey.name = name
    return passkey


def remove_passkey(user: User, passkey_id, actor: Actor) -> None:
    """Remove one of the user's passkeys (the owner, or staff); the recovery codes go with the last factor."""
    ensure_may_manage(actor, user)
    passkey = _own_passkey(user, passkey_id)
    name = passkey.name
    db.session.delete(passkey)
    db.session.flush()
    if not has_second_factor(user):
        recovery_codes.void_codes(user)
    audit.record(actor, "passkey_removed", user, {"passkey": [name, None]})
    notify_security_change(user, "passkey_removed", actor, detail=name)


def _own_passkey(user: User, passkey_id) -> Passkey:
    if not isinstance(passkey_id, int) or isinstance(passkey_id, bool) or not 0 < passkey_id < 2**31:
        raise NotFound(NOT_FOUND)
    passkey = db.session.scalar(select(Passkey).where(Passkey.id == passkey_id, Passkey.user_id == user.id))
    if passkey is None:
        raise NotFound(NOT_FOUND)
    return passkey


def _clean_name(name) -> str:
    try:
        return clean_text(name, max_length=NAME_MAX_LENGTH) or str(DEFAULT_NAME)
    except FieldError as exc:
        raise ValidationFailed.on("name", str(exc)) from None


# Challenges --------------------------------------------------------------------------------------


def _digest(value: bytes) -> str:
    return hashlib.sha256(value).hexdigest()


def _binding_hash(binding) -> str:
    if not isinstance(binding, str) or not binding:
        raise ValueError("A WebAuthn ceremony needs the asking client's binding value.")
    return _digest(binding.encode())


def _timeout_ms() -> int:
    return int(current_app.config["WEBAUTHN_CHALLENGE_TTL"].total_seconds() * 1000)


def _store_challenge(challenge: bytes, purpose: str, binding: str, *, user_id=None, user_handle=None) -> None:
    """Keep a new challenge (as its hash); expired ones of anyone are cleared on the way."""
    now = utcnow()
    db.session.execute(delete(WebAuthnChallenge).where(WebAuthnChallenge.expires_at < now))
    db.session.add(
        WebAuthnChallenge(
            challenge_hash=_digest(challenge),
            purpose=purpose,
            user_id=user_id,
            user_handle=user_handle,
            binding_hash=_binding_hash(binding),
            created_at=now,
            expires_at=now + current_app.config["WEBAUTHN_CHALLENGE_TTL"],
        )
    )


def _verify_answer(verify, credential, *, rp_id: str, origin: str, **expected):
    """py_webauthn's ``verify`` of a ceremony's answer, on its ``expected`` terms, and never in a frame
    of another site (``crossOrigin``). WebAuthnException or ValueError when it does not pass."""
    client_data = parse_client_data_json(credential.response.client_data_json)
    if client_data.cross_origin:
        raise ValueError("cross-origin ceremony")
    return verify(
        credential=credential,
        expected_challenge=client_data.challenge,
        expected_rp_id=rp_id,
        expected_origin=origin,
        **expected,
    )


def _consume_challenge(client_data_json: bytes, purpose: str, binding, *, user_id=None) -> WebAuthnChallenge | None:
    """The stored challenge the answer signed, marked used, when it is live, of this purpose, asked
    for by this client (and for ``user_id``, when given); None otherwise. Marking it used is one
    conditional UPDATE, so of two answers to one challenge only one goes on."""
    try:
        challenge_hash = _digest(parse_client_data_json(client_data_json).challenge)
    except (WebAuthnException, ValueError, TypeError):
        return None
    challenge = db.session.scalar(select(WebAuthnChallenge).where(WebAuthnChallenge.challenge_hash == challenge_hash))
    if (
        challenge is None or challenge.purpose != purpose or (user_id is not None and challenge.user_id != user_id)
        or not isinstance(binding, str) or not binding
        or not hmac.compare_digest(challenge.binding_hash, _binding_hash(binding))
    ):
        return None
    now = utcnow()
    used = update_where(
        WebAuthnChallenge,
        WebAuthnChallenge.id == challenge.id, WebAuthnChallenge.used_at.is_(None), WebAuthnChallenge.expires_at > now,
        used_at=now,
    )
    return challenge if used else None


def _descriptor(passkey: Passkey) -> PublicKeyCredentialDescriptor:
    transports = [AuthenticatorTransport(t) for t in passkey.transports or [] if t in _TRANSPORTS]
    return PublicKeyCredentialDescriptor(id=passkey.credential_id, transports=transports or None)


_TRANSPORTS = {transport.value for transport in AuthenticatorTransport}
