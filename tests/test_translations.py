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
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "_l": None, "lazy_gettext": None,
            "lazy_ngettext": (1, 2)}


def catalogue(path: Path):
    with path.open("rb") as fh:
        return read_po(fh)


def message_ids(messages) -> set[str]:
    return {message.id if isinstance(message.id, str) else message.id[0] for message in messages if message.id}


def test_the_template_holds_every_string_marked_in_the_code():
    """A string marked but not extracted (``make messages`` not run) would never be translated."""
    method_map = [
        ("portal/**.py", "python"), ("portal/templates/**.html", "jinja2"), ("portal/templates/**.txt", "jinja2")
    ]
    marked = set()
    for _, _, message, _, _ in extract_from_dir(str(ROOT), method_map, keywords=KEYWORDS):
        marked.add(message if isinstance(message, str) else message[0])
    extracted = message_ids(catalogue(TEMPLATE))

    assert sorted(marked - extracted) == [], "marked but missing from messages.pot: run make messages"
    assert sorted(extracted - marked) == [], "in messages.pot but marked nowhere: run make messages"


@pytest.mark.parametrize("language", sorted(set(LANGUAGES) - {DEFAULT_LANGUAGE}))
def test_every_string_is_translated_and_keeps_its_placeholders(language):
    translated = catalogue(TRANSLATIONS / language / "LC_MESSAGES" / "messages.po")
    wanted = message_ids(catalogue(TEMPLATE))
    entries = {(m.id if isinstance(m.id, str) else m.id[0]): m for m in translated if m.id}

    missing = sorted(wanted - set(entries))
    untranslated = sorted(
        key for key, m in entries.items()
        if key in wanted and (m.fuzzy or not all(m.string if isinstance(m.string, tuple) else [m.string]))
    )
    broken = sorted(
        key for key, m in entries.items()
        if key in wanted and any(
            sorted(PLACEHOLDER.findall(text)) != sorted(PLACEHOLDER.findall(key))
            for text in (m.string if isinstance(m.string, tuple) else (m.string,)) if text
        )
    )
    assert wanted, "the template is empty"
    assert missing == [] and untranslated == [] and broken == [], {
        "missing": missing[:20], "untranslated": untranslated[:20], "placeholders differ": broken[:20]
    }
