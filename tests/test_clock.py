"""The portal's one clock: what every expiry reads, and what the tests move instead of patching modules."""

import time
from datetime import UTC, datetime, timedelta

import pytest
from itsdangerous import SignatureExpired, URLSafeTimedSerializer

from portal import clock as portal_clock
from portal.clock import ClockSigner
from portal.extensions import db
from portal.models import Group, utcnow


def test_stored_times_and_timestamps_read_the_clock_the_test_moves(app, clock):
    clock.set(datetime(2031, 5, 4, 12, 0, 5))

    with app.app_context():
        group = Group(name="staff")
        db.session.add(group)
        db.session.commit()
        assert group.created_at == datetime(2031, 5, 4, 12, 0, 5)  # naive UTC, as stored
    assert utcnow() == datetime(2031, 5, 4, 12, 0, 5)
    assert portal_clock.now() == datetime(2031, 5, 4, 12, 0, 5, tzinfo=UTC)
    clock.advance(minutes=1)
    assert portal_clock.timestamp() == datetime(2031, 5, 4, 12, 1, 5, tzinfo=UTC).timestamp()


def test_signed_values_age_by_the_clock(clock):
    signed = URLSafeTimedSerializer("key", signer=ClockSigner)
    token = signed.dumps("value")

    clock.advance(61)

    with pytest.raises(SignatureExpired):
        signed.loads(token, max_age=60)
    assert signed.loads(token, max_age=120) == "value"


def test_without_the_fixture_the_clock_is_the_systems():
    assert portal_clock.now() - datetime.now(UTC) < timedelta(seconds=5)
    assert abs(portal_clock.timestamp() - time.time()) < 5

