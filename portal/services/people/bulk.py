"""Staff actions on many accounts at once. Each account goes through the service that changes it
alone, with the same rules and audit trail; an account a rule protects is left as it is, and said
why, while the others are done."""

from dataclasses import dataclass

from ...models import Group, User
from ..audit import Actor
from ..errors import PermissionDenied
from . import accounts, groups

ACTIONS = ("activate", "deactivate", "add_to_group")


@dataclass(frozen=True)
class Refusal:
    """An account left as it was, and the rule's reason."""

    email: str
    reason: str


@dataclass(frozen=True)
class BulkOutcome:
    done: int
    refusals: list[Refusal]


def apply_to_users(action: str, users: list[User], actor: Actor, *, group: Group | None = None) -> BulkOutcome:
    """Apply one of ``ACTIONS`` to each of ``users``: how many were done, and which a rule protected."""
    if action not in ACTIONS or (action == "add_to_group") != (group is not None):
        raise ValueError(f"no bulk action {action!r} with group {group!r}")
    refusals = []
    for user in users:
        try:
            if action == "add_to_group":
                groups.set_membership(user, group, True, actor)
            else:
                accounts.update_account_flags(user, {"is_active": action == "activate"}, actor)
        except PermissionDenied as exc:
            refusals.append(Refusal(user.email, str(exc)))
    return BulkOutcome(done=len(users) - len(refusals), refusals=refusals)
