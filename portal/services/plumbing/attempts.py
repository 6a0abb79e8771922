"""Tries that count whatever the answer: the one place a service commits.

A wrong code, a refused passkey or a failed password must still spend a try, advance a lockout or
use up a challenge, though the request then answers with an error and the door rolls its work back.
"""

from ...extensions import db


def keep_attempts() -> None:
    """Commit now what the request has written so far: the tries it spent, which must count even if
    the request is refused. Call it before writing anything that should not stand on its own."""
    db.session.commit()
