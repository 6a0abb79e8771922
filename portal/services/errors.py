"""Domain errors raised by services and turned into answers by the API, the pages and the CLI.

Their messages are marked for translation; an error turns them into plain ``str`` when it is
raised, in the language of the answer it is raised for (always English in the API).
"""

from flask_babel import LazyString


def plain(message):
    """A message as text in the current language (lists and dicts of messages item by item)."""
    if isinstance(message, LazyString):
        return str(message)
    if isinstance(message, dict):
        return {key: plain(value) for key, value in message.items()}
    if isinstance(message, list | tuple):
        return type(message)(plain(value) for value in message)
    return message


class ServiceError(Exception):
    """Base of every error a service raises on purpose."""

    def __init__(self, *args):
        super().__init__(*(plain(arg) for arg in args))


class ValidationFailed(ServiceError):
    """Bad input. ``errors`` maps a field name (or ``non_field_errors``) to a list of messages."""

    def __init__(self, errors: dict[str, list[str]]):
        super().__init__(errors)
        self.errors = self.args[0]

    @classmethod
    def on(cls, field: str, message: str) -> "ValidationFailed":
        return cls({field: [message]})


class NotFound(ServiceError):
    pass


class PermissionDenied(ServiceError):
    pass


class ReauthenticationRequired(PermissionDenied):
    """The change needs a fresh proof of identity (the password again): the session's is too old."""


class SecondFactorRequired(PermissionDenied):
    """Staff without a second factor, where STAFF_REQUIRE_TWO_FACTOR asks for one, acting on someone else."""


class InsufficientScope(PermissionDenied):
    """The presented credential is scoped and its scopes do not reach this route (``ways_in.scopes``);
    ``needed`` names what the route needs: ``api:read``, ``api:write`` or ``full``."""

    def __init__(self, needed: str, detail: str):
        super().__init__(detail)
        self.needed, self.detail = needed, detail


class PreconditionFailed(ServiceError):
    """The caller changed a version it read, and the row has moved on since (optimistic concurrency)."""


class AuthenticationFailed(ServiceError):
    """Credentials that do not open the door; ``detail`` is safe to show."""

    def __init__(self, detail: str):
        super().__init__(detail)
        self.detail = self.args[0]


class EmailNotVerified(AuthenticationFailed):
    pass


class PasswordResetRequired(AuthenticationFailed):
    """The right password of a secured account: a new one must be chosen through the reset link first."""


class LinkExpired(ServiceError):
    """A mailed link that was good once but is used up or too old (the page answers 410 Gone)."""


class SignInExpired(AuthenticationFailed):
    """A pending second step that is over: expired, used, ended, or out of tries. Start again."""


class DeliveryFailed(Exception):
    """A message could not be handed to the mail server. Only the outbox sees it: it tries again later."""
