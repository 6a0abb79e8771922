"""The documents' dialects: one output shape and one input mapping each, over the one user model.

Input schemas only rename wire fields to model attributes (``mobile_number`` → ``phone``,
``photo`` → ``avatar``, ``M`` → ``male``) and check the JSON types; the rules themselves live in
``portal.services.fields``. Unknown and read-only input fields are dropped, never applied.
"""

from flask import request
from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate
from werkzeug.datastructures import FileStorage

from ..media import avatar_path, avatar_url
from ..services.errors import ValidationFailed
from ..payload import FORM_TYPES

NOT_A_FILE = "The submitted data was not a file. Check the encoding type on the form."
GENDER_CODES = {"male": "M", "female": "F", "other": "O"}


class UtcTimestamp(fields.Field):
    """Naive UTC datetimes from the database, written ISO 8601 with a ``Z``."""

    def _serialize(self, value, attr, obj, **kwargs):
        return None if value is None else value.isoformat() + "Z"


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


# Document 000 (and 002's responses)
class Profile000(Schema):
    id = fields.Integer()
    username = fields.String()
    email = fields.String()
    first_name = fields.String()
    last_name = fields.String()
    number_phone = fields.String(attribute="phone")
    avatar = fields.Function(lambda user: avatar_path(user.avatar))
    date_joined = UtcTimestamp()
    last_login = UtcTimestamp()
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
class GroupOut(Schema):
    id = fields.Integer()
    name = fields.String()
    notes = fields.String()
    users_count = fields.Integer()
    created_at = UtcTimestamp()
    updated_at = UtcTimestamp()


class Profile001(Schema):
    id = fields.Integer()
    username = fields.String()
    mobile_number = fields.String(attribute="phone")
    email = fields.String()
    avatar = fields.Function(lambda user: avatar_url(user.avatar))
    first_name = fields.String()
    last_name = fields.String()
    full_name = fields.String()
    gender = fields.String()
    is_profile_completed = fields.Boolean()
    groups = fields.List(fields.Nested(GroupOut))
    last_login = UtcTimestamp()
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
    current_password = fields.Raw(required=True, error_messages={"required": "This field is required."})


# Document 003
class Profile003(Schema):
    id = fields.Integer()
    email = fields.String()
    first_name = fields.String()
    last_name = fields.String()
    phone = fields.String()
    photo = fields.Function(lambda user: avatar_url(user.avatar))
    address = fields.String()
    gender = GenderCode()
    country = fields.String()
    birthday = fields.Date()
    has_initial_profile = fields.Boolean(attribute="is_profile_completed")
    created_at = UtcTimestamp(attribute="date_joined")
    updated_at = UtcTimestamp()


class Register003(InputSchema):
    email = fields.Raw(required=True, error_messages={"required": "This field is required."})
    password = fields.Raw(required=True, error_messages={"required": "This field is required."})
    confirm_password = fields.Raw(required=True, error_messages={"required": "This field is required."})
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
