"""Choosing the language of the pages: a visitor's choice is kept in a cookie, a signed-in person's
on their profile (so their mails follow it too)."""

from datetime import timedelta

from flask import current_app, redirect, request, url_for
from flask_login import current_user

from ..http import safe_next
from ..i18n import LANGUAGE_COOKIE, LANGUAGES
from ..services import accounts
from ..sessions import me, signed_in_user
from . import bp

REMEMBERED_FOR = timedelta(days=365)


@bp.post("/language")
def choose_language():
    """The header's language buttons: a form that works without JavaScript and before signing in."""
    answer = redirect(safe_next(request.form.get("next"), url_for("web.index")))
    language = request.form.get("language")
    if language not in LANGUAGES:
        return answer
    answer.set_cookie(
        LANGUAGE_COOKIE, language, max_age=int(REMEMBERED_FOR.total_seconds()), httponly=True, samesite="Lax",
        secure=bool(current_app.config.get("SESSION_COOKIE_SECURE")),
    )
    if current_user.is_authenticated:
        accounts.update_profile(signed_in_user(), {"language": language}, me())
    return answer
