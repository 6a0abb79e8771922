"""Reading a request body into a plain dict: JSON, or form fields and files.

Below the blueprints, so that the rate limiter can read the account a request names from the
same parsed body as the API view or the page that answers it.
"""

import json

from flask import current_app, g, request
from werkzeug.exceptions import BadRequest, RequestEntityTooLarge, UnsupportedMediaType

from .services.errors import ValidationFailed

FORM_TYPES = ("multipart/form-data", "application/x-www-form-urlencoded")


def read_payload() -> dict:
    """The body as a dict; an empty body is ``{}``. Bad JSON is a 400, an unknown type a 415.

    Parsed once per request: the rate limiter reads the body for its keys before the view does.
    Callers must not change the dict.
    """
    if "payload" not in g:
        g.payload = _parse_body()
    return g.payload


def _parse_body() -> dict:
    mimetype = request.mimetype
    if mimetype in FORM_TYPES:
        data = request.form.to_dict()
        data.update(request.files.to_dict())
        return data
    if mimetype == "application/json" or mimetype.endswith("+json"):
        raw = request.get_data(cache=True)
        if not raw.strip():
            return {}
        try:
            data = json.loads(raw)
            # JSON may spell lone surrogates ("\ud800"), which no database or hasher can take.
            json.dumps(data, ensure_ascii=False).encode("utf-8")
        except (ValueError, UnicodeError) as exc:
            raise BadRequest(f"JSON parse error - {exc}") from None
        except RecursionError:
            raise BadRequest("JSON parse error - nested too deeply") from None
        if not isinstance(data, dict):
            raise ValidationFailed.on(
                "non_field_errors", f"Invalid data. Expected a dictionary, but got {type(data).__name__}."
            )
        return data
    if not request.get_data(cache=True):
        return {}
    raise UnsupportedMediaType(f'Unsupported media type "{mimetype}" in request.')


def refuse_unbounded_bodies():
    """Before any view: bodies the parsers would otherwise take in part or without limit are 413.

    A chunked body has no Content-Length, and the server stops reading it at MAX_CONTENT_LENGTH
    without a word: what is left would be parsed as if it were the whole. And werkzeug counts the
    parts of multipart forms (MAX_FORM_PARTS) but not of urlencoded ones.
    """
    environ = request.environ  # read directly: a missing header costs Werkzeug an exception
    if "CONTENT_TYPE" not in environ and "HTTP_TRANSFER_ENCODING" not in environ:
        return  # no body (most reads): nothing to bound
    if request.content_length is None and "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower():
        limit = current_app.config["MAX_CONTENT_LENGTH"]
        if limit and len(request.get_data(cache=True)) >= limit:
            raise RequestEntityTooLarge()
    if request.mimetype == "application/x-www-form-urlencoded":
        parts = current_app.config["MAX_FORM_PARTS"]
        if parts and request.get_data(cache=True).count(b"&") >= parts:
            raise RequestEntityTooLarge()
