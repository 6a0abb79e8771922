"""Accounts at other providers (``LinkedIdentity``), and what an identity a provider vouches for
may do here. This is where accounts are taken over elsewhere — an attacker registers at a provider
with the victim's address, or a provider does not check addresses — so the rules are strict:

- An identity is found by the provider's issuer and its subject, **never by the address**.
- Linked: it signs in to its account through the sign-in flow (``flow.sign_in``): a second factor
  the account has is still asked, and the new-browser mail still goes.
- Not linked, and no account has the address: a new account, without a password. When the provider
  vouches for the address (``email_verified``) it is verified and signs in; when it does not, the
  portal mails its own code and the account waits for it like any sign-up.
- Not linked, and an account has the address: **not** signed in. The person is offered to sign in
  to that account (any way) in the same browser; then, and only when the provider vouched for the
  address, the identity is linked (``link_offered``), audited and mailed. An identity whose address
  the provider does not vouch for never signs in to, nor links, an existing account.
- One exception, against the pre-hijack: an account at that address nobody ever finished signing up
  for (no code was ever entered, so it never had a way in) belongs to nobody yet. A provider vouching
  for the address replaces it with a new account; whoever started it with a password of their own
  is left with nothing.

Removing an identity is refused when it would leave the account no way in: no password, no passkey,
no other identity.
"""

from dataclasses import asdict, dataclass
from datetime import datetime

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import delete, func, select

from ...extensions import db
from ...models import LinkedIdentity, Passkey, User, canonical_email, utcnow
from .. import audit
from ..audit import Actor
from ..errors import AuthenticationFailed, EmailNotVerified, NotFound, ValidationFailed
from ..people import accounts
from ..people.users import MAX_ID, find_user
from .factors import notify_security_change
from .sign_in import BAD_CREDENTIALS, UNVERIFIED

PROVIDER_PREFIX = "provider:"  # a sign-in's first step: "provider:<key>", the key of SOCIAL_PROVIDERS
LAST_WAY_IN = _l(
    "This is your account's only way to sign in. Set a password or add a passkey first, then remove it."
)
TAKEN = _l("This account at the provider is already connected to another account here.")
NO_ADDRESS = _l("The provider did not tell us an email address, so no account can be made from it.")
ADDRESS_NOT_VOUCHED = _l(
    "An account with this email address exists here, and the provider did not confirm the address is "
    "yours. Sign in to it another way; you can connect the provider from your security settings."
)


class AddressNotVouched(ValidationFailed):
    """An account here has the address, and the provider did not vouch for it: a conflict, not a typo."""


@dataclass(frozen=True)
class Identity:
    """Who a provider says someone is: ``subject`` is unique within ``issuer``."""

    provider: str  # its key in SOCIAL_PROVIDERS
    provider_name: str  # as its buttons, the audit trail and mails name it
    issuer: str
    subject: str
    email: str | None
    email_verified: bool
    given_name: str | None = None
    family_name: str | None = None

    @property
    def first_step(self) -> str:
        """The sign-in flow's first step for it, as a credential's method keeps it."""
        return PROVIDER_PREFIX + self.provider

    def kept(self) -> dict:
        """As JSON values, for a browser's session to hold while it is offered for linking."""
        return {**asdict(self), "offered_at": utcnow().isoformat()}


@dataclass(frozen=True)
class Arrival:
    """What an identity does here. ``next`` is "sign_in" (``user`` goes through the sign-in flow),
    "verify" (a new account waits for the code mailed to ``user``), or "link" (an account has the
    address: the person signs in to it, then ``identity`` is linked)."""

    next: str
    identity: Identity
    user: User | None = None


def arrive(identity: Identity, actor: Actor) -> Arrival:
    """Apply the rules above to an identity a provider just vouched for."""
    linked = _linked(identity)
    if linked is not None:
        user = db.session.get(User, linked.user_id)
        if not user.is_active:
            raise AuthenticationFailed(BAD_CREDENTIALS)
        if user.activated_at is None:
            raise EmailNotVerified(UNVERIFIED)
        linked.last_used_at = utcnow()
        return Arrival("sign_in", identity, user)
    if identity.email is None:
        raise ValidationFailed.on("email", NO_ADDRESS)
    holder = find_user(email=identity.email)
    if holder is not None and holder.activated_at is None and identity.email_verified:
        _replace_unfinished(holder, actor)
        holder = None
    if holder is not None:
        if not identity.email_verified:
            raise AddressNotVouched({"email": [ADDRESS_NOT_VOUCHED]})
        return Arrival("link", identity, holder)
    user = accounts.create_without_password(
        identity.email, actor, email_verified=identity.email_verified,
        profile={"first_name": identity.given_name, "last_name": identity.family_name},
    )
    _link(user, identity, actor, mail=False)
    return Arrival("sign_in" if identity.email_verified else "verify", identity, user)


def link_offered(user: User, kept, actor: Actor) -> LinkedIdentity | None:
    """After ``user`` signed in in the browser an identity was offered to: link it, when it is the
    account that has the identity's (vouched-for) address and the offer is recent. None otherwise:
    an offer for another account is dropped, never applied to whoever signs in."""
    try:
        identity = Identity(**{key: value for key, value in kept.items() if key != "offered_at"})
        offered_at = datetime.fromisoformat(kept["offered_at"])
    except (TypeError, KeyError, ValueError, AttributeError):
        return None
    if (
        not identity.email_verified
        or identity.email is None
        or canonical_email(identity.email) != user.email_canonical
        or utcnow() - offered_at > current_app.config["PROVIDER_LINK_TTL"]
        or _linked(identity) is not None
    ):
        return None
    return _link(user, identity, actor)


def connect(user: User, identity: Identity, actor: Actor) -> LinkedIdentity:
    """The signed-in owner connects an account at a provider (any address): ValidationFailed when
    it is connected to another account here; connecting it again changes nothing."""
    linked = _linked(identity)
    if linked is not None:
        if linked.user_id != user.id:
            raise ValidationFailed.on("provider", TAKEN)
        return linked
    return _link(user, identity, actor)


def identities_of(user: User) -> list[LinkedIdentity]:
    return list(db.session.scalars(
        select(LinkedIdentity).where(LinkedIdentity.user_id == user.id).order_by(LinkedIdentity.linked_at)
    ))


def is_linked_to(user: User, identity: Identity) -> bool:
    linked = _linked(identity)
    return linked is not None and linked.user_id == user.id


def remove(user: User, identity_id, actor: Actor) -> LinkedIdentity:
    """Disconnect one of the account's identities (NotFound for anyone else's), audited and mailed.

    The owner may not remove the account's last way in. Staff may (``accounts.ensure_may_manage``):
    they remove a link the person says is not theirs, and the person gets back in through the
    mailbox ("Forgot your password?", an emailed code)."""
    linked = db.session.scalar(
        select(LinkedIdentity).where(LinkedIdentity.id == identity_id, LinkedIdentity.user_id == user.id)
    ) if isinstance(identity_id, int) and 0 < identity_id <= MAX_ID else None
    if linked is None:
        raise NotFound("No such connected account.")
    others = db.session.scalar(
        select(func.count()).select_from(LinkedIdentity)
        .where(LinkedIdentity.user_id == user.id, LinkedIdentity.id != linked.id)
    )
    has_passkey = db.session.scalar(select(func.count()).select_from(Passkey).where(Passkey.user_id == user.id))
    by_staff = actor.user is not None and actor.user.id != user.id
    if by_staff:
        accounts.ensure_may_manage(actor, user)
    elif not (has_password(user) or has_passkey or others):
        raise ValidationFailed.on("non_field_errors", LAST_WAY_IN)
    db.session.execute(delete(LinkedIdentity).where(LinkedIdentity.id == linked.id))
    changes = {"provider": [linked.provider, None], "email": [linked.email, None]}
    audit.record(actor, "identity_unlinked", user, changes)
    notify_security_change(user, "identity_unlinked", actor, detail=linked.provider_name)
    return linked


def has_password(user: User) -> bool:
    """Whether the account has a password (one made through a provider has none until it sets one)."""
    return bool(user.password_hash)


def _linked(identity: Identity) -> LinkedIdentity | None:
    return db.session.scalar(
        select(LinkedIdentity)
        .where(LinkedIdentity.issuer == identity.issuer, LinkedIdentity.subject == identity.subject)
    )


def _link(user: User, identity: Identity, actor: Actor, *, mail: bool = True) -> LinkedIdentity:
    now = utcnow()
    linked = LinkedIdentity(
        user_id=user.id, provider=identity.provider, provider_name=identity.provider_name,
        issuer=identity.issuer, subject=identity.subject,
        email=identity.email, linked_at=now, last_used_at=now,
    )
    db.session.add(linked)
    db.session.flush()
    changes = {"provider": [None, identity.provider], "email": [None, identity.email]}
    audit.record(actor, "identity_linked", user, changes)
    if mail:  # a new account made from the identity was not changed: it was made so
        notify_security_change(user, "identity_linked", actor, detail=identity.provider_name)
    return linked


def _replace_unfinished(user: User, actor: Actor) -> None:
    """Delete an account whose sign-up was never finished (see the module's docstring); its audit
    history stays, under its address."""
    audit.record(actor, "account_deleted", None, {"id": [user.id, None], "unfinished": [None, True]}, label=user.email)
    db.session.delete(user)
    db.session.flush()
