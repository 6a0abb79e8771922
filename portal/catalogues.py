"""The compiled message catalogues (``.mo``) that every offered language needs, made from the committed ``.po``.

A ``.mo`` is a build product and is never committed, so every way of getting the portal has to make
it, and each does it with ``compile_catalogue`` below (so all of them make the same bytes):

- building a wheel or installing without ``-e`` (setup.py's ``build_py``): into the build, so an
  installed package carries its catalogues even where nothing may be written when it runs;
- ``pip install -e`` (the same ``build_py``) and ``make translations``: next to the ``.po``;
- every start of the app (``ensure``): a language whose ``.mo`` is missing, or says something else
  than its ``.po`` (a clean clone, a ``git pull`` that changed a ``.po``), is compiled then — next to
  its ``.po`` when that folder may be written, else into ``<instance>/translations``, which is then
  where Flask-Babel reads every language from.

Whether a ``.mo`` is current is decided by its messages, not by file times: pip does not keep a
wheel's file times, so a ``.mo`` installed from a wheel may look older than its ``.po``. Compiling
Persian (700 entries) takes about 20 ms, done once per process and ``.po`` (``_compiled``).

This module imports only the standard library and Babel: setup.py loads it from its file at build
time, before the portal's dependencies are installed.
"""

import io
import os
from dataclasses import dataclass, field
from pathlib import Path

from babel.messages.mofile import read_mo, write_mo
from babel.messages.pofile import read_po

DOMAIN = "messages"
CACHE_FOLDER = "translations"  # inside the instance folder


def compile_catalogue(po_bytes: bytes, language: str) -> bytes:
    """The ``.mo`` for a ``.po``'s text, as ``pybabel compile`` makes it (fuzzy entries left out)."""
    catalogue = read_po(io.BytesIO(po_bytes), locale=language)
    out = io.BytesIO()
    write_mo(out, catalogue)
    return out.getvalue()


def messages_of(mo_bytes: bytes) -> dict:
    """What a ``.mo`` translates, without its header (which names the Babel version that wrote it)."""
    def text(value):  # a plural's forms come as a list
        return tuple(value) if isinstance(value, list | tuple) else value

    return {(text(m.id), m.context): text(m.string) for m in read_mo(io.BytesIO(mo_bytes)) if m.id}


def mo_path(folder: Path, language: str) -> Path:
    return Path(folder) / language / "LC_MESSAGES" / f"{DOMAIN}.mo"


_compiled: dict[tuple, bytes] = {}


def _compile_po(po: Path, language: str) -> bytes:
    """``compile_catalogue`` of a ``.po`` file, remembered while the file is unchanged (tests build many apps)."""
    stat = po.stat()
    key = (str(po), language, stat.st_mtime_ns, stat.st_size)
    if key not in _compiled:
        _compiled[key] = compile_catalogue(po.read_bytes(), language)
    return _compiled[key]


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except OSError:
        return None


def _write(path: Path, data: bytes) -> bool:
    """Put ``data`` at ``path`` in one step (workers starting together never read half a file)."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary.write_bytes(data)
        os.replace(temporary, path)
        return True
    except OSError:
        temporary.unlink(missing_ok=True)  # a disk that filled up mid-write leaves nothing behind
        return False


def _same_messages(a: bytes | None, b: bytes | None) -> bool:
    """Whether two ``.mo`` translate the same; a missing or unreadable one is never the same."""
    if a is None or b is None:
        return False
    try:
        return a == b or messages_of(a) == messages_of(b)
    except Exception:  # noqa: BLE001 — a damaged .mo is to be rewritten, not a reason to stop
        return False


def _readable(data: bytes) -> bool:
    try:
        messages_of(data)
        return True
    except Exception:  # noqa: BLE001 — any fault in a .mo makes it unusable
        return False


@dataclass
class Outcome:
    """Where Flask-Babel reads the catalogues from, and what is wrong with any of them."""

    folder: Path
    problems: list[str] = field(default_factory=list)  # one sentence per language without a usable catalogue
    notes: list[str] = field(default_factory=list)  # what was done, for the log


def ensure(source: Path, languages, instance: Path) -> Outcome:
    """Make every language of ``languages`` readable as a current ``.mo``; say where, and what failed.

    ``source``: the package's translations folder (``<language>/LC_MESSAGES/messages.po``);
    ``instance``: the app's instance folder, for when ``source`` may not be written.
    """
    source, instance = Path(source), Path(instance)
    wanted: dict[str, bytes | None] = {}  # language -> the bytes its .mo should hold (None: no .po)
    problems = []
    for language in languages:
        po = source / language / "LC_MESSAGES" / f"{DOMAIN}.po"
        try:
            wanted[language] = _compile_po(po, language) if po.is_file() else None
        except Exception as exc:  # noqa: BLE001 — any fault in a .po is reported, with its language
            wanted[language] = None
            problems.append(f"{language}: {po} cannot be compiled ({exc})")

    def place(folder: Path) -> bool:
        """Every language current in ``folder``, written there where it was not; False if one cannot be."""
        for language, data in wanted.items():
            if data is None:
                continue
            target = mo_path(folder, language)
            if not _same_messages(_read(target), data) and not _write(target, data):
                return False
        return True

    notes = []
    cache = instance / CACHE_FOLDER
    if place(source):
        folder = source
    elif place(cache):
        folder = cache
        notes.append(f"{source} may not be written: the catalogues are compiled into {cache}")
        for language, data in wanted.items():  # a language with only a .mo (no .po) comes along
            if data is None and (existing := _read(mo_path(source, language))) is not None:
                _write(mo_path(cache, language), existing)
    else:
        folder = source
        notes.append(f"neither {source} nor {cache} may be written: the catalogues are read as they are")

    for language in languages:
        if any(problem.startswith(f"{language}:") for problem in problems):
            continue
        target = mo_path(folder, language)
        data = _read(target)
        if data is None:
            problems.append(f"{language}: no catalogue ({target} is missing, and there is no {DOMAIN}.po "
                            "to compile it from)")
        elif wanted[language] is not None and not _same_messages(data, wanted[language]):
            problems.append(f"{language}: {target} is out of date with its {DOMAIN}.po, and cannot be rewritten")
        elif not _readable(data):
            problems.append(f"{language}: {target} cannot be read")
    return Outcome(folder=folder, problems=problems, notes=notes)
