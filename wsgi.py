"""What gunicorn serves: ``gunicorn wsgi:app``. Production settings unless PORTAL_ENV says otherwise."""

import os

from portal import create_app

app = create_app(os.environ.get("PORTAL_ENV", "production"))
