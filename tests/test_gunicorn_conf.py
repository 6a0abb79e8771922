"""The repository's gunicorn.conf.py: the worker model chosen for the work, overridable from the environment."""

import os
import runpy
import subprocess
import time
import urllib.request
from pathlib import Path
from types import SimpleNamespace

import pytest

from bench.cluster import free_port, gunicorn_command, stop, wait_for_port

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


BARE_APP = '''
def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"bare app"]
'''


def test_a_bare_wsgi_app_served_with_these_settings_boots_where_the_portal_cannot_be_imported(tmp_path):
    # gunicorn puts its working directory first on sys.path: these stand-ins make importing the
    # portal (or Flask) fail there, as in an environment that has neither installed.
    for name in ("portal", "flask"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "__init__.py").write_text(f"raise ImportError('{name} is not installed here')\n")
    (tmp_path / "bare.py").write_text(BARE_APP)
    port = free_port()
    env = {**os.environ, "GUNICORN_WORKERS": "1", "GUNICORN_THREADS": "2"}
    env.pop("PYTHONPATH", None)
    log = tmp_path / "gunicorn.log"
    with log.open("wb") as out:
        server = subprocess.Popen(gunicorn_command("bare:app", port), cwd=tmp_path, env=env, stdout=out, stderr=out)
    try:
        wait_for_port(port, server)
        # The master listens before its worker has run post_worker_init: the answer proves the worker lives.
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=30) as response:
            assert response.read() == b"bare app"
        time.sleep(0.5)
        assert server.poll() is None, log.read_text()
    except OSError as exc:  # the server exited, or its worker never answered: its log says why
        raise AssertionError(log.read_text()) from exc
    finally:
        stop([server])
    assert "Worker failed to boot" not in log.read_text(), log.read_text()


def test_each_portal_worker_wakes_its_mail_courier_once_started(monkeypatch):
    from portal import create_app
    from portal.services.mail import courier

    woken = []
    monkeypatch.setattr(courier.Courier, "wake", lambda self: woken.append(self.app))
    app = create_app("testing")
    settings(monkeypatch)["post_worker_init"](SimpleNamespace(wsgi=app))
    assert woken == [app]
