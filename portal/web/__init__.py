"""Server-rendered pages (session-backed, CSRF-protected forms)."""

from flask import Blueprint

bp = Blueprint("web", __name__)

from . import password  # noqa: E402,F401  (routes attach themselves to bp)
