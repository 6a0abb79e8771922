"""Scale-out: two gunicorn servers behind a real nginx, sharing one database and one Redis.

Each server is started from the repository's own ``gunicorn.conf.py`` and ``wsgi.py`` with the
production configuration; the database is $TEST_DATABASE_URL (PostgreSQL in CI) or a SQLite file
both servers open. Whatever one server does, the other must see: revocations, rate-limit counts,
avatars, browser sessions. Killing one server mid-run must lose no request nginx can retry.
"""

import io
import os
import re
import signal
import subprocess
import threading
import time

import pytest
import requests
from PIL import Image

from bench.cluster import BIN, ROOT, running_cluster
from tests.conftest import PASSWORD

pytestmark = pytest.mark.scaleout

SIGN_IN_LIMIT = 6


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """Redis, two gunicorns and nginx, all on loopback (``bench.cluster``), on a fresh schema."""
    work = tmp_path_factory.mktemp("scaleout")
    env = {
        **os.environ,
        "PORTAL_ENV": "production",
        "SECRET_KEY": "scale-out-test-secret-key-long-enough-for-hs256",
        "DATABASE_URL": os.environ.get("TEST_DATABASE_URL") or f"sqlite:///{work / 'portal.sqlite'}",
        "FLASK_TRUSTED_HOSTS": '["127.0.0.1"]',
        "FLASK_SESSION_COOKIE_SECURE": "false",
        "FLASK_RATELIMIT_SIGN_IN": f"{SIGN_IN_LIMIT} per minute",
        "FLASK_MAIL_TRANSPORT": "files",
        "FLASK_MAIL_OUTBOX_DIR": str(work / "outbox"),
        "FLASK_LOG_REQUESTS": "false",
        "FLASK_PASSWORD_BREACH_CHECK": "false",  # no test asks the real Have I Been Pwned
        "GUNICORN_WORKERS": "1",
        "GUNICORN_THREADS": "8",
    }
    env.pop("TEST_DATABASE_URL", None)

    def flask(*args, check=True):
        subprocess.run([str(BIN / "flask"), "--app", "portal", *args],
                       cwd=ROOT, env=env, check=check, capture_output=True)

    try:
        # A fresh schema, made the production way.
        flask("db", "downgrade", "base", check=False)
        flask("db", "upgrade")
        flask("create-user", "user@example.com", "--password", PASSWORD)
        with running_cluster(env, work) as started:
            yield started
    finally:
        # Leave the shared test database as the other tests expect it: no tables, no migration record.
        flask("db", "downgrade", "base", check=False)


def sign_in(base: str) -> dict:
    response = requests.post(f"{base}/api/token/", json={"email": "user@example.com", "password": PASSWORD}, timeout=10)
    assert response.status_code == 200, response.text
    return response.json()


def test_a_token_revoked_through_one_server_is_refused_by_the_other(cluster):
    first, second = cluster.servers
    tokens = sign_in(first)
    headers = {"Authorization": f"Bearer {tokens['access']}"}
    assert requests.get(f"{second}/api/users/me/", headers=headers, timeout=10).status_code == 200
    assert requests.post(f"{second}/api/logout/", headers=headers, json={}, timeout=10).status_code == 204
    refused = requests.get(f"{first}/api/users/me/", headers=headers, timeout=10)
    assert refused.status_code == 401
    assert refused.json() == {"detail": "Token has been revoked."}


def test_a_rate_limit_counts_the_requests_made_to_both_servers(cluster):
    first, second = cluster.servers
    wrong = {"email": "counted@example.com", "password": "not the password"}
    # A client address of its own (the servers believe one proxy hop), so other tests' sign-ins
    # do not count here.
    client = {"X-Forwarded-For": "192.0.2.77"}
    answers = [
        requests.post(f"{(first, second)[attempt % 2]}/api/token/", json=wrong, headers=client, timeout=10).status_code
        for attempt in range(SIGN_IN_LIMIT + 1)
    ]
    assert answers[:SIGN_IN_LIMIT] == [401] * SIGN_IN_LIMIT
    assert answers[SIGN_IN_LIMIT] == 429


def test_an_avatar_uploaded_through_one_server_is_served_by_the_other(cluster):
    first, second = cluster.servers
    headers = {"Authorization": f"Bearer {sign_in(first)['access']}"}
    image = io.BytesIO()
    Image.new("RGB", (640, 480), (30, 120, 200)).save(image, "JPEG")
    uploaded = requests.patch(f"{first}/api/users/me/", headers=headers,
                              files={"avatar": ("photo.jpg", image.getvalue(), "image/jpeg")}, timeout=10)
    assert uploaded.status_code == 200, uploaded.text
    path = "/media/avatars/" + uploaded.json()["avatar"].rsplit("/media/avatars/", 1)[1]
    served = requests.get(f"{second}{path}", timeout=10)
    assert served.status_code == 200
    assert served.headers["Content-Type"] == "image/jpeg"
    assert Image.open(io.BytesIO(served.content)).size == (480, 480)


def test_a_browser_session_started_on_one_server_is_valid_on_the_other(cluster):
    first, second = cluster.servers
    browser = requests.Session()
    form = browser.get(f"{first}/login", timeout=10).text
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', form).group(1)
    signed_in = browser.post(f"{first}/login",
                             data={"login": "USER@example.com", "password": PASSWORD, "csrf_token": token},
                             allow_redirects=False, timeout=10)
    assert signed_in.status_code == 302 and signed_in.headers["Location"].endswith("/profile/")
    profile = browser.get(f"{second}/profile/", allow_redirects=False, timeout=10)
    assert profile.status_code == 200
    assert "user@example.com" in profile.text


def test_killing_one_server_mid_run_loses_no_read_and_no_write(cluster):
    """Reads through nginx all succeed while one server dies (nginx retries them on the other),
    except a response the dying server had already begun: nginx has passed its header on and can
    no longer repeat it, so the client sees it cut short (its Content-Length unmet), never a wrong
    answer. Every write that was answered 200 is stored, and none is stored twice."""
    base = cluster.nginx
    headers = {"Authorization": f"Bearer {sign_in(base)['access']}"}
    reads, writes, cut_at, stop = [], [], [], threading.Event()
    readers = 4

    def read_loop():
        with requests.Session() as session:
            while not stop.is_set():
                try:
                    reads.append(session.get(f"{base}/api/users/me/", headers=headers, timeout=10).status_code)
                except requests.exceptions.ChunkedEncodingError:
                    # gunicorn writes a response's header and body in two sends; a kill between
                    # them leaves nginx holding a header it has already forwarded.
                    cut_at.append(time.monotonic())

    def write_loop():
        with requests.Session() as session:
            for number in range(400):
                if stop.is_set():
                    break
                try:
                    answer = session.patch(f"{base}/api/users/me/", headers=headers, json={"last_name": f"W{number}"},
                                           timeout=10)
                except requests.exceptions.ChunkedEncodingError:
                    cut_at.append(time.monotonic())
                    writes.append((number, "cut"))
                else:
                    writes.append((number, answer.status_code))

    threads = [threading.Thread(target=read_loop) for _ in range(readers)] + [threading.Thread(target=write_loop)]
    for thread in threads:
        thread.start()
    time.sleep(1.0)
    victim = cluster.processes[0]
    killed_at = time.monotonic()
    os.killpg(victim.pid, signal.SIGKILL)  # the master and its worker, with no goodbye
    time.sleep(2.0)
    stop.set()
    for thread in threads:
        thread.join(30)

    assert len(reads) > 50
    assert set(reads) == {200}, {status: reads.count(status) for status in set(reads)}
    # Only requests in flight at the kill can be cut (one per client at most), and only then.
    assert len(cut_at) <= readers + 1, cut_at
    assert all(0 <= moment - killed_at < 1.0 for moment in cut_at), (killed_at, cut_at)
    stored = requests.get(f"{base}/api/users/me/", headers=headers, timeout=10).json()["last_name"]
    succeeded = [number for number, status in writes if status == 200]
    assert succeeded, writes
    # The last write that was answered 200 is what is stored (a write cut off with the server
    # may have been refused by nginx, or cut after it was done, but never half-done or applied
    # after a later one).
    assert stored == f"W{succeeded[-1]}" or stored == f"W{succeeded[-1] + 1}"
    assert all(status in (200, 502, "cut") for _, status in writes), writes
