"""The documents' dialects: one output shape and one input mapping each, over the one user model;
and the bodies of the credential routes.

Input schemas only rename wire fields to model attributes (``mobile_number`` → ``phone``,
``photo`` → ``avatar``, ``M`` → ``male``) and check the JSON types; the rules themselves live in
``portal.services.people.fields``. Unknown and read-only input fields are dropped, never applied.
The OpenAPI document (``portal.api.openapi``) is built from these same classes.
"""

from flask import request
from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate, validates_schema
from werkzeug.datastructures import FileStorage

from ..media import avatar_path, avatar_url
from ..payload import FORM_TYPES
from ..services.errors import ValidationFailed

NOT_A_FILE = "The submitted data was not a file. Check the encoding type on the form."
REQUIRED = "This field is required."
GENDER_CODES = {"male": "M", "female": "F", "other": "O"}


class UtcTimestamp(fields.DateTime):
    """Naive UTC datetimes from the database, written ISO 8601 with a ``Z`` (an OpenAPI ``date-time``)."""

    def _serialize(self, value, attr, obj, **kwargs):
        return None if value is None else value.isoformat() + "Z"


class AvatarPath(fields.String):
    """The stored avatar as a site-relative path (``/media/avatars/…``), as document 000 shows it."""

    def __init__(self, **kwargs):
        super().__init__(allow_none=True, dump_only=True, **kwargs)

    def _serialize(self, value, attr, obj, **kwargs):
        return avatar_path(value)


class AvatarUrl(fields.String):
    """The stored avatar as an absolute URL, as documents 001, 003 and 004 show it."""

    def __init__(self, **kwargs):
        super().__init__(allow_none=True, dump_only=True, metadata={"format": "uri"}, **kwargs)

    def _serialize(self, value, attr, obj, **kwargs):
        return avatar_url(value)


class Text(fields.String):
    """Optional text, trimmed before a dialect's own checks (such as 002's 10-character phone)."""

    def __init__(self, **kwargs):
        super().__init__(allow_none=True, **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        return super()._deserialize(value, attr, data, **kwargs).strip()


class Avatar(fields.Field):
    """An uploaded file, or JSON null / form ``null`` / an empty form value to remove the avatar.

    A form cannot send null, so there the text ``null`` and the empty value stand for it; in JSON
    a string is simply not a file.
    """

    def __init__(self, **kwargs):
        super().__init__(allow_none=True, **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, FileStorage):
            return value.stream
        if value in ("", "null") and request.mimetype in FORM_TYPES:
            return None
        raise ValidationError(NOT_A_FILE)


class GenderCode(fields.String):
    """Document 003 writes gender as ``M``/``F``/``O``; the full words are accepted too."""

    def __init__(self, **kwargs):
        super().__init__(allow_none=True, **kwargs)

    def _serialize(self, value, attr, obj, **kwargs):
        return GENDER_CODES.get(value)

    def _deserialize(self, value, attr, data, **kwargs):
        value = super()._deserialize(value, attr, data, **kwargs)
        codes = {code: word for word, code in GENDER_CODES.items()}
        return codes.get(value.strip().upper(), value)


class RequiredText(fields.String):
    """Text a route cannot do without: missing, null or empty is "This field is required."."""

    def __init__(self, **kwargs):
        super().__init__(
            required=True,
            validate=validate.Length(min=1, error=REQUIRED),
            error_messages={"required": REQUIRED, "null": REQUIRED},
            **kwargs,
        )


class OneTimeCode(RequiredText):
    """The emailed six-digit code, as text or (as JSON clients often send it) as a number."""

    def __init__(self, **kwargs):
        super().__init__(metadata={"type": ["string", "integer"]}, **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        return super()._deserialize(value, attr, data, **kwargs)


class InputSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    def wire_name(self, attribute: str) -> str:
        for name, field in self.fields.items():
            if (field.attribute or name) == attribute:
                return field.data_key or name
        return attribute

    def to_changes(self, payload: dict) -> dict:
        """Model-attribute changes from a wire payload, or ValidationFailed in wire names."""
        try:
            return self.load(payload)
        except ValidationError as exc:
            raise ValidationFailed(exc.messages) from None

    def in_wire_names(self, error: ValidationFailed) -> ValidationFailed:
        return ValidationFailed({self.wire_name(field): messages for field, messages in error.errors.items()})


def _max_length(limit):
    return validate.Length(max=limit, error="Ensure this field has no more than {max} characters.")


# Output schemas mark the fields that may be null (allow_none): the OpenAPI document
# (portal.api.openapi) is built from these same classes and tells clients so.


class OutputSchema(Schema):
    """The representation of a stored object (a model, or a snapshot of one): each field is an attribute."""

    def get_attribute(self, obj, attr, default):
        # marshmallow's own look-up also walks dicts and dotted paths, which these never name; a
        # plain getattr takes a third off dumping a profile, the work of every profile read.
        return getattr(obj, attr, default)


# Document 000 (and 002's responses)
class Profile000(OutputSchema):
    id = fields.Integer()
    username = fields.String(allow_none=True)
    email = fields.String()
    first_name = fields.String(allow_none=True)
    last_name = fields.String(allow_none=True)
    number_phone = fields.String(attribute="phone", allow_none=True)
    avatar = AvatarPath()
    date_joined = UtcTimestamp()
    last_login = UtcTimestamp(allow_none=True)
    is_active = fields.Boolean()
    is_staff = fields.Boolean()
    is_superuser = fields.Boolean()


class Update002(InputSchema):
    username = Text()
    email = Text()
    first_name = Text()
    last_name = Text()
    number_phone = Text(attribute="phone", validate=_max_length(10))
    avatar = Avatar()


# Documents 001 and 004
class GroupOut(OutputSchema):
    id = fields.Integer()
    name = fields.String()
    notes = fields.String(allow_none=True)
    users_count = fields.Integer()
    created_at = UtcTimestamp()
    updated_at = UtcTimestamp()


class Profile001(OutputSchema):
    id = fields.Integer()
    username = fields.String(allow_none=True)
    mobile_number = fields.String(attribute="phone", allow_none=True)
    email = fields.String()
    avatar = AvatarUrl()
    first_name = fields.String(allow_none=True)
    last_name = fields.String(allow_none=True)
    full_name = fields.String(allow_none=True)
    gender = fields.String(allow_none=True)
    is_profile_completed = fields.Boolean()
    groups = fields.List(fields.Nested(GroupOut))
    last_login = UtcTimestamp(allow_none=True)
    created_at = UtcTimestamp(attribute="date_joined")


class Update004(InputSchema):
    first_name = Text()
    last_name = Text()
    username = Text()
    mobile_number = Text(attribute="phone")
    email = Text()
    gender = Text()
    avatar = Avatar()


class DeleteMe(InputSchema):
    current_password = RequiredText()


# Document 003
class Profile003(OutputSchema):
    id = fields.Integer()
    email = fields.String()
    first_name = fields.String(allow_none=True)
    last_name = fields.String(allow_none=True)
    phone = fields.String(allow_none=True)
    photo = AvatarUrl(attribute="avatar")
    address = fields.String(allow_none=True)
    gender = GenderCode()
    country = fields.String(allow_none=True)
    birthday = fields.Date(allow_none=True)
    has_initial_profile = fields.Boolean(attribute="is_profile_completed")
    created_at = UtcTimestamp(attribute="date_joined")
    updated_at = UtcTimestamp()


class Register003(InputSchema):
    email = RequiredText()
    password = RequiredText()
    confirm_password = RequiredText()
    first_name = Text()
    last_name = Text()
    phone = Text()
    gender = GenderCode()
    country = Text()


# The sign-up answer: the 003 profile without the fields a sign-up cannot have set yet.
Registered003 = Profile003(
    only=("id", "email", "first_name", "last_name", "phone", "gender", "country", "created_at", "updated_at")
)


class Update003(InputSchema):
    email = Text()
    first_name = Text()
    last_name = Text()
    phone = Text()
    gender = GenderCode()
    country = Text()
    address = Text()
    birthday = Text()
    photo = Avatar(attribute="avatar")
    # This project's own: document 003's PATCH may carry them; its answer's shape stays as documented.
    language = Text(metadata={"description": "`en` or `fa`: the language of the pages and mails."})
    time_zone = Text(metadata={"description": "An IANA time zone name, e.g. `Asia/Tehran`."})


# Credential routes (this project's own, named after djangorestframework-simplejwt and djoser).
# The views read these bodies through the schemas; the services check the values.
class SignIn(InputSchema):
    email = fields.String(
        allow_none=True, metadata={"description": "Names the account (any case); or give `username`."}
    )
    username = fields.String(allow_none=True, metadata={"description": "Names the account when no email is given."})
    password = RequiredText()


class KeySignIn(SignIn):
    idle_timeout = fields.Integer(
        strict=True,
        allow_none=True,
        metadata={"description": "Optional: seconds (60 to 31536000) the key may go unused before it stops "
                  "working. Without it, or null, the key works until it is revoked."},
    )
    scopes = fields.List(
        # The whole list is checked, not each item: an error stays one list of messages on the field,
        # as every field error is (the items would nest their own by index).
        fields.Raw(allow_none=True, metadata={"type": "string", "enum": ["api:read", "api:write"]}),
        validate=validate.ContainsOnly(("api:read", "api:write"), error="Each scope is one of: api:read, api:write."),
        allow_none=True,
        metadata={"description": "Optional: makes the key a personal access token limited to these scopes: "
                  "`api:read` reads the profile, `api:write` changes it (and reads it). Such a key is refused "
                  "(403 `insufficient_scope`) on every other route: the password, the email address, keys, "
                  "providers, connected apps, deleting the account. Without it, or null, the key may do "
                  "whatever its owner may."},
    )
    expires_in = fields.Integer(
        strict=True,
        allow_none=True,
        metadata={"description": "Optional: seconds (60 to 31536000) from now after which the key stops "
                  "working (401), used or not. Without it, or null, the key does not expire."},
    )


class ProviderIdToken(InputSchema):
    provider = RequiredText(metadata={"description": "The provider's key in the portal's `SOCIAL_PROVIDERS`."})
    id_token = RequiredText(metadata={"description": "An ID token the app got from that provider for you."})


class LinkedIdentityOut(OutputSchema):
    id = fields.Integer()
    provider = fields.String(metadata={"description": "The provider's key in `SOCIAL_PROVIDERS`."})
    provider_name = fields.String()
    email = fields.String(allow_none=True, metadata={"description": "The address at the provider, when it gave one."})
    linked_at = fields.DateTime()
    last_used_at = fields.DateTime(allow_none=True)


class ConnectedAppOut(OutputSchema):
    id = fields.Integer()
    name = fields.String()
    scopes = fields.List(fields.String())
    allowed_at = fields.DateTime()
    last_used_at = fields.DateTime(allow_none=True)


class RefreshToken(InputSchema):
    refresh = RequiredText()


class SignOut(InputSchema):
    refresh = fields.String(allow_none=True, metadata={"description": "A refresh token whose sign-in ends too."})


class ChangePassword(InputSchema):
    current_password = RequiredText()
    new_password = RequiredText()


class AnAddress(InputSchema):
    """A body that names an address and nothing else (the routes that mail something to it)."""

    email = RequiredText()


class PasswordResetRequest(AnAddress):
    pass


class SignInCodeRequest(AnAddress):
    pass


class SignInWithCode(InputSchema):
    email = RequiredText()
    code = OneTimeCode()


class PasswordResetConfirm(InputSchema):
    uid = RequiredText()
    token = RequiredText()
    new_password = RequiredText()


class VerifyOtp003(InputSchema):
    email = RequiredText()
    otp = OneTimeCode()


class ResendOtp003(AnAddress):
    pass


class SecondStep(InputSchema):
    mfa_token = RequiredText(metadata={"description": "From the 401 of the sign-in route."})
    code = fields.String(
        allow_none=True, metadata={"description": "A code from the authenticator app, or a recovery code."}
    )
    passkey = fields.Dict(
        allow_none=True, metadata={"description": "The passkey's answer (a PublicKeyCredential as JSON)."}
    )

    @validates_schema
    def _a_code_or_a_passkey(self, data, **kwargs):
        if not data.get("code") and data.get("passkey") is None:
            raise ValidationError('Send "code" or "passkey".', "non_field_errors")


class PasskeyOptionsRequest(InputSchema):
    mfa_token = RequiredText()
