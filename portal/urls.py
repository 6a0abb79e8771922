"""Absolute URLs for links that leave the site (mails, avatar URLs in API answers).

The origin is PUBLIC_BASE_URL when configured; otherwise the origin the request came in on, but
only when the view vouched for it (Flask checks the Host header against TRUSTED_HOSTS) — never
an arbitrary ``Host`` header.
"""

from flask import current_app

FALLBACK_ORIGIN = "http://127.0.0.1:5000"  # what `make run` serves; used by the CLI in development


def public_url(path: str, origin: str | None = None) -> str:
    base = current_app.config.get("PUBLIC_BASE_URL") or origin or FALLBACK_ORIGIN
    return base.rstrip("/") + path
