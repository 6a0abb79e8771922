"""Absolute URLs, built from the configured public origin or a trusted request host.

Never from an arbitrary ``Host`` header: without PUBLIC_BASE_URL the request's host is used only
when TRUSTED_HOSTS is set, and Flask has then already refused any host outside that list.
"""

from flask import current_app, has_request_context, request

FALLBACK_ORIGIN = "http://127.0.0.1:5000"


def public_url(path: str) -> str:
    base = current_app.config.get("PUBLIC_BASE_URL")
    if not base:
        trusted = current_app.config.get("TRUSTED_HOSTS")
        base = request.host_url if trusted and has_request_context() else FALLBACK_ORIGIN
    return base.rstrip("/") + path
