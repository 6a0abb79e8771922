"""Authenticator apps (TOTP): set-up, codes that work once and tolerate one step of drift, turning
it off; the secret is sealed at rest and never shown again."""

import base64
import logging
import re
from urllib.parse import parse_qs, unquote, urlparse

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.models import AuditEvent, RecoveryCode, TotpDevice
from portal.services.errors import PermissionDenied, ValidationFailed
from portal.services.people import export
from portal.services.plumbing.secret_box import open_sealed
from portal.services.signing_in import factors, totp
from tests.conftest import PASSWORD
from tests.two_step import actor_for, door, set_up_totp, user_of


def accepts(app, account, code) -> bool:
    with door(app):
        accepted = totp.accept_code(user_of(account), code)
        db.session.commit()
        return accepted


def events(app, account, action) -> list[AuditEvent]:
    with door(app):
        return db.session.scalars(
            select(AuditEvent).where(AuditEvent.subject_id == account.id, AuditEvent.action == action)
        ).all()


# Set-up -------------------------------------------------------------------------------------------


def test_enrolment_gives_the_secret_grouped_and_an_otpauth_uri_for_the_account(app, user):
    with door(app):
        enrolment = totp.enrol_totp(user_of(user), actor_for(user))

    assert re.fullmatch(r"[A-Z2-7]{32}", enrolment.secret)
    assert enrolment.grouped_secret == " ".join(re.findall(".{4}", enrolment.secret))
    uri = urlparse(enrolment.provisioning_uri)
    assert (uri.scheme, uri.netloc) == ("otpauth", "totp")
    assert unquote(uri.path) == "/Account portal:user@example.com"
    query = parse_qs(uri.query)
    assert query["secret"] == [enrolment.secret]
    assert query["issuer"] == ["Account portal"]


def test_the_qr_code_is_an_inline_svg_without_script_or_style(app, user):
    with door(app):
        enrolment = totp.enrol_totp(user_of(user), actor_for(user))
        svg = totp.qr_code_svg(enrolment.provisioning_uri)

    assert svg.startswith("<svg") and svg.endswith("</svg>")
    assert "<title>" in svg
    assert not re.search(r"<script|style=|<style|\bon\w+=|javascript:|href=", svg, re.IGNORECASE)
    assert re.search(r'\b(fill|stroke)="#', svg)


def test_an_unconfirmed_app_does_not_count_and_its_codes_open_nothing(app, user, clock):
    with door(app):
        enrolment = totp.enrol_totp(user_of(user), actor_for(user))
        assert not factors.has_second_factor(user_of(user))

    assert not accepts(app, user, clock.code(enrolment.secret))


def test_confirming_with_a_current_code_turns_it_on_and_makes_the_first_recovery_codes(app, user, clock, mailbox):
    secret, codes = set_up_totp(app, user, clock)

    assert len(codes) == 10
    assert all(re.fullmatch(r"[2-9a-hjkmnp-z]{5}-[2-9a-hjkmnp-z]{5}", code) for code in codes)
    with door(app):
        assert factors.has_second_factor(user_of(user))
        assert factors.TOTP.is_set_up(user_of(user))
    assert len(events(app, user, "totp_enabled")) == 1
    assert len(events(app, user, "recovery_codes_generated")) == 1
    [notice] = mailbox.sent_to(user.email)
    body = notice.get_body(("plain",)).get_content()
    assert "Authenticator app turned on" in body
    assert "If this wasn't you, change your password" in body
    assert secret not in notice.as_string()


def test_confirming_with_a_wrong_code_leaves_it_off(app, user, clock):
    with door(app):
        enrolment = totp.enrol_totp(user_of(user), actor_for(user))
        wrong = f"{(int(clock.code(enrolment.secret)) + 1) % 10**6:06d}"
        with pytest.raises(ValidationFailed) as raised:
            totp.confirm_totp(user_of(user), wrong, actor_for(user))
        assert raised.value.errors == {"code": ["Invalid code."]}
        assert not factors.has_second_factor(user_of(user))
        assert db.session.scalars(select(RecoveryCode)).all() == []


def test_enrolling_again_before_confirming_replaces_the_secret(app, user, clock):
    with door(app):
        first = totp.enrol_totp(user_of(user), actor_for(user))
        second = totp.enrol_totp(user_of(user), actor_for(user))
        assert first.secret != second.secret
        assert len(db.session.scalars(select(TotpDevice)).all()) == 1
        with pytest.raises(ValidationFailed):
            totp.confirm_totp(user_of(user), clock.code(first.secret), actor_for(user))
        totp.confirm_totp(user_of(user), clock.code(second.secret), actor_for(user))


def test_an_unfinished_set_up_can_be_shown_again_without_a_new_secret(app, user, clock):
    with door(app):
        assert totp.current_enrolment(user_of(user)) is None
        started = totp.enrol_totp(user_of(user), actor_for(user))
        assert totp.current_enrolment(user_of(user)) == started
    set_up_totp(app, user, clock)
    with door(app):
        assert totp.current_enrolment(user_of(user)) is None


def test_a_second_app_cannot_be_enrolled_over_a_confirmed_one(app, user, clock):
    set_up_totp(app, user, clock)

    with app.app_context(), pytest.raises(ValidationFailed) as raised:
        totp.enrol_totp(user_of(user), actor_for(user))

    assert list(raised.value.errors) == ["non_field_errors"]


def test_only_the_owner_sets_up_an_app_not_even_a_superuser(app, user, make_user):
    root = make_user("root@example.com", superuser=True)

    with app.app_context(), pytest.raises(PermissionDenied):
        totp.enrol_totp(user_of(user), actor_for(root, via="admin"))


# The secret at rest -------------------------------------------------------------------------------


def test_the_secret_is_stored_sealed_never_in_plaintext_nor_in_the_export_or_audit(app, user, clock, caplog):
    caplog.set_level(logging.DEBUG)
    secret, _ = set_up_totp(app, user, clock)

    with door(app):
        row = db.session.scalar(select(TotpDevice))
        stored = [getattr(row, column.key) for column in TotpDevice.__table__.columns]
        raw = db.session.execute(select(TotpDevice.__table__)).one()
        assert open_sealed(row.secret_sealed, "totp").decode() == secret
        exported = str(export.account_export(user_of(user)))
        audit = str([e.changes for e in db.session.scalars(select(AuditEvent))])
    key = base64.b32decode(secret)
    for value in [*stored, *raw]:
        assert secret not in str(value)
        if isinstance(value, bytes):
            assert secret.encode() not in value and key not in value
    assert secret not in exported
    assert secret not in audit
    assert secret not in caplog.text


# Codes --------------------------------------------------------------------------------------------


def test_a_current_code_is_accepted_once_and_refused_when_replayed(app, user, clock):
    secret, _ = set_up_totp(app, user, clock)
    code = clock.code(secret)

    assert accepts(app, user, code)
    assert not accepts(app, user, code)


def test_a_code_from_the_previous_or_the_next_step_is_accepted(app, user, clock):
    secret, _ = set_up_totp(app, user, clock)
    clock.advance(60)

    assert accepts(app, user, clock.code(secret, steps=-1))
    assert accepts(app, user, clock.code(secret, steps=+1))


def test_a_code_two_steps_away_is_refused(app, user, clock):
    secret, _ = set_up_totp(app, user, clock)
    clock.advance(120)

    assert not accepts(app, user, clock.code(secret, steps=-2))
    assert not accepts(app, user, clock.code(secret, steps=+2))
    assert accepts(app, user, clock.code(secret))


def test_once_a_later_step_was_accepted_an_earlier_steps_code_is_refused(app, user, clock):
    secret, _ = set_up_totp(app, user, clock)
    clock.advance(60)
    assert accepts(app, user, clock.code(secret, steps=+1))

    assert not accepts(app, user, clock.code(secret))
    assert not accepts(app, user, clock.code(secret, steps=-1))


@pytest.mark.parametrize("code", ["000000x", "12345", "1234567", "", None, 123456, "１２３４５６"])
def test_malformed_codes_are_refused(app, user, clock, code):
    set_up_totp(app, user, clock)

    assert not accepts(app, user, code)


def test_a_wrong_code_is_refused_and_a_code_with_spaces_is_accepted(app, user, clock):
    secret, _ = set_up_totp(app, user, clock)
    code = clock.code(secret)

    assert not accepts(app, user, f"{(int(code) + 1) % 10**6:06d}")
    assert accepts(app, user, f"{code[:3]} {code[3:]}")


def test_another_accounts_code_does_not_work_here(app, make_user, clock):
    alice, bob = make_user("alice@example.com"), make_user("bob@example.com")
    alice_secret, _ = set_up_totp(app, alice, clock)
    set_up_totp(app, bob, clock)

    assert not accepts(app, bob, clock.code(alice_secret))


# Turning it off -----------------------------------------------------------------------------------


def test_turning_it_off_takes_the_password_and_a_current_code(app, user, clock, mailbox):
    secret, _ = set_up_totp(app, user, clock)

    with door(app):
        totp.disable_totp(user_of(user), PASSWORD, clock.code(secret), actor_for(user))
        assert not factors.has_second_factor(user_of(user))
        assert db.session.scalars(select(TotpDevice)).all() == []
        assert db.session.scalars(select(RecoveryCode)).all() == []  # no factor left: the codes go too
    assert len(events(app, user, "totp_disabled")) == 1
    assert "Authenticator app turned off" in mailbox.sent_to(user.email)[-1].get_body(("plain",)).get_content()


def test_turning_it_off_works_with_a_recovery_code_instead_of_a_code(app, user, clock):
    _, codes = set_up_totp(app, user, clock)

    with door(app):
        totp.disable_totp(user_of(user), PASSWORD, codes[0].upper(), actor_for(user))
        assert not factors.has_second_factor(user_of(user))
    assert len(events(app, user, "recovery_code_used")) == 1


def test_a_wrong_password_leaves_it_on_and_spends_no_code(app, user, clock):
    secret, _ = set_up_totp(app, user, clock)
    code = clock.code(secret)

    with app.app_context(), pytest.raises(ValidationFailed) as raised:
        totp.disable_totp(user_of(user), "not-the-password", code, actor_for(user))

    assert list(raised.value.errors) == ["current_password"]
    assert accepts(app, user, code)  # the code was not spent by the refused attempt
    with door(app):
        assert factors.has_second_factor(user_of(user))


def test_a_wrong_or_replayed_code_leaves_it_on_and_is_audited(app, user, clock):
    secret, _ = set_up_totp(app, user, clock)
    code = clock.code(secret)
    assert accepts(app, user, code)

    with app.app_context(), pytest.raises(ValidationFailed) as raised:
        totp.disable_totp(user_of(user), PASSWORD, code, actor_for(user))

    assert raised.value.errors == {"code": ["Invalid code."]}
    with door(app):
        assert factors.has_second_factor(user_of(user))
    [failure] = events(app, user, "second_factor_failed")
    assert failure.changes == {"method": [None, "totp"]}


def test_a_turned_off_app_no_longer_accepts_its_codes(app, user, clock):
    secret, _ = set_up_totp(app, user, clock)
    with door(app):
        totp.disable_totp(user_of(user), PASSWORD, clock.code(secret), actor_for(user))
    clock.advance(30)

    assert not accepts(app, user, clock.code(secret))


def test_after_the_secret_key_changed_the_app_accepts_nothing_and_says_why_in_the_log(app, user, clock, caplog):
    secret, _ = set_up_totp(app, user, clock)
    app.config["SECRET_KEY"] = "another-secret-key-that-is-long-enough-for-hs256"

    assert not accepts(app, user, clock.code(secret))
    assert "cannot be opened with this SECRET_KEY" in caplog.text
