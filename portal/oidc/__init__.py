"""The portal as an OpenID Connect provider: discovery, the authorization and token endpoints, the
keys apps check its tokens with."""

from flask import Blueprint

bp = Blueprint("oidc", __name__)

from . import keys, provider  # noqa: E402,F401  (routes attach themselves to bp)
