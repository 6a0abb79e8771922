"""Where a transaction ends: once per request, at the door; once per unit of work elsewhere.

Services only change rows and flush; whoever called them decides whether the change stands.

- **A request.** An answer below 400 (a page, a redirect, a JSON body) commits everything the
  request wrote, once, after the view; any error answer rolls it all back, so a refused request
  leaves no half of a change behind. An exception nobody handled ends in a 500, whose handler rolls
  back (and Flask-SQLAlchemy's teardown closes the session). Two services a view calls share one
  transaction: both changes stand, or neither.
- **Work outside a request** — a command, a task run after the answer, a step of the mail courier —
  has no door: it runs as a ``unit_of_work``, which commits when the work ends normally and rolls
  back when it raises.

Tries that must count even when the request is then refused (a wrong code, a spent challenge) are
the one exception: they are committed on their own, first, by ``services.plumbing.attempts``.
"""

from collections.abc import Iterator
from contextlib import contextmanager

from flask import Flask, Response, g

from .extensions import db


def keep_though_refused() -> None:
    """Commit this request's writes though its answer is an error: for an answer that hands out
    something it wrote (the API's 401 carrying a pending sign-in's ``mfa_token``)."""
    g.keep_though_refused = True


def commit_or_roll_back(response: Response) -> Response:
    """The door: commit what the request wrote if its answer is not an error, else roll it back."""
    if not db.session.registry.has():
        # No session was opened, so nothing was written through one: the API's reads go straight to
        # the driver, and committing an empty session would cost them more than their query.
        return response
    if response.status_code < 400 or g.pop("keep_though_refused", False):
        db.session.commit()
    else:
        db.session.rollback()
    return response


@contextmanager
def unit_of_work() -> Iterator[None]:
    """Commit what the block writes when it ends normally; roll it back when it raises, or when the
    commit fails. For work that no request's door commits: commands, tasks after the answer, the
    courier's steps."""
    try:
        yield
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise


def register(app: Flask) -> None:
    # Registered first, so it runs last among the after_request hooks: every hook before it may
    # still write (the session's last-seen time, a device cookie's record).
    app.after_request(commit_or_roll_back)
