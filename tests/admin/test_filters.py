"""The lists' filters, read from a query string and written back into one: the links that sort, page
and export a list ask for the same list, in a URL without the filters left empty."""

from urllib.parse import parse_qsl, urlencode

import pytest
from werkzeug.datastructures import MultiDict

from portal.admin.forms import EventQuery, UserQuery

USER_QUERIES = [
    {},
    {"q": "ada love", "active": "yes", "staff": "no", "verified": "yes", "group": "7", "sort": "email", "order": "asc"},
    {"active": "no", "sort": "last_login"},
    {"group": "99999999999", "sort": "nonsense", "order": "sideways", "staff": "maybe"},  # read as no filter
]


EVENT_QUERIES = [
    {},
    {"subject": "mia@example.com", "actor": "3", "action": "signed_in", "since": "2024-01-11", "until": "2024-01-20"},
    {"since": "not a date", "until": "2024-13-45"},
]


def through_a_url(args: dict) -> MultiDict:
    """What a view reads back from a link built with these arguments."""
    return MultiDict(parse_qsl(urlencode(args)))


@pytest.mark.parametrize(
    ("query", "args"), [(UserQuery, args) for args in USER_QUERIES] + [(EventQuery, args) for args in EVENT_QUERIES]
)
def test_a_query_written_back_asks_for_the_same_list(query, args):
    wanted = query.from_args(MultiDict(args))

    written = wanted.to_args()

    assert query.from_args(through_a_url(written)) == wanted
    assert all(value not in (None, "") for value in written.values())


def test_changes_come_first_and_replace_what_the_query_said():
    wanted = UserQuery.from_args(MultiDict({"q": "ada", "sort": "email", "order": "asc"}))

    assert list(wanted.to_args(page=2).items()) == [("page", 2), ("sort", "email"), ("order", "asc"), ("q", "ada")]
    assert list(wanted.to_args(sort="name", order="desc").items()) == [
        ("sort", "name"), ("order", "desc"), ("q", "ada")]
