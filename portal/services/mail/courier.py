"""The app process delivering its own outbox (MAIL_DELIVERY = "app", the default; with "worker",
``flask deliver-mail --watch`` does instead).

The app (``portal.mails``) tells the courier when: after a request that committed mail, ``wake``
delivers on a thread of its own, so no answer waits for the mail server; after a command or a task,
``deliver_here`` delivers before it ends. The thread stays while any message is pending, waking when
a retry falls due. A message left pending by a process that died goes at the next wake of any
process (gunicorn wakes each worker as it starts) or by ``flask deliver-mail``.
"""

import logging
import threading
import weakref

from flask import Flask

from ...extensions import db
from ...models import utcnow
from ...transactions import unit_of_work
from . import outbox

log = logging.getLogger(__name__)

COURIER_KEY = "portal.courier"  # the app extension: this app's courier, when the app delivers its own mail
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

    def deliver_here(self) -> None:
        """Deliver what is due now, on the caller's thread (a command about to exit); retries are the thread's."""
        try:
            deliver_due()
        except Exception:
            log.exception("Delivering the outbox failed; the messages stay queued.")
        finally:
            db.session.remove()
        try:
            with unit_of_work():
                pending = outbox.next_due_at() is not None
        finally:
            db.session.remove()
        if pending:
            self.wake()

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
    """Deliver every due message that no other deliverer holds, then purge old finished rows. Outside
    any request, each step commits here: a claim before its message is handed over (so another
    deliverer sees the row taken, and no transaction stays open while the server answers)."""
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


def courier_of(app: Flask) -> Courier | None:
    return app.extensions.get(COURIER_KEY)


def settle_all(timeout: float | None = 30) -> None:
    for courier in list(_couriers):
        courier.settle(timeout)
