"""Work done after the answer has been decided, for requests whose timing must not tell anything.

"Send me a code" and "send me a reset link" answer the same whether or not the address has an
account; if the look-up and the mail happened before the answer, its timing would tell. Such
work runs here, on its own thread with its own app context (and so its own database session), as
one unit of work: what it writes commits when it ends, and rolls back if it fails
(``portal.transactions.unit_of_work``).
"""

import logging
import threading

from flask import current_app

from ...transactions import unit_of_work
from ..mail.courier import settle_all

log = logging.getLogger(__name__)

_running: set[threading.Thread] = set()
_lock = threading.Lock()


def run_in_background(task, *args) -> None:
    """Run ``task(*args)`` on a new thread inside an app context, committed as one unit of work;
    errors are logged, never raised."""
    app = current_app._get_current_object()

    def target():
        try:
            with app.app_context(), unit_of_work():
                task(*args)
        except Exception:
            log.exception("Background task %s failed", getattr(task, "__name__", task))
        finally:
            with _lock:
                _running.discard(threading.current_thread())

    # Not a daemon: a worker that is shutting down finishes the mail it promised first.
    thread = threading.Thread(target=target, name=f"portal-{getattr(task, '__name__', 'task')}")
    with _lock:
        _running.add(thread)
    thread.start()


def wait_for_background(timeout: float | None = 30) -> None:
    """Block until every background task started so far has finished, and the mail they and earlier
    requests queued has been handed over (or scheduled for a retry): tests, and clean shutdowns."""
    while True:
        with _lock:
            pending = list(_running)
        if not pending:
            break
        for thread in pending:
            thread.join(timeout)
    settle_all(timeout)
