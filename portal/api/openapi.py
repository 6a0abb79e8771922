"""The OpenAPI 3.1 document of the JSON API (``GET /api/openapi.json``) and its reference page
(``GET /api/docs/``: the layout's ``templates/api/docs.html``, whose script in ``static/api-docs/``
renders the document).

apispec builds the document from the marshmallow schemas of ``schemas`` that parse the requests and
write the answers. What each route does is its view's docstring (summary and description); what it
answers (body, statuses) is written beside the view with ``@documented`` (``documented``); whether
it takes credentials (its security requirement and 401) and is rate limited (its 429) is read from
the decorators that wrap the view (``auth.authenticated``, ``limits.limited``), never restated.
This module turns those into operations and adds what no parsing schema holds: small schemas for the
credential routes' answers and the error shapes, and a ``…Form`` twin of each schema that also
takes a file (multipart/form-data). Paths and path parameters are read from the blueprint's URL
rules, and building fails when a rule or method of the blueprint is not described, or a view
describes a method its route does not serve, so no route can be left out of the document.

The document is built once per app, on its first request, and kept in ``app.extensions``.
"""

import copy
import re
from functools import partial
from importlib import metadata

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from flask import current_app, render_template
from marshmallow import Schema, fields, validate
from werkzeug.routing import IntegerConverter, parse_converter_args

from ..limits import rate_limits
from . import bp
from .auth import ANY, FULL, needs_of, requires_credentials
from .documented import EVERY_METHOD, FORM, HTML, JSON, Operation, documented, operations_of
from .errors import NOT_PROVIDED, SERVER_ERROR, WWW_AUTHENTICATE
from .schemas import (
    Avatar,
    ChangePassword,
    ConnectedAppOut,
    DeleteMe,
    GroupOut,
    KeySignIn,
    LinkedIdentityOut,
    PasskeyOptionsRequest,
    PasswordResetConfirm,
    PasswordResetRequest,
    Profile000,
    Profile001,
    Profile003,
    ProviderIdToken,
    RefreshToken,
    Register003,
    Registered003,
    ResendOtp003,
    SecondStep,
    SignIn,
    SignInCodeRequest,
    SignInWithCode,
    SignOut,
    Update002,
    Update003,
    Update004,
    VerifyOtp003,
)

EXTENSION_KEY = "portal.openapi"
BEARER, TOKEN = "bearerAuth", "tokenAuth"
# A variable of a URL rule as Werkzeug's rule syntax writes it, ``<converter(arguments):name>``, the
# converter and its arguments optional. Werkzeug parses rules privately; this reads the same syntax.
RULE_VARIABLE = re.compile(
    r"<(?:(?P<converter>[a-zA-Z_][a-zA-Z0-9_]*)(?:\((?P<arguments>.*?)\))?:)?(?P<variable>[a-zA-Z_][a-zA-Z0-9_]*)>"
)


# Answers of the credential routes and the error shapes.


class TokenPair(Schema):
    access = fields.String(required=True, metadata={"description": "JWT access token, valid 15 minutes."})
    refresh = fields.String(required=True, metadata={"description": "JWT refresh token, valid 7 days, single use."})


class AuthToken(Schema):
    auth_token = fields.String(required=True, metadata={"description": "A new API key (40 hex digits), shown once."})


class Message(Schema):
    msg = fields.String(required=True)


class SignedUp(Schema):
    msg = fields.String(required=True, metadata={"example": "Email sent successfully!"})
    data = fields.Nested(Registered003, required=True)


class Detail(Schema):
    detail = fields.String(required=True)


class ErrorMessage(Schema):
    error = fields.String(required=True)


class TwoStepRequired(Schema):
    detail = fields.String(required=True)
    mfa_required = fields.Boolean(required=True, metadata={"description": "Always `true`: marks the two-step answer."})
    mfa_token = fields.String(required=True, metadata={"description": "For `POST /api/token/mfa/`; 5 minutes, once."})
    methods = fields.List(
        fields.String(validate=validate.OneOf(["totp", "recovery", "passkey"])), required=True,
        metadata={"description": "What the second step takes for this account."},
    )


FIELD_ERRORS = {
    "type": "object",
    "description": "DRF-shaped field errors: the dialect's field name (or `non_field_errors`) → messages.",
    "additionalProperties": {"type": "array", "items": {"type": "string"}},
    "minProperties": 1,
    "example": {"email": ["This field is required."]},
}

# Schemas whose every field is in every answer (unset values are null, never left out).
ANSWERS = {
    "GroupOut": GroupOut, "Profile000": Profile000, "Profile001": Profile001, "Profile003": Profile003,
    "LinkedIdentityOut": LinkedIdentityOut, "ConnectedAppOut": ConnectedAppOut,
}
REQUESTS = {
    schema.__name__: schema
    for schema in (
        Update002, Update004, DeleteMe, Register003, Update003, VerifyOtp003, ResendOtp003,
        SignIn, RefreshToken, SignOut, ChangePassword, PasswordResetRequest, PasswordResetConfirm,
        SecondStep, PasskeyOptionsRequest, SignInCodeRequest, SignInWithCode,
        KeySignIn, ProviderIdToken,
    )
}  # fmt: skip
# Bodies with a file field, which multipart/form-data carries too.
FILE_BODIES = [
    name for name, schema in REQUESTS.items() if any(isinstance(f, Avatar) for f in schema().fields.values())
]


DESCRIPTION = f"""\
One account model served in the five dialects of the seed documents (000–004), plus credential routes
named after djangorestframework-simplejwt and djoser.

**Credentials.** Every protected route takes either `Authorization: Bearer <JWT access token>`
(from `POST /api/token/`) or `Authorization: Token <API key>` (from `POST /api/auth/token/login/`).
A missing credential is a 401 `{{"detail": "{NOT_PROVIDED}"}}`; a malformed, expired, revoked or
unknown one a 401 with the reason; both carry `WWW-Authenticate: {WWW_AUTHENTICATE}`.

**Scopes.** An app's access token (`Bearer`, from `POST /oauth/token`) and an API key made with
`scopes` (a personal access token) are scoped: `api:read` reads the profile in every dialect,
`api:write` changes it (the avatar too; it implies `api:read`). Every other route — the password,
a change of the email address, keys, providers, connected apps, deleting the account, `/api/logout/`
(it may end another sign-in) — needs a full credential; `POST /api/auth/token/logout/` takes any,
as it ends the presented credential alone. A scoped credential that falls short is a 403 `{{"detail": …}}` with
`WWW-Authenticate: Bearer error="insufficient_scope", scope="…"` naming what the route needs
(`full`: no scope grants it); each operation says what it needs in `x-scope-needed`. A scoped
credential acts on its own account only (no staff rights). A revoked app sign-in or an expired key
is a 401 at once.

**Shared rules.** Every route ends in `/`; without it the answer is a redirect to the slashed URL,
`301` for GET and HEAD, `308` for other methods so the body survives. A method a route does not
have is a `405` with an `Allow` header. Errors are JSON on every `/api/` path: `{{"detail": …}}`, or
DRF-shaped field errors `{{"field": ["message", …]}}` with the dialect's own field names (cross-field
ones under `non_field_errors`). Unknown and read-only input fields are ignored. A body over the size
limit is a 413; a body of another type than JSON or a form a 415. Rate-limited routes answer 429 with
`Retry-After`.

**Optimistic concurrency.** Every profile representation carries an `ETag` (the row's version).
`If-None-Match` on a GET answers 304 while it still matches; `If-Match` on a write (or a GET) answers
412 once the profile has changed, and nothing is written.
"""

# What ``conditional_write`` adds to an operation's description.
IF_MATCH_WRITE = "With `If-Match`, the write happens only while the profile still has that ETag (else 412)."

# Every operation's tag is one of these (a description naming another fails the build).
TAGS = [
    {"name": "Document 000", "description": "`/api/profile/`: the caller's profile."},
    {"name": "Documents 001 and 004", "description": "`/api/users/me/`: read, update and delete the caller's profile."},
    {"name": "Document 002", "description": "`/api/users/{id}/`: one's own profile by id."},
    {"name": "Document 003", "description": "`/api/v1/accounts/users/`: sign-up with an emailed code, profiles by id."},
    {"name": "Credentials", "description": "JWT pairs, API keys, passwords."},
    {"name": "Reference", "description": "This document and its reference page."},
]


# Building ----------------------------------------------------------------------------------


def openapi_document() -> dict:
    """The app's document, built on first use and kept for the app's lifetime."""
    app = current_app._get_current_object()
    document = app.extensions.get(EXTENSION_KEY)
    if document is None:
        document = app.extensions[EXTENSION_KEY] = build_document(app)
    return document


def build_document(app) -> dict:
    spec = APISpec(
        title="Account portal API",
        version=_version(),
        openapi_version="3.1.0",
        plugins=[MarshmallowPlugin()],
        info={"description": DESCRIPTION},
        # Where clients send requests: the public origin when one is configured, else this host.
        servers=[{"url": (app.config.get("PUBLIC_BASE_URL") or "").rstrip("/") or "/"}],
        tags=TAGS,
    )
    _add_components(spec)
    served: dict[str, dict[str, dict]] = {}  # path → method → operation (one path may be served by several views)
    for rule in app.url_map.iter_rules():
        if not rule.endpoint.startswith(bp.name + "."):
            continue
        path, path_parameters = _openapi_path(rule), _path_parameters(app, rule)
        view = app.view_functions[rule.endpoint]
        described = operations_of(view)
        methods = rule.methods - {"HEAD", "OPTIONS"}
        if stale := set(described) - methods - {EVERY_METHOD}:
            raise LookupError(
                f"The OpenAPI document describes {sorted(stale)} {path} ({rule.endpoint}), which no route serves."
            )
        for method in sorted(methods):
            op = described.get(method, described.get(EVERY_METHOD))
            if op is None:
                raise LookupError(f"The OpenAPI document does not describe {method} {path} ({rule.endpoint}).")
            _check_names(op, f"{method} {path}", spec)
            served.setdefault(path, {})[method] = _operation(rule, method, view, op, path_parameters)
    for path in sorted(served):
        spec.path(path=path, operations={method.lower(): served[path][method] for method in sorted(served[path])})
    document = spec.to_dict()
    _finish_components(document)
    return document


def _check_names(op: Operation, operation: str, spec: APISpec) -> None:
    """The tag and components a view's description names exist: written beside the views, far from
    their definitions here, a misspelt one would otherwise be a dangling reference."""
    if op.tag not in {tag["name"] for tag in TAGS}:
        raise LookupError(f"{operation} names the tag {op.tag!r}, which the document does not declare.")
    named = {op.body, op.answer, op.server_error, *(schema_name for schema_name, _ in op.errors.values())}
    if unknown := named - {None} - set(spec.components.schemas):
        raise LookupError(f"{operation} names {sorted(unknown)}, which are no components of the document.")


def _version() -> str:
    try:
        return metadata.version("account-portal")
    except metadata.PackageNotFoundError:
        return "0.0.0"


def _add_components(spec: APISpec) -> None:
    components = spec.components
    for name, schema in {**ANSWERS, **REQUESTS}.items():
        components.schema(name, schema=schema)
    components.schema("Registered003", schema=Registered003)
    for schema in (TokenPair, AuthToken, Message, SignedUp, Detail, ErrorMessage, TwoStepRequired):
        components.schema(schema.__name__, schema=schema)
    components.schema("SignedIn", {"oneOf": [_ref("schemas", "TokenPair"), _ref("schemas", "AuthToken")]})
    # The answers that are lists of one component.
    for item in ("LinkedIdentityOut", "ConnectedAppOut"):
        components.schema(f"{item}List", {"type": "array", "items": _ref("schemas", item)})
    # Generators read a union by trying its alternatives in order, keeping the first that parses;
    # the plain shape first would swallow the two-step answer (every such body has a `detail`) and
    # drop its `mfa_token`. Two-step first: a plain refusal lacks its required fields and falls
    # through to `Detail`. Exactly one matches either body (`Detail` takes no other property).
    components.schema(
        "SignInRefused",
        {
            "oneOf": [_ref("schemas", "TwoStepRequired"), _ref("schemas", "Detail")],
            "description": "The two-step answer (`mfa_required` is true), or the plain refusal.",
        },
    )
    components.schema("PasskeyOptions", {
        "type": "object", "required": ["challenge", "rpId"],
        "properties": {"challenge": {"type": "string"}, "rpId": {"type": "string"}},
        "description": "PublicKeyCredentialRequestOptions for `navigator.credentials.get()`, "
        "binary values in base64url.",
    })
    components.schema("FieldErrors", FIELD_ERRORS)
    components.schema(
        "OpenApiDocument",
        {
            "type": "object",
            "required": ["openapi", "info", "paths"],
            "properties": {
                "openapi": {"type": "string", "description": "The OpenAPI version, e.g. `3.1.0`."},
                "info": {"type": "object", "description": "The API's title, version and description."},
                "paths": {"type": "object", "description": "The operations, by path and method."},
            },
            "description": "An OpenAPI 3.1 document.",
        },
    )
    components.security_scheme(
        BEARER,
        {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT",
            "description": "`Authorization: Bearer <access>`, an access token from `POST /api/token/` (15 minutes), "
            "or an app's access token from `POST /oauth/token` (`typ: at+jwt`, 5 minutes; its scopes apply).",
        },
    )
    components.security_scheme(
        TOKEN,
        {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "`Authorization: Token <key>`, a key from `POST /api/auth/token/login/`, the keys page or "
            "`flask --app portal create-token EMAIL`.",
        },
    )
    etag = {"type": "string", "description": 'An entity tag, e.g. `"7"`, or `*`.'}
    components.parameter(
        "IfMatch",
        "header",
        {"name": "If-Match", "required": False, "schema": etag,
         "description": "Answer 412 and change nothing unless the profile still has one of these ETags."},
    )
    components.parameter(
        "IfNoneMatch",
        "header",
        {"name": "If-None-Match", "required": False, "schema": etag,
         "description": "Answer 304 while the profile still has one of these ETags."},
    )
    for name, description, schema in (
        ("ETag", "The profile's version.", {"type": "string", "pattern": r'^"\d+"$'}),
        ("WWWAuthenticate", "The accepted schemes.", {"type": "string"}),
        ("RetryAfter", "Seconds to wait.", {"type": "integer", "minimum": 0}),
    ):
        components.header(name, {"description": description, "required": True, "schema": schema})
    components.header("InsufficientScope", {
        "description": 'On a refusal of a scoped credential: `Bearer error="insufficient_scope", scope="…"`, '
        "naming what the route needs (`api:read`, `api:write`, or `full`, which no scope grants).",
        "required": False, "schema": {"type": "string"},
    })


def _finish_components(document: dict) -> None:
    schemas = document["components"]["schemas"]
    # The two-step answer's mark as a JSON Schema `const` (apispec writes none), and alone: with a
    # `type` or an `enum` beside it, openapi-python-client reads a plain boolean and checks nothing;
    # alone, its model refuses a body whose `mfa_required` is not true.
    mark = schemas["TwoStepRequired"]["properties"]["mfa_required"]
    schemas["TwoStepRequired"]["properties"]["mfa_required"] = {"const": True, "description": mark["description"]}
    for name in [*ANSWERS, "Registered003"]:
        schemas[name]["required"] = list(schemas[name]["properties"])
    for name in FILE_BODIES:
        schemas[name + "Form"] = _form_twin(schemas[name], REQUESTS[name])
        for wire in _file_fields(REQUESTS[name]):
            schemas[name]["properties"][wire] = {
                "type": "null",
                "description": "null removes the avatar; upload a file with multipart/form-data.",
            }


def _file_fields(schema) -> list[str]:
    return [field_.data_key or name for name, field_ in schema().fields.items() if isinstance(field_, Avatar)]


def _form_twin(component: dict, schema) -> dict:
    """The multipart/form-data reading of a body: text fields (a form cannot send null) and files."""
    form = copy.deepcopy(component)
    for prop in form["properties"].values():
        if isinstance(prop.get("type"), list):
            prop["type"] = next(kind for kind in prop["type"] if kind != "null")
    for wire in _file_fields(schema):
        form["properties"][wire] = {
            "type": "string",
            "format": "binary",
            "description": "An image (JPEG, PNG, WebP or GIF, at most 5 MB and 40 megapixels); "
            "the text `null` or an empty value removes the avatar.",
        }
    return form


def _openapi_path(rule) -> str:
    """``/api/users/<int(signed=True):user_id>/`` → ``/api/users/{user_id}/``."""
    return RULE_VARIABLE.sub(lambda variable: "{" + variable["variable"] + "}", rule.rule)


def _path_parameters(app, rule) -> list[dict]:
    """The rule's variables in order, typed by the converter the app's URL map makes for each."""
    parameters = []
    for variable in RULE_VARIABLE.finditer(rule.rule):
        args, kwargs = parse_converter_args(variable["arguments"] or "")
        converter = app.url_map.converters[variable["converter"] or "default"](app.url_map, *args, **kwargs)
        schema = {"type": "integer"} if isinstance(converter, IntegerConverter) else {"type": "string"}
        if isinstance(converter, IntegerConverter) and not converter.signed:
            schema["minimum"] = 0
        parameters.append({"name": variable["variable"], "in": "path", "required": True, "schema": schema})
    # Werkzeug's own reading of the rule: its arguments, less the keys of its defaults (not in the path).
    werkzeug_reads = rule.arguments - set(rule.defaults or ())
    if (read := {parameter["name"] for parameter in parameters}) != werkzeug_reads:
        raise LookupError(f"{rule.rule}: read the variables {sorted(read)}, Werkzeug reads {sorted(werkzeug_reads)}.")
    return parameters


def _ref(kind: str, name: str) -> dict:
    return {"$ref": f"#/components/{kind}/{name}"}


def _json(schema_name: str) -> dict:
    return {JSON: {"schema": _ref("schemas", schema_name)}}


# What each need of a route (``authenticated(needs=…)``) means to a caller, in every operation's description.
SCOPE_NEEDED = {
    "api:read": "A scoped credential needs `api:read` (or `api:write`).",
    "api:write": "A scoped credential needs `api:write`.",
    ANY: "Any credential, scoped or not.",
    FULL: "A full credential only: an app's access token or an API key with scopes is refused (403).",
}


def _response(description: str, schema_name: str | None = None, **headers) -> dict:
    response = {"description": description}
    if schema_name:
        response["content"] = _json(schema_name)
    if headers:
        response["headers"] = {name: _ref("headers", ref) for name, ref in headers.items()}
    return response


def _operation(rule, method: str, view, op: Operation, path_parameters: list[dict]) -> dict:
    """One operation of the document; its credentials (security, 401) and its 429 are read from the
    decorators that wrap ``view``, so the document cannot claim what the route does not do."""
    needs_credentials = requires_credentials(view)
    need = needs_of(view, method)
    operation = {
        "operationId": f"{rule.endpoint.partition('.')[2]}_{method.lower()}",
        "summary": op.summary,
        "tags": [op.tag],
        "security": [{BEARER: []}, {TOKEN: []}] if needs_credentials else [],
    }
    if need is not None:
        operation["x-scope-needed"] = need
    description = op.description
    if need is not None:
        description = f"{description}\n\n{SCOPE_NEEDED[need]}".lstrip()
    if op.conditional_write:  # in the same words for every conditional write, after what its view says
        description = f"{description} {IF_MATCH_WRITE}".lstrip()
    if description:
        operation["description"] = description
    # Werkzeug's make_conditional, which answers If-None-Match and If-Match on a read, does so only
    # for GET (and HEAD): a read served by POST as well is conditional only as a GET.
    conditional_read = op.conditional_read and method == "GET"
    parameters = list(path_parameters)
    if conditional_read:
        parameters += ["IfNoneMatch", "IfMatch"]  # component names; apispec makes them refs
    if op.conditional_write:
        parameters.append("IfMatch")
    if parameters:
        operation["parameters"] = parameters
    if op.body:
        content = _json(op.body)
        if op.body in FILE_BODIES:
            content[FORM] = {"schema": _ref("schemas", op.body + "Form")}
        operation["requestBody"] = {"required": op.body_required, "content": content}

    responses = {}
    if op.answer_type == HTML:
        responses[op.status] = {"description": "The page.", "content": {HTML: {"schema": {"type": "string"}}}}
    elif op.representation:
        responses[op.status] = _response("The profile; its `ETag` is the profile's version.", op.answer, ETag="ETag")
    elif op.answer:
        responses[op.status] = _response("Success.", op.answer)
    else:
        responses[op.status] = {"description": "Done; no content."}
    if conditional_read:
        responses[304] = _response("Not modified: `If-None-Match` names the current ETag.", ETag="ETag")
    if op.body:
        responses[400] = {
            "description": "Field errors, or a body that is not valid JSON or not a JSON object.",
            "content": {JSON: {"schema": {"anyOf": [_ref("schemas", "FieldErrors"), _ref("schemas", "Detail")]}}},
        }
    if needs_credentials:
        responses[401] = _response(
            "Missing, malformed, expired, revoked or unknown credentials, or an inactive user.",
            "Detail",
            **{"WWW-Authenticate": "WWWAuthenticate"},
        )
    if need is not None and need != ANY:
        refused = op.errors.get(403, ("Detail", ""))[1]
        responses[403] = _response(
            f"{refused} Or a scoped credential (an app's access token, an API key with scopes) without "
            f"`{need}`: `WWW-Authenticate: Bearer error=\"insufficient_scope\", scope=\"{need}\"`.".lstrip(),
            "Detail", **{"WWW-Authenticate": "InsufficientScope"},
        )
    for status, (schema_name, description) in op.errors.items():
        if status == 403 and 403 in responses:
            continue  # said above, with the scope refusal
        if status == 404 and path_parameters:
            # Also Werkzeug's own 404 for a path that matches no rule (an id that is not a number).
            description += ' A path that matches no route (an id that is not a number) is `{"detail": "Not found."}`.'
            responses[status] = {
                "description": description,
                "content": {JSON: {"schema": {"anyOf": [_ref("schemas", schema_name), _ref("schemas", "Detail")]}}},
            }
        elif status == 401:
            responses[status] = _response(description, schema_name, **{"WWW-Authenticate": "WWWAuthenticate"})
        else:
            responses[status] = _response(description, schema_name)
    if conditional_read or op.conditional_write:
        responses[412] = _response("Precondition failed: `If-Match` names an ETag the profile no longer has.", "Detail")
    if op.body:
        responses[413] = _response("The request body is over the size limit.", "Detail")
        responses[415] = _response("A body that is neither JSON nor a form.", "Detail")
    if rate_limits(view, method):
        responses[429] = _response(
            "Too many requests; try again after `Retry-After` seconds.", "Detail", **{"Retry-After": "RetryAfter"}
        )
    # Errors are JSON on every /api/ path, the HTML page's too.
    responses[500] = _response(f"A server error, with no internals (`{SERVER_ERROR}`).", op.server_error)
    operation["responses"] = {str(status): response for status, response in sorted(responses.items())}
    return operation


# Routes -------------------------------------------------------------------------------------


# The routes of the document itself, under its "Reference" tag.
documented_reference = partial(documented, tag="Reference")


@bp.get("/openapi.json", endpoint="openapi_document")
@documented_reference(answer="OpenApiDocument")
def serve_openapi_document():
    """This document

    The OpenAPI 3.1 description of the JSON API.
    """
    return openapi_document()


@bp.get("/docs/")
@documented_reference(answer_type=HTML)
def docs_page():
    """A readable reference page of this document"""
    return render_template("api/docs.html")
