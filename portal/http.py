"""What views know about the request and hand down to services: who acts, from where, and where
a browser may safely be sent next."""

from dataclasses import dataclass
from urllib.parse import urlsplit

from flask import current_app, request

from .services.audit import Actor

# The key of the signed session cookie that names the browser's Credential row (and nothing else).
SESSION_CREDENTIAL = "credential"
# The key that holds a sign-in waiting for its second step (the token of ``two_factor.begin_sign_in``).
PENDING_SIGN_IN = "pending_sign_in"
# An account at another provider offered for linking to the account that has its address, until that
# account signs in in this browser (``web.two_step.render_outcome`` links it then).
OFFERED_LINK = "offered_link"


def trusted_origin() -> str | None:
    """The request's origin, when Flask has checked its host against TRUSTED_HOSTS."""
    return request.host_url if current_app.config.get("TRUSTED_HOSTS") else None


@dataclass(frozen=True)
class RelyingParty:
    """The site as WebAuthn names it: its domain (``id``) and the origin pages are served from."""

    id: str
    origin: str


def relying_party() -> RelyingParty:
    """From PUBLIC_BASE_URL when configured, else from the request's host — which Flask has checked
    against TRUSTED_HOSTS; a passkey registered here answers only to this domain."""
    origin = (current_app.config.get("PUBLIC_BASE_URL") or trusted_origin() or request.host_url).rstrip("/")
    parts = urlsplit(origin)
    return RelyingParty(id=parts.hostname or "", origin=f"{parts.scheme}://{parts.netloc}")


def acting(via: str, user=None) -> Actor:
    return Actor(user=user, ip=request.remote_addr, via=via, origin=trusted_origin())


def safe_next(target, default: str) -> str:
    """``target`` when it is a path on this site, else ``default``: ``?next=`` never leads away.

    Browsers read ``//host``, ``/\\host`` and ``https:host`` as other sites, and drop tabs and
    line breaks inside URLs, so anything but a plain absolute path is refused.
    """
    if not isinstance(target, str) or not target.startswith("/") or target.startswith("//"):
        return default
    if "\\" in target or any(ord(ch) < 32 or ord(ch) == 127 for ch in target):
        return default
    parts = urlsplit(target)
    return target if not parts.scheme and not parts.netloc else default
