"""The Persian words as a native reader checks them: one English word with two meanings kept apart by
a context, one term per concept across the catalogue, no broken or colloquial spellings, the one
label "Forgot your password?" that the mails quote, Latin lists whose order does not depend on the
bidi algorithm, and mails that say who sends them and in which language.

Pages and mails are read through HTTP and the real SMTP test server, as a person meets them."""

import re
import unicodedata

import pytest

from portal.i18n import TRANSLATIONS
from tests.site_tour import build_world, member_browser
from tests.test_persian_pages import PERSIAN
from tests.test_translations import catalogue

PO = TRANSLATIONS / "fa" / "LC_MESSAGES" / "messages.po"


@pytest.fixture
def persian_world(app, client, make_user, jwt_pair, api_key):
    """A Persian-speaking superuser signed in (``browser``), a member and a visitor (``anonymous``)."""
    return build_world(app, client, make_user, jwt_pair, api_key, cast=PERSIAN)


def persian_strings() -> list[str]:
    """Every msgstr of the Persian catalogue (each plural form)."""
    return [text for m in catalogue(PO) if m.id for text in (m.string if isinstance(m.string, tuple) else (m.string,))]


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


# One label for "Forgot your password?", quoted exactly by what points at it -------------------------


def forgot_link_label(login_page: str) -> str:
    return re.search(r'<a href="/password/forgot">([^<]+)</a>', login_page).group(1)


def test_the_forgot_password_label_is_one_and_the_mails_and_the_refusal_quote_it(persian_world, mailbox):
    label = forgot_link_label(page(persian_world.anonymous, "/login"))
    assert label == "رمز عبور خود را فراموش کرده‌اید؟"
    assert f"<h1>{label}</h1>" in page(persian_world.anonymous, "/password/forgot")

    member = member_browser(persian_world)
    assert member.post("/profile/sessions/secure").status_code == 200
    [secured] = [m for m in mailbox.sent_to(persian_world.member.email)
                 if m["Subject"] == "حساب کاربری شما ایمن‌سازی شد"]
    plain = secured.get_body(("plain",)).get_content()
    html = secured.get_body(("html",)).get_content()
    refused = persian_world.anonymous.post(
        "/login", data={"login": persian_world.member.email, "password": persian_world.member.password}
    ).get_data(as_text=True)

    assert f"با «{label}» پیوند تازه‌ای درخواست کنید: http" in plain
    assert re.search(rf'«<a href="http[^"]+/password/forgot">{label}</a>»', html)
    assert f"با «{label}» پیوندی به ایمیلتان فرستاده می‌شود" in refused


def test_the_alerts_button_and_the_secure_button_read_as_the_pages_and_mails_that_name_them(mailbox, persian_world):
    # The world's browser signed in from an address its API sign-ins had not come from: a new browser, mailed.
    [alert] = [m for m in mailbox.sent_to(persian_world.root.email) if m["Subject"] == "ورود جدید به حساب شما"]
    not_me = re.search(r'<a href="[^"]*/not-me/[^"]+"[^>]*>([^<]+)</a>', alert.get_body(("html",)).get_content())[1]
    member = member_browser(persian_world)
    secure = re.search(r'<button type="submit" class="danger">([^<]+)</button>',
                       page(member, "/profile/sessions/secure"))[1]
    member.post("/profile/sessions/secure")
    [secured] = [m for m in mailbox.sent_to(persian_world.member.email)
                 if m["Subject"] == "حساب کاربری شما ایمن‌سازی شد"]

    assert (not_me, secure) == ("من نبودم", "ایمن‌سازی حسابم")
    assert f"این ایمیل پیوند «{not_me}» دارد." in page(persian_world.browser, "/profile/sessions")
    assert f"از طریق گزینهٔ «{secure}» در صفحهٔ نشست‌ها ایمن‌سازی شد" in secured.get_body(("plain",)).get_content()


def test_no_persian_string_names_the_forgot_password_link_in_other_words():
    """The three renderings the pages and mails once had, each a label the page did not show."""
    strings = persian_strings()

    assert [s for s in strings if "فراموش کرده‌اید" in s and "رمز عبور خود را فراموش کرده‌اید؟" not in s
            and "%(forgot)s" not in s] == []


# Mails: who sends them, and in which language ------------------------------------------------------


def ask_for_a_reset_link(client, email):
    assert client.post("/password/forgot", data={"email": email}).status_code == 200


@pytest.mark.parametrize(("language", "sender", "tag"), [
    ("fa", "پورتال حساب", "fa"),
    ("en", "Account portal", "en"),
], ids=["persian", "english"])
def test_a_mail_names_its_sender_and_its_language_in_the_readers_language(
    client, make_user, mailbox, language, sender, tag
):
    make_user("reader@example.com", language=language)

    ask_for_a_reset_link(client, "reader@example.com")

    [received] = mailbox.sent_to("reader@example.com")
    assert received["From"].addresses[0].display_name == sender
    assert received["From"].addresses[0].addr_spec == "no-reply@localhost"
    assert received["Content-Language"] == tag
    assert f'<html lang="{tag}"' in received.get_body(("html",)).get_content()


def test_the_persian_sender_name_travels_encoded_and_the_english_one_as_configured(app, client, make_user, mailbox):
    make_user("fa@example.com", language="fa")
    make_user("en@example.com", language="en")

    ask_for_a_reset_link(client, "fa@example.com")
    ask_for_a_reset_link(client, "en@example.com")

    raw = {envelope.rcpt_tos[0]: envelope.content for envelope in mailbox.envelopes}
    encoded = rb"^From: =\?utf-8\?[bq]\?[^\r\n]+\?= <no-reply@localhost>\r?$"  # RFC 2047: ASCII on the wire
    assert re.search(encoded, raw["fa@example.com"], re.M | re.I)
    assert re.search(rb"^From: Account portal <no-reply@localhost>\r?$", raw["en@example.com"], re.M)
    assert str(mailbox.sent_to("en@example.com")[0]["From"]) == app.config["MAIL_FROM"]


def test_a_sender_name_the_catalogue_does_not_know_is_sent_as_the_operator_wrote_it(app, client, make_user, mailbox):
    app.config["MAIL_FROM"] = "Acme Accounts <accounts@acme.example>"
    make_user("reader@example.com", language="fa")

    ask_for_a_reset_link(client, "reader@example.com")

    [received] = mailbox.sent_to("reader@example.com")
    assert str(received["From"]) == "Acme Accounts <accounts@acme.example>"
    assert received["Content-Language"] == "fa"


# Latin lists inside Persian sentences ----------------------------------------------------------------


def latin_list_left_to_the_bidi_algorithm(text: str) -> bool:
    """Whether ``text`` has two Latin runs joined by a comma with nothing right-to-left between them.

    The bidi algorithm lays such a list out as one left-to-right run ("JPEG، PNG، WebP"), so a
    reader going right to left meets its last item first. An item isolated (``<bdi>``, or FSI…PDI
    in plain text) is a neutral of its own and keeps the sentence's order; a placeholder's value is
    isolated where it is put in.
    """
    text = re.sub(r"<bdi\b[^>]*>.*?</bdi>|\u2068.*?\u2069", " ", text)
    text = re.sub(r"<[^>]+>|%\(\w+\)s", " ", text)
    last_strong, comma_since = None, False
    for character in text:
        kind = unicodedata.bidirectional(character)
        if kind == "L":
            if last_strong == "L" and comma_since:
                return True
            last_strong, comma_since = "L", False
        elif kind in ("R", "AL"):
            last_strong, comma_since = "R", False
        elif character in ",،":
            comma_since = True
    return False


def test_the_latin_list_reader_finds_what_it_looks_for():
    assert latin_list_left_to_the_bidi_algorithm("JPEG، PNG، WebP یا GIF")
    assert latin_list_left_to_the_bidi_algorithm("مانند Google Authenticator، 1Password یا Aegis")
    assert not latin_list_left_to_the_bidi_algorithm("<bdi>JPEG</bdi>، <bdi>PNG</bdi> یا <bdi>GIF</bdi>")
    assert not latin_list_left_to_the_bidi_algorithm("\u2068JPEG\u2069، \u2068PNG\u2069 یا \u2068GIF\u2069")
    assert not latin_list_left_to_the_bidi_algorithm("مانند Europe/Berlin یا Asia/Tehran، و %(a)s، %(b)s")


def test_no_persian_string_leaves_the_order_of_a_latin_list_to_the_bidi_algorithm():
    assert [text for text in persian_strings() if latin_list_left_to_the_bidi_algorithm(text)] == []


def test_the_image_formats_read_in_order_from_right_to_left_on_the_persian_edit_page(persian_world):
    edit = page(persian_world.browser, "/profile/edit")

    assert "<bdi>JPEG</bdi>، <bdi>PNG</bdi>، <bdi>WebP</bdi> یا <bdi>GIF</bdi>، حداکثر" in edit


def test_the_authenticator_apps_read_in_order_from_right_to_left_on_the_persian_security_page(persian_world):
    security = page(persian_world.browser, "/profile/security")

    assert ("مانند <bdi>Google Authenticator</bdi>، <bdi>Microsoft Authenticator</bdi>، <bdi>1Password</bdi>"
            " یا <bdi>Aegis</bdi> ") in security


# One term per concept, and standard spelling ---------------------------------------------------------

# An English term in a message, and the Persian the catalogue's glossary gives it (its plural too).
GLOSSARY = {
    r"passkey": ("کلید عبور", "کلیدهای عبور"),
    r"API key": ("کلید API", "کلیدهای API"),
    r"recovery code": ("کد بازیابی", "کدهای بازیابی"),
    r"\bstaff\b": ("کارکنان", "کارمند"),
    r"\bsessions?\b": ("نشست",),
    r"authenticator app": ("برنامهٔ احراز هویت",),
    r"superuser": ("مدیر ارشد",),
    r"audit log": ("گزارش رویدادها",),
    r"\bsearch\b": ("جست‌وجو",),
    r"two-step": ("دومرحله‌ای",),
    r"\bprofile\b": ("نمایه",),
    r"\blinks?\b": ("پیوند",),
    r"\bpasswords?\b": ("رمز عبور", "رمزهای عبور"),
    r"\bsign(ed|s|ing)?[- ]in\b": ("وارد", "ورود"),
    r"\bThis wasn't me\b": ("من نبودم",),
}
# Spellings a careful editor corrects: a missing zero-width non-joiner, a colloquialism, a calque,
# and staff as «عضو کارکنان».
NOT_PERSIAN_AS_WRITTEN = ("باقی مانده", "جستجو", "همین الان", "همین حالا", "عضو کارکنان", "توسط", "راه اندازی")


def persian_entries() -> list[tuple[str, str]]:
    """(English, Persian) for every msgstr of the catalogue, the English without its placeholders."""
    pairs = []
    for m in catalogue(PO):
        if m.id:
            english = re.sub(r"%\(\w+\)s", "", m.id if isinstance(m.id, str) else m.id[0])
            pairs += [(english, text) for text in (m.string if isinstance(m.string, tuple) else (m.string,))]
    return pairs


def test_every_persian_string_uses_the_glossarys_term_for_each_concept_it_names():
    off_glossary = [
        (term, english, persian)
        for english, persian in persian_entries()
        for term, words in GLOSSARY.items()
        if re.search(term, english, re.I) and not any(word in persian for word in words)
    ]

    assert off_glossary == []


def test_a_persian_term_is_not_lent_to_another_concept():
    entries = persian_entries()

    # «مدیر» is the superuser's (and «مدیریت» the admin's): a password manager is «برنامهٔ مدیریت رمز عبور».
    assert [p for _, p in entries if re.search(r"مدیر(?!\u200c?یت| ارشد)", p)] == []
    # «عملیات» names an API's operations only; the admin's buttons are «اقدام».
    lent = [e for e, p in entries if "عملیات" in p]
    assert "Operations" in lent and [e for e in lent if "operation" not in e.lower()] == []
    # «کلید مخفی» is the authenticator app's secret alone.
    assert sorted(e for e, p in entries if "کلید مخفی" in p) == [
        "Key", "Scan the code with the app, or type the key below into it."
    ]


def test_no_persian_string_keeps_a_spelling_a_careful_editor_corrects():
    found = {word: [p for p in persian_strings() if word in p] for word in NOT_PERSIAN_AS_WRITTEN}

    assert {word: hits for word, hits in found.items() if hits} == {}


def test_the_authenticators_secret_is_a_secret_key_on_the_persian_set_up_page(persian_world):
    started = persian_world.browser.post("/profile/security/app")
    assert started.status_code == 200
    setup = started.get_data(as_text=True)

    assert '<label for="totp-key">کلید مخفی</label>' in setup
