"""``gunicorn wsgi:app`` from the repository's folder, as before: the app of ``portal.wsgi``."""

from portal.wsgi import app

__all__ = ["app"]
