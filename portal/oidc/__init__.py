"""The portal as an OpenID provider: the endpoints apps use to sign people in with it (RFC 6749,
OpenID Connect Core). The rules live in ``services/oidc``; these views only read and answer."""

from flask import Blueprint

bp = Blueprint("oidc", __name__)

from . import keys  # noqa: E402,F401
