"""What must follow a change, run once the change is committed — and never when it is not.

A service records what must follow (a file to delete, a mail to deliver) with ``after_commit``, and
what undoes a file written for the change with ``on_rollback``. They run from the session's own
events, so no service has to remember where its transaction ends; inside them the session can emit
no SQL, so tasks touch files, flags and threads, never the database. A task that fails is logged.
"""

import logging
from collections.abc import Callable

from sqlalchemy import event

from ...extensions import db

log = logging.getLogger(__name__)

AFTER_COMMIT, ON_ROLLBACK = "portal.after_commit", "portal.on_rollback"


def after_commit(task: Callable[[], None]) -> None:
    """Run ``task`` once the current transaction has committed; drop it if the transaction does not."""
    _in_transaction().info.setdefault(AFTER_COMMIT, []).append(task)


def on_rollback(task: Callable[[], None]) -> None:
    """Run ``task`` if the current transaction ends without committing; drop it if it commits."""
    _in_transaction().info.setdefault(ON_ROLLBACK, []).append(task)


def _in_transaction():
    """The session, inside a transaction: one that has not begun yet (nothing was read or written)
    would end without an event, and its tasks would wait for the next one."""
    session = db.session()
    if not session.in_transaction():
        session.begin()
    return session


def _run(tasks: list) -> None:
    for task in tasks:
        try:
            task()
        except Exception:
            log.exception("A task after the end of a transaction failed: %r", task)


@event.listens_for(db.session, "after_commit")
def _committed(session) -> None:
    session.info.pop(ON_ROLLBACK, None)
    _run(session.info.pop(AFTER_COMMIT, []))


@event.listens_for(db.session, "after_transaction_end")
def _ended(session, transaction) -> None:
    # Fires for savepoints too; only the outermost transaction decides. After a commit the lists
    # are already empty, so whatever is left here ended without one.
    if transaction.parent is not None or transaction.nested:
        return
    session.info.pop(AFTER_COMMIT, None)
    _run(session.info.pop(ON_ROLLBACK, []))
