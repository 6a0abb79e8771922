"""What views know about the request and hand down to services: who acts, from where."""

from flask import current_app, request

from .services.audit import Actor


def trusted_origin() -> str | None:
    """The request's origin, when Flask has checked its host against TRUSTED_HOSTS."""
    return request.host_url if current_app.config.get("TRUSTED_HOSTS") else None


def acting(via: str, user=None) -> Actor:
    return Actor(user=user, ip=request.remote_addr, via=via, origin=trusted_origin())
