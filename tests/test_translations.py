"""The catalogues: every string marked in the code is extracted, and every language has every one of
them translated, its placeholders kept."""

import re
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from portal.i18n import DEFAULT_LANGUAGE, LANGUAGES, TRANSLATIONS

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = TRANSLATIONS / "messages.pot"
PLACEHOLDER = re.compile(r"%\((\w+)\)s|%s|%d")
# As the Makefile's ``make messages`` extracts: a context first for pgettext (one English word, two meanings).
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "_l": None, "lazy_gettext": None,
            "lazy_ngettext": (1, 2), "pgettext": ((1, "c"), 2), "lazy_pgettext": ((1, "c"), 2)}


def catalogue(path: Path):
    with path.open("rb") as fh:
        return read_po(fh)


def message_key(message_id, context=None) -> tuple[str | None, str]:
    """A message as gettext looks it up: its context (if any) and its English (the singular of a plural)."""
    return context, message_id if isinstance(message_id, str) else message_id[0]


def message_ids(messages) -> set[tuple[str | None, str]]:
    return {message_key(message.id, message.context) for message in messages if message.id}


def test_the_template_holds_every_string_marked_in_the_code():
    """A string marked but not extracted (``make messages`` not run) would never be translated."""
    method_map = [
        ("portal/**.py", "python"), ("portal/templates/**.html", "jinja2"), ("portal/templates/**.txt", "jinja2")
    ]
    marked = set()
    for _, _, message, _, context in extract_from_dir(str(ROOT), method_map, keywords=KEYWORDS):
        marked.add(message_key(message, context))
    extracted = message_ids(catalogue(TEMPLATE))

    assert sorted(marked - extracted, key=str) == [], "marked but missing from messages.pot: run make messages"
    assert sorted(extracted - marked, key=str) == [], "in messages.pot but marked nowhere: run make messages"


@pytest.mark.parametrize("language", sorted(set(LANGUAGES) - {DEFAULT_LANGUAGE}))
def test_every_string_is_translated_and_keeps_its_placeholders(language):
    translated = catalogue(TRANSLATIONS / language / "LC_MESSAGES" / "messages.po")
    wanted = message_ids(catalogue(TEMPLATE))
    entries = {message_key(m.id, m.context): m for m in translated if m.id}

    missing = sorted(wanted - set(entries), key=str)
    untranslated = sorted((
        key for key, m in entries.items()
        if key in wanted and (m.fuzzy or not all(m.string if isinstance(m.string, tuple) else [m.string]))
    ), key=str)
    broken = sorted((
        key for key, m in entries.items()
        if key in wanted and any(
            sorted(PLACEHOLDER.findall(text)) != sorted(PLACEHOLDER.findall(key[1]))
            for text in (m.string if isinstance(m.string, tuple) else (m.string,)) if text
        )
    ), key=str)
    assert wanted, "the template is empty"
    assert missing == [] and untranslated == [] and broken == [], {
        "missing": missing[:20], "untranslated": untranslated[:20], "placeholders differ": broken[:20]
    }
