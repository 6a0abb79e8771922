"""Work done after the answer has been decided, on one small pool of threads per process.

"Send me a code" answers the same whether or not the address has an account; if the look-up and
the mail happened before the answer, its timing would tell. Such work runs here
(``run_in_background``), each unit one unit of work of its own; so do the breach check's requests
(``submit``), so that nobody waits past its deadline.

At most ``WORKERS`` threads and ``WAITING_LIMIT`` units waiting: a unit beyond that is refused and
logged, not queued (the answer is the same either way; the person may ask again), so a flood of
requests costs a bounded number of threads and a bounded queue. Python's exit waits for the
threads, which do the work already queued first: a stopping worker still sends the mail it promised.
"""

import logging
import os
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_for_futures

from flask import current_app

from ...extensions import db
from ...transactions import unit_of_work
from ..mail.courier import settle_all

log = logging.getLogger(__name__)

# A unit is a look-up and a mail handed over, or one request to the breach service: eight at once
# keep up with a worker's sixteen request threads; a queue longer than this means the process is far
# behind, and more would only be memory held for work done too late.
WORKERS = 8
WAITING_LIMIT = 256


class _Pool:
    """A process's background threads, with room for ``WORKERS + WAITING_LIMIT`` units, running or waiting."""

    def __init__(self):
        self.executor = ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="portal-background")
        self.room = threading.BoundedSemaphore(WORKERS + WAITING_LIMIT)
        self.units: set[Future] = set()  # app work not finished yet (``wait_for_background``)
        self.lock = threading.Lock()

    def submit(self, fn, *args) -> Future | None:
        if not self.room.acquire(blocking=False):
            return None
        try:
            future = self.executor.submit(self._in_its_room, fn, args)
        except BaseException:
            self.room.release()
            raise
        future.add_done_callback(self._release_if_cancelled)
        return future

    def _in_its_room(self, fn, args):
        try:
            return fn(*args)
        finally:
            self.room.release()  # before the result is seen: whoever waited for it finds the room free

    def _release_if_cancelled(self, future: Future) -> None:
        if future.cancelled():  # taken back while waiting: it never ran
            self.room.release()


_pools: dict[int, _Pool] = {}


def _pool() -> _Pool:
    """This process's pool, made at its first use here and found by its process id: a forked worker
    (gunicorn forks its workers) makes its own rather than use its parent's, whose threads it does
    not have. No lock: a forked child could inherit one held; ``setdefault`` is atomic, so threads
    racing to make it share the one that is kept."""
    pid = os.getpid()
    pool = _pools.get(pid)
    if pool is None:
        pool = _pools.setdefault(pid, _Pool())
        for other in [key for key in _pools if key != pid]:  # a parent's, without its threads
            _pools.pop(other, None)
    return pool


def submit(fn, *args) -> Future | None:
    """Run ``fn(*args)`` on a background thread (no app context): its Future, or None when the pool
    is full and the work was not taken."""
    return _pool().submit(fn, *args)


def run_in_background(task, *args) -> bool:
    """Run ``task(*args)`` after the answer, as one unit of work in an app context of its own; errors
    are logged, never raised. False when the pool is full: the task was dropped (and logged)."""
    app = current_app._get_current_object()
    name = getattr(task, "__name__", repr(task))
    pool = _pool()
    with pool.lock:  # registered before it can finish, so a waiter never misses it
        future = pool.submit(_do_unit, app, task, args, name)
        if future is not None:
            pool.units.add(future)
            future.add_done_callback(pool.units.discard)
    if future is None:
        log.warning("Background work refused, %s units already waiting: %s was not done.", WAITING_LIMIT, name)
        return False
    return True


def _do_unit(app, task, args, name: str) -> None:
    with app.app_context():
        try:
            with unit_of_work():
                task(*args)
        except Exception:
            log.exception("Background task %s failed", name)
        finally:
            db.session.remove()


def wait_for_background(timeout: float | None = 30) -> None:
    """Block until every unit of background work started so far has finished, and the mail they and
    earlier requests queued has been handed over (or scheduled for a retry): tests, and clean shutdowns."""
    pool = _pools.get(os.getpid())
    while pool is not None:
        with pool.lock:
            pending = set(pool.units)
        if not pending or wait_for_futures(pending, timeout).not_done:
            break
    settle_all(timeout)
