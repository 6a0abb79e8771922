"""Load run: the portal under gunicorn against a bare-Flask ceiling, in one run, rounds interleaved.

Starts both with the repository's own gunicorn.conf.py on loopback (the portal on a throwaway
SQLite database seeded with 1,000 users, or $TEST_DATABASE_URL), loads each with Debian's ``wrk``
(32 connections) and prints, per endpoint, requests/s, p50 and p99 latency, errors and the ratio
to the ceiling. Then slow clients trickle 3 MB avatars (about 4 s each, again and again) while
profile reads are measured, to show the server keeps answering. A careful plain Flask +
flask-jwt-extended version of the profile read (bench/plain_app.py) runs beside them for reference.
Last, the scale-out layout: nginx in front of two servers that share the database and a Redis,
the same reads through it, and the slow uploads again, which nginx now buffers.
Run with ``python -m bench.load``.
"""

import io
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from PIL import Image

from bench.cluster import ROOT, free_port, gunicorn_command, running_cluster, stop, wait_for_port

USERS = 1000
PASSWORD = "Bench-mark-password-1"
ROUNDS = int(os.environ.get("BENCH_ROUNDS", 3))
SECONDS = int(os.environ.get("BENCH_SECONDS", 5))
CONNECTIONS = 32


def wrk(url: str, headers: dict, script: str | None = None, seconds: int = SECONDS) -> dict:
    args = [shutil.which("wrk") or "/usr/bin/wrk", "-t2", f"-c{CONNECTIONS}", f"-d{seconds}s", "--latency"]
    for name, value in headers.items():
        args += ["-H", f"{name}: {value}"]
    if script:
        args += ["-s", str(ROOT / "bench" / script)]
    out = subprocess.run([*args, url], capture_output=True, text=True, check=True).stdout
    errors = sum(int(n) for n in re.findall(r"Non-2xx or 3xx responses: (\d+)", out))
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if socket_errors:
        errors += sum(int(n) for n in socket_errors.groups())
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "p50": _ms(re.search(r"50%\s+([\d.]+\w+)", out).group(1)),
        "p99": _ms(re.search(r"99%\s+([\d.]+\w+)", out).group(1)),
        "errors": errors,
    }


def _ms(text: str) -> float:
    value, unit = re.match(r"([\d.]+)(\w+)", text).groups()
    return float(value) * {"us": 0.001, "ms": 1, "s": 1000, "m": 60000}[unit]


def seed(env) -> None:
    code = f"""
from portal import create_app
from portal.extensions import db
from portal.services.people import accounts
from portal.services.audit import SYSTEM
from portal.services.people.passwords import hash_password
from portal.models import User
app = create_app()
with app.app_context():
    db.drop_all()
    db.create_all()
    accounts.create_user("bench@example.com", {PASSWORD!r}, SYSTEM, email_verified=True,
                         profile={{"first_name": "Bench", "last_name": "Mark"}})
    password_hash = hash_password({PASSWORD!r})
    db.session.add_all(
        User(email=f"user{{i}}@example.com", password_hash=password_hash, email_verified=True)
        for i in range({USERS - 1})
    )
    db.session.commit()
"""
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, check=True)


def drop_tables(env) -> None:
    code = (
        "from portal import create_app\nfrom portal.extensions import db\n"
        "with create_app().app_context(): db.drop_all()"
    )
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, check=True)


def obtain_credentials(base: str) -> dict:
    import requests

    login = {"email": "bench@example.com", "password": PASSWORD}
    access = requests.post(f"{base}/api/token/", json=login, timeout=30).json()["access"]
    key = requests.post(f"{base}/api/auth/token/login/", json=login, timeout=30).json()["auth_token"]
    return {"Token": {"Authorization": f"Token {key}"}, "JWT": {"Authorization": f"Bearer {access}"}}


def trickle_upload(port: int, headers: dict, body: bytes, boundary: str, seconds: float, results: list) -> None:
    """One slow client: a multipart avatar upload sent in small pieces over ``seconds``."""
    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        head = (f"PATCH /api/users/me/ HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                f"Authorization: {headers['Authorization']}\r\n"
                f"Content-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: {len(body)}\r\n"
                "Connection: close\r\n\r\n")
        sock.sendall(head.encode())
        pieces = 40
        step = len(body) // pieces + 1
        for offset in range(0, len(body), step):
            sock.sendall(body[offset:offset + step])
            time.sleep(seconds / pieces)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
        results.append(int(answer.split(b" ", 2)[1]))


def slow_uploads(
    port: int, headers: dict, clients: int, stop: threading.Event, results: list
) -> list[threading.Thread]:
    image = io.BytesIO()
    # Noise does not compress: a 3 MB JPEG of random pixels.
    Image.frombytes("RGB", (1400, 1400), os.urandom(1400 * 1400 * 3)).save(image, "JPEG", quality=98)
    boundary = "benchboundary"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"avatar\"; filename=\"a.jpg\"\r\n"
            "Content-Type: image/jpeg\r\n\r\n").encode() + image.getvalue() + f"\r\n--{boundary}--\r\n".encode()

    def loop():
        while not stop.is_set():
            trickle_upload(port, headers, body, boundary, 4.0, results)

    threads = [threading.Thread(target=loop, daemon=True) for _ in range(clients)]
    for thread in threads:
        thread.start()
    return threads, len(body)


def slow_upload_run(port: int, url: str, auth: dict, clients: int) -> None:
    """Reads measured alone, then while ``clients`` trickle avatars to ``port``; prints both."""
    quiet = wrk(url, auth["Token"])
    stop, uploads = threading.Event(), []
    threads, _ = slow_uploads(port, auth["JWT"], clients, stop, uploads)
    time.sleep(1)
    busy = wrk(url, auth["Token"])
    stop.set()
    for thread in threads:
        thread.join(30)
    print(f"  reads without uploads: {quiet['rps']:.0f} req/s, p99 {quiet['p99']:.2f} ms, errors {quiet['errors']}")
    print(f"  reads during uploads:  {busy['rps']:.0f} req/s, p99 {busy['p99']:.2f} ms, errors {busy['errors']}"
          f"  (p99 ratio {busy['p99'] / quiet['p99']:.2f})")
    others = {status: uploads.count(status) for status in sorted(set(uploads) - {200})}
    other_answers = f", other answers: {others}" if others else ""
    print(f"  uploads answered: {len(uploads)}, stored (200): {uploads.count(200)}{other_answers}")


def scaleout_run(env: dict, work: Path, workers: int, auth: dict, ceiling: float) -> None:
    """nginx in front of two servers sharing the database and a Redis (rate-limit counters), avatars
    in the database: the profile read through nginx, and slow uploads that nginx buffers."""
    per_server = max(1, workers // 2)  # the same number of workers as the single server above
    cluster_env = {**env, "GUNICORN_WORKERS": str(per_server), "FLASK_RATELIMIT_ENABLED": "true"}
    with running_cluster(cluster_env, work) as cluster:
        url = f"{cluster.nginx}/api/users/me/"
        wrk(url, auth["Token"], seconds=1)  # warm up
        through = [wrk(url, auth["Token"]) for _ in range(ROUNDS)]
        figures = {key: statistics.median(run[key] for run in through) for key in through[0]}
        print(f"\nscale-out: nginx in front of two servers ({per_server} worker(s) each), one database, one Redis "
              "(rate limits on), avatars in the database:")
        print(f"{'endpoint':34}  {'req/s':>8}  {'p50 ms':>7}  {'p99 ms':>7}  {'errors':>6}  {'ratio':>5}")
        print(f"{'GET /api/users/me/ (Token) via nginx':34}  {figures['rps']:8.0f}  {figures['p50']:7.2f}  "
              f"{figures['p99']:7.2f}  {figures['errors']:6.0f}  {figures['rps'] / ceiling:5.2f}")
        print(f"slow uploads through nginx ({2 * per_server + 2} clients), "
              "which buffers each body before a server sees it:")
        slow_upload_run(cluster.nginx_port, url, auth, 2 * per_server + 2)


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="portal-load-"))
    portal_port, bare_port, plain_port = free_port(), free_port(), free_port()
    env = {
        **os.environ, "PORTAL_ENV": "production", "SECRET_KEY": "load-benchmark-secret-key-long-enough-for-hs256",
        "DATABASE_URL": os.environ.get("TEST_DATABASE_URL") or f"sqlite:///{work / 'load.sqlite'}",
        "FLASK_TRUSTED_HOSTS": '["127.0.0.1"]', "FLASK_RATELIMIT_ENABLED": "false", "FLASK_LOG_REQUESTS": "false",
        "FLASK_PASSWORD_BREACH_CHECK": "false",  # the portal is measured, not Have I Been Pwned
        "FLASK_MAIL_TRANSPORT": "outbox", "FLASK_MAIL_OUTBOX_DIR": str(work / "outbox"),
        "FLASK_UPLOAD_FOLDER": str(work / "uploads"),
    }
    env.pop("TEST_DATABASE_URL", None)
    seed(env)
    servers = [
        subprocess.Popen(gunicorn_command(app, port), cwd=ROOT, env=env, stderr=subprocess.DEVNULL)
        for app, port in (
            ("wsgi:app", portal_port), ("bench.bare_app:app", bare_port), ("bench.plain_app:app", plain_port)
        )
    ]
    try:
        for server, port in zip(servers, (portal_port, bare_port, plain_port), strict=True):
            wait_for_port(port, server)
        portal_url, bare_url = f"http://127.0.0.1:{portal_port}", f"http://127.0.0.1:{bare_port}"
        plain_url = f"http://127.0.0.1:{plain_port}"
        auth = obtain_credentials(portal_url)
        cases = [
            ("bare Flask ceiling", f"{bare_url}/api/users/me/", {}, None),
            ("GET /api/users/me/ (Token)", f"{portal_url}/api/users/me/", auth["Token"], None),
            ("GET /api/users/me/ (JWT)", f"{portal_url}/api/users/me/", auth["JWT"], None),
            ("POST /api/profile/ (JWT)", f"{portal_url}/api/profile/", auth["JWT"], "post.lua"),
            ("plain Flask /me (JWT), reference", f"{plain_url}/api/users/me/", auth["JWT"], None),
        ]
        for _, url, headers, script in cases:  # warm up every worker and connection pool
            wrk(url, headers, script, seconds=1)
        runs = {label: [] for label, *_ in cases}
        for _ in range(ROUNDS):
            for label, url, headers, script in cases:
                runs[label].append(wrk(url, headers, script))
        median = {label: {key: statistics.median(run[key] for run in results) for key in results[0]}
                  for label, results in runs.items()}
        ceilings = [run["rps"] for run in runs["bare Flask ceiling"]]
        ceiling = statistics.median(ceilings)
        print(f"{'endpoint':34}  {'req/s':>8}  {'p50 ms':>7}  {'p99 ms':>7}  {'errors':>6}  {'ratio':>5}")
        for label, figures in median.items():
            # Each round's figure against the ceiling of the same round, moments apart: the machine's
            # drift between rounds moves both alike.
            ratio = statistics.median(run["rps"] / each for run, each in zip(runs[label], ceilings, strict=True))
            errors = sum(run["errors"] for run in runs[label])  # every round's, not a median
            print(f"{label:34}  {figures['rps']:8.0f}  {figures['p50']:7.2f}  {figures['p99']:7.2f}  "
                  f"{errors:6d}  {ratio:5.2f}")

        workers = int(os.environ.get("GUNICORN_WORKERS", os.cpu_count() or 1))
        clients = workers + 2
        print(f"\nslow uploads: {clients} clients (more than the {workers} workers) each sending a 3 MB avatar over "
              "~4 s, again and again, while GET /api/users/me/ (Token) is loaded:")
        slow_upload_run(portal_port, f"{portal_url}/api/users/me/", auth, clients)
        scaleout_run(env, work, workers, auth, ceiling)
        print(f"(Python {sys.version.split()[0]}, database {env['DATABASE_URL'].split(':')[0]}, "
              f"gunicorn.conf.py: {workers} workers × {os.environ.get('GUNICORN_THREADS', 16)} threads)")
    finally:
        stop(servers)
        drop_tables(env)  # a $TEST_DATABASE_URL is left empty, as the tests expect it


if __name__ == "__main__":
    main()
