"""Every language the portal offers is served from a current compiled catalogue, however it was installed.

The catalogues (``.mo``) are build products: a clean clone has none, a ``git pull`` can leave one
behind its ``.po``, an installed package may live where nothing can be written. Each case is started
here from a copy of the package's translations and read through HTTP in Persian; a start that finds
no usable catalogue is refused in production and logged elsewhere. (tests/test_install.py installs the
package for real.)
"""

import io
import logging
import shutil
from pathlib import Path

import flask_babel
import pytest
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from flask import Flask

from portal import catalogues, create_app, i18n
from portal.extensions import db

PACKAGE_TRANSLATIONS = i18n.TRANSLATIONS
PO = Path("fa") / "LC_MESSAGES" / "messages.po"
MO = Path("fa") / "LC_MESSAGES" / "messages.mo"

def persian_of(message: str, translations: Path = PACKAGE_TRANSLATIONS) -> str:
    """The Persian catalogue's translation of ``message`` (its wording may change; the tests do not care)."""
    with (translations / PO).open("rb") as po:
        return read_po(po, locale="fa")[message].string


SIGN_IN_IN_PERSIAN = persian_of("Sign in")
SIGN_IN_ENTRY = f'msgid "Sign in"\nmsgstr "{SIGN_IN_IN_PERSIAN}"'
PRODUCTION = {"SECRET_KEY": "x" * 64, "TRUSTED_HOSTS": ["localhost"], "PASSWORD_BREACH_CHECK": False,
              "SQLALCHEMY_DATABASE_URI": "sqlite://"}


@pytest.fixture
def translations(tmp_path, monkeypatch):
    """A copy of the package's .po files, with no compiled catalogue, that the app reads instead;
    an instance folder of the test's own."""
    folder = tmp_path / "translations"
    (folder / PO).parent.mkdir(parents=True)
    shutil.copy(PACKAGE_TRANSLATIONS / PO, folder / PO)
    monkeypatch.setattr(i18n, "TRANSLATIONS", folder)
    monkeypatch.setattr(Flask, "auto_find_instance_path", lambda self: str(tmp_path / "instance"))
    # Flask-Babel keeps the translations it loaded per language for the whole process, whatever the
    # folder: this test's app reads its own.
    cache = {}
    monkeypatch.setattr(flask_babel.Domain, "get_translations_cache", lambda self, ctx: cache)
    return folder


def persian_sign_in_page(config="testing", **overrides) -> str:
    # An in-memory database of its own, closed at the end: the page reads no table of the shared one.
    app = create_app(config, {"UPLOAD_FOLDER": "/nonexistent", "SQLALCHEMY_DATABASE_URI": "sqlite://", **overrides})
    with app.app_context():
        db.create_all()
    response = app.test_client().get("/login", headers={"Accept-Language": "fa"})
    with app.app_context():
        db.engine.dispose()
    assert response.status_code == 200
    return response.get_data(as_text=True)


def compiled_from(po_text: str) -> bytes:
    return catalogues.compile_catalogue(po_text.encode(), "fa")


def test_a_clean_clone_without_compiled_catalogues_serves_persian_compiling_them_at_start(translations):
    assert not (translations / MO).exists()
    page = persian_sign_in_page()
    assert 'dir="rtl"' in page and f"<h1>{SIGN_IN_IN_PERSIAN}</h1>" in page
    assert (translations / MO).read_bytes() == compiled_from((translations / PO).read_text())


def test_a_catalogue_left_behind_by_a_changed_po_is_compiled_again_at_start(translations):
    po = (translations / PO).read_text()
    old = po.replace(SIGN_IN_ENTRY, 'msgid "Sign in"\nmsgstr "ورود قدیمی"')
    assert old != po
    (translations / MO).write_bytes(compiled_from(old))
    # Written after the .po: file times cannot tell that it is out of date, its messages can.
    page = persian_sign_in_page()
    assert f"<h1>{SIGN_IN_IN_PERSIAN}</h1>" in page and "ورود قدیمی" not in page


def test_a_damaged_catalogue_is_compiled_again_at_start(translations):
    (translations / MO).write_bytes(b"not a catalogue")
    assert f"<h1>{SIGN_IN_IN_PERSIAN}</h1>" in persian_sign_in_page()


def test_a_catalogue_written_by_another_babel_version_is_kept_as_it_is(translations):
    current = compiled_from((translations / PO).read_text())
    with (translations / PO).open("rb") as po:
        catalogue = read_po(po, locale="fa")
    catalogue.version = "another"  # a header of its own, as another Babel version writes its name
    written = io.BytesIO()
    write_mo(written, catalogue)
    other = written.getvalue()
    assert other != current
    (translations / MO).write_bytes(other)
    assert f"<h1>{SIGN_IN_IN_PERSIAN}</h1>" in persian_sign_in_page()
    assert (translations / MO).read_bytes() == other


def test_where_the_package_cannot_be_written_the_catalogues_are_compiled_into_the_instance_folder(
        translations, tmp_path, monkeypatch):
    write = catalogues._write
    # Tests run as root, whom file modes do not stop: the package folder refuses here instead.
    monkeypatch.setattr(catalogues, "_write", lambda path, data: not path.is_relative_to(translations)
                        and write(path, data))
    page = persian_sign_in_page()
    assert f"<h1>{SIGN_IN_IN_PERSIAN}</h1>" in page
    assert not (translations / MO).exists()
    assert (tmp_path / "instance" / "translations" / MO).is_file()


def test_production_refuses_to_start_when_an_offered_language_has_no_catalogue(translations):
    (translations / PO).unlink()
    with pytest.raises(RuntimeError) as refused:
        create_app("production", PRODUCTION)
    message = str(refused.value)
    assert "fa:" in message and "no catalogue" in message and "pybabel compile" in message


def test_production_refuses_to_start_when_a_catalogue_cannot_be_brought_up_to_date(translations, monkeypatch):
    po = (translations / PO).read_text()
    (translations / MO).write_bytes(compiled_from(po.replace(SIGN_IN_ENTRY, 'msgid "Sign in"\nmsgstr "x"')))
    monkeypatch.setattr(catalogues, "_write", lambda path, data: False)
    with pytest.raises(RuntimeError, match="fa: .* out of date"):
        create_app("production", PRODUCTION)


def test_production_starts_in_persian_from_a_catalogue_without_its_po(translations):
    (translations / MO).write_bytes(compiled_from((translations / PO).read_text()))
    (translations / PO).unlink()
    assert f"<h1>{SIGN_IN_IN_PERSIAN}</h1>" in persian_sign_in_page("production", **PRODUCTION)


def test_development_starts_without_a_catalogue_and_says_which_language_lacks_one(translations, caplog):
    (translations / PO).unlink()
    with caplog.at_level(logging.WARNING, logger="portal.i18n"):
        page = persian_sign_in_page("development", SQLALCHEMY_DATABASE_URI="sqlite://")
    # Laid out for Persian, in English until there is a catalogue.
    assert 'dir="rtl"' in page and "<h1>Sign in</h1>" in page
    assert any("fa: no catalogue" in record.getMessage() for record in caplog.records)


def test_the_build_and_make_translations_write_the_same_catalogue():
    po = PACKAGE_TRANSLATIONS / PO
    built = PACKAGE_TRANSLATIONS / MO  # compiled by `make translations` (pybabel compile)
    assert catalogues.messages_of(built.read_bytes()) == catalogues.messages_of(compiled_from(po.read_text()))
