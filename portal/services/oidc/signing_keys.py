"""The keys the portal signs its tokens with (ID tokens, access tokens, logout tokens), and the
public set (JWKS) apps check them by.

One key is current: the newest row whose ``retired_at`` is NULL. It is made on first use (RSA 2048,
RS256, a random ``kid``); its private half is kept sealed (``secret_box``, purpose "signing-key"),
its public half as a JWK. ``rotate`` makes a new current key and retires the old one, which stays
published for ``SIGNING_KEY_RETIREMENT`` after its retirement — longer than any token it signed
lives — so those tokens still verify; after that it leaves the JWKS and its tokens are refused.

Every process learns the current kid from the database each time it signs (one small query), so a
rotation reaches them all at once; only the key objects are cached, per kid, and a key's material
never changes. A public key cached while it was current is trusted without a query only until
``SIGNING_KEY_RETIREMENT`` after it was last read: were it retired a moment after that read, it
would still be published until then, so the cache can never keep a key published too long.

Two processes making the first key at once (or rotating at once) may both insert one: the newest
unretired key wins and the others are retired, by whoever next looks for the current key. A key
whose private half cannot be opened (SECRET_KEY changed) is logged, withdrawn from the JWKS at
once, and replaced by a new current key: a changed SECRET_KEY ends what was issued under the old
one, as it ends the portal's sessions and API tokens.
"""

import logging
import secrets
from dataclasses import dataclass
from datetime import datetime

from flask import current_app
from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import RSAKey
from sqlalchemy import or_, select, update

from ... import clock
from ...extensions import db
from ...models import SigningKey, utcnow
from .. import audit
from ..errors import ServiceError
from ..plumbing.secret_box import SealedValueUnreadable, open_sealed, seal

log = logging.getLogger(__name__)

ALGORITHM = "RS256"
KEY_SIZE = 2048
PURPOSE = "signing-key"  # the secret_box purpose the private keys are sealed for
CACHE_KEY = "signing_keys"  # app.extensions: this process's cached key objects


class InvalidToken(ServiceError):
    """A token the portal did not sign, or no longer stands by: malformed, altered, another
    algorithm, an unknown or unpublished key, the wrong ``typ``, or past its ``exp``/before ``nbf``."""


@dataclass
class _PublicKey:
    key: RSAKey
    retired_at: datetime | None
    read_at: datetime  # when the row was last read (a key then unretired may have been retired since)


class _Cache:
    def __init__(self):
        self.private: dict[str, RSAKey] = {}
        self.public: dict[str, _PublicKey] = {}


def _cache() -> _Cache:
    return current_app.extensions.setdefault(CACHE_KEY, _Cache())


def _retirement():
    return current_app.config["SIGNING_KEY_RETIREMENT"]


def _newest_first(query):
    return query.order_by(SigningKey.created_at.desc(), SigningKey.id.desc())


# The current key ---------------------------------------------------------------------------------


def current_key() -> SigningKey:
    """The key that signs now: the newest unretired one, made on first use. Flushes what it changes."""
    unretired = db.session.scalars(_newest_first(select(SigningKey).where(SigningKey.retired_at.is_(None)))).all()
    if not unretired:
        _add_key()
        # Another process may have made one too: the newest unretired still wins.
        unretired = db.session.scalars(
            _newest_first(select(SigningKey).where(SigningKey.retired_at.is_(None)))
        ).all()
    current, *others = unretired
    if others:
        _retire([key.id for key in others], utcnow())
    return current


def _add_key() -> SigningKey:
    kid = secrets.token_urlsafe(12)
    private = RSAKey.generate_key(KEY_SIZE, parameters={"kid": kid, "alg": ALGORITHM, "use": "sig"}, private=True)
    key = SigningKey(
        kid=kid,
        algorithm=ALGORITHM,
        private_sealed=seal(private.as_pem(private=True), PURPOSE),
        public_jwk=_public_jwk(private),
        created_at=utcnow(),
    )
    db.session.add(key)
    db.session.flush()
    _cache().private[kid] = private
    return key


def _public_jwk(key: RSAKey) -> dict:
    public = key.as_dict(private=False)
    return {"kty": "RSA", "kid": public["kid"], "use": "sig", "alg": ALGORITHM, "n": public["n"], "e": public["e"]}


def _retire(ids: list[int], when: datetime) -> None:
    """Retire these keys as of ``when``, unless another process retired them first (its time stands)."""
    db.session.execute(
        update(SigningKey)
        .where(SigningKey.id.in_(ids), SigningKey.retired_at.is_(None))
        .values(retired_at=when)
        .execution_options(synchronize_session="fetch")
    )


def rotate(actor: audit.Actor) -> SigningKey:
    """A new current key; the one before it retired now (still published for SIGNING_KEY_RETIREMENT)."""
    old = current_key()
    new = _add_key()
    _retire([old.id], utcnow())
    audit.record(actor, "signing_key_rotated", None, {"kid": [old.kid, new.kid]}, label="signing keys")
    return new


def published_until(key: SigningKey) -> datetime | None:
    """When a retired key leaves the JWKS (and its tokens stop verifying); None while it is current."""
    return key.retired_at + _retirement() if key.retired_at is not None else None


# Signing -----------------------------------------------------------------------------------------


def sign(claims: dict, *, typ: str = "JWT", key: tuple[str, RSAKey] | None = None) -> str:
    """``claims`` as a compact JWS (header ``alg``, ``kid``, ``typ``) signed by the current key, or by
    ``key`` from ``current_signer()`` when one answer carries several tokens."""
    kid, private = key or _current_private_key()
    return jwt.encode({"alg": ALGORITHM, "kid": kid, "typ": typ}, claims, private, algorithms=[ALGORITHM])


def current_signer() -> tuple[str, RSAKey]:
    """The current key's kid and private key, for the tokens of one answer: looked up once for all of
    them (a rotation in between would only have the answer signed by the key current at its start,
    which stays published long after)."""
    return _current_private_key()


def _current_private_key() -> tuple[str, RSAKey]:
    # One small query each time: which kid signs now. Two rows: two processes made one at once.
    kids = db.session.scalars(
        _newest_first(select(SigningKey.kid).where(SigningKey.retired_at.is_(None))).limit(2)
    ).all()
    kid = kids[0] if len(kids) == 1 else current_key().kid
    private = _cache().private.get(kid)
    if private is not None:
        return kid, private
    row = db.session.scalar(select(SigningKey).where(SigningKey.kid == kid))
    try:
        private = RSAKey.import_key(open_sealed(row.private_sealed, PURPOSE))
    except SealedValueUnreadable:
        _withdraw_unreadable(row)
        return _current_private_key()  # the next unretired key, or a new one
    _cache().private[kid] = private
    return kid, private


def _withdraw_unreadable(key: SigningKey) -> None:
    """The private half was sealed under another SECRET_KEY: nothing here can sign with it again.
    Retire it as of a full retirement ago, so it leaves the JWKS at once; a new current key follows."""
    log.error(
        "Signing key %s cannot be opened (SECRET_KEY changed since it was made?); it is withdrawn "
        "and a new signing key replaces it. Every process must share one SECRET_KEY.",
        key.kid,
    )
    _retire([key.id], utcnow() - _retirement())
    _cache().public.pop(key.kid, None)


# Verifying ---------------------------------------------------------------------------------------


def verify(token: str, *, typ: str | None = None) -> dict:
    """The claims of a token the portal signed with a published key (RS256 only), checked against
    ``typ`` when given, and against ``exp`` and ``nbf`` when present (by the portal's clock).
    InvalidToken otherwise. Who issued it and for whom (``iss``, ``aud``) is the caller's to check."""
    try:
        header = jws.extract_compact(token.encode() if isinstance(token, str) else token).headers()
    except (JoseError, ValueError, TypeError):
        raise InvalidToken("The token is not a signed token.") from None
    if header.get("alg") != ALGORITHM:
        raise InvalidToken("The token is not signed with RS256.")
    if typ is not None and str(header.get("typ", "")).lower() != typ.lower():
        raise InvalidToken(f"The token is not of type {typ}.")
    kid = header.get("kid")
    public = _published_public_key(kid) if isinstance(kid, str) else None
    if public is None:
        raise InvalidToken("The token's key is not one of the portal's published keys.")
    try:
        claims = jwt.decode(token, public, algorithms=[ALGORITHM]).claims
        jwt.JWTClaimsRegistry(now=lambda: int(clock.timestamp())).validate(claims)
    except (JoseError, ValueError, TypeError):
        raise InvalidToken("The token's signature or claims are not valid.") from None
    return claims


def _published_public_key(kid: str) -> RSAKey | None:
    """The public key of ``kid`` if it is published now: from this process's cache when that can
    tell, else from its row (read once, then cached)."""
    now = utcnow()
    window = _retirement()
    cached = _cache().public.get(kid)
    if cached is not None:
        if cached.retired_at is not None:
            return cached.key if now < cached.retired_at + window else None
        if now < cached.read_at + window:
            return cached.key
    row = db.session.execute(
        select(SigningKey.public_jwk, SigningKey.retired_at).where(SigningKey.kid == kid)
    ).one_or_none()
    if row is None:
        return None
    public_jwk, retired_at = row
    cached = _cache().public[kid] = _PublicKey(RSAKey.import_key(public_jwk), retired_at, now)
    if retired_at is not None and now >= retired_at + window:
        return None
    return cached.key


# Publishing --------------------------------------------------------------------------------------


def published_jwks() -> dict:
    """``{"keys": [...]}``: the current key (made if there is none yet) and every key retired less
    than SIGNING_KEY_RETIREMENT ago, newest first; public members only."""
    current_key()
    cutoff = utcnow() - _retirement()
    keys = db.session.scalars(
        _newest_first(
            select(SigningKey.public_jwk).where(or_(SigningKey.retired_at.is_(None), SigningKey.retired_at > cutoff))
        )
    ).all()
    return {"keys": [_public_members(jwk) for jwk in keys]}


PUBLIC_MEMBERS = ("kty", "kid", "use", "alg", "n", "e")


def _public_members(jwk: dict) -> dict:
    # The stored JWK holds only these already; naming them here keeps a private member from ever
    # being published, whatever a row holds.
    return {name: jwk[name] for name in PUBLIC_MEMBERS if name in jwk}
