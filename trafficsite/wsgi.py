"""WSGI entry point, for management tooling; the product is served by daphne (ASGI)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "trafficsite.settings")
application = get_wsgi_application()
