"""What gunicorn serves: ``gunicorn portal.wsgi:app``, from any folder, however the package was installed.
Production settings unless PORTAL_ENV says otherwise."""

import os

from portal import create_app

app = create_app(os.environ.get("PORTAL_ENV", "production"))
