"""Two-step sign-in seen by staff: the facts on a user's page, the reset (confirmed, audited,
mailed, refused where the rights rules say so), and staff made to set up a factor of their own."""

import re

from sqlalchemy import select

from portal.config import DevConfig, ProdConfig
from portal.extensions import db
from portal.models import AuditEvent, Passkey, TotpDevice
from portal.services.plumbing.secret_box import open_sealed
from tests.two_step import add_passkey, set_up_totp
from tests.webauthn_authenticator import SoftwareAuthenticator

from .conftest import add_user, is_403_page, sign_in, text


def visible(page) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", text(page)).split())


def factors_of(app, account) -> tuple[int, int]:
    with app.app_context():
        apps = len(db.session.scalars(select(TotpDevice).where(TotpDevice.user_id == account.id)).all())
        keys = len(db.session.scalars(select(Passkey).where(Passkey.user_id == account.id)).all())
        return apps, keys


def test_a_users_page_shows_how_they_sign_in(app, people, signed_in, clock):
    set_up_totp(app, people.member, clock)
    add_passkey(app, people.member, SoftwareAuthenticator(), name="Mia's phone")

    page = visible(signed_in(people.staff).get(f"/admin/users/{people.member.id}"))

    assert "Authenticator app On" in page and "Recovery codes 10 left" in page
    assert "Mia's phone (added" in page and "last used never" in page


def test_staff_reset_a_lost_phone_after_a_confirmation_and_the_person_is_mailed(app, people, signed_in, clock, mailbox):
    set_up_totp(app, people.member, clock)
    add_passkey(app, people.member, SoftwareAuthenticator())
    staff = signed_in(people.staff)
    url = f"/admin/users/{people.member.id}/two-factor/reset"

    asked = staff.post(url, data={})
    assert "Reset two-step sign-in?" in text(asked) and factors_of(app, people.member) == (1, 1)
    done = staff.post(url, data={"confirmed": "yes"})

    assert done.status_code == 302
    assert factors_of(app, people.member) == (0, 1)  # passkeys stay unless asked for
    staff.post(url, data={"confirmed": "yes", "remove_passkeys": "yes"})
    assert factors_of(app, people.member) == (0, 0)
    assert "A change to how you sign in" in [m["Subject"] for m in mailbox.sent_to(people.member.email)]
    with app.app_context():
        event = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "two_factor_reset")).first()
        assert event.actor_id == people.staff.id and event.subject_id == people.member.id


def test_only_a_superuser_resets_a_staff_members_factors(app, people, signed_in, clock):
    set_up_totp(app, people.staff2, clock)
    url = f"/admin/users/{people.staff2.id}/two-factor/reset"

    refused = signed_in(people.staff).post(url, data={"confirmed": "yes"})

    assert is_403_page(refused) and factors_of(app, people.staff2) == (1, 0)
    assert signed_in(people.superuser).post(url, data={"confirmed": "yes"}).status_code == 302
    assert factors_of(app, people.staff2) == (0, 0)


def test_with_the_setting_on_staff_without_a_factor_are_sent_to_set_one_up(make_app, clock):
    strict = make_app(STAFF_REQUIRE_TWO_FACTOR=True)
    staff = add_user(strict, "staff@example.com", staff=True)
    client = sign_in(strict.test_client(), staff)

    sent = client.get("/admin/users/")

    assert sent.status_code == 302 and sent.headers["Location"] == "/profile/security"
    set_up_totp(strict, staff, clock)
    client = strict.test_client()
    client.post("/login", data={"login": staff.email, "password": staff.password})
    assert client.post("/login/second-step", data={"code": clock.code(_secret(strict, staff))}).status_code == 302
    assert client.get("/admin/users/").status_code == 200


def test_the_setting_is_on_in_production_and_off_in_development():
    assert ProdConfig.STAFF_REQUIRE_TWO_FACTOR is True and DevConfig.STAFF_REQUIRE_TWO_FACTOR is False


def _secret(app, account) -> str:
    with app.app_context():
        device = db.session.scalar(select(TotpDevice).where(TotpDevice.user_id == account.id))
        return open_sealed(device.secret_sealed, "totp").decode()
