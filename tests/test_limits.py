"""Abuse limits: a limiter's key is read from the request alone; an account's own lockout, which must
know the account, is kept apart (``sign_in_lockout``; its behaviour: tests/api/test_credentials.py,
tests/web/test_device_cookies.py)."""

import pytest

from portal import limits

from .conftest import recorded_statements


def test_an_allowance_per_account_is_keyed_by_the_submitted_address_without_asking_the_database(app, make_user):
    make_user("owner@example.com")
    key = limits._account_key("email")

    with app.test_request_context("/api/password/reset/", method="POST", json={"email": " Owner@Example.com"}):
        with recorded_statements(app) as statements:
            assert key() == "email:owner@example.com"
    with app.test_request_context("/api/password/reset/", method="POST", json={"username": "owner"}):
        assert key() == "anonymous"

    assert statements == []


def test_an_allowance_outside_the_lockouts_cannot_name_an_account_the_request_does_not_spell_out():
    with pytest.raises(ValueError, match="email only"):
        limits.limited("RATELIMIT_CODE", per_account=("username",))
    with pytest.raises(ValueError, match="email only"):
        limits.limited("RATELIMIT_VERIFY", per_account=("mfa_token",))
    limits.limited("RATELIMIT_SIGN_IN", per_account=("email", "username"))  # a lockout resolves the account
