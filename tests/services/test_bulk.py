"""Bulk actions as a service: each account through the service that changes it alone, the ones a
rule protects left as they are and named with the rule's reason."""

import pytest

from portal.extensions import db
from portal.models import User
from portal.services.audit import SYSTEM, Actor
from portal.services.people import bulk, groups
from portal.services.people.accounts import NOT_YOURSELF


def users(*accounts) -> list[User]:
    return [db.session.get(User, account.id) for account in accounts]


def test_deactivating_does_every_account_a_rule_lets_it_and_names_the_others(app, make_user):
    staff = make_user("staff@example.com", staff=True)
    member, other = make_user("member@example.com"), make_user("other@example.com")
    with app.app_context():
        acting = Actor(user=db.session.get(User, staff.id), via="admin")

        outcome = bulk.apply_to_users("deactivate", users(member, staff, other), acting)

        assert outcome.done == 2
        assert outcome.refusals == [bulk.Refusal("staff@example.com", NOT_YOURSELF)]
        assert [user.is_active for user in users(member, staff, other)] == [False, True, False]

        assert bulk.apply_to_users("activate", users(member, other), acting) == bulk.BulkOutcome(2, [])
        assert [user.is_active for user in users(member, other)] == [True, True]


def test_adding_to_a_group_takes_the_group(app, make_user):
    member, other = make_user("member@example.com"), make_user("other@example.com")
    with app.app_context():
        editors = groups.create_group("Editors", SYSTEM)

        outcome = bulk.apply_to_users("add_to_group", users(member, other), SYSTEM, group=editors)

        assert outcome == bulk.BulkOutcome(2, [])
        assert [[g.name for g in user.groups] for user in users(member, other)] == [["Editors"], ["Editors"]]
        with pytest.raises(ValueError):
            bulk.apply_to_users("add_to_group", users(member), SYSTEM)
        with pytest.raises(ValueError):
            bulk.apply_to_users("explode", users(member), SYSTEM)
