"""Server-rendered pages (session-backed, CSRF-protected forms) for people managing their account."""

from flask import Blueprint

bp = Blueprint("web", __name__)

from . import access, apps, auth, language, not_me, password, profile, providers, security, sign_in_codes, two_step  # noqa: E402,F401  (routes attach themselves to bp)
