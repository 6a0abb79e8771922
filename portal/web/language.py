"""Choosing the language of the pages: a visitor's choice is kept in a cookie, a signed-in person's
on their profile (so their mails follow it too)."""

from datetime import timedelta

from flask import current_app, redirect, request, url_for
from flask_login import current_user

from ..http import safe_next
from ..i18n import LANGUAGE_COOKIE, LANGUAGES
from ..services.people import accounts
from ..sessions import me, signed_in_user
from . import bp

REMEMBERED_FOR = timedelta(days=365)


def _remember(response, language: str) -> None:
    response.set_cookie(
        LANGUAGE_COOKIE, language, max_age=int(REMEMBERED_FOR.total_seconds()), httponly=True, samesite="Lax",
        secure=bool(current_app.config.get("SESSION_COOKIE_SECURE")),
    )


@bp.post("/language")
def choose_language():
    """The header's language buttons: a form that works without JavaScript and before signing in."""
    answer = redirect(safe_next(request.form.get("next"), url_for("web.index")))
    language = request.form.get("language")
    if language not in LANGUAGES:
        return answer
    _remember(answer, language)
    if current_user.is_authenticated:
        accounts.update_profile(signed_in_user(), {"language": language}, me())
    return answer


@bp.after_request
def follow_the_saved_language(response):
    """A signed-in person's pages keep the cookie at the language saved on their account, however it
    was last chosen (the switcher, or the edit page): the pages after signing out speak it, and an
    older pick in the cookie cannot undo a later choice at the next sign-in
    (``i18n.keep_picked_language``). Pages only: the API neither reads nor writes the cookie."""
    language = getattr(current_user, "language", None) if current_user.is_authenticated else None
    picked = request.cookies.get(LANGUAGE_COOKIE)
    if language in LANGUAGES and picked is not None and picked != language:
        _remember(response, language)
    return response
