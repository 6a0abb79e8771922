"""What views know about the request and hand down to services: who acts, from where, and where
a browser may safely be sent next."""

from urllib.parse import urlsplit

from flask import current_app, request

from .services.audit import Actor

# The key of the signed session cookie that names the browser's Credential row (and nothing else).
SESSION_CREDENTIAL = "credential"


def trusted_origin() -> str | None:
    """The request's origin, when Flask has checked its host against TRUSTED_HOSTS."""
    return request.host_url if current_app.config.get("TRUSTED_HOSTS") else None


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
