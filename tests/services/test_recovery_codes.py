"""Recovery codes: ten, single use, stored only as HMACs, voided by a new set, counted. (Two
requests racing with one code: test_two_step_races.)"""

import re

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.models import AuditEvent, RecoveryCode
from portal.services import recovery_codes
from portal.services.errors import PermissionDenied, ValidationFailed
from tests.two_step import TotpClock, actor_for, set_up_totp, user_of


@pytest.fixture
def clock(monkeypatch):
    return TotpClock().install(monkeypatch)


def spend(app, account, code) -> bool:
    with app.app_context():
        spent = recovery_codes.spend_code(user_of(account), code, actor_for(account))
        db.session.commit()
        return spent


def left(app, account) -> int:
    with app.app_context():
        return recovery_codes.codes_left(user_of(account))


def test_ten_codes_of_ten_unambiguous_characters_all_different(app, user, clock):
    _, codes = set_up_totp(app, user, clock)

    assert len(set(codes)) == 10
    for code in codes:
        assert re.fullmatch(r"[a-z2-9]{5}-[a-z2-9]{5}", code)
        assert not set(code) & set("01ilo")
    assert left(app, user) == 10


def test_only_hmacs_of_the_codes_are_stored(app, user, clock):
    _, codes = set_up_totp(app, user, clock)

    with app.app_context():
        rows = db.session.scalars(select(RecoveryCode)).all()
    hashes = {row.code_hash for row in rows}
    assert len(hashes) == 10 and all(re.fullmatch(r"[0-9a-f]{64}", h) for h in hashes)
    for code in codes:
        for row in rows:
            assert code.replace("-", "") not in str(row.code_hash)


def test_a_code_works_once_however_it_is_typed(app, user, clock):
    _, codes = set_up_totp(app, user, clock)

    assert spend(app, user, f"  {codes[0].upper().replace('-', ' ')} ")
    assert not spend(app, user, codes[0])
    assert left(app, user) == 9
    with app.app_context():
        [event] = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "recovery_code_used")).all()
        assert event.changes == {"recovery_codes_left": [10, 9]}


@pytest.mark.parametrize("code", ["", None, 42, "abcde-fghi", "abcde-fghijk", "o0o0o-l1l1l", "x" * 500])
def test_malformed_or_unknown_codes_are_refused(app, user, clock, code):
    set_up_totp(app, user, clock)

    assert not spend(app, user, code)
    assert left(app, user) == 10


def test_another_accounts_code_does_not_work_here(app, make_user, clock):
    alice, bob = make_user("alice@example.com"), make_user("bob@example.com")
    _, alice_codes = set_up_totp(app, alice, clock)
    set_up_totp(app, bob, clock)

    assert not spend(app, bob, alice_codes[0])
    assert left(app, alice) == 10 and left(app, bob) == 10


def test_a_new_set_voids_the_old_one(app, user, clock, mailbox):
    _, old = set_up_totp(app, user, clock)
    spend(app, user, old[0])

    with app.app_context():
        new = recovery_codes.regenerate_recovery_codes(user_of(user), actor_for(user))

    assert len(new) == 10 and not set(new) & set(old)
    assert left(app, user) == 10
    assert not spend(app, user, old[1])
    assert spend(app, user, new[0])
    assert "New recovery codes made" in mailbox.sent_to(user.email)[-1].get_body(("plain",)).get_content()


def test_no_codes_without_a_second_factor_and_only_for_the_owner(app, user, make_user, clock):
    root = make_user("root@example.com", superuser=True)
    with app.app_context(), pytest.raises(ValidationFailed):
        recovery_codes.regenerate_recovery_codes(user_of(user), actor_for(user))

    set_up_totp(app, user, clock)
    with app.app_context(), pytest.raises(PermissionDenied):
        recovery_codes.regenerate_recovery_codes(user_of(user), actor_for(root, via="admin"))
