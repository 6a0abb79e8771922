"""``GET /oauth/jwks``: the public keys apps check the portal's tokens with (RFC 7517's JWK Set).

Public and the same for every caller, so any cache may keep it for five minutes: an app that meets a
``kid`` it does not know fetches the set again. A new key signs as soon as it is made, and the key it
replaced stays in the set for SIGNING_KEY_RETIREMENT, longer than any token it signed lives.
"""

from flask import jsonify

from ..services.oidc import signing_keys
from . import bp

MAX_AGE = 300  # seconds a cache may keep the set


@bp.get("/oauth/jwks")
def jwks():
    response = jsonify(signing_keys.published_jwks())
    response.cache_control.public = True
    response.cache_control.max_age = MAX_AGE
    # A single-page app checks ID tokens in the browser: the set is readable from any origin (it
    # holds nothing secret, and no cookie is sent for it).
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response
