"""Changing a row only while it is as expected, in one statement.

It is how every one-time thing here (a code's try, a challenge, a link, a claim) is spent exactly
once, however many requests race for it: of two UPDATEs with the same condition, the second finds
the row already changed and touches nothing.
"""

from sqlalchemy import update

from ...extensions import db


def update_where(model, *conditions, **values) -> bool:
    """``UPDATE model SET values WHERE conditions``: whether it changed exactly one row (objects of the
    session are not brought up to date)."""
    statement = update(model).where(*conditions).values(**values).execution_options(synchronize_session=False)
    return db.session.execute(statement).rowcount == 1
