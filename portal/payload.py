"""Reading a request body into a plain dict: JSON, or form fields and files.

Below the blueprints, so that the rate limiter can read the account a request names from the
same parsed body as the API view or the page that answers it.
"""

import json

from flask import g, request
from werkzeug.exceptions import BadRequest, UnsupportedMediaType

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


def require(payload: dict, *fields: str) -> None:
    """400 with "This field is required." on each of ``fields`` that is missing, null or empty."""
    missing = {field: ["This field is required."] for field in fields if payload.get(field) in (None, "")}
    if missing:
        raise ValidationFailed(missing)
