"""Apps that sign people in with the portal (``OAuthClient``): registering one, its secret, its
redirect URIs and the scopes it may ask for; staff and the command line manage them alike.

A confidential app gets a secret of 256 random bits, shown once and kept only as its SHA-256 (at
that strength a slow hash adds nothing). A public app (mobile, single page) gets none: PKCE is what
binds its code to it, and the portal asks PKCE of every app anyway. Redirect URIs are compared
exactly, so each is checked when registered: absolute, no fragment, and https unless it is a
loopback address or an app's own scheme (``com.example.app:/callback``, RFC 8252).
"""

import hashlib
import hmac
import secrets
from urllib.parse import urlsplit

from flask_babel import lazy_gettext as _l
from sqlalchemy import bindparam, select, update

from ...extensions import db
from ...models import Credential, OAuthClient, utcnow
from .. import audit
from ..audit import Actor
from ..errors import NotFound, PermissionDenied, ValidationFailed
from ..people.users import MAX_ID

# Every scope an app may ask for, and what it lets the app do, as the consent page says it.
SCOPES = {
    "openid": _l("Know who you are on this portal"),
    "profile": _l("See your name, picture, gender, birthday, time zone and language"),
    "email": _l("See your email address and whether it is verified"),
    "phone": _l("See your phone number"),
    "address": _l("See your country"),
    "offline_access": _l("Stay connected when you are not using it"),
    "api:read": _l("Read your profile through the portal's API"),
    "api:write": _l("Change your profile through the portal's API"),
}
LOOPBACK_HOSTS = {"localhost", "127.0.0.1", "::1"}
STAFF_ONLY = _l("Only staff manage apps.")


def register_app(
    name, redirect_uris, actor: Actor, *, public: bool = False, scopes=None, post_logout_redirect_uris=(),
    backchannel_logout_uri=None, trusted: bool = False,
) -> tuple[OAuthClient, str | None]:
    """A new app and its secret (None for a public app), shown once."""
    _ensure_staff(actor)
    cleaned = _cleaned(name=name, redirect_uris=redirect_uris, scopes=scopes if scopes is not None else list(SCOPES),
                       post_logout_redirect_uris=post_logout_redirect_uris,
                       backchannel_logout_uri=backchannel_logout_uri)
    secret = None if public else secrets.token_urlsafe(32)
    now = utcnow()
    app = OAuthClient(
        client_id=secrets.token_urlsafe(18), secret_hash=_hash(secret) if secret else None, public=bool(public),
        trusted=bool(trusted), created_at=now, updated_at=now, **cleaned,
    )
    db.session.add(app)
    db.session.flush()
    audit.record(actor, "app_registered", None, {"client_id": [None, app.client_id], "name": [None, app.name]},
                 label=app.name)
    return app, secret


def update_app(app: OAuthClient, changes: dict, actor: Actor) -> OAuthClient:
    """Change an app's name, redirect URIs, scopes, logout URIs or trust; audited."""
    _ensure_staff(actor)
    current = {key: getattr(app, key) for key in
               ("name", "redirect_uris", "scopes", "post_logout_redirect_uris", "backchannel_logout_uri")}
    cleaned = _cleaned(**{**current, **{k: v for k, v in changes.items() if k in current}})
    if "trusted" in changes:
        cleaned["trusted"] = bool(changes["trusted"])
    before = {key: getattr(app, key) for key in cleaned}
    for key, value in cleaned.items():
        setattr(app, key, value)
    changed = audit.diff(before, cleaned)
    if changed:
        app.updated_at = utcnow()
        audit.record(actor, "app_changed", None, changed, label=app.name)
    return app


def rotate_secret(app: OAuthClient, actor: Actor) -> str:
    """A new secret for a confidential app; the old one stops working at once."""
    _ensure_staff(actor)
    if app.public:
        raise ValidationFailed.on("non_field_errors", _l("A public app has no secret."))
    secret = secrets.token_urlsafe(32)
    app.secret_hash = _hash(secret)
    app.secret_rotated_at = app.updated_at = utcnow()
    audit.record(actor, "app_secret_rotated", None, {"client_id": [app.client_id, app.client_id]}, label=app.name)
    return secret


def disable_app(app: OAuthClient, actor: Actor) -> None:
    """The app signs nobody in any more, and every sign-in made through it ends."""
    _ensure_staff(actor)
    if app.disabled_at is None:
        now = app.disabled_at = app.updated_at = utcnow()
        db.session.execute(
            update(Credential).where(Credential.client_id == app.id, Credential.revoked_at.is_(None))
            .values(revoked_at=now)
        )
        audit.record(actor, "app_disabled", None, {"client_id": [app.client_id, None]}, label=app.name)


def all_apps() -> list[OAuthClient]:
    """Every app, those that still sign people in first, each group by name."""
    return list(db.session.scalars(
        select(OAuthClient).order_by(OAuthClient.disabled_at.is_not(None), OAuthClient.name, OAuthClient.id)
    ))


def get_app(app_id) -> OAuthClient:
    """The app with this id (its row's, not its client id), disabled or not; NotFound otherwise."""
    app = db.session.get(OAuthClient, app_id) if isinstance(app_id, int) and 0 < app_id <= MAX_ID else None
    if app is None:
        raise NotFound("App not found")
    return app


def find_app(client_id) -> OAuthClient | None:
    """The enabled app with this client id, or None."""
    if not isinstance(client_id, str) or not client_id or len(client_id) > 64:
        return None
    return db.session.scalar(ENABLED_APP, {"client_id": client_id})


# Built once: every call of the token, introspection and revocation endpoints looks its app up.
ENABLED_APP = select(OAuthClient).where(OAuthClient.client_id == bindparam("client_id"),
                                        OAuthClient.disabled_at.is_(None))


def secret_matches(app: OAuthClient, secret) -> bool:
    """Whether ``secret`` is the confidential app's, compared in constant time."""
    return (
        app.secret_hash is not None and isinstance(secret, str)
        and hmac.compare_digest(app.secret_hash, _hash(secret))
    )


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _ensure_staff(actor: Actor) -> None:
    if actor.user is not None and not actor.user.is_staff:
        raise PermissionDenied(STAFF_ONLY)


def _cleaned(*, name, redirect_uris, scopes, post_logout_redirect_uris, backchannel_logout_uri) -> dict:
    errors = {}
    name = name.strip() if isinstance(name, str) else ""
    if not name or len(name) > 100:
        errors["name"] = [_l("Give the app a name of at most 100 characters.")]
    redirect_uris = _uris(redirect_uris)
    if not redirect_uris:
        errors["redirect_uris"] = [_l("Give at least one redirect URI.")]
    bad = [uri for uri in redirect_uris if not _acceptable_redirect(uri)]
    if bad:
        errors["redirect_uris"] = [_l("Not a redirect URI an app may use: %(uris)s", uris=", ".join(bad))]
    post_logout = _uris(post_logout_redirect_uris)
    if bad_logout := [uri for uri in post_logout if not _acceptable_redirect(uri)]:
        errors["post_logout_redirect_uris"] = [_l("Not a URI an app may use: %(uris)s", uris=", ".join(bad_logout))]
    if backchannel_logout_uri and not _acceptable_redirect(backchannel_logout_uri, custom_schemes=False):
        errors["backchannel_logout_uri"] = [_l("Give an https URL (http only on this computer).")]
    scopes = list(dict.fromkeys(scopes or []))
    if unknown := [scope for scope in scopes if scope not in SCOPES]:
        errors["scopes"] = [_l("Unknown scopes: %(scopes)s", scopes=", ".join(map(str, unknown)))]
    if errors:
        raise ValidationFailed(errors)
    return {"name": name, "redirect_uris": redirect_uris, "scopes": scopes,
            "post_logout_redirect_uris": post_logout, "backchannel_logout_uri": backchannel_logout_uri or None}


def _uris(values) -> list[str]:
    if isinstance(values, str):
        values = values.split()
    return list(dict.fromkeys(str(value).strip() for value in values or () if str(value).strip()))


def _acceptable_redirect(uri: str, *, custom_schemes: bool = True) -> bool:
    """https anywhere; http only to this computer; an app's own reverse-domain scheme (RFC 8252)."""
    if len(uri) > 500:
        return False
    try:
        parts = urlsplit(uri)
    except ValueError:
        return False
    if parts.fragment or not parts.scheme:
        return False
    if parts.scheme == "https":
        return bool(parts.hostname)
    if parts.scheme == "http":
        return parts.hostname in LOOPBACK_HOSTS
    return custom_schemes and "." in parts.scheme and parts.scheme not in ("javascript", "data")
