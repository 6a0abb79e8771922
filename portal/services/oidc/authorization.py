"""An app asks the portal to sign a person in (the authorization endpoint), by OAuth 2.1's rules.

``check_request`` reads the request: an unknown app or a redirect URI it did not register is
``NotForTheApp`` (an error page, never a redirect: the URI cannot be trusted with anything); every
other problem is ``ForTheApp`` (sent back to the registered URI with ``error``, ``state`` and
``iss``). PKCE with S256 is required of every app (``plain`` is refused), scopes must be ones the
app may ask for, ``prompt`` is none, login or consent.

``decide`` then says what happens for the person in this browser: ``SignInFirst`` (no session, or
one older than ``max_age`` or than a ``prompt=login`` asked), ``AskConsent`` (the app is not trusted
and the person has not allowed these scopes), or ``Approved``; ``prompt=none`` turns the first two
into ``login_required`` / ``consent_required``. ``approve`` remembers the consent and issues the
code: 60 seconds, once, bound to the app, the redirect URI, the PKCE challenge and the nonce.
"""

import hashlib
import hmac
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import select

from ...extensions import db
from ...models import AppGrant, AuthorizationCode, OAuthClient, User, epoch, utcnow
from .. import audit
from ..audit import Actor
from .apps import find_app

CODE_LIFETIME = timedelta(seconds=60)
PROMPTS = {"none", "login", "consent"}
# How a sign-in was proven ("password+totp"), as the ID token's ``amr`` says it (RFC 8176).
AMR = {"password": "pwd", "email_code": "otp", "totp": "otp", "recovery": "otp", "passkey": "hwk"}


class NotForTheApp(Exception):
    """A request the portal cannot answer at the app's redirect URI: shown on a page."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class ForTheApp(Exception):
    """An OAuth error the app is told at its redirect URI."""

    def __init__(self, request: "AuthorizationRequest", error: str, description: str):
        super().__init__(f"{error}: {description}")
        self.request, self.error, self.description = request, error, description


@dataclass(frozen=True)
class AuthorizationRequest:
    app: OAuthClient
    redirect_uri: str
    scopes: tuple[str, ...]
    state: str | None
    nonce: str | None
    code_challenge: str | None
    code_challenge_method: str | None
    prompt: frozenset = frozenset()
    max_age: int | None = None
    login_hint: str | None = None
    fresh_after: float | None = None  # a prompt=login already sent the person to sign in at this time

    @property
    def is_openid(self) -> bool:
        return "openid" in self.scopes


@dataclass(frozen=True)
class SignInFirst:
    request: AuthorizationRequest


@dataclass(frozen=True)
class AskConsent:
    request: AuthorizationRequest
    new_scopes: tuple[str, ...] = field(default=())  # those not allowed before


@dataclass(frozen=True)
class Approved:
    request: AuthorizationRequest


def check_request(args) -> AuthorizationRequest:
    """The request's parameters, checked (see the module's docstring for what is raised)."""
    app = find_app(args.get("client_id"))
    if app is None:
        raise NotForTheApp("This app is not registered with the portal, or it was disabled.")
    redirect_uri = args.get("redirect_uri")
    if not isinstance(redirect_uri, str) or redirect_uri not in app.redirect_uris:
        raise NotForTheApp("The app asked to come back to an address it did not register.")
    request = AuthorizationRequest(
        app=app, redirect_uri=redirect_uri, scopes=tuple(dict.fromkeys((args.get("scope") or "").split())),
        state=args.get("state"), nonce=args.get("nonce"), code_challenge=args.get("code_challenge"),
        code_challenge_method=args.get("code_challenge_method"),
        prompt=frozenset((args.get("prompt") or "").split()), login_hint=args.get("login_hint"),
    )
    if args.get("response_type") != "code":
        raise ForTheApp(request, "unsupported_response_type", "Only the authorization code flow is offered.")
    if request.prompt - PROMPTS or ("none" in request.prompt and len(request.prompt) > 1):
        raise ForTheApp(request, "invalid_request", "prompt is none, login or consent (none alone).")
    if not request.code_challenge or request.code_challenge_method != "S256":
        raise ForTheApp(request, "invalid_request", "PKCE is required: code_challenge with code_challenge_method=S256.")
    if not 43 <= len(request.code_challenge) <= 128:
        raise ForTheApp(request, "invalid_request", "code_challenge is 43 to 128 characters.")
    if not request.scopes:
        raise ForTheApp(request, "invalid_scope", "Ask for at least one scope.")
    if not_allowed := [scope for scope in request.scopes if scope not in app.scopes]:
        raise ForTheApp(request, "invalid_scope", f"Not a scope this app may ask for: {' '.join(not_allowed)}.")
    for name in ("max_age", "fresh_after"):
        value = args.get(name)
        if value not in (None, ""):
            try:
                number = int(value) if name == "max_age" else float(value)
            except ValueError:
                raise ForTheApp(request, "invalid_request", f"{name} is a number of seconds.") from None
            if number < 0:
                raise ForTheApp(request, "invalid_request", f"{name} is a number of seconds.")
            request = _with(request, **{name: number})
    return request


def _with(request: AuthorizationRequest, **changes) -> AuthorizationRequest:
    return AuthorizationRequest(**{**request.__dict__, **changes})


def decide(request: AuthorizationRequest, user: User | None, proven_at: datetime | None):
    """What happens next for the person signed in to this browser (``user``, whose sign-in was last
    proven at ``proven_at``), or for nobody."""
    now = utcnow()
    too_old = proven_at is None or (
        request.max_age is not None and now - proven_at > timedelta(seconds=request.max_age)
    ) or (
        "login" in request.prompt and (request.fresh_after is None or epoch(proven_at) < request.fresh_after - 1)
    )
    if user is None or too_old:
        if "none" in request.prompt:
            raise ForTheApp(request, "login_required", "The person is not signed in to the portal.")
        return SignInFirst(request)
    if request.app.trusted and "consent" not in request.prompt:
        return Approved(request)
    allowed = set(_grant(user, request.app).scopes) if _grant(user, request.app) is not None else set()
    new_scopes = tuple(scope for scope in request.scopes if scope not in allowed)
    if new_scopes or "consent" in request.prompt:
        if "none" in request.prompt:
            raise ForTheApp(request, "consent_required", "The person has not allowed this app these scopes.")
        return AskConsent(request, new_scopes)
    return Approved(request)


def approve(request: AuthorizationRequest, user: User, actor: Actor, *, auth_time: datetime, method: str,
            session_id: str | None) -> str:
    """Remember that the person allowed these scopes (unless the app is trusted) and issue the code."""
    if not request.app.trusted or "consent" in request.prompt:
        _remember_consent(user, request, actor)
    code = secrets.token_urlsafe(32)
    now = utcnow()
    db.session.add(AuthorizationCode(
        code_hash=code_hash(code), client_id=request.app.id, user_id=user.id, redirect_uri=request.redirect_uri,
        scopes=list(request.scopes), nonce=request.nonce, code_challenge=request.code_challenge,
        auth_time=auth_time, method=method, session_id=session_sid(session_id) if session_id else None, created_at=now,
        expires_at=now + CODE_LIFETIME,
    ))
    return code


def refuse(request: AuthorizationRequest, user: User, actor: Actor) -> ForTheApp:
    """The person said no: the app is told ``access_denied``."""
    audit.record(actor, "app_denied", user, {"app": [None, request.app.name]})
    return ForTheApp(request, "access_denied", "The person did not allow the app.")


def amr_of(method: str) -> list[str]:
    """RFC 8176 values for a credential's method; "mfa" when two factors were proven."""
    parts = [part for part in (method or "password").split("+") if part]
    values = list(dict.fromkeys(AMR.get(part, "pwd") for part in parts))
    if len(parts) > 1 or "passkey" in parts:
        values.append("mfa")
    return values


def session_sid(public_id: str) -> str:
    """The ID token's ``sid`` for a browser session: derived from the session's id with SECRET_KEY, so an
    app can tell sessions apart (and be told one ended) without learning what the cookie names."""
    key = current_app.config["SECRET_KEY"].encode()
    return hmac.new(key, f"oidc-sid:{public_id}".encode(), hashlib.sha256).hexdigest()[:32]


def code_hash(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


def _grant(user: User, app: OAuthClient) -> AppGrant | None:
    return db.session.scalar(
        select(AppGrant).where(AppGrant.user_id == user.id, AppGrant.client_id == app.id, AppGrant.revoked_at.is_(None))
    )


def _remember_consent(user: User, request: AuthorizationRequest, actor: Actor) -> None:
    now = utcnow()
    grant = db.session.scalar(select(AppGrant).where(AppGrant.user_id == user.id, AppGrant.client_id == request.app.id))
    if grant is None:
        grant = AppGrant(user_id=user.id, client_id=request.app.id, scopes=[], created_at=now)
        db.session.add(grant)
    before = list(grant.scopes) if grant.revoked_at is None else []
    grant.scopes = list(dict.fromkeys([*before, *request.scopes]))
    grant.revoked_at = None
    grant.updated_at = now
    if grant.scopes != before:
        audit.record(actor, "app_allowed", user, {"app": [None, request.app.name], "scopes": [before, grant.scopes]})
