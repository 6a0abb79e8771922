"""The OpenAPI document at /api/openapi.json and its reference page at /api/docs/.

The document must be valid OpenAPI 3.1, describe every route and method of the API blueprint with
both credential schemes, and come from the marshmallow schemas that parse the requests and write the
answers. (tests/api/test_fuzz.py then holds the API to it.)
"""

import re

import pytest
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate
from referencing import Registry
from referencing.jsonschema import DRAFT202012

from portal.api import auth, openapi, schemas
from portal.api.documented import documented, operations_of
from portal.limits import limited
from portal.services.people.passwords import PASSWORD_POLICY

PROTECTED_PATHS = {
    "/api/profile/", "/api/users/{user_id}/", "/api/users/me/", "/api/v1/accounts/users/{user_id}/", "/api/logout/",
    "/api/auth/token/logout/", "/api/users/me/set_password/", "/api/users/me/providers/",
    "/api/users/me/providers/{identity_id}/", "/api/users/me/apps/", "/api/users/me/apps/{grant_id}/",
}  # fmt: skip
RATE_LIMITED_OPERATIONS = {
    ("/api/users/me/", "delete"), ("/api/users/me/set_password/", "post"), ("/api/token/", "post"),
    ("/api/token/refresh/", "post"), ("/api/auth/token/login/", "post"), ("/api/users/reset_password/", "post"),
    ("/api/users/reset_password_confirm/", "post"), ("/api/v1/accounts/users/", "post"),
    ("/api/v1/accounts/users/verify-otp/", "post"), ("/api/v1/accounts/users/resend-otp/", "post"),
    ("/api/token/mfa/", "post"), ("/api/token/mfa/passkey/", "post"),
    ("/api/auth/code/", "post"), ("/api/token/code/", "post"), ("/api/token/provider/", "post"),
}  # fmt: skip
# The code of the wrapper ``authenticated`` puts around a view: the same for every view it wraps.
AUTHENTICATED_WRAPPER = auth.authenticated(lambda: None).__code__


@pytest.fixture
def document(client):
    response = client.get("/api/openapi.json")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    return response.get_json()


def api_rules(app):
    return [rule for rule in app.url_map.iter_rules() if rule.endpoint.startswith("api.")]


def openapi_path(rule) -> str:
    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule)


def test_the_document_is_valid_openapi_3_1(document):
    assert document["openapi"].startswith("3.1.")
    validate(document)  # raises on any violation of the OpenAPI 3.1 schema


def test_the_server_is_the_public_origin_when_configured_else_this_host(document, make_app):
    assert document["servers"] == [{"url": "/"}]

    configured = make_app(PUBLIC_BASE_URL="https://accounts.example.com/")
    with configured.test_client() as client:
        assert client.get("/api/openapi.json").get_json()["servers"] == [{"url": "https://accounts.example.com"}]


def test_every_required_property_of_a_component_schema_is_defined(document):
    for name, schema in document["components"]["schemas"].items():
        assert set(schema.get("required", [])) <= set(schema.get("properties", {})), name


def test_the_document_needs_no_credentials_and_is_json(client):
    response = client.get("/api/openapi.json", headers={"Authorization": "Token not-a-key"})

    assert response.status_code == 200
    assert response.get_json()["info"]["title"] == "Account portal API"


def test_every_route_and_method_of_the_api_blueprint_is_in_the_document(app, document):
    rules = api_rules(app)
    assert len(rules) >= 17  # five dialects, eight credential routes, the document and its page

    for rule in rules:
        path = openapi_path(rule)
        assert path in document["paths"], f"{rule.endpoint} ({rule.rule}) is not in the document"
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            assert method.lower() in document["paths"][path], f"{method} {rule.rule} is not in the document"
        for argument in rule.arguments:
            names = [p["name"] for op in document["paths"][path].values()
                     for p in op.get("parameters", []) if "name" in p]
            assert argument in names


def test_the_document_has_no_operation_the_app_does_not_serve(app, document):
    served = {(openapi_path(rule), method.lower()) for rule in api_rules(app) for method in rule.methods}

    described = {(path, method) for path, item in document["paths"].items() for method in item}

    assert described <= served


def test_both_credential_schemes_are_declared_and_every_protected_operation_takes_either(document):
    schemes = document["components"]["securitySchemes"]

    assert schemes["bearerAuth"] == {
        "type": "http", "scheme": "bearer", "bearerFormat": "JWT", "description": schemes["bearerAuth"]["description"],
    }  # fmt: skip
    assert schemes["tokenAuth"]["type"] == "apiKey"
    assert (schemes["tokenAuth"]["in"], schemes["tokenAuth"]["name"]) == ("header", "Authorization")
    assert "Token <key>" in schemes["tokenAuth"]["description"]
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if path in PROTECTED_PATHS:
                assert operation["security"] == [{"bearerAuth": []}, {"tokenAuth": []}], (method, path)
                assert "401" in operation["responses"]
                assert "WWW-Authenticate" in operation["responses"]["401"]["headers"]
            else:
                assert operation["security"] == [], (method, path)


def wrapped_by_authenticated(view) -> bool:
    """Whether ``authenticated``'s wrapper is among the ``functools.wraps`` layers of ``view``, found
    by its code rather than by the mark the document is built from."""
    while view is not None:
        if view.__code__ is AUTHENTICATED_WRAPPER:
            return True
        view = getattr(view, "__wrapped__", None)
    return False


def test_the_operations_that_take_credentials_are_exactly_the_views_wrapped_by_authenticated(app, document):
    seen = set()
    for rule in api_rules(app):
        wrapped = wrapped_by_authenticated(app.view_functions[rule.endpoint])
        seen.add(wrapped)
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            operation = document["paths"][openapi_path(rule)][method.lower()]
            assert bool(operation["security"]) is wrapped, (method, rule.rule)
            if wrapped:
                assert "WWW-Authenticate" in operation["responses"]["401"]["headers"], (method, rule.rule)
    assert seen == {True, False}


def test_rate_limited_operations_and_only_they_document_a_429(document):
    with_429 = {
        (path, method) for path, item in document["paths"].items() for method, operation in item.items()
        if "429" in operation["responses"]
    }  # fmt: skip

    assert with_429 == RATE_LIMITED_OPERATIONS
    for path, method in with_429:
        assert "Retry-After" in document["paths"][path][method]["responses"]["429"]["headers"]


def test_profile_operations_document_etags_and_conditional_requests(document):
    me = document["paths"]["/api/users/me/"]

    assert set(me["get"]["responses"]) >= {"200", "304", "401", "412", "500"}
    assert "ETag" in me["get"]["responses"]["200"]["headers"]
    assert {p["$ref"].rsplit("/", 1)[1] for p in me["get"]["parameters"]} == {"IfNoneMatch", "IfMatch"}
    assert set(me["patch"]["responses"]) >= {"200", "400", "401", "412", "413", "415", "500"}
    assert set(me["delete"]["responses"]) >= {"204", "400", "401", "403", "412", "429", "500"}
    assert set(document["paths"]["/api/users/{user_id}/"]["put"]["responses"]) >= {"200", "400", "403", "404", "412"}
    sign_up = set(document["paths"]["/api/v1/accounts/users/"]["post"]["responses"])
    assert sign_up >= {"201", "400", "429"} and "503" not in sign_up  # a mail server that is down loses nothing
    assert document["paths"]["/api/profile/"]["get"]["responses"]["500"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ErrorMessage"
    }


def test_sign_up_states_the_password_policy_that_is_enforced(document):
    assert PASSWORD_POLICY in document["paths"]["/api/v1/accounts/users/"]["post"]["description"]


def test_request_bodies_are_the_parsing_schemas_with_their_wire_names(document):
    components = document["components"]["schemas"]

    for schema in (schemas.Update002, schemas.Update004, schemas.Update003, schemas.Register003, schemas.SignIn):
        wire_names = {field.data_key or name for name, field in schema().fields.items() if not field.dump_only}
        assert set(components[schema.__name__]["properties"]) == wire_names
    assert "mobile_number" in components["Update004"]["properties"]
    assert components["Update003"]["properties"]["photo"]["type"] == "null"  # JSON: null removes the photo
    assert components["Update003Form"]["properties"]["photo"]["format"] == "binary"  # a form uploads it
    assert set(components["SignIn"]["required"]) == {"password"}


def test_every_field_of_an_answer_is_required_and_nullable_ones_say_so(document):
    profile = document["components"]["schemas"]["Profile001"]

    assert set(profile["required"]) == set(schemas.Profile001().fields)
    assert profile["properties"]["first_name"]["type"] == ["string", "null"]
    assert profile["properties"]["email"]["type"] == "string"
    assert profile["properties"]["groups"]["items"] == {"$ref": "#/components/schemas/GroupOut"}


def test_real_answers_of_every_dialect_match_the_document(app, client, document, make_user, bearer):
    account = make_user(first_name="بهروز", last_name="Doe", phone="+1 555 0100", gender="female", country="DE")
    headers = bearer(account)
    registry = Registry().with_resource("urn:doc", DRAFT202012.create_resource(document))

    for url, name in [
        ("/api/profile/", "Profile000"),
        ("/api/users/me/", "Profile001"),
        (f"/api/users/{account.id}/", "Profile000"),
        (f"/api/v1/accounts/users/{account.id}/", "Profile003"),
    ]:
        response = client.get(url, headers=headers)
        assert response.status_code == 200
        validator = Draft202012Validator({"$ref": f"urn:doc#/components/schemas/{name}"}, registry=registry)
        assert not list(validator.iter_errors(response.get_json())), url


def test_the_document_is_built_once_per_app(app, client, monkeypatch):
    builds = []
    build = openapi.build_document
    monkeypatch.setattr(openapi, "build_document", lambda app: builds.append(app) or build(app))

    first = client.get("/api/openapi.json").get_json()
    second = client.get("/api/openapi.json").get_json()

    assert first == second
    assert len(builds) == 1


def test_building_fails_for_a_route_the_document_does_not_describe(app, monkeypatch):
    monkeypatch.delattr(app.view_functions["api.logout"], "openapi_operations")

    with pytest.raises(LookupError, match="POST /api/logout/"):
        openapi.build_document(app)


def test_building_fails_for_a_description_no_route_serves(app, monkeypatch):
    view = app.view_functions["api.profile_000"]
    monkeypatch.setattr(view, "openapi_operations", operations_of(view))  # restored after the test
    documented("DELETE", summary="Delete the caller's profile", tag="Document 000")(view)

    with pytest.raises(LookupError, match=r"\['DELETE'\] /api/profile/"):
        openapi.build_document(app)


def test_a_views_docstring_is_its_summary_and_description_its_lines_folded():
    def view():
        """Sign in: a JWT pair

        `password` and `email` or `username`. The pair's access token goes in
        `Authorization: Bearer <access>`.

        A second paragraph.
        """

    documented(tag="Credentials", body="SignIn")(view)

    operation = operations_of(view)["*"]
    assert operation.summary == "Sign in: a JWT pair"
    assert operation.description == (
        "`password` and `email` or `username`. The pair's access token goes in `Authorization: Bearer <access>`."
        "\n\nA second paragraph."
    )
    assert (operation.tag, operation.body) == ("Credentials", "SignIn")


def test_a_summary_given_describes_its_methods_instead_of_the_docstring():
    def view():
        """A profile by id

        Read by its owner.
        """

    documented("GET", tag="Document 002")(view)
    documented("PUT", "PATCH", summary="Update it ({method})", tag="Document 002", body="Update002")(view)
    documented("DELETE", summary="Delete it", description="Gone for good.", tag="Document 002")(view)

    described = {method: (op.summary, op.description) for method, op in operations_of(view).items()}
    assert described == {
        "GET": ("A profile by id", "Read by its owner."),
        "PUT": ("Update it (PUT)", ""),
        "PATCH": ("Update it (PATCH)", ""),
        "DELETE": ("Delete it", "Gone for good."),
    }


def test_a_description_given_replaces_the_docstrings_only():
    def view():
        """Sign up"""

    documented(tag="Document 003", description="Password rules: built from constants.")(view)

    assert (operations_of(view)["*"].summary, operations_of(view)["*"].description) == (
        "Sign up", "Password rules: built from constants."
    )


def test_a_view_without_a_summary_or_with_a_wrapped_one_is_refused_at_once():
    def bare():
        pass

    def wrapped():
        """A summary that goes on
        to a second line.
        """

    with pytest.raises(ValueError, match="bare: no summary"):
        documented(tag="Reference")(bare)
    with pytest.raises(ValueError, match="wrapped: the docstring's summary is longer than its first line"):
        documented(tag="Reference")(wrapped)


def test_a_conditional_write_says_so_after_what_its_view_says(document):
    if_match = {"$ref": "#/components/parameters/IfMatch"}
    conditional = {
        (method, path): operation["description"] for path, item in document["paths"].items()
        for method, operation in item.items() if if_match in operation.get("parameters", [])
    }  # fmt: skip
    writes = [description for (method, _), description in conditional.items() if method != "get"]
    reads = [description for (method, _), description in conditional.items() if method == "get"]

    assert len(writes) == 7  # PUT and PATCH of 002 and 004, PATCH of 003, DELETE of 002 and 004
    assert all(description.endswith(" " + openapi.IF_MATCH_WRITE) for description in writes)
    assert reads and not any(openapi.IF_MATCH_WRITE in description for description in reads)


def add_probe(app, name, *decorators, rule=None, methods=("POST",), **description):
    """Serve ``POST /api/probe/<name>/`` (or ``rule``, ``methods``) from a view wrapped by ``decorators``
    (outermost first) and described only by its summary, tag and status, unless ``description`` says more."""

    def probe(**variables):
        return "", 204

    view = probe
    for decorator in reversed(decorators):
        view = decorator(view)
    view = documented(**{"summary": "A probe", "tag": "Reference", "status": 204, **description})(view)
    app.add_url_rule(rule or f"/api/probe/{name}/", endpoint=f"api.probe_{name}", view_func=view, methods=methods)


def test_path_parameters_are_typed_by_their_converters(app):
    add_probe(app, "variables", rule="/api/probe/<int:count>/<int(signed=True):offset>/<string(length=2):code>/<name>/")

    paths = openapi.build_document(app)["paths"]

    operation = paths["/api/probe/{count}/{offset}/{code}/{name}/"]["post"]
    assert [(parameter["name"], parameter["schema"]) for parameter in operation["parameters"]] == [
        ("count", {"type": "integer", "minimum": 0}),
        ("offset", {"type": "integer"}),
        ("code", {"type": "string"}),
        ("name", {"type": "string"}),
    ]
    assert paths["/api/users/{user_id}/"]["get"]["parameters"][0] == {
        "name": "user_id", "in": "path", "required": True, "schema": {"type": "integer"},
    }  # fmt: skip


def test_credentials_and_rate_limits_are_read_from_the_decorators_that_wrap_a_view(app):
    refresh_limit = limited("RATELIMIT_REFRESH")
    add_probe(app, "plain")
    add_probe(app, "limited", refresh_limit)
    add_probe(app, "authenticated", auth.authenticated)
    add_probe(app, "limited_over_authenticated", refresh_limit, auth.authenticated)
    add_probe(app, "authenticated_over_limited", auth.authenticated, refresh_limit)
    add_probe(app, "posts_limited", limited("RATELIMIT_REFRESH", methods=["POST"]), methods=["GET", "POST"])

    paths = openapi.build_document(app)["paths"]

    def answers(name, method="post"):
        operation = paths[f"/api/probe/{name}/"][method]
        return bool(operation["security"]), "401" in operation["responses"], "429" in operation["responses"]

    assert answers("plain") == (False, False, False)
    assert answers("limited") == (False, False, True)
    assert answers("authenticated") == (True, True, False)
    # Flask-Limiter's wrapper keeps the mark of authenticated below it, and authenticated the limiter's.
    assert answers("limited_over_authenticated") == (True, True, True)
    assert answers("authenticated_over_limited") == (True, True, True)
    # A limit that counts some methods only is documented on those.
    assert answers("posts_limited", "get") == (False, False, False)
    assert answers("posts_limited", "post") == (False, False, True)


@pytest.mark.parametrize(
    "description, named",
    [({"tag": "Document 005"}, "the tag 'Document 005'"), ({"answer": "Profile005"}, r"\['Profile005'\]")],
)
def test_building_fails_for_a_description_that_names_an_unknown_tag_or_component(app, description, named):
    add_probe(app, "misnamed", **description)

    with pytest.raises(LookupError, match=f"POST /api/probe/misnamed/ names {named}"):
        openapi.build_document(app)


def test_the_reference_page_is_the_layouts_with_its_script_and_no_inline_code(client):
    response = client.get("/api/docs/")

    assert response.status_code == 200
    assert response.mimetype == "text/html"
    assert "default-src 'self'" in response.headers["Content-Security-Policy"]
    page = response.get_data(as_text=True)
    assert "<title>API reference · Account portal</title>" in page
    assert '<a class="skip-link" href="#main">' in page and '<main id="main"' in page
    assert re.search(r'<header class="site-header">.*API reference · <a href="/api/openapi.json">', page, re.S)
    scripts = re.findall(r"<script\b([^>]*)>(.*?)</script>", page, re.S)
    assert scripts and all('src="/static/' in attrs and not body.strip() for attrs, body in scripts)
    assert any('src="/static/api-docs/api-docs.js?v=' in attrs for attrs, _ in scripts)
    assert not re.search(r"<style|\sstyle=|\son[a-z]+=", page)  # no inline style or event handlers
    assert all(not url.startswith("//") and ":" not in url for url in re.findall(r'(?:src|href)="([^"]*)"', page))
    assets = re.findall(r'(?:src|href)="(/static/api-docs/[^"]+)"', page)
    assert len(assets) == 2  # the reference's stylesheet and script, after the layout's
    for asset in assets:
        with client.get(asset) as served:
            assert served.status_code == 200, asset
            assert served.mimetype in ("text/javascript", "application/javascript", "text/css")
    with client.get("/static/api-docs/api-docs.js") as served:
        script = served.get_data(as_text=True)
    assert 'fetch("/api/openapi.json"' in script
    assert "innerHTML" not in script


def test_the_reference_page_without_its_slash_redirects(client):
    response = client.get("/api/docs")

    assert response.status_code == 301
    assert response.headers["Location"] == "/api/docs/"
