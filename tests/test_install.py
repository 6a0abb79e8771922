"""Every way the README installs the portal serves every page, file and language.

The slow tests (``install``) clone the committed checkout, install it into a fresh virtualenv (no
system packages) as README's Deploying section does — as a wheel (``pip install '.[production]'``)
and editable (``pip install -e '.[production]'``) — then, from another folder, migrate a SQLite
database with ``flask --app portal db upgrade``, start ``gunicorn portal.wsgi:app`` with the
checkout's gunicorn.conf.py on a loopback port, and read the sign-in page in Persian and a
stylesheet. Each takes about a minute (most of it pip). The quick ones check the commands the README
gives a newcomer (``make run PORT=…``) and where an install keeps its uploads.
"""

import os
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from flask import Flask

from bench.cluster import free_port, stop, wait_for_port
from portal import create_app
from portal.extensions import db
from tests.conftest import image_bytes, upload
from tests.test_catalogues import persian_of

ROOT = Path(__file__).resolve().parents[1]


def run(command, **kwargs) -> str:
    """Run ``command``; its output, or a failure that shows it."""
    done = subprocess.run(command, capture_output=True, text=True, **kwargs)
    assert done.returncode == 0, f"{command} exited with {done.returncode}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def outside_environment(**extra) -> dict:
    """The environment of a person's shell: nothing pointing at this checkout or its virtualenv."""
    env = {name: value for name, value in os.environ.items()
           if name not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME") and not name.startswith(("FLASK_", "GUNICORN_"))}
    env.pop("PORTAL_ENV", None)
    return {**env, **extra}


def get(url: str, **headers) -> tuple[int, dict, bytes]:
    request = urllib.request.Request(url, headers=headers)
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.status, dict(response.headers), response.read()


@pytest.mark.install
@pytest.mark.parametrize("editable", [False, True], ids=["wheel", "editable"])
def test_an_install_as_the_readme_deploys_it_serves_persian_pages_and_static_files_from_another_folder(
        tmp_path, editable):
    started = time.monotonic()
    clone, venv, elsewhere = tmp_path / "checkout", tmp_path / "venv", tmp_path / "elsewhere"
    run(["git", "clone", "--quiet", str(ROOT), str(clone)])
    assert not list(clone.glob("portal/translations/*/LC_MESSAGES/*.mo"))  # never committed
    env = outside_environment()
    run([sys.executable, "-m", "venv", str(venv)], env=env)
    pip_install = [str(venv / "bin" / "pip"), "install", "--quiet", "--disable-pip-version-check"]
    run([*pip_install, *(["-e"] if editable else []), ".[production]"], cwd=clone, env=env)
    installed = time.monotonic()

    # The install compiled the catalogues: into the package (wheel), or into the checkout (editable).
    python = str(venv / "bin" / "python")
    site_packages = Path(run([python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"], env=env).strip())
    package = clone / "portal" if editable else site_packages / "portal"
    assert (package / "translations" / "fa" / "LC_MESSAGES" / "messages.mo").is_file()
    where = run([python, "-c", "import portal; print(portal.__file__)"], cwd=tmp_path, env=env)
    assert Path(where.strip()).parent == package

    elsewhere.mkdir()
    port = free_port()
    env = outside_environment(
        PORTAL_ENV="production", SECRET_KEY="s" * 64, DATABASE_URL=f"sqlite:///{tmp_path / 'portal.sqlite'}",
        FLASK_TRUSTED_HOSTS="127.0.0.1", GUNICORN_WORKERS="1", GUNICORN_THREADS="2",
    )
    run([str(venv / "bin" / "flask"), "--app", "portal", "db", "upgrade"], cwd=elsewhere, env=env)
    log = tmp_path / "gunicorn.log"
    with log.open("wb") as out:
        server = subprocess.Popen(
            [str(venv / "bin" / "gunicorn"), "-c", str(clone / "gunicorn.conf.py"), "--bind", f"127.0.0.1:{port}",
             "portal.wsgi:app"], cwd=elsewhere, env=env, stdout=out, stderr=out)
    try:
        wait_for_port(port, server, seconds=60)
        status, headers, body = get(f"http://127.0.0.1:{port}/login", **{"Accept-Language": "fa"})
        page = body.decode()
        heading = f"<h1>{persian_of('Sign in', clone / 'portal' / 'translations')}</h1>"
        assert status == 200 and 'dir="rtl"' in page and heading in page, page[:2000]
        status, headers, body = get(f"http://127.0.0.1:{port}/static/portal.css")
        assert status == 200 and headers["Content-Type"].startswith("text/css")
        assert body == (clone / "portal" / "static" / "portal.css").read_bytes()
        status, _, body = get(f"http://127.0.0.1:{port}/readyz")  # the migrations ran: the schema is current
        assert status == 200, body
    except (OSError, AssertionError) as exc:
        raise AssertionError(f"{exc}\n--- gunicorn's log ---\n{log.read_text()}") from exc
    finally:
        stop([server])
    print(f"\n{'editable' if editable else 'wheel'}: installed in {installed - started:.0f} s, "
          f"served in {time.monotonic() - installed:.0f} s")


def test_make_run_serves_on_the_port_it_is_given_and_on_5000_by_default():
    if not shutil.which("make"):
        pytest.fail("make is needed (the README's first command)")
    # -n: the commands, not run; -o: as if the virtualenv and catalogues were up to date.
    def commands(*arguments):
        return run(["make", "-n", "-o", ".venv/bin/.installed", "-o", "translations", "run", *arguments],
                   cwd=ROOT, env=outside_environment())

    assert "--port 5123" in commands("PORT=5123")
    assert "--port 5000" in commands()


@pytest.fixture
def app(tmp_path, monkeypatch):
    """A testing app with no upload folder given: the default is used, in an instance folder of its own."""
    monkeypatch.setattr(Flask, "auto_find_instance_path", lambda self: str(tmp_path / "instance"))
    app = create_app("testing", {"MAIL_OUTBOX_DIR": str(tmp_path / "outbox")})
    with app.app_context():
        db.create_all()
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def test_uploads_are_kept_in_the_instance_folder_never_beside_the_installed_package(
        app, client, user, bearer, tmp_path):
    response = client.patch("/api/users/me/", headers=bearer(user),
                            data={"avatar": upload(image_bytes())})
    assert response.status_code == 200, response.get_json()
    name = response.get_json()["avatar"].rsplit("/", 1)[1]
    stored = tmp_path / "instance" / "uploads" / "avatars" / name
    assert stored.is_file()
    with client.get(f"/media/avatars/{name}") as served:
        assert served.status_code == 200 and served.get_data() == stored.read_bytes()
