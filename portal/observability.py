"""Request ids and logs: every request has an id (taken from ``X-Request-ID`` when it is a sane
one, made otherwise), returned in the answer and present in every log line; in production each
request also leaves one JSON log line.

The id is given in WSGI middleware, below Flask: every answer carries it, even one Flask never
made, and a request pays for no hook to have one.
"""

import json
import logging
import os
import re
import time

from flask import has_request_context, request

REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
# Where the middleware leaves the request's id and the moment it came in, in the WSGI environ.
REQUEST_ID_KEY, STARTED_KEY = "portal.request_id", "portal.request_started"
log = logging.getLogger("portal.requests")


class RequestIds:
    """WSGI middleware: the request's id in the environ (``REQUEST_ID_KEY``) and in ``X-Request-ID``."""

    def __init__(self, wsgi_app):
        self.wsgi_app = wsgi_app

    def __call__(self, environ, start_response):
        offered = environ.get("HTTP_X_REQUEST_ID", "")
        request_id = environ[REQUEST_ID_KEY] = offered if REQUEST_ID.fullmatch(offered) else os.urandom(16).hex()
        environ[STARTED_KEY] = time.perf_counter()

        def start(status, headers, exc_info=None):
            headers.append(("X-Request-ID", request_id))
            return start_response(status, headers, exc_info)

        return self.wsgi_app(environ, start)


def current_request_id() -> str:
    """The id of the request being handled, or ``-`` outside a request."""
    return request.environ.get(REQUEST_ID_KEY, "-") if has_request_context() else "-"


class RequestIdFilter(logging.Filter):
    """Puts the current request's id on every log record."""

    def filter(self, record):
        record.request_id = current_request_id()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request id, and any ``extra`` fields."""

    FIELDS = ("method", "path", "status", "duration_ms", "remote_addr", "user_agent")

    def format(self, record):
        line = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", "-"),
        }
        line.update({key: getattr(record, key) for key in self.FIELDS if hasattr(record, key)})
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False)


def register(app) -> None:
    handler = logging.StreamHandler()
    handler.addFilter(RequestIdFilter())
    if app.config["LOG_JSON"]:
        handler.setFormatter(JsonFormatter())
        handler.formatter.converter = time.gmtime
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s [%(request_id)s] %(name)s: %(message)s"))
    portal_logger = logging.getLogger("portal")
    if not any(isinstance(f, RequestIdFilter) for h in portal_logger.handlers for f in h.filters):
        portal_logger.addHandler(handler)
        portal_logger.setLevel(app.config["LOG_LEVEL"])
        portal_logger.propagate = False

    app.wsgi_app = RequestIds(app.wsgi_app)
    if app.config["LOG_REQUESTS"]:
        app.after_request(log_request)


def log_request(response):
    started = request.environ.get(STARTED_KEY, time.perf_counter())
    log.info(
        "%s %s %s", request.method, request.path, response.status_code,
        extra={
            "method": request.method, "path": request.path, "status": response.status_code,
            "duration_ms": round((time.perf_counter() - started) * 1000, 2),
            "remote_addr": request.remote_addr, "user_agent": request.user_agent.string[:200],
        },
    )
    return response
