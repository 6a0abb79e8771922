"""Who is calling: one place that reads the Authorization header, for both schemes.

``Authorization: Bearer <JWT access token>`` and ``Authorization: Token <API key>`` are accepted
on every protected route. A failure raises AuthenticationFailed (401 with a reason), or a
flask-jwt-extended/PyJWT error that the JWT loaders turn into the same shape.

The presented credential and its user are read as snapshots (``caller()``), which is all a read
needs; a view that changes something asks for the models (``caller_user()``, ``caller_credential()``).
"""

from functools import wraps

from flask import after_this_request, g, request

from ..http import acting
from ..models import Credential, CredentialSnapshot, User, UserSnapshot, utcnow
from ..services.errors import AuthenticationFailed
from ..services.ways_in import callers, credentials, tokens
from .errors import NOT_PROVIDED


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
    claims = tokens.decode_jwt(value)  # errors go to the JWT loaders
    if claims.get("type") != "access":
        raise AuthenticationFailed("Token has wrong type.")
    credential = callers.caller_for_claims(claims)
    if credential is None:
        raise AuthenticationFailed(credentials.REVOKED)
    return credential


def authenticated(view=None, *, user_gone=None):
    """Require a live credential of an active user; ``caller()`` answers who it is.

    ``user_gone`` answers a valid credential whose user was deleted (document 000 wants a 404);
    without it such a credential is a 401 like any other dead one.
    """

    def decorator(view):
        @wraps(view)
        def wrapper(*args, **kwargs):
            credential = _credential_from_header()
            if credential.user is None and user_gone is not None:
                return user_gone()
            now = utcnow()  # one reading of the clock for the idle check and the note of use
            credentials.check_usable(credential, now)
            g.api_credential = credential  # a snapshot; g.credential is a browser session's model
            credentials.note_use(credential, request.remote_addr, now)
            if credential.user.password_breached:
                tell_about_breached_password()
            return view(*args, **kwargs)

        # Read once, when the OpenAPI document is built (its security requirement and 401); the
        # functools.wraps of any decorator above carries it to the view Flask serves.
        wrapper.requires_credentials = True
        return wrapper

    return decorator(view) if view is not None else decorator


def requires_credentials(view) -> bool:
    """Whether ``view`` is wrapped by ``authenticated``."""
    return getattr(view, "requires_credentials", False)


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
