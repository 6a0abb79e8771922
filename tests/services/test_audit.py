"""Who acted, as a list of events says it: to the account's owner and to staff, for every kind of actor."""

import pytest

from portal.extensions import db
from portal.models import User
from portal.services import audit
from portal.services.audit import SYSTEM, Actor


@pytest.mark.parametrize(
    ("who", "via", "to_owner", "said"),
    [
        ("owner", "web", "by you through the website", "by mia@example.com through the website"),
        ("staff", "admin", "by staff through the admin page", "by root@example.com through the admin page"),
        (None, "api", "by you through the API", "by the account's owner, signed out, through the API"),
        (None, "cli", "by system through the command line", "on the command line"),
    ],
)
def test_who_acted_is_said_to_the_owner_as_a_role_and_to_staff_by_address(app, make_user, who, via, to_owner, said):
    owner = make_user("mia@example.com")
    staff = make_user("root@example.com", superuser=True)
    with app.app_context():
        actor = {"owner": owner, "staff": staff, None: None}[who]
        event = audit.record(
            Actor(user=db.session.get(User, actor.id) if actor else None, via=via) if via != "cli" else SYSTEM,
            "profile_updated", db.session.get(User, owner.id),
        )
        db.session.commit()

        assert audit.acted_by(event, to_owner=True, isolate=str) == to_owner
        assert audit.acted_by(event, to_owner=False, isolate=str) == said
        assert audit.actor_role(event) == to_owner.split()[1]  # the export's "by": you, staff or system
