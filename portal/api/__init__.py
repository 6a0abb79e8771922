"""The JSON API: credentials, and the five documents' dialects over one service layer."""

from flask import Blueprint

bp = Blueprint("api", __name__, url_prefix="/api")

from . import accounts_v1, apps, credentials, openapi, profiles, providers, sign_in_codes, two_step  # noqa: E402,F401  (routes attach themselves to bp)
