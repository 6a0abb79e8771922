"""Every page and every mail in Persian, with no English left: the site's tour (tests/site_tour.py)
taken by Persian-speaking people, each page's visible text read for Latin words; the mails they are
sent read the same way. What stays Latin on purpose — an address, a code, a key, a product name — is
inside an element that says so (``<bdi>``, ``dir="ltr"``, ``lang``, ``<code>``) or on the short list
below."""

import re
from html.parser import HTMLParser

import pytest

from portal.extensions import db
from portal.models import User
from portal.services.audit import SYSTEM, Actor
from portal.services.people import accounts, verification
from portal.services.signing_in import securing
from tests.conftest import written_mail
from tests.site_tour import Cast, build_world, html_answers

PERSIAN = Cast(root=("رها", "روستایی"), member=("مینا", "محمدی"), group=("ویراستاران", "کسانی که ویرایش می‌کنند"),
               new_last_name="ریشه", key_name="لپ‌تاپ", app_name="فروشگاه نمونه", passkey_name="گوشی من", language="fa")
# Latin words a Persian page may show as they are: names of products and formats, and abbreviations.
LATIN_ON_PURPOSE = {
    "API", "JSON", "CSV", "UTC", "QR", "TOTP", "URL", "IP", "ID", "PIN", "SHA", "HTTP", "HTTPS", "OpenAPI",
    "Google", "Microsoft", "Authenticator", "Aegis", "Apple", "Bitwarden", "Chrome", "Chromium", "Firefox", "Safari",
    "Edge", "Opera", "Linux", "Windows", "macOS", "iOS", "iPadOS", "Android", "ChromeOS", "curl", "Werkzeug", "Token",
    "Bearer", "Authorization", "English", "1Password", "GIF", "JPEG", "PNG", "WebP",
}
LATIN_WORD = re.compile(r"[0-9]*[A-Za-z][A-Za-z'’]+")
# Inside these, Latin text is meant: left-to-right islands, code, other languages, and what is not text.
LATIN_ISLANDS = {"bdi", "code", "kbd", "pre", "script", "style", "svg"}
# Attributes whose text a person reads or hears: a screen reader speaks a button's aria-label.
READ_ATTRIBUTES = ("aria-label", "title", "alt", "placeholder")
VOID_ELEMENTS = {"br", "img", "input", "meta", "link", "hr", "source"}


class PersianText(HTMLParser):
    """The text of a page a person reads or hears (its title, visible text and the attributes read out)
    outside its left-to-right islands."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack: list[bool] = []  # per open element: whether Latin is meant inside it
        self.words: list[str] = []
        self.in_title = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.in_title = tag == "title"
        latin = (
            tag in LATIN_ISLANDS
            or attrs.get("dir") == "ltr"
            or attrs.get("lang", "fa") not in ("fa", "")
            or (self.stack and self.stack[-1])
        )
        if not latin:
            for name in READ_ATTRIBUTES:
                self.words += latin_left_in_text(attrs.get(name) or "")
        if tag not in VOID_ELEMENTS:
            self.stack.append(bool(latin))

    def handle_endtag(self, tag):
        self.in_title = False
        if self.stack:
            self.stack.pop()

    def handle_data(self, data):
        if self.stack and self.stack[-1]:
            return
        if self.in_title:  # a title cannot isolate an address in markup: the address is Latin by nature
            self.words += latin_left_in_text(data)
            return
        self.words += [word for word in LATIN_WORD.findall(data) if word not in LATIN_ON_PURPOSE]


def english_left(html: str) -> list[str]:
    """The Latin words a person reading the page in Persian would meet."""
    reader = PersianText()
    reader.feed(html)
    return reader.words


def latin_left_in_text(text: str) -> list[str]:
    """Latin words of a plain-text mail, but for addresses, links and codes, which are Latin by nature."""
    text = re.sub(r"\S+@\S+|https?://\S+|\b[a-z0-9]{5}-[a-z0-9]{5}\b", " ", text)
    return [word for word in LATIN_WORD.findall(text) if word not in LATIN_ON_PURPOSE]


@pytest.fixture
def persian_world(app, client, make_user, jwt_pair, api_key):
    return build_world(app, client, make_user, jwt_pair, api_key, cast=PERSIAN)


def test_the_tour_speaks_persian_from_right_to_left(persian_world):
    page = persian_world.browser.get("/profile/").get_data(as_text=True)

    assert '<html lang="fa" dir="rtl">' in page


def test_no_english_is_left_on_any_persian_page(persian_world):
    leftovers = {}
    for label, response, _ in html_answers(persian_world):
        if response.mimetype == "text/html":
            found = english_left(response.get_data(as_text=True))
            if found:
                leftovers[label] = sorted(set(found))

    assert leftovers == {}, "\n".join(f"{page}: {' '.join(words)}" for page, words in leftovers.items())


def test_no_english_is_left_in_any_mail_a_persian_speaker_is_sent(app, persian_world):
    with app.app_context():
        member = db.session.get(User, persian_world.member.id)
        verification.mail_code_to_new_address(member, "old-address@example.com", True, SYSTEM)  # code + notice
        securing.secure_account(member, SYSTEM, how=securing.FROM_SESSIONS_PAGE)
        staff = Actor(user=db.session.get(User, persian_world.root.id), via="admin")
        accounts.update_profile(member, {"first_name": "مینو"}, staff)
        db.session.commit()
    persian_world.anonymous.post("/login/code", data={"email": persian_world.member.email})
    persian_world.anonymous.post("/password/forgot", data={"email": persian_world.member.email})

    mails = written_mail(app)
    subjects = {mail["Subject"] for mail in mails}
    leftovers = {}
    for mail in mails:
        html = mail.get_body(("html",)).get_content()
        plain = mail.get_body(("plain",)).get_content()
        found = english_left(html) + latin_left_in_text(plain) + latin_left_in_text(mail["Subject"])
        if found:
            leftovers[mail["Subject"]] = sorted(set(found))

    # A new sign-in, a security change, the new address's code and the old one's notice, the account
    # secured, a staff change, a sign-in code and a reset link.
    assert len(subjects) == 8, subjects
    assert leftovers == {}, "\n".join(f"{subject}: {' '.join(words)}" for subject, words in leftovers.items())


def test_the_latin_word_reader_finds_what_it_looks_for():
    page = (
        '<body><p>ورود <b>Sign in</b> <bdi>a@b.example</bdi> <span dir="ltr">x y</span>'
        ' <button lang="en">English</button></p>'
    )

    assert english_left(page) == ["Sign", "in"]
    labelled = '<title>Profile</title><button aria-label="Remove the key">حذف</button><img alt="تصویر" src="x">'
    assert english_left(labelled) == ["Profile", "Remove", "the", "key"]
