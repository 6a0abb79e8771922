"""Work after the answer: one bounded pool of threads per process, each unit its own transaction.

However many requests arrive, the process runs at most ``WORKERS`` background threads and holds at
most ``WAITING_LIMIT`` units waiting; what is offered beyond is refused and logged, never queued.
A unit commits what it wrote, or rolls it back when it fails. A forked worker runs its own pool.
"""

import logging
import os
import threading
import warnings
from concurrent.futures import Future
from concurrent.futures import wait as wait_for_futures

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from portal.extensions import db
from portal.models import Group
from portal.services.people import breaches
from portal.services.plumbing import background
from portal.services.plumbing.background import WAITING_LIMIT, WORKERS, run_in_background, wait_for_background

from ..conftest import BREACHED_PASSWORD, fresh_app, shared_database, written_mail


@pytest.fixture
def app(tmp_path):
    """A database every background thread sees (a file), as in production."""
    yield from fresh_app(tmp_path, **shared_database(tmp_path))


@pytest.fixture
def gate():
    """An event that work waits on, opened (and the waiting work done) whatever the test did."""
    opened = threading.Event()
    yield opened
    opened.set()
    wait_for_background()


def background_threads() -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name.startswith("portal-background")]


def occupy_every_thread(gate) -> list[Future]:
    """Keep the pool's threads busy until the gate opens (and know they are): the work holding them."""
    started = threading.Semaphore(0)

    def hold():
        started.release()
        gate.wait(30)

    holding = [background.submit(hold) for _ in range(WORKERS)]
    assert None not in holding
    for _ in range(WORKERS):
        assert started.acquire(timeout=10)
    return holding


def test_a_flood_of_requests_runs_on_at_most_the_pools_threads_and_each_is_done_after_its_answer(
    app, make_user, gate
):
    make_user("pending@example.com", verified=False)
    occupy_every_thread(gate)
    plain_client = FlaskClient(app, app.response_class)  # returns as soon as the answer is ready

    answers = [
        plain_client.post("/api/v1/accounts/users/resend-otp/", json={"email": "pending@example.com"})
        for _ in range(3 * WORKERS)
    ]

    assert {answer.status_code for answer in answers} == {200}
    assert written_mail(app) == []  # answered; the work waits for a thread
    assert len(background_threads()) == WORKERS  # no thread of its own for any request
    gate.set()
    wait_for_background()
    assert [m["To"] for m in written_mail(app)] == ["pending@example.com"] * (3 * WORKERS)
    assert len(background_threads()) <= WORKERS


def test_work_beyond_the_waiting_limit_is_refused_and_logged_and_room_comes_back(app, gate, caplog):
    holding = occupy_every_thread(gate)
    while (waiting := background.submit(gate.wait, 30)) is not None:
        holding.append(waiting)
        assert len(holding) <= WORKERS + WAITING_LIMIT
    assert len(holding) >= WAITING_LIMIT  # all the room there is (older work may still hold a little)

    done = threading.Event()
    with app.app_context():
        assert run_in_background(done.set) is False
    assert "Background work refused" in caplog.text

    gate.set()
    wait_for_futures(holding)
    with app.app_context():
        assert run_in_background(done.set) is True
    wait_for_background()
    assert done.is_set()


def test_the_breach_check_is_skipped_when_the_pool_has_no_room(app, pwned, gate, caplog):
    occupy_every_thread(gate)
    while background.submit(gate.wait, 30) is not None:
        pass

    with app.app_context():
        assert breaches.times_seen(BREACHED_PASSWORD) is None  # accepted, as when the service is down

    assert pwned.requests == []
    assert "Password breach check skipped (no room on the background threads" in caplog.text


def test_a_unit_commits_what_it_wrote_and_a_failing_unit_rolls_back(app, caplog):
    def add_group(name, fail=False):
        db.session.add(Group(name=name))
        db.session.flush()
        if fail:
            raise RuntimeError("the unit failed")

    with app.app_context():
        run_in_background(add_group, "kept")
        run_in_background(add_group, "dropped", True)
    wait_for_background()

    with app.app_context():
        assert db.session.scalars(select(Group.name)).all() == ["kept"]
    assert "Background task add_group failed" in caplog.text
    assert any(record.levelno == logging.ERROR for record in caplog.records)


def test_work_in_a_forked_worker_runs_on_its_own_threads(app):
    with app.app_context():
        run_in_background(lambda: None)  # the parent's pool exists, with a thread
    wait_for_background()
    read_end, write_end = os.pipe()
    with warnings.catch_warnings():
        # Python 3.12+ warns about forking a process with threads (the test runner's); gunicorn's
        # master, which forks the workers, runs no background work.
        warnings.simplefilter("ignore", DeprecationWarning)
        child = os.fork()
    if child == 0:  # the forked worker: report, then leave without running anything of the parent's
        try:
            ran_on = background.submit(os.getpid).result(timeout=10)
            reported = threading.Event()

            def report():
                os.write(write_end, f"{ran_on} {os.getpid()}".encode())
                reported.set()

            with app.app_context():
                run_in_background(report)
            reported.wait(10)
        finally:
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end) as report:
        said = report.read()
    os.waitpid(child, 0)

    assert said == f"{child} {child}"  # done, by the child's own threads
