"""The app process delivering its own outbox (MAIL_DELIVERY = "app", the default): no extra process.

When a transaction that queued mail commits (``outbox``), delivery starts once the work around it is
done: for a request, on a thread of its own as the request ends, so no answer waits for the mail
server; anywhere else (a command, a task after the answer), right there, as its app context ends.
The thread stays while any message is pending, waking when a retry falls due, and ends when the
outbox is empty. A message left pending by a process that died is delivered at the next wake of any
process (gunicorn wakes each worker as it starts) or by ``flask deliver-mail``.

With MAIL_DELIVERY = "worker" the app never delivers: ``flask deliver-mail --watch`` does.

Delivering happens outside any request, so no door commits it: ``deliver_due`` is the deliverer's
edge, and commits each of its steps as a unit of work of its own (``portal.transactions``).
"""

import logging
import threading
import weakref

from flask import Flask, current_app, g, has_request_context

from ...extensions import db
from ...models import utcnow
from ...transactions import unit_of_work
from . import outbox

log = logging.getLogger(__name__)

QUEUED_KEY = "portal_mail_committed"  # in ``g``: where mail was committed ("request" or "elsewhere")
SHORTEST_WAIT = 0.05  # seconds: never spin on a row whose claim has just lapsed
_couriers: "weakref.WeakSet[Courier]" = weakref.WeakSet()


class Courier:
    """One app's deliverer in this process: a thread that drains the outbox while anything is pending."""

    def __init__(self, app: Flask):
        self.app = app
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._busy = False
        self._stopped = False
        _couriers.add(self)

    # Called by the outbox after a commit that queued mail (inside the session's event: no SQL here).
    def mail_committed(self) -> None:
        g.setdefault(QUEUED_KEY, "request" if has_request_context() else "elsewhere")

    def deliver_queued(self, _exc=None) -> None:
        """At the end of an app context that committed mail: wake the thread (a request), or deliver
        right here (a command, a task already after the answer) and leave retries to the thread."""
        where = g.pop(QUEUED_KEY, None)
        if where is None:
            return
        if where == "elsewhere":
            try:
                deliver_due()
            except Exception:
                log.exception("Delivering the outbox failed; the messages stay queued.")
            finally:
                db.session.remove()
            if not self._nothing_pending():
                self.wake()
            return
        self.wake()

    def _nothing_pending(self) -> bool:
        try:
            with unit_of_work():
                return outbox.next_due_at() is None
        finally:
            db.session.remove()

    def wake(self) -> None:
        """Deliver what is due now, on the courier's thread (started if it is not running)."""
        with self._lock:
            if self._stopped:
                return
            self._wake.set()
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="portal-courier", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        poll = self.app.config["MAIL_POLL_INTERVAL"].total_seconds()
        while True:
            with self._lock:
                if self._stopped:
                    self._thread = None
                    self._changed.notify_all()
                    return
                self._wake.clear()
                self._busy = True
            next_due = None
            try:
                with self.app.app_context():
                    deliver_due()
                    with unit_of_work():
                        next_due = outbox.next_due_at()
            except Exception:
                log.exception("Delivering the outbox failed; trying again in %s s.", poll)
                next_due = utcnow()
                wait = poll
            else:
                wait = None if next_due is None else (next_due - utcnow()).total_seconds()
            with self._lock:
                self._busy = False
                self._changed.notify_all()
                if next_due is None and not self._wake.is_set():
                    self._thread = None  # nothing pending: the next commit with mail starts a thread
                    return
            if wait is not None:
                self._wake.wait(min(max(wait, SHORTEST_WAIT), poll))

    def settle(self, timeout: float | None = 30) -> None:
        """Wait until nothing is being delivered and no wake is pending (retries may still be scheduled)."""
        with self._lock:
            self._changed.wait_for(
                lambda: self._thread is None or self._stopped or not (self._busy or self._wake.is_set()), timeout
            )

    def stop(self, timeout: float | None = 30) -> None:
        """Stop the thread (after the message it is handing over, if any)."""
        with self._lock:
            self._stopped = True
            thread = self._thread
            self._wake.set()
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)


def deliver_due(limit: int = 100) -> outbox.DeliveryReport:
    """Deliver every due message that no other deliverer holds, then purge old finished rows.

    Each step is a unit of work committed here: a claim commits before its message is handed over
    (so another deliverer sees the row taken, and no transaction stays open while the mail server
    answers), and the outcome commits after.
    """
    with unit_of_work():
        due = outbox.due_mail(limit)
    report = outbox.DeliveryReport()
    for row_id in due:
        with unit_of_work():
            claimed = outbox.claim(row_id)
        if claimed is not None:
            with unit_of_work():
                report += outbox.hand_over(claimed)
    with unit_of_work():
        outbox.purge_finished()
    return report


def register(app: Flask) -> None:
    """Make the app deliver its own outbox, unless a separate worker does (MAIL_DELIVERY = "worker").

    Registered before the database extension, so this teardown runs after the request's database
    session is closed: the thread never shares the request's connection.
    """
    if app.config["MAIL_DELIVERY"] != "app":
        return
    courier = app.extensions[outbox.DELIVERER_KEY] = Courier(app)
    app.teardown_appcontext(courier.deliver_queued)


def courier_of(app: Flask) -> Courier | None:
    return app.extensions.get(outbox.DELIVERER_KEY)


def wake_current_app() -> None:
    """Deliver anything left pending (a worker starting, say); a no-op where a separate worker delivers."""
    courier = courier_of(current_app)
    if courier is not None:
        courier.wake()


def settle_all(timeout: float | None = 30) -> None:
    for courier in list(_couriers):
        courier.settle(timeout)
