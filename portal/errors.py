"""App-wide error handling: JSON on /api/ paths, an HTML page everywhere else, and never a trace."""

from flask import render_template, request
from werkzeug.exceptions import HTTPException, InternalServerError

from .api import errors as api_errors
from .extensions import db
from .services.errors import ServiceError


def wants_json() -> bool:
    return request.path.startswith("/api/")


def handle_http_error(exc: HTTPException):
    if wants_json():
        return api_errors.http_error(exc)
    return render_template("error.html", code=exc.code, name=exc.name, description=exc.description), exc.code


def handle_server_error(exc: InternalServerError):
    # Whatever failed may have left the transaction half done; nothing of it may be committed later.
    db.session.rollback()
    if wants_json():
        return api_errors.detail(500, api_errors.SERVER_ERROR)
    return render_template("error.html", code=500, name="Server error", description=None), 500


def handle_service_error(exc: ServiceError):
    if wants_json():
        return api_errors.service_error(exc)
    raise exc  # pages handle their own domain errors; one that escapes is a bug (500)


def register(app):
    app.register_error_handler(HTTPException, handle_http_error)
    app.register_error_handler(InternalServerError, handle_server_error)
    app.register_error_handler(ServiceError, handle_service_error)
