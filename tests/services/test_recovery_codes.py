"""Recovery codes: ten, single use, stored only as salted argon2id hashes (older sets as HMACs),
voided by a new set, counted. (Two requests racing with one code: test_two_step_races.)"""

import hashlib
import hmac
import itertools
import re

import pytest
from argon2 import PasswordHasher
from sqlalchemy import delete, select

from portal.extensions import db
from portal.models import AuditEvent, RecoveryCode
from portal.services.errors import PermissionDenied, ValidationFailed
from portal.services.signing_in import recovery_codes
from tests.two_step import actor_for, door, set_up_totp, user_of


def spend(app, account, code) -> bool:
    with door(app):
        spent = recovery_codes.spend_code(user_of(account), code, actor_for(account))
        db.session.commit()
        return spent


def left(app, account) -> int:
    with door(app):
        return recovery_codes.codes_left(user_of(account))


def test_ten_codes_of_ten_unambiguous_characters_all_different(app, user, clock):
    _, codes = set_up_totp(app, user, clock)

    assert len(set(codes)) == 10
    for code in codes:
        assert re.fullmatch(r"[a-z2-9]{5}-[a-z2-9]{5}", code)
        assert not set(code) & set("01ilo")
    assert left(app, user) == 10


def test_codes_are_stored_as_salted_argon2id_hashes_different_for_the_same_code_on_two_accounts(
    app, make_user, clock, monkeypatch
):
    alice, bob = make_user("alice@example.com"), make_user("bob@example.com")
    same_ten = [f"{letter * 5}23456" for letter in "abcdefghjk"]
    # Both accounts are given the very same ten codes: only a salt can tell their rows apart.
    monkeypatch.setattr(recovery_codes, "_new_code", itertools.cycle(same_ten).__next__)
    _, alice_codes = set_up_totp(app, alice, clock)
    _, bob_codes = set_up_totp(app, bob, clock)
    assert alice_codes == bob_codes == [f"{c[:5]}-{c[5:]}" for c in same_ten]

    with door(app):
        rows = db.session.scalars(select(RecoveryCode).order_by(RecoveryCode.user_id, RecoveryCode.id)).all()
    stored = {account.id: [row.code_hash for row in rows if row.user_id == account.id] for account in (alice, bob)}
    argon2id = re.compile(r"\$argon2id\$v=19\$m=(\d+),t=(\d+),p=1\$([A-Za-z0-9+/]{22})\$[A-Za-z0-9+/]{43}")
    for code, alice_hash, bob_hash in zip(same_ten, stored[alice.id], stored[bob.id], strict=True):
        for stored_hash in (alice_hash, bob_hash):
            memory, passes, _ = argon2id.fullmatch(stored_hash).groups()
            assert int(memory) <= 8 * 1024 and int(passes) == 1  # cheap enough to compare a set of ten
            assert code not in stored_hash and PasswordHasher().verify(stored_hash, code)
        assert alice_hash != bob_hash
        assert argon2id.fullmatch(alice_hash).group(3) != argon2id.fullmatch(bob_hash).group(3)  # the salts
    assert spend(app, bob, same_ten[0]) and left(app, alice) == 10 and left(app, bob) == 9


def test_a_set_stored_as_hmacs_before_argon2_still_works_once_until_a_new_set_is_made(app, user, clock):
    set_up_totp(app, user, clock)
    old = ["abcdefghjk", "mnpqrstuvw"]
    with door(app):  # as revision 0009 left them: HMACs keyed with SECRET_KEY and the user id
        db.session.execute(delete(RecoveryCode))
        db.session.add_all(
            RecoveryCode(user_id=user.id, code_hash=hmac.new(
                app.config["SECRET_KEY"].encode(), f"{user.id}:recovery:{code}".encode(), hashlib.sha256
            ).hexdigest()) for code in old
        )
        db.session.commit()

    assert spend(app, user, "ABCDE-FGHJK") and not spend(app, user, "abcde-fghjk")
    assert not spend(app, user, "mnpqr-stuvx")
    with door(app):
        new = recovery_codes.regenerate_recovery_codes(user_of(user), actor_for(user))
        assert all(h.startswith("$argon2id$") for h in db.session.scalars(select(RecoveryCode.code_hash)))
    assert not spend(app, user, old[1]) and spend(app, user, new[0])


def test_a_code_works_once_however_it_is_typed(app, user, clock):
    _, codes = set_up_totp(app, user, clock)

    assert spend(app, user, f"  {codes[0].upper().replace('-', ' ')} ")
    assert not spend(app, user, codes[0])
    assert left(app, user) == 9
    with door(app):
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

    with door(app):
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
