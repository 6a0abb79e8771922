"""The portal's one clock: every expiry, lifetime and "now" reads it, so tests move time in one place.

``now()`` is an aware UTC datetime (``models.utcnow`` gives the naive UTC the tables store),
``timestamp()`` the same moment in seconds since the epoch (the unit of lockouts, JWT claims and
signed links). In production the clock is the system's; ``use(clock)`` puts another in its place
for the whole process (the tests' ``clock`` fixture, which stands still until moved).

What reads it: the stored times and their expiries (``models.utcnow``: codes, pending sign-ins,
challenges, sessions, budgets, the outbox's retries), the sign-in lockouts, the JWT claims the
portal mints and checks (``iat``, ``nbf``, ``exp``), the age of signed links and device cookies
(``ClockSigner``), TOTP time steps, the breach check's cache and a birthday's "today".

What keeps other clocks, and why:

- Durations measured on this machine — a request's timing in the logs, the breach check's deadline
  for a slow answer, the courier's sleeps — use ``time.perf_counter``/``time.monotonic``: a moved
  clock must not make a request time out, and wall-clock steps must not bend a measurement.
- Flask-Limiter's storage counts its windows on the system clock, and ``portal.limits`` compares
  the limiter's own reset times with that same clock.
- The development transport's ``.eml`` file names, which only order the files as written.
"""

import time
from datetime import UTC, datetime

from itsdangerous import TimestampSigner


class Clock:
    """The system's time."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def timestamp(self) -> float:
        return time.time()


SYSTEM = Clock()
_current: Clock = SYSTEM


def now() -> datetime:
    """The current time, aware, in UTC."""
    return _current.now()


def timestamp() -> float:
    """The current time in seconds since the epoch."""
    return _current.timestamp()


def use(clock: Clock) -> Clock:
    """Make ``clock`` the process's clock; returns the one it replaces (to put back)."""
    global _current
    previous, _current = _current, clock
    return previous


class ClockSigner(TimestampSigner):
    """itsdangerous's timed signer, stamping and checking ages by this clock (its documented hook)."""

    def get_timestamp(self) -> int:
        return int(timestamp())
