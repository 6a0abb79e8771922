"""Request ids and logs: every request has an id (taken from ``X-Request-ID`` when it is a sane
one, made otherwise), returned in the answer and present in every log line; in production each
request also leaves one JSON log line."""

import json
import logging
import re
import time
import os

from flask import g, has_request_context, request

REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
log = logging.getLogger("portal.requests")


class RequestIdFilter(logging.Filter):
    """Puts the current request's id on every log record (``-`` outside a request)."""

    def filter(self, record):
        record.request_id = g.get("request_id", "-") if has_request_context() else "-"
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

    @app.before_request
    def take_request_id():
        offered = request.environ.get("HTTP_X_REQUEST_ID", "")
        g.request_id = offered if REQUEST_ID.fullmatch(offered) else os.urandom(16).hex()
        g.request_started = time.perf_counter()

    @app.after_request
    def give_request_id(response):
        request_id = g.get("request_id")
        if request_id:
            response.headers["X-Request-ID"] = request_id
        if app.config["LOG_REQUESTS"]:
            log.info(
                "%s %s %s", request.method, request.path, response.status_code,
                extra={
                    "method": request.method, "path": request.path, "status": response.status_code,
                    "duration_ms": round((time.perf_counter() - g.get("request_started", time.perf_counter())) * 1000, 2),
                    "remote_addr": request.remote_addr, "user_agent": request.user_agent.string[:200],
                },
            )
        return response
