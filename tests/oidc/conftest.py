"""The ``registered`` fixture (an app registered with the portal) for every test of the OpenID provider."""

from .test_authorization_code_flow import registered  # noqa: F401
