"""Changing a row only while it is as expected, in one statement.

It is how every one-time thing here is spent exactly once, however many requests race for it: an
emailed code's try, a recovery code, an authenticator app's time step, a WebAuthn challenge, a try
and the end of a pending sign-in, a "This wasn't me" link, a passkey's counter, a refresh token's
swap, a queued mail's claim. The database decides: of two UPDATEs with the same condition, the
second finds the row already changed and touches nothing.
"""

from sqlalchemy import update

from ...extensions import db


def update_where(model, *conditions, **values) -> bool:
    """``UPDATE model SET values WHERE conditions``: whether it changed exactly one row.

    Objects of the session are not brought up to date (a caller reads the row again if it needs it).
    """
    statement = update(model).where(*conditions).values(**values).execution_options(synchronize_session=False)
    return db.session.execute(statement).rowcount == 1
