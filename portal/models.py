"""The stored data: users, groups, credentials, emailed codes, second factors, where accounts sign in
from, and the audit log.

Models only store. Rules live in ``portal.services``; the one thing done here is keeping each
case-insensitive lookup key in step with the value it is derived from (``canonical_email`` is the
one comparison of addresses).
"""

import unicodedata
from datetime import UTC, date, datetime

from email_validator import EmailNotValidError, validate_email
from flask_login import UserMixin
from sqlalchemy import (
    DDL,
    JSON,
    BigInteger,
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    UniqueConstraint,
    event,
    false,
    func,
    select,
    true,
)
from sqlalchemy.orm import Mapped, column_property, mapped_column, relationship, validates

from . import clock
from .extensions import db


def utcnow() -> datetime:
    """The portal's clock (``portal.clock``) in naive UTC, stored alike by SQLite and PostgreSQL;
    serializers add the ``Z`` (``iso_utc``)."""
    return clock.now().replace(tzinfo=None)


def epoch(value: datetime) -> int:
    """A stored (naive UTC) time as whole seconds since 1970, as JWT claims count time."""
    return int(value.replace(tzinfo=UTC).timestamp())


def iso_utc(value: datetime | None) -> str | None:
    """A stored (naive UTC) time in ISO 8601, with the ``Z`` that says it is UTC; None stays None."""
    return None if value is None else value.isoformat() + "Z"


def canonical_email(email: str) -> str:
    """The one key addresses are compared by, everywhere (look-ups, uniqueness, "is this another
    address?"): email-validator's normalised form — Unicode NFC, the domain through IDNA, so
    ``xn--strae-oqa.example`` and ``Straße.example`` are one domain — lower-cased.

    Never ``casefold``: it makes ``straße`` and ``strasse`` equal, and they are two domains run by
    whoever registered each (two mailboxes too, in a local part). Text that is no address (a
    username typed into the sign-in form) is keyed as it is, NFC and lower-cased.
    """
    text = email.strip()
    try:
        valid = validate_email(text, check_deliverability=False)
    except EmailNotValidError:
        return unicodedata.normalize("NFC", text).lower()
    return f"{valid.local_part.lower()}@{valid.domain}"


def canonical_username(username: str) -> str:
    return username.strip().casefold()


def canonical_phone(phone: str) -> str:
    """Digits only, keeping a leading ``+``: ``+1 (555) 0124`` and ``+15550124`` are one number."""
    phone = phone.strip()
    digits = "".join(ch for ch in phone if ch.isdigit())
    return ("+" + digits) if phone.startswith("+") else digits


user_groups = Table(
    "user_groups",
    db.metadata,
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    # Indexed on its own too: "members of group G" is the admin's group filter and member count.
    Column("group_id", ForeignKey("groups.id", ondelete="CASCADE"), primary_key=True, index=True),
)

# PostgreSQL answers the admin's case-insensitive partial search (ILIKE '%text%') from trigram
# indexes (pg_trgm); the extension must exist before the tables that use it.
event.listen(
    db.metadata, "before_create", DDL("CREATE EXTENSION IF NOT EXISTS pg_trgm").execute_if(dialect="postgresql")
)
SEARCHED_USER_COLUMNS = ("first_name", "last_name", "email_canonical", "username_canonical", "phone_canonical")


def trigram_index(table: str, column: str) -> Index:
    """A GIN trigram index, made on PostgreSQL only (SQLite has no index that helps with '%text%')."""
    return Index(
        f"ix_{table}_{column}_trgm", column, postgresql_using="gin", postgresql_ops={column: "gin_trgm_ops"}
    ).ddl_if(dialect="postgresql")


def exists_on(dialect: str, schema_item) -> bool:
    """Whether a schema item of the models is made on ``dialect`` (see ``trigram_index``)."""
    condition = getattr(schema_item, "_ddl_if", None)
    return condition is None or condition.dialect in (None, dialect)


class UserFacts:
    """What follows from a user's stored fields, for the model and for a ``UserSnapshot`` alike."""

    @property
    def full_name(self) -> str | None:
        return " ".join(n for n in (self.first_name, self.last_name) if n) or None

    @property
    def display_name(self) -> str:
        """What a page calls the person: the full name, else the username, else the email."""
        return self.full_name or self.username or self.email

    @property
    def is_profile_completed(self) -> bool:
        return all((self.first_name, self.last_name, self.phone, self.gender))


class CredentialFacts:
    """What follows from a credential's stored fields, for the model and for a ``CredentialSnapshot``."""

    @property
    def is_live(self) -> bool:
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > utcnow())


class Snapshot:
    """A row as read without the ORM, its attributes named like the model's.

    For a request that only reads (an API profile read): loading the models costs several times
    the query itself. Nothing on a snapshot is tracked or saved; a request that changes something
    loads the model.
    """

    def __init__(self, **fields):
        self.__dict__.update(fields)


class UserSnapshot(UserFacts, Snapshot):
    """A user row and its ``groups`` (snapshots too), without the password hash."""


class CredentialSnapshot(CredentialFacts, Snapshot):
    """A credential row and its ``user`` (a ``UserSnapshot``, or None once the user is deleted)."""


class User(UserFacts, UserMixin, db.Model):
    __tablename__ = "users"
    __table_args__ = (
        # The admin's user list sorts by these.
        Index("ix_users_date_joined", "date_joined"),
        Index("ix_users_last_login", "last_login"),
        Index("ix_users_name", "last_name", "first_name"),
        *(trigram_index("users", column) for column in SEARCHED_USER_COLUMNS),
        # Never reuse the id of a deleted user: a credential that outlived its user must not match a newcomer.
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # Case-folding can lengthen text ("ß" → "ss", "ﬃ" → "ffi"): the keys get three times the room.
    email: Mapped[str] = mapped_column(String(200))
    email_canonical: Mapped[str] = mapped_column(String(600), unique=True)
    username: Mapped[str | None] = mapped_column(String(150))
    username_canonical: Mapped[str | None] = mapped_column(String(450), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    first_name: Mapped[str | None] = mapped_column(String(200))
    last_name: Mapped[str | None] = mapped_column(String(200))
    phone: Mapped[str | None] = mapped_column(String(20))
    phone_canonical: Mapped[str | None] = mapped_column(String(21), unique=True)
    avatar: Mapped[str | None] = mapped_column(String(64))  # file name under uploads/avatars/
    gender: Mapped[str | None] = mapped_column(String(6))
    country: Mapped[str | None] = mapped_column(String(2))
    address: Mapped[str | None] = mapped_column(String(500))
    birthday: Mapped[date | None]
    is_active: Mapped[bool] = mapped_column(default=True)
    is_staff: Mapped[bool] = mapped_column(default=False)
    is_superuser: Mapped[bool] = mapped_column(default=False)
    email_verified: Mapped[bool] = mapped_column(default=False)  # the current address answered a code
    # When sign-up was completed (first code entered, or made by staff/CLI). Until then the account
    # gets no credentials; a later, unverified email change does not lock it out again.
    activated_at: Mapped[datetime | None]
    date_joined: Mapped[datetime] = mapped_column(default=utcnow)
    # Set by the services when the account itself changes; a sign-in (last_login) does not count.
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Bumped by the services on every change of the row, sign-ins included: the profile's ETag.
    version: Mapped[int] = mapped_column(default=1, server_default="1")
    last_login: Mapped[datetime | None]
    # The person's choice: a mail when a browser, or an API sign-in from an address, new to the
    # account signs in (``sign_in_alerts``).
    sign_in_alerts: Mapped[bool] = mapped_column(default=True, server_default=true())
    # Set when the account was secured ("This wasn't me"): signing in with the password is refused
    # until a new one is chosen. Passkeys and emailed codes still sign in.
    password_reset_required: Mapped[bool] = mapped_column(default=False, server_default=false())
    # Raised by a recovery (``credentials.end_outstanding_proofs``: a reset link, "This wasn't me",
    # "Secure my account", a deactivation): reset and "This wasn't me" links and device cookies carry
    # the value they were signed with, and stop working once it moves on.
    security_stamp: Mapped[int] = mapped_column(default=0, server_default="0")
    # Set at a sign-in whose (right) password appears in breach data; cleared when it is changed.
    password_breached: Mapped[bool] = mapped_column(default=False, server_default=false())
    # The language and time zone pages and mails use; None: the browser's language, UTC.
    language: Mapped[str | None] = mapped_column(String(8))
    time_zone: Mapped[str | None] = mapped_column(String(64))
    # Wrong tries at the second step of signing in since the last one that passed (NIST SP 800-63B
    # 5.2.2): past TWO_FACTOR_FAILURE_BUDGET, codes from the app are refused (``second_step_budget``).
    second_step_failures: Mapped[int] = mapped_column(default=0, server_default="0")

    groups: Mapped[list["Group"]] = relationship(
        secondary=user_groups, back_populates="users", order_by="Group.name"
    )

    @validates("email")
    def _keep_email_canonical(self, key, value):
        self.email_canonical = canonical_email(value)
        return value

    @validates("username")
    def _keep_username_canonical(self, key, value):
        self.username_canonical = canonical_username(value) if value else None
        return value

    @validates("phone")
    def _keep_phone_canonical(self, key, value):
        self.phone_canonical = canonical_phone(value) if value else None
        return value

    def __repr__(self):
        return f"<User {self.id} {self.email}>"


class Group(db.Model):
    __tablename__ = "groups"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(150), unique=True)
    notes: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    users: Mapped[list[User]] = relationship(secondary=user_groups, back_populates="groups")

    def __repr__(self):
        return f"<Group {self.id} {self.name}>"


Group.users_count = column_property(
    select(func.count(user_groups.c.user_id))
    .where(user_groups.c.group_id == Group.id)
    .correlate_except(user_groups)
    .scalar_subquery()
)


class Credential(CredentialFacts, db.Model):
    """One way in for a user: a browser session, a JWT sign-in (access + refresh pair), an API key,
    or an app's sign-in through the portal as an OpenID provider (kind "app": its access tokens carry
    the row's ``public_id``, its refresh tokens rotate like a JWT pair's).

    A browser's signed session cookie holds only the row's ``public_id``. A JWT carries the
    credential's ``public_id`` as its ``sid`` claim; revoking the row revokes
    every token of that sign-in in every process. An API key is stored only as its SHA-256.
    The row outlives its user (``user_id`` becomes NULL) so a token of a deleted account can be
    told apart from a forged or revoked one.
    """

    __tablename__ = "credentials"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    kind: Mapped[str] = mapped_column(String(8))  # "session", "jwt" or "key"
    public_id: Mapped[str] = mapped_column(String(32), unique=True)
    secret_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    refresh_jti: Mapped[str | None] = mapped_column(String(64))
    name: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    created_ip: Mapped[str | None] = mapped_column(String(45))
    # Written at most once per CREDENTIAL_TOUCH_INTERVAL, so an authenticated read stays a read.
    last_used_at: Mapped[datetime | None]
    last_ip: Mapped[str | None] = mapped_column(String(45))
    user_agent: Mapped[str | None] = mapped_column(String(200))  # browser sessions: what signed in
    # How the sign-in was proven: "password", "password+totp", "password+recovery", "passkey", …
    method: Mapped[str] = mapped_column(String(60), default="password", server_default="password")
    # When the person last proved who they are on this credential (sign-in, re-authentication):
    # pages that change how the account signs in ask again once this is old.
    proven_at: Mapped[datetime | None]
    # An API key's own inactivity timeout in seconds, chosen when it is made (None: none). Browser
    # sessions and JWT sign-ins take theirs from the settings (``credentials.idle_limit``).
    idle_timeout: Mapped[int | None]
    # What the credential may do on the portal's own API ("api:read", "api:write", the OpenID
    # scopes of an app's sign-in); None: everything its owner may (a browser session, a JWT pair,
    # a key made before scopes).
    scopes: Mapped[list | None] = mapped_column(JSON)
    # The app an app's sign-in was made for (kind "app").
    client_id: Mapped[int | None] = mapped_column(ForeignKey("oauth_clients.id", ondelete="CASCADE"), index=True)

    user: Mapped[User | None] = relationship()


class EmailCode(db.Model):
    """A one-time code mailed to an address; only its hash is kept. One live code per user and purpose."""

    __tablename__ = "email_codes"
    __table_args__ = (db.UniqueConstraint("user_id", "purpose"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    purpose: Mapped[str] = mapped_column(String(20))
    email: Mapped[str] = mapped_column(String(200))
    code_hash: Mapped[str] = mapped_column(String(64))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]


class AuditEvent(db.Model):
    """Who did what to which account, when and from where. Never holds a secret."""

    __tablename__ = "audit_events"
    # The log is read newest first, whole or for one subject, actor or action: each way has its index.
    __table_args__ = (
        Index("ix_audit_events_subject_created", "subject_id", "created_at"),
        Index("ix_audit_events_actor_created", "actor_id", "created_at"),
        Index("ix_audit_events_action_created", "action", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    subject_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    subject_label: Mapped[str | None] = mapped_column(String(200))  # the email, kept after deletion
    action: Mapped[str] = mapped_column(String(50))
    changes: Mapped[dict] = mapped_column(JSON, default=dict)
    ip: Mapped[str | None] = mapped_column(String(45))
    via: Mapped[str] = mapped_column(String(10))  # api, web, admin, cli

    actor: Mapped[User | None] = relationship(foreign_keys=[actor_id])
    subject: Mapped[User | None] = relationship(foreign_keys=[subject_id])


class AvatarFile(db.Model):
    """A stored avatar image, when AVATAR_STORAGE is "database": every app server sees it.

    Named like the file it would otherwise be (fresh and unguessable per upload), so URLs and
    caching do not depend on where the bytes live.
    """

    __tablename__ = "avatar_files"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    data: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class OutgoingMail(db.Model):
    """A message in the mail outbox: written in the same transaction as the change it reports,
    delivered after that commits, retried until it goes or is given up.

    The message itself is kept sealed (it may hold a code or a reset link) and erased once the
    message is sent or given up; the rest stays a while for staff to see what went out and what did not.
    """

    __tablename__ = "outgoing_mail"
    # Deliverers look for pending rows that are due, oldest due first.
    __table_args__ = (Index("ix_outgoing_mail_status_next_attempt_at", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    recipient: Mapped[str] = mapped_column(String(320))
    subject: Mapped[str] = mapped_column(String(200))
    message: Mapped[bytes | None] = mapped_column(LargeBinary)  # sealed RFC 5322 bytes, until finished
    status: Mapped[str] = mapped_column(String(10), default="pending")  # pending, sent, failed
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    attempts: Mapped[int] = mapped_column(default=0)
    # A deliverer owns a row until then (a conditional UPDATE hands it to one deliverer only).
    claimed_until: Mapped[datetime | None]
    claim_token: Mapped[str | None] = mapped_column(String(32))
    finished_at: Mapped[datetime | None]  # sent, or given up
    last_error: Mapped[str | None] = mapped_column(String(500))


class TotpDevice(db.Model):
    """A user's authenticator app (RFC 6238 TOTP); at most one per user.

    The shared secret is sealed (``secret_box``, purpose "totp"), never stored in the clear. The
    device counts once ``confirmed_at`` is set. ``last_used_step`` is the time step of the last
    accepted code: only later steps are accepted, so a code works once.
    """

    __tablename__ = "totp_devices"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), unique=True)
    secret_sealed: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    confirmed_at: Mapped[datetime | None]
    last_used_step: Mapped[int | None] = mapped_column(BigInteger)


class RecoveryCode(db.Model):
    """One single-use recovery code; only an argon2id hash of it (salted) is stored, or, for a set
    made before 0010, an HMAC keyed with the app secret (``recovery_codes``)."""

    __tablename__ = "recovery_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    used_at: Mapped[datetime | None]


class Passkey(db.Model):
    """A WebAuthn credential (a passkey) of a user: its id, public key and signature counter.

    Nothing here is secret: the private key never leaves the authenticator.
    """

    __tablename__ = "passkeys"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    credential_id: Mapped[bytes] = mapped_column(LargeBinary, unique=True)
    public_key: Mapped[bytes] = mapped_column(LargeBinary)  # COSE_Key, as the authenticator sent it
    # The authenticator's counter is an unsigned 32-bit number: more than a signed INTEGER holds.
    sign_count: Mapped[int] = mapped_column(BigInteger, default=0)
    user_handle: Mapped[bytes] = mapped_column(LargeBinary)  # the WebAuthn user.id it was made for
    name: Mapped[str] = mapped_column(String(100))
    transports: Mapped[list] = mapped_column(JSON, default=list)
    aaguid: Mapped[str | None] = mapped_column(String(36))
    backup_eligible: Mapped[bool] = mapped_column(default=False)
    backed_up: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None]


class LinkedIdentity(db.Model):
    """An account at another provider (``SOCIAL_PROVIDERS``) that signs in to a user here.

    Found by the provider's ``issuer`` (or, for a provider without one, its configured key) and the
    ``subject`` it gives the person, never by the address: an address at a provider proves nothing
    about who holds the account here. ``email`` is the address the provider gave, to show.
    """

    __tablename__ = "linked_identities"
    __table_args__ = (UniqueConstraint("issuer", "subject", name="uq_linked_identities_issuer_subject"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    provider: Mapped[str] = mapped_column(String(32))  # the key of its entry in SOCIAL_PROVIDERS
    provider_name: Mapped[str] = mapped_column(String(100))  # its name when linked, to show
    issuer: Mapped[str] = mapped_column(String(255))
    subject: Mapped[str] = mapped_column(String(255))
    email: Mapped[str | None] = mapped_column(String(200))
    linked_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None]


class OAuthClient(db.Model):
    """An app that signs people in with the portal (the portal as an OpenID provider).

    ``client_id`` is public; the secret of a confidential client is kept only as its SHA-256 (it is
    256 random bits, so no slow hash is needed). A public client (a mobile or single-page app) has
    none and proves itself with PKCE alone.
    """

    __tablename__ = "oauth_clients"

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[str] = mapped_column(String(64), unique=True)
    secret_hash: Mapped[str | None] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(100))
    redirect_uris: Mapped[list] = mapped_column(JSON, default=list)
    post_logout_redirect_uris: Mapped[list] = mapped_column(JSON, default=list)
    backchannel_logout_uri: Mapped[str | None] = mapped_column(String(500))
    scopes: Mapped[list] = mapped_column(JSON, default=list)  # the scopes it may ask for
    public: Mapped[bool] = mapped_column(default=False)
    trusted: Mapped[bool] = mapped_column(default=False)  # first-party: no consent page
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    secret_rotated_at: Mapped[datetime | None]
    disabled_at: Mapped[datetime | None]


class AppGrant(db.Model):
    """What a person allowed an app: the scopes they agreed to, remembered so the consent page is not
    shown again for them. Revoking it ends every sign-in of that app for the person."""

    __tablename__ = "app_grants"
    __table_args__ = (UniqueConstraint("user_id", "client_id", name="uq_app_grants_user_client"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    client_id: Mapped[int] = mapped_column(ForeignKey("oauth_clients.id", ondelete="CASCADE"), index=True)
    scopes: Mapped[list] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class AuthorizationCode(db.Model):
    """An authorization code handed to an app's redirect URI: 60 seconds, once, only its hash kept.
    A code used twice ends the sign-in it made (``credential_id``)."""

    __tablename__ = "authorization_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("oauth_clients.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    redirect_uri: Mapped[str] = mapped_column(String(500))
    scopes: Mapped[list] = mapped_column(JSON, default=list)
    nonce: Mapped[str | None] = mapped_column(String(255))
    code_challenge: Mapped[str] = mapped_column(String(128))
    auth_time: Mapped[datetime]
    method: Mapped[str] = mapped_column(String(60))  # how the browser's sign-in was proven: "password+totp"
    session_id: Mapped[str | None] = mapped_column(String(64))  # the ID token's "sid" for that browser session
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    credential_id: Mapped[int | None] = mapped_column(ForeignKey("credentials.id", ondelete="SET NULL"))


class SigningKey(db.Model):
    """A key the portal signs its tokens with (ID tokens, access tokens, logout tokens). The private
    key is sealed (``secret_box``); the public one is published in the JWKS while any token it signed
    may still be presented (until ``retired_at`` plus the longest token lifetime)."""

    __tablename__ = "signing_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    kid: Mapped[str] = mapped_column(String(64), unique=True)
    algorithm: Mapped[str] = mapped_column(String(10), default="RS256")
    private_sealed: Mapped[bytes] = mapped_column(LargeBinary)
    public_jwk: Mapped[dict] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    retired_at: Mapped[datetime | None]  # when a newer key took over signing


class WebAuthnChallenge(db.Model):
    """A challenge handed to a browser for one WebAuthn ceremony: single use, short-lived, and bound
    to the client that asked for it (``binding_hash``). Found again by the hash of the challenge
    the authenticator signed."""

    __tablename__ = "webauthn_challenges"

    id: Mapped[int] = mapped_column(primary_key=True)
    challenge_hash: Mapped[str] = mapped_column(String(64), unique=True)
    purpose: Mapped[str] = mapped_column(String(12))  # "register" or "authenticate"
    # The user it was made for: always for "register"; for "authenticate" only when the user is
    # known (a second step), not for a passkey-alone sign-in.
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    user_handle: Mapped[bytes | None] = mapped_column(LargeBinary)  # "register": the user.id offered
    binding_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(index=True)
    used_at: Mapped[datetime | None]


class PendingSignIn(db.Model):
    """A sign-in whose first step passed and whose second step (a factor) is awaited.

    Only a hash of its token is stored; the token is held by the browser's session or the API
    client (``mfa_token``). It lives briefly, allows a few tries and is used once.
    """

    __tablename__ = "pending_sign_ins"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    first_step: Mapped[str] = mapped_column(String(20))  # "password", "email_code"
    data: Mapped[dict] = mapped_column(JSON, default=dict)  # what the door needs to finish ("remember")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(index=True)
    used_at: Mapped[datetime | None]


class SignInSource(db.Model):
    """Where an account has signed in from: a browser ("browser", "Chrome|Linux": names only, never
    the whole User-Agent) or an address ("address", the IP), first and last seen.

    A sign-in from a source unseen for SIGN_IN_ALERT_WINDOW is new, and the person is mailed
    (``sign_in_alerts``). Rows unseen for longer are deleted at the account's next sign-in.
    """

    __tablename__ = "sign_in_sources"
    # One row per source of an account; an account's rows are read together at each sign-in.
    __table_args__ = (UniqueConstraint("user_id", "kind", "value", name="uq_sign_in_sources_user_id_kind_value"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(8))  # "browser" or "address"
    value: Mapped[str] = mapped_column(String(64))
    first_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)


class SignInAlert(db.Model):
    """A mail that told a person about a sign-in from a new source, and what it said: what signed in,
    from where, when and how. Its id is what the mail's "This wasn't me" link is bound to; ``used_at``
    makes that link work once. Rows older than SIGN_IN_ALERT_LINK_TTL are deleted at the account's
    next alert."""

    __tablename__ = "sign_in_alerts"
    __table_args__ = (Index("ix_sign_in_alerts_user_id_created_at", "user_id", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(8))  # what was new: "browser" or "address"
    credential_kind: Mapped[str] = mapped_column(String(8))  # "session", "jwt" or "key"
    browser: Mapped[str | None] = mapped_column(String(30))  # "Chrome", for a browser
    system: Mapped[str | None] = mapped_column(String(30))  # "Linux", for a browser
    ip: Mapped[str | None] = mapped_column(String(45))
    method: Mapped[str] = mapped_column(String(60))  # how it was proven: "password+totp", …
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    used_at: Mapped[datetime | None]  # when "This wasn't me" was followed

    @property
    def facts(self) -> str:
        """What signed in, in words of no language ("Firefox · Windows · 198.51.100.23"): how the
        audit trail keeps it, so every reader's page can show it as it is."""
        return " · ".join(part for part in (self.browser, self.system, self.ip) if part) or "—"

    def told(self) -> dict:
        """What a mail tells of this sign-in, as JSON values (the outbox keeps facts, not words)."""
        return {
            "credential_kind": self.credential_kind, "browser": self.browser, "system": self.system,
            "ip": self.ip, "method": self.method, "created_at": self.created_at.isoformat(),
        }
