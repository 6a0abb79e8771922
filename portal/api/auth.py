"""Who is calling, and whether their credential reaches the route: one place that reads the
Authorization header, for both schemes, and where every route declares what it needs.

``Authorization: Bearer <JWT access token>`` (the portal's own, or an app's ``at+jwt`` access
token) and ``Authorization: Token <API key>`` are accepted on every protected route. A failure
raises AuthenticationFailed (401 with a reason), or a flask-jwt-extended/PyJWT error that the JWT
loaders turn into the same shape. A scoped credential (an app's token, an API key with scopes)
whose scopes do not reach the route is a 403 ``insufficient_scope`` (``ways_in.scopes``).

The presented credential and its user are read as snapshots (``caller()``), which is all a read
needs; a view that changes something asks for the models (``caller_user()``, ``caller_credential()``).
"""

import base64
import functools
import json
from functools import wraps

from flask import after_this_request, g, request

from ..http import acting, relying_party
from ..models import Credential, CredentialSnapshot, User, UserSnapshot, utcnow
from ..services.errors import AuthenticationFailed
from ..services.oidc import issuance, signing_keys
from ..services.ways_in import callers, credentials, scopes, tokens
from ..services.ways_in.scopes import ANY, FULL, READ, WRITE  # what a route may need, for the views to name
from .errors import NOT_PROVIDED

INVALID_APP_TOKEN = "Token is invalid or expired."


def _credential_from_header() -> CredentialSnapshot:
    scheme, _, value = request.environ.get("HTTP_AUTHORIZATION", "").strip().partition(" ")
    scheme, value = scheme.lower(), value.strip()
    if scheme not in ("bearer", "token"):
        raise AuthenticationFailed(NOT_PROVIDED)
    if not value:
        raise AuthenticationFailed("Invalid token header. No credentials provided.")
    if " " in value:
        raise AuthenticationFailed("Invalid token header. Token string should not contain spaces.")
    if scheme == "token":
        credential = callers.caller_for_key(value)
        if credential is None:
            raise AuthenticationFailed("Invalid token.")
        return credential
    if _token_type(value.partition(".")[0]) == "at+jwt":
        return _app_caller(value)
    claims = tokens.decode_jwt(value)  # errors go to the JWT loaders
    if claims.get("type") != "access":
        raise AuthenticationFailed("Token has wrong type.")
    credential = callers.caller_for_claims(claims)
    if credential is None:
        raise AuthenticationFailed(credentials.REVOKED)
    return credential


@functools.lru_cache(maxsize=64)
def _token_type(header: str) -> str | None:
    """The ``typ`` of a JWT's header segment, lower case; None when it is not a JSON object. The
    portal's own tokens share one header, an app's a few (one per signing key): remembered."""
    try:
        parsed = json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))
    except ValueError:
        return None
    return str(parsed.get("typ", "")).lower() if isinstance(parsed, dict) else None


def _app_caller(token: str) -> CredentialSnapshot:
    """The app sign-in an access token the portal issued to an app belongs to, read like every other
    credential (``callers``): a revoked sign-in is refused at once, though its token has not expired."""
    try:
        claims = issuance.access_claims(token, issuer=relying_party().origin)
    except signing_keys.InvalidToken:
        raise AuthenticationFailed(INVALID_APP_TOKEN) from None
    credential = callers.caller_for_app_claims(claims)
    if credential is None:
        raise AuthenticationFailed(credentials.REVOKED)
    return credential


def authenticated(view=None, *, user_gone=None, needs=FULL):
    """Require a live credential of an active user; ``caller()`` answers who it is.

    ``needs``: what a scoped credential must hold to use the route (``ways_in.scopes``): ``READ``,
    ``WRITE``, ``ANY`` or ``FULL``, or a dict of them by method (a HEAD as its GET; a method not
    named: FULL). FULL, the default, refuses every scoped credential: a route that declares nothing
    is closed to apps and scoped keys. A full credential passes every route.

    ``user_gone`` answers a valid credential whose user was deleted (document 000 wants a 404);
    without it such a credential is a 401 like any other dead one.
    """
    by_method = _needs_by_method(needs)

    def decorator(view):
        @wraps(view)
        def wrapper(*args, **kwargs):
            credential = _credential_from_header()
            if credential.user is None and user_gone is not None:
                return user_gone()
            now = utcnow()  # one reading of the clock for the idle check and the note of use
            credentials.check_usable(credential, now)
            if credential.scopes is not None:
                scopes.check(credential, by_method.get(request.method, FULL))
            g.api_credential = credential  # a snapshot; g.credential is a browser session's model
            credentials.note_use(credential, request.remote_addr, now)
            if credential.user.password_breached:
                tell_about_breached_password()
            return view(*args, **kwargs)

        # Read once, when the OpenAPI document is built (its security requirement and 401); the
        # functools.wraps of any decorator above carries it to the view Flask serves.
        wrapper.requires_credentials = True
        wrapper.scope_needs = by_method
        return wrapper

    return decorator(view) if view is not None else decorator


def _needs_by_method(needs) -> dict[str, str]:
    named = dict(needs) if isinstance(needs, dict) else {method: needs for method in METHODS}
    if "GET" in named:
        named.setdefault("HEAD", named["GET"])
    for need in named.values():
        if need not in (READ, WRITE, ANY, FULL):
            raise ValueError(f"Unknown need {need!r}: READ, WRITE, ANY or FULL.")
    return named


METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def requires_credentials(view) -> bool:
    """Whether ``view`` is wrapped by ``authenticated``."""
    return getattr(view, "requires_credentials", False)


def needs_of(view, method: str) -> str | None:
    """What a scoped credential needs for ``method`` of ``view`` (None: the route takes no credential)."""
    if not requires_credentials(view):
        return None
    return view.scope_needs.get(method, FULL)


def require(needed: str) -> None:
    """Within a route, a further need of one request (a profile write that changes the email: FULL)."""
    scopes.check(g.api_credential, needed)


def staff_rights() -> bool:
    """Whether the caller may use their staff rights on someone else's account: full credentials only."""
    return scopes.staff_rights(g.api_credential)


# Every answer to a caller whose password appeared in breach data says so, until it is changed.
BREACHED_PASSWORD_HEADER = "X-Password-Breached"


def tell_about_breached_password() -> None:
    """Mark this request's answer: the caller signs in with a password found in breach data."""

    @after_this_request
    def mark(response):
        response.headers[BREACHED_PASSWORD_HEADER] = "true"
        return response


def caller() -> UserSnapshot:
    """The authenticated user as read when the request began: enough to answer or to check rights."""
    return g.api_credential.user


def caller_credential() -> Credential:
    """The presented credential as a model, to revoke it or keep it."""
    if "api_credential_model" not in g:
        g.api_credential_model = credentials.model_of(g.api_credential)
    return g.api_credential_model


def caller_user() -> User:
    """The authenticated user as a model, to change."""
    return caller_credential().user


def current_actor():
    """Who acts in this request, for the services' audit records: the caller's model, if any."""
    return acting("api", caller_user() if "api_credential" in g else None)
