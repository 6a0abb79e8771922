"""Guesses sent at one moment against a live, threaded server with limits on: the lockout of unknown
sources takes each try's place in the account's allowance before the password is checked, so a burst
from many addresses gets no more comparisons than the allowance, however it is timed."""

import pytest

from ..conftest import PASSWORD, fresh_app, shared_database
from .conftest import run_together
from .test_races import json_request, send, statuses

pytestmark = pytest.mark.race


@pytest.fixture
def app(tmp_path):
    """Limits on, behind one trusted proxy (each guess names its own address), on a shared database."""
    yield from fresh_app(tmp_path, RATELIMIT_ENABLED=True, TRUSTED_PROXY_COUNT=1, **shared_database(tmp_path))


def test_30_wrong_passwords_at_once_from_30_addresses_get_at_most_the_allowance_of_comparisons(
    app, live_server, user
):
    answers = run_together(
        30,
        lambda i: json_request(live_server, "POST", "/api/token/", {"email": user.email, "password": "wrong-one-1"},
                               {"X-Forwarded-For": f"198.51.100.{i + 1}"}),
        send,
    )

    assert statuses(answers) == [401] * 10 + [429] * 20
    # And the account's unknown sources are then held back, the right password included.
    [after] = run_together(
        1, lambda i: json_request(live_server, "POST", "/api/token/", {"email": user.email, "password": PASSWORD},
                                  {"X-Forwarded-For": "203.0.113.9"}), send,
    )
    assert after.status == 429
