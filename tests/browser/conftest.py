"""A live portal on loopback and Debian's Chromium, driven by Playwright."""

import threading
from contextlib import contextmanager

import pytest
from playwright.sync_api import sync_playwright
from werkzeug.serving import make_server

from tests.conftest import free_port

CHROMIUM = "/usr/bin/chromium"
# Without these Chromium keeps trying to reach Google's services, which this machine cannot.
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-sync",
    "--disable-background-networking", "--disable-component-update",
]


@contextmanager
def served(app, port=None):
    """The app served over real HTTP on 127.0.0.1 (CSRF on) while the block runs; gives its port."""
    app.config["WTF_CSRF_ENABLED"] = True
    server = make_server("127.0.0.1", port or free_port(), app, threaded=False)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_port
    finally:
        server.shutdown()
        thread.join()
        server.server_close()


@pytest.fixture
def live_server(app):
    """The test app served over real HTTP on 127.0.0.1; yields its base URL."""
    with served(app) as port:
        yield f"http://127.0.0.1:{port}"


@pytest.fixture
def localhost_server(app):
    """The test app as the browser reaches it at http://localhost:PORT, the origin it knows itself by
    (PUBLIC_BASE_URL): a secure context for WebAuthn, whose relying party is then "localhost"."""
    with served(app) as port:
        base = f"http://localhost:{port}"
        app.config["PUBLIC_BASE_URL"] = base
        yield base


@pytest.fixture(scope="session")
def browser():
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context()
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture
def new_context(browser):
    """Open browser contexts (each its own cookie jar) with short waits; all closed after the test."""
    contexts = []

    def open_context(**options):
        context = browser.new_context(**options)
        context.set_default_timeout(5_000)
        contexts.append(context)
        return context

    yield open_context
    for context in contexts:
        context.close()
