"""Measure the hot paths and print a table: the avatar pipeline, sign-in, token refresh and the profile API.

Runs in-process through Flask's test client against a temporary SQLite file (or the throwaway
database named by $TEST_DATABASE_URL, whose tables it drops and makes anew),
with production password-hashing cost and rate limits off, so the figures show the portal's own
work, not the network. Each figure is the median of several timed repetitions.
"""

import io
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image

from portal import create_app
from portal.config import Config
from portal.extensions import db
from portal.services.audit import SYSTEM
from portal.services.people import accounts, avatars

PASSWORD = "Bench-mark-password-1"


def timed(fn, repeat: int) -> float:
    """Median seconds per call of ``fn`` over ``repeat`` calls (after one warm-up call)."""
    fn()
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def photo(size, fmt="JPEG") -> bytes:
    # A gradient, not a flat colour: encoders and decoders do real work on it.
    image = Image.linear_gradient("L").resize(size).convert("RGB")
    buffer = io.BytesIO()
    image.save(buffer, fmt, quality=90)
    return buffer.getvalue()


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="portal-bench-"))
    overrides = {
        "UPLOAD_FOLDER": str(work / "uploads"),
        "MAIL_OUTBOX_DIR": str(work / "outbox"),
        "RATELIMIT_ENABLED": False,
        # Production cost, so sign-in figures mean what they will mean in production.
        "PASSWORD_HASH_TIME_COST": Config.PASSWORD_HASH_TIME_COST,
        "PASSWORD_HASH_MEMORY_COST": Config.PASSWORD_HASH_MEMORY_COST,
        "PASSWORD_HASH_PARALLELISM": Config.PASSWORD_HASH_PARALLELISM,
    }
    if "TEST_DATABASE_URL" not in os.environ:
        overrides["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{work / 'bench.sqlite'}"
    app = create_app("testing", overrides)
    rows = []
    with app.app_context():
        db.drop_all()
        db.create_all()
        user = accounts.create_user("bench@example.com", PASSWORD, SYSTEM, email_verified=True)
        db.session.commit()  # services flush; whoever calls them commits
        user_id = user.id

        twelve_mp = photo((4000, 3000))
        square_png = photo((2000, 2000), "PNG")
        rows.append(("avatar: 12 MP JPEG → 512×512", timed(lambda: avatars.process_avatar(io.BytesIO(twelve_mp)), 10)))
        rows.append(("avatar: 4 MP PNG → 512×512", timed(lambda: avatars.process_avatar(io.BytesIO(square_png)), 10)))

    client = app.test_client()
    login = {"email": "bench@example.com", "password": PASSWORD}
    rows.append(("POST /api/token/ (argon2id verify)", timed(lambda: client.post("/api/token/", json=login), 10)))
    access = client.post("/api/token/", json=login).get_json()["access"]
    key = client.post("/api/auth/token/login/", json=login).get_json()["auth_token"]
    bearer = {"Authorization": f"Bearer {access}"}
    token = {"Authorization": f"Token {key}"}

    def expect(status, response):
        assert response.status_code == status, response.get_json()

    def read(method, path, headers):
        return lambda: expect(200, client.open(path, method=method, headers=headers))

    rows.append(("GET /api/users/me/ (Token)", timed(read("GET", "/api/users/me/", token), 300)))
    rows.append(("GET /api/users/me/ (Bearer)", timed(read("GET", "/api/users/me/", bearer), 300)))
    rows.append(("POST /api/profile/ (Bearer)", timed(read("POST", "/api/profile/", bearer), 300)))
    # One sign-in refreshed again and again, each time with the refresh token the last one returned:
    # a rotation per call, as a client keeping its sign-in alive does. One thread: refreshes per core.
    live = {"refresh": client.post("/api/token/", json=login).get_json()["refresh"]}

    def refresh():
        response = client.post("/api/token/refresh/", json={"refresh": live["refresh"]})
        expect(200, response)
        live["refresh"] = response.get_json()["refresh"]

    rows.append(("POST /api/token/refresh/ (rotation)", timed(refresh, 300)))
    names = iter(range(10**6))
    rows.append(("PATCH /api/users/me/ first_name", timed(lambda: expect(
        200, client.patch("/api/users/me/", headers=token, json={"first_name": f"N{next(names)}"})
    ), 200)))
    rows.append(("PUT /api/users/<id>/ with 12 MP avatar", timed(
        lambda: expect(200, client.put(f"/api/users/{user_id}/", headers=bearer,
                                       data={"avatar": (io.BytesIO(twelve_mp), "p.jpg")})), 10)))

    width = max(len(name) for name, _ in rows)
    print(f"{'operation'.ljust(width)}  {'median':>10}  {'per second':>10}")
    for name, seconds in rows:
        print(f"{name.ljust(width)}  {seconds * 1000:>8.2f} ms  {1 / seconds:>10.0f}")
    print(f"(Python {sys.version.split()[0]}, database {app.config['SQLALCHEMY_DATABASE_URI'].split(':')[0]})")


if __name__ == "__main__":
    main()
