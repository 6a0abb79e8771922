"""Serving stored avatars at /media/avatars/<name>, and the URLs that point at them."""

from flask import Blueprint, Response, abort, send_from_directory, url_for

from .http import trusted_origin
from .services.people import avatars
from .services.people.avatars import MEDIA_TYPES
from .urls import public_url

bp = Blueprint("media", __name__)

# Each upload gets a fresh name, so a URL never changes content and may be cached for good.
IMMUTABLE = "public, max-age=31536000, immutable"


@bp.get("/media/avatars/<name>")
def avatar(name):
    extension = "." + name.rpartition(".")[2]
    if extension not in MEDIA_TYPES:
        abort(404)
    if avatars.in_database():
        data = avatars.avatar_in_database(name)
        if data is None:
            abort(404)
        response = Response(data, mimetype=MEDIA_TYPES[extension])
    else:
        response = send_from_directory(avatars.avatar_folder(), name, mimetype=MEDIA_TYPES[extension])
    response.headers["Cache-Control"] = IMMUTABLE
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def avatar_path(name: str | None) -> str | None:
    """Site-relative path, as document 000 shows it."""
    return url_for("media.avatar", name=name) if name else None


def avatar_url(name: str | None) -> str | None:
    """Absolute URL, as documents 001, 003 and 004 show it."""
    return public_url(avatar_path(name), trusted_origin()) if name else None
