"""Who is calling: one place that reads the Authorization header, for both schemes.

``Authorization: Bearer <JWT access token>`` and ``Authorization: Token <API key>`` are accepted
on every protected route. A failure raises AuthenticationFailed (401 with a reason), or a
flask-jwt-extended/PyJWT error that the JWT loaders turn into the same shape.
"""

from functools import wraps

from flask import g, request

from ..http import acting
from ..models import Credential
from ..services import credentials
from ..services.errors import AuthenticationFailed
from .errors import NOT_PROVIDED


def _credential_from_header() -> Credential:
    scheme, _, value = request.headers.get("Authorization", "").strip().partition(" ")
    scheme, value = scheme.lower(), value.strip()
    if scheme not in ("bearer", "token"):
        raise AuthenticationFailed(NOT_PROVIDED)
    if not value:
        raise AuthenticationFailed("Invalid token header. No credentials provided.")
    if " " in value:
        raise AuthenticationFailed("Invalid token header. Token string should not contain spaces.")
    if scheme == "token":
        credential = credentials.live_credential_for_key(value)
        if credential is None:
            raise AuthenticationFailed("Invalid token.")
        return credential
    claims = credentials.decode_jwt(value)  # errors go to the JWT loaders
    if claims.get("type") != "access":
        raise AuthenticationFailed("Token has wrong type.")
    credential = credentials.live_credential_for_claims(claims)
    if credential is None:
        raise AuthenticationFailed("Token has been revoked.")
    return credential


def authenticated(view=None, *, user_gone=None):
    """Require a live credential of an active user; ``g.user`` and ``g.credential`` are set.

    ``user_gone`` answers a valid credential whose user was deleted (document 000 wants a 404);
    without it such a credential is a 401 like any other dead one.
    """

    def decorator(view):
        @wraps(view)
        def wrapper(*args, **kwargs):
            credential = _credential_from_header()
            user = credential.user
            if user is None:
                if user_gone is not None:
                    return user_gone()
                raise AuthenticationFailed("User not found.")
            if not user.is_active:
                raise AuthenticationFailed("User inactive or deleted.")
            g.user, g.credential = user, credential
            credentials.note_use(credential, request.remote_addr)
            return view(*args, **kwargs)

        return wrapper

    return decorator(view) if view is not None else decorator


def current_actor():
    return acting("api", g.get("user"))
