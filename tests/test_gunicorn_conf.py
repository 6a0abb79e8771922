"""The repository's gunicorn.conf.py: the worker model chosen for the work, overridable from the environment."""

import os
import runpy
from pathlib import Path

import pytest

CONF = Path(__file__).resolve().parents[1] / "gunicorn.conf.py"


def settings(monkeypatch, **environ) -> dict:
    for name in [name for name in os.environ if name.startswith("GUNICORN_")]:
        monkeypatch.delenv(name)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    return runpy.run_path(str(CONF))


def test_threaded_workers_on_their_own_sockets_and_never_recycled_by_default(monkeypatch):
    conf = settings(monkeypatch)
    assert conf["worker_class"] == "gthread" and conf["threads"] == 16
    assert conf["reuse_port"] is True  # the kernel spreads connections over the workers
    assert conf["max_requests"] == 0
    assert conf["bind"] == "127.0.0.1:8000"
    assert conf["accesslog"] is None  # the app writes the request line itself, with its id


def test_numbers_come_from_the_environment(monkeypatch):
    conf = settings(monkeypatch, GUNICORN_WORKERS="3", GUNICORN_THREADS="8", GUNICORN_BIND="0.0.0.0:9000")
    assert (conf["workers"], conf["threads"], conf["bind"]) == (3, 8, "0.0.0.0:9000")


@pytest.mark.parametrize(
    "value, expected",
    [("false", False), ("0", False), ("no", False), ("true", True), ("1", True), ("On", True)],
)
def test_reuse_port_reads_a_yes_or_no_from_the_environment(monkeypatch, value, expected):
    assert settings(monkeypatch, GUNICORN_REUSE_PORT=value)["reuse_port"] is expected
