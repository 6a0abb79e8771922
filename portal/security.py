"""Headers every answer carries: a strict Content-Security-Policy, no sniffing, no framing, a
referrer policy, HSTS in production, ``no-store`` on the API and on anything answered to a
credential, and CORS
only for the origins an operator names.

An answer that sets a cookie is kept from shared caches where the cookie is written, after these
hooks (``sessions.for_this_browser_only``).

The pages have no inline script or style, so the policy needs no ``'unsafe-inline'``. Images may
also be ``blob:`` URLs: the edit page previews a chosen picture from one before it is uploaded.
"""

from urllib.parse import urlsplit

from flask import current_app, g, request, session

from .http import SESSION_CREDENTIAL

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' blob:; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'none'; form-action 'self'"
)
# Set on every answer unless the app set its own.
DEFAULT_HEADERS = (
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "strict-origin-when-cross-origin"),
)
# Answers that may be kept: files whose URL changes with their content, and the public signing keys
# (the same for every caller, whatever credential or cookie a request brings).
CACHEABLE_ENDPOINTS = {"static", "media.avatar", "oidc.jwks"}


def must_not_be_stored() -> bool:
    """Answers no cache may keep: every API answer (some hand out tokens and keys, the rest answer
    a credential) and every answer to a browser session."""
    return (
        request.path.startswith("/api/")
        or "Authorization" in request.headers
        or g.get("credential") is not None
        or SESSION_CREDENTIAL in session
    )


class StandingHeaders:
    """WSGI middleware: the headers that do not depend on the request, added to every answer as it
    starts (unless the app set that header itself).

    Below Flask, so no answer goes without them, and cheap: appending to the list a server sends is a
    fraction of what setting them on each Flask response cost.
    """

    def __init__(self, wsgi_app, headers):
        self.wsgi_app = wsgi_app
        self.headers = [(name.lower(), (name, value)) for name, value in headers]

    def __call__(self, environ, start_response):
        def start(status, headers, exc_info=None):
            present = {name.lower() for name, _ in headers}
            headers.extend(header for name, header in self.headers if name not in present)
            return start_response(status, headers, exc_info)

        return self.wsgi_app(environ, start)


def content_security_policy(provider_origins) -> str:
    """The policy, with the origins of the providers people sign in with in ``form-action``: a
    browser applies it to every redirect a form's answer leads through, so a sign-in button's POST
    may end at the provider's authorization page (on its issuer's origin) and nowhere else."""
    return " ".join((CONTENT_SECURITY_POLICY, *sorted(set(provider_origins))))


def form_action_source(uri: str) -> str:
    """What ``form-action`` must name to let a form's answer redirect to ``uri``: its origin, or for
    an app's own scheme (``com.example.app:/callback``, RFC 8252) that scheme."""
    parts = urlsplit(uri)
    if parts.scheme in ("http", "https"):
        return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}"
    return f"{parts.scheme}:"


def let_forms_lead_to(response, uri: str):
    """This answer's policy lets its forms' answers redirect to ``uri`` as well: the consent page's
    answer goes on to the app's redirect URI, and so may a sign-in page's when an app's request sent
    the person to sign in (``oidc.sign_in_pages``). Every other answer keeps the standing policy; the
    middleware leaves a policy a view set alone."""
    standing = current_app.extensions["content_security_policy"]
    response.headers["Content-Security-Policy"] = f"{standing} {form_action_source(uri)}"
    return response


def register(app) -> None:
    from . import providers

    hsts_seconds = app.config["HSTS_SECONDS"]
    cors_origins = frozenset(app.config["CORS_ORIGINS"] or ())
    policy = content_security_policy(providers.authorization_origins(app))
    app.extensions["content_security_policy"] = policy
    standing = [("Content-Security-Policy", policy), *DEFAULT_HEADERS]
    if hsts_seconds:
        standing.append(("Strict-Transport-Security", f"max-age={int(hsts_seconds)}; includeSubDomains"))
    app.wsgi_app = StandingHeaders(app.wsgi_app, standing)

    @app.after_request
    def security_headers(response):
        headers = response.headers
        if request.endpoint not in CACHEABLE_ENDPOINTS and must_not_be_stored():
            headers["Cache-Control"] = "no-store"
        origin = request.environ.get("HTTP_ORIGIN")
        if origin and origin in cors_origins and request.path.startswith("/api/"):
            # Named origins only, and never with cookies: API credentials travel in a header.
            headers["Access-Control-Allow-Origin"] = origin
            headers["Access-Control-Allow-Headers"] = "Authorization, Content-Type, If-Match, If-None-Match"
            headers["Access-Control-Allow-Methods"] = "GET, POST, PUT, PATCH, DELETE, OPTIONS"
            headers["Access-Control-Expose-Headers"] = "ETag, Retry-After"
            headers.add("Vary", "Origin")
        return response
