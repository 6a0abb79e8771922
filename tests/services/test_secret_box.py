"""Sealed secrets: they open only with the key and purpose they were sealed for, and never unaltered."""

import pytest

from portal.services.plumbing.secret_box import SealedValueUnreadable, open_sealed, seal


def test_a_sealed_value_opens_to_its_plaintext_and_does_not_contain_it(app):
    with app.app_context():
        sealed = seal(b"JBSWY3DPEHPK3PXP", "totp")
        assert b"JBSWY3DPEHPK3PXP" not in sealed
        assert open_sealed(sealed, "totp") == b"JBSWY3DPEHPK3PXP"


def test_sealing_twice_gives_different_values(app):
    with app.app_context():
        assert seal(b"same", "totp") != seal(b"same", "totp")


def test_a_value_sealed_for_one_purpose_does_not_open_as_another(app):
    with app.app_context():
        sealed = seal(b"secret", "totp")
        with pytest.raises(SealedValueUnreadable):
            open_sealed(sealed, "mail")


def test_an_altered_value_does_not_open(app):
    with app.app_context():
        sealed = bytearray(seal(b"secret", "totp"))
        sealed[-1] ^= 1
        with pytest.raises(SealedValueUnreadable):
            open_sealed(bytes(sealed), "totp")


@pytest.mark.parametrize("garbage", [b"", b"\x01short", b"\x02" + bytes(40)])
def test_something_that_was_never_sealed_does_not_open(app, garbage):
    with app.app_context():
        with pytest.raises(SealedValueUnreadable):
            open_sealed(garbage, "totp")


def test_a_value_sealed_under_another_secret_key_does_not_open(make_app):
    first, second = make_app(SECRET_KEY="first-secret-key-long-enough-for-hs256!"), make_app(
        SECRET_KEY="second-secret-key-long-enough-for-hs256"
    )
    with first.app_context():
        sealed = seal(b"secret", "totp")
    with second.app_context():
        with pytest.raises(SealedValueUnreadable):
            open_sealed(sealed, "totp")
