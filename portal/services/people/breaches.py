"""Breached passwords: how often a password appears in Have I Been Pwned's Pwned Passwords.

Asked by k-anonymity: only the first five hex characters of the password's SHA-1 leave the
server, and the rest of the hash is compared here. ``Add-Padding: true`` pads each answer, so its
size tells an eavesdropper on TLS nothing about the prefix.

- **When the service cannot be asked** (no answer within ``PASSWORD_BREACH_TIMEOUT``, an error, an
  answer that is not a range) the password is accepted and a WARNING logged, naming no part of its
  hash: the check is a second line behind the local rules, and a third party's outage must not
  stop people signing up or in.
- **Nobody waits longer than the timeout.** A socket timeout alone bounds neither a slow DNS answer
  nor an answer trickled a byte at a time, so the request runs on the background threads and the
  caller stops waiting at the deadline; when the pool has no room the check is skipped.

Answers (public data) are kept a while, so a person who signs in again soon costs no second request.
"""

import hashlib
import logging
import re
import threading
import time
import urllib.request
from collections import OrderedDict
from concurrent.futures import TimeoutError as WaitedTooLong
from http.client import HTTPException
from urllib.error import HTTPError, URLError
from urllib.parse import urlsplit

from flask import current_app
from flask_babel import ngettext

from ... import clock
from ..plumbing import background
from .fields import digits

log = logging.getLogger(__name__)

USER_AGENT = "account-portal-password-check"
PREFIX_LENGTH = 5
RANGE_CACHE_SIZE = 128  # about 40 KB each: a range holds ~1,000 suffixes
RANGE_TTL_SECONDS = 600
# A real answer is ~40 KB with padding; anything far larger is not a range.
MAX_ANSWER_BYTES = 1024 * 1024
_LINE = re.compile(rb"([0-9A-Fa-f]{35}):([0-9]{1,12})")


def times_seen(password) -> int | None:
    """How often ``password`` appears in breach data (0: never); None when nobody could tell."""
    if not current_app.config["PASSWORD_BREACH_CHECK"] or not isinstance(password, str) or not password:
        return None
    digest = hashlib.sha1(password.encode("utf-8", "surrogatepass")).hexdigest().upper()
    breached = _breached_suffixes(digest[:PREFIX_LENGTH])
    if breached is None:
        return None
    return _count_of(breached, digest[PREFIX_LENGTH:].encode("ascii"))


def breach_problems(password) -> list[str]:
    """The refusal of a password found in breach data; empty when it was not, or nobody could tell."""
    count = times_seen(password)
    return [breached_message(count)] if count else []


def breached_message(count: int) -> str:
    """What a person reads about a password seen ``count`` times, e.g. 3,861,493."""
    return ngettext(
        "This password has appeared in a data breach %(count)s time and must not be used. Choose another.",
        "This password has appeared in a data breach %(count)s times and must not be used. Choose another.",
        count, count=digits(f"{count:,}"),
    )


# Asking the service --------------------------------------------------------------------------------


class _Unavailable(Exception):
    """The service gave no usable answer; the message says why, and holds no part of the hash."""


def _breached_suffixes(prefix: str) -> bytes | None:
    """The range of ``prefix`` (lines of count > 0), from the cache or the service; None and a warning."""
    cfg = current_app.config
    base_url = cfg["PASSWORD_BREACH_API_URL"].rstrip("/")
    timeout = float(cfg["PASSWORD_BREACH_TIMEOUT"])
    cache = current_app.extensions.setdefault("password_breach_ranges", _RangeCache())
    key = (base_url, prefix)
    if (kept := cache.get(key)) is not None:
        return kept
    asked = background.submit(_fetch_range, base_url, prefix, timeout)
    try:
        if asked is None:
            raise _Unavailable("no room on the background threads")
        breached = asked.result(timeout=timeout)
    except WaitedTooLong:
        asked.cancel()  # still queued behind other requests: never sent
        reason = f"no answer within {timeout:g} s"
    except _Unavailable as exc:
        reason = str(exc)
    else:
        cache.put(key, breached)
        return breached
    host = urlsplit(base_url).hostname
    log.warning("Password breach check skipped (%s at %s): the password was accepted.", reason, host)
    return None


def _fetch_range(base_url: str, prefix: str, timeout: float) -> bytes:
    """GET the range of ``prefix`` and keep its lines of count > 0; _Unavailable otherwise."""
    request = urllib.request.Request(
        f"{base_url}/range/{prefix}", headers={"Add-Padding": "true", "User-Agent": USER_AGENT}
    )
    deadline = time.monotonic() + timeout
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            if response.status != 200:
                raise _Unavailable(f"answer {response.status}")
            body = bytearray()
            # read1: whatever has arrived, so an answer trickled a byte at a time meets the deadline.
            while chunk := response.read1(64 * 1024):
                body += chunk
                if len(body) > MAX_ANSWER_BYTES:
                    raise _Unavailable("an answer too large to be a range")
                if time.monotonic() > deadline:
                    raise _Unavailable(f"no whole answer within {timeout:g} s")
    except HTTPError as exc:
        exc.close()
        raise _Unavailable(f"answer {exc.code}") from None
    except (OSError, HTTPException, ValueError) as exc:
        cause = exc.reason if isinstance(exc, URLError) and isinstance(exc.reason, BaseException) else exc
        if isinstance(cause, TimeoutError):
            raise _Unavailable(f"no answer within {timeout:g} s") from None
        # Named by its kind only: the text of some of these errors holds the URL, and so the prefix.
        raise _Unavailable(f"unreachable: {type(cause).__name__}") from None
    return _parse_range(bytes(body))


def _parse_range(body: bytes) -> bytes:
    """The lines of count > 0 as ``\\nSUFFIX:COUNT`` (suffixes upper case), or _Unavailable when
    ``body`` is not a range answer."""
    lines = body.split()
    if not lines:
        raise _Unavailable("an empty answer")
    kept = []
    for line in lines:
        matched = _LINE.fullmatch(line)
        if matched is None:
            raise _Unavailable("an answer that is not a range")
        suffix, count = matched.groups()
        if int(count):  # padding entries have a count of 0
            kept.append(b"\n" + suffix.upper() + b":" + count)
    return b"".join(kept)


def _count_of(breached: bytes, suffix: bytes) -> int:
    at = breached.find(b"\n" + suffix + b":")
    if at < 0:
        return 0
    start = at + 1 + len(suffix) + 1
    end = breached.find(b"\n", start)
    return int(breached[start:] if end < 0 else breached[start:end])


# The cache -----------------------------------------------------------------------------------------


class _RangeCache:
    """Range answers by (API URL, prefix), kept as the module says; safe to share between threads."""

    def __init__(self):
        self._entries: OrderedDict[tuple[str, str], tuple[float, bytes]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key) -> bytes | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            stored_at, value = entry
            if clock.timestamp() - stored_at >= RANGE_TTL_SECONDS:
                del self._entries[key]
                return None
            self._entries.move_to_end(key)
            return value

    def put(self, key, value: bytes) -> None:
        with self._lock:
            self._entries[key] = (clock.timestamp(), value)
            self._entries.move_to_end(key)
            while len(self._entries) > RANGE_CACHE_SIZE:
                self._entries.popitem(last=False)
