"""Passkeys: registration and sign-in verified against a software authenticator, and each attack
on a ceremony refused — a reused, expired or foreign challenge, another origin or RP id, a copied
authenticator whose counter went backwards, someone else's passkey."""

import hashlib
from datetime import timedelta

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.models import AuditEvent, Passkey, RecoveryCode, WebAuthnChallenge
from portal.services.audit import Actor
from portal.services.errors import AuthenticationFailed, NotFound, PermissionDenied, ValidationFailed
from portal.services.signing_in import factors, passkeys
from tests.two_step import BINDING, IP, actor_for, add_passkey, door, passkey_sign_in, user_of
from tests.webauthn_authenticator import (
    ORIGIN,
    RP_ID,
    UP,
    CredentialExcluded,
    SoftwareAuthenticator,
    b64url,
    copied,
    from_b64url,
)


@pytest.fixture
def phone():
    return SoftwareAuthenticator()


def registration_options(app, account, binding=BINDING) -> dict:
    with door(app):
        return passkeys.registration_options(user_of(account), rp_id=RP_ID, binding=binding, actor=actor_for(account))


def register(app, account, response, *, binding=BINDING, origin=ORIGIN, rp_id=RP_ID, name="Laptop"):
    with door(app):
        return passkeys.register_passkey(
            user_of(account), response, rp_id=rp_id, origin=origin, binding=binding, name=name, actor=actor_for(account)
        )


def authentication_options(app, account=None, binding=BINDING) -> dict:
    with door(app):
        return passkeys.authentication_options(
            rp_id=RP_ID, binding=binding, user=user_of(account) if account is not None else None
        )


def verify(app, response, *, binding=BINDING, origin=ORIGIN, rp_id=RP_ID):
    with door(app):
        return passkeys.verify_passkey(response, rp_id=rp_id, origin=origin, binding=binding, actor=Actor(ip=IP))


def stored_passkeys(app) -> list[dict]:
    with door(app):
        return [
            {column.key: getattr(p, column.key) for column in Passkey.__table__.columns}
            for p in db.session.scalars(select(Passkey).order_by(Passkey.id))
        ]


def actions(app, action) -> list[AuditEvent]:
    with door(app):
        return db.session.scalars(select(AuditEvent).where(AuditEvent.action == action)).all()


# Registration -------------------------------------------------------------------------------------


def test_registration_options_ask_for_a_discoverable_credential_with_user_verification_preferred(app, user):
    options = registration_options(app, user)

    assert options["rp"] == {"id": RP_ID, "name": "Account portal"}
    assert options["user"]["name"] == "user@example.com"
    assert len(from_b64url(options["user"]["id"])) == 32
    assert from_b64url(options["user"]["id"]) != str(user.id).encode()  # random, not the account's id
    assert options["authenticatorSelection"]["residentKey"] == "required"
    assert options["authenticatorSelection"]["requireResidentKey"] is True
    assert options["authenticatorSelection"]["userVerification"] == "preferred"
    assert options["attestation"] == "none"
    assert options["excludeCredentials"] == []
    assert options["timeout"] == 300_000
    with door(app):
        [challenge] = db.session.scalars(select(WebAuthnChallenge)).all()
        # Only hashes are kept: of the challenge and of the browser's binding value.
        assert challenge.challenge_hash == hashlib.sha256(from_b64url(options["challenge"])).hexdigest()
        assert challenge.binding_hash == hashlib.sha256(BINDING.encode()).hexdigest()
        assert (challenge.purpose, challenge.user_id, challenge.used_at) == ("register", user.id, None)
        assert timedelta(minutes=4, seconds=59) < challenge.expires_at - challenge.created_at <= timedelta(minutes=5)


def test_a_registered_passkey_is_kept_with_its_key_name_and_flags(app, user, phone, mailbox):
    added = add_passkey(app, user, phone, name="  Pixel  ")

    [row] = stored_passkeys(app)
    [held] = phone.passkeys.values()
    assert row["user_id"] == user.id
    assert row["credential_id"] == held.credential_id
    assert row["public_key"] == held.cose_public_key()
    assert row["name"] == "Pixel"
    assert row["sign_count"] == 0
    assert row["user_handle"] == held.user_handle
    assert row["transports"] == ["internal", "hybrid"]
    assert (row["backup_eligible"], row["backed_up"]) == (True, True)
    assert row["aaguid"] == "00000000-0000-0000-0000-000000000000"
    assert row["last_used_at"] is None
    assert len(added.recovery_codes) == 10  # the account's first factor
    with door(app):
        assert factors.has_second_factor(user_of(user))
    [event] = actions(app, "passkey_added")
    assert event.changes == {"passkey": [None, "Pixel"]}
    body = mailbox.sent_to(user.email)[-1].get_body(("plain",)).get_content()
    assert "Passkey added: Pixel" in body


def test_a_second_passkey_excludes_the_first_reuses_the_user_handle_and_makes_no_new_codes(app, user, phone):
    add_passkey(app, user, phone)
    laptop = SoftwareAuthenticator(backup_eligible=False)

    options = registration_options(app, user)
    assert [c["id"] for c in options["excludeCredentials"]] == [b64url(cid) for cid in phone.passkeys]
    with pytest.raises(CredentialExcluded):
        phone.create(options)  # the browser refuses to make a second passkey on the same authenticator
    added = register(app, user, laptop.create(options), name="")

    first, second = stored_passkeys(app)
    assert second["user_handle"] == first["user_handle"]
    assert second["name"] == "Passkey"
    assert (second["backup_eligible"], second["backed_up"]) == (False, False)
    assert added.recovery_codes is None
    with door(app):
        assert len(db.session.scalars(select(RecoveryCode)).all()) == 10


def test_a_registration_challenge_is_answered_once(app, user, phone):
    options = registration_options(app, user)
    response = phone.create(options)
    register(app, user, response)

    for again in (response, SoftwareAuthenticator().create(options)):
        with pytest.raises(ValidationFailed) as raised:
            register(app, user, again)
        assert raised.value.errors == {"passkey": ["The passkey could not be added. Try again."]}
    assert len(stored_passkeys(app)) == 1


@pytest.mark.parametrize(
    "tamper, check",
    [
        ({"origin": "https://evil.example"}, {}),
        ({"rp_id": "evil.example"}, {}),
        ({"client_data_type": "webauthn.get"}, {}),
        ({"cross_origin": True}, {}),
        ({"challenge": b"a challenge the portal never made"}, {}),
        ({}, {"origin": "https://other.example"}),
        ({}, {"rp_id": "other.example"}),
        ({}, {"binding": "another-browser"}),
    ],
    ids=["origin", "rp-id", "type", "cross-origin", "unknown-challenge", "expected-origin", "expected-rp", "binding"],
)
def test_a_registration_answer_that_does_not_fit_is_refused_and_stores_nothing(app, user, phone, tamper, check):
    response = phone.create(registration_options(app, user), **tamper)

    with pytest.raises(ValidationFailed) as raised:
        register(app, user, response, **check)

    assert raised.value.errors == {"passkey": ["The passkey could not be added. Try again."]}
    assert stored_passkeys(app) == []


def test_a_registration_challenge_expires_after_five_minutes(app, user, phone, clock):
    response = phone.create(registration_options(app, user))
    clock.advance(minutes=5, seconds=1)

    with pytest.raises(ValidationFailed):
        register(app, user, response)

    assert stored_passkeys(app) == []


def test_a_challenge_made_for_one_user_does_not_register_a_passkey_for_another(app, make_user, phone):
    alice, mallory = make_user("alice@example.com"), make_user("mallory@example.com")
    response = phone.create(registration_options(app, alice))

    with pytest.raises(ValidationFailed):
        register(app, mallory, response)

    assert stored_passkeys(app) == []


def test_a_malformed_answer_is_a_field_error(app, user):
    registration_options(app, user)
    for response in ({}, "not json", {"id": "x", "rawId": "x", "type": "public-key", "response": {}}, 42, None):
        with pytest.raises(ValidationFailed) as raised:
            register(app, user, response)
        assert list(raised.value.errors) == ["passkey"]


def test_only_the_owner_registers_a_passkey(app, user, make_user):
    root = make_user("root@example.com", superuser=True)

    with app.app_context(), pytest.raises(PermissionDenied):
        passkeys.registration_options(user_of(user), rp_id=RP_ID, binding=BINDING, actor=actor_for(root, via="admin"))


# Signing in ---------------------------------------------------------------------------------------


def test_a_passkey_alone_signs_in_with_an_empty_allow_list(app, user, phone):
    add_passkey(app, user, phone)
    options = authentication_options(app)

    assert options["allowCredentials"] == []
    assert options["userVerification"] == "preferred"
    with door(app):
        assertion = passkeys.verify_passkey(phone.get(options), rp_id=RP_ID, origin=ORIGIN, binding=BINDING,
                                            actor=Actor(ip=IP))
        assert assertion.user.email == user.email  # the model, for the door to start a session with

    assert assertion.user_id == user.id
    assert assertion.user_verified is True
    [row] = stored_passkeys(app)
    assert assertion.passkey_id == row["id"]
    assert row["sign_count"] == 1
    assert row["last_used_at"] is not None


def test_a_known_users_options_allow_only_their_passkeys(app, make_user, phone):
    alice, bob = make_user("alice@example.com"), make_user("bob@example.com")
    add_passkey(app, alice, phone)
    add_passkey(app, bob, SoftwareAuthenticator())

    options = authentication_options(app, alice)

    assert [c["id"] for c in options["allowCredentials"]] == [b64url(cid) for cid in phone.passkeys]
    assert options["allowCredentials"][0]["transports"] == ["internal", "hybrid"]
    assert passkey_sign_in(app, phone, account=alice).user_id == alice.id


def test_options_for_an_account_without_passkeys_are_refused(app, user):
    with pytest.raises(ValidationFailed):
        authentication_options(app, user)


def test_an_authenticator_without_a_counter_signs_in_again_and_again(app, user):
    synced = SoftwareAuthenticator(counter_step=0)
    add_passkey(app, user, synced)

    for _ in range(3):
        assert passkey_sign_in(app, synced).user_id == user.id
    assert stored_passkeys(app)[0]["sign_count"] == 0


def test_a_passkey_alone_needs_user_verification(app, user):
    key = SoftwareAuthenticator(user_verifying=False)
    add_passkey(app, user, key)

    with pytest.raises(AuthenticationFailed):
        passkey_sign_in(app, key)
    # As the second step after a password, presence is enough.
    assert passkey_sign_in(app, key, account=user).user_verified is False


def test_a_reused_challenge_is_refused(app, user):
    synced = SoftwareAuthenticator(counter_step=0)  # no counter to give a replay away: the challenge must
    add_passkey(app, user, synced)
    response = synced.get(authentication_options(app))
    verify(app, response)

    with pytest.raises(AuthenticationFailed):
        verify(app, response)
    assert len(actions(app, "second_factor_failed")) == 1


def test_an_expired_challenge_is_refused(app, user, phone, clock):
    add_passkey(app, user, phone)
    response = phone.get(authentication_options(app))
    clock.advance(minutes=5, seconds=1)

    with pytest.raises(AuthenticationFailed):
        verify(app, response)


def test_a_challenge_asked_for_by_another_browser_is_refused_and_stays_usable_by_its_own(app, user, phone):
    add_passkey(app, user, phone)
    response = phone.get(authentication_options(app, binding="victims-browser"))

    with pytest.raises(AuthenticationFailed):
        verify(app, response, binding="attackers-browser")
    assert verify(app, response, binding="victims-browser").user_id == user.id


@pytest.mark.parametrize(
    "tamper, check",
    [
        ({"origin": "https://evil.example"}, {}),
        ({"rp_id": "evil.example"}, {}),
        ({}, {"origin": "https://other.example"}),
        ({}, {"rp_id": "other.example"}),
        ({"client_data_type": "webauthn.create"}, {}),
        ({"cross_origin": True}, {}),
        ({"flags": 0}, {}),  # no user presence
        ({"challenge": b"never issued"}, {}),
    ],
    ids=[
        "origin", "rp-id", "expected-origin", "expected-rp", "type", "cross-origin", "no-presence", "unknown-challenge"
    ],
)
def test_an_assertion_that_does_not_fit_is_refused(app, user, phone, tamper, check):
    add_passkey(app, user, phone)
    response = phone.get(authentication_options(app), **tamper)

    with pytest.raises(AuthenticationFailed):
        verify(app, response, **check)

    assert stored_passkeys(app)[0]["last_used_at"] is None


def test_a_forged_signature_is_refused(app, user, phone):
    add_passkey(app, user, phone)
    forger = copied(phone)
    [key] = forger.passkeys.values()
    from cryptography.hazmat.primitives.asymmetric import ec

    key.private_key = ec.generate_private_key(ec.SECP256R1())  # same credential id, another key

    with pytest.raises(AuthenticationFailed):
        passkey_sign_in(app, forger)
    assert stored_passkeys(app)[0]["sign_count"] == 0


def test_a_user_handle_that_is_not_the_passkeys_is_refused(app, make_user, phone):
    alice = make_user("alice@example.com")
    add_passkey(app, alice, phone)
    [key] = phone.passkeys.values()
    key.user_handle = b"someone else's handle"

    with pytest.raises(AuthenticationFailed):
        passkey_sign_in(app, phone)


def test_a_challenge_made_for_one_user_is_refused_with_another_users_passkey(app, make_user, phone):
    alice, mallory = make_user("alice@example.com"), make_user("mallory@example.com")
    add_passkey(app, alice, SoftwareAuthenticator())
    add_passkey(app, mallory, phone)
    options = authentication_options(app, alice)  # Alice's second step

    with pytest.raises(AuthenticationFailed):
        verify(app, phone.get(options, passkey=next(iter(phone.passkeys.values()))))


def test_a_counter_that_goes_backwards_is_refused_audited_and_mailed(app, user, phone, mailbox):
    add_passkey(app, user, phone)
    clone = copied(phone)  # copied now, at counter 0
    for _ in range(3):
        passkey_sign_in(app, phone)
    clone_key = next(iter(clone.passkeys.values()))
    clone_key.sign_count = 1

    with pytest.raises(AuthenticationFailed):
        passkey_sign_in(app, clone)  # signs with counter 2, the portal has seen 3

    assert stored_passkeys(app)[0]["sign_count"] == 3
    [event] = actions(app, "passkey_counter_regressed")
    assert event.subject_id == user.id
    assert event.changes["sign_count"] == [3, 2]
    body = mailbox.sent_to(user.email)[-1].get_body(("plain",)).get_content()
    assert "counter went backwards" in body
    # The same count again is refused too; the real authenticator goes on working.
    with pytest.raises(AuthenticationFailed):
        passkey_sign_in(app, phone, sign_count=3)
    assert passkey_sign_in(app, phone).user_id == user.id


def test_a_counter_that_drops_to_zero_is_refused(app, user, phone):
    add_passkey(app, user, phone)
    passkey_sign_in(app, phone)

    with pytest.raises(AuthenticationFailed):
        passkey_sign_in(app, phone, sign_count=0)
    assert len(actions(app, "passkey_counter_regressed")) == 1


def test_a_low_counter_with_a_bad_signature_is_not_reported_as_a_copy(app, user, phone):
    """Only a signed assertion can claim a passkey was copied: anyone can send a low number."""
    add_passkey(app, user, phone)
    passkey_sign_in(app, phone)
    response = phone.get(authentication_options(app), sign_count=0)
    response["response"]["signature"] = b64url(b"\x30\x06\x02\x01\x01\x02\x01\x01")

    with pytest.raises(AuthenticationFailed):
        verify(app, response)

    assert actions(app, "passkey_counter_regressed") == []


def test_a_passkey_of_a_deactivated_account_signs_nobody_in(app, user, phone):
    add_passkey(app, user, phone)
    with door(app):
        user_of(user).is_active = False
        db.session.commit()

    with pytest.raises(AuthenticationFailed):
        passkey_sign_in(app, phone)


def test_a_passkey_not_registered_here_is_refused(app, user, phone):
    add_passkey(app, user, phone)
    stranger = SoftwareAuthenticator()
    stranger.create(registration_options(app, user))  # made, but never sent to the portal

    with pytest.raises(AuthenticationFailed):
        passkey_sign_in(app, stranger)


def test_user_presence_flag_alone_is_enough_for_a_second_step(app, user, phone):
    add_passkey(app, user, phone)

    assert passkey_sign_in(app, phone, account=user, flags=UP).user_verified is False


# Managing -----------------------------------------------------------------------------------------


def test_passkeys_are_listed_renamed_and_removed_each_audited(app, user, phone, mailbox):
    first = add_passkey(app, user, phone, name="Phone").id
    second = add_passkey(app, user, SoftwareAuthenticator(), name="Laptop").id

    with door(app):
        assert [p.name for p in passkeys.list_passkeys(user_of(user))] == ["Phone", "Laptop"]
        passkeys.rename_passkey(user_of(user), first, "Old phone", actor_for(user))
        passkeys.remove_passkey(user_of(user), second, actor_for(user))
        assert [p.name for p in passkeys.list_passkeys(user_of(user))] == ["Old phone"]
        assert factors.has_second_factor(user_of(user))
        assert len(db.session.scalars(select(RecoveryCode)).all()) == 10

    assert actions(app, "passkey_renamed")[0].changes == {"passkey": ["Phone", "Old phone"]}
    assert actions(app, "passkey_removed")[0].changes == {"passkey": ["Laptop", None]}
    assert "Passkey removed: Laptop" in mailbox.sent_to(user.email)[-1].get_body(("plain",)).get_content()


def test_removing_the_last_passkey_removes_the_second_step_and_the_recovery_codes(app, user, phone):
    passkey_id = add_passkey(app, user, phone).id

    with door(app):
        passkeys.remove_passkey(user_of(user), passkey_id, actor_for(user))
        assert not factors.has_second_factor(user_of(user))
        assert db.session.scalars(select(RecoveryCode)).all() == []
    with pytest.raises(AuthenticationFailed):
        passkey_sign_in(app, phone)


@pytest.mark.parametrize("name", ["x" * 101, "bad\x00name", "\u202eevil"])
def test_a_bad_name_is_a_field_error(app, user, phone, name):
    passkey_id = add_passkey(app, user, phone).id

    with app.app_context(), pytest.raises(ValidationFailed) as raised:
        passkeys.rename_passkey(user_of(user), passkey_id, name, actor_for(user))

    assert list(raised.value.errors) == ["name"]


def test_someone_elses_passkey_is_not_found_and_staff_rules_apply(app, make_user, phone):
    alice, bob = make_user("alice@example.com"), make_user("bob@example.com")
    clerk, root = make_user("clerk@example.com", staff=True), make_user("root@example.com", superuser=True)
    passkey_id = add_passkey(app, alice, phone).id

    with door(app):
        for bad_id in (passkey_id, 0, -1, "1", None, 2**40, True):
            with pytest.raises(NotFound):
                passkeys.rename_passkey(user_of(bob), bad_id, "Mine now", actor_for(bob))
        with pytest.raises(PermissionDenied):
            passkeys.remove_passkey(user_of(alice), passkey_id, actor_for(bob))
        with pytest.raises(PermissionDenied):
            passkeys.rename_passkey(user_of(alice), passkey_id, "Renamed by staff", actor_for(clerk, via="admin"))
        passkeys.remove_passkey(user_of(alice), passkey_id, actor_for(clerk, via="admin"))
        assert passkeys.list_passkeys(user_of(alice)) == []
        assert root.id  # a superuser is staff too; the staff rule itself is tested in test_two_factor
