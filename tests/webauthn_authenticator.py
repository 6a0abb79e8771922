"""A software WebAuthn authenticator, with the browser around it, for tests of every door.

It answers the options the portal hands out exactly as ``navigator.credentials.create()`` and
``.get()`` would, in their JSON form (bytes as base64url): an EC P-256 key per passkey (from
``cryptography``), ``authenticatorData`` built byte by byte (the SHA-256 of the RP id, the flags
UP/UV/BE/BS/AT, a big-endian signature counter, and for a new passkey the attested credential
data with its COSE key, in CBOR), a ``clientDataJSON`` with type, challenge and origin, "none"
attestation, and assertions signed (ECDSA with SHA-256) over ``authenticatorData`` followed by
SHA-256(``clientDataJSON``).

Every part a test may want to get wrong on purpose can be overridden per call: the origin, the
RP id, the challenge, the client data type, the flags, the counter.
"""

import base64
import hashlib
import json
import os
import struct
from dataclasses import dataclass, field

import cbor2
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

ORIGIN = "https://portal.example"
RP_ID = "portal.example"

UP, UV, BE, BS, AT = 0x01, 0x04, 0x08, 0x10, 0x40
AAGUID = bytes(16)  # all zeros: what a "none" attestation usually carries


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def from_b64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class CredentialExcluded(Exception):
    """What a browser raises (InvalidStateError) when the authenticator holds an excluded credential."""


class NoCredential(Exception):
    """What a browser raises (NotAllowedError) when the authenticator holds none of the allowed credentials."""


@dataclass
class SoftwarePasskey:
    """One passkey held by the authenticator: its id, private key, RP, user handle and counter."""

    credential_id: bytes
    private_key: ec.EllipticCurvePrivateKey
    rp_id: str
    user_handle: bytes
    sign_count: int = 0

    def cose_public_key(self) -> bytes:
        numbers = self.private_key.public_key().public_numbers()
        return cbor2.dumps({
            1: 2,  # kty: EC2
            3: -7,  # alg: ES256
            -1: 1,  # crv: P-256
            -2: numbers.x.to_bytes(32, "big"),
            -3: numbers.y.to_bytes(32, "big"),
        })

    def clone(self) -> "SoftwarePasskey":
        """A copy of the key with its own counter: what an attacker who copied the authenticator holds."""
        return SoftwarePasskey(self.credential_id, self.private_key, self.rp_id, self.user_handle, self.sign_count)


@dataclass
class SoftwareAuthenticator:
    """A platform authenticator plus the browser: ``create(options)`` and ``get(options)`` return
    the ``PublicKeyCredential`` JSON a page would send to the server."""

    origin: str = ORIGIN
    user_verifying: bool = True  # asks for a PIN or biometric (UV)
    backup_eligible: bool = True  # a synced passkey (BE)
    counter_step: int = 1  # 0: an authenticator that keeps no counter (always 0)
    passkeys: dict[bytes, SoftwarePasskey] = field(default_factory=dict)

    # Registration -----------------------------------------------------------------------------

    def create(self, options: dict, *, origin=None, rp_id=None, challenge=None, client_data_type="webauthn.create",
               cross_origin=False, flags=None) -> dict:
        rp_id = rp_id or options["rp"]["id"]
        held = {c["id"] for c in options.get("excludeCredentials", [])} & {b64url(cid) for cid in self.passkeys}
        if held:
            raise CredentialExcluded(held)
        passkey = SoftwarePasskey(
            credential_id=os.urandom(32),
            private_key=ec.generate_private_key(ec.SECP256R1()),
            rp_id=rp_id,
            user_handle=from_b64url(options["user"]["id"]),
        )
        if flags is None:
            flags = UP | AT | (UV if self.user_verifying else 0) | (BE | BS if self.backup_eligible else 0)
        attested = (AAGUID + struct.pack(">H", len(passkey.credential_id)) + passkey.credential_id
                    + passkey.cose_public_key())
        auth_data = self._auth_data(rp_id, flags, passkey.sign_count) + attested
        client_data = self._client_data(client_data_type, challenge or options["challenge"], origin, cross_origin)
        attestation_object = cbor2.dumps({"fmt": "none", "attStmt": {}, "authData": auth_data})
        self.passkeys[passkey.credential_id] = passkey
        return {
            "id": b64url(passkey.credential_id),
            "rawId": b64url(passkey.credential_id),
            "type": "public-key",
            "response": {
                "clientDataJSON": b64url(client_data),
                "attestationObject": b64url(attestation_object),
                "transports": ["internal", "hybrid"],
            },
            "authenticatorAttachment": "platform",
            "clientExtensionResults": {},
        }

    # Assertion --------------------------------------------------------------------------------

    def get(self, options: dict, *, passkey: SoftwarePasskey | None = None, origin=None, rp_id=None, challenge=None,
            client_data_type="webauthn.get", cross_origin=False, flags=None, sign_count=None,
            user_handle=True) -> dict:
        """Sign the options' challenge with ``passkey`` (default: the one the options allow, or the
        only one held for the RP). ``sign_count`` forces the counter; ``user_handle=False`` leaves
        it out, as authenticators do for a non-discoverable credential."""
        passkey = passkey or self._choose(options)
        if sign_count is None:
            passkey.sign_count += self.counter_step
            sign_count = passkey.sign_count
        if flags is None:
            flags = UP | (UV if self.user_verifying else 0) | (BE | BS if self.backup_eligible else 0)
        auth_data = self._auth_data(rp_id or passkey.rp_id, flags, sign_count)
        client_data = self._client_data(client_data_type, challenge or options["challenge"], origin, cross_origin)
        signature = passkey.private_key.sign(auth_data + hashlib.sha256(client_data).digest(),
                                             ec.ECDSA(hashes.SHA256()))
        response = {
            "clientDataJSON": b64url(client_data),
            "authenticatorData": b64url(auth_data),
            "signature": b64url(signature),
        }
        if user_handle:
            response["userHandle"] = b64url(passkey.user_handle)
        return {
            "id": b64url(passkey.credential_id),
            "rawId": b64url(passkey.credential_id),
            "type": "public-key",
            "response": response,
            "authenticatorAttachment": "platform",
            "clientExtensionResults": {},
        }

    def _choose(self, options: dict) -> SoftwarePasskey:
        allowed = {c["id"] for c in options.get("allowCredentials", [])}
        candidates = [
            p for p in self.passkeys.values()
            if p.rp_id == options["rpId"] and (not allowed or b64url(p.credential_id) in allowed)
        ]
        if not candidates:
            raise NoCredential(options.get("allowCredentials"))
        return candidates[0]

    # Parts ------------------------------------------------------------------------------------

    @staticmethod
    def _auth_data(rp_id: str, flags: int, sign_count: int) -> bytes:
        return hashlib.sha256(rp_id.encode()).digest() + bytes([flags]) + struct.pack(">I", sign_count)

    def _client_data(self, client_data_type: str, challenge, origin, cross_origin: bool) -> bytes:
        if isinstance(challenge, bytes):
            challenge = b64url(challenge)
        return json.dumps({
            "type": client_data_type,
            "challenge": challenge,
            "origin": origin or self.origin,
            "crossOrigin": cross_origin,
        }).encode()


def copied(authenticator: SoftwareAuthenticator) -> SoftwareAuthenticator:
    """Another authenticator holding copies of the same keys, each with its own counter."""
    return SoftwareAuthenticator(
        origin=authenticator.origin, user_verifying=authenticator.user_verifying,
        backup_eligible=authenticator.backup_eligible, counter_step=authenticator.counter_step,
        passkeys={cid: p.clone() for cid, p in authenticator.passkeys.items()},
    )

