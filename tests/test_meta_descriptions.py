"""Every page says what it is for in a ``<meta name="description">``, in the reader's language: the
site's tour (tests/site_tour.py), every page and state, read in English and in Persian. The ways in
(sign-in, sign-up, sign-in by code) are left to search engines; every other page asks them to stay out."""

import re
from html.parser import HTMLParser

import pytest

from tests.site_tour import build_world, html_answers
from tests.test_persian_pages import PERSIAN, latin_left_in_text

PERSIAN_LETTERS = re.compile(r"[\u0600-\u06FF]")
# The tour's labels of the ways in: their pages, and the same pages answering a form with errors.
FOR_SEARCH_ENGINES = {"GET /login", "GET /register", "GET /login/code", "sign-in with errors", "sign-up with errors"}


class Meta(HTMLParser):
    def __init__(self, html: str):
        super().__init__(convert_charrefs=True)
        self.named: dict[str, list[str]] = {}
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "meta" and "name" in attrs:
            self.named.setdefault(attrs["name"], []).append(attrs.get("content") or "")


def pages(world) -> list[tuple[str, Meta]]:
    return [(label, Meta(response.get_data(as_text=True))) for label, response, _ in html_answers(world)
            if response.mimetype == "text/html" and not 300 <= response.status_code < 400]  # a redirect is no page


@pytest.fixture
def english_world(app, client, make_user, jwt_pair, api_key):
    return build_world(app, client, make_user, jwt_pair, api_key)


@pytest.fixture
def persian_world(app, client, make_user, jwt_pair, api_key):
    return build_world(app, client, make_user, jwt_pair, api_key, cast=PERSIAN)


def test_every_page_of_the_tour_has_one_description_of_its_own(english_world):
    read = pages(english_world)
    assert len(read) > 40
    missing = [label for label, meta in read if len(meta.named.get("description", [])) != 1
               or len(meta.named["description"][0].split()) < 5]
    assert missing == []


def test_every_persian_page_of_the_tour_is_described_in_persian(persian_world):
    untranslated = {}
    for label, meta in pages(persian_world):
        [description] = meta.named.get("description", [""])
        if not PERSIAN_LETTERS.search(description) or latin_left_in_text(description):
            untranslated[label] = description
    assert untranslated == {}


def test_only_the_ways_in_are_left_to_search_engines(english_world):
    for label, meta in pages(english_world):
        expected = [] if label in FOR_SEARCH_ENGINES else ["noindex"]
        assert meta.named.get("robots", []) == expected, label
