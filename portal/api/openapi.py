"""The OpenAPI 3.1 document of the JSON API (``GET /api/openapi.json``) and its reference page
(``GET /api/docs/``, a static page in ``static/api-docs/`` that renders the document).

apispec builds the document from the marshmallow schemas of ``schemas`` that parse the requests and
write the answers. This module adds only what no parsing schema holds: which route answers what
(statuses, headers), small schemas for the credential routes' answers and the error
shapes, and a ``…Form`` twin of each schema that also takes a file (multipart/form-data). Paths and
path parameters are read from the blueprint's URL rules, and building fails when a rule or method
of the blueprint is not described here, so no route can be left out of the document. Whether an
operation takes credentials (its security requirement and 401) and is rate limited (its 429) is read
from the decorators that wrap its view (``auth.authenticated``, ``limits.limited``), never restated.

The document is built once per app, on its first request, and kept in ``app.extensions``.
"""

import copy
import re
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from flask import Response, current_app
from marshmallow import Schema, fields
from werkzeug.routing import IntegerConverter

from ..limits import rate_limits
from . import bp
from .auth import requires_credentials
from .errors import NOT_PROVIDED, SERVER_ERROR, WWW_AUTHENTICATE
from .schemas import (
    Avatar,
    ChangePassword,
    DeleteMe,
    GroupOut,
    PasswordResetConfirm,
    PasswordResetRequest,
    Profile000,
    Profile001,
    Profile003,
    RefreshToken,
    Register003,
    Registered003,
    ResendOtp003,
    SignIn,
    SignOut,
    Update002,
    Update003,
    Update004,
    VerifyOtp003,
)

EXTENSION_KEY = "portal.openapi"
DOCS_FOLDER = "api-docs"
BEARER, TOKEN = "bearerAuth", "tokenAuth"
JSON, FORM, HTML = "application/json", "multipart/form-data", "text/html"


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


FIELD_ERRORS = {
    "type": "object",
    "description": "DRF-shaped field errors: the dialect's field name (or `non_field_errors`) → messages.",
    "additionalProperties": {"type": "array", "items": {"type": "string"}},
    "minProperties": 1,
    "example": {"email": ["This field is required."]},
}

# Schemas whose every field is in every answer (SPEC §1: unset values are null, never left out).
ANSWERS = {"GroupOut": GroupOut, "Profile000": Profile000, "Profile001": Profile001, "Profile003": Profile003}
REQUESTS = {
    schema.__name__: schema
    for schema in (
        Update002, Update004, DeleteMe, Register003, Update003, VerifyOtp003, ResendOtp003,
        SignIn, RefreshToken, SignOut, ChangePassword, PasswordResetRequest, PasswordResetConfirm,
    )
}  # fmt: skip
# Bodies with a file field, which multipart/form-data carries too.
FILE_BODIES = [name for name, schema in REQUESTS.items() if any(isinstance(f, Avatar) for f in schema._declared_fields.values())]


# What each route answers -------------------------------------------------------------------


@dataclass(frozen=True)
class Operation:
    """One method of one route, as the document describes it."""

    summary: str
    tag: str
    description: str = ""
    body: str | None = None  # component name of the request body
    body_required: bool = True
    status: int = 200
    answer: str | None = None  # component name of the success body; None: no body
    answer_type: str = JSON
    representation: bool = False  # a profile with its ETag
    conditional_read: bool = False  # If-None-Match (304) and If-Match (412) on a GET
    conditional_write: bool = False  # If-Match (412)
    errors: dict = field(default_factory=dict)  # more statuses: {403: (body component, why)}
    server_error: str = "Detail"  # the 500 body


PROFILE_WRITE = (
    "Partial update: only the fields sent change. JSON, or multipart/form-data to upload the avatar. "
    "Read-only and unknown fields are ignored. An optional text field sent as `\"\"` is stored as null. "
    "Changing the email takes effect at once, marks it unverified and mails a code to the new address."
)
IF_MATCH_WRITE = "With `If-Match`, the write happens only while the profile still has that ETag (else 412)."

# By path and method, as clients see them (one path may be served by several views).
OPERATIONS: dict[str, dict[str, Operation]] = {
    "/api/profile/": {
        method: Operation(
            summary="The caller's profile (document 000)",
            tag="Document 000",
            description="Both GET and POST answer the caller's profile in the 000 shape; `avatar` is a site-relative path.",
            answer="Profile000",
            representation=True,
            conditional_read=method == "GET",
            errors={404: ("ErrorMessage", "The credential is valid but its user no longer exists.")},
            server_error="ErrorMessage",
        )
        for method in ("GET", "POST")
    },
    "/api/users/{user_id}/": {
        "GET": Operation(
            summary="A profile by id (document 002)",
            tag="Document 002",
            description="The owner, or staff, read the profile in the 000 shape.",
            answer="Profile000",
            representation=True,
            conditional_read=True,
            errors={403: ("Detail", "Someone else's id, and the caller is not staff."), 404: ("ErrorMessage", "No such user.")},
        ),
        **{
            method: Operation(
                summary=f"Update one's own profile by id (document 002, {method})",
                tag="Document 002",
                description=PROFILE_WRITE + " `number_phone` has at most 10 characters in this dialect. " + IF_MATCH_WRITE,
                body="Update002",
                answer="Profile000",
                representation=True,
                conditional_write=True,
                errors={403: ("Detail", "Someone else's id (staff too: writes are owner-only)."), 404: ("ErrorMessage", "No such user.")},
            )
            for method in ("PUT", "PATCH")
        },
        "DELETE": Operation(
            summary="Delete one's own account by id (document 002)",
            tag="Document 002",
            description="Deletes the account and its avatar files. " + IF_MATCH_WRITE,
            status=204,
            conditional_write=True,
            errors={
                403: ("Detail", "Someone else's id, or the last active superuser."),
                404: ("ErrorMessage", "No such user."),
            },
        ),
    },
    "/api/users/me/": {
        "GET": Operation(
            summary="The caller's profile (documents 001 and 004)",
            tag="Documents 001 and 004",
            description="The 001 shape: `avatar` is an absolute URL, `groups` a list of group objects.",
            answer="Profile001",
            representation=True,
            conditional_read=True,
        ),
        **{
            method: Operation(
                summary=f"Update the caller's profile (document 004, {method})",
                tag="Documents 001 and 004",
                description=PROFILE_WRITE
                + " `gender` is `male`, `female` or `other`. `avatar` as JSON null, or as the text `null` or empty "
                "in a form, removes the avatar. "
                + IF_MATCH_WRITE,
                body="Update004",
                answer="Profile001",
                representation=True,
                conditional_write=True,
            )
            for method in ("PUT", "PATCH")
        },
        "DELETE": Operation(
            summary="Delete the caller's account (document 004)",
            tag="Documents 001 and 004",
            description="Needs the current password; a missing or wrong one is a 400 on `current_password` and the "
            "account stays. " + IF_MATCH_WRITE,
            body="DeleteMe",
            status=204,
            conditional_write=True,
            errors={403: ("Detail", "The last active superuser cannot be deleted.")},
        ),
    },
    "/api/v1/accounts/users/": {
        "POST": Operation(
            summary="Sign up (document 003)",
            tag="Document 003",
            description="Creates an unverified account and mails a six-digit code to confirm the address "
            "(`verify-otp/`). The password needs at least 8 characters, not all digits, not a common one, "
            "not close to the email. `gender` is `M`, `F` or `O` (the full words are accepted too); "
            "`country` an ISO 3166-1 alpha-2 code.",
            body="Register003",
            status=201,
            answer="SignedUp",
            errors={503: ("Detail", "The code could not be mailed; nothing was kept, try again.")},
        )
    },
    "/api/v1/accounts/users/verify-otp/": {
        "POST": Operation(
            summary="Confirm an address with its emailed code (document 003)",
            tag="Document 003",
            description="Also confirms a changed address. A wrong or expired code is a 400 on `otp`.",
            body="VerifyOtp003",
            answer="Message",
        )
    },
    "/api/v1/accounts/users/resend-otp/": {
        "POST": Operation(
            summary="Mail a new code (document 003)",
            tag="Document 003",
            description="Answers alike whether or not the address has an account.",
            body="ResendOtp003",
            answer="Message",
        )
    },
    "/api/v1/accounts/users/{user_id}/": {
        "GET": Operation(
            summary="A profile by id (document 003)",
            tag="Document 003",
            description="The owner, or staff, read the 003 shape: `photo` is an absolute URL, `gender` is `M`, `F` or `O`.",
            answer="Profile003",
            representation=True,
            conditional_read=True,
            errors={403: ("Detail", "Someone else's id, and the caller is not staff."), 404: ("ErrorMessage", "No such user.")},
        ),
        "PATCH": Operation(
            summary="Update a profile by id (document 003)",
            tag="Document 003",
            description=PROFILE_WRITE + " The owner or staff may write; `photo` is the avatar. " + IF_MATCH_WRITE,
            body="Update003",
            answer="Profile003",
            representation=True,
            conditional_write=True,
            errors={403: ("Detail", "Someone else's id, and the caller may not manage that account."), 404: ("ErrorMessage", "No such user.")},
        ),
    },
    "/api/token/": {
        "POST": Operation(
            summary="Sign in: a JWT pair",
            tag="Credentials",
            description="`password` and `email` or `username`. The pair's access token goes in "
            "`Authorization: Bearer <access>`.",
            body="SignIn",
            answer="TokenPair",
            errors={
                401: ("Detail", "No active account found with the given credentials."),
                403: ("Detail", "The email address was never verified."),
            },
        )
    },
    "/api/token/refresh/": {
        "POST": Operation(
            summary="Swap a refresh token for a new pair",
            tag="Credentials",
            description="The presented refresh token stops working; presenting it again revokes the whole sign-in.",
            body="RefreshToken",
            answer="TokenPair",
            errors={401: ("Detail", "The refresh token is invalid, expired or revoked.")},
        )
    },
    "/api/logout/": {
        "POST": Operation(
            summary="Sign out",
            tag="Credentials",
            description="The presented credential, and the sign-in of the given refresh token, stop working at once.",
            body="SignOut",
            body_required=False,
            status=204,
        )
    },
    "/api/auth/token/login/": {
        "POST": Operation(
            summary="Sign in: a new API key",
            tag="Credentials",
            description="A new key each call, for `Authorization: Token <key>`.",
            body="SignIn",
            answer="AuthToken",
            errors={
                401: ("Detail", "No active account found with the given credentials."),
                403: ("Detail", "The email address was never verified."),
            },
        )
    },
    "/api/auth/token/logout/": {
        "POST": Operation(
            summary="Revoke the presented credential",
            tag="Credentials",
            description="Meant for `Authorization: Token <key>`: that key stops working.",
            status=204,
        )
    },
    "/api/users/me/set_password/": {
        "POST": Operation(
            summary="Change the caller's password",
            tag="Credentials",
            description="Every other token, key and browser session of the user stops working; the presented one stays.",
            body="ChangePassword",
            status=204,
        )
    },
    "/api/users/reset_password/": {
        "POST": Operation(
            summary="Ask for a password reset link",
            tag="Credentials",
            description="204 whether or not the address has an account; when it has, a link to "
            "`/password/reset/<uid>/<token>/` is mailed. 400 only for a malformed address.",
            body="PasswordResetRequest",
            status=204,
        )
    },
    "/api/users/reset_password_confirm/": {
        "POST": Operation(
            summary="Set a new password with a reset link's uid and token",
            tag="Credentials",
            description="The link works once; every credential of the user stops working.",
            body="PasswordResetConfirm",
            status=204,
        )
    },
    "/api/openapi.json": {
        "GET": Operation(
            summary="This document",
            tag="Reference",
            description="The OpenAPI 3.1 description of the JSON API.",
            answer="OpenApiDocument",
        )
    },
    "/api/docs/": {
        "GET": Operation(
            summary="A readable reference page of this document",
            tag="Reference",
            answer_type=HTML,
        )
    },
}

DESCRIPTION = f"""\
One account model served in the five dialects of the seed documents (000–004), plus credential routes
named after djangorestframework-simplejwt and djoser.

**Credentials.** Every protected route takes either `Authorization: Bearer <JWT access token>`
(from `POST /api/token/`) or `Authorization: Token <API key>` (from `POST /api/auth/token/login/`).
A missing credential is a 401 `{{"detail": "{NOT_PROVIDED}"}}`; a malformed, expired, revoked or
unknown one a 401 with the reason; both carry `WWW-Authenticate: {WWW_AUTHENTICATE}`.

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
        tags=[
            {"name": "Document 000", "description": "`/api/profile/`: the caller's profile."},
            {"name": "Documents 001 and 004", "description": "`/api/users/me/`: read, update and delete the caller's profile."},
            {"name": "Document 002", "description": "`/api/users/{id}/`: one's own profile by id."},
            {"name": "Document 003", "description": "`/api/v1/accounts/users/`: sign-up with an emailed code, profiles by id."},
            {"name": "Credentials", "description": "JWT pairs, API keys, passwords."},
            {"name": "Reference", "description": "This document and its reference page."},
        ],
    )
    _add_components(spec)
    served: dict[str, dict[str, dict]] = {}  # path → method → operation
    for rule in app.url_map.iter_rules():
        if not rule.endpoint.startswith(bp.name + "."):
            continue
        path = _openapi_path(rule)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            described = OPERATIONS.get(path, {}).get(method)
            if described is None:
                raise LookupError(f"The OpenAPI document does not describe {method} {path} ({rule.endpoint}).")
            view = app.view_functions[rule.endpoint]
            served.setdefault(path, {})[method] = _operation(rule, method, view, described, _path_parameters(rule))
    for path, methods in OPERATIONS.items():
        if stale := set(methods) - set(served.get(path, {})):
            raise LookupError(f"The OpenAPI document describes {sorted(stale)} {path}, which no route serves.")
    for path in sorted(served):
        spec.path(path=path, operations={method.lower(): served[path][method] for method in sorted(served[path])})
    document = spec.to_dict()
    _finish_components(document)
    return document


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
    for schema in (TokenPair, AuthToken, Message, SignedUp, Detail, ErrorMessage):
        components.schema(schema.__name__, schema=schema)
    components.schema("FieldErrors", FIELD_ERRORS)
    components.schema(
        "OpenApiDocument", {"type": "object", "required": ["openapi", "info", "paths"], "description": "An OpenAPI 3.1 document."}
    )
    components.security_scheme(
        BEARER,
        {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT",
            "description": "`Authorization: Bearer <access>`, an access token from `POST /api/token/` (15 minutes).",
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
        {"name": "If-Match", "required": False, "schema": etag, "description": "Answer 412 and change nothing unless the profile still has one of these ETags."},
    )
    components.parameter(
        "IfNoneMatch",
        "header",
        {"name": "If-None-Match", "required": False, "schema": etag, "description": "Answer 304 while the profile still has one of these ETags."},
    )
    components.header("ETag", {"description": "The profile's version.", "required": True, "schema": {"type": "string", "pattern": r'^"\d+"$'}})
    components.header("WWWAuthenticate", {"description": "The accepted schemes.", "required": True, "schema": {"type": "string"}})
    components.header("RetryAfter", {"description": "Seconds to wait.", "required": True, "schema": {"type": "integer", "minimum": 0}})


def _finish_components(document: dict) -> None:
    schemas = document["components"]["schemas"]
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
    return [field_.data_key or name for name, field_ in schema._declared_fields.items() if isinstance(field_, Avatar)]


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
    return re.sub(r"<(?:[^<>:]+:)?([^<>]+)>", r"{\1}", rule.rule)


def _path_parameters(rule) -> list[dict]:
    """The rule's variables, typed by their converters (Werkzeug keeps them only in ``_converters``)."""
    parameters = []
    for name, converter in rule._converters.items():
        schema = {"type": "integer"} if isinstance(converter, IntegerConverter) else {"type": "string"}
        if isinstance(converter, IntegerConverter) and not converter.signed:
            schema["minimum"] = 0
        parameters.append({"name": name, "in": "path", "required": True, "schema": schema})
    return parameters


def _ref(kind: str, name: str) -> dict:
    return {"$ref": f"#/components/{kind}/{name}"}


def _json(schema_name: str) -> dict:
    return {JSON: {"schema": _ref("schemas", schema_name)}}


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
    operation = {
        "operationId": f"{rule.endpoint.partition('.')[2]}_{method.lower()}",
        "summary": op.summary,
        "tags": [op.tag],
        "security": [{BEARER: []}, {TOKEN: []}] if needs_credentials else [],
    }
    if op.description:
        operation["description"] = op.description
    parameters = list(path_parameters)
    if op.conditional_read:
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
    if op.conditional_read:
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
    for status, (schema_name, description) in op.errors.items():
        if status == 404 and path_parameters:
            # Also Werkzeug's own 404 for a path that matches no rule (an id that is not a number).
            description += ' A path that matches no route (an id that is not a number) is `{"detail": "Not found."}`.'
            responses[status] = {
                "description": description,
                "content": {JSON: {"schema": {"anyOf": [_ref("schemas", schema_name), _ref("schemas", "Detail")]}}},
            }
        elif status == 401:
            responses[status] = _response(description, schema_name, **{"WWW-Authenticate": "WWWAuthenticate"})
        elif status == 503:
            responses[status] = _response(description, schema_name, **{"Retry-After": "RetryAfter"})
        else:
            responses[status] = _response(description, schema_name)
    if op.conditional_read or op.conditional_write:
        responses[412] = _response("Precondition failed: `If-Match` names an ETag the profile no longer has.", "Detail")
    if op.body:
        responses[413] = _response("The request body is over the size limit.", "Detail")
        responses[415] = _response("A body that is neither JSON nor a form.", "Detail")
    if rate_limits(view):
        responses[429] = _response("Too many requests; try again after `Retry-After` seconds.", "Detail", **{"Retry-After": "RetryAfter"})
    # Errors are JSON on every /api/ path, the HTML page's too.
    responses[500] = _response(f"A server error, with no internals (`{SERVER_ERROR}`).", op.server_error)
    operation["responses"] = {str(status): response for status, response in sorted(responses.items())}
    return operation


# Routes -------------------------------------------------------------------------------------


@bp.get("/openapi.json", endpoint="openapi_document")
def serve_openapi_document():
    return openapi_document()


@bp.get("/docs/")
def docs_page():
    page = Path(current_app.static_folder) / DOCS_FOLDER / "index.html"
    return Response(page.read_bytes(), mimetype=HTML)
