"""Time passing for credentials, for the tests of the inactivity timeout.

Every stored time of every credential moves back (``time_passes``), so a session "used 31 minutes
ago" is exactly that to the portal, and its absolute end comes as much nearer.
"""

from datetime import timedelta

from sqlalchemy import select

from portal.extensions import db
from portal.models import Credential

IDLE_DETAIL = "The credential went unused for longer than its idle limit: sign in again."


def time_passes(app, by: timedelta) -> None:
    """Move every stored time of every credential back by ``by``: to the portal, ``by`` went by."""
    with app.app_context():
        for row in db.session.scalars(select(Credential)):
            for column in ("created_at", "last_used_at", "proven_at", "expires_at"):
                if getattr(row, column) is not None:
                    setattr(row, column, getattr(row, column) - by)
        db.session.commit()
