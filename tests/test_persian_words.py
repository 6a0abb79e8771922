"""The Persian words as a native reader checks them: one English word with two meanings kept apart by
a context, one term per concept across the catalogue, no broken or colloquial spellings, the one
label "Forgot your password?" that the mails quote, Latin lists whose order does not depend on the
bidi algorithm, and mails that say who sends them and in which language.

Pages and mails are read through HTTP and the real SMTP test server, as a person meets them."""


import pytest

from portal.i18n import TRANSLATIONS
from tests.site_tour import build_world
from tests.test_persian_pages import PERSIAN
from tests.test_translations import catalogue

PO = TRANSLATIONS / "fa" / "LC_MESSAGES" / "messages.po"


@pytest.fixture
def persian_world(app, client, make_user, jwt_pair, api_key):
    """A Persian-speaking superuser signed in (``browser``), a member and a visitor (``anonymous``)."""
    return build_world(app, client, make_user, jwt_pair, api_key, cast=PERSIAN)


def page(client, url) -> str:
    response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    return response.get_data(as_text=True)


# One English word, two meanings: contexts ---------------------------------------------------------


def test_the_sign_in_event_and_the_sessions_heading_are_translated_apart(persian_world):
    sessions = page(persian_world.browser, "/profile/sessions")
    activity = page(persian_world.browser, "/profile/activity")

    assert '<h2 id="ways-heading">ورودهای فعال</h2>' in sessions
    assert '<p class="way-title">وارد حساب شد</p>' in activity  # the root's own sign-in, as an event
    assert "وارد حساب شد" not in sessions and "ورودهای فعال" not in activity


def test_english_keeps_signed_in_for_both_the_event_and_the_heading(app, client, make_user, jwt_pair, api_key):
    world = build_world(app, client, make_user, jwt_pair, api_key)

    assert '<h2 id="ways-heading">Signed in</h2>' in page(world.browser, "/profile/sessions")
    assert '<p class="way-title">Signed in</p>' in page(world.browser, "/profile/activity")


def test_the_audit_filter_and_the_bulk_change_label_their_action_each_in_its_own_words(persian_world):
    audit = page(persian_world.browser, "/admin/audit/")
    users = page(persian_world.browser, "/admin/users/")

    assert '<label for="action">نوع رویداد</label>' in audit
    assert '<option value="signed_in">وارد حساب شد</option>' in audit
    assert '<label for="bulk-action">اقدام</label>' in users


def test_the_catalogue_holds_the_contexts_the_code_asks_for():
    entries = {(m.context, m.id): m.string for m in catalogue(PO) if m.id}

    assert entries[("audit event", "Signed in")] == "وارد حساب شد"
    assert entries[("heading", "Signed in")] == "ورودهای فعال"
    assert entries[("audit log filter", "Action")] != entries[("bulk change", "Action")]
    assert (None, "Signed in") not in entries and (None, "Action") not in entries
