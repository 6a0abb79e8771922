"""App-wide error handling: JSON on /api/ paths, an HTML page everywhere else, and never a trace."""

from flask import render_template, request
from flask.globals import request_ctx
from werkzeug.exceptions import HTTPException, InternalServerError

from .api import errors as api_errors
from .extensions import db
from .limits import retry_after_seconds
from .services.errors import ServiceError


def wants_json() -> bool:
    return request.path.startswith("/api/")


def handle_http_error(exc: HTTPException):
    if wants_json():
        return api_errors.http_error(exc)
    # Keep what the error says in its headers (Allow on 405), never its HTML content type twice.
    headers = [(k, v) for k, v in exc.get_headers() if k.lower() != "content-type"]
    if request_ctx.url_adapter is None:
        # The Host header was refused: no URL of the site can be built, so the page is plain text.
        return f"{exc.code} {exc.name}\n", exc.code, [("Content-Type", "text/plain; charset=utf-8")]
    retry_after = retry_after_seconds() if exc.code == 429 else None
    page = render_template("errors/error.html", code=exc.code, name=exc.name, description=exc.description,
                           retry_after=retry_after)
    return page, exc.code, headers


def handle_server_error(exc: InternalServerError):
    # Whatever failed may have left the transaction half done; nothing of it may be committed later.
    db.session.rollback()
    if wants_json():
        return api_errors.detail(500, api_errors.SERVER_ERROR)
    # A bare page: it must not depend on the database that may just have failed.
    return render_template("errors/error.html", code=500, name="Server error", bare=True), 500


def handle_service_error(exc: ServiceError):
    if wants_json():
        return api_errors.service_error(exc)
    raise exc  # pages handle their own domain errors; one that escapes is a bug (500)


def register(app):
    app.register_error_handler(HTTPException, handle_http_error)
    app.register_error_handler(InternalServerError, handle_server_error)
    app.register_error_handler(ServiceError, handle_service_error)
