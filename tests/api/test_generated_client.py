"""A client generated from the live ``/api/openapi.json`` by openapi-python-client signs in, both
steps, against a live server of the app.

Generators read a union answer by trying its alternatives in the order the document lists them,
keeping the first that parses. The 401 of the two sign-in routes is either the plain ``{"detail"}``
refusal or the two-step answer (``mfa_required``, ``mfa_token``, ``methods``); listed plain shape
first, a generated client read the two-step answer as ``Detail`` and lost the ``mfa_token``. These
tests generate the client as its users would (the generator's command line, in a subprocess), import
it, and drive it over real HTTP: password, then the authenticator app's code, then the profile.
"""

import importlib
import json
import subprocess
import sys
import threading
import urllib.request
from contextlib import contextmanager

import pytest
from werkzeug.serving import make_server

from tests.conftest import free_port, fresh_app, shared_database
from tests.two_step import set_up_totp

PACKAGE = "portal_api_client"
# The generator's command line, as `openapi-python-client` runs it, from this interpreter's packages.
GENERATOR = [sys.executable, "-m", "openapi_python_client"]
NO_ACCOUNT = "No active account found with the given credentials"


@contextmanager
def serving(app):
    """``app`` served over real HTTP on 127.0.0.1 by a threaded server: its base URL."""
    server = make_server("127.0.0.1", free_port(), app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()


@pytest.fixture
def app(tmp_path):
    """The shared fixtures' app, on a database that the live server's threads can share."""
    yield from fresh_app(tmp_path, **shared_database(tmp_path))


@pytest.fixture
def live_url(app):
    with serving(app) as url:
        yield url


@pytest.fixture(scope="module")
def generated_package(tmp_path_factory):
    """The folder holding the client package openapi-python-client generates from the document a
    live server of the app serves; generated once for this module (the document is the same for
    every testing app), as its users would: the generator's command line, in a subprocess."""
    folder = tmp_path_factory.mktemp("generated_client")
    with contextmanager(fresh_app)(folder, **shared_database(folder)) as app, serving(app) as url:
        with urllib.request.urlopen(f"{url}/api/openapi.json", timeout=30) as answer:
            document = json.load(answer)
    (folder / "spec.json").write_text(json.dumps(document))
    # No post hooks: formatting the generated code (ruff) changes nothing the client does.
    (folder / "generator.json").write_text(json.dumps({"package_name_override": PACKAGE, "post_hooks": []}))
    out = folder / "generated"
    out.mkdir()
    run = subprocess.run(
        [*GENERATOR, "generate", "--path", str(folder / "spec.json"), "--output-path", str(out / PACKAGE),
         "--meta", "none", "--config", str(folder / "generator.json")],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    # A warning means a part of the document the generator could not turn into code: it is left out.
    assert "Warning" not in run.stdout, run.stdout
    return out


@pytest.fixture
def generated(generated_package, live_url, monkeypatch):
    """The generated package imported, with clients of this test's live server; its modules are
    forgotten after the test, so no other test sees them."""
    monkeypatch.syspath_prepend(str(generated_package))
    forget_package()
    yield Generated(live_url)
    forget_package()


def forget_package() -> None:
    for name in [name for name in sys.modules if name == PACKAGE or name.startswith(PACKAGE + ".")]:
        del sys.modules[name]


class Generated:
    """The generated package's modules, as its users import them, and clients of the live server."""

    def __init__(self, base_url: str):
        self.base_url = base_url
        self.models = importlib.import_module(f"{PACKAGE}.models")
        self.me = importlib.import_module(f"{PACKAGE}.api.documents_001_and_004.me_001_get")
        self.client_module = importlib.import_module(PACKAGE)

    def client(self):
        return self.client_module.Client(base_url=self.base_url, raise_on_unexpected_status=True)

    def signed_in(self, token: str, prefix: str):
        return self.client_module.AuthenticatedClient(
            base_url=self.base_url, token=token, prefix=prefix, raise_on_unexpected_status=True
        )

    def call(self, operation: str, **kwargs):
        module = importlib.import_module(f"{PACKAGE}.api.credentials.{operation}")
        return module.sync_detailed(client=self.client(), **kwargs)


def password_step(generated: Generated, operation: str, account, password: str | None = None):
    sign_in = generated.models.SignIn(email=account.email, password=password or account.password)
    return generated.call(operation, body=sign_in)


def second_step(generated: Generated, mfa_token: str, code: str):
    return generated.call("token_mfa_post", body=generated.models.SecondStep(mfa_token=mfa_token, code=code))


def test_a_generated_client_reads_the_two_step_answer_and_finishes_with_a_jwt_pair(app, generated, user, clock):
    secret, _ = set_up_totp(app, user, clock)
    models = generated.models

    first = password_step(generated, "token_obtain_post", user)

    assert first.status_code == 401
    assert isinstance(first.parsed, models.TwoStepRequired), first.parsed
    assert first.parsed.mfa_required is True and first.parsed.mfa_token
    assert [method.value for method in first.parsed.methods] == ["totp", "recovery"]

    done = second_step(generated, first.parsed.mfa_token, clock.code(secret))

    assert done.status_code == 200
    assert isinstance(done.parsed, models.TokenPair), done.content
    profile = generated.me.sync_detailed(client=generated.signed_in(done.parsed.access, "Bearer"))
    assert profile.status_code == 200
    assert isinstance(profile.parsed, models.Profile001)
    assert (profile.parsed.id, profile.parsed.email) == (user.id, user.email)


def test_a_generated_client_finishes_the_api_key_sign_in_with_an_api_key(app, generated, user, clock):
    secret, _ = set_up_totp(app, user, clock)
    models = generated.models

    first = password_step(generated, "api_key_login_post", user)

    assert first.status_code == 401 and isinstance(first.parsed, models.TwoStepRequired), first.parsed
    done = second_step(generated, first.parsed.mfa_token, clock.code(secret))
    assert done.status_code == 200
    assert isinstance(done.parsed, models.AuthToken), done.content
    profile = generated.me.sync_detailed(client=generated.signed_in(done.parsed.auth_token, "Token"))
    assert profile.status_code == 200 and profile.parsed.email == user.email


def test_a_generated_client_still_reads_a_wrong_password_as_the_plain_refusal(app, generated, user, clock):
    set_up_totp(app, user, clock)  # an account with a second factor: a wrong password is still plainly refused

    for operation in ("token_obtain_post", "api_key_login_post"):
        refused = password_step(generated, operation, user, password="Not-the-password-1")

        assert refused.status_code == 401
        assert isinstance(refused.parsed, generated.models.Detail), (operation, refused.parsed)
        assert refused.parsed.detail.startswith(NO_ACCOUNT)


def test_a_generated_client_reads_a_wrong_second_step_code_as_a_field_error(app, generated, user, clock):
    secret, _ = set_up_totp(app, user, clock)
    token = password_step(generated, "token_obtain_post", user).parsed.mfa_token
    right = clock.code(secret)
    wrong = f"{(int(right) + 1) % 10**6:06d}"

    refused = second_step(generated, token, wrong)

    assert refused.status_code == 400
    assert isinstance(refused.parsed, generated.models.FieldErrors), refused.parsed
    assert refused.parsed.additional_properties == {"code": ["Invalid code."]}


def test_the_generated_two_step_model_refuses_a_body_not_marked_as_the_two_step_answer(generated):
    answer = {"detail": "A second factor is required.", "mfa_required": True, "mfa_token": "t", "methods": ["totp"]}
    two_step = generated.models.TwoStepRequired

    assert two_step.from_dict(answer).mfa_token == "t"
    with pytest.raises(ValueError, match="mfa_required"):
        two_step.from_dict({**answer, "mfa_required": False})
    with pytest.raises(KeyError):
        two_step.from_dict({"detail": "No active account found with the given credentials"})
