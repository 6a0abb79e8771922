"""One commit per request, at the door.

Services only change rows and flush; the request that called them decides whether the change
stands. An answer below 400 (a page, a redirect, a JSON body) commits everything the request wrote,
once, after the view; any error answer rolls it all back, so a refused request leaves no half of a
change behind. An exception nobody handled ends in a 500, and Flask-SQLAlchemy's teardown rolls back.

Tries that must count even when the request is then refused (a wrong code, a spent challenge) are
the one exception: they are committed on their own, first, by ``services.plumbing.attempts``.
"""

from flask import Flask, Response, g

from .extensions import db


def keep_though_refused() -> None:
    """Commit this request's writes though its answer is an error: for an answer that hands out
    something it wrote (the API's 401 carrying a pending sign-in's ``mfa_token``)."""
    g.keep_though_refused = True


def commit_or_roll_back(response: Response) -> Response:
    if not db.session.registry.has():
        # No session was opened, so nothing was written through one: the API's reads go straight to
        # the driver, and committing an empty session would cost them more than their query.
        return response
    if response.status_code < 400 or g.pop("keep_though_refused", False):
        db.session.commit()
    else:
        db.session.rollback()
    return response


def register(app: Flask) -> None:
    # Registered first, so it runs last among the after_request hooks: every hook before it may
    # still write (the session's last-seen time, a device cookie's record).
    app.after_request(commit_or_roll_back)
