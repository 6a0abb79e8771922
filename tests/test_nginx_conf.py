"""The example nginx site (deploy/nginx-portal.conf) compresses text: its gzip settings, read from the
file, and the same settings in a real nginx on loopback, which compresses pages, stylesheets,
scripts, JSON and SVG and leaves small bodies and images alone."""

import http.client
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from bench.cluster import free_port, local_nginx_conf, wait_for_port

SITE = Path(__file__).resolve().parents[1] / "deploy" / "nginx-portal.conf"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
TEXT_TYPES = ["text/html", "text/css", "text/javascript", "application/javascript", "application/json", "image/svg+xml"]


def gzip_settings() -> dict[str, str]:
    """The site's ``gzip*`` directives, name → value (comments dropped, a value may span lines)."""
    text = re.sub(r"#[^\n]*", "", SITE.read_text())
    statements = (" ".join(statement.split()) for statement in text.split(";"))
    return dict(statement.split(" ", 1) for statement in statements if statement.startswith("gzip"))


def test_the_site_compresses_text_once_it_is_worth_it_and_says_so_to_caches():
    settings = gzip_settings()

    assert settings["gzip"] == "on"
    assert settings["gzip_vary"] == "on"
    assert 256 <= int(settings["gzip_min_length"]) <= 1400  # a body under one packet gains little
    listed = set(settings["gzip_types"].split())
    assert {"text/css", "application/javascript", "application/json", "image/svg+xml"} <= listed
    assert "text/html" not in listed  # nginx always compresses it, and warns when it is listed


@pytest.fixture
def nginx(tmp_path):
    """The site's gzip settings in an nginx on loopback: a long body of each text type at /<n>, a short
    stylesheet at /small and an image at /image."""
    # `make test` installs nginx (as it does for the scale-out tests): its absence is a failure, not a skip.
    assert Path(NGINX).exists(), "nginx is not installed: run the tests with `make test`, which installs nginx-light"
    port = free_port()
    body = "The portal's page, stylesheet or script, long enough to be worth compressing. " * 40
    locations = "\n".join(
        f'        location = /{n} {{ default_type {kind}; return 200 "{body}"; }}' for n, kind in enumerate(TEXT_TYPES)
    )
    gzip = "\n".join(f"    {name} {value};" for name, value in gzip_settings().items())
    conf = local_nginx_conf(tmp_path, f"""{gzip}
    server {{
        listen 127.0.0.1:{port};
{locations}
        location = /small {{ default_type text/css; return 200 "a {{ color: red; }}"; }}
        location = /image {{ default_type image/png; return 200 "{body}"; }}
    }}""")
    process = subprocess.Popen([NGINX, "-c", str(conf), "-p", str(tmp_path)], stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port, process)
        yield port
    finally:
        process.terminate()
        process.wait(timeout=10)


def fetch(port: int, path: str):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        connection.request("GET", path, headers={"Accept-Encoding": "gzip"})
        response = connection.getresponse()
        response.read()
        return response
    finally:
        connection.close()


def test_nginx_with_these_settings_compresses_each_kind_of_text_and_leaves_the_rest(nginx):
    for n, kind in enumerate(TEXT_TYPES):
        response = fetch(nginx, f"/{n}")
        assert response.status == 200
        assert response.getheader("Content-Encoding") == "gzip", kind
        assert "Accept-Encoding" in response.getheader("Vary", ""), kind

    assert fetch(nginx, "/small").getheader("Content-Encoding") is None
    assert fetch(nginx, "/image").getheader("Content-Encoding") is None
