"""The API's one error shape: DRF-style JSON, ``{"detail": …}`` or ``{"field": ["message"]}``.

Also the flask-jwt-extended loaders, whose defaults answer ``{"msg": …}`` with 422.
"""

from functools import wraps

from flask import g, jsonify, request
from werkzeug.exceptions import HTTPException, SecurityError

from ..limits import retry_after_seconds
from ..services.errors import (
    AuthenticationFailed,
    EmailNotVerified,
    InsufficientScope,
    NotFound,
    PermissionDenied,
    PreconditionFailed,
    ReauthenticationRequired,
    SecondFactorRequired,
    ValidationFailed,
)

WWW_AUTHENTICATE = 'Bearer realm="api", Token realm="api"'
NOT_PROVIDED = "Authentication credentials were not provided."
NO_PERMISSION = "You do not have permission to perform this action."
SERVER_ERROR = "A server error occurred."

HTTP_DETAILS = {
    400: "Malformed request.",
    404: "Not found.",
    413: "Request body is too large.",
    500: SERVER_ERROR,
}


def server_errors_as(key: str):
    """Answer this view's server errors as ``{key: …}`` (document 000 says ``error``)."""

    def decorator(view):
        @wraps(view)
        def wrapper(*args, **kwargs):
            g.error_key = key
            return view(*args, **kwargs)

        return wrapper

    return decorator


def insufficient_scope(needed: str) -> str:
    """The ``WWW-Authenticate`` of a 403 to a scoped credential: what the route needs (``full``: no
    scope grants it)."""
    return f'Bearer error="insufficient_scope", scope="{needed}"'


def error_response(status: int, body: dict, headers=None):
    response = jsonify(body)
    response.status_code = status
    for name, value in headers or ():
        response.headers[name] = value
    if status == 401:
        response.headers["WWW-Authenticate"] = WWW_AUTHENTICATE
    return response


def detail(status: int, message: str, headers=None):
    # Some document routes (000) answer server errors as {"error": …}; a view says so in g.error_key.
    key = g.get("error_key", "detail") if status >= 500 else "detail"
    return error_response(status, {key: message}, headers)


def http_error(exc: HTTPException):
    """JSON for any HTTP error on an /api/ path, keeping headers such as Allow and Retry-After."""
    status = exc.code or 500
    headers = [(k, v) for k, v in exc.get_headers() if k.lower() != "content-type"]
    if status == 405:
        message = f'Method "{request.method}" not allowed.'
    elif status == 429:
        wait = retry_after_seconds()
        message = "Request was throttled." + (f" Expected available in {wait} seconds." if wait else "")
    elif isinstance(exc, SecurityError):
        message = HTTP_DETAILS[400]  # werkzeug's text repeats the refused Host header
    elif status in (400, 415) and exc.description and exc.description != type(exc).description:
        message = exc.description
    else:
        message = HTTP_DETAILS.get(status) or exc.name + "."
    return detail(status, message, headers)


def service_error(exc):
    if isinstance(exc, ValidationFailed):
        return error_response(400, exc.errors)
    if isinstance(exc, EmailNotVerified):
        return detail(403, exc.detail)
    if isinstance(exc, AuthenticationFailed):
        return detail(401, exc.detail)
    if isinstance(exc, InsufficientScope):  # RFC 6750 section 3.1
        return detail(403, exc.detail, [("WWW-Authenticate", insufficient_scope(exc.needed))])
    if isinstance(exc, ReauthenticationRequired | SecondFactorRequired):
        return detail(403, str(exc))  # says what to do about it
    if isinstance(exc, PermissionDenied):
        return detail(403, NO_PERMISSION)
    if isinstance(exc, PreconditionFailed):
        return detail(412, str(exc))
    if isinstance(exc, NotFound):
        return error_response(404, {"error": str(exc) or "Not found"})
    raise exc


def register_jwt_loaders(jwt):
    """Decoding a JWT (``tokens.decode_jwt``) raises PyJWT's errors, which this loader answers
    (an expired token is the service's own AuthenticationFailed).

    Revocation is checked against the Credential rows by the portal itself (``api.auth``), so the
    manager's blocklist, user-lookup and freshness loaders are never reached.
    """
    jwt.invalid_token_loader(lambda reason: detail(401, "Token is invalid or expired."))
