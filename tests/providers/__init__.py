"""Real identity providers on loopback for the sign-in-with-another-account tests: an OpenID
Connect provider (``oidc``, Node.js) and a GitHub stand-in (``github``)."""
