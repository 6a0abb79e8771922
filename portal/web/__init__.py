"""Server-rendered pages (session-backed, CSRF-protected forms)."""

from flask import Blueprint

from ..extensions import db, login_manager
from ..models import User

bp = Blueprint("web", __name__)


@login_manager.user_loader
def load_user(user_id: str) -> User | None:
    """The user of a browser session; a deactivated account's session ends at its next request."""
    user = db.session.get(User, int(user_id)) if user_id.isdigit() else None
    return user if user is not None and user.is_active else None

from . import password  # noqa: E402,F401  (routes attach themselves to bp)
