"""Optimistic concurrency for the profile routes: every representation carries the row's version
as its ETag; ``If-Match`` makes a write conditional (412 when stale), ``If-None-Match`` a read (304)."""

from flask import jsonify, request

from ..models import User
from ..services.errors import PreconditionFailed
from ..services.people.users import STALE

# The request headers that make_conditional answers (with no Last-Modified, the dates never match).
CONDITIONS = frozenset(
    {"HTTP_IF_MATCH", "HTTP_IF_NONE_MATCH", "HTTP_IF_MODIFIED_SINCE", "HTTP_IF_UNMODIFIED_SINCE", "HTTP_RANGE"}
)


def expected_versions() -> set[int] | None:
    """The versions an ``If-Match`` header names; None when there is none (or ``*``), so the write
    goes ahead as the documents describe. Tags that are no version of ours match nothing."""
    if "If-Match" not in request.headers or request.if_match.star_tag:
        return None
    tags = request.if_match.as_set(include_weak=True)
    return {int(tag) for tag in tags if tag and tag.isdigit() and len(tag) < 12}


def represent(body: dict, user: User, status: int = 200):
    """A profile answer with its ETag; a GET whose ``If-None-Match`` names it gets 304, one whose
    ``If-Match`` does not name it 412 (as an error, not the profile)."""
    response = jsonify(body)
    response.status_code = status
    response.set_etag(str(user.version))
    if not CONDITIONS.intersection(request.environ):
        return response  # most requests ask nothing conditional, and then nothing is to check
    response = response.make_conditional(request)
    if response.status_code == 412:
        raise PreconditionFailed(STALE)
    return response
