"""Measure the admin's list pages at scale: 100,000 users and 1,000,000 audit events.

Seeds that volume into a throwaway database (a temporary SQLite file, or the database named by
$TEST_DATABASE_URL, whose tables it drops and makes anew), then times each list page through
Flask's test client as a signed-in superuser and counts its SQL statements. Run with
``python -m bench.admin_lists`` (``make bench`` runs it after the hot paths).
"""

import os
import random
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import event, insert, text

from portal import create_app
from portal.extensions import db
from portal.models import AuditEvent, Group, User, canonical_phone, user_groups
from portal.services.audit import SYSTEM
from portal.services.people import accounts
from portal.services.people.passwords import hash_password

USERS = int(os.environ.get("BENCH_USERS", 100_000))
EVENTS = int(os.environ.get("BENCH_EVENTS", 1_000_000))
CHUNK = 20_000
PASSWORD = "Bench-mark-password-1"
FIRST = ["Ada", "Alan", "Grace", "Katherine", "Behrouz", "Maryam", "Linus", "Margaret", "Edsger", "Barbara",
         "Donald", "Frances", "Tim", "Radia", "Ken", "Hedy", "Niklaus", "Shafi", "Yukihiro", "Sophie"]
LAST = ["Lovelace", "Turing", "Hopper", "Johnson", "Nikname", "Mirzakhani", "Torvalds", "Hamilton", "Dijkstra",
        "Liskov", "Knuth", "Allen", "Berners-Lee", "Perlman", "Thompson", "Lamarr", "Wirth", "Goldwasser",
        "Matsumoto", "Wilson"]
ACTIONS = ["profile_updated", "signed_in", "api_key_created", "password_changed", "email_verified"]
START = datetime(2024, 1, 1)


def seed(app) -> dict:
    """Users, groups, memberships and events, inserted in chunks; returns names the pages ask for."""
    rng = random.Random(42)
    with app.app_context():
        db.drop_all()
        db.create_all()
        staff = accounts.create_user("staff@bench.example", PASSWORD, SYSTEM, email_verified=True, is_superuser=True)
        password_hash = hash_password(PASSWORD)
        group_ids = [db.session.execute(insert(Group).values(name=f"Group {n}", notes=None,
                     created_at=START, updated_at=START)).inserted_primary_key[0] for n in range(20)]
        for offset in range(0, USERS, CHUNK):
            rows = []
            for i in range(offset, min(offset + CHUNK, USERS)):
                first, last = FIRST[rng.randrange(len(FIRST))], LAST[rng.randrange(len(LAST))]
                email = f"{first.lower()}.{last.lower()}.{i}@example{i % 97}.com"
                phone = f"+1 555 {i:07d}"
                joined = START + timedelta(minutes=i * 7)
                rows.append({
                    "email": email, "email_canonical": email, "username": f"{first.lower()}{i}",
                    "username_canonical": f"{first.lower()}{i}", "password_hash": password_hash,
                    "first_name": first, "last_name": last, "phone": phone, "phone_canonical": canonical_phone(phone),
                    "is_active": i % 10 != 0, "is_staff": i % 500 == 0, "is_superuser": False,
                    "email_verified": i % 4 != 0, "activated_at": joined, "date_joined": joined, "updated_at": joined,
                    "last_login": joined + timedelta(days=rng.randrange(300)) if i % 3 else None,
                })
            db.session.execute(insert(User), rows)
        db.session.commit()
        first_id = staff.id + 1
        memberships = [{"user_id": first_id + i, "group_id": group_ids[i % len(group_ids)]} for i in range(0, USERS, 3)]
        for offset in range(0, len(memberships), CHUNK):
            db.session.execute(insert(user_groups), memberships[offset:offset + CHUNK])
        for offset in range(0, EVENTS, CHUNK):
            rows = [{
                "created_at": START + timedelta(seconds=i * 40),
                "actor_id": staff.id if i % 5 == 0 else first_id + i % USERS,
                "subject_id": first_id + i % USERS, "subject_label": None, "action": ACTIONS[i % len(ACTIONS)],
                "changes": {"first_name": ["Old", "New"]} if i % 5 == 0 else {}, "ip": "192.0.2.1", "via": "web",
            } for i in range(offset, min(offset + CHUNK, EVENTS))]
            db.session.execute(insert(AuditEvent), rows)
        db.session.commit()
        db.session.execute(text("ANALYZE"))
        db.session.commit()
        subject = db.session.get(User, first_id + 4242)
        return {"group": group_ids[3], "subject": subject.email, "staff": staff.email}


def measure(client, engine, path: str, repeat: int) -> tuple[int, float]:
    """(SQL statements of one request, median milliseconds over ``repeat`` requests)."""
    statements = []
    listener = lambda *args: statements.append(1)  # noqa: E731
    event.listen(engine, "before_cursor_execute", listener)
    response = client.get(path)
    event.remove(engine, "before_cursor_execute", listener)
    assert response.status_code == 200, (path, response.status_code)
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        client.get(path)
        samples.append(time.perf_counter() - start)
    return len(statements), statistics.median(samples) * 1000


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="portal-bench-admin-"))
    overrides = {"UPLOAD_FOLDER": str(work / "uploads"), "MAIL_OUTBOX_DIR": str(work / "outbox")}
    if "TEST_DATABASE_URL" not in os.environ:
        overrides["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{work / 'bench.sqlite'}"
    app = create_app("testing", overrides)
    started = time.perf_counter()
    names = seed(app)
    print(f"seeded {USERS:,} users and {EVENTS:,} audit events in {time.perf_counter() - started:.0f} s")
    client = app.test_client()
    client.post("/login", data={"login": names["staff"], "password": PASSWORD})
    pages = [
        ("users, newest first", "/admin/users/"),
        ("users, search one word", "/admin/users/?q=lovelace"),
        ("users, search two words, active, by name", "/admin/users/?q=ada+lov&active=yes&sort=name&order=asc"),
        ("users, search phone digits", "/admin/users/?q=0004242"),
        ("users, in a group, by email", f"/admin/users/?group={names['group']}&sort=email&order=asc"),
        ("users, page 1000", "/admin/users/?page=1000"),
        ("audit, newest first", "/admin/audit/"),
        ("audit, one subject", f"/admin/audit/?subject={names['subject']}"),
        ("audit, one action, date range", "/admin/audit/?action=password_changed&since=2024-03-01&until=2024-03-31"),
        ("audit, one actor", f"/admin/audit/?actor={names['staff']}"),
        ("audit, page 200", "/admin/audit/?page=200"),
    ]
    with app.app_context():
        engine = db.engine
    rows = [(label, *measure(client, engine, path, 15)) for label, path in pages]
    width = max(len(label) for label, *_ in rows)
    print(f"{'list page'.ljust(width)}  {'queries':>7}  {'median':>10}")
    for label, count, ms in rows:
        print(f"{label.ljust(width)}  {count:>7}  {ms:>7.1f} ms")
    print(f"(Python {sys.version.split()[0]}, database {app.config['SQLALCHEMY_DATABASE_URI'].split(':')[0]})")


if __name__ == "__main__":
    main()
