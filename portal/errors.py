"""App-wide error handling: JSON on /api/ paths, an HTML page everywhere else, and never a trace.

An error page's words come from ``EXPLANATIONS`` (status → title and explanation, in the reader's
language). A status it does not name is told by Werkzeug's name and description on an English page,
and in any other language (Werkzeug's words are English) by which side the trouble is on. A form
whose CSRF token failed is recognised by its error's type (Flask-WTF's ``CSRFError``), and says so.
"""

from collections.abc import Callable
from dataclasses import dataclass

from flask import current_app, render_template, request
from flask.globals import request_ctx
from flask_babel import get_locale
from flask_babel import lazy_gettext as _l
from flask_wtf.csrf import CSRFError
from markupsafe import Markup
from werkzeug.exceptions import HTTPException, InternalServerError

from .api import errors as api_errors
from .extensions import db
from .limits import retry_after_seconds
from .services.errors import ServiceError
from .templating import number


def _largest_upload() -> dict:
    return {"size": number((current_app.config["MAX_CONTENT_LENGTH"] or 0) // 1048576)}


@dataclass(frozen=True)
class Explanation:
    """What an error page says of a status: its title, and what it means for the reader; ``values``
    gives what the explanation names (``%(size)s``) when the page is written."""

    title: str  # translatable
    text: str  # translatable
    values: Callable[[], dict] = dict

    def written(self) -> tuple[Markup, Markup]:
        # As a template's ``_()`` writes them: the catalogue's sentence trusted, its values escaped.
        return Markup(str(self.title)), Markup(str(self.text)) % self.values()


EXPLANATIONS = {
    400: Explanation(
        _l("This request could not be handled"),
        _l("Something in it was missing or not right. If you were sending a form, go back, reload the page and try "
           "again."),
    ),
    403: Explanation(_l("You may not open this page"), _l("Your account does not have access to it.")),
    404: Explanation(_l("Page not found"), _l("The address may be mistyped, or the page has moved or been removed.")),
    405: Explanation(
        _l("That does not work here"), _l("This page cannot be used that way. Use the links and buttons on the site.")
    ),
    413: Explanation(
        _l("That upload is too large"),
        _l("The whole request may be at most %(size)s MB. Choose a smaller file."), _largest_upload,
    ),
    429: Explanation(_l("Too many attempts"), _l("Please wait a little and try again.")),
    500: Explanation(
        _l("Something went wrong on our side"), _l("Nothing you sent was kept. Please try again in a moment.")
    ),
}
# A status not explained, on a page not in English: which side the trouble is on.
OUR_SIDE = Explanation(_l("Something went wrong on our side"), _l("Please try again in a moment."))
YOUR_SIDE = Explanation(_l("This request could not be handled"), _l("Go back, reload the page and try again."))


def words_for(code: int, name: str | None = None, description: str | None = None) -> tuple[str, str]:
    """The title and explanation of an error page for ``code`` (``name`` and ``description``:
    Werkzeug's, English, for a status the portal does not explain)."""
    if code in EXPLANATIONS:
        return EXPLANATIONS[code].written()
    if str(get_locale() or "en") == "en":
        return name or "Error", description or ""
    return (OUR_SIDE if code >= 500 else YOUR_SIDE).written()


def error_page(code: int, *, name=None, description=None, reason=None, form_expired=False, retry_after=None,
               bare=False) -> str:
    """The HTML error page for ``code``; ``reason``: a rule of the portal that said no gives its own."""
    title, text = words_for(code, name, description)
    return render_template(
        "errors/error.html", code=code, title=title, text=reason or text, form_expired=form_expired,
        retry_after=retry_after, bare=bare,
    )


def wants_json() -> bool:
    return request.path.startswith("/api/")


def handle_http_error(exc: HTTPException, *, form_expired: bool = False):
    if wants_json():
        return api_errors.http_error(exc)
    # Keep what the error says in its headers (Allow on 405), never its HTML content type twice.
    headers = [(k, v) for k, v in exc.get_headers() if k.lower() != "content-type"]
    if request_ctx.url_adapter is None:
        # The Host header was refused: no URL of the site can be built, so the page is plain text.
        return f"{exc.code} {exc.name}\n", exc.code, [("Content-Type", "text/plain; charset=utf-8")]
    retry_after = retry_after_seconds() if exc.code == 429 else None
    page = error_page(exc.code, name=exc.name, description=exc.description, form_expired=form_expired,
                      retry_after=retry_after)
    return page, exc.code, headers


def handle_csrf_error(exc: CSRFError):
    """A form whose CSRF token is missing, expired or another browser's: a 400 that says so."""
    return handle_http_error(exc, form_expired=True)


def handle_server_error(exc: InternalServerError):
    # Whatever failed may have left the transaction half done; nothing of it may be committed later.
    db.session.rollback()
    if wants_json():
        return api_errors.detail(500, api_errors.SERVER_ERROR)
    # A bare page: it must not depend on the database that may just have failed.
    return error_page(500, name="Server error", bare=True), 500


def handle_service_error(exc: ServiceError):
    if wants_json():
        return api_errors.service_error(exc)
    raise exc  # pages handle their own domain errors; one that escapes is a bug (500)


def register(app):
    app.register_error_handler(HTTPException, handle_http_error)
    app.register_error_handler(CSRFError, handle_csrf_error)
    app.register_error_handler(InternalServerError, handle_server_error)
    app.register_error_handler(ServiceError, handle_service_error)
